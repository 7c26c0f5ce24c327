/*
 * Int8 matrix-vector kernels: FULLY_CONNECTED, plus the int8 dot product and the
 * requantization step that BATCH_MATMUL and CONV_2D share.
 *
 * Arithmetic equals TFLM's reference_integer_ops::FullyConnected(PerChannel): the
 * accumulator is sum(w * (x + input_offset)) + bias, wrapping in 32 bits. The loader
 * folds bias + input_offset * sum(w) into one int32 per output channel (the sums are
 * equal modulo 2^32), so the inner loop is a plain int8 dot product.
 */
#ifndef MF_K_FULLY_CONNECTED_H
#define MF_K_FULLY_CONNECTED_H

#include <stddef.h>
#include <stdint.h>

#include "mf_quant.h"

/* Longest reduction the int8 kernels accept: |sum of a*b| <= 2^14 * 2^16 = 2^30 fits an
 * int32 with room for the folded zero-point terms (added in uint32, wrapping). */
#define MF_K_MAX_DEPTH 65536

/*
 * Dot products: sum(a[i] * b[i]) for i < n, n <= MF_K_MAX_DEPTH.
 *
 * mf_dot4_s8 computes four at once (one x row against four weight rows `stride` apart),
 * so every load and widening of x is shared: the kernels walk their output channels four
 * at a time. With SSE2 (every x86-64 host build) the body is explicit: a baseline x86-64
 * compiler cannot multiply int8 vectors directly and its auto-vectorized code was no
 * faster than TFLM's reference loop; sign-extending to int16 and using pmaddwd halves
 * the time of a whole transformer. Elsewhere (Cortex-M) plain C with independent
 * accumulators keeps everything in registers.
 */
#if defined(__SSE2__)
#include <emmintrin.h>

static inline __m128i mf_widen_lo_s8(__m128i v) {
    return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8);
}
static inline __m128i mf_widen_hi_s8(__m128i v) {
    return _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8);
}
static inline int32_t mf_hsum_s32(__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
    return _mm_cvtsi128_si32(v);
}
#endif /* __SSE2__ */

static inline int32_t mf_dot_s8(const int8_t *a, const int8_t *b, int32_t n) {
    int32_t i = 0;
    int32_t acc = 0;
#if defined(__SSE2__)
    __m128i va = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        va = _mm_add_epi32(va, _mm_madd_epi16(mf_widen_lo_s8(x), mf_widen_lo_s8(y)));
        va = _mm_add_epi32(va, _mm_madd_epi16(mf_widen_hi_s8(x), mf_widen_hi_s8(y)));
    }
    if (i + 8 <= n) {
        __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)(a + i));
        __m128i y = _mm_loadl_epi64((const __m128i *)(const void *)(b + i));
        va = _mm_add_epi32(va, _mm_madd_epi16(mf_widen_lo_s8(x), mf_widen_lo_s8(y)));
        i += 8;
    }
    acc = mf_hsum_s32(va);
#else
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (int32_t)a[i] * b[i];
        s1 += (int32_t)a[i + 1] * b[i + 1];
        s2 += (int32_t)a[i + 2] * b[i + 2];
        s3 += (int32_t)a[i + 3] * b[i + 3];
    }
    acc = (s0 + s1) + (s2 + s3);
#endif /* __SSE2__ */
    for (; i < n; i++) {
        acc += (int32_t)a[i] * b[i];
    }
    return acc;
}

