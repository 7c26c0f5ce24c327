"""benchmarks/cortex_m_vs_tflm.py: the engine against TFLM (reference and CMSIS-NN kernels) in
one bare-metal harness on QEMU mps2-an386.

The smoke test builds all three libraries from checkouts named by environment variables
(TFLM_DIR, CMSIS_NN_DIR, FLATBUFFERS_DIR, GEMMLOWP_DIR, RUY_DIR; see docs/cortex_m_vs_tflm.md
for the versions) and runs two small models. Objects are kept in $MF_CMP_BUILD when set
(TFLM takes minutes to compile), else in a temporary directory.
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "cortex_m_vs_tflm.py"
CHECKOUTS = {"--tflm": "TFLM_DIR", "--cmsis-nn": "CMSIS_NN_DIR", "--flatbuffers": "FLATBUFFERS_DIR",
             "--gemmlowp": "GEMMLOWP_DIR", "--ruy": "RUY_DIR"}
MODELS = ["tf_l1_d16_s16", "mlp_20"]


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=7200)


def test_missing_checkout_is_one_clear_line(tmp_path):
    r = _run("--tflm", str(tmp_path / "nowhere"), "--cmsis-nn", str(tmp_path))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("cortex_m_vs_tflm: --tflm ")
    assert "tensorflow/lite/micro/micro_interpreter.h" in lines[0]


@pytest.mark.firmware
@pytest.mark.slow
def test_two_models_identical_across_libraries(tmp_path):
    missing = [env for env in CHECKOUTS.values() if not os.environ.get(env)]
    if missing:
        pytest.skip(f"set {', '.join(missing)} to checkouts (docs/cortex_m_vs_tflm.md)")
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (`make firmware-deps`)")
    pytest.importorskip("tensorflow", reason="TensorFlow converts the benchmark models")
    args = []
    for opt, env in CHECKOUTS.items():
        args += [opt, os.environ[env]]
    build = os.environ.get("MF_CMP_BUILD") or str(tmp_path / "build")
    r = _run(*args, "--models", ",".join(MODELS), "--samples", "2", "--riscv", "no", "--build", build)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "all outputs identical" in out
    for name in MODELS:
        row = re.search(rf"^{name}\s+\S+\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)\s+identical$",
                        out, re.M)
        assert row, f"no invoke row for {name}:\n{out}"
        engine, ref, cmsis = (int(row.group(k).replace(",", "")) for k in (1, 2, 3))
        assert engine > 0 and ref > 0 and cmsis > 0
        assert float(row.group(4)) == pytest.approx(engine / ref, abs=0.006)
        assert float(row.group(5)) == pytest.approx(engine / cmsis, abs=0.006)
        init = re.search(rf"^{name}\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+[\d.]+\s+[\d.]+\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$",
                         out, re.M)
        assert init, f"no init/arena row for {name}:\n{out}"
    flash = re.findall(r"^\s+(engine|TFLM-ref|CMSIS-NN)\s+library objects\s+([\d,]+) bytes", out, re.M)
    assert [f[0] for f in flash] == ["engine", "TFLM-ref", "CMSIS-NN"], out
    assert all(int(f[1].replace(",", "")) > 10000 for f in flash), out


@pytest.mark.firmware
@pytest.mark.slow
@pytest.mark.parametrize("on, tools, unit", [("cortex-m4", ("arm-none-eabi-gcc", "qemu-system-arm"), "instructions"),
                                             ("host", ("gcc",), "ns")])
def test_profile_shares_add_up(tmp_path, on, tools, unit):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (`make firmware-deps`)")
    pytest.importorskip("tensorflow", reason="TensorFlow converts the benchmark models")
    r = _run("--profile", "cnn_16x16x2", "--on", on, "--build", str(tmp_path / "build"))
    assert r.returncode == 0, r.stdout + r.stderr
    head = re.search(rf"^== cnn_16x16x2 on {on}: ([\d,]+) {unit} in (\d+) nodes .*outputs identical",
                     r.stdout, re.M)
    assert head, r.stdout
    total = int(head.group(1).replace(",", ""))
    rows = re.findall(r"^([A-Z_0-9+a-z]+)\s+(\d+)\s+([\d,]+)\s+([\d.]+)%$", r.stdout, re.M)
    ops = {op for op, *_ in rows}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= ops, r.stdout
    assert sum(int(n) for _, n, _, _ in rows) == int(head.group(2))
    assert sum(int(i.replace(",", "")) for _, _, i, _ in rows) == total
    assert sum(float(s) for *_, s in rows) == pytest.approx(100, abs=0.1 * len(rows))
