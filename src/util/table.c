#include "util/table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void reef_table_init(reef_table *t, ...)
{
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, t);
    const char *name;
    while ((name = va_arg(ap, const char *)) && t->ncols < REEF_TABLE_MAX_COLS) {
        t->right[t->ncols] = name[0] == '>';
        t->header[t->ncols] = strdup(name + t->right[t->ncols]);
        t->ncols++;
    }
    va_end(ap);
}

void reef_table_cell(reef_table *t, const char *fmt, ...)
{
    if (t->cur_col == 0) {
        if (t->nrows == t->cap_rows) {
            t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 16;
            t->cells = realloc(t->cells, sizeof(char *) * (size_t)t->cap_rows * (size_t)t->ncols);
            if (!t->cells) abort();
        }
        t->nrows++;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t->cells[(size_t)(t->nrows - 1) * (size_t)t->ncols + (size_t)t->cur_col] = strdup(buf);
    t->cur_col = (t->cur_col + 1) % t->ncols;
}

static void print_rule(FILE *fp, const int *width, int ncols)
{
    for (int c = 0; c < ncols; c++) {
        for (int i = 0; i < width[c] + (c ? 2 : 0); i++) fputc('-', fp);
    }
    fputc('\n', fp);
}

static void print_cell(FILE *fp, const char *s, int width, int right, int first)
{
    if (!first) fputs("  ", fp);
    fprintf(fp, right ? "%*s" : "%-*s", width, s ? s : "");
}

void reef_table_print(reef_table *t, FILE *fp, const char *title)
{
    while (t->cur_col != 0) reef_table_cell(t, "%s", ""); /* pad a short row */
    int width[REEF_TABLE_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = (int)strlen(t->header[c]);
        for (int r = 0; r < t->nrows; r++) {
            const char *s = t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            if (s && (int)strlen(s) > width[c]) width[c] = (int)strlen(s);
        }
    }
    if (title) fprintf(fp, "%s\n", title);
    for (int c = 0; c < t->ncols; c++) print_cell(fp, t->header[c], width[c], t->right[c], c == 0);
    fputc('\n', fp);
    print_rule(fp, width, t->ncols);
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            print_cell(fp, t->cells[(size_t)r * (size_t)t->ncols + (size_t)c], width[c], t->right[c], c == 0);
        fputc('\n', fp);
    }
    fflush(fp);
    reef_table_free(t);
}

void reef_table_free(reef_table *t)
{
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) free(t->cells[(size_t)r * (size_t)t->ncols + (size_t)c]);
    free(t->cells);
    for (int c = 0; c < t->ncols; c++) free(t->header[c]);
    memset(t, 0, sizeof *t);
}
