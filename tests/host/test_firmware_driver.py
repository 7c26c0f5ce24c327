"""The build driver (firmware/build.py) against a stand-in MicroPython checkout whose unix
port is a small Makefile that behaves like rp2's cmake wrapper: it configures only when
the build dir has no Makefile, and a configure that fails half-way leaves one behind.
Fast (make and gcc on PATH, nothing compiled); the real ports are in tests/firmware."""
import shutil

import pytest

from microformer.firmware import boards, driver

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                reason="the driver checks for make and gcc (UNIX board)")

# $(BUILD)/configured marks a complete configure; a build without it links MicroPython
# without the user C module and the frozen manifest, as a half-configured cmake tree does.
PORT_MAKEFILE = """\
all:
\t@test -e $(BUILD)/Makefile || $(MAKE) -f $(firstword $(MAKEFILE_LIST)) configure
\t@if test -e $(BUILD)/configured; then \\
\t  printf 'const char *names = "uformer/__init__.py";\\n' > $(BUILD)/frozen_content.c; \\
\t  printf '.rodata.x\\n                0x00001000       0x10 $(BUILD)/micropython/moduformer.o\\n                0x00001000                uformer_user_cmodule\\n' > $(BUILD)/micropython-uformer.map; \\
\t  printf 'with _uformer' > $(BUILD)/micropython-uformer; \\
\telse \\
\t  printf 'const char *names = "";\\n' > $(BUILD)/frozen_content.c; \\
\t  printf '.text\\n                0x00001000       0x10 $(BUILD)/main.o\\n                0x00001000                main\\n' > $(BUILD)/micropython-uformer.map; \\
\t  printf 'without _uformer' > $(BUILD)/micropython-uformer; \\
\tfi

configure:
\t@echo configuring
\t@touch $(BUILD)/Makefile
\t@if test -n "$(FAKE_CONFIGURE_FAILS)"; then echo "CMake Error: configure failed"; exit 1; fi
\t@touch $(BUILD)/configured
"""


@pytest.fixture
def checkout(tmp_path):
    mpy = tmp_path / "mpy"
    (mpy / "py").mkdir(parents=True)
    (mpy / "py" / "mpconfig.h").write_text(
        "#define MICROPY_VERSION_MAJOR 1\n#define MICROPY_VERSION_MINOR 28\n#define MICROPY_VERSION_MICRO 0\n")
    (mpy / "mpy-cross").mkdir()
    (mpy / "mpy-cross" / "Makefile").write_text("all:\n\t@mkdir -p $(BUILD) && touch $(BUILD)/mpy-cross\n")
    (mpy / "ports" / "unix").mkdir(parents=True)
    (mpy / "ports" / "unix" / "Makefile").write_text(PORT_MAKEFILE)
    return mpy


def test_rebuild_after_a_failed_configure_starts_afresh(checkout, tmp_path, monkeypatch):
    d = driver()
    out = tmp_path / "out"
    monkeypatch.setenv("FAKE_CONFIGURE_FAILS", "1")
    with pytest.raises(d.BuildError, match="failed"):
        d.build("UNIX", checkout, out, jobs=1)
    assert (out / "build" / "Makefile").exists()  # the half-configured tree, as rp2 leaves it
    assert not (out / "build" / d.BUILT).exists()
    assert not (out / "micropython-uformer").exists()
    monkeypatch.delenv("FAKE_CONFIGURE_FAILS")
    r = d.build("UNIX", checkout, out, jobs=1)
    assert r.firmware.read_text() == "with _uformer"
    assert (out / "build" / d.BUILT).exists()
    assert "configuring" in r.log.read_text()  # the tree was configured again
    # A good tree is reused as it is: no second configure.
    r = d.build("UNIX", checkout, out, jobs=1)
    assert "configuring" not in r.log.read_text()


def test_a_firmware_without_uformer_is_never_reported_as_built(checkout, tmp_path):
    d = driver()
    out = tmp_path / "out"
    r = d.build("UNIX", checkout, out, jobs=1)
    assert r.firmware.is_file()
    # Break the tree the way a configure without USER_C_MODULES does, then rebuild with the
    # same configuration (the stamp matches, so make runs in the existing tree).
    (out / "build" / "configured").unlink()
    with pytest.raises(d.BuildError, match=f"has no _uformer: {boards.MODULE_SYMBOL} is not in"):
        d.build("UNIX", checkout, out, jobs=1)
    assert not (out / "micropython-uformer").exists()  # the earlier good copy is gone too
    assert not (out / "build" / d.BUILT).exists()
    # ... and the next build configures the tree again, which repairs it.
    assert d.build("UNIX", checkout, out, jobs=1).firmware.read_text() == "with _uformer"


def test_frozen_package_is_required(tmp_path):
    d = driver()
    b = d.board("QEMU_M4")
    (tmp_path / b.map_file).write_text("                0x00001000                uformer_user_cmodule\n")
    (tmp_path / "frozen_content.c").write_text('const char *names = "";\n')
    with pytest.raises(d.BuildError, match="no frozen uformer package"):
        d.verify(b, tmp_path)
    (tmp_path / "frozen_content.c").write_text('"uformer/__init__.py\\0"\n')
    d.verify(b, tmp_path)
    # A symbol only mentioned (an undefined reference, a section name) is not a definition.
    (tmp_path / b.map_file).write_text(" .rodata.uformer_user_cmodule\n")
    with pytest.raises(d.BuildError, match="has no _uformer"):
        d.verify(b, tmp_path)


def test_rp2_needs_every_submodule_its_cmake_adds(tmp_path):
    d = driver()
    mpy = tmp_path
    (mpy / "py").mkdir()
    (mpy / "py" / "mpconfig.h").write_text(
        "#define MICROPY_VERSION_MAJOR 1\n#define MICROPY_VERSION_MINOR 28\n#define MICROPY_VERSION_MICRO 0\n")
    (mpy / "ports" / "rp2").mkdir(parents=True)
    (mpy / "ports" / "rp2" / "Makefile").write_text("all:\n")
    b = d.board("RPI_PICO")
    assert d.missing_submodules(mpy, b) == ["lib/pico-sdk", "lib/tinyusb", "lib/mbedtls", "lib/micropython-lib"]
    for sub, probe in b.submodules:
        if sub != "lib/mbedtls":
            (mpy / sub / probe).parent.mkdir(parents=True, exist_ok=True)
            (mpy / sub / probe).write_text("")
    with pytest.raises(d.BuildError, match=r"RPI_PICO needs the MicroPython submodule lib/mbedtls, empty in"):
        d.check_micropython(mpy, b)
    assert d.missing_submodules(mpy, d.board("QEMU_M4")) == []
