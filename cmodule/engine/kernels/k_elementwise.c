/* Element-wise kernels; see k_elementwise.h. */
#include "k_elementwise.h"

#include <math.h>

#include "mf_config.h"
#include "kernels/k_fully_connected.h"
#include "kernels/k_mve.h"

/* Helium (MF_K_MVE_RQ): the int8 rows below take four elements per step (int8 loaded
 * widened to int32 lanes, the scalar arithmetic lane by lane, the tail predicated), with
 * the requantization of k_mve.h, which equals the scalar one lane by lane. */

#define MF_K_ANY_BINARY (MF_OP_ON(ADD) || MF_OP_ON(SUB) || MF_OP_ON(MUL) || MF_OP_ON(SQUARED_DIFFERENCE))

#if MF_K_ANY_BINARY

int mf_k_bcast_loops(int ndim, const int32_t *d1, const int32_t *d2, const int32_t *out,
    mf_k_loop_t *loops) {
    /* A dim of output extent 1 adds nothing to any index, so it is skipped; a dim whose
     * broadcast pattern (which input repeats) equals the previous loop's continues that
     * loop, because row-major inputs are contiguous across it (or both strides are 0). */
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
                loops[n - 1].extent *= out[d];
            } else {
                loops[n].extent = out[d];
                loops[n].stride1 = bc1 ? 0 : acc1;
                loops[n].stride2 = bc2 ? 0 : acc2;
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
        loops[0].extent = 1;
        loops[0].stride1 = 1;
        loops[0].stride2 = 1;
        n = 1;
    }
    return n;
}

void mf_k_bcast_fill(mf_k_bcast_t *plan, int nloops, const mf_k_loop_t *loops) {
    plan->nloops = nloops;
    plan->rows = nloops ? 1 : 0;
    for (int i = 0; i < nloops; ++i) {
        plan->loop[i] = loops[i];
        if (i > 0) {
            plan->rows *= loops[i].extent;
        }
    }
}

/* One inner row: c is the kernel's hoisted parameters, row the plan's loop[0] (extent
 * and element strides), a and b the row's first input elements. */
typedef void (*bcast_row_fn)(const void *c, const mf_k_loop_t *row, const void *a, const void *b,
    void *y);

/* Walks the plan: row() per inner row, whose input offsets follow from the row number's
 * digits in the outer loops' extents. lg: log2 of the element size. */
static void bcast_run(const mf_k_bcast_t *b, int lg, bcast_row_fn row, const void *c,
    const uint8_t *x1, const uint8_t *x2, uint8_t *y) {
    for (int32_t r = 0; r < b->rows; ++r) {
        int32_t o1 = 0, o2 = 0, q = r;
        for (int d = 1; d < b->nloops; ++d) {
            const mf_k_loop_t *l = &b->loop[d];
            const int32_t i = q % l->extent;
            q /= l->extent;
            o1 += i * l->stride1;
            o2 += i * l->stride2;
        }
        row(c, b->loop, x1 + (o1 << lg), x2 + (o2 << lg), y);
        y += b->loop[0].extent << lg;
    }
}

/* The hoisted multipliers of one int8 call; each op's row reads the ones it uses. */
typedef struct {
    mf_qmx_t out;
    mf_qm_shl20_t in20[2];   /* the inputs with left_shift 20 (ADD / SUB) */
    mf_qmx_t in[2];          /* with left_shift 7 (SQUARED_DIFFERENCE) */
    int32_t off[2], sign, pot, zp, lo, hi;
} s8_ctx_t;

/* The output stage of ADD / SUB (the scaled sum) and MUL (the product). */
static MF_ALWAYS_INLINE int8_t s8_out(int32_t raw, const s8_ctx_t *c) {
    const int32_t o = mf_mul_by_qmx(raw, &c->out) + c->zp;
    return (int8_t)mf_clamp(o, c->lo, c->hi);
}

#if MF_K_MVE_RQ
/* s8_out of four lanes, stored to the lanes of p. */
static MF_ALWAYS_INLINE void s8_out_mve(int32x4_t raw, const s8_ctx_t *c, int8_t *y, mve_pred16_t p) {
    vstrbq_p_s32(y, mf_mve_out_s8(mf_mve_mul_by_qmx(raw, &c->out), c->zp, c->lo, c->hi), p);
}

