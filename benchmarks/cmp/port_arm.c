/*
 * Cortex-M port of the harness for QEMU mps2-an386 (Cortex-M4F) and, built with
 * -DBENCH_MPS3_AN547, mps3-an547 (Cortex-M55): reset handler, semihosting I/O and an
 * instruction counter.
 *
 * Counting: qemu runs with -icount shift=0, so its virtual clock advances exactly 1 ns per
 * executed instruction.
 *  - AN386: the CMSDK APB timer 0 (0x40000000) counts down at the board's 25 MHz
 *    peripheral clock from that virtual clock, so one timer tick is 40 instructions:
 *    counts have a resolution of 40 instructions and wrap after 2^32 ticks (171 G
 *    instructions).
 *  - AN547: SysTick (every Cortex-M has it at the same address) counts down at the 32 MHz
 *    processor clock, one tick per 31.25 instructions; its 24 bits wrap every 2^24 ticks
 *    (524 M instructions), which the SysTick exception counts (a handful of instructions
 *    per wrap, the same in every build).
 */
#include <stdint.h>

#include "bench.h"

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

#if defined(BENCH_MPS3_AN547)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_PERIOD (1u << 24)
#define CPU_NAME "Cortex-M55"

/* SysTick periods completed; written by the exception handler only. */
static volatile uint32_t systick_wraps;

/* The host loads the blob into the board's DDR (16 MB of it at 0x60000000). */
const bench_blob_t *bench_blob(void) {
    return (const bench_blob_t *)0x60000000u;
}

uint64_t bench_instructions(void) {
    uint32_t wraps, now;
    /* A wrap between the two reads of wraps means now may belong to either period: retry. */
    do {
        wraps = systick_wraps;
        now = SYST_CVR;
    } while (wraps != systick_wraps);
    const uint64_t ticks = (uint64_t)wraps * SYST_PERIOD + (SYST_PERIOD - 1u - now);
    return ticks * 125u / 4u;  /* 1 GHz virtual instruction clock / 32 MHz processor clock */
}

static void counter_start(void) {
    SYST_CSR = 0;
    SYST_RVR = SYST_PERIOD - 1u;
    SYST_CVR = 0;       /* any write clears it: the count starts from the reload value */
    SYST_CSR = 7u;      /* enable, exception on wrap, processor clock */
    /* The counter reads 0 until its first tick loads the reload value. */
    while (SYST_CVR == 0u) {
    }
}

static void SysTick_Handler(void) {
    systick_wraps = systick_wraps + 1u;
}
#define SYSTICK_VECTOR SysTick_Handler
#else
#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
#define INSTRUCTIONS_PER_TICK 40u  /* 1 GHz virtual instruction clock / 25 MHz timer clock */
#define CPU_NAME "Cortex-M4"

/* The host loads the blob into the board's PSRAM (16 MB at 0x21000000). */
const bench_blob_t *bench_blob(void) {
    return (const bench_blob_t *)0x21000000u;
}

uint64_t bench_instructions(void) {
    return (uint64_t)(0xFFFFFFFFu - TIMER0_VALUE) * INSTRUCTIONS_PER_TICK;
}

static void counter_start(void) {
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u;  /* enable, no interrupt */
}
#define SYSTICK_VECTOR Fault_Handler
#endif /* BENCH_MPS3_AN547 */

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

/* newlib's __libc_init_array calls these (crti.o is not linked: -nostartfiles). */
void _init(void) {
}

void _fini(void) {
}

void Reset_Handler(void) {
    SCB_CPACR |= 0xFu << 20;  /* CP10/CP11 full access: the FPU (and MVE), before any use */
    __asm__ volatile ("dsb\n\tisb");
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    counter_start();
    __libc_init_array();
    bench_exit(main());
}

static void Fault_Handler(void) {
    bench_write("ERR fault: hard fault or exception on the emulated " CPU_NAME "\n");
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
    (uintptr_t)SYSTICK_VECTOR,  /* SysTick */
};
