/* QUANTIZE / DEQUANTIZE kernels; see k_quantize.h. */
#include "k_quantize.h"

#include "mf_config.h"

/* Every build has these (mf_write_window). */
int8_t mf_k_quantize_one(float v, int32_t zero_point) {
    int32_t t = 0;
    if (v == v) {
        v = v < -512.0f ? -512.0f : (v > 512.0f ? 512.0f : v);
        t = (int32_t)v;
        /* Round half away from zero; exact, as |v| < 2^23 (Sterbenz). */
        const float frac = v - (float)t;
        if (frac >= 0.5f) {
            t++;
        } else if (frac <= -0.5f) {
            t--;
        }
    }
    return (int8_t)mf_clamp(t + zero_point, -128, 127);
}

void mf_k_window(const float *x, int32_t n, int32_t start, const float *mean, const float *std,
    int32_t channels, float scale, int32_t zero_point, int8_t *y_s8, float *y_f32) {
    int32_t j = start, c = 0;
    for (int32_t i = 0; i < n; ++i) {
        const float v = (x[j] - mean[c]) / std[c];
        if (y_f32 != NULL) {
            y_f32[i] = v;
        } else {
            y_s8[i] = mf_k_quantize_one(v / scale, zero_point);
        }
        j = j + 1 == n ? 0 : j + 1;
        c = c + 1 == channels ? 0 : c + 1;
    }
}

#if MF_OP_ON(QUANTIZE)

void mf_k_quantize_f32_s8(float scale, int32_t zero_point, const float *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = mf_k_quantize_one(x[i] / scale, zero_point);
    }
}

void mf_k_requantize_s8(const mf_k_requantize_t *p, const int8_t *x, int8_t *y, int32_t n) {
    const mf_qmx_t q = mf_qmx(p->m);
    const int32_t in_zp = p->in_zp, out_zp = p->out_zp;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t o = mf_mul_by_qmx(x[i] - in_zp, &q) + out_zp;
        y[i] = (int8_t)mf_clamp(o, -128, 127);
    }
}

#endif /* MF_OP_ON(QUANTIZE) */

#if MF_OP_ON(DEQUANTIZE)

void mf_k_dequantize_s8_f32(float scale, int32_t zero_point, const int8_t *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = scale * (float)(x[i] - zero_point);
    }
}

#endif /* MF_OP_ON(DEQUANTIZE) */
