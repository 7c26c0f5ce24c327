"""Power loss while a new model is written and installed: after a cut at every possible
block program/erase, the remounted filesystem yields the old or the new model, never a
broken one. Real MicroPython filesystems (vfs.VfsLfs2, vfs.VfsFat) on a RAM block device
(ramdisk.py) that stops at the cut."""

import devtest
from ramdisk import RamDisk
from uformer.storage import ABStore, RenameStore

CHUNK = 128  # bytes per write, like the live receiver's chunks (smaller: more cut points)


def mount(disk, kind, at):
    import vfs

    fs = vfs.VfsLfs2(disk) if kind == "lfs" else vfs.VfsFat(disk)
    vfs.mount(fs, at)


def umount(at):
    import vfs

    try:
        vfs.umount(at)
        return True
    except OSError:
        # A dead device may fail the unmount's final sync; the image is what counts.
        return False


def mkfs(disk, kind):
    import vfs

    if kind == "lfs":
        vfs.VfsLfs2.mkfs(disk)
    else:
        vfs.VfsFat.mkfs(disk)


def make_store(kind, path):
    return RenameStore(path) if kind == "lfs" else ABStore(path)


def update(store, data, digest):
    """What a live transfer does: write the incoming file in chunks, then install it."""
    part = store.part_path()
    f = open(part, "wb")
    try:
        for i in range(0, len(data), CHUNK):
            f.write(data[i:i + CHUNK])
            f.flush()
    finally:
        f.close()
    store.install(part, digest)


def loadable(content):
    try:
        import _uformer  # noqa: F401
    except ImportError:
        return True  # stock MicroPython: the digest check above is the proof
    from uformer import Model

    Model(content)
    return True


def check(kind, image, at, path, digests):
    """Mount the image after the cut and recover; which model ('o'/'n') it serves."""
    disk = RamDisk(data=image)
    mount(disk, kind, at)
    try:
        store = make_store(kind, path)
        got, digest = store.recover()
        assert got is not None, "no model after the cut"
        content = devtest.read(got)
        assert devtest.sha256_hex(content) == digest, "recovered file does not match its digest"
        assert digest in digests, "recovered a model that is neither old nor new"
        assert loadable(content)
        return "o" if digest == digests[0] else "n", disk
    finally:
        umount(at)


def run_power_cuts(kind, block_size, blocks, torn):
    if not devtest.MICROPYTHON:
        devtest.skip("vfs.VfsLfs2/VfsFat over a Python block device are MicroPython's "
                     "(test_storage_layouts covers the same layouts on CPython)")
    at = "/pl_" + kind
    path = at + "/model.tflite"
    old = devtest.read(devtest.data("v1.tflite"))
    new = devtest.read(devtest.data("v2.tflite"))
    digests = (devtest.sha256_hex(old), devtest.sha256_hex(new))

    disk = RamDisk(block_size, blocks)
    mkfs(disk, kind)
    mount(disk, kind, at)
    update(make_store(kind, path), old, digests[0])
    umount(at)
    base = disk.image()

    # A full update without a cut, to learn how many program/erase operations it takes.
    disk = RamDisk(block_size, blocks, data=base)
    mount(disk, kind, at)
    store = make_store(kind, path)
    store.recover()
    update(store, new, digests[1])
    umount(at)
    total = disk.ops
    assert total > 0

    outcomes = []
    rolled = 0
    for k in range(total + 1):
        disk = RamDisk(block_size, blocks, data=base, budget=k, torn=torn)
        mount(disk, kind, at)
        try:
            store = make_store(kind, path)
            store.recover()
            update(store, new, digests[1])
            finished = True
        except OSError:
            finished = False
        umount(at)
        assert finished == (not disk.dead), (k, finished, disk.dead)
        cut_image = disk.image()
        what, after = check(kind, cut_image, at, path, digests)
        if after.ops:
            # Recovery wrote (finished an interrupted install): cut that too, everywhere.
            rolled += 1
            for j in range(after.ops):
                d2 = RamDisk(block_size, blocks, data=cut_image, budget=j, torn=torn)
                mount(d2, kind, at)
                try:
                    make_store(kind, path).recover()
                except OSError:
                    assert d2.dead, "recovery failed without a power cut"
                umount(at)
                w2, _ = check(kind, d2.image(), at, path, digests)
                assert w2 == what, "a cut during recovery changed the outcome"
        outcomes.append(what)
    s = "".join(outcomes)
    print("%s: %d cut points, outcomes %s, recoveries that finished an install: %d" % (
        kind, total + 1, s, rolled))
    assert s[0] == "o" and s[-1] == "n"
    assert "no" not in s, "went back to the old model after serving the new one"
    return s


def test_littlefs_power_cut_at_every_block_write():
    run_power_cuts("lfs", 512, 64, torn=True)


def test_fat_ab_power_cut_at_every_sector_write():
    # FAT relies on whole-sector writes, so the cut comes between sectors (not torn).
    run_power_cuts("fat", 512, 128, torn=False)


def test_ramdisk_cuts_like_power_loss():
    if not devtest.MICROPYTHON:
        devtest.skip("exercises MicroPython's vfs")
    # the device itself: the cut op is torn, later ops fail, the image freezes
    d = RamDisk(16, 4, budget=1)
    assert d.writeblocks(0, b"\x0f" * 16, 0) == 0
    assert d.writeblocks(1, b"\x00" * 16, 0) == -5  # cut: half of it lands
    assert d.data[16:24] == b"\x00" * 8 and d.data[24:32] == b"\xff" * 8
    assert d.ioctl(6, 0) == -5 and d.data[0:16] == b"\x0f" * 16  # dead: nothing changes
    assert d.dead
