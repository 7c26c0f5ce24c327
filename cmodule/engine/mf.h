/*
 * mf: the microformer engine. Runs int8 .tflite models (schema 3) with arithmetic
 * bit-identical to TensorFlow Lite Micro's reference kernels.
 *
 * Ownership: the caller owns the model bytes and one arena. The engine keeps pointers
 * into both and allocates nothing else; neither may move or be freed while the model
 * is in use. The model bytes are only read (they may live in memory-mapped flash).
 *
 * Usage:
 *   mf_error_t err;
 *   size_t need;
 *   mf_measure(buf, len, &my_allocator, &need, &err);   // optional dry run (or mf_arena_size)
 *   mf_model_t *m;
 *   if (mf_model_init(buf, len, arena, arena_len, &m, &err) != MF_OK) { report err.msg }
 *   memcpy(mf_tensor_data(mf_input(m, 0)), ...); mf_invoke(m); read mf_output(m, 0)
 */
#ifndef MF_H
#define MF_H

#include <stddef.h>
#include <stdint.h>

#include "mf_config.h"  /* MF_PROFILE: whether this build has mf_invoke_profiled */

#define MF_VERSION "0.1.0"

typedef enum {
    MF_OK = 0,
    MF_ERR_MALFORMED,    /* the bytes are not a valid model: ValueError */
    MF_ERR_UNSUPPORTED,  /* valid model, but an op/version/type the engine lacks: NotImplementedError */
    MF_ERR_ARENA,        /* arena too small: MemoryError; mf_error_t.need holds the size */
    MF_ERR_ARG,          /* bad argument from the caller (index out of range): ValueError */
} mf_status_t;

/* Filled by every call that can fail; msg is NUL-terminated and names the numbers. */
typedef struct {
    char msg[160];
    /* With MF_ERR_ARENA: bytes needed. need_exact is 0 when the arena was too small to
     * even hold the model's tables, so only a lower bound is known; the caller then
     * retries with at least `need` bytes to learn the exact size. */
    size_t need;
    int need_exact;
} mf_error_t;

typedef enum {
    MF_FLOAT32 = 0,
    MF_INT32 = 2,
    MF_INT64 = 4,
    MF_BOOL = 6,
    MF_INT16 = 7,
    MF_INT8 = 9,
} mf_type_t;  /* values equal the .tflite TensorType enum */

#define MF_MAX_DIMS 6

typedef struct mf_model mf_model_t;
typedef struct mf_tensor mf_tensor_t;

/* Arena requirement of a model, computed by running the whole load (validation and
 * planning) in `scratch`, which must hold at least the model's tables (retry with
 * err.need bytes when it reports MF_ERR_ARENA with need_exact == 0). On MF_OK *need
 * is the exact arena size mf_model_init will accept. */
mf_status_t mf_arena_size(const uint8_t *buf, size_t len, uint8_t *scratch, size_t scratch_len,
    size_t *need, mf_error_t *err);

/* Memory a caller lends mf_measure for its dry runs (the engine allocates nothing of its
 * own): alloc returns `bytes` bytes or NULL when there are none, release gives them back. */
typedef struct {
    void *(*alloc)(void *ctx, size_t bytes);
    void (*release)(void *ctx, void *p, size_t bytes);
    void *ctx;
} mf_scratch_alloc_t;

/* The exact arena size of a model, the one dry-run sizing both bindings use: mf_arena_size
 * in a scratch that starts at MF_SCRATCH_START bytes and grows (doubling, at least to the
 * engine's bound; down to the bound alone when a doubled scratch cannot be had) until it
 * holds the model's tables, at most MF_SCRATCH_ROUNDS times. Every scratch is released
 * before it returns. MF_ERR_ARENA with the numbers when `a` cannot lend what the tables
 * need; any other failure is the model's (as mf_model_init reports it). */
#define MF_SCRATCH_START 1024u
#define MF_SCRATCH_ROUNDS 256
mf_status_t mf_measure(const uint8_t *buf, size_t len, const mf_scratch_alloc_t *a, size_t *need, mf_error_t *err);

