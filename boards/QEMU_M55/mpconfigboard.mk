# microformer QEMU_M55: ARM MPS3 with the AN547 FPGA image (Cortex-M55 with Helium, the
# M-profile vector extension) under qemu-system-arm, for the qemu port, built out of tree:
#   make -C MICROPY/ports/qemu BOARD_DIR=/path/to/microformer/boards/QEMU_M55 BUILD=/tmp/qemu
# Run: `microformer board start QEMU_M55` (UART on a pty, -icount shift=0 so that
# time.ticks_us() counts instructions: 1 us = 1000 instructions).
#
# Memory map (qemu hw/arm/mps2-tz.c, AN547):
#   0x00000000 512 KB ITCM: the vector table (mcu/arm/mps3.ld)
#   0x01000000   2 MB SRAM: code, data, MicroPython heap and stack (mcu/arm/mps3.ld)
#   0x21000000   4 MB SRAM 2: the littlefs RAM disk mounted at / (_boot.py)
#   0x60000000        DDR: 32 MB at 0x62000000 hold the ROMFS image mounted at /rom
#                     (the window MicroPython's own MPS3_AN547 board uses)

QEMU_ARCH = arm
QEMU_MACHINE = mps3-an547

# -mcpu=cortex-m55 enables integer and float MVE (__ARM_FEATURE_MVE == 3) next to the
# double-precision FPU, so the engine's Helium kernels are compiled in
# (`make ... CFLAGS_EXTRA=-mcpu=cortex-m55+nomve` builds the same firmware without them:
# the last -mcpu wins).
CFLAGS += -mthumb -mcpu=cortex-m55 -mfloat-abi=hard -mfpu=fpv5-d16
CFLAGS += -DQEMU_SOC_MPS3
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M55"'
# SysTick runs at this rate on the AN547 (ports/qemu/mcu/arm/ticks.c reloads it every ms).
CFLAGS += -DCPU_FREQ_HZ=32000000

LDSCRIPT = mcu/arm/mps3.ld
SRC_BOARD_O = shared/runtime/gchelper_generic.o
MPY_CROSS_FLAGS += -march=armv7emsp

# Single-precision Python floats, as on QEMU_M4 (the FPU does double too): the port then
# links MicroPython's float libm (lib/libm), which has the expf, tanhf, erfcf and sqrtf
# the engine calls; the double one (lib/libm_dbl) has none of them.
MICROPY_FLOAT_IMPL = float
SUPPORTS_HARDWARE_FP_SINGLE = 1

# The same heap as QEMU_M4 (the SRAM holds 2 MB), so that models fit the same way.
MICROPY_HEAP_SIZE ?= 262144

MICROPY_HW_ROMFS_PART0_START = 0x62000000
MICROPY_HW_ROMFS_PART0_SIZE = 0x02000000

include $(BOARD_DIR)/../qemu_common/qemu.mk
