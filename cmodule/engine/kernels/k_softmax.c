/* int8 SOFTMAX; see k_softmax.h. */
#include "mf_config.h"

#if MF_OP_ON(SOFTMAX)

#include <string.h>

#include "mf_quant.h"
#include "kernels/k_mve.h"
#include "kernels/k_softmax.h"

/* Integer bits of the rescaled difference (Q5.26) and of the sum of exps (Q12.19). */
#define K_SOFTMAX_DIFF_BITS 5
#define K_SOFTMAX_ACCUM_BITS 12

/* exp(-d * beta * input_scale) in Q0.31 for d = max - x. */
static inline int32_t k_softmax_exp_of(int32_t d, const mf_k_softmax_params_t *p) {
    const int32_t rescaled = mf_mul_by_qm_gt1(-d, p->input_multiplier, p->input_left_shift);
    return mf_fp_exp_on_negative_values(rescaled, K_SOFTMAX_DIFF_BITS);
}

/* A row's output scale from its sum of exps: the reciprocal and its exponent, 1; or, when
 * the sum reaches 512.0 (2^28), 0 with the row written as all -128. The row maximum
 * contributes exp(0) = 1.0, so sum >= 2^19 and the exponent is >= 0; from 2^28 on it
 * would exceed 31, where TFLM stops with TFLITE_CHECK, and every probability is then
 * below 1/512, half an output step: zero probability. */
static int k_softmax_scale(uint64_t sum_of_exps, int8_t *y, int32_t depth, int32_t *scale, int *exponent) {
    if (sum_of_exps >= ((uint64_t)1 << 28)) {
        memset(y, 0x80, (size_t)depth);
        return 0;
    }
    int num_bits_over_unit;
    *scale = mf_fp_get_reciprocal((int32_t)sum_of_exps, K_SOFTMAX_ACCUM_BITS, &num_bits_over_unit);
    *exponent = num_bits_over_unit + 31 - 8;
    return 1;
}

#if MF_K_MVE_RQ
/* k_softmax_exp_of for the differences in the lanes (>= 0). */
static inline int32x4_t k_softmax_exp_of_mve(int32x4_t d, const mf_k_softmax_params_t *p) {
    const int32x4_t rescaled = vqrdmulhq_n_s32(vshlq_r_s32(vnegq_s32(d), p->input_left_shift), p->input_multiplier);
    return mf_mve_exp_on_negative_values(rescaled, K_SOFTMAX_DIFF_BITS);
}

/* k_softmax_row with Helium, four elements per step (sixteen for the maximum). The exps
 * are the same values: with the table the whole table is computed at the first row of an
 * invoke (four differences per step: cheaper than one by one on demand as soon as a
 * sixteenth of them occurs), then gathered by difference; per element they are computed
 * for each element's difference. Lanes with a difference above the limit, and those past
 * the row, count zero and give -128. */
static void k_softmax_row_mve(const int8_t *x, int8_t *y, int32_t depth, const mf_k_softmax_params_t *p,
    int32_t *exps, int per_element) {
    const int32_t limit = p->limit;
    int32_t max_in_row = INT8_MIN;
    for (int32_t c = 0; c < depth; c += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(depth - c));
        max_in_row = vmaxvq_p_s8((int8_t)max_in_row, vldrbq_z_s8(x + c, pr), pr);
    }
    if (!per_element && exps[0] < 0) {
        for (int32_t d = 0; d <= limit; d += 4) {
            const int32x4_t dv = vreinterpretq_s32_u32(vidupq_n_u32((uint32_t)d, 1));
            vstrwq_p_s32(exps + d, k_softmax_exp_of_mve(dv, p), vctp32q((uint32_t)(limit + 1 - d)));
        }
    }
    /* Rescale<12> of the Q0.31 exps, rounding (VRSHR.U32, no overflow), summed in 64 bits. */
    uint64_t sum_of_exps = 0;
    for (int32_t c = 0; c < depth; c += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(depth - c));
        const int32x4_t d = vsubq_s32(vdupq_n_s32(max_in_row), vldrbq_z_s32(x + c, pr));
        const mve_pred16_t valid = vcmpleq_m_n_s32(d, limit, pr);
        int32x4_t e;
        if (per_element) {
            e = vpselq_s32(k_softmax_exp_of_mve(d, p), vdupq_n_s32(0), valid);
            vstrwq_p_s32(exps + c, e, pr);
        } else {
            e = vldrwq_gather_shifted_offset_z_s32(exps, vreinterpretq_u32_s32(d), valid);
        }
        sum_of_exps = vaddlvaq_u32(sum_of_exps, vrshrq_n_u32(vreinterpretq_u32_s32(e), K_SOFTMAX_ACCUM_BITS));
    }
    int32_t shifted_scale;
    int exponent;
    if (!k_softmax_scale(sum_of_exps, y, depth, &shifted_scale, &exponent)) {
        return;
    }
    /* exp * reciprocal (VQRDMULH = SaturatingRoundingDoublingHighMul), divided by
     * 2^exponent (<= 31: the sum is below 2^28), shifted to [-128, 127]. */
    for (int32_t c = 0; c < depth; c += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(depth - c));
        const int32x4_t d = vsubq_s32(vdupq_n_s32(max_in_row), vldrbq_z_s32(x + c, pr));
        const mve_pred16_t valid = vcmpleq_m_n_s32(d, limit, pr);
        const int32x4_t e = per_element ? vldrwq_z_s32(exps + c, valid) :
            vldrwq_gather_shifted_offset_z_s32(exps, vreinterpretq_u32_s32(d), valid);
        const int32x4_t v = mf_mve_rdbypot(vqrdmulhq_n_s32(e, shifted_scale), exponent);
        const int32x4_t out = mf_mve_out_s8(v, INT8_MIN, INT8_MIN, INT8_MAX);
        vstrbq_p_s32(y + c, vpselq_s32(out, vdupq_n_s32(INT8_MIN), valid), pr);
    }
}
#endif /* MF_K_MVE_RQ */

