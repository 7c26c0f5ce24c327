/*
 * Shape family: RESHAPE, EXPAND_DIMS, SQUEEZE (aliases: no code at eval), TRANSPOSE,
 * STRIDED_SLICE, CONCATENATION and PAD (kernels/k_shape.c).
 *
 * Semantics follow TFLM's reshape*.cc, expand_dims.cc, squeeze.cc, transpose*.cc,
 * concatenation.cc, strided_slice*.cc and pad*.cc. Where TFLM reads past a tensor or
 * silently ignores an option, this follows TFLite's reference kernels instead
 * (STRIDED_SLICE ellipsis/new-axis masks and `offset`, begin vectors shorter than the
 * input rank, int64 index tensors) and refuses what neither defines.
 *
 * None of these ops computes on values, so each works on raw elements of any type the
 * engine loads. Every op reduces, in prepare, to an alias of its input (when the
 * result is the same bytes) or to one small plan that eval hands to a kernel.
 */
#include "mf_config.h"

#if MF_OP_ON(RESHAPE) || MF_OP_ON(EXPAND_DIMS) || MF_OP_ON(SQUEEZE) || MF_OP_ON(TRANSPOSE) || \
    MF_OP_ON(STRIDED_SLICE) || MF_OP_ON(CONCATENATION) || MF_OP_ON(PAD)

#include "mf_internal.h"
#include "kernels/k_shape.h"


/* Byte-moving ops: the output keeps the input's element type. */
static mf_status_t shape_same_type(mf_ctx_t *ctx, const mf_tensor_t *in, const mf_tensor_t *out, int index) {
    if (in->type != out->type) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SHAPE_TYPES_DIFFER), index,
            mf_type_name(in->type), mf_type_name(out->type));
    }
    return MF_OK;
}

#if MF_OP_ON(RESHAPE) || MF_OP_ON(EXPAND_DIMS) || MF_OP_ON(TRANSPOSE) || MF_OP_ON(STRIDED_SLICE) || MF_OP_ON(PAD)

/* A constant int32/int64 index tensor (perm, axis, shape, begin, paddings, ...):
 * checks kind and type, that it has at most max_count elements, and reads all
 * t->count of them into out[] (each must fit int32). */
static mf_status_t shape_read_ints(mf_ctx_t *ctx, const mf_tensor_t *t, const char *what, int max_count,
    int32_t *out) {
    mf_status_t st = mf_check_const(ctx, t, what);
    if (st != MF_OK) {
        return st;
    }
    if (t->type != MF_INT32 && t->type != MF_INT64) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(INTS_TYPE), what, mf_type_name(t->type));
    }
    if (t->count > max_count) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(INTS_COUNT), what, (int)t->count, max_count);
    }
    for (int32_t i = 0; i < t->count; i++) {
        int64_t v = mf_const_int(t, i);
        if (v < INT32_MIN || v > INT32_MAX) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(INTS_RANGE), what, (int)i, (long)v);
        }
        out[i] = (int32_t)v;
    }
    return MF_OK;
}

#endif /* MF_OP_ON(RESHAPE) || MF_OP_ON(EXPAND_DIMS) || MF_OP_ON(TRANSPOSE) || MF_OP_ON(STRIDED_SLICE) || MF_OP_ON(PAD) */

#if MF_OP_ON(STRIDED_SLICE)

