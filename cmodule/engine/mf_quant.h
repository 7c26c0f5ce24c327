/*
 * Quantization math: the one C place for it. Everything matches TensorFlow Lite's
 * reference integer arithmetic bit for bit:
 *  - real multipliers become (int32 multiplier in [2^30, 2^31), shift) by frexp and
 *    round-half-away-from-zero (mf_quantize_multiplier, at load, in double);
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

/* Round half away from zero, exact for |x| < 2^52 (TfLiteRound / std::round). */
double mf_round(double x);
/* std::frexp for finite doubles: x = q * 2^e with 0.5 <= |q| < 1 (q = 0, e = 0 for x = 0). */
double mf_frexp(double x, int *e);

/* QuantizeMultiplier: TFLite's double -> (multiplier, shift). */
mf_qm_t mf_quantize_multiplier(double real);
/* QuantizeMultiplierSmallerThanOneExp: shift <= 0 guaranteed by the caller's range. */
mf_qm_t mf_quantize_multiplier_lt1(double real);
/* QuantizeMultiplierGreaterThanOne: shift >= 0. */
mf_qm_t mf_quantize_multiplier_gt1(double real);
/* PreprocessSoftmaxScaling / PreprocessLogSoftmaxScaling style helper:
 * real = beta * input_scale * 2^(31 - integer_bits), saturated like TFLite. */
mf_qm_t mf_preprocess_softmax_scaling(double beta, double input_scale, int input_integer_bits);
/* CalculateInputRadius. */
int32_t mf_calculate_input_radius(int input_integer_bits, int input_left_shift, int total_signed_bits);

/* gemmlowp::SaturatingRoundingDoublingHighMul */
static inline int32_t mf_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    /* Division (not shift) truncates toward zero, as gemmlowp does. */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp::RoundingDivideByPOT: round half away from zero; exponent in [0, 31]. */
static inline int32_t mf_rdbypot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
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

/* MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0). */
static inline int32_t mf_mul_by_qm_lt1(int32_t x, int32_t multiplier, int shift) {
    return mf_rdbypot(mf_srdhm(x, multiplier), -shift);
}

/* MultiplyByQuantizedMultiplierGreaterThanOne (shift >= 0). */
static inline int32_t mf_mul_by_qm_gt1(int32_t x, int32_t multiplier, int shift) {
    return mf_srdhm((int32_t)((uint32_t)x << shift), multiplier);
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
 * quantized domain. Returns 0 for an activation int8 kernels do not fuse (TANH, SIGN_BIT). */
int mf_activation_range_int8(int activation, float scale, int32_t zero_point, int32_t *lo, int32_t *hi);

/* CalculateActivationRange for float32 outputs. */
int mf_activation_range_f32(int activation, float *lo, float *hi);

static inline int32_t mf_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif /* MF_QUANT_H */
