// Force-included into every C file of the QEMU_M4 and QEMU_M55 builds (their
// mpconfigboard.mk: -include), because the qemu port has no board header: hooks the
// frozen _boot.py into mp_init().
#ifndef MICROFORMER_QEMU_BOARD_INIT_H
#define MICROFORMER_QEMU_BOARD_INIT_H
#ifndef __ASSEMBLER__

void microformer_board_init(void);
#define MICROPY_PORT_INIT_FUNC microformer_board_init()

#endif // __ASSEMBLER__
#endif // MICROFORMER_QEMU_BOARD_INIT_H
