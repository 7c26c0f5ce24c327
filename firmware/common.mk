# Shared by the make-based microformer boards (boards/UNIX/mpconfigvariant.mk,
# boards/QEMU_M4/mpconfigboard.mk); MICROFORMER_DIR must be set before including it.

# _uformer: cmodule/micropython/micropython.mk (engine + binding).
USER_C_MODULES ?= $(MICROFORMER_DIR)/cmodule

# A checkout without the micropython-lib submodule can still freeze our manifests
# (they require nothing from it); see firmware/no-micropython-lib/README.md.
ifeq ($(wildcard $(MPY_LIB_DIR)/README.md),)
MPY_LIB_DIR := $(MICROFORMER_DIR)/firmware/no-micropython-lib
endif
