/*
 * Element-wise ops: ADD, SUB, MUL, SQUARED_DIFFERENCE (int8 and float32, broadcasting
 * up to 6 dims), RSQRT (int8, float32) and NEG (float32, int8). Graph glue for
 * kernels/k_elementwise.c.
 *
 * Multipliers follow TFLM's prepare code exactly, including where it computes in float
 * rather than double (sub_common.cc divides the scales in float; add_common.cc and
 * squared_difference.cc in double). The broadcast plan is computed here once.
 */
#include "mf_config.h"

#if MF_OP_ON(ADD) || MF_OP_ON(SUB) || MF_OP_ON(MUL) || MF_OP_ON(SQUARED_DIFFERENCE) || MF_OP_ON(RSQRT) || MF_OP_ON(NEG)

#include <math.h>

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_activations.h"
#include "kernels/k_elementwise.h"
#include "mf_fuse.h"

/* The first field of the option tables. */
#define EW_OPT_ACTIVATION 0

#endif /* any element-wise op */

#if MF_OP_ON(ADD) || MF_OP_ON(SUB) || MF_OP_ON(MUL) || MF_OP_ON(SQUARED_DIFFERENCE)

/* Allocated with the broadcast plan right after it (EW_PLAN), sized for its loops. */
typedef struct {
    int32_t is_float;
    union {
        mf_k_binary_s8_t s8;
        mf_k_binary_f32_t f;
    } k;
} ew_binary_t;

#define EW_PLAN(p) ((mf_k_bcast_t *)((p) + 1))

/* QuantizeMultiplierSmallerThanOneExp (lt1): TFLM aborts unless 0 < real < 1 and the
 * rounded multiplier keeps shift <= 0; such models are refused here instead.
 * QuantizeMultiplier for MultiplyByQuantizedMultiplier, which computes x * (1 << shift):
 * a shift above 30 overflows in TFLM (undefined), so it is refused. */
static mf_status_t ew_qm(mf_ctx_t *ctx, mf_real_t real, const char *what, int lt1, mf_qm_t *qm) {
    if (lt1 && !(real > 0 && real < mf_real_pow2(0))) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(RESCALE_RANGE), what);
    }
    *qm = mf_quantize_multiplier(real);
    if (qm->shift > (lt1 ? 0 : 30)) {
        /* 104 ignores the shift argument. */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, lt1 ? MF_MSG(RESCALE_ROUNDS_TO_1) :
            MF_MSG(RESCALE_SHIFT), what,
            (int)qm->shift);
    }
    return MF_OK;
}

/* One prepare for the four ops (op: the MF_K_F32_* code). Checks io counts, the fused
 * activation (when the op has one), matching types (int8 or float32), per-tensor
 * quantization for int8, and the broadcast of the two input shapes against the
 * declared output shape; then the multipliers follow TFLM:
 *  - ADD / SUB (add_common.cc / sub_common.cc): inputs rescaled to twice the larger input
 *    scale with 20 bits of headroom. ADD computes the ratios in double; SUB in float
 *    (its twice_max_input_scale is a float and the divisions happen before the cast);
 *  - MUL (mul_common.cc): one multiplier s1 * s2 / s_out (double), any shift;
 *  - SQUARED_DIFFERENCE (squared_difference.cc PrepareQuantized with left_shift 7): the
 *    inputs as for ADD, the output multiplier (2 max)^2 / (2^14 s_out), where
 *    2^14 * s_out is a float product. */