/* x + off of the int8 at v, four lanes (the tail's inactive lanes read nothing). */
static MF_ALWAYS_INLINE int32x4_t s8_in_mve(const int8_t *v, int32_t off, mve_pred16_t p) {
    return vaddq_n_s32(vldrbq_z_s32(v, p), off);
}
#endif /* MF_K_MVE_RQ */

#endif /* MF_K_ANY_BINARY */

/* Each int8 row below hoists a row-wide scalar operand (stride 0) out of its loop. The
 * element functions are symmetric enough that one loop serves either side: v is the
 * operand that varies, input j of the op. */

#if MF_OP_ON(ADD) || MF_OP_ON(SUB)

/* SUB negates the second scaled value, which is exact (the rounding happened before). */
#if MF_K_MVE_RQ
/* mf_mul_by_qm_shl20 of four lanes: v * hi + ((v * lo + 2^10) >> 11) (VRSHR rounds half
 * up, as the + 1024 does), then the rounding divide by 2^right_shift. */
static MF_ALWAYS_INLINE int32x4_t shl20_mve(int32x4_t v, const mf_qm_shl20_t *q) {
    const int32x4_t h = vaddq_s32(vmulq_n_s32(v, q->hi), vrshrq_n_s32(vmulq_n_s32(v, q->lo), 11));
    return mf_mve_rdbypot(h, q->right_shift);
}
#endif /* MF_K_MVE_RQ */

static void addsub_row(const void *cv, const mf_k_loop_t *row, const void *av, const void *bv,
    void *yv) {
    const s8_ctx_t *c = cv;
    const int8_t *a = av, *b = bv;
    int8_t *y = yv;
    const int32_t n = row->extent;
    if ((row->stride1 == 0 || row->stride2 == 0) && n > 1) {
        const int j = row->stride1 == 0;
        const int8_t *v = j ? b : a;
        const int32_t k = (j ? 1 : c->sign) * mf_mul_by_qm_shl20((j ? a : b)[0] + c->off[!j], &c->in20[!j]);
        const int32_t sv = j ? c->sign : 1, ov = c->off[j];
        const mf_qm_shl20_t *qv = &c->in20[j];
#if MF_K_MVE_RQ
        for (int32_t i = 0; i < n; i += 4) {
            const mve_pred16_t p = vctp32q((uint32_t)(n - i));
            s8_out_mve(vaddq_n_s32(vmulq_n_s32(shl20_mve(s8_in_mve(v + i, ov, p), qv), sv), k), c, y + i, p);
        }
#else
        for (int32_t i = 0; i < n; ++i) {
            y[i] = s8_out(k + sv * mf_mul_by_qm_shl20(v[i] + ov, qv), c);
        }
#endif /* MF_K_MVE_RQ */
    } else {
        const int32_t o1 = c->off[0], o2 = c->off[1], sign = c->sign;
#if MF_K_MVE_RQ
        for (int32_t i = 0; i < n; i += 4) {
            const mve_pred16_t p = vctp32q((uint32_t)(n - i));
            const int32x4_t s1 = shl20_mve(s8_in_mve(a + i, o1, p), &c->in20[0]);
            const int32x4_t s2 = shl20_mve(s8_in_mve(b + i, o2, p), &c->in20[1]);
            s8_out_mve(vaddq_s32(s1, vmulq_n_s32(s2, sign)), c, y + i, p);
        }
#else
        for (int32_t i = 0; i < n; ++i) {
            y[i] = s8_out(mf_mul_by_qm_shl20(a[i] + o1, &c->in20[0]) +
                sign * mf_mul_by_qm_shl20(b[i] + o2, &c->in20[1]), c);
        }
#endif /* MF_K_MVE_RQ */
    }
}

#endif /* MF_OP_ON(ADD) || MF_OP_ON(SUB) */

#if MF_OP_ON(SQUARED_DIFFERENCE)

/* One input on the common scale: MultiplyByQuantizedMultiplierSmallerThanOneExp of
 * (x + offset) * 2^7. */
static inline int32_t sqdiff_in(int32_t v, int32_t pot, const mf_qmx_t *q) {
    return mf_mul_by_qmx(v * pot, q);
}

/* The squared difference of two inputs of at most 255 * 2^7 / 2 in magnitude stays
 * below 2^31 (the reason TFLM picks left_shift 7); its sign does not matter. */
static inline int8_t sqdiff_out(int32_t diff, const s8_ctx_t *c) {
    const int32_t o = mf_mul_by_qmx(diff * diff, &c->out) + c->zp;
    return (int8_t)mf_clamp(o, -128, 127);
}

