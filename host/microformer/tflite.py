"""Reading and rewriting .tflite flatbuffers (schema 3) without TensorFlow.

Uses the flatbuffers object API generated from the TFLite schema: the copy shipped with the
`tflite-micro` package when installed, else TensorFlow's. Rewriting (metadata, extra outputs)
re-packs the whole model with every buffer aligned to 16 bytes, as the TFLite converter does,
so int32 biases and int8 weights stay aligned for engines that read them in place.
"""
import json
import re

import numpy as np

from .errors import ModelError

_S = None
# Buffers start on 16-byte boundaries in converter output (SIMD loads, int32/int64 biases).
BUFFER_ALIGN = 16
METADATA_NAME = "microformer"


def schema():
    """The generated schema module (lazy: the TensorFlow fallback import is slow)."""
    global _S
    if _S is None:
        try:
            from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s
        except ImportError:
            try:
                from tensorflow.lite.python import schema_py_generated as s
            except ImportError:
                raise ModelError(
                    "reading .tflite files needs the flatbuffers schema from the 'tflite-micro' "
                    "or 'tensorflow' package; pip install tflite-micro") from None
        _S = s
    return _S


def _op_names():
    S = schema()
    return {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}


def _type_names():
    S = schema()
    return {v: k.lower() for k, v in vars(S.TensorType).items() if not k.startswith("_")}


def _corrupt(buf, e):
    """The user's sentence for a flatbuffers failure (a struct.error or IndexError about
    offsets, which says nothing to someone holding a damaged file)."""
    m = re.search(r"at least (\d+) bytes", str(e))
    # A cut-off copy still holds its tables' offsets: they reach past the end, but not by
    # more than the whole file could have been. Offsets near 2 GiB (flatbuffers' limit) in
    # a file a thousandth that size are garbage, not a short copy.
    if m and len(buf) < int(m.group(1)) <= min(len(buf) * 1024, 2 ** 31 - 1):
        return (f"truncated .tflite model: its tables reach byte {int(m.group(1)):,} but the file "
                f"has {len(buf):,} bytes (an interrupted copy or download?)")
    return f"corrupt .tflite model ({len(buf):,} bytes): an offset in its tables points outside the file"


def unpack(buf):
    """bytes -> ModelT, with a clear error for files that are not .tflite models."""
    S = schema()
    buf = bytes(buf)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(
            f"not a .tflite model: expected file identifier 'TFL3' at byte 4, got {buf[4:8]!r} "
            f"({len(buf)} bytes)")
    try:
        m = S.ModelT.InitFromPackedBuf(buf, 0)
    except Exception as e:  # flatbuffers raises bare struct/Index errors on corrupt offsets
        raise ModelError(_corrupt(buf, e)) from None
    if not m.subgraphs:
        raise ModelError("corrupt .tflite model: no subgraphs")
    return m


def _pack_buffer(builder, buf):
    """BufferT.Pack with the data vector aligned to BUFFER_ALIGN bytes."""
    S = schema()
    off = None
    if buf.data is not None and len(buf.data):
        raw = np.asarray(buf.data, dtype=np.uint8).tobytes()
        builder.StartVector(1, len(raw), BUFFER_ALIGN)
        builder.head = builder.head - len(raw)
        builder.Bytes[builder.head:builder.head + len(raw)] = raw
        off = builder.EndVector()
    S.BufferStart(builder)
    if off is not None:
        S.BufferAddData(builder, off)
    if getattr(buf, "offset", 0):
        S.BufferAddOffset(builder, buf.offset)
    if getattr(buf, "size", 0):
        S.BufferAddSize(builder, buf.size)
    return S.BufferEnd(builder)


def pack(model):
    """ModelT -> bytes (identifier TFL3), buffer data 16-byte aligned."""
    import flatbuffers

    S = schema()

    class _AlignedBuffer(S.BufferT):
        def Pack(self, builder):
            return _pack_buffer(builder, self)

    buffers = model.buffers or []
    aligned = []
    for x in buffers:
        a = _AlignedBuffer()
        a.__dict__.update(x.__dict__)
        aligned.append(a)
    model.buffers = aligned
    try:
        b = flatbuffers.Builder(1 << 16)
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
    finally:
        model.buffers = buffers
    return bytes(b.Output())


def _name(x):
    return x.decode() if isinstance(x, bytes) else x


