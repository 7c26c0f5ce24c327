/* int8 SOFTMAX; see k_softmax.h. */
#include "mf_config.h"

#if MF_OP_SOFTMAX

#include <string.h>

#include "mf_quant.h"
#include "kernels/k_softmax.h"

/* Integer bits of the rescaled difference (Q5.26) and of the sum of exps (Q12.19). */
#define K_SOFTMAX_DIFF_BITS 5
#define K_SOFTMAX_ACCUM_BITS 12

/* exp(diff * beta * input_scale) in Q0.31 for d = max - x, looked up or computed once. */
static inline int32_t k_softmax_exp(int32_t *table, int32_t d, const mf_k_softmax_params_t *p) {
    int32_t e = table[d];
    if (e < 0) {
        const int32_t rescaled = mf_mul_by_qm_gt1(-d, p->input_multiplier, p->input_left_shift);
        e = mf_fp_exp_on_negative_values(rescaled, K_SOFTMAX_DIFF_BITS);
        table[d] = e;
    }
    return e;
}

void mf_k_softmax_s8(const int8_t *in, int8_t *out, int32_t outer, int32_t depth,
    const mf_k_softmax_params_t *p, int32_t *table) {
    const int32_t limit = mf_k_softmax_table_len(p) - 1;  /* largest max - x that counts */
    /* exp values are >= 0: -1 (all bytes 0xff) marks "not computed yet". */
    memset(table, 0xff, (size_t)(limit + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < outer; i++) {
        const int8_t *x = in + (size_t)i * (size_t)depth;
        int8_t *y = out + (size_t)i * (size_t)depth;
        int32_t max_in_row = INT8_MIN;
        for (int32_t c = 0; c < depth; c++) {
            if (x[c] > max_in_row) {
                max_in_row = x[c];
            }
        }
        /* TFLM sums in int32 (at most 4095 * 2^19 before it wraps); int64 keeps longer
         * rows defined. */
        int64_t sum_of_exps = 0;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t d = max_in_row - x[c];
            if (d <= limit) {
                /* Rescale<12> of a Q0.31 value: a rounding shift right by 12. */
                sum_of_exps += mf_rdbypot(k_softmax_exp(table, d, p), K_SOFTMAX_ACCUM_BITS);
            }
        }
        /* The row maximum contributes exp(0) = 1.0, so sum >= 2^19 and the exponent
         * below is >= 0. From a sum of 512.0 (2^28) on it would exceed 31, where TFLM
         * stops with TFLITE_CHECK; every probability is then < 1/512, below half an
         * output step, so the row is all zero probability (-128). */
        if (sum_of_exps >= ((int64_t)1 << 28)) {
            memset(y, 0x80, (size_t)depth);
            continue;
        }
        int num_bits_over_unit;
        const int32_t shifted_scale =
            mf_fp_get_reciprocal((int32_t)sum_of_exps, K_SOFTMAX_ACCUM_BITS, &num_bits_over_unit);
        const int exponent = num_bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t d = max_in_row - x[c];
            int32_t v = INT8_MIN;
            if (d <= limit) {
                /* table[d] was filled by the sum loop above. */
                const int32_t unsat = mf_rdbypot(mf_srdhm(shifted_scale, table[d]), exponent);
                v = mf_clamp(unsat + INT8_MIN, INT8_MIN, INT8_MAX);
            }
            y[c] = (int8_t)v;
        }
    }
}

#endif /* MF_OP_SOFTMAX */
