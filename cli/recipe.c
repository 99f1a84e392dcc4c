/* The training recipe's options: see recipe.h. */
#include "recipe.h"

#include <string.h>

#include "cli.h"

static const char *const keys[] = {"epochs",   "batch",    "threads",      "seed",
                                   "optimizer", "lr",      "momentum",     "weight-decay",
                                   "schedule", "clip",     "label-smoothing", "balance",
                                   "balance-groups", "augment", "chunk", "mixup",
                                   "qat-epochs", "qat-lr", "input-norm"};
enum { NKEYS = (int)(sizeof keys / sizeof keys[0]) };

int cli_recipe_option(const char *name, cli_recipe *r, int c, const char *arg)
{
    int i = c - CLI_RECIPE_CODE;
    if (i < 0 || i >= NKEYS) return 1;
    if (!arg) arg = "on";  // --balance, --balance-groups
    reef_train_cfg scratch;
    reef_train_cfg_default(&scratch);
    char why[512];
    if (reef_train_cfg_set(&scratch, keys[i], arg, why, sizeof why)) {
        cli_error(name, "--%s: %s", keys[i], why);
        return 2;
    }
    if (r->n == CLI_RECIPE_MAX) {
        cli_error(name, "too many recipe options");
        return 2;
    }
    r->key[r->n] = keys[i], r->value[r->n] = arg, r->n++;
    return 0;
}

int cli_recipe_has(const cli_recipe *r, const char *key)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->key[i], key)) return 1;
    return 0;
}

/* The recipe's optimizer settings (pass 0) or the others (pass 1). */
static void apply(reef_train_cfg *cfg, int n, const char *const *key, const char *const *value, int pass)
{
    for (int i = 0; i < n; i++)
        if ((strcmp(key[i], "optimizer") != 0) == pass) reef_train_cfg_set(cfg, key[i], value[i], NULL, 0);
}

void cli_recipe_resolve(const cli_recipe *r, const reef_arch *arch, reef_train_cfg *cfg)
{
    reef_train_cfg_default(cfg);
    for (int pass = 0; pass < 2; pass++) {
        if (arch) {
            const char *k[REEF_ARCH_MAX_RECIPE], *v[REEF_ARCH_MAX_RECIPE];
            for (int i = 0; i < arch->nrecipe; i++) k[i] = arch->recipe[i].key, v[i] = arch->recipe[i].value;
            apply(cfg, arch->nrecipe, k, v, pass);
        }
        apply(cfg, r->n, r->key, r->value, pass);
    }
}

void cli_recipe_usage(FILE *fp, int default_threads)
{
    fprintf(fp,
            "recipe (defaults below; an architecture spec's `recipe` lines replace them,\n"
            "and these flags replace both):\n"
            "  --epochs N          epochs (default 20)\n"
            "  --batch N           batch size (default 64)\n"
            "  --threads N         threads (default %d; results are bit-identical for a given\n"
            "                      seed and thread count)\n"
            "  --seed N            random seed (default 1)\n"
            "  --optimizer NAME    adamw (default) or sgd (Nesterov momentum)\n"
            "  --lr X              peak learning rate (default 3e-3 for adamw, 0.05 for sgd)\n"
            "  --momentum X        sgd momentum (default 0.9)\n"
            "  --weight-decay X    default 1e-4 (conv/fc weights only)\n"
            "  --schedule NAME     cosine (warm-up then cosine, default), onecycle, constant\n"
            "  --clip X            clip the gradient norm to X (default 5, 0 = off)\n"
            "  --label-smoothing X default 0.05\n"
            "  --balance           weight classes by inverse frequency in the loss\n"
            "  --balance-groups    draw every group (habitat) equally often\n"
            "  --augment LIST      comma list (default: flip): flip, shift[=N] (pixels, 2),\n"
            "                      jitter (brightness and contrast 0.1), bright[=B] (0.2),\n"
            "                      contrast[=C] (0.3), gamma[=G] (exponent e^U(-G,G), 0.4),\n"
            "                      noise[=S] (Gaussian, 0.03 of full scale), blur (3x3 box,\n"
            "                      half the samples), cutout[=N] (an NxN square, 8),\n"
            "                      motion[=P] (difference inputs: with probability P, 0.5,\n"
            "                      a random no-fish frame's motion added, label kept), none\n"
            "  --mixup A           mixup with l ~ Beta(A, A) (default 0: off; the label is\n"
            "                      drawn y1 with probability l, else y2)\n"
            "  --chunk C           cut each batch into chunks of C samples, each its own\n"
            "                      forward/backward (batch norm per chunk), gradients added\n"
            "                      in chunk order (default 0: the batch is one chunk). Needed\n"
            "                      under mpirun -np N > 1, which shares the chunks out; the\n"
            "                      checkpoint is the same bits for any N (docs/mpi.md)\n"
            "  --qat-epochs N      after the float epochs, N epochs of quantization-aware\n"
            "                      fine-tuning: batch norm frozen, weights and activations\n"
            "                      rounded to the int8 grids `reef quantize` gives them\n"
            "                      (default 0: off; docs/quantization.md)\n"
            "  --qat-lr X          its peak learning rate, cosine to 0 (default 1e-4)\n"
            "  --input-norm MODE   channel (default: each channel its own mean and std),\n"
            "                      shared (one mean and std over all channels) or\n"
            "                      shared-mean (one mean, each channel its own spread; the\n"
            "                      quantizer folds the stds into the first convolution):\n"
            "                      with either, the int8 input is exact (q = pixel - 128)\n",
            default_threads);
}
