/* Int8 BATCH_MATMUL kernel; see k_batch_matmul.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_BATCH_MATMUL

#include <stddef.h>

#include "kernels/k_batch_matmul.h"
#include "kernels/k_fully_connected.h"

/* dst[c][r] = src[r][c] for a rows x cols int8 matrix. */
static void bmm_transpose(const int8_t *src, int32_t rows, int32_t cols, int8_t *dst) {
    for (int32_t r = 0; r < rows; r++) {
        const int8_t *s = src + (size_t)r * (size_t)cols;
        int8_t *d = dst + r;
        for (int32_t c = 0; c < cols; c++) {
            d[(size_t)c * (size_t)rows] = s[c];
        }
    }
}

/* One rhs matrix: columns as contiguous rows (transposing into cols_out unless adj_y)
 * and the per-column fold. Returns the row-major [n][k] view. */
static const int8_t *bmm_rhs_matrix(const mf_bmm_params_t *p, const int8_t *rhs, int8_t *cols_out, int32_t *fold) {
    const int32_t n = p->n, k = p->k;
    const int8_t *cols = rhs;
    if (!p->adj_y) {
        bmm_transpose(rhs, k, n, cols_out);
        cols = cols_out;
    }
    const uint32_t kzz = (uint32_t)k * (uint32_t)p->lhs_zp * (uint32_t)p->rhs_zp;
    for (int32_t j = 0; j < n; j++) {
        uint32_t s = (uint32_t)mf_sum_s8(cols + (size_t)j * (size_t)k, k);
        fold[j] = (int32_t)(kzz - (uint32_t)p->lhs_zp * s);
    }
    return cols;
}

uint32_t mf_k_batch_matmul_scratch(const mf_bmm_params_t *p) {
    uint32_t bytes = 0;
    if (!p->rhs_fold) {
        bytes += 4u * (uint32_t)p->n;
        if (!p->adj_y) {
            bytes += (uint32_t)p->n * (uint32_t)p->k;
        }
    }
    if (p->adj_x) {
        bytes = (bytes + 7u) & ~7u;
        bytes += (uint32_t)p->m * (uint32_t)p->k;
    }
    return bytes;
}

void mf_k_batch_matmul_prep_rhs(const mf_bmm_params_t *p, const int8_t *rhs, int32_t mats, int8_t *rhs_t, int32_t *fold) {
    const size_t mat = (size_t)p->n * (size_t)p->k;
    for (int32_t i = 0; i < mats; i++) {
        bmm_rhs_matrix(p, rhs + (size_t)i * mat, rhs_t ? rhs_t + (size_t)i * mat : NULL, fold + (size_t)i * (size_t)p->n);
    }
}

void mf_k_batch_matmul_s8(const mf_bmm_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out, uint8_t *scratch) {
    const int32_t M = p->m, N = p->n, K = p->k;
    const size_t lmat = (size_t)M * (size_t)K;
    const size_t rmat = (size_t)K * (size_t)N;
    /* Scratch layout (see mf_k_batch_matmul_scratch): fold[N], rhs columns, lhs rows. */
    uint8_t *s = scratch;
    int32_t *fold_buf = NULL;
    int8_t *cols_buf = NULL;
    int8_t *rows_buf = NULL;
    if (!p->rhs_fold) {
        fold_buf = (int32_t *)(void *)s;
        s += 4u * (uint32_t)N;
        if (!p->adj_y) {
            cols_buf = (int8_t *)s;
            s += (size_t)N * (size_t)K;
        }
    }
    if (p->adj_x) {
        s = scratch + (((size_t)(s - scratch) + 7u) & ~(size_t)7u);
        rows_buf = (int8_t *)s;
    }
    const int32_t neg_rzp = -p->rhs_zp;
    int32_t last_l = -1, last_r = -1;
    const int8_t *rows = NULL, *cols = NULL;
    const int32_t *fold = NULL;
    int8_t *o = out;
    for (int32_t b0 = 0; b0 < p->batch[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batch[1]; b1++) {
            for (int32_t b2 = 0; b2 < p->batch[2]; b2++) {
                int32_t li = b0 * p->lhs_step[0] + b1 * p->lhs_step[1] + b2 * p->lhs_step[2];
                int32_t ri = b0 * p->rhs_step[0] + b1 * p->rhs_step[1] + b2 * p->rhs_step[2];
                /* Broadcast operands are prepared once, not once per output batch. */
                if (li != last_l) {
                    const int8_t *a = lhs + (size_t)li * lmat;
                    if (p->adj_x) {
                        bmm_transpose(a, K, M, rows_buf);
                        rows = rows_buf;
                    } else {
                        rows = a;
                    }
                    last_l = li;
                }
                if (ri != last_r) {
                    if (p->rhs_fold) {
                        cols = p->adj_y ? rhs + (size_t)ri * rmat : p->rhs_t + (size_t)ri * rmat;
                        fold = p->rhs_fold + (size_t)ri * (size_t)N;
                    } else {
                        cols = bmm_rhs_matrix(p, rhs + (size_t)ri * rmat, cols_buf, fold_buf);
                        fold = fold_buf;
                    }
                    last_r = ri;
                }
                for (int32_t i = 0; i < M; i++, o += N) {
                    const int8_t *row = rows + (size_t)i * (size_t)K;
                    const uint32_t rbase = (uint32_t)neg_rzp * (uint32_t)mf_sum_s8(row, K);
                    int32_t j = 0;
                    for (; j + 4 <= N; j += 4) {
                        int32_t d[4];
                        mf_dot4_s8(row, cols + (size_t)j * (size_t)K, (size_t)K, K, d);
                        for (int r = 0; r < 4; r++) {
                            int32_t acc = (int32_t)((uint32_t)d[r] + rbase + (uint32_t)fold[j + r]);
                            o[j + r] = mf_requant_s8(acc, p->qm, p->out_offset, -128, 127);
                        }
                    }
                    for (; j < N; j++) {
                        int32_t acc = (int32_t)((uint32_t)mf_dot_s8(row, cols + (size_t)j * (size_t)K, K) + rbase +
                            (uint32_t)fold[j]);
                        o[j] = mf_requant_s8(acc, p->qm, p->out_offset, -128, 127);
                    }
                }
            }
        }
    }
}

#endif /* MF_OP_BATCH_MATMUL */
