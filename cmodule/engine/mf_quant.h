/*
 * Quantization math: the one C place for it. Everything matches TensorFlow Lite's
 * reference integer arithmetic bit for bit:
 *  - real multipliers become (int32 multiplier in [2^30, 2^31), shift) by frexp and
 *    round-half-away-from-zero (mf_quantize_multiplier, at load, from the double that
 *    TFLite computes, reproduced exactly in integers by mf_real_t below);
 *  - mf_mul_by_qm applies them with TFLite's default double rounding: a saturating
 *    rounding doubling high multiply (round half away from zero) followed by a rounding
 *    right shift (round half away from zero). Define MF_SINGLE_ROUNDING for builds that
 *    mirror TFLITE_SINGLE_ROUNDING (one round-half-up 64-bit shift).
 */
#ifndef MF_QUANT_H
#define MF_QUANT_H

#include <stdint.h>

/* Multiplier + shift, the only form a scale takes at run time. shift > 0 is a left shift. */
typedef struct {
    int32_t multiplier;
    int32_t shift;
} mf_qm_t;

/* ==================================================================== exact reals ====
 * TFLite computes multipliers at prepare time in double. The Cortex-M4F has only a
 * single-precision FPU, and every double operation would link libgcc's soft-double
 * routines (~2.4 KB of flash), so the engine does that math in integers instead:
 * mf_real_t holds the IEEE-754 binary64 encoding of a double, and each operation below
 * rounds exactly like double round-to-nearest-even, so the results are bit for bit the
 * doubles TFLite gets (tests/engine/test_engine_quant_real.py compares them with native
 * double arithmetic). Only what prepare code needs, small rather than fast (load time).
 *
 * Domain: +0 and positive normal doubles whose results stay normal (no negatives,
 * subnormal doubles, infinities or NaN; no overflow or underflow handling). Floats,
 * including float subnormals, and products and quotients of a few of them are far
 * inside that range (2^-149 ... 2^128 per factor; mf_real_from_float says how inf and
 * NaN read). Positive values order like their encodings: compare mf_real_t values with
 * the integer operators (<, ==, >).
 * No 64-bit division is used (it would link __aeabi_uldivmod): long division is a
 * shift-subtract loop. */
typedef uint64_t mf_real_t;

/* (double)x for |x|: the sign is ignored, float subnormals are exact. +-inf and NaN (not
 * in the domain) read as values of at least 2^600: above any product or quotient of two
 * finite floats, so that an expression with one such operand (never more) ends far out
 * of range, where the callers' range checks refuse it as they refuse inf or NaN. */
mf_real_t mf_real_from_float(float x);
/* 2^k, |k| <= 1022. */
static inline mf_real_t mf_real_pow2(int k) {
    return (uint64_t)(k + 1023) << 52;
}
/* floor(log2(x)) for x > 0: std::frexp's exponent minus 1. */
static inline int mf_real_log2(mf_real_t x) {
    return (int)(x >> 52) - 1023;
}
/* a * b, a / b (b > 0), rounded to nearest even. */
mf_real_t mf_real_mul(mf_real_t a, mf_real_t b);
mf_real_t mf_real_div(mf_real_t a, mf_real_t b);
/* a + b, or |a - b| when sub is nonzero (a - b in double, then std::abs). */
mf_real_t mf_real_addsub(mf_real_t a, mf_real_t b, int sub);
/* std::frexp(x, e) then round(q * 2^31) (TfLiteRound, half away from zero; exact since
 * q * 2^31 only rescales): the result is in [2^30, 2^31] (2^31 when q rounds up), and 0
 * with *e = 0 for x = 0. */
uint32_t mf_real_frexp_q31(mf_real_t x, int *e);
/* floor(x * 2^sh / n) for n > 0, sh >= 0, when the result fits 32 bits: x / n and
 * x % n in 32 bits, then one quotient bit per shift (no 64-bit division). */
uint32_t mf_udiv_shl(uint32_t x, int sh, uint32_t n);
/* ================================================================ end exact reals ==== */

