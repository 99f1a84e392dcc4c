/* Options and planning shared by the intermittent subcommands (intermittent.h). */
#include "intermittent.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "firmware/step_cycles.h"

void power_opts_default(power_opts *p)
{
    p->capacitor_f = 0;
    p->v_on = 3.0;
    p->v_off = 1.8;
    p->efficiency = 1.0;
    p->nvm = REEF_NVM_FRAM;
    p->profile = "stm32l4r5";
    p->step_cycles = NULL;
    p->quiet = 0;
}

int cli_parse_si(const char *cmd, const char *opt, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || !isfinite(v)) {
        cli_error(cmd, "%s wants a number (SI suffix p n u m k M allowed), not '%s'", opt, text);
        return -1;
    }
    static const struct {
        char c;
        double scale;
    } si[] = {{'p', 1e-12}, {'n', 1e-9}, {'u', 1e-6}, {'m', 1e-3}, {'k', 1e3}, {'M', 1e6}};
    if (*end) {
        size_t i = 0;
        while (i < sizeof si / sizeof *si && si[i].c != *end) i++;
        /* a unit letter may follow (100uF, 2mW, 3V) */
        if (i == sizeof si / sizeof *si || (end[1] && (end[2] || !strchr("FWVs", end[1])))) {
            cli_error(cmd, "%s: cannot read '%s' (a number with an optional SI suffix: 100u, 2m)", opt, text);
            return -1;
        }
        v *= si[i].scale;
    }
    *out = v;
    return 0;
}

int power_opts_parse(const char *cmd, power_opts *p, const char *opt, const char *value)
{
    if (!strcmp(opt, "capacitor")) return cli_parse_si(cmd, "--capacitor", value, &p->capacitor_f) ? -1 : 1;
    if (!strcmp(opt, "v-on")) return cli_parse_si(cmd, "--v-on", value, &p->v_on) ? -1 : 1;
    if (!strcmp(opt, "v-off")) return cli_parse_si(cmd, "--v-off", value, &p->v_off) ? -1 : 1;
    if (!strcmp(opt, "efficiency")) return cli_parse_double(cmd, "--efficiency", value, &p->efficiency) ? -1 : 1;
    if (!strcmp(opt, "profile")) return p->profile = value, 1;
    if (!strcmp(opt, "step-cycles")) return p->step_cycles = value, 1;
    if (!strcmp(opt, "nvm")) {
        if (!strcmp(value, "fram")) return p->nvm = REEF_NVM_FRAM, 1;
        if (!strcmp(value, "flash")) return p->nvm = REEF_NVM_FLASH, 1;
        cli_error(cmd, "--nvm wants fram or flash, not '%s'", value);
        return -1;
    }
    return 0;
}

int power_opts_check(const char *cmd, const power_opts *p)
{
    if (p->capacitor_f < 0 || (p->capacitor_f > 0 && (p->capacitor_f < 1e-9 || p->capacitor_f > 100)))
        return cli_error(cmd, "--capacitor %g F is not a storage capacitor (1 nF to 100 F)", p->capacitor_f), -1;
    if (!(p->v_off > 0) || !(p->v_on > p->v_off) || p->v_on > 20)
        return cli_error(cmd, "impossible voltages: --v-on %g V must be above --v-off %g V, both above 0 and at most 20 V",
                         p->v_on, p->v_off),
               -1;
    if (!(p->efficiency > 0 && p->efficiency <= 1))
        return cli_error(cmd, "--efficiency %g must be in (0, 1]", p->efficiency), -1;
    return 0;
}

double power_budget_uj(const power_opts *p)
{
    return p->efficiency * 0.5 * p->capacitor_f * (p->v_on * p->v_on - p->v_off * p->v_off) * 1e6;
}