#if MF_K_MVE_RQ
/* sqdiff_in and sqdiff_out of four lanes. */
static MF_ALWAYS_INLINE int32x4_t sqdiff_in_mve(const int8_t *v, int32_t off, int32_t pot, const mf_qmx_t *q,
    mve_pred16_t p) {
    return mf_mve_mul_by_qmx(vmulq_n_s32(s8_in_mve(v, off, p), pot), q);
}

static MF_ALWAYS_INLINE void sqdiff_out_mve(int32x4_t diff, const s8_ctx_t *c, int8_t *y, mve_pred16_t p) {
    const int32x4_t o = mf_mve_mul_by_qmx(vmulq_s32(diff, diff), &c->out);
    vstrbq_p_s32(y, mf_mve_out_s8(o, c->zp, -128, 127), p);
}
#endif /* MF_K_MVE_RQ */

static void sqdiff_row(const void *cv, const mf_k_loop_t *row, const void *av, const void *bv,
    void *yv) {
    const s8_ctx_t *c = cv;
    const int8_t *a = av, *b = bv;
    int8_t *y = yv;
    const int32_t n = row->extent, pot = c->pot;
    if ((row->stride1 == 0 || row->stride2 == 0) && n > 1) {
        const int j = row->stride1 == 0;
        const int8_t *v = j ? b : a;
        const int32_t k = sqdiff_in((j ? a : b)[0] + c->off[!j], pot, &c->in[!j]);
        const int32_t ov = c->off[j];
        const mf_qmx_t *qv = &c->in[j];
#if MF_K_MVE_RQ
        for (int32_t i = 0; i < n; i += 4) {
            const mve_pred16_t p = vctp32q((uint32_t)(n - i));
            sqdiff_out_mve(vsubq_n_s32(sqdiff_in_mve(v + i, ov, pot, qv, p), k), c, y + i, p);
        }
#else
        for (int32_t i = 0; i < n; ++i) {
            y[i] = sqdiff_out(sqdiff_in(v[i] + ov, pot, qv) - k, c);
        }
#endif /* MF_K_MVE_RQ */
    } else {
        const int32_t o1 = c->off[0], o2 = c->off[1];
#if MF_K_MVE_RQ
        for (int32_t i = 0; i < n; i += 4) {
            const mve_pred16_t p = vctp32q((uint32_t)(n - i));
            sqdiff_out_mve(vsubq_s32(sqdiff_in_mve(a + i, o1, pot, &c->in[0], p),
                sqdiff_in_mve(b + i, o2, pot, &c->in[1], p)), c, y + i, p);
        }
#else
        for (int32_t i = 0; i < n; ++i) {
            y[i] = sqdiff_out(sqdiff_in(a[i] + o1, pot, &c->in[0]) -
                sqdiff_in(b[i] + o2, pot, &c->in[1]), c);
        }
#endif /* MF_K_MVE_RQ */
    }
}

#endif /* MF_OP_ON(SQUARED_DIFFERENCE) */

#if MF_OP_ON(MUL)

static void mul_row(const void *cv, const mf_k_loop_t *row, const void *av, const void *bv,
    void *yv) {
    const s8_ctx_t *c = cv;
    const int8_t *a = av, *b = bv;
    int8_t *y = yv;
    const int32_t n = row->extent;
    if ((row->stride1 == 0 || row->stride2 == 0) && n > 1) {
        const int j = row->stride1 == 0;
        const int8_t *v = j ? b : a;
        const int32_t k = (j ? a : b)[0] + c->off[!j], ov = c->off[j];
#if MF_K_MVE_RQ
        for (int32_t i = 0; i < n; i += 4) {
            const mve_pred16_t p = vctp32q((uint32_t)(n - i));
            s8_out_mve(vmulq_n_s32(s8_in_mve(v + i, ov, p), k), c, y + i, p);
        }
#else
        for (int32_t i = 0; i < n; ++i) {
            y[i] = s8_out(k * (v[i] + ov), c);
        }
#endif /* MF_K_MVE_RQ */
    } else {
        const int32_t o1 = c->off[0], o2 = c->off[1];
#if MF_K_MVE_RQ
        for (int32_t i = 0; i < n; i += 4) {
            const mve_pred16_t p = vctp32q((uint32_t)(n - i));
            s8_out_mve(vmulq_s32(s8_in_mve(a + i, o1, p), s8_in_mve(b + i, o2, p)), c, y + i, p);
        }
#else
        for (int32_t i = 0; i < n; ++i) {
            y[i] = s8_out((a[i] + o1) * (b[i] + o2), c);
        }
#endif /* MF_K_MVE_RQ */
    }
}

