/*
 * The .tflite model reader: buffers and tensors read from the model's flatbuffer
 * tables (mf_reader.c) and checked (every offset, length, shape and quantization).
 */
#include "mf_loader.h"

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
mf_status_t mf_buffer_bytes(const mf_fbt_t *root, const mf_fbv_t *buffers, uint32_t index,
    const uint8_t **data, uint32_t *size, mf_error_t *err, int tensor) {
    mf_fbt_t b;
    *data = NULL;
    *size = 0;
    if (index >= buffers->count) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_BUFFER_INDEX),
            tensor, (unsigned)index, (unsigned)buffers->count);
    }
    if (mf_fbv_table(root, buffers, index, &b) != MF_FB_OK) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(BUFFER_TABLE_BOUNDS), (unsigned)index);
    }
    mf_fbv_t v;
    mf_fb_status_t st = mf_fbt_vec(&b, BUF_DATA, 1, &v);
    if (st == MF_FB_BAD) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(BUFFER_DATA_BOUNDS), (unsigned)index);
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
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(BUFFER_OUTSIDE_MODEL),
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
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_SHAPE_BOUNDS), index);
    }
    if (shape.count > MF_MAX_DIMS) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(TENSOR_TOO_MANY_DIMS),
            index, (unsigned)shape.count, MF_MAX_DIMS);
    }
    int type = mf_fbt_i8(tt, T_TYPE, 0);
    int es = elem_size_of(type);
    if (es == 0) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(TENSOR_TYPE_UNSUPPORTED), index, mf_type_name(type), type);
    }
    t->type = (uint8_t)type;
    t->elem_size = (uint8_t)es;
    t->ndim = (uint8_t)shape.count;
    uint64_t count = 1;
    for (uint32_t i = 0; i < shape.count; i++) {
        int32_t d = mf_fbv_i32(&shape, i);
        if (d < 1) {
            return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(TENSOR_DIM_DYNAMIC), index, (unsigned)i, (int)d);
        }
        t->dims[i] = d;
        count *= (uint64_t)d;
        if (count * (uint64_t)es > MF_MAX_TENSOR_BYTES) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_TOO_LARGE), index, (unsigned long)MF_MAX_TENSOR_BYTES);
        }
    }
    t->count = (int32_t)count;
    if (mf_fbt_u8(tt, T_IS_VARIABLE, 0)) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(TENSOR_VARIABLE), index);
    }
    if (mf_fbt_has(tt, T_SPARSITY)) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(TENSOR_SPARSE), index);
    }
    const uint8_t *data;
    uint32_t size;
    mf_status_t st = mf_buffer_bytes(root, buffers, mf_fbt_u32(tt, T_BUFFER, 0), &data, &size, err, index);
    if (st != MF_OK) {
        return st;
    }
    t->kind = MF_T_ARENA;
    t->alias_of = -1;
    if (data) {
        if (size != (uint32_t)count * (uint32_t)es) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_BUFFER_SIZE),
                index, (unsigned)size, (unsigned)(count * (uint64_t)es));
        }
        /* Kernels read int16/int32/float weights with aligned loads. */
        if (es > 1 && ((uintptr_t)data & (uintptr_t)((es > 4 ? 4 : es) - 1))) {
            return mf_set_err(err, MF_ERR_MALFORMED,
                MF_TEXT("tensor %d: data at byte %lu is not %d-byte aligned (load the model from an aligned buffer)"),
                index, (unsigned long)(data - root->buf), es > 4 ? 4 : es);
        }
        t->kind = MF_T_CONST;
        t->data = (uint8_t *)(uintptr_t)data;  /* never written: const tensors are only read */
    }
    mf_fbt_t q;
    mf_fb_status_t qs = mf_fbt_table(tt, T_QUANT, &q);
    if (qs == MF_FB_BAD) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_QUANT_BOUNDS), index);
    }
    if (qs == MF_FB_OK) {
        mf_fbv_t sc, zp;
        if (mf_fbt_vec(&q, Q_SCALE, 4, &sc) == MF_FB_BAD || mf_fbt_vec(&q, Q_ZERO_POINT, 8, &zp) == MF_FB_BAD) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_QUANT_VECTORS_BOUNDS), index);
        }
        if (mf_fbt_u8(&q, Q_DETAILS_TYPE, 0) != 0) {
            return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(TENSOR_QUANT_CUSTOM), index);
        }
        if (sc.count > 0) {
            int32_t qdim = mf_fbt_i32(&q, Q_QDIM, 0);
            if (zp.count != 0 && zp.count != sc.count) {
                return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_QUANT_COUNTS),
                    index, (unsigned)sc.count, (unsigned)zp.count);
            }
            if (sc.count > 1) {
                if (qdim < 0 || qdim >= t->ndim || (uint32_t)t->dims[qdim] != sc.count) {
                    return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_QUANT_DIM),
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
                return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_ZERO_POINT_RANGE), index);
            }
            t->zero_point = (int32_t)z;
        }
    }
    return MF_OK;
}

/* Parses tensor `index` (already bounds-checked tables) into *t. */
mf_status_t mf_parse_tensor(const mf_model_box_t *box, int16_t index, mf_tensor_t *t, mf_error_t *err) {
    mf_fbt_t tt;
    memset(t, 0, sizeof(*t));
    if (mf_fbv_table(&box->load->root, &box->load->tensors, (uint32_t)index, &tt) != MF_FB_OK) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(TENSOR_TABLE_BOUNDS), index);
    }
    return load_tensor(&box->load->root, &box->load->buffers, &tt, index, t, err);
}

/* The tensor as prepare sees it: parsed, plus the aliasing decided so far. */
mf_status_t mf_view_tensor(const mf_model_box_t *box, int16_t index, mf_tensor_t *t, mf_error_t *err) {
    mf_status_t st = mf_parse_tensor(box, index, t, err);
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
