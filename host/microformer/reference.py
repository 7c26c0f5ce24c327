"""A float32 NumPy execution of a .tflite graph: the "float" side of per-layer SQNR.

Runs the same graph as the engine, op by op, in real numbers: int8/int32 constants are
dequantized with their (per-channel) scales, QUANTIZE/DEQUANTIZE are identities, and no
activation is rounded. Comparing every intermediate tensor with the engine's int8 tensor
(dequantized) measures how much activation quantization and the integer kernels cost at
each layer; weights enter both sides as their int8 values, so weight rounding is not in it.

Covers the ops the engine runs (FULLY_CONNECTED ... NEG). Semantics follow the TFLite
reference kernels: SAME padding splits like TFLite (extra on the bottom/right), average
pooling divides by the number of in-bounds elements, GELU's `approximate` selects the tanh
form.
"""
import math

import numpy as np

from .errors import ModelError
from .quant import dequantize

_ACT = {
    0: lambda x: x,
    1: lambda x: np.maximum(x, 0),
    2: lambda x: np.clip(x, -1, 1),
    3: lambda x: np.clip(x, 0, 6),
    4: np.tanh,
}


def _act(x, opts):
    code = getattr(opts, "fusedActivationFunction", 0) if opts is not None else 0
    if code not in _ACT:
        raise ModelError(f"fused activation {code} has no float reference")
    return _ACT[code](x)


def _same_pad(size, k, stride, dil):
    eff = (k - 1) * dil + 1
    out = (size + stride - 1) // stride
    total = max(0, (out - 1) * stride + eff - size)
    return out, total // 2, total - total // 2


def _window_geometry(h, w, kh, kw, sh, sw, dh, dw, padding):
    if padding == 0:  # SAME
        oh, pt, pb = _same_pad(h, kh, sh, dh)
        ow, pl, pr = _same_pad(w, kw, sw, dw)
    else:
        oh = (h - ((kh - 1) * dh + 1)) // sh + 1
        ow = (w - ((kw - 1) * dw + 1)) // sw + 1
        pt = pb = pl = pr = 0
    return oh, ow, pt, pb, pl, pr


def _conv(x, wt, b, o, depthwise):
    n, h, w, cin = x.shape
    kh, kw = wt.shape[1], wt.shape[2]
    sh, sw = o.strideH, o.strideW
    dh, dw = max(1, o.dilationHFactor), max(1, o.dilationWFactor)
    oh, ow, pt, pb, pl, pr = _window_geometry(h, w, kh, kw, sh, sw, dh, dw, o.padding)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    cout = wt.shape[3] if depthwise else wt.shape[0]
    y = np.zeros((n, oh, ow, cout), dtype=np.float64)
    mult = cout // cin if depthwise else 1
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
            if depthwise:
                y += np.repeat(patch, mult, axis=3) * wt[0, i, j, :]
            else:
                y += patch @ wt[:, i, j, :].T
    if b is not None:
        y += b
    return y


def _pool(x, o, kind):
    n, h, w, c = x.shape
    kh, kw, sh, sw = o.filterHeight, o.filterWidth, o.strideH, o.strideW
    oh, ow, pt, pb, pl, pr = _window_geometry(h, w, kh, kw, sh, sw, 1, 1, o.padding)
    y = np.zeros((n, oh, ow, c), dtype=np.float64)
    for a in range(oh):
        for b in range(ow):
            r0, c0 = a * sh - pt, b * sw - pl
            r1, c1 = min(h, r0 + kh), min(w, c0 + kw)
            r0, c0 = max(0, r0), max(0, c0)
            win = x[:, r0:r1, c0:c1, :]
            y[:, a, b, :] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return y


def _strided_slice(x, begin, end, strides, o):
    if o.ellipsisMask or o.newAxisMask:
        raise ModelError("STRIDED_SLICE with ellipsis/new-axis masks has no float reference")
    sl = []
    for ax in range(len(begin)):
        b = None if (o.beginMask >> ax) & 1 else int(begin[ax])
        e = None if (o.endMask >> ax) & 1 else int(end[ax])
        s = int(strides[ax])
        if getattr(o, "offset", False) and e is not None and b is not None:
            e = b + e
        if (o.shrinkAxisMask >> ax) & 1:
            sl.append(int(begin[ax]))
        else:
            sl.append(slice(b, e, s))
    return x[tuple(sl)]


