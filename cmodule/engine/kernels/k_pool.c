/* Int8 pooling kernels; see k_pool.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_ON(MAX_POOL_2D) || MF_OP_ON(AVERAGE_POOL_2D)

#include <stddef.h>
#include <string.h>

#include "kernels/k_mve.h"
#include "kernels/k_pool.h"

/* The clipped window of an output: its first pixel, `ny` rows of `nx` pixels of `d`
 * channels, `row_step` bytes apart. */
typedef struct {
    const int8_t *first;
    size_t row_step;
    int32_t ny, nx, d;
} pool_win_t;

/* The window of output (oy, ox) of the image at img, clipped to the input. */
static pool_win_t pool_win(const mf_pool_params_t *p, const int8_t *img, int32_t oy, int32_t ox) {
    const int32_t iy = oy * p->stride_h - p->pad_h;
    const int32_t ix = ox * p->stride_w - p->pad_w;
    const int32_t y0 = iy < 0 ? 0 : iy, y1 = iy + p->f_h < p->in_h ? iy + p->f_h : p->in_h;
    const int32_t x0 = ix < 0 ? 0 : ix, x1 = ix + p->f_w < p->in_w ? ix + p->f_w : p->in_w;
    pool_win_t w;
    w.d = p->depth;
    w.row_step = (size_t)p->in_w * (size_t)w.d;
    w.first = img + (size_t)y0 * w.row_step + (size_t)x0 * (size_t)w.d;
    w.ny = y1 - y0;
    w.nx = x1 - x0;
    return w;
}

#endif /* MF_OP_ON(MAX_POOL_2D) || MF_OP_ON(AVERAGE_POOL_2D) */

#if MF_OP_ON(MAX_POOL_2D)

/* The maximum over one window, clamped to [lo, hi], into out[0, d). */
static void max_pool_window(const pool_win_t *w, int8_t lo, int8_t hi, int8_t *out) {
#if MF_K_MVE
    /* Sixteen channels per VMAX, the running maximum in a register from lo, as below;
     * lanes past the depth are loaded as 0 and not stored. */
    for (int32_t c = 0; c < w->d; c += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(w->d - c));
        int8x16_t m = vdupq_n_s8(lo);
        const int8_t *row = w->first + c;
        for (int32_t y = 0; y < w->ny; y++, row += w->row_step) {
            const int8_t *px = row;
            for (int32_t x = 0; x < w->nx; x++, px += w->d) {
                m = vmaxq_s8(m, vldrbq_z_s8(px, pr));
            }
        }
        vstrbq_p_s8(out + c, vminq_s8(m, vdupq_n_s8(hi)), pr);
    }
#else
    /* The output row is the running maximum; clamping to the activation range commutes
     * with max, so starting from act_min does both at once. */
    memset(out, lo, (size_t)w->d);
    const int8_t *row = w->first;
    for (int32_t y = 0; y < w->ny; y++, row += w->row_step) {
        const int8_t *px = row;
        for (int32_t x = 0; x < w->nx; x++, px += w->d) {
            for (int32_t c = 0; c < w->d; c++) {
                out[c] = px[c] > out[c] ? px[c] : out[c];
            }
        }
    }
    for (int32_t c = 0; c < w->d; c++) {
        out[c] = out[c] < hi ? out[c] : hi;
    }
#endif /* MF_K_MVE */
}

void mf_k_max_pool_s8(const mf_pool_params_t *p, const int8_t *in, int8_t *out) {
    const int32_t d = p->depth;
    const int8_t lo = (int8_t)p->act_min, hi = (int8_t)p->act_max;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)d;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, out += d) {
                const pool_win_t w = pool_win(p, img, oy, ox);
                max_pool_window(&w, lo, hi, out);
            }
        }
    }
}

#endif /* MF_OP_ON(MAX_POOL_2D) */

#if MF_OP_ON(AVERAGE_POOL_2D)

uint32_t mf_k_avg_pool_scratch(const mf_pool_params_t *p) {
    return 4u * (uint32_t)p->depth;
}

#if MF_K_MVE
/* The reference's rounded quotient of a window sum a by count, per lane: sign(a) *
 * floor((|a| + count / 2) / count) (its (a +- half) / count truncates toward zero, and a
 * = 0 gives 0 as half < count). The division is a multiply by m = ceil(2^31 / count):
 * with m * count = 2^31 + e, 0 <= e < count, n * m / 2^31 = n / count + n * e /
 * (count * 2^31), which has the floor of n / count as long as n * e < 2^31; here n <=
 * 128.5 * count and count <= 256, so n * e < 2^24. VMULH.U32 of 2n by m is floor(n * m /
 * 2^31) (2n < 2^17). */
