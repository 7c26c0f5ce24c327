"""Model: a .tflite model running in the native engine `_uformer`, plus its metadata.

    m = Model.load("model.tflite")        # or Model(buffer); "/rom/..." files are mapped
    label, score = m.classify(window)     # window: a Window, or length*channels floats
    probs = m.predict(window)             # array('f') of the float outputs (reused)

The `microformer` metadata entry (JSON, written by the host's `microformer quantize`) gives
labels, window length/hop, channel names and the per-channel normalization mean/std. The
model's int8 input holds the normalized signal (x - mean) / std, quantized with the input
tensor's scale and zero point; `set_input` does both in one pass straight into the engine's
input tensor, rounding half away from zero like TFLite's QUANTIZE.
"""
import json

from .compat import zeros

_native = None


def native():
    """The `_uformer` module, or ImportError naming it when this runtime lacks it."""
    global _native
    if _native is None:
        try:
            import _uformer
        except ImportError:
            raise ImportError(
                "uformer.Model needs the native module _uformer, which this runtime does not "
                "have: flash a firmware built with the microformer engine "
                "(microformer firmware build), or on CPython build the extension "
                "(pip install microformer / setup.py build_ext)")
        _native = _uformer
    return _native


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def read_metadata(engine_model):
    """The `microformer` metadata dict of a loaded engine model ({} when absent)."""
    raw = engine_model.metadata("microformer")
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise ValueError("metadata 'microformer' is not valid JSON: %s" % e)
    if not isinstance(meta, dict):
        raise ValueError("metadata 'microformer' must be a JSON object, got %s" % type(meta).__name__)
    return meta


