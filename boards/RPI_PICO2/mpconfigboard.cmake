# microformer RPI_PICO2: Raspberry Pi Pico 2 (RP2350 Arm cores, 4 MB flash) with _uformer and the
# frozen uformer package, built out of tree:
#   make -C MICROPY/ports/rp2 BOARD_DIR=/path/to/microformer/boards/RPI_PICO2 BUILD=/tmp/pico2 \
#        USER_C_MODULES=/path/to/microformer/cmodule/micropython/micropython.cmake
# (`microformer firmware build --board RPI_PICO2` does this). Needs the pico-sdk, tinyusb,
# mbedtls and micropython-lib submodules of the MicroPython checkout (the registry,
# host/microformer/firmware/boards.py, lists them for the build check).

set(PICO_BOARD "pico2")
set(PICO_PLATFORM "rp2350")

get_filename_component(MICROFORMER_DIR ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)

# The stock Pico 2's pin names (the hardware is the same).
set(MICROPY_BOARD_PINS ${MICROPY_PORT_DIR}/boards/RPI_PICO2/pins.csv)

# Flash below the 1 MB of firmware: a 512 KB ROMFS (/rom; models read in place, no RAM)
# and a 2.5 MB littlefs (/), together the stock 3 MB filesystem.
if(NOT DEFINED MICROPY_HW_FLASH_STORAGE_BYTES)
    set(MICROPY_HW_FLASH_STORAGE_BYTES 2621440)
endif()
if(NOT DEFINED MICROPY_HW_ROMFS_BYTES)
    set(MICROPY_HW_ROMFS_BYTES 524288)
endif()

if(NOT USER_C_MODULES)
    set(USER_C_MODULES ${MICROFORMER_DIR}/cmodule/micropython/micropython.cmake)
endif()
set(MICROPY_FROZEN_MANIFEST ${CMAKE_CURRENT_LIST_DIR}/manifest.py)
