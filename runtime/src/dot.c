/* Int8 dot-product blocks: 4 multiply-accumulates per SMLAD pair, the
 * bytes of each word split into (b0, b2) and (b1, b3) halfword pairs by
 * SXTB16 (the pairing is the same on both sides, so the order does not
 * matter to the sum). */
#include "dot.h"
#include "dsp.h"

void reef_dot_4x1(const int8_t *rows, const int8_t *col, int32_t k, int32_t col_offset,
                  int32_t sums[4])
{
    const int32_t offsets = (int32_t)(((uint32_t)col_offset & 0xffffu) | ((uint32_t)col_offset << 16));
    const int8_t *r0 = rows, *r1 = rows + k, *r2 = rows + 2 * k, *r3 = rows + 3 * k;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, i;
    for (i = 0; i + 4 <= k; i += 4) {
        const uint32_t c = reef_load_u32(col + i);
        const int32_t ce = reef_sadd16(reef_sxtb16(c), offsets);
        const int32_t co = reef_sadd16(reef_sxtb16_ror8(c), offsets);
        uint32_t w = reef_load_u32(r0 + i);
        s0 = reef_smlad(reef_sxtb16(w), ce, s0);
        s0 = reef_smlad(reef_sxtb16_ror8(w), co, s0);
        w = reef_load_u32(r1 + i);
        s1 = reef_smlad(reef_sxtb16(w), ce, s1);
        s1 = reef_smlad(reef_sxtb16_ror8(w), co, s1);
        w = reef_load_u32(r2 + i);
        s2 = reef_smlad(reef_sxtb16(w), ce, s2);
        s2 = reef_smlad(reef_sxtb16_ror8(w), co, s2);
        w = reef_load_u32(r3 + i);
        s3 = reef_smlad(reef_sxtb16(w), ce, s3);
        s3 = reef_smlad(reef_sxtb16_ror8(w), co, s3);
    }
    for (; i < k; i++) {
        const int32_t x = col[i] + col_offset;
        s0 += r0[i] * x;
        s1 += r1[i] * x;
        s2 += r2[i] * x;
        s3 += r3[i] * x;
    }
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
}

int32_t reef_dot_1x1(const int8_t *row, const int8_t *col, int32_t k, int32_t col_offset)
{
    const int32_t offsets = (int32_t)(((uint32_t)col_offset & 0xffffu) | ((uint32_t)col_offset << 16));
    int32_t s = 0, i;
    for (i = 0; i + 4 <= k; i += 4) {
        const uint32_t c = reef_load_u32(col + i), w = reef_load_u32(row + i);
        s = reef_smlad(reef_sxtb16(w), reef_sadd16(reef_sxtb16(c), offsets), s);
        s = reef_smlad(reef_sxtb16_ror8(w), reef_sadd16(reef_sxtb16_ror8(c), offsets), s);
    }
    for (; i < k; i++) s += row[i] * (col[i] + col_offset);
    return s;
}
