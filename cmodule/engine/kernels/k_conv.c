/* Int8 CONV_2D / DEPTHWISE_CONV_2D kernels; see k_conv.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_ON(CONV_2D) || MF_OP_ON(DEPTHWISE_CONV_2D)

#include <stddef.h>
#include <string.h>

#include "kernels/k_conv.h"
#include "kernels/k_fully_connected.h"

static inline int8_t conv_requant(const mf_conv_params_t *p, int32_t acc, int32_t c) {
    mf_qm_t qm;
    qm.multiplier = p->qmult[c];
    qm.shift = p->shift[c];
    return mf_requant_s8(acc, qm, p->out_offset, p->act_min, p->act_max);
}

#endif /* MF_OP_ON(CONV_2D) || MF_OP_ON(DEPTHWISE_CONV_2D) */

#if MF_OP_ON(CONV_2D)

uint32_t mf_k_conv_scratch(const mf_conv_params_t *p) {
    /* A 1x1 kernel over a whole group reads its patch straight from the input. */
    if (p->f_h == 1 && p->f_w == 1 && p->groups == 1) {
        return 0;
    }
    return (uint32_t)(p->f_h * p->f_w * p->f_c);
}

/* Copies the receptive field of output (oy, ox), channels [c0, c0 + f_c), into patch in
 * filter order [f_h][f_w][f_c]; outside taps get the input zero point. */
static void conv_gather(const mf_conv_params_t *p, const int8_t *img, int32_t oy, int32_t ox, int32_t c0, int8_t *patch) {
    const int32_t fc = p->f_c;
    const int32_t y0 = oy * p->stride_h - p->pad_h;
    const int32_t x0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)p->in_zp;
    const int row_contig = p->dil_w == 1 && p->groups == 1 && x0 >= 0 && x0 + p->f_w <= p->in_w;
    for (int32_t fy = 0; fy < p->f_h; fy++) {
        const int32_t iy = y0 + fy * p->dil_h;
        int8_t *dst = patch + (size_t)fy * (size_t)p->f_w * (size_t)fc;
        if (iy < 0 || iy >= p->in_h) {
            memset(dst, zp, (size_t)p->f_w * (size_t)fc);
            continue;
        }
        const int8_t *row = img + (size_t)iy * (size_t)p->in_w * (size_t)p->in_c;
        if (row_contig) {
            memcpy(dst, row + (size_t)x0 * (size_t)fc, (size_t)p->f_w * (size_t)fc);
            continue;
        }
        for (int32_t fx = 0; fx < p->f_w; fx++, dst += fc) {
            const int32_t ix = x0 + fx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) {
                memset(dst, zp, (size_t)fc);
            } else {
                memcpy(dst, row + (size_t)ix * (size_t)p->in_c + c0, (size_t)fc);
            }
        }
    }
}

void mf_k_conv_s8(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias, int8_t *out,
    uint8_t *scratch) {
    const int32_t depth = p->f_h * p->f_w * p->f_c;
    const int32_t per_group = p->out_c / p->groups;
    const int direct = p->f_h == 1 && p->f_w == 1 && p->groups == 1;
    const int32_t off = -p->in_zp;
    int8_t *patch = (int8_t *)scratch;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, out += p->out_c) {
                for (int32_t g = 0; g < p->groups; g++) {
                    const int8_t *x;
                    if (direct) {
                        x = img + ((size_t)(oy * p->stride_h) * (size_t)p->in_w + (size_t)(ox * p->stride_w)) *
                            (size_t)p->in_c;
                    } else {
                        conv_gather(p, img, oy, ox, g * p->f_c, patch);
                        x = patch;
                    }
                    const int32_t c_end = (g + 1) * per_group;
                    int32_t c = g * per_group;
                    for (; c + 4 <= c_end; c += 4) {
                        int32_t d[4];
                        mf_dot4_s8(x, off, w + (size_t)c * (size_t)depth, (size_t)depth, depth, d);
                        for (int r = 0; r < 4; r++) {
                            out[c + r] = conv_requant(p, mf_k_add_bias(d[r], bias, c + r), c + r);
                        }
                    }
                    for (; c < c_end; c++) {
                        const int8_t *wc = w + (size_t)c * (size_t)depth;
                        out[c] = conv_requant(p, mf_k_add_bias(mf_dot_s8(x, off, wc, depth), bias, c), c);
                    }
                }
            }
        }
    }
}

#endif /* MF_OP_ON(CONV_2D) */

#if MF_OP_ON(DEPTHWISE_CONV_2D)

uint32_t mf_k_depthwise_scratch(const mf_conv_params_t *p) {
    return 4u * (uint32_t)p->out_c;  /* accumulators */
}

/* acc[c] += w[c] * (x[c] + off), c < n. Blocks of 16 so -O2 builds vectorize the body. */
static void dw_mac(int32_t *acc, const int8_t *w, const int8_t *x, int32_t off, int32_t n) {
    int32_t c = 0;
    for (; c + 16 <= n; c += 16) {
        for (int k = 0; k < 16; k++) {
            acc[c + k] += (int32_t)w[c + k] * (x[c + k] + off);
        }
    }
    for (; c < n; c++) {
        acc[c] += (int32_t)w[c] * (x[c] + off);
    }
}

void mf_k_depthwise_s8(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out, uint8_t *scratch) {
    const int32_t oc = p->out_c;
    const int32_t mult = p->mult;
    const int32_t off = -p->in_zp;
    int32_t *acc = (int32_t *)(void *)scratch;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ox++, out += oc) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                /* The products stay within +-taps * 255 * 128 < 2^31 (prepare bounds taps);
                 * the bias is added last in uint32 like the FC kernel. Taps outside the
                 * image add w * (zero_point + off) = 0: the reference skips them. */
                memset(acc, 0, sizeof(int32_t) * (size_t)oc);
                const int8_t *wt = w;
                for (int32_t fy = 0; fy < p->f_h; fy++) {
                    const int32_t iy = y0 + fy * p->dil_h;
                    const int y_in = iy >= 0 && iy < p->in_h;
                    for (int32_t fx = 0; fx < p->f_w; fx++, wt += oc) {
                        const int32_t ix = x0 + fx * p->dil_w;
                        if (!y_in || ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        const int8_t *x = img + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c;
                        if (mult == 1) {
                            dw_mac(acc, wt, x, off, oc);
                        } else {
                            for (int32_t ic = 0; ic < p->in_c; ic++) {
                                const int32_t v = x[ic] + off;
                                const int8_t *wm = wt + (size_t)ic * (size_t)mult;
                                int32_t *am = acc + (size_t)ic * (size_t)mult;
                                for (int32_t m = 0; m < mult; m++) {
                                    am[m] += (int32_t)wm[m] * v;
                                }
                            }
                        }
                    }
                }
                for (int32_t c = 0; c < oc; c++) {
                    out[c] = conv_requant(p, mf_k_add_bias(acc[c], bias, c), c);
                }
            }
        }
    }
}

#endif /* MF_OP_ON(DEPTHWISE_CONV_2D) */
