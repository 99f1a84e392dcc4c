/* The search loop, the space selection and the derive step: see search.h. */
#include "nas/search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optim.h"
#include "nn/train.h"
#include "util/io.h"
#include "util/rng.h"

void reef_nas_search_cfg_default(reef_nas_search_cfg *cfg)
{
    *cfg = (reef_nas_search_cfg){.warmup_epochs = 20, .search_epochs = 40, .batch = 64, .lr = 3e-3f,
                                 .arch_lr = 0.01f, .arch_every = 1, .lambda = 1.0f, .margin = 0.9f,
                                 .space_samples = 2000, .min_fit = 0.05f, .recal_batches = 20, .threads = 2,
                                 .seed = 1};
}

void reef_nas_result_free(reef_nas_result *r)
{
    free(r->seen);
    free(r->epochs);
    memset(r, 0, sizeof *r);
}

/* ---- space selection ------------------------------------------------------------------ */

int reef_nas_select_space(const reef_nas_table *t, int in_h, int in_w, int in_c, int num_classes,
                          const reef_nas_budget *tg, const reef_nas_search_cfg *cfg, reef_nas_space_pick *picks,
                          int *best, reef_error *err)
{
    reef_rng rng;
    reef_rng_seed(&rng, cfg->seed ^ 0x5EEDu);
    int n = 0, any = 0;
    *best = -1;
    for (int wi = 0; wi < REEF_NAS_NWIDTHS; wi++)
        for (int di = 0; di < REEF_NAS_NDOWNS; di++, n++) {
            reef_nas_space_pick *pk = &picks[n];
            memset(pk, 0, sizeof *pk);
            if (cfg->width > 0 && fabsf(cfg->width - reef_nas_widths[wi]) > 1e-3f) continue;
            if (cfg->downsample && cfg->downsample != reef_nas_downs[di]) continue;
            if (reef_nas_space_init(&pk->space, in_h, in_w, in_c, num_classes, reef_nas_widths[wi], reef_nas_downs[di],
                                    err))
                return -1;
            reef_nas_space_costs sc;
            if (reef_nas_space_costs_get(t, &pk->space, &sc, err)) return -1;
            pk->ok = any = 1;
            int fit = 0;
            double macs = 0;
            for (int i = 0; i < cfg->space_samples; i++) {
                int choice[REEF_NAS_MAX_BLOCKS];
                reef_nas_estimate e;
                reef_nas_random_choice(&pk->space, &rng, choice);
                reef_nas_estimate_choice(&sc, &pk->space, choice, tg, &e);
                if (!reef_nas_budget_missed(tg, &e, NULL, 0)) fit++, macs += (double)e.macs;
            }
            pk->fit = cfg->space_samples ? (double)fit / cfg->space_samples : 0;
            pk->mean_macs_fit = fit ? macs / fit : 0;
        }
    if (!any) return reef_fail(err, "no space of the selection grid matches the forced width/resolution");
    // TinyNAS: among spaces where enough networks fit, the one whose fitting
    // networks compute the most; if none, the one where most fit.
    for (int i = 0; i < n; i++) {
        if (!picks[i].ok || picks[i].fit < cfg->min_fit) continue;
        if (*best < 0 || picks[i].mean_macs_fit > picks[*best].mean_macs_fit) *best = i;
    }
    if (*best < 0)
        for (int i = 0; i < n; i++)
            if (picks[i].ok && (*best < 0 || picks[i].fit > picks[*best].fit)) *best = i;
    return 0;
}

/* ---- derive ------------------------------------------------------------------------------ */

/* How far e is past the targets: summed relative excess; RAM sums each
 * block's excess so that fixing any one block shows. 0 = all met. */
