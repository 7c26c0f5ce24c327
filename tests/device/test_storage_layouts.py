"""Storage layouts on the host filesystem (CPython and MicroPython's POSIX VFS): install and
recovery of the rename and A/B layouts, crashes between filesystem operations, clear errors
for hand-made damage, filesystem detection, and FileSlot."""
import os

import devtest
from uformer import storage
from uformer.storage import ABStore, FileSlot, RenameStore, StorageError


def models():
    a = devtest.read(devtest.data("v1.tflite"))
    b = devtest.read(devtest.data("v2.tflite"))
    return a, b, devtest.sha256_hex(a), devtest.sha256_hex(b)


def put(store, data, digest):
    part = store.part_path()
    devtest.write(part, data)
    return store.install(part, digest)


def test_rename_store_install_and_recover():
    a, b, da, db = models()
    path = devtest.tmp("m.tflite")
    s = RenameStore(path)
    assert s.recover() == (None, None)
    assert put(s, a, da) == path
    assert RenameStore(path).recover() == (path, da)
    put(s, b, db)
    assert devtest.read(path) == b
    assert not devtest.exists(path + ".part")
    assert RenameStore(path).recover() == (path, db)


def test_rename_store_finishes_interrupted_install():
    a, b, da, db = models()
    path = devtest.tmp("m.tflite")
    put(RenameStore(path), a, da)
    # The state a cut between the two renames leaves: sidecar names b, file is still a.
    devtest.write(path + ".part", b)
    devtest.write(path + ".sha256", (db + " " + path + ".part\n").encode())
    s = RenameStore(path)
    assert s.recover() == (path, db)
    assert devtest.read(path) == b and not devtest.exists(path + ".part")


def test_rename_store_refuses_hand_damage_with_reason():
    a, b, da, db = models()
    path = devtest.tmp("m.tflite")
    put(RenameStore(path), a, da)
    devtest.write(path, b)  # overwritten without its .sha256
    e = devtest.raises(StorageError, RenameStore(path).recover)
    assert "m.tflite.sha256" in str(e) and da[:16] in str(e) and db[:16] in str(e)
    os.remove(path + ".sha256")
    assert RenameStore(path).recover() == (path, None)  # hand-copied: served unverified
    devtest.write(path + ".sha256", b"not a digest\n")
    e = devtest.raises(StorageError, RenameStore(path).recover)
    assert "does not hold a sha256" in str(e)


class Crash(OSError):
    """The simulated power cut."""


class CrashingOS:
    """os for storage.py that crashes (power cut) at the n-th mutating operation."""

    def __init__(self, real, budget):
        self.real = real
        self.budget = budget
        self.sep = getattr(real, "sep", "/")

    def _op(self):
        if self.budget == 0:
            raise Crash("power cut")
        self.budget -= 1

    def rename(self, a, b):
        self._op()
        self.real.rename(a, b)

    def remove(self, p):
        self._op()
        self.real.remove(p)

    def stat(self, p):
        return self.real.stat(p)

    def getcwd(self):
        return self.real.getcwd()


def crashing_open(osw):
    real_open = open

    def _open(path, mode="r", *a):
        if "w" in mode or "a" in mode:
            osw._op()  # a whole-file write counts as one step here (not torn)
        return real_open(path, mode, *a)

    return _open


def run_crashes(make):
    """Crash the install at every filesystem step; recovery must give old or new."""
    a, b, da, db = models()
    outcomes = ""
    k = 0
    while True:
        d = devtest.tmp("c%d" % k)
        os.mkdir(d)
        path = d + "/m.tflite"
        s = make(path)
        put(s, a, da)
        s = make(path)
        s.recover()
        osw = CrashingOS(os, k)
        storage.os = osw
        storage.open = crashing_open(osw)
        try:
            devtest.write(s.part_path(), b)  # the transfer itself (before install)
            s.install(s.part_path(), db)
            done = True
        except Crash:
            done = False
        finally:
            storage.os = os
            del storage.open
        got, digest = make(path).recover()
        assert digest in (da, db) and devtest.sha256_hex(devtest.read(got)) == digest
        outcomes += "o" if digest == da else "n"
        if done:
            break
        k += 1
    assert outcomes[0] == "o" and outcomes[-1] == "n" and "no" not in outcomes, outcomes
    return outcomes


