/*
 * Model loading (= validation), memory planning and invocation.
 *
 * Arena layout (offsets from the arena start rounded up to MF_ALIGN):
 *   front: [mf_model_t][node table][data pointers][graph io lists][node io lists, packed]
 *          [io tensors][op params ...]
 *   then:  activations, which reuse the load-only tables at the arena's back
 *          ([planner records][prepare's tensor views][scratch offsets], written
 *          top-down while loading)
 * So the arena needs front + max(activations, load-only tables). The activation area is
 * placed by a greedy planner: largest buffer first, at the lowest offset that does not
 * overlap any placed buffer whose lifetime (first..last node using it) intersects its
 * own. Node scratch buffers take part with a lifetime of their one node; reshape-like
 * ops and in-place elementwise ops share their input's bytes. Between prepare and
 * planning, mf_fuse.c may fuse attention chains: their [heads, seq, seq] intermediates
 * (MF_T_FUSED) get no memory at all.
 */
#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_quantize.h"

#define MF_ALIGN 8u

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

#define PLACE_NONE 0xffffffffu
/* Largest activation area the planner lays out: offsets are uint32_t, so 4 GiB less 8
 * (the largest multiple of MF_ALIGN below 2^32). load() lowers it further where the
 * front tables plus activations would not fit a size_t (32-bit boards). */
#define MF_PLAN_MAX 0xfffffff8u
/* The size_t limit the arena total is checked against; a test build sets it to
 * 0xffffffff to run the 32-bit bound on a 64-bit host. */
#ifndef MF_SIZE_MAX
#define MF_SIZE_MAX SIZE_MAX
#endif /* MF_SIZE_MAX */

/* ---------------------------------------------------------------- formatting */

static void put_str(char *out, size_t size, size_t *n, const char *s) {
    while (*s && *n + 1 < size) {
        out[(*n)++] = *s++;
    }
}

static void put_uint(char *out, size_t size, size_t *n, unsigned long v, int neg) {
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + (v % 10));
        v /= 10;
    } while (v && k < 23);
    if (neg) {
        tmp[k++] = '-';
    }
    while (k > 0 && *n + 1 < size) {
        out[(*n)++] = tmp[--k];
    }
}

/* Prints one argument of type kind (MF_MSG_ARG_*). */
static void put_arg(char *out, size_t size, size_t *n, int kind, va_list *ap) {
    if (kind == MF_MSG_ARG_D || kind == MF_MSG_ARG_LD) {
        long v = kind == MF_MSG_ARG_LD ? va_arg(*ap, long) : (long)va_arg(*ap, int);
        put_uint(out, size, n, v < 0 ? 0ul - (unsigned long)v : (unsigned long)v, v < 0);
    } else if (kind == MF_MSG_ARG_U || kind == MF_MSG_ARG_LU) {
        put_uint(out, size, n, kind == MF_MSG_ARG_LU ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned), 0);
    } else {
        const char *s = va_arg(*ap, const char *);
        put_str(out, size, n, s ? s : "(null)");
    }
}

void mf_vformat(char *out, size_t size, mf_msg_t msg, va_list ap) {
    size_t n = 0;
    if (size == 0) {
        return;
    }
    va_list args;  /* a copy to pass by address: a va_list parameter may be an array */
    va_copy(args, ap);
#if MF_TERSE_ERRORS
    if (msg & ((1u << MF_MSG_CODE_BITS) - 1)) {
        put_str(out, size, &n, "E");
        put_uint(out, size, &n, msg & ((1u << MF_MSG_CODE_BITS) - 1), 0);
        for (int k = 0; k < MF_MSG_MAX_ARGS; k++) {
            int kind = (int)(msg >> (MF_MSG_CODE_BITS + 3 * k)) & 7;
            if (kind == MF_MSG_ARG_END) {
                break;
            }
            put_str(out, size, &n, k ? "; " : ": ");
            put_arg(out, size, &n, kind, &args);
        }
        out[n] = 0;
        va_end(args);
        return;
    }
    const char *fmt = va_arg(args, const char *);  /* MF_TEXT */
#else
    const char *fmt = msg;
#endif /* MF_TERSE_ERRORS */
    for (const char *p = fmt; *p && n + 1 < size; p++) {
        if (*p != '%') {
            out[n++] = *p;
            continue;
        }
        p++;
        int is_long = 0;
        if (*p == 'l') {
            is_long = 1;
            p++;
        }
        if (*p == 'd') {
            put_arg(out, size, &n, is_long ? MF_MSG_ARG_LD : MF_MSG_ARG_D, &args);
        } else if (*p == 'u') {
            put_arg(out, size, &n, is_long ? MF_MSG_ARG_LU : MF_MSG_ARG_U, &args);
        } else if (*p == 's') {
            put_arg(out, size, &n, MF_MSG_ARG_S, &args);
        } else if (*p == '%') {
            out[n++] = '%';
        } else {
            break;  /* unknown conversion: stop rather than misread the arguments */
        }
    }
    out[n] = 0;
    va_end(args);
}

static mf_status_t set_err(mf_error_t *err, mf_status_t st, mf_msg_t msg, ...) {
    va_list ap;
    va_start(ap, msg);
    mf_vformat(err->msg, sizeof(err->msg), msg, ap);
    va_end(ap);
    return st;
}

static const char *op_display_name(int32_t code, char *tmp, size_t size) {
    const char *name = mf_builtin_name(code);
    if (name) {
        return name;
    }
    size_t n = 0;
    put_str(tmp, size, &n, "#");  /* "#47": `microformer explain` names BuiltinOperator 47 */
    put_uint(tmp, size, &n, (unsigned long)(code < 0 ? -code : code), code < 0);
    tmp[n] = 0;
    return tmp;
}

mf_status_t mf_fail(mf_ctx_t *ctx, mf_status_t st, mf_msg_t msg, ...) {
    mf_error_t *err = ctx->err;
    const mf_node_t *node = &ctx->m->nodes[ctx->node];
    size_t n = 0;
    char *out = err->msg;
    size_t size = sizeof(err->msg);
    put_str(out, size, &n, "node ");
    put_uint(out, size, &n, (unsigned long)ctx->node, 0);
    put_str(out, size, &n, " (");
    put_str(out, size, &n, mf_op_table[node->op].name);
    put_str(out, size, &n, "): ");
    out[n] = 0;
    va_list ap;
    va_start(ap, msg);
    mf_vformat(out + n, size - n, msg, ap);
    va_end(ap);
    return st;
}

/* ---------------------------------------------------------------- arena tables */

