/*
 * QUANTIZE / DEQUANTIZE kernels, bit-identical to TFLM's reference_ops::AffineQuantize,
 * reference_ops::Dequantize and reference_ops::Requantize.
 *
 * These two take a float scale at run time on purpose: AffineQuantize divides by the
 * float scale and rounds, and only that exact float division reproduces its results
 * (a reciprocal multiply rounds differently). Both run only on the small float islands
 * the converter leaves (DEQUANTIZE -> NEG -> QUANTIZE in LayerNorm).
 */
#ifndef MF_K_QUANTIZE_H
#define MF_K_QUANTIZE_H

#include <stdint.h>

#include "mf_config.h"
#include "mf_quant.h"

/* float32 -> int8 for one value v = x / scale: clamp(round_half_away(v) + zero_point),
 * i.e. static_cast<int32_t>(std::round(v)) + zero_point clamped to int8 as in TFLM's
 * AffineQuantize. Beyond +-512 every v clamps alike (|zero_point| <= 128), so v is
 * clamped there first and the float -> int conversion, undefined past int32 in C, stays
 * defined; NaN gives the zero point (the cast gives 0 on Arm). The one rounding step of
 * the engine's float -> int8 paths (QUANTIZE and mf_write_window). */
int8_t mf_k_quantize_one(float v, int32_t zero_point);

/* float32 -> int8: y = mf_k_quantize_one(x / scale, zero_point). */
void mf_k_quantize_f32_s8(float scale, int32_t zero_point, const float *x, int8_t *y, int32_t n);

/* One window of raw float32 samples, normalized per channel, into a tensor of n values:
 * value i is sample x[(start + i) mod n] of channel c = i mod channels, and
 *   y = (x - mean[c]) / std[c]                      (float32, two IEEE operations)
 * is stored as is into y_f32, or as mf_k_quantize_one(y / scale, zero_point) into y_s8
 * (exactly one of the two is non-NULL). The one formula by which a window enters a
 * model, on the device and on the host (host/microformer/quant.py mirrors it in numpy for
 * training-time code). Divisions, not multiplications by reciprocals: no fused
 * multiply-add can change the rounding, so every IEEE-754 float32 target gives the same
 * bytes. 0 <= start < n, channels >= 1. */
void mf_k_window(const float *x, int32_t n, int32_t start, const float *mean, const float *std,
    int32_t channels, float scale, int32_t zero_point, int8_t *y_s8, float *y_f32);

/* int8 -> float32: y = (float)(scale * (x - zero_point)). TFLM multiplies in double, but
 * the exact product of a float and a 9-bit integer rounds to the same float either way. */
void mf_k_dequantize_s8_f32(float scale, int32_t zero_point, const int8_t *x, float *y, int32_t n);

/* Requantize int8 -> int8: clamp(MultiplyByQuantizedMultiplier(x - in_zp, m) + out_zp). */
typedef struct {
    int32_t in_zp;
    mf_qm_t m;
    int32_t out_zp;
} mf_k_requantize_t;

void mf_k_requantize_s8(const mf_k_requantize_t *p, const int8_t *x, int8_t *y, int32_t n);

#endif /* MF_K_QUANTIZE_H */