/* out[r] = dot(x, w + r * stride), r < 4. */
static inline void mf_dot4_s8(const int8_t *x, const int8_t *w, size_t stride, int32_t n, int32_t out[4]) {
    const int8_t *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
    int32_t i = 0;
    int32_t s0, s1, s2, s3;
#if defined(__SSE2__)
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        __m128i lo = mf_widen_lo_s8(v), hi = mf_widen_hi_s8(v);
        __m128i q;
        q = _mm_loadu_si128((const __m128i *)(const void *)(w0 + i));
        a0 = _mm_add_epi32(a0, _mm_add_epi32(_mm_madd_epi16(lo, mf_widen_lo_s8(q)), _mm_madd_epi16(hi, mf_widen_hi_s8(q))));
        q = _mm_loadu_si128((const __m128i *)(const void *)(w1 + i));
        a1 = _mm_add_epi32(a1, _mm_add_epi32(_mm_madd_epi16(lo, mf_widen_lo_s8(q)), _mm_madd_epi16(hi, mf_widen_hi_s8(q))));
        q = _mm_loadu_si128((const __m128i *)(const void *)(w2 + i));
        a2 = _mm_add_epi32(a2, _mm_add_epi32(_mm_madd_epi16(lo, mf_widen_lo_s8(q)), _mm_madd_epi16(hi, mf_widen_hi_s8(q))));
        q = _mm_loadu_si128((const __m128i *)(const void *)(w3 + i));
        a3 = _mm_add_epi32(a3, _mm_add_epi32(_mm_madd_epi16(lo, mf_widen_lo_s8(q)), _mm_madd_epi16(hi, mf_widen_hi_s8(q))));
    }
    if (i + 8 <= n) {
        __m128i lo = mf_widen_lo_s8(_mm_loadl_epi64((const __m128i *)(const void *)(x + i)));
        a0 = _mm_add_epi32(a0, _mm_madd_epi16(lo, mf_widen_lo_s8(_mm_loadl_epi64((const __m128i *)(const void *)(w0 + i)))));
        a1 = _mm_add_epi32(a1, _mm_madd_epi16(lo, mf_widen_lo_s8(_mm_loadl_epi64((const __m128i *)(const void *)(w1 + i)))));
        a2 = _mm_add_epi32(a2, _mm_madd_epi16(lo, mf_widen_lo_s8(_mm_loadl_epi64((const __m128i *)(const void *)(w2 + i)))));
        a3 = _mm_add_epi32(a3, _mm_madd_epi16(lo, mf_widen_lo_s8(_mm_loadl_epi64((const __m128i *)(const void *)(w3 + i)))));
        i += 8;
    }
    s0 = mf_hsum_s32(a0);
    s1 = mf_hsum_s32(a1);
    s2 = mf_hsum_s32(a2);
    s3 = mf_hsum_s32(a3);
#else
    s0 = s1 = s2 = s3 = 0;
#endif /* __SSE2__ */
    for (; i < n; i++) {
        const int32_t v = x[i];
        s0 += v * w0[i];
        s1 += v * w1[i];
        s2 += v * w2[i];
        s3 += v * w3[i];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

/* sum(a[i]) for i < n (row sums for zero-point folding). */
static inline int32_t mf_sum_s8(const int8_t *a, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += a[i];
    }
    return acc;
}

/* Accumulator -> int8 output: MultiplyByQuantizedMultiplier, + output offset, clamp. */
static inline int8_t mf_requant_s8(int32_t acc, mf_qm_t qm, int32_t out_offset, int32_t act_min, int32_t act_max) {
    int32_t v = mf_mul_by_qm(acc, qm.multiplier, qm.shift) + out_offset;
    return (int8_t)mf_clamp(v, act_min, act_max);
}

typedef struct {
    int32_t batches;      /* rows of input/output (all leading dims) */
    int32_t depth;        /* accumulation depth: input row length, filter row length */
    int32_t units;        /* output row length, filter rows */
    int32_t out_offset;   /* output zero point */
    int32_t act_min;
    int32_t act_max;
    int32_t per_channel;  /* qm has `units` entries, else 1 */
    const mf_qm_t *qm;
    const int32_t *fold;  /* per unit: bias + input_offset * sum(w), wrapped to int32 */
} mf_fc_params_t;

/* out[b][u] = requant(dot(in[b], w[u]) + fold[u]) */
void mf_k_fully_connected_s8(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, int8_t *out);

#endif /* MF_K_FULLY_CONNECTED_H */