static size_t align_up(size_t x) {
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

static void *table_overflow(mf_meta_t *a, size_t bytes) {
    a->err->need = (MF_ALIGN - 1) + align_up(a->used) + a->back + align_up(bytes);
    a->err->need_exact = 0;
    set_err(a->err, MF_ERR_ARENA, MF_TEXT("arena too small for the model tables: need more than %lu bytes, have %lu"),
        (unsigned long)a->err->need, (unsigned long)(a->cap + (MF_ALIGN - 1)));
    return NULL;
}

/* Zeroed front bytes at a multiple of `align` (a power of two <= MF_ALIGN). */
static void *meta_alloc_aligned(mf_meta_t *a, size_t bytes, size_t align) {
    size_t start = (a->used + (align - 1)) & ~(align - 1);
    /* Each difference is checked before it is taken: free = cap - back, then bytes <= free
     * (an unsigned cap - back - bytes that wrapped let a block overlap the back tables). */
    if (a->back > a->cap || bytes > a->cap - a->back || start > a->cap - a->back - bytes) {
        return table_overflow(a, bytes);
    }
    uint8_t *p = a->base + start;
    memset(p, 0, bytes);
    a->used = start + bytes;
    return p;
}

static void *meta_alloc(mf_meta_t *a, size_t bytes) {
    return meta_alloc_aligned(a, bytes, MF_ALIGN);
}

static void *meta_alloc_back(mf_meta_t *a, size_t bytes) {
    /* bytes <= cap before rounding: a size within 7 of SIZE_MAX would round up to 0. */
    size_t sz = bytes <= a->cap ? align_up(bytes) : a->cap + 1;
    size_t start = align_up(a->used);
    if (sz > a->cap || a->back > a->cap - sz || start > a->cap - a->back - sz) {
        return table_overflow(a, bytes);
    }
    a->back += sz;
    uint8_t *p = a->base + a->cap - a->back;
    memset(p, 0, sz);
    return p;
}

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

void *mf_alloc(mf_ctx_t *ctx, size_t bytes) {
    mf_model_box_t *box = (mf_model_box_t *)ctx->m;
    return meta_alloc(&box->load->meta, bytes);
}

/* ---------------------------------------------------------------- op helpers */

const char *mf_type_name(int type) {
    switch (type) {
        case MF_FLOAT32: return "float32";
        case MF_INT32: return "int32";
        case MF_INT64: return "int64";
        case MF_BOOL: return "bool";
        case MF_INT16: return "int16";
        case MF_INT8: return "int8";
        case 1: return "float16";
        case 3: return "uint8";
        default: return "other";
    }
}

/* The node's input and output counts against its op's; required inputs present. */
static mf_status_t check_io(mf_ctx_t *ctx, const mf_node_t *n, const mf_op_t *op) {
    const int min_in = op->min_in, max_in = op->max_in, n_out = op->n_out;
    if (n->n_in < min_in || n->n_in > max_in) {
        if (min_in == max_in) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(1, ": %d; %d", "has %d inputs, need %d"), n->n_in, min_in);
        }
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(2, ": %d; %d; %d",
            "has %d inputs, need %d to %d"), n->n_in, min_in, max_in);
    }
    if (n->n_out != n_out) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(3, ": %d; %d", "has %d outputs, need %d"), n->n_out, n_out);
    }
    for (int i = 0; i < min_in; i++) {
        if (mf_node_input(n, i) < 0) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(4, ": %d", "input %d is missing"), i);
        }
    }
    return MF_OK;
}

mf_status_t mf_check_type(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what, mf_type_t type) {
    if (t->type != type) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(5, ": %s; %s; %s",
            "%s has type %s, need %s"), what, mf_type_name(t->type), mf_type_name(type));
    }
    return MF_OK;
}

mf_status_t mf_check_quant(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what) {
    if (t->nq != 1) {
        if (t->nq == 0) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(6, ": %s", "%s is not quantized"), what);
        }
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(7, ": %s; %d",
            "%s has %d quantization scales, need 1 (per-tensor)"), what, (int)t->nq);
    }
    if (!(t->scale > 0.0f && t->scale < 3.0e38f)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(8, ": %s",
            "%s has scale that is not a positive finite number"), what);
    }
    if (t->type == MF_INT8 && (t->zero_point < -128 || t->zero_point > 127)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(9, ": %s; %d",
            "%s zero point %d outside int8 range"), what, (int)t->zero_point);
    }
    return MF_OK;
}

/* Out of line (not static inline in mf_internal.h): called once per node, and one copy
 * is smaller than the copies -Os leaves in every op file. */
mf_tensor_t *mf_node_in(const mf_model_t *m, const mf_node_t *n, int i) {
    return (i < n->n_in && n->io[i] >= 0) ? &m->cache[i] : NULL;
}

uint8_t *mf_in_data(const mf_model_t *m, const mf_node_t *n, int i) {
    return (i < n->n_in && n->io[i] >= 0) ? m->data[n->io[i]] : NULL;
}

mf_status_t mf_check_s8(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what) {
    mf_status_t st = mf_check_type(ctx, t, what, MF_INT8);
    return st != MF_OK ? st : mf_check_quant(ctx, t, what);
}

/* "[d0,d1,...]" (negative entries keep their sign) into out, NUL-terminated. */
static void format_dims(char *out, size_t size, const int32_t *dims, int ndim) {
    size_t n = 0;
    put_str(out, size, &n, "[");
    for (int i = 0; i < ndim; i++) {
        put_uint(out, size, &n, (unsigned long)(dims[i] < 0 ? -dims[i] : dims[i]), dims[i] < 0);
        put_str(out, size, &n, i + 1 < ndim ? "," : "");
    }
    put_str(out, size, &n, "]");
    out[n] = 0;
}

mf_status_t mf_check_filter(mf_ctx_t *ctx, const mf_tensor_t *w, const mf_tensor_t *bias, int32_t channels,
    int32_t q_dim) {
    mf_status_t st;
    if ((st = mf_check_type(ctx, w, "filter", MF_INT8)) != MF_OK || (st = mf_check_const(ctx, w, "filter")) != MF_OK) {
        return st;
    }
    if (w->nq == 0) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(10, "", "filter is not quantized"));
    }
    if (w->nq > 1 && (w->q_dim != q_dim || w->nq != channels)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(11, ": %d; %d; %d; %d",
            "filter has %d scales along dim %d, need 1 or %d along dim %d"),
            (int)w->nq, (int)w->q_dim, (int)channels, (int)q_dim);
    }
    for (int32_t i = 0; i < w->nq; i++) {
        float s = mf_tensor_qscale(w, i);
        if (!(s >= 0.0f && s < 3.0e38f)) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(12, ": %d",
                "filter scale %d is not a finite non-negative number"), (int)i);
        }
        /* The reference kernels ignore the filter zero point: weights must be symmetric. */
        if (mf_tensor_qzp(w, i) != 0) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(13, ": %d; %ld",
                "filter zero point %d is %ld, need 0 (symmetric weights)"),
                (int)i, (long)mf_tensor_qzp(w, i));
        }
    }
    if (bias) {
        if ((st = mf_check_type(ctx, bias, "bias", MF_INT32)) != MF_OK ||
            (st = mf_check_const(ctx, bias, "bias")) != MF_OK) {
            return st;
        }
        if (bias->count != channels) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(14, ": %d; %d",
                "bias has %d elements, need %d"), (int)bias->count, (int)channels);
        }
        /* The kernels read the bias as int32 in place (the loader aligns int32 data). */
        if (((uintptr_t)bias->data & 3u) != 0) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(15, "", "bias data is not 4-byte aligned"));
        }
    }
    return MF_OK;
}

mf_status_t mf_check_shape(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what, int ndim, const int32_t *dims) {
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) {
        same = t->dims[i] == dims[i];
    }
    if (!same) {
        char want[64], have[64];
        format_dims(want, sizeof(want), dims, ndim);
        format_dims(have, sizeof(have), t->dims, t->ndim);
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(16, ": %s; %s; %s",
            "%s has shape %s, expected %s"), what, have, want);
    }
    return MF_OK;
}

mf_status_t mf_check_same_shape(mf_ctx_t *ctx, const mf_tensor_t *a, const mf_tensor_t *b) {
    return mf_check_shape(ctx, b, "output", a->ndim, a->dims);
}

enum { OP_OPTIONS_FIELD = 4 };

