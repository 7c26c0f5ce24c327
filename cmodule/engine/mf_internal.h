/*
 * Engine internals shared by the load-time parts (mf_loader.h: loader, model reader,
 * planner, prepare services, errors), the runtime (mf_runtime.c), the fusion pass and the
 * ops (ops/op_<family>.c). Kernels (kernels/k_<family>.c) do not include this: they see only plain
 * pointers, shapes and their own parameter structs.
 */
#ifndef MF_INTERNAL_H
#define MF_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "mf.h"
#include "mf_config.h"
#include "mf_reader.h"

/* Where a tensor's bytes live. */
enum {
    MF_T_ARENA = 0,   /* activation: placed by the planner in the arena */
    MF_T_CONST = 1,   /* weights: read in place from the model bytes */
    MF_T_ALIAS = 2,   /* shares the bytes of tensor alias_of (RESHAPE/SQUEEZE/EXPAND_DIMS) */
    MF_T_UNUSED = 3,  /* referenced by no node and not a graph input/output: never placed */
    MF_T_FUSED = 4,   /* intermediate of a fused chain (mf_fuse.c): never stored, data NULL */
};

struct mf_tensor {
    uint8_t type;        /* mf_type_t */
    uint8_t ndim;        /* 0..MF_MAX_DIMS */
    uint8_t kind;        /* MF_T_* */
    uint8_t elem_size;   /* bytes per element: 1, 2, 4 or 8 */
    int32_t dims[MF_MAX_DIMS];
    int32_t count;       /* elements, product of dims; count * elem_size <= MF_MAX_TENSOR_BYTES */
    uint8_t *data;       /* set after planning; const tensors point into the (read-only) model */
    /* Quantization. scale/zero_point are element 0 (per-tensor). Per-channel arrays stay in
     * the model bytes, possibly unaligned: read them with mf_tensor_qscale / mf_tensor_qzp. */
    float scale;         /* 0 when the tensor has no quantization */
    int32_t zero_point;
    int32_t nq;          /* 0 (none), 1 (per-tensor) or dims[q_dim] (per-channel) */
    int32_t q_dim;
    const uint8_t *q_scales;  /* nq little-endian float32 */
    const uint8_t *q_zps;     /* nq little-endian int64, or NULL (all zero) */
    int16_t alias_of;    /* root tensor for MF_T_ALIAS, else -1 */
};

/* What the planner keeps per tensor while loading (16 bytes, in the load-only tables).
 * Node indices: -1 means "before node 0" (graph inputs), n_nodes "after the last node"
 * (graph outputs). */
typedef struct {
    uint32_t bytes;      /* count * elem_size */
    uint32_t offset;     /* MF_T_ARENA: bytes from the activation area's start;
                          * MF_T_CONST: bytes from the model's start */
    int16_t first_use;
    int16_t last_use;
    int16_t alias_of;    /* root tensor for MF_T_ALIAS, else -1 */
    uint8_t kind;        /* MF_T_* */
    uint8_t pad;
} mf_plan_t;

/* mf_node_t.flags, set by the fusion pass (mf_fuse.c). */
enum {
    MF_NODE_SKIP = 1,     /* part of a fused chain that runs at a later node: no eval */
    MF_NODE_FUSED = 2,    /* runs mf_fused_eval (params: the chain's) instead of its op */
};

/* One operator (32 bytes on 64-bit hosts, 20 on 32-bit boards: what only loading needs,
 * such as the options type and the planned scratch offset, is re-read or kept in the
 * load-only tables instead). */
typedef struct mf_node {
    const int16_t *io;    /* tensor indices: n_in inputs (-1 marks an absent optional
                           * input), then n_out outputs; see mf_node_input/output */
    void *params;         /* op-owned, in the arena, filled by prepare */
    uint8_t *scratch;     /* scratch_bytes of arena, valid during this node's eval only */
    uint32_t scratch_bytes; /* set by prepare */
    uint8_t op;           /* index into the op table (mf_ops.c) */
    uint8_t n_in;
    uint8_t n_out;
    uint8_t flags;        /* MF_NODE_* */
} mf_node_t;

