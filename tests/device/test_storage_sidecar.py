"""NAME.sha256 is what `sha256sum` prints ("<hex>  <path>"), so `sha256sum -c` reads it, and
recovery after a power cut between install()'s two renames finishes the install for a
source path with spaces (issue 12: it split on spaces and lost the model)."""
import os

import devtest
from uformer.storage import RenameStore, StorageError, parse_sha256_line


def test_sidecar_is_a_sha256sum_line_and_recovery_handles_spaces():
    d = devtest.tmp("my models")
    os.mkdir(d)
    old, new = b"old model bytes", b"new model bytes, a bit longer"
    path = d + "/my model.tflite"
    s = RenameStore(path)
    src = d + "/incoming copy.part"
    devtest.write(src, old)
    s.install(src, devtest.sha256_hex(old))
    # The power cut: install() of the new model renamed the sidecar, not the model yet.
    src = d + "/next upload.part"
    devtest.write(src, new)
    digest = devtest.sha256_hex(new)
    with open(s.sidecar + ".tmp", "w") as f:
        f.write(digest + "  " + src + "\n")
    os.rename(s.sidecar + ".tmp", s.sidecar)
    assert devtest.read(path) == old
    assert devtest.read(s.sidecar) == (digest + "  " + src + "\n").encode()
    assert RenameStore(path).recover() == (path, digest)
    assert devtest.read(path) == new and not devtest.exists(src)


def test_sha256sum_line_parsing():
    h = "ab" * 32
    assert parse_sha256_line(h + "  a b.tflite\n") == (h, "a b.tflite")
    assert parse_sha256_line(h + " *bin mode.tflite\r\n") == (h, "bin mode.tflite")
    assert parse_sha256_line(h.upper() + "\n") == (h, None)
    assert parse_sha256_line(h + " old-style-path") == (h, "old-style-path")
    for bad in ("", "xyz", h[:63], h + "x  name", "-" + h[1:], "0x" + h[2:]):
        assert parse_sha256_line(bad) == (None, None), bad


def test_sidecar_checks_with_sha256sum():
    if devtest.MICROPYTHON:
        devtest.skip("runs the host's sha256sum")
    import shutil
    import subprocess

    if shutil.which("sha256sum") is None:
        devtest.skip("no sha256sum on this host")
    d = devtest.tmp()
    path = d + "/model name.tflite"
    s = RenameStore(path)
    data = b"a model"
    src = d + "/in coming.part"
    devtest.write(src, data)
    # Checked while the source still exists (between the renames), as a user would.
    with open(s.sidecar, "w") as f:
        f.write(devtest.sha256_hex(data) + "  " + src + "\n")
    p = subprocess.run(["sha256sum", "-c", s.sidecar], capture_output=True, text=True)
    assert p.returncode == 0 and "OK" in p.stdout, p.stdout + p.stderr


def test_oversized_or_binary_sidecar_is_refused_not_read():
    path = devtest.tmp("m.tflite")
    devtest.write(path, b"x")
    devtest.write(path + ".sha256", b"0" * 5000)
    e = devtest.raises(StorageError, RenameStore(path).recover)
    assert "5000 bytes" in str(e)
    devtest.write(path + ".sha256", b"\xff\xfe" * 10)
    devtest.raises(StorageError, RenameStore(path).recover)
