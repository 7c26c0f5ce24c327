"""The emulated boards (QEMU_M4; QEMU_M55, whose engine runs its Helium kernels): each boots,
keeps files on its littlefs, and runs models it receives through mpremote (or maps from
/rom) with outputs byte for byte equal to the CPython _uformer's."""
import argparse
import os
import re

import pytest

import fwutil
from microformer.firmware import boards, device, qemu, romfs

pytestmark = pytest.mark.firmware

# Small enough to be copied into the 256 KB heap with their arena.
COPIED = ("mlp", "cnn", "hybrid", "tf_l1_h1_d16_s16")

# sys.implementation._machine: the qemu machine and the CPU (MICROPY_HW_MCU_NAME).
MACHINE = {"QEMU_M4": "mps2-an386 with Cortex-M4F", "QEMU_M55": "mps3-an547 with Cortex-M55"}


def test_boots_with_engine_and_a_writable_filesystem(emulated_board):
    out = device.run(emulated_board.pty, """
import sys, os, _uformer, uformer
print(sys.implementation._build, sys.implementation._machine)
print(len(_uformer.OPS), "/lib" in sys.path)
with open("/hello.txt", "w") as f:
    f.write("kept")
print(sorted(os.listdir("/")), os.statvfs("/")[0])
""")
    lines = out.splitlines()
    assert lines[0] == f"{emulated_board.name} {MACHINE[emulated_board.name]}"
    assert int(lines[1].split()[0]) > 0 and lines[1].endswith("True")
    assert "'hello.txt'" in lines[2] and lines[2].endswith(" 4096")
    # A soft reset remounts the same RAM disk: the file is still there.
    out = device.mpremote(emulated_board.pty, "soft-reset", "exec", "print(open('/hello.txt').read())")
    assert out.strip().endswith("kept")


@pytest.mark.parametrize("name", COPIED)
def test_copied_model_matches_cpython(name, emulated_board, cpython_engine, zoo_model, tmp_path):
    model = zoo_model(name)
    samples = fwutil.inputs(cpython_engine, model)
    (tmp_path / "m.tflite").write_bytes(model)
    (tmp_path / "in.bin").write_bytes(fwutil.pack(samples))
    device.copy(emulated_board.pty, tmp_path / "m.tflite", "/m.tflite")
    device.copy(emulated_board.pty, tmp_path / "in.bin", "/in.bin")
    out = device.run(emulated_board.pty, fwutil.script("/m.tflite", "/in.bin", len(samples)), timeout=300)
    got, info, us = fwutil.parse(out)
    assert got == fwutil.reference(cpython_engine, model, samples)
    assert info["MODEL"] == len(model)
    # -icount shift=0: the clock advances 1 ns per instruction, so equal inputs take equal time.
    assert len(us) == len(samples) and all(t > 0 for t in us)


def test_model_in_rom_is_used_in_place(emulated_firmware, cpython_engine, zoo_model, tmp_path):
    """The largest zoo transformer (about 100 KB) cannot be copied into the 256 KB heap
    next to its arena; mapped from /rom it costs only the arena."""
    name = "tf_l3_h6_d48_s32"
    model = zoo_model(name)
    samples = fwutil.inputs(cpython_engine, model)
    img = tmp_path / "rom.img"
    img.write_bytes(romfs.build({"m.tflite": model, "in.bin": fwutil.pack(samples)}))
    with qemu.booted(emulated_firmware.board, emulated_firmware.firmware, romfs=img) as b:
        out = device.run(b.pty, fwutil.script("/rom/m.tflite", "/rom/in.bin", len(samples), in_place=True)
                         + "import uctypes\nprint('ADDR', uctypes.addressof(buf))\n", timeout=300)
    got, info, _ = fwutil.parse(out)
    assert got == fwutil.reference(cpython_engine, model, samples)
    addr = int(re.search(r"ADDR (\d+)", out).group(1))
    rom = boards.BOARDS[emulated_firmware.board].emulator
    assert rom.romfs_addr <= addr < rom.romfs_addr + rom.romfs_size, f"model bytes at {addr:#x}, not in the ROMFS region"
    # Heap used by the load: the arena and small objects, far less than the model itself.
    assert info["USED"] < info["ARENA"] + 4096 < info["MODEL"] + info["ARENA"]


def test_board_cli_starts_and_stops(emulated_firmware, tmp_path, monkeypatch):
    from microformer.commands import board

    monkeypatch.setenv("MICROFORMER_STATE", str(tmp_path / "state"))
    rom = tmp_path / "rom"
    (rom / "models").mkdir(parents=True)
    (rom / "models" / "a.bin").write_bytes(b"\x01" * 33)
    p = argparse.ArgumentParser()
    board.add_parser(p.add_subparsers(dest="verb"))
    name, fw = emulated_firmware.board, str(emulated_firmware.firmware)
    assert board.run(p.parse_args(["board", "start", name, "--firmware", fw, "--romfs", str(rom)])) == 0
    b = qemu.running(name)
    try:
        assert b is not None and os.path.exists(b.pty)
        assert "-icount" in open(f"/proc/{b.pid}/cmdline", "rb").read().decode(errors="replace")
        assert device.mpremote(b.pty, "exec", "print(6 * 7)").strip().endswith("42")
        # The directory was packed into the ROMFS the firmware mounts at /rom, aligned.
        out = device.mpremote(b.pty, "exec", "import uctypes\nf = open('/rom/models/a.bin', 'rb')\n"
                                             "m = memoryview(f)\nprint(len(m), uctypes.addressof(m) % 16)")
        assert out.split()[-2:] == ["33", "0"]
        with pytest.raises(Exception, match="already running"):
            board.run(p.parse_args(["board", "start", name, "--firmware", fw]))
    finally:
        assert board.run(p.parse_args(["board", "stop", name])) == 0
    assert qemu.running(name) is None
    assert not os.path.exists(f"/proc/{b.pid}")
