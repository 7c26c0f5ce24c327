/* Int8 BATCH_MATMUL kernel; see k_batch_matmul.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_ON(BATCH_MATMUL)

#include <stddef.h>
#include <string.h>

#include "kernels/k_batch_matmul.h"
#include "kernels/k_fully_connected.h"

#if defined(__SSE2__)
/* acc[j] = sum_k (a[k] + a_off) * b[k * n + j] for j < n, k < depth. Every partial sum
 * is bounded by depth * 255 * 128 < 2^31 (depth <= MF_K_MAX_DEPTH). On x86-64 hosts this
 * beats dot products over four rhs columns (what Cortex-M runs, see below): sixteen
 * columns per step. */
static void bmm_axpy_rows(const int8_t *a, int32_t a_off, const int8_t *b, int32_t depth, int32_t n, int32_t *acc) {
    memset(acc, 0, sizeof(int32_t) * (size_t)n);
    int32_t k = 0;
    /* Two rows of b at a time: their bytes interleaved and sign-extended make int16
     * pairs (b[k][j], b[k+1][j]) that pmaddwd multiplies with (a_k, a_k+1) and adds. */
    for (; k + 2 <= depth; k += 2) {
        const int32_t c0 = a[k] + a_off, c1 = a[k + 1] + a_off;
        const __m128i coef = _mm_set1_epi32((int32_t)(((uint32_t)(uint16_t)c1 << 16) | (uint16_t)c0));
        const int8_t *r0 = b + (size_t)k * (size_t)n, *r1 = r0 + n;
        int32_t j = 0;
        for (; j + 16 <= n; j += 16) {
            const __m128i x0 = _mm_loadu_si128((const __m128i *)(const void *)(r0 + j));
            const __m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(r1 + j));
            const __m128i lo = _mm_unpacklo_epi8(x0, x1), hi = _mm_unpackhi_epi8(x0, x1);
            __m128i *d = (__m128i *)(void *)(acc + j);
            _mm_storeu_si128(d, _mm_add_epi32(_mm_loadu_si128(d), _mm_madd_epi16(mf_widen_lo_s8(lo), coef)));
            _mm_storeu_si128(d + 1, _mm_add_epi32(_mm_loadu_si128(d + 1), _mm_madd_epi16(mf_widen_hi_s8(lo), coef)));
            _mm_storeu_si128(d + 2, _mm_add_epi32(_mm_loadu_si128(d + 2), _mm_madd_epi16(mf_widen_lo_s8(hi), coef)));
            _mm_storeu_si128(d + 3, _mm_add_epi32(_mm_loadu_si128(d + 3), _mm_madd_epi16(mf_widen_hi_s8(hi), coef)));
        }
        if (j + 8 <= n) {
            const __m128i lo = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(const void *)(r0 + j)),
                _mm_loadl_epi64((const __m128i *)(const void *)(r1 + j)));
            __m128i *d = (__m128i *)(void *)(acc + j);
            _mm_storeu_si128(d, _mm_add_epi32(_mm_loadu_si128(d), _mm_madd_epi16(mf_widen_lo_s8(lo), coef)));
            _mm_storeu_si128(d + 1, _mm_add_epi32(_mm_loadu_si128(d + 1), _mm_madd_epi16(mf_widen_hi_s8(lo), coef)));
            j += 8;
        }
        for (; j < n; j++) {
            acc[j] += c0 * r0[j] + c1 * r1[j];
        }
    }
    for (; k < depth; k++) {
        const int32_t c = a[k] + a_off;
        const int8_t *r = b + (size_t)k * (size_t)n;
        for (int32_t j = 0; j < n; j++) {
            acc[j] += c * r[j];
        }
    }
}
#endif /* __SSE2__ */

#if MF_K_MVE_RQ
/* out[i] = requant(acc[i] + rbase) for the lanes of p: the bias term added modulo 2^32
 * (VADD wraps like the uint32 sum), then the output multiplier, offset and int8 range. */
