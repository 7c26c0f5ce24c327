/*
 * What the engine's load-time parts share (the loader mf_loader.c, the model reader
 * mf_tflite.c, the planner mf_planner.c, the prepare services mf_prepare.c, the error
 * formatting mf_error.c) and the runtime does not: the load state and the .tflite
 * schema's field numbers. Ops see only mf_internal.h.
 */
#ifndef MF_LOADER_H
#define MF_LOADER_H

#include "mf_internal.h"

#define MF_ALIGN 8u

/* .tflite schema field indices (table field order in schema.fbs). */
/* .tflite schema field indices (table field order in schema.fbs). */
enum { MODEL_VERSION = 0, MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_BUFFERS = 4, MODEL_METADATA = 6 };
enum { OPCODE_DEPRECATED = 0, OPCODE_CUSTOM = 1, OPCODE_VERSION = 2, OPCODE_BUILTIN = 3 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPERATORS = 3 };
enum { T_SHAPE = 0, T_TYPE = 1, T_BUFFER = 2, T_QUANT = 4, T_IS_VARIABLE = 5, T_SPARSITY = 6 };
enum { Q_SCALE = 2, Q_ZERO_POINT = 3, Q_DETAILS_TYPE = 4, Q_QDIM = 6 };
enum { OP_OPCODE = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4,
       OP_CUSTOM_OPTIONS = 5, OP_INTERMEDIATES = 8, OP_LARGE_CUSTOM_OFFSET = 9, OP_OPTIONS2_TYPE = 11 };
enum { BUF_DATA = 0, BUF_OFFSET = 1, BUF_SIZE = 2 };
enum { META_NAME = 0, META_BUFFER = 1 };

static inline size_t mf_align_up(size_t x) {
    return (x + (MF_ALIGN - 1)) & ~(size_t)(MF_ALIGN - 1);
}

/* Allocation state during load: run-time tables grow up from the aligned arena start,
 * load-only tables grow down from its end. */
typedef struct {
    uint8_t *base;       /* aligned arena start */
    size_t cap;          /* usable bytes from base */
    size_t used;         /* front bytes */
    size_t back;         /* back bytes (a multiple of MF_ALIGN) */
    mf_error_t *err;
} mf_meta_t;

/* What only loading needs: the allocator state and the model's validated tables. It
 * lives with the load-only tables at the arena's back. */
typedef struct {
    mf_meta_t meta;
    mf_fbt_t root;
    mf_fbt_t subgraph;
    mf_fbv_t buffers;
    mf_fbv_t tensors;
    mf_fbv_t operators;
} mf_load_t;

/* The model struct is the first thing in the tables and finds the load state between
 * load steps (ops get only the ctx). */
typedef struct {
    mf_model_t model;
    mf_load_t *load;     /* NULL once mf_model_init returns */
} mf_model_box_t;

/* ---- mf_error.c */
/* Formats msg into err->msg and returns st. */
mf_status_t mf_set_err(mf_error_t *err, mf_status_t st, mf_msg_t msg, ...);
/* An op's schema name, or "#<code>" in tmp when this build has no name table. */
const char *mf_op_display_name(int32_t code, char *tmp, size_t size);
/* "[d0,d1,...]" (negative entries keep their sign) into out, NUL-terminated. */
void mf_format_dims(char *out, size_t size, const int32_t *dims, int ndim);

/* ---- mf_loader.c: the arena's tables */
void *mf_meta_alloc_aligned(mf_meta_t *a, size_t bytes, size_t align);
void *mf_meta_alloc(mf_meta_t *a, size_t bytes);
void *mf_meta_alloc_back(mf_meta_t *a, size_t bytes);

/* ---- mf_tflite.c: the model's tables read and checked */
/* Resolves a Buffer table to bytes in the model; *data NULL when the buffer is empty. */
mf_status_t mf_buffer_bytes(const mf_fbt_t *root, const mf_fbv_t *buffers, uint32_t index,
    const uint8_t **data, uint32_t *size, mf_error_t *err, int tensor);
/* Parses tensor `index` (already bounds-checked tables) into *t. */
mf_status_t mf_parse_tensor(const mf_model_box_t *box, int16_t index, mf_tensor_t *t, mf_error_t *err);
/* The tensor as prepare sees it: parsed, plus the aliasing decided so far. */
mf_status_t mf_view_tensor(const mf_model_box_t *box, int16_t index, mf_tensor_t *t, mf_error_t *err);

/* ---- mf_planner.c */
/* Largest activation area the planner lays out: offsets are uint32_t, so 4 GiB less 8
 * (the largest multiple of MF_ALIGN below 2^32). load() lowers it further where the
 * front tables plus activations would not fit a size_t (32-bit boards). */
#define MF_PLAN_MAX 0xfffffff8u
/* The size_t limit the arena total is checked against; a test build sets it to
 * 0xffffffff to run the 32-bit bound on a 64-bit host. */
#ifndef MF_SIZE_MAX
#define MF_SIZE_MAX SIZE_MAX
#endif /* MF_SIZE_MAX */

/* Lifetimes: first_use = producing node (-1 for graph inputs), last_use = last reader
 * (n_nodes for graph outputs). Also checks single producers and topological order. */
mf_status_t mf_compute_lifetimes(mf_model_t *m, mf_error_t *err);
/* Places every buffer at an offset below `limit` (<= MF_PLAN_MAX) and sets *total to the
 * activation bytes. Returns -1, or the buffer (tensor i, or n_tensors + node for a
 * node's scratch) that would end past `limit`. `order`: mf_plan_buffers(m) entries of
 * scratch, owned by the caller. */
int mf_plan(mf_model_t *m, uint16_t *order, uint32_t limit, size_t *total_out);
/* The buffers mf_plan places: arena tensors and nodes with scratch. */
int mf_plan_buffers(const mf_model_t *m);

/* ---- mf_prepare.c */
/* The node's input and output counts against its op's; required inputs present. */
mf_status_t mf_check_io(mf_ctx_t *ctx, const mf_node_t *n, const mf_op_t *op);

#endif /* MF_LOADER_H */
