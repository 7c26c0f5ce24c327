/*
 * Int8 matrix-vector kernels: FULLY_CONNECTED, plus the int8 dot products and the
 * requantization step that BATCH_MATMUL and CONV_2D share.
 *
 * Arithmetic equals TFLM's reference_integer_ops::FullyConnected(PerChannel): the
 * accumulator is sum(w * (x + input_offset)) + bias, wrapping in 32 bits. The dot
 * products take the input offset themselves: x + input_offset is in [-255, 255], so it
 * is an int16 like the sign-extended int8 it replaces and the inner loop costs the
 * same, while nothing per output channel (no folded sums) has to be kept in RAM.
 */
#ifndef MF_K_FULLY_CONNECTED_H
#define MF_K_FULLY_CONNECTED_H

#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"
#include "mf_quant.h"
#include "kernels/k_mve.h"

/* Longest reduction the int8 kernels accept: |sum of (x + off) * w| <= 2^16 * 255 * 128
 * < 2^31, so every partial sum is an exact int32 (no wrap-around, hence no undefined
 * behaviour); the bias and other zero-point terms are added in uint32 (wrapping, like
 * the reference's int32 sums). */
#define MF_K_MAX_DEPTH 65536

/*
 * Dot products: sum((x[i] + x_off) * w[i]) for i < n, n <= MF_K_MAX_DEPTH, x_off in
 * [-255 - min(x), 255 - max(x)] (an input offset -zero_point, or 0).
 *
 * mf_dot4_s8 computes four at once (one x row against four weight rows `stride` apart),
 * so every load, widening and offset of x is shared: the kernels walk their output
 * channels four at a time; mf_dot4s_s8 is the same with a step between the elements of
 * a weight row (BATCH_MATMUL walks rhs columns with it). With SSE2 (every x86-64 host
 * build) the body is explicit: a baseline x86-64 compiler cannot multiply int8 vectors
 * directly and its auto-vectorized code was no faster than TFLM's reference loop;
 * sign-extending to int16 and using pmaddwd halves the time of a whole transformer.
 * Cortex-M cores with Helium take the MVE bodies of k_mve.h (sixteen MACs per
 * instruction), ARMv7E-M ones the DSP code below; elsewhere plain C with independent
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

/*
 * ARMv7E-M DSP (Cortex-M4/M7/M33): a word of four int8 is split into its even bytes
 * (0, 2) and odd bytes (1, 3) as two int16 pairs (SXTB16, the odd ones through the
 * instruction's ROR #8), SXTAB16 adds the input offset to both lanes while it
 * sign-extends (x + off is in [-255, 255], an exact int16), and SMLAD multiplies two
 * lanes and adds both products to an int32: four MACs in six instructions per weight
 * row (load, two extends, two SMLAD) instead of four. The even lanes of x meet the even
 * lanes of w, so no lane reordering is needed. Every partial sum stays below 2^31 in
 * magnitude (MF_K_MAX_DEPTH), so SMLAD never wraps and the sums equal the C loop's.
 * Guarded by __ARM_FEATURE_SIMD32 too: ARMv5TE defines __ARM_FEATURE_DSP but has no
 * SXTB16/SMLAD.
 */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#include <string.h>

/* Four bytes from any address (Cortex-M4/M7/M33 LDR accepts unaligned addresses). */
static inline int32_t mf_ld4_s8(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* Odd bytes 1 and 3 of v, sign-extended to two int16 lanes. */
static inline int32_t mf_sxtb16_odd(int32_t v) {
    int32_t r;
    __asm__ ("sxtb16 %0, %1, ror #8" : "=r" (r) : "r" (v));
    return r;
}
/* a + odd bytes of v, lane by lane (16-bit lanes). */
static inline int32_t mf_sxtab16_odd(int32_t a, int32_t v) {
    int32_t r;
    __asm__ ("sxtab16 %0, %1, %2, ror #8" : "=r" (r) : "r" (a), "r" (v));
    return r;
}
/* x_off in both 16-bit lanes. */
static inline int32_t mf_pair16(int32_t v) {
    return (int32_t)(((uint32_t)v << 16) | ((uint32_t)v & 0xFFFFu));
}
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */

static inline int32_t mf_dot_s8(const int8_t *x, int32_t x_off, const int8_t *w, int32_t n) {
#if MF_K_MVE
    return mf_mve_dot_s8(x, x_off, w, n);
#else
    int32_t acc = 0;
#if defined(__SSE2__)
    int32_t i = 0;
    const __m128i off = _mm_set1_epi16((int16_t)x_off);
    __m128i va = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(w + i));
        va = _mm_add_epi32(va, _mm_madd_epi16(_mm_add_epi16(mf_widen_lo_s8(a), off), mf_widen_lo_s8(b)));
        va = _mm_add_epi32(va, _mm_madd_epi16(_mm_add_epi16(mf_widen_hi_s8(a), off), mf_widen_hi_s8(b)));
    }
    if (i + 8 <= n) {
        __m128i a = _mm_loadl_epi64((const __m128i *)(const void *)(x + i));
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(w + i));
        va = _mm_add_epi32(va, _mm_madd_epi16(_mm_add_epi16(mf_widen_lo_s8(a), off), mf_widen_lo_s8(b)));
        i += 8;
    }
    acc = mf_hsum_s32(va);
    x += i;
    w += i;
    n -= i;
