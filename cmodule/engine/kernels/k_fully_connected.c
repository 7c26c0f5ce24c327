/* Int8 FULLY_CONNECTED kernel; see k_fully_connected.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_ON(FULLY_CONNECTED)

#include "kernels/k_fully_connected.h"

static inline int8_t fc_requant(const mf_fc_params_t *p, int32_t acc, int32_t q) {
    mf_qm_t qm;
    qm.multiplier = p->mult[q];
    qm.shift = p->shift[q];
    return mf_requant_s8(acc, qm, p->out_offset, p->act_min, p->act_max);
}

#if MF_K_MVE_RQ
/* Helium: per block of four units the four dot products (k_mve.h) and their four outputs
 * at once, bias and per-lane (or shared) multipliers loaded once per block. */
void mf_k_fully_connected_s8(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out) {
    const int32_t depth = p->depth;
    const int32_t units = p->units;
    const int32_t off = p->in_offset;
    for (int32_t u = 0; u < units; u += 4) {
        const int32_t nu = units - u < 4 ? units - u : 4;
        const int8_t *wu = w + (size_t)u * (size_t)depth;
        const mve_pred16_t pu = vctp32q((uint32_t)nu);
        const int32_t qs = p->per_channel;
        const mf_mve_qm4_t q = mf_mve_qm4(p->mult + u * qs, p->shift + u * qs, qs, nu);
        const int32x4_t b4 = bias ? vldrwq_z_s32(bias + u, pu) : vdupq_n_s32(0);
        const int8_t *x = in;
        int8_t *y = out + u;
        for (int32_t b = 0; b < p->batches; b++, x += depth, y += units) {
            /* The bias is added modulo 2^32 (VADD wraps), like the reference's int32 sum. */
            const int32x4_t d = mf_mve_dot_rows_s8(x, off, wu, (size_t)depth, depth, nu);
            const int32x4_t v = mf_mve_mul_by_qm4(vaddq_s32(d, b4), &q);
            vstrbq_p_s32(y, mf_mve_out_s8(v, p->out_offset, p->act_min, p->act_max), pu);
        }
    }
}
#else
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
/* sum((x0 + off) * w0), (x0, w1), (x1, w0), (x1, w1) over `words` words: 24 instructions
 * for 16 MACs (SXTAB16 adds the offset, x + off in [-255, 255] is an exact int16 lane). In
 * assembly because the loop needs 16 values and GCC -Os spilled mf_dot4_s8's (33
 * instructions for 16 MACs); the end pointer and the paired offset are reloaded from the
 * stack instead. The partial sums stay below 2^31 (MF_K_MAX_DEPTH). */