mf_status_t mf_node_options(mf_ctx_t *ctx, const mf_node_t *n, mf_fbt_t *opt) {
    const int expected_type = mf_op_table[n->op].options;
    /* Re-read from the model (validated at load) rather than keep 32 bytes per node. */
    mf_model_box_t *box = (mf_model_box_t *)ctx->m;
    mf_fbt_t ot;
    opt->present = 0;
    if (mf_fbv_table(&box->load->subgraph, &box->load->operators, (uint32_t)(n - ctx->m->nodes), &ot) != MF_FB_OK ||
        mf_fbt_table(&ot, OP_OPTIONS_FIELD, opt) == MF_FB_BAD) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(17, "", "options out of bounds"));
    }
    const int options_type = mf_fbt_u8(&ot, OP_OPTIONS_TYPE, 0);
    if (options_type == 0 && !opt->present) {
        return MF_OK;
    }
    if (options_type != expected_type) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(18, ": %d; %d",
            "options type %d, expected %d"), options_type, expected_type);
    }
    return MF_OK;
}

mf_status_t mf_check_activation(mf_ctx_t *ctx, int act) {
    if (act < MF_ACT_NONE || act > MF_ACT_SIGN_BIT) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(85, ": %d", "unknown fused activation %d"), act);
    }
    if (act > MF_ACT_RELU6) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(86, ": %d", "fused activation %d unsupported"), act);
    }
    return MF_OK;
}

mf_status_t mf_activation_clamp_s8(mf_ctx_t *ctx, int act, float scale, int32_t zero_point, int32_t *lo, int32_t *hi) {
    if (!mf_activation_range_int8(act, scale, zero_point, lo, hi)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(87, "", "activation range does not fit output quantization"));
    }
    return MF_OK;
}

mf_status_t mf_check_padding(mf_ctx_t *ctx, int padding) {
    if (padding != MF_PAD_SAME && padding != MF_PAD_VALID) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(89, ": %d", "unknown padding %d"), padding);
    }
    return MF_OK;
}

mf_status_t mf_fail_float_left_out(mf_ctx_t *ctx) {
    return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_TEXT("float32 kernel left out of this build (--ops-from int8 models)"));
}

mf_status_t mf_check_const(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what) {
    if (!mf_tensor_is_const(t)) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(19, ": %s", "%s must be a constant tensor"), what);
    }
    return MF_OK;
}

static int16_t alias_root(const mf_model_t *m, int16_t i) {
    return m->plan[i].kind == MF_T_ALIAS ? m->plan[i].alias_of : i;
}

/* Records in the plan (and the prepared node's view) that tensor `self` shares root's bytes. */
static void set_alias(mf_model_t *m, mf_tensor_t *view, int16_t self, int16_t root) {
    m->plan[self].kind = MF_T_ALIAS;
    m->plan[self].alias_of = root;
    view->kind = MF_T_ALIAS;
    view->alias_of = root;
    view->data = m->plan[root].kind == MF_T_CONST ? (uint8_t *)(uintptr_t)(m->buf + m->plan[root].offset) : NULL;
}

mf_status_t mf_make_alias(mf_ctx_t *ctx, mf_node_t *n, int in_index, int out_index) {
    mf_tensor_t *in = mf_node_in(ctx->m, n, in_index);
    mf_tensor_t *out = mf_node_out(ctx->m, n, out_index);
    if (in == NULL) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(20, ": %d", "input %d is missing"), in_index);
    }
    if ((size_t)in->count * in->elem_size != (size_t)out->count * out->elem_size) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(21, ": %lu; %lu", "output has %lu bytes, input %lu"),
            (unsigned long)((size_t)out->count * out->elem_size), (unsigned long)((size_t)in->count * in->elem_size));
    }
    int16_t root = alias_root(ctx->m, mf_node_input(n, in_index));
    int16_t self = mf_node_output(n, out_index);
    /* A graph input that is also a reshape output would need two owners of one buffer. */
    if (mf_in_list(ctx->m->inputs, ctx->m->n_inputs, self)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(22, ": %d", "output tensor %d is a graph input"), self);
    }
    set_alias(ctx->m, out, self, root);
    return MF_OK;
}

bool mf_in_list(const int16_t *list, int n, int16_t t) {
    for (int i = 0; i < n; i++) {
        if (list[i] == t) {
            return true;
        }
    }
    return false;
}

int mf_group_last_use(const mf_model_t *m, int16_t root) {
    int last = m->plan[root].last_use;
    for (int i = 0; i < m->n_tensors; i++) {
        const mf_plan_t *t = &m->plan[i];
        if (t->kind == MF_T_ALIAS && t->alias_of == root && t->last_use > last) {
            last = t->last_use;
        }
    }
    return last;
}

void mf_allow_inplace(mf_ctx_t *ctx, mf_node_t *n, int in_index, int out_index) {
    mf_model_t *m = ctx->m;
    if (in_index >= n->n_in || mf_node_input(n, in_index) < 0) {
        return;
    }
    int16_t root = alias_root(m, mf_node_input(n, in_index));
    int16_t self = mf_node_output(n, out_index);
    const mf_plan_t *r = &m->plan[root];
    /* Graph inputs keep their bytes (callers may invoke again on the same input), and
     * a group still read after this node (or a graph output: last use n_nodes) cannot be overwritten. */
    if (r->kind != MF_T_ARENA || r->first_use < 0 || m->plan[self].kind != MF_T_ARENA ||
        m->plan[mf_node_input(n, in_index)].bytes != m->plan[self].bytes ||
        mf_group_last_use(m, root) != ctx->node || mf_in_list(m->inputs, m->n_inputs, self)) {
        return;
    }
    set_alias(m, mf_node_out(m, n, out_index), self, root);
}

float mf_tensor_qscale(const mf_tensor_t *t, int32_t i) {
    return mf_ld_f32(t->q_scales + 4 * i);
}

int64_t mf_tensor_qzp(const mf_tensor_t *t, int32_t i) {
    return t->q_zps ? mf_ld_i64(t->q_zps + 8 * i) : 0;
}

int64_t mf_const_int(const mf_tensor_t *t, int32_t i) {
    if (t->type == MF_INT64) {
        return mf_ld_i64(t->data + 8 * i);
    }
    if (t->type == MF_INT32) {
        return mf_ld_i32(t->data + 4 * i);
    }
    if (t->type == MF_INT16) {
        return (int16_t)(t->data[2 * i] | (t->data[2 * i + 1] << 8));
    }
    return (int8_t)t->data[i];
}

/* ---------------------------------------------------------------- loading */

static int elem_size_of(int type) {
    switch (type) {
        case MF_FLOAT32: case MF_INT32: return 4;
        case MF_INT64: return 8;
        case MF_INT16: return 2;
        case MF_INT8: case MF_BOOL: return 1;
        default: return 0;
    }
}

