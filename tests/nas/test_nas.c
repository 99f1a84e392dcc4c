/* The search: space, gate sampling (statistical, fixed seeds), the
 * two-path gate gradient, supernet gradients (finite differences), the
 * cost table file, the space selection and the derive step's hard check.
 * All analytic or on tiny networks: no shared data, a few seconds. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testing.h"

#include "nas/cost.h"
#include "nas/search.h"
#include "nas/space.h"
#include "nas/supernet.h"
#include "nn/arch.h"
#include "nn/model.h"
#include "util/rng.h"

/* ---- space ---------------------------------------------------------------------------- */

static void test_space_layout(void **state)
{
    (void)state;
    reef_error err;
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 0.5f, 1, &err), 0);
    assert_int_equal(s.stem_c, 8);
    assert_int_equal(s.blocks[0].in_h, 16);
    assert_int_equal(s.feat_h, 4);
    // zero only where a block keeps its shape: blocks 0 (8 -> 8), 2, 4, 5
    int zero_ok[REEF_NAS_MAX_BLOCKS] = {1, 0, 1, 0, 1, 1};
    for (int b = 0; b < s.nblocks; b++) {
        assert_int_equal(s.blocks[b].zero_ok, zero_ok[b]);
        assert_int_equal(reef_nas_cand_allowed(&s, b, REEF_NAS_ZERO), zero_ok[b]);
    }
    assert_true(fabs(reef_nas_space_size(&s) - pow(7, 4) * pow(6, 2)) < 0.5);
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 0.5f, 2, &err), 0);
    assert_int_equal(s.res_h, 16);
    assert_int_equal(s.feat_h, 2);
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 3.0f, 1, &err), -1);
    assert_non_null(strstr(err.msg, "width"));
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 1.0f, 3, &err), -1);
}

/* Every network of the space is a spec reef train takes: formats, parses
 * back to the same text, and builds with the expected MACs. */
static void test_space_specs_build(void **state)
{
    (void)state;
    reef_error err;
    reef_rng rng;
    reef_rng_seed(&rng, 5);
    reef_nas_table t;
    reef_nas_table_init(&t);
    assert_int_equal(reef_nas_table_analytic(&t, 32, 32, 1, 2, &err), 0);
    for (int i = 0; i < 12; i++) {
        reef_nas_space s;
        assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, reef_nas_widths[i % 3], reef_nas_downs[i % 2], &err), 0);
        int choice[REEF_NAS_MAX_BLOCKS];
        reef_nas_random_choice(&s, &rng, choice);
        reef_arch a, back;
        reef_nas_space_arch(&s, choice, "probe", &a);
        char text[4096], text2[4096];
        reef_arch_format(&a, text, sizeof text);
        if (reef_arch_parse(text, "probe", &back, &err)) fail_msg("%s\n%s", err.msg, text);
        reef_arch_format(&back, text2, sizeof text2);
        assert_string_equal(text, text2);
        reef_model m;
        if (reef_model_build(&m, &back, 32, 32, 1, 2, 1, &err)) fail_msg("%s\n%s", err.msg, text);
        reef_nas_space_costs sc;
        assert_int_equal(reef_nas_space_costs_get(&t, &s, &sc, &err), 0);
        reef_nas_budget tg = {.clock_mhz = 120, .power_mw = 25};
        reef_nas_estimate e;
        reef_nas_estimate_choice(&sc, &s, choice, &tg, &e);
        assert_int_equal(e.macs, reef_model_macs(&m));  // analytic MACs = the float model's
        reef_model_free(&m);
    }
    reef_nas_table_free(&t);
}

/* ---- gates ------------------------------------------------------------------------------ */

static double chi_square(const long *count, const double *p, int n, long draws)
{
    double chi = 0;
    for (int j = 0; j < n; j++)
        if (p[j] > 0) chi += pow((double)count[j] - draws * p[j], 2) / (draws * p[j]);
        else assert_int_equal(count[j], 0);  // a disallowed candidate is never drawn
    return chi;
}

