/*
 * Native port of the harness for the host profile (cortex_m_vs_tflm.py --profile MODEL
 * --on host): the engine compiled for this machine, as the CPython _uformer (the simulator)
 * is. The blob is read from the file named by $BENCH_BLOB; the counter is CLOCK_MONOTONIC in
 * nanoseconds, so "instructions" in the protocol are nanoseconds here.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

uint64_t bench_instructions(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_write(const char *s) {
    fputs(s, stdout);
}

void bench_exit(int status) {
    fflush(stdout);
    exit(status);
}

const bench_blob_t *bench_blob(void) {
    /* Read once; the process runs one model and exits, so the buffer lives until then. */
    static unsigned char *data;
    if (data != NULL) {
        return (const bench_blob_t *)data;
    }
    const char *path = getenv("BENCH_BLOB");
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    if (f == NULL) {
        bench_write("ERR blob: set BENCH_BLOB to a readable blob file\n");
        bench_exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(n > 0 ? (size_t)n : 1u);
    if (data == NULL || n < (long)sizeof(bench_blob_t) || fread(data, 1, (size_t)n, f) != (size_t)n) {
        bench_write("ERR blob: cannot read the blob file\n");
        bench_exit(1);
    }
    fclose(f);
    return (const bench_blob_t *)data;
}
