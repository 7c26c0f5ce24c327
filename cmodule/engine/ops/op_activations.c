/*
 * Elementwise int8 activations: LOGISTIC, TANH, HARD_SWISH, RELU, RELU6 (TFLM's
 * reference kernels) and GELU (TFLM has none: TFLite's activations.cc, whose int8 path
 * is a 256-entry LUTPopulate table of the float function).
 *
 * Prepare computes each op's parameters exactly as TFLM's prepare does, then runs the
 * bit-exact integer reference computation for all 256 int8 inputs into a table in the
 * node's params (256 bytes of arena); eval is a table lookup. LOGISTIC and TANH on
 * fewer than SIGMOID_TABLE_MIN elements compute each element at invoke instead.
 *
 * Output quantization is checked where TFLM checks it and nowhere else: LOGISTIC needs
 * output zero point -128 (its scale is taken to be 1/256), TANH writes Q0.7 whatever
 * the output says, RELU6 clamps in the input's quantization and ignores the output's.
 */
#include "mf_config.h"

#if MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH) || MF_OP_ON(HARD_SWISH) || MF_OP_ON(RELU) || MF_OP_ON(RELU6) || MF_OP_ON(GELU)

#include <math.h>  /* erfcf, tanhf: GELU's table */

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_activations.h"

/* One int8 input, one int8 output of the same shape, both per-tensor quantized. */
static mf_status_t act_check(mf_ctx_t *ctx, const mf_node_t *node, const mf_tensor_t **in,
    const mf_tensor_t **out) {
    mf_status_t st;
    *in = mf_node_in(ctx->m, node, 0);
    *out = mf_node_out(ctx->m, node, 0);
    if ((st = mf_check_type(ctx, *in, "input", MF_INT8)) != MF_OK ||
        (st = mf_check_type(ctx, *out, "output", MF_INT8)) != MF_OK ||
        (st = mf_check_quant(ctx, *in, "input")) != MF_OK ||
        (st = mf_check_quant(ctx, *out, "output")) != MF_OK) {
        return st;
    }
    return mf_check_same_shape(ctx, *in, *out);
}

/* Params of the table ops: the element count and the table. */
typedef struct {
    int32_t count;
    int8_t lut[256];
} act_lut_t;

/* Allocates the params, lets the output take the input's bytes when it can (the lookup
 * reads element k before writing it) and returns the table to fill. */
static int8_t *act_alloc_lut(mf_ctx_t *ctx, mf_node_t *node) {
    act_lut_t *p = (act_lut_t *)mf_alloc(ctx, sizeof(act_lut_t));
    node->params = p;
    if (p == NULL) {
        return NULL;
    }
    p->count = mf_node_in(ctx->m, node, 0)->count;
    mf_allow_inplace(ctx, node, 0, 0);
    return p->lut;
}

void mf_act_lut_eval(mf_model_t *m, const mf_node_t *node) {
    const act_lut_t *p = (const act_lut_t *)node->params;
    mf_k_lut_s8((const int8_t *)mf_in_data(m, node, 0), (int8_t *)mf_out_data(m, node, 0), p->count, p->lut);
}

#if MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH)
/* LOGISTIC and TANH prepare (logistic_common.cc, tanh.cc): the input goes to Q4.27 with
 * input_scale * 2^27 split by frexp (not QuantizeMultiplier: no renormalisation, the
 * shift is frexp's exponent), and inputs beyond the radius saturate. */
static mf_status_t sigmoid_params(mf_ctx_t *ctx, const mf_tensor_t *in, mf_k_sigmoid_params_t *p) {
    const mf_real_t real = mf_real_mul(mf_real_from_float(in->scale), mf_real_pow2(31 - 4));
    int shift;
    /* frexp, then round(q * 2^31): q has the float scale's 24 significant bits, so
     * q * 2^31 is an integer < 2^31. */
    const uint32_t q_fixed = mf_real_frexp_q31(real, &shift);
    if (shift < 0) {
        /* TFLite shifts by a negative amount in CalculateInputRadius (undefined). */
        const int e = 1 + mf_real_log2(mf_real_from_float(in->scale));  /* frexp's exponent */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SIGMOID_INPUT_SCALE_SMALL), e - 1);
    }
    if (shift > 62 || q_fixed >= 2147483648u) {
        const int e = 1 + mf_real_log2(mf_real_from_float(in->scale));  /* frexp's exponent */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SIGMOID_INPUT_SCALE_LARGE), e - 1);
    }
    p->input_zero_point = in->zero_point;
    p->input_multiplier = (int32_t)q_fixed;
    p->input_left_shift = shift;
    /* 0 from shift 31 on: then every input saturates and the multiplier is never used. */
    p->input_range_radius = mf_calculate_input_radius(4, shift, 31);
    return MF_OK;
}

