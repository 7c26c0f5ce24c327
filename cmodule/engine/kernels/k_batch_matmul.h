/*
 * Int8 BATCH_MATMUL kernel: out[b] = lhs[b] x rhs[b] with broadcast batch dims, as
 * TFLM's batch_matmul.cc with reference_ops::BatchMatMul<int8_t, int32_t>:
 *   acc = sum_k (lhs[m][k] - lhs_zp) * (rhs[k][n] - rhs_zp), one per-tensor multiplier.
 * Expanded, acc = dot(lhs row m, rhs column n) - rhs_zp * rowsum_m - lhs_zp * colsum_n
 * + K * lhs_zp * rhs_zp (equal modulo 2^32), so the inner loop is an int8 dot product
 * over two contiguous rows: lhs rows as stored (or transposed once per batch when
 * adj_x), rhs columns as stored when adj_y (QK^T), else transposed once per batch into
 * scratch, or once at load for a constant rhs.
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
    int32_t adj_x;        /* lhs stored [k][m] */
    int32_t adj_y;        /* rhs stored [n][k] */
    int32_t lhs_zp;
    int32_t rhs_zp;
    int32_t out_offset;
    mf_qm_t qm;
    /* Constant rhs, prepared at load: columns as rows [mat][n][k] (NULL when adj_y, the
     * stored rhs is already that) and fold[mat][n] = K*lhs_zp*rhs_zp - lhs_zp*colsum.
     * rhs_fold NULL means the rhs is an activation and both are built in scratch. */
    const int8_t *rhs_t;
    const int32_t *rhs_fold;
} mf_bmm_params_t;

/* Scratch bytes eval needs (0 when none). */
uint32_t mf_k_batch_matmul_scratch(const mf_bmm_params_t *p);

/* Fills rhs_t (when non-NULL) and fold for `mats` rhs matrices of the stored rhs. */
void mf_k_batch_matmul_prep_rhs(const mf_bmm_params_t *p, const int8_t *rhs, int32_t mats, int8_t *rhs_t, int32_t *fold);

/* scratch: 8-byte aligned, mf_k_batch_matmul_scratch(p) bytes. */
void mf_k_batch_matmul_s8(const mf_bmm_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out, uint8_t *scratch);

#endif /* MF_K_BATCH_MATMUL_H */
