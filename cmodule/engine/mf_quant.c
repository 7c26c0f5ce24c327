/* Quantization math; see mf_quant.h for the rounding modes. */
#include "mf_quant.h"

#include <string.h>

/* ==================================================================== exact reals ==== */
#define MF_REAL_HIDDEN ((uint64_t)1 << 52)

/* The 53-bit significand m and exponent e of x = m * 2^e (x normal, so not 0). */
static uint64_t mf_real_sig(mf_real_t x) {
    return (x & (MF_REAL_HIDDEN - 1)) | MF_REAL_HIDDEN;
}
static int32_t mf_real_exp(mf_real_t x) {
    return (int32_t)(x >> 52) - 1075;
}

/* (q + s) * 2^e rounded to nearest even, where 0 <= s < 1 is known only as "s > 0"
 * (sticky). A q below 2^53 only occurs with sticky 0 (exact values): every caller
 * keeps at least 54 exact bits otherwise. */
static mf_real_t mf_real_pack(uint64_t q, int sticky, int32_t e) {
    if (q == 0) {
        return 0;
    }
    /* Normalize q to [2^53, 2^54) (10 leading zeros) in one shift; bits shifted out on
     * the right only count as sticky. */
    const uint32_t hi = (uint32_t)(q >> 32);
    const int lz = hi ? mf_clz32(hi) : 32 + mf_clz32((uint32_t)q);
    if (lz > 10) {
        q <<= lz - 10;
        e -= lz - 10;
    } else if (lz < 10) {
        const int n = 10 - lz;
        sticky |= (q & (((uint64_t)1 << n) - 1)) != 0;
        q >>= n;
        e += n;
    }
    /* 53 bits and a guard bit: round up when the guard is set and the rest is nonzero or
     * the result odd. A carry to 2^53 lands in the exponent field, as it must. */
    q = (q >> 1) + (q & 1 & ((q >> 1) | (uint64_t)sticky));
    return q + ((uint64_t)(e + 1075) << 52);
}

mf_real_t mf_real_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    const uint32_t be = (u >> 23) & 0xff, frac = u & 0x7fffff;
    /* Subnormal floats (be = 0) are frac * 2^-149 with no hidden bit; +inf and NaN
     * (be = 255) become (1 + frac / 2^23) * 2^600. */
    return mf_real_pack(be ? frac | 0x800000 : frac, 0, be == 255 ? 600 - 23 : (be ? (int32_t)be : 1) - 150);
}

mf_real_t mf_real_mul(mf_real_t a, mf_real_t b) {
    if (a == 0 || b == 0) {
        return 0;
    }
    /* The exact 106-bit product of the significands from four 32x32->64 products (one
     * UMULL each on Cortex-M3 and up): p = hi * 2^64 + lo, in [2^104, 2^106). pack gets
     * floor(p / 2^51), in [2^53, 2^55), and whether the 51 bits below it are nonzero as
     * the sticky bit. */
    const uint64_t ma = mf_real_sig(a), mb = mf_real_sig(b);
    const uint32_t a0 = (uint32_t)ma, a1 = (uint32_t)(ma >> 32);
    const uint32_t b0 = (uint32_t)mb, b1 = (uint32_t)(mb >> 32);
    const uint64_t p00 = (uint64_t)a0 * b0, p01 = (uint64_t)a0 * b1;
    const uint64_t p10 = (uint64_t)a1 * b0, p11 = (uint64_t)a1 * b1;
    const uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;  /* < 3 * 2^32 */
    const uint64_t lo = (uint32_t)p00 | (mid << 32);
    const uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return mf_real_pack((hi << 13) | (lo >> 51), (lo & (((uint64_t)1 << 51) - 1)) != 0,
        mf_real_exp(a) + mf_real_exp(b) + 51);
}

/* Restoring long division, one quotient bit per step: returns q * 2^bits +
 * floor(*r * 2^bits / d) and leaves the remainder in *r; needs *r < d < 2^63. */
static uint64_t mf_div_bits(uint64_t *r, uint64_t d, int bits, uint64_t q) {
    uint64_t x = *r;
    while (bits-- > 0) {
        x <<= 1;
        q <<= 1;
        if (x >= d) {
            x -= d;
            q |= 1;
        }
    }
    *r = x;
    return q;
}

mf_real_t mf_real_div(mf_real_t a, mf_real_t b) {
    if (a == 0) {
        return 0;
    }
    /* ma < 2 mb: q = floor(ma * 2^56 / (2 mb)) > 2^54, the remainder is the sticky bit. */
    uint64_t r = mf_real_sig(a);
    const uint64_t q = mf_div_bits(&r, mf_real_sig(b) << 1, 56, 0);
    return mf_real_pack(q, r != 0, mf_real_exp(a) - mf_real_exp(b) - 55);
}

