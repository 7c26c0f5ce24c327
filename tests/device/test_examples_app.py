"""The example apps: replay_app.py runs under CPython and MicroPython with _uformer and
takes a live model update while it runs; imu_gestures.py compiles for MicroPython."""
import os
import shutil
import subprocess

import pytest

from devtest import needs_engine
from microformer.live import LiveLink
from microformer.transport import ProcessTransport

HOST_DRIVEN = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def data(name):
    return os.path.join(os.environ["UFORMER_TEST_DATA"], name)


@needs_engine
def test_replay_app_runs_and_swaps_live(device_python, impl, tmp_path):
    if impl == "mpy":
        pytest.skip("stock MicroPython has no _uformer (the [mpy-uformer] variant runs this)")
    if impl == "cpython":
        pytest.importorskip("_uformer")
    model = tmp_path / "model.tflite"
    shutil.copy(data("v1.tflite"), model)
    argv = [device_python] + (["-u"] if impl == "cpython" else [])
    t = ProcessTransport(argv + [os.path.join(ROOT, "examples", "replay_app.py"),
                                 data("rec.csv"), str(model), "6"], cwd=ROOT)
    lines = []
    link = LiveLink(t, timeout=0.5, on_line=lines.append)
    v2 = open(data("v2.tflite"), "rb").read()
    res = link.push("model.tflite", v2)
    assert res["sha"] == __import__("hashlib").sha256(v2).hexdigest()[:12]
    out, err = t.proc.communicate(timeout=60)
    assert t.proc.returncode == 0, err.decode()[-2000:]
    text = "\n".join(lines) + "\n" + out.decode()
    assert "swapped" in text and "serving" in text
    assert "event " in text and "label " in text
    stats = [ln for ln in text.splitlines() if ln.startswith("uformer stats")]
    assert stats, text[-2000:]
    fields = dict(kv.split("=") for kv in stats[-1].split()[2:])
    assert fields["swaps"] == "1" and fields["invokes"] == fields["windows"] != "0"
    assert "agreement" in text
    assert model.read_bytes() == v2


def test_imu_example_compiles_for_micropython(tmp_path, impl):
    src = os.path.join(ROOT, "examples", "imu_gestures.py")
    if impl == "cpython":
        compile(open(src).read(), src, "exec")
        return
    from mpyenv import stock_micropython

    exe = stock_micropython()
    if exe is None:
        pytest.skip("no micropython")
    p = subprocess.run([exe, "-X", "compile-only", src], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
