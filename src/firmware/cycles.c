/* The cycle model (see cycles.h and docs/cycle-model.md). */
#include "firmware/cycles.h"

#include <stdio.h>

#include "energy/profile.h"

void reef_cycle_model_default(reef_cycle_model *m, int flash_wait_states)
{
    *m = (reef_cycle_model){
        .alu = 1, .load = 2, .load_pipelined = 1, .store = 1, .multiple_base = 1, .per_register = 1,
        .mul = 1, .mac_dsp = 1, .div = 12, .refill = 2, .table_branch = 3,
        .fpu = 1, .fpu_mac = 3, .fpu_div = 14, .system = 1,
        .flash_wait_states = flash_wait_states, .icache_hit_rate = 0.95,
        /* fitted at 5 wait states (docs/cycle-model.md, Calibration); with
         * zero wait states flash keeps up with the core: no charge */
        .flash_data_read = flash_wait_states > 0 ? 2.15 : 0.0,
    };
}

void reef_cycle_estimate_counts(const reef_cycle_model *m, const uint64_t counts[REEF_INSN_CLASS_COUNT],
                                reef_cycle_estimate *out)
{
#define N(cls) ((double)counts[REEF_INSN_##cls])
    uint64_t taken = counts[REEF_INSN_BRANCH_TAKEN] <= counts[REEF_INSN_BRANCH_COND]
                         ? counts[REEF_INSN_BRANCH_TAKEN] : counts[REEF_INSN_BRANCH_COND];
    double not_taken = N(BRANCH_COND) - (double)taken;
    double core = m->alu * N(ALU) + m->load * N(LOAD) + m->load_pipelined * N(LOAD_PIPELINED) + m->store * N(STORE)
                + m->multiple_base * (N(LDM) + N(STM)) + m->per_register * (N(LDM_REGS) + N(STM_REGS))
                + m->mul * N(MUL) + m->mac_dsp * N(MAC_DSP) + m->div * N(DIV)
                /* a taken branch is 1 + P; a conditional one not taken is 1 */
                + (1 + m->refill) * (N(BRANCH) + (double)taken) + not_taken
                /* a load into PC: the transfer (counted above) + P */
                + m->refill * N(PC_LOAD)
                + (m->table_branch + m->refill) * N(TABLE_BRANCH)
                + m->fpu * N(FPU) + m->fpu_mac * N(FPU_MAC) + m->fpu_div * N(FPU_DIV) + m->system * N(SYSTEM);
    uint64_t nonsequential = counts[REEF_INSN_BRANCH] + taken + counts[REEF_INSN_PC_LOAD] + counts[REEF_INSN_TABLE_BRANCH];
    out->core_cycles = core;
    out->flash_data_cycles = N(FLASH_MISSES) * m->flash_wait_states + N(FLASH_READS) * m->flash_data_read;
    out->flash_cycles = (double)nonsequential * (1.0 - m->icache_hit_rate) * m->flash_wait_states + out->flash_data_cycles;
    out->cycles = out->core_cycles + out->flash_cycles;
    out->taken_branches = nonsequential;
#undef N
}

void reef_cycle_error_note(const reef_device_profile *p, char *buf, size_t size)
{
    /* the calibration holds for the device it was measured on: the
     * profile that carries board measurements */
    if (p && p->board_points > 0)
        snprintf(buf, size, "+-%.1f%% against %d board measurements", REEF_CALIBRATION_TIME_WORST_PCT,
                 REEF_CALIBRATION_POINTS);
    else
        snprintf(buf, size, "uncalibrated (no board measurements for this device)");
}
