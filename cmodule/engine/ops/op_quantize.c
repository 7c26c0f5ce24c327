/*
 * QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32): graph glue
 * for kernels/k_quantize.c, semantics of TFLM's quantize_common.cc and
 * dequantize_common.cc (per-tensor quantization only, as TFLM).
 */
#include "mf_config.h"

#if MF_OP_QUANTIZE || MF_OP_DEQUANTIZE

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_quantize.h"

/* One input and one output of the same shape. */
static mf_status_t qz_common(mf_ctx_t *ctx, mf_node_t *node, const mf_tensor_t **in,
    const mf_tensor_t **out) {
    mf_status_t st = mf_check_io(ctx, node, 1, 1, 1);
    if (st != MF_OK) {
        return st;
    }
    *in = mf_node_in(ctx->m, node, 0);
    *out = mf_node_out(ctx->m, node, 0);
    return mf_check_same_shape(ctx, *in, *out);
}

#endif /* MF_OP_QUANTIZE || MF_OP_DEQUANTIZE */

#if MF_OP_QUANTIZE

typedef struct {
    int32_t from_float;
    int32_t count;
    union {
        struct {
            float scale;  /* AffineQuantize divides by this float */
            int32_t zero_point;
        } f;
        mfk_requantize_t rq;
    } k;
} qz_quantize_t;

static mf_status_t qz_quantize_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    const mf_tensor_t *in, *out;
    mf_status_t st = qz_common(ctx, node, &in, &out);
    if (st != MF_OK) {
        return st;
    }
    if (in->type != MF_FLOAT32 && in->type != MF_INT8) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(132, ": %s", "input has type %s, need float32 or int8"),
            mf_type_name(in->type));
    }
    if ((st = mf_check_s8(ctx, out, "output")) != MF_OK) {
        return st;
    }
    const int from_float = in->type == MF_FLOAT32;
    mf_qm_t qm = {0, 0};
    if (!from_float) {
        if ((st = mf_check_s8(ctx, in, "input")) != MF_OK) {
            return st;
        }
        /* quantize_common.cc: effective scale s_in / s_out in double, QuantizeMultiplier;
         * applied as x * (1 << shift), so larger shifts are refused. */
        qm = mf_quantize_multiplier(mf_real_div(mf_real_from_float(in->scale), mf_real_from_float(out->scale)));
        if (qm.shift > 30) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(133, ": %d",
                "effective scale too large (shift %d, max 30)"), (int)qm.shift);
        }
    }
    qz_quantize_t *p = mf_alloc(ctx, sizeof(*p));
    if (!p) {
        return MF_ERR_ARENA;
    }
    p->from_float = from_float;
    p->count = in->count;
    if (from_float) {
        p->k.f.scale = out->scale;
        p->k.f.zero_point = out->zero_point;
    } else {
        p->k.rq.in_zp = in->zero_point;
        p->k.rq.m = qm;
        p->k.rq.out_zp = out->zero_point;
        mf_allow_inplace(ctx, node, 0, 0);
    }
    node->params = p;
    return MF_OK;
}

static void qz_quantize_eval(mf_model_t *m, const mf_node_t *node) {
    const qz_quantize_t *p = node->params;
    const uint8_t *x = mf_in_data(m, node, 0);
    uint8_t *y = mf_out_data(m, node, 0);
    if (p->from_float) {
        mfk_quantize_f32_s8(p->k.f.scale, p->k.f.zero_point, (const float *)x, (int8_t *)y, p->count);
    } else {
        mfk_requantize_s8(&p->k.rq, (const int8_t *)x, (int8_t *)y, p->count);
    }
}

const mf_op_t mf_op_quantize = { 114, 3, "QUANTIZE", qz_quantize_prepare, qz_quantize_eval };

#endif /* MF_OP_QUANTIZE */

#if MF_OP_DEQUANTIZE

typedef struct {
    float scale;
    int32_t zero_point;
    int32_t count;
} qz_dequantize_t;

static mf_status_t qz_dequantize_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    const mf_tensor_t *in, *out;
    mf_status_t st = qz_common(ctx, node, &in, &out);
    if (st != MF_OK) {
        return st;
    }
    if ((st = mf_check_s8(ctx, in, "input")) != MF_OK ||
        (st = mf_check_type(ctx, out, "output", MF_FLOAT32)) != MF_OK) {
        return st;
    }
    qz_dequantize_t *p = mf_alloc(ctx, sizeof(*p));
    if (!p) {
        return MF_ERR_ARENA;
    }
    p->scale = in->scale;
    p->zero_point = in->zero_point;
    p->count = in->count;
    node->params = p;
    return MF_OK;
}

static void qz_dequantize_eval(mf_model_t *m, const mf_node_t *node) {
    const qz_dequantize_t *p = node->params;
    mfk_dequantize_s8_f32(p->scale, p->zero_point, (const int8_t *)mf_in_data(m, node, 0),
        (float *)mf_out_data(m, node, 0), p->count);
}

const mf_op_t mf_op_dequantize = { 6, 6, "DEQUANTIZE", qz_dequantize_prepare, qz_dequantize_eval };

#endif /* MF_OP_DEQUANTIZE */
