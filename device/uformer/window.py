"""Window: a preallocated ring buffer of sensor samples that says when a window is ready.

The ring holds the last `length` samples of `channels` float32 values each (sample-major,
4 * length * channels bytes, allocated once). `push` copies one sample into the ring and
allocates nothing (proved under micropython.heap_lock() by tests/device). Normalization and
quantization happen once per window, straight into the model's input tensor
(`Model.set_input(window)` reads the ring in place; see model.py). That pass does float
math in Python, so on ports with boxed floats it leaves a few transient floats per value
for the GC (about 1.2 us and 128 B per value on the 64-bit unix port); push does not.
"""
from array import array as _array

from .compat import zeros

# float32 range: anything outside (and NaN, which fails every comparison) is not a sample.
# Globals, not literals in push(): negating a float constant would allocate at run time.
_FMAX = 3.4028234e38
_FMIN = -3.4028234e38


class Window:
    def __init__(self, length, channels, hop=None):
        if hop is None:
            hop = length
        for name, v in (("length", length), ("channels", channels), ("hop", hop)):
            if not isinstance(v, int) or v < 1:
                raise ValueError("Window %s must be a positive integer, got %r" % (name, v))
        self.length = length
        self.channels = channels
        self.hop = hop
        self.size = length * channels  # floats in one window
        self.buf = zeros("f", self.size)
        self._mv = memoryview(self.buf)
        self._f32 = None  # the last array('f') sample buffer seen (typecode checked)
        self.pos = 0  # slot of the next sample; once full, also the oldest sample
        self.filled = 0  # samples in the ring, 0..length
        self._due = length  # samples still needed before the next window is ready

    def reset(self):
        """Forget all samples (the next window is ready after `length` new ones)."""
        self.pos = 0
        self.filled = 0
        self._due = self.length

    def push(self, sample):
        """Add one sample; True when a window is ready.

        sample: a tuple/list of `channels` numbers (each checked to be a finite float32),
        or an array('f') of `channels` values, copied raw (what uformer's sensors return).
        Allocation-free for arrays, for small ints, and for numbers that already exist.
        """
        ch = self.channels
        if len(sample) != ch:
            raise ValueError("sample has %d values, the window has %d channels" % (len(sample), ch))
        if isinstance(sample, _array):
            if sample is not self._f32:
                # Checked once per buffer (sensors reuse theirs): the raw copy below needs
                # float32 items, and MicroPython arrays do not expose their typecode.
                tc = getattr(sample, "typecode", None) or repr(sample)[7:8]
                if tc != "f":
                    raise ValueError("array samples must be array('f'), got typecode %r" % tc)
                self._f32 = sample
            base = self.pos * ch
            self._mv[base:base + ch] = sample
            return self._advance()
        return self._put(sample, 0, ch)

    def extend(self, block):
        """Add samples from a flat sample-major sequence (len a multiple of `channels`).

        Returns how many windows became ready while adding them (0, 1, ...); only the last
        one is still in the ring, so callers that need every window pass at most `hop`
        samples at a time.
        """
        ch = self.channels
        n = len(block)
        if n % ch:
            raise ValueError(
                "block of %d values is not a whole number of %d-channel samples" % (n, ch))
        ready = 0
        for off in range(0, n, ch):
            if self._put(block, off, off + ch):
                ready += 1
        return ready

    def _put(self, src, start, end):
        buf = self.buf
        base = self.pos * self.channels - start
        # Validate every value before storing any, so a bad sample leaves the ring intact.
        for i in range(start, end):
            v = src[i]
            try:
                ok = _FMIN <= v <= _FMAX
            except TypeError:
                raise ValueError("sample channel %d is %r, not a number" % (i - start, v))
            if not ok:
                raise ValueError("sample channel %d is %r, not a finite float32" % (i - start, v))
        for i in range(start, end):
            buf[base + i] = src[i]
        return self._advance()

    def _advance(self):
        pos = self.pos + 1
        if pos == self.length:
            pos = 0
        self.pos = pos
        if self.filled < self.length:
            self.filled += 1
        due = self._due - 1
        if due == 0:
            self._due = self.hop
            return True
        self._due = due
        return False

    def latest(self, out=None):
        """The window oldest-first as a flat array('f') of length*channels (sample-major).

        Slots not yet filled read as 0.0 (they come first). Pass `out` (an array('f') of at
        least `size` values) to reuse a buffer instead of allocating one.
        """
        n = self.size
        if out is None:
            out = zeros("f", n)
        elif len(out) < n:
            raise ValueError("out holds %d values, the window has %d" % (len(out), n))
        split = self.pos * self.channels
        src = memoryview(self.buf)
        dst = memoryview(out)
        dst[0:n - split] = src[split:n]
        dst[n - split:n] = src[0:split]
        return out

    def __len__(self):
        return self.filled

    def __repr__(self):
        return "<Window %dx%d hop %d, %d/%d samples>" % (
            self.length, self.channels, self.hop, self.filled, self.length)


