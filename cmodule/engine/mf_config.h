/*
 * Which ops are compiled in. By default all of them; `microformer firmware build
 * --ops-from MODEL.tflite` generates mf_ops_config.h (defining MF_OPS_CONFIG) that sets
 * each MF_OP_<NAME> to 0 or 1 so that only the kernels a model needs take flash.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#ifdef MF_OPS_CONFIG
#include "mf_ops_config.h"
#endif /* MF_OPS_CONFIG */

#ifndef MF_OP_FULLY_CONNECTED
#define MF_OP_FULLY_CONNECTED 1
#endif /* MF_OP_FULLY_CONNECTED */
#ifndef MF_OP_BATCH_MATMUL
#define MF_OP_BATCH_MATMUL 1
#endif /* MF_OP_BATCH_MATMUL */
#ifndef MF_OP_CONV_2D
#define MF_OP_CONV_2D 1
#endif /* MF_OP_CONV_2D */
#ifndef MF_OP_DEPTHWISE_CONV_2D
#define MF_OP_DEPTHWISE_CONV_2D 1
#endif /* MF_OP_DEPTHWISE_CONV_2D */
#ifndef MF_OP_ADD
#define MF_OP_ADD 1
#endif /* MF_OP_ADD */
#ifndef MF_OP_SUB
#define MF_OP_SUB 1
#endif /* MF_OP_SUB */
#ifndef MF_OP_MUL
#define MF_OP_MUL 1
#endif /* MF_OP_MUL */
#ifndef MF_OP_SQUARED_DIFFERENCE
#define MF_OP_SQUARED_DIFFERENCE 1
#endif /* MF_OP_SQUARED_DIFFERENCE */
#ifndef MF_OP_MEAN
#define MF_OP_MEAN 1
#endif /* MF_OP_MEAN */
#ifndef MF_OP_RSQRT
#define MF_OP_RSQRT 1
#endif /* MF_OP_RSQRT */
#ifndef MF_OP_SOFTMAX
#define MF_OP_SOFTMAX 1
#endif /* MF_OP_SOFTMAX */
#ifndef MF_OP_GELU
#define MF_OP_GELU 1
#endif /* MF_OP_GELU */
#ifndef MF_OP_LOGISTIC
#define MF_OP_LOGISTIC 1
#endif /* MF_OP_LOGISTIC */
#ifndef MF_OP_TANH
#define MF_OP_TANH 1
#endif /* MF_OP_TANH */
#ifndef MF_OP_HARD_SWISH
#define MF_OP_HARD_SWISH 1
#endif /* MF_OP_HARD_SWISH */
#ifndef MF_OP_RELU
#define MF_OP_RELU 1
#endif /* MF_OP_RELU */
#ifndef MF_OP_RELU6
#define MF_OP_RELU6 1
#endif /* MF_OP_RELU6 */
#ifndef MF_OP_MAX_POOL_2D
#define MF_OP_MAX_POOL_2D 1
#endif /* MF_OP_MAX_POOL_2D */
#ifndef MF_OP_AVERAGE_POOL_2D
#define MF_OP_AVERAGE_POOL_2D 1
#endif /* MF_OP_AVERAGE_POOL_2D */
#ifndef MF_OP_RESHAPE
#define MF_OP_RESHAPE 1
#endif /* MF_OP_RESHAPE */
#ifndef MF_OP_TRANSPOSE
#define MF_OP_TRANSPOSE 1
#endif /* MF_OP_TRANSPOSE */
#ifndef MF_OP_EXPAND_DIMS
#define MF_OP_EXPAND_DIMS 1
#endif /* MF_OP_EXPAND_DIMS */
#ifndef MF_OP_SQUEEZE
#define MF_OP_SQUEEZE 1
#endif /* MF_OP_SQUEEZE */
#ifndef MF_OP_CONCATENATION
#define MF_OP_CONCATENATION 1
#endif /* MF_OP_CONCATENATION */
#ifndef MF_OP_STRIDED_SLICE
#define MF_OP_STRIDED_SLICE 1
#endif /* MF_OP_STRIDED_SLICE */
#ifndef MF_OP_PAD
#define MF_OP_PAD 1
#endif /* MF_OP_PAD */
#ifndef MF_OP_QUANTIZE
#define MF_OP_QUANTIZE 1
#endif /* MF_OP_QUANTIZE */
#ifndef MF_OP_DEQUANTIZE
#define MF_OP_DEQUANTIZE 1
#endif /* MF_OP_DEQUANTIZE */
#ifndef MF_OP_NEG
#define MF_OP_NEG 1
#endif /* MF_OP_NEG */

/* float32 kernels of ops that also run int8: ADD SUB MUL SQUARED_DIFFERENCE (BINARY),
 * RSQRT NEG (UNARY), MEAN. An --ops-from build keeps only those its models run on
 * float32; a float32 tensor at a left-out kernel is refused at load. */
#ifndef MF_FLOAT_BINARY
#define MF_FLOAT_BINARY 1
#endif /* MF_FLOAT_BINARY */
#ifndef MF_FLOAT_UNARY
#define MF_FLOAT_UNARY 1
#endif /* MF_FLOAT_UNARY */
#ifndef MF_FLOAT_MEAN
#define MF_FLOAT_MEAN 1
#endif /* MF_FLOAT_MEAN */

/* Load-error texts. 0: each error is a sentence with its numbers ("node 5
 * (FULLY_CONNECTED): input last dim 64, filter depth 48"). 1: a code and the same
 * numbers ("node 5 (FULLY_CONNECTED): E119: 64; 48"), about 4.4 KB less flash;
 * `microformer explain` turns the code back into the sentence. Errors that depend on
 * the device or the firmware rather than on the model (arena too small, unaligned
 * buffer, unsupported op) stay sentences either way. */
#ifndef MF_TERSE_ERRORS
#define MF_TERSE_ERRORS 0
#endif /* MF_TERSE_ERRORS */

/* For the per-element steps of hot loops, which -Os would otherwise keep as one shared
 * out-of-line function (a call per element). */
#if defined(__GNUC__)
#define MF_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define MF_ALWAYS_INLINE inline
#endif /* __GNUC__ */

/* Limits that bound every loop and keep int32 index math exact. */
#define MF_MAX_TENSORS 4096
#define MF_MAX_NODES 4096
#define MF_MAX_NODE_IO 64
#define MF_MAX_TENSOR_BYTES (64u * 1024u * 1024u)

#endif /* MF_CONFIG_H */
