/*
 * The services ops call from prepare: checks of types, quantization, shapes, options,
 * activations and padding (each formats its own message and returns its status),
 * aliasing and in-place outputs, and constant-tensor readers.
 */
#include "mf_loader.h"
#include "mf_quant.h"

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
mf_status_t mf_check_io(mf_ctx_t *ctx, const mf_node_t *n, const mf_op_t *op) {
    const int min_in = op->min_in, max_in = op->max_in, n_out = op->n_out;
    if (n->n_in < min_in || n->n_in > max_in) {
        if (min_in == max_in) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(NODE_INPUTS), n->n_in, min_in);
        }
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(NODE_INPUTS_RANGE), n->n_in, min_in, max_in);
    }
    if (n->n_out != n_out) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(NODE_OUTPUTS), n->n_out, n_out);
    }
    for (int i = 0; i < min_in; i++) {
        if (mf_node_input(n, i) < 0) {
            return mf_fail_missing(ctx, i);
        }
    }
    return MF_OK;
}

mf_status_t mf_check_type(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what, mf_type_t type) {
    if (t->type != type) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(TYPE_MISMATCH), what, mf_type_name(t->type), mf_type_name(type));
    }
    return MF_OK;
}

mf_status_t mf_check_quant(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what) {
    if (t->nq != 1) {
        if (t->nq == 0) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(NOT_QUANTIZED), what);
        }
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(NOT_PER_TENSOR), what, (int)t->nq);
    }
    if (!(t->scale > 0.0f && t->scale < 3.0e38f)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SCALE_INVALID), what);
    }
    if (t->type == MF_INT8 && (t->zero_point < -128 || t->zero_point > 127)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(ZERO_POINT_RANGE), what, (int)t->zero_point);
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
mf_status_t mf_check_filter(mf_ctx_t *ctx, const mf_tensor_t *w, const mf_tensor_t *bias, int32_t channels,
    int32_t q_dim) {
    mf_status_t st;
    if ((st = mf_check_type(ctx, w, "filter", MF_INT8)) != MF_OK || (st = mf_check_const(ctx, w, "filter")) != MF_OK) {
        return st;
    }
    if (w->nq == 0) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(FILTER_NOT_QUANTIZED));
    }
    if (w->nq > 1 && (w->q_dim != q_dim || w->nq != channels)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(FILTER_SCALE_COUNT),
            (int)w->nq, (int)w->q_dim, (int)channels, (int)q_dim);
    }
    for (int32_t i = 0; i < w->nq; i++) {
        float s = mf_tensor_qscale(w, i);
        if (!(s >= 0.0f && s < 3.0e38f)) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(FILTER_SCALE_INVALID), (int)i);
        }
        /* The reference kernels ignore the filter zero point: weights must be symmetric. */
        if (mf_tensor_qzp(w, i) != 0) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(FILTER_ZERO_POINT), (int)i, (long)mf_tensor_qzp(w, i));
        }
    }
    if (bias) {
        if ((st = mf_check_type(ctx, bias, "bias", MF_INT32)) != MF_OK ||
            (st = mf_check_const(ctx, bias, "bias")) != MF_OK) {
            return st;
        }
        if (bias->count != channels) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(BIAS_COUNT), (int)bias->count, (int)channels);
        }
        /* The kernels read the bias as int32 in place (the loader aligns int32 data). */
        if (((uintptr_t)bias->data & 3u) != 0) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(BIAS_UNALIGNED));
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
        mf_format_dims(want, sizeof(want), dims, ndim);
        mf_format_dims(have, sizeof(have), t->dims, t->ndim);
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SHAPE_MISMATCH), what, have, want);
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
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(OPTIONS_BOUNDS));
    }
    const int options_type = mf_fbt_u8(&ot, OP_OPTIONS_TYPE, 0);
    if (options_type == 0 && !opt->present) {
        return MF_OK;
    }
    if (options_type != expected_type) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(OPTIONS_TYPE), options_type, expected_type);
    }
    return MF_OK;
}

mf_status_t mf_fail_missing(mf_ctx_t *ctx, int i) {
    return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(INPUT_MISSING), i);
}

mf_status_t mf_check_s8_4d(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what) {
    mf_status_t st = mf_check_s8(ctx, t, what);
    if (st == MF_OK && t->ndim != 4) {
        st = mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(NOT_4D), what, t->ndim);
    }
    return st;
}

mf_status_t mf_check_depth(mf_ctx_t *ctx, int32_t depth, int32_t max) {
    if (depth > max) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(DEPTH_TOO_LARGE), (int)depth, (int)max);
    }
    return MF_OK;
}

mf_status_t mf_check_shift(mf_ctx_t *ctx, int32_t shift) {
    if (shift > 30) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SCALE_SHIFT), (int)shift);
    }
    return MF_OK;
}

mf_status_t mf_check_activation(mf_ctx_t *ctx, int act) {
    if (act < MF_ACT_NONE || act > MF_ACT_SIGN_BIT) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(ACTIVATION_UNKNOWN), act);
    }
    if (act > MF_ACT_RELU6) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(ACTIVATION_UNSUPPORTED), act);
    }
    return MF_OK;
}

mf_status_t mf_activation_clamp_s8(mf_ctx_t *ctx, int act, float scale, int32_t zero_point, int32_t *lo, int32_t *hi) {
    if (!mf_activation_range_int8(act, scale, zero_point, lo, hi)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(ACTIVATION_RANGE));
    }
    return MF_OK;
}

mf_status_t mf_check_padding(mf_ctx_t *ctx, int padding) {
    if (padding != MF_PAD_SAME && padding != MF_PAD_VALID) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PADDING_UNKNOWN), padding);
    }
    return MF_OK;
}

mf_status_t mf_fail_float_left_out(mf_ctx_t *ctx) {
    return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_TEXT("float32 kernel left out of this build (--ops-from int8 models)"));
}

mf_status_t mf_check_const(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what) {
    if (!mf_tensor_is_const(t)) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(NOT_CONSTANT), what);
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
        return mf_fail_missing(ctx, in_index);
    }
    if ((size_t)in->count * in->elem_size != (size_t)out->count * out->elem_size) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(ALIAS_SIZE),
            (unsigned long)((size_t)out->count * out->elem_size), (unsigned long)((size_t)in->count * in->elem_size));
    }
    int16_t root = alias_root(ctx->m, mf_node_input(n, in_index));
    int16_t self = mf_node_output(n, out_index);
    /* A graph input that is also a reshape output would need two owners of one buffer. */
    if (mf_in_list(ctx->m->inputs, ctx->m->n_inputs, self)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(ALIAS_OF_GRAPH_INPUT), self);
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
