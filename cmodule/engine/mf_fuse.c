/*
 * Operator fusion at load: attention without the [heads, seq, seq] tensors.
 *
 * The converter turns keras MultiHeadAttention into
 *     S = BATCH_MATMUL(Q, K)  ->  [S2 = MUL(S, c), c a constant scalar]  ->
 *     P = SOFTMAX(S2)  ->  O = BATCH_MATMUL(P, V)
 * and S, S2 and P (heads * seq * seq bytes each) are the largest activations of a
 * small transformer. Every op of the chain is row-local: row i of S depends only on
 * row i of Q, row i of S2 only on row i of S, row i of P on row i of S2 and row i of O
 * on row i of P. So the chain runs at O's node, one row at a time: score row, MUL,
 * softmax row, output row, through the ops' own kernels with the parameters their
 * prepare computed (the same integer arithmetic on the same values, hence the same
 * bytes), and S, S2, P are never stored; only one row plus N int32 accumulators and
 * the softmax exp table are scratch. Nodes of the chain before O do nothing at eval,
 * and Q and K stay alive until O's node.
 *
 * Every condition is checked; when one does not hold the chain is left as it is.
 */
#include "mf_fuse.h"

#if MF_OP_ON(BATCH_MATMUL) && MF_OP_ON(SOFTMAX)

/* The fused node's parameters. The chain's other nodes keep theirs (their evals are
 * skipped, their parameters are what the rows are computed with). */
typedef struct {
    const mf_bmm_params_t *pv;       /* this node's own BATCH_MATMUL parameters: O = P x V */
    int16_t qk_node;                 /* S = Q x K */
    int16_t mul_node;                /* X = S * c, or -1 */
    int16_t softmax_node;            /* P = SOFTMAX(X) */
    int8_t scalar_first;             /* c is the MUL's input 0 */
    int8_t use_table;                /* softmax exps from the per-invoke table, else per row */
} mf_fused_attn_t;

/* Scratch layout: accumulators (N int32), one row (N int8, padded to 8), exp table. */
static uint32_t fuse_acc_bytes(const mf_bmm_params_t *qk, const mf_bmm_params_t *pv) {
    return 4u * (uint32_t)(qk->n > pv->n ? qk->n : pv->n);
}
static uint32_t fuse_row_bytes(const mf_bmm_params_t *qk) {
    return ((uint32_t)qk->n + 7u) & ~7u;
}

static int fuse_code(const mf_model_t *m, const mf_node_t *n) {
    return mf_op_table[n->op].code;
}

/* The node that writes tensor t, or -1 (graph input, constant, unused). */
static int fuse_producer(const mf_model_t *m, int16_t t) {
    int p = m->plan[t].first_use;
    if (m->plan[t].kind == MF_T_CONST || p < 0 || p >= m->n_nodes) {
        return -1;
    }
    const mf_node_t *n = &m->nodes[p];
    return (n->n_out == 1 && mf_node_output(n, 0) == t) ? p : -1;
}

/* An intermediate the chain may drop: written by its node, read exactly once (by the
 * next op of the chain), not a graph output, and no tensor outside the chain (given
 * as a, b, both possibly -1) shares its bytes. */
static bool fuse_droppable(const mf_model_t *m, int16_t t, int16_t a, int16_t b) {
    const mf_plan_t *p = &m->plan[t];
    if (p->kind != MF_T_ARENA && p->kind != MF_T_ALIAS) {
        return false;
    }
    if (mf_in_list(m->outputs, m->n_outputs, t) || mf_in_list(m->inputs, m->n_inputs, t)) {
        return false;
    }
    int reads = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const mf_node_t *n = &m->nodes[i];
        for (int k = 0; k < n->n_in; k++) {
            reads += n->io[k] == t;
        }
    }
    if (reads != 1) {
        return false;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        if (i != t && i != a && i != b && m->plan[i].kind == MF_T_ALIAS && m->plan[i].alias_of == t) {
            return false;
        }
    }
    return true;
}

