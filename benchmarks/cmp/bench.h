/*
 * Bare-metal harness shared by every library under comparison (benchmarks/cortex_m_vs_tflm.py).
 *
 * One ELF per (library, architecture). The host loads a blob (bench_blob_t followed by the
 * model and the packed input samples) at BENCH_BLOB_ADDR with qemu's loader device; main.c
 * runs the model and prints lines the host parses:
 *   INIT <instructions>          model load (engine: mf_model_init; TFLM: resolver,
 *                                interpreter construction and AllocateTensors)
 *   ARENA <bytes>                arena bytes the library used
 *   INVOKE <sample> <instructions>
 *   OUT <sample> <output> <hex>
 *   ERR <message>                then exit status 1
 *   END
 * Instruction counts come from bench_instructions() (the port: a timer driven by qemu's
 * -icount virtual clock on Arm, the instret counter on RISC-V).
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif /* __cplusplus */

#define BENCH_MAGIC 0x4243464du  /* "MFCB" little endian */

typedef struct {
    uint32_t magic;
    uint32_t model_off;     /* from the start of the blob */
    uint32_t model_len;
    uint32_t inputs_off;    /* n_samples * sample_len bytes, inputs of one sample back to back */
    uint32_t sample_len;
    uint32_t n_samples;
} bench_blob_t;

/* The port (port_arm.c / port_riscv.c; port_host.c for the native profile, where the
 * counter is nanoseconds instead of instructions). */
uint64_t bench_instructions(void);      /* monotonic instruction count (resolution: the port's) */
void bench_write(const char *s);        /* NUL-terminated text to the host */
void bench_exit(int status);            /* ends the emulation; status 0 = success */
const bench_blob_t *bench_blob(void);   /* the blob the host loaded */

/* The library under test (lib_engine.c / lib_tflm.cc). Returns 0 on success, otherwise
 * writes a NUL-terminated reason into msg (msg_len bytes). */
const char *lib_name(void);
int lib_init(const uint8_t *model, size_t len, uint8_t *arena, size_t arena_len,
    char *msg, size_t msg_len);
size_t lib_arena_used(void);
int lib_num_inputs(void);
int lib_num_outputs(void);
uint8_t *lib_input(int i, size_t *len);
const uint8_t *lib_output(int i, size_t *len);
int lib_invoke(char *msg, size_t msg_len);

/* Writes v in decimal at buf + k (no NUL; at most 20 characters) and returns the new
 * length: the harness prints without a libc printf. */
static inline size_t bench_put_dec(char *buf, size_t k, uint64_t v) {
    char digits[20];
    size_t d = 0;
    do {
        digits[d++] = (char)('0' + (unsigned)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (d > 0) {
        buf[k++] = digits[--d];
    }
    return k;
}

#ifdef __cplusplus
}
#endif /* __cplusplus */

#endif /* BENCH_H */
