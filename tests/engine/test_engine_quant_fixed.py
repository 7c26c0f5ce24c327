"""mf_mul_by_qmx and mf_mul_by_qm_shl20 (cmodule/engine/mf_quant.h), the rewritten forms of
MultiplyByQuantizedMultiplier that the kernels' inner loops use, against gemmlowp's own
SaturatingRoundingDoublingHighMul + RoundingDivideByPOT (nudge, truncating division,
mask/threshold: written out below as TFLM has them) and against TFLM's single-rounding
form: every result bit for bit.

Each form is built with the host compiler three ways: MF_QMX_WIDE=1 (64-bit hosts: the two
roundings one after the other), MF_QMX_WIDE=0 (what every 32-bit core runs: both floors
nested into one high word) and MF_SINGLE_ROUNDING. Operands: every shift in [-31, 30],
multipliers 0, 2^30, 2^31 - 1 and random ones in [2^30, 2^31), inputs over the whole int32
range, small inputs of every magnitude, the int32 edges, and inputs built to land exactly on
a rounding tie of the doubling high multiply and of the division by 2^e (counted: the run
fails if too few ties were drawn). The harness must also be able to fail: a reference that
rounds the division's negative ties up instead of away from zero, and one result bit
flipped per form, are each reported as mismatches.
"""
import subprocess

import pytest

import extbuild

CASES = 100_000  # per shift and operand class: ~25M checks per form and build

HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mf_quant.h"
""" + extbuild.SPLITMIX64_C + r"""
/* mode: 0 exact, 1 the reference rounds negative ties of the division up, 2 flip one
 * result bit per form. */
static int mode;

/* gemmlowp::SaturatingRoundingDoublingHighMul, as written there. */
static int32_t ref_srdhm(int32_t a, int32_t b) {
    const int overflow = a == b && a == INT32_MIN;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    const int32_t r = (int32_t)((ab + nudge) / ((int64_t)1 << 31));
    return overflow ? INT32_MAX : r;
}

/* gemmlowp::RoundingDivideByPOT, as written there. */
static int32_t ref_rdbp(int32_t x, int e) {
    const int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
    const int32_t rem = x & mask;
    const int32_t thr = (mask >> 1) + (mode == 1 ? 0 : (x < 0));
    return (x >> e) + (rem > thr);
}

static int32_t ref_mbqm(int32_t x, int32_t m, int shift) {
#ifdef MF_SINGLE_ROUNDING
    /* TFLM's single-rounding MultiplyByQuantizedMultiplier. */
    const int64_t total = 31 - shift;
    int64_t r = (int64_t)x * m + ((int64_t)1 << (total - 1));
    if (mode == 1 && x < 0 && (((int64_t)x * m) & (((int64_t)1 << total) - 1)) == ((int64_t)1 << (total - 1))) {
        r -= 1;
    }
    return (int32_t)(r >> total);
#else
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return ref_rdbp(ref_srdhm((int32_t)((uint32_t)x << left), m), right);
#endif
}

static long cases, mism, ties_h, ties_d, flips;

static void check(const char *form, int32_t got, int32_t want, int32_t x, int32_t m, int shift) {
    ++cases;
    if (mode == 2 && cases == flips) {
        got ^= 1 << (cases % 31);
    }
    if (got != want) {
        if (mism < 5) {
            fprintf(stderr, "%s x=%ld m=%ld shift=%d: got %ld, want %ld\n", form, (long)x, (long)m, shift,
                (long)got, (long)want);
        }
        ++mism;
    }
}

/* Counts the ties this operand meets in the reference's two roundings. */
static void count_ties(int32_t x, int32_t m, int shift) {
    if (shift > 0) {
        return;
    }
    const int64_t ab = (int64_t)x * m;
    if ((ab & (((int64_t)1 << 31) - 1)) == ((int64_t)1 << 30)) {
        ++ties_h;
    }
    const int32_t h = ref_srdhm(x, m);
    if (shift < 0 && (h & (int32_t)(((int64_t)1 << -shift) - 1)) == (int32_t)((int64_t)1 << (-shift - 1))) {
        ++ties_d;
    }
}