int power_plan_options(const char *cmd, const power_opts *p, reef_device_profile *prof,
                       reef_intermittent_options *o)
{
    reef_error err = {{0}};
    if (reef_profile_load(p->profile, prof, &err)) return cli_error(cmd, "%s", err.msg), -1;
    memset(o, 0, sizeof *o);
    reef_energy_estimate run;
    reef_energy_estimate_cycles(prof, 1, &run); /* the energy model's run power (board-fitted when given) */
    double run_mw = run.power_mw, t, e1, e0;
    o->costs.run_uj_per_cycle = run_mw * 1e-3 / (prof->clock_mhz * 1e6) * 1e6;
    o->costs.boot_uj = prof->boot_us * 1e-6 * run_mw * 1e3;
    /* per byte and per transfer: the cost of 1000 bytes in one transfer
     * minus that of 0 bytes, and the cost of one empty transfer */
    for (int write = 0; write < 2; write++) {
        if (reef_nvm_cost(prof, p->nvm, write, 1000, 1, &t, &e1) || reef_nvm_cost(prof, p->nvm, write, 0, 1, &t, &e0))
            return cli_error(cmd, "%s: the profile has no %s figures (docs/formats/device-profile.md)", prof->name,
                             p->nvm == REEF_NVM_FRAM ? "FRAM" : "flash"),
                   -1;
        if (p->nvm == REEF_NVM_FLASH && write) {
            /* every write lands on pages that must be erased first: a page
             * erase per transfer, and the program time per byte */
            double erase_uj = prof->flash_erase_ms * 1e-3 *
                              (run_mw + prof->supply_v * prof->flash_program_ua / 1000.0) * 1e3;
            double prog_uj = prof->flash_program_us * 1e-6 / prof->flash_program_bytes *
                             (run_mw + prof->supply_v * prof->flash_program_ua / 1000.0) * 1e3;
            o->costs.write_uj_per_byte = prog_uj, o->costs.write_uj_per_transfer = erase_uj;
            continue;
        }
        double *per_byte = write ? &o->costs.write_uj_per_byte : &o->costs.read_uj_per_byte;
        double *per_transfer = write ? &o->costs.write_uj_per_transfer : &o->costs.read_uj_per_transfer;
        *per_byte = (e1 - e0) / 1000.0;
        *per_transfer = e0;
    }
    o->write_unit = p->nvm == REEF_NVM_FLASH ? (uint32_t)prof->flash_program_bytes : 1;
    o->erase_size = p->nvm == REEF_NVM_FLASH ? (uint32_t)(prof->flash_page_kb * 1024) : 0;
    o->budget_uj = p->capacitor_f > 0 ? power_budget_uj(p) : 0;
    /* kept for the process: the options point at it */
    static double *cycles;
    free(cycles);
    cycles = NULL;
    if (p->step_cycles && !strcmp(p->step_cycles, "estimate")) return 0;
    if (p->step_cycles) {
        if (reef_step_cycles_read(p->step_cycles, &cycles, &o->nstep_cycles, &err)) return cli_error(cmd, "%s", err.msg), -1;
        o->step_cycles = cycles;
    }
    return 0;
}

/* No --step-cycles: measured on qemu-m4 (cached), else the estimate, said
 * on stderr (step_cycles.h). */
static int default_step_cycles(const char *cmd, const power_opts *p, const reef_lowered_model *m,
                               const reef_device_profile *prof, reef_intermittent_options *o)
{
    static double *measured; /* kept for the process: the options point at it */
    reef_error err = {{0}};
    reef_step_cycles_source source;
    char note[4600];
    free(measured);
    measured = NULL;
    if (!p->quiet) fprintf(stderr, "reef %s: step cycles: looking up or measuring on qemu-m4...\n", cmd);
    if (reef_step_cycles_default(m, prof, &measured, &source, note, sizeof note, &err))
        return cli_error(cmd, "%s (or plan from the estimate: --step-cycles estimate)", err.msg), -1;
    if (!p->quiet || source == REEF_STEP_CYCLES_ESTIMATED) fprintf(stderr, "reef %s: %s\n", cmd, note);
    if (measured) o->step_cycles = measured, o->nstep_cycles = m->nsteps;
    return 0;
}