/* Resolves a Buffer table to bytes in the model; *data NULL when the buffer is empty. */
static mf_status_t buffer_bytes(const mf_fbt_t *root, const mf_fbv_t *buffers, uint32_t index,
    const uint8_t **data, uint32_t *size, mf_error_t *err, int tensor) {
    mf_fbt_t b;
    *data = NULL;
    *size = 0;
    if (index >= buffers->count) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(23, ": %d; %u; %u",
            "tensor %d: buffer %u out of range (model has %u)"),
            tensor, (unsigned)index, (unsigned)buffers->count);
    }
    if (mf_fbv_table(root, buffers, index, &b) != MF_FB_OK) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(24, ": %u", "buffer %u: table out of bounds"), (unsigned)index);
    }
    mf_fbv_t v;
    mf_fb_status_t st = mf_fbt_vec(&b, BUF_DATA, 1, &v);
    if (st == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(25, ": %u", "buffer %u: data out of bounds"), (unsigned)index);
    }
    if (v.count > 0) {
        *data = v.data;
        *size = v.count;
        return MF_OK;
    }
    /* Large-model layout: offset/size from the start of the file; offset 1 means empty. */
    uint64_t off = mf_fbt_u64(&b, BUF_OFFSET, 0);
    uint64_t sz = mf_fbt_u64(&b, BUF_SIZE, 0);
    if (off > 1) {
        if (off > root->len || sz > root->len - off) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(26, ": %u; %lu; %lu; %lu",
                "buffer %u: offset %lu size %lu outside the %lu-byte model"),
                (unsigned)index, (unsigned long)off, (unsigned long)sz, (unsigned long)root->len);
        }
        *data = root->buf + off;
        *size = (uint32_t)sz;
    }
    return MF_OK;
}

static mf_status_t load_tensor(const mf_fbt_t *root, const mf_fbv_t *buffers, const mf_fbt_t *tt,
    int index, mf_tensor_t *t, mf_error_t *err) {
    mf_fbv_t shape;
    if (mf_fbt_vec(tt, T_SHAPE, 4, &shape) == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(27, ": %d", "tensor %d: shape out of bounds"), index);
    }
    if (shape.count > MF_MAX_DIMS) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(28, ": %d; %u; %d",
            "tensor %d has %u dims, engine supports up to %d"),
            index, (unsigned)shape.count, MF_MAX_DIMS);
    }
    int type = mf_fbt_i8(tt, T_TYPE, 0);
    int es = elem_size_of(type);
    if (es == 0) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(29, ": %d; %s; %d",
            "tensor %d has type %s (%d), unsupported"), index, mf_type_name(type), type);
    }
    t->type = (uint8_t)type;
    t->elem_size = (uint8_t)es;
    t->ndim = (uint8_t)shape.count;
    uint64_t count = 1;
    for (uint32_t i = 0; i < shape.count; i++) {
        int32_t d = mf_fbv_i32(&shape, i);
        if (d < 1) {
            return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(30, ": %d; %u; %d",
                "tensor %d: dim %u is %d (dynamic or empty shapes unsupported)"),
                index, (unsigned)i, (int)d);
        }
        t->dims[i] = d;
        count *= (uint64_t)d;
        if (count * (uint64_t)es > MF_MAX_TENSOR_BYTES) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(31, ": %d; %lu",
                "tensor %d: more than %lu bytes"), index, (unsigned long)MF_MAX_TENSOR_BYTES);
        }
    }
    t->count = (int32_t)count;
    if (mf_fbt_u8(tt, T_IS_VARIABLE, 0)) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(32, ": %d",
            "tensor %d is a variable tensor, unsupported"), index);
    }
    if (mf_fbt_has(tt, T_SPARSITY)) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(33, ": %d", "tensor %d is sparse, unsupported"), index);
    }
    const uint8_t *data;
    uint32_t size;
    mf_status_t st = buffer_bytes(root, buffers, mf_fbt_u32(tt, T_BUFFER, 0), &data, &size, err, index);
    if (st != MF_OK) {
        return st;
    }
    t->kind = MF_T_ARENA;
    t->alias_of = -1;
    if (data) {
        if (size != (uint32_t)count * (uint32_t)es) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(34, ": %d; %u; %u",
                "tensor %d: buffer has %u bytes, shape needs %u"),
                index, (unsigned)size, (unsigned)(count * (uint64_t)es));
        }
        /* Kernels read int16/int32/float weights with aligned loads. */
        if (es > 1 && ((uintptr_t)data & (uintptr_t)((es > 4 ? 4 : es) - 1))) {
            return set_err(err, MF_ERR_MALFORMED,
                MF_TEXT("tensor %d: data at byte %lu is not %d-byte aligned (load the model from an aligned buffer)"),
                index, (unsigned long)(data - root->buf), es > 4 ? 4 : es);
        }
        t->kind = MF_T_CONST;
        t->data = (uint8_t *)(uintptr_t)data;  /* never written: const tensors are only read */
    }
    mf_fbt_t q;
    mf_fb_status_t qs = mf_fbt_table(tt, T_QUANT, &q);
    if (qs == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(35, ": %d",
            "tensor %d: quantization table out of bounds"), index);
    }
    if (qs == MF_FB_OK) {
        mf_fbv_t sc, zp;
        if (mf_fbt_vec(&q, Q_SCALE, 4, &sc) == MF_FB_BAD || mf_fbt_vec(&q, Q_ZERO_POINT, 8, &zp) == MF_FB_BAD) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(36, ": %d",
                "tensor %d: quantization vectors out of bounds"), index);
        }
        if (mf_fbt_u8(&q, Q_DETAILS_TYPE, 0) != 0) {
            return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(37, ": %d",
                "tensor %d: custom quantization details unsupported"), index);
        }
        if (sc.count > 0) {
            int32_t qdim = mf_fbt_i32(&q, Q_QDIM, 0);
            if (zp.count != 0 && zp.count != sc.count) {
                return set_err(err, MF_ERR_MALFORMED, MF_MSG(38, ": %d; %u; %u",
                    "tensor %d: %u scales but %u zero points"),
                    index, (unsigned)sc.count, (unsigned)zp.count);
            }
            if (sc.count > 1) {
                if (qdim < 0 || qdim >= t->ndim || (uint32_t)t->dims[qdim] != sc.count) {
                    return set_err(err, MF_ERR_MALFORMED, MF_MSG(39, ": %d; %u; %d",
                        "tensor %d: %u scales along dim %d do not match its shape"),
                        index, (unsigned)sc.count, (int)qdim);
                }
            }
            t->nq = (int32_t)sc.count;
            t->q_dim = sc.count > 1 ? qdim : 0;
            t->q_scales = sc.data;
            t->q_zps = zp.count ? zp.data : NULL;
            t->scale = mf_ld_f32(sc.data);
            int64_t z = zp.count ? mf_ld_i64(zp.data) : 0;
            if (z < INT32_MIN || z > INT32_MAX) {
                return set_err(err, MF_ERR_MALFORMED, MF_MSG(40, ": %d", "tensor %d: zero point out of range"), index);
            }
            t->zero_point = (int32_t)z;
        }
    }
    return MF_OK;
}

/* Parses tensor `index` (already bounds-checked tables) into *t. */
static mf_status_t parse_tensor(const mf_model_box_t *box, int16_t index, mf_tensor_t *t, mf_error_t *err) {
    mf_fbt_t tt;
    memset(t, 0, sizeof(*t));
    if (mf_fbv_table(&box->load->root, &box->load->tensors, (uint32_t)index, &tt) != MF_FB_OK) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(41, ": %d", "tensor %d: table out of bounds"), index);
    }
    return load_tensor(&box->load->root, &box->load->buffers, &tt, index, t, err);
}

