"""The host side of the firmware tools that needs no toolchain: --ops-from headers, flash
attribution from linker maps, aligned ROMFS images, the build driver's checks."""
import argparse
import pathlib
import re

import pytest

from microformer.firmware import FirmwareError, builder, driver, mapfile, opsconfig, romfs

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_engine_ops_are_the_op_list():
    ops = opsconfig.engine_ops(ROOT)
    oplist = (ROOT / "cmodule/engine/mf_ops.def").read_text()
    assert ops and len(ops) == len(set(ops))
    for name in ops:
        assert f"MF_OP({name}, " in oplist


def test_ops_header_sets_every_switch(tmp_path, zoo_model):
    model = tmp_path / "mlp.tflite"
    model.write_bytes(zoo_model("mlp"))
    path, wanted = opsconfig.write([model], tmp_path / "ops", ROOT)
    text = path.read_text()
    available = opsconfig.engine_ops(ROOT)
    switches = dict(re.findall(r"#define MF_OP_(\w+) ([01])", text))
    assert switches.pop("NAMES") == "0"  # no op-name table in a build that names its ops
    assert set(switches) == set(available)
    assert {k for k, v in switches.items() if v == "1"} == set(wanted)
    assert "FULLY_CONNECTED" in wanted and "CONV_2D" not in wanted
    # mlp is int8 inside: no float32 kernels; a transformer runs NEG on float32 (its input
    # normalization), which keeps the unary float kernels only.
    floats = dict(re.findall(r"#define MF_FLOAT_(\w+) ([01])", text))
    assert floats == {"BINARY": "0", "UNARY": "0", "MEAN": "0"}
    tf = tmp_path / "tf.tflite"
    tf.write_bytes(zoo_model("tf_l1_h1_d16_s16"))
    tf_text = opsconfig.write([tf], tmp_path / "ops_tf", ROOT)[0].read_text()
    assert dict(re.findall(r"#define MF_FLOAT_(\w+) ([01])", tf_text)) == {"BINARY": "0", "UNARY": "1", "MEAN": "0"}
    # Writing the same content again keeps the file (and its timestamp: no rebuild).
    before = path.stat().st_mtime_ns
    opsconfig.write([model], tmp_path / "ops", ROOT)
    assert path.stat().st_mtime_ns == before


def test_ops_from_refuses_an_op_the_engine_lacks(tmp_path):
    import numpy as np
    import tflbuild

    g = tflbuild.Graph()
    x = g.input((1, 4), "float32")
    y = g.output((1, 4), "float32")
    g.op("EXP", [x], [y])
    model = tmp_path / "exp.tflite"
    model.write_bytes(g.build())
    with pytest.raises(FirmwareError, match=r"exp\.tflite uses EXP, which the engine does not implement"):
        opsconfig.select([model], ROOT)
    assert np  # numpy is what tflbuild builds constants with