int power_plan(const char *cmd, const power_opts *p, const reef_lowered_model *m, reef_device_profile *prof,
               reef_intermittent_options *o, reef_intermittent_plan *plan)
{
    reef_error err = {{0}};
    if (power_opts_check(cmd, p) || power_plan_options(cmd, p, prof, o)) return -1;
    /* without a capacitor there is nothing to cut: the estimate only labels the report */
    if (!p->step_cycles && o->budget_uj > 0 && default_step_cycles(cmd, p, m, prof, o)) return -1;
    if (reef_intermittent_plan_make(m, o, plan, &err) == 0) {
        /* every checkpointed tensor has NVM bytes of its own (reef/resume.h) */
        if (p->nvm == REEF_NVM_FRAM && prof->fram_bytes > 0 && plan->nvm_bytes > prof->fram_bytes) {
            cli_error(cmd, "the schedule needs %u bytes of NVM, the %s profile's FRAM has %.0f (a larger FRAM part, "
                           "or a capacitor that needs fewer cuts)",
                      plan->nvm_bytes, prof->name, (double)prof->fram_bytes);
            reef_intermittent_plan_free(plan);
            return -1;
        }
        return 0;
    }
    double need = reef_intermittent_min_budget(m, o);
    if (need < 0) return cli_error(cmd, "%s: %s", p->step_cycles ? p->step_cycles : "plan", err.msg), -1;
    double c_min = need / 1e6 / (p->efficiency * 0.5 * (p->v_on * p->v_on - p->v_off * p->v_off));
    cli_error(cmd,
              "no tiling can make progress with %g uF between %.2f V and %.2f V (%.1f uJ a charge, %s): %s. "
              "The smallest unit needs %.1f uJ: a capacitor of at least %.1f uF would make progress",
              p->capacitor_f * 1e6, p->v_on, p->v_off, o->budget_uj, p->nvm == REEF_NVM_FRAM ? "FRAM" : "flash",
              err.msg, need, c_min * 1e6);
    return -1;
}

int power_plan_memory(const char *cmd, const power_opts *p, const reef_graph *g, const reef_lower_options *lopt,
                      reef_lowered_model *m, reef_device_profile *prof, reef_intermittent_options *o,
                      reef_intermittent_plan *plan, int *fell_back)
{
    *fell_back = 0;
    if (lopt->memory != REEF_MEMORY_FAST && p->capacitor_f > 0) {
        char *plain = calloc((size_t)(g->ntensors ? g->ntensors : 1), 1);
        if (!plain) return cli_error(cmd, "out of memory"), -1;
        for (;;) {
            if (power_opts_check(cmd, p) || power_plan_options(cmd, p, prof, o) ||
                (!p->step_cycles && default_step_cycles(cmd, p, m, prof, o)))
                return free(plain), -1;
            int marked = reef_intermittent_memory_fallback(m, o, plain);
            if (marked < 0) return free(plain), cli_error(cmd, "out of memory"), -1;
            if (marked == 0) break;
            /* steps that write over their input run whole; those too big
             * for one charge go back to layer by layer, which tiles */
            reef_error err = {{0}};
            reef_lowered_free(m);
            if (reef_lower_plain(g, lopt, plain, m, &err)) return free(plain), cli_error(cmd, "%s", err.msg), -1;
            *fell_back = 0;
            for (int t = 0; t < g->ntensors; t++) *fell_back += plain[t];
            if (!p->quiet)
                fprintf(stderr,
                        "reef %s: --memory %s: %d layers in place or row by row do not fit one charge whole; they run "
                        "layer by layer (tileable): arena %zu B (layer by layer %zu B)\n",
                        cmd, reef_memory_mode_name(lopt->memory), *fell_back, m->arena_size, m->arena_layer_by_layer);
        }
        free(plain);
    }
    return power_plan(cmd, p, m, prof, o, plan);
}