/* Tensor index of node n's input i (-1: absent) and output i. */
static inline int16_t mf_node_input(const mf_node_t *n, int i) {
    return n->io[i];
}
static inline int16_t mf_node_output(const mf_node_t *n, int i) {
    return n->io[n->n_in + i];
}

struct mf_model {
    const uint8_t *buf;   /* the model bytes (caller-owned) */
    size_t len;
    uint8_t *arena;       /* caller-owned */
    size_t arena_len;
    size_t meta_used;     /* bytes of tables/params at the front of the arena */
    uint8_t *act;         /* activation area, act_bytes long, after the tables */
    size_t act_bytes;
    size_t used;          /* total arena bytes needed (meta + alignment + activations) */
    int16_t n_tensors;
    int16_t n_nodes;
    uint8_t n_inputs;
    uint8_t n_outputs;
    /* Load-only tables, in the part of the arena the activations reuse once loading is
     * done (NULL after mf_model_init returns): one planner record per tensor, the node
     * being prepared's input then output tensors, parsed from the model, and the
     * planned scratch offsets. */
    mf_plan_t *plan;
    mf_tensor_t *cache;
    uint32_t *scratch_at;    /* per node: planned scratch offset in the activation area */
    mf_node_t *nodes;
    const int16_t *inputs;
    const int16_t *outputs;
    uint8_t **data;          /* run time: bytes of tensor i (NULL when unused) */
    mf_tensor_t *io;         /* run time: graph inputs then outputs, for the public API */
};

/* Load-time context handed to every op's prepare. */
typedef struct mf_ctx {
    mf_model_t *m;
    mf_error_t *err;
    int node;             /* index of the node being prepared */
} mf_ctx_t;

/* An op's functions (named in mf_ops.def, defined in ops/op_<family>.c).
 * prepare: validates tensors and options, checks the declared output shape, computes all
 *   multipliers/shifts into node->params (mf_alloc), sets scratch_bytes or aliasing.
 * eval: pure execution; must not fail and must touch only the node's tensors and scratch. */
typedef mf_status_t mf_op_prepare_fn(mf_ctx_t *ctx, mf_node_t *node);
typedef void mf_op_eval_fn(mf_model_t *m, const mf_node_t *node);

/* One op table entry, from its mf_ops.def line (20 bytes on 32-bit boards). */
typedef struct mf_op {
    uint8_t code;         /* BuiltinOperator (every op of the list is below 256) */
    uint8_t min_version, max_version;
    /* Input and output counts, checked by the loader before prepare, which may then
     * take inputs 0..min_in-1 as present. */
    uint8_t min_in, max_in, n_out;
    uint8_t options;      /* BuiltinOptions tag mf_node_options accepts (MF_OPTIONS_ANY: none read) */
    const char *name;
    mf_op_prepare_fn *prepare;
    mf_op_eval_fn *eval;
} mf_op_t;

/* The op list as C names: MF_CODE_<NAME> (BuiltinOperator values, e.g. for the fusion
 * pass), MF_OPTIONS_<Member> (BuiltinOptions tags), and every prepare/eval declared. */
#define MF_OP(NAME, code, vmin, vmax, min_in, max_in, n_out, options, f32, prepare, eval) MF_CODE_##NAME = code,
#define MF_OPTIONS(member, tag)
enum {
#include "mf_ops.def"
};
#undef MF_OP
#undef MF_OPTIONS
#define MF_OP(NAME, code, vmin, vmax, min_in, max_in, n_out, options, f32, prepare, eval)
#define MF_OPTIONS(member, tag) MF_OPTIONS_##member = tag,
enum {
    MF_OPTIONS_ANY = 0,
#include "mf_ops.def"
};
#undef MF_OP
#undef MF_OPTIONS
#define MF_OP(NAME, code, vmin, vmax, min_in, max_in, n_out, options, f32, prepare, eval) \
    mf_op_prepare_fn prepare; mf_op_eval_fn eval;
#define MF_OPTIONS(member, tag)
#include "mf_ops.def"
#undef MF_OP
#undef MF_OPTIONS

/* ---- services for ops' prepare (mf_prepare.c, mf_loader.c, mf_error.c) ---- */

