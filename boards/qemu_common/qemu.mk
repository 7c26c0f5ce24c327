# The part of QEMU_M4's and QEMU_M55's mpconfigboard.mk that is the same for both (each
# includes it last): the engine as a user C module, and a writable littlefs at / on a RAM
# disk, mounted by the frozen _boot.py, which board_init.c runs at the end of every
# mp_init() (cold boot and soft reset).
MICROPY_VFS_LFS2 = 1
SRC_C += $(BOARD_DIR)/../qemu_common/board_init.c
CFLAGS += -include $(BOARD_DIR)/../qemu_common/board_init.h

MICROFORMER_DIR := $(abspath $(BOARD_DIR)/../..)
include $(MICROFORMER_DIR)/firmware/common.mk
FROZEN_MANIFEST ?= $(BOARD_DIR)/manifest.py
