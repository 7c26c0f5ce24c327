"""Runner: the stats line, surviving bad samples and failing actions, missed deadlines in
the real-time loop, rules fed from inference, and percentiles."""
import devtest
from devtest import needs_engine
from uformer.compat import sleep_ms
from uformer.rule import Rule
from uformer.runner import Runner, parse_stats, percentile
from uformer.sensors import ReplaySensor
from uformer.storage import FileSlot, store_for
from uformer.window import Window


def model_slot(window, log=None):
    """A Slot serving v1.tflite when the engine is here, else a FileSlot (no model)."""
    try:
        import _uformer  # noqa: F401
    except ImportError:
        return FileSlot(devtest.tmp("model.tflite"), 4096, log=log), False
    from uformer import Slot

    data = devtest.read(devtest.data("v1.tflite"))
    path = devtest.tmp("model.tflite")
    s = store_for(path)
    devtest.write(s.part_path(), data)
    s.install(s.part_path(), devtest.sha256_hex(data))
    return Slot(path, window=window, max_bytes=4096, log=log), True


class Script:
    """A sensor that plays a list: samples, exceptions to raise, or None (nothing yet)."""

    def __init__(self, items):
        self.items = items
        self.i = 0

    def __call__(self):
        x = self.items[self.i % len(self.items)]
        self.i += 1
        if isinstance(x, Exception):
            raise x
        return x


def test_percentile_nearest_rank():
    v = list(range(1, 101))
    assert percentile(v, 50) == 50 and percentile(v, 99) == 99 and percentile(v, 100) == 100
    assert percentile([7], 99) == 7 and percentile([], 50) == 0
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 1) == 1


def test_never_dies_on_bad_samples():
    log = devtest.Log()
    w = Window(8, 3, hop=4)
    slot, engine = model_slot(w, log)
    good = (0.1, -0.2, 9.8)
    items = [good, OSError("I2C timeout"), good, (1.0, 2.0), None, good,
             (1.0, float("nan"), 2.0), good, ("x", 1, 2), good, ValueError("bad CSV"), good]
    r = Runner(Script(items), w, slot, period_ms=1, log=log, stats_ms=0)
    for _ in range(len(items) * 50):
        r.step()
    # per round of 12 items: 6 good, 5 bad (2 exceptions, 3 rejected), 1 without a sample
    assert r.samples == 300 and r.bad == 250, (r.samples, r.bad)
    assert r.windows == (300 - 8) // 4 + 1
    if engine:
        assert r.invokes == r.windows and r.errors == 0
    else:
        assert r.no_model == r.windows
    # logged: the first bad sample, then one in every 100
    assert log.has("bad sensor #1", "I2C timeout")
    assert log.has("#100") and log.has("#200")
    assert len([ln for ln in log.lines if "bad " in ln]) == 3


@needs_engine
def test_rules_fed_and_failing_actions_counted():
    devtest.engine()
    log = devtest.Log()
    w = Window(8, 3, hop=4)
    slot, _ = model_slot(w, log)
    seen = []
    fired = []

    def boom(label, score):
        fired.append(label)
        raise RuntimeError("relay driver broke")

    rules = [Rule(lab, threshold=-100.0, action=boom) for lab in ("idle", "wave", "tap", "shake")]
    r = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, rules, period_ms=1, log=log,
               stats_ms=0, on_result=lambda l, s: seen.append(l))
    for _ in range(400):
        r.step()
    assert r.invokes == r.windows == len(seen) == 99
    # each window's top label fires its rule (threshold below any score), whose action fails
    assert fired == seen and r.errors == len(seen)
    assert log.has("rule", "failed (#1)", "RuntimeError", "relay driver broke")
    st = r.stats()
    assert st["invokes"] == 99 and st["errors"] == 99


@needs_engine
def test_stats_line_is_parseable_and_consistent():
    devtest.engine()
    log = devtest.Log()
    w = Window(8, 3, hop=2)
    slot, _ = model_slot(w, log)
    r = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=1, log=log, stats_ms=0)
    for _ in range(300):
        r.step()
    line = r.report()
    assert log.lines[-1] == line and line.startswith("uformer stats ")
    d = parse_stats(line)
    for k in ("t_ms", "samples", "windows", "invokes", "p50_us", "p99_us", "max_us",
              "heap_free", "missed", "bad", "errors", "swaps", "refused", "model"):
        assert k in d, k
    assert d["samples"] == 300 and d["invokes"] == d["windows"] == 147
    assert 0 < d["p50_us"] <= d["p99_us"] <= d["max_us"]
    assert d["model"] == slot.digest[:12]
    if devtest.MICROPYTHON:
        assert d["heap_free"] > 0
    else:
        assert d["heap_free"] == -1
    assert parse_stats("something else") is None


def test_realtime_loop_counts_missed_deadlines():
    log = devtest.Log()
    w = Window(4, 1)
    slot = FileSlot(devtest.tmp("m.bin"), 16, log=log)
    calls = [0]

    def sensor():
        calls[0] += 1
        if calls[0] % 10 == 0:
            sleep_ms(35)  # a slow read: 3.5 periods of 10 ms
        return (calls[0],)

    r = Runner(sensor, w, slot, period_ms=10, log=log, stats_ms=100)
    st = r.run(samples=45)
    assert st["samples"] == 45
    # 4 slow reads, each making the next sample late by two whole periods or more
    assert st["missed"] >= 8, st
    assert log.has("uformer stats"), "periodic stats line missing"
    st2 = r.run(duration_ms=100)
    assert st2["samples"] > 45


@needs_engine
def test_realtime_loop_keeps_inferring_while_a_model_is_staged():
    devtest.engine()
    from uformer import Slot

    log = devtest.Log()
    w = Window(8, 3, hop=4)
    v1 = devtest.read(devtest.data("v1.tflite"))
    path = devtest.tmp("model.tflite")
    s = store_for(path)
    devtest.write(s.part_path(), v1)
    s.install(s.part_path(), devtest.sha256_hex(v1))
    slot = Slot(path, window=w, max_bytes=64 * 1024, log=log)
    sensor = ReplaySensor(devtest.data("rec.csv"), rate_hz=200)
    state = {"n": 0}

    def on_result(label, score):
        state["n"] += 1
        if state["n"] == 5:  # a 50 KB model arrives while the app runs
            slot.push(devtest.read(devtest.data("big.tflite")))

    r = Runner(sensor, w, slot, period_ms=5, stats_ms=0, log=log, on_result=on_result)
    st = r.run(duration_ms=1500)
    print("real-time run:", r.stats_line())
    assert slot.swaps == 1 and log.has("swapped")
    assert st["invokes"] == st["windows"] > 20  # no window without an inference
    assert st["errors"] == 0 and st["bad"] == 0