/* Row-major element strides of a shape. */
static void shape_strides(int ndim, const int32_t *dims, int32_t *strides) {
    int32_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

#endif /* MF_OP_ON(STRIDED_SLICE) */

#if MF_OP_ON(RESHAPE) || MF_OP_ON(EXPAND_DIMS) || MF_OP_ON(SQUEEZE)

/* Eval of an op whose output aliases its input: the bytes are already in place. */
void mf_shape_eval_nothing(mf_model_t *m, const mf_node_t *node) {
    (void)m;
    (void)node;
}

#endif /* MF_OP_ON(RESHAPE) || MF_OP_ON(EXPAND_DIMS) || MF_OP_ON(SQUEEZE) */

/* ================================================================= RESHAPE */
#if MF_OP_ON(RESHAPE)

enum { RESHAPE_OPT_NEW_SHAPE = 0 };

mf_status_t mf_reshape_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_tensor_t *in = mf_node_in(m, node, 0);
    mf_tensor_t *out = mf_node_out(m, node, 0);
    mf_tensor_t *shape_t = mf_node_in(m, node, 1);
    if ((st = shape_same_type(ctx, in, out, 0)) != MF_OK) {
        return st;
    }
    int32_t shape[MF_MAX_DIMS];
    int n = 0;
    if (shape_t != NULL) {
        /* TFLM ignores the shape input and trusts the output's declared shape; reading it
         * (constant only) lets a model whose declared shape disagrees be refused. */
        if (shape_t->ndim != 1) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(RESHAPE_SHAPE_DIMS), shape_t->ndim);
        }
        if ((st = shape_read_ints(ctx, shape_t, "shape input", MF_MAX_DIMS, shape)) != MF_OK) {
            return st;
        }
        n = (int)shape_t->count;
    } else {
        mf_fbt_t opt;
        if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
            return st;
        }
        mf_fbv_t v;
        mf_fb_status_t fs = mf_fbt_vec(&opt, RESHAPE_OPT_NEW_SHAPE, 4, &v);
        if (fs == MF_FB_BAD) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(RESHAPE_OPTION_BOUNDS));
        }
        if (fs == MF_FB_OK) {
            if (v.count > MF_MAX_DIMS) {
                return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(RESHAPE_OPTION_DIMS), (unsigned)v.count, MF_MAX_DIMS);
            }
            n = (int)v.count;
            for (int i = 0; i < n; i++) {
                shape[i] = mf_fbv_i32(&v, (uint32_t)i);
            }
            /* Legacy converters wrote new_shape [0] for a scalar. */
            if (n == 1 && shape[0] == 0) {
                n = 0;
            }
        } else {
            /* No shape anywhere: the declared output shape is the shape (as in TFLM). */
            n = out->ndim;
            for (int i = 0; i < n; i++) {
                shape[i] = out->dims[i];
            }
        }
    }
    int stretch = -1;
    int32_t known = 1;  /* stays <= in->count */
    for (int i = 0; i < n; i++) {
        if (shape[i] == -1) {
            if (stretch >= 0) {
                return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(RESHAPE_TWO_STRETCH), stretch, i);
            }
            stretch = i;
        } else if (shape[i] < 1) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(RESHAPE_DIM), i, (int)shape[i]);
        } else {
            /* known * shape[i] > count, without the product overflowing. */
            if (shape[i] > in->count / known) {
                return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(RESHAPE_TOO_MANY), (int)in->count);
            }
            known *= shape[i];
        }
    }
    if (stretch >= 0) {
        if (in->count % known != 0) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(RESHAPE_STRETCH), stretch, (int)in->count, (int)known);
        }
        shape[stretch] = in->count / known;
    } else if (known != in->count) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(RESHAPE_COUNT), (int)known, (int)in->count);
    }
    if ((st = mf_check_shape(ctx, out, "output", n, shape)) != MF_OK) {
        return st;
    }
    return mf_make_alias(ctx, node, 0, 0);
}


#endif /* MF_OP_ON(RESHAPE) */

/* ================================================================= EXPAND_DIMS */
#if MF_OP_ON(EXPAND_DIMS)

mf_status_t mf_expand_dims_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_tensor_t *in = mf_node_in(m, node, 0);
    mf_tensor_t *axis_t = mf_node_in(m, node, 1);
    mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = shape_same_type(ctx, in, out, 0)) != MF_OK) {
        return st;
    }
    int32_t axis;
    if (axis_t->ndim > 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(EXPAND_AXIS_DIMS), axis_t->ndim);
    }
    if ((st = shape_read_ints(ctx, axis_t, "axis input", 1, &axis)) != MF_OK) {
        return st;
    }
    const int nd = in->ndim;
    if (axis < -(nd + 1) || axis > nd) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(EXPAND_AXIS_RANGE), (int)axis, nd);
    }
    if (axis < 0) {
        axis += nd + 1;
    }
    if (nd + 1 > MF_MAX_DIMS) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(EXPAND_TOO_MANY_DIMS), nd + 1, MF_MAX_DIMS);
    }
    int32_t dims[MF_MAX_DIMS];
    for (int i = 0, j = 0; i < nd + 1; i++) {
        dims[i] = i == axis ? 1 : in->dims[j++];
    }
    if ((st = mf_check_shape(ctx, out, "output", nd + 1, dims)) != MF_OK) {
        return st;
    }
    return mf_make_alias(ctx, node, 0, 0);
}


