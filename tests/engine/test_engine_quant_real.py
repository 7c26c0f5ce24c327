"""mf_real_t (cmodule/engine/mf_quant.c), the integer stand-in for the doubles of TFLite's
prepare code, against native double arithmetic: every result bit for bit.

A C harness (below) is built with the host compiler together with mf_quant.c and runs
millions of random operands through mf_real mul / div / add / |sub| / from_float /
frexp_q31 / log2 / pow2 / compare, mf_quantize_multiplier (also as the ops chain it:
a * b / c, the ADD ratios), mf_preprocess_softmax_scaling, mf_calculate_input_radius,
mf_udiv_shl and the FULLY_CONNECTED bias-scale test, each against the same expression
in double. Operands cover floats over the whole exponent range, float subnormals,
full 53-bit mantissas, all-ones mantissas, powers of two, products and sums that land
exactly on rounding ties (counted: the run fails if too few ties were drawn), division
near-ties, exponent gaps of 0..70 bits in add/sub, and the 2^31 carry of
QuantizeMultiplier. The harness must also be able to fail: one flipped bit per
operation, a round-upward reference and a ties-away reference are each reported as
mismatches.
"""
import os
import subprocess

import pytest

import extbuild

CASES = 2_000_000  # per operation and operand class: ~30M checks per build variant