class Reference:
    """Float evaluation of a tflite.Graph."""

    def __init__(self, graph):
        self.g = graph
        self.consts = {}
        for t in graph.const_tensors():
            self.consts[t] = self._const(t)

    def _const(self, t):
        g = self.g
        dt = g.dtype(t)
        raw = g.const_bytes(t)
        np_dt = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
                 "float32": np.float32, "uint8": np.uint8, "bool": np.bool_}.get(dt)
        if np_dt is None:
            raise ModelError(f"tensor {t}: constant of type {dt} has no float reference")
        arr = np.frombuffer(raw, dtype=np_dt)
        shape = g.shape(t)
        arr = arr.reshape(shape) if shape else arr.reshape(())
        q = g.quant(t)
        if q is None or dt == "float32":
            return arr
        scale, zp, qdim = q
        if scale.size > 1:
            bshape = [1] * max(1, arr.ndim)
            bshape[qdim] = scale.size
            return dequantize(arr, scale.reshape(bshape), zp.reshape(bshape)).astype(np.float64)
        return dequantize(arr, scale[0], zp[0]).astype(np.float64)

    def run(self, x):
        """x: real-valued input for input 0 (with batch). Returns {tensor index: float array}."""
        g = self.g
        vals = dict(self.consts)
        vals[g.inputs[0]] = np.asarray(x, dtype=np.float64).reshape(g.shape(g.inputs[0]))
        for op in g.ops:
            ins = [vals.get(t) if t >= 0 else None for t in op["inputs"]]
            for t, v in zip(op["inputs"], ins):
                if t >= 0 and v is None:
                    raise ModelError(f"node {op['index']} ({op['op']}): input tensor {t} not computed")
            out = self._op(op, ins)
            o_t = op["outputs"][0]
            shape = g.shape(o_t)
            vals[o_t] = np.asarray(out, dtype=np.float64).reshape(shape) if shape else np.asarray(out)
        return vals

    def _op(self, op, ins):
        name, o, g = op["op"], op["options"], self.g
        x = ins[0]
        if name == "FULLY_CONNECTED":
            w = ins[1]
            y = x.reshape(-1, w.shape[1]) @ w.T
            if len(ins) > 2 and ins[2] is not None:
                y = y + ins[2]
            return _act(y, o)
        if name == "BATCH_MATMUL":
            a, b = x, ins[1]
            if getattr(o, "adjX", False):
                a = np.swapaxes(a, -1, -2)
            if getattr(o, "adjY", False):
                b = np.swapaxes(b, -1, -2)
            return np.matmul(a, b)
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            b = ins[2] if len(ins) > 2 else None
            return _act(_conv(x, ins[1], b, o, name == "DEPTHWISE_CONV_2D"), o)
        if name == "ADD":
            return _act(x + ins[1], o)
        if name == "SUB":
            return _act(x - ins[1], o)
        if name == "MUL":
            return _act(x * ins[1], o)
        if name == "SQUARED_DIFFERENCE":
            return (x - ins[1]) ** 2
        if name == "MEAN":
            axes = tuple(int(a) % x.ndim for a in np.atleast_1d(ins[1]))
            return x.mean(axis=axes, keepdims=bool(getattr(o, "keepDims", False)))
        if name == "RSQRT":
            return 1.0 / np.sqrt(x)
        if name == "SOFTMAX":
            z = x * (o.beta if o is not None else 1.0)
            z = z - z.max(axis=-1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=-1, keepdims=True)
        if name == "GELU":
            if getattr(o, "approximate", False):
                return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
            from math import erf

            return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))
        if name == "LOGISTIC":
            return 1 / (1 + np.exp(-x))
        if name == "TANH":
            return np.tanh(x)
        if name == "HARD_SWISH":
            return x * np.clip(x + 3, 0, 6) / 6
        if name == "RELU":
            return np.maximum(x, 0)
        if name == "RELU6":
            return np.clip(x, 0, 6)
        if name == "MAX_POOL_2D":
            return _act(_pool(x, o, "max"), o)
        if name == "AVERAGE_POOL_2D":
            return _act(_pool(x, o, "avg"), o)
        if name in ("RESHAPE", "EXPAND_DIMS", "SQUEEZE", "QUANTIZE", "DEQUANTIZE"):
            return x  # the caller reshapes to the output tensor's shape
        if name == "TRANSPOSE":
            return np.transpose(x, [int(p) for p in ins[1]])
        if name == "CONCATENATION":
            parts = [v for v in ins if v is not None]
            return _act(np.concatenate(parts, axis=int(o.axis) % parts[0].ndim), o)
        if name == "STRIDED_SLICE":
            return _strided_slice(x, ins[1], ins[2], ins[3], o)
        if name == "PAD":
            pads = [tuple(int(v) for v in row) for row in np.asarray(ins[1]).reshape(-1, 2)]
            return np.pad(x, pads)
        if name == "NEG":
            return -x
        raise ModelError(f"node {op['index']}: op {name} has no float reference")