/* The tensor as prepare sees it: parsed, plus the aliasing decided so far. */
static mf_status_t view_tensor(const mf_model_box_t *box, int16_t index, mf_tensor_t *t, mf_error_t *err) {
    mf_status_t st = parse_tensor(box, index, t, err);
    if (st != MF_OK) {
        return st;
    }
    const mf_plan_t *p = &box->model.plan[index];
    t->kind = p->kind;
    t->alias_of = p->alias_of;
    if (p->kind == MF_T_ALIAS) {
        const mf_plan_t *r = &box->model.plan[p->alias_of];
        t->data = r->kind == MF_T_CONST ? (uint8_t *)(uintptr_t)(box->model.buf + r->offset) : NULL;
    }
    return MF_OK;
}

static int find_op(int32_t code) {
    for (int i = 0; i < mf_op_count; i++) {
        if (mf_op_table[i].code == code) {
            return i;
        }
    }
    return -1;
}

/* Reads an int32 index vector into int16s, checking every index against n_tensors. */
static mf_status_t load_index_list(const mf_fbt_t *t, int field, mf_meta_t *meta, int n_tensors, int allow_absent,
    int16_t **out, uint8_t *count, mf_error_t *err, const char *what, int node) {
    mf_fbv_t v;
    if (mf_fbt_vec(t, field, 4, &v) == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(42, ": %s; %d", "%s %d: index list out of bounds"), what, node);
    }
    if (v.count > MF_MAX_NODE_IO) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(43, ": %s; %d; %u; %d",
            "%s %d has %u tensors, engine supports up to %d"),
            what, node, (unsigned)v.count, MF_MAX_NODE_IO);
    }
    int16_t *list = meta_alloc(meta, (v.count ? v.count : 1) * sizeof(int16_t));
    if (!list) {
        return MF_ERR_ARENA;
    }
    for (uint32_t i = 0; i < v.count; i++) {
        int32_t ix = mf_fbv_i32(&v, i);
        if (ix < (allow_absent ? -1 : 0) || ix >= n_tensors) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(44, ": %s; %d; %d; %d",
                "%s %d: tensor index %d out of range (model has %d)"),
                what, node, (int)ix, n_tensors);
        }
        list[i] = (int16_t)ix;
    }
    *out = list;
    *count = (uint8_t)v.count;
    return MF_OK;
}

/* A node's input then output tensor indices, read into one int16 list that is packed
 * right after the previous node's (2-byte aligned: no padding per list). */
static mf_status_t load_node_io(const mf_fbt_t *t, mf_meta_t *meta, int n_tensors, mf_node_t *node,
    mf_error_t *err, int index) {
    mf_fbv_t v[2];
    if (mf_fbt_vec(t, OP_INPUTS, 4, &v[0]) == MF_FB_BAD || mf_fbt_vec(t, OP_OUTPUTS, 4, &v[1]) == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(45, ": %d", "node %d: index list out of bounds"), index);
    }
    if (v[0].count > MF_MAX_NODE_IO || v[1].count > MF_MAX_NODE_IO) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(46, ": %d; %u; %u; %d",
            "node %d has %u inputs and %u outputs, engine supports up to %d each"),
            index, (unsigned)v[0].count, (unsigned)v[1].count, MF_MAX_NODE_IO);
    }
    int16_t *list = meta_alloc_aligned(meta, (v[0].count + v[1].count) * sizeof(int16_t), sizeof(int16_t));
    if (!list) {
        return MF_ERR_ARENA;
    }
    int16_t *at = list;
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < v[k].count; i++) {
            int32_t ix = mf_fbv_i32(&v[k], i);
            /* Only inputs may be absent (-1). */
            if (ix < (k == 0 ? -1 : 0) || ix >= n_tensors) {
                return set_err(err, MF_ERR_MALFORMED, MF_MSG(47, ": %d; %d; %d",
                    "node %d: tensor index %d out of range (model has %d)"),
                    index, (int)ix, n_tensors);
            }
            *at++ = (int16_t)ix;
        }
    }
    node->io = list;
    node->n_in = (uint8_t)v[0].count;
    node->n_out = (uint8_t)v[1].count;
    return MF_OK;
}

/* Lifetimes: first_use = producing node (-1 for graph inputs), last_use = last reader
 * (n_nodes for graph outputs). Also checks single producers and topological order. */
static mf_status_t compute_lifetimes(mf_model_t *m, mf_error_t *err) {
    for (int i = 0; i < m->n_tensors; i++) {
        m->plan[i].first_use = INT16_MAX;
        m->plan[i].last_use = -2;
    }
    for (int i = 0; i < m->n_inputs; i++) {
        mf_plan_t *t = &m->plan[m->inputs[i]];
        if (t->kind == MF_T_CONST) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(48, ": %d; %d",
                "graph input %d (tensor %d) has constant data"), i, m->inputs[i]);
        }
        t->first_use = -1;
        t->last_use = -1;
    }
    for (int n = 0; n < m->n_nodes; n++) {
        const mf_node_t *node = &m->nodes[n];
        for (int k = 0; k < node->n_in; k++) {
            int16_t ix = mf_node_input(node, k);
            if (ix < 0) {
                continue;
            }
            mf_plan_t *t = &m->plan[ix];
            if (t->kind != MF_T_CONST && t->first_use == INT16_MAX) {
                return set_err(err, MF_ERR_MALFORMED, MF_MSG(49, ": %d; %d",
                    "node %d reads tensor %d before any node writes it"), n, ix);
            }
            t->last_use = (int16_t)n;
        }
        for (int k = 0; k < node->n_out; k++) {
            int16_t ix = mf_node_output(node, k);
            mf_plan_t *t = &m->plan[ix];
            if (t->kind == MF_T_CONST) {
                return set_err(err, MF_ERR_MALFORMED, MF_MSG(50, ": %d; %d",
                    "node %d writes constant tensor %d"), n, ix);
            }
            if (t->first_use != INT16_MAX) {
                return set_err(err, MF_ERR_MALFORMED, MF_MSG(51, ": %d; %d",
                    "tensor %d is written twice (node %d)"), ix, n);
            }
            t->first_use = (int16_t)n;
            if (t->last_use < n) {
                t->last_use = (int16_t)n;
            }
        }
    }
    for (int i = 0; i < m->n_outputs; i++) {
        mf_plan_t *t = &m->plan[m->outputs[i]];
        if (t->kind != MF_T_CONST && t->first_use == INT16_MAX) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(52, ": %d; %d",
                "graph output %d (tensor %d) is never written"), i, m->outputs[i]);
        }
        t->last_use = m->n_nodes;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        mf_plan_t *t = &m->plan[i];
        if (t->kind == MF_T_ARENA && t->first_use == INT16_MAX) {
            t->kind = MF_T_UNUSED;
        }
    }
    return MF_OK;
}

/* ---------------------------------------------------------------- planning */

/* Bytes rounded up to MF_ALIGN, or UINT32_MAX (more than any plan limit) when rounding
 * would pass MF_PLAN_MAX and wrap. Tensors are at most MF_MAX_TENSOR_BYTES; scratch sizes
 * come from op prepares, so they are checked here rather than trusted. */
static uint32_t plan_size(uint32_t bytes) {
    return bytes > MF_PLAN_MAX ? UINT32_MAX : (uint32_t)align_up(bytes);
}

/* A plannable buffer: tensor i (0 <= i < n_tensors) or scratch of node i - n_tensors. */
static int buf_info(const mf_model_t *m, int b, uint32_t *size, int *first, int *last, uint32_t **offset) {
    if (b < m->n_tensors) {
        mf_plan_t *t = &m->plan[b];
        if (t->kind != MF_T_ARENA) {
            return 0;
        }
        *size = plan_size(t->bytes);
        *first = t->first_use;
        *last = t->last_use;
        *offset = &t->offset;
        return 1;
    }
    mf_node_t *n = &m->nodes[b - m->n_tensors];
    if (n->scratch_bytes == 0) {
        return 0;
    }
    *size = plan_size(n->scratch_bytes);
    *first = *last = b - m->n_tensors;
    *offset = &m->scratch_at[b - m->n_tensors];
    return 1;
}