void mf_k_softmax_reset(const mf_k_softmax_params_t *p, int32_t *table) {
    /* exp values are >= 0: -1 (all bytes 0xff) marks "not computed yet". */
    memset(table, 0xff, (size_t)mf_k_softmax_table_len(p) * sizeof(int32_t));
}

/* One row. Each exp is computed once into exps, filled lazily: indexed by the
 * difference max - x (the table, reset once per invoke) or, with per_element, by the
 * element (depth entries, reset here); either way each is the same
 * exp_on_negative_values result. */
static void k_softmax_row(const int8_t *x, int8_t *y, int32_t depth, const mf_k_softmax_params_t *p,
    int32_t *exps, int per_element) {
#if MF_K_MVE_RQ
    k_softmax_row_mve(x, y, depth, p, exps, per_element);
    return;
#endif /* MF_K_MVE_RQ */
    const int32_t limit = p->limit;
    int32_t max_in_row = INT8_MIN;
    for (int32_t c = 0; c < depth; c++) {
        if (x[c] > max_in_row) {
            max_in_row = x[c];
        }
    }
    if (per_element) {
        memset(exps, 0xff, (size_t)depth * sizeof(int32_t));
    }
    /* TFLM sums in int32 (at most 4095 * 2^19 before it wraps); int64 keeps longer
     * rows defined. */
    int64_t sum_of_exps = 0;
    for (int32_t c = 0; c < depth; c++) {
        const int32_t d = max_in_row - x[c];
        if (d <= limit) {
            int32_t *slot = exps + (per_element ? c : d);
            int32_t e = *slot;
            if (e < 0) {
                e = k_softmax_exp_of(d, p);
                *slot = e;
            }
            /* Rescale<12> of a Q0.31 value: a rounding shift right by 12 (e >= 0). */
            sum_of_exps += ((uint32_t)e + (1u << (K_SOFTMAX_ACCUM_BITS - 1))) >> K_SOFTMAX_ACCUM_BITS;
        }
    }
    int32_t shifted_scale;
    int exponent;
    if (!k_softmax_scale((uint64_t)sum_of_exps, y, depth, &shifted_scale, &exponent)) {
        return;
    }
    for (int32_t c = 0; c < depth; c++) {
        const int32_t d = max_in_row - x[c];
        int32_t v = INT8_MIN;
        if (d <= limit) {
            /* Filled by the sum loop above. */
            const int32_t e = exps[per_element ? c : d];
            const int32_t unsat = mf_rdbypot(mf_srdhm(shifted_scale, e), exponent);
            v = mf_clamp(unsat + INT8_MIN, INT8_MIN, INT8_MAX);
        }
        y[c] = (int8_t)v;
    }
}

void mf_k_softmax_rows(const int8_t *in, int8_t *out, int32_t outer, int32_t depth,
    const mf_k_softmax_params_t *p, int32_t *table) {
    for (int32_t i = 0; i < outer; i++) {
        k_softmax_row(in + (size_t)i * (size_t)depth, out + (size_t)i * (size_t)depth, depth, p, table, 0);
    }
}

void mf_k_softmax_row_exps(const int8_t *in, int8_t *out, int32_t depth, const mf_k_softmax_params_t *p,
    int32_t *exps) {
    k_softmax_row(in, out, depth, p, exps, 1);
}

#endif /* MF_OP_ON(SOFTMAX) */
