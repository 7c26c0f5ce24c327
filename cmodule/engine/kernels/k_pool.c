/* Int8 pooling kernels; see k_pool.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_ON(MAX_POOL_2D) || MF_OP_ON(AVERAGE_POOL_2D)

#include <stddef.h>
#include <string.h>

#include "kernels/k_pool.h"

/* The clipped window of output (oy, ox): rows [*y0, *y1), columns [*x0, *x1) of the input. */
static void pool_window(const mf_pool_params_t *p, int32_t oy, int32_t ox, int32_t *y0, int32_t *y1, int32_t *x0,
    int32_t *x1) {
    const int32_t iy = oy * p->stride_h - p->pad_h;
    const int32_t ix = ox * p->stride_w - p->pad_w;
    *y0 = iy < 0 ? 0 : iy;
    *y1 = iy + p->f_h < p->in_h ? iy + p->f_h : p->in_h;
    *x0 = ix < 0 ? 0 : ix;
    *x1 = ix + p->f_w < p->in_w ? ix + p->f_w : p->in_w;
}

#endif /* MF_OP_ON(MAX_POOL_2D) || MF_OP_ON(AVERAGE_POOL_2D) */

#if MF_OP_ON(MAX_POOL_2D)

void mf_k_max_pool_s8(const mf_pool_params_t *p, const int8_t *in, int8_t *out) {
    const int32_t d = p->depth;
    const int8_t lo = (int8_t)p->act_min, hi = (int8_t)p->act_max;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)d;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, out += d) {
                int32_t y0, y1, x0, x1;
                pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
                /* The output row is the running maximum; clamping to the activation range
                 * commutes with max, so starting from act_min does both at once. */
                memset(out, lo, (size_t)d);
                for (int32_t y = y0; y < y1; y++) {
                    for (int32_t x = x0; x < x1; x++) {
                        const int8_t *px = img + ((size_t)y * (size_t)p->in_w + (size_t)x) * (size_t)d;
                        for (int32_t c = 0; c < d; c++) {
                            out[c] = px[c] > out[c] ? px[c] : out[c];
                        }
                    }
                }
                for (int32_t c = 0; c < d; c++) {
                    out[c] = out[c] < hi ? out[c] : hi;
                }
            }
        }
    }
}

#endif /* MF_OP_ON(MAX_POOL_2D) */

#if MF_OP_ON(AVERAGE_POOL_2D)

uint32_t mf_k_avg_pool_scratch(const mf_pool_params_t *p) {
    return 4u * (uint32_t)p->depth;
}

void mf_k_avg_pool_s8(const mf_pool_params_t *p, const int8_t *in, int8_t *out, uint8_t *scratch) {
    const int32_t d = p->depth;
    int32_t *acc = (int32_t *)(void *)scratch;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)d;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++, out += d) {
                int32_t y0, y1, x0, x1;
                pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
                memset(acc, 0, sizeof(int32_t) * (size_t)d);
                for (int32_t y = y0; y < y1; y++) {
                    for (int32_t x = x0; x < x1; x++) {
                        const int8_t *px = img + ((size_t)y * (size_t)p->in_w + (size_t)x) * (size_t)d;
                        for (int32_t c = 0; c < d; c++) {
                            acc[c] += px[c];
                        }
                    }
                }
                /* Prepare guarantees a non-empty window (count >= 1). C division truncates
                 * like C++'s, so this is the reference's rounding half away from zero. */
                const int32_t count = (y1 - y0) * (x1 - x0);
                const int32_t half = count / 2;
                for (int32_t c = 0; c < d; c++) {
                    int32_t a = acc[c];
                    a = a > 0 ? (a + half) / count : (a - half) / count;
                    a = a < p->act_min ? p->act_min : (a > p->act_max ? p->act_max : a);
                    out[c] = (int8_t)a;
                }
            }
        }
    }
}

#endif /* MF_OP_ON(AVERAGE_POOL_2D) */
