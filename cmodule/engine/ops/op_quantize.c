/*
 * QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32): graph glue
 * for kernels/k_quantize.c, semantics of TFLM's quantize_common.cc and
 * dequantize_common.cc (per-tensor quantization only, as TFLM).
 */
#include "mf_config.h"

#if MF_OP_ON(QUANTIZE) || MF_OP_ON(DEQUANTIZE)

#include <stddef.h>

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_quantize.h"

enum { QZ_FROM_FLOAT, QZ_REQUANTIZE, QZ_DEQUANTIZE };

typedef struct {
    int32_t kind;    /* QZ_* */
    int32_t count;
    union {
        struct {
            float scale;  /* of the int8 side; AffineQuantize divides by this float */
            int32_t zero_point;
        } f;
        mf_k_requantize_t rq;
    } k;
} qz_params_t;

/* DEQUANTIZE needs only the float path's fields. */
#define QZ_F_BYTES (offsetof(qz_params_t, k) + sizeof(((qz_params_t *)0)->k.f))

/* Both ops: one input and one output of the same shape, then each op's types. */
static mf_status_t qz_prepare(mf_ctx_t *ctx, mf_node_t *node, int deq) {
    mf_status_t st;
    const mf_tensor_t *in = mf_node_in(ctx->m, node, 0);
    const mf_tensor_t *out = mf_node_out(ctx->m, node, 0);
    if ((st = mf_check_same_shape(ctx, in, out)) != MF_OK) {
        return st;
    }
    int kind = QZ_DEQUANTIZE;
    const mf_tensor_t *q = in;   /* the int8 side */
    mf_qm_t qm = {0, 0};
    if (deq) {
        if ((st = mf_check_s8(ctx, in, "input")) != MF_OK ||
            (st = mf_check_type(ctx, out, "output", MF_FLOAT32)) != MF_OK) {
            return st;
        }
    } else {
        if (in->type != MF_FLOAT32 && in->type != MF_INT8) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(QUANTIZE_INPUT_TYPE), mf_type_name(in->type));
        }
        if ((st = mf_check_s8(ctx, out, "output")) != MF_OK) {
            return st;
        }
        kind = QZ_FROM_FLOAT;
        q = out;
        if (in->type == MF_INT8) {
            kind = QZ_REQUANTIZE;
            if ((st = mf_check_s8(ctx, in, "input")) != MF_OK) {
                return st;
            }
            /* quantize_common.cc: effective scale s_in / s_out in double, QuantizeMultiplier;
             * applied as x * (1 << shift), so larger shifts are refused. */
            qm = mf_quantize_multiplier(mf_real_div(mf_real_from_float(in->scale), mf_real_from_float(out->scale)));
            if ((st = mf_check_shift(ctx, qm.shift)) != MF_OK) {
                return st;
            }
        }
    }
    qz_params_t *p = mf_alloc(ctx, deq ? QZ_F_BYTES : sizeof(*p));
    if (!p) {
        return MF_ERR_ARENA;
    }
    p->kind = kind;
    p->count = in->count;
    if (kind == QZ_REQUANTIZE) {
        p->k.rq.in_zp = in->zero_point;
        p->k.rq.m = qm;
        p->k.rq.out_zp = out->zero_point;
        mf_allow_inplace(ctx, node, 0, 0);
    } else {
        p->k.f.scale = q->scale;
        p->k.f.zero_point = q->zero_point;
    }
    node->params = p;
    return MF_OK;
}

void mf_qz_eval(mf_model_t *m, const mf_node_t *node) {
    const qz_params_t *p = node->params;
    const uint8_t *x = mf_in_data(m, node, 0);
    uint8_t *y = mf_out_data(m, node, 0);
#if MF_OP_ON(QUANTIZE)
    if (p->kind == QZ_FROM_FLOAT) {
        mf_k_quantize_f32_s8(p->k.f.scale, p->k.f.zero_point, (const float *)x, (int8_t *)y, p->count);
        return;
    }
    if (p->kind == QZ_REQUANTIZE) {
        mf_k_requantize_s8(&p->k.rq, (const int8_t *)x, (int8_t *)y, p->count);
        return;
    }
#endif /* MF_OP_ON(QUANTIZE) */
#if MF_OP_ON(DEQUANTIZE)
    mf_k_dequantize_s8_f32(p->k.f.scale, p->k.f.zero_point, (const int8_t *)x, (float *)y, p->count);
#endif /* MF_OP_ON(DEQUANTIZE) */
}

#endif /* MF_OP_ON(QUANTIZE) || MF_OP_ON(DEQUANTIZE) */

#if MF_OP_ON(QUANTIZE)

mf_status_t mf_quantize_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return qz_prepare(ctx, node, 0);
}


#endif /* MF_OP_ON(QUANTIZE) */

#if MF_OP_ON(DEQUANTIZE)

mf_status_t mf_dequantize_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return qz_prepare(ctx, node, 1);
}


#endif /* MF_OP_ON(DEQUANTIZE) */
