/* Int8 dot-product blocks of the fc kernel without scratch (internal).
 * Rows are weights, the column is the input, both int8 of length k. */
#ifndef REEF_RT_DOT_H
#define REEF_RT_DOT_H

#include <stdint.h>

/* sums[r] = row_r . (col + col_offset) for r < 4; rows are k apart;
 * col_offset in [-127, 128]. */
void reef_dot_4x1(const int8_t *rows, const int8_t *col, int32_t k, int32_t col_offset,
                  int32_t sums[4]);

/* row . (col + col_offset). */
int32_t reef_dot_1x1(const int8_t *row, const int8_t *col, int32_t k, int32_t col_offset);

#endif
