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