/* QuantizeMultiplier: TFLite's double -> (multiplier, shift). */
mf_qm_t mf_quantize_multiplier(mf_real_t real);
/* PreprocessSoftmaxScaling: real = min(beta * input_scale * 2^(31 - integer_bits), cap)
 * in double (both floats widened) with cap 2^31 - 1 (2^30 - 1 under MF_SINGLE_ROUNDING),
 * then QuantizeMultiplierGreaterThanOne. input_scale must be positive and finite; beta is
 * any float (+inf gives the cap, as std::min does with an infinite product). TFLite
 * aborts (TFLITE_CHECK_GT(real, 1)) when real <= 1 or is NaN; this returns multiplier 0
 * in that case so that prepare can refuse the model. shift is then >= 0. */
mf_qm_t mf_preprocess_softmax_scaling(float beta, float input_scale, int input_integer_bits);
/* CalculateInputRadius: floor((2^integer_bits - 1) * 2^(total_signed_bits - integer_bits)
 * / 2^input_left_shift). TFLite shifts by input_left_shift unchecked (undefined when it is
 * negative or >= 64): callers must keep 0 <= input_left_shift <= 62, and
 * 0 <= integer_bits <= total_signed_bits <= 31 (TFLite's default 31; every caller). */
int32_t mf_calculate_input_radius(int input_integer_bits, int input_left_shift, int total_signed_bits);

/* The per-output steps (mf_mul_by_qmx, mf_mul_by_qm_shl20) and the fixed-point
 * primitives (mf_srdhm, mf_rdbypot) are forced inline on ARMv7E-M: -Os otherwise keeps
 * one out-of-line copy, about 10 instructions of call and argument moves per use on
 * Cortex-M4 (benchmarks/cortex_m_vs_tflm.py), where the DSP kernels' output loops and
 * the activation tables built at load (~20 uses an entry) call them. Elsewhere the
 * compiler decides. */
#if defined(__GNUC__) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define MF_QUANT_HOT inline __attribute__((always_inline))
#else
#define MF_QUANT_HOT inline
#endif /* __GNUC__ && __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */

