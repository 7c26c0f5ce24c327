# microformer QEMU_M4: ARM MPS2 with the AN386 FPGA image (Cortex-M4F) under
# qemu-system-arm, for the qemu port, built out of tree:
#   make -C MICROPY/ports/qemu BOARD_DIR=/path/to/microformer/boards/QEMU_M4 BUILD=/tmp/qemu
# Run: `microformer board start QEMU_M4` (UART on a pty, -icount shift=0 so that
# time.ticks_us() counts instructions: 1 us = 1000 instructions).
#
# Memory map (qemu hw/arm/mps2.c, AN386):
#   0x00000000  4 MB  SSRAM1: code, data, MicroPython heap and stack (mcu/arm/mps2.ld)
#   0x20000000  4 MB  SSRAM2/3: the littlefs RAM disk mounted at / (_boot.py)
#   0x21000000 16 MB  PSRAM: the first 4 MB hold the ROMFS image mounted at /rom

QEMU_ARCH = arm
QEMU_MACHINE = mps2-an386

CFLAGS += -mthumb -mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16
CFLAGS += -DQEMU_SOC_MPS2
CFLAGS += -DMICROPY_HW_MCU_NAME='"Cortex-M4F"'

LDSCRIPT = mcu/arm/mps2.ld
SRC_BOARD_O = shared/runtime/gchelper_native.o shared/runtime/gchelper_thumb2.o
MPY_CROSS_FLAGS += -march=armv7emsp

# Single-precision FPU, like the Cortex-M4F parts this board stands for.
MICROPY_FLOAT_IMPL = float
SUPPORTS_HARDWARE_FP_SINGLE = 1

# A heap the size of a mid-range Cortex-M4 part's RAM (the stock qemu boards use 140 KB).
MICROPY_HEAP_SIZE ?= 262144

MICROPY_HW_ROMFS_PART0_START = 0x21000000
MICROPY_HW_ROMFS_PART0_SIZE = 0x00400000

include $(BOARD_DIR)/../qemu_common/qemu.mk
