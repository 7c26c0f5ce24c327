"""Hot-swap soak (issue 12): 1000 alternating swaps of two ~36 KB transformers trained by the
project, half by file drop (NAME.new + NAME.new.sha256) and half by live push (frames through
uformer.live.Receiver), while the Runner infers every window. Under MicroPython it runs on a
256 KB heap: no window without a model, every refusal logged with its reason, and the free
heap at the end within 1 KB of the start (the Slot reserved everything at creation)."""
import gc
import json
import devtest
from devtest import needs_engine
from livefeed import Feeder
# Imported before the heap is measured (under MicroPython they are compiled from source).
from uformer.compat import heap_free, ticks_add, ticks_us
from uformer.live import Receiver
from uformer.runner import Runner
from uformer.slot import Slot
from uformer.storage import copy_file, sha256_file, store_for
from uformer.window import Window

SWAPS = 1000
WARMUP = 4
CHUNK = 1024  # live frame payload: the receiver's max_chunk (its default) here


def trained_pair():
    """(trained.json, the two model names, their paths, their sha256 digests)."""
    with open(devtest.data("trained.json")) as f:
        info = json.load(f)
    names = ["trained_a.tflite", "trained_b.tflite"]
    return info, names, [devtest.data(n) for n in names], [info[n]["sha256"] for n in names]


@devtest.heapsize("256K")
@devtest.trained_models
@needs_engine
def test_1000_alternating_swaps_by_file_drop_and_live_push():
    devtest.engine()
    info, names, srcs, digests = trained_pair()
    assert 30 * 1024 <= info[names[0]]["size"] <= 50 * 1024, info
    chunk = bytearray(512)
    path = devtest.tmp("model.tflite")
    store = store_for(path)
    copy_file(srcs[0], store.part_path(), chunk)
    store.install(store.part_path(), digests[0])

    refusals = []

    def log(line):
        # Only refusals and errors are kept (a list of 1000 lines would eat the heap).
        if ": refused " in line or ": error: " in line or " failed " in line:
            refusals.append(line)

    # Up to 48 KB models, buffers as the heap allows: two under CPython, and under unix
    # MicroPython with uformer precompiled (conftest.py: as on a board, where it is
    # frozen); one when it is compiled from source, whose garbage leaves no 48 KB holes.
    # Either way nothing is allocated per swap.
    slot = Slot(path, max_bytes=48 * 1024, log=log, watch_ms=0)
    m = slot.model
    assert m is not None, refusals
    print("slot: %d buffer(s) of %d B, arena %d B reserved (%d B in all)" % (
        len(slot._bufs), slot.max_bytes, slot.max_arena, slot.info()["reserved"]))
    w = Window(m.window, m.channels, m.hop)
    slot.window = w
    state = {"i": 0}
    channels = m.channels

    def sensor():
        state["i"] += 1
        x = state["i"] % 7 * 0.1
        return [x] * channels

    feeder = Feeder(Receiver, slot, CHUNK)
    rx = feeder.rx
    runner = Runner(sensor, w, slot, period_ms=10, stats_ms=0, log=log, live=rx)
    for _ in range(w.length):  # fill the first window
        runner.step()
    fbuf = bytearray(CHUNK)

    def settle():
        # At least one hop of samples (one window inferred per swap), then until staged.
        for j in range(200):
            runner.step()
            runner.background(ticks_add(ticks_us(), 2000))
            if j >= w.hop and not slot.busy:
                return
        raise AssertionError("swap did not finish: %r" % (slot.last_event,))

    m = None  # the app does not keep a model across windows (acquire() each window)
    settle()
    free0 = None
    for i in range(WARMUP + SWAPS):
        if i == WARMUP:
            # The heap is measured after one swap of each kind and model: the first ones
            # create one-time state (interned file names, the receiver's first file
            # objects), and the GC may still hold the boot's garbage before them.
            gc.collect()
            free0 = heap_free()
        k = 1 - i % 2  # a -> b -> a ...
        if i % 4 < 2:
            # File drop: the model, then its sha256sum line (a name with a space).
            copy_file(srcs[k], path + ".new", chunk)
            with open(path + ".new.sha256", "w") as f:
                f.write(digests[k] + "  my model.tflite\n")
        else:
            feeder.push(slot.name, srcs[k], digests[k], fbuf)
        settle()
        assert slot.digest == digests[k], (i, slot.last_event, refusals[-3:])
    gc.collect()
    free1 = heap_free()
    st = runner.stats()
    assert refusals == [], refusals[:5]
    assert slot.swaps == WARMUP + SWAPS and slot.refusals == 0
    assert runner.no_model == 0 and st["windows"] == st["invokes"] > SWAPS, st
    assert st["errors"] == 0 and st["bad"] == 0 and rx.errors == 0
    assert rx.installs == (WARMUP + SWAPS) // 2
    if free0 >= 0:
        assert abs(free1 - free0) <= 1024, (free0, free1)
        print("heap free %d at the start, %d after %d swaps" % (free0, free1, SWAPS))
    assert store_for(path).recover() == (path, digests[1 - (WARMUP + SWAPS - 1) % 2])


