/*
 * CONV_2D and DEPTHWISE_CONV_2D (int8, NHWC): graph glue for kernels/k_conv.c.
 *
 * Semantics are TFLM's conv.cc / depthwise_conv.cc: output size and padding from
 * ComputePaddingHeightWidth (only the leading pad is used, as the reference kernels
 * do), per-channel multipliers from PopulateConvolutionQuantizationParams (a per-tensor
 * filter scale is broadcast over the channels), grouped convolution when the filter has
 * fewer input channels than the input. Prepare keeps an int32 multiplier and an int8
 * shift per output channel (5 bytes); the kernels apply the input offset inside their
 * products and read the bias from the model.
 */
#include "mf_config.h"

#if MF_OP_ON(CONV_2D) || MF_OP_ON(DEPTHWISE_CONV_2D)

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_conv.h"
#include "kernels/k_fully_connected.h"

/* Largest extent (in input pixels) a window may sweep: keeps every index in int32. */
#define CONV_MAX_SPAN (1 << 30)

/* ComputeOutSizeChecked + ComputePaddingWithOffsetChecked for one axis, in int64. */
static mf_status_t conv_axis(mf_ctx_t *ctx, const char *axis, int padding, int32_t in, int32_t f, int32_t stride,
    int32_t dil, int32_t *out, int32_t *pad) {
    if (stride < 1 || dil < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONV_STRIDE), axis, (int)stride, (int)dil);
    }
    const int64_t eff = (int64_t)(f - 1) * dil + 1;
    /* Dims are at most 2^26, so num < 2^32 and the quotient is a 32-bit division (no
     * int64 one: that is a libgcc call on Cortex-M). o < 1 exactly when num < stride. */
    const int64_t num = padding == MF_PAD_SAME ? (int64_t)in + stride - 1 : (int64_t)in + stride - eff;
    int64_t o = num < stride ? 0 : (int64_t)((uint32_t)num / (uint32_t)stride);
    if (o < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONV_FILTER_EXCEEDS_INPUT), axis, (long)eff, (int)in);
    }
    if ((o - 1) * stride + eff > CONV_MAX_SPAN) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(CONV_WINDOW_SPAN), axis, (long)((o - 1) * stride + eff));
    }
    int64_t total = (o - 1) * stride + eff - in;
    *out = (int32_t)o;
    *pad = total > 0 ? (int32_t)total / 2 : 0;  /* total <= CONV_MAX_SPAN */
    return MF_OK;
}

static mf_status_t conv_activation(mf_ctx_t *ctx, int act, const mf_tensor_t *out, mf_conv_params_t *p) {
    mf_status_t st = mf_check_activation(ctx, act);
    return st != MF_OK ? st : mf_activation_clamp_s8(ctx, act, out->scale, out->zero_point, &p->act_min, &p->act_max);
}

/* Filter quantization (per-tensor, or `channels` scales along qdim, zero points 0),
 * bias (optional int32 constant with `channels` elements) and the per-channel
 * multipliers double(input_scale) * double(filter_scale) / double(output_scale). */
static mf_status_t conv_quant(mf_ctx_t *ctx, const mf_tensor_t *in, const mf_tensor_t *w, const mf_tensor_t *bias,
    const mf_tensor_t *out, int32_t channels, int32_t qdim, mf_conv_params_t *p) {
    mf_status_t st;
    if ((st = mf_check_filter(ctx, w, bias, channels, qdim)) != MF_OK) {
        return st;
    }
    /* Multipliers then shifts in one block: 5 bytes per channel. */
    int32_t *mult = mf_alloc(ctx, (sizeof(int32_t) + sizeof(int8_t)) * (size_t)channels);
    if (!mult) {
        return MF_ERR_ARENA;
    }
    int8_t *shift = (int8_t *)(mult + channels);
    for (int32_t c = 0; c < channels; c++) {
        const mf_real_t real = mf_real_div(mf_real_mul(mf_real_from_float(in->scale),
            mf_real_from_float(mf_tensor_qscale(w, w->nq > 1 ? c : 0))), mf_real_from_float(out->scale));
        mf_qm_t qm = mf_quantize_multiplier(real);
        if (qm.shift > 30) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(CONV_CHANNEL_SHIFT), (int)c, (int)qm.shift);
        }
        mult[c] = qm.multiplier;
        shift[c] = (int8_t)qm.shift;
    }
    p->qmult = mult;
    p->shift = shift;
    p->in_zp = in->zero_point;
    p->out_offset = out->zero_point;
    return MF_OK;
}