/* Places every buffer at an offset below `limit` (<= MF_PLAN_MAX) and sets *total to the
 * activation bytes. Returns -1, or the buffer (as buf_info numbers them) that would end
 * past `limit`: every offset + size stays <= limit, so no uint32_t sum here can wrap. */
static int plan(mf_model_t *m, uint32_t limit, size_t *total_out) {
    int nb = m->n_tensors + m->n_nodes;
    /* Aliases keep their root alive as long as they are used. */
    for (int i = 0; i < m->n_tensors; i++) {
        mf_plan_t *t = &m->plan[i];
        if (t->kind == MF_T_ALIAS) {
            mf_plan_t *r = &m->plan[t->alias_of];
            if (t->last_use > r->last_use) {
                r->last_use = t->last_use;
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        uint32_t size, *off;
        int first, last;
        if (buf_info(m, b, &size, &first, &last, &off)) {
            *off = PLACE_NONE;
        }
    }
    size_t total = 0;
    for (;;) {
        /* Largest unplaced buffer; ties by index keep the plan deterministic. */
        int pick = -1;
        uint32_t pick_size = 0;
        for (int b = 0; b < nb; b++) {
            uint32_t size, *off;
            int first, last;
            if (buf_info(m, b, &size, &first, &last, &off) && *off == PLACE_NONE && (pick < 0 || size > pick_size)) {
                pick = b;
                pick_size = size;
            }
        }
        if (pick < 0) {
            break;
        }
        uint32_t size, *off;
        int first, last;
        buf_info(m, pick, &size, &first, &last, &off);
        uint32_t at = 0;
        /* Move past every conflicting placed buffer until a gap fits; each pass either
         * finds no conflict or moves `at` strictly up, so this ends after <= nb passes.
         * `at` is 0 or a placed buffer's end, so at <= limit. */
        for (int moved = 1; moved;) {
            if (size > limit - at) {
                return pick;
            }
            moved = 0;
            for (int b = 0; b < nb; b++) {
                uint32_t s2, *o2;
                int f2, l2;
                if (!buf_info(m, b, &s2, &f2, &l2, &o2) || *o2 == PLACE_NONE) {
                    continue;
                }
                if (f2 > last || l2 < first) {
                    continue;
                }
                if (*o2 < at + size && at < *o2 + s2) {
                    at = *o2 + s2;
                    moved = 1;
                }
            }
        }
        *off = at;
        if (at + size > total) {
            total = at + size;
        }
    }
    *total_out = total;
    return -1;
}

/* ---------------------------------------------------------------- load */

static mf_status_t load(const uint8_t *buf, size_t len, uint8_t *arena, size_t arena_len,
    mf_model_t **out, mf_error_t *err) {
    err->msg[0] = 0;
    err->need = 0;
    err->need_exact = 0;
    mf_fbt_t root;
    if (buf != NULL && len >= 8 && !(buf[4] == 'T' && buf[5] == 'F' && buf[6] == 'L' && buf[7] == '3')) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(53, "", "not a .tflite model: file identifier is not TFL3"));
    }
    if (buf == NULL || mf_fb_root(buf, len, &root) != MF_FB_OK) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(54, ": %lu",
            "not a .tflite model: bad root table (%lu bytes)"), (unsigned long)len);
    }
    uint32_t version = mf_fbt_u32(&root, MODEL_VERSION, 0);
    if (version != 3) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(55, ": %u",
            "schema version %u, engine reads 3"), (unsigned)version);
    }
    mf_fbv_t opcodes, subgraphs, buffers, tensors_v, ops_v;
    if (mf_fbt_vec(&root, MODEL_OPCODES, 4, &opcodes) == MF_FB_BAD ||
        mf_fbt_vec(&root, MODEL_SUBGRAPHS, 4, &subgraphs) == MF_FB_BAD ||
        mf_fbt_vec(&root, MODEL_BUFFERS, 4, &buffers) == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(56, "", "model tables out of bounds"));
    }
    if (subgraphs.count < 1) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(57, "", "model has no subgraph"));
    }
    mf_fbt_t sg;
    if (mf_fbv_table(&root, &subgraphs, 0, &sg) != MF_FB_OK ||
        mf_fbt_vec(&sg, SG_TENSORS, 4, &tensors_v) == MF_FB_BAD ||
        mf_fbt_vec(&sg, SG_OPERATORS, 4, &ops_v) == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(58, "", "subgraph 0 out of bounds"));
    }
    if (tensors_v.count > MF_MAX_TENSORS || ops_v.count > MF_MAX_NODES) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(59, ": %u; %u; %d; %d",
            "model has %u tensors and %u ops, engine supports up to %d and %d"),
            (unsigned)tensors_v.count, (unsigned)ops_v.count, MF_MAX_TENSORS, MF_MAX_NODES);
    }

    uint8_t *base = arena ? (uint8_t *)(((uintptr_t)arena + (MF_ALIGN - 1)) & ~(uintptr_t)(MF_ALIGN - 1)) : NULL;
    /* Budget as if the arena had the worst alignment, so a given size works at any address. */
    size_t cap = (arena && arena_len >= MF_ALIGN - 1) ? arena_len - (MF_ALIGN - 1) : 0;
    cap &= ~(size_t)(MF_ALIGN - 1);  /* the back tables grow down from an aligned end */
    mf_meta_t first = { base, cap, 0, 0, err };
    mf_model_box_t *box = meta_alloc(&first, sizeof(mf_model_box_t));
    mf_load_t *ld = box ? meta_alloc_back(&first, sizeof(mf_load_t)) : NULL;
    if (!ld) {
        return MF_ERR_ARENA;
    }
    /* From here on the allocator state lives in the load state, where mf_alloc finds it. */
    ld->meta = first;
    box->load = ld;
    mf_meta_t *meta = &ld->meta;
    mf_model_t *m = &box->model;
    m->buf = buf;
    m->len = len;
    m->arena = arena;
    m->arena_len = arena_len;
    m->n_tensors = (int16_t)tensors_v.count;
    m->n_nodes = (int16_t)ops_v.count;
    m->nodes = meta_alloc(meta, (ops_v.count ? ops_v.count : 1) * sizeof(mf_node_t));
    m->data = meta_alloc(meta, (tensors_v.count ? tensors_v.count : 1) * sizeof(uint8_t *));
    m->plan = meta_alloc_back(meta, (tensors_v.count ? tensors_v.count : 1) * sizeof(mf_plan_t));
    if (!m->nodes || !m->data || !m->plan) {
        return MF_ERR_ARENA;
    }
    ld->root = root;
    ld->subgraph = sg;
    ld->buffers = buffers;
    ld->tensors = tensors_v;
    ld->operators = ops_v;
    /* Pass 1 over tensors: validate each and keep only what the planner needs. */
    for (uint32_t i = 0; i < tensors_v.count; i++) {
        mf_tensor_t t;
        mf_status_t st = parse_tensor(box, (int16_t)i, &t, err);
        if (st != MF_OK) {
            return st;
        }
        mf_plan_t *p = &m->plan[i];
        p->kind = t.kind;
        p->alias_of = -1;
        p->bytes = (uint32_t)t.count * t.elem_size;
        p->offset = t.kind == MF_T_CONST ? (uint32_t)(t.data - buf) : 0;
    }
    int16_t *list;
    mf_status_t st = load_index_list(&sg, SG_INPUTS, meta, m->n_tensors, 0, &list, &m->n_inputs, err, "graph inputs", 0);
    if (st != MF_OK) {
        return st;
    }
    m->inputs = list;
    st = load_index_list(&sg, SG_OUTPUTS, meta, m->n_tensors, 0, &list, &m->n_outputs, err, "graph outputs", 0);
    if (st != MF_OK) {
        return st;
    }
    m->outputs = list;
    const size_t n_io = (size_t)m->n_inputs + m->n_outputs;
    m->io = meta_alloc(meta, (n_io ? n_io : 1) * sizeof(mf_tensor_t));
    if (!m->io) {
        return MF_ERR_ARENA;
    }

    int max_io = 1;
    for (uint32_t i = 0; i < ops_v.count; i++) {
        mf_node_t *node = &m->nodes[i];
        mf_fbt_t ot, oc, opt;
        if (mf_fbv_table(&sg, &ops_v, i, &ot) != MF_FB_OK) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(60, ": %u", "node %u: table out of bounds"), (unsigned)i);
        }
        uint32_t opcode_index = mf_fbt_u32(&ot, OP_OPCODE, 0);
        if (opcode_index >= opcodes.count || mf_fbv_table(&root, &opcodes, opcode_index, &oc) != MF_FB_OK) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(61, ": %u; %u; %u",
                "node %u: opcode index %u out of range (model has %u)"),
                (unsigned)i, (unsigned)opcode_index, (unsigned)opcodes.count);
        }
        int32_t code = mf_fbt_i32(&oc, OPCODE_BUILTIN, 0);
        int32_t dep = mf_fbt_i8(&oc, OPCODE_DEPRECATED, 0);
        if (dep > code) {
            code = dep;
        }
        int32_t ver = mf_fbt_i32(&oc, OPCODE_VERSION, 1);
        char tmp[16];
        if (mf_fbt_has(&oc, OPCODE_CUSTOM)) {
            return set_err(err, MF_ERR_UNSUPPORTED, MF_TEXT("unsupported custom op at node %u"), (unsigned)i);
        }
        int op = find_op(code);
        if (op < 0) {
            return set_err(err, MF_ERR_UNSUPPORTED, MF_TEXT("unsupported op %s v%d at node %u"),
                op_display_name(code, tmp, sizeof(tmp)), (int)ver, (unsigned)i);
        }
        if (ver < mf_op_table[op].min_version || ver > mf_op_table[op].max_version) {
            return set_err(err, MF_ERR_UNSUPPORTED, MF_TEXT("unsupported op %s v%d at node %u (engine runs v%d to v%d)"),
                mf_op_table[op].name, (int)ver, (unsigned)i, mf_op_table[op].min_version, mf_op_table[op].max_version);
        }
        node->op = (uint8_t)op;
        st = load_node_io(&ot, meta, m->n_tensors, node, err, (int)i);
        if (st != MF_OK) {
            return st;
        }
        if (node->n_in + node->n_out > max_io) {
            max_io = node->n_in + node->n_out;
        }
        if (mf_fbt_has(&ot, OP_INTERMEDIATES) || mf_fbt_has(&ot, OP_CUSTOM_OPTIONS) ||
            mf_fbt_u8(&ot, OP_OPTIONS2_TYPE, 0) != 0) {
            return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(62, ": %u; %s",
                "node %u (%s): intermediates/custom options unsupported"),
                (unsigned)i, mf_op_table[op].name);
        }
        if (mf_fbt_table(&ot, OP_OPTIONS, &opt) == MF_FB_BAD) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(63, ": %u; %s",
                "node %u (%s): options out of bounds"), (unsigned)i, mf_op_table[op].name);
        }
    }
    m->cache = meta_alloc_back(meta, (size_t)max_io * sizeof(mf_tensor_t));
    m->scratch_at = meta_alloc_back(meta, (size_t)(m->n_nodes ? m->n_nodes : 1) * sizeof(uint32_t));
    if (!m->cache || !m->scratch_at) {
        return MF_ERR_ARENA;
    }

    st = compute_lifetimes(m, err);
    if (st != MF_OK) {
        return st;
    }
    mf_ctx_t ctx = { m, err, 0 };
    for (int i = 0; i < m->n_nodes; i++) {
        mf_node_t *node = &m->nodes[i];
        ctx.node = i;
        /* The node's tensors, parsed again from the model, with what planning knows. */
        for (int k = 0; k < node->n_in + node->n_out; k++) {
            int16_t ix = node->io[k];
            if (ix >= 0 && (st = view_tensor(box, ix, &m->cache[k], err)) != MF_OK) {
                return st;
            }
        }
        const mf_op_t *op = &mf_op_table[node->op];
        if ((st = check_io(&ctx, node, op)) != MF_OK || (st = op->prepare(&ctx, node)) != MF_OK) {
            return st;
        }
    }

    ctx.node = 0;
    st = mf_fuse(&ctx);
    if (st != MF_OK) {
        return st;
    }

    m->meta_used = align_up(meta->used);
    /* The arena total (MF_ALIGN - 1) + meta_used + activations must fit a size_t: on a
     * 32-bit board that bounds the activations below MF_PLAN_MAX. meta_used <= cap, which
     * is below the arena length, so this difference cannot wrap. */
    size_t room = MF_SIZE_MAX - (MF_ALIGN - 1) - m->meta_used;
    uint32_t limit = room < MF_PLAN_MAX ? (uint32_t)room : MF_PLAN_MAX;
    size_t act;
    int over = plan(m, limit, &act);
    if (over >= 0) {
        return set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(193, ": %lu; %s; %d",
            "arena needs more than %lu bytes (%s %d does not fit), the most this build can address"),
            (unsigned long)((MF_ALIGN - 1) + m->meta_used + limit),
            over < m->n_tensors ? "tensor" : "scratch of node",
            over < m->n_tensors ? over : over - m->n_tensors);
    }
    m->act_bytes = act;
    m->used = (MF_ALIGN - 1) + m->meta_used + (act > meta->back ? act : meta->back);
    if (arena_len < m->used) {
        err->need = m->used;
        err->need_exact = 1;
        return set_err(err, MF_ERR_ARENA, MF_TEXT("arena too small: need %lu bytes, have %lu"),
            (unsigned long)m->used, (unsigned long)arena_len);
    }
    m->act = base + m->meta_used;
    for (int i = 0; i < m->n_tensors; i++) {
        const mf_plan_t *p = &m->plan[i];
        if (p->kind == MF_T_ARENA) {
            m->data[i] = m->act + p->offset;
        } else if (p->kind == MF_T_CONST) {
            m->data[i] = (uint8_t *)(uintptr_t)(buf + p->offset);  /* only read */
        } else {
            m->data[i] = NULL;
        }
    }
    for (int i = 0; i < m->n_tensors; i++) {
        if (m->plan[i].kind == MF_T_ALIAS) {
            m->data[i] = m->data[m->plan[i].alias_of];
        }
    }
    for (int i = 0; i < m->n_nodes; i++) {
        mf_node_t *n = &m->nodes[i];
        n->scratch = n->scratch_bytes ? m->act + m->scratch_at[i] : NULL;
    }
    for (int i = 0; i < m->n_inputs + m->n_outputs; i++) {
        int16_t ix = i < m->n_inputs ? m->inputs[i] : m->outputs[i - m->n_inputs];
        if ((st = view_tensor(box, ix, &m->io[i], err)) != MF_OK) {
            return st;
        }
        m->io[i].data = m->data[ix];
    }
    /* The load-only tables at the back are about to be overwritten by activations. */
    m->plan = NULL;
    m->cache = NULL;
    m->scratch_at = NULL;
    box->load = NULL;
    /* Inputs start at zero so a model invoked before any input is written is deterministic. */
    memset(m->act, 0, act);
    *out = m;
    return MF_OK;
}

