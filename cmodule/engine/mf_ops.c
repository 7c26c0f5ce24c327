/*
 * The op table: one entry per op compiled into this build (see mf_config.h).
 * Each op's prepare/eval lives in ops/op_*.c as `const mf_op_t mf_op_<name>`.
 * To register an op add its extern declaration and its table line, both guarded by
 * its MF_OP_<NAME> macro, in the sections below (keep them in the same order).
 */
#include "mf_internal.h"

/* ---- declarations ---- */
#if MF_OP_FULLY_CONNECTED
extern const mf_op_t mf_op_fully_connected;
#endif /* MF_OP_FULLY_CONNECTED */
#if MF_OP_RESHAPE
extern const mf_op_t mf_op_reshape;
#endif /* MF_OP_RESHAPE */
#if MF_OP_EXPAND_DIMS
extern const mf_op_t mf_op_expand_dims;
#endif /* MF_OP_EXPAND_DIMS */
#if MF_OP_SQUEEZE
extern const mf_op_t mf_op_squeeze;
#endif /* MF_OP_SQUEEZE */
#if MF_OP_TRANSPOSE
extern const mf_op_t mf_op_transpose;
#endif /* MF_OP_TRANSPOSE */
#if MF_OP_STRIDED_SLICE
extern const mf_op_t mf_op_strided_slice;
#endif /* MF_OP_STRIDED_SLICE */
#if MF_OP_CONCATENATION
extern const mf_op_t mf_op_concatenation;
#endif /* MF_OP_CONCATENATION */
#if MF_OP_PAD
extern const mf_op_t mf_op_pad;
#endif /* MF_OP_PAD */
#if MF_OP_BATCH_MATMUL
extern const mf_op_t mf_op_batch_matmul;
#endif /* MF_OP_BATCH_MATMUL */
#if MF_OP_SOFTMAX
extern const mf_op_t mf_op_softmax;
#endif /* MF_OP_SOFTMAX */
#if MF_OP_GELU
extern const mf_op_t mf_op_gelu;
#endif /* MF_OP_GELU */
#if MF_OP_LOGISTIC
extern const mf_op_t mf_op_logistic;
#endif /* MF_OP_LOGISTIC */
#if MF_OP_TANH
extern const mf_op_t mf_op_tanh;
#endif /* MF_OP_TANH */
#if MF_OP_HARD_SWISH
extern const mf_op_t mf_op_hard_swish;
#endif /* MF_OP_HARD_SWISH */
#if MF_OP_RELU
extern const mf_op_t mf_op_relu;
#endif /* MF_OP_RELU */
#if MF_OP_RELU6
extern const mf_op_t mf_op_relu6;
#endif /* MF_OP_RELU6 */
#if MF_OP_CONV_2D
extern const mf_op_t mf_op_conv_2d;
#endif /* MF_OP_CONV_2D */
#if MF_OP_DEPTHWISE_CONV_2D
extern const mf_op_t mf_op_depthwise_conv_2d;
#endif /* MF_OP_DEPTHWISE_CONV_2D */
#if MF_OP_MAX_POOL_2D
extern const mf_op_t mf_op_max_pool_2d;
#endif /* MF_OP_MAX_POOL_2D */
#if MF_OP_AVERAGE_POOL_2D
extern const mf_op_t mf_op_average_pool_2d;
#endif /* MF_OP_AVERAGE_POOL_2D */
#if MF_OP_ADD
extern const mf_op_t mf_op_add;
#endif /* MF_OP_ADD */
#if MF_OP_SUB
extern const mf_op_t mf_op_sub;
#endif /* MF_OP_SUB */
#if MF_OP_MUL
extern const mf_op_t mf_op_mul;
#endif /* MF_OP_MUL */
#if MF_OP_SQUARED_DIFFERENCE
extern const mf_op_t mf_op_squared_difference;
#endif /* MF_OP_SQUARED_DIFFERENCE */
#if MF_OP_MEAN
extern const mf_op_t mf_op_mean;
#endif /* MF_OP_MEAN */
#if MF_OP_RSQRT
extern const mf_op_t mf_op_rsqrt;
#endif /* MF_OP_RSQRT */
#if MF_OP_QUANTIZE
extern const mf_op_t mf_op_quantize;
#endif /* MF_OP_QUANTIZE */
#if MF_OP_DEQUANTIZE
extern const mf_op_t mf_op_dequantize;
#endif /* MF_OP_DEQUANTIZE */
#if MF_OP_NEG
extern const mf_op_t mf_op_neg;
#endif /* MF_OP_NEG */
/* ---- end declarations ---- */

