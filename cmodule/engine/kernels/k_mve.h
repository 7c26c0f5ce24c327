/*
 * Helium (M-profile Vector Extension, MVE) bodies of the int8 kernels, for Armv8.1-M
 * cores built with integer MVE (Cortex-M55, M85: -mcpu=cortex-m55). Such cores define
 * __ARM_FEATURE_DSP as well; where both apply the callers take these and skip the
 * ARMv7E-M DSP code.
 *
 * Arithmetic: the callers' sum((x + x_off) * w), exact in int32 (MF_K_MAX_DEPTH). A
 * 128-bit vector holds sixteen int8, but x + x_off needs nine bits, so it is split:
 * sum(x * w) (VMLADAVA.S8: sixteen products added to an int32 in one instruction,
 * |partial sums| <= 2^16 * 2^14) plus x_off * sum(w) (VADDVA.S8). The two parts are added
 * in uint32: each may be larger than the exact total, which fits int32, so the sum modulo
 * 2^32 is that total. The last n % 16 elements are loaded with a tail predicate (VCTP):
 * inactive lanes read nothing and are zero, adding nothing to either sum.
 *
 * Requantization (MultiplyByQuantizedMultiplier, TFLite's default double rounding) four
 * lanes at a time, equal to mf_mul_by_qmx lane by lane:
 *  - SaturatingRoundingDoublingHighMul is VQRDMULH: (2ab + 2^31) >> 32 = (ab + 2^30) >> 31,
 *    which is gemmlowp's nudge-and-truncate for either sign of ab (for ab < 0 both give
 *    -floor((|ab| + 2^30 - 1) / 2^31)), saturating the one overflowing case as it does;
 *  - RoundingDivideByPOT is VRSHL by -exponent (round half up, the addition done without
 *    overflow) after subtracting 1 from negative lanes, which turns half up into
 *    gemmlowp's half away from zero: (x - 1 + 2^(e-1)) >> e rounds up exactly when the
 *    remainder x mod 2^e exceeds 2^(e-1). The subtraction saturates only INT32_MIN,
 *    whose quotient is exact either way.
 * Builds with MF_SINGLE_ROUNDING keep the scalar output loops.
 */
#ifndef MF_K_MVE_H
#define MF_K_MVE_H

/* MF_K_MVE: the core has integer MVE (the dot products, sums and pools below).
 * MF_K_MVE_RQ: and the build keeps TFLite's double rounding, which the vector
 * requantization implements; under MF_SINGLE_ROUNDING the kernels keep their scalar
 * output loops. The kernel files test these two, nothing else. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define MF_K_MVE 1
#else
#define MF_K_MVE 0
#endif /* __ARM_FEATURE_MVE & 1 */
#if MF_K_MVE && !defined(MF_SINGLE_ROUNDING)
#define MF_K_MVE_RQ 1
#else
#define MF_K_MVE_RQ 0
#endif /* MF_K_MVE && !MF_SINGLE_ROUNDING */

#if MF_K_MVE
#include <stddef.h>
#include <stdint.h>

#include <arm_mve.h>

#include "mf_config.h"
#include "mf_quant.h"

/* One step of the dot products below: x . w into *xw and sum(w) into *ws, sixteen lanes
 * (a predicated load leaves inactive lanes zero). */
static MF_ALWAYS_INLINE void mve_dot_step(int8x16_t xv, int8x16_t wv, int32_t *xw, int32_t *ws) {
    *xw = vmladavaq_s8(*xw, xv, wv);
    *ws = vaddvaq_s8(*ws, wv);
}

/* sum(x * w) + x_off * sum(w), added modulo 2^32 (see above). */
static MF_ALWAYS_INLINE int32_t mve_dot_fold(int32_t xw, int32_t x_off, int32_t ws) {
    return (int32_t)((uint32_t)xw + (uint32_t)x_off * (uint32_t)ws);
}

/* sum((x[i] + x_off) * w[i]) for i < n. */
static inline int32_t mf_mve_dot_s8(const int8_t *x, int32_t x_off, const int8_t *w, int32_t n) {
    int32_t xw = 0, ws = 0;
    const int8_t *end = x + (n & ~15);
    while (x < end) {
        mve_dot_step(vldrbq_s8(x), vldrbq_s8(w), &xw, &ws);
        x += 16;
        w += 16;
    }
    n &= 15;
    if (n > 0) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        mve_dot_step(vldrbq_z_s8(x, p), vldrbq_z_s8(w, p), &xw, &ws);
    }
    return mve_dot_fold(xw, x_off, ws);
}