#endif /* MF_OP_ON(EXPAND_DIMS) */

/* ================================================================= SQUEEZE */
#if MF_OP_ON(SQUEEZE)

enum { SQUEEZE_OPT_DIMS = 0 };
#define SQUEEZE_MAX_LIST 8  /* TFLite's TfLiteSqueezeParams holds 8 entries */

mf_status_t mf_squeeze_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_tensor_t *in = mf_node_in(m, node, 0);
    mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = shape_same_type(ctx, in, out, 0)) != MF_OK) {
        return st;
    }
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    mf_fbv_t v;
    if (mf_fbt_vec(&opt, SQUEEZE_OPT_DIMS, 4, &v) == MF_FB_BAD) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SQUEEZE_OPTION_BOUNDS));
    }
    if (v.count > SQUEEZE_MAX_LIST) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SQUEEZE_COUNT), (unsigned)v.count, SQUEEZE_MAX_LIST);
    }
    const int nd = in->ndim;
    uint8_t squeeze[MF_MAX_DIMS] = {0};
    if (v.count == 0) {
        /* No list: every unit dim goes. */
        for (int i = 0; i < nd; i++) {
            squeeze[i] = in->dims[i] == 1;
        }
    } else {
        for (uint32_t k = 0; k < v.count; k++) {
            int32_t d = mf_fbv_i32(&v, k);
            if (d < -nd || d >= nd) {
                return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SQUEEZE_DIM_RANGE), (unsigned)k, (int)d, nd);
            }
            int32_t c = d < 0 ? d + nd : d;
            if (in->dims[c] != 1) {
                return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SQUEEZE_DIM_NOT_1), (unsigned)k, (int)c, (int)in->dims[c]);
            }
            squeeze[c] = 1;
        }
    }
    int32_t dims[MF_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < nd; i++) {
        if (!squeeze[i]) {
            dims[n++] = in->dims[i];
        }
    }
    if ((st = mf_check_shape(ctx, out, "output", n, dims)) != MF_OK) {
        return st;
    }
    return mf_make_alias(ctx, node, 0, 0);
}


#endif /* MF_OP_ON(SQUEEZE) */

/* ================================================================= gather ops */
#if MF_OP_ON(TRANSPOSE) || MF_OP_ON(STRIDED_SLICE)

/* Gather plans that move bytes get a params struct; plain copies become aliases. */
static mf_status_t gather_finish(mf_ctx_t *ctx, mf_node_t *node, const mf_tensor_t *in, mf_k_gather_t *g) {
    g->elem_size = in->elem_size;
    mf_k_gather_simplify(g);
    if (g->ndim == 1 && g->step[0] == 1 && g->base == 0 && g->total == in->count) {
        /* The output is the input's bytes (transposed unit axes, a full slice). */
        return mf_make_alias(ctx, node, 0, 0);
    }
    mf_k_gather_t *p = mf_alloc(ctx, sizeof(*p));
    if (p == NULL) {
        return MF_ERR_ARENA;
    }
    *p = *g;
    node->params = p;
    return MF_OK;
}

void mf_gather_eval(mf_model_t *m, const mf_node_t *node) {
    const mf_k_gather_t *p = node->params;
    if (p == NULL) {
        return;  /* aliased */
    }
    mf_k_gather(p, mf_in_data(m, node, 0), mf_out_data(m, node, 0));
}

#endif /* MF_OP_ON(TRANSPOSE) || MF_OP_ON(STRIDED_SLICE) */

/* ================================================================= TRANSPOSE */
#if MF_OP_ON(TRANSPOSE)

