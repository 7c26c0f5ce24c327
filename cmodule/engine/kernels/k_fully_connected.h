/*
 * Int8 matrix-vector kernels: FULLY_CONNECTED, plus the int8 dot product and the
 * requantization step that BATCH_MATMUL and CONV_2D share.
 *
 * Arithmetic equals TFLM's reference_integer_ops::FullyConnected(PerChannel): the
 * accumulator is sum(w * (x + input_offset)) + bias, wrapping in 32 bits. The loader
 * folds bias + input_offset * sum(w) into one int32 per output channel (the sums are
 * equal modulo 2^32), so the inner loop is a plain int8 dot product.
 */
#ifndef MF_K_FULLY_CONNECTED_H
#define MF_K_FULLY_CONNECTED_H

#include <stddef.h>
#include <stdint.h>

#include "mf_quant.h"

/* Longest reduction the int8 kernels accept: |sum of a*b| <= 2^14 * 2^16 = 2^30 fits an
 * int32 with room for the folded zero-point terms (added in uint32, wrapping). */
#define MF_K_MAX_DEPTH 65536

/* sum(a[i] * b[i]) for i < n, n <= MF_K_MAX_DEPTH.
 * Host builds (-O2, GCC's "very cheap" vectorizer) only vectorize loops whose trip count
 * is a multiple of the vector width, so the body runs 16 independent lanes over blocks
 * of 16; on a core without SIMD (Cortex-M) four accumulators avoid the loop-carried
 * dependency and keep everything in registers. */
static inline int32_t mf_dot_s8(const int8_t *a, const int8_t *b, int32_t n) {
    int32_t i = 0;
    int32_t acc = 0;
#if defined(__arm__) && !defined(__ARM_NEON)
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (int32_t)a[i] * b[i];
        s1 += (int32_t)a[i + 1] * b[i + 1];
        s2 += (int32_t)a[i + 2] * b[i + 2];
        s3 += (int32_t)a[i + 3] * b[i + 3];
    }
    acc = (s0 + s1) + (s2 + s3);
#else
    if (n >= 16) {
        int32_t lane[16] = {0};
        for (; i + 16 <= n; i += 16) {
            for (int k = 0; k < 16; k++) {
                lane[k] += (int32_t)a[i + k] * b[i + k];
            }
        }
        for (int k = 0; k < 16; k++) {
            acc += lane[k];
        }
    }
#endif /* __arm__ && !__ARM_NEON */
    for (; i < n; i++) {
        acc += (int32_t)a[i] * b[i];
    }
    return acc;
}

/* sum(a[i]) for i < n (row sums for zero-point folding). */
static inline int32_t mf_sum_s8(const int8_t *a, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += a[i];
    }
    return acc;
}

/* Accumulator -> int8 output: MultiplyByQuantizedMultiplier, + output offset, clamp. */
static inline int8_t mf_requant_s8(int32_t acc, mf_qm_t qm, int32_t out_offset, int32_t act_min, int32_t act_max) {
    int32_t v = mf_mul_by_qm(acc, qm.multiplier, qm.shift) + out_offset;
    return (int8_t)mf_clamp(v, act_min, act_max);
}

typedef struct {
    int32_t batches;      /* rows of input/output (all leading dims) */
    int32_t depth;        /* accumulation depth: input row length, filter row length */
    int32_t units;        /* output row length, filter rows */
    int32_t out_offset;   /* output zero point */
    int32_t act_min;
    int32_t act_max;
    int32_t per_channel;  /* qm has `units` entries, else 1 */
    const mf_qm_t *qm;
    const int32_t *fold;  /* per unit: bias + input_offset * sum(w), wrapped to int32 */
} mf_fc_params_t;

/* out[b][u] = requant(dot(in[b], w[u]) + fold[u]) */
void mf_k_fully_connected_s8(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, int8_t *out);

#endif /* MF_K_FULLY_CONNECTED_H */