/* Two weight rows `stride` apart against one x: out[r] = sum((x[i] + x_off) *
 * w[r * stride + i]), r < 2. Two rows per pass, not four: four would need four products,
 * four weight sums and five pointers live in the loop, more than the integer registers
 * (the spills cost more than reloading x once more per pair of rows). */
static inline void mf_mve_dot2_s8(const int8_t *x, int32_t x_off, const int8_t *w, size_t stride, int32_t n,
    int32_t out[2]) {
    const int8_t *w0 = w, *w1 = w + stride;
    int32_t xw0 = 0, xw1 = 0, ws0 = 0, ws1 = 0;
    /* Against an end pointer, every pointer post-incremented by its load: 10 instructions
     * per 32 MACs at -Os (a counted loop recomputed the pointers each step). */
    const int8_t *end = x + (n & ~15);
    while (x < end) {
        const int8x16_t xv = vldrbq_s8(x);
        mve_dot_step(xv, vldrbq_s8(w0), &xw0, &ws0);
        mve_dot_step(xv, vldrbq_s8(w1), &xw1, &ws1);
        x += 16;
        w0 += 16;
        w1 += 16;
    }
    n &= 15;
    if (n > 0) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, p);
        mve_dot_step(xv, vldrbq_z_s8(w0, p), &xw0, &ws0);
        mve_dot_step(xv, vldrbq_z_s8(w1, p), &xw1, &ws1);
    }
    out[0] = mve_dot_fold(xw0, x_off, ws0);
    out[1] = mve_dot_fold(xw1, x_off, ws1);
}

/* out[r] = sum((x[i] + x_off) * w[r * stride + i]), r < 4: mf_dot4_s8. Rows of at most
 * 16 (a head's keys, a single-channel 3x3 patch) are one predicated vector each, rows of
 * at most 32 (a 3x3 patch of three channels) two: x loaded once and no loop, where two
 * dot2 passes would cost their set-up twice. */
static inline void mf_mve_dot4_s8(const int8_t *x, int32_t x_off, const int8_t *w, size_t stride, int32_t n,
    int32_t out[4]) {
    if (n <= 16) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, p);
        for (int r = 0; r < 4; r++, w += stride) {
            const int8x16_t q = vldrbq_z_s8(w, p);
            out[r] = mve_dot_fold(vmladavq_s8(xv, q), x_off, vaddvq_s8(q));
        }
        return;
    }
    if (n <= 32) {
        const mve_pred16_t p = vctp8q((uint32_t)(n - 16));
        const int8x16_t x0 = vldrbq_s8(x), x1 = vldrbq_z_s8(x + 16, p);
        for (int r = 0; r < 4; r++, w += stride) {
            const int8x16_t q0 = vldrbq_s8(w), q1 = vldrbq_z_s8(w + 16, p);
            out[r] = mve_dot_fold(vmladavaq_s8(vmladavq_s8(x0, q0), x1, q1), x_off, vaddvaq_s8(vaddvq_s8(q0), q1));
        }
        return;
    }
    mf_mve_dot2_s8(x, x_off, w, stride, n, out);
    mf_mve_dot2_s8(x, x_off, w + 2 * stride, stride, n, out + 2);
}

/* The dot products of x with `rows` (1 to 4) weight rows `stride` apart as the lanes of
 * one vector, lanes from `rows` on 0: mf_mve_dot4_s8 for four, mf_mve_dot_s8 per row
 * below that. */
static MF_ALWAYS_INLINE int32x4_t mf_mve_dot_rows_s8(const int8_t *x, int32_t x_off, const int8_t *w, size_t stride,
    int32_t n, int32_t rows) {
    /* Zeroed by one vector store: gcc -Os makes a 16-byte initializer a memset call. */
    int32_t d[4];
    vstrwq_s32(d, vdupq_n_s32(0));
    if (rows == 4) {
        mf_mve_dot4_s8(x, x_off, w, stride, n, d);
    } else {
        for (int32_t r = 0; r < rows; r++) {
            d[r] = mf_mve_dot_s8(x, x_off, w + (size_t)r * stride, n);
        }
    }
    return vldrwq_s32(d);
}

/* sum(a[i]) for i < n: sixteen bytes per VADDVA. */
static inline int32_t mf_mve_sum_s8(const int8_t *a, int32_t n) {
    int32_t acc = 0;
    const int8_t *end = a + (n & ~15);
    while (a < end) {
        acc = vaddvaq_s8(acc, vldrbq_s8(a));
        a += 16;
    }
    n &= 15;
    if (n > 0) {
        acc = vaddvaq_s8(acc, vldrbq_z_s8(a, vctp8q((uint32_t)n)));
    }
    return acc;
}

