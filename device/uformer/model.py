"""Model: a .tflite model running in the native engine `_uformer`, plus its metadata.

    m = Model.load("model.tflite")        # or Model(buffer); "/rom/..." files are mapped
    label, score = m.classify(window)     # window: a Window, or length*channels floats
    probs = m.predict(window)             # array('f') of the float outputs (reused)

The `microformer` metadata entry (JSON, written by the host's `microformer quantize`) gives
labels, window length/hop, channel names and the per-channel normalization mean/std. The
model's int8 input holds the normalized signal (x - mean) / std, quantized with the input
tensor's scale and zero point. `set_input` has the engine do both (`_uformer`'s
Model.set_input, the C function mf_write_window) straight into the input tensor: float32
y = (x - mean) / std, then round_half_away_from_zero(y / scale) + zero point, clamped to
int8. The host's `microformer eval` calls the same function, so a window gives the same
input bytes on the board and on the host.
"""
import json

from .compat import const, zeros

# Metadata is a peer's input (a pushed model): bounded before json.loads, which recurses on
# CPython (RecursionError) and builds arbitrarily deep objects on MicroPython.
MAX_META_BYTES = const(16384)
MAX_META_DEPTH = const(16)
# float32 (MicroPython's float on most boards) overflows above this.
_FMAX = 3.4e38

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


def json_depth(raw, limit):
    """Nesting depth of the JSON text raw (bytes), counting [ and { outside strings; stops
    and returns limit + 1 as soon as it passes limit."""
    depth = 0
    top = 0
    in_str = False
    esc = False
    for b in raw:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:  # backslash
                esc = True
            elif b == 0x22:  # quote
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b == 0x5B or b == 0x7B:  # [ {
            depth += 1
            if depth > top:
                top = depth
                if top > limit:
                    return top
        elif b == 0x5D or b == 0x7D:  # ] }
            depth -= 1
    return top


def read_metadata(engine_model):
    """The `microformer` metadata dict of a loaded engine model ({} when absent).

    Raises ValueError for metadata too big or nested too deep to parse safely, or not a
    JSON object."""
    raw = engine_model.metadata("microformer")
    if raw is None:
        return {}
    if len(raw) > MAX_META_BYTES:
        raise ValueError("metadata 'microformer' is %d bytes; at most %d are read" % (
            len(raw), MAX_META_BYTES))
    if json_depth(raw, MAX_META_DEPTH) > MAX_META_DEPTH:
        raise ValueError("metadata 'microformer' nests deeper than %d levels" % MAX_META_DEPTH)
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeError) as e:  # UnicodeDecodeError is a ValueError on CPython
        raise ValueError("metadata 'microformer' is not valid JSON: %s" % e)
    if not isinstance(meta, dict):
        raise ValueError("metadata 'microformer' must be a JSON object, got %s" % type(meta).__name__)
    return meta


