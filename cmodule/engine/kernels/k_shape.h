/*
 * Data-movement kernels for the shape family: TRANSPOSE, STRIDED_SLICE, CONCATENATION
 * and PAD. (RESHAPE, EXPAND_DIMS and SQUEEZE need no kernel: their output aliases
 * their input.) None of them looks at values, so each works on raw elements of
 * 1, 2, 4 or 8 bytes; the graph glue (ops/op_shape.c) reduces every op to one of the
 * small plans below at load time, so eval is a loop nest without any index math
 * beyond additions.
 *
 * All element offsets and counts fit int32: tensors are at most MF_MAX_TENSOR_BYTES.
 * Data may be unaligned (constants are read in place from the model bytes), so
 * multi-byte elements are moved with memcpy of a constant size.
 */
#ifndef MF_K_SHAPE_H
#define MF_K_SHAPE_H

#include <stdint.h>

/* Axes a plan can have after prepare has merged what it can (MF_MAX_DIMS). */
#define MF_K_SHAPE_MAX_DIMS 6

/*
 * A gather: the output, contiguous and row-major over count[0..ndim), takes element
 *   in[base + sum_i idx[i] * step[i]].
 * TRANSPOSE is a gather with the permuted input strides; STRIDED_SLICE with
 * base = sum start * stride_in and step = slice stride * stride_in (steps may be
 * negative). Prepare drops unit axes and merges axes that are contiguous, so the
 * common cases become one or two long memcpy rows. (Moving byte transposes as 4x4
 * word tiles took 0.05-0.14 % off the zoo transformers' instructions for about 400 B
 * of flash, so the last axis is always walked element by element.)
 */
typedef struct {
    int32_t ndim;                        /* 1..MF_K_SHAPE_MAX_DIMS after simplify */
    int32_t elem_size;                   /* 1, 2, 4 or 8 */
    int32_t base;                        /* element offset of output element 0 */
    int32_t count[MF_K_SHAPE_MAX_DIMS];  /* output extent per axis, all >= 1 */
    int32_t step[MF_K_SHAPE_MAX_DIMS];   /* input element step per axis */
    int32_t total;                       /* product of count */
} mf_k_gather_t;

/* Drops unit axes and merges axis i into i+1 when step[i] == count[i+1] * step[i+1];
 * one element becomes one axis of count 1 and step 1, so a plain copy of `total`
 * consecutive elements from `base` is ndim 1 with step[0] 1. Call once in prepare
 * after filling ndim/count/step (counts >= 1). */
void mf_k_gather_simplify(mf_k_gather_t *p);

void mf_k_gather(const mf_k_gather_t *p, const uint8_t *in, uint8_t *out);

/*
 * Concatenation along one axis: for each of `outer` rows, the inputs' chunks
 * (chunk_bytes[i] bytes of input i, taken row by row) are copied one after another.
 */
void mf_k_concat(int32_t n_inputs, const uint8_t *const *inputs, const int32_t *chunk_bytes,
    int32_t outer, uint8_t *out);

/*
 * Constant padding: the output (out_dims) holds the input (in_dims) at offset
 * left[i] along each axis and pad_value everywhere else. Prepare merges a trailing
 * axis that has no padding into the one before it, so a row is as long as possible.
 */
typedef struct {
    int32_t ndim;                          /* 1..MF_K_SHAPE_MAX_DIMS */
    int32_t elem_size;                     /* 1, 2, 4 or 8 */
    int32_t out_dims[MF_K_SHAPE_MAX_DIMS];
    int32_t in_dims[MF_K_SHAPE_MAX_DIMS];
    int32_t left[MF_K_SHAPE_MAX_DIMS];
    int32_t out_total;                     /* elements of the output */
    uint8_t pad_value[8];                  /* one element, little-endian bytes */
} mf_k_pad_t;

/* Merges axes of a filled plan (ndim/out_dims/in_dims/left). Call once in prepare. */
void mf_k_pad_simplify(mf_k_pad_t *p);

void mf_k_pad(const mf_k_pad_t *p, const uint8_t *in, uint8_t *out);

#endif /* MF_K_SHAPE_H */
