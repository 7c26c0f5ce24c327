"""Flash attribution from linker maps as make ports (unix, qemu) and cmake ports (rp2) name
their objects, and the checks that keep a build without _uformer from being reported as
a firmware. Fast: no toolchain, no MicroPython checkout."""
import pytest

from microformer.firmware import FirmwareError, mapfile, sizes

ROOT = "/home/u/microformer"

# Captured from a cmake (3.25, Unix Makefiles) + arm-none-eabi-gcc 12.2 link laid out as the
# rp2 port's: the port's CMakeLists in /home/u/mpy/ports/rp2, a core file from ../../py,
# frozen_content.c generated in the build dir, the user C module outside both trees. CMake
# names each object after the source's absolute path; the frozen one after its name alone.
CMAKE_MAP = """\
Archive member included to satisfy reference by file (symbol)

/usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/libgcc.a(_aeabi_ldivmod.o)
                              CMakeFiles/firmware.dir/home/u/mpy/py/objint.c.obj (__aeabi_ldivmod)
/usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/libgcc.a(muldf3.o)
                              CMakeFiles/firmware.dir/home/u/microformer/cmodule/engine/unity/mf_unity.c.obj (__aeabi_dmul)
/usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/libgcc.a(_clzsi2.o)
                              /usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/libgcc.a(muldf3.o) (__clzsi2)

Discarded input sections

 .text          0x00000000        0x0 CMakeFiles/firmware.dir/frozen_content.c.obj

Memory Configuration

Name             Origin             Length             Attributes
*default*        0x00000000         0xffffffff

Linker script and memory map

LOAD CMakeFiles/firmware.dir/frozen_content.c.obj
.text           0x0000800c      0xd58
 *(.text .stub .text.* .gnu.linkonce.t.*)
 .text.mp_div   0x0000816e        0x8 CMakeFiles/firmware.dir/home/u/mpy/py/objint.c.obj
                0x0000816e                mp_div
 .text.mf_scale
                0x00008176        0x8 CMakeFiles/firmware.dir/home/u/microformer/cmodule/engine/unity/mf_unity.c.obj
                0x00008176                mf_scale
 .text.mf_load  0x0000817e        0x6 CMakeFiles/firmware.dir/home/u/microformer/cmodule/engine/unity/mf_unity.c.obj
                0x0000817e                mf_load
 .text.uformer_call
                0x00008184       0x1c CMakeFiles/firmware.dir/home/u/microformer/cmodule/micropython/moduformer.c.obj
                0x00008184                uformer_call
 .text          0x000081a0       0x48 /usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/libgcc.a(_aeabi_ldivmod.o)
                0x000081a0                __aeabi_ldivmod
 .text          0x00008224      0x588 /usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/libgcc.a(muldf3.o)
                0x00008224                __aeabi_dmul
 .text          0x00008828       0x3c /usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/libgcc.a(_clzsi2.o)
                0x00008828                __clzsi2

.rodata         0x00008d70       0x2c
 *(.rodata .rodata.* .gnu.linkonce.r.*)
 .rodata.mp_frozen_names
                0x00008d70       0x15 CMakeFiles/firmware.dir/frozen_content.c.obj
                0x00008d70                mp_frozen_names
 *fill*         0x00008d85        0x3 
 .rodata.uformer_user_cmodule
                0x00008d88       0x10 CMakeFiles/firmware.dir/home/u/microformer/cmodule/micropython/moduformer.c.obj
                0x00008d88                uformer_user_cmodule

.ARM.exidx      0x00008d9c        0x8
 .ARM.exidx     0x00008d9c        0x8 /usr/lib/gcc/arm-none-eabi/12.2.1/thumb/v6-m/nofp/crt0.o
                                 0x10 (size before relaxing)
"""


def test_cmake_map_attributes_engine_binding_library_and_frozen():
    s = sizes.attribute(CMAKE_MAP, ROOT, text=0xd58 + 0x2c, data=0, bss=0)
    assert s.engine == 0x8 + 0x6
    assert s.binding == 0x1c + 0x10
    # muldf3 for the engine and clzsi2 for muldf3; ldivmod belongs to MicroPython.
    assert s.library == 0x588 + 0x3c
    assert s.frozen == 0x15  # was 0: the map names frozen_content.c.obj, not frozen_content.o


@pytest.mark.parametrize("name, frozen", [
    ("/b/build/frozen_content.o", True),                       # make ports
    ("CMakeFiles/firmware.dir/frozen_content.c.o", True),      # cmake, Unix Makefiles
    ("CMakeFiles/firmware.dir/frozen_content.c.obj", True),    # cmake with pico-sdk's platform
    ("esp-idf/main/libmain.a(frozen_content.c.obj)", True),    # a static library member
    ("/b/build/frozen_content_extra.o", False),
    ("/b/build/not_frozen_content.o", False),
    ("/b/build/frozen_content.c", False),
])
def test_frozen_object_names(name, frozen):
    assert mapfile.is_frozen(name) is frozen


def test_make_map_names_still_attribute():
    # The unix/qemu ports: the engine under BUILD + its absolute path, the binding under
    # BUILD + its path below USER_C_MODULES.
    text = CMAKE_MAP.replace("CMakeFiles/firmware.dir/home/u/microformer/cmodule/engine/unity/mf_unity.c.obj",
                             "/o/build//home/u/microformer/cmodule/engine/unity/mf_unity.o") \
                    .replace("CMakeFiles/firmware.dir/home/u/microformer/cmodule/micropython/moduformer.c.obj",
                             "/o/build/micropython/moduformer.o") \
                    .replace("CMakeFiles/firmware.dir/frozen_content.c.obj", "/o/build/frozen_content.o")
    s = sizes.attribute(text, ROOT)
    assert (s.engine, s.binding, s.library, s.frozen) == (0xe, 0x2c, 0x5c4, 0x15)


def _sizes(**kw):
    base = dict(text=300_000, data=32, bss=1000, engine=40_000, binding=2500, library=3000,
                frozen=40_000, by_file={})
    base.update(kw)
    return sizes.Sizes(**base)


def test_complete_firmware_passes():
    sizes.check_complete(_sizes(), "QEMU_M4")


@pytest.mark.parametrize("kw, says", [
    (dict(engine=0, binding=0, library=0, text=12_000), "engine 0 bytes"),
    (dict(binding=0), "binding 0 bytes"),
    (dict(frozen=0), "no frozen Python"),
    (dict(text=12_000 + 40_000 + 2500 + 3000 + 40_000), "besides _uformer"),
])
def test_incomplete_firmware_is_refused_with_the_numbers(kw, says):
    with pytest.raises(FirmwareError, match=f"the QEMU_M4 build finished but is not a microformer firmware.*{says}"):
        sizes.check_complete(_sizes(**kw), "QEMU_M4")
