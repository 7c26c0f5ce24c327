"""_uformer.mpy on MicroPython's own qemu boards, built from the checkout without our C
module (natmod.stock_firmware): MPS2_AN385 (Cortex-M3) with the armv6m and armv7m
natmods, MPS2_AN500 (Cortex-M7) with armv7emdp, MPS3_AN547 (Cortex-M55) with armv7emsp
and armv7emdp, VIRT_RV32 with rv32imc.

These boards have no writable filesystem: everything goes into the ROMFS image they
mount at /rom (/rom/lib is on sys.path), laid out as `microformer install` lays out /lib.
On each board every zoo model, mapped in place from /rom, gives outputs equal byte for
byte to the CPython _uformer's, and the uformer app (Slot serving a model from /rom,
Window, Rules, Runner over a replayed recording) classifies every window as the same app
does under CPython, and `microformer bench` reports. On QEMU_M4 (the built-in module's
firmware) the armv7emsp natmod computes the same float-built activation tables as the
built-in module, over random quantizations."""
import os
import pathlib
import subprocess
import sys

import pytest

import fwutil
import natmodenv
from fwenv import ROOT
from microformer.firmware import device, natmod, qemu, romfs

pytestmark = pytest.mark.firmware

CASES = [(board, arch) for board, archs in natmod.STOCK_BOARDS.items() for arch in archs]
IDS = [f"{b}-{a}" for b, a in CASES]

ZOO = ("mlp", "cnn", "hybrid", "tf_l1_h1_d16_s16", "tf_l2_h4_d32_s64", "tf_l3_h6_d48_s32",
       "tf_l1_h2_d64_s128")
MUST_RUN = ZOO[:4]  # arenas of at most 10 KB


def rom_image(tmp_path, natdir, files):
    """A ROMFS image holding the natmod and the compiled package under lib/ (as install
    puts them in /lib) and `files` ({name: bytes}) at the top."""
    pkg = {p.name: p.read_bytes() for p in sorted((natdir / "lib" / "uformer").iterdir())}
    tree = {"lib": {natmod.NATMOD_FILE: (natdir / natmod.NATMOD_FILE).read_bytes(), "uformer": pkg}}
    tree.update(files)
    img = tmp_path / "rom.img"
    img.write_bytes(romfs.build(tree))
    return img


@pytest.fixture
def setup(request, firmware_out):
    board, arch = request.param
    fw = natmodenv.stock_board(board, firmware_out / "stock")
    nat = natmodenv.built(arch, firmware_out / "natmod")
    return board, arch, fw, nat


ZOO_SCRIPT = """
import sys, gc, _uformer
print("MPY", sys.implementation._mpy, _uformer.__file__)
for name in {names!r}:
    gc.collect()
    f = open("/rom/" + name + ".tflite", "rb")
    try:
        m = _uformer.Model(memoryview(f))
    except MemoryError as e:
        # The heap (140 KB on these boards, the natmod's code included) may not hold
        # the largest arenas: the test checks that the refusal is about that.
        print("NOMEM", name, gc.mem_free(), e)
        f.close()
        continue
    views = [m.input(i) for i in range(m.num_inputs)]
    with open("/rom/" + name + ".in", "rb") as src:
        for s in range({samples}):
            for v in views:
                v[:] = src.read(len(v))
            m.invoke()
            for j in range(m.num_outputs):
                print("OUT", name, s, j, bytes(m.output(j)).hex())
    del m, views
    f.close()
print("DONE")
"""


