"""Build single-op (or small) .tflite models directly, for per-op parity tests.

Uses the flatbuffers object API shipped with the tflite-micro package, so tests control
every shape, option and quantization parameter without going through the converter.

    g = Graph()
    x = g.input((1, 8), "int8", scale=0.05, zp=-3)
    w = g.const(np.int8 array, scale=[...per channel...], zp=0, qdim=0)
    y = g.output((1, 4), "int8", scale=0.1, zp=2)
    g.op("FULLY_CONNECTED", [x, w, -1], [y], FullyConnectedOptions(fusedActivationFunction=1))
    model = g.build()
"""
import numpy as np
import flatbuffers

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as S

TYPES = {
    "float32": S.TensorType.FLOAT32,
    "int32": S.TensorType.INT32,
    "int64": S.TensorType.INT64,
    "int16": S.TensorType.INT16,
    "int8": S.TensorType.INT8,
    "bool": S.TensorType.BOOL,
}
NP = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "int16": np.int16,
      "int8": np.int8, "bool": np.bool_}


def options(name, **fields):
    """An options object, e.g. options("FullyConnectedOptions", fusedActivationFunction=1).

    Returns (union tag, object) as Graph.op expects.
    """
    obj = getattr(S, name + "T")()
    for k, v in fields.items():
        if not hasattr(obj, k):
            raise AttributeError(f"{name} has no field {k}")
        setattr(obj, k, v)
    return getattr(S.BuiltinOptions, name), obj


class Graph:
    def __init__(self):
        self.tensors = []
        self.buffers = [S.BufferT()]  # buffer 0 is the empty sentinel
        self.ops = []
        self.opcodes = []
        self.inputs = []
        self.outputs = []
        self.metadata = []

    def _tensor(self, shape, dtype, scale=None, zp=None, qdim=0, data=None, name=None):
        t = S.TensorT()
        t.shape = np.array(shape, dtype=np.int32) if len(shape) else []
        t.type = TYPES[dtype]
        t.name = name or f"t{len(self.tensors)}"
        if data is not None:
            buf = S.BufferT()
            raw = np.ascontiguousarray(np.asarray(data, dtype=NP[dtype])).tobytes()
            buf.data = np.frombuffer(raw, dtype=np.uint8) if raw else None
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        if scale is not None:
            q = S.QuantizationParametersT()
            sc = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            z = np.atleast_1d(np.asarray(0 if zp is None else zp, dtype=np.int64))
            if z.size == 1 and sc.size > 1:
                z = np.repeat(z, sc.size)
            q.scale = sc
            q.zeroPoint = z
            q.quantizedDimension = qdim
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def tensor(self, shape, dtype="int8", scale=None, zp=None, qdim=0, name=None):
        """An intermediate activation tensor."""
        return self._tensor(shape, dtype, scale, zp, qdim, None, name)

    def input(self, shape, dtype="int8", scale=None, zp=None, name=None):
        i = self._tensor(shape, dtype, scale, zp, 0, None, name)
        self.inputs.append(i)
        return i

    def output(self, shape, dtype="int8", scale=None, zp=None, name=None):
        i = self._tensor(shape, dtype, scale, zp, 0, None, name)
        self.outputs.append(i)
        return i

    def const(self, data, dtype=None, scale=None, zp=None, qdim=0, name=None):
        data = np.asarray(data)
        if dtype is None:
            dtype = str(data.dtype)
        return self._tensor(data.shape, dtype, scale, zp, qdim, data, name)

    def op(self, name, inputs, outputs, opts=None, version=1):
        code = getattr(S.BuiltinOperator, name)
        key = (code, version)
        if key not in self.opcodes:
            self.opcodes.append(key)
        o = S.OperatorT()
        o.opcodeIndex = self.opcodes.index(key)
        o.inputs = np.array(inputs, dtype=np.int32)
        o.outputs = np.array(outputs, dtype=np.int32)
        if opts is not None:
            o.builtinOptionsType, o.builtinOptions = opts
        self.ops.append(o)

    def add_metadata(self, name, data: bytes):
        buf = S.BufferT()
        buf.data = np.frombuffer(data, dtype=np.uint8)
        self.buffers.append(buf)
        m = S.MetadataT()
        m.name = name
        m.buffer = len(self.buffers) - 1
        self.metadata.append(m)

    def build(self):
        sg = S.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = np.array(self.inputs, dtype=np.int32)
        sg.outputs = np.array(self.outputs, dtype=np.int32)
        sg.operators = self.ops
        sg.name = "main"
        m = S.ModelT()
        m.version = 3
        m.description = "microformer test"
        m.subgraphs = [sg]
        m.buffers = self.buffers
        codes = []
        for code, version in self.opcodes:
            oc = S.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = version
            codes.append(oc)
        m.operatorCodes = codes
        if self.metadata:
            m.metadata = self.metadata
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())
