/*
 * Operator fusion: the interface between the fusion pass (mf_fuse.c) and the ops whose
 * nodes it runs row by row inside a fused chain. Each such op implements its function
 * below in its own file (prepare has already computed what the rows need); mf_fuse.c
 * reads nodes only through these and the loader's tables, and no op file knows about
 * fusion beyond implementing its entry.
 *
 * The attention chain (see mf_fuse.c): S = BATCH_MATMUL(Q, K) -> [MUL(S, c)] ->
 * SOFTMAX -> BATCH_MATMUL(P, V), fused at the last node.
 */
#ifndef MF_FUSE_H
#define MF_FUSE_H

#include "mf_internal.h"
#include "kernels/k_batch_matmul.h"
#include "kernels/k_elementwise.h"
#include "kernels/k_softmax.h"

/* ---- implemented by the ops (their prepared node's kernel parameters) */

/* ops/op_batch_matmul.c: a prepared BATCH_MATMUL's parameters (one output row at a time:
 * mf_k_batch_matmul_row). */
const mf_bmm_params_t *mf_rows_batch_matmul(const mf_node_t *node);
/* ops/op_softmax.c: a prepared SOFTMAX's parameters (mf_k_softmax_rows / _row_exps). */
const mf_k_softmax_params_t *mf_rows_softmax(const mf_node_t *node);
/* ops/op_elementwise.c: a prepared int8 MUL's parameters (mf_k_binary_s8 with a one-row
 * plan), NULL for a float32 MUL, which cannot join. */
const mf_k_binary_s8_t *mf_rows_mul(const mf_node_t *node);

/* ops/op_batch_matmul.c: the rhs of a prepared BATCH_MATMUL that read it as stored
 * ([K][N], adj_y false) now arrives transposed ([N][K]): its rows are read instead. */
void mf_rows_batch_matmul_rhs_transposed(mf_node_t *node);
/* ops/op_shape.c: a prepared TRANSPOSE whose output ends in axes [rows][cols] writes
 * them as [cols][rows] instead (each rows x cols block transposed); false, and nothing
 * changed, when its plan does not end in those two axes (or it is a plain copy). */
bool mf_rows_transpose_swap_last(mf_node_t *node, int32_t rows, int32_t cols);

/* ---- the pass (mf_fuse.c), for the loader and the runtime */

/* Runs after every node is prepared and before planning: rewrites node flags/params,
 * tensor kinds and lifetimes in the plan; fails only when the arena is too small for its
 * parameters. */
mf_status_t mf_fuse(mf_ctx_t *ctx);
/* Eval of a node with MF_NODE_FUSED. */
void mf_fused_eval(mf_model_t *m, const mf_node_t *node);

#endif /* MF_FUSE_H */