HARNESS = r"""
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_quant.h"
""" + extbuild.SPLITMIX64_C + r"""static uint64_t dbits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }
static double bitsd(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* mode: 0 exact check, 1 flip one result bit per op, 2 reference rounds upward,
 * 3 reference rounds ties away from zero (mul and add only). */
static int mode;
static long n_cases;
static long mism;       /* per op, reset by op_begin */
static long ties;
static long total_mism;
static const char *op_name;
static long op_index;

static void op_begin(const char *name) { op_name = name; mism = 0; ties = 0; op_index = 0; }
static void op_end(void) {
    printf("%s %ld %ld %ld\n", op_name, op_index, ties, mism);
    total_mism += mism;
}
/* got: the engine's result (bits); want: the double reference (bits). */
static void check(uint64_t got, uint64_t want, double x, double y) {
    if (mode == 1 && op_index == n_cases / 2) {
        got ^= 1;
    }
    if (got != want) {
        if (mism < 5) {
            fprintf(stderr, "%s #%ld: x=%a y=%a engine %016llx (%a) double %016llx (%a)\n", op_name, op_index,
                x, y, (unsigned long long)got, bitsd(got), (unsigned long long)want, bitsd(want));
        }
        mism++;
    }
    op_index++;
}

/* ---- operands ---- */
/* A positive finite float over the whole range: subnormals, all-ones mantissas, powers of two. */
static float rnd_float(void) {
    uint64_t r = rnd();
    uint32_t frac = (uint32_t)r & 0x7fffff;
    uint32_t be = (uint32_t)(r >> 23) % 255;  /* 0 .. 254 */
    switch ((r >> 40) & 15) {
        case 0: be = 0; break;                  /* subnormal */
        case 1: frac = 0x7fffff; break;         /* all ones */
        case 2: frac = 0; if (be == 0) be = 1; break;  /* power of two */
        case 3: frac = (uint32_t)(r >> 44) & 0xff; break;  /* few bits */
        default: break;
    }
    if (be == 0 && frac == 0) {
        frac = 1;                               /* the smallest subnormal */
    }
    return bitsf((be << 23) | frac);
}
/* A positive normal double with a full random 53-bit mantissa, exponent within 2^+-300. */
static double rnd_double(void) {
    uint64_t r = rnd(), e = 1023 - 300 + rnd() % 601;
    uint64_t frac = r & ((1ull << 52) - 1);
    switch (r >> 60) {
        case 0: frac = (1ull << 52) - 1; break;
        case 1: frac = 0; break;
        case 2: frac &= 0xff00000000000ull; break;
        default: break;
    }
    return bitsd((e << 52) | frac);
}
static mf_real_t R(double d) { return dbits(d); }

/* ---- double references ---- */
static void ref_qm(double real, int32_t *m, int *s) {  /* QuantizeMultiplier */
    if (real == 0.) { *m = 0; *s = 0; return; }
    double q = frexp(real, s);
    int64_t q_fixed = (int64_t)round(q * (double)(1ll << 31));
    if (q_fixed == (1ll << 31)) { q_fixed /= 2; ++*s; }
    if (*s < -31) { *s = 0; q_fixed = 0; }
#ifdef MF_SINGLE_ROUNDING
    if (*s > 30) { *s = 30; q_fixed = (1ll << 31) - 1; }
#endif
    *m = (int32_t)q_fixed;
}
static void check_qm(mf_real_t x, double d) {
    int32_t m; int s;
    ref_qm(d, &m, &s);
    mf_qm_t q = mf_quantize_multiplier(x);
    check(((uint64_t)(uint32_t)q.multiplier << 32) | (uint32_t)q.shift, ((uint64_t)(uint32_t)m << 32) | (uint32_t)s, d, 0);
}
/* mode 2: IEEE round upward; mode 3: ties away from zero (positive operands). */
static double ref_mul(double a, double b) {
    if (mode == 2) { fesetround(FE_UPWARD); volatile double p = a * b; fesetround(FE_TONEAREST); return p; }
    double p = a * b, err = fma(a, b, -p);
    if (err != 0 && fabs(err) == ldexp(1, ilogb(p) - 53)) {
        ties++;
        if (mode == 3 && err > 0) p = nextafter(p, INFINITY);
    }
    return p;
}
static double ref_div(double a, double b) {
    if (mode == 2) { fesetround(FE_UPWARD); volatile double q = a / b; fesetround(FE_TONEAREST); return q; }
    return a / b;
}
static double ref_add(double a, double b, int sub) {
    if (mode == 2) {
        fesetround(FE_UPWARD);
        volatile double s = sub ? fabs(a - b) : a + b;
        fesetround(FE_TONEAREST);
        return s;
    }
    double s = sub ? a - b : a + b;
    /* TwoSum: the exact rounding error of s. */
    double bb = s - a, err = (a - (s - bb)) + ((sub ? -b : b) - bb);
    if (err != 0 && fabs(err) == ldexp(1, ilogb(s) - 53)) {
        ties++;
        if (mode == 3 && !sub && err > 0) s = nextafter(s, INFINITY);
    }
    return sub ? fabs(s) : s;
}

static double tie_operand(void) {  /* an odd 27-bit integer times a power of two */
    return ldexp((double)((rnd() & ((1u << 26) - 1)) | (1u << 26) | 1), (int)(rnd() % 200) - 100);
}

int main(int argc, char **argv) {
    (void)argc;
    rng_state = strtoull(argv[1], NULL, 10);
    n_cases = atol(argv[2]);
    mode = atoi(argv[3]);

    op_begin("from_float");
    for (long i = 0; i < n_cases; i++) {
        float f = i % 7 == 0 ? -rnd_float() : rnd_float();
        check(mf_real_from_float(f), dbits(fabs((double)f)), f, 0);
    }
    check(mf_real_from_float(0.0f), 0, 0, 0);
    check(mf_real_from_float(-0.0f), 0, 0, 0);
    check(mf_real_from_float(INFINITY), mf_real_pow2(600), INFINITY, 0);
    check(mf_real_from_float(NAN) > mf_real_from_float(3.40282347e38f), 1, NAN, 0);
    op_end();

    op_begin("pow2_log2_cmp");
    for (int k = -1022; k <= 1023; k++) {
        check(mf_real_pow2(k), dbits(ldexp(1, k)), k, 0);
    }
    for (long i = 0; i < n_cases; i++) {
        double a = i & 1 ? rnd_double() : (double)rnd_float(), b = i & 2 ? rnd_double() : nextafter(a, i & 4 ? 0 : 1e300);
        int e;
        frexp(a, &e);
        check((uint64_t)(int64_t)mf_real_log2(R(a)), (uint64_t)(int64_t)(e - 1), a, 0);
        check((R(a) < R(b)) | (R(a) == R(b)) << 1, (a < b) | (a == b) << 1, a, b);
    }
    op_end();

    /* mul: random floats, random doubles, exact ties, zero. */
    static const char *names[3] = { "mul_float", "mul_double", "mul_ties" };
    for (int kind = 0; kind < 3; kind++) {
        op_begin(names[kind]);
        for (long i = 0; i < n_cases; i++) {
            double a, b;
            if (kind == 0) { a = rnd_float(); b = rnd_float(); }
            else if (kind == 1) { a = rnd_double(); b = rnd_double(); }
            else { a = tie_operand(); b = tie_operand(); }
            if (i % 1000 == 999) a = 0;
            check(mf_real_mul(R(a), R(b)), dbits(ref_mul(a, b)), a, b);
        }
        op_end();
    }

    /* div: random floats (any ratio), random doubles, exact quotients, near-ties. */
    static const char *dnames[3] = { "div_float", "div_double", "div_near_ties" };
    for (int kind = 0; kind < 3; kind++) {
        op_begin(dnames[kind]);
        for (long i = 0; i < n_cases; i++) {
            double a, b;
            if (kind == 0) { a = rnd_float(); b = rnd_float(); }
            else if (kind == 1) { a = rnd_double(); b = rnd_double(); }
            else {
                /* b small odd, a = b * (54-bit odd t) rounded: a / b lies within about one
                 * unit of a rounding tie t / 2^54; or a exact multiple (exact quotient). */
                b = (double)(2 * (rnd() % 16) + 1);
                uint64_t t = (rnd() >> 10) | (1ull << 53) | 1;
                a = ldexp((double)t * b, (int)(rnd() % 100) - 60);
                if (i & 1) a = ldexp((double)((rnd() >> 12) | 1) * b, -20);
                b = ldexp(b, (int)(rnd() % 40) - 20);
            }
            if (i % 1000 == 999) a = 0;
            check(mf_real_div(R(a), R(b)), dbits(ref_div(a, b)), a, b);
        }
        op_end();
    }

    /* add and |sub|: exponent gaps 0..70, ties at the half ulp, cancellation. */
    for (int sub = 0; sub < 2; sub++) {
        op_begin(sub ? "sub" : "add");
        for (long i = 0; i < n_cases; i++) {
            double a = rnd_double(), b;
            int gap = (int)(rnd() % 71);
            switch (i % 4) {
                case 0: b = rnd_double(); b = ldexp(b, ilogb(a) - gap - ilogb(b)); break;
                case 1: {  /* lowest bit of b at a's half ulp: a tie unless the sum renormalises */
                    double odd = (double)((rnd() >> (11 + rnd() % 52)) | 1);
                    b = ldexp(odd, ilogb(a) - 53);
                    break;
                }
                case 2: b = bitsd(dbits(a) + (rnd() % 5) - 2); break;  /* cancellation */
                default: b = (double)rnd_float(); a = (double)rnd_float(); break;
            }
            if (i % 1000 == 999) b = 0;
            if (i % 1000 == 998) a = 0;
            if (i & 8) { double t = a; a = b; b = t; }
            check(mf_real_addsub(R(a), R(b), sub), dbits(ref_add(a, b, sub)), a, b);
        }
        op_end();
    }

    /* frexp then round(q * 2^31), and QuantizeMultiplier, on every kind of value. */
    op_begin("quantize_multiplier");
    for (long i = 0; i < n_cases; i++) {
        double d;
        switch (i % 6) {
            case 0: d = rnd_float(); break;
            case 1: d = rnd_double(); break;
            case 2: d = ldexp(1.0 - ldexp((double)(rnd() % 1024), -53), (int)(rnd() % 80) - 40); break;  /* 2^31 carry */
            case 3: d = ldexp(0.5 + (double)(rnd() >> 12) * 0x1p-53, -29 - (int)(rnd() % 5)); break;  /* shift -31 edge */
            case 4: d = ldexp((double)((rnd() >> 11) | 1), -52 + (int)(rnd() % 70)); break;  /* shifts up to 70 */
            default: d = 0; break;
        }
        int e;
        uint32_t q = mf_real_frexp_q31(R(d), &e);
        int re = 0;
        double rq = d == 0 ? 0 : frexp(d, &re);
        check(((uint64_t)q << 32) | (uint32_t)e, ((uint64_t)(uint32_t)(int64_t)round(rq * 2147483648.0) << 32) | (uint32_t)re, d, 0);
        check_qm(R(d), d);
    }
    op_end();

    /* The prepare chains: QuantizeMultiplier(s1 * s2 / s3) of floats, the ADD ratios
     * s / (2 * max) and 2 * max / (2^20 * s_out), SQUARED_DIFFERENCE's (2 max)^2 / x. */
    op_begin("chains");
    for (long i = 0; i < n_cases; i++) {
        float s1 = rnd_float(), s2 = rnd_float(), s3 = rnd_float();
        if (i & 1) { s1 = ldexp(s1, -ilogb(s1) - 8); s2 = ldexp(s2, -ilogb(s2) - 8); s3 = ldexp(s3, -ilogb(s3) - 16); }
        mf_real_t r1 = mf_real_from_float(s1), r2 = mf_real_from_float(s2), r3 = mf_real_from_float(s3);
        double prod = (double)s1 * (double)s2;
        check_qm(mf_real_div(mf_real_mul(r1, r2), r3), prod / (double)s3);
        float smax = s1 < s2 ? s2 : s1;
        mf_real_t twice = mf_real_mul(mf_real_pow2(1), mf_real_from_float(smax));
        double dtwice = 2.0 * (double)smax;
        check_qm(mf_real_div(r1, twice), (double)s1 / dtwice);
        check_qm(mf_real_div(twice, mf_real_mul(mf_real_pow2(20), r3)), dtwice / ((double)(1 << 20) * (double)s3));
        check(mf_real_div(mf_real_mul(twice, twice), r3), dbits((dtwice * dtwice) / (double)s3), dtwice, s3);
    }
    op_end();

    /* FULLY_CONNECTED: std::abs(prod - bias_scale) / out_scale <= 0.02 near the boundary,
     * with negative, zero, infinite and NaN bias scales. */
    op_begin("fc_bias_check");
    long accepted = 0;
    for (long i = 0; i < n_cases; i++) {
        float si = rnd_float(), sw = rnd_float(), so = rnd_float();
        if (i & 1) { si = ldexp(si, -ilogb(si) - 8); sw = ldexp(sw, -ilogb(sw) - 8); so = ldexp(so, -ilogb(so) - 10); }
        double prod = (double)si * (double)sw;
        float bs = (float)(prod + ((i & 2) ? 0.02 : -0.02) * (double)so);
        uint32_t u; memcpy(&u, &bs, 4);
        if (isfinite(bs)) { u += (uint32_t)(rnd() % 9) - 4; memcpy(&bs, &u, 4); }
        switch (i % 50) {
            case 0: bs = -bs; break;
            case 1: bs = 0; break;
            case 2: bs = INFINITY; break;
            case 3: bs = NAN; break;
            case 4: bs = -INFINITY; break;
            default: break;
        }
        double diff = (double)si * (double)sw - (double)bs;
        if (diff < 0) diff = -diff;
        int want = diff / (double)so <= 0.02;
        mf_real_t p = mf_real_mul(mf_real_from_float(si), mf_real_from_float(sw));
        int got = mf_real_div(mf_real_addsub(p, mf_real_from_float(bs), !(bs < 0.0f)), mf_real_from_float(so)) <=
            0x3F947AE147AE147Bu;
        accepted += want;
        check((uint64_t)got, (uint64_t)want, prod, bs);
    }
    check(0x3F947AE147AE147Bu, dbits(0.02), 0.02, 0);
    op_end();
    printf("fc_accepted %ld\n", accepted);

    /* PreprocessSoftmaxScaling with any beta, CalculateInputRadius, (x << sh) / n. */
    op_begin("softmax_radius_udiv");
    for (long i = 0; i < n_cases; i++) {
        float beta = rnd_float(), scale = rnd_float();
        switch (i % 16) {
            case 0: beta = -beta; break;
            case 1: beta = 0; break;
            case 2: beta = INFINITY; break;
            case 3: beta = NAN; break;
            case 4: beta = ldexp(1.0f, (int)(rnd() % 40)); scale = ldexp(1.0f, -(int)(rnd() % 64)); break;
            default: if (i & 16) { beta = ldexp(beta, -ilogb(beta)); scale = ldexp(scale, -ilogb(scale) - (int)(rnd() % 40)); } break;
        }
        int ib = 1 + (int)(rnd() % 30);
#ifdef MF_SINGLE_ROUNDING
        double max_real = (double)((1ll << 30) - 1);
#else
        double max_real = (double)((1ll << 31) - 1);
#endif
        double real = (double)beta * (double)scale * (double)(1ll << (31 - ib));
        if (max_real < real) real = max_real;
        int32_t m = 0; int s = 0;
        if (real > 1.0) ref_qm(real, &m, &s);
        mf_qm_t q = mf_preprocess_softmax_scaling(beta, scale, ib);
        check(((uint64_t)(uint32_t)q.multiplier << 32) | (uint32_t)q.shift, ((uint64_t)(uint32_t)m << 32) | (uint32_t)s, beta, scale);

        int rib = (int)(rnd() % 31), ls = (int)(rnd() % 63);
        double r = 1.0 * (double)((1 << rib) - 1) * (double)(1ll << (31 - rib)) / (double)(1ll << ls);
        check((uint64_t)(uint32_t)mf_calculate_input_radius(rib, ls, 31), (uint64_t)(uint32_t)(int64_t)r, rib, ls);

        uint32_t n = (uint32_t)(rnd() % 0x7fffffffu) + 1, x = (uint32_t)rnd();
        if (i & 1) n = (uint32_t)(rnd() % 100000) + 1;
        int lg = 0;
        while ((n >> (lg + 1)) != 0) lg++;
        int sh = (int)(rnd() % (unsigned)(lg + 1));  /* 2^sh <= n: the quotient fits 32 bits */
        check(mf_udiv_shl(x, sh, n), ((uint64_t)x << sh) / n, x, n);
    }
    op_end();

    /* op_pool: float |ds| <= 1.0e-6f decides as double |ds| <= 1e-6. */
    op_begin("pool_1e-6");
    {
        float c = 1.0e-6f;
        uint32_t u;
        memcpy(&u, &c, 4);
        for (uint32_t k = u - (1u << 20); k < u + (1u << 20); k++) {
            float f = bitsf(k);
            check((uint64_t)(f <= 1.0e-6f), (uint64_t)((double)f <= 1.0e-6), f, 0);
        }
    }
    op_end();

    printf("total %ld\n", total_mism);
    return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    # Strict IEEE double on the host: no FMA contraction, no x87 excess precision, and the
    # rounding-mode switches of the mutant reference are honoured.
    strict = ["-ffp-contract=off", "-frounding-math", "-fno-fast-math"]
    if os.uname().machine in ("i386", "i686"):
        strict += ["-mfpmath=sse", "-msse2"]
    return extbuild.quant_harnesses(tmp_path_factory.mktemp("quant_real"), HARNESS,
                                    {"default": [], "single": ["-DMF_SINGLE_ROUNDING"]}, strict)


def run(exe, mode, cases=CASES, seed=20261121):
    r = subprocess.run([str(exe), str(seed), str(cases), str(mode)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    ops = {}
    extra = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            ops[parts[0]] = {"cases": int(parts[1]), "ties": int(parts[2]), "mismatches": int(parts[3])}
        else:
            extra[parts[0]] = int(parts[1])
    return ops, extra, r.stderr


@pytest.mark.parametrize("variant", ["default", "single"])
def test_bit_identical_to_double(harness, variant):
    ops, extra, err = run(harness[variant], 0)
    bad = {k: v for k, v in ops.items() if v["mismatches"]}
    assert not bad, f"mf_real differs from double: {bad}\n{err}"
    assert extra["total"] == 0
    # The draws really contain what the docstring promises.
    assert ops["mul_ties"]["ties"] > CASES // 3, ops["mul_ties"]
    assert ops["add"]["ties"] > CASES // 10, ops["add"]
    assert ops["sub"]["ties"] > CASES // 20, ops["sub"]
    assert sum(v["cases"] for v in ops.values()) > 10 * CASES
    # Both outcomes of the bias-scale test occur near its boundary.
    assert CASES // 10 < extra["fc_accepted"] < CASES - CASES // 10


def test_harness_notices_one_flipped_bit(harness):
    ops, extra, _ = run(harness["default"], 1, cases=20_000)
    # Exactly the one result flipped per operation is reported, nothing else.
    assert {k: v["mismatches"] for k, v in ops.items()} == {k: 1 for k in ops}


def test_harness_notices_wrong_rounding(harness):
    # A reference that rounds upward differs wherever the result is inexact (products of
    # two floats are exact in double: none there) ...
    ops, _, _ = run(harness["default"], 2, cases=20_000)
    assert ops["mul_float"]["mismatches"] == 0, ops["mul_float"]
    for name in ("mul_double", "mul_ties", "div_float", "div_double", "div_near_ties", "add", "sub"):
        assert ops[name]["mismatches"] > 1000, (name, ops[name])
    # ... and one that rounds ties away from zero differs exactly on the ties that
    # round-to-nearest-even rounds down: the tie cases are real and checked.
    ops, _, _ = run(harness["default"], 3, cases=20_000)
    assert ops["mul_ties"]["mismatches"] > 1000, ops["mul_ties"]
    assert ops["add"]["mismatches"] > 100, ops["add"]
