/* The cost table and network cost estimates: see cost.h. */
#include "nas/cost.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/io.h"

static const char *kind_names[REEF_NAS_OP_KINDS] = {"pool", "stem", "mbconv", "head", "classifier"};

void reef_nas_table_init(reef_nas_table *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->source, sizeof t->source, "none");
    snprintf(t->toolchain, sizeof t->toolchain, "none");
}

void reef_nas_table_free(reef_nas_table *t)
{
    free(t->ops);
    free(t->costs);
    memset(t, 0, sizeof *t);
}

static int op_equal(const reef_nas_op *a, const reef_nas_op *b)
{
    return a->kind == b->kind && a->h == b->h && a->w == b->w && a->c == b->c && a->oc == b->oc && a->k == b->k &&
           a->e == b->e && a->s == b->s && a->res == b->res;
}

int reef_nas_table_find(const reef_nas_table *t, const reef_nas_op *op)
{
    for (int i = 0; i < t->n; i++)
        if (op_equal(&t->ops[i], op)) return i;
    return -1;
}

int reef_nas_table_put(reef_nas_table *t, const reef_nas_op *op, const reef_nas_cost *c, reef_error *err)
{
    int i = reef_nas_table_find(t, op);
    if (i >= 0) {
        t->costs[i] = *c;
        return 0;
    }
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        reef_nas_op *ops = realloc(t->ops, (size_t)cap * sizeof *ops);
        if (ops) t->ops = ops;
        reef_nas_cost *costs = realloc(t->costs, (size_t)cap * sizeof *costs);
        if (costs) t->costs = costs;
        if (!ops || !costs) return reef_fail(err, "out of memory for the cost table");
        t->cap = cap;
    }
    t->ops[t->n] = *op;
    t->costs[t->n] = *c;
    t->n++;
    return 0;
}

void reef_nas_op_text(const reef_nas_op *op, char *buf, int size)
{
    const char *kind = op->kind >= 0 && op->kind < REEF_NAS_OP_KINDS ? kind_names[op->kind] : "?";
    snprintf(buf, (size_t)size, "%s %dx%dx%d k%d e%d s%d c%d%s", kind, op->h, op->w, op->c, op->k, op->e, op->s,
             op->oc, op->res ? " res" : "");
}

/* ---- the file ------------------------------------------------------------------ */

int reef_nas_table_save(const reef_nas_table *t, const char *path, reef_error *err)
{
    reef_atomic_file af;
    if (reef_atomic_open(&af, path, err)) return -1;
    FILE *fp = af.fp;
    fprintf(fp, "%s %d\n", REEF_NAS_TABLE_MAGIC, REEF_NAS_TABLE_VERSION);
    fprintf(fp, "# reef profile-ops: modeled Cortex-M4 cycles per op at its shape (docs/search-space.md)\n");
    fprintf(fp, "source %s\nruntime_crc %08x\ntoolchain %s\nflash_wait_states %d\n", t->source, t->runtime_crc,
            t->toolchain, t->flash_wait_states);
    fprintf(fp, "overhead_cycles %.1f\nflash_fixed %lld\nram_fixed %lld\n", t->overhead_cycles,
            (long long)t->flash_fixed, (long long)t->ram_fixed);
    fprintf(fp, "# op kind h w c oc k e s res | cycles insns weights arena macs\n");
    for (int i = 0; i < t->n; i++) {
        const reef_nas_op *o = &t->ops[i];
        const reef_nas_cost *c = &t->costs[i];
        fprintf(fp, "op %s %d %d %d %d %d %d %d %d %.1f %.0f %lld %lld %lld\n", kind_names[o->kind], o->h, o->w,
                o->c, o->oc, o->k, o->e, o->s, o->res, c->cycles, c->insns, (long long)c->weights,
                (long long)c->arena, (long long)c->macs);
    }
    return reef_atomic_commit(&af, err);
}

static int kind_from_name(const char *name)
{
    for (int k = 0; k < REEF_NAS_OP_KINDS; k++)
        if (!strcmp(name, kind_names[k])) return k;
    return -1;
}

