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

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(MF_SINGLE_ROUNDING)
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
            /* Zeroed by one vector store: gcc -Os makes a 16-byte initializer a memset call. */
            int32_t d[4];
            vstrwq_s32(d, vdupq_n_s32(0));
            if (nu == 4) {
                mf_mve_dot4_s8(x, off, wu, (size_t)depth, depth, d);
            } else {
                for (int32_t r = 0; r < nu; r++) {
                    d[r] = mf_mve_dot_s8(x, off, wu + (size_t)r * (size_t)depth, depth);
                }
            }
            /* The bias is added modulo 2^32 (VADD wraps), like the reference's int32 sum. */
            const int32x4_t v = mf_mve_mul_by_qm4(vaddq_s32(vldrwq_s32(d), b4), &q);
            vstrbq_p_s32(y, mf_mve_out_s8(v, p->out_offset, p->act_min, p->act_max), pu);
        }
    }
}
#else
void mf_k_fully_connected_s8(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, const int32_t *bias,
    int8_t *out) {
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
#endif /* __ARM_FEATURE_MVE & 1 && !MF_SINGLE_ROUNDING */

#endif /* MF_OP_ON(FULLY_CONNECTED) */