/* One path per step: candidate frequencies match softmax(alpha). */
static void test_gate_sampling_matches_probs(void **state)
{
    (void)state;
    reef_error err;
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 0.5f, 1, &err), 0);
    reef_nas_supernet sn;
    memset(&sn, 0, sizeof sn);
    sn.space = s;
    const float alpha[REEF_NAS_NCAND] = {0.3f, -1.2f, 1.5f, 0.0f, -0.4f, 0.9f, -2.0f};
    reef_rng rng;
    reef_rng_seed(&rng, 12345);
    const long draws = 60000;
    for (int b = 0; b < 2; b++) {  // block 0 allows zero, block 1 does not
        memcpy(sn.alpha[b], alpha, sizeof alpha);
        double p[REEF_NAS_NCAND], sum = 0;
        reef_nas_probs(&sn, b, p);
        for (int j = 0; j < REEF_NAS_NCAND; j++) sum += p[j];
        assert_true(fabs(sum - 1) < 1e-12);
        assert_true(b == 0 ? p[REEF_NAS_ZERO] > 0 : p[REEF_NAS_ZERO] == 0);
        long count[REEF_NAS_NCAND] = {0};
        for (long i = 0; i < draws; i++) count[reef_nas_sample(p, REEF_NAS_NCAND, &rng)]++;
        double chi = chi_square(count, p, REEF_NAS_NCAND, draws);
        printf("block %d: chi-square %.2f (%d dof)\n", b, chi, b == 0 ? 6 : 5);
        assert_true(chi < 22.46);  // 99.9% quantile for 6 dof
    }
    // a skewed distribution is no different: p = (0.98, 0.02)
    double p2[REEF_NAS_NCAND] = {0.98, 0.02, 0, 0, 0, 0, 0};
    long c2[REEF_NAS_NCAND] = {0};
    for (long i = 0; i < draws; i++) c2[reef_nas_sample(p2, REEF_NAS_NCAND, &rng)]++;
    assert_true(chi_square(c2, p2, REEF_NAS_NCAND, draws) < 10.83);
}

/* Two paths: the pair drawn without replacement by p, the active one of
 * the two by the softmax of their alphas. Active frequencies match the
 * exact distribution that implies. */
static void test_two_path_sampling(void **state)
{
    (void)state;
    const int n = REEF_NAS_NCAND;
    const float alpha[REEF_NAS_NCAND] = {0.5f, -0.5f, 1.0f, 0.2f, -1.0f, 0.0f, 0.7f};
    double p[REEF_NAS_NCAND], z = 0;
    for (int j = 0; j < n; j++) z += exp(alpha[j]);
    for (int j = 0; j < n; j++) p[j] = exp(alpha[j]) / z;
    double exact[REEF_NAS_NCAND] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            double pair = p[i] * p[j] / (1 - p[i]);  // first i, then j
            double qi = 1 / (1 + exp((double)alpha[j] - alpha[i]));
            exact[i] += pair * qi, exact[j] += pair * (1 - qi);
        }
    reef_rng rng;
    reef_rng_seed(&rng, 99);
    long count[REEF_NAS_NCAND] = {0}, draws = 60000;
    for (long k = 0; k < draws; k++) {
        int a, o;
        reef_nas_sample_two(alpha, p, n, &rng, &a, &o);
        assert_int_not_equal(a, o);
        assert_true(o >= 0);
        count[a]++;
    }
    double chi = chi_square(count, exact, n, draws);
    printf("two-path active: chi-square %.2f (6 dof)\n", chi);
    assert_true(chi < 22.46);
}

/* ProxylessNAS's estimate is the exact gradient of sum_j dg_j q_j(alpha)
 * over the two sampled candidates: compare with finite differences. */
