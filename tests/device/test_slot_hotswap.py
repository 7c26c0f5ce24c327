"""Slot: hot swaps during continuous inference (0 missed windows), refusal of corrupted,
truncated, wrong-hash, unsupported-op and incompatible models while the old one keeps
serving, the free-old-first fallback, and boot recovery."""
import json

import devtest
from devtest import installed, needs_engine
from uformer.compat import ticks_add, ticks_us
from uformer.runner import Runner
from uformer.sensors import ReplaySensor
from uformer.storage import store_for
from uformer.window import Window


def blob(name):
    return devtest.read(devtest.data(name))


def meta():
    with open(devtest.data("models.json")) as f:
        return json.load(f)


def drive(runner, n, hook=None, budget_us=400):
    """n sensor periods without wall-clock waits: sample, then a slice of background work."""
    for i in range(n):
        if hook is not None:
            hook(i)
        runner.step()
        runner.background(ticks_add(ticks_us(), budget_us))


class Recorder:
    """on_result hook: which model served each window, checked against a reference model
    of that version classifying the same window."""

    def __init__(self, slot, window, refs):
        self.slot, self.window, self.refs = slot, window, refs
        self.rows = []
        self.mismatch = []
        self.during_staging = 0

    def __call__(self, label, score):
        d = self.slot.digest
        want = self.refs[d].classify(self.window)
        if want != (label, score):
            self.mismatch.append((len(self.rows), d[:8], (label, score), want))
        if self.slot._job is not None:
            self.during_staging += 1
        self.rows.append(d)


def make(path, log, events=None, **kw):
    from uformer import Slot

    w = Window(8, 3, hop=4)
    cb = None if events is None else (lambda kind, info: events.append((kind, info)))
    slot = Slot(path, window=w, log=log, on_event=cb, **kw)
    return w, slot


@needs_engine
def test_continuous_inference_while_swapping():
    devtest.engine()
    from uformer import Model

    names = ["v1.tflite", "v2.tflite", "big.tflite", "v3.tflite", "v4.tflite"]
    data = dict((n, blob(n)) for n in names)
    digest = dict((n, devtest.sha256_hex(data[n])) for n in names)
    refs = dict((digest[n], Model(data[n])) for n in names)
    log = devtest.Log()
    path = installed(data["v1.tflite"])
    w, slot = make(path, log, max_bytes=64 * 1024, watch_ms=0)
    rec = Recorder(slot, w, refs)
    runner = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=10,
                    stats_ms=0, log=log, on_result=rec)

    def updates(i):
        if i == 100:  # from RAM (what an app receiving bytes itself would do)
            slot.push(data["v2.tflite"], digest["v2.tflite"])
        elif i == 250:  # a 50 KB model: staged over many periods
            p = devtest.tmp("incoming.bin")
            devtest.write(p, data["big.tflite"])
            slot.offer(p, digest["big.tflite"])
        elif i == 500:  # a file copy followed by its .sha256
            devtest.write(path + ".new", data["v3.tflite"])
            devtest.write(path + ".new.sha256", (digest["v3.tflite"] + "  model.tflite\n").encode())
        elif i == 700:  # the live protocol's path: NAME.part + offer
            part = slot.store.part_path()
            devtest.write(part, data["v4.tflite"])
            slot.offer(part, digest["v4.tflite"], source="live")

    # No slack at all: staging advances one 512-byte chunk per period, so the 50 KB model
    # is staged across ~100 periods while every window is still inferred.
    drive(runner, 1000, updates, budget_us=0)
    st = runner.stats()
    assert st["windows"] == st["invokes"] == 249, st  # every window was inferred
    assert runner.no_model == 0 and st["errors"] == 0 and st["bad"] == 0
    assert rec.mismatch == [], rec.mismatch[:3]
    # versions served, in order, each switch exactly once
    order = []
    for d in rec.rows:
        if not order or order[-1] != d:
            order.append(d)
    assert order == [digest[n] for n in names], [d[:8] for d in order]
    assert slot.swaps == 4 and slot.refusals == 0
    assert rec.during_staging >= 5, "staging did not overlap inference"
    assert log.has("swapped", digest["big.tflite"][:12])
    assert not devtest.exists(path + ".new.sha256") and not devtest.exists(path + ".new")
    assert devtest.read(path) == data["v4.tflite"]
    assert store_for(path).recover() == (path, digest["v4.tflite"])


def corrupt(data, at, n=1):
    b = bytearray(data)
    for i in range(at, at + n):
        b[i] ^= 0x5A
    return bytes(b)


