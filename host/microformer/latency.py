"""Latency, flash and RAM of an int8 model on a board, before it is ever flashed.

- RAM: the engine's exact arena (`_uformer.arena_size`), plus the model bytes when the model
  is loaded into RAM instead of being read in place from flash (/rom).
- Flash: the engine compiled for exactly the ops the model uses (`firmware build
  --ops-from`), from a per-op size table measured on the QEMU_M4 toolchain, plus the model
  bytes (stored in flash: ROMFS or the filesystem).
- Latency: Cortex-M4 instructions per inference from a linear cost model (instructions
  per MAC of FULLY_CONNECTED / BATCH_MATMUL / CONV_2D / DEPTHWISE_CONV_2D, per output of
  those ops, per element of softmax / elementwise / mean / unary / data-movement ops, per
  node) fitted by least squares on instruction counts measured on the emulated board
  (QEMU_M4, `-icount shift=0`). `benchmarks/latency_fit.py` measures and re-fits; the
  coefficients and the fit's error live in `board_costs.py` (generated data).

On QEMU_M4 the instruction count IS the board's time (1 us = 1000 instructions). For real
boards the count is converted with the board's clock and a cycles-per-instruction factor
per core: those factors are estimates, not measurements (see BOARDS and docs/tune.md).
"""
import dataclasses

import numpy as np

from . import board_costs
from .errors import MicroformerError

MAC_OPS = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D")
BINARY_OPS = ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE")
UNARY_OPS = ("RSQRT", "GELU", "LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "NEG",
             "QUANTIZE", "DEQUANTIZE")
MOVE_OPS = ("TRANSPOSE", "CONCATENATION", "STRIDED_SLICE", "PAD", "MAX_POOL_2D",
            "AVERAGE_POOL_2D")
ALIAS_OPS = ("RESHAPE", "EXPAND_DIMS", "SQUEEZE")

# Feature names, in the order of the fitted coefficients.
FEATURES = (
    "fc_macs", "bmm_macs", "conv_macs", "dw_macs",  # multiply-accumulates per kind
    "mac_outputs",                                    # outputs of MAC ops (requantization)
    "softmax_elems", "binary_elems", "mean_elems", "unary_elems", "move_elems",
    "nodes",                                          # per-node overhead (dispatch, glue)
)


def features(model_bytes):
    """The latency model's features of a .tflite model (dict name -> count)."""
    from .tflite import Graph

    g = model_bytes if isinstance(model_bytes, Graph) else Graph(model_bytes)
    f = dict.fromkeys(FEATURES, 0)

    def n(t):
        s = g.shape(t)
        return int(np.prod(s)) if s else 1

    for op in g.ops:
        name = op["op"]
        f["nodes"] += 1
        out = n(op["outputs"][0]) if op["outputs"] else 0
        if name in MAC_OPS:
            key = {"FULLY_CONNECTED": "fc_macs", "BATCH_MATMUL": "bmm_macs",
                   "CONV_2D": "conv_macs", "DEPTHWISE_CONV_2D": "dw_macs"}[name]
            f[key] += g.macs(op)
            f["mac_outputs"] += out
        elif name == "SOFTMAX":
            f["softmax_elems"] += out
        elif name in BINARY_OPS:
            f["binary_elems"] += out
        elif name == "MEAN":
            f["mean_elems"] += n(op["inputs"][0])
        elif name in UNARY_OPS:
            f["unary_elems"] += out
        elif name in MOVE_OPS:
            f["move_elems"] += max(out, n(op["inputs"][0]))
    return f


def vector(feats):
    return np.array([float(feats[k]) for k in FEATURES])


def instructions(feats, coeffs=None):
    """Predicted Cortex-M4 instructions per inference (QEMU_M4's count) from features()."""
    lat = coeffs or board_costs.LATENCY
    if not lat:
        raise MicroformerError("no latency model: run benchmarks/latency_fit.py")
    c = lat["coefficients"]
    return float(lat.get("intercept", 0.0) + sum(c[k] * feats[k] for k in FEATURES))


def m4_instructions(model_bytes):
    return instructions(features(model_bytes))


@dataclasses.dataclass(frozen=True)
class Board:
    name: str
    core: str
    mhz: float
    cpi: float            # cycles per Cortex-M4 (QEMU) instruction of the engine's code
    measured: bool        # True: instruction counts are this board's time (QEMU_M4)
    ram_kb: int           # default budget for the arena (+ model when in RAM)
    flash_kb: int         # default budget for the engine's kernels + the model
    note: str