static void test_gate_alpha_grad(void **state)
{
    (void)state;
    float alpha[REEF_NAS_NCAND] = {0.1f, 0.7f, -0.3f, 0.0f, 0.4f, -0.8f, 0.2f};
    const int idx[2] = {4, 1};
    double dg[REEF_NAS_NCAND] = {0};
    dg[4] = 0.37, dg[1] = -1.21;
    double grad[REEF_NAS_NCAND] = {0};
    reef_nas_gate_alpha_grad(alpha, idx, dg, grad);
    for (int j = 0; j < REEF_NAS_NCAND; j++) {
        if (j == 4 || j == 1) continue;
        assert_true(grad[j] == 0);  // only the two sampled alphas move
    }
    for (int k = 0; k < 2; k++) {
        const int i = idx[k];
        const double h = 1e-3;
        double f[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            float a[REEF_NAS_NCAND];
            memcpy(a, alpha, sizeof a);
            a[i] += (float)(sgn ? h : -h);
            double q0 = 1 / (1 + exp((double)a[idx[1]] - a[idx[0]]));
            f[sgn] = dg[idx[0]] * q0 + dg[idx[1]] * (1 - q0);
        }
        double numeric = (f[1] - f[0]) / (2 * h);
        printf("alpha[%d]: analytic %.6f numeric %.6f\n", i, grad[i], numeric);
        assert_true(fabs(grad[i] - numeric) < 1e-4);
    }
}

/* ---- supernet gradients ------------------------------------------------------------------- */

static double path_loss(reef_nas_supernet *sn, const int *path, const uint16_t *labels, int n)
{
    reef_nas_supernet_forward(sn, path, NULL, n, REEF_MODE_TRAIN, 0);
    return reef_model_loss(&sn->path, labels, n, NULL);
}

/* Copies the running statistics of the supernet's path into m's layers
 * (m has a dropout block the path has not). */
static void copy_path_stats(const reef_nas_supernet *sn, reef_model *m)
{
    int k = 0;
    for (int bi = 0; bi < m->nblocks; bi++) {
        if (m->blocks[bi].spec.kind == REEF_BLOCK_DROPOUT) continue;
        const reef_block *pb = &sn->path.blocks[k++];
        assert_int_equal(pb->nlayers, m->blocks[bi].nlayers);
        for (int l = 0; l < pb->nlayers; l++) {
            const reef_layer *from = &pb->layers[l];
            reef_layer *to = &m->blocks[bi].layers[l];
            if (!from->run_mean) continue;
            memcpy(to->run_mean, from->run_mean, (size_t)from->dims.oc * sizeof(float));
            memcpy(to->run_var, from->run_var, (size_t)from->dims.oc * sizeof(float));
        }
    }
    assert_int_equal(k, sn->path.nblocks);
}

/* The supernet on one path is the nn engine's model of that path's spec:
 * copy the path's parameters and running statistics into a reef_model
 * built from the spec (both walk layers in the same order: w, [b], gamma,
 * beta), then compare logits, loss and every gradient (training mode,
 * batch statistics), and the logits in inference, on the same thread
 * count. Both run the same layers through the same engine, so they must
 * agree bit for bit. */