mf_status_t mf_transpose_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_tensor_t *in = mf_node_in(m, node, 0);
    mf_tensor_t *perm_t = mf_node_in(m, node, 1);
    mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = shape_same_type(ctx, in, out, 0)) != MF_OK) {
        return st;
    }
    const int nd = in->ndim;
    if (perm_t->ndim != 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PERM_DIMS), perm_t->ndim);
    }
    int32_t perm[MF_MAX_DIMS];
    if ((st = shape_read_ints(ctx, perm_t, "perm", MF_MAX_DIMS, perm)) != MF_OK) {
        return st;
    }
    const int n = (int)perm_t->count;
    if (n != nd) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PERM_COUNT), n, nd);
    }
    mf_k_gather_t g;
    memset(&g, 0, sizeof(g));
    g.ndim = nd;
    uint32_t seen = 0;
    for (int i = 0; i < nd; i++) {
        const int32_t a = perm[i];
        if (a < 0 || a >= nd) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PERM_RANGE), i, (int)a, nd);
        }
        if (seen >> a & 1) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PERM_TWICE), (int)a);
        }
        seen |= (uint32_t)1 << a;
        int32_t step = 1;  /* row-major stride of input axis a */
        for (int j = a + 1; j < nd; j++) {
            step *= in->dims[j];
        }
        g.count[i] = in->dims[a];
        g.step[i] = step;
    }
    /* g.count is the output shape until gather_finish simplifies it. */
    if ((st = mf_check_shape(ctx, out, "output", nd, g.count)) != MF_OK) {
        return st;
    }
    return gather_finish(ctx, node, in, &g);
}

bool mf_rows_transpose_swap_last(mf_node_t *node, int32_t rows, int32_t cols) {
    mf_k_gather_t *g = node->params;
    /* Output element (.., r, c) is in[.. + r * step[n-2] + c * step[n-1]] when the plan's
     * last two axes are [rows][cols] (the row-major output then holds rows x cols
     * blocks); swapping the axes writes element (.., c, r) there instead. */
    const int n = g ? g->ndim : 0;
    if (n < 2 || rows < 2 || cols < 2 || g->count[n - 2] != rows || g->count[n - 1] != cols) {
        return false;
    }
    const int32_t step = g->step[n - 2];
    g->count[n - 2] = cols;
    g->step[n - 2] = g->step[n - 1];
    g->count[n - 1] = rows;
    g->step[n - 1] = step;
    mf_k_gather_simplify(g);
    return true;
}


#endif /* MF_OP_ON(TRANSPOSE) */

/* ================================================================= STRIDED_SLICE */
#if MF_OP_ON(STRIDED_SLICE)

enum {
    SS_OPT_BEGIN_MASK = 0,
    SS_OPT_END_MASK = 1,
    SS_OPT_ELLIPSIS_MASK = 2,
    SS_OPT_NEW_AXIS_MASK = 3,
    SS_OPT_SHRINK_AXIS_MASK = 4,
    SS_OPT_OFFSET = 5,
};
/* Axes of the "effective" input: the input's plus any new axes. The index vectors have
 * at most this many entries (each covers at least one effective axis). */
#define SS_MAX_AXES 8

static int32_t ss_clamp(int64_t v, int32_t lo, int32_t hi) {
    return (int32_t)(v < lo ? lo : (v > hi ? hi : v));
}