#endif /* __SSE2__ */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    if (n >= 4) {
        const int32_t off2 = mf_pair16(x_off);
        const int8_t *end = x + (n & ~3);
        do {
            const int32_t xv = mf_ld4_s8(x), wv = mf_ld4_s8(w);
            acc = __smlad(__sxtab16(off2, xv), __sxtb16(wv), acc);
            acc = __smlad(mf_sxtab16_odd(off2, xv), mf_sxtb16_odd(wv), acc);
            x += 4;
            w += 4;
        } while (x < end);
        n &= 3;
    }
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */
    /* Tested at the bottom, against an end pointer: 6 instructions per step on Cortex-M4
     * (-Os), as many as four accumulators took there. */
    if (n > 0) {
        const int8_t *end = x + n;
        do {
            acc += (*x++ + x_off) * *w++;
        } while (x < end);
    }
    return acc;
#endif /* MF_K_MVE */
}

/* out[r] = sum((x[i] + x_off) * w[r * stride + i * step]), r < 4: four rows of a matrix
 * (step 1, stride the row length) or, with stride 1 and step the row length, four
 * adjacent columns. The SSE2 body is for rows. */
static inline void mf_dot4s_s8(const int8_t *x, int32_t x_off, const int8_t *w, size_t stride, size_t step,
    int32_t n, int32_t out[4]) {
#if MF_K_MVE
    /* Rows (step 1) only: BATCH_MATMUL's columns take their own MVE loop (k_batch_matmul.c)
     * and the remaining column calls the scalar loop below. */
    if (step == 1) {
        mf_mve_dot4_s8(x, x_off, w, stride, n, out);
        return;
    }
#endif /* MF_K_MVE */
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#if defined(__SSE2__)
    const int8_t *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
    int32_t i = 0;
    const __m128i off = _mm_set1_epi16((int16_t)x_off);
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (; step == 1 && i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(x + i));
        __m128i lo = _mm_add_epi16(mf_widen_lo_s8(v), off), hi = _mm_add_epi16(mf_widen_hi_s8(v), off);
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
    if (step == 1 && i + 8 <= n) {
        __m128i lo = _mm_add_epi16(mf_widen_lo_s8(_mm_loadl_epi64((const __m128i *)(const void *)(x + i))), off);
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
    x += i;
    w += i;
    n -= i;
#endif /* __SSE2__ */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    if (step == 1 && n >= 4) {
        const int32_t off2 = mf_pair16(x_off);
        const int8_t *end = x + (n & ~3);
        const int8_t *w0 = w, *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
        do {
            const int32_t xv = mf_ld4_s8(x);
            const int32_t xe = __sxtab16(off2, xv), xo = mf_sxtab16_odd(off2, xv);
            int32_t q;
            q = mf_ld4_s8(w0);
            s0 = __smlad(xo, mf_sxtb16_odd(q), __smlad(xe, __sxtb16(q), s0));
            q = mf_ld4_s8(w1);
            s1 = __smlad(xo, mf_sxtb16_odd(q), __smlad(xe, __sxtb16(q), s1));
            q = mf_ld4_s8(w2);
            s2 = __smlad(xo, mf_sxtb16_odd(q), __smlad(xe, __sxtb16(q), s2));
            q = mf_ld4_s8(w3);
            s3 = __smlad(xo, mf_sxtb16_odd(q), __smlad(xe, __sxtb16(q), s3));
            x += 4;
            w0 += 4;
            w1 += 4;
            w2 += 4;
            w3 += 4;
        } while (x < end);
        w = w0;
        n &= 3;
    }
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */
    /* Tested at the bottom, against an end pointer: 14 instructions per step on Cortex-M4
     * (-Os), every operand but `step` in a register. */
    if (n > 0) {
        const int8_t *end = x + n;
        do {
            const int32_t v = *x++ + x_off;
            s0 += v * w[0];
            s1 += v * w[stride];
            s2 += v * w[2 * stride];
            s3 += v * w[3 * stride];
            w += step;
        } while (x < end);
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

/* out[r] = sum((x[i] + x_off) * w[r * stride + i]), r < 4. */
static inline void mf_dot4_s8(const int8_t *x, int32_t x_off, const int8_t *w, size_t stride, int32_t n,
    int32_t out[4]) {
    mf_dot4s_s8(x, x_off, w, stride, 1, n, out);
}

/* acc + bias[c] modulo 2^32 (bias may be NULL). Biases are int32 constants, which the
 * loader requires to be 4-byte aligned in the model (little-endian hosts and boards). */
static inline int32_t mf_k_add_bias(int32_t acc, const int32_t *bias, int32_t c) {
    return bias ? (int32_t)((uint32_t)acc + (uint32_t)bias[c]) : acc;
}

/* sum(a[i]) for i < n (row sums for zero-point folding). With SSE2, sixteen bytes per
 * step: flipping the sign bit maps int8 v to uint8 v + 128, psadbw sums those. */
static inline int32_t mf_sum_s8(const int8_t *a, int32_t n) {
#if MF_K_MVE
    return mf_mve_sum_s8(a, n);
#else
    int32_t acc = 0;
    int32_t i = 0;
#if defined(__SSE2__)
    if (n >= 16) {
        const __m128i flip = _mm_set1_epi8((char)0x80);
        __m128i s = _mm_setzero_si128();
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(a + i)), flip);
            s = _mm_add_epi64(s, _mm_sad_epu8(v, _mm_setzero_si128()));
        }
        /* At most 2^16 bytes of 255 each per lane: the low 32 bits hold the sums. */
        acc = _mm_cvtsi128_si32(s) + _mm_cvtsi128_si32(_mm_unpackhi_epi64(s, s)) - 128 * i;
    }
