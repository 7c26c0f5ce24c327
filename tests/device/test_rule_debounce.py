"""Rule: threshold, consecutive hits, cooldown, hysteresis release, actions, tick wrap."""
import devtest
from uformer.compat import ticks_add
from uformer.rule import Rule


def feed(rule, seq, t0=0, dt=100):
    """Feed (label, score) pairs at dt ms spacing; indices where the rule fired."""
    fired = []
    t = t0
    for i, (label, score) in enumerate(seq):
        if rule.update(label, score, t):
            fired.append(i)
        t = ticks_add(t, dt)
    return fired


def test_min_hits_consecutive_and_reset_by_other_label_or_low_score():
    r = Rule("wave", threshold=0.6, min_hits=3)
    seq = [("wave", 0.7), ("wave", 0.9), ("idle", 0.9),  # reset by another label
           ("wave", 0.7), ("wave", 0.65), ("wave", 0.59),  # reset by a low score
           ("wave", 0.6), ("wave", 0.6), ("wave", 0.6),  # exactly threshold counts
           ("wave", 0.8), ("wave", 0.8), ("wave", 0.8)]  # count restarted after firing
    assert feed(r, seq) == [8, 11]
    assert r.fired == 2


def test_cooldown_blocks_until_elapsed_then_fires_on_held_label():
    r = Rule("tap", threshold=0.5, min_hits=1, cooldown_ms=1000)
    seq = [("tap", 0.9)] * 25  # every 100 ms
    # fires at t=0, then not before t=1000 (index 10), then t=2000 (index 20)
    assert feed(r, seq) == [0, 10, 20]


def test_cooldown_across_tick_wraparound():
    r = Rule("tap", cooldown_ms=500)
    start = ticks_add(0, -250)  # 250 ms before the ticks counter wraps
    assert feed(r, [("tap", 1.0)] * 12, t0=start) == [0, 5, 10]


def test_action_called_with_label_and_score():
    calls = []
    r = Rule("shake", threshold=0.5, min_hits=2, action=lambda l, s: calls.append((l, s)))
    feed(r, [("shake", 0.6), ("shake", 0.75), ("shake", 0.8)])
    assert calls == [("shake", 0.75)]


def test_hysteresis_holds_until_release_score():
    released = []
    r = Rule("wave", threshold=0.8, min_hits=1, release=0.4,
             on_release=lambda l, s: released.append((l, s)))
    seq = [("wave", 0.9),  # fire, engaged
           ("wave", 0.85), ("wave", 0.5), ("wave", 0.95),  # still engaged (>= 0.4)
           ("wave", 0.3),  # released (below 0.4), not high enough to fire
           ("wave", 0.9),  # fires again
           ("idle", 0.9),  # another label releases
           ("wave", 0.81)]  # fires
    assert feed(r, seq) == [0, 5, 7]
    assert released == [("wave", 0.3), ("idle", 0.9)]
    assert r.engaged


def test_without_release_refires_after_min_hits():
    r = Rule("wave", threshold=0.8, min_hits=2)
    assert feed(r, [("wave", 0.9)] * 6) == [1, 3, 5]


def test_bad_parameters_named():
    e = devtest.raises(ValueError, Rule, "x", min_hits=0)
    assert "min_hits" in str(e)
    e = devtest.raises(ValueError, Rule, "x", threshold=0.5, release=0.7)
    assert "release" in str(e) and "0.7" in str(e)
    e = devtest.raises(ValueError, Rule, "x", cooldown_ms=-1)
    assert "cooldown_ms" in str(e)