mf_real_t mf_real_addsub(mf_real_t a, mf_real_t b, int sub) {
    if (a < b) {
        mf_real_t t = a;
        a = b;
        b = t;
    }
    if (b == 0) {
        return a;
    }
    /* Align b to a with 10 guard bits; bits shifted out of b are only known as sticky.
     * Then a - b = (ma - mb - 1) + (1 - those bits). Sticky bits need an exponent gap
     * above 10, which leaves ma - mb >= 2^61: enough exact bits for pack. */
    const uint64_t ma = mf_real_sig(a) << 10;
    uint64_t mb = mf_real_sig(b) << 10;
    int32_t d = (int32_t)(a >> 52) - (int32_t)(b >> 52);
    int sticky = 0;
    while (d-- > 0) {
        sticky |= (int)mb & 1;
        mb >>= 1;
    }
    return mf_real_pack(sub ? ma - mb - (uint64_t)sticky : ma + mb, sticky, mf_real_exp(a) - 10);
}

uint32_t mf_real_frexp_q31(mf_real_t x, int *e) {
    if (x == 0) {
        *e = 0;
        return 0;
    }
    /* x = (m / 2^53) * 2^(exp + 53) with m / 2^53 in [0.5, 1); q * 2^31 = m / 2^22. */
    *e = mf_real_exp(x) + 53;
    return (uint32_t)((mf_real_sig(x) + ((uint64_t)1 << 21)) >> 22);
}

uint32_t mf_udiv_shl(uint32_t x, int sh, uint32_t n) {
    uint64_t r = x % n;
    return (uint32_t)mf_div_bits(&r, n, sh, x / n);
}
/* ================================================================ end exact reals ==== */

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

mf_qm_t mf_quantize_multiplier(mf_real_t real) {
    mf_qm_t r;
    int shift;
    /* frexp and round(q * 2^31); real = 0 gives 0 and shift 0, as TFLite's early return. */
    uint32_t q_fixed = mf_real_frexp_q31(real, &shift);
    if (q_fixed == (uint32_t)1 << 31) {
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
        q_fixed = ((uint32_t)1 << 31) - 1;
    }
#endif /* MF_SINGLE_ROUNDING */
    r.multiplier = (int32_t)q_fixed;
    r.shift = shift;
    return r;
}

mf_qm_t mf_preprocess_softmax_scaling(float beta, float input_scale, int input_integer_bits) {
    /* PreprocessSoftmaxScaling: the result is capped so that the multiplier stays
     * representable (TFLite caps at 2^30 - 1 in single-rounding builds). The constants
     * are the doubles 2^30 - 1 and 2^31 - 1. */
    mf_qm_t none = {0, 0};
#ifdef MF_SINGLE_ROUNDING
    const mf_real_t max_real = 0x41CFFFFFFF800000u;
#else
    const mf_real_t max_real = 0x41DFFFFFFFC00000u;
#endif /* MF_SINGLE_ROUNDING */
    /* QuantizeMultiplierGreaterThanOne: TFLITE_CHECK_GT(real, 1) aborts when real <= 1
     * or is NaN, which is the case for any beta that is not positive (or NaN). */
    if (!(beta > 0.0f)) {
        return none;
    }
    /* beta * input_scale * (1 << (31 - input_integer_bits)): exact products. */
    mf_real_t real = mf_real_mul(mf_real_mul(mf_real_from_float(beta), mf_real_from_float(input_scale)),
        mf_real_pow2(31 - input_integer_bits));
    /* std::min<double>(real, max); an infinite beta (read as >= 2^600) gives the cap. */
    if (max_real < real) {
        real = max_real;
    }
    if (!(real > mf_real_pow2(0))) {
        return none;
    }
    return mf_quantize_multiplier(real);
}