#ifndef MF_SINGLE_ROUNDING
/* RoundingDivideByPOT(x, exponent) per lane, exponent in [0, 31]. */
static MF_ALWAYS_INLINE int32x4_t mf_mve_rdbypot(int32x4_t x, int32_t exponent) {
    if (exponent > 0) {
        x = vqaddq_s32(x, vshrq_n_s32(x, 31));
    }
    return vrshlq_n_s32(x, -exponent);
}

/* mf_mul_by_qmx(x, q) per lane; q->right_shift <= 31 (QuantizeMultiplier never gives a
 * shift below -31). The left shift wraps like the scalar one's uint32 shift. */
static MF_ALWAYS_INLINE int32x4_t mf_mve_mul_by_qmx(int32x4_t x, const mf_qmx_t *q) {
    return mf_mve_rdbypot(vqrdmulhq_n_s32(vshlq_r_s32(x, q->left_shift), q->multiplier), q->right_shift);
}

/* Per-lane multipliers (per-channel quantization): mf_mul_by_qm(x[i], mult[i], shift[i])
 * with the shifts split as mf_qmx does; right shifts <= 31. */
typedef struct {
    int32x4_t mult;
    int32x4_t left;        /* max(shift, 0) */
    int32x4_t neg_right;   /* -max(-shift, 0): the VRSHL amount */
    mve_pred16_t rounds;   /* lanes with a right shift (their negative values get the -1) */
} mf_mve_qm4_t;

/* Lane offsets 0, step, 2 step, 3 step (elements of a gather or scatter). */
static MF_ALWAYS_INLINE uint32x4_t mf_mve_lanes(int32_t step) {
    return vmulq_n_u32(vidupq_n_u32(0u, 1), (uint32_t)step);
}

/* The (multiplier, shift) pairs mult[r * step], shift[r * step] of lanes r < n (gathered:
 * step 0 is one per-tensor pair, step 1 consecutive channels); lanes from n on get
 * (0, 0) and read nothing. */
static inline mf_mve_qm4_t mf_mve_qm4(const int32_t *mult, const int8_t *shift, int32_t step, int32_t n) {
    const mve_pred16_t pn = vctp32q((uint32_t)n);
    const uint32x4_t at = mf_mve_lanes(step);
    const int32x4_t s = vldrbq_gather_offset_z_s32(shift, at, pn);
    mf_mve_qm4_t q;
    q.mult = vldrwq_gather_shifted_offset_z_s32(mult, at, pn);
    q.left = vmaxq_s32(s, vdupq_n_s32(0));
    q.neg_right = vminq_s32(s, vdupq_n_s32(0));
    q.rounds = vcmpltq_n_s32(s, 0);
    return q;
}

static MF_ALWAYS_INLINE int32x4_t mf_mve_mul_by_qm4(int32x4_t x, const mf_mve_qm4_t *q) {
    const int32x4_t h = vqrdmulhq_s32(vshlq_s32(x, q->left), q->mult);
    return vrshlq_s32(vqaddq_m_s32(h, h, vshrq_n_s32(h, 31), q->rounds), q->neg_right);
}

/* gemmlowp exp_on_negative_values per lane: mf_fp_exp_on_negative_values(a[i],
 * integer_bits), integer_bits in [0, 30]. Every step of it is lane-wise: wrapping adds
 * (VADD), SaturatingRoundingDoublingHighMul (VQRDMULH), SaturatingRoundingMultiplyByPOT
 * (VQSHL saturates exactly where gemmlowp's thresholds do; right: mf_mve_rdbypot), and
 * the barrel's multiplies predicated on the bits of the remainder. */
static inline int32x4_t mf_mve_exp_on_negative_values(int32x4_t a, int integer_bits) {
    /* Q0.31 values of exp(-2^k) for k = -2 .. 4 (mf_quant.c). */
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32x4_t amq = vsubq_n_s32(vandq_s32(a, vdupq_n_s32(one_quarter - 1)), one_quarter);
    /* exp on [-1/4, 0): Taylor around -1/8, as mf_fp_exp_on_interval_... */
    const int32x4_t x = vaddq_n_s32(integer_bits > 0 ? vqshlq_r_s32(amq, integer_bits) : amq, (int32_t)1 << 28);
    const int32x4_t x2 = vqrdmulhq_s32(x, x);
    const int32x4_t x3 = vqrdmulhq_s32(x2, x);
    const int32x4_t x4_over_4 = mf_mve_rdbypot(vqrdmulhq_s32(x2, x2), 2);
    const int32x4_t poly = mf_mve_rdbypot(vaddq_s32(vqrdmulhq_n_s32(vaddq_s32(x4_over_4, x3), 715827883), x2), 1);
    int32x4_t result = vaddq_n_s32(vqrdmulhq_n_s32(vaddq_s32(x, poly), 1895147668), 1895147668);
    const int32x4_t remainder = vsubq_s32(amq, a);
    for (int k = 0; k < 7; k++) {
        if (integer_bits > k - 2) {
            const int32_t bit = (int32_t)1 << (fractional_bits + k - 2);
            const mve_pred16_t set = vcmpneq_n_s32(vandq_s32(remainder, vdupq_n_s32(bit)), 0);
            result = vqrdmulhq_m_n_s32(result, result, barrel[k], set);
        }
    }
    if (integer_bits > 5) {
        /* Below -32 the result is 0. */
        result = vpselq_s32(vdupq_n_s32(0), result, vcmpltq_n_s32(a, -((int32_t)1 << (36 - integer_bits))));
    }
    return vpselq_s32(vdupq_n_s32(INT32_MAX), result, vcmpeqq_n_s32(a, 0));
}

