/* Data-movement kernels for TRANSPOSE, STRIDED_SLICE, CONCATENATION and PAD. */
#include "k_shape.h"

#include <stddef.h>
#include <string.h>

#include "mf_config.h"

#if MF_OP_TRANSPOSE || MF_OP_STRIDED_SLICE

/* Byte transposes move 4x4 tiles as words where unaligned word access is cheap and
 * bytes are little-endian (Cortex-M3/M4/M7/M33, x86, AArch64). On cores without
 * unaligned loads (Cortex-M0+) the compiler would split each word into bytes, so the
 * plain element loop is used there. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && \
    (defined(__ARM_FEATURE_UNALIGNED) || defined(__x86_64__) || defined(__i386__) || defined(__aarch64__))
#define K_SHAPE_WORD_TILES 1
#else
#define K_SHAPE_WORD_TILES 0
#endif /* word tiles */

void mf_k_gather_simplify(mf_k_gather_t *p) {
    int32_t count[MF_K_SHAPE_MAX_DIMS];
    int32_t step[MF_K_SHAPE_MAX_DIMS];
    int n = 0;
    int64_t total = 1;
    for (int i = 0; i < p->ndim; i++) {
        total *= p->count[i];
        /* A unit axis only ever contributes index 0. */
        if (p->count[i] != 1) {
            count[n] = p->count[i];
            step[n] = p->step[i];
            n++;
        }
    }
    if (total == 0) {
        p->ndim = 0;
        p->total = 0;
        return;
    }
    /* Merge from the inside out: axis i folds into i+1 when walking i by one equals
     * walking i+1 over its whole extent (e.g. the untouched trailing axes of a
     * transpose or a full-width slice). */
    int m = n;
    for (int i = n - 2; i >= 0; i--) {
        if ((int64_t)step[i] == (int64_t)count[i + 1] * step[i + 1]) {
            count[i] = count[i] * count[i + 1];
            step[i] = step[i + 1];
            for (int j = i + 1; j < m - 1; j++) {
                count[j] = count[j + 1];
                step[j] = step[j + 1];
            }
            m--;
        }
    }
    p->ndim = m;
    for (int i = 0; i < m; i++) {
        p->count[i] = count[i];
        p->step[i] = step[i];
    }
    p->total = (int32_t)total;
    p->tile = -1;
    if (K_SHAPE_WORD_TILES && p->elem_size == 1 && m >= 2 && step[m - 1] != 1) {
        for (int i = 0; i < m - 1; i++) {
            if (step[i] == 1 && count[i] >= 4 && count[m - 1] >= 4) {
                p->tile = i;
            }
        }
    }
}

int mf_k_gather_is_copy(const mf_k_gather_t *p) {
    return p->ndim == 0 || (p->ndim == 1 && p->step[0] == 1);
}

/* One output row of n elements read `step` elements apart. */
static void gather_row(uint8_t *out, const uint8_t *src, int32_t n, int32_t step, int32_t es) {
    if (step == 1) {
        memcpy(out, src, (size_t)n * (size_t)es);
        return;
    }
    const ptrdiff_t s = (ptrdiff_t)step * es;
    switch (es) {
        case 1:
            for (int32_t i = 0; i < n; i++) {
                out[i] = *src;
                src += s;
            }
            break;
        case 2:
            for (int32_t i = 0; i < n; i++) {
                memcpy(out, src, 2);
                out += 2;
                src += s;
            }
            break;
        case 4:
            for (int32_t i = 0; i < n; i++) {
                memcpy(out, src, 4);
                out += 4;
                src += s;
            }
            break;
        default:
            for (int32_t i = 0; i < n; i++) {
                memcpy(out, src, 8);
                out += 8;
                src += s;
            }
            break;
    }
}

/* out[k * ok + l] = in[k + l * sl] for k < nk, l < nl: a byte matrix transpose. Whole
 * 4x4 tiles go as four word loads, a register transpose and four word stores (a
 * quarter of the memory operations of the element loop). */