/* Options shared by Conv2DOptions and DepthwiseConv2DOptions, by field index. */
typedef struct {
    int f_padding, f_stride_w, f_stride_h, f_act, f_dil_w, f_dil_h;
} conv_fields_t;

static mf_status_t conv_options(mf_ctx_t *ctx, const mf_fbt_t *opt, const conv_fields_t *f, int *padding, int *act,
    mf_conv_params_t *p) {
    *padding = mf_fbt_i8(opt, f->f_padding, MF_PAD_SAME);
    mf_status_t st = mf_check_padding(ctx, *padding);
    if (st != MF_OK) {
        return st;
    }
    p->stride_w = mf_fbt_i32(opt, f->f_stride_w, 0);
    p->stride_h = mf_fbt_i32(opt, f->f_stride_h, 0);
    p->dil_w = mf_fbt_i32(opt, f->f_dil_w, 1);
    p->dil_h = mf_fbt_i32(opt, f->f_dil_h, 1);
    *act = mf_fbt_i8(opt, f->f_act, 0);
    return MF_OK;
}

/* The start of both prepares: node shape, options (padding, strides, dilations,
 * activation), the params struct, and int8 per-tensor input and output. */
static mf_status_t conv_begin(mf_ctx_t *ctx, mf_node_t *node, const conv_fields_t *fields,
    mf_fbt_t *opt, mf_conv_params_t **params, int *padding, int *act) {
    mf_status_t st;
    if ((st = mf_node_options(ctx, node, opt)) != MF_OK) {
        return st;
    }
    mf_conv_params_t *p = mf_alloc(ctx, sizeof(*p));
    if (!p) {
        return MF_ERR_ARENA;
    }
    *params = p;
    if ((st = conv_options(ctx, opt, fields, padding, act, p)) != MF_OK) {
        return st;
    }
    if ((st = mf_check_s8_4d(ctx, mf_node_in(ctx->m, node, 0), "input")) != MF_OK) {
        return st;
    }
    return mf_check_s8_4d(ctx, mf_node_out(ctx->m, node, 0), "output");
}

/* The part of CONV_2D and DEPTHWISE_CONV_2D prepare that is the same for both: output
 * size and padding per axis, the declared output shape, the activation clamp and the
 * per-channel multipliers (filter channels along q_dim: 0 for conv, 3 for depthwise). */
static mf_status_t conv_geometry_and_quant(mf_ctx_t *ctx, int padding, int act, const mf_tensor_t *in,
    const mf_tensor_t *w, const mf_tensor_t *bias, const mf_tensor_t *out, int q_dim, mf_conv_params_t *p) {
    mf_status_t st;
    if ((st = conv_axis(ctx, "height", padding, p->in_h, p->f_h, p->stride_h, p->dil_h, &p->out_h, &p->pad_h)) != MF_OK ||
        (st = conv_axis(ctx, "width", padding, p->in_w, p->f_w, p->stride_w, p->dil_w, &p->out_w, &p->pad_w)) != MF_OK) {
        return st;
    }
    const int32_t want[4] = { p->batches, p->out_h, p->out_w, p->out_c };
    if ((st = mf_check_shape(ctx, out, "output", 4, want)) != MF_OK) {
        return st;
    }
    if ((st = conv_activation(ctx, act, out, p)) != MF_OK) {
        return st;
    }
    if ((st = conv_quant(ctx, in, w, bias, out, p->out_c, q_dim, p)) != MF_OK) {
        return st;
    }
    return MF_OK;
}

#endif /* MF_OP_ON(CONV_2D) || MF_OP_ON(DEPTHWISE_CONV_2D) */

#if MF_OP_ON(CONV_2D)