/* Below this many elements LOGISTIC and TANH compute each element at invoke, as TFLM
 * does, instead of looking it up: a table costs 128-256 exact evaluations (40-70k
 * instructions on Cortex-M4) at every load and 256 bytes of arena, and repays that only
 * after 256 / count invokes, while 63 elements cost at most ~16k instructions an invoke.
 * Measured (benchmarks/cortex_m_vs_tflm.py): the MLP's 16-unit sigmoid and the CNN's
 * 16-unit tanh made loading 1.8x TFLM's init. */
#define SIGMOID_TABLE_MIN 64

/* Params of LOGISTIC and TANH: the table, or NULL and the input stage. */
typedef struct {
    int32_t count;
    int32_t is_tanh;
    const int8_t *lut;
    mf_k_sigmoid_params_t sp;
} act_sigmoid_t;

/* The input stage, and the 256-entry table for tensors of SIGMOID_TABLE_MIN or more
 * elements; logistic.cc also requires the output zero point -128 (its range is [0, 1)). */
static mf_status_t sigmoid_prepare(mf_ctx_t *ctx, mf_node_t *node, int is_tanh) {
    const mf_tensor_t *in, *out;
    mf_status_t st = act_check(ctx, node, &in, &out);
    if (st != MF_OK) {
        return st;
    }
    if (!is_tanh && out->zero_point != -128) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SIGMOID_OUTPUT_ZERO_POINT), (int)out->zero_point);
    }
    act_sigmoid_t *p = (act_sigmoid_t *)mf_alloc(ctx, sizeof(act_sigmoid_t));
    node->params = p;
    if (p == NULL) {
        return MF_ERR_ARENA;
    }
    if ((st = sigmoid_params(ctx, in, &p->sp)) != MF_OK) {
        return st;
    }
    p->count = in->count;
    p->is_tanh = is_tanh;
    p->lut = NULL;
    /* Both forms read element k before writing it. */
    mf_allow_inplace(ctx, node, 0, 0);
    if (in->count >= SIGMOID_TABLE_MIN) {
        int8_t *lut = (int8_t *)mf_alloc(ctx, 256);
        if (lut == NULL) {
            return MF_ERR_ARENA;
        }
        mf_k_sigmoid_s8_lut(&p->sp, is_tanh, lut);
        p->lut = lut;
    }
    return MF_OK;
}

void mf_act_sigmoid_eval(mf_model_t *m, const mf_node_t *node) {
    const act_sigmoid_t *p = (const act_sigmoid_t *)node->params;
    const int8_t *in = (const int8_t *)mf_in_data(m, node, 0);
    int8_t *out = (int8_t *)mf_out_data(m, node, 0);
    if (p->lut) {
        mf_k_lut_s8(in, out, p->count, p->lut);
    } else {
        mf_k_sigmoid_s8(&p->sp, p->is_tanh, in, out, p->count);
    }
}
#endif /* MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH) */

/* ---------------------------------------------------------------- LOGISTIC */
#if MF_OP_ON(LOGISTIC)
mf_status_t mf_logistic_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return sigmoid_prepare(ctx, node, 0);
}

#endif /* MF_OP_ON(LOGISTIC) */

/* ---------------------------------------------------------------- TANH */
#if MF_OP_ON(TANH)
mf_status_t mf_tanh_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return sigmoid_prepare(ctx, node, 1);
}

#endif /* MF_OP_ON(TANH) */

/* ---------------------------------------------------------------- HARD_SWISH */
#if MF_OP_ON(HARD_SWISH)
mf_status_t mf_hard_swish_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    const mf_tensor_t *in, *out;
    mf_status_t st = act_check(ctx, node, &in, &out);
    if (st != MF_OK) {
        return st;
    }
    /* hard_swish_common.cc: the scales are combined in float, then widened. */
    const float hires_input_scale = (1.0f / 128.0f) * in->scale;
    const float reluish_scale = 3.0f / 32768.0f;
    const mf_qm_t out_qm = mf_quantize_multiplier(mf_real_from_float(hires_input_scale / out->scale));
    const mf_qm_t reluish_qm = mf_quantize_multiplier(mf_real_from_float(hires_input_scale / reluish_scale));
    if (out_qm.shift > 0) {
        /* TF_LITE_ENSURE(output_multiplier_exponent <= 0) */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED,
            MF_MSG(HARD_SWISH_OUTPUT_SHIFT), (int)out_qm.shift);
    }
    if (reluish_qm.shift > 31) {
        /* TFLite would shift int16 values by 31 or more (undefined). */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(HARD_SWISH_RELUISH_SHIFT), (int)reluish_qm.shift);
    }
    mf_k_hard_swish_params_t hp;
    hp.input_zero_point = (int16_t)in->zero_point;
    hp.output_zero_point = (int16_t)out->zero_point;
    hp.output_multiplier = mf_downscale_multiplier_int16(out_qm.multiplier);
    hp.output_exponent = out_qm.shift;       /* -31..0 (QuantizeMultiplier flushes below) */
    hp.reluish_multiplier = mf_downscale_multiplier_int16(reluish_qm.multiplier);
    hp.reluish_exponent = reluish_qm.shift;  /* -31..31 */
    int8_t *lut = act_alloc_lut(ctx, node);
    if (lut == NULL) {
        return MF_ERR_ARENA;
    }
    mf_k_hard_swish_s8_lut(&hp, lut);
    return MF_OK;
}