/* Zeroed, 8-byte aligned bytes from the arena's table area; NULL after setting an
 * MF_ERR_ARENA error (prepare then returns ctx->err status via mf_ctx_status). */
void *mf_alloc(mf_ctx_t *ctx, size_t bytes);

/* The format of a load error: MF_MSG(NAME), a message of mf_messages.def, e.g.
 * mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(TENSOR_TOO_MANY_DIMS), t, n, MF_MAX_DIMS). It is the
 * sentence, or with MF_TERSE_ERRORS a word that prints as "E<code>" followed by the
 * sentence's conversions (": " then "; "-separated), so the same arguments print as
 * "E28: 3; 9; 6". host/microformer/engine_messages.py turns that back into the sentence.
 * New message: a new last line of mf_messages.def, then `python -m
 * microformer.engine_messages --write` (mf_messages.h and the host's table). Messages the
 * host cannot reconstruct (they depend on the device or the firmware's op set) stay
 * sentences in every build: MF_TEXT(format). */
/* A conversion's argument type (mf_vformat; the terse word below). */
enum { MF_MSG_ARG_END = 0, MF_MSG_ARG_D, MF_MSG_ARG_U, MF_MSG_ARG_S, MF_MSG_ARG_LD, MF_MSG_ARG_LU };
#if MF_TERSE_ERRORS
/* The terse word: code in bits 0..9 (1..1023; 0 means MF_TEXT, the format string is the
 * first variadic argument), then a 3-bit MF_MSG_ARG_* per conversion, up to 5. Computed
 * by the compiler from the conversions literal, so a terse build stores no string for
 * the message at all (about 10 bytes per message of flash). */
typedef uint32_t mf_msg_t;
#define MF_MSG_CODE_BITS 10
#define MF_MSG_MAX_ARGS 5
/* Character i of literal c, 0 past its end (both guards fold away: i and c are constant). */
#define MF_MSG_AT(c, i) ((size_t)(i) < sizeof(c) ? (c)[(size_t)(i) < sizeof(c) ? (size_t)(i) : 0] : 0)
/* The MF_MSG_ARG_* of the conversion whose '%' is at index p of c. */
#define MF_MSG_ARG(c, p) (MF_MSG_AT(c, p) != '%' ? 0u : MF_MSG_AT(c, (p) + 1) == 'd' ? 1u : \
    MF_MSG_AT(c, (p) + 1) == 'u' ? 2u : MF_MSG_AT(c, (p) + 1) == 's' ? 3u : MF_MSG_AT(c, (p) + 2) == 'd' ? 4u : 5u)
/* Index of the next conversion's '%': past "%x; " or "%lx; ". */
#define MF_MSG_NEXT(c, p) ((p) + (MF_MSG_AT(c, (p) + 1) == 'l' ? 5 : 4))
#define MF_MSG_P1(c) MF_MSG_NEXT(c, 2)
#define MF_MSG_P2(c) MF_MSG_NEXT(c, MF_MSG_P1(c))
#define MF_MSG_P3(c) MF_MSG_NEXT(c, MF_MSG_P2(c))
#define MF_MSG_P4(c) MF_MSG_NEXT(c, MF_MSG_P3(c))
#define MF_MSG_ENC(code, conversions, sentence) ((mf_msg_t)(code) | \
    MF_MSG_ARG(conversions, 2) << 10 | MF_MSG_ARG(conversions, MF_MSG_P1(conversions)) << 13 | \
    MF_MSG_ARG(conversions, MF_MSG_P2(conversions)) << 16 | MF_MSG_ARG(conversions, MF_MSG_P3(conversions)) << 19 | \
    MF_MSG_ARG(conversions, MF_MSG_P4(conversions)) << 22)
#define MF_TEXT(format) 0u, format
#else
typedef const char *mf_msg_t;
#define MF_MSG_ENC(code, conversions, sentence) sentence
#define MF_TEXT(format) format
#endif /* MF_TERSE_ERRORS */
/* MF_MSG_<NAME> for every message: MF_MSG_ENC(code, conversions, sentence), generated
 * because the preprocessor cannot look a sentence up by name in the .def; the expansion
 * is the literal either way, so naming a message costs no byte. */
