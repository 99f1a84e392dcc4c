/* Readable result tables for the terminal: cells are collected first, then
 * printed with each column as wide as its widest cell. Numbers right-align.
 *
 *   reef_table t; reef_table_init(&t, "class", "count", "share", NULL);
 *   reef_table_row(&t, "fish", "%d", 1740, "%.1f%%", 49.8);  -- see below
 */
#ifndef REEF_UTIL_TABLE_H
#define REEF_UTIL_TABLE_H

#include <stdio.h>

#define REEF_TABLE_MAX_COLS 16

typedef struct reef_table {
    int ncols;
    int nrows;
    int cap_rows;
    char *header[REEF_TABLE_MAX_COLS];
    char **cells;     /* (nrows, ncols), malloc'd strings */
    int right[REEF_TABLE_MAX_COLS]; /* right-align this column */
    int cur_col;      /* next cell of the row being added */
} reef_table;

/* Header names, NULL-terminated. A name starting with '>' right-aligns its
 * column (the '>' is not printed). */
void reef_table_init(reef_table *t, ...);
/* Adds one cell to the current row (rows end after ncols cells). */
void reef_table_cell(reef_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints with a title line (may be NULL) and frees the table. */
void reef_table_print(reef_table *t, FILE *fp, const char *title);
void reef_table_free(reef_table *t);

#endif