/* mf_fp_newton_reciprocal_q2 per lane (Q2.29 of 2 / (1 + a)), for a > INT32_MIN (every
 * exp_on_negative_values result is in [0, INT32_MAX]). The rounding half sum of a and
 * INT32_MAX, (sum + 1) / 2 truncated, is VRHADD's (a + b + 1) >> 1 wherever the sum is
 * >= 0, i.e. for every a > INT32_MIN; the adds wrap as mf_wadd/mf_wsub, the Q4 -> Q2
 * rescale is VQSHL #2, saturating where mf_fp_mul_pot's thresholds do. */
static inline int32x4_t mf_mve_newton_reciprocal_q2(int32x4_t a) {
    const int32x4_t half_denominator = vrhaddq_s32(a, vdupq_n_s32(INT32_MAX));
    /* 48/17 + (-32/17) * half_denominator, the constants in Q2.29. */
    int32x4_t x = vaddq_n_s32(vqrdmulhq_n_s32(half_denominator, -1010580540), 1515870810);
    for (int i = 0; i < 3; i++) {
        const int32x4_t one_minus_half_denominator_times_x =
            vsubq_s32(vdupq_n_s32((int32_t)1 << 29), vqrdmulhq_s32(half_denominator, x));
        x = vaddq_s32(x, vqshlq_n_s32(vqrdmulhq_s32(x, one_minus_half_denominator_times_x), 2));
    }
    return x;
}

/* mf_fp_logistic(a[i], integer_bits) per lane, Q0.31 results. -|a| is VNEG of VABS, both
 * wrapping, so INT32_MIN stays INT32_MIN as with the scalar 0 - |a|; the Q2 -> Q0 rescale
 * of 1 / (1 + x) is VQSHL #1. */
static inline int32x4_t mf_mve_logistic(int32x4_t a, int integer_bits) {
    const int32x4_t e = mf_mve_exp_on_negative_values(vnegq_s32(vabsq_s32(a)), integer_bits);
    const int32x4_t if_positive = vqshlq_n_s32(mf_mve_newton_reciprocal_q2(e), 1);
    const int32x4_t r = vpselq_s32(if_positive, vsubq_s32(vdupq_n_s32(INT32_MAX), if_positive), vcmpgtq_n_s32(a, 0));
    return vpselq_s32(vdupq_n_s32((int32_t)1 << 30), r, vcmpeqq_n_s32(a, 0));
}

/* mf_fp_tanh(a[i], integer_bits) per lane, integer_bits <= 29, Q0.31 results: the exp of
 * -|a| read with one more integer bit (2|a|), then (1 - x) / (1 + x) = Q2 reciprocal
 * minus one, rescaled to Q0 by VQSHL #2. */
static inline int32x4_t mf_mve_tanh(int32x4_t a, int integer_bits) {
    const int32x4_t e = mf_mve_exp_on_negative_values(vnegq_s32(vabsq_s32(a)), integer_bits + 1);
    const int32x4_t t = vqshlq_n_s32(vsubq_n_s32(mf_mve_newton_reciprocal_q2(e), (int32_t)1 << 29), 2);
    const int32x4_t r = vpselq_s32(vnegq_s32(t), t, vcmpltq_n_s32(a, 0));
    return vpselq_s32(vdupq_n_s32(0), r, vcmpeqq_n_s32(a, 0));
}

/* clamp(v + zp, lo, hi) per lane: an int8 in each int32 lane, for VSTRB.32. */
static MF_ALWAYS_INLINE int32x4_t mf_mve_out_s8(int32x4_t v, int32_t zp, int32_t lo, int32_t hi) {
    return vminq_s32(vmaxq_s32(vaddq_n_s32(v, zp), vdupq_n_s32(lo)), vdupq_n_s32(hi));
}
#endif /* MF_SINGLE_ROUNDING */

#endif /* MF_K_MVE */

#endif /* MF_K_MVE_H */
