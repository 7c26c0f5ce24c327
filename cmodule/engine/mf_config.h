/*
 * Which ops are compiled in. The ops are the MF_OP lines of mf_ops.def; by default all of
 * them. `microformer firmware build --ops-from MODEL.tflite` generates mf_ops_config.h
 * (defining MF_OPS_CONFIG) that sets MF_OP_<NAME> to 0 or 1 for every op of that list,
 * so that only the kernels a model needs take flash. Code asks MF_OP_ON(NAME), in #if
 * lines and in the op table (mf_ops.c).
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#ifdef MF_OPS_CONFIG
#include "mf_ops_config.h"
#define MF_OP_ON(NAME) MF_OP_##NAME
#else
#define MF_OP_ON(NAME) 1
#endif /* MF_OPS_CONFIG */

/* MF_WHEN(c, x...): x when the condition c expands to 1, nothing when to 0 (a
 * generated header that leaves an op's switch undefined fails to compile here instead
 * of silently dropping the op). */
#define MF_CAT_(a, b) a##b
#define MF_CAT(a, b) MF_CAT_(a, b)
#define MF_WHEN_0(...)
#define MF_WHEN_1(...) __VA_ARGS__
#define MF_WHEN(c, ...) MF_CAT(MF_WHEN_, c)(__VA_ARGS__)

/* float32 kernels of ops that also run int8, by switch (which op uses which: the float32
 * column of mf_ops.def). An --ops-from build keeps only those its models run on float32;
 * a float32 tensor at a left-out kernel is refused at load. */
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

/* mf_invoke_profiled and mf_node_fused: per-node ticks for Model.profile() and
 * `microformer bench --profile`. On by default (host and firmware, so a board can be
 * profiled as it ships), off in terse-errors builds: those are the flash-minimal ones
 * (`firmware build --ops-from`), which drop diagnostics for bytes. 0 leaves them out, and
 * the bindings' Model.profile with them (define it for the binding too): 140 bytes less
 * engine flash on Cortex-M4 -Os, 432 less _uformer in the QEMU_M4 firmware (engine 142,
 * MicroPython binding 290). */
#ifndef MF_PROFILE
#define MF_PROFILE (!MF_TERSE_ERRORS)
#endif /* MF_PROFILE */

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
