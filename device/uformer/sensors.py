"""Sensors. A sensor is any callable returning one sample (a sequence of channel values), or
None when no new sample is available yet. The Runner calls it once per period.

ReplaySensor plays a CSV recording (the host's dataset format: a header row of channel
names, an optional t/time/timestamp column and an optional label column, both skipped) —
for the simulator, for testing an app on a board without the hardware, and for demos.
"""
from .compat import ticks_diff, ticks_ms, zeros

_SKIP = ("t", "time", "timestamp", "label")


class ReplaySensor:
    """Plays `path` at `rate_hz` samples per second.

    realtime (default when rate_hz is given): the sample returned is the one due at the
    current time, like a real sensor that is read late (samples in between are skipped).
    Otherwise every call returns the next row. loop: start again after the last row;
    without it the sensor returns None once the recording has been played.

    Rows are parsed once into a float32 array (4 bytes per value); each call copies one row
    into the same array('f'), which Window.push copies without allocating.
    """

    def __init__(self, path, rate_hz=None, loop=True, realtime=None, columns=None):
        self.path = path
        self.rate_hz = rate_hz
        self.loop = loop
        self.realtime = rate_hz is not None if realtime is None else realtime
        if self.realtime and not rate_hz:
            raise ValueError("realtime replay needs rate_hz")
        self.names, self.data, self.truth, self.labels = _parse_csv(path, columns)
        self.channels = len(self.names)
        self.rows = len(self.data) // self.channels
        self.sample = zeros("f", self.channels)
        self._mv = memoryview(self.sample)
        self._src = memoryview(self.data)
        self.index = -1  # row of the last returned sample
        self._next = 0
        self._t0 = None
        self.done = False

    @property
    def period_ms(self):
        return int(1000 // self.rate_hz) if self.rate_hz else None

    def restart(self):
        self._next = 0
        self._t0 = None
        self.index = -1
        self.done = False

    def __call__(self):
        if self.realtime:
            now = ticks_ms()
            if self._t0 is None:
                self._t0 = now
            n = int(ticks_diff(now, self._t0) * self.rate_hz // 1000)
            if n < self._next:
                return None  # the next sample is not due yet
        else:
            n = self._next
        if n >= self.rows and not self.loop:
            self.done = True
            return None
        self._next = n + 1
        i = n % self.rows
        self.index = i
        ch = self.channels
        self._mv[0:ch] = self._src[i * ch:(i + 1) * ch]
        return self.sample

    def label(self, i=None):
        """Ground-truth label of row i (default: the last returned), or None."""
        if self.truth is None:
            return None
        return self.labels[self.truth[self.index if i is None else i]]


def _count_rows(path):
    n = -1  # minus the header
    with open(path) as f:
        for line in f:
            if line.strip():
                n += 1
    return n


def _parse_csv(path, columns=None):
    # Two passes: count the rows, then fill an array allocated once at its final size
    # (growing it row by row would need up to twice the memory and fragment a small heap).
    rows = _count_rows(path)
    names = None
    keep = None
    label_col = -1
    data = None
    truth = None
    labels = []
    k = 0  # values stored
    r = 0  # rows stored
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            cells = [c.strip() for c in line.split(",")]
            if names is None:
                header = [c.lower() for c in cells]
                if columns is not None:
                    keep = []
                    for c in columns:
                        if c.lower() not in header:
                            raise ValueError("%s has no column %r (it has %s)" % (path, c, cells))
                        keep.append(header.index(c.lower()))
                else:
                    keep = [i for i, c in enumerate(header) if c not in _SKIP]
                if not keep:
                    raise ValueError("%s has no sensor columns in its header %s" % (path, cells))
                if rows < 1:
                    raise ValueError("%s has no samples" % path)
                data = zeros("f", rows * len(keep))
                if "label" in header:
                    label_col = header.index("label")
                    truth = bytearray(rows)
                names = [cells[i] for i in keep]
                continue
            if len(cells) < len(header):
                raise ValueError("%s line %d has %d cells, the header %d" % (
                    path, lineno, len(cells), len(header)))
            for i in keep:
                try:
                    v = float(cells[i])
                except ValueError:
                    raise ValueError("%s line %d column %s: %r is not a number" % (
                        path, lineno, names[keep.index(i)], cells[i]))
                if not (-3.4e38 <= v <= 3.4e38):
                    raise ValueError("%s line %d column %s: %r is not finite" % (
                        path, lineno, names[keep.index(i)], cells[i]))
                data[k] = v
                k += 1
            if truth is not None:
                lab = cells[label_col]
                if lab not in labels:
                    if len(labels) == 255:
                        raise ValueError("%s has more than 255 labels" % path)
                    labels.append(lab)
                truth[r] = labels.index(lab)
            r += 1
    if names is None:
        raise ValueError("%s has no samples" % path)
    return names, data, truth, labels
