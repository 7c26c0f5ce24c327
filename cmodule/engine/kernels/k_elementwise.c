/* Element-wise kernels; see k_elementwise.h. */
#include "k_elementwise.h"

#include <math.h>

#include "mf_config.h"

#define MFK_ANY_BINARY (MF_OP_ADD || MF_OP_SUB || MF_OP_MUL || MF_OP_SQUARED_DIFFERENCE)

#if MFK_ANY_BINARY

int mfk_bcast_loops(int ndim, const int32_t *d1, const int32_t *d2, const int32_t *out,
    mfk_loop_t *loops) {
    /* Loops are collected innermost first, then flipped. A dim of output extent 1 adds
     * nothing to any index, so it is skipped; a dim whose broadcast pattern (which input
     * repeats) equals the previous loop's continues that loop, because row-major inputs
     * are contiguous across it (or both strides are 0). */
    mfk_loop_t rev[MFK_BCAST_MAX];
    int32_t acc1 = 1, acc2 = 1;
    int prev1 = -1, prev2 = -1;
    int n = 0;
    for (int d = ndim - 1; d >= 0; --d) {
        if (out[d] == 0) {
            return 0;
        }
        if (out[d] != 1) {
            const int bc1 = d1[d] == 1;
            const int bc2 = d2[d] == 1;
            if (n > 0 && bc1 == prev1 && bc2 == prev2) {
                rev[n - 1].extent *= out[d];
            } else {
                rev[n].extent = out[d];
                rev[n].stride1 = bc1 ? 0 : acc1;
                rev[n].stride2 = bc2 ? 0 : acc2;
                prev1 = bc1;
                prev2 = bc2;
                n++;
            }
        }
        acc1 *= d1[d];
        acc2 *= d2[d];
    }
    if (n == 0) {
        /* One element in each input, one out. */
        rev[0].extent = 1;
        rev[0].stride1 = 1;
        rev[0].stride2 = 1;
        n = 1;
    }
    for (int i = 0; i < n; ++i) {
        loops[i] = rev[n - 1 - i];
    }
    return n;
}

void mfk_bcast_fill(mfk_bcast_t *plan, int nloops, const mfk_loop_t *loops) {
    plan->nloops = nloops;
    plan->rows = nloops ? 1 : 0;
    for (int i = 0; i < nloops; ++i) {
        plan->loop[i] = loops[i];
        if (i < nloops - 1) {
            plan->rows *= loops[i].extent;
        }
    }
}

/* Advances the outer-loop odometer by one row, updating both input offsets. */
static inline void bcast_step(const mfk_bcast_t *b, int32_t *idx, int32_t *o1, int32_t *o2) {
    for (int d = b->nloops - 2; d >= 0; --d) {
        const mfk_loop_t *l = &b->loop[d];
        *o1 += l->stride1;
        *o2 += l->stride2;
        if (++idx[d] < l->extent) {
            return;
        }
        idx[d] = 0;
        *o1 -= l->stride1 * l->extent;
        *o2 -= l->stride2 * l->extent;
    }
}

#endif /* MFK_ANY_BINARY */

#if MF_OP_ADD || MF_OP_SUB

/* The hoisted multipliers of one ADD/SUB call. */
typedef struct {
    mf_qm_shl20_t in1, in2;
    mf_qmx_t out;
    int32_t o1, o2, sign, zp, lo, hi;
} addsub_ctx_t;

static inline int8_t addsub_out(int32_t raw, const addsub_ctx_t *c) {
    const int32_t o = mf_mul_by_qmx(raw, &c->out) + c->zp;
    return (int8_t)mf_clamp(o, c->lo, c->hi);
}

/* One inner row. A broadcast (stride 0) operand is scaled once per row. SUB negates
 * the second scaled value, which is exact (the rounding happened before). */
