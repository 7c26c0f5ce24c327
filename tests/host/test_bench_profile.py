"""microformer bench --profile: the per-op share table on the simulator and on the emulated
QEMU_M4 board (firmware-marked), its rows for every op type of the model, the fused chain
charged to the node that runs it, and one-line errors. Structure only: no test reads a
timing's value (the table's arithmetic is checked on given tick counts)."""
import json
import re
import sys
import types

import pytest

from hostutil import needs_engine, run_cli
from microformer.commands.bench import profile_table
from test_engine_fusion import attention


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("profile_models")
    fused, plain = d / "fused.tflite", d / "plain.tflite"
    fused.write_bytes(attention(1, front="dense"))
    plain.write_bytes(attention(2, front="dense", mul="vector"))
    return fused, plain


def _ops(path):
    import _uformer

    return _uformer.Model(path.read_bytes()).ops


def _rows(out):
    """{op type: (nodes, share %)} of the table, and the costliest-node lines."""
    rows, nodes, in_nodes = {}, [], False
    for line in out.splitlines():
        if "costliest nodes" in line:
            in_nodes = True
            continue
        m = re.match(r"  (\w+)\s+(\d+)\s+([\d.]+) %", line)
        if m and not in_nodes:
            rows[m.group(1)] = (int(m.group(2)), float(m.group(3)))
        elif in_nodes and line.startswith("    node "):
            nodes.append(line)
    return rows, nodes


@needs_engine
@pytest.mark.parametrize("which", ["fused", "plain"])
def test_sim_table_has_every_op_type(model_files, tmp_path, capsys, which):
    path = model_files[0] if which == "fused" else model_files[1]
    sim = tmp_path / "sim"
    code, _, err = run_cli(capsys, "push", path, "--sim", sim)
    assert code == 0, err
    code, out, err = run_cli(capsys, "bench", "--sim", sim, "--profile", "-n", "3")
    assert code == 0, err
    ops = _ops(path)
    rows, costly = _rows(out)
    assert set(rows) == set(ops) | {"all"}
    for op in set(ops):
        assert rows[op][0] == ops.count(op)
    assert rows["all"][0] == len(ops)
    assert "profile of 3 invokes, %d nodes" % len(ops) in out
    assert 1 <= len(costly) <= 5
    if which == "fused":
        assert "(runs a fused chain)" in out and "absorbed into a fused chain" in out
        assert rows["MUL"][1] == rows["SOFTMAX"][1] == 0.0  # absorbed: 0 ticks
    else:
        assert "fused" not in out


@needs_engine
def test_sim_json_has_one_entry_per_node(model_files, tmp_path, capsys):
    import _uformer

    sim = tmp_path / "sim"
    assert run_cli(capsys, "push", model_files[0], "--sim", sim)[0] == 0
    code, out, err = run_cli(capsys, "bench", "--sim", sim, "--profile", "-n", "4", "--json")
    assert code == 0, err
    r = json.loads(out)
    _, host = _uformer.Model(model_files[0].read_bytes()).profile()
    assert r["unit"] == "ns" and r["n"] == 4 and r["model"] == "fused.tflite"
    assert [(op, f) for op, f, _ in r["nodes"]] == [(op, f) for op, f, _ in host]
    assert all(t == 0 for _, f, t in r["nodes"] if f == 2)


def test_table_arithmetic():
    res = {"n": 2, "unit": "ns", "nodes": [
        ["FULLY_CONNECTED", 0, 2000], ["BATCH_MATMUL", 2, 0], ["SOFTMAX", 2, 0],
        ["BATCH_MATMUL", 1, 6000], ["FULLY_CONNECTED", 0, 2000]]}
    lines = profile_table(res, top=2)
    assert lines[1].split() == ["BATCH_MATMUL", "2", "60.0", "%", "3.0", "us", "(1", "runs", "a", "fused",
                                "chain;", "1", "absorbed", "into", "a", "fused", "chain)"]
    assert lines[2].split() == ["FULLY_CONNECTED", "2", "40.0", "%", "2.0", "us"]
    assert lines[3].split()[:3] == ["SOFTMAX", "1", "0.0"]
    assert lines[4].split() == ["all", "5", "100.0", "%", "5.0", "us"]
    # The costliest nodes: absorbed ones never, ties in execution order.
    assert [ln.split()[1] for ln in lines[6:]] == ["3", "0"]
    cpu = profile_table(dict(res, unit="cpu"))
    assert cpu[1].split()[4:6] == ["3,000", "cpu"]


