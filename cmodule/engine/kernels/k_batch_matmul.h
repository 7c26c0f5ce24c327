/*
 * Int8 BATCH_MATMUL kernel: out[b] = lhs[b] x rhs[b] with broadcast batch dims, as
 * TFLM's batch_matmul.cc with reference_ops::BatchMatMul<int8_t, int32_t>:
 *   acc = sum_k (lhs[m][k] - lhs_zp) * (rhs[k][n] - rhs_zp), one per-tensor multiplier.
 * Expanded, acc = sum_k (lhs[m][k] - lhs_zp) * rhs[k][n] - rhs_zp * sum_k (lhs[m][k] - lhs_zp)
 * (equal modulo 2^32; the first sum is exact in int32 for K <= MF_K_MAX_DEPTH), so the
 * work is one int8 product per multiply-add with the lhs offset applied inside it and
 * one row sum per output row; nothing per column is precomputed or stored.
 *
 * The output is produced one row at a time (mf_k_batch_matmul_row) from the rhs matrix
 * as stored, four outputs per pass over the lhs row (mf_dot4s_s8): each output is the
 * dot product of the row with a row of rhs when adj_y (rhs stored [n][k], e.g. K in
 * Q.K^T), else with a column of it (rhs stored [k][n]), so no rhs is ever transposed
 * into RAM. x86-64 hosts accumulate the [k][n] case as sum_k a_k * rhs row k into N
 * int32 of scratch instead (SSE2, sixteen columns per step). The fused attention in
 * mf_fuse.c calls the same row function.
 */
#ifndef MF_K_BATCH_MATMUL_H
#define MF_K_BATCH_MATMUL_H

#include <stdint.h>

#include "mf_quant.h"

typedef struct {
    int32_t batch[3];     /* output batch dims, extended to 3 with leading 1s */
    int32_t lhs_step[3];  /* matrices to advance lhs per batch index (0: broadcast) */
    int32_t rhs_step[3];
    int32_t m, n, k;      /* output rows, output cols, accumulation depth */
    int32_t adj_x;        /* nonzero: lhs stored [k][m] */
    int32_t adj_y;        /* nonzero: rhs stored [n][k] */
    int32_t lhs_zp;
    int32_t rhs_zp;
    int32_t out_offset;
    mf_qm_t qm;
} mf_bmm_params_t;

/* Scratch bytes eval needs (0 when none): N int32 accumulators unless adj_y (the SSE2
 * host path's; reserved on every build so that a model needs the same arena on the host
 * and on the board), then K bytes for a gathered lhs row when adj_x. */
static inline uint32_t mf_k_batch_matmul_scratch(const mf_bmm_params_t *p) {
    return (p->adj_y ? 0u : 4u * (uint32_t)p->n) + (p->adj_x ? (uint32_t)p->k : 0u);
}

/* One output row of one batch: out[j] = requant(sum_k (row[k] - lhs_zp) * (rhs[k][j] -
 * rhs_zp)) for j < N, with row contiguous (K bytes) and rhs one stored matrix ([K][N],
 * or [N][K] when adj_y). acc: N int32 (used by SSE2 builds unless adj_y). out may not
 * overlap row or rhs. */
void mf_k_batch_matmul_row(const mf_bmm_params_t *p, const int8_t *row, const int8_t *rhs, int8_t *out,
    int32_t *acc);

/* scratch: 8-byte aligned, mf_k_batch_matmul_scratch(p) bytes. */
void mf_k_batch_matmul_s8(const mf_bmm_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out, uint8_t *scratch);

#endif /* MF_K_BATCH_MATMUL_H */