mf_status_t mf_strided_slice_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_tensor_t *in = mf_node_in(m, node, 0);
    mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = shape_same_type(ctx, in, out, 0)) != MF_OK) {
        return st;
    }
    static const char *const names[3] = { "begin", "end", "strides" };
    int32_t vals[3][SS_MAX_AXES];
    int counts[3];
    for (int k = 0; k < 3; k++) {
        const mf_tensor_t *t = mf_node_in(m, node, k + 1);
        if (t->ndim != 1) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_ARG_DIMS), names[k], t->ndim);
        }
        if ((st = shape_read_ints(ctx, t, names[k], SS_MAX_AXES, vals[k])) != MF_OK) {
            return st;
        }
        counts[k] = (int)t->count;
    }
    const int32_t *begin = vals[0], *end = vals[1], *strides = vals[2];
    const int nsp = counts[0];  /* entries of the sparse spec */
    if (counts[1] != nsp || counts[2] != nsp) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_ARG_COUNTS), counts[0], counts[1], counts[2]);
    }
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    const uint32_t begin_mask = (uint32_t)mf_fbt_i32(&opt, SS_OPT_BEGIN_MASK, 0);
    const uint32_t end_mask = (uint32_t)mf_fbt_i32(&opt, SS_OPT_END_MASK, 0);
    const uint32_t ellipsis_mask = (uint32_t)mf_fbt_i32(&opt, SS_OPT_ELLIPSIS_MASK, 0);
    const uint32_t new_axis_mask = (uint32_t)mf_fbt_i32(&opt, SS_OPT_NEW_AXIS_MASK, 0);
    const uint32_t shrink_mask = (uint32_t)mf_fbt_i32(&opt, SS_OPT_SHRINK_AXIS_MASK, 0);
    const int offset = mf_fbt_u8(&opt, SS_OPT_OFFSET, 0) != 0;
    const uint32_t spec_bits = nsp >= 32 ? 0xffffffffu : (((uint32_t)1 << nsp) - 1);
    if ((ellipsis_mask & ~spec_bits) || (new_axis_mask & ~spec_bits)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_MASK_PAST),
            (unsigned)ellipsis_mask, (unsigned)new_axis_mask, nsp);
    }
    if (ellipsis_mask & (ellipsis_mask - 1)) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_TWO_ELLIPSES), (unsigned)ellipsis_mask);
    }

    /* Dense (effective) spec, built like TFLite's BuildStridedSliceParams: the ellipsis
     * spans the axes the spec leaves out (at least one), a new axis is an input axis of
     * size 1, and axes past the spec are taken whole. */
    int num_add = 0;
    for (int i = 0; i < nsp; i++) {
        if (!(ellipsis_mask >> i & 1) && (new_axis_mask >> i & 1)) {
            num_add++;
        }
    }
    const int eff = in->ndim + num_add;
    if (eff > SS_MAX_AXES) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SLICE_TOO_MANY_AXES), eff, SS_MAX_AXES);
    }
    /* TFLite's expansion gives an ellipsis at least one axis, so an ellipsis that should
     * cover none drops the spec's last entry instead. That is only right when the
     * ellipsis is that last entry; refuse the other cases rather than mis-slice. */
    if (nsp > eff && !(nsp == eff + 1 && ellipsis_mask == (uint32_t)1 << (nsp - 1))) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_BEGIN_COUNT), nsp, eff);
    }
    uint32_t eff_ellipsis = 0, eff_new = 0;
    int ellipsis_start = eff, expanded = 0;
    for (int i = 0; i < eff;) {
        if (ellipsis_mask >> i & 1) {
            ellipsis_start = i;
            int stop = i + 1 + num_add + in->ndim - nsp;
            stop = stop > eff ? eff : stop;
            stop = stop < i + 1 ? i + 1 : stop;
            expanded = stop - ellipsis_start - 1;
            for (; i < stop; i++) {
                eff_ellipsis |= (uint32_t)1 << i;
            }
            continue;
        }
        if (new_axis_mask >> (i - expanded) & 1) {
            eff_new |= (uint32_t)1 << i;
        }
        i++;
    }
    int32_t size[SS_MAX_AXES], e_begin[SS_MAX_AXES], e_end[SS_MAX_AXES], e_stride[SS_MAX_AXES];
    int in_axis[SS_MAX_AXES];
    uint32_t e_bmask = 0, e_emask = 0, e_shrink = 0;
    int added_ellipsis = 0, added_axes = 0;
    bool fits = true;
    for (int i = 0; i < eff; i++) {
        e_begin[i] = 0;
        e_end[i] = 0;
        e_stride[i] = 1;
        in_axis[i] = i - added_axes;
        if (eff_ellipsis >> i & 1) {
            added_ellipsis = i - ellipsis_start > 0 ? i - ellipsis_start : 0;
            e_bmask |= (uint32_t)1 << i;
            e_emask |= (uint32_t)1 << i;
        } else if (eff_new >> i & 1) {
            e_end[i] = 1;
            in_axis[i] = -1;
            added_axes++;
        } else if (i >= nsp + expanded) {
            e_bmask |= (uint32_t)1 << i;
            e_emask |= (uint32_t)1 << i;
        } else {
            const int o = i - added_ellipsis;
            e_begin[i] = begin[o];
            e_end[i] = end[o];
            e_stride[i] = strides[o];
            e_bmask |= (uint32_t)(begin_mask >> o & 1) << i;
            e_emask |= (uint32_t)(end_mask >> o & 1) << i;
            e_shrink |= (uint32_t)(shrink_mask >> o & 1) << i;
        }
        if (in_axis[i] >= in->ndim) {
            fits = false;
            break;
        }
        size[i] = in_axis[i] < 0 ? 1 : in->dims[in_axis[i]];
    }
    if (!fits || added_axes != num_add) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_SPEC_DIMS), in->ndim);
    }

    /* Per axis: first index and loop count, exactly as the reference loop visits them
     * (StridedSliceStartForAxis / StridedSliceEndForAxis). */
    int32_t in_strides[MF_MAX_DIMS];
    shape_strides(in->ndim, in->dims, in_strides);
    int32_t out_dims[MF_MAX_DIMS];
    int n_out = 0;
    mf_k_gather_t g;
    memset(&g, 0, sizeof(g));
    int64_t base = 0;
    int empty = 0;
    for (int i = 0; i < eff; i++) {
        const int64_t s = e_stride[i];
        const int32_t sz = size[i];
        if (s == 0) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_STRIDE_ZERO), i);
        }
        int64_t start = e_begin[i];
        if (start < 0) {
            start += sz;
        }
        start = s > 0 ? ss_clamp(start, 0, sz) : ss_clamp(start, -1, sz - 1);
        if (e_bmask >> i & 1) {
            start = s > 0 ? 0 : sz - 1;
        }
        int64_t stop;
        const int shrink = (int)(e_shrink >> i & 1);
        if (shrink) {
            stop = start >= sz ? start : start + 1;
        } else {
            stop = e_end[i];
            if (offset) {
                stop += start;
            }
            if (stop < 0) {
                stop += sz;
            }
            stop = s > 0 ? ss_clamp(stop, 0, sz) : ss_clamp(stop, -1, sz - 1);
            if (e_emask >> i & 1) {
                stop = s > 0 ? sz : -1;
            }
        }
        /* ceil(span / |s|) in 32 bits (no int64 division, a libgcc call on Cortex-M):
         * start and stop are in [-1, size], so span + |s| - 1 < 2^26 + 2^31. */
        const int64_t span = s > 0 ? stop - start : start - stop;
        const uint32_t abs_s = (uint32_t)(s > 0 ? s : -s);
        const int64_t cnt = span > 0 ? (int64_t)((uint32_t)(span + abs_s - 1) / abs_s) : 0;
        if (shrink) {
            if (cnt != 1) {
                /* The reference kernels would leave the output element unwritten. */
                return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(SLICE_SHRINK),
                    i, (int)cnt, (int)e_begin[i], (int)s, (int)sz);
            }
        } else {
            if (n_out >= MF_MAX_DIMS) {
                return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SLICE_OUTPUT_DIMS), MF_MAX_DIMS);
            }
            out_dims[n_out++] = (int32_t)cnt;
        }
        if (cnt == 0) {
            empty = 1;
            continue;
        }
        if (in_axis[i] >= 0) {
            base += start * in_strides[in_axis[i]];
            if (cnt > 1) {
                g.count[g.ndim] = (int32_t)cnt;
                g.step[g.ndim] = (int32_t)(s * in_strides[in_axis[i]]);
                g.ndim++;
            }
        }
    }
    if ((st = mf_check_shape(ctx, out, "output", n_out, out_dims)) != MF_OK) {
        return st;
    }
    if (empty) {
        /* Unreachable while the loader refuses empty tensors; never plan a read for it. */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(SLICE_EMPTY));
    }
    g.base = (int32_t)base;
    return gather_finish(ctx, node, in, &g);
}