mf_status_t mf_conv_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    static const conv_fields_t fields = { 0, 1, 2, 3, 4, 5 };
    mf_model_t *m = ctx->m;
    mf_fbt_t opt;
    mf_conv_params_t *p;
    int padding, act;
    mf_status_t st = conv_begin(ctx, node, &fields, &opt, &p, &padding, &act);
    if (st != MF_OK) {
        return st;
    }
    const mf_tensor_t *in = mf_node_in(m, node, 0);
    const mf_tensor_t *w = mf_node_in(m, node, 1);
    const mf_tensor_t *bias = mf_node_in(m, node, 2);
    const mf_tensor_t *out = mf_node_out(m, node, 0);
    if (w->ndim != 4) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONV_FILTER_DIMS), w->ndim);
    }
    p->batches = in->dims[0];
    p->in_h = in->dims[1];
    p->in_w = in->dims[2];
    p->in_c = in->dims[3];
    p->out_c = w->dims[0];
    p->f_h = w->dims[1];
    p->f_w = w->dims[2];
    p->f_c = w->dims[3];
    if (p->out_c < 1 || p->f_h < 1 || p->f_w < 1 || p->f_c < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONV_FILTER_EMPTY),
            (int)p->out_c, (int)p->f_h, (int)p->f_w, (int)p->f_c);
    }
    if (p->in_c % p->f_c != 0) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONV_INPUT_CHANNELS), (int)p->in_c, (int)p->f_c);
    }
    p->groups = p->in_c / p->f_c;
    if (p->out_c % p->groups != 0) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONV_GROUPS), (int)p->out_c, (int)p->groups);
    }
    const int32_t depth = p->f_h * p->f_w * p->f_c;  /* <= filter count, fits int32 */
    if ((st = mf_check_depth(ctx, depth, MF_K_MAX_DEPTH)) != MF_OK) {
        return st;
    }
    p->mult = 1;
    if ((st = conv_geometry_and_quant(ctx, padding, act, in, w, bias, out, 0, p)) != MF_OK) {
        return st;
    }
    node->scratch_bytes = mf_k_conv_scratch(p);
    node->params = p;
    return MF_OK;
}

void mf_conv_eval(mf_model_t *m, const mf_node_t *node) {
    mf_k_conv_s8(node->params, (const int8_t *)mf_in_data(m, node, 0), (const int8_t *)mf_in_data(m, node, 1),
        (const int32_t *)(const void *)mf_in_data(m, node, 2), (int8_t *)mf_out_data(m, node, 0), node->scratch);
}


#endif /* MF_OP_ON(CONV_2D) */

#if MF_OP_ON(DEPTHWISE_CONV_2D)

#define DW_OPT_DEPTH_MULTIPLIER 3

mf_status_t mf_dw_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    static const conv_fields_t fields = { 0, 1, 2, 4, 5, 6 };
    mf_model_t *m = ctx->m;
    mf_fbt_t opt;
    mf_conv_params_t *p;
    int padding, act;
    mf_status_t st = conv_begin(ctx, node, &fields, &opt, &p, &padding, &act);
    if (st != MF_OK) {
        return st;
    }
    p->mult = mf_fbt_i32(&opt, DW_OPT_DEPTH_MULTIPLIER, 0);
    const mf_tensor_t *in = mf_node_in(m, node, 0);
    const mf_tensor_t *w = mf_node_in(m, node, 1);
    const mf_tensor_t *bias = mf_node_in(m, node, 2);
    const mf_tensor_t *out = mf_node_out(m, node, 0);
    if (w->ndim != 4 || w->dims[0] != 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(DW_FILTER_DIMS), w->ndim, (int)(w->ndim ? w->dims[0] : 0));
    }
    p->batches = in->dims[0];
    p->in_h = in->dims[1];
    p->in_w = in->dims[2];
    p->in_c = in->dims[3];
    p->f_h = w->dims[1];
    p->f_w = w->dims[2];
    p->out_c = w->dims[3];
    p->f_c = 1;
    p->groups = 1;
    if (p->out_c < 1 || p->f_h < 1 || p->f_w < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(DW_FILTER_EMPTY), (int)p->f_h, (int)p->f_w, (int)p->out_c);
    }
    /* TFLM's kernel loops over in_c * depth_multiplier channels: the option must agree. */
    if (p->mult < 1 || (int64_t)p->in_c * p->mult != p->out_c) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(DW_MULTIPLIER), (int)p->mult, (int)p->in_c, (int)p->out_c);
    }
    if (p->f_h * p->f_w > MF_K_MAX_DEPTH) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(DW_TAPS), (int)(p->f_h * p->f_w), MF_K_MAX_DEPTH);
    }
    if ((st = conv_geometry_and_quant(ctx, padding, act, in, w, bias, out, 3, p)) != MF_OK) {
        return st;
    }
    node->scratch_bytes = mf_k_depthwise_scratch(p);
    node->params = p;
    return MF_OK;
}

void mf_dw_eval(mf_model_t *m, const mf_node_t *node) {
    mf_k_depthwise_s8(node->params, (const int8_t *)mf_in_data(m, node, 0), (const int8_t *)mf_in_data(m, node, 1),
        (const int32_t *)(const void *)mf_in_data(m, node, 2), (int8_t *)mf_out_data(m, node, 0), node->scratch);
}


#endif /* MF_OP_ON(DEPTHWISE_CONV_2D) */
