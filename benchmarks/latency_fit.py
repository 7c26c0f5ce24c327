"""Fits the latency model of `microformer tune` on instruction counts measured on QEMU_M4,
and measures the per-op flash table; writes both to host/microformer/board_costs.py.

    python benchmarks/latency_fit.py                       # re-fit from the stored counts
    MICROPY_DIR=~/micropython python benchmarks/latency_fit.py --measure [--firmware ELF]
    python benchmarks/latency_fit.py --flash               # per-op flash (arm-none-eabi-gcc)
    python benchmarks/latency_fit.py --check a.tflite b.tflite --firmware ELF  # your models

--measure builds a corpus of microformer models (models.build_model over a spread of
architectures, sizes, attention kinds and window shapes; untrained weights, random
calibration: instruction counts depend on shapes, not on weights, except for a few
data-dependent branches) plus the engine zoo's CNN and MLP, runs each on the emulated
board (qemu -icount shift=0: time.ticks_us() counts thousands of instructions), checks its
outputs byte for byte against the CPython _uformer, and stores the counts in
benchmarks/latency_measured.json. The fit is a least-squares fit of instructions per
feature (host/microformer/latency.py FEATURES: MACs per op kind, outputs of MAC ops,
elements of softmax / elementwise / mean / unary / data-movement ops, nodes), weighted by
1/measured so that the relative error is minimised, with non-negative coefficients. It
prints every model's measured and predicted count, the error of the fit and the
leave-one-out error (each model predicted by a fit that did not see it).

--flash compiles the engine (cmodule/engine/unity/mf_unity.c, the QEMU_M4 flags: -Os,
Cortex-M4F, terse errors as --ops-from builds them) with each op alone and links it
against a harness that calls the binding's entry points (--gc-sections, newlib-nano, libm),
so each op's entry is the flash it adds, library code included; `base` is the engine with
no op. Then it checks the table (base + sum of the ops) against direct builds of the op
sets of a transformer and a hybrid and prints the difference.
"""
import argparse
import json
import os
import pathlib
import pprint
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "tests" / "engine"))
sys.path.insert(0, str(ROOT / "tests" / "firmware"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MEASURED = ROOT / "benchmarks" / "latency_measured.json"
COSTS = ROOT / "host" / "microformer" / "board_costs.py"


# ---------------------------------------------------------------- corpus + measurement

def corpus_configs(n=44, seed=7, n_conv=14):
    """(name, config, window, channels, classes): a spread of the models tune builds."""
    rng = np.random.default_rng(seed)
    out = []
    fixed = [
        (dict(), 64, 3, 4),
        (dict(arch="hybrid"), 64, 3, 4),
        (dict(attention="linear"), 64, 3, 4),
        (dict(layers=1, d_model=16, heads=1, ffn=32), 32, 3, 4),
        (dict(layers=3, d_model=48, heads=4, ffn=96), 128, 6, 6),
        (dict(activation="gelu"), 64, 3, 4),
    ]
    for cfg, w, ch, k in fixed:
        out.append(({"arch": "transformer", **cfg}, w, ch, k))
    while len(out) < n:
        arch = "hybrid" if rng.random() < 0.3 else "transformer"
        d = int(rng.choice([8, 16, 24, 32, 48, 64]))
        heads = int(rng.choice([h for h in (1, 2, 4) if d % h == 0 and d // h >= 4]))
        w = int(rng.choice([32, 64, 96, 128]))
        patch = int(rng.choice([p for p in (1, 2, 4, 8) if w // p <= 64 and w // p >= 4]))
        att = str(rng.choice(["full", "full", "local:4", "causal:4", "linear"]))
        cfg = dict(arch=arch, layers=int(rng.integers(1, 4)), d_model=d, heads=heads,
                   ffn=int(rng.choice([16, 32, 64, 128])), attention=att, patch=patch,
                   activation="gelu" if rng.random() < 0.25 else "relu")
        out.append((cfg, w, int(rng.choice([1, 3, 6])), int(rng.choice([2, 4, 8]))))
    # The convformer (Conv1D + BatchNorm stem; train's default architecture since a9e9595).
    rng = np.random.default_rng(seed + 1)
    out.append((dict(arch="convformer"), 64, 3, 4))
    while len(out) < n + n_conv:
        d = int(rng.choice([16, 24, 32, 48, 64]))
        heads = int(rng.choice([h for h in (1, 2, 4) if d % h == 0 and d // h >= 4]))
        w = int(rng.choice([24, 32, 64, 96, 128]))
        patch = int(rng.choice([p for p in (1, 2, 4, 8) if 4 <= w // p <= 64]))
        cfg = dict(arch="convformer", layers=int(rng.integers(1, 3)), d_model=d, heads=heads,
                   ffn=int(rng.choice([16, 32, 64, 128])), patch=patch,
                   attention=str(rng.choice(["full", "full", "local:4", "linear"])))
        out.append((cfg, w, int(rng.choice([1, 3, 6])), int(rng.choice([2, 4, 8]))))
    named = []
    for cfg, w, ch, k in out:
        key = "_".join(f"{a}{b}" for a, b in sorted(cfg.items())).replace(":", "") or "default"
        named.append((f"m{len(named):02d}", cfg, w, ch, k, key))
    return named


def build_corpus(configs):
    from microformer import convert, models

    files = {}
    for name, cfg, w, ch, k, _ in configs:
        c = models.resolve_config(cfg, w, ch, k)
        info = {"labels": [f"c{i}" for i in range(k)], "window": w, "hop": w,
                "channels": [f"x{i}" for i in range(ch)]}
        m = models.build_model(c, [0.0] * ch, [1.0] * ch, info)
        rng = np.random.default_rng(0)
        files[name] = convert.quantize(m, rng.normal(size=(32, w, ch)).astype(np.float32))
    import zoo

    for z in ("cnn", "mlp", "hybrid", "tf_l2_h4_d32_s64"):
        files["zoo_" + z] = zoo.get(z)
    return files


def run_on_qemu(fw, models, invokes, out):
    """{name: (arena, instructions)} of .tflite bytes run on QEMU_M4 (min over `invokes`
    random inputs); a model whose outputs differ from the CPython engine is left out."""
    import _uformer

    import fwutil
    from microformer.firmware import device, qemu, romfs

    files, expected = {}, {}
    for n, b in models.items():
        samples = fwutil.inputs(_uformer, b, samples=invokes)
        files[n + ".tflite"] = b
        files[n + ".in"] = fwutil.pack(samples)
        expected[n] = fwutil.reference(_uformer, b, samples)
    img = pathlib.Path(out) / "latency.romfs"
    img.write_bytes(romfs.build(files))
    # The on-board loop of qemu_instructions.py: RES name ops arena instructions/1000.
    from qemu_instructions import SCRIPT

    code = "import time\n" + SCRIPT.format(names=list(models), invokes=invokes)
    t0 = time.time()
    with qemu.booted("QEMU_M4", fw, romfs=img) as brd:
        text = device.run(brd.pty, code, timeout=3600)
    print(f"ran on QEMU_M4 in {time.time() - t0:.0f} s", file=sys.stderr)
    got, res = {}, {}
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "OUT":
            got.setdefault(f[1], {}).setdefault(int(f[2]), []).append(
                bytes.fromhex(f[4]) if len(f) > 4 else b"")
        elif f and f[0] == "RES":
            n, arena, us = f[1], int(f[3]), int(f[4])
            if [got[n][s] for s in sorted(got.get(n, {}))] != expected[n]:
                print(f"warning: {n}: outputs differ from CPython; not used", file=sys.stderr)
                continue
            res[n] = (arena, us * 1000)
        elif f and f[0] == "FAIL":
            print(f"warning: {' '.join(f[1:])}", file=sys.stderr)
    return res


def _firmware(args, out):
    from microformer.firmware import builder

    if args.firmware:
        return args.firmware
    if not args.micropython:
        sys.exit("latency_fit: set MICROPY_DIR (or --micropython) to build, or pass --firmware")
    return builder.build("QEMU_M4", args.micropython, pathlib.Path(out) / "firmware").firmware


def check(args):
    """Measured vs predicted instructions of the given .tflite files on QEMU_M4."""
    from microformer import latency

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fw = _firmware(args, out)
    models = {f"c{i}": pathlib.Path(p).read_bytes() for i, p in enumerate(args.check)}
    counts = run_on_qemu(fw, models, args.invokes, out)
    print(f"{'model':<40} {'arena':>7} {'measured':>12} {'predicted':>12} {'error':>7}")
    for i, p in enumerate(args.check):
        if f"c{i}" not in counts:
            print(f"{p:<40} not measured")
            continue
        arena, meas = counts[f"c{i}"]
        pred = latency.m4_instructions(models[f"c{i}"])
        print(f"{p:<40} {arena:>7} {meas:>12,} {pred:>12,.0f} {(pred - meas) / meas * 100:>+6.1f}%")


def measure(args):
    from microformer import latency

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fw = _firmware(args, out)
    configs = corpus_configs()
    t0 = time.time()
    models = build_corpus(configs)
    print(f"built {len(models)} models in {time.time() - t0:.0f} s", file=sys.stderr)
    counts = run_on_qemu(fw, models, args.invokes, out)
    rows = []
    cfg_of = {c[0]: c for c in configs}
    for n, (arena, instructions) in counts.items():
        c = cfg_of.get(n)
        rows.append({
            "name": n, "config": c[1] if c else None,
            "shape": {"window": c[2], "channels": c[3], "classes": c[4]} if c else None,
            "arena": arena, "model_bytes": len(models[n]),
            "instructions": instructions,
            "features": latency.features(models[n]),
        })
    doc = {
        "board": "QEMU_M4", "how": "qemu-system-arm -icount shift=0, min over "
        f"{args.invokes} invokes on random int8 inputs, resolution 1000 instructions",
        "firmware": str(fw), "engine_commit": _git_head(), "measured_at": _now(),
        "models": rows,
    }
    MEASURED.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {MEASURED} ({len(rows)} models)", file=sys.stderr)


def _git_head():
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    except OSError:
        return None


def _now():
    return time.strftime("%Y-%m-%d", time.gmtime())


# ---------------------------------------------------------------- fit

def fit_rows(rows, features):
    from scipy.optimize import nnls

    X = np.array([[r["features"][k] for k in features] for r in rows], dtype=np.float64)
    y = np.array([r["instructions"] for r in rows], dtype=np.float64)
    w = 1.0 / y
    # Scale columns for conditioning, fit non-negative, unscale.
    s = np.maximum(np.abs(X).max(axis=0), 1.0)
    coef, _ = nnls((X / s) * w[:, None], y * w)
    return coef / s


def predict(coef, rows, features):
    X = np.array([[r["features"][k] for k in features] for r in rows], dtype=np.float64)
    return X @ coef


def fit(args):
    from microformer import latency

    doc = json.loads(MEASURED.read_text())
    rows = doc["models"]
    feats = latency.FEATURES
    coef = fit_rows(rows, feats)
    pred = predict(coef, rows, feats)
    meas = np.array([r["instructions"] for r in rows], dtype=np.float64)
    err = (pred - meas) / meas
    loo = []
    for i in range(len(rows)):
        c = fit_rows(rows[:i] + rows[i + 1:], feats)
        loo.append((predict(c, [rows[i]], feats)[0] - meas[i]) / meas[i])
    loo = np.array(loo)
    print(f"QEMU_M4 instructions per inference: {len(rows)} models measured "
          f"({doc.get('measured_at')}, engine {doc.get('engine_commit')})")
    print(f"{'model':<20} {'nodes':>5} {'measured':>12} {'predicted':>12} {'error':>7} {'LOO':>7}  config")
    for r, p, e, l in zip(rows, pred, err, loo):
        cfg = ",".join(f"{k}={v}" for k, v in sorted((r.get("config") or {}).items()))
        sh = r.get("shape") or {}
        if sh:
            cfg = f"w{sh['window']}c{sh['channels']}k{sh['classes']} " + cfg
        print(f"{r['name']:<20} {r['features']['nodes']:>5} {r['instructions']:>12,} {p:>12,.0f} "
              f"{e * 100:>+6.1f}% {l * 100:>+6.1f}%  {cfg}")
    print("coefficients (instructions per unit): " +
          ", ".join(f"{k} {v:.3g}" for k, v in zip(feats, coef)))
    stats = {
        "models": len(rows),
        "mean_abs_error": round(float(np.mean(np.abs(err))), 4),
        "max_abs_error": round(float(np.max(np.abs(err))), 4),
        "loo_mean_abs_error": round(float(np.mean(np.abs(loo))), 4),
        "loo_max_abs_error": round(float(np.max(np.abs(loo))), 4),
    }
    print(f"fit error vs measured: mean |error| {stats['mean_abs_error'] * 100:.1f}%, "
          f"max {stats['max_abs_error'] * 100:.1f}%; leave-one-out: mean "
          f"{stats['loo_mean_abs_error'] * 100:.1f}%, max {stats['loo_max_abs_error'] * 100:.1f}%")
    lat = {"board": "QEMU_M4", "unit": "Cortex-M4 instructions",
           "coefficients": {k: float(f"{v:.6g}") for k, v in zip(feats, coef)},
           "intercept": 0.0, "error": stats,
           "measured_at": doc.get("measured_at"), "engine_commit": doc.get("engine_commit"),
           "source": "benchmarks/latency_measured.json"}
    if not args.dry_run:
        write_costs(latency=lat)


# ---------------------------------------------------------------- flash

HARNESS = r"""
#include "mf.h"
void *volatile mf_sink[16];
int main(void) {
    mf_sink[0] = (void *)mf_arena_size; mf_sink[1] = (void *)mf_model_init;
    mf_sink[2] = (void *)mf_invoke; mf_sink[3] = (void *)mf_input; mf_sink[4] = (void *)mf_output;
    mf_sink[5] = (void *)mf_node_op_name; mf_sink[6] = (void *)mf_metadata;
    mf_sink[7] = (void *)mf_supported_op; mf_sink[8] = (void *)mf_tensor_scale;
    mf_sink[9] = (void *)mf_tensor_dim; mf_sink[10] = (void *)mf_arena_used;
    mf_sink[11] = (void *)mf_num_supported_ops; mf_sink[12] = (void *)mf_tensor_zero_point;
    mf_sink[13] = (void *)mf_tensor_data; mf_sink[14] = (void *)mf_tensor_type;
    return 0;
}
"""
EMPTY = "void *volatile mf_sink[16];\nint main(void) { return 0; }\n"
CC = "arm-none-eabi-gcc"
CFLAGS = ["-mthumb", "-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os",
          "-std=gnu99", "-ffunction-sections", "-fdata-sections", "-fno-single-precision-constant",
          "-DMF_TERSE_ERRORS=1"]
LDFLAGS = ["--specs=nano.specs", "--specs=nosys.specs", "-Wl,--gc-sections", "-lm"]


def _engine_hash():
    import hashlib

    h = hashlib.sha256()
    for f in sorted((ROOT / "cmodule" / "engine").rglob("*.[ch]")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _flash_of(tmp, ops, float_ops=(), tag="x", cache=None):
    """text + data of the harness linked with the engine built for `ops`, minus the empty
    program's. cache: {key: bytes} of earlier compiles of the same engine sources."""
    from microformer.firmware import opsconfig

    key = ",".join(sorted(ops)) + "|" + ",".join(sorted(float_ops))
    if cache is not None and key in cache:
        return cache[key]
    d = pathlib.Path(tmp) / tag
    d.mkdir(parents=True, exist_ok=True)
    available = opsconfig.engine_ops(ROOT)
    (d / "mf_ops_config.h").write_text(opsconfig.render(list(ops), available, (), float_ops))
    (d / "h.c").write_text(HARNESS)
    eng = ROOT / "cmodule" / "engine"
    cmd = [CC, *CFLAGS, "-DMF_OPS_CONFIG", f"-I{d}", f"-I{eng}", str(d / "h.c"),
           str(eng / "unity" / "mf_unity.c"), *LDFLAGS, "-o", str(d / "h.elf")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(ops) or 'no ops'}: {r.stderr.strip()[-800:]}")
    n = _size(d / "h.elf") - _empty(tmp)
    if cache is not None:
        cache[key] = n
        cache["_save"]()
    return n


def _size(elf):
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True).stdout
    text, data = out.splitlines()[1].split()[:2]
    return int(text) + int(data)


_EMPTY = {}


def _empty(tmp):
    if tmp not in _EMPTY:
        p = pathlib.Path(tmp) / "empty.c"
        p.write_text(EMPTY)
        subprocess.run([CC, *CFLAGS, str(p), *LDFLAGS, "-o", str(p.with_suffix(".elf"))],
                       check=True, capture_output=True)
        _EMPTY[tmp] = _size(p.with_suffix(".elf"))
    return _EMPTY[tmp]


def op_groups():
    """{source file stem: [ops]}: ops implemented in one cmodule/engine/ops/*.c share code."""
    import re

    groups = {}
    for f in sorted((ROOT / "cmodule" / "engine" / "ops").glob("op_*.c")):
        ops = sorted(set(re.findall(r"MF_OP_ON\(([A-Z0-9_]+)\)", f.read_text())))
        if ops:
            groups[f.stem] = ops
    return groups


def flash(args):
    """Per-op flash with shared code: cost(S) = base + common + sum of the groups S touches
    + sum of the ops' own code (see board_costs.FLASH and latency.engine_flash)."""
    from microformer.firmware import opsconfig

    if shutil.which(CC) is None:
        sys.exit(f"latency_fit: {CC} is not on PATH (make firmware-deps)")
    ops = opsconfig.engine_ops(ROOT)
    tmp = tempfile.mkdtemp(prefix="mf_flash_")
    cache_path = pathlib.Path(args.out) / f"flash_cache_{_engine_hash()}.json"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}

    def save():
        cache_path.write_text(json.dumps({k: v for k, v in cache.items() if k != "_save"},
                                         indent=0, sort_keys=True))

    cache["_save"] = save
    t0 = time.time()
    base = _flash_of(tmp, [], tag="base", cache=cache)
    print(f"engine with no op: {base} bytes", flush=True)
    alone = {}
    for op in ops:
        alone[op] = _flash_of(tmp, [op], tag=op, cache=cache) - base
        print(f"  {op:<20} alone {alone[op]:>6}", flush=True)
    # Code every op needs (quantization helpers, tensor checks): two ops of different groups.
    groups = op_groups()
    group_of = {o: g for g, os_ in groups.items() for o in os_}
    a_, b_ = "FULLY_CONNECTED", "SOFTMAX"
    common = alone[a_] + alone[b_] - (_flash_of(tmp, [a_, b_], tag="pair", cache=cache) - base)
    common = max(0, common)
    own, group_code = {}, {}
    for g, g_ops in groups.items():
        g_ops = [o for o in g_ops if o in alone]
        if len(g_ops) == 1:
            group_code[g] = 0
            own[g_ops[0]] = alone[g_ops[0]] - common
            continue
        all_g = _flash_of(tmp, g_ops, tag="group_" + g, cache=cache) - base
        # alone(o) = common + G + own(o); all_g = common + G + sum(own)
        shared = (sum(alone[o] for o in g_ops) - all_g) / (len(g_ops) - 1)  # common + G
        group_code[g] = max(0, round(shared - common))
        for o in g_ops:
            own[o] = max(0, round(alone[o] - shared))
        print(f"  group {g:<18} {len(g_ops)} ops together {all_g:>6}, shared {group_code[g]}",
              flush=True)
    for o in ops:  # an op in no ops/*.c file: all its code is its own
        if o not in own:
            own[o] = max(0, alone[o] - common)
            group_of.setdefault(o, o)
            group_code.setdefault(o, 0)
    floats = {}
    for switch, sw_ops in opsconfig.FLOAT_SWITCHES.items():
        with_f = _flash_of(tmp, list(sw_ops), float_ops=list(sw_ops), tag=switch, cache=cache)
        without = _flash_of(tmp, list(sw_ops), tag=switch + "_int", cache=cache)
        floats[switch] = with_f - without
        print(f"  {switch:<20} {floats[switch]:>6}", flush=True)
    fl = {"base": base, "common": common, "groups": group_code, "group_of": group_of,
          "ops": own, "alone": alone, "float": floats}
    # Exact builds of the op sets microformer's architectures use: engine_flash() starts
    # from the nearest one and adds the table's difference.
    from microformer import convert, models
    from microformer.latency import engine_flash

    sets = {}
    for name, cfg in (("transformer", {"arch": "transformer"}),
                      ("transformer-gelu", {"arch": "transformer", "activation": "gelu"}),
                      ("convformer", {"arch": "convformer"}),
                      ("convformer-gelu", {"arch": "convformer", "activation": "gelu"}),
                      ("hybrid", {"arch": "hybrid"}),
                      ("hybrid-gelu", {"arch": "hybrid", "activation": "gelu"})):
        c = models.resolve_config(cfg, 64, 3, 4)
        info = {"labels": list("abcd"), "window": 64, "hop": 32, "channels": list("xyz")}
        m = models.build_model(c, [0.0] * 3, [1.0] * 3, info)
        b = convert.quantize(m, np.random.default_rng(0).normal(size=(16, 64, 3)).astype(np.float32))
        used = sorted(dict.fromkeys(convert.ops_of(b)))
        if any(sorted(v["ops"]) == used for v in sets.values()):
            continue
        sets[name] = {"ops": used, "bytes": _flash_of(tmp, used, tag="set_" + name, cache=cache)}
    sets["all"] = {"ops": sorted(ops), "bytes": _flash_of(tmp, ops, tag="all", cache=cache)}
    fl["sets"] = {}
    checks = {}
    for name, ref in sets.items():
        group_only = engine_flash(ref["ops"], table=fl)
        others = dict(fl, sets={k: v for k, v in sets.items() if k != name})
        loo = engine_flash(ref["ops"], table=others)
        checks[name] = {"ops": ref["ops"], "direct": ref["bytes"], "groups_only": group_only,
                        "from_other_sets": loo}
        print(f"check {name}: {len(ref['ops'])} ops, direct build {ref['bytes']} bytes; "
              f"table alone {group_only} ({(group_only - ref['bytes']) / ref['bytes'] * 100:+.1f}%), "
              f"from the other sets {loo} ({(loo - ref['bytes']) / ref['bytes'] * 100:+.1f}%)",
              flush=True)
    fl["sets"] = sets
    print(f"({time.time() - t0:.0f} s)")
    fl.update({
        "checks": checks,  # each set predicted without itself (leave-one-out)
        "how": "arm-none-eabi-gcc -Os Cortex-M4F, terse errors, engine unity build linked "
               "with --gc-sections against a harness calling the binding's entry points "
               "(library code included)",
        "compiler": subprocess.run([CC, "-dumpversion"], capture_output=True, text=True).stdout.strip(),
        "measured_at": _now(), "engine_commit": _git_head()})
    if not args.dry_run:
        write_costs(flash=fl)
    shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- board_costs.py

def write_costs(latency=None, flash=None):
    cur = {"LATENCY": None, "FLASH": None}
    if COSTS.exists():
        ns = {}
        exec(COSTS.read_text(), ns)  # our own generated file
        cur = {k: ns.get(k) for k in cur}
    if latency is not None:
        cur["LATENCY"] = latency
    if flash is not None:
        cur["FLASH"] = flash
    text = ['"""Generated by benchmarks/latency_fit.py: do not edit by hand.',
            "",
            "LATENCY: Cortex-M4 instructions per unit of each latency feature, fitted on counts",
            "measured on QEMU_M4 (benchmarks/latency_measured.json), with the fit's error.",
            "FLASH: bytes of the engine with no op (base) and per op, measured with",
            "arm-none-eabi-gcc for the QEMU_M4 flags (terse errors, as --ops-from builds).",
            '"""', ""]
    for k in ("LATENCY", "FLASH"):
        text.append(f"{k} = " + pprint.pformat(cur[k], width=96, sort_dicts=True))
        text.append("")
    COSTS.write_text("\n".join(text))
    print(f"wrote {COSTS}", file=sys.stderr)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--measure", action="store_true", help="measure the corpus on QEMU_M4 first")
    p.add_argument("--flash", action="store_true", help="measure the per-op flash table")
    p.add_argument("--check", nargs="+", metavar="MODEL.tflite",
                   help="measure these models on QEMU_M4 and print measured vs predicted")
    p.add_argument("--micropython", default=os.environ.get("MICROPY_DIR"))
    p.add_argument("--firmware", help="QEMU_M4 firmware.elf (default: build it)")
    p.add_argument("--invokes", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "latency"))
    p.add_argument("--dry-run", action="store_true", help="print, do not write board_costs.py")
    args = p.parse_args(argv)
    if args.flash:
        flash(args)
        return 0
    if args.check:
        check(args)
        return 0
    if args.measure:
        measure(args)
    fit(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