/* gemmlowp::SaturatingRoundingDoublingHighMul */
static MF_QUANT_HOT int32_t mf_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    /* gemmlowp adds a sign-dependent nudge (2^30, or 1 - 2^30 below zero) and divides
     * truncating toward zero; for a negative sum that truncation is a ceiling, and
     * ceil((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31). So both signs are one
     * add and one arithmetic shift: on Cortex-M4 five instructions instead of the
     * division form's sign fix-ups (the activation tables call this ~20 times an entry). */
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp::RoundingDivideByPOT: round half away from zero; exponent in [0, 31]. */
static MF_QUANT_HOT int32_t mf_rdbypot(int32_t x, int exponent) {
    int32_t mask = (int32_t)((1u << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier (int32 input). */
static inline int32_t mf_mul_by_qm(int32_t x, int32_t multiplier, int shift) {
#ifdef MF_SINGLE_ROUNDING
    int64_t total_shift = 31 - shift;
    int64_t round = (int64_t)1 << (total_shift - 1);
    int64_t result = x * (int64_t)multiplier + round;
    return (int32_t)(result >> total_shift);
#else
    int left_shift = shift > 0 ? shift : 0;
    int right_shift = shift > 0 ? 0 : -shift;
    return mf_rdbypot(mf_srdhm((int32_t)((uint32_t)x << left_shift), multiplier), right_shift);
#endif /* MF_SINGLE_ROUNDING */
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0). Under
 * TFLITE_SINGLE_ROUNDING TFLite routes this (and the GreaterThanOne form below) through
 * the single-rounding MultiplyByQuantizedMultiplier, so do we. */
static inline int32_t mf_mul_by_qm_lt1(int32_t x, int32_t multiplier, int shift) {
#ifdef MF_SINGLE_ROUNDING
    return mf_mul_by_qm(x, multiplier, shift);
#else
    return mf_rdbypot(mf_srdhm(x, multiplier), -shift);
#endif /* MF_SINGLE_ROUNDING */
}

/* MultiplyByQuantizedMultiplierGreaterThanOne (shift >= 0). */
static inline int32_t mf_mul_by_qm_gt1(int32_t x, int32_t multiplier, int shift) {
#ifdef MF_SINGLE_ROUNDING
    return mf_mul_by_qm(x, multiplier, shift);
#else
    return mf_srdhm((int32_t)((uint32_t)x << shift), multiplier);
#endif /* MF_SINGLE_ROUNDING */
}

/* MultiplyByQuantizedMultiplier for int64 input (used by int16 paths). */
int32_t mf_mul_by_qm64(int64_t x, int32_t multiplier, int shift);

/* Fused activation codes of the .tflite schema. */
enum {
    MF_ACT_NONE = 0,
    MF_ACT_RELU = 1,
    MF_ACT_RELU_N1_TO_1 = 2,
    MF_ACT_RELU6 = 3,
    MF_ACT_TANH = 4,
    MF_ACT_SIGN_BIT = 5,
};

/* CalculateActivationRangeQuantized for int8 outputs: clamps [*lo, *hi] in the output's
 * quantized domain. Returns 0 when a bound does not fit int32 once quantized (TFLite's
 * TF_LITE_ENSURE fails there). TANH and SIGN_BIT get the full int8 range, as in TFLite:
 * ops that do not fuse them must refuse them themselves. */
int mf_activation_range_int8(int activation, float scale, int32_t zero_point, int32_t *lo, int32_t *hi);

/* CalculateActivationRange for float32 outputs. */
int mf_activation_range_f32(int activation, float *lo, float *hi);

static inline int32_t mf_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* ==================================================================== fixed point ====
 * gemmlowp fixed-point arithmetic (fixedpoint.h) as TFLite's reference kernels use it,
 * on raw int32 values. A value with `ib` integer bits (gemmlowp FixedPoint<int32_t, ib>)
 * represents raw / 2^(31 - ib). Plain fixed-point adds in gemmlowp are non-saturating
 * int32 adds; they are written here as wrapping adds so that C has no undefined
 * behaviour where the C++ code relied on two's complement wrap-around.
 * Used by SOFTMAX, LOGISTIC, TANH (int8) and HARD_SWISH (int16 helpers). */

static inline int32_t mf_wadd(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static inline int32_t mf_wsub(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* CountLeadingZeros for uint32 (32 for 0). */
static inline int mf_clz32(uint32_t x) {
#if defined(__GNUC__)
    return x ? __builtin_clz(x) : 32;
#else
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
#endif /* __GNUC__ */
}

/* gemmlowp::RoundingHalfSum (int32). */
int32_t mf_fp_rounding_half_sum(int32_t a, int32_t b);
/* gemmlowp::exp_on_negative_values(FixedPoint<int32_t, integer_bits>) -> Q0.31;
 * integer_bits in [0, 30]. */
int32_t mf_fp_exp_on_negative_values(int32_t a, int integer_bits);
/* gemmlowp::one_over_one_plus_x_for_x_in_0_1: Q0.31 -> Q0.31. */
int32_t mf_fp_one_over_one_plus_x_for_x_in_0_1(int32_t a);
/* gemmlowp::one_minus_x_over_one_plus_x_for_x_in_0_1: Q0.31 -> Q0.31. */
int32_t mf_fp_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a);
/* gemmlowp::logistic / gemmlowp::tanh of FixedPoint<int32_t, integer_bits> -> Q0.31;
 * integer_bits in [0, 29]. */
int32_t mf_fp_logistic(int32_t a, int integer_bits);
int32_t mf_fp_tanh(int32_t a, int integer_bits);
/* tflite::GetReciprocal: x > 0 with x_integer_digits integer bits -> Q0.31 scale and
 * *num_bits_over_unit, so that 1/x = scale * 2^-num_bits_over_unit. */
int32_t mf_fp_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit);

/* int16 forms (gemmlowp's int16 specialisations and TFLite's hard_swish helpers). Every
 * intermediate is truncated to int16 exactly where the C++ templates convert. */
/* gemmlowp::SaturatingRoundingDoublingHighMul<int16_t>. */
int16_t mf_fp_srdhm16(int16_t a, int16_t b);
/* SaturatingDoublingHighMul (hard_swish.h): like srdhm16 but rounding toward zero. */
int16_t mf_fp_sdhm16(int16_t a, int16_t b);
/* gemmlowp::RoundingDivideByPOT<int16_t>, exponent in [0, 31] (for exponent >= 16 the
 * int16 mask wraps to -1, reproduced as is). */
int16_t mf_fp_rdbypot16(int16_t x, int exponent);
/* SaturatingLeftShift (hard_swish.h): int16 saturating x * 2^amount, amount in [0, 30]. */
int16_t mf_fp_sat_shl16(int16_t x, int amount);
/* DownScaleInt32ToInt16Multiplier (multiplier >= 0). */
int16_t mf_downscale_multiplier_int16(int32_t multiplier);

/* LUTPopulate<int8_t> (kernels/internal/common.h): the 256-entry table of an elementwise
 * float function for int8 in/out, computed in float exactly as TFLite does. lut is
 * indexed by (uint8_t)input. A result outside int32 saturates (TFLite's float->int
 * conversion is undefined there). */
void mf_lut_populate_s8(float input_scale, int32_t input_zero_point, float output_scale,
    int32_t output_zero_point, float (*transform)(float), int8_t *lut);
/* ================================================================ end fixed point ==== */

/* ============================================================ hoisted multiplies ====
 * MultiplyByQuantizedMultiplier for inner loops: everything that depends only on
 * (multiplier, shift) is computed once by mf_qmx(). Results equal mf_mul_by_qm for any
 * multiplier >= 0 (all QuantizeMultiplier results). Double rounding is rewritten
 * without divisions, exactly:
 *   SaturatingRoundingDoublingHighMul(a, b) = (a*b + 2^30) >> 31   (floor; gemmlowp's
 *     sign-dependent nudge plus truncating division is this same round-half-up, and the
 *     saturating case a = b = INT32_MIN needs a negative multiplier);
 *   RoundingDivideByPOT(h, e) = (h + 2^(e-1) - (h < 0)) >> e   for e >= 1.
 * On 64-bit hosts the two steps run as written. On 32-bit cores, for e >= 1 (then the
 * left shift is 0) the two floors nest into one: with n = x*m + 2^30 + 2^(30+e) - 2^31 *
 * (x < 0), the result is floor(n / 2^(31+e)) = (high word of n) >> (e - 1), i.e. two
 * multiply-accumulates (SMLAL) and one shift. The sign term is h < 0 read off x: where
 * they differ (-2^30 <= x*m < 0, so h = 0) n still lies in [0, 2^(31+e)) and the result is
 * 0. |x*m| < 2^62 and the constants stay below 2^62, so n fits int64. Used by the
 * element-wise, reduction, FULLY_CONNECTED and BATCH_MATMUL kernels. */
#ifndef MF_QMX_WIDE
#if UINTPTR_MAX > 0xFFFFFFFFu
#define MF_QMX_WIDE 1
#else
#define MF_QMX_WIDE 0
#endif /* UINTPTR_MAX */
#endif /* MF_QMX_WIDE */

typedef struct {
    int32_t multiplier;
    int32_t left_shift;
    int32_t right_shift;  /* single rounding: the total shift 31 - shift */
    int32_t neg_adjust;   /* 1 when right_shift >= 1 */
    int32_t hi_shift;     /* right_shift - 1 (32-bit cores, right_shift >= 1) */
    int64_t round;        /* 64-bit hosts and single rounding: 2^(right_shift - 1), or 0;
                           * 32-bit cores: 2^30 + 2^(30 + right_shift) */
} mf_qmx_t;

static inline mf_qmx_t mf_qmx(mf_qm_t qm) {
    mf_qmx_t q;
    q.multiplier = qm.multiplier;
#ifdef MF_SINGLE_ROUNDING
    q.left_shift = 0;
    q.right_shift = 31 - qm.shift;
#else
    q.left_shift = qm.shift > 0 ? qm.shift : 0;
    q.right_shift = qm.shift > 0 ? 0 : -qm.shift;
#endif /* MF_SINGLE_ROUNDING */
    q.neg_adjust = q.right_shift > 0;
    q.hi_shift = q.right_shift - 1;
#if MF_QMX_WIDE || defined(MF_SINGLE_ROUNDING)
    q.round = q.right_shift > 0 ? (int64_t)1 << (q.right_shift - 1) : 0;
#else
    q.round = ((int64_t)1 << 30) + ((int64_t)1 << (30 + q.right_shift));
#endif /* MF_QMX_WIDE || MF_SINGLE_ROUNDING */
    return q;
}

static MF_QUANT_HOT int32_t mf_mul_by_qmx(int32_t x, const mf_qmx_t *q) {
#ifdef MF_SINGLE_ROUNDING
    return (int32_t)(((int64_t)x * q->multiplier + q->round) >> q->right_shift);
#else
#if MF_QMX_WIDE
    const int64_t hw = ((int64_t)(int32_t)((uint32_t)x << q->left_shift) * q->multiplier +
        ((int64_t)1 << 30)) >> 31;
    return (int32_t)((hw + q->round - ((hw < 0) & q->neg_adjust)) >> q->right_shift);
#else
    if (q->right_shift > 0) {
        /* Subtracting 2^31 (x < 0) borrows from the high word when bit 31 of the low
         * word is clear. */
        const int64_t n = (int64_t)x * q->multiplier + q->round;
        const int32_t hi = (int32_t)((uint64_t)n >> 32) - (int32_t)(((uint32_t)x & ~(uint32_t)n) >> 31);
        return hi >> q->hi_shift;
    }
    return (int32_t)(((int64_t)(int32_t)((uint32_t)x << q->left_shift) * q->multiplier +
        ((int64_t)1 << 30)) >> 31);
#endif /* MF_QMX_WIDE */
#endif /* MF_SINGLE_ROUNDING */
}

/* MultiplyByQuantizedMultiplierSmallerThanOneExp(v * 2^20, qm) for |v| <= 255 (the
 * input stage of int8 ADD/SUB) in 32-bit arithmetic. With m = hi * 2^11 + lo,
 * (v*2^20 * m + 2^30) >> 31 = v*hi + ((v*lo + 2^10) >> 11), every term below 2^31. */
typedef struct {
    int32_t hi;
    int32_t lo;
    int32_t right_shift;
    int32_t round;
    int32_t neg_adjust;
    mf_qm_t qm;           /* for the single-rounding form */
} mf_qm_shl20_t;

static inline mf_qm_shl20_t mf_qm_shl20(mf_qm_t qm) {
    mf_qm_shl20_t q;
    q.hi = qm.multiplier >> 11;
    q.lo = qm.multiplier & 2047;
    q.right_shift = -qm.shift;
    q.round = q.right_shift > 0 ? (int32_t)1 << (q.right_shift - 1) : 0;
    q.neg_adjust = q.right_shift > 0;
    q.qm = qm;
    return q;
}

static MF_QUANT_HOT int32_t mf_mul_by_qm_shl20(int32_t v, const mf_qm_shl20_t *q) {
#ifdef MF_SINGLE_ROUNDING
    return mf_mul_by_qm_lt1(v * (1 << 20), q->qm.multiplier, q->qm.shift);
#else
    /* |h| < 2^28 and round <= 2^30: the sum fits int32. */
    const int32_t h = v * q->hi + ((v * q->lo + 1024) >> 11);
    return (h + q->round - ((h < 0) & q->neg_adjust)) >> q->right_shift;
#endif /* MF_SINGLE_ROUNDING */
}
/* ======================================================== end hoisted multiplies ==== */

#endif /* MF_QUANT_H */
