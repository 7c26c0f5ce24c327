/*
 * BATCH_MATMUL (int8): graph glue for kernels/k_batch_matmul.c.
 *
 * Semantics are TFLM's batch_matmul.cc: ranks 2..5, batch dims broadcast (numpy
 * rules, extended with leading 1s), adj_x / adj_y transpose the last two dims of lhs /
 * rhs, per-tensor quantization with multiplier lhs_scale * rhs_scale / output_scale
 * (in double), no fused activation. Either operand may be an activation (attention
 * QK^T and AV) or a constant; both are read as stored (see k_batch_matmul.h).
 */
#include "mf_config.h"

#if MF_OP_ON(BATCH_MATMUL)

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_batch_matmul.h"
#include "kernels/k_fully_connected.h"
#include "mf_fuse.h"

enum { BMM_OPT_ADJ_X = 0, BMM_OPT_ADJ_Y = 1 };
#define BMM_RANK 5           /* reference_ops::BatchMatMul works on 5-D extended shapes */

/* t's shape extended to BMM_RANK dims with leading 1s (t->ndim <= BMM_RANK). */
static void bmm_extend(const mf_tensor_t *t, int32_t *e) {
    for (int i = 0; i < BMM_RANK; i++) {
        e[i] = i < BMM_RANK - t->ndim ? 1 : t->dims[i - (BMM_RANK - t->ndim)];
    }
}

mf_status_t mf_bmm_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    const int adj_x = mf_fbt_u8(&opt, BMM_OPT_ADJ_X, 0);
    const int adj_y = mf_fbt_u8(&opt, BMM_OPT_ADJ_Y, 0);

    const mf_tensor_t *lhs = mf_node_in(m, node, 0);
    const mf_tensor_t *rhs = mf_node_in(m, node, 1);
    const mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = mf_check_s8(ctx, lhs, "lhs")) != MF_OK || (st = mf_check_s8(ctx, rhs, "rhs")) != MF_OK ||
        (st = mf_check_s8(ctx, out, "output")) != MF_OK) {
        return st;
    }
    if (lhs->ndim < 2 || lhs->ndim > BMM_RANK || rhs->ndim < 2 || rhs->ndim > BMM_RANK) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(BMM_OPERAND_DIMS), lhs->ndim, rhs->ndim, BMM_RANK);
    }
    /* l, r: the operands' shapes extended to 5-D with leading 1s; want: the output's, the
     * broadcast batch dims then [M, N] (its last `rank` dims are the declared shape). */
    int32_t l[BMM_RANK], r[BMM_RANK], want[BMM_RANK];
    bmm_extend(lhs, l);
    bmm_extend(rhs, r);
    for (int i = 0; i < BMM_RANK; i++) {
        if (l[i] < 1 || r[i] < 1) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(BMM_DIM_EMPTY), i, (int)(l[i] < 1 ? l[i] : r[i]));
        }
    }
    const int32_t M = adj_x ? l[4] : l[3];
    const int32_t K = adj_x ? l[3] : l[4];
    const int32_t K2 = adj_y ? r[4] : r[3];
    const int32_t N = adj_y ? r[3] : r[4];
    if (K != K2) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(BMM_DEPTH_MISMATCH), (int)K, (int)K2);
    }
    if ((st = mf_check_depth(ctx, K, MF_K_MAX_DEPTH)) != MF_OK) {
        return st;
    }
    for (int i = 0; i < 3; i++) {
        if (l[i] != r[i] && l[i] != 1 && r[i] != 1) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(BMM_BATCH_BROADCAST), (int)l[i], (int)r[i]);
        }
        want[i] = l[i] != 1 ? l[i] : r[i];
    }
    want[3] = M;
    want[4] = N;
    const int rank = lhs->ndim > rhs->ndim ? lhs->ndim : rhs->ndim;
    if ((st = mf_check_shape(ctx, out, "output", rank, want + BMM_RANK - rank)) != MF_OK) {
        return st;
    }

    mf_bmm_params_t *p = mf_alloc(ctx, sizeof(*p));
    if (!p) {
        return MF_ERR_ARENA;
    }
    /* GetQuantizedConvolutionMultipler, with the scale product in double as the TFLM
     * oracle (tflite-micro on PyPI) forms it (the older source tree multiplies in float;
     * measured: 4 of 4.9M outputs differed with the float product, none in double). */
    p->qm = mf_quantize_multiplier(mf_real_div(mf_real_mul(mf_real_from_float(lhs->scale),
        mf_real_from_float(rhs->scale)), mf_real_from_float(out->scale)));
    if ((st = mf_check_shift(ctx, p->qm.shift)) != MF_OK) {
        return st;
    }
    int32_t lstep = 1, rstep = 1;
    for (int i = 2; i >= 0; i--) {
        p->batch[i] = want[i];
        p->lhs_step[i] = l[i] == 1 ? 0 : lstep;
        p->rhs_step[i] = r[i] == 1 ? 0 : rstep;
        lstep *= l[i];
        rstep *= r[i];
    }
    p->m = M;
    p->n = N;
    p->k = K;
    p->adj_x = adj_x;
    p->adj_y = adj_y;
    p->lhs_zp = lhs->zero_point;
    p->rhs_zp = rhs->zero_point;
    p->out_offset = out->zero_point;

    node->scratch_bytes = mf_k_batch_matmul_scratch(p);
    node->params = p;
    return MF_OK;
}

void mf_bmm_eval(mf_model_t *m, const mf_node_t *node) {
    mf_k_batch_matmul_s8(node->params, (const int8_t *)mf_in_data(m, node, 0),
        (const int8_t *)mf_in_data(m, node, 1), (int8_t *)mf_out_data(m, node, 0), node->scratch);
}


/* The fusion interface (mf_fuse.h): the parameters prepare computed, row by row usable. */
const mf_bmm_params_t *mf_rows_batch_matmul(const mf_node_t *node) {
    return node->params;
}

void mf_rows_batch_matmul_rhs_transposed(mf_node_t *node) {
    mf_bmm_params_t *p = node->params;
    p->adj_y = 1;
}

#endif /* MF_OP_ON(BATCH_MATMUL) */
