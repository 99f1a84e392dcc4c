/* Int8 dot-product blocks shared by the fast conv and fc kernels
 * (internal). Rows are weights, columns are inputs, both int8 of length k;
 * sums are plain int32 (offsets are folded in by the callers). */
#ifndef REEF_RT_DOT_H
#define REEF_RT_DOT_H

#include <stdint.h>

/* sums[2*r + c] = row_r . col_c for r, c in {0, 1}. */
void reef_dot_2x2(const int8_t *row0, const int8_t *row1, const int8_t *col0,
                  const int8_t *col1, int32_t k, int32_t sums[4]);

/* sums[r] = row_r . (col + col_offset) for r < 4; rows are k apart;
 * col_offset in [-127, 128]. */
void reef_dot_4x1(const int8_t *rows, const int8_t *col, int32_t k, int32_t col_offset,
                  int32_t sums[4]);

/* row . (col + col_offset). */
int32_t reef_dot_1x1(const int8_t *row, const int8_t *col, int32_t k, int32_t col_offset);

/* Sum of k int8 values. */
int32_t reef_sum_s8(const int8_t *v, int32_t k);

#endif