/* An operand the fused node reads at `at` instead of at `was`: fine when it is a
 * constant, or when nothing writes into its bytes after `was` (an in-place op
 * between the two nodes would have taken them once the operand died at `was`). */
static bool fuse_extendable(const mf_model_t *m, int16_t t, int was) {
    const mf_plan_t *p = &m->plan[t];
    int16_t root = p->kind == MF_T_ALIAS ? p->alias_of : t;
    const mf_plan_t *r = &m->plan[root];
    if (r->kind == MF_T_CONST) {
        return true;
    }
    if (r->kind != MF_T_ARENA) {
        return false;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const mf_plan_t *q = &m->plan[i];
        if ((i == root || (q->kind == MF_T_ALIAS && q->alias_of == root)) && q->first_use > was) {
            return false;
        }
    }
    return true;
}

static int16_t fuse_root(const mf_model_t *m, int16_t t) {
    return m->plan[t].kind == MF_T_ALIAS ? m->plan[t].alias_of : t;
}

/* Output row (b, i) of the fused node is written right after Q row (b, i) was read
 * for the last time, and both are the same bytes of same-layout tensors when the head
 * sizes match and Q is not broadcast (same byte count). So O may take Q's bytes when Q
 * dies at the fused node and K and V are other buffers: that saves an O-sized buffer at
 * what is usually the model's peak. */
static void fuse_output_over_q(mf_model_t *m, const mf_bmm_params_t *qk, const mf_bmm_params_t *pv,
    int16_t q_t, int16_t k_t, int n2) {
    const mf_node_t *pv_node = &m->nodes[n2];
    const int16_t o_t = mf_node_output(pv_node, 0), v_t = mf_node_input(pv_node, 1);
    const int16_t root = fuse_root(m, q_t);
    const mf_plan_t *r = &m->plan[root];
    if (qk->k != pv->n || m->plan[q_t].bytes != m->plan[o_t].bytes || m->plan[o_t].kind != MF_T_ARENA ||
        r->kind != MF_T_ARENA || r->first_use < 0 || fuse_root(m, k_t) == root || fuse_root(m, v_t) == root ||
        mf_group_last_use(m, root) > n2 || mf_in_list(m->inputs, m->n_inputs, o_t)) {
        return;
    }
    /* Aliases always name their root: O's own aliases move over with it. */
    for (int i = 0; i < m->n_tensors; i++) {
        mf_plan_t *t = &m->plan[i];
        if (t->kind == MF_T_ALIAS && t->alias_of == o_t) {
            t->alias_of = root;
        }
    }
    m->plan[o_t].kind = MF_T_ALIAS;
    m->plan[o_t].alias_of = root;
}

/* Same shape (the chain's elementwise steps keep S's shape). */
static bool fuse_same_dims(const mf_model_t *m, int16_t a, int16_t b) {
    return m->plan[a].bytes == m->plan[b].bytes;
}

/* The unfused node before `before` that writes t (t may be -1, absent), or -1. */
static int fuse_prev(const mf_model_t *m, int16_t t, int before) {
    const int p = t >= 0 ? fuse_producer(m, t) : -1;
    return (p >= 0 && p < before && !m->nodes[p].flags) ? p : -1;
}

/* Two inputs, both present. */
static bool fuse_binary(const mf_node_t *n) {
    return n->n_in == 2 && mf_node_input(n, 0) >= 0 && mf_node_input(n, 1) >= 0;
}

