/* Classification metrics: see metrics.h. */
#include "nn/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "util/table.h"

int reef_metrics_compute(reef_metrics *mt, const reef_dataset *ds, const uint16_t *pred, reef_error *err)
{
    memset(mt, 0, sizeof *mt);
    const int k = (int)ds->num_classes, g = (int)(ds->num_groups ? ds->num_groups : 1);
    mt->num_classes = k, mt->num_groups = g;
    mt->class_names = ds->class_names, mt->group_names = ds->group_names;
    mt->confusion = calloc((size_t)k * k, sizeof *mt->confusion);
    mt->group_total = calloc(g, sizeof *mt->group_total);
    mt->group_correct = calloc(g, sizeof *mt->group_correct);
    if (!mt->confusion || !mt->group_total || !mt->group_correct) {
        reef_metrics_free(mt);
        return reef_fail(err, "out of memory");
    }
    for (uint32_t i = 0; i < ds->count; i++) {
        int y = ds->labels[i], p = pred[i], grp = ds->groups && ds->num_groups ? ds->groups[i] : 0;
        if (p >= k || y >= k || grp >= g) {
            reef_metrics_free(mt);
            return reef_fail(err, "sample %u: class %d / prediction %d / group %d out of range", i, y, p, grp);
        }
        mt->confusion[(size_t)y * k + p]++;
        mt->group_total[grp]++;
        mt->total++;
        if (p == y) mt->correct++, mt->group_correct[grp]++;
    }
    mt->accuracy = mt->total ? (double)mt->correct / (double)mt->total : 0.0;
    return 0;
}

void reef_metrics_free(reef_metrics *mt)
{
    free(mt->confusion);
    free(mt->group_total);
    free(mt->group_correct);
    memset(mt, 0, sizeof *mt);
}

static const char *name_or(const char **names, int i, char *buf, size_t size)
{
    if (names && names[i]) return names[i];
    snprintf(buf, size, "%d", i);
    return buf;
}

void reef_metrics_print(const reef_metrics *mt, FILE *fp)
{
    char buf[32];
    fprintf(fp, "accuracy %.2f%% (%lld of %lld)\n\n", 100.0 * mt->accuracy, (long long)mt->correct,
            (long long)mt->total);
    // Confusion matrix: one column per predicted class (at most 14 fit a table).
    int k = mt->num_classes < REEF_TABLE_MAX_COLS - 2 ? mt->num_classes : REEF_TABLE_MAX_COLS - 2;
    reef_table t;
    reef_table_init(&t, "true \\ predicted", NULL);
    t.ncols = k + 2;
    for (int p = 0; p < k; p++) {
        char h[80];
        snprintf(h, sizeof h, "%s", name_or(mt->class_names, p, buf, sizeof buf));
        t.header[p + 1] = strdup(h);
        t.right[p + 1] = 1;
    }
    t.header[k + 1] = strdup("recall");
    t.right[k + 1] = 1;
    for (int y = 0; y < k; y++) {
        reef_table_cell(&t, "%s", name_or(mt->class_names, y, buf, sizeof buf));
        int64_t row = 0;
        for (int p = 0; p < mt->num_classes; p++) row += mt->confusion[(size_t)y * mt->num_classes + p];
        for (int p = 0; p < k; p++) reef_table_cell(&t, "%lld", (long long)mt->confusion[(size_t)y * mt->num_classes + p]);
        reef_table_cell(&t, "%.2f%%", row ? 100.0 * mt->confusion[(size_t)y * mt->num_classes + y] / row : 0.0);
    }
    reef_table_print(&t, fp, "confusion matrix");
    if (mt->num_groups > 1) {
        fputc('\n', fp);
        reef_table g;
        reef_table_init(&g, "group", ">count", ">correct", ">accuracy", NULL);
        for (int i = 0; i < mt->num_groups; i++) {
            if (!mt->group_total[i]) continue;
            reef_table_cell(&g, "%s", name_or(mt->group_names, i, buf, sizeof buf));
            reef_table_cell(&g, "%lld", (long long)mt->group_total[i]);
            reef_table_cell(&g, "%lld", (long long)mt->group_correct[i]);
            reef_table_cell(&g, "%.2f%%", 100.0 * mt->group_correct[i] / mt->group_total[i]);
        }
        reef_table_print(&g, fp, "accuracy per group");
    }
}

void reef_metrics_json(const reef_metrics *mt, reef_json *j)
{
    char buf[32];
    reef_json_kv_number(j, "accuracy", mt->accuracy);
    reef_json_kv_int(j, "correct", mt->correct);
    reef_json_kv_int(j, "count", mt->total);
    reef_json_key(j, "classes");
    reef_json_array(j);
    for (int i = 0; i < mt->num_classes; i++) reef_json_string(j, name_or(mt->class_names, i, buf, sizeof buf));
    reef_json_end(j);
    reef_json_key(j, "confusion");
    reef_json_array(j);
    for (int y = 0; y < mt->num_classes; y++) {
        reef_json_array(j);
        for (int p = 0; p < mt->num_classes; p++) reef_json_int(j, mt->confusion[(size_t)y * mt->num_classes + p]);
        reef_json_end(j);
    }
    reef_json_end(j);
    reef_json_key(j, "groups");
    reef_json_array(j);
    for (int i = 0; i < mt->num_groups; i++) {
        reef_json_object(j);
        reef_json_kv_string(j, "name", name_or(mt->group_names, i, buf, sizeof buf));
        reef_json_kv_int(j, "count", mt->group_total[i]);
        reef_json_kv_number(j, "accuracy", mt->group_total[i] ? (double)mt->group_correct[i] / mt->group_total[i] : 0.0);
        reef_json_end(j);
    }
    reef_json_end(j);
}
