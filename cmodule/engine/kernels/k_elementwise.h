/*
 * Element-wise kernels: int8 ADD / SUB / MUL / SQUARED_DIFFERENCE with broadcasting,
 * their float32 forms, RSQRT (table) and NEG. Integer math is bit-identical to TFLM's
 * reference kernels (reference/integer_ops/add.h, reference/sub.h, integer_ops/mul.h,
 * micro/kernels/squared_difference.cc, micro/kernels/elementwise.cc).
 *
 * Broadcasting: the op's prepare turns the two input shapes into an mf_k_bcast_t once
 * (mf_k_bcast_loops / mf_k_bcast_fill); the kernels then walk the output in order, one
 * contiguous inner row at a time. The element function only depends on the two input
 * values, so the traversal order cannot change any result.
 */
#ifndef MF_K_ELEMENTWISE_H
#define MF_K_ELEMENTWISE_H

#include <stdint.h>

#include "mf_quant.h"

#define MF_K_BCAST_MAX 6

/* One loop of a broadcast plan: output extent and the element step of each input. */
typedef struct {
    int32_t extent;
    int32_t stride1;   /* 0: input 1 repeats along this loop */
    int32_t stride2;
} mf_k_loop_t;

/* Iteration plan of a broadcasting binary op over a contiguous output. Output dims of
 * extent 1 are dropped and neighbouring dims with the same broadcast pattern merged,
 * so [B,T,C] op [C] becomes two loops: an inner row of C with input strides (1, 1)
 * inside B*T rows with strides (C, 0); [B,T,C] op [B,T,1] gives an inner row of C with
 * strides (1, 0), i.e. a scalar second operand per row. Stored with only its nloops
 * loops (MF_K_BCAST_BYTES) to keep the per-node tables small. */
typedef struct {
    int32_t nloops;                  /* 0: empty output (nothing to do) */
    int32_t rows;                    /* product of the outer extents */
    mf_k_loop_t loop[];               /* innermost first: loop[0] is the row */
} mf_k_bcast_t;

#define MF_K_BCAST_BYTES(nloops) (sizeof(mf_k_bcast_t) + (size_t)(nloops) * sizeof(mf_k_loop_t))

/* Computes the loops for inputs of extended (same-rank, ndim <= MF_K_BCAST_MAX) shapes
 * d1, d2 whose broadcast output is out (already validated: each dim equal or 1) into
 * loops[MF_K_BCAST_MAX], innermost first; returns the loop count (0 for an empty output). */
int mf_k_bcast_loops(int ndim, const int32_t *d1, const int32_t *d2, const int32_t *out,
    mf_k_loop_t *loops);

/* Fills a plan of MF_K_BCAST_BYTES(nloops) bytes from mf_k_bcast_loops' result. */
void mf_k_bcast_fill(mf_k_bcast_t *plan, int nloops, const mf_k_loop_t *loops);

/* The int8 binary ops' parameters: one layout, so that prepare fills the fields they
 * share in one place. Small fields are narrow: one of these lives in the arena per node.
 * left_shift also names the op:
 *  - 20, ADD / SUB: each input is offset, shifted left by 20 and scaled by qm[i] to the
 *    common scale 2*max(s1, s2); the sum (difference) is scaled to the output;
 *  - 7, SQUARED_DIFFERENCE: like SUB with left_shift 7; the difference is squared and
 *    scaled by a general (possibly > 1) output multiplier; act_* is the whole int8 range;
 *  - 0, MUL: (x1 + in_offset[0]) * (x2 + in_offset[1]) scaled by qm[2] (qm[0], qm[1] and
 *    in2_sign unused). */
typedef struct {
    mf_qm_t qm[3];        /* inputs 0 and 1 (shift <= 0), then the output (ADD / SUB:
                           * shift <= 0; else any shift in [-31, 30]) */
    int16_t in_offset[2]; /* -zero_point */
    int16_t out_offset;   /* output zero point */
    int16_t act_min;
    int16_t act_max;
    int8_t left_shift;
    int8_t in2_sign;      /* +1 ADD, -1 SUB */
} mf_k_binary_s8_t;

/* The op p->left_shift names, over plan b. */
void mf_k_binary_s8(const mf_k_binary_s8_t *p, const mf_k_bcast_t *b, const int8_t *x1,
    const int8_t *x2, int8_t *y);

/* float32 binary ops, clamped like TFLM's ActivationFunctionWithMinMax (so +inf
 * becomes FLT_MAX even without an activation); SQUARED_DIFFERENCE is not clamped. */
enum {
    MF_K_F32_ADD = 0,
    MF_K_F32_SUB = 1,
    MF_K_F32_MUL = 2,
    MF_K_F32_SQDIFF = 3,
};

typedef struct {
    int32_t op;           /* MF_K_F32_* */
    float act_min;
    float act_max;
} mf_k_binary_f32_t;

void mf_k_binary_f32(const mf_k_binary_f32_t *p, const mf_k_bcast_t *b, const float *x1,
    const float *x2, float *y);

/* RSQRT (int8), TFLM's RsqrtEvalQuantized: input zero point, output multiplier/shift
 * (QuantizeMultiplier of 1 / (sqrtf(s_in) * s_out)) and output zero point. TFLM fails
 * the invoke on inputs below the zero point; those saturate to 127 here, like 0. */
typedef struct {
    int32_t in_zp;
    mf_qm_t out;
    int32_t out_zp;
} mf_k_rsqrt_t;

/* Per element (a few Newton steps each): for small tensors. */
void mf_k_rsqrt_s8(const mf_k_rsqrt_t *p, const int8_t *x, int8_t *y, int32_t n);
/* The same for all 256 int8 values into lut (index (uint8_t)q, the layout of the
 * activation tables), applied with mf_k_lut_s8 (k_activations.h). */
void mf_k_rsqrt_s8_lut(const mf_k_rsqrt_t *p, int8_t *lut);

/* RSQRT (float32): 1 / sqrtf(x). */
void mf_k_rsqrt_f32(const float *x, float *y, int32_t n);

/* NEG (int8, same scale in and out): y = clamp(in_zp + out_zp - x). */
void mf_k_neg_s8(int32_t zp_sum, const int8_t *x, int8_t *y, int32_t n);

/* NEG (float32). */
void mf_k_neg_f32(const float *x, float *y, int32_t n);

#endif /* MF_K_ELEMENTWISE_H */
