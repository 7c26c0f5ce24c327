"""Model metadata is a peer's input (issue 12): 37 crafted `microformer` entries (wrong
types, nulls, non-finite or underflowing std, labels vs outputs for any task, 5,000- and
20,000-deep JSON, invalid UTF-8) are refused at load with a ValueError naming the field, by
file drop, by push and at boot, while the app keeps serving; keys a newer host adds are
ignored."""
import json

import devtest
from devtest import installed
from devtest import needs_engine
from uformer.compat import ticks_add, ticks_us
from uformer.runner import Runner
from uformer.window import Window


def cases():
    with open(devtest.data("models.json")) as f:
        info = json.load(f)
    return info["hostile"], info["accepted"]


def hostile(name):
    return devtest.data("hostile/%s.tflite" % name)


def refused_as_expected(name, msg, why):
    if why in msg:
        return True
    # MicroPython's json refuses NaN/Infinity itself, and may take bytes that are not UTF-8.
    return devtest.MICROPYTHON and "not valid JSON" in msg


@needs_engine
def test_crafted_metadata_is_refused_at_load_with_the_field_named():
    devtest.engine()
    from uformer import Model

    bad, good = cases()
    assert len(bad) >= 30
    wrong = []
    for name in sorted(bad):
        data = devtest.read(hostile(name))
        try:
            Model(data)
        except ValueError as e:
            if not refused_as_expected(name, str(e), bad[name]):
                wrong.append((name, str(e)))
            continue
        # Anything else (TypeError, RecursionError, ...) fails the test by escaping here.
        if name != "bad_utf8" or not devtest.MICROPYTHON:
            wrong.append((name, "accepted"))
    assert wrong == [], wrong
    for name in good:
        m = Model(devtest.read(hostile(name)))
        assert m.input_size == 24


@needs_engine
def test_crafted_models_by_file_drop_and_push_never_stop_the_app():
    devtest.engine()
    from uformer import Slot
    from uformer.sensors import ReplaySensor

    bad, _ = cases()
    v1 = devtest.read(devtest.data("v1.tflite"))
    d1 = devtest.sha256_hex(v1)
    path = installed(v1)
    log = devtest.Log()
    w = Window(8, 3, hop=4)
    slot = Slot(path, window=w, max_bytes=48 * 1024, max_arena=4096, log=log, watch_ms=0)
    runner = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=10, stats_ms=0,
                    log=log)
    n = 0
    for i, name in enumerate(sorted(bad)):
        data = devtest.read(hostile(name))
        digest = devtest.sha256_hex(data)
        if i % 2:
            slot.push(data)
        else:
            devtest.write(path + ".new", data)
            # sha256sum's line, for a name with spaces
            devtest.write(path + ".new.sha256", (digest + "  my model.tflite\n").encode())
        for _ in range(6):
            runner.step()
            runner.background(ticks_add(ticks_us(), 5000))
        if name == "bad_utf8" and slot.digest == digest:
            slot.push(v1)  # MicroPython took it (its json accepts such bytes): back to v1
            for _ in range(6):
                runner.step()
                runner.background(ticks_add(ticks_us(), 5000))
            continue
        n += 1
        assert slot.digest == d1 and slot.model is not None, (name, slot.last_event)
        line = log.has("refused", digest[:12])
        assert line and "still serving " + d1[:12] in line, (name, log.lines[-2:])
    st = runner.stats()
    assert st["errors"] == 0 and runner.no_model == 0 and st["invokes"] == st["windows"] > 0
    assert slot.refusals == n


@needs_engine
def test_crafted_model_stored_at_boot_is_refused_and_the_app_starts():
    devtest.engine()
    from uformer import Slot

    bad, _ = cases()
    for name in ("std_dict", "deep_20000", "regression_few_labels", "norm_number"):
        data = devtest.read(hostile(name))
        path = installed(data, name + ".tflite")
        log = devtest.Log()
        slot = Slot(path, window=Window(8, 3, hop=4), max_bytes=48 * 1024, log=log)
        assert slot.model is None and log.has("refused", "boot"), (name, log.lines)
        # ...and it can still be given a good model
        slot.push(devtest.read(devtest.data("v2.tflite")))
        while slot.step():
            pass
        assert slot.acquire() is not None, (name, log.lines[-2:])
    if devtest.MICROPYTHON:
        # With a ROM fallback the app serves the ROM model instead.
        import vfs

        vfs.mount(vfs.VfsRom(devtest.read(devtest.data("rom.img"))), "/rom")
        try:
            path = installed(devtest.read(hostile("std_nulls")), "withrom.tflite")
            log = devtest.Log()
            slot = Slot(path, window=Window(8, 3, hop=4), log=log, rom="/rom/v1.tflite")
            assert slot.model is not None and slot.model.zero_copy, log.lines
            assert log.has("refused", "std[0]")
        finally:
            vfs.umount("/rom")