# Event fits (the model metadata's "event": {"length", "fit"}); the host's
# microformer.data.fit_event is the same arithmetic.
FIT_RESAMPLE = "resample"
FIT_PAD = "pad"


class EventWindow:
    """One event (a gesture, a take between two triggers) brought to the model's length the
    way training brought every recording file to it.

        ev = EventWindow.for_model(model)       # or EventWindow(length, channels, fit)
        ev.start()                              # trigger: a button, a motion threshold
        ev.push(sample)                         # True once max_samples are held (stop now)
        label, score = model.classify(ev.finish())

    resample: linear interpolation of the n samples at positions i * (n - 1) / (length - 1),
    the neighbours picked with integers; pad: the first `length` samples, a shorter event
    continued with its last sample. Samples are kept as float32 (4 * max_samples * channels
    bytes) and the fitted window as float32 (4 * length * channels bytes), both allocated
    here once. With double-precision floats (unix, CPython) the fitted window is the same
    float32 bytes the host trained on; single-precision ports can differ in the last bit.
    """

    def __init__(self, length, channels, fit=FIT_RESAMPLE, max_samples=None):
        if fit not in (FIT_RESAMPLE, FIT_PAD):
            raise ValueError("event fit must be 'resample' or 'pad', got %r" % (fit,))
        if max_samples is None:
            # pad never reads past `length`; resample accepts events up to 4x the length.
            max_samples = length if fit == FIT_PAD else 4 * length
        for name, v in (("length", length), ("channels", channels),
                        ("max_samples", max_samples)):
            if not isinstance(v, int) or v < 1:
                raise ValueError("EventWindow %s must be a positive integer, got %r" % (name, v))
        self.length = length
        self.channels = channels
        self.fit = fit
        self.max_samples = max_samples
        self.raw = zeros("f", max_samples * channels)
        self.out = zeros("f", length * channels)
        self._raw_mv = memoryview(self.raw)
        self._out_mv = memoryview(self.out)
        self.n = 0  # samples held, 0..max_samples
        self._ring = Window(1, channels)  # validates one sample at a time (no allocation)

    @classmethod
    def for_model(cls, model, max_samples=None):
        """The EventWindow a uformer.Model's metadata asks for (its "event" entry)."""
        ev = model.meta.get("event") if model.meta else None
        if not isinstance(ev, dict):
            raise ValueError("model %s was trained on streams (no 'event' in its metadata); "
                             "use Window" % (getattr(model, "name", None) or "",))
        length = ev.get("length")
        if length != model.window:
            raise ValueError("event length %r differs from the model window %r" % (
                length, model.window))
        return cls(length, model.channels, ev.get("fit"), max_samples)

    def start(self):
        """Forget the samples held: the next push is the event's first sample."""
        self.n = 0

    def push(self, sample):
        """Add one sample (as Window.push takes it); True when the window is full
        (max_samples held: finish() now, later samples are refused)."""
        ch = self.channels
        if self.n >= self.max_samples:
            raise ValueError("event is full: %d samples held (max_samples)" % self.max_samples)
        ring = self._ring
        ring.push(sample)  # checks the channel count and that each value is a finite float32
        base = self.n * ch
        self._raw_mv[base:base + ch] = ring._mv
        self.n += 1
        return self.n == self.max_samples

    def finish(self):
        """The fitted window: an array('f') of length * channels values, sample-major
        (reused by the next finish); Model.set_input/classify take it as is."""
        n = self.n
        if n == 0:
            raise ValueError("event has no samples: push some after start()")
        ch = self.channels
        L = self.length
        raw = self.raw
        out = self.out
        if self.fit == FIT_PAD:
            keep = n if n < L else L
            self._out_mv[0:keep * ch] = self._raw_mv[0:keep * ch]
            last = (keep - 1) * ch
            for i in range(keep, L):
                base = i * ch
                for c in range(ch):
                    out[base + c] = raw[last + c]
            return out
        if n == 1 or L == 1:
            for i in range(L):
                for c in range(ch):
                    out[i * ch + c] = raw[c]
            return out
        den = L - 1
        for i in range(L):
            num = i * (n - 1)
            j = num // den
            r = num - j * den
            a0 = j * ch
            b0 = a0 + ch if j + 1 < n else a0
            f = r / den
            for c in range(ch):
                a = raw[a0 + c]
                out[i * ch + c] = a + (raw[b0 + c] - a) * f
        return out

    def __len__(self):
        return self.n

    def __repr__(self):
        return "<EventWindow %dx%d %s, %d/%d samples>" % (
            self.length, self.channels, self.fit, self.n, self.max_samples)