static void transpose_bytes(uint8_t *out, const uint8_t *in, int32_t nk, int32_t nl, ptrdiff_t ok, ptrdiff_t sl) {
    int32_t k = 0;
#if K_SHAPE_WORD_TILES
    for (; k + 4 <= nk; k += 4) {
        int32_t l = 0;
        for (; l + 4 <= nl; l += 4) {
            const uint8_t *s = in + k + l * sl;
            uint32_t w0, w1, w2, w3;
            memcpy(&w0, s, 4);
            memcpy(&w1, s + sl, 4);
            memcpy(&w2, s + 2 * sl, 4);
            memcpy(&w3, s + 3 * sl, 4);
            /* Word l holds in-row l (bytes k..k+3); interleave bytes, then halves. */
            const uint32_t t0 = (w0 & 0x00ff00ffu) | ((w1 << 8) & 0xff00ff00u);
            const uint32_t t1 = ((w0 >> 8) & 0x00ff00ffu) | (w1 & 0xff00ff00u);
            const uint32_t t2 = (w2 & 0x00ff00ffu) | ((w3 << 8) & 0xff00ff00u);
            const uint32_t t3 = ((w2 >> 8) & 0x00ff00ffu) | (w3 & 0xff00ff00u);
            const uint32_t v0 = (t0 & 0xffffu) | (t2 << 16);
            const uint32_t v1 = (t1 & 0xffffu) | (t3 << 16);
            const uint32_t v2 = (t0 >> 16) | (t2 & 0xffff0000u);
            const uint32_t v3 = (t1 >> 16) | (t3 & 0xffff0000u);
            uint8_t *d = out + k * ok + l;
            memcpy(d, &v0, 4);
            memcpy(d + ok, &v1, 4);
            memcpy(d + 2 * ok, &v2, 4);
            memcpy(d + 3 * ok, &v3, 4);
        }
        for (; l < nl; l++) {
            for (int32_t kk = k; kk < k + 4; kk++) {
                out[kk * ok + l] = in[kk + l * sl];
            }
        }
    }
#endif /* K_SHAPE_WORD_TILES */
    for (; k < nk; k++) {
        const uint8_t *s = in + k;
        uint8_t *d = out + k * ok;
        for (int32_t l = 0; l < nl; l++) {
            d[l] = *s;
            s += sl;
        }
    }
}

/* Byte gathers with a tile axis: the two axes (tile, last) form a transpose per
 * position of the other axes. */
static void gather_tiled(const mf_k_gather_t *p, const uint8_t *src, uint8_t *out) {
    const int last = p->ndim - 1;
    const int tk = p->tile;
    int32_t ostride[MF_K_SHAPE_MAX_DIMS];
    int32_t s = 1;
    for (int d = last; d >= 0; d--) {
        ostride[d] = s;
        s *= p->count[d];
    }
    const int32_t nk = p->count[tk], nl = p->count[last];
    const int32_t blocks = p->total / (nk * nl);
    int32_t idx[MF_K_SHAPE_MAX_DIMS] = {0};
    ptrdiff_t ioff = 0, ooff = 0;
    for (int32_t b = 0; b < blocks; b++) {
        transpose_bytes(out + ooff, src + ioff, nk, nl, ostride[tk], p->step[last]);
        for (int d = last - 1; d >= 0; d--) {
            if (d == tk) {
                continue;
            }
            ioff += p->step[d];
            ooff += ostride[d];
            if (++idx[d] < p->count[d]) {
                break;
            }
            ioff -= (ptrdiff_t)p->step[d] * p->count[d];
            ooff -= (ptrdiff_t)ostride[d] * p->count[d];
            idx[d] = 0;
        }
    }
}

void mf_k_gather(const mf_k_gather_t *p, const uint8_t *in, uint8_t *out) {
    if (p->total == 0) {
        return;
    }
    if (p->tile >= 0) {
        gather_tiled(p, in + p->base, out);
        return;
    }
    const int32_t es = p->elem_size;
    const uint8_t *src = in + (ptrdiff_t)p->base * es;
    if (p->ndim == 0) {
        memcpy(out, src, (size_t)es);
        return;
    }
    const int last = p->ndim - 1;
    const int32_t n = p->count[last];
    const int32_t st = p->step[last];
    const int32_t rows = p->total / n;
    const size_t row_bytes = (size_t)n * (size_t)es;
    int32_t idx[MF_K_SHAPE_MAX_DIMS] = {0};
    ptrdiff_t off = 0;  /* elements from base */
    for (int32_t r = 0; r < rows; r++) {
        gather_row(out, src + off * es, n, st, es);
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

#endif /* MF_OP_TRANSPOSE || MF_OP_STRIDED_SLICE */

#if MF_OP_CONCATENATION

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

#endif /* MF_OP_CONCATENATION */

#if MF_OP_PAD

void mf_k_pad_simplify(mf_k_pad_t *p) {
    int n = 0;
    /* Axes with no padding and extent 1 carry nothing. */
    for (int i = 0; i < p->ndim; i++) {
        if (p->out_dims[i] == 1 && p->in_dims[i] == 1) {
            continue;
        }
        p->out_dims[n] = p->out_dims[i];
        p->in_dims[n] = p->in_dims[i];
        p->left[n] = p->left[i];
        n++;
    }
    if (n == 0) {
        p->out_dims[0] = p->in_dims[0] = 1;
        p->left[0] = 0;
        n = 1;
    }
    /* An unpadded axis folds into the axis before it: the input rows of that axis
     * then land contiguously in the output, so rows get longer. */
    for (int i = n - 2; i >= 0; i--) {
        if (p->in_dims[i + 1] == p->out_dims[i + 1]) {
            const int32_t w = p->out_dims[i + 1];
            p->out_dims[i] *= w;
            p->in_dims[i] *= w;
            p->left[i] *= w;
            for (int j = i + 1; j < n - 1; j++) {
                p->out_dims[j] = p->out_dims[j + 1];
                p->in_dims[j] = p->in_dims[j + 1];
                p->left[j] = p->left[j + 1];
            }
            n--;
        }
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

#endif /* MF_OP_PAD */