static MF_ALWAYS_INLINE int32x4_t avg_pool_div(int32x4_t a, int32_t half, uint32_t m) {
    const uint32x4_t n = vreinterpretq_u32_s32(vaddq_n_s32(vabsq_s32(a), half));
    const int32x4_t q = vreinterpretq_s32_u32(vmulhq_u32(vaddq_u32(n, n), vdupq_n_u32(m)));
    return vnegq_m_s32(q, q, vcmpltq_n_s32(a, 0));
}

/* One window's average eight channels at a time, for windows of at most 256 taps: the
 * window sums (|sum| <= 128 * 256) in int16 lanes, eight bytes sign-extended by one
 * VLDRB.S16 a tap, then divided in int32 as the even and odd lanes (VMOVLB/VMOVLT) and
 * narrowed back into place (VMOVNB/VMOVNT); the clamp is in int16, the store VSTRB.16
 * (tail predicated). */
static void avg_pool_window_mve(const mf_pool_params_t *p, const pool_win_t *w, int8_t *out) {
    const int32_t count = w->ny * w->nx;
    /* ceil(2^31 / count), one UDIV */
    const uint32_t m = (uint32_t)INT32_MAX / (uint32_t)count + 1u;
    for (int32_t c = 0; c < w->d; c += 8) {
        const mve_pred16_t pr = vctp16q((uint32_t)(w->d - c));
        int16x8_t acc = vdupq_n_s16(0);
        const int8_t *row = w->first + c;
        for (int32_t y = 0; y < w->ny; y++, row += w->row_step) {
            const int8_t *px = row;
            for (int32_t x = 0; x < w->nx; x++, px += w->d) {
                acc = vaddq_s16(acc, vldrbq_z_s16(px, pr));
            }
        }
        int16x8_t v = vdupq_n_s16(0);
        v = vmovnbq_s32(v, avg_pool_div(vmovlbq_s16(acc), count / 2, m));
        v = vmovntq_s32(v, avg_pool_div(vmovltq_s16(acc), count / 2, m));
        v = vminq_s16(vmaxq_s16(v, vdupq_n_s16((int16_t)p->act_min)), vdupq_n_s16((int16_t)p->act_max));
        vstrbq_p_s16(out + c, v, pr);
    }
}
#endif /* MF_K_MVE */

/* One window's average in int32 sums (acc: depth entries of scratch). */
static void avg_pool_window(const mf_pool_params_t *p, const pool_win_t *w, int32_t *acc, int8_t *out) {
    memset(acc, 0, sizeof(int32_t) * (size_t)w->d);
    const int8_t *row = w->first;
    for (int32_t y = 0; y < w->ny; y++, row += w->row_step) {
        const int8_t *px = row;
        for (int32_t x = 0; x < w->nx; x++, px += w->d) {
            for (int32_t c = 0; c < w->d; c++) {
                acc[c] += px[c];
            }
        }
    }
    /* Prepare guarantees a non-empty window (count >= 1). C division truncates like
     * C++'s, so this is the reference's rounding half away from zero. */
    const int32_t count = w->ny * w->nx;
    const int32_t half = count / 2;
    for (int32_t c = 0; c < w->d; c++) {
        int32_t a = acc[c];
        a = a > 0 ? (a + half) / count : (a - half) / count;
        a = a < p->act_min ? p->act_min : (a > p->act_max ? p->act_max : a);
        out[c] = (int8_t)a;
    }
}

void mf_k_avg_pool_s8(const mf_pool_params_t *p, const int8_t *in, int8_t *out, uint8_t *scratch) {
    const int32_t d = p->depth;
    int32_t *acc = (int32_t *)(void *)scratch;
#if MF_K_MVE
    const int vector = p->f_h * p->f_w <= 256;
#endif /* MF_K_MVE */
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)d;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, out += d) {
                const pool_win_t w = pool_win(p, img, oy, ox);
#if MF_K_MVE
                if (vector) {
                    avg_pool_window_mve(p, &w, out);
                    continue;
                }
#endif /* MF_K_MVE */
                avg_pool_window(p, &w, acc, out);
            }
        }
    }
}

#endif /* MF_OP_ON(AVERAGE_POOL_2D) */
