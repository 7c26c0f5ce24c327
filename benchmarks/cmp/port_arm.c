/*
 * Cortex-M4F port of the harness for QEMU mps2-an386: reset handler, semihosting I/O and
 * an instruction counter.
 *
 * Counting: qemu runs with -icount shift=0, so its virtual clock advances exactly 1 ns per
 * executed instruction. The CMSDK APB timer 0 (0x40000000) counts down at the board's
 * 25 MHz peripheral clock from that virtual clock, so one timer tick is 40 instructions:
 * counts have a resolution of 40 instructions and wrap after 2^32 ticks (171 G instructions).
 */
#include <stdint.h>

#include "bench.h"

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
#define INSTRUCTIONS_PER_TICK 40u  /* 1 GHz virtual instruction clock / 25 MHz timer clock */
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

/* The host loads the blob into the board's PSRAM (16 MB at 0x21000000). */
const bench_blob_t *bench_blob(void) {
    return (const bench_blob_t *)0x21000000u;
}

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern void __libc_init_array(void);
extern int main(void);

static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile ("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void bench_write(const char *s) {
    semihost(0x04u, s);  /* SYS_WRITE0 */
}

void bench_exit(int status) {
    /* SYS_EXIT with ADP_Stopped_ApplicationExit (qemu exits 0) or RunTimeErrorUnknown (1). */
    semihost(0x18u, (const void *)(uintptr_t)(status == 0 ? 0x20026u : 0x20023u));
    for (;;) {
    }
}

uint64_t bench_instructions(void) {
    return (uint64_t)(0xFFFFFFFFu - TIMER0_VALUE) * INSTRUCTIONS_PER_TICK;
}

/* newlib's __libc_init_array calls these (crti.o is not linked: -nostartfiles). */
void _init(void) {
}

void _fini(void) {
}

void Reset_Handler(void) {
    SCB_CPACR |= 0xFu << 20;  /* CP10/CP11 full access: the FPU, before any float code */
    __asm__ volatile ("dsb\n\tisb");
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u;  /* enable, no interrupt */
    __libc_init_array();
    bench_exit(main());
}

static void Fault_Handler(void) {
    bench_write("ERR fault: hard fault or exception on the emulated Cortex-M4\n");
    bench_exit(1);
}

__attribute__((section(".isr_vector"), used))
static const uintptr_t vectors[16] = {
    (uintptr_t)&__stack_top,
    (uintptr_t)Reset_Handler,
    (uintptr_t)Fault_Handler,  /* NMI */
    (uintptr_t)Fault_Handler,  /* HardFault */
    (uintptr_t)Fault_Handler,  /* MemManage */
    (uintptr_t)Fault_Handler,  /* BusFault */
    (uintptr_t)Fault_Handler,  /* UsageFault */
    0, 0, 0, 0,
    (uintptr_t)Fault_Handler,  /* SVCall */
    (uintptr_t)Fault_Handler,  /* DebugMon */
    0,
    (uintptr_t)Fault_Handler,  /* PendSV */
    (uintptr_t)Fault_Handler,  /* SysTick */
};
