// microformer RPI_PICO2: the stock Pico 2 configuration plus _uformer (see mpconfigboard.cmake).
#define MICROPY_HW_BOARD_NAME "Raspberry Pi Pico2 (microformer)"