class Model:
    def __init__(self, buffer, arena_size=None, name=None, arena=None):
        """arena: a bytearray reserved by the caller (Slot reserves one for every model it
        will ever load) instead of an arena allocated for this model; it must hold
        _uformer.arena_size(buffer) + _uformer.ARENA_TAG bytes."""
        self.name = name
        self.buffer = buffer  # the engine reads weights from here in place; keep it alive
        self.zero_copy = False  # True when `buffer` is memory-mapped flash (ROMFS)
        self.note = None  # why a /rom model could not be used in place, if it could not
        self._file = None
        self.arena = arena
        eng = self._engine(arena_size)
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
        if self.output_size < 1:
            raise ValueError("model output %s has no values" % (shape,))
        self.outputs = zeros("f", self.output_size)
        self._check_meta()
        self._prepare_input()

    def _engine(self, arena_size=None):
        uf = native()
        if self.arena is not None:
            return uf.Model(self.buffer, arena=self.arena)
        if arena_size is None:
            return uf.Model(self.buffer)
        return uf.Model(self.buffer, arena_size)

    def reload(self):
        """Load the same bytes into the same arena again, after another model used the
        arena (Slot does this when a new model is refused). The engine is deterministic:
        bytes and an arena that loaded once load again, with the same tensor layout."""
        eng = self._engine()
        self.engine = eng
        self._in = eng.input(0)
        self._out = eng.output(0)

    @classmethod
    def load(cls, path, arena_size=None, into=None, arena=None):
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
            m = cls(buf, arena_size, name=path, arena=arena)
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
            m = cls(buf, arena_size, name=path, arena=arena)
        m.zero_copy = zero_copy
        m.note = note
        m._file = f  # keeps a mapped file open for as long as the model reads it
        return m

    # --- metadata ---------------------------------------------------------------------

    def _check_meta(self):
        # Every field a peer's model brings is checked for type, range and finiteness here,
        # so a bad one is refused at load (the old model keeps serving) instead of failing
        # every window later. Keys this version does not know are ignored (newer hosts
        # may add some).
        meta = self.meta
        task = meta.get("task")
        if task is not None and not isinstance(task, str):
            raise ValueError("metadata task must be a string, got %r" % (task,))
        self.window = _opt_int(meta, "window")
        self.hop = _opt_int(meta, "hop")
        rate = meta.get("sample_rate")
        if rate is not None and not (_is_num(rate) and 0 < rate <= 1e6):
            raise ValueError("metadata sample_rate must be a number in (0, 1e6] Hz, got %r" % (rate,))
        self.sample_rate = rate
        n = self.input_size
        ch = meta.get("channels")
        self.channel_names = None
        if isinstance(ch, list):
            for c in ch:
                if not isinstance(c, str):
                    raise ValueError("metadata channels must be names (strings), got %r" % (c,))
            self.channel_names = ch
            self.channels = len(ch)
        elif _is_int(ch):
            self.channels = ch
        elif ch is not None:
            raise ValueError("metadata channels must be a list of names or a count, got %r" % (ch,))
        elif self.window is not None and n % self.window == 0:
            self.channels = n // self.window
        else:
            self.channels = 1
        if not 0 < self.channels <= n:
            raise ValueError("metadata has %d channels; the model input has %d values" % (
                self.channels, n))
        if self.window is not None and self.window * self.channels != n:
            raise ValueError(
                "metadata says window %d x %d channels = %d values, the model input %s "
                "has %d" % (self.window, self.channels, self.window * self.channels,
                            self.input_shape, n))
        labels = meta.get("labels")
        if labels is not None:
            if not isinstance(labels, list):
                raise ValueError("metadata labels must be a list, got %r" % (labels,))
            for lab in labels:
                if not isinstance(lab, str):
                    raise ValueError("metadata labels must be strings, got %r" % (lab,))
            # Labels name the outputs whatever the task (classify() indexes them by the
            # top output): only a non-classification model may have none.
            if len(labels) != self.output_size and (labels or task in (None, "classification")):
                raise ValueError("metadata has %d labels, the model has %d outputs" % (
                    len(labels), self.output_size))
        self.labels = labels
        norm = meta.get("normalization")
        if norm is None:
            norm = {}
        if not isinstance(norm, dict):
            raise ValueError("metadata normalization must be an object with mean and std "
                             "lists, got %r" % (norm,))
        self._mean = _floats(norm.get("mean"), self.channels, "mean", 0.0)
        self._std = _floats(norm.get("std"), self.channels, "std", 1.0)

    def _prepare_input(self):
        # mean and std as float32 arrays, the engine's operands: checked here after the
        # float32 rounding (a std that rounds to 0 would divide by zero in every window).
        C = self.channels
        if self.input_type == "b" and not self.input_scale > 0.0:
            raise ValueError("int8 model input has scale %r; it must be > 0" % self.input_scale)
        mean = zeros("f", C)
        std = zeros("f", C)
        for c in range(C):
            mean[c] = self._mean[c]  # validated by _check_meta: finite float32 values
            std[c] = self._std[c]
            if not std[c] > 0.0:
                raise ValueError("normalization std of channel %d is %r; it must be > 0 in "
                                 "float32" % (c, self._std[c]))
        self._mean32 = mean
        self._std32 = std
        self._stage = None  # array('f') for windows given as sequences, made on first use

    # --- inference --------------------------------------------------------------------

    def set_input(self, x):
        """Normalize and quantize a window into the input tensor (no intermediate copy).

        x: a Window (read in place, oldest sample first) or a flat sequence of
        length*channels raw values, sample-major (copied into a float32 staging array
        first, allocated once).
        """
        n = self.input_size
        ring = getattr(x, "buf", None)
        if ring is not None and hasattr(x, "pos"):
            if x.size != n:
                raise ValueError("window holds %d x %d = %d values, the model takes %d" % (
                    x.length, x.channels, x.size, n))
            if x.channels != self.channels:
                raise ValueError("window has %d channels, the model %d" % (x.channels, self.channels))
            start = x.pos * x.channels
        else:
            if len(x) != n:
                raise ValueError("input has %d values, the model takes %d" % (len(x), n))
            ring = self._stage
            if ring is None:
                ring = self._stage = zeros("f", n)
            for i in range(n):
                ring[i] = x[i]
            start = 0
        self.engine.set_input(0, ring, self._mean32, self._std32, start)

    def invoke(self, x=None):
        if x is not None:
            self.set_input(x)
        self.engine.invoke()

    def profile(self, x=None):
        """Run one window (as invoke does) with the engine timing every node:
        (unit, ((op, fused, ticks), ...)), one entry per node in execution order. unit:
        "cpu" (the port's time.ticks_cpu counter) or "us" on MicroPython, "ns" on CPython.
        fused: 0 the node runs its op; 1 it runs a fused chain and its ticks are the
        chain's; 2 a later fused node runs it (0 ticks). NotImplementedError when the
        engine was built without the profiler (MF_PROFILE 0)."""
        run = getattr(self.engine, "profile", None)
        if run is None:
            raise NotImplementedError("this _uformer has no profiler (its engine was built with MF_PROFILE 0)")
        if x is not None:
            self.set_input(x)
        return run()

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


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    # Comparisons are False for NaN, and an int too big for a float compares as inf.
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and -_FMAX <= v <= _FMAX


def _opt_int(meta, key):
    v = meta.get(key)
    if v is not None and not (_is_int(v) and 0 < v <= 1 << 24):
        raise ValueError("metadata %s must be a positive integer, got %r" % (key, v))
    return v


def _floats(v, n, name, default):
    """n finite floats from the metadata list v (None: n times default)."""
    if v is None:
        return [default] * n
    if not isinstance(v, list) or len(v) != n:
        raise ValueError("metadata normalization %s must be a list of %d numbers (one per "
                         "channel), got %r" % (name, n, v if not isinstance(v, list) else
                                               "%d values" % len(v)))
    out = []
    for i in range(n):
        x = v[i]
        if not _is_num(x):
            raise ValueError("metadata normalization %s[%d] must be a number within "
                             "+-3.4e38 (float32), got %r" % (name, i, x))
        out.append(float(x))
    return out


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