#include "mf_messages.h"
/* MF_MSG(NAME) is MF_MSG_<NAME>, pasted before anything expands NAME (a message may share
 * its name with a macro, e.g. a file's limit). */
#define MF_MSG(name) MF_MSG_##name

/* Formats "node N (OP): <message>" into ctx->err and returns st. Formats support
 * %d %u %ld %lu %s %%. */
mf_status_t mf_fail(mf_ctx_t *ctx, mf_status_t st, mf_msg_t msg, ...);

/* In prepare only, for the node being prepared: its tensor i, NULL for an absent optional
 * input. The data of a constant, or of an alias of a constant, is set; activations have
 * no bytes yet. */
mf_tensor_t *mf_node_in(const mf_model_t *m, const mf_node_t *n, int i);
static inline mf_tensor_t *mf_node_out(const mf_model_t *m, const mf_node_t *n, int i) {
    return &m->cache[n->n_in + i];
}

/* In prepare: the tensor's bytes are known now (weights, shapes, axes). */
static inline bool mf_tensor_is_const(const mf_tensor_t *t) {
    return t->kind == MF_T_CONST || (t->kind == MF_T_ALIAS && t->data != NULL);
}

/* At run time (eval): the bytes of a node's input/output i (NULL for an absent input).
 * Everything else an eval needs (shapes, offsets, multipliers) is in node->params. */
uint8_t *mf_in_data(const mf_model_t *m, const mf_node_t *n, int i);
static inline uint8_t *mf_out_data(const mf_model_t *m, const mf_node_t *n, int i) {
    return m->data[n->io[n->n_in + i]];
}

/* A tensor type's name for messages: "int8", "float32", ... ("other" if unnamed here). */
const char *mf_type_name(int type);

/* Common checks; each formats its own message and returns its status. */
mf_status_t mf_check_type(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what, mf_type_t type);
/* Requires per-tensor quantization (nq == 1, scale > 0 and finite). */
mf_status_t mf_check_quant(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what);
/* An int8 activation: mf_check_type(MF_INT8), then mf_check_quant. */
mf_status_t mf_check_s8(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what);
/* An int8 constant filter with symmetric per-tensor or per-channel (`channels` scales along
 * q_dim) quantization — the reference kernels ignore the filter zero point, so anything
 * else is refused — and an optional constant int32 bias of `channels` elements, 4-byte
 * aligned because kernels read it in place. */
mf_status_t mf_check_filter(mf_ctx_t *ctx, const mf_tensor_t *w, const mf_tensor_t *bias, int32_t channels,
    int32_t q_dim);
/* Declared shape of `t` must equal dims[0..ndim). */
mf_status_t mf_check_shape(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what, int ndim, const int32_t *dims);
mf_status_t mf_check_same_shape(mf_ctx_t *ctx, const mf_tensor_t *a, const mf_tensor_t *b);
/* The node's options table, which must be of its op's BuiltinOptions member (mf_ops.def);
 * an absent table is fine (defaults). */
mf_status_t mf_node_options(mf_ctx_t *ctx, const mf_node_t *n, mf_fbt_t *opt);
/* A float32 tensor at an op whose float32 kernels this build leaves out (MF_FLOAT_*):
 * refused with a sentence in every build (it depends on the firmware, not the model). */
mf_status_t mf_fail_float_left_out(mf_ctx_t *ctx);
/* Whether an op with int8 and float32 kernels takes its float32 path for tensor t: 1 for
 * float32 when the build has those kernels (`enabled`, the op's MF_FLOAT_* switch: a
 * constant, so with 0 the float code folds away), 0 for other types, -1 after refusing
 * float32 (mf_fail_float_left_out; the caller returns MF_ERR_UNSUPPORTED). */
static inline int mf_float_path(mf_ctx_t *ctx, int enabled, const mf_tensor_t *t) {
    if (t->type != MF_FLOAT32) {
        return 0;
    }
    if (!enabled) {
        mf_fail_float_left_out(ctx);
        return -1;
    }
    return 1;
}
/* The fused activation of conv, FC, pool and elementwise options: NONE, RELU,
 * RELU_N1_TO_1 or RELU6 (TFLite's ActivationFunctionType). Another value is a malformed
 * model (MF_ERR_MALFORMED); TANH and SIGN_BIT, which no kernel here fuses, are
 * MF_ERR_UNSUPPORTED. */
