/*
 * SOFTMAX (int8 in, int8 out): graph glue for kernels/k_softmax.c.
 *
 * Prepare is TFLM's CalculateSoftmaxParams for int8 -> int8: the output must have
 * scale exactly 1/256 and zero point -128; input_multiplier / input_left_shift come
 * from PreprocessSoftmaxScaling(beta, input_scale, 5) and diff_min from
 * CalculateInputRadius(5, input_left_shift). The input zero point cancels in x - max.
 */
#include "mf_config.h"

#if MF_OP_ON(SOFTMAX)

#include "mf_internal.h"
#include "mf_quant.h"
#include "mf_fuse.h"
#include "kernels/k_softmax.h"

enum { SOFTMAX_OPT_BETA = 0 };
#define SOFTMAX_DIFF_BITS 5    /* kScaledDiffIntegerBits */

typedef struct {
    mf_k_softmax_params_t k;
    int32_t outer;   /* rows */
    int32_t depth;   /* last dimension */
    int32_t table;   /* scratch is the exp table, else one row of exps */
} softmax_params_t;

mf_status_t mf_softmax_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    const mf_tensor_t *in = mf_node_in(m, node, 0);
    const mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = mf_check_type(ctx, in, "input", MF_INT8)) != MF_OK ||
        (st = mf_check_type(ctx, out, "output", MF_INT8)) != MF_OK ||
        (st = mf_check_quant(ctx, in, "input")) != MF_OK ||
        (st = mf_check_quant(ctx, out, "output")) != MF_OK) {
        return st;
    }
    if (in->ndim < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SOFTMAX_SCALAR));
    }
    if ((st = mf_check_same_shape(ctx, in, out)) != MF_OK) {
        return st;
    }
    /* TFLM requires exactly this output quantization for int8 (softmax_common.cc). */
    if (out->zero_point != -128 || out->scale != 1.0f / 256.0f) {
        const int e = 1 + mf_real_log2(mf_real_from_float(out->scale));  /* frexp's exponent */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED,
            MF_MSG(SOFTMAX_OUTPUT_QUANT), (int)out->zero_point, e - 1);
    }
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    /* An absent table or field gives beta = 0 (the schema default), which TFLite rejects
     * below like any beta that is too small. */
    const float beta = mf_fbt_f32(&opt, SOFTMAX_OPT_BETA, 0.0f);
    mf_qm_t qm = mf_preprocess_softmax_scaling(beta, in->scale, SOFTMAX_DIFF_BITS);
    if (qm.multiplier == 0) {
        /* TFLite aborts in QuantizeMultiplierGreaterThanOne here. */
        if (!(beta > 0.0f)) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SOFTMAX_BETA));
        }
        const int e = 1 + mf_real_log2(mf_real_mul(mf_real_from_float(beta), mf_real_from_float(in->scale)));
        return mf_fail(ctx, MF_ERR_UNSUPPORTED,
            MF_MSG(SOFTMAX_BETA_SCALE), e - 1);
    }
    softmax_params_t *p = (softmax_params_t *)mf_alloc(ctx, sizeof(*p));
    if (p == NULL) {
        return MF_ERR_ARENA;
    }
    p->k.input_multiplier = qm.multiplier;
    p->k.input_left_shift = qm.shift;  /* 0..31: the real multiplier is capped below 2^31 */
    const int32_t radius = mf_calculate_input_radius(SOFTMAX_DIFF_BITS, qm.shift, 31);
    p->k.limit = radius < 255 ? radius : 255;
    p->depth = in->dims[in->ndim - 1];
    p->outer = in->count / p->depth;   /* the loader refuses dims of 0 */
    node->params = p;
    p->table = mf_k_softmax_use_table(&p->k, in->count);
    node->scratch_bytes = (uint32_t)((p->table ? mf_k_softmax_table_len(&p->k) : p->depth) * (int32_t)sizeof(int32_t));
    /* Each row is read whole (max, sum) before its outputs are written, element k
     * before output k: the output may share the input's bytes. */
    mf_allow_inplace(ctx, node, 0, 0);
    return MF_OK;
}

void mf_softmax_eval(mf_model_t *m, const mf_node_t *node) {
    const softmax_params_t *p = (const softmax_params_t *)node->params;
    const int8_t *x = (const int8_t *)mf_in_data(m, node, 0);
    int8_t *y = (int8_t *)mf_out_data(m, node, 0);
    int32_t *scratch = (int32_t *)(void *)node->scratch;
    if (p->table) {
        mf_k_softmax_reset(&p->k, scratch);
        mf_k_softmax_rows(x, y, p->outer, p->depth, &p->k, scratch);
        return;
    }
    for (int32_t i = 0; i < p->outer; i++) {
        const size_t at = (size_t)i * (size_t)p->depth;
        mf_k_softmax_row_exps(x + at, y + at, p->depth, &p->k, scratch);
    }
}


/* The fusion interface (mf_fuse.h): the kernel parameters of a prepared node. */
const mf_k_softmax_params_t *mf_rows_softmax(const mf_node_t *node) {
    return &((const softmax_params_t *)node->params)->k;
}

#endif /* MF_OP_ON(SOFTMAX) */