static mf_status_t ew_binary_prepare(mf_ctx_t *ctx, mf_node_t *node, int op) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    const int act = op != MF_K_F32_SQDIFF ? mf_fbt_i8(&opt, EW_OPT_ACTIVATION, 0) : MF_ACT_NONE;
    if ((st = mf_check_activation(ctx, act)) != MF_OK) {
        return st;
    }
    static const char *const names[3] = { "input 0", "input 1", "output" };
    const mf_tensor_t *t[3] = { mf_node_in(m, node, 0), mf_node_in(m, node, 1), mf_node_out(m, node, 0) };
    const mf_tensor_t *out = t[2];
    const int is_float = mf_float_path(ctx, MF_FLOAT_BINARY, out);
    if (is_float < 0) {
        return MF_ERR_UNSUPPORTED;
    }
    if (out->type != MF_INT8 && !is_float) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(BINARY_OUTPUT_TYPE), mf_type_name(out->type));
    }
    for (int j = 0; j < (is_float ? 2 : 3); j++) {
        if ((st = is_float ? mf_check_type(ctx, t[j], names[j], MF_FLOAT32) : mf_check_s8(ctx, t[j], names[j])) !=
            MF_OK) {
            return st;
        }
    }

    /* Broadcast: shapes are aligned at their last dim; each pair of dims must be equal
     * or contain a 1. */
    const int nd = t[0]->ndim > t[1]->ndim ? t[0]->ndim : t[1]->ndim;
    int32_t d1[MF_MAX_DIMS], d2[MF_MAX_DIMS], want[MF_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        const int i1 = i - (nd - t[0]->ndim), i2 = i - (nd - t[1]->ndim);
        d1[i] = i1 >= 0 ? t[0]->dims[i1] : 1;
        d2[i] = i2 >= 0 ? t[1]->dims[i2] : 1;
        if (d1[i] == d2[i] || d2[i] == 1) {
            want[i] = d1[i];
        } else if (d1[i] == 1) {
            want[i] = d2[i];
        } else {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(BROADCAST), i, (int)d1[i], (int)d2[i]);
        }
    }
    if ((st = mf_check_shape(ctx, out, "output", nd, want)) != MF_OK) {
        return st;
    }
    mf_k_loop_t loops[MF_K_BCAST_MAX];
    const int nloops = mf_k_bcast_loops(nd, d1, d2, want, loops);
    ew_binary_t *p = mf_alloc(ctx, sizeof(*p) + MF_K_BCAST_BYTES(nloops));
    if (!p) {
        return MF_ERR_ARENA;
    }
    mf_k_bcast_fill(EW_PLAN(p), nloops, loops);
    /* The kernels read element k of a full-size (non-broadcast) input just before
     * writing output element k, so such an input may share the output's bytes. */
    for (int j = 0; j < 2; j++) {
        if (t[j]->count == out->count) {
            mf_allow_inplace(ctx, node, j, 0);
        }
    }
    node->params = p;
    p->is_float = is_float;
    if (is_float) {
        p->k.f.op = op;
        mf_activation_range_f32(act, &p->k.f.act_min, &p->k.f.act_max);
        return MF_OK;
    }

    mf_k_binary_s8_t *k = &p->k.s8;
    const mf_real_t f1 = mf_real_from_float(t[0]->scale), f2 = mf_real_from_float(t[1]->scale);
    const float so = out->scale;
    mf_real_t r[3];   /* the multipliers of qm[] */
#if MF_OP_ON(SUB)
    if (op == MF_K_F32_SUB) {
        /* Float quotients (an overflowing twice gives 0 or NaN, refused as out of
         * range). */
        const float s1 = t[0]->scale, s2 = t[1]->scale;
        const float twice = 2.0f * (s1 < s2 ? s2 : s1);   /* std::max */
        r[0] = mf_real_from_float(s1 / twice);
        r[1] = mf_real_from_float(s2 / twice);
        r[2] = mf_real_from_float(twice / ((float)(1 << 20) * so));
    } else
#endif /* MF_OP_ON(SUB) */
    {
        /* In double: twice = 2.0 * max(s1, s2) (positive doubles order like their
         * encodings); the inputs' s1 / twice and s2 / twice (not used by MUL). */
        const mf_real_t twice = mf_real_mul(mf_real_pow2(1), f1 < f2 ? f2 : f1);
        r[0] = mf_real_div(f1, twice);
        r[1] = mf_real_div(f2, twice);
        switch (op) {
            case MF_K_F32_MUL:
                /* s1 * s2 / so */
                r[2] = mf_real_div(mf_real_mul(f1, f2), mf_real_from_float(so));
                break;
            case MF_K_F32_SQDIFF:
                /* (twice * twice) / (double)(2^14 * so as a float product), where a
                 * product that overflows to +inf makes TFLM's quotient 0: read as
                 * >= 2^600 it leaves one below 2^-340, which quantizes to the same
                 * multiplier 0, shift 0. */
                r[2] = mf_real_div(mf_real_mul(twice, twice), mf_real_from_float((float)(1 << 14) * so));
                break;
            default:
                /* ADD: twice / ((1 << 20) * so) */
                r[2] = mf_real_div(twice, mf_real_mul(mf_real_pow2(20), mf_real_from_float(so)));
                break;
        }
    }
    /* Inputs: SmallerThanOneExp; the output: SmallerThanOneExp for ADD / SUB. */
    for (int j = op == MF_K_F32_MUL ? 2 : 0; j < 3; j++) {
        if ((st = ew_qm(ctx, r[j], names[j], j < 2 || op <= MF_K_F32_SUB, &k->qm[j])) != MF_OK) {
            return st;
        }
    }
    k->left_shift = (int8_t)(op == MF_K_F32_SQDIFF ? 7 : op == MF_K_F32_MUL ? 0 : 20);
    k->in2_sign = (int8_t)(op == MF_K_F32_ADD ? 1 : -1);
    /* SQUARED_DIFFERENCE has no activation (MF_ACT_NONE): the whole int8 range. */
    int32_t lo, hi;
    if ((st = mf_activation_clamp_s8(ctx, act, so, out->zero_point, &lo, &hi)) != MF_OK) {
        return st;
    }
    k->act_min = (int16_t)lo;   /* within [-128, 127] */
    k->act_max = (int16_t)hi;
    k->in_offset[0] = (int16_t)-t[0]->zero_point;
    k->in_offset[1] = (int16_t)-t[1]->zero_point;
    k->out_offset = (int16_t)out->zero_point;
    return MF_OK;
}

