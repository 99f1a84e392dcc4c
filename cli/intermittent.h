/* Options shared by `reef gen --intermittent`, `reef harvest` and `reef
 * run --intermittent` (issue 13): the storage capacitor, its turn-on and
 * brown-out voltages, the NVM, the device profile; and the plan they give. */
#ifndef REEF_CLI_INTERMITTENT_H
#define REEF_CLI_INTERMITTENT_H

#include "codegen/intermittent.h"
#include "codegen/lower.h"
#include "energy/profile.h"

typedef struct power_opts {
    double capacitor_f;   /* 0: none given (a commit after every step) */
    double v_on, v_off;   /* the MCU turns on at v_on, browns out at v_off */
    double efficiency;    /* of the regulator between capacitor and MCU */
    int nvm;              /* REEF_NVM_FRAM or REEF_NVM_FLASH */
    const char *profile;  /* device profile name or path */
    const char *step_cycles; /* --step-cycles FILE (reef run --steps --step-cycles), "estimate",
                                or NULL: measured on qemu-m4 (cached; firmware/step_cycles.h) */
    int quiet;            /* no progress note on stderr (--json) */
} power_opts;

/* Defaults: no capacitor, 3.0 V / 1.8 V, efficiency 1, FRAM, stm32l4r5. */
void power_opts_default(power_opts *p);

/* Handles one of --capacitor, --v-on, --v-off, --efficiency, --nvm,
 * --profile, --step-cycles (long name without dashes); returns 1 if it was one, 0 if not,
 * -1 after printing an error. Values take SI suffixes: 100u, 2m, 0.47m. */
int power_opts_parse(const char *cmd, power_opts *p, const char *opt, const char *value);

/* A value with an optional SI suffix (p n u m k M); -1 after printing. */
int cli_parse_si(const char *cmd, const char *opt, const char *text, double *out);

/* Checks the voltages and capacitor; -1 after printing why. */
int power_opts_check(const char *cmd, const power_opts *p);

/* Energy (uJ) one charge delivers to the MCU: efficiency x C (v_on^2 -
 * v_off^2) / 2. */
double power_budget_uj(const power_opts *p);

/* The intermittent options from the profile (modeled costs, docs/
 * intermittent.md) and the capacitor (budget 0 without one). -1 after
 * printing (profile unreadable or lacking NVM figures). */
int power_plan_options(const char *cmd, const power_opts *p, reef_device_profile *prof,
                       reef_intermittent_options *o);

/* Plans m (step cycles: p->step_cycles, or by default measured on qemu-m4
 * and cached, else the estimate, saying which on stderr); on "cannot make
 * progress" prints the smallest capacitor that would. -1 after printing. */
int power_plan(const char *cmd, const power_opts *p, const reef_lowered_model *m, reef_device_profile *prof,
               reef_intermittent_options *o, reef_intermittent_plan *plan);

/* power_plan for a model lowered from g with lopt (m, replaced when
 * needed): under --memory balanced|min with a capacitor, every step written
 * over its input (in place, ROWS) that does not fit one charge whole is
 * lowered again layer by layer (reef_intermittent_memory_fallback), until
 * none is left; *fell_back: the layers so kept (0: the mode's plan as is).
 * -1 after printing. */
int power_plan_memory(const char *cmd, const power_opts *p, const reef_graph *g, const reef_lower_options *lopt,
                      reef_lowered_model *m, reef_device_profile *prof, reef_intermittent_options *o,
                      reef_intermittent_plan *plan, int *fell_back);

/* reef run --intermittent (run_intermittent.c), dispatched from cmd_run. */
int run_intermittent(int argc, char **argv);

#endif