static MF_ALWAYS_INLINE void bmm_out4_mve(int32x4_t acc, uint32_t rbase, const mf_qmx_t *q, int32_t out_offset,
    int8_t *out, mve_pred16_t p) {
    const int32x4_t v = mf_mve_mul_by_qmx(vaddq_n_s32(acc, (int32_t)rbase), q);
    vstrbq_p_s32(out, mf_mve_out_s8(v, out_offset, -128, 127), p);
}

/* out[j] = requant(sum_k (a[k] + a_off) * b[k * n + j] + rbase) for j < n: rhs stored
 * [k][n], read a row at a time. Sixteen columns per pass, their int32 sums in four
 * vectors: per k one scalar (a[k] + a_off, exact) times four loads of four int8 widened
 * to int32 (VLDRB.S32), VMLA adds the products lane by lane; the partial sums are bounded
 * by depth * 255 * 128 < 2^31. The last block's columns past n are predicated off
 * (nothing read, nothing stored). A dot product per column would have to gather bytes n
 * apart, which MVE loads one byte per beat. */
static void bmm_cols_mve(const int8_t *a, int32_t a_off, const int8_t *b, int32_t depth, int32_t n,
    uint32_t rbase, const mf_qmx_t *q, int32_t out_offset, int8_t *out) {
    for (int32_t j = 0; j < n; j += 16) {
        const int32_t left = n - j;
        const mve_pred16_t p0 = vctp32q((uint32_t)left);
        const mve_pred16_t p1 = vctp32q(left > 4 ? (uint32_t)(left - 4) : 0u);
        const mve_pred16_t p2 = vctp32q(left > 8 ? (uint32_t)(left - 8) : 0u);
        const mve_pred16_t p3 = vctp32q(left > 12 ? (uint32_t)(left - 12) : 0u);
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
        const int8_t *r = b + j;
        for (int32_t k = 0; k < depth; k++, r += n) {
            const int32_t c = a[k] + a_off;
            s0 = vmlaq_n_s32(s0, vldrbq_z_s32(r, p0), c);
            s1 = vmlaq_n_s32(s1, vldrbq_z_s32(r + 4, p1), c);
            s2 = vmlaq_n_s32(s2, vldrbq_z_s32(r + 8, p2), c);
            s3 = vmlaq_n_s32(s3, vldrbq_z_s32(r + 12, p3), c);
        }
        bmm_out4_mve(s0, rbase, q, out_offset, out + j, p0);
        bmm_out4_mve(s1, rbase, q, out_offset, out + j + 4, p1);
        bmm_out4_mve(s2, rbase, q, out_offset, out + j + 8, p2);
        bmm_out4_mve(s3, rbase, q, out_offset, out + j + 12, p3);
    }
}

/* The same with rhs stored [n][k] (adj_y): output j is the dot product of a with rhs row
 * j, four rows per mf_mve_dot_rows_s8, requantized four at a time. */
static void bmm_rows_mve(const int8_t *a, int32_t a_off, const int8_t *b, int32_t depth, int32_t n,
    uint32_t rbase, const mf_qmx_t *q, int32_t out_offset, int8_t *out) {
    for (int32_t j = 0; j < n; j += 4) {
        const int32_t nj = n - j < 4 ? n - j : 4;
        bmm_out4_mve(mf_mve_dot_rows_s8(a, a_off, b + (size_t)j * (size_t)depth, (size_t)depth, depth, nj), rbase,
            q, out_offset, out + j, vctp32q((uint32_t)nj));
    }
}
#endif /* MF_K_MVE_RQ */