def test_table_of_a_model_that_takes_no_time():
    lines = profile_table({"n": 1, "unit": "us", "nodes": [["RESHAPE", 0, 0]]})
    assert lines[1].split()[:3] == ["RESHAPE", "1", "-"]


def test_no_model_is_one_line(tmp_path, capsys):
    (tmp_path / "sim" / "models").mkdir(parents=True)
    code, out, err = run_cli(capsys, "bench", "--sim", tmp_path / "sim", "--profile")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("microformer: no models on the simulator")


def test_bad_invokes_are_refused(tmp_path, capsys):
    code, out, err = run_cli(capsys, "bench", "--sim", tmp_path, "--profile", "-n", "0")
    assert code == 2 and out == ""
    assert err.endswith("microformer bench: error: argument -n/--invokes: must be >= 1, got 0\n")


class _NoProfiler:
    """_uformer.Model of a firmware built with MF_PROFILE 0: everything but profile."""

    real = None  # the real _uformer, set before the test replaces it

    def __init__(self, buf):
        self._m = self.real.Model(buf)
        self.arena_size = self._m.arena_size
        self.input, self.input_info, self.invoke = self._m.input, self._m.input_info, self._m.invoke


class _FullHeap(_NoProfiler):
    def profile(self):
        raise MemoryError("cannot allocate 64 bytes of profile ticks (not enough free heap)")


@needs_engine
@pytest.mark.parametrize("model, says", [
    (_NoProfiler, "this firmware's _uformer has no profiler (its engine was built with MF_PROFILE 0)"),
    (_FullHeap, "profile: MemoryError: cannot allocate 64 bytes of profile ticks (not enough free heap)"),
])
def test_board_side_failures_are_one_line(model_files, tmp_path, capsys, monkeypatch, model, says):
    """What the board reports (no profiler in its build, no heap for the result) is one line."""
    import _uformer

    monkeypatch.setattr(_NoProfiler, "real", _uformer)
    stub = types.SimpleNamespace(Model=model, version=_uformer.version)
    sim = tmp_path / "sim"
    assert run_cli(capsys, "push", model_files[0], "--sim", sim)[0] == 0
    monkeypatch.setitem(sys.modules, "_uformer", stub)
    code, out, err = run_cli(capsys, "bench", "--sim", sim, "--profile")
    assert code == 1 and out == ""
    assert err == "microformer: profile on the simulator %s: %s\n" % (sim, says)


@pytest.mark.firmware
@needs_engine
def test_qemu_board_profile_matches_the_host_structure(model_files, tmp_path_factory, capsys):
    """On the emulated Cortex-M4 (real MicroPython firmware): the same nodes, op names and
    fused flags as the host engine, the clock in us (qemu's ticks_cpu is 0), the table."""
    import _uformer
    import qemuboard
    from microformer.firmware import qemu

    fw = qemuboard.firmware(tmp_path_factory)
    fused = model_files[0]
    with qemu.booted("QEMU_M4", fw) as b:
        code, _, err = run_cli(capsys, "push", fused, "--port", b.pty)
        assert code == 0, err
        code, out, err = run_cli(capsys, "bench", "--port", b.pty, "--profile", "-n", "5", "--json")
        assert code == 0, err
        r = json.loads(out)
        code, text, err = run_cli(capsys, "bench", "--port", b.pty, "--profile", "-n", "5")
        assert code == 0, err
    _, host = _uformer.Model(fused.read_bytes()).profile()
    assert r["impl"] == "micropython" and "mps2" in r["machine"] and r["unit"] == "us"
    assert [(op, f) for op, f, _ in r["nodes"]] == [(op, f) for op, f, _ in host]
    assert all(t == 0 for _, f, t in r["nodes"] if f == 2)
    rows, _ = _rows(text)
    assert set(rows) == set(_ops(fused)) | {"all"}
    assert "1 us = 1000 instructions" in text
