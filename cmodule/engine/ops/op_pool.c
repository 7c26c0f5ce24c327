/*
 * MAX_POOL_2D and AVERAGE_POOL_2D (int8, NHWC): graph glue for kernels/k_pool.c.
 *
 * Semantics are TFLM's pooling.cc: output size and padding from
 * ComputePaddingHeightWidth with dilation 1, input and output must share scale and zero
 * point (the kernels never requantize), fused activation clamps the result.
 */
#include "mf_config.h"

#if MF_OP_ON(MAX_POOL_2D) || MF_OP_ON(AVERAGE_POOL_2D)

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_pool.h"

enum { POOL_OPT_PADDING = 0, POOL_OPT_STRIDE_W = 1, POOL_OPT_STRIDE_H = 2, POOL_OPT_FILTER_W = 3,
       POOL_OPT_FILTER_H = 4, POOL_OPT_ACTIVATION = 5 };
/* Windows of at most 2^16 taps keep the average's int32 sum exact (|sum| <= 2^23). */
#define POOL_MAX_TAPS 65536
#define POOL_MAX_SPAN (1 << 30)

/* ComputeOutSizeChecked + ComputePaddingWithOffsetChecked (dilation 1) for one axis. */
static mf_status_t pool_axis(mf_ctx_t *ctx, const char *axis, int padding, int32_t in, int32_t f, int32_t stride,
    int32_t *out, int32_t *pad) {
    if (stride < 1 || f < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(POOL_STRIDE), axis, (int)stride, (int)f);
    }
    /* Dims are at most 2^26, so num < 2^32 and the quotient is a 32-bit division (no
     * int64 one: that is a libgcc call on Cortex-M). o < 1 exactly when num < stride. */
    const int64_t num = padding == MF_PAD_SAME ? (int64_t)in + stride - 1 : (int64_t)in + stride - f;
    int64_t o = num < stride ? 0 : (int64_t)((uint32_t)num / (uint32_t)stride);
    if (o < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(POOL_FILTER_EXCEEDS_INPUT), axis, (int)f, (int)in);
    }
    if ((o - 1) * stride + f > POOL_MAX_SPAN) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(POOL_WINDOW_SPAN), axis);
    }
    int64_t total = (o - 1) * stride + f - in;
    *out = (int32_t)o;
    *pad = total > 0 ? (int32_t)total / 2 : 0;  /* total <= POOL_MAX_SPAN */
    return MF_OK;
}

static mf_status_t pool_prepare(mf_ctx_t *ctx, mf_node_t *node, int average) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    const int padding = mf_fbt_i8(&opt, POOL_OPT_PADDING, MF_PAD_SAME);
    const int act = mf_fbt_i8(&opt, POOL_OPT_ACTIVATION, 0);
    if ((st = mf_check_padding(ctx, padding)) != MF_OK || (st = mf_check_activation(ctx, act)) != MF_OK) {
        return st;
    }
    const mf_tensor_t *in = mf_node_in(m, node, 0);
    const mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = mf_check_s8_4d(ctx, in, "input")) != MF_OK || (st = mf_check_s8_4d(ctx, out, "output")) != MF_OK) {
        return st;
    }
    /* TFLM: |input scale - output scale| <= 1e-6 (a float difference compared in double)
     * and equal zero points. 1.0e-6f is the largest float not above the double 1e-6, so
     * the float compare decides exactly as the double one. */
    float ds = in->scale - out->scale;
    if (!((ds < 0 ? -ds : ds) <= 1.0e-6f) || in->zero_point != out->zero_point) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(POOL_QUANT), (int)in->zero_point, (int)out->zero_point);
    }
    mf_pool_params_t *p = mf_alloc(ctx, sizeof(*p));
    if (!p) {
        return MF_ERR_ARENA;
    }
    p->batches = in->dims[0];
    p->in_h = in->dims[1];
    p->in_w = in->dims[2];
    p->depth = in->dims[3];
    p->stride_w = mf_fbt_i32(&opt, POOL_OPT_STRIDE_W, 0);
    p->stride_h = mf_fbt_i32(&opt, POOL_OPT_STRIDE_H, 0);
    p->f_w = mf_fbt_i32(&opt, POOL_OPT_FILTER_W, 0);
    p->f_h = mf_fbt_i32(&opt, POOL_OPT_FILTER_H, 0);
    if ((st = pool_axis(ctx, "height", padding, p->in_h, p->f_h, p->stride_h, &p->out_h, &p->pad_h)) != MF_OK ||
        (st = pool_axis(ctx, "width", padding, p->in_w, p->f_w, p->stride_w, &p->out_w, &p->pad_w)) != MF_OK) {
        return st;
    }
    if ((int64_t)p->f_h * p->f_w > POOL_MAX_TAPS) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(POOL_TAPS), (int)p->f_h, (int)p->f_w,
            POOL_MAX_TAPS);
    }
    const int32_t want[4] = { p->batches, p->out_h, p->out_w, p->depth };
    if ((st = mf_check_shape(ctx, out, "output", 4, want)) != MF_OK) {
        return st;
    }
    if ((st = mf_activation_clamp_s8(ctx, act, out->scale, out->zero_point, &p->act_min, &p->act_max)) != MF_OK) {
        return st;
    }
    if (average) {
        node->scratch_bytes = mf_k_avg_pool_scratch(p);
    }
    node->params = p;
    return MF_OK;
}

#endif /* MF_OP_ON(MAX_POOL_2D) || MF_OP_ON(AVERAGE_POOL_2D) */

#if MF_OP_ON(MAX_POOL_2D)

mf_status_t mf_max_pool_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return pool_prepare(ctx, node, 0);
}

void mf_max_pool_eval(mf_model_t *m, const mf_node_t *node) {
    mf_k_max_pool_s8(node->params, (const int8_t *)mf_in_data(m, node, 0), (int8_t *)mf_out_data(m, node, 0));
}


#endif /* MF_OP_ON(MAX_POOL_2D) */

#if MF_OP_ON(AVERAGE_POOL_2D)

mf_status_t mf_avg_pool_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return pool_prepare(ctx, node, 1);
}

void mf_avg_pool_eval(mf_model_t *m, const mf_node_t *node) {
    mf_k_avg_pool_s8(node->params, (const int8_t *)mf_in_data(m, node, 0), (int8_t *)mf_out_data(m, node, 0),
        node->scratch);
}


#endif /* MF_OP_ON(AVERAGE_POOL_2D) */
