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

#include "mf_quant.h"

/* float32 -> int8: y = clamp(round_half_away(x / scale) + zero_point). Results that do
 * not fit int32 (where TFLM's float -> int cast is undefined) saturate, and NaN maps to
 * the zero point, as the cast does on Arm. */
void mf_k_quantize_f32_s8(float scale, int32_t zero_point, const float *x, int8_t *y, int32_t n);

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
