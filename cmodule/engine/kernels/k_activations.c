/* Elementwise int8 activations; see k_activations.h. */
#include "mf_config.h"
#include "kernels/k_activations.h"
#include "kernels/k_mve.h"

#if MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH) || MF_OP_ON(HARD_SWISH) || MF_OP_ON(RELU) || MF_OP_ON(RELU6) || MF_OP_ON(GELU) || MF_OP_ON(RSQRT)
void mf_k_lut_s8(const int8_t *in, int8_t *out, int32_t n, const int8_t *lut) {
    const uint8_t *src = (const uint8_t *)in;
    /* Four at a time: the loads are independent, which helps in-order cores. */
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        int8_t a = lut[src[i]], b = lut[src[i + 1]], c = lut[src[i + 2]], d = lut[src[i + 3]];
        out[i] = a;
        out[i + 1] = b;
        out[i + 2] = c;
        out[i + 3] = d;
    }
    for (; i < n; i++) {
        out[i] = lut[src[i]];
    }
}
#endif /* MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH) || MF_OP_ON(HARD_SWISH) || MF_OP_ON(RELU) || MF_OP_ON(RELU6) || MF_OP_ON(GELU) || MF_OP_ON(RSQRT) */

#if MF_OP_ON(RELU6)
void mf_k_clamp_s8_lut(int8_t lo, int8_t hi, int8_t *lut) {
    for (int v = -128; v <= 127; v++) {
        lut[(uint8_t)(int8_t)v] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}
#endif /* MF_OP_ON(RELU6) */

#if MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH)
/* The Q0.31 result to int8: logistic's output scale is 1/256 with zero point -128, tanh's
 * 1/128 with zero point 0. */
static int8_t k_logistic_out(int32_t q0) {
    return (int8_t)mf_clamp(mf_rdbypot(q0, 31 - 8) - 128, INT8_MIN, INT8_MAX);
}
static int8_t k_tanh_out(int32_t q0) {
    return (int8_t)mf_clamp(mf_rdbypot(q0, 31 - 7), INT8_MIN, INT8_MAX);
}

/* Q4.27 input, Q0.31 result; inputs at or beyond the radius saturate. */
static int8_t k_sigmoid_one(int8_t x, const mf_k_sigmoid_params_t *p, int is_tanh) {
    const int32_t input = (int32_t)x - p->input_zero_point;
    if (input <= -p->input_range_radius) {
        return INT8_MIN;
    }
    if (input >= p->input_range_radius) {
        return INT8_MAX;
    }
    const int32_t input_in_q4 = mf_mul_by_qm(input, p->input_multiplier, p->input_left_shift);
    return is_tanh ? k_tanh_out(mf_fp_tanh(input_in_q4, 4))
                   : k_logistic_out(mf_fp_logistic(input_in_q4, 4));
}

/* The table is filled in pairs: inputs zp + k and zp - k scale to Q4.27 values a and -a
 * (except where the multiplier's rounding tie goes differently for the two signs; those
 * are computed alone), and gemmlowp derives the negative side from the positive one in
 * Q0.31 before the output rounding: logistic(-a) = 1 - logistic(a), tanh(-a) = -tanh(a).
 * That halves the exp and Newton-Raphson chains, ~500 instructions an entry on
 * Cortex-M4, which dominated loading a model with these ops. */
void mf_k_sigmoid_s8_lut(const mf_k_sigmoid_params_t *p, int is_tanh, int8_t *lut) {
    const int32_t zp = p->input_zero_point;
    for (int32_t k = 0; k <= 255; k++) {
        const int32_t hi = zp + k, lo = zp - k;
        const int hi_in = hi <= INT8_MAX, lo_in = k > 0 && lo >= INT8_MIN;
        if (hi_in && lo_in && k < p->input_range_radius) {
            const int32_t a = mf_mul_by_qm(k, p->input_multiplier, p->input_left_shift);
            if (a > 0 && mf_mul_by_qm(-k, p->input_multiplier, p->input_left_shift) == -a) {
                if (is_tanh) {
                    const int32_t q0 = mf_fp_tanh(a, 4);
                    lut[(uint8_t)(int8_t)hi] = k_tanh_out(q0);
                    lut[(uint8_t)(int8_t)lo] = k_tanh_out(mf_wsub(0, q0));
                } else {
                    const int32_t q0 = mf_fp_logistic(a, 4);
                    lut[(uint8_t)(int8_t)hi] = k_logistic_out(q0);
                    lut[(uint8_t)(int8_t)lo] = k_logistic_out(mf_wsub(INT32_MAX, q0));
                }
                continue;
            }
        }
        if (hi_in) {
            lut[(uint8_t)(int8_t)hi] = k_sigmoid_one((int8_t)hi, p, is_tanh);
        }
        if (lo_in) {
            lut[(uint8_t)(int8_t)lo] = k_sigmoid_one((int8_t)lo, p, is_tanh);
        }
    }
}

#if MF_K_MVE_RQ
/* mf_k_sigmoid_s8 four elements per step: k_sigmoid_one per int32 lane (the input stage,
 * mf_mve_logistic / mf_mve_tanh, the output rounding), the saturated lanes selected last
 * (their Q4.27 values are computed and thrown away). ~40 instructions an element on
 * Cortex-M55 against ~340 for the scalar chain. range_radius > 0, so the input stage's
 * left shift is below 31. */
static void k_sigmoid_s8_mve(const mf_k_sigmoid_params_t *p, int is_tanh, const int8_t *in, int8_t *out,
    int32_t n) {
    mf_qm_t qm;
    qm.multiplier = p->input_multiplier;
    qm.shift = p->input_left_shift;
    const mf_qmx_t q = mf_qmx(qm);
    const int32_t radius = p->input_range_radius;
    for (int32_t i = 0; i < n; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(n - i));
        const int32x4_t input = vsubq_n_s32(vldrbq_z_s32(in + i, pr), p->input_zero_point);
        const int32x4_t input_in_q4 = mf_mve_mul_by_qmx(input, &q);
        /* Q0.31 to int8: logistic's output is Q0.8 with zero point -128, tanh's Q0.7. */
        const int32x4_t v = is_tanh ? mf_mve_rdbypot(mf_mve_tanh(input_in_q4, 4), 31 - 7)
                                    : vsubq_n_s32(mf_mve_rdbypot(mf_mve_logistic(input_in_q4, 4), 31 - 8), 128);
        int32x4_t o = mf_mve_out_s8(v, 0, INT8_MIN, INT8_MAX);
        o = vpselq_s32(vdupq_n_s32(INT8_MIN), o, vcmpleq_n_s32(input, -radius));
        o = vpselq_s32(vdupq_n_s32(INT8_MAX), o, vcmpgeq_n_s32(input, radius));
        vstrbq_p_s32(out + i, o, pr);
    }
}
#endif /* MF_K_MVE_RQ */