static void supernet_matches_model(int downsample, int nthreads)
{
    reef_error err;
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 16, 16, 1, 3, 0.5f, downsample, &err), 0);
    reef_nas_supernet sn;
    const int n = 5;
    assert_int_equal(reef_nas_supernet_build(&sn, &s, n, nthreads, 7, &err), 0);
    reef_rng rng;
    reef_rng_seed(&rng, 3);
    uint8_t pixels[5 * 16 * 16];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)reef_rng_below(&rng, 256);
    sn.path.norm.mean[0] = 0.5f, sn.path.norm.std[0] = 0.25f;
    for (size_t i = 0; i < sn.path.nparams; i++) sn.path.params[i] += 0.05f * reef_rng_normal(&rng);  // not just init values
    reef_nas_supernet_load(&sn, pixels, n, NULL);
    const uint16_t labels[5] = {0, 2, 1, 1, 0};
    const int path[REEF_NAS_MAX_BLOCKS] = {REEF_NAS_ZERO, 3, 4, 1, 0, 5};
    reef_nas_supernet_forward(&sn, path, NULL, n, REEF_MODE_TRAIN, 1);  // running statistics away from 0 and 1
    double loss = path_loss(&sn, path, labels, n);
    reef_nas_supernet_backward(&sn, labels, n);

    reef_arch a;
    reef_nas_space_arch(&s, path, "path", &a);
    for (int i = 0; i < a.nblocks; i++) a.blocks[i].dropout = 0;
    reef_model m;
    assert_int_equal(reef_model_build(&m, &a, 16, 16, 1, 3, 1, &err), 0);
    assert_int_equal(reef_model_set_batch(&m, n, nthreads, &err), 0);
    m.norm = sn.path.norm;
    // the path's tensors, in the supernet's order, are the model's tensors
    int mt = 0;
    for (int t = 0; t < sn.path.nparam_tensors; t++) {
        const reef_param *pt = &sn.path.param_tensors[t];
        int b;
        char cand[8];
        if (strstr(pt->name, ".super.")) continue;  // the shared superkernels: test_weight_sharing
        if (sscanf(pt->name, "b%d.%4s", &b, cand) == 2 && strcmp(cand, reef_nas_cands[path[b]].name)) {
            for (size_t i = 0; i < pt->n; i++) assert_true(sn.path.grads[(pt->p - sn.path.params) + i] == 0.0f);  // off the path
            continue;
        }
        assert_true(mt < m.nparam_tensors);
        assert_int_equal(m.param_tensors[mt].n, pt->n);
        memcpy(m.param_tensors[mt].p, pt->p, pt->n * sizeof *pt->p);
        mt++;
    }
    assert_int_equal(mt, m.nparam_tensors);
    copy_path_stats(&sn, &m);
    reef_model_normalize(&m, pixels, n);
    reef_model_forward(&m, n, REEF_MODE_TRAIN, 1);
    double mloss = reef_model_loss(&m, labels, n, NULL);
    reef_model_backward(&m, labels, n, NULL);
    printf("r%d, %d threads: loss supernet %.9f model %.9f\n", s.res_h, nthreads, loss, mloss);
    assert_true(loss == mloss);
    assert_memory_equal(m.logits, sn.path.logits, (size_t)n * 3 * sizeof(float));
    mt = 0;
    for (int t = 0; t < sn.path.nparam_tensors; t++) {
        const reef_param *pt = &sn.path.param_tensors[t];
        int b;
        char cand[8];
        if (strstr(pt->name, ".super.")) continue;
        if (sscanf(pt->name, "b%d.%4s", &b, cand) == 2 && strcmp(cand, reef_nas_cands[path[b]].name)) continue;
        const float *g = sn.path.grads + (pt->p - sn.path.params), *mg = m.grads + (m.param_tensors[mt].p - m.params);
        if (memcmp(g, mg, pt->n * sizeof *g)) printf("%s vs %s: gradients differ\n", pt->name, m.param_tensors[mt].name);
        assert_memory_equal(g, mg, pt->n * sizeof *g);
        mt++;
    }
    // inference (running statistics, as the search's final evaluation)
    reef_nas_supernet_forward(&sn, path, NULL, n, REEF_MODE_INFER, 0);
    copy_path_stats(&sn, &m);
    reef_model_forward(&m, n, REEF_MODE_INFER, 1);
    assert_memory_equal(m.logits, sn.path.logits, (size_t)n * 3 * sizeof(float));
    reef_model_free(&m);
    reef_nas_supernet_free(&sn);
}

static void test_supernet_matches_model(void **state)
{
    (void)state;
    supernet_matches_model(1, 1);
    supernet_matches_model(1, 2);
    supernet_matches_model(2, 2);  // with the input's average pool
}

/* Candidates take their conv weights from the block's k7e6 superkernel
 * (centre kxk, first hidden channels) and give their gradients back. */
