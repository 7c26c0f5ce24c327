/* Quantization math; see mf_quant.h for the rounding modes. */
#include "mf_quant.h"

#include <string.h>

double mf_round(double x) {
    /* Exact for |x| < 2^52: x - t is representable, so the half test is exact. */
    if (!(x > -4503599627370496.0 && x < 4503599627370496.0)) {
        return x;
    }
    int64_t t = (int64_t)x;
    double frac = x - (double)t;
    if (frac >= 0.5) {
        t++;
    } else if (frac <= -0.5) {
        t--;
    }
    return (double)t;
}

static float mf_roundf(float x) {
    if (!(x > -8388608.0f && x < 8388608.0f)) {
        return x;
    }
    int32_t t = (int32_t)x;
    float frac = x - (float)t;
    if (frac >= 0.5f) {
        t++;
    } else if (frac <= -0.5f) {
        t--;
    }
    return (float)t;
}

double mf_frexp(double x, int *e) {
    uint64_t u;
    memcpy(&u, &x, 8);
    int exp = (int)((u >> 52) & 0x7ff);
    *e = 0;
    if (x == 0.0 || exp == 0x7ff) {
        return x;
    }
    if (exp == 0) {
        /* Subnormal: scale into the normal range first (2^64). */
        x *= 18446744073709551616.0;
        memcpy(&u, &x, 8);
        exp = (int)((u >> 52) & 0x7ff) - 64;
    }
    *e = exp - 1022;
    u = (u & ~((uint64_t)0x7ff << 52)) | ((uint64_t)1022 << 52);
    memcpy(&x, &u, 8);
    return x;
}

mf_qm_t mf_quantize_multiplier(double real) {
    mf_qm_t r = {0, 0};
    if (real == 0.0) {
        return r;
    }
    int shift;
    double q = mf_frexp(real, &shift);
    int64_t q_fixed = (int64_t)mf_round(q * 2147483648.0);
    if (q_fixed == ((int64_t)1 << 31)) {
        q_fixed /= 2;
        ++shift;
    }
    if (shift < -31) {
        shift = 0;
        q_fixed = 0;
    }
#ifdef MF_SINGLE_ROUNDING
    if (shift > 30) {
        shift = 30;
        q_fixed = ((int64_t)1 << 31) - 1;
    }
#endif /* MF_SINGLE_ROUNDING */
    r.multiplier = (int32_t)q_fixed;
    r.shift = shift;
    return r;
}

mf_qm_t mf_quantize_multiplier_lt1(double real) {
    return mf_quantize_multiplier(real);
}

mf_qm_t mf_quantize_multiplier_gt1(double real) {
    return mf_quantize_multiplier(real);
}

mf_qm_t mf_preprocess_softmax_scaling(double beta, double input_scale, int input_integer_bits) {
    /* PreprocessSoftmaxScaling: the result is capped just below 2^31 so that the
     * multiplier stays representable. */
    double max_real = (double)(((int64_t)1 << 31) - 1);
    double real = beta * input_scale * (double)((int64_t)1 << (31 - input_integer_bits));
    if (real > max_real) {
        real = max_real;
    }
    return mf_quantize_multiplier_gt1(real);
}

int32_t mf_calculate_input_radius(int input_integer_bits, int input_left_shift, int total_signed_bits) {
    double max_input_rescaled = 1.0 * (double)((1 << input_integer_bits) - 1) *
        (double)((int64_t)1 << (total_signed_bits - input_integer_bits)) /
        (double)((int64_t)1 << input_left_shift);
    /* floor() without libm: the value is non-negative. */
    return (int32_t)(int64_t)max_input_rescaled;
}

int32_t mf_mul_by_qm64(int64_t x, int32_t multiplier, int shift) {
    /* MultiplyByQuantizedMultiplier(int64_t, ...): 15-bit reduced multiplier, rounding shift. */
    int32_t reduced = (multiplier < 0x7FFF0000) ? ((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    int total_shift = 15 - shift;
    x = (x * (int64_t)reduced) + ((int64_t)1 << (total_shift - 1));
    return (int32_t)(x >> total_shift);
}

static int mf_quantize_f(float scale, int32_t zero_point, float f, int32_t *q) {
    float tmp = mf_roundf(f / scale);
    if (!(tmp >= -2147483648.0f && tmp <= 2147483647.0f)) {
        return 0;
    }
    *q = zero_point + (int32_t)tmp;
    return 1;
}

int mf_activation_range_int8(int activation, float scale, int32_t zero_point, int32_t *lo, int32_t *hi) {
    int32_t q;
    *lo = -128;
    *hi = 127;
    if (activation == MF_ACT_RELU) {
        if (!mf_quantize_f(scale, zero_point, 0.0f, &q)) {
            return 0;
        }
        *lo = q > -128 ? q : -128;
    } else if (activation == MF_ACT_RELU6) {
        if (!mf_quantize_f(scale, zero_point, 0.0f, &q)) {
            return 0;
        }
        *lo = q > -128 ? q : -128;
        if (!mf_quantize_f(scale, zero_point, 6.0f, &q)) {
            return 0;
        }
        *hi = q < 127 ? q : 127;
    } else if (activation == MF_ACT_RELU_N1_TO_1) {
        if (!mf_quantize_f(scale, zero_point, -1.0f, &q)) {
            return 0;
        }
        *lo = q > -128 ? q : -128;
        if (!mf_quantize_f(scale, zero_point, 1.0f, &q)) {
            return 0;
        }
        *hi = q < 127 ? q : 127;
    }
    return 1;
}

int mf_activation_range_f32(int activation, float *lo, float *hi) {
    *lo = -3.402823466e+38f;
    *hi = 3.402823466e+38f;
    if (activation == MF_ACT_RELU) {
        *lo = 0.0f;
    } else if (activation == MF_ACT_RELU6) {
        *lo = 0.0f;
        *hi = 6.0f;
    } else if (activation == MF_ACT_RELU_N1_TO_1) {
        *lo = -1.0f;
        *hi = 1.0f;
    }
    return 1;
}