static double excess(const reef_nas_space_costs *sc, const reef_nas_space *s, const int *choice,
                     const reef_nas_budget *tg, const reef_nas_estimate *e)
{
    double v = 0;
    if (tg->max_flash_kb > 0) v += fmax(0, (double)e->flash / (tg->max_flash_kb * 1024) - 1);
    if (tg->max_latency_ms > 0) v += fmax(0, e->latency_ms / tg->max_latency_ms - 1);
    if (tg->max_energy_mj > 0) v += fmax(0, e->energy_mj / tg->max_energy_mj - 1);
    if (tg->max_ram_kb > 0) {
        const double cap = tg->max_ram_kb * 1024;
        v += fmax(0, (double)(sc->fixed.arena + sc->ram_fixed) / cap - 1);
        for (int b = 0; b < s->nblocks; b++) v += fmax(0, (double)(sc->block[b][choice[b]].arena + sc->ram_fixed) / cap - 1);
    }
    return v;
}

static void log_probs(const reef_nas_space *s, const float (*alpha)[REEF_NAS_NCAND], int b, double *lp)
{
    double top = -1e300, sum = 0;
    for (int j = 0; j < REEF_NAS_NCAND; j++)
        if (reef_nas_cand_allowed(s, b, j) && alpha[b][j] > top) top = alpha[b][j];
    for (int j = 0; j < REEF_NAS_NCAND; j++)
        if (reef_nas_cand_allowed(s, b, j)) sum += exp(alpha[b][j] - top);
    for (int j = 0; j < REEF_NAS_NCAND; j++) lp[j] = alpha[b][j] - top - log(sum);
}