static void test_weight_sharing(void **state)
{
    (void)state;
    reef_error err;
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 16, 16, 1, 2, 0.5f, 1, &err), 0);
    reef_nas_supernet sn;
    assert_int_equal(reef_nas_supernet_build(&sn, &s, 2, 1, 5, &err), 0);
    uint8_t pixels[2 * 16 * 16];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)(i * 37 % 251);
    reef_nas_supernet_load(&sn, pixels, 2, NULL);
    const uint16_t labels[2] = {0, 1};
    const int b = 1, j = 2;  // block 1, k5e3
    int path[REEF_NAS_MAX_BLOCKS] = {0, j, 0, 0, 0, 0};
    reef_nas_supernet_forward(&sn, path, NULL, 2, REEF_MODE_TRAIN, 0);
    reef_model_loss(&sn.path, labels, 2, NULL);
    reef_nas_supernet_backward(&sn, labels, 2);
    const reef_nas_sblock *B = &sn.blocks[b];
    const reef_layer *dw = &B->cand[j].layers[1], *sdw = &B->super.layers[1];
    const int hc = dw->dims.oc, HC = sdw->dims.oc;
    assert_int_equal(HC, 2 * hc);
    assert_int_equal(dw->dims.kh, 5);
    double worst = 0;
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++)
            for (int c = 0; c < hc; c++) {
                size_t at = ((size_t)y * 5 + x) * hc + c, sat = ((size_t)(y + 1) * 7 + x + 1) * HC + c;
                assert_true(dw->w[at] == sdw->w[sat]);
                worst = fmax(worst, fabs(sn.path.grads[dw->w - sn.path.params + at] - sn.path.grads[sdw->w - sn.path.params + sat]));
            }
    // the corner taps and the second half of the channels got nothing
    assert_true(sn.path.grads[sdw->w - sn.path.params] == 0.0f);
    assert_true(sn.path.grads[sdw->w - sn.path.params + ((size_t)3 * 7 + 3) * HC + hc] == 0.0f);
    assert_true(worst == 0);
    // the optimizer steps the superkernel and the path's BN, not the copies
    uint8_t keep[512];
    assert_true(sn.path.nparam_tensors <= 512);
    reef_nas_supernet_path_tensors(&sn, path, keep);
    for (int t = 0; t < sn.path.nparam_tensors; t++) {
        const char *name = sn.path.param_tensors[t].name;
        if (!strcmp(name, "b1.super.l1.w") || !strcmp(name, "b1.k5e3.l1.gamma") || !strcmp(name, "head.w"))
            assert_int_equal(keep[t], 1);
        if (!strcmp(name, "b1.k5e3.l1.w") || !strcmp(name, "b1.k3e3.l1.gamma")) assert_int_equal(keep[t], 0);
    }
    reef_nas_supernet_free(&sn);
}

/* dL/dg of a block's active candidate equals the loss's derivative along
 * a scaling of that candidate's output: check it by finite differences
 * on the projection's BN (gamma and beta scaled by 1 + h, so o -> (1+h) o). */
static void test_gate_gradient_numeric(void **state)
{
    (void)state;
    reef_error err;
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 16, 16, 1, 2, 0.5f, 1, &err), 0);
    reef_nas_supernet sn;
    const int n = 4;
    assert_int_equal(reef_nas_supernet_build(&sn, &s, n, 2, 11, &err), 0);
    reef_rng rng;
    reef_rng_seed(&rng, 8);
    uint8_t pixels[4 * 16 * 16];
    for (size_t i = 0; i < sizeof pixels; i++) pixels[i] = (uint8_t)reef_rng_below(&rng, 256);
    // off the initial values: residual branches start at zero (gamma 0), so
    // their gate gradients would be 0 on both sides
    for (size_t i = 0; i < sn.path.nparams; i++) sn.path.params[i] += 0.05f * reef_rng_normal(&rng);
    reef_nas_supernet_load(&sn, pixels, n, NULL);
    const uint16_t labels[4] = {0, 1, 1, 0};
    const int path[REEF_NAS_MAX_BLOCKS] = {2, 0, 1, 3, 4, 5}, alt[REEF_NAS_MAX_BLOCKS] = {1, 2, 3, 4, 5, 0};
    for (int b = 0; b < s.nblocks; b++) {
        reef_nas_supernet_forward(&sn, path, alt, n, REEF_MODE_TRAIN, 0);
        reef_model_loss(&sn.path, labels, n, NULL);
        reef_nas_supernet_backward(&sn, labels, n);
        double g = sn.gate_grad[b][path[b]];
        reef_layer *proj = &sn.blocks[b].cand[path[b]].layers[2];
        const int oc = proj->dims.oc;
        float gamma[64], beta[64];
        memcpy(gamma, proj->gamma, oc * sizeof *gamma);
        memcpy(beta, proj->beta, oc * sizeof *beta);
        double f[2];
        const double h = 1e-3;  // the loss is float32: smaller steps measure its rounding
        for (int sgn = 0; sgn < 2; sgn++) {
            for (int c = 0; c < oc; c++)
                proj->gamma[c] = gamma[c] * (float)(1 + (sgn ? h : -h)), proj->beta[c] = beta[c] * (float)(1 + (sgn ? h : -h));
            f[sgn] = path_loss(&sn, path, labels, n);
        }
        memcpy(proj->gamma, gamma, oc * sizeof *gamma);
        memcpy(proj->beta, beta, oc * sizeof *beta);
        double numeric = (f[1] - f[0]) / (2 * h);
        printf("block %d: dL/dg analytic %.6g numeric %.6g, inactive %.6g\n", b, g, numeric, sn.gate_grad[b][alt[b]]);
        assert_true(fabs(g - numeric) < 0.03 * fabs(numeric) + 1e-5);
    }
    // A weight step (no second path) after an arch step leaves the alphas
    // alone and reports no inactive gate (a stale inactive once wrote
    // gate_grad[b][-1], over the last block's alphas).
    float alpha[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
    for (int b = 0; b < s.nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++) sn.alpha[b][j] = 0.25f * (float)(j - b);
    memcpy(alpha, sn.alpha, sizeof alpha);
    reef_nas_supernet_forward(&sn, path, NULL, n, REEF_MODE_TRAIN, 1);
    reef_model_loss(&sn.path, labels, n, NULL);
    reef_nas_supernet_backward(&sn, labels, n);
    assert_memory_equal(alpha, sn.alpha, sizeof alpha);
    for (int b = 0; b < s.nblocks; b++)
        for (int j = 0; j < REEF_NAS_NCAND; j++)
            if (j != path[b]) assert_true(sn.gate_grad[b][j] == 0.0);
    reef_nas_supernet_free(&sn);
}

