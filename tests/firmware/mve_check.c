/*
 * The Helium fixed-point helpers of cmodule/engine/kernels/k_mve.h against the scalar
 * functions of mf_quant.h, on pseudo-random operands (tests/firmware/test_engine_dsp.py
 * builds this with the benchmark harness's Cortex-M55 port and runs it on mps3-an547):
 *  - mf_mve_exp_on_negative_values vs mf_fp_exp_on_negative_values, integer_bits 0..30,
 *    inputs <= 0 of every magnitude, 0 and INT32_MIN included;
 *  - mf_mve_mul_by_qmx and mf_mve_mul_by_qm4 vs mf_mul_by_qm, multipliers in [0, 2^31),
 *    shifts in [-31, 12], inputs over all of int32;
 *  - mf_mve_logistic and mf_mve_tanh vs mf_fp_logistic and mf_fp_tanh on Q4.27 inputs
 *    (LOGISTIC and TANH per element): every input within 2^15 of 0 (where one raw step
 *    still moves the result) and every 4093rd over all of int32, INT32_MIN and
 *    INT32_MAX included.
 * Prints "MVECHECK <exp mismatches> <exp lanes> <multiply mismatches> <multiply lanes>
 * <sigmoid mismatches> <sigmoid lanes>".
 */
#include <stdint.h>

#include "bench.h"
#include "mf_quant.h"
#include "kernels/k_mve.h"

/* A linear congruential generator: the same operands on every run. */
static uint32_t lcg_next(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

/* Lanes of mf_mve_logistic and mf_mve_tanh (integer_bits 4) that differ from the scalar
 * functions, for a[0..3]. */
static uint32_t sigmoid_bad(const int32_t a[4]) {
    int32_t lg[4], th[4];
    const int32x4_t v = vldrwq_s32(a);
    vstrwq_s32(lg, mf_mve_logistic(v, 4));
    vstrwq_s32(th, mf_mve_tanh(v, 4));
    uint32_t bad = 0;
    for (int l = 0; l < 4; l++) {
        bad += (lg[l] != mf_fp_logistic(a[l], 4)) + (th[l] != mf_fp_tanh(a[l], 4));
    }
    return bad;
}

static void put(char *buf, size_t *k, uint32_t v) {
    buf[(*k)++] = ' ';
    *k = bench_put_dec(buf, *k, v);
}

int main(void) {
    uint32_t s = 12345u;
    uint32_t exp_bad = 0, exp_n = 0, qm_bad = 0, qm_n = 0;
    for (int bits = 0; bits <= 30; bits++) {
        for (int i = 0; i < 4000; i++) {
            int32_t a[4], got[4];
            for (int l = 0; l < 4; l++) {
                const uint32_t r = lcg_next(&s);
                a[l] = -(int32_t)(r >> (lcg_next(&s) % 32u));
            }
            if (i == 0) {
                a[0] = 0;
                a[1] = INT32_MIN;
            }
            vstrwq_s32(got, mf_mve_exp_on_negative_values(vldrwq_s32(a), bits));
            for (int l = 0; l < 4; l++) {
                exp_bad += got[l] != mf_fp_exp_on_negative_values(a[l], bits);
                exp_n++;
            }
        }
    }
    for (int i = 0; i < 100000; i++) {
        int32_t x[4], got[4], got4[4], mult[4];
        int8_t shift[4];
        mf_qm_t qm;
        qm.multiplier = (int32_t)(lcg_next(&s) >> 1);
        qm.shift = (int32_t)(lcg_next(&s) % 44u) - 31;
        for (int l = 0; l < 4; l++) {
            x[l] = (int32_t)lcg_next(&s);
            mult[l] = qm.multiplier;
            shift[l] = (int8_t)qm.shift;
        }
        if (i < 4) {
            x[i] = INT32_MIN;
        }
        const mf_qmx_t q = mf_qmx(qm);
        const mf_mve_qm4_t q4 = mf_mve_qm4(mult, shift, 1, 4);
        vstrwq_s32(got, mf_mve_mul_by_qmx(vldrwq_s32(x), &q));
        vstrwq_s32(got4, mf_mve_mul_by_qm4(vldrwq_s32(x), &q4));
        for (int l = 0; l < 4; l++) {
            const int32_t want = mf_mul_by_qm(x[l], qm.multiplier, qm.shift);
            qm_bad += (got[l] != want) + (got4[l] != want);
            qm_n += 2;
        }
    }
    uint32_t sig_bad = 0, sig_n = 0;
    for (int32_t base = -32768; base < 32768; base += 4) {
        const int32_t a[4] = {base, base + 1, base + 2, base + 3};
        sig_bad += sigmoid_bad(a);
        sig_n += 8;
    }
    /* Steps of 4093 from INT32_MIN, four to a group: 262,336 groups, up to INT32_MAX - 6,396. */
    for (int64_t base = INT32_MIN; base + 3 * 4093 <= INT32_MAX; base += 4 * 4093) {
        const int32_t a[4] = {(int32_t)base, (int32_t)(base + 4093), (int32_t)(base + 2 * 4093),
                              (int32_t)(base + 3 * 4093)};
        sig_bad += sigmoid_bad(a);
        sig_n += 8;
    }
    {
        const int32_t a[4] = {INT32_MIN, INT32_MIN + 1, INT32_MAX - 1, INT32_MAX};
        sig_bad += sigmoid_bad(a);
        sig_n += 8;
    }
    char buf[128] = "MVECHECK";
    size_t k = 8;
    put(buf, &k, exp_bad);
    put(buf, &k, exp_n);
    put(buf, &k, qm_bad);
    put(buf, &k, qm_n);
    put(buf, &k, sig_bad);
    put(buf, &k, sig_n);
    buf[k++] = '\n';
    buf[k] = '\0';
    bench_write(buf);
    bench_write("END\n");
    return 0;
}