void mf_k_batch_matmul_row(const mf_bmm_params_t *p, const int8_t *row, const int8_t *rhs, int8_t *out,
    int32_t *acc) {
    const int32_t N = p->n, K = p->k;
    const int32_t off = -p->lhs_zp;
    const mf_qmx_t q = mf_qmx(p->qm);
    /* -rhs_zp * sum_k (row[k] - lhs_zp): |sum| <= K * 255 fits int32; product wraps. */
    const uint32_t rbase = (uint32_t)(-p->rhs_zp) * (uint32_t)(mf_sum_s8(row, K) + K * off);
#if defined(__SSE2__)
    if (!p->adj_y) {
        bmm_axpy_rows(row, off, rhs, K, N, acc);
        for (int32_t j = 0; j < N; j++) {
            out[j] = mf_requant_qmx_s8((int32_t)((uint32_t)acc[j] + rbase), &q, p->out_offset, -128, 127);
        }
        return;
    }
#else
    (void)acc;
#if MF_K_MVE_RQ
    if (p->adj_y) {
        bmm_rows_mve(row, off, rhs, K, N, rbase, &q, p->out_offset, out);
    } else {
        bmm_cols_mve(row, off, rhs, K, N, rbase, &q, p->out_offset, out);
    }
    return;
#endif /* MF_K_MVE_RQ */
#endif /* __SSE2__ */
    /* Output j reads rhs[j * js + k * ks]: a row of rhs when adj_y, else a column. */
    const size_t js = p->adj_y ? (size_t)K : 1, ks = p->adj_y ? 1 : (size_t)N;
    for (int32_t j = 0; j < N;) {
        int32_t nj = 4;
        size_t stride = js;
        if (N - j < 4) {
            if (N >= 4) {
                /* The last block ends at N: it recomputes (and rewrites) a few outputs. */
                j = N - 4;
            } else {
                /* Fewer than four outputs: one per pass, the four sums over the same
                 * operand (stride 0), so nothing past the matrix is read. */
                nj = 1;
                stride = 0;
            }
        }
        int32_t d[4];
        mf_dot4s_s8(row, off, rhs + (size_t)j * js, stride, ks, K, d);
        for (int32_t r = 0; r < nj; r++) {
            out[j + r] = mf_requant_qmx_s8((int32_t)((uint32_t)d[r] + rbase), &q, p->out_offset, -128, 127);
        }
        j += nj;
    }
}

void mf_k_batch_matmul_s8(const mf_bmm_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out, uint8_t *scratch) {
    const int32_t M = p->m, N = p->n, K = p->k;
    const size_t lmat = (size_t)M * (size_t)K;
    const size_t rmat = (size_t)K * (size_t)N;
    /* Scratch layout (see mf_k_batch_matmul_scratch): accumulators, gathered lhs row. */
    int32_t *acc = (int32_t *)(void *)scratch;
    int8_t *row_buf = (int8_t *)scratch + (p->adj_y ? 0 : 4 * (size_t)N);
    int8_t *o = out;
    for (int32_t b0 = 0; b0 < p->batch[0]; b0++) {
        for (int32_t b1 = 0; b1 < p->batch[1]; b1++) {
            for (int32_t b2 = 0; b2 < p->batch[2]; b2++) {
                const int32_t li = b0 * p->lhs_step[0] + b1 * p->lhs_step[1] + b2 * p->lhs_step[2];
                const int32_t ri = b0 * p->rhs_step[0] + b1 * p->rhs_step[1] + b2 * p->rhs_step[2];
                const int8_t *a = lhs + (size_t)li * lmat;
                const int8_t *r = rhs + (size_t)ri * rmat;
                for (int32_t i = 0; i < M; i++, o += N) {
                    const int8_t *row = a + (size_t)i * (size_t)K;
                    if (p->adj_x) {
                        /* lhs stored [K][M]: row i is column i. */
                        for (int32_t k = 0; k < K; k++) {
                            row_buf[k] = a[(size_t)k * (size_t)M + (size_t)i];
                        }
                        row = row_buf;
                    }
                    mf_k_batch_matmul_row(p, row, r, o, acc);
                }
            }
        }
    }
}

#endif /* MF_OP_ON(BATCH_MATMUL) */
