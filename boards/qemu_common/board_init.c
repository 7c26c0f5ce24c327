// QEMU_M4 and QEMU_M55 start-up: mount the RAM-disk littlefs at / by running the frozen
// _boot.py.
// Called by mp_init() (MICROPY_PORT_INIT_FUNC), after the runtime is set up and before
// the ROMFS is mounted at /rom; the qemu port's main.c runs no boot script itself.
#include "py/runtime.h"
#include "py/mphal.h"
#include "shared/runtime/pyexec.h"

void microformer_board_init(void) {
    // _boot.py reports its own failures; the REPL must come up regardless.
    pyexec_frozen_module("_boot.py", false);
}

// littlefs stamps files with their modification time. The board has no real-time clock,
// so time is the uptime counted from the MicroPython epoch (2000-01-01), in ns. Weak: a
// qemu port that grows its own clock takes precedence.
MP_WEAK uint64_t mp_hal_time_ns(void) {
    return (uint64_t)mp_hal_ticks_ms() * 1000000u;
}
