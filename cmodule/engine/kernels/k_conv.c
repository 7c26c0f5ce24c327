/* Int8 CONV_2D / DEPTHWISE_CONV_2D kernels; see k_conv.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_ON(CONV_2D) || MF_OP_ON(DEPTHWISE_CONV_2D)

#include <stddef.h>
#include <string.h>

#include "kernels/k_conv.h"
#include "kernels/k_fully_connected.h"
#include "kernels/k_mve.h"

/* Helium (Cortex-M55): the blocks under MF_K_MVE_RQ take precedence over the DSP ones. */

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
/* mf_requant_s8 without branches for multipliers >= 0 (every QuantizeMultiplier result)
 * and shifts in [-31, 0], the two roundings of mf_quant.h's hoisted-multiply notes one
 * after the other: one SMLAL-based rounding high multiply and a mask/threshold rounding
 * shift instead of gemmlowp's sign-dependent nudge and 64-bit division, about a third of
 * the instructions on Cortex-M4. (mf_mul_by_qmx's single high word needs constants per
 * multiplier, mf_qmx, which per-channel outputs would recompute for every value.) The
 * kernels' hot loops use it once conv_requant_plain has checked every channel. */
__attribute__((always_inline)) static inline int8_t conv_requant_fast(int32_t acc, int32_t m, int32_t sh,
    int32_t out_offset, int32_t act_min, int32_t act_max) {
    const int32_t right = -sh;
    const int32_t h = (int32_t)(((int64_t)acc * m + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
    const int32_t v = (h >> right) + ((h & mask) > ((mask >> 1) + (h < 0))) + out_offset;
    return (int8_t)mf_clamp(v, act_min, act_max);
}

/* Whether every output channel's (multiplier, shift) suits conv_requant_fast. Negative
 * multipliers and scales >= 1 (a left shift first) are rare enough for the generic
 * path. */
static int conv_requant_plain(const mf_conv_params_t *p) {
    for (int32_t c = 0; c < p->out_c; c++) {
        if (p->qmult[c] < 0 || (uint32_t)(-(int32_t)p->shift[c]) > 31u) {
            return 0;
        }
    }
    return 1;
}

/* One output of channel c, any (multiplier, shift). */
__attribute__((noinline)) static int8_t conv_requant(const mf_conv_params_t *p, int32_t acc, int32_t c) {
    mf_qm_t qm;
    qm.multiplier = p->qmult[c];
    qm.shift = p->shift[c];
    if (qm.multiplier < 0 || (uint32_t)(-qm.shift) > 31u) {
        return mf_requant_s8(acc, qm, p->out_offset, p->act_min, p->act_max);
    }
    return conv_requant_fast(acc, qm.multiplier, qm.shift, p->out_offset, p->act_min, p->act_max);
}

/* out[r] = requant(acc[r] + bias[c + r]) for r < 4 (conv_requant_plain holds), unrolled:
 * the output parameters are loaded once per block and nothing is tested per output (the
 * loop over r, a bias test and the range check per output made it 40 instructions an
 * output on Cortex-M4, half of a 3x3 depthwise convolution's time). */
__attribute__((noinline)) static void conv_requant4(const mf_conv_params_t *p, const int32_t *acc,
    const int32_t *bias, int32_t c, int8_t *out) {
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t *qm = p->qmult + c;
    const int8_t *sh = p->shift + c;
    uint32_t b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    if (bias) {
        b0 = (uint32_t)bias[c];
        b1 = (uint32_t)bias[c + 1];
        b2 = (uint32_t)bias[c + 2];
        b3 = (uint32_t)bias[c + 3];
    }
    out[0] = conv_requant_fast((int32_t)((uint32_t)acc[0] + b0), qm[0], sh[0], out_offset, act_min, act_max);
    out[1] = conv_requant_fast((int32_t)((uint32_t)acc[1] + b1), qm[1], sh[1], out_offset, act_min, act_max);
    out[2] = conv_requant_fast((int32_t)((uint32_t)acc[2] + b2), qm[2], sh[2], out_offset, act_min, act_max);
    out[3] = conv_requant_fast((int32_t)((uint32_t)acc[3] + b3), qm[3], sh[3], out_offset, act_min, act_max);
}
#else
static inline int8_t conv_requant(const mf_conv_params_t *p, int32_t acc, int32_t c) {
    mf_qm_t qm;
    qm.multiplier = p->qmult[c];
    qm.shift = p->shift[c];
    return mf_requant_s8(acc, qm, p->out_offset, p->act_min, p->act_max);
}
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */

#if MF_K_MVE_RQ
/* The output stage of four channels c + r * step (lanes r < n <= 4): their multipliers
 * and shifts per lane (k_mve.h, equal to mf_requant_s8 for any multiplier), bias, and
 * where they go. The same for every pixel, so the kernels compute those of their first
 * MF_K_MVE_RQ_BLOCKS blocks once per call (gathers; about half the instructions of
 * an output block otherwise). */
typedef struct {
    mf_mve_qm4_t q;
    int32x4_t bias;
    uint32x4_t at;      /* byte offsets of the lanes' outputs: r * step */
    mve_pred16_t pn;    /* lanes r < n */
} conv_out4_t;

#define MF_K_MVE_RQ_BLOCKS 4

static void conv_out4_init(const mf_conv_params_t *p, const int32_t *bias, int32_t c, int32_t step, int32_t n,
    conv_out4_t *o) {
    o->pn = vctp32q((uint32_t)n);
    o->at = mf_mve_lanes(step);
    o->q = mf_mve_qm4(p->qmult + c, p->shift + c, step, n);
    o->bias = bias ? vldrwq_gather_shifted_offset_z_s32(bias + c, o->at, o->pn) : vdupq_n_s32(0);
}

/* out[r * step] = requant(acc[r] + bias) for the lanes of o; the bias is added modulo 2^32. */
static void conv_out4_mve(const mf_conv_params_t *p, int32x4_t acc, const conv_out4_t *o, int8_t *out) {
    const int32x4_t v = mf_mve_mul_by_qm4(vaddq_s32(acc, o->bias), &o->q);
    vstrbq_scatter_offset_p_s32(out, o->at, mf_mve_out_s8(v, p->out_offset, p->act_min, p->act_max), o->pn);
}
#endif /* MF_K_MVE_RQ */

#endif /* MF_OP_ON(CONV_2D) || MF_OP_ON(DEPTHWISE_CONV_2D) */

#if MF_OP_ON(CONV_2D)

/* Patch length rounded up to whole words: the ARMv7E-M path pads each patch with the
 * input zero point, whose term is zero, so its inner loop has no tail. */
static int32_t conv_depth4(const mf_conv_params_t *p) {
    return (p->f_h * p->f_w * p->f_c + 3) & ~3;
}

uint32_t mf_k_conv_scratch(const mf_conv_params_t *p) {
    /* One size on every core, so that the host's arena is the board's: with groups == 1
     * the ARMv7E-M path keeps two patches as int16 (conv_pair_dsp); grouped convolutions
     * gather one int8 patch. */
    if (p->groups == 1) {
        return 4u * (uint32_t)conv_depth4(p);
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

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && !MF_K_MVE_RQ
/*
 * ARMv7E-M, groups == 1: two output pixels at a time, like CMSIS-NN's
 * arm_nn_mat_mult_kernel_s8_s16. Each pixel's patch is gathered once (padded to whole
 * words with the zero point) and widened once to int16 with the input offset added, in
 * the lane order SXTB16 gives the weights ((0, 2), (1, 3) of every word). The inner loop
 * then takes two weight rows against both patches: per word of depth two weight loads,
 * four extends and eight SMLADs make 16 MACs, about 1.2 instructions a MAC at -Os against
 * 2 for one pixel and four rows (whose loop spills registers). The sums are exact int32
 * (MF_K_MAX_DEPTH), so they equal the portable kernel's.
 */

/* n bytes, a word at a time (Cortex-M4 loads and stores words at any address). Not a
 * memcpy call: newlib-nano's copies bytes one at a time behind a call, which cost more
 * than the copy for the few bytes of a tap row. */
static inline void conv_copy(int8_t *dst, const int8_t *src, int32_t n) {
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        const int32_t v = mf_ld4_s8(src);
        memcpy(dst, &v, 4);
    }
    for (; n > 0; n--) {
        *dst++ = *src++;
    }
}

/* The patch of output (oy, ox) into dst: int8, the zero point for taps outside the image
 * and after the patch's end up to depth4. */
static void conv_gather_pad(const mf_conv_params_t *p, const int8_t *img, int32_t oy, int32_t ox, int32_t depth4,
    int8_t *dst) {
    const int32_t fc = p->f_c, rowlen = p->f_w * fc;
    const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)p->in_zp;
    const int row_inside = p->dil_w == 1 && x0 >= 0 && x0 + p->f_w <= p->in_w;
    for (int32_t fy = 0; fy < p->f_h; fy++, dst += rowlen) {
        const int32_t iy = y0 + fy * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            memset(dst, zp, (size_t)rowlen);
            continue;
        }
        const int8_t *row = img + (size_t)iy * (size_t)p->in_w * (size_t)fc;
        if (row_inside) {
            conv_copy(dst, row + (size_t)x0 * (size_t)fc, rowlen);
            continue;
        }
        for (int32_t fx = 0; fx < p->f_w; fx++) {
            const int32_t ix = x0 + fx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) {
                memset(dst + fx * fc, zp, (size_t)fc);
            } else {
                conv_copy(dst + fx * fc, row + (size_t)ix * (size_t)fc, fc);
            }
        }
    }
    /* At most three bytes of padding (written out: a loop would become a memset call). */
    const int32_t pad = depth4 - p->f_h * rowlen;
    if (pad > 0) {
        dst[0] = zp;
        if (pad > 1) {
            dst[1] = zp;
        }
        if (pad > 2) {
            dst[2] = zp;
        }
    }
}