# Default budgets are what a small application can give the model on each board after
# MicroPython, the uformer framework and the app itself (see docs/tune.md); override with
# --ram / --flash. cpi: QEMU_M4 counts instructions; the other factors are estimates, NOT
# measured on hardware. The engine is portable C: for the M0+ (Thumb-1: no multiply-
# accumulate, fewer addressing modes, most instructions on r0-r7 only) gcc emits more
# instructions than for the M4, and its loads take 2 cycles; the M33 (Thumb-2 + DSP, as
# the M4) runs about the M4's instructions at a similar CPI. One constant per board to
# replace once `microformer bench --port` has measured a model on the real board.
BOARDS = {
    "QEMU_M4": Board("QEMU_M4", "Cortex-M4F (emulated, -icount shift=0)", 1000.0, 1.0, True,
                     128, 256,
                     "instructions are the board's time: 1 us = 1000 instructions (measured)"),
    "RPI_PICO": Board("RPI_PICO", "RP2040 Cortex-M0+", 125.0, 2.2, False, 64, 192,
                      "scaled from Cortex-M4 instructions: 125 MHz, 2.2 cycles per M4 "
                      "instruction (estimate)"),
    "RPI_PICO2": Board("RPI_PICO2", "RP2350 Cortex-M33", 150.0, 1.3, False, 160, 448,
                       "scaled from Cortex-M4 instructions: 150 MHz, 1.3 cycles per M4 "
                       "instruction (estimate)"),
}


def board(name):
    b = BOARDS.get(str(name).upper())
    if b is None:
        raise MicroformerError(f"unknown board {name!r}: use {', '.join(BOARDS)}")
    return b


def latency_ms(model_bytes, board_name="QEMU_M4"):
    b = board(board_name)
    return m4_instructions(model_bytes) * b.cpi / (b.mhz * 1000.0)


def engine_flash(ops, float_ops=(), table=None):
    """Flash bytes of the engine (+ the library code it pulls in) built --ops-from a model
    that uses `ops` (and runs `float_ops` on float32 tensors), from the measured table:
    base + common (code any op needs) + the shared code of each op group (one
    cmodule/engine/ops/*.c file) the ops touch + each op's own code + float32 kernels."""
    t = table or board_costs.FLASH
    if not t:
        raise MicroformerError("no flash table: run benchmarks/latency_fit.py --flash")
    ops = set(ops)
    unknown = sorted(o for o in ops if o not in t["ops"])
    if unknown:
        raise MicroformerError(f"no flash size known for op(s) {', '.join(unknown)}")
    sets = t.get("sets") or {}
    if sets:
        # Start from the exact build of the nearest measured op set; the table adds or
        # removes the difference (exact when the model's ops are one of those sets).
        ref = min(sets.values(), key=lambda r: (len(ops.symmetric_difference(r["ops"])),
                                                len(r["ops"])))
        plain = dict(t, sets=None)
        return int(ref["bytes"] + engine_flash(ops, float_ops, plain)
                   - engine_flash(ref["ops"], (), plain))
    from .firmware.opsconfig import FLOAT_SWITCHES

    total = t["base"] + (t["common"] if ops else 0)
    total += sum(t["groups"].get(g, 0) for g in {t["group_of"].get(o, o) for o in ops})
    total += sum(t["ops"][o] for o in ops)
    for switch, sw_ops in FLOAT_SWITCHES.items():
        if any(o in float_ops for o in sw_ops):
            total += t["float"].get(switch, 0)
    return int(round(total))


@dataclasses.dataclass
class Cost:
    arena: int            # bytes, exact (engine plan)
    model_bytes: int
    engine_flash: int     # bytes, engine for this model's ops (table)
    instructions: float   # predicted Cortex-M4 instructions per inference
    ops: tuple
    float_ops: tuple
    features: dict

    def ram(self, model_in_ram=False):
        return self.arena + (self.model_bytes if model_in_ram else 0)

    def flash(self):
        # The model file lives in flash either way (ROMFS or the filesystem).
        return self.engine_flash + self.model_bytes

    def latency_ms(self, board_name):
        b = board(board_name)
        return self.instructions * b.cpi / (b.mhz * 1000.0)


def cost(model_bytes):
    """Arena (exact, from the engine), engine flash for the model's ops and predicted
    instructions of a .tflite model."""
    from .engine import arena_size
    from .firmware.opsconfig import FLOAT_SWITCHED
    from .tflite import Graph

    g = Graph(model_bytes)
    ops = tuple(dict.fromkeys(op["op"] for op in g.ops))
    float_ops = tuple(sorted({op["op"] for op in g.ops if op["op"] in FLOAT_SWITCHED
                              and any(g.dtype(t) == "float32" for t in op["outputs"])}))
    f = features(g)
    return Cost(arena_size(model_bytes), len(model_bytes), engine_flash(ops, float_ops),
                instructions(f), ops, float_ops, f)