void mf_k_sigmoid_s8(const mf_k_sigmoid_params_t *p, int is_tanh, const int8_t *in, int8_t *out, int32_t n) {
#if MF_K_MVE_RQ
    if (p->input_range_radius > 0) {
        k_sigmoid_s8_mve(p, is_tanh, in, out, n);
        return;
    }
#endif /* MF_K_MVE_RQ */
    for (int32_t i = 0; i < n; i++) {
        out[i] = k_sigmoid_one(in[i], p, is_tanh);
    }
}
#endif /* MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH) */
#if MF_OP_ON(HARD_SWISH)
/* int16 wrap-around of the C++ implicit conversions (int arithmetic stored in int16_t). */
static int16_t k_wrap16(int32_t x) {
    uint32_t u = (uint32_t)x & 0xffffu;
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

int8_t mf_k_hard_swish_s8_one(int8_t x, const mf_k_hard_swish_params_t *p) {
    /* The whole computation is int16 fixed point, as in reference_ops::HardSwish. */
    const int16_t input_value = k_wrap16((int32_t)x - p->input_zero_point);
    /* |input_value| <= 255, so * 2^7 still fits int16. */
    const int16_t input_value_on_hires_input_scale = k_wrap16((int32_t)input_value * 128);
    const int16_t input_value_on_preshift_output_scale =
        mf_fp_srdhm16(input_value_on_hires_input_scale, p->output_multiplier);
    /* reluish: the input rescaled so that 3.0 is 32768, then mapped from [-1, 1] to [0, 1].
     * A left shift is split as (e - 1) before the multiply and 1 after it, so that any
     * saturation happens in the last step only. */
    int16_t reluish_value = input_value_on_hires_input_scale;
    if (p->reluish_exponent > 0) {
        reluish_value = mf_fp_sat_shl16(reluish_value, p->reluish_exponent - 1);
    }
    reluish_value = mf_fp_srdhm16(reluish_value, p->reluish_multiplier);
    if (p->reluish_exponent > 0) {
        reluish_value = mf_fp_sat_shl16(reluish_value, 1);
    }
    if (p->reluish_exponent < 0) {
        reluish_value = mf_fp_rdbypot16(reluish_value, -p->reluish_exponent);
    }
    reluish_value = (int16_t)(((int32_t)reluish_value + (1 << 15)) >> 1);
    const int16_t preshift_output_value = mf_fp_sdhm16(reluish_value, input_value_on_preshift_output_scale);
    int16_t output_value = mf_fp_rdbypot16(preshift_output_value, -p->output_exponent);
    output_value = k_wrap16((int32_t)output_value + p->output_zero_point);
    return (int8_t)mf_clamp(output_value, INT8_MIN, INT8_MAX);
}

void mf_k_hard_swish_s8_lut(const mf_k_hard_swish_params_t *p, int8_t *lut) {
    for (int v = -128; v <= 127; v++) {
        lut[(uint8_t)(int8_t)v] = mf_k_hard_swish_s8_one((int8_t)v, p);
    }
}
#endif /* MF_OP_ON(HARD_SWISH) */

#if MF_OP_ON(RELU)
int8_t mf_k_relu_s8_one(int8_t x, const mf_k_relu_params_t *p) {
    int32_t v = p->output_offset +
        mf_mul_by_qm((int32_t)x - p->input_offset, p->output_qm.multiplier, p->output_qm.shift);
    return (int8_t)mf_clamp(v, p->act_min, p->act_max);
}

void mf_k_relu_s8_lut(const mf_k_relu_params_t *p, int8_t *lut) {
    for (int v = -128; v <= 127; v++) {
        lut[(uint8_t)(int8_t)v] = mf_k_relu_s8_one((int8_t)v, p);
    }
}
#endif /* MF_OP_ON(RELU) */