int reef_nas_derive(const reef_nas_space *s, const reef_nas_space_costs *sc, const float (*alpha)[REEF_NAS_NCAND],
                    const reef_nas_budget *tg, int *choice, reef_nas_estimate *e, char *missed, int size)
{
    double lp[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
    for (int b = 0; b < s->nblocks; b++) {
        log_probs(s, alpha, b, lp[b]);
        choice[b] = -1;
        for (int j = 0; j < REEF_NAS_NCAND; j++)
            if (reef_nas_cand_allowed(s, b, j) && (choice[b] < 0 || lp[b][j] > lp[b][choice[b]])) choice[b] = j;
    }
    reef_nas_estimate_choice(sc, s, choice, tg, e);
    double v = excess(sc, s, choice, tg, e);
    for (int round = 0; v > 0 && round < 64; round++) {
        int best_b = -1, best_j = -1;
        double best_score = 0;
        for (int b = 0; b < s->nblocks; b++)
            for (int j = 0; j < REEF_NAS_NCAND; j++) {
                if (j == choice[b] || !reef_nas_cand_allowed(s, b, j)) continue;
                int trial[REEF_NAS_MAX_BLOCKS];
                memcpy(trial, choice, sizeof trial);
                trial[b] = j;
                reef_nas_estimate te;
                reef_nas_estimate_choice(sc, s, trial, tg, &te);
                double gain = v - excess(sc, s, trial, tg, &te);
                if (gain <= 0) continue;
                double score = gain / (fmax(0, lp[b][choice[b]] - lp[b][j]) + 1e-3);
                if (score > best_score) best_score = score, best_b = b, best_j = j;
            }
        if (best_b < 0) break;
        choice[best_b] = best_j;
        reef_nas_estimate_choice(sc, s, choice, tg, e);
        v = excess(sc, s, choice, tg, e);
    }
    return reef_nas_budget_missed(tg, e, missed, size) ? 1 : 0;
}

/* ---- the loop --------------------------------------------------------------------------- */

typedef struct search_state {
    const reef_nas_search_cfg *cfg;
    const reef_nas_budget *tg;
    const reef_nas_space_costs *sc;
    const reef_dataset *train, *val;
    reef_nas_supernet sn;
    reef_optim opt;
    reef_model view;          /* the parameters of this step's path only */
    reef_param *path_tensors; /* (sn.nparam_tensors) storage for view.param_tensors */
    uint8_t *keep;            /* (sn.nparam_tensors) tensors this step updates */
    reef_rng rng;
    uint32_t *order, *val_order;
    uint32_t val_at;
    uint8_t *pixels, *flip;   /* (batch, H*W*C), (batch) */
    uint16_t *labels;         /* (batch) */
    double arch_v[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND]; /* Adam second moments of the alphas */
    int64_t arch_steps;
    int *seen_at;             /* (7^nblocks) index into seen, -1 */
    reef_nas_result *res;
    int seen_cap;
    double val_correct, val_total;
} search_state;

static void shuffle(uint32_t *v, uint32_t n, reef_rng *rng)
{
    for (uint32_t i = 0; i < n; i++) v[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = reef_rng_below(rng, i), t = v[i - 1];
        v[i - 1] = v[j], v[j] = t;
    }
}

/* Copies samples idx[0..n) of ds into the batch (random flips if flip). */
static void load_batch(search_state *st, const reef_dataset *ds, const uint32_t *idx, int n, int flip)
{
    const size_t size = reef_dataset_sample_size(ds);
    for (int i = 0; i < n; i++) {
        memcpy(st->pixels + (size_t)i * size, reef_dataset_sample(ds, idx[i]), size);
        st->labels[i] = ds->labels[idx[i]];
        st->flip[i] = flip ? (uint8_t)(reef_rng_u32(&st->rng) & 1) : 0;
    }
    reef_nas_supernet_load(&st->sn, st->pixels, n, st->flip);
}

static int correct_count(const reef_nas_supernet *sn, const uint16_t *labels, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += reef_model_argmax(&sn->path, i) == labels[i];
    return c;
}

static int choice_code(const reef_nas_space *s, const int *choice)
{
    int code = 0;
    for (int b = s->nblocks - 1; b >= 0; b--) code = code * REEF_NAS_NCAND + choice[b];
    return code;
}

static int record_seen(search_state *st, const int *choice, int correct, int n, reef_error *err)
{
    const reef_nas_space *s = &st->sn.space;
    int code = choice_code(s, choice), at = st->seen_at[code];
    reef_nas_result *r = st->res;
    if (at < 0) {
        if (r->nseen == st->seen_cap) {
            int cap = st->seen_cap ? 2 * st->seen_cap : 256;
            reef_nas_seen *p = realloc(r->seen, (size_t)cap * sizeof *p);
            if (!p) return reef_fail(err, "out of memory");
            r->seen = p, st->seen_cap = cap;
        }
        at = st->seen_at[code] = r->nseen++;
        reef_nas_seen *sn = &r->seen[at];
        memset(sn, 0, sizeof *sn);
        memcpy(sn->choice, choice, (size_t)s->nblocks * sizeof *choice);
        reef_nas_estimate_choice(st->sc, s, choice, st->tg, &sn->est);
    }
    r->seen[at].n++;
    r->seen[at].correct += correct, r->seen[at].total += n;
    return 0;
}

/* Adds the soft penalty's gradient (resource above margin x target) to
 * dalpha, from the expected costs under the full gate probabilities. */
static void penalty_grad(search_state *st, const double (*p)[REEF_NAS_NCAND], double (*dalpha)[REEF_NAS_NCAND])
{
    const reef_nas_space *s = &st->sn.space;
    const reef_nas_space_costs *sc = st->sc;
    const reef_nas_budget *tg = st->tg;
    const double lambda = st->cfg->lambda, margin = st->cfg->margin, ms_per_cycle = 1.0 / (tg->clock_mhz * 1e3);
    double cyc = sc->overhead_cycles + sc->fixed.cycles, flash = (double)(sc->flash_fixed + sc->fixed.weights);
    double eb_cyc[REEF_NAS_MAX_BLOCKS], eb_w[REEF_NAS_MAX_BLOCKS], eb_a[REEF_NAS_MAX_BLOCKS];
    for (int b = 0; b < s->nblocks; b++) {
        eb_cyc[b] = eb_w[b] = eb_a[b] = 0;
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            eb_cyc[b] += p[b][j] * sc->block[b][j].cycles;
            eb_w[b] += p[b][j] * (double)sc->block[b][j].weights;
            eb_a[b] += p[b][j] * (double)sc->block[b][j].arena;
        }
        cyc += eb_cyc[b], flash += eb_w[b];
    }
    // d(penalty)/d(expected cycles) and d/d(expected weight bytes)
    double k_cyc = 0, k_w = 0;
    const double lat_cap = margin * tg->max_latency_ms, flash_cap = margin * tg->max_flash_kb * 1024;
    const double mj_per_cycle = ms_per_cycle * tg->power_mw * 1e-3, energy_cap = margin * tg->max_energy_mj;
    if (lat_cap > 0 && cyc * ms_per_cycle > lat_cap) k_cyc += lambda * ms_per_cycle / lat_cap;
    if (energy_cap > 0 && cyc * mj_per_cycle > energy_cap) k_cyc += lambda * mj_per_cycle / energy_cap;
    if (flash_cap > 0 && flash > flash_cap) k_w += lambda / flash_cap;
    const double ram_cap = margin * tg->max_ram_kb * 1024;
    for (int b = 0; b < s->nblocks; b++) {
        double k_a = ram_cap > 0 && eb_a[b] + (double)sc->ram_fixed > ram_cap ? lambda / ram_cap : 0;
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            if (p[b][j] <= 0) continue;
            // d E_b / d alpha_j = p_j (c_j - E_b) for E_b = sum_j p_j c_j
            dalpha[b][j] += k_cyc * p[b][j] * (sc->block[b][j].cycles - eb_cyc[b]) +
                            k_w * p[b][j] * ((double)sc->block[b][j].weights - eb_w[b]) +
                            k_a * p[b][j] * ((double)sc->block[b][j].arena - eb_a[b]);
        }
    }
}