@pytest.mark.parametrize("setup", CASES, ids=IDS, indirect=True)
def test_zoo_models_match_cpython(setup, cpython_engine, zoo_model, tmp_path):
    board, arch, fw, nat = setup
    files, want = {}, {}
    order = sorted(ZOO, key=lambda n: -cpython_engine.Model(zoo_model(n)).arena_size)
    for name in ZOO:
        model = zoo_model(name)
        samples = fwutil.inputs(cpython_engine, model)
        files[name + ".tflite"] = model
        files[name + ".in"] = fwutil.pack(samples)
        want[name] = fwutil.reference(cpython_engine, model, samples)
    img = rom_image(tmp_path, nat, files)
    with qemu.booted(board, fw, romfs=img) as b:
        out = device.run(b.pty, ZOO_SCRIPT.format(names=order, samples=fwutil.SAMPLES), timeout=900)
    lines = out.splitlines()
    assert lines[-1] == "DONE", out[-2000:]
    mpy, where = next(ln.split()[1:] for ln in lines if ln.startswith("MPY"))
    assert where == "/rom/lib/_uformer.mpy"
    # The board runs the natmod it was given, and natmod.loadable agrees that it can.
    assert natmod.loadable(natmod.read_header(nat / natmod.NATMOD_FILE), int(mpy)) is None
    got = {}
    for ln in lines:
        f = ln.split()
        if f and f[0] == "OUT":
            got.setdefault(f[1], {}).setdefault(int(f[2]), []).append(bytes.fromhex(f[4]))
    nomem = {ln.split()[1]: ln for ln in lines if ln.startswith("NOMEM")}
    # The boards' heap is 140 KB and holds the natmod's code too (55-78 KB by arch): the
    # larger transformers' arenas (23-48 KB) may find no hole that big, which the engine
    # must report as such. The small models must run everywhere.
    assert not nomem.keys() & set(MUST_RUN), f"refused: {sorted(nomem)}"
    print(f"{board} {arch}: {len(ZOO) - len(nomem)} models ran; arena refused for heap: {sorted(nomem)}")
    for ln in nomem.values():
        # The binding's heap messages: the arena, or the scratch that sizes it.
        assert "cannot allocate" in ln and ("model arena" in ln or "scratch" in ln), ln
    for name in ZOO:
        if name in nomem:
            continue
        rows = [got.get(name, {}).get(s) for s in range(fwutil.SAMPLES)]
        assert rows == want[name], f"{name} on {board} ({arch}) differs from the CPython _uformer"


# The app: a Slot serving the model in place from ROMFS (the boards have no writable
# filesystem, so it has nothing to recover), a Window, one Rule per label and the Runner
# over a replayed recording; it prints the Runner's stats line and the label of every
# window. ROOT is /rom on the board and a host folder under CPython.
APP = """
import gc
from uformer import Slot
from uformer.window import Window
from uformer.rule import Rule
from uformer.runner import Runner, parse_stats
from uformer.sensors import ReplaySensor
ROOT = {root!r}
w = Window(8, 3, hop=4)
slot = Slot({slot!r}, rom=ROOT + "/v1.tflite", window=w)
seen = []
rules = [Rule(label, 0.0, 1, 0, lambda l, s: seen.append(l)) for label in ("idle", "wave", "tap", "shake")]
r = Runner(ReplaySensor(ROOT + "/rec.csv"), w, slot, rules, period_ms=1, stats_ms=0)
for _ in range(200):
    r.step()
print(r.stats_line())
print("LABELS", " ".join(seen))
"""


def _app_result(out):
    lines = out.splitlines()
    stats = next(ln for ln in lines if ln.startswith("uformer stats"))
    labels = next(ln for ln in lines if ln.startswith("LABELS")).split()[1:]
    return dict(kv.split("=") for kv in stats.split()[2:]), labels


@pytest.mark.parametrize("setup", CASES, ids=IDS, indirect=True)
def test_uformer_app_runs(setup, tmp_path):
    import devmodels

    board, arch, fw, nat = setup
    data = tmp_path / "data"
    data.mkdir()
    devmodels.build(str(data))
    devmodels.recording(str(data / "rec.csv"))
    files = {n: (data / n).read_bytes() for n in ("v1.tflite", "rec.csv")}
    img = rom_image(tmp_path, nat, files)
    with qemu.booted(board, fw, romfs=img) as b:
        out = device.run(b.pty, APP.format(root="/rom", slot="/model.tflite"), timeout=600)
    stats, labels = _app_result(out)
    assert stats["samples"] == "200" and stats["windows"] == stats["invokes"] == "49", stats
    assert stats["errors"] == "0" and stats["bad"] == "0" and len(labels) == 49
    # The same app under CPython (the simulator: device/uformer with the CPython _uformer).
    script = tmp_path / "app.py"
    script.write_text(APP.format(root=str(data), slot=str(tmp_path / "model.tflite")))
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT / "device")), check=True)
    assert _app_result(p.stdout)[1] == labels


