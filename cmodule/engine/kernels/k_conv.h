/*
 * Int8 CONV_2D and DEPTHWISE_CONV_2D kernels (NHWC input, per-channel requantization),
 * equal to TFLM's reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel.
 *
 * The reference accumulates w * (x + input_offset) over the taps inside the image and
 * skips the others. CONV_2D gathers outside taps as x = input_zero_point, whose term
 * is zero, so every output is one dot product with the input offset applied inside it
 * (see k_fully_connected.h); DEPTHWISE skips them like the reference. The bias is read
 * from the model: nothing per channel but the requantization is kept in RAM.
 */
#ifndef MF_K_CONV_H
#define MF_K_CONV_H

#include <stdint.h>

#include "mf_quant.h"

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t f_h, f_w;
    int32_t f_c;          /* CONV_2D: input channels per group; DEPTHWISE: unused */
    int32_t groups;       /* CONV_2D: in_c / f_c */
    int32_t mult;         /* DEPTHWISE: depth multiplier, out_c = in_c * mult */
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_h, pad_w; /* padding before the first row / column */
    int32_t in_zp;        /* value of taps outside the image */
    int32_t out_offset;
    int32_t act_min, act_max;
    const int32_t *qmult; /* per output channel */
    const int8_t *shift;  /* per output channel */
} mf_conv_params_t;

/* Scratch bytes eval needs: the gathered patch (CONV_2D) or the per-channel int32
 * accumulators (DEPTHWISE). */
uint32_t mf_k_conv_scratch(const mf_conv_params_t *p);
uint32_t mf_k_depthwise_scratch(const mf_conv_params_t *p);

/* filter [out_c][f_h][f_w][f_c]; bias out_c int32 or NULL; scratch 8-byte aligned. */
void mf_k_conv_s8(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias, int8_t *out,
    uint8_t *scratch);
/* filter [1][f_h][f_w][out_c]; bias as above; scratch 8-byte aligned. */
void mf_k_depthwise_s8(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out, uint8_t *scratch);

#endif /* MF_K_CONV_H */