static void addsub_row(const addsub_ctx_t *c, const int8_t *a, int32_t sa, const int8_t *b,
    int32_t sb, int8_t *y, int32_t n) {
    if (sa == 0 && n > 1) {
        const int32_t k = mf_mul_by_qm_shl20(a[0] + c->o1, &c->in1);
        for (int32_t i = 0; i < n; ++i) {
            y[i] = addsub_out(k + c->sign * mf_mul_by_qm_shl20(b[i] + c->o2, &c->in2), c);
        }
    } else if (sb == 0 && n > 1) {
        const int32_t k = c->sign * mf_mul_by_qm_shl20(b[0] + c->o2, &c->in2);
        for (int32_t i = 0; i < n; ++i) {
            y[i] = addsub_out(mf_mul_by_qm_shl20(a[i] + c->o1, &c->in1) + k, c);
        }
    } else {
        for (int32_t i = 0; i < n; ++i) {
            y[i] = addsub_out(mf_mul_by_qm_shl20(a[i] + c->o1, &c->in1) +
                c->sign * mf_mul_by_qm_shl20(b[i] + c->o2, &c->in2), c);
        }
    }
}

void mfk_addsub_s8(const mfk_addsub_t *p, const mfk_bcast_t *b, const int8_t *x1,
    const int8_t *x2, int8_t *y) {
    if (b->nloops == 0) {
        return;
    }
    /* left_shift is 20 for int8 (the only form this kernel is built for). */
    addsub_ctx_t c;
    c.in1 = mf_qm_shl20(p->in1);
    c.in2 = mf_qm_shl20(p->in2);
    c.out = mf_qmx(p->out);
    c.o1 = p->in1_offset;
    c.o2 = p->in2_offset;
    c.sign = p->in2_sign;
    c.zp = p->out_offset;
    c.lo = p->act_min;
    c.hi = p->act_max;
    const mfk_loop_t *row = &b->loop[b->nloops - 1];
    const int32_t n = row->extent, sa = row->stride1, sb = row->stride2;
    int32_t idx[MFK_BCAST_MAX] = {0};
    int32_t o1 = 0, o2 = 0;
    for (int32_t r = 0; r < b->rows; ++r) {
        addsub_row(&c, x1 + o1, sa, x2 + o2, sb, y, n);
        y += n;
        bcast_step(b, idx, &o1, &o2);
    }
}

#endif /* MF_OP_ADD || MF_OP_SUB */

#if MF_OP_SQUARED_DIFFERENCE

typedef struct {
    mf_qmx_t in1, in2, out;
    int32_t o1, o2, pot, zp;
} sqdiff_ctx_t;

/* One input on the common scale: MultiplyByQuantizedMultiplierSmallerThanOneExp of
 * (x + offset) * 2^7. */
static inline int32_t sqdiff_in(int32_t v, int32_t pot, const mf_qmx_t *q) {
    return mf_mul_by_qmx(v * pot, q);
}

/* The squared difference of two inputs of at most 255 * 2^7 / 2 in magnitude stays
 * below 2^31 (the reason TFLM picks left_shift 7). */
static inline int8_t sqdiff_out(int32_t diff, const sqdiff_ctx_t *c) {
    const int32_t o = mf_mul_by_qmx(diff * diff, &c->out) + c->zp;
    return (int8_t)mf_clamp(o, -128, 127);
}

static void sqdiff_row(const sqdiff_ctx_t *c, const int8_t *a, int32_t sa, const int8_t *b,
    int32_t sb, int8_t *y, int32_t n) {
    if (sa == 0 && n > 1) {
        const int32_t k = sqdiff_in(a[0] + c->o1, c->pot, &c->in1);
        for (int32_t i = 0; i < n; ++i) {
            y[i] = sqdiff_out(k - sqdiff_in(b[i] + c->o2, c->pot, &c->in2), c);
        }
    } else if (sb == 0 && n > 1) {
        const int32_t k = sqdiff_in(b[0] + c->o2, c->pot, &c->in2);
        for (int32_t i = 0; i < n; ++i) {
            y[i] = sqdiff_out(sqdiff_in(a[i] + c->o1, c->pot, &c->in1) - k, c);
        }
    } else {
        for (int32_t i = 0; i < n; ++i) {
            y[i] = sqdiff_out(sqdiff_in(a[i] + c->o1, c->pot, &c->in1) -
                sqdiff_in(b[i] + c->o2, c->pot, &c->in2), c);
        }
    }
}

