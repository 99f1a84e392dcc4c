/* The cost model of the search: per op at its shape, modeled Cortex-M4
 * cycles, weight bytes (flash) and arena bytes (RAM), in a table that
 * `reef profile-ops` fills from emulated runs (profile/profile_ops.h) and caches in a
 * file (docs/search-space.md, "The cost table"). A network's cost:
 *   cycles  = overhead + sum over its ops of cycles(op)
 *   flash   = flash_fixed + sum of weights(op)       (code, harness: fixed)
 *   RAM     = ram_fixed + max over ops of arena(op)  (a chain's arena peak)
 *   latency = cycles / clock,  energy = latency * run power (device profile)
 * Expected cost in the supernet: sum over blocks of p_i * cost_i
 * (max over blocks of the expected arena for RAM). */
#ifndef REEF_NAS_COST_H
#define REEF_NAS_COST_H

#include <stdint.h>

#include "nas/space.h"
#include "util/err.h"

#define REEF_NAS_TABLE_MAGIC "reef-cost-table"
#define REEF_NAS_TABLE_VERSION 1

typedef enum reef_nas_op_kind {
    REEF_NAS_OP_POOL,        /* avgpool k s, input (h, w, c) */
    REEF_NAS_OP_STEM,        /* conv k s -> oc, ReLU6 */
    REEF_NAS_OP_MBCONV,      /* k, e, s, oc, res (residual add) */
    REEF_NAS_OP_HEAD,        /* conv 1x1 -> oc, ReLU6 */
    REEF_NAS_OP_CLASSIFIER,  /* global average pool, reshape, fc -> oc classes, softmax */
    REEF_NAS_OP_KINDS
} reef_nas_op_kind;

/* An op at its shape: the cost table's key. */
typedef struct reef_nas_op {
    int kind;
    int h, w, c;             /* input */
    int oc, k, e, s, res;
} reef_nas_op;

typedef struct reef_nas_cost {
    double cycles;           /* modeled Cortex-M4 cycles (from emulated instruction counts) */
    double insns;            /* emulated instructions */
    int64_t weights;         /* bytes of const data: filters, biases, multipliers, shifts */
    int64_t arena;           /* bytes of arena the op needs (its own one-op plan) */
    int64_t macs;
} reef_nas_cost;

typedef struct reef_nas_table {
    int n, cap;
    reef_nas_op *ops;        /* (n) */
    reef_nas_cost *costs;    /* (n) */
    /* fixed parts of every network, measured on the profiling firmware */
    double overhead_cycles;  /* per inference, outside the steps */
    int64_t flash_fixed;     /* flash besides the weights (code, harness) */
    int64_t ram_fixed;       /* RAM besides the arena (.data, .bss, stack) */
    /* what it was measured with; a table is stale when they change */
    char source[32];         /* "emulated" or "analytic" */
    uint32_t runtime_crc;    /* crc32 of runtime/ sources */
    char toolchain[64];      /* arm-none-eabi-gcc version */
    int flash_wait_states;   /* of the cycle model */
} reef_nas_table;

void reef_nas_table_init(reef_nas_table *t);
void reef_nas_table_free(reef_nas_table *t);
/* Index of op in t, or -1. */
int reef_nas_table_find(const reef_nas_table *t, const reef_nas_op *op);
/* Adds or replaces op's cost. */
int reef_nas_table_put(reef_nas_table *t, const reef_nas_op *op, const reef_nas_cost *c, reef_error *err);
/* Text file, atomically written; load checks magic, version and every line. */
int reef_nas_table_save(const reef_nas_table *t, const char *path, reef_error *err);
int reef_nas_table_load(reef_nas_table *t, const char *path, reef_error *err);

/* "mbconv 8x8x24 k5 e3 s1 c24 res" */
void reef_nas_op_text(const reef_nas_op *op, char *buf, int size);

/* An analytic estimate (no emulator): cycles from MACs and outputs with
 * fixed per-op weights, bytes exactly as the int8 graph stores them. Used
 * by the tests and by `reef profile-ops --analytic`. */
void reef_nas_op_cost_analytic(const reef_nas_op *op, reef_nas_cost *c);
/* Fills t with analytic costs for every op of the space selection grid. */
int reef_nas_table_analytic(reef_nas_table *t, int in_h, int in_w, int in_c, int num_classes, reef_error *err);

/* Ops of a space: the fixed ones (in order) and block b's candidate op. */
int reef_nas_fixed_ops(const reef_nas_space *s, reef_nas_op *ops);  /* returns count (<= 4) */
void reef_nas_block_op(const reef_nas_space *s, int b, int cand, reef_nas_op *op);

/* A space's costs, looked up once: the fixed part and every block's
 * candidates (zero costs nothing). Fails naming the first op missing from
 * the table (run `reef profile-ops` for that space). */
typedef struct reef_nas_space_costs {
    reef_nas_cost fixed;      /* sums; arena = the largest fixed op's */
    reef_nas_cost block[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
    double overhead_cycles;
    int64_t flash_fixed, ram_fixed;
} reef_nas_space_costs;
int reef_nas_space_costs_get(const reef_nas_table *t, const reef_nas_space *s, reef_nas_space_costs *sc,
                             reef_error *err);

/* Targets (0 = none) and the device they are for. */
typedef struct reef_nas_budget {
    double max_flash_kb, max_ram_kb, max_latency_ms, max_energy_mj;
    double clock_mhz;         /* cycles -> ms */
    double power_mw;          /* run power at that clock (device profile) */
} reef_nas_budget;

typedef struct reef_nas_estimate {
    double cycles, latency_ms, energy_mj;
    int64_t flash, ram, weights, arena, macs;
} reef_nas_estimate;

/* The predicted cost of one network of the space. */
void reef_nas_estimate_choice(const reef_nas_space_costs *sc, const reef_nas_space *s, const int *choice,
                              const reef_nas_budget *tg, reef_nas_estimate *e);

/* Which targets e misses: a bit per target (1 flash, 2 RAM, 4 latency,
 * 8 energy); with text, names each with its figure ("RAM 35.2 KB > 32 KB"). */
#define REEF_NAS_MISS_FLASH 1
#define REEF_NAS_MISS_RAM 2
#define REEF_NAS_MISS_LATENCY 4
#define REEF_NAS_MISS_ENERGY 8
int reef_nas_budget_missed(const reef_nas_budget *tg, const reef_nas_estimate *e, char *text, int size);

#endif
