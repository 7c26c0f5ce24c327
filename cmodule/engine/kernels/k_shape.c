/* Data-movement kernels for TRANSPOSE, STRIDED_SLICE, CONCATENATION and PAD. */
#include "k_shape.h"

#include <stddef.h>
#include <string.h>

#include "mf_config.h"

#if MF_OP_ON(TRANSPOSE) || MF_OP_ON(STRIDED_SLICE)

void mf_k_gather_simplify(mf_k_gather_t *p) {
    int n = 0;
    int32_t total = 1;
    for (int i = 0; i < p->ndim; i++) {
        const int32_t c = p->count[i], s = p->step[i];
        total *= c;
        /* A unit axis only ever contributes index 0. An axis folds into the one kept
         * before it when walking that one by one equals walking this one over its whole
         * extent (e.g. the untouched trailing axes of a transpose or a full-width
         * slice); folding is associative, so one pass finds every merge. Products stay
         * below 2 * MF_MAX_TENSOR_BYTES. */
        if (c == 1) {
            continue;
        }
        if (n > 0 && p->step[n - 1] == c * s) {
            p->count[n - 1] *= c;
            p->step[n - 1] = s;
        } else {
            p->count[n] = c;
            p->step[n] = s;
            n++;
        }
    }
    if (n == 0) {
        /* One element: a row of one, so eval needs no special case. */
        p->count[0] = 1;
        p->step[0] = 1;
        n = 1;
    }
    p->ndim = n;
    p->total = total;
}

/* One output row of n elements read `step` elements apart. */
static void gather_row(uint8_t *out, const uint8_t *src, int32_t n, int32_t step, int32_t es) {
    if (step == 1) {
        memcpy(out, src, (size_t)n * (size_t)es);
        return;
    }
    const ptrdiff_t s = (ptrdiff_t)step * es;
    const uint8_t *const end = out + (size_t)n * (size_t)es;
    /* n >= 1: the loops test at the bottom. */
    switch (es) {
        case 1:
            do {
                *out++ = *src;
                src += s;
            } while (out != end);
            break;
        case 2:
            do {
                memcpy(out, src, 2);
                out += 2;
                src += s;
            } while (out != end);
            break;
        case 4:
            do {
                memcpy(out, src, 4);
                out += 4;
                src += s;
            } while (out != end);
            break;
        default:
            do {
                memcpy(out, src, 8);
                out += 8;
                src += s;
            } while (out != end);
            break;
    }
}

void mf_k_gather(const mf_k_gather_t *p, const uint8_t *in, uint8_t *out) {
    const int32_t es = p->elem_size;
    const int last = p->ndim - 1;
    const int32_t n = p->count[last];
    const int32_t st = p->step[last];
    const int32_t rows = p->total / n;
    const size_t row_bytes = (size_t)n * (size_t)es;
    int32_t idx[MF_K_SHAPE_MAX_DIMS] = {0};
    ptrdiff_t off = p->base;  /* elements from in */
    for (int32_t r = 0; r < rows; r++) {
        gather_row(out, in + off * es, n, st, es);
        out += row_bytes;
        /* Odometer over the outer axes. */
        for (int d = last - 1; d >= 0; d--) {
            off += p->step[d];
            if (++idx[d] < p->count[d]) {
                break;
            }
            off -= (ptrdiff_t)p->step[d] * p->count[d];
            idx[d] = 0;
        }
    }
}

#endif /* MF_OP_ON(TRANSPOSE) || MF_OP_ON(STRIDED_SLICE) */

#if MF_OP_ON(CONCATENATION)

void mf_k_concat(int32_t n_inputs, const uint8_t *const *inputs, const int32_t *chunk_bytes,
    int32_t outer, uint8_t *out) {
    for (int32_t k = 0; k < outer; k++) {
        for (int32_t i = 0; i < n_inputs; i++) {
            const size_t c = (size_t)chunk_bytes[i];
            memcpy(out, inputs[i] + (size_t)k * c, c);
            out += c;
        }
    }
}

#endif /* MF_OP_ON(CONCATENATION) */

#if MF_OP_ON(PAD)

void mf_k_pad_simplify(mf_k_pad_t *p) {
    int n = 0;
    for (int i = 0; i < p->ndim; i++) {
        const int32_t o = p->out_dims[i], w = p->in_dims[i];
        if (n == 0 ? o == 1 && w == 1 : o == w) {
            /* A leading axis of extent 1 carries nothing. An unpadded axis folds into
             * the axis before it: the input rows of that axis then land contiguously
             * in the output, so rows get longer. (Whether an axis is padded does not
             * change when others fold into it, so one pass finds every fold; a later
             * unit axis folds as a factor of 1.) */
            if (n > 0) {
                p->out_dims[n - 1] *= o;
                p->in_dims[n - 1] *= o;
                p->left[n - 1] *= o;
            }
            continue;
        }
        p->out_dims[n] = o;
        p->in_dims[n] = w;
        p->left[n] = p->left[i];
        n++;
    }
    if (n == 0) {
        p->out_dims[0] = p->in_dims[0] = 1;
        p->left[0] = 0;
        n = 1;
    }
    p->ndim = n;
}

/* n copies of the pad element. */
static void pad_fill(uint8_t *out, int32_t n, const uint8_t *value, int32_t es, int bytewise) {
    if (n <= 0) {
        return;
    }
    if (bytewise) {
        memset(out, value[0], (size_t)n * (size_t)es);
        return;
    }
    for (int32_t i = 0; i < n; i++) {
        memcpy(out, value, (size_t)es);
        out += es;
    }
}

void mf_k_pad(const mf_k_pad_t *p, const uint8_t *in, uint8_t *out) {
    if (p->out_total == 0) {
        return;
    }
    const int32_t es = p->elem_size;
    /* Pad values whose bytes are all equal (0, -1, any int8) fill with memset. */
    int bytewise = 1;
    for (int32_t i = 1; i < es; i++) {
        if (p->pad_value[i] != p->pad_value[0]) {
            bytewise = 0;
        }
    }
    const int last = p->ndim - 1;
    const int32_t out_w = p->out_dims[last];
    const int32_t in_w = p->in_dims[last];
    const int32_t left_w = p->left[last];
    const int32_t right_w = out_w - in_w - left_w;
    const int32_t rows = p->out_total / out_w;
    const size_t in_row = (size_t)in_w * (size_t)es;
    int32_t idx[MF_K_SHAPE_MAX_DIMS] = {0};
    for (int32_t r = 0; r < rows; r++) {
        int inside = 1;
        for (int d = 0; d < last; d++) {
            if (idx[d] < p->left[d] || idx[d] >= p->left[d] + p->in_dims[d]) {
                inside = 0;
                break;
            }
        }
        if (inside) {
            pad_fill(out, left_w, p->pad_value, es, bytewise);
            memcpy(out + (size_t)left_w * es, in, in_row);
            in += in_row;
            pad_fill(out + (size_t)(left_w + in_w) * es, right_w, p->pad_value, es, bytewise);
        } else {
            pad_fill(out, out_w, p->pad_value, es, bytewise);
        }
        out += (size_t)out_w * es;
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < p->out_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}

#endif /* MF_OP_ON(PAD) */