void mfk_squared_difference_s8(const mfk_addsub_t *p, const mfk_bcast_t *b,
    const int8_t *x1, const int8_t *x2, int8_t *y) {
    if (b->nloops == 0) {
        return;
    }
    sqdiff_ctx_t c;
    c.in1 = mf_qmx(p->in1);
    c.in2 = mf_qmx(p->in2);
    c.out = mf_qmx(p->out);
    c.o1 = p->in1_offset;
    c.o2 = p->in2_offset;
    c.pot = (int32_t)1 << p->left_shift;
    c.zp = p->out_offset;
    const mfk_loop_t *row = &b->loop[b->nloops - 1];
    const int32_t n = row->extent, sa = row->stride1, sb = row->stride2;
    int32_t idx[MFK_BCAST_MAX] = {0};
    int32_t o1 = 0, o2 = 0;
    for (int32_t r = 0; r < b->rows; ++r) {
        sqdiff_row(&c, x1 + o1, sa, x2 + o2, sb, y, n);
        y += n;
        bcast_step(b, idx, &o1, &o2);
    }
}

#endif /* MF_OP_SQUARED_DIFFERENCE */

#if MF_OP_MUL

typedef struct {
    mf_qmx_t out;
    int32_t o1, o2, zp, lo, hi;
} mul_ctx_t;

static inline int8_t mul_out(int32_t prod, const mul_ctx_t *c) {
    const int32_t o = mf_mul_by_qmx(prod, &c->out) + c->zp;
    return (int8_t)mf_clamp(o, c->lo, c->hi);
}

static void mul_row(const mul_ctx_t *c, const int8_t *a, int32_t sa, const int8_t *b,
    int32_t sb, int8_t *y, int32_t n) {
    if (sa == 0 && n > 1) {
        const int32_t k = a[0] + c->o1;
        for (int32_t i = 0; i < n; ++i) {
            y[i] = mul_out(k * (b[i] + c->o2), c);
        }
    } else if (sb == 0 && n > 1) {
        const int32_t k = b[0] + c->o2;
        for (int32_t i = 0; i < n; ++i) {
            y[i] = mul_out((a[i] + c->o1) * k, c);
        }
    } else {
        for (int32_t i = 0; i < n; ++i) {
            y[i] = mul_out((a[i] + c->o1) * (b[i] + c->o2), c);
        }
    }
}

void mfk_mul_s8(const mfk_mul_t *p, const mfk_bcast_t *b, const int8_t *x1,
    const int8_t *x2, int8_t *y) {
    if (b->nloops == 0) {
        return;
    }
    mul_ctx_t c;
    c.out = mf_qmx(p->out);
    c.o1 = p->in1_offset;
    c.o2 = p->in2_offset;
    c.zp = p->out_offset;
    c.lo = p->act_min;
    c.hi = p->act_max;
    const mfk_loop_t *row = &b->loop[b->nloops - 1];
    const int32_t n = row->extent, sa = row->stride1, sb = row->stride2;
    int32_t idx[MFK_BCAST_MAX] = {0};
    int32_t o1 = 0, o2 = 0;
    for (int32_t r = 0; r < b->rows; ++r) {
        mul_row(&c, x1 + o1, sa, x2 + o2, sb, y, n);
        y += n;
        bcast_step(b, idx, &o1, &o2);
    }
}

#endif /* MF_OP_MUL */

#if MFK_ANY_BINARY

/* std::min(std::max(x, lo), hi) exactly, including NaN (passes through) and inf. */
static inline float clamp_f32(float x, float lo, float hi) {
    x = (x < lo) ? lo : x;
    return (hi < x) ? hi : x;
}

static void binary_f32_row(const mfk_binary_f32_t *p, const float *a, int32_t sa,
    const float *b, int32_t sb, float *y, int32_t n) {
    const float lo = p->act_min, hi = p->act_max;
    switch (p->op) {
        case MFK_F32_ADD:
            for (int32_t i = 0; i < n; ++i, a += sa, b += sb) {
                y[i] = clamp_f32(*a + *b, lo, hi);
            }
            break;
        case MFK_F32_SUB:
            for (int32_t i = 0; i < n; ++i, a += sa, b += sb) {
                y[i] = clamp_f32(*a - *b, lo, hi);
            }
            break;
        case MFK_F32_MUL:
            for (int32_t i = 0; i < n; ++i, a += sa, b += sb) {
                y[i] = clamp_f32(*a * *b, lo, hi);
            }
            break;
        default:
            for (int32_t i = 0; i < n; ++i, a += sa, b += sb) {
                const float d = *a - *b;
                y[i] = d * d;
            }
            break;
    }
}

