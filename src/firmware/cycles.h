/* The Cortex-M4 cycle model: executed instructions per class (exact, from
 * the QEMU plugin) weighed by the Cortex-M4 TRM's timings (ARM DDI 0439),
 * plus flash wait states on non-sequential fetches. The result is MODELED,
 * not measured; docs/cycle-model.md gives every weight and its source. */
#ifndef REEF_FIRMWARE_CYCLES_H
#define REEF_FIRMWARE_CYCLES_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/insn_class.h"

typedef struct reef_cycle_model {
    double alu;               /* 1 */
    double load;              /* 2: LDR not pipelined */
    double load_pipelined;    /* 1: LDR right after a load */
    double store;             /* 1: STR through the write buffer */
    double multiple_base;     /* 1: LDM/STM/PUSH/POP/LDRD/STRD are 1 + N */
    double per_register;      /* 1: the N */
    double mul;               /* 1 */
    double mac_dsp;           /* 1 */
    double div;               /* 2-12, data dependent: the model takes 12 */
    double refill;            /* P, pipeline refill after a taken branch: 1-3, the model takes 2 */
    double table_branch;      /* TBB/TBH before the refill: 2 (load) + 1 (add) */
    double fpu;               /* 1 */
    double fpu_mac;           /* 3 */
    double fpu_div;           /* 14 */
    double system;            /* 1 */
    /* flash: each non-sequential fetch (taken branch, load to PC) that
     * misses the ART instruction cache waits flash_wait_states cycles */
    int flash_wait_states;    /* 5 on the STM32L4R5 at 120 MHz */
    double icache_hit_rate;   /* 0.95: an assumption, see docs/cycle-model.md */
    /* each data read from flash that misses the (plugin-modeled) ART data
     * cache waits flash_wait_states cycles too */
    /* FITTED, not from the TRM: extra cycles per data read from flash, hit
     * or miss (bus contention with instruction fetch, broken prefetch
     * stream); fitted on 8 board measurements, docs/cycle-model.md */
    double flash_data_read;   /* 2.15 */
} reef_cycle_model;

/* How far the default model is from board measurements: leave-one-out
 * error of modeled time against REEF_CALIBRATION_POINTS measured MLPerf
 * Tiny latencies on a NUCLEO-L4R5ZI (bench/calibration/l4r5zi.csv,
 * reproduced by tests/firmware/test_calibration.c). Percent. */
#define REEF_CALIBRATION_POINTS 8
#define REEF_CALIBRATION_TIME_MEDIAN_PCT 3.6
#define REEF_CALIBRATION_TIME_WORST_PCT 9.8

typedef struct reef_cycle_estimate {
    double core_cycles;       /* zero-wait-state cycles */
    double flash_cycles;      /* wait-state cycles added by flash: fetch + data */
    double flash_data_cycles; /* of which data reads (weights, literals): misses x WS + reads x flash_data_read */
    double cycles;            /* core + flash */
    uint64_t taken_branches;  /* non-sequential fetches counted */
} reef_cycle_estimate;

/* The modeled time's expected error, for a figure's label: "+-9.8% against
 * 8 board measurements" when the profile is the calibrated device (it has
 * board measurements), else "uncalibrated". */
struct reef_device_profile;
void reef_cycle_error_note(const struct reef_device_profile *p, char *buf, size_t size);

/* The STM32L4R5 defaults above with the given flash wait states. */
void reef_cycle_model_default(reef_cycle_model *m, int flash_wait_states);

/* counts: indexed by enum reef_insn_class. */
void reef_cycle_estimate_counts(const reef_cycle_model *m, const uint64_t counts[REEF_INSN_CLASS_COUNT],
                                reef_cycle_estimate *out);

#endif