#endif /* MF_OP_ON(STRIDED_SLICE) */

/* ================================================================= CONCATENATION */
#if MF_OP_ON(CONCATENATION)

enum { CONCAT_OPT_AXIS = 0, CONCAT_OPT_ACTIVATION = 1 };

typedef struct {
    int32_t n;
    int32_t outer;
    int32_t chunk_bytes[];  /* n entries */
} concat_params_t;

mf_status_t mf_concat_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    int32_t axis = mf_fbt_i32(&opt, CONCAT_OPT_AXIS, 0);
    int act = mf_fbt_i8(&opt, CONCAT_OPT_ACTIVATION, 0);
    if (act != 0) {
        /* TFLM's concatenation accepts only NONE. */
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(CONCAT_ACTIVATION), act);
    }
    mf_tensor_t *out = mf_node_out(m, node, 0);
    const int nd = out->ndim;
    if (axis < -nd || axis >= nd) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONCAT_AXIS), (int)axis, nd);
    }
    if (axis < 0) {
        axis += nd;
    }
    if (out->type == MF_INT8 && out->nq > 1) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(CONCAT_OUTPUT_PER_TENSOR), (int)out->nq);
    }
    const int n = node->n_in;
    int64_t axis_sum = 0;
    for (int i = 0; i < n; i++) {
        mf_tensor_t *in = mf_node_in(m, node, i);
        if (in == NULL) {
            return mf_fail_missing(ctx, i);
        }
        if ((st = shape_same_type(ctx, in, out, i)) != MF_OK) {
            return st;
        }
        if (in->ndim != nd) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONCAT_INPUT_DIMS), i, in->ndim, nd);
        }
        for (int d = 0; d < nd; d++) {
            if (d != axis && in->dims[d] != out->dims[d]) {
                return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONCAT_INPUT_DIM),
                    i, d, (int)in->dims[d], (int)out->dims[d]);
            }
        }
        axis_sum += in->dims[axis];
        if (in->type == MF_INT8) {
            /* TFLM copies int8 bytes unchanged, so every input must already be in the
             * output's quantization; requantizing concatenation is not TFLM's. */
            if (in->nq > 1) {
                return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(CONCAT_INPUT_PER_TENSOR), i, (int)in->nq);
            }
            if (in->scale != out->scale || in->zero_point != out->zero_point) {
                return mf_fail(ctx, MF_ERR_UNSUPPORTED,
                    MF_MSG(CONCAT_INPUT_QUANT), i, (int)in->zero_point, (int)out->zero_point);
            }
        } else if (in->type == MF_INT16 && in->zero_point != 0) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(CONCAT_INT16_INPUT_ZERO_POINT), i, (int)in->zero_point);
        }
    }
    if (out->type == MF_INT16 && out->zero_point != 0) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(CONCAT_INT16_OUTPUT_ZERO_POINT), (int)out->zero_point);
    }
    if (axis_sum != out->dims[axis]) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(CONCAT_AXIS_SUM), (long)axis_sum, (int)axis, (int)out->dims[axis]);
    }
    if (n == 1) {
        return mf_make_alias(ctx, node, 0, 0);
    }
    int32_t outer = 1, inner = out->elem_size;
    for (int d = 0; d < axis; d++) {
        outer *= out->dims[d];
    }
    for (int d = axis + 1; d < nd; d++) {
        inner *= out->dims[d];
    }
    concat_params_t *p = mf_alloc(ctx, sizeof(concat_params_t) + (size_t)n * sizeof(int32_t));
    if (p == NULL) {
        return MF_ERR_ARENA;
    }
    p->n = n;
    p->outer = outer;
    for (int i = 0; i < n; i++) {
        p->chunk_bytes[i] = mf_node_in(m, node, i)->dims[axis] * inner;
    }
    node->params = p;
    return MF_OK;
}