def get_metadata(buf, name=METADATA_NAME):
    """Bytes of metadata entry `name`, or None."""
    S = schema()
    buf = bytes(buf)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"not a .tflite model: file identifier is {buf[4:8]!r}, expected b'TFL3'")
    try:
        m = S.Model.GetRootAs(buf, 0)
        for i in range(m.MetadataLength()):
            md = m.Metadata(i)
            if _name(md.Name()) == name:
                b = m.Buffers(md.Buffer())
                return b.DataAsNumpy().tobytes() if b.DataLength() else b""
    except Exception as e:  # corrupt offsets surface as struct/Index errors
        raise ModelError(_corrupt(buf, e)) from None
    return None


def set_metadata(buf, data, name=METADATA_NAME):
    """A copy of the model with metadata entry `name` set to `data` (replaced if present)."""
    S = schema()
    m = unpack(buf)
    entry = None
    for md in m.metadata or []:
        if _name(md.name) == name:
            entry = md
    nb = S.BufferT()
    nb.data = np.frombuffer(bytes(data), dtype=np.uint8)
    if entry is None:
        m.buffers.append(nb)
        entry = S.MetadataT()
        entry.name = name
        entry.buffer = len(m.buffers) - 1
        m.metadata = list(m.metadata or []) + [entry]
    else:
        m.buffers[entry.buffer] = nb
    return pack(m)


def short_name(name, prefix):
    """'model_device_1/attn0_1/v_1/Tensordot;model.../BiasAdd' -> 'attn0/v/Tensordot'.

    The converter names a fused tensor after every TensorFlow op folded into it, with the
    Keras model name and `_1` uniquifiers; on a microcontroller those names only cost
    flash (about 10 KB in the default model), so one short path is kept for inspection.
    """
    n = _name(name) or ""
    n = n.split(";")[0]
    if prefix and n.startswith(prefix):
        n = n[len(prefix):]
    parts = []
    for p in n.split("/"):
        base, _, tail = p.rpartition("_")
        parts.append(base if base and tail.isdigit() else p)
    return "/".join(parts)[:40]


def shorten_names(buf):
    """A copy with compact tensor names (see short_name); ops and data are unchanged."""
    m = unpack(buf)
    for sg in m.subgraphs:
        names = [_name(t.name) or "" for t in sg.tensors]
        firsts = {n.split("/")[0] for n in names if "/" in n}
        prefix = firsts.pop() + "/" if len(firsts) == 1 else ""
        for t in sg.tensors:
            t.name = short_name(t.name, prefix)
    return pack(m)


def read_info(buf):
    """The `microformer` metadata as a dict, or a ModelError naming what is missing."""
    raw = get_metadata(buf)
    if raw is None:
        raise ModelError(
            "the .tflite model has no 'microformer' metadata entry (labels, window, "
            "normalization); quantize it with `microformer quantize`")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"the 'microformer' metadata entry is not valid JSON: {e}") from None


