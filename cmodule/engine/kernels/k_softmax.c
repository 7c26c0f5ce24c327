/* int8 SOFTMAX; see k_softmax.h. */
#include "mf_config.h"

#if MF_OP_SOFTMAX

#include <string.h>

#include "mf_quant.h"
#include "kernels/k_softmax.h"

/* Integer bits of the rescaled difference (Q5.26) and of the sum of exps (Q12.19). */
#define K_SOFTMAX_DIFF_BITS 5
#define K_SOFTMAX_ACCUM_BITS 12

/* exp(-d * beta * input_scale) in Q0.31 for d = max - x. */
static inline int32_t k_softmax_exp_of(int32_t d, const mf_k_softmax_params_t *p) {
    const int32_t rescaled = mf_mul_by_qm_gt1(-d, p->input_multiplier, p->input_left_shift);
    return mf_fp_exp_on_negative_values(rescaled, K_SOFTMAX_DIFF_BITS);
}

/* The same, looked up or computed once per invoke. */
static inline int32_t k_softmax_exp(int32_t *table, int32_t d, const mf_k_softmax_params_t *p) {
    int32_t e = table[d];
    if (e < 0) {
        e = k_softmax_exp_of(d, p);
        table[d] = e;
    }
    return e;
}

void mf_k_softmax_reset(const mf_k_softmax_params_t *p, int32_t *table) {
    /* exp values are >= 0: -1 (all bytes 0xff) marks "not computed yet". */
    memset(table, 0xff, (size_t)mf_k_softmax_table_len(p) * sizeof(int32_t));
}

/* One row. The exps of the row's differences come from the lazily filled table
 * (exps NULL) or are computed once per element into exps[depth] (table NULL); either
 * way each is the same exp_on_negative_values result. Called with constant NULLs and
 * forced inline, so each caller gets its own specialised copy (a shared copy testing
 * `exps` per element ran the table path at half speed). */
#if defined(__GNUC__)
#define K_SOFTMAX_ROW_INLINE static inline __attribute__((always_inline))
#else
#define K_SOFTMAX_ROW_INLINE static inline
#endif /* __GNUC__ */

K_SOFTMAX_ROW_INLINE void k_softmax_row(const int8_t *x, int8_t *y, int32_t depth, const mf_k_softmax_params_t *p,
    int32_t *table, int32_t *exps) {
    const int32_t limit = p->limit;
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
            int32_t e;
            if (exps) {
                e = k_softmax_exp_of(d, p);
                exps[c] = e;
            } else {
                e = k_softmax_exp(table, d, p);
            }
            /* Rescale<12> of a Q0.31 value: a rounding shift right by 12. */
            sum_of_exps += mf_rdbypot(e, K_SOFTMAX_ACCUM_BITS);
        }
    }
    /* The row maximum contributes exp(0) = 1.0, so sum >= 2^19 and the exponent
     * below is >= 0. From a sum of 512.0 (2^28) on it would exceed 31, where TFLM
     * stops with TFLITE_CHECK; every probability is then < 1/512, below half an
     * output step, so the row is all zero probability (-128). */
    if (sum_of_exps >= ((int64_t)1 << 28)) {
        memset(y, 0x80, (size_t)depth);
        return;
    }
    int num_bits_over_unit;
    const int32_t shifted_scale =
        mf_fp_get_reciprocal((int32_t)sum_of_exps, K_SOFTMAX_ACCUM_BITS, &num_bits_over_unit);
    const int exponent = num_bits_over_unit + 31 - 8;
    for (int32_t c = 0; c < depth; c++) {
        const int32_t d = max_in_row - x[c];
        int32_t v = INT8_MIN;
        if (d <= limit) {
            /* Filled by the sum loop above. */
            const int32_t e = exps ? exps[c] : table[d];
            const int32_t unsat = mf_rdbypot(mf_srdhm(shifted_scale, e), exponent);
            v = mf_clamp(unsat + INT8_MIN, INT8_MIN, INT8_MAX);
        }
        y[c] = (int8_t)v;
    }
}

void mf_k_softmax_rows(const int8_t *in, int8_t *out, int32_t outer, int32_t depth,
    const mf_k_softmax_params_t *p, int32_t *table) {
    for (int32_t i = 0; i < outer; i++) {
        k_softmax_row(in + (size_t)i * (size_t)depth, out + (size_t)i * (size_t)depth, depth, p, table, NULL);
    }
}

void mf_k_softmax_row_exps(const int8_t *in, int8_t *out, int32_t depth, const mf_k_softmax_params_t *p,
    int32_t *exps) {
    k_softmax_row(in, out, depth, p, NULL, exps);
}

#endif /* MF_OP_SOFTMAX */
