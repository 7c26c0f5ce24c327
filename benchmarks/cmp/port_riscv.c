/*
 * RV32 port of the harness for QEMU virt (bare metal, -bios none, machine mode), linked
 * with picolibc's crt0 and linker script.
 *
 * Counting: with -icount shift=0 qemu's minstret is its instruction count, exact.
 * Output goes to the NS16550 UART at 0x10000000; the SiFive test device at 0x100000 ends
 * the emulation with an exit status.
 */
#include <stdint.h>
#include <stdlib.h>

#include "bench.h"

#define UART_THR (*(volatile uint8_t *)0x10000000u)
#define UART_LSR (*(volatile uint8_t *)0x10000005u)
#define UART_LSR_THRE 0x20u
#define TEST_FINISHER (*(volatile uint32_t *)0x00100000u)

/* The host loads the blob 32 MB into RAM (0x80000000 + 32 MB; the ELF uses the first 16 MB). */
const bench_blob_t *bench_blob(void) {
    return (const bench_blob_t *)0x82000000u;
}

void bench_write(const char *s) {
    for (; *s != '\0'; s++) {
        while ((UART_LSR & UART_LSR_THRE) == 0u) {
        }
        UART_THR = (uint8_t)*s;
    }
}

__attribute__((noreturn)) void bench_exit(int status) {
    /* 0x5555 = pass; (code << 16) | 0x3333 = fail with exit status code. */
    TEST_FINISHER = status == 0 ? 0x5555u : ((uint32_t)status << 16) | 0x3333u;
    for (;;) {
    }
}

/* picolibc's exit() ends here. */
__attribute__((noreturn)) void _exit(int status) {
    bench_exit(status);
}

/* The code is built for plain rv32imc; only these reads need the Zicsr extension (which
 * every core with machine mode has), enabled for them alone. */
#define CSR_READ(csr, out) \
    __asm__ volatile (".option push\n\t.option arch, +zicsr\n\tcsrr %0, " csr "\n\t.option pop" : "=r"(out))

/* TFLM's TFLITE_ABORT: report and end the run here, instead of picolibc's abort(), which
 * raises a signal through getpid/kill that a bare machine does not have. */
__attribute__((noreturn)) void abort(void) {
    bench_write("ERR abort() called\n");
    bench_exit(1);
}

uint64_t bench_instructions(void) {
    uint32_t hi, lo, hi2;
    do {
        CSR_READ("minstreth", hi);
        CSR_READ("minstret", lo);
        CSR_READ("minstreth", hi2);
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}