/* x + off for the int8 words at src, as int16 pairs in SXTB16 lane order: word g to
 * dst[2g] (elements 0, 2) and dst[2g + 1] (elements 1, 3). */
__attribute__((noinline)) static void conv_widen(const int8_t *src, int32_t words, int32_t off2, int32_t *dst) {
    for (const int8_t *end = src + 4 * words; src < end; src += 4, dst += 2) {
        const int32_t v = mf_ld4_s8(src);
        dst[0] = __sxtab16(off2, v);
        dst[1] = mf_sxtab16_odd(off2, v);
    }
}

/* The patch of output pixel `px` (row-major over out_h x out_w), widened into buf
 * (2 * depth4 bytes): gathered into its upper half first and widened in place, front to
 * back (word g's pair lands on bytes [8g, 8g + 8), below the int8 word g + 1 still to be
 * read at depth4 + 4g + 4). */
static void conv_patch16(const mf_conv_params_t *p, const int8_t *img, int32_t px, int32_t depth4, int32_t off2,
    int32_t *buf) {
    int8_t *patch = (int8_t *)buf + depth4;
    conv_gather_pad(p, img, px / p->out_w, px % p->out_w, depth4, patch);
    conv_widen(patch, depth4 / 4, off2, buf);
}

/* Element r < 4 of a widened word pair: the low lane of word r & 1 for r < 2, else the
 * high lane. */
