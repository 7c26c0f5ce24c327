/*
 * After load: invoke, the public accessors, a window into an input tensor
 * (mf_write_window), the op list of the build and the model's metadata entries.
 */
#include "mf_loader.h"
#include "mf_fuse.h"
#include "kernels/k_quantize.h"

/* Runs node n: its op, or the fused chain it ends; nothing for a node that a later fused
 * node runs. The one dispatch mf_invoke and mf_invoke_profiled share. */
static void mf_run_node(mf_model_t *m, const mf_node_t *n) {
    if (n->flags == 0) {
        mf_op_table[n->op].eval(m, n);
    } else if (n->flags & MF_NODE_FUSED) {
        mf_fused_eval(m, n);
    }
}

void mf_invoke(mf_model_t *m) {
    for (int i = 0; i < m->n_nodes; i++) {
        mf_run_node(m, &m->nodes[i]);
    }
}

#if MF_PROFILE
void mf_invoke_profiled(mf_model_t *m, mf_clock_fn now, void *ctx, uint32_t *node_ticks, int n_ticks) {
    for (int i = 0; i < m->n_nodes; i++) {
        const mf_node_t *n = &m->nodes[i];
        uint32_t t = 0;
        /* A node a later fused node runs (absorbed) costs nothing here: no clock reads. */
        if (n->flags == 0 || (n->flags & MF_NODE_FUSED)) {
            uint32_t t0 = now(ctx);
            mf_run_node(m, n);
            t = now(ctx) - t0;
        }
        if (i < n_ticks) {
            node_ticks[i] = t;
        }
    }
}

int mf_node_fused(const mf_model_t *m, int i) {
    if (i < 0 || i >= m->n_nodes) {
        return -1;
    }
    uint8_t f = m->nodes[i].flags;
    return f == 0 ? 0 : (f & MF_NODE_FUSED) ? 1 : 2;
}
#endif /* MF_PROFILE */

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
    const bool to_s8 = t->type == MF_INT8;
    if ((!to_s8 && t->type != MF_FLOAT32) || (to_s8 && !(t->scale > 0.0f))) {
        return mf_set_err(err, MF_ERR_ARG, MF_TEXT("window into a %s tensor: need quantized int8 or float32"),
            mf_type_name(t->type));
    }
    if (count != (size_t)t->count || channels == 0 || count % channels != 0 || (count != 0 && start >= count) ||
        (((uintptr_t)samples | (uintptr_t)mean | (uintptr_t)std) & 3u) != 0) {
        return mf_set_err(err, MF_ERR_ARG, MF_TEXT("window of %lu values (start %lu, %lu channels) does not fit "
            "the tensor's %lu: need whole samples of aligned float32"),
            (unsigned long)count, (unsigned long)start, (unsigned long)channels, (unsigned long)t->count);
    }
    mf_k_window(samples, t->count, (int32_t)start, mean, std, (int32_t)channels, t->scale, t->zero_point,
        to_s8 ? (int8_t *)t->data : NULL, to_s8 ? NULL : (float *)t->data);
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
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(METADATA_BAD_ROOT));
    }
    mf_fbv_t metas, buffers;
    if (mf_fbt_vec(&root, MODEL_METADATA, 4, &metas) == MF_FB_BAD ||
        mf_fbt_vec(&root, MODEL_BUFFERS, 4, &buffers) == MF_FB_BAD) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(METADATA_BOUNDS));
    }
    size_t name_len = strlen(name);
    for (uint32_t i = 0; i < metas.count; i++) {
        mf_fbt_t mt;
        mf_fbv_t nm;
        if (mf_fbv_table(&root, &metas, i, &mt) != MF_FB_OK || mf_fbt_vec(&mt, META_NAME, 1, &nm) == MF_FB_BAD) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(METADATA_ENTRY_BOUNDS), (unsigned)i);
        }
        if (nm.count != name_len || memcmp(nm.data, name, name_len) != 0) {
            continue;
        }
        uint32_t b;
        const uint8_t *d;
        uint32_t sz;
        b = mf_fbt_u32(&mt, META_BUFFER, 0);
        mf_status_t st = mf_buffer_bytes(&root, &buffers, b, &d, &sz, err, -1);
        if (st != MF_OK) {
            return st;
        }
        *data = d ? d : buf;
        *size = sz;
        return MF_OK;
    }
    return mf_set_err(err, MF_ERR_ARG, MF_MSG(METADATA_NOT_FOUND), name);
}
