/* Patch-based stages (reef/patch.h) for the planner: which runs of conv /
 * depthwise steps a PATCH step can take, and the PATCH step itself, its
 * region buffers and kernel scratch sized by a dry run of the runtime's
 * own schedule (reef_patch_run with a dry observer). */
#include <stdlib.h>
#include <string.h>

#include "codegen/lower_internal.h"
#include "codegen/plan.h"

int fuse_patch_chain_at(const reef_lowered_model *m, const int *readers, int k, int max_layers)
{
    const reef_lowered_step *s = m->steps;
    if (max_layers > REEF_PATCH_MAX_STAGES) max_layers = REEF_PATCH_MAX_STAGES;
    if (k >= m->nsteps || !fuse_is_layer(&s[k]) || s[k].input_tensors[0] < 0) return 0;
    int n = 1;
    while (n < max_layers && k + n < m->nsteps && fuse_is_layer(&s[k + n])) {
        int32_t prev = s[k + n - 1].output_tensor;
        if (s[k + n].input_tensors[0] != prev || readers[prev] != 1 || prev == m->output_tensor) break;
        n++;
    }
    return n;
}

/* Fills a's stages from the layer copies in sub. */
static void set_stages(reef_patch_step_args *a, const reef_lowered_step *sub, int n)
{
    a->nstages = n;
    for (int i = 0; i < n; i++) {
        reef_patch_stage *st = &a->stage[i];
        st->kind = sub[i].kind == REEF_STEP_CONV ? REEF_PATCH_CONV : REEF_PATCH_DW;
        st->conv = sub[i].kind == REEF_STEP_CONV ? &sub[i].args.conv : NULL;
        st->dw = sub[i].kind == REEF_STEP_DW_CONV ? &sub[i].args.dw_conv : NULL;
    }
}

/* A dry run with input and output apart and the given scratch sizes. */
static int dry_run(reef_patch_step_args *a, int32_t buf_size, int32_t kernel_size, reef_patch_observer *obs)
{
    uint8_t dummy[4];
    memset(obs, 0, sizeof *obs);
    obs->dry = 1;
    a->io.input_at = 1u << 28;
    a->io.output_at = 1u << 29;
    a->kernel_at = 1u << 27, a->kernel_size = kernel_size;
    a->buf_at = 1u << 26, a->buf_size = buf_size;
    return reef_patch_run(a, dummy, obs) == REEF_OK ? 0 : -1;
}

int fuse_patch_make(const reef_lowered_model *m, int k, int nlayers, int gh, int gw, reef_lowered_step *out)
{
    reef_lowered_step *sub = malloc((size_t)nlayers * sizeof *sub);
    if (!sub) return -1;
    memcpy(sub, &m->steps[k], (size_t)nlayers * sizeof *sub);
    memset(out, 0, sizeof *out);
    out->kind = REEF_STEP_PATCH;
    out->op = sub[0].op, out->builtin = sub[0].builtin;
    out->input_tensors[0] = sub[0].input_tensors[0], out->input_tensors[1] = -1;
    out->output_tensor = sub[nlayers - 1].output_tensor;
    out->sub = sub, out->nsub = nlayers;
    for (int j = 0; j < nlayers; j++) out->macs += sub[j].macs;
    reef_patch_step_args *a = &out->args.patch;
    set_stages(a, sub, nlayers);
    a->grid_h = gh, a->grid_w = gw;
    reef_patch_observer obs;
    if (dry_run(a, 1 << 24, 1 << 24, &obs)) return free(sub), out->sub = NULL, -1;
    const int32_t buf = (int32_t)fuse_align4(obs.buf_bytes), kernel = (int32_t)fuse_align4(obs.kernel_bytes);
    /* again at the sizes it gets: a depthwise loop depends on its scratch */
    if (dry_run(a, buf, kernel, &obs)) return free(sub), out->sub = NULL, -1;
    out->patch_extra_macs = obs.macs - out->macs;
    out->patch_buf_rel = (uint32_t)kernel;
    a->kernel_size = kernel, a->buf_size = buf;
    a->io.input_at = a->io.output_at = 0;
    a->io.scratch_size = (uint32_t)(kernel + buf);
    return obs.path_changes ? 1 : 0;
}

void fuse_patch_fix(reef_lowered_step *s)
{
    reef_patch_step_args *a = &s->args.patch;
    set_stages(a, s->sub, s->nsub);
    a->kernel_at = a->io.scratch_at;
    a->buf_at = a->io.scratch_at + s->patch_buf_rel;
}
