"""A fault-injecting wrapper for live-protocol transports (host side, CPython).

Each direction is cut into random segments of 1..32 bytes; per segment, with the given
probabilities, it is dropped, has one bit flipped, is sent twice, or is held back for a
stall. Faults are drawn from a seeded RNG, so a failure is reproducible from its seed.
"""
import random

from faults import mangle


class FaultyLink:
    def __init__(self, inner, seed, drop=0.0, flip=0.0, dup=0.0, stall=0.0,
                 stall_s=(0.05, 0.5), directions="both"):
        self.inner = inner
        self.rng = random.Random(seed)
        self.p = {"drop": drop, "flip": flip, "dup": dup, "stall": stall}
        self.stall_s = stall_s
        self.directions = directions
        self.enabled = True
        self.injected = {"drop": 0, "flip": 0, "dup": 0, "stall": 0}

    def _mangle(self, data):
        return mangle(data, self.rng, self.p, self.injected, self.stall_s)

    def write(self, data):
        if self.enabled and self.directions in ("both", "down"):
            data = self._mangle(data)
        self.inner.write(data)

    def read(self, timeout):
        data = self.inner.read(timeout)
        if data and self.enabled and self.directions in ("both", "up"):
            data = self._mangle(data)
        return data

    def close(self):
        self.inner.close()

    def total(self):
        return sum(self.injected.values())
