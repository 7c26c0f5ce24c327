"""Model analysis for `microformer inspect`: static summary, engine numbers, per-layer SQNR.

Per-layer SQNR compares, for every tensor an op writes, the engine's value (int8,
dequantized) with a float32 execution of the same graph (microformer.reference). The engine
only exposes model outputs, so the model is rewritten with intermediate tensors as its
outputs (tflite.with_outputs, a few dozen per pass); kernels and arithmetic are unchanged.
Signal and noise are summed over all probe windows before the ratio is taken.
"""
import numpy as np

from . import engine as E
from .errors import ModelError
from .quant import sqnr_db
from .reference import Reference
from .tflite import Graph, get_metadata


def summarize(model_bytes):
    """Static facts plus the engine's op check and arena size.

    Raises ModelError listing every op the engine lacks (with node indices).
    """
    import json

    g = Graph(model_bytes)
    s = g.summary()
    supported = set(E.supported_ops())
    missing = {}
    for op in g.ops:
        if op["op"] not in supported:
            missing.setdefault(op["op"], []).append(op["index"])
    if missing:
        parts = [f"{k} (node{'s' if len(v) > 1 else ''} {', '.join(map(str, v))})"
                 for k, v in missing.items()]
        raise ModelError(
            f"the engine cannot run this model: it lacks {'; '.join(parts)}. Engine ops: "
            f"{', '.join(sorted(supported))}")
    raw = get_metadata(model_bytes)
    meta = None
    if raw is not None:
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ModelError(f"the 'microformer' metadata entry is not valid JSON: {e}") from None
    inp, out = g.inputs[0], g.outputs[0]

    def tinfo(t):
        q = g.quant(t)
        return {"shape": list(g.shape(t)), "dtype": g.dtype(t),
                "scale": float(q[0][0]) if q else None, "zero_point": int(q[1][0]) if q else None}

    s.update({
        "bytes": len(model_bytes),
        "arena_bytes": E.arena_size(model_bytes),
        "input": tinfo(inp),
        "output": tinfo(out),
        "ops": [{"node": op["index"], "op": op["op"], "version": op["version"],
                 "output_shape": list(g.shape(op["outputs"][0])) if op["outputs"] else [],
                 "macs": g.macs(op)} for op in g.ops],
        "float_ops": sorted({op["op"] for op in g.ops
                             if any(g.dtype(t) == "float32" for t in op["outputs"])}),
        "metadata": meta,
    })
    return s


# Extra outputs per rewritten model: the engine bounds a node's (and the graph's) tensor
# list at 64 entries, so large graphs are probed in several passes.
OUTPUTS_PER_PASS = 48


def layer_sqnr(model_bytes, windows):
    """Per-op SQNR over normalized float windows (n, *input shape without batch).

    Returns a list of {node, op, tensor, name, shape, dtype, sqnr_db}, in execution order.
    """
    from .tflite import intermediate_tensors, with_outputs

    g = Graph(model_bytes)
    ref = Reference(g)
    windows = np.asarray(windows, dtype=np.float32)
    tensors = intermediate_tensors(model_bytes)
    want = [ref.run(w[None]) for w in windows]
    sig = {t: 0.0 for t in tensors}
    noise = {t: 0.0 for t in tensors}
    for start in range(0, len(tensors), OUTPUTS_PER_PASS):
        chunk = tensors[start:start + OUTPUTS_PER_PASS]
        eng = E.Engine(with_outputs(model_bytes, chunk))
        idx = list(range(len(chunk)))
        for w, ref_vals in zip(windows, want):
            got = eng.run(w[None], outputs=idx)
            for k, t in enumerate(chunk):
                r = ref_vals[t].astype(np.float64).ravel()
                d = got[k].astype(np.float64).ravel()
                if r.shape != d.shape:
                    raise ModelError(f"tensor {t}: engine gave {d.size} values, reference {r.size}")
                sig[t] += float(np.sum(r ** 2))
                noise[t] += float(np.sum((r - d) ** 2))
    rows = []
    for op in g.ops:
        t = op["outputs"][0]
        s, n = sig[t], noise[t]
        db = float("inf") if n == 0 else (float("-inf") if s == 0 else 10 * np.log10(s / n))
        rows.append({"node": op["index"], "op": op["op"], "tensor": t, "name": g.tensor_name(t),
                     "shape": list(g.shape(t)), "dtype": g.dtype(t), "sqnr_db": round(db, 2)})
    return rows


def probe_windows(model_bytes, info, data_dir=None, n=32, seed=0):
    """Normalized windows to probe a model with: from DATA when given, else N(0, 1) noise
    (the normalized input's training distribution has mean 0, std 1 per channel)."""
    from .convert import normalize

    g = Graph(model_bytes)
    shape = g.shape(g.inputs[0])[1:]
    rng = np.random.default_rng(seed)
    if data_dir is None:
        return rng.standard_normal((n,) + tuple(shape)).astype(np.float32), f"{n} random N(0,1) windows"
    if info is None:
        raise ModelError("--data needs the model's 'microformer' metadata (window, channels)")
    from . import data as D

    ds = D.load(data_dir)
    D.align_channels(ds, info["channels"])
    x, _, _ = D.recording_windows(ds, info["window"], info["hop"], info.get("event"))
    if len(x) > n:
        x = x[np.sort(rng.choice(len(x), n, replace=False))]
    return normalize(x, info), f"{len(x)} windows of {data_dir}"


def plot_sqnr(rows, path, title="per-layer SQNR (float vs int8 on the engine)"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals = [r["sqnr_db"] for r in rows]
    finite = [v for v in vals if np.isfinite(v)]
    top = (max(finite) if finite else 60.0) + 5
    shown = [min(v, top) if np.isfinite(v) else (top if v > 0 else 0) for v in vals]
    ops = sorted({r["op"] for r in rows})
    cmap = plt.get_cmap("tab20")
    colors = [cmap(ops.index(r["op"]) % 20) for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * len(rows) + 4), 4), dpi=100)
    ax.bar(range(len(rows)), shown, color=colors)
    ax.set_xlabel("node")
    ax.set_ylabel("SQNR (dB)")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-1, len(rows))
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i % 20)) for i in range(len(ops))]
    ax.legend(handles, ops, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


__all__ = ["summarize", "layer_sqnr", "probe_windows", "plot_sqnr", "sqnr_db"]
