/*
 * Reduction kernels: MEAN over any set of axes, int8 (TFLM reference_ops::
 * QuantizedMeanOrSum, which is the only int8 MEAN path of the current TFLM) and float32
 * (reference_ops::Mean; TFLM's 4-D axes {1,2} float special case sums in the same order
 * and divides by the same count, so it gives the same bits).
 *
 * The op's prepare folds the input shape (mf_k_reduce_plan): dims of extent 1 are
 * dropped and neighbouring dims that are both kept or both reduced are merged, leaving
 * at most MF_K_RED_MAX alternating loops. When each output is the sum of one contiguous
 * run ([kept..., reduced...], or nothing reduced) the plan is the two loops [outputs,
 * run] and no scratch is needed; otherwise sums are accumulated in int32 scratch
 * (float: in the output).
 */
#ifndef MF_K_REDUCE_H
#define MF_K_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "mf_quant.h"

#define MF_K_RED_MAX 6

typedef struct {
    int32_t extent;
    int32_t out_stride;                /* 0 for reduced loops */
} mf_k_rloop_t;

/* Stored with only its nloops loops (MF_K_REDUCE_BYTES). The loader refuses dims of 0,
 * so every extent and count is >= 1. */
typedef struct {
    int32_t nloops;                    /* >= 2 */
    int32_t direct;                    /* loops [num_out kept, per_out reduced]: row r is output r */
    int32_t rows;                      /* product of the outer extents */
    int32_t inner;                     /* innermost extent: elements per row */
    int32_t inner_reduced;             /* the innermost loop is a reduced one */
    int32_t num_out;                   /* output elements */
    int32_t per_out;                   /* input elements summed into each output */
    mf_k_rloop_t loop[];                /* outermost first */
} mf_k_reduce_t;

#define MF_K_REDUCE_BYTES(nloops) (sizeof(mf_k_reduce_t) + (size_t)(nloops) * sizeof(mf_k_rloop_t))

/* Plans the reduction of an input of ndim dims (ndim <= MF_K_RED_MAX) over the dims with
 * reduced[d] != 0 into plan, which has room for MF_K_RED_MAX loops. Returns
 * MF_K_REDUCE_BYTES of the loops it used. */
size_t mf_k_reduce_plan(int ndim, const int32_t *dims, const uint8_t *reduced, mf_k_reduce_t *plan);

/* int8 MEAN: out = clamp(MBQM(sum - in_zp * per_out, out) + out_zp). `out` is the
 * QuantizeMultiplier(s_in / s_out) already divided by per_out as TFLM does it. Scratch:
 * num_out int32 unless the plan is direct. */
typedef struct {
    uint32_t zp_total;    /* in_zp * per_out, mod 2^32 (TFLM subtracts in int64 then truncates) */
    mf_qm_t out;
    int32_t out_zp;
} mf_k_mean_s8_t;

void mf_k_mean_s8(const mf_k_mean_s8_t *p, const mf_k_reduce_t *plan, const int8_t *x, int8_t *y,
    int32_t *scratch);

/* float32 MEAN: sums in input order starting from 0.0f, then divides by per_out. */
void mf_k_mean_f32(const mf_k_reduce_t *plan, const float *x, float *y);

#endif /* MF_K_REDUCE_H */