static inline int32_t conv_lane(const int32_t *pair, int32_t r) {
    const uint32_t v = (uint32_t)pair[r & 1] >> (16 * (r >> 1));
    return (int32_t)(v & 0xFFFFu) - (int32_t)((v & 0x8000u) << 1);
}

/* acc = {a0, a1, b0, b1}: patches a and b (int16 pairs, `words` words of 4 elements)
 * against weight rows w0 and w1. The last `tail` elements (< 4) are summed one by one
 * so that the rows are not read past their end (the filter's last row may end the
 * model's buffer). */
__attribute__((noinline)) static void conv_pair_dsp(const int32_t *a, const int32_t *b, const int8_t *w0,
    const int8_t *w1, int32_t words, int32_t tail, int32_t acc[4]) {
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    if (words > 0) {
        /* One word of depth per pass: 19 instructions for 16 MACs. In assembly because the
         * loop needs 15 values and GCC at -Os spilled the weight pointers and reloaded the
         * patches (30 instructions); here the end pointer is reloaded from the stack. */
        const int32_t *const end = a + 2 * words;
        int32_t q, we0, wo0, we1, xe, xo;
        __asm__ (
            "1:\n\t"
            "ldr    %[q], [%[w0]], #4\n\t"
            "sxtb16 %[we0], %[q]\n\t"
            "sxtb16 %[wo0], %[q], ror #8\n\t"
            "ldr    %[q], [%[w1]], #4\n\t"
            "sxtb16 %[we1], %[q]\n\t"
            "sxtb16 %[q], %[q], ror #8\n\t"
            "ldrd   %[xe], %[xo], [%[a]], #8\n\t"
            "smlad  %[a0], %[xe], %[we0], %[a0]\n\t"
            "smlad  %[a0], %[xo], %[wo0], %[a0]\n\t"
            "smlad  %[a1], %[xe], %[we1], %[a1]\n\t"
            "smlad  %[a1], %[xo], %[q], %[a1]\n\t"
            "ldrd   %[xe], %[xo], [%[b]], #8\n\t"
            "smlad  %[b0], %[xe], %[we0], %[b0]\n\t"
            "smlad  %[b0], %[xo], %[wo0], %[b0]\n\t"
            "smlad  %[b1], %[xe], %[we1], %[b1]\n\t"
            "smlad  %[b1], %[xo], %[q], %[b1]\n\t"
            "ldr    %[q], %[end]\n\t"
            "cmp    %[a], %[q]\n\t"
            "bcc    1b"
            : [a0] "+r" (a0), [a1] "+r" (a1), [b0] "+r" (b0), [b1] "+r" (b1), [a] "+r" (a), [b] "+r" (b),
              [w0] "+r" (w0), [w1] "+r" (w1), [q] "=&r" (q), [we0] "=&r" (we0), [wo0] "=&r" (wo0),
              [we1] "=&r" (we1), [xe] "=&r" (xe), [xo] "=&r" (xo)
            : [end] "m" (end)
            : "cc", "memory");
    }
    for (int32_t r = 0; r < tail; r++) {
        const int32_t xa = conv_lane(a, r), xb = conv_lane(b, r);
        a0 += xa * w0[r];
        a1 += xa * w1[r];
        b0 += xb * w0[r];
        b1 += xb * w1[r];
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static void conv_s8_dsp(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out, uint8_t *scratch) {
    const int32_t depth = p->f_h * p->f_w * p->f_c, depth4 = conv_depth4(p);
    const int32_t oc = p->out_c, pixels = p->out_h * p->out_w;
    const int32_t off2 = mf_pair16(-p->in_zp);
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    int32_t *pa = (int32_t *)(void *)scratch, *pb = pa + depth4 / 2;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
        for (int32_t px = 0; px < pixels; px += 2, out += 2 * (size_t)oc) {
            /* An odd last pixel runs as both of the pair; only the first is stored. */
            const int two = px + 1 < pixels;
            conv_patch16(p, img, px, depth4, off2, pa);
            if (two) {
                conv_patch16(p, img, px + 1, depth4, off2, pb);
            }
            const int32_t *xb = two ? pb : pa;
            for (int32_t c = 0; c < oc; c += 2) {
                /* An odd last channel runs as both rows (the same outputs, written
                 * twice); the last pair reads its rows only up to depth. */
                const int32_t c1 = c + 1 < oc ? c + 1 : c;
                const int last = c1 + 1 >= oc;
                int32_t acc[4];
                conv_pair_dsp(pa, xb, w + (size_t)c * (size_t)depth, w + (size_t)c1 * (size_t)depth,
                    (last ? depth : depth4) / 4, last ? depth & 3 : 0, acc);
                /* Requantized inline, each channel's parameters loaded once for both
                 * pixels: a call per output cost as much as the MACs of a small patch,
                 * and a loop over the two pixels 2% of a CNN's invoke (for 140 bytes). */
                const int32_t m0 = p->qmult[c], s0 = p->shift[c], m1 = p->qmult[c1], s1 = p->shift[c1];
                const int32_t bias0 = mf_k_add_bias(0, bias, c), bias1 = mf_k_add_bias(0, bias, c1);
                out[c] = conv_requant_fast((int32_t)((uint32_t)acc[0] + (uint32_t)bias0), m0, s0, out_offset,
                    act_min, act_max);
                out[c1] = conv_requant_fast((int32_t)((uint32_t)acc[1] + (uint32_t)bias1), m1, s1, out_offset,
                    act_min, act_max);
                if (two) {
                    out[oc + c] = conv_requant_fast((int32_t)((uint32_t)acc[2] + (uint32_t)bias0), m0, s0,
                        out_offset, act_min, act_max);
                    out[oc + c1] = conv_requant_fast((int32_t)((uint32_t)acc[3] + (uint32_t)bias1), m1, s1,
                        out_offset, act_min, act_max);
                }
            }
        }
    }
}
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 && !MF_K_MVE_RQ */

#if MF_K_MVE_RQ
/* sum(x[i] * w[r * depth + i]) for i < depth (no zero-point term: conv_out4_fold puts
 * x_off * sum(w) into the bias) of four filters, r < n; the lanes from n on (a filter
 * read again, or 0) are not stored. One accumulator live per filter pass: with four, gcc -Os
 * spilled them to the stack in the inner loop. Depths up to 16 (1x1 of up to sixteen
 * channels) keep x in one vector for the four filters, up to 32 (3x3 patches of up to
 * three channels) in two. */
static inline int32x4_t conv_block_mve(const int8_t *x, const int8_t *w, int32_t depth, int32_t n) {
    /* Zeroed by one vector store: gcc -Os makes a 16-byte initializer a memset call. */
    int32_t acc[4];
    vstrwq_s32(acc, vdupq_n_s32(0));
    if (depth <= 16) {
        const mve_pred16_t p0 = vctp8q((uint32_t)depth);
        const int8x16_t x0 = vldrbq_z_s8(x, p0);
        for (int32_t r = 0; r < n; r++, w += depth) {
            acc[r] = vmladavq_s8(x0, vldrbq_z_s8(w, p0));
        }
        return vldrwq_s32(acc);
    }
    if (depth <= 32) {
        const mve_pred16_t p1 = vctp8q((uint32_t)(depth - 16));
        const int8x16_t x0 = vldrbq_s8(x), x1 = vldrbq_z_s8(x + 16, p1);
        for (int32_t r = 0; r < n; r++, w += depth) {
            acc[r] = vmladavaq_s8(vmladavq_s8(x0, vldrbq_s8(w)), x1, vldrbq_z_s8(w + 16, p1));
        }
        return vldrwq_s32(acc);
    }
    /* Deeper: two filters per pass over x (mf_mve_dot2_s8; x_off 0, so its weight sums
     * drop out). */
    mf_mve_dot2_s8(x, 0, w, n > 1 ? (size_t)depth : 0, depth, acc);
    if (n > 2) {
        mf_mve_dot2_s8(x, 0, w + 2 * (size_t)depth, n > 3 ? (size_t)depth : 0, depth, acc + 2);
    }
    return vldrwq_s32(acc);
}

/* n > 0 bytes from src to dst, sixteen per predicated load and store. */
static inline void conv_copy_mve(int8_t *dst, const int8_t *src, int32_t n) {
    do {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
        dst += 16;
        src += 16;
        n -= 16;
    } while (n > 0);
}

/* n > 0 bytes of dst set to v's. */
static inline void conv_fill_mve(int8_t *dst, int8x16_t v, int32_t n) {
    do {
        vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
        dst += 16;
        n -= 16;
    } while (n > 0);
}

/* conv_gather for one group and dil_w 1: the taps of a patch row inside the image are
 * contiguous in the input, [cx0, cx1) of the f_w columns; the rest is the zero point. */
static void conv_gather_mve(const mf_conv_params_t *p, const int8_t *img, int32_t iy, int32_t ix, int8_t *patch) {
    const int32_t c = p->in_c;
    const int32_t len = p->f_w * c;
    const int32_t cx0 = ix < 0 ? -ix : 0;
    const int32_t cx1 = p->in_w - ix < p->f_w ? p->in_w - ix : p->f_w;
    const int8x16_t zp = vdupq_n_s8((int8_t)p->in_zp);
    for (int32_t fy = 0; fy < p->f_h; fy++, patch += len) {
        const int32_t y = iy + fy * p->dil_h;
        const int inside = y >= 0 && y < p->in_h && cx0 < cx1;
        if (!inside || cx0 > 0 || cx1 < p->f_w) {
            conv_fill_mve(patch, zp, len);
        }
        if (inside) {
            conv_copy_mve(patch + cx0 * c, img + ((size_t)y * (size_t)p->in_w + (size_t)(ix + cx0)) * (size_t)c,
                (cx1 - cx0) * c);
        }
    }
}

/* Adds x_off * sum(w) of each lane's filter (w + r * depth, r < n) to o's bias, modulo
 * 2^32 like the dot products' split (k_mve.h): then sum(x * w) + bias is the reference's
 * sum((x + x_off) * w) + bias. Taps outside the image are the input zero point in the
 * gathered patch, so x_off * w + zp * w = 0 there as in the reference. */
static void conv_out4_fold(conv_out4_t *o, const int8_t *w, size_t depth, int32_t off, int32_t n) {
    int32_t ws[4];
    vstrwq_s32(ws, vdupq_n_s32(0));
    for (int32_t r = 0; r < n; r++) {
        ws[r] = (int32_t)((uint32_t)off * (uint32_t)mf_mve_sum_s8(w + (size_t)r * depth, (int32_t)depth));
    }
    o->bias = vaddq_s32(o->bias, vldrwq_s32(ws));
}

/* CONV_2D with one group. A pixel whose receptive field lies inside the image with
 * dil_w 1 copies its f_h rows of f_w * in_c contiguous bytes into the patch sixteen bytes
 * per predicated load and store (or is read in place when the rows follow each other,
 * as in 1x1 convolutions); others are gathered with the zero point, by rows as well
 * with dil_w 1 (conv_gather_mve), tap by tap otherwise (conv_gather). Four
 * output channels a block, their zero-point terms folded into the bias once per call
 * for the first MF_K_MVE_RQ_BLOCKS blocks: per pixel only their VMLADAVAs, no weight
 * sums. */
static void conv_s8_mve(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out, uint8_t *scratch) {
    const int32_t len = p->f_w * p->in_c;   /* bytes of one filter row */
    const int32_t depth = p->f_h * len;
    const int32_t off = -p->in_zp;
    const int32_t oc = p->out_c;
    const size_t row_bytes = (size_t)p->in_w * (size_t)p->in_c;
    const size_t seg_step = (size_t)p->dil_h * row_bytes;
    /* The rows of a field in place follow each other in memory. */
    const int whole = p->f_h == 1 || seg_step == (size_t)len;
    const mve_pred16_t row_pred = vctp8q((uint32_t)(len < 16 ? len : 16));
    int8_t *patch = (int8_t *)scratch;
    conv_out4_t cached[MF_K_MVE_RQ_BLOCKS];
    const int32_t nblocks = (oc + 3) / 4;
    const int32_t ncached = nblocks < MF_K_MVE_RQ_BLOCKS ? nblocks : MF_K_MVE_RQ_BLOCKS;
    for (int32_t k = 0; k < ncached; k++) {
        const int32_t n = oc - 4 * k < 4 ? oc - 4 * k : 4;
        conv_out4_init(p, bias, 4 * k, 1, n, &cached[k]);
        conv_out4_fold(&cached[k], w + (size_t)(4 * k) * (size_t)depth, (size_t)depth, off, n);
    }
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * row_bytes;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy = oy * p->stride_h - p->pad_h;
            const int rows_in = iy >= 0 && iy + (p->f_h - 1) * p->dil_h < p->in_h;
            for (int32_t ox = 0; ox < p->out_w; ox++, out += oc) {
                const int32_t ix = ox * p->stride_w - p->pad_w;
                const int8_t *x = patch;
                if (rows_in && p->dil_w == 1 && ix >= 0 && ix + p->f_w <= p->in_w) {
                    const int8_t *src = img + (size_t)iy * row_bytes + (size_t)ix * (size_t)p->in_c;
                    if (whole) {
                        x = src;
                    } else if (len <= 16) {
                        /* One predicated load and store a row, the predicate made once. */
                        int8_t *dst = patch;
                        for (int32_t fy = 0; fy < p->f_h; fy++, src += seg_step, dst += len) {
                            vstrbq_p_s8(dst, vldrbq_z_s8(src, row_pred), row_pred);
                        }
                    } else {
                        int8_t *dst = patch;
                        for (int32_t fy = 0; fy < p->f_h; fy++, src += seg_step, dst += len) {
                            conv_copy_mve(dst, src, len);
                        }
                    }
                } else if (p->dil_w == 1) {
                    conv_gather_mve(p, img, iy, ix, patch);
                } else {
                    conv_gather(p, img, oy, ox, 0, patch);
                }
                for (int32_t c = 0; c < oc; c += 4) {
                    const int32_t n = oc - c < 4 ? oc - c : 4;
                    const int8_t *wc = w + (size_t)c * (size_t)depth;
                    if (c / 4 < ncached) {
                        conv_out4_mve(p, conv_block_mve(x, wc, depth, n), &cached[c / 4], out + c);
                        continue;
                    }
                    /* Past the cached blocks the weight sums come with the dot products
                     * (VADDVA beside each VMLADAVA): cheaper than summing the filters
                     * again for every pixel. */
                    conv_out4_t own;
                    conv_out4_init(p, bias, c, 1, n, &own);
                    conv_out4_mve(p, mf_mve_dot_rows_s8(x, off, wc, (size_t)depth, depth, n), &own, out + c);
                }
            }
        }
    }
}
#endif /* MF_K_MVE_RQ */