void mfk_binary_f32(const mfk_binary_f32_t *p, const mfk_bcast_t *b, const float *x1,
    const float *x2, float *y) {
    if (b->nloops == 0) {
        return;
    }
    const mfk_loop_t *row = &b->loop[b->nloops - 1];
    const int32_t n = row->extent, sa = row->stride1, sb = row->stride2;
    int32_t idx[MFK_BCAST_MAX] = {0};
    int32_t o1 = 0, o2 = 0;
    for (int32_t r = 0; r < b->rows; ++r) {
        binary_f32_row(p, x1 + o1, sa, x2 + o2, sb, y, n);
        y += n;
        bcast_step(b, idx, &o1, &o2);
    }
}

#endif /* MFK_ANY_BINARY */

#if MF_OP_RSQRT

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for 0 < e < 31 (a saturating left shift). */
static int32_t sat_shl(int32_t x, int e) {
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

/* GetInvSqrtQuantizedMultiplierExp(input, kReverseShift = -1): 1/sqrt(input) as a
 * multiplier and left shift, by five Newton-Raphson steps in Q3.28 fixed point. */
static void inv_sqrt_qm(int32_t input, int32_t *mult, int32_t *shift) {
    if (input <= 1) {
        *mult = INT32_MAX;
        *shift = 0;
        return;
    }
    int32_t s = 11;
    while (input >= (1 << 29)) {
        input /= 4;
        ++s;
    }
    const int pairs = (mf_clz32((uint32_t)input) - 1) / 2 - 1;
    s -= pairs;
    input = (int32_t)((uint32_t)input << (2 * pairs));
    const int32_t half_input = mf_rdbypot(input >> 1, 1);
    const int32_t half_three = (1 << 28) + (1 << 27);   /* 1.5 in Q3.28 */
    int32_t x = 1 << 28;                                /* 1.0 in Q3.28 */
    for (int i = 0; i < 5; ++i) {
        /* x^3 is Q9.22 -> Q3.28; 1.5x - (input/2) x^3 is Q6.25 -> Q3.28. */
        const int32_t x3 = sat_shl(mf_srdhm(mf_srdhm(x, x), x), 6);
        const int32_t t = (int32_t)((uint32_t)mf_srdhm(half_three, x) -
            (uint32_t)mf_srdhm(half_input, x3));
        x = sat_shl(t, 3);
    }
    x = mf_srdhm(x, 1518500250);   /* sqrt(2)/2 in Q0.31 */
    if (s < 0) {
        x = (int32_t)((uint32_t)x << -s);
        s = 0;
    }
    *mult = x;
    *shift = -s;
}

/* RsqrtEvalQuantized for one int8 value: 2^20 / sqrt(value) as an integer, then the
 * output scale with the 2^20 taken back out of the shift. */
static int8_t rsqrt_one(const mfk_rsqrt_t *p, int32_t q) {
    const int32_t value = q - p->in_zp;
    if (value <= 0) {
        return 127;
    }
    int32_t im, is;
    inv_sqrt_qm(value, &im, &is);
    const int32_t data = mf_mul_by_qm(1, im, is + 20);
    const int32_t o = mf_mul_by_qm(data, p->out.multiplier, p->out.shift - 20) + p->out_zp;
    return (int8_t)mf_clamp(o, -128, 127);
}

void mfk_rsqrt_s8(const mfk_rsqrt_t *p, const int8_t *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = rsqrt_one(p, x[i]);
    }
}

void mfk_rsqrt_s8_lut(const mfk_rsqrt_t *p, int8_t *lut) {
    for (int32_t q = -128; q <= 127; ++q) {
        lut[q + 128] = rsqrt_one(p, q);
    }
}

void mfk_lut_s8(const int8_t *lut, const int8_t *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = lut[x[i] + 128];
    }
}

void mfk_rsqrt_f32(const float *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = 1.0f / sqrtf(x[i]);
    }
}

#endif /* MF_OP_RSQRT */

#if MF_OP_NEG

void mfk_neg_s8(int32_t zp_sum, const int8_t *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = (int8_t)mf_clamp(zp_sum - x[i], -128, 127);
    }
}

void mfk_neg_f32(const float *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = -x[i];
    }
}

#endif /* MF_OP_NEG */