@devtest.heapsize("256K")
@devtest.trained_models
@needs_engine
def test_soak_refusals_between_swaps_keep_the_model_and_the_heap():
    # 200 offers on the same 256 KB heap, every other one refused for a different reason
    # (bad digest, truncated, garbage, a model needing more arena than reserved); each
    # refusal is logged with its reason and the model that served keeps serving.
    devtest.engine()
    info, names, srcs, digests = trained_pair()
    chunk = bytearray(512)
    path = devtest.tmp("model.tflite")
    store = store_for(path)
    copy_file(srcs[0], store.part_path(), chunk)
    store.install(store.part_path(), digests[0])
    seen = {"refused": 0, "want": None, "wrong": None}

    def log(line):
        # Checked as they come (keeping 100 lines would itself eat the heap measured here).
        if ": refused " in line:
            seen["refused"] += 1
            if seen["want"] is None or seen["want"] not in line or "still serving" not in line:
                seen["wrong"] = line

    # One 64 KB buffer: every new model is read over the old one, which is read back from
    # storage and reloaded into the same arena whenever the new one is refused.
    slot = Slot(path, max_bytes=64 * 1024, log=log, watch_ms=0, double=False)
    m = slot.model
    w = Window(m.window, m.channels, m.hop)
    slot.window = w
    sample = [0.5] * m.channels
    m = None
    runner = Runner(lambda: sample, w, slot, period_ms=10, stats_ms=0, log=log)
    # The refused offers, as files (no model bytes held in RAM on the 256 KB heap).
    half = devtest.tmp("half.bin")
    with open(srcs[1], "rb") as f:
        with open(half, "wb") as g:
            for _ in range(info[names[1]]["size"] // 2 // len(chunk)):
                f.readinto(chunk)
                g.write(chunk)
    junk = devtest.tmp("junk.bin")
    devtest.write(junk, bytes(300))
    bad = [
        (srcs[1], "0" * 64, "sha256 mismatch"),
        (half, sha256_file(half, chunk), ""),
        (junk, sha256_file(junk, chunk), ""),
        (devtest.data("wide.tflite"), sha256_file(devtest.data("wide.tflite"), chunk), "window"),
    ]
    incoming = devtest.tmp("incoming.bin")
    gc.collect()
    free0 = heap_free()
    served = digests[0]
    for i in range(200):
        if i % 2:
            k = 1 if served == digests[0] else 0
            copy_file(srcs[k], incoming, chunk)
            slot.offer(incoming, digests[k])
            served = digests[k]
        else:
            src, digest, seen["want"] = bad[(i // 2) % len(bad)]
            copy_file(src, incoming, chunk)
            slot.offer(incoming, digest)
        for _ in range(40):
            runner.step()
            runner.background(ticks_add(ticks_us(), 2000))
            if not slot.busy:
                break
        assert slot.digest == served and slot.model is not None, (i, slot.last_event)
        seen["want"] = None
    gc.collect()
    free1 = heap_free()
    assert slot.refusals == 100 and slot.swaps == 100 and seen["refused"] == 100
    assert seen["wrong"] is None, seen["wrong"]
    st = runner.stats()
    assert runner.no_model == 0 and st["windows"] == st["invokes"] > 0
    assert st["errors"] == 0 and st["bad"] == 0
    if free0 >= 0:
        assert abs(free1 - free0) <= 1024, (free0, free1)