@needs_engine
def test_refused_models_leave_the_old_one_serving():
    devtest.engine()
    from uformer import Model

    v1, v2, v3 = blob("v1.tflite"), blob("v2.tflite"), blob("v3.tflite")
    d1, d2, d3 = devtest.sha256_hex(v1), devtest.sha256_hex(v2), devtest.sha256_hex(v3)
    ref = Model(v1)
    log = devtest.Log()
    events = []
    path = installed(v1)
    w, slot = make(path, log, events, max_bytes=8 * 1024,
                   accept=lambda m: None if len(m.labels) == 4 else
                   "the app's rules need 4 labels, model has %d" % len(m.labels))
    runner = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=10,
                    stats_ms=0, log=log)
    info = meta()
    broken = corrupt(v2, 4, 16)  # flatbuffer root table offset and header
    cases = [
        ("corrupted in transit", corrupt(v2, len(v2) // 2), d2, "sha256 mismatch"),
        ("truncated in transit", v2[:-100], d2, "sha256 mismatch"),
        ("wrong hash", v2, d3, "sha256 mismatch"),
        ("corrupted with its own hash", broken, devtest.sha256_hex(broken), ""),
        ("truncated with its own hash", v2[:len(v2) // 2], devtest.sha256_hex(v2[:len(v2) // 2]), ""),
        ("unsupported op", blob("unsupported.tflite"), None, info["unsupported_op"]),
        ("other window", blob("wide.tflite"), None, "the app's window is 8 x 3 = 24"),
        ("app check", blob("relabeled.tflite"), None, "need 4 labels, model has 3"),
        ("too big", blob("big.tflite"), None, "at most 8192"),
        ("not a digest", v2, "xyz", "64 hex digits"),
    ]
    for what, data, digest, reason in cases:
        if digest is None:
            digest = devtest.sha256_hex(data)
        p = devtest.tmp("in.bin")
        devtest.write(p, data)
        results = []
        slot.offer(p, digest, done=lambda ok, i: results.append((ok, i)))
        drive(runner, 40)
        assert results and results[0][0] is False, what
        why = results[0][1]["reason"]
        assert reason in why, (what, why)
        assert slot.digest == d1 and slot.model is not None, what
        line = log.has("refused", "still serving " + d1[:12])
        assert line, (what, log.lines[-3:])
    assert slot.refusals == len(cases) and slot.swaps == 0
    assert [k for k, _ in events] == ["loaded"] + ["refused"] * len(cases)
    st = runner.stats()
    assert st["invokes"] == st["windows"] and st["invokes"] >= 99
    x = list(w.latest())
    assert slot.acquire().classify(x) == ref.classify(x)
    assert store_for(path).recover() == (path, d1)
    assert devtest.read(path) == v1
    # ...and a good one still goes through afterwards
    slot.push(v3)
    drive(runner, 20)
    assert slot.digest == d3 and slot.swaps == 1


@needs_engine
def test_model_needing_more_arena_than_reserved_is_refused_and_old_keeps_serving():
    devtest.engine()
    import _uformer

    v1, deep = blob("v1.tflite"), blob("deep.tflite")
    need = _uformer.arena_size(deep)
    log = devtest.Log()
    path = installed(v1)
    # The arena is reserved once, below what deep.tflite needs: the swap is refused with
    # both numbers, and v1 (loaded back into the same arena) serves every window.
    w, slot = make(path, log, max_bytes=16 * 1024, max_arena=need - 64)
    runner = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=10, stats_ms=0, log=log)
    slot.push(deep)
    drive(runner, 40)
    assert slot.digest == devtest.sha256_hex(v1) and slot.model is not None
    line = log.has("refused", "arena too small", "need %d" % (need + _uformer.ARENA_TAG),
                   "max_arena is %d" % (need - 64))
    assert line and "still serving" in line, log.lines[-3:]
    st = runner.stats()
    assert st["invokes"] == st["windows"] > 0 and st["errors"] == 0


@needs_engine
def test_single_buffer_swaps_in_place_and_restores_on_failure():
    devtest.engine()
    v1, v2 = blob("v1.tflite"), blob("v2.tflite")
    log = devtest.Log()
    path = installed(v1)
    w, slot = make(path, log, max_bytes=8 * 1024, double=False)
    assert not slot.double and len(slot._bufs) == 1
    runner = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=10, stats_ms=0, log=log)
    drive(runner, 20)
    slot.push(blob("unsupported.tflite"))
    drive(runner, 20)
    assert slot.digest == devtest.sha256_hex(v1) and log.has("restored")
    slot.push(v2)
    drive(runner, 20)
    assert slot.digest == devtest.sha256_hex(v2) and slot.swaps == 1
    assert devtest.read(path) == v2
    st = runner.stats()
    assert st["invokes"] == st["windows"] and st["errors"] == 0


@needs_engine
def test_boot_reports_a_bad_stored_model_clearly():
    devtest.engine()
    v1, v2 = blob("v1.tflite"), blob("v2.tflite")
    path = installed(v1)
    devtest.write(path, v2)  # replaced by hand, its .sha256 left behind
    log = devtest.Log()
    w, slot = make(path, log, max_bytes=8 * 1024)
    assert slot.model is None
    line = log.has("refused", "model.tflite.sha256")
    assert line and "no model" in line
    # an app can still be given a model live
    slot.push(v2)
    for _ in range(100):
        if not slot.step():
            break
    assert slot.acquire() is not None and slot.digest == devtest.sha256_hex(v2)
    e = devtest.raises(ValueError, make, devtest.tmp("none.tflite"), log)
    assert "max_bytes" in str(e)


@devtest.heapsize("256K")
@needs_engine
def test_many_swaps_with_preallocated_buffers():
    # docs/architecture.md, "Slot memory contract": a fresh buffer per swap fragments a small heap; buffers allocated once do
    # not. Under MicroPython this runs on a 256 KB heap: about 200 KB free once uformer and
    # this test are compiled from source, in pieces of at most ~60 KB (a board runs uformer
    # frozen and keeps more in one piece). Two 16 KB model buffers; 100 swaps between a
    # 1 KB and a 5 KB model (arenas 1.1 KB and 2.5 KB, all requested at max_arena).
    devtest.engine()
    from uformer import Slot
    from uformer.storage import copy_file

    sensor = ReplaySensor(devtest.data("rec.csv"))
    w = Window(8, 3, hop=4)
    small, large = devtest.data("v1.tflite"), devtest.data("deep.tflite")
    chunk = bytearray(512)
    digests = {small: storage_digest(small, chunk), large: storage_digest(large, chunk)}
    path = devtest.tmp("model.tflite")
    s = store_for(path)
    copy_file(small, s.part_path(), chunk)
    s.install(s.part_path(), digests[small])
    import _uformer

    slot = Slot(path, window=w, log=None, max_bytes=16 * 1024,
                max_arena=_uformer.arena_size(devtest.read(large)))
    assert slot.double
    runner = Runner(sensor, w, slot, period_ms=10, stats_ms=0, log=None)
    drive(runner, 8)  # fill the window: from here on every 4 samples end one window
    for i in range(100):
        src = large if i % 2 == 0 else small
        part = slot.store.part_path()
        copy_file(src, part, chunk)
        slot.offer(part, digests[src])
        drive(runner, 4, budget_us=1000000)  # slack enough to stage within the window
        assert not slot.busy, slot.last_event
    assert slot.refusals == 0, slot.last_event
    assert slot.swaps == 100
    st = runner.stats()
    assert st["invokes"] == st["windows"] == 101


def storage_digest(path, buf):
    from uformer.storage import sha256_file

    return sha256_file(path, buf)


@needs_engine
def test_slot_on_fat_uses_ab_files():
    devtest.engine()
    if not devtest.MICROPYTHON:
        devtest.skip("FAT over a block device is MicroPython's vfs.VfsFat")
    import vfs
    from ramdisk import RamDisk

    disk = RamDisk(512, 256)
    vfs.VfsFat.mkfs(disk)
    vfs.mount(vfs.VfsFat(disk), "/fat")
    try:
        v1, v2 = blob("v1.tflite"), blob("v2.tflite")
        log = devtest.Log()
        w, slot = make("/fat/model.tflite", log, max_bytes=8 * 1024)
        assert slot.store.kind == "ab" and slot.model is None
        runner = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=10, stats_ms=0, log=log)
        slot.push(v1)
        drive(runner, 20)
        slot.push(v2)
        drive(runner, 20)
        assert slot.digest == devtest.sha256_hex(v2) and slot.swaps == 2
        assert devtest.read("/fat/model.tflite.a") == v1 and devtest.read("/fat/model.tflite.b") == v2
        # after a reboot the manifest picks B
        w2, slot2 = make("/fat/model.tflite", log, max_bytes=8 * 1024)
        assert slot2.digest == devtest.sha256_hex(v2)
        st = runner.stats()
        assert st["invokes"] + runner.no_model == st["windows"]
    finally:
        vfs.umount("/fat")


@needs_engine
def test_rom_model_serves_until_an_update_and_after_a_bad_one():
    devtest.engine()
    if not devtest.MICROPYTHON:
        devtest.skip("ROMFS (vfs.VfsRom) is MicroPython's")
    import vfs

    img = devtest.read(devtest.data("rom.img"))  # v1.tflite, 16-byte aligned
    vfs.mount(vfs.VfsRom(img), "/rom")
    try:
        v1, v2 = blob("v1.tflite"), blob("v2.tflite")
        log = devtest.Log()
        path = devtest.tmp("model.tflite")
        w, slot = make(path, log, rom="/rom/v1.tflite")
        assert slot.model.zero_copy and log.has("serving", "zero-copy")
        assert slot.max_bytes == len(v1) + len(v1) // 2
        runner = Runner(ReplaySensor(devtest.data("rec.csv")), w, slot, period_ms=10,
                        stats_ms=0, log=log)
        slot.push(v2)
        drive(runner, 20)
        assert slot.digest == devtest.sha256_hex(v2) and not slot.model.zero_copy
        # reboot: the stored update wins over ROM
        w, slot = make(path, log, rom="/rom/v1.tflite")
        assert slot.digest == devtest.sha256_hex(v2)
        # the stored file is damaged: back to the ROM model, with the reason logged
        data = bytearray(devtest.read(path))
        data[200] ^= 1
        devtest.write(path, bytes(data))
        w, slot = make(path, log, rom="/rom/v1.tflite")
        assert slot.model is not None and slot.model.zero_copy
        assert log.has("refused", "stored model unusable")
    finally:
        vfs.umount("/rom")