/* Tries to fuse the chain that ends at BATCH_MATMUL node n2. */
static mf_status_t fuse_attention_at(mf_ctx_t *ctx, int n2) {
    mf_model_t *m = ctx->m;
    mf_node_t *pv_node = &m->nodes[n2];
    if (pv_node->flags || pv_node->n_in != 2 || pv_node->n_out != 1) {
        return MF_OK;
    }
    /* P = SOFTMAX(X) */
    const int16_t p_t = mf_node_input(pv_node, 0);
    const int sm = fuse_prev(m, p_t, n2);
    if (sm < 0 || fuse_code(m, &m->nodes[sm]) != MF_CODE_SOFTMAX || m->nodes[sm].n_in != 1) {
        return MF_OK;
    }
    const int16_t x_t = mf_node_input(&m->nodes[sm], 0);
    int xp = fuse_prev(m, x_t, sm);
    if (xp < 0) {
        return MF_OK;
    }
    /* Optional X = MUL(S, c) or MUL(c, S) with c a constant scalar. */
    int mul = -1;
    int16_t s_t = x_t, c_t = -1;
    int scalar_first = 0;
    if (fuse_code(m, &m->nodes[xp]) == MF_CODE_MUL) {
#if MF_OP_ON(MUL)
        const mf_node_t *mn = &m->nodes[xp];
        if (!fuse_binary(mn) || mf_rows_mul(mn) == NULL) {
            return MF_OK;
        }
        for (int side = 0; side < 2 && c_t < 0; side++) {
            int16_t c = mf_node_input(mn, side);
            if (m->plan[fuse_root(m, c)].kind == MF_T_CONST && m->plan[c].bytes == 1) {
                c_t = c;
                s_t = mf_node_input(mn, 1 - side);
                scalar_first = side == 0;
            }
        }
        if (c_t < 0 || s_t == c_t) {
            return MF_OK;
        }
        mul = xp;
        xp = fuse_prev(m, s_t, mul);
        if (xp < 0) {
            return MF_OK;
        }
#else
        return MF_OK;
#endif /* MF_OP_ON(MUL) */
    }
    /* S = BATCH_MATMUL(Q, K) */
    const int n1 = xp;
    mf_node_t *qk_node = &m->nodes[n1];
    if (fuse_code(m, qk_node) != MF_CODE_BATCH_MATMUL || !fuse_binary(qk_node)) {
        return MF_OK;
    }
    const mf_bmm_params_t *qk = mf_rows_batch_matmul(qk_node);
    const mf_bmm_params_t *pv = mf_rows_batch_matmul(pv_node);
    const mf_k_softmax_params_t *smp = mf_rows_softmax(&m->nodes[sm]);
    /* Rows of S are rows of P: same batches, P read as stored, softmax over S's rows. */
    if (qk->adj_x || pv->adj_x || pv->m != qk->m || pv->k != qk->n) {
        return MF_OK;
    }
    for (int i = 0; i < 3; i++) {
        if (pv->batch[i] != qk->batch[i]) {
            return MF_OK;
        }
    }
    if (!fuse_same_dims(m, s_t, p_t) || (mul >= 0 && !fuse_same_dims(m, s_t, x_t))) {
        return MF_OK;
    }
    /* The tensors dropped (S owns its bytes; X and P may share S's or X's through the
     * in-place MUL / SOFTMAX), and the operands read later than before. */
    if (m->plan[s_t].kind != MF_T_ARENA ||
        (m->plan[x_t].kind == MF_T_ALIAS && m->plan[x_t].alias_of != s_t) ||
        (m->plan[p_t].kind == MF_T_ALIAS && m->plan[p_t].alias_of != s_t && m->plan[p_t].alias_of != x_t)) {
        return MF_OK;
    }
    const int16_t x_alias = mul >= 0 ? x_t : -1;
    if (!fuse_droppable(m, s_t, x_alias, p_t) || (mul >= 0 && !fuse_droppable(m, x_t, s_t, p_t)) ||
        !fuse_droppable(m, p_t, s_t, x_alias)) {
        return MF_OK;
    }
    const int16_t q_t = mf_node_input(qk_node, 0), k_t = mf_node_input(qk_node, 1);
    if (!fuse_extendable(m, q_t, n1) || !fuse_extendable(m, k_t, n1)) {
        return MF_OK;
    }

    /* Worth it only when the scores outweigh what the fused node adds (its parameters
     * and per-row scratch): a tiny attention stays as it is. Without the exp table
     * (few scores, see k_softmax.h) each row's exps go into the accumulators, which
     * are free between the two products. */
    const int use_table = mf_k_softmax_use_table(smp, (int32_t)m->plan[s_t].bytes);
    const uint32_t scratch = fuse_acc_bytes(qk, pv) + fuse_row_bytes(qk) +
        (use_table ? 4u * (uint32_t)mf_k_softmax_table_len(smp) : 0u);
    if (m->plan[s_t].bytes <= scratch + sizeof(mf_fused_attn_t)) {
        return MF_OK;
    }
    mf_fused_attn_t *fa = mf_alloc(ctx, sizeof(*fa));
    if (fa == NULL) {
        return MF_ERR_ARENA;
    }
#if MF_OP_ON(TRANSPOSE)
    /* V stored [K][N] makes each output a walk down a column of V, a byte at a time on
     * every core. When V is a TRANSPOSE's output that only this node reads, that
     * transpose writes V^T instead (its K x N bytes walked once per invoke rather than
     * K x N x M multiply-adds walked by column) and the outputs become dot products over
     * rows (the DSP and SSE2 paths): the same sums, so the same bytes. Done while
     * pv_node still holds its own parameters, once nothing can fail. */
    const int16_t v_t = mf_node_input(pv_node, 1);
    const int vp = fuse_prev(m, v_t, n2);
    if (!pv->adj_y && vp >= 0 && fuse_code(m, &m->nodes[vp]) == MF_CODE_TRANSPOSE &&
        fuse_droppable(m, v_t, -1, -1) && mf_rows_transpose_swap_last(&m->nodes[vp], pv->k, pv->n)) {
        mf_rows_batch_matmul_rhs_transposed(pv_node);
    }
#endif /* MF_OP_ON(TRANSPOSE) */
    fa->pv = pv;
    fa->qk_node = (int16_t)n1;
    fa->mul_node = (int16_t)mul;
    fa->softmax_node = (int16_t)sm;
    fa->scalar_first = (int8_t)scalar_first;
    fa->use_table = (int8_t)use_table;
    pv_node->params = fa;
    pv_node->flags = MF_NODE_FUSED;
    pv_node->scratch_bytes = scratch;
    const int skipped[3] = { n1, sm, mul };
    for (int i = 0; i < 3 && skipped[i] >= 0; i++) {
        m->nodes[skipped[i]].flags = MF_NODE_SKIP;
        m->nodes[skipped[i]].scratch_bytes = 0;
    }
    m->plan[s_t].kind = MF_T_FUSED;
    m->plan[x_t].kind = MF_T_FUSED;
    m->plan[p_t].kind = MF_T_FUSED;
    if (m->plan[q_t].last_use < n2) {
        m->plan[q_t].last_use = (int16_t)n2;
    }
    if (m->plan[k_t].last_use < n2) {
        m->plan[k_t].last_use = (int16_t)n2;
    }
    fuse_output_over_q(m, qk, pv, q_t, k_t, n2);
    return MF_OK;
}