/* One "key value..." line of the file; returns 0, or -1 with err set. */
static int parse_line(reef_nas_table *t, char *line, const char *path, int lineno, reef_error *err)
{
    char key[32] = "", text[64] = "";
    long long a = 0;
    double d = 0;
    if (sscanf(line, "%31s", key) != 1 || key[0] == '#') return 0;
    if (!strcmp(key, "op")) {
        reef_nas_op o;
        reef_nas_cost c;
        long long w, ar, m;
        char kind[32];
        memset(&o, 0, sizeof o);
        if (sscanf(line, "op %31s %d %d %d %d %d %d %d %d %lf %lf %lld %lld %lld", kind, &o.h, &o.w, &o.c, &o.oc, &o.k,
                   &o.e, &o.s, &o.res, &c.cycles, &c.insns, &w, &ar, &m) != 14 ||
            (o.kind = kind_from_name(kind)) < 0 || o.h < 1 || o.w < 1 || o.c < 1 || w < 0 || ar < 0)
            return reef_fail(err, "%s:%d: malformed op line", path, lineno);
        if (!isfinite(c.cycles) || !isfinite(c.insns) || c.cycles < 0 || c.insns < 0)
            return reef_fail(err, "%s:%d: op line: cycles and instructions want finite numbers >= 0, not %g and %g",
                             path, lineno, c.cycles, c.insns);
        c.weights = w, c.arena = ar, c.macs = m;
        return reef_nas_table_put(t, &o, &c, err);
    }
    if (!strcmp(key, "source") && sscanf(line, "source %31s", t->source) == 1) return 0;
    if (!strcmp(key, "toolchain") && sscanf(line, "toolchain %63s", t->toolchain) == 1) return 0;
    if (!strcmp(key, "runtime_crc") && sscanf(line, "runtime_crc %x", &t->runtime_crc) == 1) return 0;
    if (!strcmp(key, "flash_wait_states") && sscanf(line, "flash_wait_states %d", &t->flash_wait_states) == 1) return 0;
    if (!strcmp(key, "overhead_cycles") && sscanf(line, "overhead_cycles %lf", &d) == 1 && isfinite(d) && d >= 0) {
        t->overhead_cycles = d;
        return 0;
    }
    if (!strcmp(key, "flash_fixed") && sscanf(line, "flash_fixed %lld", &a) == 1 && a >= 0) {
        t->flash_fixed = a;
        return 0;
    }
    if (!strcmp(key, "ram_fixed") && sscanf(line, "ram_fixed %lld", &a) == 1 && a >= 0) {
        t->ram_fixed = a;
        return 0;
    }
    (void)text;
    return reef_fail(err, "%s:%d: cannot read '%s'", path, lineno, key);
}

int reef_nas_table_load(reef_nas_table *t, const char *path, reef_error *err)
{
    uint8_t *data;
    size_t size;
    reef_nas_table_init(t);
    if (reef_read_file(path, &data, &size, err)) return -1;
    char *text = realloc(data, size + 1);
    if (!text) {
        free(data);
        return reef_fail(err, "%s: out of memory", path);
    }
    text[size] = '\0';
    int version = 0, lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (lineno == 1) {
            char magic[32];
            if (sscanf(line, "%31s %d", magic, &version) != 2 || strcmp(magic, REEF_NAS_TABLE_MAGIC))
                rc = reef_fail(err, "%s: not a reef cost table (no '%s' line first)", path, REEF_NAS_TABLE_MAGIC);
            else if (version != REEF_NAS_TABLE_VERSION)
                rc = reef_fail(err, "%s: cost table version %d, this reef reads version %d", path, version,
                               REEF_NAS_TABLE_VERSION);
            continue;
        }
        rc = parse_line(t, line, path, lineno, err);
    }
    if (!rc && lineno == 0) rc = reef_fail(err, "%s: empty file", path);
    free(text);
    if (rc) reef_nas_table_free(t);
    return rc;
}

/* ---- analytic costs ------------------------------------------------------------- */

static int out_dim(int in, int s) { return (in + s - 1) / s; }

/* Bytes the int8 graph stores for a conv/dw layer: int8 filter, int32
 * bias, per channel an int32 multiplier and an int8 shift. */
static int64_t layer_bytes(int64_t filter, int oc) { return filter + 9 * (int64_t)oc; }

