"""Engine vs TFLM on the zoo models, measured in one run on this machine.

    python benchmarks/engine_vs_tflm.py [--invokes N] [--models a,b]

Prints per model: identical (engine output == oracle output on random inputs), latency
ratio engine/TFLM (median of interleaved invokes in this one process), and arena ratio
engine / TFLM's smallest working arena (found by bisection). Ratios < 1 favour the engine.
Models with GELU have no TFLM kernel: their parity is checked against TFLite's reference
kernels and their TFLM ratios are n/a.
"""
import argparse
import os
import pathlib
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "engine"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _uformer  # noqa: E402
import oracle  # noqa: E402
import zoo  # noqa: E402


def tflm_min_arena(model, hi=4 << 20):
    """Smallest arena (bytes, 16-byte resolution) with which TFLM allocates the model."""
    from tflite_micro.python.tflite_micro import runtime

    def ok(n):
        try:
            runtime.Interpreter.from_bytes(model, arena_size=n)
            return True
        except RuntimeError:
            return False

    lo = 0
    if not ok(hi):
        return None
    while hi - lo > 16:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def latency(model, invokes, rng):
    """Median µs per invoke for engine and TFLM, interleaved so both see the same load."""
    m = _uformer.Model(model)
    ip = oracle.tflm_interpreter(model)
    x = oracle.random_inputs(model, rng)
    oracle.run_engine(model, x, model=m)
    oracle.run_tflm(model, x, interp=ip)
    te, tt = [], []
    for _ in range(invokes):
        t0 = time.perf_counter_ns()
        m.invoke()
        t1 = time.perf_counter_ns()
        ip.invoke()
        t2 = time.perf_counter_ns()
        te.append(t1 - t0)
        tt.append(t2 - t1)
    return statistics.median(te) / 1e3, statistics.median(tt) / 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--invokes", type=int, default=200)
    ap.add_argument("--models", default=",".join(zoo.MODELS))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    hdr = f"{'model':20} {'identical':9} {'engine µs':>10} {'TFLM µs':>9} {'latency':>8} {'engine B':>9} {'TFLM B':>8} {'arena':>6}"
    print(hdr)
    print("-" * len(hdr))
    for name in args.models.split(","):
        model = zoo.get(name)
        has_gelu = "GELU" in _uformer.Model(model).ops
        try:
            for _ in range(8):
                oracle.assert_identical(model, oracle.random_inputs(model, rng),
                                        oracle="tflite_ref" if has_gelu else "tflm")
            same = "yes"
        except AssertionError:
            same = "NO"
        arena = _uformer.arena_size(model)
        if has_gelu:
            print(f"{name:20} {same:9} {'n/a':>10} {'n/a':>9} {'n/a':>8} {arena:9d} {'n/a':>8} {'n/a':>6}")
            continue
        e_us, t_us = latency(model, args.invokes, rng)
        tflm_arena = tflm_min_arena(model)
        rows.append((name, e_us / t_us, arena / tflm_arena))
        print(f"{name:20} {same:9} {e_us:10.1f} {t_us:9.1f} {e_us / t_us:8.2f} {arena:9d} {tflm_arena:8d} {arena / tflm_arena:6.2f}")
    tf_rows = [r for r in rows if r[0] in zoo.TRANSFORMERS]
    if tf_rows:
        print(f"\ntransformers: worst latency ratio {max(r[1] for r in tf_rows):.2f} (target <= 0.5), "
              f"worst arena ratio {max(r[2] for r in tf_rows):.2f} (target <= 0.6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