int32_t mf_calculate_input_radius(int input_integer_bits, int input_left_shift, int total_signed_bits) {
    /* TFLite's double expression is exact (an integer below 2^31 times powers of two),
     * so its floor is this integer shift. */
    const uint32_t max_input_rescaled = (((uint32_t)1 << input_integer_bits) - 1) <<
        (total_signed_bits - input_integer_bits);
    return input_left_shift >= 32 ? 0 : (int32_t)(max_input_rescaled >> input_left_shift);
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
    /* TFLM quantizes the finite bounds of the float range (RELU: 0; RELU6: 0 and 6;
     * RELU_N1_TO_1: -1 and 1) and clamps them to int8; one code path for all three. */
    float flo, fhi;
    int32_t q;
    *lo = -128;
    *hi = 127;
    if (activation != MF_ACT_RELU && activation != MF_ACT_RELU6 && activation != MF_ACT_RELU_N1_TO_1) {
        return 1;
    }
    mf_activation_range_f32(activation, &flo, &fhi);
    if (!mf_quantize_f(scale, zero_point, flo, &q)) {
        return 0;
    }
    *lo = q > -128 ? q : -128;
    if (activation != MF_ACT_RELU) {
        if (!mf_quantize_f(scale, zero_point, fhi, &q)) {
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

/* ==================================================================== fixed point ====
 * gemmlowp fixedpoint.h and the TFLite helpers built on it; see mf_quant.h. */

int32_t mf_fp_rounding_half_sum(int32_t a, int32_t b) {
    int64_t sum = (int64_t)a + (int64_t)b;
    int64_t sign = sum >= 0 ? 1 : -1;
    /* Division truncates toward zero, as in gemmlowp. */
    return (int32_t)((sum + sign) / 2);
}

/* gemmlowp::SaturatingRoundingMultiplyByPOT<exponent> (int32): saturating left shift for
 * exponent > 0, RoundingDivideByPOT for exponent < 0. Also Rescale<dst>(FixedPoint<src>)
 * which is this with exponent = src - dst. */
static MF_QUANT_HOT int32_t mf_fp_mul_pot(int32_t x, int exponent) {
    if (exponent > 0) {
        int32_t threshold = (int32_t)(((int32_t)1 << (31 - exponent)) - 1);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return (int32_t)((uint32_t)x << exponent);
    }
    if (exponent < 0) {
        return mf_rdbypot(x, -exponent);
    }
    return x;
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8. */
static int32_t mf_fp_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t constant_term = 1895147668;  /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    int32_t x = mf_wadd(a, (int32_t)1 << 28);  /* a + 1/8 */
    int32_t x2 = mf_srdhm(x, x);
    int32_t x3 = mf_srdhm(x2, x);
    int32_t x4 = mf_srdhm(x2, x2);
    int32_t x4_over_4 = mf_fp_mul_pot(x4, -2);
    int32_t poly = mf_fp_mul_pot(mf_wadd(mf_srdhm(mf_wadd(x4_over_4, x3), constant_1_over_3), x2), -1);
    return mf_wadd(constant_term, mf_srdhm(constant_term, mf_wadd(x, poly)));
}

int32_t mf_fp_exp_on_negative_values(int32_t a, int integer_bits) {
    /* Q0.31 values of exp(-2^k) for k = -2 .. 4, applied per set bit of the integer part. */
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    int32_t a_mod_quarter_minus_one_quarter = mf_wsub(a & mask, one_quarter);
    int32_t result = mf_fp_exp_on_interval_between_negative_one_quarter_and_0_excl(
        mf_fp_mul_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    int32_t remainder = mf_wsub(a_mod_quarter_minus_one_quarter, a);
    for (int k = 0; k < 7; k++) {
        int exponent = k - 2;
        if (integer_bits > exponent) {
            int shift = fractional_bits + exponent;
            if ((uint32_t)remainder & ((uint32_t)1 << shift)) {
                result = mf_srdhm(result, barrel[k]);
            }
        }
    }
    if (integer_bits > 5) {
        /* Below -32 the result is 0. */
        int32_t clamp = -((int32_t)1 << (36 - integer_bits));
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX;  /* FixedPoint<int32_t, 0>::One() */
    }
    return result;
}

/* The Newton-Raphson iteration shared by 1/(1+x) and (1-x)/(1+x): returns Q2.29 of
 * 1 / half_denominator where half_denominator = (1 + a) / 2. */
static int32_t mf_fp_newton_reciprocal_q2(int32_t a) {
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t half_denominator = mf_fp_rounding_half_sum(a, INT32_MAX);
    int32_t x = mf_wadd(constant_48_over_17, mf_srdhm(half_denominator, constant_neg_32_over_17));
    for (int i = 0; i < 3; i++) {
        int32_t half_denominator_times_x = mf_srdhm(half_denominator, x);
        int32_t one_minus_half_denominator_times_x = mf_wsub(one_q2, half_denominator_times_x);
        /* Q2 * Q2 = Q4, rescaled to Q2. */
        x = mf_wadd(x, mf_fp_mul_pot(mf_srdhm(x, one_minus_half_denominator_times_x), 2));
    }
    return x;
}

int32_t mf_fp_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    /* ExactMulByPot<-1> makes Q2 into Q1, then Rescale<0>. */
    return mf_fp_mul_pot(mf_fp_newton_reciprocal_q2(a), 1);
}

int32_t mf_fp_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
    return mf_fp_mul_pot(mf_wsub(mf_fp_newton_reciprocal_q2(a), (int32_t)1 << 29), 2);
}

int32_t mf_fp_logistic(int32_t a, int integer_bits) {
    if (a == 0) {
        return (int32_t)1 << 30;  /* one half */
    }
    int32_t abs_input = a > 0 ? a : mf_wsub(0, a);
    int32_t result_if_positive = mf_fp_one_over_one_plus_x_for_x_in_0_1(
        mf_fp_exp_on_negative_values(mf_wsub(0, abs_input), integer_bits));
    return a > 0 ? result_if_positive : mf_wsub(INT32_MAX, result_if_positive);
}

int32_t mf_fp_tanh(int32_t a, int integer_bits) {
    if (a == 0) {
        return 0;
    }
    int32_t n = a < 0 ? a : mf_wsub(0, a);
    /* ExactMulByPot<1>: the same raw value read with one more integer bit is 2n. */
    int32_t t = mf_fp_one_minus_x_over_one_plus_x_for_x_in_0_1(
        mf_fp_exp_on_negative_values(n, integer_bits + 1));
    return a < 0 ? mf_wsub(0, t) : t;
}

int32_t mf_fp_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    int headroom_plus_one = mf_clz32((uint32_t)x);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    return mf_fp_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

/* int16 wrap-around as the C++ implicit conversions do it. */
static int16_t mf_wrap16(int32_t x) {
    uint32_t u = (uint32_t)x & 0xffffu;
    return (int16_t)(u >= 0x8000u ? (int32_t)u - 0x10000 : (int32_t)u);
}

/* Arithmetic right shift without relying on implementation-defined >> of negatives. */
static int32_t mf_asr(int32_t x, int n) {
    return x < 0 ? ~(int32_t)(~(uint32_t)x >> n) : (int32_t)((uint32_t)x >> n);
}

int16_t mf_fp_srdhm16(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    int32_t ab = (int32_t)a * (int32_t)b;
    int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

int16_t mf_fp_sdhm16(int16_t a, int16_t b) {
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    int32_t ab = (int32_t)a * (int32_t)b;
    return (int16_t)(ab / (1 << 15));
}

int16_t mf_fp_rdbypot16(int16_t x, int exponent) {
    /* gemmlowp computes mask, threshold and sum in int16: for exponent >= 16 the mask
     * (2^exponent - 1) truncates to -1. */
    int16_t mask = mf_wrap16((int32_t)(((int64_t)1 << exponent) - 1));
    int16_t remainder = (int16_t)(x & mask);
    int16_t threshold = mf_wrap16(mf_asr(mask, 1) + (x < 0 ? 1 : 0));
    return mf_wrap16(mf_asr(x, exponent) + (remainder > threshold ? 1 : 0));
}

int16_t mf_fp_sat_shl16(int16_t x, int amount) {
    int64_t r = (int64_t)x * ((int64_t)1 << amount);
    if (r > INT16_MAX) {
        return INT16_MAX;
    }
    if (r < INT16_MIN) {
        return INT16_MIN;
    }
    return (int16_t)r;
}

int16_t mf_downscale_multiplier_int16(int32_t multiplier) {
    const int32_t rounding_offset = 1 << 15;
    if (multiplier >= INT32_MAX - rounding_offset) {
        return INT16_MAX;
    }
    return (int16_t)((multiplier + rounding_offset) >> 16);
}

void mf_lut_populate_s8(float input_scale, int32_t input_zero_point, float output_scale,
    int32_t output_zero_point, float (*transform)(float), int8_t *lut) {
    const float inverse_scale = 1.0f / output_scale;
    for (int32_t val = -128; val <= 127; val++) {
        const float dequantized = input_scale * (float)(val - input_zero_point);
        /* volatile: no compiler may fuse this product into a later add (TFLite does not). */
        volatile float product = transform(dequantized) * inverse_scale;
        const float rescaled = mf_roundf(product);
        const float sum = rescaled + (float)output_zero_point;
        int32_t quantized;
        if (sum >= 2147483648.0f) {
            quantized = INT32_MAX;
        } else if (sum >= -2147483648.0f) {
            quantized = (int32_t)sum;
        } else {
            quantized = INT32_MIN;  /* also NaN */
        }
        lut[(uint8_t)(int8_t)val] = (int8_t)mf_clamp(quantized, -128, 127);
    }
}
/* ================================================================ end fixed point ==== */