__attribute__((noinline)) static void fc_pair_dsp(const int8_t *x0, const int8_t *x1, const int8_t *w0,
    const int8_t *w1, int32_t off, int32_t words, int32_t acc[4]) {
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    if (words > 0) {
        const int8_t *const end = x0 + 4 * words;
        const int32_t off2 = mf_pair16(off);
        int32_t xe0, xo0, xe1, xo1, we, wo;
        __asm__ (
            "1:\n\t"
            "ldr    %[wo], %[off2]\n\t"
            "ldr    %[xe0], [%[x0]], #4\n\t"
            "sxtab16 %[xo0], %[wo], %[xe0], ror #8\n\t"
            "sxtab16 %[xe0], %[wo], %[xe0]\n\t"
            "ldr    %[xe1], [%[x1]], #4\n\t"
            "sxtab16 %[xo1], %[wo], %[xe1], ror #8\n\t"
            "sxtab16 %[xe1], %[wo], %[xe1]\n\t"
            "ldr    %[we], [%[w0]], #4\n\t"
            "sxtb16 %[wo], %[we], ror #8\n\t"
            "sxtb16 %[we], %[we]\n\t"
            "smlad  %[a00], %[xe0], %[we], %[a00]\n\t"
            "smlad  %[a00], %[xo0], %[wo], %[a00]\n\t"
            "smlad  %[a10], %[xe1], %[we], %[a10]\n\t"
            "smlad  %[a10], %[xo1], %[wo], %[a10]\n\t"
            "ldr    %[we], [%[w1]], #4\n\t"
            "sxtb16 %[wo], %[we], ror #8\n\t"
            "sxtb16 %[we], %[we]\n\t"
            "smlad  %[a01], %[xe0], %[we], %[a01]\n\t"
            "smlad  %[a01], %[xo0], %[wo], %[a01]\n\t"
            "smlad  %[a11], %[xe1], %[we], %[a11]\n\t"
            "smlad  %[a11], %[xo1], %[wo], %[a11]\n\t"
            "ldr    %[wo], %[end]\n\t"
            "cmp    %[x0], %[wo]\n\t"
            "bcc    1b"
            : [a00] "+r" (a00), [a01] "+r" (a01), [a10] "+r" (a10), [a11] "+r" (a11), [x0] "+r" (x0),
              [x1] "+r" (x1), [w0] "+r" (w0), [w1] "+r" (w1), [xe0] "=&r" (xe0), [xo0] "=&r" (xo0),
              [xe1] "=&r" (xe1), [xo1] "=&r" (xo1), [we] "=&r" (we), [wo] "=&r" (wo)
            : [end] "m" (end), [off2] "m" (off2)
            : "cc", "memory");
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/*
 * ARMv7E-M, two or more rows: two rows x two units per pass (fc_pair_dsp), each weight
 * word loaded and extended once for both rows. An odd last row or unit runs as both of
 * its pair (the same output written twice).
 */
static void fc_s8_dsp(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out) {
    const int32_t depth = p->depth, units = p->units, rows = p->batches, off = p->in_offset;
    const int32_t words = depth / 4;
    for (int32_t u = 0; u < units; u += 2) {
        const int32_t u1 = u + 1 < units ? u + 1 : u;
        const int8_t *w0 = w + (size_t)u * (size_t)depth, *w1 = w + (size_t)u1 * (size_t)depth;
        const uint32_t k0 = bias ? (uint32_t)bias[u] : 0u, k1 = bias ? (uint32_t)bias[u1] : 0u;
        mf_qm_t qm;
        qm.multiplier = p->mult[u * p->per_channel];
        qm.shift = p->shift[u * p->per_channel];
        const mf_qmx_t q0 = mf_qmx(qm);
        qm.multiplier = p->mult[u1 * p->per_channel];
        qm.shift = p->shift[u1 * p->per_channel];
        const mf_qmx_t q1 = mf_qmx(qm);
        for (int32_t b = 0; b < rows; b += 2) {
            const int32_t b1 = b + 1 < rows ? b + 1 : b;
            const int8_t *x0 = in + (size_t)b * (size_t)depth, *x1 = in + (size_t)b1 * (size_t)depth;
            int32_t acc[4];
            fc_pair_dsp(x0, x1, w0, w1, off, words, acc);
            for (int32_t r = 4 * words; r < depth; r++) {
                acc[0] += (x0[r] + off) * w0[r];
                acc[1] += (x0[r] + off) * w1[r];
                acc[2] += (x1[r] + off) * w0[r];
                acc[3] += (x1[r] + off) * w1[r];
            }
            /* The bias is added in uint32, wrapping like the reference's int32 sum. */
            int8_t *y0 = out + (size_t)b * (size_t)units, *y1 = out + (size_t)b1 * (size_t)units;
            y0[u] = mf_requant_qmx_s8((int32_t)((uint32_t)acc[0] + k0), &q0, p->out_offset, p->act_min, p->act_max);
            y0[u1] = mf_requant_qmx_s8((int32_t)((uint32_t)acc[1] + k1), &q1, p->out_offset, p->act_min,
                p->act_max);
            y1[u] = mf_requant_qmx_s8((int32_t)((uint32_t)acc[2] + k0), &q0, p->out_offset, p->act_min, p->act_max);
            y1[u1] = mf_requant_qmx_s8((int32_t)((uint32_t)acc[3] + k1), &q1, p->out_offset, p->act_min,
                p->act_max);
        }
    }
}
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */

void mf_k_fully_connected_s8(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out) {
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    if (p->batches >= 2) {
        fc_s8_dsp(p, in, w, bias, out);
        return;
    }
#endif /* __ARM_FEATURE_DSP && __ARM_FEATURE_SIMD32 */
    const int32_t depth = p->depth;
    const int32_t units = p->units;
    const int32_t off = p->in_offset;
    const int32_t qstep = p->per_channel;
    /* From a few rows on, the multipliers' shifts and rounding constants (mf_qmx) and the
     * biases of a block are hoisted out of the row loop; below that it costs more than it
     * saves. */
    const int hoist = p->batches >= 4;
    /* Four units at a time over all rows; the input rows are re-read per block. */
    for (int32_t u = 0; u < units; u += 4) {
        const int32_t nu = units - u < 4 ? units - u : 4;
        const int8_t *wu = w + (size_t)u * (size_t)depth;
        mf_qmx_t q[4];
        int32_t b4[4];
        if (hoist) {
            for (int32_t r = 0; r < nu; r++) {
                mf_qm_t qm;
                qm.multiplier = p->mult[(u + r) * qstep];
                qm.shift = p->shift[(u + r) * qstep];
                q[r] = mf_qmx(qm);
                b4[r] = bias ? bias[u + r] : 0;
            }
        }
        const int8_t *x = in;
        int8_t *y = out + u;
        for (int32_t b = 0; b < p->batches; b++, x += depth, y += units) {
            int32_t d[4];
            if (nu == 4) {
                mf_dot4_s8(x, off, wu, (size_t)depth, depth, d);
            } else {
                for (int32_t r = 0; r < nu; r++) {
                    d[r] = mf_dot_s8(x, off, wu + (size_t)r * (size_t)depth, depth);
                }
            }
            if (hoist) {
                for (int32_t r = 0; r < nu; r++) {
                    /* The bias is added in uint32, wrapping like the reference's int32 sum. */
                    const int32_t acc = (int32_t)((uint32_t)d[r] + (uint32_t)b4[r]);
                    y[r] = mf_requant_qmx_s8(acc, &q[r], p->out_offset, p->act_min, p->act_max);
                }
            } else {
                for (int32_t r = 0; r < nu; r++) {
                    y[r] = fc_requant(p, mf_k_add_bias(d[r], bias, u + r), (u + r) * qstep);
                }
            }
        }
    }
}
#endif /* MF_K_MVE_RQ */

#endif /* MF_OP_ON(FULLY_CONNECTED) */