/* Adam with beta1 = 0 (ProxylessNAS's arch optimizer) on the allowed alphas,
 * then the two sampled alphas of each block are shifted so that the others'
 * probabilities stay as they were (ProxylessNAS's rescale). */
static void arch_update(search_state *st, double (*dalpha)[REEF_NAS_NCAND], const int *active, const int *other)
{
    const double b2 = 0.999, eps = 1e-8, lr = st->cfg->arch_lr;
    st->arch_steps++;
    const double corr2 = 1 - pow(b2, (double)st->arch_steps);
    reef_nas_supernet *sn = &st->sn;
    for (int b = 0; b < sn->space.nblocks; b++) {
        float before[REEF_NAS_NCAND];
        memcpy(before, sn->alpha[b], sizeof before);
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            if (!reef_nas_cand_allowed(&sn->space, b, j)) continue;
            double g = dalpha[b][j];
            st->arch_v[b][j] = b2 * st->arch_v[b][j] + (1 - b2) * g * g;
            sn->alpha[b][j] -= (float)(lr * g / (sqrt(st->arch_v[b][j] / corr2) + eps));
        }
        if (other[b] < 0) continue;
        int i0 = active[b], i1 = other[b];
        double old = log(exp((double)before[i0]) + exp((double)before[i1]));
        double now = log(exp((double)sn->alpha[b][i0]) + exp((double)sn->alpha[b][i1]));
        sn->alpha[b][i0] -= (float)(now - old), sn->alpha[b][i1] -= (float)(now - old);
    }
}