void mf_k_conv_s8(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias, int8_t *out,
    uint8_t *scratch) {
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && !MF_K_MVE_RQ
    if (p->groups == 1 && conv_requant_plain(p)) {
        conv_s8_dsp(p, in, w, bias, out, scratch);
        return;
    }
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 && !MF_K_MVE_RQ */
#if MF_K_MVE_RQ
    if (p->groups == 1) {
        conv_s8_mve(p, in, w, bias, out, scratch);
        return;
    }
#endif /* MF_K_MVE_RQ */
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
#if MF_K_MVE_RQ
                        /* Grouped (one group took conv_s8_mve): blocks start anywhere. */
                        conv_out4_t own;
                        conv_out4_init(p, bias, c, 1, 4, &own);
                        conv_out4_mve(p, vldrwq_s32(d), &own, out + c);
                        continue;
#endif /* MF_K_MVE_RQ */
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

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
/* The taps of the output whose window starts at (y0, x0) that lie inside the image: rows
 * [win[0], win[1]), columns [win[2], win[3]) of the filter (the reference skips the
 * others). */
static inline void dw_window(const mf_conv_params_t *p, int32_t y0, int32_t x0, int32_t win[4]) {
    int32_t fy0 = 0, fy1 = p->f_h, fx0 = 0, fx1 = p->f_w;
    while (fy0 < fy1 && y0 + fy0 * p->dil_h < 0) {
        fy0++;
    }
    while (fy1 > fy0 && y0 + (fy1 - 1) * p->dil_h >= p->in_h) {
        fy1--;
    }
    while (fx0 < fx1 && x0 + fx0 * p->dil_w < 0) {
        fx0++;
    }
    while (fx1 > fx0 && x0 + (fx1 - 1) * p->dil_w >= p->in_w) {
        fx1--;
    }
    win[0] = fy0;
    win[1] = fy1;
    win[2] = fx0;
    win[3] = fx1;
}

/*
 * Depth multiplier 1 on ARMv7E-M: channel blocks of four outer, the taps inside, the
 * four accumulators in registers (no accumulator array to clear, load and store per tap).
 * Per tap: one word of input and one of weights, split into even and odd int16 lanes
 * (SXTAB16 adds the input offset), then SMLABB/SMLATT give the four products. Only the
 * taps inside the image are visited (fy in [fy0, fy1), fx in [fx0, fx1)), which is the
 * reference's skipping. The accumulation order per channel is the reference's tap order;
 * integer sums are exact (see mf_k_depthwise_s8), so the results are the same.
 */
/* The taps of one output pixel inside the image, as byte steps (depth multiplier 1). */
typedef struct {
    size_t xstep;   /* input bytes between taps of a row: dil_w * channels */
    size_t ystep;   /* input bytes between tap rows: dil_h * in_w * channels */
    size_t wstep;   /* weight bytes between taps: channels */
    size_t wrow;    /* weight bytes between tap rows: f_w * channels */
    int32_t nx, ny; /* taps per row, rows */
    int32_t off2;   /* input offset in both int16 lanes */
} dw_taps_t;

/* acc[r] = sum over the taps of (x + off) * w for channels r < 4 starting at xr / wr.
 * Not inlined, so that the tap loop gets most registers (20 instructions per tap for
 * 4 MACs at -Os; one call per channel block instead of one per row of taps). */
__attribute__((noinline)) static void dw_taps4(const dw_taps_t *t, const int8_t *xr, const int8_t *wr,
    int32_t acc[4]) {
    const size_t xstep = t->xstep, wstep = t->wstep;
    const int32_t off2 = t->off2;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int32_t fy = 0; fy < t->ny; fy++, xr += t->ystep, wr += t->wrow) {
        if (t->nx <= 0) {
            continue;
        }
        const int8_t *xt = xr, *wt = wr;
        const int8_t *const wend = wr + (size_t)t->nx * wstep;
        int32_t xv, wv, u, v;
        /* 12 instructions a tap (GCC's -Os loop kept off2 and the steps on the stack:
         * 20); the even lanes (channels 0, 2) meet SMLABB/SMLATT first, then the odd. */
        __asm__ (
            "1:\n\t"
            "ldr     %[xv], [%[xt]]\n\t"
            "add     %[xt], %[xt], %[xstep]\n\t"
            "ldr     %[wv], [%[wt]]\n\t"
            "add     %[wt], %[wt], %[wstep]\n\t"
            "sxtab16 %[u], %[off2], %[xv]\n\t"
            "sxtb16  %[v], %[wv]\n\t"
            "smlabb  %[a0], %[u], %[v], %[a0]\n\t"
            "smlatt  %[a2], %[u], %[v], %[a2]\n\t"
            "sxtab16 %[u], %[off2], %[xv], ror #8\n\t"
            "sxtb16  %[v], %[wv], ror #8\n\t"
            "smlabb  %[a1], %[u], %[v], %[a1]\n\t"
            "smlatt  %[a3], %[u], %[v], %[a3]\n\t"
            "cmp     %[wt], %[wend]\n\t"
            "bcc     1b"
            : [a0] "+r" (a0), [a1] "+r" (a1), [a2] "+r" (a2), [a3] "+r" (a3), [xt] "+r" (xt), [wt] "+r" (wt),
              [xv] "=&r" (xv), [wv] "=&r" (wv), [u] "=&r" (u), [v] "=&r" (v)
            : [xstep] "r" (xstep), [wstep] "r" (wstep), [wend] "r" (wend), [off2] "r" (off2)
            : "cc", "memory");
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

__attribute__((noinline)) static void dw_pixel_m1(const mf_conv_params_t *p, const int8_t *img, int32_t y0, int32_t x0, const int8_t *w,
    const int32_t *bias, int8_t *out) {
    const int32_t oc = p->out_c;
    const int32_t off2 = mf_pair16(-p->in_zp);
    int32_t win[4];
    dw_window(p, y0, x0, win);
    const int32_t fy0 = win[0], fy1 = win[1], fx0 = win[2], fx1 = win[3];
    dw_taps_t t;
    t.xstep = (size_t)p->dil_w * (size_t)oc;
    t.ystep = (size_t)p->dil_h * (size_t)p->in_w * (size_t)oc;
    t.wstep = (size_t)oc;
    t.wrow = (size_t)p->f_w * (size_t)oc;
    t.nx = fx1 - fx0;
    t.ny = fy1 - fy0;
    t.off2 = off2;
    const size_t xstep = t.xstep, ystep = t.ystep, wrow = t.wrow;
    const int8_t *xbase = img + ((size_t)(y0 + fy0 * p->dil_h) * (size_t)p->in_w + (size_t)(x0 + fx0 * p->dil_w)) *
        (size_t)oc;
    const int8_t *wbase = w + (size_t)fy0 * wrow + (size_t)fx0 * (size_t)oc;
    const int32_t nx = fx1 - fx0;
    int32_t c = 0;
    for (; c + 4 <= oc; c += 4) {
        int32_t a[4];
        dw_taps4(&t, xbase + c, wbase + c, a);
        conv_requant4(p, a, bias, c, out + c);
    }
    for (; c < oc; c++) {
        const int32_t off = -p->in_zp;
        int32_t a = 0;
        const int8_t *xr = xbase + c, *wr = wbase + c;
        for (int32_t fy = fy0; fy < fy1; fy++, xr += ystep, wr += wrow) {
            for (int32_t k = 0; k < nx; k++) {
                a += (int32_t)wr[(size_t)k * (size_t)oc] * (xr[(size_t)k * xstep] + off);
            }
        }
        out[c] = conv_requant(p, mf_k_add_bias(a, bias, c), c);
    }
}
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */

#if MF_K_MVE_RQ
/*
 * Depth multiplier 1 with Helium: eight channels per pass, the taps inside the image (the
 * reference's skipping, as dw_pixel_m1) inside. Per tap the eight inputs and weights are
 * loaded as int16 lanes, the input offset added (x + off is in [-255, 255]), and VMULLB /
 * VMULLT give the int32 products of the even and of the odd lanes, each added to its
 * vector of four sums: channels c, c + 2, c + 4, c + 6 and c + 1, c + 3, ... (no integer
 * vector multiply-accumulate exists, and widening to int32 first would take twice the
 * loads). Channels past out_c are predicated off: their weights load as zero and they
 * are not stored. Integer sums are exact, so the order is free. Not inlined: the tap
 * loop gets the registers. Pixel ox and, when its taps are inside the image columns, the
 * run of following pixels that are too (their set-up cost more instructions than the
 * MACs of a small layer); returns how many pixels it wrote.
 */
__attribute__((noinline)) static int32_t dw_pixels_m1_mve(const mf_conv_params_t *p, const int8_t *img, int32_t y0,
    int32_t ox, const int8_t *w, const int32_t *bias, const conv_out4_t *cached, int32_t ncached, int8_t *out) {
    const int32_t oc = p->out_c;
    const int32_t x0 = ox * p->stride_w - p->pad_w;
    const int16_t off = (int16_t)-p->in_zp;
    int32_t win[4];
    dw_window(p, y0, x0, win);
    const int32_t fy0 = win[0], fy1 = win[1], fx0 = win[2], fx1 = win[3];
    const size_t xstep = (size_t)p->dil_w * (size_t)oc;
    const size_t ystep = (size_t)p->dil_h * (size_t)p->in_w * (size_t)oc;
    const size_t wrow = (size_t)p->f_w * (size_t)oc;
    const int8_t *xbase = img + ((size_t)(y0 + fy0 * p->dil_h) * (size_t)p->in_w + (size_t)(x0 + fx0 * p->dil_w)) *
        (size_t)oc;
    const int8_t *wbase = w + (size_t)fy0 * wrow + (size_t)fx0 * (size_t)oc;
    const int32_t nx = fx1 - fx0, ny = fy1 - fy0;
    /* The following pixels whose taps are all inside the image rows too (as this one's
     * are) share the bounds and pointers but for a step of stride_w pixels: up to the last
     * ox with ox * stride_w - pad_w + (f_w - 1) * dil_w <= in_w - 1 (the numerator is >= 0
     * here, since this ox satisfies it). */
    int32_t run = 1;
    if (fx0 == 0 && fx1 == p->f_w) {
        const int32_t last = (p->in_w - 1 - (p->f_w - 1) * p->dil_w + p->pad_w) / p->stride_w;
        run = (last < p->out_w - 1 ? last : p->out_w - 1) - ox + 1;
        run = run < 1 ? 1 : run;
    }
    const size_t pxstep = (size_t)p->stride_w * (size_t)oc;
    for (int32_t px = 0; px < run; px++, xbase += pxstep, out += oc) {
        for (int32_t c = 0; c < oc; c += 8) {
            const int32_t left = oc - c < 8 ? oc - c : 8;
            const mve_pred16_t pr = vctp16q((uint32_t)left);
            int32x4_t even = vdupq_n_s32(0), odd = even;
            const int8_t *xr = xbase + c, *wr = wbase + c;
            for (int32_t fy = 0; fy < ny; fy++, xr += ystep, wr += wrow) {
                const int8_t *xt = xr, *wt = wr;
                for (int32_t fx = 0; fx < nx; fx++, xt += xstep, wt += oc) {
                    const int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(xt, pr), off);
                    const int16x8_t wv = vldrbq_z_s16(wt, pr);
                    even = vaddq_s32(even, vmullbq_int_s16(xv, wv));
                    odd = vaddq_s32(odd, vmulltq_int_s16(xv, wv));
                }
            }
            /* Block c / 8: even channels (entry 2 k), odd ones (2 k + 1). */
            const int32_t k = 2 * (c / 8);
            conv_out4_t own;
            const conv_out4_t *o = &own;
            if (k < ncached) {
                o = &cached[k];
            } else {
                conv_out4_init(p, bias, c, 2, (left + 1) / 2, &own);
            }
            conv_out4_mve(p, even, o, out + c);
            if (left > 1) {
                if (k + 1 < ncached) {
                    o = &cached[k + 1];
                } else {
                    conv_out4_init(p, bias, c + 1, 2, left / 2, &own);
                    o = &own;
                }
                conv_out4_mve(p, odd, o, out + c + 1);
            }
        }
    }
    return run;
}
#endif /* MF_K_MVE_RQ */

void mf_k_depthwise_s8(const mf_conv_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out, uint8_t *scratch) {
    const int32_t oc = p->out_c;
    const int32_t mult = p->mult;
    const int32_t off = -p->in_zp;
    int32_t *acc = (int32_t *)(void *)scratch;
#if MF_K_MVE_RQ
    /* The output stages of the first channel blocks of dw_pixel_m1_mve (even and odd lanes
     * of channels 0-7, then 8-15). */
    conv_out4_t cached[MF_K_MVE_RQ_BLOCKS];
    int32_t ncached = 0;
    for (int32_t c = 0; mult == 1 && c < oc && ncached + 2 <= MF_K_MVE_RQ_BLOCKS; c += 8) {
        const int32_t left = oc - c < 8 ? oc - c : 8;
        conv_out4_init(p, bias, c, 2, (left + 1) / 2, &cached[ncached++]);
        conv_out4_init(p, bias, c + 1, 2, left / 2, &cached[ncached++]);
    }
#endif /* MF_K_MVE_RQ */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    const int plain = mult == 1 && conv_requant_plain(p);
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ox++, out += oc) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
#if MF_K_MVE_RQ
                if (mult == 1) {
                    /* A run of pixels (one at the edges); the loop steps past the rest. */
                    const int32_t run = dw_pixels_m1_mve(p, img, y0, ox, w, bias, cached, ncached, out);
                    ox += run - 1;
                    out += (size_t)(run - 1) * (size_t)oc;
                    continue;
                }
#endif /* MF_K_MVE_RQ */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
                if (plain) {
                    dw_pixel_m1(p, img, y0, x0, w, bias, out);
                    continue;
                }
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */
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