#endif /* MF_OP_ON(MUL) */

#if MF_K_ANY_BINARY

void mf_k_binary_s8(const mf_k_binary_s8_t *p, const mf_k_bcast_t *b, const int8_t *x1,
    const int8_t *x2, int8_t *y) {
    bcast_row_fn row = NULL;
#if MF_OP_ON(ADD) || MF_OP_ON(SUB)
    if (p->left_shift == 20) {
        row = addsub_row;
    }
#endif /* MF_OP_ON(ADD) || MF_OP_ON(SUB) */
#if MF_OP_ON(SQUARED_DIFFERENCE)
    if (p->left_shift == 7) {
        row = sqdiff_row;
    }
#endif /* MF_OP_ON(SQUARED_DIFFERENCE) */
#if MF_OP_ON(MUL)
    if (p->left_shift == 0) {
        row = mul_row;
    }
#endif /* MF_OP_ON(MUL) */
    s8_ctx_t c;
    c.out = mf_qmx(p->qm[2]);
    for (int j = 0; j < 2; ++j) {
        /* MUL's unused input multipliers take the cheap form. */
        if (p->left_shift == 7) {
            c.in[j] = mf_qmx(p->qm[j]);
        } else {
            c.in20[j] = mf_qm_shl20(p->qm[j]);
        }
        c.off[j] = p->in_offset[j];
    }
    c.sign = p->in2_sign;
    c.pot = (int32_t)1 << p->left_shift;
    c.zp = p->out_offset;
    c.lo = p->act_min;
    c.hi = p->act_max;
    bcast_run(b, 0, row, &c, (const uint8_t *)x1, (const uint8_t *)x2, (uint8_t *)y);
}

/* std::min(std::max(x, lo), hi) exactly, including NaN (passes through) and inf. */
static inline float clamp_f32(float x, float lo, float hi) {
    x = (x < lo) ? lo : x;
    return (hi < x) ? hi : x;
}

static void binary_f32_row(const void *pv, const mf_k_loop_t *row, const void *av,
    const void *bv, void *yv) {
    const mf_k_binary_f32_t *p = pv;
    const float *a = av, *b = bv;
    float *y = yv;
    const int32_t n = row->extent, sa = row->stride1, sb = row->stride2;
    const float lo = p->act_min, hi = p->act_max;
    switch (p->op) {
        case MF_K_F32_ADD:
            for (int32_t i = 0; i < n; ++i, a += sa, b += sb) {
                y[i] = clamp_f32(*a + *b, lo, hi);
            }
            break;
        case MF_K_F32_SUB:
            for (int32_t i = 0; i < n; ++i, a += sa, b += sb) {
                y[i] = clamp_f32(*a - *b, lo, hi);
            }
            break;
        case MF_K_F32_MUL:
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

void mf_k_binary_f32(const mf_k_binary_f32_t *p, const mf_k_bcast_t *b, const float *x1,
    const float *x2, float *y) {
    bcast_run(b, 2, binary_f32_row, p, (const uint8_t *)x1, (const uint8_t *)x2, (uint8_t *)y);
}

#endif /* MF_K_ANY_BINARY */

#if MF_OP_ON(RSQRT)

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
static int8_t rsqrt_one(const mf_k_rsqrt_t *p, int32_t q) {
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

void mf_k_rsqrt_s8(const mf_k_rsqrt_t *p, const int8_t *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = rsqrt_one(p, x[i]);
    }
}

void mf_k_rsqrt_s8_lut(const mf_k_rsqrt_t *p, int8_t *lut) {
    for (int32_t q = -128; q <= 127; ++q) {
        lut[(uint8_t)(int8_t)q] = rsqrt_one(p, q);
    }
}

void mf_k_rsqrt_f32(const float *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = 1.0f / sqrtf(x[i]);
    }
}

#endif /* MF_OP_ON(RSQRT) */

#if MF_OP_ON(NEG)

void mf_k_neg_s8(int32_t zp_sum, const int8_t *x, int8_t *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = (int8_t)mf_clamp(zp_sum - x[i], -128, 127);
    }
}

void mf_k_neg_f32(const float *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = -x[i];
    }
}

#endif /* MF_OP_ON(NEG) */