static int arch_step(search_state *st, reef_error *err)
{
    reef_nas_supernet *sn = &st->sn;
    const int n = st->cfg->batch < (int)st->val->count ? st->cfg->batch : (int)st->val->count;
    if (st->val_at + (uint32_t)n > st->val->count) shuffle(st->val_order, st->val->count, &st->rng), st->val_at = 0;
    load_batch(st, st->val, st->val_order + st->val_at, n, 0);
    st->val_at += (uint32_t)n;
    int active[REEF_NAS_MAX_BLOCKS], other[REEF_NAS_MAX_BLOCKS];
    double p[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND], dalpha[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
    memset(dalpha, 0, sizeof dalpha);
    for (int b = 0; b < sn->space.nblocks; b++) {
        reef_nas_probs(sn, b, p[b]);
        reef_nas_sample_two(sn->alpha[b], p[b], REEF_NAS_NCAND, &st->rng, &active[b], &other[b]);
    }
    reef_nas_supernet_forward(sn, active, other, n, REEF_MODE_TRAIN, 0);
    reef_model_loss(&sn->path, st->labels, n, NULL);
    int correct = correct_count(sn, st->labels, n);
    st->val_correct += correct, st->val_total += n;
    if (record_seen(st, active, correct, n, err)) return -1;
    reef_nas_supernet_backward(sn, st->labels, n);
    for (int b = 0; b < sn->space.nblocks; b++)
        if (other[b] >= 0) reef_nas_gate_alpha_grad(sn->alpha[b], (int[2]){active[b], other[b]}, sn->gate_grad[b], dalpha[b]);
    penalty_grad(st, (const double(*)[REEF_NAS_NCAND])p, dalpha);
    arch_update(st, dalpha, active, other);
    return 0;
}

/* One weight step on the next training batch; returns its loss. */
static double weight_step(search_state *st, const uint32_t *idx, int n, int uniform, int64_t step, int64_t total,
                          int *correct)
{
    reef_nas_supernet *sn = &st->sn;
    load_batch(st, st->train, idx, n, 1);
    int path[REEF_NAS_MAX_BLOCKS];
    for (int b = 0; b < sn->space.nblocks; b++) {
        double p[REEF_NAS_NCAND];
        reef_nas_probs(sn, b, p);
        if (uniform) {
            int allowed = 0;
            for (int j = 0; j < REEF_NAS_NCAND; j++) allowed += p[j] > 0;
            for (int j = 0; j < REEF_NAS_NCAND; j++) p[j] = p[j] > 0 ? 1.0 / allowed : 0;
        }
        path[b] = reef_nas_sample(p, REEF_NAS_NCAND, &st->rng);
    }
    reef_nas_supernet_forward(sn, path, NULL, n, REEF_MODE_TRAIN, 1);
    double loss = reef_model_loss(&sn->path, st->labels, n, NULL);
    *correct = correct_count(sn, st->labels, n);
    reef_nas_supernet_backward(sn, st->labels, n);
    reef_clip_grad_norm(sn->path.grads, sn->path.nparams, st->opt.cfg.clip_norm);
    // Only the path's tensors move: off-path weights keep their values and
    // optimizer state (as PyTorch skips parameters without a gradient).
    int nt = 0;
    reef_nas_supernet_path_tensors(sn, path, st->keep);
    for (int t = 0; t < sn->path.nparam_tensors; t++)
        if (st->keep[t]) st->path_tensors[nt++] = sn->path.param_tensors[t];
    st->view.param_tensors = st->path_tensors, st->view.nparam_tensors = nt;
    reef_optim_step(&st->opt, &st->view, reef_schedule_lr(&st->opt.cfg, step, total));
    return loss;
}

static void expected_costs(search_state *st, reef_nas_epoch *ep)
{
    const reef_nas_supernet *sn = &st->sn;
    const reef_nas_space_costs *sc = st->sc;
    double cyc = sc->overhead_cycles + sc->fixed.cycles, flash = (double)(sc->flash_fixed + sc->fixed.weights);
    double ram = (double)sc->fixed.arena;
    for (int b = 0; b < sn->space.nblocks; b++) {
        double p[REEF_NAS_NCAND], a = 0;
        reef_nas_probs(sn, b, p);
        int best = 0;
        for (int j = 0; j < REEF_NAS_NCAND; j++) {
            cyc += p[j] * sc->block[b][j].cycles, flash += p[j] * (double)sc->block[b][j].weights;
            a += p[j] * (double)sc->block[b][j].arena;
            if (p[j] > p[best]) best = j;
        }
        if (a > ram) ram = a;
        ep->argmax[b] = best;
    }
    ep->exp_latency_ms = cyc / (st->tg->clock_mhz * 1e3);
    ep->exp_flash_kb = flash / 1024, ep->exp_ram_kb = (ram + (double)sc->ram_fixed) / 1024;
}

static int run_epoch(search_state *st, int epoch, int search, int64_t *step, int64_t total, const reef_nas_hooks *h,
                     reef_error *err)
{
    const int B = st->cfg->batch, steps = (int)(st->train->count / (uint32_t)B);
    reef_nas_epoch ep = {.epoch = epoch, .search = search};
    double t0 = reef_now(), loss = 0, correct = 0;
    st->val_correct = st->val_total = 0;
    shuffle(st->order, st->train->count, &st->rng);
    for (int i = 0; i < steps; i++) {
        int c;
        loss += weight_step(st, st->order + (size_t)i * B, B, !search, *step, total, &c);
        correct += c;
        (*step)++;
        if (search && (i % st->cfg->arch_every) == 0 && arch_step(st, err)) return -1;
        if (h && h->step) h->step(h->ctx, *step, total);
        if (h && h->stop && *h->stop) break;
    }
    ep.loss = loss / steps, ep.train_acc = correct / ((double)steps * B);
    ep.val_acc = st->val_total ? st->val_correct / st->val_total : 0;
    expected_costs(st, &ep);
    ep.seconds = reef_now() - t0;
    st->res->epochs[st->res->nepochs++] = ep;
    if (h && h->epoch) h->epoch(h->ctx, &ep);
    return 0;
}

/* Re-estimates the BN running statistics of path on training batches,
 * then returns its accuracy on the whole validation set. */
static double evaluate_path(search_state *st, const int *path)
{
    reef_nas_supernet *sn = &st->sn;
    const int B = st->cfg->batch;
    shuffle(st->order, st->train->count, &st->rng);
    int nb = (int)(st->train->count / (uint32_t)B);
    for (int i = 0; i < st->cfg->recal_batches && i < nb; i++) {
        load_batch(st, st->train, st->order + (size_t)i * B, B, 0);
        reef_nas_supernet_forward(sn, path, NULL, B, REEF_MODE_TRAIN, 1);
    }
    double correct = 0;
    for (uint32_t at = 0; at < st->val->count; at += (uint32_t)B) {
        int n = st->val->count - at < (uint32_t)B ? (int)(st->val->count - at) : B;
        for (int i = 0; i < n; i++) st->val_order[i] = at + (uint32_t)i;
        load_batch(st, st->val, st->val_order, n, 0);
        reef_nas_supernet_forward(sn, path, NULL, n, REEF_MODE_INFER, 0);
        correct += correct_count(sn, st->labels, n);
    }
    return st->val->count ? correct / st->val->count : 0;
}

static int state_init(search_state *st, const reef_nas_space *s, reef_error *err)
{
    const reef_nas_search_cfg *cfg = st->cfg;
    if (reef_nas_supernet_build(&st->sn, s, cfg->batch, cfg->threads, cfg->seed, err)) return -1;
    reef_norm_from_dataset(&st->sn.path.norm, st->train);
    reef_optim_cfg oc;
    reef_optim_cfg_default(&oc);
    oc.lr = cfg->lr;
    if (reef_optim_init(&st->opt, &oc, st->sn.path.nparams, err)) return -1;
    st->view = st->sn.path;  // the optimizer reads params, grads and (this step's) param_tensors
    const int nt = st->sn.path.nparam_tensors;
    st->path_tensors = malloc((size_t)nt * sizeof *st->path_tensors);
    st->keep = malloc((size_t)nt);
    if (!st->path_tensors || !st->keep) return reef_fail(err, "out of memory");
    reef_rng_seed(&st->rng, cfg->seed * 0x9E3779B97F4A7C15ull + 17);
    size_t codes = 1;
    for (int b = 0; b < s->nblocks; b++) codes *= REEF_NAS_NCAND;
    const size_t img = reef_dataset_sample_size(st->train);
    st->order = malloc(st->train->count * sizeof *st->order);
    st->val_order = malloc((st->val->count > (uint32_t)cfg->batch ? st->val->count : (uint32_t)cfg->batch) *
                           sizeof *st->val_order);
    st->pixels = malloc((size_t)cfg->batch * img);
    st->flip = malloc((size_t)cfg->batch);
    st->labels = malloc((size_t)cfg->batch * sizeof *st->labels);
    st->seen_at = malloc(codes * sizeof *st->seen_at);
    st->res->epochs = calloc((size_t)(cfg->warmup_epochs + cfg->search_epochs) + 1, sizeof *st->res->epochs);
    if (!st->order || !st->val_order || !st->pixels || !st->flip || !st->labels || !st->seen_at || !st->res->epochs)
        return reef_fail(err, "out of memory");
    for (size_t i = 0; i < codes; i++) st->seen_at[i] = -1;
    shuffle(st->val_order, st->val->count, &st->rng);
    return 0;
}

static void state_free(search_state *st)
{
    reef_nas_supernet_free(&st->sn);
    reef_optim_free(&st->opt);
    free(st->path_tensors), free(st->keep);
    free(st->order), free(st->val_order), free(st->pixels), free(st->flip), free(st->labels), free(st->seen_at);
}

static int check_data(const reef_nas_space *s, const reef_nas_search_cfg *cfg, const reef_dataset *ds,
                      const char *what, reef_error *err)
{
    if ((int)ds->height != s->in_h || (int)ds->width != s->in_w || (int)ds->channels != s->in_c)
        return reef_fail(err, "the %s images are %ux%ux%u, the search space is for %dx%dx%d", what, ds->height,
                         ds->width, ds->channels, s->in_h, s->in_w, s->in_c);
    if ((int)ds->num_classes != s->num_classes)
        return reef_fail(err, "the %s has %u classes, the search space %d", what, ds->num_classes, s->num_classes);
    if (ds->count < (uint32_t)cfg->batch && !strcmp(what, "training data"))
        return reef_fail(err, "the %s has %u samples, fewer than one batch of %d", what, ds->count, cfg->batch);
    if (!ds->count) return reef_fail(err, "the %s is empty", what);
    return 0;
}

int reef_nas_search_run(const reef_nas_space *s, const reef_nas_space_costs *sc, const reef_nas_budget *tg,
                        const reef_nas_search_cfg *cfg, const reef_dataset *train, const reef_dataset *val,
                        const reef_nas_hooks *hooks, reef_nas_result *res, reef_error *err)
{
    memset(res, 0, sizeof *res);
    if (check_data(s, cfg, train, "training data", err) || check_data(s, cfg, val, "validation data", err)) return -1;
    double t0 = reef_now();
    search_state st;
    memset(&st, 0, sizeof st);
    st.cfg = cfg, st.tg = tg, st.sc = sc, st.train = train, st.val = val, st.res = res;
    res->space = *s;
    int rc = state_init(&st, s, err);
    const int64_t total = (int64_t)(cfg->warmup_epochs + cfg->search_epochs) * (train->count / (uint32_t)cfg->batch);
    int64_t step = 0;
    for (int e = 0; !rc && e < cfg->warmup_epochs + cfg->search_epochs; e++) {
        rc = run_epoch(&st, e + 1, e >= cfg->warmup_epochs, &step, total, hooks, err);
        if (hooks && hooks->stop && *hooks->stop) break;
    }
    if (!rc) {
        memcpy(res->alpha, st.sn.alpha, sizeof res->alpha);
        res->met = !reef_nas_derive(s, sc, (const float(*)[REEF_NAS_NCAND])st.sn.alpha, tg, res->choice, &res->est,
                                    res->missed, sizeof res->missed);
        res->val_acc = evaluate_path(&st, res->choice);
    }
    state_free(&st);
    res->seconds = reef_now() - t0;
    if (rc) reef_nas_result_free(res);
    return rc;
}
