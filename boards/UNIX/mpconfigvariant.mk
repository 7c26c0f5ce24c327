# microformer UNIX variant of the unix port, built out of tree:
#   make -C MICROPY/ports/unix VARIANT_DIR=/path/to/microformer/boards/UNIX BUILD=/tmp/unix
# (`microformer firmware build --board UNIX` does this, with mpy-cross and the build dir
# outside the MicroPython tree).

MICROFORMER_DIR := $(abspath $(VARIANT_DIR)/../..)
include $(MICROFORMER_DIR)/firmware/common.mk

FROZEN_MANIFEST ?= $(VARIANT_DIR)/manifest.py

# Modules that need submodules or system libraries a plain MicroPython checkout lacks
# (berkeley-db, mbedtls, libffi); nothing in microformer uses them.
MICROPY_PY_BTREE = 0
MICROPY_PY_SSL = 0
MICROPY_PY_FFI = 0

# Not plain "micropython": the build dir already has a micropython/ directory (the objects
# of the user C module in cmodule/micropython).
PROG = micropython-uformer