#endif /* MF_OP_ON(HARD_SWISH) */

/* ---------------------------------------------------------------- RELU */
#if MF_OP_ON(RELU)
mf_status_t mf_relu_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    const mf_tensor_t *in, *out;
    mf_status_t st = act_check(ctx, node, &in, &out);
    if (st != MF_OK) {
        return st;
    }
    /* activations_common.cc CalculateReluOpData: the ratio is taken in float. */
    mf_k_relu_params_t rp;
    rp.output_qm = mf_quantize_multiplier(mf_real_from_float(in->scale / out->scale));
    if (rp.output_qm.shift > 23) {
        /* (x - zero point) * 2^shift would overflow int32 in TFLite. */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED,
            MF_MSG(RELU_OUTPUT_SHIFT), (int)rp.output_qm.shift);
    }
    rp.input_offset = in->zero_point;
    rp.output_offset = out->zero_point;
    /* max(-128, zp + round(0 / scale)) and the int8 maximum (act_max is +inf). */
    rp.act_min = out->zero_point > -128 ? out->zero_point : -128;
    rp.act_max = 127;
    int8_t *lut = act_alloc_lut(ctx, node);
    if (lut == NULL) {
        return MF_ERR_ARENA;
    }
    mf_k_relu_s8_lut(&rp, lut);
    return MF_OK;
}

#endif /* MF_OP_ON(RELU) */

/* ---------------------------------------------------------------- RELU6 */
#if MF_OP_ON(RELU6)
mf_status_t mf_relu6_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    const mf_tensor_t *in, *out;
    mf_status_t st = act_check(ctx, node, &in, &out);
    if (st != MF_OK) {
        return st;
    }
    /* activations_common.cc Relu6Prepare: zero = input zero point, six =
     * FloatToQuantizedType(6.0f, input scale, input zero point), both in the input's
     * quantization. */
    int32_t lo, hi;
    if (!mf_activation_range_int8(MF_ACT_RELU6, in->scale, in->zero_point, &lo, &hi)) {
        /* 6 / scale beyond int32: TFLite's float -> int conversion is undefined there. */
        const int e = 1 + mf_real_log2(mf_real_from_float(in->scale));  /* frexp's exponent */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(RELU6_INPUT_SCALE), e - 1);
    }
    int8_t *lut = act_alloc_lut(ctx, node);
    if (lut == NULL) {
        return MF_ERR_ARENA;
    }
    mf_k_clamp_s8_lut((int8_t)lo, (int8_t)hi, lut);
    return MF_OK;
}

#endif /* MF_OP_ON(RELU6) */

/* ---------------------------------------------------------------- GELU */
#if MF_OP_ON(GELU)
enum { GELU_OPT_APPROXIMATE = 0 };

/* reference_ops::GeluTransform / GeluTransformApproximate (TensorFlow's gelu.h), in
 * float with the same operation order. The table they fill depends on the libm's
 * erfcf/tanhf; glibc's match the oracle bit for bit. */
static float gelu_exact(float in) {
    /* 0.5 * x * erfc(-x / sqrt(2)): erfc avoids the cancellation of 1 + erf. */
    return 0.5f * in * erfcf(in * (float)-0.70710678118654752440);
}

static float gelu_approximate(float in) {
    /* 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))). The cube goes through a
     * volatile so that no compiler fuses x + c * x^3 into an fma (TFLite does not). */
    const float k_sqrt_2_over_pi = (float)(1.12837916709551257390 * 0.70710678118654752440);
    volatile float cubic = 0.044715f * in * in * in;
    const float inner = in + cubic;
    return 0.5f * in * (1.0f + tanhf(k_sqrt_2_over_pi * inner));
}

mf_status_t mf_gelu_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    const mf_tensor_t *in, *out;
    mf_status_t st = act_check(ctx, node, &in, &out);
    if (st != MF_OK) {
        return st;
    }
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    const int approximate = mf_fbt_u8(&opt, GELU_OPT_APPROXIMATE, 0) != 0;
    int8_t *lut = act_alloc_lut(ctx, node);
    if (lut == NULL) {
        return MF_ERR_ARENA;
    }
    mf_lut_populate_s8(in->scale, in->zero_point, out->scale, out->zero_point,
        approximate ? gelu_approximate : gelu_exact, lut);
    return MF_OK;
}

#endif /* MF_OP_ON(GELU) */

#endif /* MF_OP_ON(LOGISTIC) || MF_OP_ON(TANH) || MF_OP_ON(HARD_SWISH) || MF_OP_ON(RELU) || MF_OP_ON(RELU6) || MF_OP_ON(GELU) */