/* Validates the model and lays out everything in `arena` (any alignment; the engine
 * aligns internally). On success *out points into the arena. */
mf_status_t mf_model_init(const uint8_t *buf, size_t len, uint8_t *arena, size_t arena_len,
    mf_model_t **out, mf_error_t *err);

/* Runs the graph once. Cannot fail on the model's account after a successful init. */
void mf_invoke(mf_model_t *m);

#if MF_PROFILE
/* A caller's clock: any unit, wrapping modulo 2^32 (differences are taken in uint32_t). */
typedef uint32_t (*mf_clock_fn)(void *ctx);

/* mf_invoke, timing each node with now(ctx): node_ticks[i] = the clock's ticks across node
 * i, for the first n_ticks nodes (give mf_num_nodes entries to get them all; every node
 * runs either way, and the outputs are the bytes mf_invoke computes). A node that runs a
 * fused chain is charged with the whole chain; the nodes it absorbed (mf_node_fused 2)
 * get 0 and no clock reads. Two clock reads per node that runs: a clock that costs time
 * adds to each node's ticks. */
void mf_invoke_profiled(mf_model_t *m, mf_clock_fn now, void *ctx, uint32_t *node_ticks, int n_ticks);

/* How node i runs: 0 its own op, 1 a fused chain ending at it (it absorbed earlier nodes),
 * 2 absorbed (a later fused node runs it), -1 when i is out of range. */
int mf_node_fused(const mf_model_t *m, int i);
#endif /* MF_PROFILE */

size_t mf_arena_used(const mf_model_t *m);
int mf_num_inputs(const mf_model_t *m);
int mf_num_outputs(const mf_model_t *m);
mf_tensor_t *mf_input(mf_model_t *m, int i);   /* NULL when i is out of range */
mf_tensor_t *mf_output(mf_model_t *m, int i);
int mf_num_nodes(const mf_model_t *m);
const char *mf_node_op_name(const mf_model_t *m, int i);

/* Tensor accessors: shape, type, quantization of element 0 (per-tensor params), data. */
mf_type_t mf_tensor_type(const mf_tensor_t *t);
int mf_tensor_ndim(const mf_tensor_t *t);
int32_t mf_tensor_dim(const mf_tensor_t *t, int i);
size_t mf_tensor_bytes(const mf_tensor_t *t);
void *mf_tensor_data(mf_tensor_t *t);
float mf_tensor_scale(const mf_tensor_t *t);
int32_t mf_tensor_zero_point(const mf_tensor_t *t);

/* Writes one window of raw float32 samples into tensor t (a graph input, int8 or
 * float32): value i of the tensor is samples[(start + i) % count] normalized with its
 * channel c = i % channels,
 *   y = (x - mean[c]) / std[c]                                   in float32, then for int8
 *   q = clamp(round_half_away_from_zero(y / scale) + zero_point, -128, 127)
 * (NaN gives the zero point, +-inf the int8 limits). The one formula by which a window
 * enters a model: uformer.Model (device) and microformer.engine (host) both call this,
 * so the same samples give the same input bytes everywhere. `samples` holds count floats
 * (count = the tensor's element count; a ring buffer passes its oldest sample as start),
 * 4-byte aligned; mean and std hold `channels` floats each, channels dividing count.
 * MF_ERR_ARG with a message when the sizes, alignment or tensor type do not fit. */
mf_status_t mf_write_window(mf_tensor_t *t, const float *samples, size_t count, size_t start,
    const float *mean, const float *std, size_t channels, mf_error_t *err);

/* Metadata entry `name` of the model (Model.metadata -> buffer). Returns MF_OK and sets
 * data and size (pointing into the model bytes), or MF_ERR_ARG when there is no such entry.
 * Works on an unloaded buffer too; every offset is bounds-checked. */
mf_status_t mf_metadata(const uint8_t *buf, size_t len, const char *name,
    const uint8_t **data, size_t *size, mf_error_t *err);

/* The ops this build supports (for _uformer.OPS): count, and name i (NULL past the end). */
int mf_num_supported_ops(void);
const char *mf_supported_op(int i);

#endif /* MF_H */