void mf_binary_eval(mf_model_t *m, const mf_node_t *node) {
    const ew_binary_t *p = node->params;
    const uint8_t *x1 = mf_in_data(m, node, 0);
    const uint8_t *x2 = mf_in_data(m, node, 1);
    uint8_t *y = mf_out_data(m, node, 0);
#if MF_FLOAT_BINARY
    if (p->is_float) {
        mf_k_binary_f32(&p->k.f, EW_PLAN(p), (const float *)x1, (const float *)x2, (float *)y);
        return;
    }
#endif /* MF_FLOAT_BINARY */
    mf_k_binary_s8(&p->k.s8, EW_PLAN(p), (const int8_t *)x1, (const int8_t *)x2, (int8_t *)y);
}

#endif /* MF_OP_ON(ADD) || MF_OP_ON(SUB) || MF_OP_ON(MUL) || MF_OP_ON(SQUARED_DIFFERENCE) */

#if MF_OP_ON(ADD)

mf_status_t mf_add_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return ew_binary_prepare(ctx, node, MF_K_F32_ADD);
}


#endif /* MF_OP_ON(ADD) */

#if MF_OP_ON(SUB)

mf_status_t mf_sub_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return ew_binary_prepare(ctx, node, MF_K_F32_SUB);
}


#endif /* MF_OP_ON(SUB) */

#if MF_OP_ON(MUL)

mf_status_t mf_mul_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return ew_binary_prepare(ctx, node, MF_K_F32_MUL);
}


/* The fusion interface (mf_fuse.h), which applies a prepared MUL to one row at a time
 * with its own one-row plan: the int8 parameters, or NULL for a float MUL. */
const mf_k_binary_s8_t *mf_rows_mul(const mf_node_t *node) {
    const ew_binary_t *p = node->params;
    return (p != NULL && !p->is_float) ? &p->k.s8 : NULL;
}

#endif /* MF_OP_ON(MUL) */

#if MF_OP_ON(SQUARED_DIFFERENCE)

mf_status_t mf_sqdiff_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return ew_binary_prepare(ctx, node, MF_K_F32_SQDIFF);
}


#endif /* MF_OP_ON(SQUARED_DIFFERENCE) */

#if MF_OP_ON(RSQRT) || MF_OP_ON(NEG)

/* ew_unary_t.kind: the kernel eval runs. */
enum { EW_NEG_S8 = 0, EW_NEG_F32, EW_RSQRT_S8, EW_RSQRT_LUT, EW_RSQRT_F32 };

/* The head of both ops' params, so that one eval serves them. */
typedef struct {
    int32_t kind;
    int32_t count;
} ew_unary_t;

/* float32 as TFLM's neg.cc. TFLM has no int8 NEG; int8 follows TFLite's
 * reference_integer_ops::Negate (equal scales, out = in_zp + out_zp - in, saturated). */
typedef struct {
    ew_unary_t u;
    int32_t zp_sum;
} ew_neg_t;

/* Tensors of more than 256 elements get the whole 256-entry table (one lookup per
 * element); smaller ones compute per element and save the table's bytes. */
#define EW_RSQRT_LUT_MIN 257

typedef struct {
    ew_unary_t u;
    mf_k_rsqrt_t k;
    int8_t lut[];         /* 256 entries for EW_RSQRT_LUT */
} ew_rsqrt_t;

/* One input, one output of the same type and shape; then NEG's options and equal int8
 * scales, or RSQRT's multiplier: elementwise.cc PrepareAbsRsqrt /
 * SetRsqrtOutputMultiplier, 1 / (sqrtf(s_in) * s_out), the product taken in float. */
static mf_status_t ew_unary_prepare(mf_ctx_t *ctx, mf_node_t *node, int is_neg) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    const mf_tensor_t *in = mf_node_in(m, node, 0);
    const mf_tensor_t *out = mf_node_out(m, node, 0);
    if (in->type != MF_FLOAT32 && in->type != MF_INT8) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(UNARY_INPUT_TYPE), mf_type_name(in->type));
    }
    if ((st = mf_check_type(ctx, out, "output", (mf_type_t)in->type)) != MF_OK) {
        return st;
    }
    const int is_float = mf_float_path(ctx, MF_FLOAT_UNARY, in);
    if (is_float < 0) {
        return MF_ERR_UNSUPPORTED;
    }
    if (!is_float && ((st = mf_check_s8(ctx, in, "input")) != MF_OK ||
                      (st = mf_check_s8(ctx, out, "output")) != MF_OK)) {
        return st;
    }
    if ((st = mf_check_same_shape(ctx, in, out)) != MF_OK) {
        return st;
    }
    int kind = is_float ? EW_NEG_F32 : EW_NEG_S8;
    size_t bytes = sizeof(ew_neg_t);