void reef_nas_op_cost_analytic(const reef_nas_op *op, reef_nas_cost *c)
{
    memset(c, 0, sizeof *c);
    const int64_t in = (int64_t)op->h * op->w * op->c;
    const int oh = out_dim(op->h, op->s), ow = out_dim(op->w, op->s);
    int64_t outs = 0;
    switch (op->kind) {
    case REEF_NAS_OP_POOL:
        outs = (int64_t)oh * ow * op->c;
        c->cycles = 2.0 * (double)in + 4.0 * (double)outs + 300;
        c->arena = in + outs;
        break;
    case REEF_NAS_OP_STEM:
    case REEF_NAS_OP_HEAD:
        outs = (int64_t)oh * ow * op->oc;
        c->macs = outs * op->k * op->k * op->c;
        c->weights = layer_bytes((int64_t)op->oc * op->k * op->k * op->c, op->oc);
        c->cycles = 2.0 * (double)c->macs + 4.0 * (double)outs + 300;
        c->arena = in + outs;
        break;
    case REEF_NAS_OP_MBCONV: {
        const int hc = op->c * op->e;
        const int64_t hidden = (int64_t)op->h * op->w * hc, hidden2 = (int64_t)oh * ow * hc;
        outs = (int64_t)oh * ow * op->oc;
        const int64_t keep = op->res ? in : 0;
        const int64_t exp_macs = op->e != 1 ? hidden * op->c : 0, dw_macs = hidden2 * op->k * op->k,
                      proj_macs = hidden2 * op->oc;
        c->macs = exp_macs + dw_macs + proj_macs;
        c->weights = (op->e != 1 ? layer_bytes((int64_t)hc * op->c, hc) : 0) + layer_bytes((int64_t)op->k * op->k * hc, hc) +
                     layer_bytes((int64_t)op->oc * hc, op->oc);
        c->cycles = 2.0 * (double)(exp_macs + proj_macs) + 3.0 * (double)dw_macs +
                    4.0 * (double)(hidden + hidden2 + outs) + 900 + (op->res ? 6.0 * (double)outs + 200 : 0);
        int64_t a = op->e != 1 ? in + hidden : 0;
        if (hidden + hidden2 + keep > a) a = hidden + hidden2 + keep;
        if (hidden2 + outs + keep > a) a = hidden2 + outs + keep;
        if (op->res && 3 * outs > a) a = 3 * outs;
        c->arena = a;
        break;
    }
    case REEF_NAS_OP_CLASSIFIER:
        c->macs = (int64_t)op->c * op->oc;
        c->weights = (int64_t)op->oc * op->c + 4 * (int64_t)op->oc + 8;
        c->cycles = 2.0 * (double)in + 2.0 * (double)c->macs + 200.0 * op->oc + 900;
        c->arena = in + op->c;
        break;
    }
    c->insns = c->cycles * 0.8;
}

int reef_nas_fixed_ops(const reef_nas_space *s, reef_nas_op *ops)
{
    int n = 0, h = s->in_h, w = s->in_w;
    if (s->downsample == 2) {
        ops[n++] = (reef_nas_op){REEF_NAS_OP_POOL, h, w, s->in_c, s->in_c, 2, 1, 2, 0};
        h /= 2, w /= 2;
    }
    ops[n++] = (reef_nas_op){REEF_NAS_OP_STEM, h, w, s->in_c, s->stem_c, s->stem_k, 1, s->stem_s, 0};
    const reef_nas_block *last = &s->blocks[s->nblocks - 1];
    ops[n++] = (reef_nas_op){REEF_NAS_OP_HEAD, last->out_h, last->out_w, last->out_c, s->head_c, 1, 1, 1, 0};
    ops[n++] = (reef_nas_op){REEF_NAS_OP_CLASSIFIER, s->feat_h, s->feat_w, s->head_c, s->num_classes, 1, 1, 1, 0};
    return n;
}

void reef_nas_block_op(const reef_nas_space *s, int b, int cand, reef_nas_op *op)
{
    const reef_nas_block *B = &s->blocks[b];
    const reef_nas_cand *c = &reef_nas_cands[cand];
    *op = (reef_nas_op){REEF_NAS_OP_MBCONV, B->in_h, B->in_w, B->in_c, B->out_c, c->kernel, c->expand, B->stride,
                        B->zero_ok};
}

int reef_nas_table_analytic(reef_nas_table *t, int in_h, int in_w, int in_c, int num_classes, reef_error *err)
{
    snprintf(t->source, sizeof t->source, "analytic");
    t->overhead_cycles = 2000;
    t->flash_fixed = 20 * 1024;
    t->ram_fixed = 4 * 1024;
    for (int wi = 0; wi < REEF_NAS_NWIDTHS; wi++)
        for (int di = 0; di < REEF_NAS_NDOWNS; di++) {
            reef_nas_space s;
            if (reef_nas_space_init(&s, in_h, in_w, in_c, num_classes, reef_nas_widths[wi], reef_nas_downs[di], err))
                return -1;
            reef_nas_op ops[4];
            reef_nas_cost c;
            int n = reef_nas_fixed_ops(&s, ops);
            for (int i = 0; i < n; i++) {
                reef_nas_op_cost_analytic(&ops[i], &c);
                if (reef_nas_table_put(t, &ops[i], &c, err)) return -1;
            }
            for (int b = 0; b < s.nblocks; b++)
                for (int j = 0; j < REEF_NAS_NCAND; j++) {
                    if (j == REEF_NAS_ZERO) continue;
                    reef_nas_op op;
                    reef_nas_block_op(&s, b, j, &op);
                    reef_nas_op_cost_analytic(&op, &c);
                    if (reef_nas_table_put(t, &op, &c, err)) return -1;
                }
        }
    return 0;
}