static int32_t draw_x(int cls, int shift) {
    static const int32_t edges[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1,
        1 << 30, -(1 << 30), (1 << 30) - 1, -(1 << 30) - 1, 65025, -65025};
    const uint64_t r = rnd();
    switch (cls) {
        case 0:
            return (int32_t)(uint32_t)(r >> 32);
        case 1: {
            const int32_t lim = (int32_t)(1u << ((r >> 58) % 31));
            return (int32_t)((r >> 16) % ((uint64_t)2 * (uint64_t)lim + 1)) - lim;
        }
        case 2:
            return edges[(r >> 40) % (sizeof edges / sizeof edges[0])];
        default: {
            /* With m = 2^30 the doubling high multiply of an odd x is a tie, and of
             * x = 2h it is h: h = k * 2^e + 2^(e-1) is a tie of the division. */
            const int e = shift < 0 ? -shift : 1;
            const int64_t span = ((int64_t)1 << 30) >> (e - 1);
            const int64_t k = (int64_t)((r >> 20) % (uint64_t)(2 * span + 1)) - span;
            int64_t h = k * ((int64_t)1 << e) + ((int64_t)1 << (e - 1));
            int64_t v = 2 * h + (int64_t)((r >> 8) % 3) - 1;
            if (v > INT32_MAX) v = INT32_MAX;
            if (v < INT32_MIN) v = INT32_MIN;
            return (int32_t)v;
        }
    }
}

int main(int argc, char **argv) {
    rng_state = strtoull(argv[1], NULL, 10);
    const long n = atol(argv[2]);
    mode = atoi(argv[3]);
    flips = n / 2;
    for (int form = 0; form < 2; ++form) {
        cases = mism = ties_h = ties_d = 0;
        for (int shift = -31; shift <= 30; ++shift) {
            for (int cls = 0; cls < 4; ++cls) {
                for (long i = 0; i < n; ++i) {
                    const uint64_t r = rnd();
                    int32_t m = (int32_t)((1u << 30) | (uint32_t)(r & 0x3fffffff));
                    if (cls == 3 || (r >> 60) == 0) {
                        m = 1 << 30;
                    } else if ((r >> 60) == 1) {
                        m = INT32_MAX;
                    } else if ((r >> 60) == 2) {
                        m = 0;
                    }
                    const int32_t x = draw_x(cls, shift);
                    mf_qm_t qm;
                    qm.multiplier = m;
                    qm.shift = shift;
                    if (form == 0) {
                        const mf_qmx_t q = mf_qmx(qm);
                        count_ties(x, m, shift);
                        check("mf_mul_by_qmx", mf_mul_by_qmx(x, &q), ref_mbqm(x, m, shift), x, m, shift);
                    } else if (shift <= 0) {
                        /* The ADD / SUB input stage: |v| <= 255, times 2^20. */
                        const int32_t v = (int32_t)(rnd() % 511) - 255;
                        const mf_qm_shl20_t q = mf_qm_shl20(qm);
                        check("mf_mul_by_qm_shl20", mf_mul_by_qm_shl20(v, &q), ref_mbqm(v * (1 << 20), m, shift), v, m,
                            shift);
                    }
                }
            }
        }
        printf("%s %ld %ld %ld %ld\n", form == 0 ? "qmx" : "shl20", cases, ties_h, ties_d, mism);
    }
    return 0;
}
"""

BUILDS = {"wide": ["-DMF_QMX_WIDE=1"], "narrow": ["-DMF_QMX_WIDE=0"], "single": ["-DMF_SINGLE_ROUNDING"]}


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    return extbuild.quant_harnesses(tmp_path_factory.mktemp("quant_fixed"), HARNESS, BUILDS, ["-fwrapv"])


def run(exe, mode, cases=CASES, seed=20261207):
    r = subprocess.run([str(exe), str(seed), str(cases), str(mode)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        name, n, ties_h, ties_d, mism = line.split()
        out[name] = dict(cases=int(n), ties_h=int(ties_h), ties_d=int(ties_d), mismatches=int(mism))
    return out, r.stderr


@pytest.mark.parametrize("build", list(BUILDS))
def test_equals_gemmlowp_and_tflm(harness, build):
    out, err = run(harness[build], 0)
    assert {k: v["mismatches"] for k, v in out.items()} == {"qmx": 0, "shl20": 0}, err
    assert out["qmx"]["cases"] == 62 * 4 * CASES
    # The draws really contain ties of both roundings (the tie class is a quarter).
    assert out["qmx"]["ties_h"] > 32 * CASES // 2, out
    assert out["qmx"]["ties_d"] > 31 * CASES // 3, out


def test_harness_notices_wrong_rounding(harness):
    for build in BUILDS:
        out, _ = run(harness[build], 1, cases=2_000)
        assert out["qmx"]["mismatches"] > 1000, (build, out)


def test_harness_notices_one_flipped_bit(harness):
    out, _ = run(harness["narrow"], 2, cases=2_000)
    assert {k: v["mismatches"] for k, v in out.items()} == {"qmx": 1, "shl20": 1}, out