def test_rename_store_crash_at_every_step():
    # Steps: write the sidecar tmp, rename it over the sidecar, rename the part. A cut
    # before the part rename is finished by recovery, so only the first two keep the old.
    assert run_crashes(RenameStore) == "oonn"


def test_ab_store_crash_at_every_step():
    assert run_crashes(ABStore) == "on"


def test_ab_store_alternates_and_survives_torn_manifest():
    a, b, da, db = models()
    path = devtest.tmp("m.tflite")
    s = ABStore(path)
    assert s.recover() == (None, None)
    assert put(s, a, da) == path + ".a"
    assert put(s, b, db) == path + ".b"
    assert ABStore(path).recover() == (path + ".b", db)
    assert put(s, a, da) == path + ".a"  # back to A, the older manifest is rewritten
    assert ABStore(path).recover() == (path + ".a", da)
    # Tear the newest manifest: the other one (model b) wins
    text = devtest.read(path + ".m0")
    devtest.write(path + ".m0", text[:30])
    assert ABStore(path).recover() == (path + ".b", db)
    # A damaged model file is skipped in favour of the other manifest's
    devtest.write(path + ".m0", text)
    data = bytearray(devtest.read(path + ".a"))
    data[100] ^= 0xFF
    devtest.write(path + ".a", bytes(data))
    assert ABStore(path).recover() == (path + ".b", db)
    devtest.write(path + ".b", b"junk")
    e = devtest.raises(StorageError, ABStore(path).recover)
    assert "m.tflite.a" in str(e) and "m.tflite.b" in str(e)


def test_ab_store_failed_install_leaves_active_model_and_manifest():
    a, b, da, db = models()
    path = devtest.tmp("m.tflite")
    s = ABStore(path)
    put(s, a, da)
    manifest = devtest.read(path + ".m0")
    devtest.write(s.part_path(), b[:-10])  # truncated transfer into the inactive file
    e = devtest.raises(StorageError, s.install, s.part_path(), db)
    assert "m.tflite.b" in str(e) and db[:16] in str(e)
    assert devtest.read(path + ".a") == a and devtest.read(path + ".m0") == manifest
    assert not devtest.exists(path + ".m1")
    assert ABStore(path).recover() == (path + ".a", da)


def test_filesystem_detection():
    assert storage.fs_kind(devtest.tmp("x")) == "posix"
    assert isinstance(storage.store_for(devtest.tmp("x")), RenameStore)
    assert isinstance(storage.store_for(devtest.tmp("x"), kind="fat"), ABStore)
    if not devtest.MICROPYTHON:
        return
    try:
        import vfs
    except ImportError:  # CircuitPython: no vfs module (compat asks storage.getmount)
        return
    from ramdisk import RamDisk

    for cls, kind, store in ((vfs.VfsLfs2, "lfs", RenameStore), (vfs.VfsFat, "fat", ABStore)):
        d = RamDisk(512, 128)
        cls.mkfs(d)
        vfs.mount(cls(d), "/det")
        try:
            assert storage.fs_kind("/det/m.tflite") == kind
            assert isinstance(storage.store_for("/det/m.tflite"), store)
        finally:
            vfs.umount("/det")


def test_file_slot_installs_verified_files_only():
    events = []
    log = devtest.Log()
    path = devtest.tmp("labels.json")
    fs = FileSlot(path, max_bytes=64, on_event=lambda k, i: events.append(k), log=log)
    assert not fs.serving
    src = devtest.tmp("in.part")
    devtest.write(src, b'{"labels": [1, 2]}')
    good = devtest.sha256_hex(b'{"labels": [1, 2]}')
    results = []
    assert fs.offer(src, good, done=lambda ok, info: results.append(ok))
    for _ in range(100):
        if not fs.step():
            break
    assert results == [True] and fs.serving and fs.digest == good
    assert devtest.read(path) == b'{"labels": [1, 2]}'
    devtest.write(src, b"tampered")
    fs.offer(src, good, done=lambda ok, info: results.append(ok))
    for _ in range(100):
        if not fs.step():
            break
    assert results == [True, False] and devtest.read(path) == b'{"labels": [1, 2]}'
    assert log.has("refused", "sha256 mismatch")
    devtest.write(src, b"x" * 65)
    assert not fs.offer(src, devtest.sha256_hex(b"x" * 65))
    assert log.has("65 bytes", "at most 64")
    assert events == ["installed", "refused", "refused"]