def test_ops_from_reports_unreadable_models(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(FirmwareError, match="bad.tflite"):
        opsconfig.select([bad], ROOT)
    with pytest.raises(FirmwareError, match="missing.tflite"):
        opsconfig.select([tmp_path / "missing.tflite"], ROOT)


MAP = """\
Archive member included to satisfy reference by file (symbol)

/lib/libgcc.a(_arm_muldf3.o)
                              /b//src/cmodule/engine/mf_quant.o (__aeabi_dmul)
/lib/libgcc.a(_arm_addsubdf3.o)
                              /lib/libgcc.a(_arm_muldf3.o) (__aeabi_dadd)
/lib/libgcc.a(_udivmoddi4.o)  /b/py/objint.o (__udivmoddi4)

Discarded input sections

 .text          0x00000000        0x0 /b/py/objint.o

Memory Configuration

Name             Origin             Length             Attributes
RAM              0x00000000         0x00400000

Linker script and memory map

.text           0x00000000      0x400
 *(.text*)
 .text.mf_invoke
                0x00000000       0x40 /b//src/cmodule/engine/mf_model.o
                0x00000000                mf_invoke
 .text.quant    0x00000040      0x100 /b//src/cmodule/engine/mf_quant.o
 .text          0x00000140       0x80 /lib/libgcc.a(_arm_muldf3.o)
 .text          0x000001c0       0x60 /lib/libgcc.a(_arm_addsubdf3.o)
 .text          0x00000220       0x90 /lib/libgcc.a(_udivmoddi4.o)
 .text.mp_binding
                0x000002b0       0x30 /b/micropython/moduformer.o
 *fill*         0x000002e0        0x2 
 .text.mp_obj_int
                0x000002e4       0x11c /b/py/objint.o
.data           0x00000400       0x10
 .data          0x00000400        0x8 /b//src/cmodule/engine/mf_model.o
 .data          0x00000408        0x8 /b/py/objint.o
.bss            0x00000410      0x100
 .bss           0x00000410      0x100 /b//src/cmodule/engine/mf_model.o
.debug_info     0x00000000     0x9999
 .debug_info    0x00000000     0x9999 /b//src/cmodule/engine/mf_model.o
"""


def test_map_attributes_flash_to_files():
    use = mapfile.parse(MAP)
    assert use.by_file["/b//src/cmodule/engine/mf_model.o"] == 0x40 + 0x8  # .bss, .debug: no flash
    assert use.by_file["/b//src/cmodule/engine/mf_quant.o"] == 0x100
    assert use.by_file["/b/py/objint.o"] == 0x11C + 0x8
    assert use.pulled_by["/lib/libgcc.a(_arm_addsubdf3.o)"] == "/lib/libgcc.a(_arm_muldf3.o)"
    assert use.pulled_by["/lib/libgcc.a(_udivmoddi4.o)"] == "/b/py/objint.o"
    objects, library, files = mapfile.module_flash(use, lambda f: "/cmodule/engine/" in f)
    assert objects == 0x48 + 0x100
    # muldf3 was pulled in by the engine, adddf3 by muldf3; udivmoddi4 by MicroPython.
    assert library == 0x80 + 0x60
    assert "/lib/libgcc.a(_udivmoddi4.o)" not in files


def test_romfs_aligns_file_data(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.tflite").write_bytes(bytes(range(37)))
    (tmp_path / "b.bin").write_bytes(b"x" * 5)
    (tmp_path / "empty").write_bytes(b"")
    img = romfs.build(tmp_path, align=16)
    assert img[:3] == b"\xd2\xcd\x31" and len(img) % 2 == 0
    found = romfs.files(img)
    assert set(found) == {"models/a.tflite", "b.bin", "empty"}
    assert found["models/a.tflite"][1] == bytes(range(37))
    assert found["b.bin"][1] == b"x" * 5
    assert all(off % 16 == 0 for off, _ in found.values())
    with pytest.raises(FirmwareError, match="power of two"):
        romfs.build(tmp_path, align=12)


def test_build_checks_the_micropython_checkout(tmp_path):
    d = driver()
    with pytest.raises(d.BuildError, match=r"not a MicroPython checkout: .*py/mpconfig\.h is missing"):
        d.check_micropython(tmp_path, d.board("UNIX"))
    (tmp_path / "py").mkdir()
    (tmp_path / "py" / "mpconfig.h").write_text(
        "#define MICROPY_VERSION_MAJOR 1\n#define MICROPY_VERSION_MINOR 22\n#define MICROPY_VERSION_MICRO 2\n")
    with pytest.raises(d.BuildError, match=r"MicroPython 1\.22\.2 .* is too old: the boards need 1\.25\.0"):
        d.check_micropython(tmp_path, d.board("QEMU_M4"))
    with pytest.raises(FirmwareError, match="too old"):
        builder.check("UNIX", tmp_path)


def test_firmware_command_rejects_unknown_boards(tmp_path):
    from microformer.commands import firmware

    p = argparse.ArgumentParser()
    firmware.add_parser(p.add_subparsers(dest="verb"))
    args = p.parse_args(["firmware", "build", "--board", "ESP32", "--micropython", str(tmp_path)])
    with pytest.raises(FirmwareError, match="unknown board 'ESP32'; boards: UNIX, QEMU_M4, QEMU_M55, RPI_PICO, RPI_PICO2"):
        firmware.run(args)


def test_board_command_needs_built_firmware(tmp_path, monkeypatch):
    from microformer.commands import board

    monkeypatch.setenv("MICROFORMER_STATE", str(tmp_path / "state"))
    p = argparse.ArgumentParser()
    board.add_parser(p.add_subparsers(dest="verb"))
    args = p.parse_args(["board", "start", "QEMU_M4", "--firmware", str(tmp_path / "nope.elf")])
    with pytest.raises(FirmwareError, match=r"nope\.elf does not exist; build it with `microformer firmware build"):
        board.run(args)
    args = p.parse_args(["board", "start", "UNIX"])
    with pytest.raises(FirmwareError, match="UNIX is not an emulated board"):
        board.run(args)
    assert board.run(p.parse_args(["board", "stop"])) == 0  # nothing running: says so


def test_romfs_command_packs_a_directory(tmp_path, capsys):
    from microformer.commands import firmware

    src = tmp_path / "rom"
    src.mkdir()
    (src / "m.tflite").write_bytes(b"\x07" * 100)
    p = argparse.ArgumentParser()
    firmware.add_parser(p.add_subparsers(dest="verb"))
    assert firmware.run(p.parse_args(["firmware", "romfs", str(src), "-o", str(tmp_path / "x.img")])) == 0
    assert "/rom/m.tflite: 100 bytes at offset" in capsys.readouterr().out
    found = romfs.files((tmp_path / "x.img").read_bytes())
    assert found["m.tflite"][1] == b"\x07" * 100 and found["m.tflite"][0] % 16 == 0
    with pytest.raises(FirmwareError, match="is not a directory"):
        firmware.run(p.parse_args(["firmware", "romfs", str(tmp_path / "none")]))