#if MF_OP_ON(NEG)
    if (is_neg) {
        mf_fbt_t opt;
        if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
            return st;
        }
        if (!is_float && in->scale != out->scale) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(UNARY_SCALES_DIFFER));
        }
    }
#endif /* MF_OP_ON(NEG) */
#if MF_OP_ON(RSQRT)
    mf_k_rsqrt_t k = { in->zero_point, { 0, 0 }, out->zero_point };
    if (!is_neg) {
        kind = EW_RSQRT_F32;
        if (!is_float) {
            const float prod = sqrtf(in->scale) * out->scale;
            /* 1.0 / (double)prod; a product that underflows to 0 gives +inf, read as 2^600
             * as mf_real_from_float reads it: shift 601, refused below. */
            k.out = mf_quantize_multiplier(prod > 0.0f ? mf_real_div(mf_real_pow2(0), mf_real_from_float(prod)) :
                mf_real_pow2(600));
            /* RsqrtEvalQuantized shifts by shift - 20: keep that a valid shift amount. */
            if (k.out.shift - 20 < -31 || k.out.shift - 20 > 30) {
                return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(UNARY_RESCALE_SHIFT), (int)k.out.shift);
            }
            kind = in->count >= EW_RSQRT_LUT_MIN ? EW_RSQRT_LUT : EW_RSQRT_S8;
        }
        bytes = sizeof(ew_rsqrt_t) + (kind == EW_RSQRT_LUT ? 256 : 0);
    }
#endif /* MF_OP_ON(RSQRT) */
    ew_unary_t *p = mf_alloc(ctx, bytes);
    if (!p) {
        return MF_ERR_ARENA;
    }
    p->kind = kind;
    p->count = in->count;
#if MF_OP_ON(NEG)
    if (kind == EW_NEG_S8) {
        ((ew_neg_t *)p)->zp_sum = in->zero_point + out->zero_point;
    }
#endif /* MF_OP_ON(NEG) */
#if MF_OP_ON(RSQRT)
    if (kind == EW_RSQRT_S8 || kind == EW_RSQRT_LUT) {
        ew_rsqrt_t *r = (ew_rsqrt_t *)p;
        r->k = k;
        if (kind == EW_RSQRT_LUT) {
            mf_k_rsqrt_s8_lut(&k, r->lut);
        }
    }
#endif /* MF_OP_ON(RSQRT) */
    node->params = p;
    mf_allow_inplace(ctx, node, 0, 0);
    return MF_OK;
}

void mf_unary_eval(mf_model_t *m, const mf_node_t *node) {
    const ew_unary_t *p = node->params;
    const uint8_t *x = mf_in_data(m, node, 0);
    uint8_t *y = mf_out_data(m, node, 0);
    switch (p->kind) {
#if MF_OP_ON(NEG)
        case EW_NEG_S8:
            mf_k_neg_s8(((const ew_neg_t *)p)->zp_sum, (const int8_t *)x, (int8_t *)y, p->count);
            break;
#if MF_FLOAT_UNARY
        case EW_NEG_F32:
            mf_k_neg_f32((const float *)x, (float *)y, p->count);
            break;
#endif /* MF_FLOAT_UNARY */
#endif /* MF_OP_ON(NEG) */
#if MF_OP_ON(RSQRT)
        case EW_RSQRT_S8:
            mf_k_rsqrt_s8(&((const ew_rsqrt_t *)p)->k, (const int8_t *)x, (int8_t *)y, p->count);
            break;
        case EW_RSQRT_LUT:
            mf_k_lut_s8((const int8_t *)x, (int8_t *)y, p->count, ((const ew_rsqrt_t *)p)->lut);
            break;
#if MF_FLOAT_UNARY
        case EW_RSQRT_F32:
            mf_k_rsqrt_f32((const float *)x, (float *)y, p->count);
            break;
#endif /* MF_FLOAT_UNARY */
#endif /* MF_OP_ON(RSQRT) */
        default:
            break;
    }
}

#endif /* MF_OP_ON(RSQRT) || MF_OP_ON(NEG) */

#if MF_OP_ON(RSQRT)

mf_status_t mf_rsqrt_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return ew_unary_prepare(ctx, node, 0);
}


#endif /* MF_OP_ON(RSQRT) */

#if MF_OP_ON(NEG)

mf_status_t mf_neg_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    return ew_unary_prepare(ctx, node, 1);
}


#endif /* MF_OP_ON(NEG) */
