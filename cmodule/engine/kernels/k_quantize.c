/* QUANTIZE / DEQUANTIZE kernels; see k_quantize.h. */
#include "k_quantize.h"

#include "mf_config.h"

#if MF_OP_QUANTIZE

void mf_k_quantize_f32_s8(float scale, int32_t zero_point, const float *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        float v = x[i] / scale;
        /* static_cast<int32_t>(std::round(v)) + zero_point, clamped to int8. Beyond
         * +-512 every v clamps alike (|zero_point| <= 128), so v is clamped there first
         * and the cast, undefined past int32 in C++, stays defined; NaN gives 0, as the
         * cast does on Arm. */
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
        y[i] = (int8_t)mf_clamp(t + zero_point, -128, 127);
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

#endif /* MF_OP_QUANTIZE */

#if MF_OP_DEQUANTIZE

void mf_k_dequantize_s8_f32(float scale, int32_t zero_point, const int8_t *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = scale * (float)(x[i] - zero_point);
    }
}

#endif /* MF_OP_DEQUANTIZE */
