/* Real TensorFlow Lite (npm's @tensorflow/tfjs-tflite, its interpreter
 * compiled to WebAssembly, run by Node through tests/tflite/tfjs_reader.js)
 * as a second reader of the .tflite files reef writes: the C side of the
 * tests. Jobs are batched, so that one Node process (0.3 s to start) loads
 * and runs many models:
 *   tfjs_job jobs[N];  tfjs_job_init(&jobs[k], model, inputs, n, out_size, inspect_json);
 *   tfjs_run(jobs, N, dir);   // fills each job's results
 * tfjs_present() prints why and returns 0 when Node or the package is absent
 * (the caller then skip()s; scripts/deps.sh installs both). */
#ifndef REEF_TESTS_TFJS_H
#define REEF_TESTS_TFJS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef struct tfjs_job {
    char model[700];     /* the .tflite */
    char inputs[700];    /* n raw int8 inputs back to back, or "-" */
    char inspect[700];   /* reef inspect --json of model, or "-" */
    int n, out_size;     /* inputs to run, output elements */
    /* results */
    int ended;           /* the reader reported on this job */
    char error[512];     /* TFLite refused it: why ("" when loaded) */
    int tensors, compared, mismatches;
    char first_mismatch[512];
    int nout;            /* outputs read */
    int8_t *outputs;     /* (n, out_size) */
} tfjs_job;

static const char *tfjs_script(void)
{
    static char path[1024];
    const char *src = getenv("REEF_SOURCE");
    snprintf(path, sizeof path, "%s/tests/tflite/tfjs_reader.js", src ? src : "../..");
    return path;
}

static int tfjs_present(void)
{
    if (system("node --version >/dev/null 2>&1")) {
        printf("[  SKIPPED ] Node is not installed: scripts/deps.sh installs it\n");
        return 0;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "node '%s' </dev/null", tfjs_script());
    int rc = system(cmd);  // prints its own SKIPPED line when the package is absent
    return WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

static void tfjs_job_init(tfjs_job *j, const char *model, const char *inputs, int n, int out_size, const char *inspect)
{
    memset(j, 0, sizeof *j);
    snprintf(j->model, sizeof j->model, "%s", model);
    snprintf(j->inputs, sizeof j->inputs, "%s", inputs ? inputs : "-");
    snprintf(j->inspect, sizeof j->inspect, "%s", inspect ? inspect : "-");
    j->n = inputs ? n : 0, j->out_size = out_size;
    j->outputs = calloc((size_t)j->n * (size_t)(out_size > 0 ? out_size : 1) + 1, 1);
}

static void tfjs_job_free(tfjs_job *j)
{
    free(j->outputs);
    j->outputs = NULL;
}

/* Writes `reef inspect --json` of model to json; 0 when it worked. */
static int tfjs_inspect(const char *model, const char *json)
{
    const char *bin = getenv("REEF_BIN");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "'%s' inspect --json --model '%s' > '%s'", bin ? bin : "../../reef", model, json);
    return system(cmd);
}

/* Runs every job in one Node process; a job the reader never reported on
 * keeps ended = 0. Returns the reader's exit status. */
static int tfjs_run(tfjs_job *jobs, int njobs, const char *dir)
{
    char list[600], cmd[2048];
    snprintf(list, sizeof list, "%s/jobs.txt", dir);
    FILE *fp = fopen(list, "w");
    if (!fp) return -1;
    for (int k = 0; k < njobs; k++) fprintf(fp, "%s %s %s\n", jobs[k].model, jobs[k].inputs, jobs[k].inspect);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "node '%s' < '%s'", tfjs_script(), list);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 20;
    char *line = malloc(cap);
    int k = -1;
    while (fgets(line, (int)cap, p)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "model ", 6)) {
            k++;
            if (k >= njobs || strcmp(line + 6, jobs[k].model)) break;  // out of step: leave the rest unended
        } else if (k < 0 || k >= njobs) {
            continue;
        } else if (!strcmp(line, "end")) {
            jobs[k].ended = 1;
        } else if (!strncmp(line, "error ", 6)) {
            snprintf(jobs[k].error, sizeof jobs[k].error, "%s", line + 6);
        } else if (!strncmp(line, "tensors ", 8)) {
            sscanf(line, "tensors %d compared %d mismatches %d", &jobs[k].tensors, &jobs[k].compared, &jobs[k].mismatches);
        } else if (!strncmp(line, "mismatch ", 9)) {
            if (!jobs[k].first_mismatch[0]) snprintf(jobs[k].first_mismatch, sizeof jobs[k].first_mismatch, "%s", line + 9);
        } else if (!strncmp(line, "out ", 4) && jobs[k].nout < jobs[k].n) {
            char *at = line + 4, *end;
            int8_t *o = jobs[k].outputs + (size_t)jobs[k].nout * jobs[k].out_size;
            for (int e = 0; e < jobs[k].out_size; e++, at = end) o[e] = (int8_t)strtol(at, &end, 10);
            jobs[k].nout++;
        }
    }
    free(line);
    int rc = pclose(p);
    unlink(list);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

#endif