#endif /* __SSE2__ */
    for (; i < n; i++) {
        acc += a[i];
    }
    return acc;
#endif /* MF_K_MVE */
}

/* Accumulator -> int8 output: MultiplyByQuantizedMultiplier, + output offset, clamp. */
static inline int8_t mf_requant_s8(int32_t acc, mf_qm_t qm, int32_t out_offset, int32_t act_min, int32_t act_max) {
    int32_t v = mf_mul_by_qm(acc, qm.multiplier, qm.shift) + out_offset;
    return (int8_t)mf_clamp(v, act_min, act_max);
}

/* The same with the multiplier's shifts and rounding constants hoisted (mf_qmx); forced
 * inline on ARMv7E-M like mf_mul_by_qmx (-Os called it out of line for every output of
 * the two-row FULLY_CONNECTED: a quarter of that op's instructions). */
static MF_QUANT_HOT int8_t mf_requant_qmx_s8(int32_t acc, const mf_qmx_t *q, int32_t out_offset, int32_t act_min,
    int32_t act_max) {
    int32_t v = mf_mul_by_qmx(acc, q) + out_offset;
    return (int8_t)mf_clamp(v, act_min, act_max);
}

typedef struct {
    int32_t batches;      /* rows of input/output (all leading dims) */
    int32_t depth;        /* accumulation depth: input row length, filter row length */
    int32_t units;        /* output row length, filter rows */
    int32_t in_offset;    /* -input zero point */
    int32_t out_offset;   /* output zero point */
    int32_t act_min;
    int32_t act_max;
    int32_t per_channel;  /* 1: mult/shift have `units` entries; 0: one */
    const int32_t *mult;  /* requantization multipliers and shifts, in separate arrays */
    const int8_t *shift;  /* so that a channel costs 5 bytes */
} mf_fc_params_t;

/* out[b][u] = requant(sum((in[b][i] + in_offset) * w[u][i]) + bias[u]); bias has `units`
 * entries or is NULL. */
void mf_k_fully_connected_s8(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out);

#endif /* MF_K_FULLY_CONNECTED_H */