# `microformer bench` reads models from /models, and these boards have no writable
# filesystem (push cannot put one there): a read-only view of /rom/models, written in
# Python against MicroPython's VFS protocol, is mounted at /models for the run (bench
# then imports the _uformer this script already imported).
MODELS_VIEW = """
import os, vfs
# First, while the heap is in one piece: the natmod's code takes one block of its size.
import _uformer
class ModelsView:
    def __init__(self, base):
        self.base = base
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def _p(self, path):
        return self.base + ("" if path in ("", "/") else "/" + path.lstrip("/"))
    def ilistdir(self, path):
        return os.ilistdir(self._p(path))
    def stat(self, path):
        return os.stat(self._p(path))
    def statvfs(self, path):
        return os.statvfs(self.base)
    def open(self, path, mode):
        return open(self._p(path), mode)
    def mkdir(self, path):
        raise OSError(17)  # EEXIST: bench's makedirs("/models") finds it there
    def remove(self, path):
        raise OSError(30)  # EROFS
    def chdir(self, path):
        pass
    def getcwd(self):
        return ""
vfs.mount(ModelsView("/rom/models"), "/models")
print(os.listdir("/models"))
"""


@pytest.mark.parametrize("setup", CASES, ids=IDS, indirect=True)
def test_microformer_bench_reports(setup, cpython_engine, zoo_model, tmp_path):
    import json

    board, arch, fw, nat = setup
    model = zoo_model("cnn")
    img = rom_image(tmp_path, nat, {"models": {"cnn.tflite": model}})
    with qemu.booted(board, fw, romfs=img) as b:
        assert device.run(b.pty, MODELS_VIEW).strip().endswith("['cnn.tflite']")
        p = subprocess.run([sys.executable, "-m", "microformer.cli", "bench", "--port", b.pty,
                            "--model", "cnn", "-n", "5", "--no-restart", "--json"],
                           capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads(p.stdout)
    assert res["n"] == 5 and 0 < res["min_us"] <= res["p50_us"] <= res["max_us"]
    assert res["model_bytes"] == len(model)
    assert res["ops"] == len(cpython_engine.Model(model).ops)
    assert res["impl"] == "micropython" and res["heap_free"] > 0


LUT_SCRIPT = """
import _uformer, _uformer_natmod
for n in {names!r}:
    buf = open("/rom/" + n + ".tflite", "rb").read()
    outs = []
    for eng in (_uformer, _uformer_natmod):
        m = eng.Model(buf)
        v = m.input(0)
        for i in range(256):
            v[i] = i - 256 if i > 127 else i
        m.invoke()
        outs.append(bytes(m.output(0)).hex())
    print("LUT", n, outs[0], outs[1])
print("DONE")
"""


def test_float_tables_match_the_builtin_module(qemu_firmware, cpython_engine, firmware_out, tmp_path):
    """The tables computed in float at load (GELU exact and approximate, TANH, LOGISTIC)
    depend on the libm: the built-in module uses MicroPython's lib/libm, the arm natmods
    newlib's, the CPython build glibc's. 120 random quantizations, every int8 input, in
    one QEMU_M4 boot running both engines (the natmod imported as _uformer_natmod)."""
    import numpy as np

    from tflbuild import Graph, options

    nat = natmodenv.built("armv7emsp", firmware_out / "natmod")
    rng = np.random.default_rng(13)
    files = {"lib": {"_uformer_natmod.mpy": (nat / natmod.NATMOD_FILE).read_bytes()}}
    for k in range(120):
        op = ("GELU", "GELU", "TANH", "LOGISTIC")[k % 4]
        in_s, out_s = (float(np.float32(10 ** rng.uniform(lo, hi))) for lo, hi in ((-3, 0), (-3, -0.5)))
        in_zp, out_zp = (int(z) for z in rng.integers(-128, 128, 2))
        if op == "LOGISTIC":
            out_s, out_zp = 1 / 256, -128  # the int8 output quantization TFLite requires
        elif op == "TANH":
            out_s, out_zp = 1 / 128, 0
        g = Graph()
        x = g.input((256,), "int8", scale=in_s, zp=in_zp)
        y = g.output((256,), "int8", scale=out_s, zp=out_zp)
        g.op(op, [x], [y], options("GeluOptions", approximate=k % 8 == 1) if op == "GELU" else None,
             version=2)
        files[f"m{k}.tflite"] = g.build()
    names = sorted(n[:-len(".tflite")] for n in files if n.endswith(".tflite"))
    img = tmp_path / "rom.img"
    img.write_bytes(romfs.build(files))
    with qemu.booted("QEMU_M4", qemu_firmware.firmware, romfs=img) as b:
        out = device.run(b.pty, LUT_SCRIPT.format(names=names), timeout=900)
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("LUT")]
    assert out.splitlines()[-1] == "DONE" and len(rows) == len(names)
    for _, n, builtin, native in rows:
        m = cpython_engine.Model(files[n + ".tflite"])
        m.input(0).cast("B")[:] = bytes(range(256))
        m.invoke()
        assert native == builtin == bytes(m.output(0)).hex(), n
