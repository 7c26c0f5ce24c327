"""Rule: turns a stream of (label, score) results into debounced events.

    r = Rule("wave", threshold=0.8, min_hits=3, cooldown_ms=2000, action=notify)
    if r.update(label, score, ticks_ms()): ...

Firing: the rule's label has scored >= threshold on `min_hits` consecutive updates (another
label or a lower score resets the count). After firing the count restarts, and the rule
cannot fire again until `cooldown_ms` after the last firing (hits keep counting during the
cooldown, so a held gesture fires again right when the cooldown ends).

Hysteresis: with `release` set (a score below `threshold`), a fired rule stays engaged
until its label's score drops below `release` or another label wins; only then can it fire
again. `engaged` is True while held; `on_release(label, score)` is called when it lets go.
"""
from .compat import ticks_diff


class Rule:
    def __init__(self, label, threshold=0.5, min_hits=1, cooldown_ms=0, action=None,
                 release=None, on_release=None):
        if not isinstance(min_hits, int) or min_hits < 1:
            raise ValueError("min_hits must be an integer >= 1, got %r" % (min_hits,))
        if cooldown_ms < 0:
            raise ValueError("cooldown_ms must be >= 0, got %r" % (cooldown_ms,))
        if release is not None and release > threshold:
            raise ValueError("release %r must not exceed threshold %r (it is the lower "
                             "score that lets an engaged rule go)" % (release, threshold))
        self.label = label
        self.threshold = threshold
        self.min_hits = min_hits
        self.cooldown_ms = cooldown_ms
        self.action = action
        self.release = release
        self.on_release = on_release
        self.hits = 0
        self.fired = 0  # times fired, for stats
        self.engaged = False
        self._last = None  # ticks_ms of the last firing, None before the first

    def reset(self):
        self.hits = 0
        self.engaged = False
        self._last = None

    def update(self, label, score, now_ms):
        """Feed one result; True when the rule fires (after calling `action`)."""
        mine = label == self.label
        if self.engaged:
            if mine and score >= self.release:
                return False
            self.engaged = False
            self.hits = 0
            if self.on_release is not None:
                self.on_release(label, score)
        if mine and score >= self.threshold:
            self.hits += 1
        else:
            self.hits = 0
            return False
        if self.hits < self.min_hits:
            return False
        if self._last is not None and ticks_diff(now_ms, self._last) < self.cooldown_ms:
            return False
        self.hits = 0
        self._last = now_ms
        self.fired += 1
        self.engaged = self.release is not None
        if self.action is not None:
            self.action(label, score)
        return True

    def __repr__(self):
        return "<Rule %s >= %s x%d cooldown %d ms%s>" % (
            self.label, self.threshold, self.min_hits, self.cooldown_ms,
            "" if self.release is None else ", release < %s" % self.release)