mf_status_t mf_fuse(mf_ctx_t *ctx) {
    mf_model_t *m = ctx->m;
    for (int i = 0; i < m->n_nodes; i++) {
        ctx->node = i;
        if (fuse_code(m, &m->nodes[i]) == MF_CODE_BATCH_MATMUL) {
            mf_status_t st = fuse_attention_at(ctx, i);
            if (st != MF_OK) {
                return st;
            }
        }
    }
    return MF_OK;
}

void mf_fused_eval(mf_model_t *m, const mf_node_t *node) {
    const mf_fused_attn_t *fa = node->params;
    const mf_node_t *qk_node = &m->nodes[fa->qk_node];
    const mf_bmm_params_t *qk = mf_rows_batch_matmul(qk_node), *pv = fa->pv;
    const mf_k_softmax_params_t *sm = mf_rows_softmax(&m->nodes[fa->softmax_node]);
    const int8_t *q = (const int8_t *)mf_in_data(m, qk_node, 0);
    const int8_t *k = (const int8_t *)mf_in_data(m, qk_node, 1);
    const int8_t *v = (const int8_t *)mf_in_data(m, node, 1);
    int8_t *o = (int8_t *)mf_out_data(m, node, 0);
    int32_t *acc = (int32_t *)(void *)node->scratch;
    int8_t *row = (int8_t *)node->scratch + fuse_acc_bytes(qk, pv);
    int32_t *table = (int32_t *)(void *)(row + fuse_row_bytes(qk));
    const int32_t M = qk->m, N = qk->n, D = pv->n;
#if MF_OP_ON(MUL)
    /* The MUL's scalar against one row of scores, in the MUL's operand order. */
    const mf_k_binary_s8_t *mul = NULL;
    const int8_t *c = NULL;
    union {
        mf_k_bcast_t plan;
        uint8_t bytes[MF_K_BCAST_BYTES(1)];
    } row_plan;
    if (fa->mul_node >= 0) {
        const mf_node_t *mn = &m->nodes[fa->mul_node];
        const int32_t one = 1;
        mf_k_loop_t loops[MF_K_BCAST_MAX];
        const int nl = mf_k_bcast_loops(1, fa->scalar_first ? &one : &N, fa->scalar_first ? &N : &one, &N, loops);
        mf_k_bcast_fill(&row_plan.plan, nl, loops);
        mul = mf_rows_mul(mn);
        c = (const int8_t *)mf_in_data(m, mn, fa->scalar_first ? 0 : 1);
    }
#endif /* MF_OP_ON(MUL) */
    const size_t qmat = (size_t)M * (size_t)qk->k, kmat = (size_t)qk->k * (size_t)N, vmat = (size_t)N * (size_t)D;
    if (fa->use_table) {
        mf_k_softmax_reset(sm, table);
    }
    for (int32_t b0 = 0; b0 < qk->batch[0]; b0++) {
        for (int32_t b1 = 0; b1 < qk->batch[1]; b1++) {
            for (int32_t b2 = 0; b2 < qk->batch[2]; b2++) {
                const int8_t *qm = q + (size_t)(b0 * qk->lhs_step[0] + b1 * qk->lhs_step[1] + b2 * qk->lhs_step[2]) * qmat;
                const int8_t *km = k + (size_t)(b0 * qk->rhs_step[0] + b1 * qk->rhs_step[1] + b2 * qk->rhs_step[2]) * kmat;
                const int8_t *vm = v + (size_t)(b0 * pv->rhs_step[0] + b1 * pv->rhs_step[1] + b2 * pv->rhs_step[2]) * vmat;
                for (int32_t i = 0; i < M; i++, o += D) {
                    mf_k_batch_matmul_row(qk, qm + (size_t)i * (size_t)qk->k, km, row, acc);
#if MF_OP_ON(MUL)
                    if (mul) {
                        mf_k_binary_s8(mul, &row_plan.plan, fa->scalar_first ? c : row, fa->scalar_first ? row : c, row);
                    }
#endif /* MF_OP_ON(MUL) */
                    if (fa->use_table) {
                        mf_k_softmax_rows(row, row, 1, N, sm, table);
                    } else {
                        mf_k_softmax_row_exps(row, row, N, sm, acc);
                    }
                    mf_k_batch_matmul_row(pv, row, vm, o, acc);
                }
            }
        }
    }
}

#else

mf_status_t mf_fuse(mf_ctx_t *ctx) {
    return MF_OK;
}

void mf_fused_eval(mf_model_t *m, const mf_node_t *node) {
}

#endif /* MF_OP_ON(BATCH_MATMUL) && MF_OP_ON(SOFTMAX) */
