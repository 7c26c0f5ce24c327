/*
 * Int8 MAX_POOL_2D and AVERAGE_POOL_2D (NHWC), equal to TFLM's
 * reference_integer_ops::MaxPool / AveragePool: windows are clipped to the image
 * (padding never counts), the average divides the int32 sum by the number of taps inside
 * with rounding half away from zero, then the fused activation clamps.
 */
#ifndef MF_K_POOL_H
#define MF_K_POOL_H

#include <stdint.h>

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, depth;
    int32_t out_h, out_w;
    int32_t f_h, f_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} mf_pool_params_t;

void mf_k_max_pool_s8(const mf_pool_params_t *p, const int8_t *in, int8_t *out);

/* Scratch: depth int32 accumulators (8-byte aligned). */
uint32_t mf_k_avg_pool_scratch(const mf_pool_params_t *p);
void mf_k_avg_pool_s8(const mf_pool_params_t *p, const int8_t *in, int8_t *out, uint8_t *scratch);

#endif /* MF_K_POOL_H */
