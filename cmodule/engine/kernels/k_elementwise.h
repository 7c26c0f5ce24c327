/*
 * Element-wise kernels: int8 ADD / SUB / MUL / SQUARED_DIFFERENCE with broadcasting,
 * their float32 forms, RSQRT (table) and NEG. Integer math is bit-identical to TFLM's
 * reference kernels (reference/integer_ops/add.h, reference/sub.h, integer_ops/mul.h,
 * micro/kernels/squared_difference.cc, micro/kernels/elementwise.cc).
 *
 * Broadcasting: the op's prepare turns the two input shapes into an mfk_bcast_t once
 * (mfk_bcast_plan); the kernels then walk the output in order, one contiguous inner
 * row at a time. The element function only depends on the two input values, so the
 * traversal order cannot change any result.
 */
#ifndef MF_K_ELEMENTWISE_H
#define MF_K_ELEMENTWISE_H

#include <stdint.h>

#include "mf_quant.h"

#define MFK_BCAST_MAX 6

/* Iteration plan of a broadcasting binary op over a contiguous output. Output dims of
 * extent 1 are dropped and neighbouring dims with the same broadcast pattern merged,
 * so [B,T,C] op [C] becomes two loops: B*T rows with input strides (C, 0), then an
 * inner row of C with strides (1, 1); [B,T,C] op [B,T,1] gives an inner row of C with
 * strides (1, 0), i.e. a scalar second operand per row. */
typedef struct {
    int32_t nloops;                  /* 0: empty output (nothing to do) */
    int32_t rows;                    /* product of the outer extents */
    int32_t extent[MFK_BCAST_MAX];   /* outermost first; extent[nloops-1] = row length */
    int32_t stride1[MFK_BCAST_MAX];  /* input 1 elements per step of loop d (0 = broadcast) */
    int32_t stride2[MFK_BCAST_MAX];
} mfk_bcast_t;

/* Builds the plan for inputs of extended (same-rank, ndim <= MFK_BCAST_MAX) shapes d1, d2
 * whose broadcast output is out (already validated: each dim equal or 1). */
void mfk_bcast_plan(int ndim, const int32_t *d1, const int32_t *d2, const int32_t *out,
    mfk_bcast_t *plan);

/* ADD / SUB (int8): each input is offset, shifted left by left_shift (20) and scaled to
 * the common scale 2*max(s1, s2); the sum (difference) is scaled to the output. */
typedef struct {
    int32_t in1_offset;   /* -zero_point */
    int32_t in2_offset;
    mf_qm_t in1;          /* shift <= 0 */
    mf_qm_t in2;
    mf_qm_t out;          /* shift <= 0 */
    int32_t out_offset;   /* output zero point */
    int32_t left_shift;
    int32_t in2_sign;     /* +1 ADD, -1 SUB */
    int32_t act_min;
    int32_t act_max;
} mfk_addsub_t;

void mfk_addsub_s8(const mfk_addsub_t *p, const mfk_bcast_t *b, const int8_t *x1,
    const int8_t *x2, int8_t *y);

/* SQUARED_DIFFERENCE (int8): like SUB with left_shift 7; the difference is squared and
 * scaled by a general (possibly > 1) output multiplier; result clamped to int8. Uses
 * in1/in2/out/offsets/left_shift of mfk_addsub_t (in2_sign and act_* unused). */
void mfk_squared_difference_s8(const mfk_addsub_t *p, const mfk_bcast_t *b,
    const int8_t *x1, const int8_t *x2, int8_t *y);

/* MUL (int8): (x1 + in1_offset) * (x2 + in2_offset) scaled by out, plus out_offset. */
typedef struct {
    int32_t in1_offset;
    int32_t in2_offset;
    mf_qm_t out;          /* any shift in [-31, 31] */
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
} mfk_mul_t;

void mfk_mul_s8(const mfk_mul_t *p, const mfk_bcast_t *b, const int8_t *x1,
    const int8_t *x2, int8_t *y);

/* float32 binary ops, clamped like TFLM's ActivationFunctionWithMinMax (so +inf
 * becomes FLT_MAX even without an activation); SQUARED_DIFFERENCE is not clamped. */
enum {
    MFK_F32_ADD = 0,
    MFK_F32_SUB = 1,
    MFK_F32_MUL = 2,
    MFK_F32_SQDIFF = 3,
};

typedef struct {
    int32_t op;           /* MFK_F32_* */
    float act_min;
    float act_max;
} mfk_binary_f32_t;

void mfk_binary_f32(const mfk_binary_f32_t *p, const mfk_bcast_t *b, const float *x1,
    const float *x2, float *y);

/* y[i] = lut[x[i] + 128]: any int8 -> int8 function precomputed at load (RSQRT,
 * int8 requantization). */
void mfk_lut_s8(const int8_t *lut, const int8_t *x, int8_t *y, int32_t n);

/* RSQRT (int8) of every int8 value into lut[256] (index q + 128), exactly as TFLM's
 * RsqrtEvalQuantized with the given input zero point, output multiplier/shift
 * (QuantizeMultiplier of 1 / (sqrt(s_in) * s_out)) and output zero point. TFLM fails
 * the invoke on inputs below the zero point; those entries saturate to 127 like 0. */
void mfk_rsqrt_s8_lut(int32_t in_zp, mf_qm_t out, int32_t out_zp, int8_t *lut);

/* RSQRT (float32): 1 / sqrtf(x). */
void mfk_rsqrt_f32(const float *x, float *y, int32_t n);

/* NEG (int8, same scale in and out): y = clamp(in_zp + out_zp - x). */
void mfk_neg_s8(int32_t zp_sum, const int8_t *x, int8_t *y, int32_t n);

/* NEG (float32). */
void mfk_neg_f32(const float *x, float *y, int32_t n);

#endif /* MF_K_ELEMENTWISE_H */