/* ---- the cost table ----------------------------------------------------------------------- */

static void test_table_file(void **state)
{
    (void)state;
    reef_error err;
    reef_nas_table t, back;
    reef_nas_table_init(&t);
    assert_int_equal(reef_nas_table_analytic(&t, 32, 32, 1, 2, &err), 0);
    t.runtime_crc = 0xdeadbeef;
    char dir[256], path[512], bad[600];
    testing_tmpdir(dir, sizeof dir, "nas");
    snprintf(path, sizeof path, "%s/costs.table", dir);
    assert_int_equal(reef_nas_table_save(&t, path, &err), 0);
    assert_int_equal(reef_nas_table_load(&back, path, &err), 0);
    assert_int_equal(back.n, t.n);
    assert_int_equal(back.runtime_crc, 0xdeadbeef);
    assert_string_equal(back.source, "analytic");
    for (int i = 0; i < t.n; i++) {
        int j = reef_nas_table_find(&back, &t.ops[i]);
        assert_int_equal(j, i);
        assert_true(fabs(back.costs[j].cycles - t.costs[i].cycles) < 0.06);
        assert_int_equal(back.costs[j].weights, t.costs[i].weights);
        assert_int_equal(back.costs[j].arena, t.costs[i].arena);
    }
    reef_nas_table_free(&back);
    // damaged files are refused naming the file and line
    snprintf(bad, sizeof bad, "%s/bad.table", dir);
    const char *cases[][2] = {{"reef-cost-table 2\n", "version 2"},
                              {"something else\n", "not a reef cost table"},
                              {"reef-cost-table 1\nop mbconv 8 8 x\n", ":2: malformed op line"},
                              {"reef-cost-table 1\nwhatever 3\n", ":2: cannot read"},
                              /* NaN or infinite costs: a 1 ms target was "met" with latency nan */
                              {"reef-cost-table 1\nop mbconv 8 8 8 8 3 2 1 32 nan 100 10 10 10\n", ":2: op line: cycles"},
                              {"reef-cost-table 1\nop mbconv 8 8 8 8 3 2 1 32 100 inf 10 10 10\n", ":2: op line: cycles"},
                              {"reef-cost-table 1\noverhead_cycles nan\n", ":2: cannot read"},
                              {"", "empty"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        FILE *fp = fopen(bad, "w");
        fputs(cases[k][0], fp);
        fclose(fp);
        assert_int_equal(reef_nas_table_load(&back, bad, &err), -1);
        if (!strstr(err.msg, cases[k][1]) || !strstr(err.msg, "bad.table")) fail_msg("case %zu: %s", k, err.msg);
    }
    remove(bad), remove(path), rmdir(dir);
    reef_nas_table_free(&t);
}

/* ---- selection and derive ------------------------------------------------------------------- */

static void test_select_space(void **state)
{
    (void)state;
    reef_error err;
    reef_nas_table t;
    reef_nas_table_init(&t);
    assert_int_equal(reef_nas_table_analytic(&t, 32, 32, 1, 2, &err), 0);
    reef_nas_search_cfg cfg;
    reef_nas_search_cfg_default(&cfg);
    cfg.space_samples = 300;
    reef_nas_space_pick picks[REEF_NAS_NWIDTHS * REEF_NAS_NDOWNS];
    int best;
    // no targets: everything fits, the space with the most MACs wins (w1.0 r32)
    reef_nas_budget none = {.clock_mhz = 120, .power_mw = 25};
    assert_int_equal(reef_nas_select_space(&t, 32, 32, 1, 2, &none, &cfg, picks, &best, &err), 0);
    assert_true(picks[best].space.width == 1.0f && picks[best].space.downsample == 1);
    assert_true(picks[best].fit == 1.0);
    // tight targets move it to a smaller space
    reef_nas_budget tight = {.max_latency_ms = 4, .max_ram_kb = 20, .clock_mhz = 120, .power_mw = 25};
    assert_int_equal(reef_nas_select_space(&t, 32, 32, 1, 2, &tight, &cfg, picks, &best, &err), 0);
    assert_true(picks[best].space.width < 1.0f || picks[best].space.downsample == 2);
    assert_true(picks[best].fit >= cfg.min_fit);
    // a missing op names the op and the fix
    reef_nas_table empty;
    reef_nas_table_init(&empty);
    assert_int_equal(reef_nas_select_space(&empty, 32, 32, 1, 2, &tight, &cfg, picks, &best, &err), -1);
    assert_non_null(strstr(err.msg, "reef profile-ops"));
    reef_nas_table_free(&t);
}

/* Derived networks obey the hard targets, whatever the gates say; and an
 * impossible target is named with its figure. */
static void test_derive_hard_targets(void **state)
{
    (void)state;
    reef_error err;
    reef_nas_table t;
    reef_nas_table_init(&t);
    assert_int_equal(reef_nas_table_analytic(&t, 32, 32, 1, 2, &err), 0);
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 0.75f, 1, &err), 0);
    reef_nas_space_costs sc;
    assert_int_equal(reef_nas_space_costs_get(&t, &s, &sc, &err), 0);
    // targets a quarter above the cheapest network of the space
    int cheap[REEF_NAS_MAX_BLOCKS];
    for (int b = 0; b < s.nblocks; b++) cheap[b] = s.blocks[b].zero_ok ? REEF_NAS_ZERO : 0;
    reef_nas_budget tg = {.clock_mhz = 120, .power_mw = 25};
    reef_nas_estimate low;
    reef_nas_estimate_choice(&sc, &s, cheap, &tg, &low);
    tg.max_flash_kb = 1.25 * (double)low.flash / 1024, tg.max_ram_kb = 1.25 * (double)low.ram / 1024;
    tg.max_latency_ms = 1.25 * low.latency_ms, tg.max_energy_mj = 1.25 * low.energy_mj;
    printf("targets: %.1f KB flash, %.1f KB RAM, %.2f ms, %.4f mJ\n", tg.max_flash_kb, tg.max_ram_kb,
           tg.max_latency_ms, tg.max_energy_mj);
    reef_rng rng;
    reef_rng_seed(&rng, 77);
    int met = 0, repaired = 0;
    for (int trial = 0; trial < 200; trial++) {
        float alpha[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND];
        for (int b = 0; b < REEF_NAS_MAX_BLOCKS; b++)
            for (int j = 0; j < REEF_NAS_NCAND; j++) alpha[b][j] = 3 * reef_rng_normal(&rng);
        // bias towards the largest candidates so the argmax usually misses
        for (int b = 0; b < REEF_NAS_MAX_BLOCKS; b++) alpha[b][5] += trial % 2 ? 4 : 0;
        int choice[REEF_NAS_MAX_BLOCKS];
        reef_nas_estimate e;
        char missed[256];
        int rc = reef_nas_derive(&s, &sc, (const float(*)[REEF_NAS_NCAND])alpha, &tg, choice, &e, missed, sizeof missed);
        if (rc) fail_msg("trial %d: %s", trial, missed);
        assert_int_equal(reef_nas_budget_missed(&tg, &e, NULL, 0), 0);
        assert_true(e.flash <= tg.max_flash_kb * 1024 && e.ram <= tg.max_ram_kb * 1024 && e.latency_ms <= tg.max_latency_ms &&
                    e.energy_mj <= tg.max_energy_mj);
        for (int b = 0; b < s.nblocks; b++) assert_true(reef_nas_cand_allowed(&s, b, choice[b]));
        // the argmax alone: did the repair have to act?
        int argmax[REEF_NAS_MAX_BLOCKS];
        for (int b = 0; b < s.nblocks; b++) {
            argmax[b] = -1;
            for (int j = 0; j < REEF_NAS_NCAND; j++)
                if (reef_nas_cand_allowed(&s, b, j) && (argmax[b] < 0 || alpha[b][j] > alpha[b][argmax[b]])) argmax[b] = j;
        }
        reef_nas_estimate ea;
        reef_nas_estimate_choice(&sc, &s, argmax, &tg, &ea);
        repaired += reef_nas_budget_missed(&tg, &ea, NULL, 0) != 0;
        met++;
    }
    printf("derive: %d of 200 met every target; %d needed repair\n", met, repaired);
    assert_true(repaired > 50);  // the check was exercised
    // impossible: less RAM than the stem alone needs
    reef_nas_budget tiny = tg;
    tiny.max_ram_kb = 2;
    float zero[REEF_NAS_MAX_BLOCKS][REEF_NAS_NCAND] = {{0}};
    int choice[REEF_NAS_MAX_BLOCKS];
    reef_nas_estimate e;
    char missed[256];
    assert_int_equal(reef_nas_derive(&s, &sc, (const float(*)[REEF_NAS_NCAND])zero, &tiny, choice, &e, missed, sizeof missed), 1);
    printf("impossible: %s\n", missed);
    assert_non_null(strstr(missed, "RAM"));
    assert_non_null(strstr(missed, "> 2 KB"));
    reef_nas_table_free(&t);
}

