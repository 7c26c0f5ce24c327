"""A fault-injecting serial relay: a new pty in front of a board's serial port.

    with PtyRelay("/dev/pts/3", seed=1, drop=0.01, flip=0.01) as r:
        push over r.port                 # the client opens r.port like a board's port

Bytes are relayed in both directions; each direction is cut into random segments of 1..32
bytes and, per segment, with the given probabilities, it is dropped, has one bit flipped or
is sent twice. `cut_after` (bytes toward the board) makes the link go dead from then on
in both directions, like a pulled cable. Faults come from a seeded RNG, so a failure is
reproducible from its seed; `injected` counts them.

per_byte=True: the probabilities are per byte instead (each byte dropped, flipped or
sent twice on its own), so the rate does not depend on how the bytes arrive: a slow
emulated UART delivers them one or two at a time, which makes every byte a segment.
"""
import os
import random
import select
import threading
import tty

from faults import mangle


def mangle_bytes(data, rng, p, injected):
    """Each byte of data dropped, bit-flipped or duplicated with the probabilities in p."""
    total = p["drop"] + p["flip"] + p["dup"]
    if total <= 0:
        return data
    out = bytearray()
    i = 0
    while i < len(data):
        # Bytes up to the next faulted one (geometric gap), copied as they are.
        gap = 0
        while rng.random() >= total:
            gap += 1
            if i + gap >= len(data):
                break
        out += data[i:i + gap]
        i += gap
        if i >= len(data):
            break
        r = rng.random() * total
        b = data[i]
        if r < p["drop"]:
            injected["drop"] += 1
        elif r < p["drop"] + p["flip"]:
            injected["flip"] += 1
            out.append(b ^ (1 << rng.randrange(8)))
        else:
            injected["dup"] += 1
            out += bytes((b, b))
        i += 1
    return bytes(out)


class PtyRelay:
    def __init__(self, upstream, seed=0, drop=0.0, flip=0.0, dup=0.0, cut_after=None,
                 directions="both", per_byte=False):
        self.upstream = upstream
        self.rng = random.Random(seed)
        self.p = {"drop": drop, "flip": flip, "dup": dup}
        self.cut_after = cut_after
        self.directions = directions
        self.per_byte = per_byte
        self.injected = {"drop": 0, "flip": 0, "dup": 0}
        self.down_bytes = 0  # toward the board
        self.enabled = True
        self._stop = threading.Event()
        self._thread = None

    def _open_upstream(self):
        """-> the fd toward the board, and whether __exit__ closes it."""
        fd = os.open(self.upstream, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        return fd, True

    def __enter__(self):
        self.up, self._close_up = self._open_upstream()
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        # Keep the slave open too: the client opening and closing it must not hang up the
        # master (the board side would see EIO between two commands).
        self._slave = slave
        os.set_blocking(self.master, False)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        for fd in (self.master, self._slave) + ((self.up,) if self._close_up else ()):
            os.close(fd)

    @property
    def dead(self):
        return self.cut_after is not None and self.down_bytes >= self.cut_after

    def _mangle(self, data):
        if self.per_byte:
            return mangle_bytes(data, self.rng, self.p, self.injected)
        return mangle(data, self.rng, self.p, self.injected)

    def _pass(self, src, dst, direction):
        try:
            data = os.read(src, 4096)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        if direction == "down":
            if self.dead:
                return
            if self.cut_after is not None:
                data = data[:self.cut_after - self.down_bytes]
            self.down_bytes += len(data)
        elif self.dead:
            return
        if self.enabled and self.directions in ("both", direction):
            data = self._mangle(data)
        view = memoryview(data)
        while len(view):
            try:
                n = os.write(dst, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [dst], [], 0.05)
            except OSError:
                return

    def _run(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self.master, self.up], [], [], 0.05)
            if self.master in r:
                self._pass(self.master, self.up, "down")
            if self.up in r:
                self._pass(self.up, self.master, "up")
