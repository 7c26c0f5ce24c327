// microformer RPI_PICO: the stock Pico configuration plus _uformer (see mpconfigboard.cmake).
#define MICROPY_HW_BOARD_NAME "Raspberry Pi Pico (microformer)"