mf_status_t mf_model_init(const uint8_t *buf, size_t len, uint8_t *arena, size_t arena_len,
    mf_model_t **out, mf_error_t *err) {
    *out = NULL;
    return load(buf, len, arena, arena_len, out, err);
}

mf_status_t mf_arena_size(const uint8_t *buf, size_t len, uint8_t *scratch, size_t scratch_len,
    size_t *need, mf_error_t *err) {
    mf_model_t *m;
    mf_status_t st = load(buf, len, scratch, scratch_len, &m, err);
    if (st == MF_OK) {
        *need = m->used;
        return MF_OK;
    }
    if (st == MF_ERR_ARENA && err->need_exact) {
        *need = err->need;
        err->msg[0] = 0;
        return MF_OK;
    }
    *need = err->need;
    return st;
}

void mf_invoke(mf_model_t *m) {
    for (int i = 0; i < m->n_nodes; i++) {
        const mf_node_t *n = &m->nodes[i];
        if (n->flags == 0) {
            mf_op_table[n->op].eval(m, n);
        } else if (n->flags & MF_NODE_FUSED) {
            mf_fused_eval(m, n);
        }
    }
}

/* ---------------------------------------------------------------- accessors */

size_t mf_arena_used(const mf_model_t *m) {
    return m->used;
}

