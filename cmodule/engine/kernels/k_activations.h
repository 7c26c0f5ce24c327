/*
 * Elementwise int8 activations: LOGISTIC, TANH, HARD_SWISH, RELU, RELU6 (and GELU,
 * whose table comes from float math in the graph glue).
 *
 * Every one of them maps an int8 input to an int8 output through a function of that
 * one value, so at load the graph glue runs the exact integer reference computation
 * (the *_s8_one functions below, bit-identical to TFLM's reference kernels) for all
 * 256 inputs into a table, and eval is a single table lookup per element
 * (mf_k_lut_s8). RELU6's clamp is a table too: on the host and on Cortex-M a lookup is
 * cheaper than two compare-and-selects.
 */
#ifndef MF_K_ACTIVATIONS_H
#define MF_K_ACTIVATIONS_H

#include <stdint.h>

#include "mf_quant.h"

/* out[i] = lut[(uint8_t)in[i]]: the table is indexed by the input's two's complement
 * byte, like TFLite's LUTPopulate tables. */
void mf_k_lut_s8(const int8_t *in, int8_t *out, int32_t n, const int8_t *lut);


/* reference_integer_ops::Logistic / Tanh for int8: input_in_q4 =
 * MultiplyByQuantizedMultiplier(x - zero_point, multiplier, left_shift) outside the
 * saturation radius. left_shift may be >= 31 only when range_radius is 0 (every input
 * then saturates before the multiply). */
typedef struct {
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_left_shift;
} mf_k_sigmoid_params_t;

/* out[i] = logistic (is_tanh 0) or tanh of in[i], computed one by one (small tensors,
 * where a table would cost more at load than it saves; in == out allowed). */
void mf_k_sigmoid_s8(const mf_k_sigmoid_params_t *p, int is_tanh, const int8_t *in, int8_t *out, int32_t n);


/* reference_ops::HardSwish<int8_t> (HardSwishParams). reluish_exponent in [-31, 31],
 * output_exponent in [-31, 0]. */
typedef struct {
    int16_t input_zero_point;
    int16_t output_zero_point;
    int16_t reluish_multiplier;   /* reluish_multiplier_fixedpoint_int16 */
    int16_t output_multiplier;    /* output_multiplier_fixedpoint_int16 */
    int32_t reluish_exponent;
    int32_t output_exponent;
} mf_k_hard_swish_params_t;

int8_t mf_k_hard_swish_s8_one(int8_t x, const mf_k_hard_swish_params_t *p);

/* TFLM ReluQuantized<int8_t>: clamp(out_zp + MBQM(x - in_zp, m, shift), act_min, act_max).
 * shift <= 23 so that (x - in_zp) << shift cannot overflow. */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    mf_qm_t output_qm;
    int32_t act_min;
    int32_t act_max;
} mf_k_relu_params_t;

int8_t mf_k_relu_s8_one(int8_t x, const mf_k_relu_params_t *p);

/* Table builders: lut[(uint8_t)x] = f(x) for all 256 inputs (load time). */
void mf_k_sigmoid_s8_lut(const mf_k_sigmoid_params_t *p, int is_tanh, int8_t *lut);
void mf_k_hard_swish_s8_lut(const mf_k_hard_swish_params_t *p, int8_t *lut);
void mf_k_relu_s8_lut(const mf_k_relu_params_t *p, int8_t *lut);
/* TFLM Relu6Quantized: min(max(x, lo), hi). */
void mf_k_clamp_s8_lut(int8_t lo, int8_t hi, int8_t *lut);

#endif /* MF_K_ACTIVATIONS_H */