/* ---- a space's costs and network estimates ---------------------------------------- */

static int lookup(const reef_nas_table *t, const reef_nas_op *op, reef_nas_cost *c, reef_error *err)
{
    int i = reef_nas_table_find(t, op);
    if (i < 0) {
        char text[128];
        reef_nas_op_text(op, text, sizeof text);
        return reef_fail(err, "the cost table has no entry for %s (run `reef profile-ops` for this space)", text);
    }
    *c = t->costs[i];
    return 0;
}

int reef_nas_space_costs_get(const reef_nas_table *t, const reef_nas_space *s, reef_nas_space_costs *sc,
                             reef_error *err)
{
    memset(sc, 0, sizeof *sc);
    reef_nas_op ops[4];
    int n = reef_nas_fixed_ops(s, ops);
    for (int i = 0; i < n; i++) {
        reef_nas_cost c;
        if (lookup(t, &ops[i], &c, err)) return -1;
        sc->fixed.cycles += c.cycles, sc->fixed.insns += c.insns;
        sc->fixed.weights += c.weights, sc->fixed.macs += c.macs;
        if (c.arena > sc->fixed.arena) sc->fixed.arena = c.arena;
    }
    for (int b = 0; b < s->nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            if (j == REEF_NAS_ZERO || !reef_nas_cand_allowed(s, b, j)) continue;
            reef_nas_op op;
            reef_nas_block_op(s, b, j, &op);
            if (lookup(t, &op, &sc->block[b][j], err)) return -1;
        }
    sc->overhead_cycles = t->overhead_cycles;
    sc->flash_fixed = t->flash_fixed, sc->ram_fixed = t->ram_fixed;
    return 0;
}

void reef_nas_estimate_choice(const reef_nas_space_costs *sc, const reef_nas_space *s, const int *choice,
                              const reef_nas_budget *tg, reef_nas_estimate *e)
{
    memset(e, 0, sizeof *e);
    double cycles = sc->overhead_cycles + sc->fixed.cycles;
    int64_t weights = sc->fixed.weights, arena = sc->fixed.arena, macs = sc->fixed.macs;
    for (int b = 0; b < s->nblocks; b++) {
        const reef_nas_cost *c = &sc->block[b][choice[b]];
        cycles += c->cycles, weights += c->weights, macs += c->macs;
        if (c->arena > arena) arena = c->arena;
    }
    e->cycles = cycles, e->weights = weights, e->arena = arena, e->macs = macs;
    e->flash = weights + sc->flash_fixed;
    e->ram = arena + sc->ram_fixed;
    e->latency_ms = tg->clock_mhz > 0 ? cycles / (tg->clock_mhz * 1e3) : 0;
    e->energy_mj = e->latency_ms * tg->power_mw * 1e-3;
}

int reef_nas_budget_missed(const reef_nas_budget *tg, const reef_nas_estimate *e, char *text, int size)
{
    int miss = 0, at = 0;
    if (text && size) text[0] = '\0';
#define MISS(bit, cond, ...)                                                                               \
    do {                                                                                                   \
        if (cond) {                                                                                        \
            miss |= bit;                                                                                   \
            if (text && at < size) at += snprintf(text + at, (size_t)(size - at), "%s", at ? ", " : "");  \
            if (text && at < size) at += snprintf(text + at, (size_t)(size - at), __VA_ARGS__);          \
        }                                                                                                  \
    } while (0)
    MISS(REEF_NAS_MISS_FLASH, tg->max_flash_kb > 0 && e->flash > tg->max_flash_kb * 1024, "flash %.1f KB > %g KB",
         (double)e->flash / 1024, tg->max_flash_kb);
    MISS(REEF_NAS_MISS_RAM, tg->max_ram_kb > 0 && e->ram > tg->max_ram_kb * 1024, "RAM %.1f KB > %g KB",
         (double)e->ram / 1024, tg->max_ram_kb);
    MISS(REEF_NAS_MISS_LATENCY, tg->max_latency_ms > 0 && e->latency_ms > tg->max_latency_ms,
         "latency %.2f ms > %g ms", e->latency_ms, tg->max_latency_ms);
    MISS(REEF_NAS_MISS_ENERGY, tg->max_energy_mj > 0 && e->energy_mj > tg->max_energy_mj,
         "energy %.4f mJ > %g mJ", e->energy_mj, tg->max_energy_mj);
#undef MISS
    return miss;
}
