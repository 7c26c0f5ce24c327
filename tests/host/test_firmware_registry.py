"""One board registry (host/microformer/firmware/boards.py): the build driver, the CLI,
the emulator and the size report read it, and it agrees with the board definitions in
boards/ that make and cmake read."""
import argparse
import dataclasses
import pathlib
import re

import pytest

from microformer.firmware import FirmwareError, boards, driver, qemu

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The file each out-of-tree board definition must have, by the make variable naming it.
DEFINITION = {("VARIANT_DIR", False): "mpconfigvariant.mk",
              ("BOARD_DIR", False): "mpconfigboard.mk",
              ("BOARD_DIR", True): "mpconfigboard.cmake"}


def test_driver_reads_the_same_registry():
    d = driver()
    assert list(d.BOARDS) == list(boards.BOARDS)
    for name, b in boards.BOARDS.items():
        assert dataclasses.asdict(d.board(name)) == dataclasses.asdict(b)
    with pytest.raises(d.BuildError, match=f"unknown board 'ESP32'; boards: {boards.names()}"):
        d.board("ESP32")


def test_every_board_directory_is_registered_and_complete():
    # Upper-case directories are boards; lower-case ones hold what several boards share
    # (qemu_common: the emulated boards' start-up and RAM disk).
    dirs = sorted(p.name for p in (ROOT / "boards").iterdir() if p.is_dir() and p.name.isupper())
    assert dirs == sorted(boards.BOARDS)
    for name, b in boards.BOARDS.items():
        bdir = ROOT / "boards" / name
        assert (bdir / DEFINITION[b.dir_var, b.cmake]).is_file(), name
        assert (bdir / "manifest.py").is_file(), name
        assert b.map_file in b.artifacts or b.native, name
        assert b.port in {"unix", "qemu", "rp2"}


def _make_vars(path):
    return dict(re.findall(r"^(\w+)\s*\??=\s*(\S+)", path.read_text(), flags=re.M))


def test_emulator_facts_match_the_board_definition():
    assert {"QEMU_M4", "QEMU_M55"} <= set(boards.EMULATED)
    for name, b in boards.EMULATED.items():
        assert qemu.MACHINES[name] == b.emulator
        mk = _make_vars(ROOT / "boards" / name / "mpconfigboard.mk")
        assert mk["QEMU_MACHINE"] == b.emulator.machine
        assert int(mk["MICROPY_HW_ROMFS_PART0_START"], 16) == b.emulator.romfs_addr
        assert int(mk["MICROPY_HW_ROMFS_PART0_SIZE"], 16) == b.emulator.romfs_size
        assert b.emulator.system == f"qemu-system-{mk['QEMU_ARCH']}"
        assert qemu.command(name, "fw.elf")[:3] == [b.emulator.system, "-machine", b.emulator.machine]


def test_rp2_submodules_are_the_ports_own():
    # The rp2 CMakeLists adds lib/mbedtls and lib/tinyusb for every board; the registry's
    # list must cover them (the check used to miss mbedtls).
    for name in ("RPI_PICO", "RPI_PICO2"):
        subs = [s for s, _ in boards.BOARDS[name].submodules]
        assert {"lib/pico-sdk", "lib/tinyusb", "lib/mbedtls", "lib/micropython-lib"} <= set(subs)


def test_tune_budgets_name_registered_boards():
    from microformer import latency

    assert set(latency.BOARDS) <= set(boards.BOARDS)


def _parser(module):
    p = argparse.ArgumentParser()
    module.add_parser(p.add_subparsers(dest="verb"))
    return p


def test_cli_defaults_come_from_the_registry(tmp_path, monkeypatch):
    from microformer.commands import board, firmware

    with pytest.raises(FirmwareError, match=f"unknown board 'ESP32'; boards: {boards.names()}"):
        firmware.run(_parser(firmware).parse_args(
            ["firmware", "build", "--board", "ESP32", "--micropython", str(tmp_path)]))
    # board start without --firmware looks where firmware build puts it.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MICROFORMER_STATE", str(tmp_path / "state"))
    with pytest.raises(FirmwareError, match=re.escape(str(boards.default_out("QEMU_M4") / "firmware.elf"))):
        board.run(_parser(board).parse_args(["board", "start", "QEMU_M4"]))


def test_next_step_per_kind_of_board(tmp_path):
    assert boards.BOARDS["UNIX"].next_step(tmp_path).startswith(f"run it: {tmp_path / 'micropython-uformer'}")
    assert boards.BOARDS["QEMU_M4"].next_step(tmp_path) == \
        f"run it: microformer board start QEMU_M4 --firmware {tmp_path / 'firmware.elf'}"
    assert "firmware.uf2 to the board's BOOTSEL drive" in boards.BOARDS["RPI_PICO"].next_step(tmp_path)


def test_terse_errors_default_is_one_rule():
    from microformer.firmware import builder, natmod

    assert boards.terse_errors_default(["m.tflite"]) and not boards.terse_errors_default([])
    # A native module's code sits in the board's heap: terse whatever its ops.
    assert boards.terse_errors_default([], natmod=True)
    assert "boards.terse_errors_default" in builder.build.__doc__
    assert "terse_errors_default(ops_from, natmod=True)" in pathlib.Path(natmod.__file__).read_text()