class Graph:
    """A read-only view of subgraph 0: ops, tensors, constants; shapes and MACs per op."""

    def __init__(self, buf):
        self.model = unpack(buf)
        sg = self.model.subgraphs[0]
        self.subgraph = sg
        names = _op_names()
        tnames = _type_names()
        self.tensors = sg.tensors or []
        self.ops = []
        n_codes = len(self.model.operatorCodes or [])
        n_buf = len(self.model.buffers or [])
        for t_i, t in enumerate(self.tensors):
            if t.buffer >= n_buf:
                raise ModelError(f"tensor {t_i}: buffer {t.buffer} out of range ({n_buf} buffers)")
        for n, op in enumerate(sg.operators or []):
            if op.opcodeIndex >= n_codes:
                raise ModelError(f"node {n}: opcode index {op.opcodeIndex} out of range ({n_codes})")
            oc = self.model.operatorCodes[op.opcodeIndex]
            code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
            for t_i in list(op.inputs if op.inputs is not None else []) + list(
                    op.outputs if op.outputs is not None else []):
                if t_i >= len(self.tensors):
                    raise ModelError(f"node {n}: tensor {t_i} out of range ({len(self.tensors)})")
            self.ops.append({
                "index": n,
                "op": names.get(code, f"CUSTOM_{code}" if code == 32 else f"OP_{code}"),
                "version": oc.version,
                "inputs": [int(i) for i in (op.inputs if op.inputs is not None else [])],
                "outputs": [int(i) for i in (op.outputs if op.outputs is not None else [])],
                "options": op.builtinOptions,
            })
        self._tnames = tnames

    def shape(self, t):
        s = self.tensors[t].shape
        return tuple(int(v) for v in s) if s is not None else ()

    def dtype(self, t):
        return self._tnames.get(self.tensors[t].type, str(self.tensors[t].type))

    def is_const(self, t):
        b = self.model.buffers[self.tensors[t].buffer]
        return b.data is not None and len(b.data) > 0

    def const_bytes(self, t):
        return bytes(np.asarray(self.model.buffers[self.tensors[t].buffer].data, dtype=np.uint8))

    def quant(self, t):
        """(scale array, zero-point array, quantized dimension) or None."""
        q = self.tensors[t].quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            return None
        return (np.asarray(q.scale, dtype=np.float32), np.asarray(q.zeroPoint, dtype=np.int64),
                int(q.quantizedDimension))

    def tensor_name(self, t):
        return _name(self.tensors[t].name) or f"t{t}"

    @property
    def inputs(self):
        return [int(i) for i in self.subgraph.inputs]

    @property
    def outputs(self):
        return [int(i) for i in self.subgraph.outputs]

    def const_tensors(self):
        """Indices of tensors whose data lives in the model (weights, biases, tables)."""
        seen = set()
        for op in self.ops:
            for t in op["inputs"]:
                if t >= 0 and t not in seen and self.is_const(t):
                    seen.add(t)
        return sorted(seen)

    def macs(self, op):
        """Multiply-accumulates of one node (matrix, conv and elementwise-multiply work)."""
        name = op["op"]
        ins = [t for t in op["inputs"]]
        out = self.shape(op["outputs"][0]) if op["outputs"] else ()
        nout = int(np.prod(out)) if out else 1
        if name == "FULLY_CONNECTED":
            return nout * self.shape(ins[1])[-1]
        if name == "CONV_2D":
            kh, kw, cin = self.shape(ins[1])[1:4]
            return nout * kh * kw * cin
        if name == "DEPTHWISE_CONV_2D":
            kh, kw = self.shape(ins[1])[1:3]
            return nout * kh * kw
        if name == "BATCH_MATMUL":
            a = self.shape(ins[0])
            adj_x = bool(getattr(op["options"], "adjX", False))
            k = a[-2] if adj_x else a[-1]
            return nout * k
        if name in ("MUL", "SQUARED_DIFFERENCE"):
            return nout
        return 0

    def summary(self):
        """Counts and sizes that do not need the engine."""
        consts = self.const_tensors()
        params = sum(int(np.prod(self.shape(t))) if self.shape(t) else 1 for t in consts)
        wbytes = sum(len(self.const_bytes(t)) for t in consts)
        counts = {}
        for op in self.ops:
            counts[op["op"]] = counts.get(op["op"], 0) + 1
        return {
            "nodes": len(self.ops),
            "op_counts": counts,
            "params": params,
            "weight_bytes": wbytes,
            "macs": sum(self.macs(op) for op in self.ops),
        }


def intermediate_tensors(buf):
    """Every tensor an op writes, in execution order (the candidates for extra outputs)."""
    m = unpack(buf)
    seen = []
    for op in m.subgraphs[0].operators:
        for t in op.outputs:
            if int(t) not in seen:
                seen.append(int(t))
    return seen


def with_outputs(buf, tensors):
    """A copy whose subgraph outputs are `tensors` (indices), in that order.

    The kernels and their arithmetic are unchanged; a runtime that only exposes model
    outputs then shows those intermediate results.
    """
    m = unpack(buf)
    sg = m.subgraphs[0]
    n = len(sg.tensors)
    bad = [t for t in tensors if not 0 <= t < n]
    if bad:
        raise ModelError(f"tensor(s) {bad} out of range ({n} tensors)")
    sg.outputs = np.array(list(tensors), dtype=np.int32)
    return pack(m)


def with_all_outputs(buf):
    """with_outputs(buf, original outputs + every intermediate tensor); -> (bytes, indices)."""
    outs = [int(i) for i in unpack(buf).subgraphs[0].outputs]
    outs += [t for t in intermediate_tensors(buf) if t not in outs]
    return with_outputs(buf, outs), outs
