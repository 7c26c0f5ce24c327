/*
 * MEAN (int8, float32) over a constant int32 axis list: graph glue for
 * kernels/k_reduce.c.
 *
 * Semantics are TFLM's reduce_common.cc: axes may be negative and may repeat (repeats
 * count once); keep_dims only changes the output shape. int8 always goes through
 * reference_ops::QuantizedMeanOrSum in the TFLM this engine matches (its former 4-D
 * axes {1,2} and equal-quantization paths are gone): the multiplier s_in / s_out is
 * divided by the element count with TFLM's shift trick, once, here.
 */
#include "mf_config.h"

#if MF_OP_ON(MEAN)

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_reduce.h"

#define RD_OPT_KEEP_DIMS 0

/* Allocated with the reduction plan right after it (RD_PLAN), sized for its loops. */
typedef struct {
    int32_t is_float;
    mf_k_mean_s8_t k;
} rd_mean_t;

#define RD_PLAN(p) ((mf_k_reduce_t *)((p) + 1))

mf_status_t mf_mean_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    const int keep = mf_fbt_u8(&opt, RD_OPT_KEEP_DIMS, 0) != 0;
    const mf_tensor_t *in = mf_node_in(m, node, 0);
    const mf_tensor_t *axis = mf_node_in(m, node, 1);
    const mf_tensor_t *out = mf_node_out(m, node, 0);

    const int is_float = mf_float_path(ctx, MF_FLOAT_MEAN, in);
    if (is_float < 0) {
        return MF_ERR_UNSUPPORTED;
    }
    if (!is_float) {
        if ((st = mf_check_s8(ctx, in, "input")) != MF_OK ||
            (st = mf_check_s8(ctx, out, "output")) != MF_OK) {
            return st;
        }
    } else if ((st = mf_check_type(ctx, out, "output", MF_FLOAT32)) != MF_OK) {
        return st;
    }
    if ((st = mf_check_type(ctx, axis, "axis", MF_INT32)) != MF_OK ||
        (st = mf_check_const(ctx, axis, "axis")) != MF_OK) {
        return st;
    }
    const int ndim = in->ndim;
#if MF_K_RED_MAX < MF_MAX_DIMS
    /* The loader allows more dims than the plan has loops. */
    if (ndim > MF_K_RED_MAX) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(MEAN_DIMS), ndim, MF_K_RED_MAX);
    }
#endif /* MF_K_RED_MAX < MF_MAX_DIMS */

    /* ResolveAxis: negative axes count from the end; an axis outside [-ndim, ndim)
     * fails TFLM's invoke, so the model is refused. A scalar input reduces nothing. */
    uint8_t reduced[MF_MAX_DIMS] = {0};
    for (int32_t i = 0; i < axis->count && ndim > 0; i++) {
        const int32_t a = (int32_t)mf_const_int(axis, i);   /* int32 axes */
        const int32_t r = a < 0 ? a + ndim : a;
        if ((uint32_t)r >= (uint32_t)ndim) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(MEAN_AXIS), (long)a, ndim);
        }
        reduced[r] = 1;
    }
    int32_t want[MF_MAX_DIMS];
    int wn = 0;
    for (int d = 0; d < ndim; d++) {
        if (!reduced[d]) {
            want[wn++] = in->dims[d];
        } else if (keep) {
            want[wn++] = 1;
        }
    }
    if ((st = mf_check_shape(ctx, out, "output", wn, want)) != MF_OK) {
        return st;
    }

    union {
        mf_k_reduce_t plan;
        uint8_t bytes[MF_K_REDUCE_BYTES(MF_K_RED_MAX)];
    } u;
    const size_t plan_bytes = mf_k_reduce_plan(ndim, in->dims, reduced, &u.plan);
    rd_mean_t *p = mf_alloc(ctx, sizeof(*p) + plan_bytes);
    if (!p) {
        return MF_ERR_ARENA;
    }
    memcpy(RD_PLAN(p), &u.plan, plan_bytes);
    p->is_float = is_float;
    node->params = p;
    if (is_float) {
        return MF_OK;   /* float accumulates in the output itself */
    }
    const int32_t n = u.plan.per_out;
    node->scratch_bytes = u.plan.direct ? 0 : (uint32_t)u.plan.num_out * 4u;

    /* QuantizedMeanOrSum: shift = min(floor(log2 n), 32, 31 + shift) (n < 2^31, so 32
     * never binds); multiplier = (multiplier << shift) / n; shift -= that. */
    mf_qm_t qm = mf_quantize_multiplier(mf_real_div(mf_real_from_float(in->scale), mf_real_from_float(out->scale)));
    int sh = 31 - mf_clz32((uint32_t)n);
    if (sh > 31 + qm.shift) {
        sh = 31 + qm.shift;
    }
    /* (multiplier << sh) / n without a 64-bit division: multiplier >= 0, and
     * 2^sh <= n keeps the quotient below 2^31. */
    qm.multiplier = (int32_t)mf_udiv_shl((uint32_t)qm.multiplier, sh, (uint32_t)n);
    qm.shift -= sh;
    /* MultiplyByQuantizedMultiplier computes x * (1 << shift): refuse overflowing shifts. */
    if ((st = mf_check_shift(ctx, qm.shift)) != MF_OK) {
        return st;
    }
    p->k.out = qm;
    p->k.out_zp = out->zero_point;
    p->k.zp_total = (uint32_t)in->zero_point * (uint32_t)n;
    return MF_OK;
}

void mf_mean_eval(mf_model_t *m, const mf_node_t *node) {
    const rd_mean_t *p = node->params;
    const uint8_t *x = mf_in_data(m, node, 0);
    uint8_t *y = mf_out_data(m, node, 0);
    if (MF_FLOAT_MEAN && p->is_float) {
        mf_k_mean_f32(RD_PLAN(p), (const float *)x, (float *)y);
    } else {
        mf_k_mean_s8(&p->k, RD_PLAN(p), (const int8_t *)x, (int8_t *)y, (int32_t *)node->scratch);
    }
}


#endif /* MF_OP_ON(MEAN) */
