"""Live updates end to end: host LiveLink (host/microformer/live.py) -> pipes -> a running
uformer app (liveapp.py) under CPython or real MicroPython. Clean and fault-injected links
(drops, bit flips, duplicates, stalls in both directions), resume after the host or the
device died mid-transfer, refusals, and Ctrl-C switched off only around frames."""
import hashlib
import json
import os
import time

import pytest

import devtest
from devtest import needs_engine
from linkfaults import FaultyLink
from microformer.live import LiveError, LiveLink, frame, parse_reply
from microformer.transport import ProcessTransport

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
HOST_DRIVEN = True
CHUNK = 256


class App:
    """The device app as a process, with a LiveLink to it."""

    def __init__(self, exe, work, mode="file", chunk=CHUNK):
        self.exe, self.work, self.mode, self.chunk = exe, work, mode, chunk
        self.lines = []
        # -u: CPython would hold the app's print() lines in a pipe buffer until exit.
        argv = [exe] + (["-u"] if "micropython" not in os.path.basename(exe) else [])
        self.t = ProcessTransport(argv + [os.path.join(HERE, "liveapp.py"), ROOT, work, mode,
                                          str(chunk)], env=dict(os.environ))

    def link(self, transport=None, **kw):
        kw.setdefault("timeout", 0.3)
        return LiveLink(transport or self.t, on_line=self.lines.append, **kw)

    def finish(self):
        """Close stdin; the app's final state (it must exit by itself, status 0)."""
        p = self.t.proc
        out, err = p.communicate(timeout=30)  # closes stdin: the app's cue to finish
        assert p.returncode == 0, f"app exited {p.returncode}: {err.decode()[-2000:]}"
        text = b"\n".join(x.encode() for x in self.lines) + b"\n" + out
        for line in text.decode("utf-8", "replace").splitlines():
            if line.startswith("APPSTATE "):
                return json.loads(line[len("APPSTATE "):])
        raise AssertionError(f"no APPSTATE line in the app's output: {text[-2000:]!r}")

    def kill(self):
        self.t.proc.kill()
        self.t.proc.wait()


def blob(name):
    with open(os.path.join(os.environ["UFORMER_TEST_DATA"], name), "rb") as f:
        return f.read()


def samples_of(stats_line):
    return int(dict(kv.split("=") for kv in stats_line.split()[2:])["samples"])


def check_ctrl_c(state):
    """Ctrl-C went off (-1) only around frames and is back on (3) at the end."""
    sw = [ch for _t, ch in state["switches"]]
    assert sw and sw[0] == -1 and sw[-1] == 3, sw
    assert all(a != b for a, b in zip(sw, sw[1:])), f"switches do not alternate: {sw}"
    assert state["rx"]["exposed_ctrl_c"] == 0, "a 0x03 byte arrived with Ctrl-C on"
    assert not state["rx"]["kbd_off"]


def test_frame_format_roundtrip():
    h = frame("D", 0x1A2B, 4096, b"\x03payload")
    assert len(h) == 37 and h[0] == 0x16 and h.endswith(b"\n")
    assert 3 not in h, "header bytes must never contain Ctrl-C"
    # a device reply line, checked by CRC
    import binascii

    body = b"#MF 1A2B K off=4352"
    line = body + b" *%08X" % (binascii.crc32(body) & 0xFFFFFFFF)
    r = parse_reply(line)
    assert (r.seq, r.code, r.off()) == (0x1A2B, "K", 4352)
    bad = bytearray(line)
    bad[10] ^= 1
    assert parse_reply(bytes(bad)) is None
    assert parse_reply(b"app log line") is None


def test_push_clean_link(device_python, tmp_path):
    app = App(device_python, str(tmp_path))
    link = app.link(timeout=3.0)  # generous: on a clean link nothing may need a resend
    before = samples_of(link.stats())
    for name in ("v1.tflite", "v2.tflite"):
        data = blob(name)
        res = link.push("model.tflite", data)
        assert res["sha256"] == hashlib.sha256(data).hexdigest()
        assert (tmp_path / "model.tflite").read_bytes() == data
        assert link.resends == 0 and link.naks == 0
    assert samples_of(link.stats()) > before, "the app stopped sampling during the transfer"
    state = app.finish()
    check_ctrl_c(state)
    assert state["rx"]["installs"] == 2 and state["rx"]["bad_headers"] == 0
    assert state["digest"] == hashlib.sha256(blob("v2.tflite")).hexdigest()
    # the app's own output reaches the host's on_line between protocol replies
    assert "app started" in app.lines
    assert any("installed" in ln and "model.tflite" in ln for ln in app.lines), app.lines


