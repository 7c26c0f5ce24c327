/* Int8 FULLY_CONNECTED kernel; see k_fully_connected.h for the arithmetic. */
#include "mf_config.h"

#if MF_OP_FULLY_CONNECTED

#include "kernels/k_fully_connected.h"

void mf_k_fully_connected_s8(const mf_fc_params_t *p, const int8_t *in, const int8_t *w, int8_t *out) {
    const int32_t depth = p->depth;
    const int32_t units = p->units;
    const mf_qm_t *qm = p->qm;
    const int32_t qstep = p->per_channel ? 1 : 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + (size_t)b * (size_t)depth;
        int8_t *y = out + (size_t)b * (size_t)units;
        int32_t u = 0;
        for (; u + 4 <= units; u += 4) {
            int32_t d[4];
            mf_dot4_s8(x, w + (size_t)u * (size_t)depth, (size_t)depth, depth, d);
            for (int r = 0; r < 4; r++) {
                /* uint32: the fold is exact modulo 2^32, like the reference's wrapping sum. */
                int32_t acc = (int32_t)((uint32_t)d[r] + (uint32_t)p->fold[u + r]);
                y[u + r] = mf_requant_s8(acc, qm[(u + r) * qstep], p->out_offset, p->act_min, p->act_max);
            }
        }
        for (; u < units; u++) {
            int32_t acc = (int32_t)((uint32_t)mf_dot_s8(x, w + (size_t)u * (size_t)depth, depth) + (uint32_t)p->fold[u]);
            y[u] = mf_requant_s8(acc, qm[u * qstep], p->out_offset, p->act_min, p->act_max);
        }
    }
}

#endif /* MF_OP_FULLY_CONNECTED */