const mf_op_t *const mf_op_table[] = {
/* ---- table ---- */
#if MF_OP_FULLY_CONNECTED
    &mf_op_fully_connected,
#endif /* MF_OP_FULLY_CONNECTED */
#if MF_OP_RESHAPE
    &mf_op_reshape,
#endif /* MF_OP_RESHAPE */
#if MF_OP_EXPAND_DIMS
    &mf_op_expand_dims,
#endif /* MF_OP_EXPAND_DIMS */
#if MF_OP_SQUEEZE
    &mf_op_squeeze,
#endif /* MF_OP_SQUEEZE */
#if MF_OP_TRANSPOSE
    &mf_op_transpose,
#endif /* MF_OP_TRANSPOSE */
#if MF_OP_STRIDED_SLICE
    &mf_op_strided_slice,
#endif /* MF_OP_STRIDED_SLICE */
#if MF_OP_CONCATENATION
    &mf_op_concatenation,
#endif /* MF_OP_CONCATENATION */
#if MF_OP_PAD
    &mf_op_pad,
#endif /* MF_OP_PAD */
#if MF_OP_BATCH_MATMUL
    &mf_op_batch_matmul,
#endif /* MF_OP_BATCH_MATMUL */
#if MF_OP_SOFTMAX
    &mf_op_softmax,
#endif /* MF_OP_SOFTMAX */
#if MF_OP_GELU
    &mf_op_gelu,
#endif /* MF_OP_GELU */
#if MF_OP_LOGISTIC
    &mf_op_logistic,
#endif /* MF_OP_LOGISTIC */
#if MF_OP_TANH
    &mf_op_tanh,
#endif /* MF_OP_TANH */
#if MF_OP_HARD_SWISH
    &mf_op_hard_swish,
#endif /* MF_OP_HARD_SWISH */
#if MF_OP_RELU
    &mf_op_relu,
#endif /* MF_OP_RELU */
#if MF_OP_RELU6
    &mf_op_relu6,
#endif /* MF_OP_RELU6 */
#if MF_OP_CONV_2D
    &mf_op_conv_2d,
#endif /* MF_OP_CONV_2D */
#if MF_OP_DEPTHWISE_CONV_2D
    &mf_op_depthwise_conv_2d,
#endif /* MF_OP_DEPTHWISE_CONV_2D */
#if MF_OP_MAX_POOL_2D
    &mf_op_max_pool_2d,
#endif /* MF_OP_MAX_POOL_2D */
#if MF_OP_AVERAGE_POOL_2D
    &mf_op_average_pool_2d,
#endif /* MF_OP_AVERAGE_POOL_2D */
#if MF_OP_ADD
    &mf_op_add,
#endif /* MF_OP_ADD */
#if MF_OP_SUB
    &mf_op_sub,
#endif /* MF_OP_SUB */
#if MF_OP_MUL
    &mf_op_mul,
#endif /* MF_OP_MUL */
#if MF_OP_SQUARED_DIFFERENCE
    &mf_op_squared_difference,
#endif /* MF_OP_SQUARED_DIFFERENCE */
#if MF_OP_MEAN
    &mf_op_mean,
#endif /* MF_OP_MEAN */
#if MF_OP_RSQRT
    &mf_op_rsqrt,
#endif /* MF_OP_RSQRT */
#if MF_OP_QUANTIZE
    &mf_op_quantize,
#endif /* MF_OP_QUANTIZE */
#if MF_OP_DEQUANTIZE
    &mf_op_dequantize,
#endif /* MF_OP_DEQUANTIZE */
#if MF_OP_NEG
    &mf_op_neg,
#endif /* MF_OP_NEG */
/* ---- end table ---- */
    NULL,
};

const int mf_op_count = (int)(sizeof(mf_op_table) / sizeof(mf_op_table[0])) - 1;