/* The shipped fish-nas: built in, the same spec as archs/fish-nas.arch, and
 * a network of the search space (w0.75, 16x16). */
static void test_fish_nas_shipped(void **state)
{
    (void)state;
    reef_error err;
    reef_arch a, f;
    assert_int_equal(reef_arch_resolve("fish-nas", &a, &err), 0);
    char path[4096], t1[4096], t2[4096];
    const char *src = testing_source_dir();
    if (!src) skip();
    snprintf(path, sizeof path, "%s/archs/fish-nas.arch", src);
    if (reef_arch_resolve(path, &f, &err)) fail_msg("%s", err.msg);
    reef_arch_format(&a, t1, sizeof t1);
    reef_arch_format(&f, t2, sizeof t2);
    assert_string_equal(t1, t2);
    reef_nas_space s;
    assert_int_equal(reef_nas_space_init(&s, 32, 32, 1, 2, 0.75f, 2, &err), 0);
    const int choice[REEF_NAS_MAX_BLOCKS] = {REEF_NAS_ZERO, 5, 0, 4, 0, REEF_NAS_ZERO};
    reef_arch d;
    reef_nas_space_arch(&s, choice, "fish-nas", &d);
    reef_arch_format(&d, t2, sizeof t2);
    assert_string_equal(t1, t2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_space_layout),
        cmocka_unit_test(test_space_specs_build),
        cmocka_unit_test(test_gate_sampling_matches_probs),
        cmocka_unit_test(test_two_path_sampling),
        cmocka_unit_test(test_gate_alpha_grad),
        cmocka_unit_test(test_supernet_matches_model),
        cmocka_unit_test(test_weight_sharing),
        cmocka_unit_test(test_gate_gradient_numeric),
        cmocka_unit_test(test_table_file),
        cmocka_unit_test(test_select_space),
        cmocka_unit_test(test_derive_hard_targets),
        cmocka_unit_test(test_fish_nas_shipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
