"""The numbers every compression verb prints: float accuracy (TensorFlow), int8 accuracy on
the engine (`_uformer`, through microformer.engine), MACs, parameters and engine arena.

MACs are counted on the converted int8 graph (tflite.Graph, the count `microformer
inspect` prints), so they are what the device executes; accuracy is on the held-back test
split the model's metadata names (same recordings, windows and seed as training).
"""
import numpy as np

from .. import convert, engine, tflite, training
from ..errors import EngineUnavailable


def measure(model, splits, x=None, y=None, n_calib=convert.DEFAULT_CALIB):
    """Convert `model` to int8 (calibrated on splits' training windows) and measure it on
    (x, y), by default splits' test windows. Returns a dict (int8/arena None, and `engine`
    the reason, when the engine is not importable)."""
    if x is None:
        x, y = splits.x["test"], splits.y["test"]
    b = convert.quantize(model, splits.x["train"], n_calib=n_calib)
    row = {"float": training.accuracy(model, x, y), "int8": None, "arena": None,
           "macs": int(tflite.Graph(b).summary()["macs"]), "params": int(model.count_params()),
           "bytes": len(b), "windows": int(len(y)), "tflite": b, "engine": None}
    try:
        e = engine.Engine(b)
    except EngineUnavailable as err:
        row["engine"] = str(err)
        return row
    row["int8"] = float(np.mean(np.argmax(e.predict(x), axis=1) == y)) if len(y) else float("nan")
    row["arena"] = e.arena_size
    return row


def _pct(v):
    return "     -" if v is None else f"{v * 100:6.2f}"


def _int(v, w):
    return f"{'-':>{w}}" if v is None else f"{v:{w}d}"


def table(rows):
    """rows: [(name, measure dict)] -> aligned text table."""
    width = max([5] + [len(n) for n, _ in rows])
    lines = [f"{'model':{width}}  {'float%':>6}  {'int8%':>6}  {'MACs':>9}  {'params':>7}  "
             f"{'arena B':>7}  {'model B':>7}"]
    for name, r in rows:
        lines.append(f"{name:{width}}  {_pct(r['float'])}  {_pct(r['int8'])}  "
                     f"{_int(r['macs'], 9)}  {_int(r['params'], 7)}  {_int(r['arena'], 7)}  "
                     f"{_int(r['bytes'], 7)}")
    notes = {r["engine"] for _, r in rows if r.get("engine")}
    for n in sorted(notes):
        lines.append(f"int8 accuracy and arena not measured: {n}")
    return "\n".join(lines)


def summary(r):
    """The metadata entry of a measured model (fractions rounded to 4 places)."""
    out = {"float_accuracy": round(r["float"], 4), "macs": r["macs"], "params": r["params"],
           "heldback_windows": r["windows"]}
    if r["int8"] is not None:
        out.update(int8_accuracy=round(r["int8"], 4), arena_bytes=r["arena"])
    return out


__all__ = ["measure", "table", "summary"]
