# microformer RPI_PICO: Raspberry Pi Pico (RP2040, 2 MB flash) with _uformer and the
# frozen uformer package, built out of tree:
#   make -C MICROPY/ports/rp2 BOARD_DIR=/path/to/microformer/boards/RPI_PICO BUILD=/tmp/pico \
#        USER_C_MODULES=/path/to/microformer/cmodule/micropython/micropython.cmake
# (`microformer firmware build --board RPI_PICO` does this). Needs the pico-sdk, tinyusb,
# mbedtls and micropython-lib submodules of the MicroPython checkout (the registry,
# host/microformer/firmware/boards.py, lists them for the build check).

set(PICO_BOARD "pico")
set(PICO_PLATFORM "rp2040")

get_filename_component(MICROFORMER_DIR ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)

# The stock Pico's pin names (the hardware is the same).
set(MICROPY_BOARD_PINS ${MICROPY_PORT_DIR}/boards/RPI_PICO/pins.csv)

# Flash below the 640 KB of firmware: a 256 KB ROMFS (/rom; models read in place, no RAM)
# and a 1152 KB littlefs (/), together the stock 1408 KB filesystem.
if(NOT DEFINED MICROPY_HW_FLASH_STORAGE_BYTES)
    set(MICROPY_HW_FLASH_STORAGE_BYTES 1179648)
endif()
if(NOT DEFINED MICROPY_HW_ROMFS_BYTES)
    set(MICROPY_HW_ROMFS_BYTES 262144)
endif()

if(NOT USER_C_MODULES)
    set(USER_C_MODULES ${MICROFORMER_DIR}/cmodule/micropython/micropython.cmake)
endif()
set(MICROPY_FROZEN_MANIFEST ${CMAKE_CURRENT_LIST_DIR}/manifest.py)