void mf_concat_eval(mf_model_t *m, const mf_node_t *node) {
    const concat_params_t *p = node->params;
    if (p == NULL) {
        return;  /* one input: aliased */
    }
    const uint8_t *ins[MF_MAX_NODE_IO];
    for (int32_t i = 0; i < p->n; i++) {
        ins[i] = mf_in_data(m, node, (int)i);
    }
    mf_k_concat(p->n, ins, p->chunk_bytes, p->outer, mf_out_data(m, node, 0));
}


#endif /* MF_OP_ON(CONCATENATION) */

/* ================================================================= PAD */
#if MF_OP_ON(PAD)

mf_status_t mf_pad_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_tensor_t *in = mf_node_in(m, node, 0);
    mf_tensor_t *pad_t = mf_node_in(m, node, 1);
    mf_tensor_t *value_t = mf_node_in(m, node, 2);
    mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = shape_same_type(ctx, in, out, 0)) != MF_OK) {
        return st;
    }
    const int nd = in->ndim;
    if (pad_t->ndim != 2 || pad_t->dims[0] != nd || pad_t->dims[1] != 2) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PAD_PADDINGS_SHAPE), nd, nd);
    }
    int32_t pads[2 * MF_MAX_DIMS];
    if ((st = shape_read_ints(ctx, pad_t, "paddings", 2 * MF_MAX_DIMS, pads)) != MF_OK) {
        return st;
    }
    mf_k_pad_t p;
    memset(&p, 0, sizeof(p));
    int32_t dims[MF_MAX_DIMS];
    int any = 0;
    for (int i = 0; i < nd; i++) {
        const int32_t l = pads[2 * i], r = pads[2 * i + 1];
        if (l < 0 || r < 0) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PAD_NEGATIVE), i, (int)l, (int)r);
        }
        int64_t d = (int64_t)in->dims[i] + l + r;
        if (d > INT32_MAX) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PAD_TOO_LARGE), i);
        }
        dims[i] = (int32_t)d;
        p.out_dims[i] = dims[i];
        p.in_dims[i] = in->dims[i];
        p.left[i] = l;
        any |= l | r;
    }
    if ((st = mf_check_shape(ctx, out, "output", nd, dims)) != MF_OK) {
        return st;
    }
    /* The pad element: the optional third input, else zero in the output's encoding
     * (its zero point for int8, as TFLM). */
    const int es = in->elem_size;
    if (value_t != NULL) {
        if ((st = mf_check_const(ctx, value_t, "constant_values")) != MF_OK) {
            return st;
        }
        if (value_t->type != in->type || value_t->count != 1) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PAD_VALUE_COUNT), mf_type_name(in->type));
        }
        if (in->type == MF_INT8 && (value_t->scale != out->scale || value_t->zero_point != out->zero_point)) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(PAD_VALUE_QUANT));
        }
        memcpy(p.pad_value, value_t->data, (size_t)es);  /* set for constants and their aliases */
    } else if (in->type == MF_INT8) {
        if (out->zero_point < -128 || out->zero_point > 127) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(PAD_OUTPUT_ZERO_POINT), (int)out->zero_point);
        }
        p.pad_value[0] = (uint8_t)(int8_t)out->zero_point;
    }
    if (!any) {
        return mf_make_alias(ctx, node, 0, 0);
    }
    p.ndim = nd;  /* >= 1: paddings of shape [0, 2] cannot load */
    p.elem_size = es;
    p.out_total = out->count;
    mf_k_pad_simplify(&p);
    mf_k_pad_t *pp = mf_alloc(ctx, sizeof(*pp));
    if (pp == NULL) {
        return MF_ERR_ARENA;
    }
    *pp = p;
    node->params = pp;
    return MF_OK;
}

void mf_pad_eval(mf_model_t *m, const mf_node_t *node) {
    const mf_k_pad_t *p = node->params;
    if (p == NULL) {
        return;  /* no padding: aliased */
    }
    mf_k_pad(p, mf_in_data(m, node, 0), mf_out_data(m, node, 0));
}


#endif /* MF_OP_ON(PAD) */

#endif /* MF_OP_ON(RESHAPE) || ... || MF_OP_ON(PAD) */