class Model:
    def __init__(self, buffer, arena_size=None, name=None):
        uf = native()
        self.name = name
        self.buffer = buffer  # the engine reads weights from here in place; keep it alive
        self.zero_copy = False  # True when `buffer` is memory-mapped flash (ROMFS)
        self.note = None  # why a /rom model could not be used in place, if it could not
        self._file = None
        if arena_size is None:
            eng = uf.Model(buffer)
        else:
            eng = uf.Model(buffer, arena_size)
        self.engine = eng
        self.meta = read_metadata(eng)
        if eng.num_inputs != 1:
            raise ValueError("model has %d inputs; uformer models take one window" % eng.num_inputs)
        shape, tc, scale, zp = eng.input_info(0)
        if tc not in ("b", "f"):
            raise ValueError("model input type %r: uformer writes int8 ('b') or float32 ('f')" % tc)
        self.input_shape = shape
        self.input_type = tc
        self.input_scale = scale
        self.input_zero_point = zp
        self.input_size = _prod(shape)
        self._in = eng.input(0)
        shape, tc, scale, zp = eng.output_info(0)
        if tc not in ("b", "f"):
            raise ValueError("model output type %r: uformer reads int8 ('b') or float32 ('f')" % tc)
        self.output_shape = shape
        self.output_type = tc
        self.output_scale = scale
        self.output_zero_point = zp
        self.output_size = _prod(shape)
        self._out = eng.output(0)
        self.outputs = zeros("f", self.output_size)
        self._check_meta()
        self._prepare_input()

    @classmethod
    def load(cls, path, arena_size=None, into=None):
        """Load a .tflite file. Files on ROMFS (/rom) are used in place (no RAM copy);
        others are read into `into` (a preallocated bytearray, the model then uses its
        first file-size bytes) or into a new bytearray."""
        f = open(path, "rb")
        try:
            buf = memoryview(f)  # only ROMFS files export their (memory-mapped) bytes
            zero_copy = True
        except TypeError:
            zero_copy = False
        if not zero_copy:
            try:
                buf = read_file(f, path, into)
            finally:
                f.close()
            f = None
        note = None
        try:
            m = cls(buf, arena_size, name=path)
        except ValueError:
            addr = _address(buf) if zero_copy else None
            if addr is None or addr % 16 == 0:
                raise
            # The engine reads tensors in place and needs them naturally aligned; this
            # ROMFS image put the file at an odd offset. Serve it from RAM instead.
            note = ("%s is mapped at 0x%x, not 16-byte aligned: copied to RAM (build the "
                    "ROMFS image with aligned files for zero-copy)" % (path, addr))
            f.close()
            f = None
            zero_copy = False
            with open(path, "rb") as g:
                buf = read_file(g, path, into)
            m = cls(buf, arena_size, name=path)
        m.zero_copy = zero_copy
        m.note = note
        m._file = f  # keeps a mapped file open for as long as the model reads it
        return m

    # --- metadata ---------------------------------------------------------------------

    def _check_meta(self):
        meta = self.meta
        self.labels = meta.get("labels")
        self.window = meta.get("window")
        self.hop = meta.get("hop")
        self.sample_rate = meta.get("sample_rate")
        ch = meta.get("channels")
        self.channel_names = ch if isinstance(ch, list) else None
        if isinstance(ch, list):
            self.channels = len(ch)
        elif isinstance(ch, int):
            self.channels = ch
        elif isinstance(self.window, int) and self.window > 0 and self.input_size % self.window == 0:
            self.channels = self.input_size // self.window
        else:
            self.channels = 1
        if isinstance(self.window, int):
            if self.window * self.channels != self.input_size:
                raise ValueError(
                    "metadata says window %d x %d channels = %d values, the model input %s "
                    "has %d" % (self.window, self.channels, self.window * self.channels,
                                self.input_shape, self.input_size))
        if self.labels is not None:
            if not isinstance(self.labels, list):
                raise ValueError("metadata labels must be a list, got %r" % (self.labels,))
            if meta.get("task", "classification") == "classification" and \
                    len(self.labels) != self.output_size:
                raise ValueError("metadata has %d labels, the model has %d outputs" % (
                    len(self.labels), self.output_size))

    def _prepare_input(self):
        # Per-channel affine map raw sample -> value to round: y = x * k + off, with
        # k = 1 / (std * scale) and off = -mean * k for int8 inputs (zero point added after
        # rounding), k = 1 / std and off = -mean / std for float inputs. Python floats in
        # lists: reading them allocates nothing (reading an array('f') would).
        C = self.channels
        norm = self.meta.get("normalization") or {}
        mean = norm.get("mean") or [0.0] * C
        std = norm.get("std") or [1.0] * C
        if len(mean) != C or len(std) != C:
            raise ValueError("normalization has %d means and %d stds for %d channels" % (
                len(mean), len(std), C))
        scale = self.input_scale if self.input_type == "b" else 1.0
        if self.input_type == "b" and not scale > 0.0:
            raise ValueError("int8 model input has scale %r; it must be > 0" % scale)
        k = []
        off = []
        for c in range(C):
            s = float(std[c])
            if not s > 0.0:
                raise ValueError("normalization std of channel %d is %r; it must be > 0" % (c, s))
            kc = 1.0 / (s * scale)
            k.append(kc)
            off.append(-float(mean[c]) * kc)
        self._k = k
        self._off = off

    # --- inference --------------------------------------------------------------------

    def set_input(self, x):
        """Normalize and quantize a window into the input tensor (no intermediate copy).

        x: a Window (read in place, oldest sample first) or a flat sequence of
        length*channels raw values, sample-major.
        """
        n = self.input_size
        ring = getattr(x, "buf", None)
        if ring is not None and hasattr(x, "pos"):
            if x.size != n:
                raise ValueError("window holds %d x %d = %d values, the model takes %d" % (
                    x.length, x.channels, x.size, n))
            if x.channels != self.channels:
                raise ValueError("window has %d channels, the model %d" % (x.channels, self.channels))
            self._fill(ring, x.pos * x.channels)
        else:
            if len(x) != n:
                raise ValueError("input has %d values, the model takes %d" % (len(x), n))
            self._fill(x, 0)

    def _fill(self, src, j):
        dst = self._in
        k = self._k
        off = self._off
        C = self.channels
        n = self.input_size
        c = 0
        if self.input_type == "b":
            zp = self.input_zero_point
            for i in range(n):
                y = src[j] * k[c] + off[c]
                # Round half away from zero; clamp first so int() never sees inf.
                if y >= 0.0:
                    q = int(y + 0.5) if y < 512.0 else 512
                else:
                    q = -int(0.5 - y) if y > -512.0 else -512
                q += zp
                dst[i] = -128 if q < -128 else (127 if q > 127 else q)
                j += 1
                if j == n:
                    j = 0
                c += 1
                if c == C:
                    c = 0
        else:
            for i in range(n):
                dst[i] = src[j] * k[c] + off[c]
                j += 1
                if j == n:
                    j = 0
                c += 1
                if c == C:
                    c = 0

    def invoke(self, x=None):
        if x is not None:
            self.set_input(x)
        self.engine.invoke()

    def predict(self, x=None):
        """Run one window; the float outputs as an array('f') that the next call reuses."""
        self.invoke(x)
        out = self.outputs
        raw = self._out
        if self.output_type == "b":
            s = self.output_scale
            zp = self.output_zero_point
            for i in range(self.output_size):
                out[i] = (raw[i] - zp) * s
        else:
            for i in range(self.output_size):
                out[i] = raw[i]
        return out

    def classify(self, x=None):
        """Run one window; (label, score) of the top output (label is the index when the
        model has no labels). The arg-max runs on the raw outputs, so ties go to the
        lowest index exactly like on the host."""
        self.invoke(x)
        raw = self._out
        best = 0
        top = raw[0]
        for i in range(1, self.output_size):
            v = raw[i]
            if v > top:
                top = v
                best = i
        if self.output_type == "b":
            score = (top - self.output_zero_point) * self.output_scale
        else:
            score = top
        labels = self.labels
        return (labels[best] if labels else best), score

    def test_invoke(self):
        """Invoke on a neutral window (every channel at its training mean) and check the
        outputs; raises ValueError naming the first bad output."""
        if self.input_type == "b":
            zp = self.input_zero_point
            dst = self._in
            for i in range(self.input_size):
                dst[i] = zp
        else:
            dst = self._in
            for i in range(self.input_size):
                dst[i] = 0.0
        self.engine.invoke()
        out = self.predict()
        for i in range(self.output_size):
            v = out[i]
            if not (-3.4e38 <= v <= 3.4e38):
                raise ValueError("test invoke: output %d is %r" % (i, v))
        return out

    def info(self):
        eng = self.engine
        return {
            "name": self.name,
            "bytes": len(self.buffer),
            "zero_copy": self.zero_copy,
            "note": self.note,
            "arena": eng.arena_size,
            "ops": eng.ops,
            "labels": self.labels,
            "window": self.window,
            "hop": self.hop,
            "channels": self.channel_names or self.channels,
            "sample_rate": self.sample_rate,
            "input": (self.input_shape, self.input_type, self.input_scale, self.input_zero_point),
            "output": (self.output_shape, self.output_type, self.output_scale,
                       self.output_zero_point),
            "task": self.meta.get("task"),
            "version": self.meta.get("version"),
            "created_at": self.meta.get("created_at"),
            "metrics": self.meta.get("metrics"),
        }

    def __repr__(self):
        return "<Model %s: %d B, arena %d B, %d ops, labels %r>" % (
            self.name, len(self.buffer), self.engine.arena_size, len(self.engine.ops), self.labels)


def _address(buf):
    """Address of a buffer's first byte (MicroPython), or None where it cannot be known."""
    try:
        import uctypes

        return uctypes.addressof(buf)
    except (ImportError, TypeError, AttributeError):
        return None


def file_size(path):
    import os

    return os.stat(path)[6]


def read_file(f, path, into=None):
    """Read an open file completely; into `into` (a bytearray) when given.

    Returns a bytearray or a memoryview of exactly the file's bytes."""
    size = file_size(path)
    if into is None:
        buf = bytearray(size)
        mv = memoryview(buf)
    else:
        if size > len(into):
            raise ValueError("%s is %d bytes, the buffer holds %d" % (path, size, len(into)))
        buf = mv = memoryview(into)[:size]
    got = 0
    while got < size:
        n = f.readinto(mv[got:])
        if not n:
            raise OSError("%s: read %d of %d bytes" % (path, got, size))
        got += n
    return buf
