"""Real links, real maps: a cmake project laid out as the rp2 port (cmake + arm-none-eabi-gcc,
no MicroPython needed) and the real QEMU_M4 firmware, each read by the size report and the
build checks. Marked firmware: they need cmake and the arm toolchain (and MICROPY_DIR for
QEMU_M4), and skip with that reason without them."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from microformer.firmware import boards, driver, sizes

pytestmark = pytest.mark.firmware

ROOT = pathlib.Path(__file__).resolve().parents[2]
CC = "arm-none-eabi-gcc"

CMAKELISTS = """\
cmake_minimum_required(VERSION 3.13)
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
project(firmware C)
# As py/mkrules.cmake does: frozen_content.c is generated into the build dir.
file(WRITE ${CMAKE_BINARY_DIR}/frozen_content.c
     "const char mp_frozen_names[] = \\"uformer/__init__.py\\\\0uformer/slot.py\\\\0\\";\\n")
add_executable(firmware main.c ../../py/objint.c ${CMAKE_BINARY_DIR}/frozen_content.c
               ${MODULE_DIR}/cmodule/engine/unity/mf_unity.c
               ${MODULE_DIR}/cmodule/micropython/moduformer.c)
target_compile_options(firmware PRIVATE -mcpu=cortex-m0plus -mthumb -Os -ffunction-sections -fdata-sections)
target_link_options(firmware PRIVATE -mcpu=cortex-m0plus -mthumb -specs=nosys.specs
                    -Wl,--gc-sections -Wl,-Map=firmware.elf.map)
set_target_properties(firmware PROPERTIES SUFFIX ".elf")
"""

SOURCES = {
    "mpy/py/objint.c": "long long mp_div(long long a, long long b) { return a / b; }\n",
    "mpy/ports/rp2/main.c": (
        "extern long long mp_div(long long, long long); extern double mf_scale(double, double);\n"
        "extern int uformer_call(int); extern const char mp_frozen_names[];\n"
        "int main(void) { return (int)mp_div(7, 3) + (int)mf_scale(2.0, 3.0) + uformer_call(1)"
        " + mp_frozen_names[0]; }\nvoid _exit(int c) { (void)c; for (;;) {} }\n"),
    "microformer/cmodule/engine/unity/mf_unity.c": (
        "double mf_scale(double a, double b) { return a * b; }\n"
        "int mf_load(int x) { return x * 3; }\n"),
    "microformer/cmodule/micropython/moduformer.c": (
        "extern int mf_load(int);\nconst int uformer_user_cmodule[4] = {1, 2, 3, 4};\n"
        "int uformer_call(int x) { return mf_load(x) + uformer_user_cmodule[x & 3]; }\n"),
}


def _symbol_sizes(elf):
    nm = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(elf)],
                        capture_output=True, text=True, check=True).stdout
    return {f[3]: int(f[1], 16) for f in (line.split() for line in nm.splitlines()) if len(f) == 4}


def test_cmake_style_map_attributes_frozen_and_module(tmp_path):
    for tool in ("cmake", "make", CC):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (make firmware-deps)")
    for rel, text in SOURCES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "mpy/ports/rp2/CMakeLists.txt").write_text(CMAKELISTS)
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", tmp_path / "mpy/ports/rp2", "-B", build,
                    f"-DMODULE_DIR={tmp_path / 'microformer'}"], check=True, capture_output=True)
    subprocess.run(["make", "-C", build], check=True, capture_output=True)
    text = (build / "firmware.elf.map").read_text()
    assert re.search(r"CMakeFiles/firmware\.dir/frozen_content\.c\.o(bj)?\b", text)

    s = sizes.attribute(text, tmp_path / "microformer")
    syms = _symbol_sizes(build / "firmware.elf")
    assert s.frozen == syms["mp_frozen_names"] > 0
    assert s.engine == syms["mf_scale"] + syms["mf_load"]
    assert s.binding == syms["uformer_call"] + syms["uformer_user_cmodule"]
    assert s.library > 0  # the soft-float multiply the engine's double pulled in (M0+)

    # The driver's check accepts this map for an rp2 board (frozen_content.c in the build dir).
    rp2 = boards.BOARDS["RPI_PICO"]
    driver().verify(rp2, build)


@pytest.fixture(scope="module")
def qemu_build(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "tests" / "firmware"))
    from fwenv import require_board

    from microformer.firmware import builder

    mpy = require_board("QEMU_M4")
    env = os.environ.get("MF_FIRMWARE_OUT")
    out = pathlib.Path(env) / "QEMU_M4" if env else tmp_path_factory.mktemp("fw") / "QEMU_M4"
    return builder.build("QEMU_M4", mpy, out)


def test_real_qemu_firmware_passes_and_a_moduleless_map_does_not(qemu_build, tmp_path):
    d = driver()
    b = boards.BOARDS["QEMU_M4"]
    build = qemu_build.out / "build"
    d.verify(b, build)
    sizes.check_complete(qemu_build.sizes, "QEMU_M4")
    assert qemu_build.sizes.frozen > 1000
    # The same link without the user C module, as a tree configured without USER_C_MODULES
    # links it: no input file from cmodule/, so no definition of the module object.
    fake = tmp_path / "build"
    fake.mkdir()
    lines = (build / b.map_file).read_text(errors="replace").splitlines()
    keep, skip = [], False
    for line in lines:
        if "moduformer" in line or "/cmodule/" in line:
            skip = True
            continue
        if skip and re.match(r"^\s+0x[0-9a-f]+\s+\w+$", line):
            continue  # the symbols those sections defined
        skip = False
        keep.append(line)
    (fake / b.map_file).write_text("\n".join(keep))
    shutil.copy(build / "frozen_content.c", fake)
    with pytest.raises(d.BuildError, match="has no _uformer"):
        d.verify(b, fake)
    s = sizes.attribute("\n".join(keep), ROOT, qemu_build.sizes.text, qemu_build.sizes.data, 0)
    with pytest.raises(Exception, match="engine 0 bytes"):
        sizes.check_complete(s, "QEMU_M4")