def test_push_through_faulty_link(device_python, tmp_path, impl):
    seed = {"cpython": 1, "mpy": 2}.get(impl, 3)
    app = App(device_python, str(tmp_path))
    # Per 1..32-byte segment, both directions. Stalls (up to 0.4 s) outlast the host's
    # 0.2 s reply timeout, so they also produce late and duplicate replies.
    faulty = FaultyLink(app.t, seed, drop=0.02, flip=0.03, dup=0.02, stall=0.01,
                        stall_s=(0.05, 0.4))
    link = app.link(faulty, retries=60, timeout=0.2)
    first = samples_of(link.stats())
    t0 = time.monotonic()
    for name in ("v1.tflite", "v3.tflite"):
        data = blob(name)
        res = link.push("model.tflite", data)
        assert res["sha256"] == hashlib.sha256(data).hexdigest()
        assert (tmp_path / "model.tflite").read_bytes() == data
    last = samples_of(link.stats())
    elapsed = time.monotonic() - t0
    faulty.enabled = False
    state = app.finish()
    print(f"seed {seed}: faults {faulty.injected}, host resends {link.resends} naks {link.naks} "
          f"timeouts {link.timeouts} restarts {link.restarts}, device {state['rx']}, "
          f"{elapsed:.1f} s, samples {first}->{last}")
    assert faulty.total() > 10, "the link injected too few faults to prove anything"
    assert link.resends + link.naks > 0
    rx = state["rx"]
    assert rx["bad_headers"] + rx["bad_payloads"] + rx["timeouts"] > 0, "no damage was detected"
    assert rx["installs"] == 2
    check_ctrl_c(state)
    assert last > first and state["stats"]["samples"] > last
    assert state["stats"]["bad"] == 0 and state["stats"]["errors"] == 0


def test_resume_after_host_gives_up(device_python, tmp_path):
    app = App(device_python, str(tmp_path))
    data = blob("big.tflite")  # ~50 KB: many chunks

    class Gone(Exception):
        """The host process dies."""

    def die(off, size):
        if off > size // 2:
            raise Gone()

    with pytest.raises(Gone):
        app.link(progress=die).push("model.tflite", data)
    before = samples_of(app.link().stats())
    # A fresh host process would do the same: new link, same file.
    link = app.link()
    res = link.push("model.tflite", data)
    assert len(data) // 2 < link.last_begin_off < len(data), link.last_begin_off
    assert res["sha256"] == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "model.tflite").read_bytes() == data
    assert samples_of(link.stats()) > before
    check_ctrl_c(app.finish())


def test_resume_after_device_reset_and_dead_link(device_python, tmp_path):
    data = blob("big.tflite")
    app = App(device_python, str(tmp_path))
    faulty = FaultyLink(app.t, 5)

    def cut(off, size):
        if off > size // 3:
            faulty.p["drop"] = 1.0  # the cable is pulled

    with pytest.raises(LiveError) as e:
        app.link(faulty, progress=cut, retries=4).push("model.tflite", data)
    assert "no answer" in str(e.value)
    app.kill()  # the board resets mid-transfer
    part = tmp_path / "model.tflite.part"
    assert part.exists() and 0 < part.stat().st_size < len(data)
    written = part.stat().st_size
    app = App(device_python, str(tmp_path))
    link = app.link()
    link.push("model.tflite", data)
    assert link.last_begin_off == written  # resumed from the bytes on flash
    assert (tmp_path / "model.tflite").read_bytes() == data
    check_ctrl_c(app.finish())


def test_wrong_hash_refused_and_old_file_kept(device_python, tmp_path):
    app = App(device_python, str(tmp_path))
    link = app.link()
    v1 = blob("v1.tflite")
    link.push("model.tflite", v1)
    with pytest.raises(LiveError) as e:
        link.push("model.tflite", blob("v2.tflite"),
                  expect_sha256=hashlib.sha256(blob("v3.tflite")).hexdigest())
    assert "sha256 mismatch" in str(e.value)
    assert link.restarts == 1  # the host retried the whole file once before giving up
    assert (tmp_path / "model.tflite").read_bytes() == v1
    with pytest.raises(LiveError) as e:
        link.push("other.tflite", v1)
    assert "no slot named other.tflite" in str(e.value) and "model.tflite" in str(e.value)
    with pytest.raises(LiveError) as e:
        link.push("model.tflite", b"x" * (64 * 1024 + 1))
    assert "65537 bytes" in str(e.value)
    state = app.finish()
    check_ctrl_c(state)
    assert state["digest"] == hashlib.sha256(v1).hexdigest()


@needs_engine
def test_live_model_swap_and_refusals(device_python, tmp_path, impl):
    if impl == "mpy":
        pytest.skip("stock MicroPython has no _uformer (the [mpy-uformer] variant runs this)")
    if impl == "cpython":
        devtest.engine()
    app = App(device_python, str(tmp_path), mode="model")
    faulty = FaultyLink(app.t, 11, drop=0.01, flip=0.02, dup=0.01)
    link = app.link(faulty, retries=60)
    v1, v2 = blob("v1.tflite"), blob("v2.tflite")
    res = link.push("model.tflite", v1)
    assert int(res["test_us"]) >= 0
    link.push("model.tflite", v2)
    info = json.loads(blob("models.json"))
    for bad, why in (("unsupported.tflite", info["unsupported_op"]),
                     ("wide.tflite", "window")):
        with pytest.raises(LiveError) as e:
            link.push("model.tflite", blob(bad))
        assert why in str(e.value), str(e.value)
    # a structurally broken file with its own correct digest: the engine refuses it
    broken = bytearray(v1)
    broken[8:40] = bytes(32)
    with pytest.raises(LiveError) as e:
        link.push("model.tflite", bytes(broken))
    assert "refused" in str(e.value)
    before = samples_of(link.stats())
    time.sleep(0.3)
    assert samples_of(link.stats()) > before
    faulty.enabled = False
    state = app.finish()
    check_ctrl_c(state)
    st = state["stats"]
    assert state["digest"] == hashlib.sha256(v2).hexdigest()
    assert st["swaps"] == 2 and st["refused"] == 3 and st["invokes"] > 0
    assert (tmp_path / "model.tflite").read_bytes() == v2