int mf_num_inputs(const mf_model_t *m) {
    return m->n_inputs;
}

int mf_num_outputs(const mf_model_t *m) {
    return m->n_outputs;
}

mf_tensor_t *mf_input(mf_model_t *m, int i) {
    return (i >= 0 && i < m->n_inputs) ? &m->io[i] : NULL;
}

mf_tensor_t *mf_output(mf_model_t *m, int i) {
    return (i >= 0 && i < m->n_outputs) ? &m->io[m->n_inputs + i] : NULL;
}

int mf_num_nodes(const mf_model_t *m) {
    return m->n_nodes;
}

const char *mf_node_op_name(const mf_model_t *m, int i) {
    return (i >= 0 && i < m->n_nodes) ? mf_op_table[m->nodes[i].op].name : NULL;
}

mf_type_t mf_tensor_type(const mf_tensor_t *t) {
    return (mf_type_t)t->type;
}

int mf_tensor_ndim(const mf_tensor_t *t) {
    return t->ndim;
}

int32_t mf_tensor_dim(const mf_tensor_t *t, int i) {
    return (i >= 0 && i < t->ndim) ? t->dims[i] : 0;
}

size_t mf_tensor_bytes(const mf_tensor_t *t) {
    return (size_t)t->count * t->elem_size;
}

void *mf_tensor_data(mf_tensor_t *t) {
    return t->data;
}

float mf_tensor_scale(const mf_tensor_t *t) {
    return t->scale;
}

int32_t mf_tensor_zero_point(const mf_tensor_t *t) {
    return t->zero_point;
}

mf_status_t mf_write_window(mf_tensor_t *t, const float *samples, size_t count, size_t start,
    const float *mean, const float *std, size_t channels, mf_error_t *err) {
    err->msg[0] = 0;
    if (t->type != MF_INT8 && t->type != MF_FLOAT32) {
        return set_err(err, MF_ERR_ARG, MF_TEXT("window into a %s tensor: need int8 or float32"), mf_type_name(t->type));
    }
    if (t->type == MF_INT8 && !(t->scale > 0.0f)) {
        return set_err(err, MF_ERR_ARG, MF_TEXT("window into an int8 tensor without a quantization scale"));
    }
    if (count != (size_t)t->count) {
        return set_err(err, MF_ERR_ARG, MF_TEXT("window has %lu values, the tensor %lu"),
            (unsigned long)count, (unsigned long)t->count);
    }
    if (channels == 0 || count % channels != 0) {
        return set_err(err, MF_ERR_ARG, MF_TEXT("%lu channels do not divide the window's %lu values"),
            (unsigned long)channels, (unsigned long)count);
    }
    if (count != 0 && start >= count) {
        return set_err(err, MF_ERR_ARG, MF_TEXT("window start %lu outside its %lu values"),
            (unsigned long)start, (unsigned long)count);
    }
    if ((((uintptr_t)samples | (uintptr_t)mean | (uintptr_t)std) & 3u) != 0) {
        return set_err(err, MF_ERR_ARG, MF_TEXT("window samples, mean and std must be 4-byte aligned float32"));
    }
    if (t->type == MF_INT8) {
        mf_k_window_s8(samples, t->count, (int32_t)start, mean, std, (int32_t)channels, t->scale, t->zero_point,
            (int8_t *)t->data);
    } else {
        mf_k_window_f32(samples, t->count, (int32_t)start, mean, std, (int32_t)channels, (float *)t->data);
    }
    return MF_OK;
}

int mf_num_supported_ops(void) {
    return mf_op_count;
}

const char *mf_supported_op(int i) {
    return (i >= 0 && i < mf_op_count) ? mf_op_table[i].name : NULL;
}

mf_status_t mf_metadata(const uint8_t *buf, size_t len, const char *name,
    const uint8_t **data, size_t *size, mf_error_t *err) {
    mf_fbt_t root;
    *data = NULL;
    *size = 0;
    if (buf == NULL || mf_fb_root(buf, len, &root) != MF_FB_OK) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(64, "", "not a .tflite model: bad root table"));
    }
    mf_fbv_t metas, buffers;
    if (mf_fbt_vec(&root, MODEL_METADATA, 4, &metas) == MF_FB_BAD ||
        mf_fbt_vec(&root, MODEL_BUFFERS, 4, &buffers) == MF_FB_BAD) {
        return set_err(err, MF_ERR_MALFORMED, MF_MSG(65, "", "metadata out of bounds"));
    }
    size_t name_len = strlen(name);
    for (uint32_t i = 0; i < metas.count; i++) {
        mf_fbt_t mt;
        mf_fbv_t nm;
        if (mf_fbv_table(&root, &metas, i, &mt) != MF_FB_OK || mf_fbt_vec(&mt, META_NAME, 1, &nm) == MF_FB_BAD) {
            return set_err(err, MF_ERR_MALFORMED, MF_MSG(66, ": %u", "metadata %u out of bounds"), (unsigned)i);
        }
        if (nm.count != name_len || memcmp(nm.data, name, name_len) != 0) {
            continue;
        }
        uint32_t b;
        const uint8_t *d;
        uint32_t sz;
        b = mf_fbt_u32(&mt, META_BUFFER, 0);
        mf_status_t st = buffer_bytes(&root, &buffers, b, &d, &sz, err, -1);
        if (st != MF_OK) {
            return st;
        }
        *data = d ? d : buf;
        *size = sz;
        return MF_OK;
    }
    return set_err(err, MF_ERR_ARG, MF_MSG(67, ": %s", "no metadata entry named %s"), name);
}