mf_status_t mf_check_activation(mf_ctx_t *ctx, int act);
/* The int8 clamp [*lo, *hi] of a checked activation on an output of scale and zero_point
 * (CalculateActivationRangeQuantized); MF_ERR_MALFORMED when a bound does not fit. */
mf_status_t mf_activation_clamp_s8(mf_ctx_t *ctx, int act, float scale, int32_t zero_point, int32_t *lo, int32_t *hi);
/* Conv and pool padding: SAME (0) or VALID (1), else MF_ERR_MALFORMED. */
enum { MF_PAD_SAME = 0, MF_PAD_VALID = 1 };
mf_status_t mf_check_padding(mf_ctx_t *ctx, int padding);
/* Shared refusals (one sentence, one code each):
 * input i of the node is absent (MF_ERR_MALFORMED); */
mf_status_t mf_fail_missing(mf_ctx_t *ctx, int i);
/* an int8 activation (mf_check_s8) of 4 dims (NHWC), else MF_ERR_MALFORMED; */
mf_status_t mf_check_s8_4d(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what);
/* a dot product of `depth` terms within a kernel's exact int32 bound `max`, else
 * MF_ERR_UNSUPPORTED; */
mf_status_t mf_check_depth(mf_ctx_t *ctx, int32_t depth, int32_t max);
/* a multiplier's shift that MultiplyByQuantizedMultiplier can apply (<= 30), else
 * MF_ERR_UNSUPPORTED. */
mf_status_t mf_check_shift(mf_ctx_t *ctx, int32_t shift);
/* Requires a constant (weights) tensor, e.g. shapes, axes, perm, paddings. */
mf_status_t mf_check_const(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what);
/* The output shares the input's memory (no copy at eval). Same byte count required. */
mf_status_t mf_make_alias(mf_ctx_t *ctx, mf_node_t *n, int in_index, int out_index);

/* Elementwise ops whose kernel reads element k of input in_index before writing element
 * k of the output may call this: when the input dies at this node and has the output's
 * size, the output takes the input's bytes (no extra activation memory). A no-op when
 * the conditions do not hold, so it never fails. */
void mf_allow_inplace(mf_ctx_t *ctx, mf_node_t *n, int in_index, int out_index);

/* Whether tensor index t is in list[0..n) (the graph's inputs or outputs). */
bool mf_in_list(const int16_t *list, int n, int16_t t);
/* Last node that reads the bytes of plan entry `root` directly or through an alias. */
int mf_group_last_use(const mf_model_t *m, int16_t root);

/* Per-channel quantization element i (0 <= i < t->nq). */
float mf_tensor_qscale(const mf_tensor_t *t, int32_t i);
int64_t mf_tensor_qzp(const mf_tensor_t *t, int32_t i);

/* Reads element i of an int32 or int64 constant tensor (for perm/axes/shape inputs). */
int64_t mf_const_int(const mf_tensor_t *t, int32_t i);

/* Little-endian unaligned loads. */
static inline int32_t mf_ld_i32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
}
static inline float mf_ld_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)mf_ld_i32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline int64_t mf_ld_i64(const uint8_t *p) {
    return (int64_t)((uint64_t)(uint32_t)mf_ld_i32(p) | ((uint64_t)(uint32_t)mf_ld_i32(p + 4) << 32));
}


/* The op table (mf_ops.c): mf_ops.def's ops that this build compiles. */
extern const mf_op_t mf_op_table[];
extern const int mf_op_count;

/* Schema name of a BuiltinOperator code written into out (size bytes; 33 hold every
 * name), or NULL when the build has no name for it (mf_opnames.c). */
const char *mf_builtin_name(int32_t code, char *out, size_t size);

/* Safe formatting of an mf_msg_t into a fixed buffer (no libc printf on some boards). */
void mf_vformat(char *out, size_t size, mf_msg_t msg, va_list ap);

#endif /* MF_INTERNAL_H */
