/* QUANTIZE / DEQUANTIZE kernels; see k_quantize.h. */
#include "k_quantize.h"

#include "mf_config.h"

#if MF_OP_QUANTIZE

/* static_cast<int32_t>(std::round(v)) with round half away from zero; saturating and
 * NaN -> 0 where the C++ cast is undefined. */
static inline int32_t round_to_i32(float v) {
    if (v != v) {
        return 0;
    }
    if (v >= 2147483648.0f) {
        return INT32_MAX;
    }
    if (v <= -2147483648.0f) {
        return INT32_MIN;
    }
    int32_t t = (int32_t)v;
    /* Exact: for |v| < 2^23 Sterbenz applies, above it v is already an integer. */
    const float frac = v - (float)t;
    if (frac >= 0.5f) {
        t++;
    } else if (frac <= -0.5f) {
        t--;
    }
    return t;
}

void mfk_quantize_f32_s8(float scale, int32_t zero_point, const float *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        const float q = x[i] / scale;
        const int64_t v = (int64_t)round_to_i32(q) + zero_point;
        y[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
}

void mfk_requantize_s8(const mfk_requantize_t *p, const int8_t *x, int8_t *y, int32_t n) {
    const mf_qmx_t q = mf_qmx(p->m);
    const int32_t in_zp = p->in_zp, out_zp = p->out_zp;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t o = mf_mul_by_qmx(x[i] - in_zp, &q) + out_zp;
        y[i] = (int8_t)mf_clamp(o, -128, 127);
    }
}

#endif /* MF_OP_QUANTIZE */

#if MF_OP_DEQUANTIZE

void mfk_dequantize_s8_f32(float scale, int32_t zero_point, const int8_t *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = scale * (float)(x[i] - zero_point);
    }
}

#endif /* MF_OP_DEQUANTIZE */
