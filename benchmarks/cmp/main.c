/* The measuring loop shared by every library (protocol in bench.h). */
#include <string.h>

#include "bench.h"

#ifndef BENCH_ARENA_BYTES
#define BENCH_ARENA_BYTES (2u * 1024u * 1024u)
#endif /* BENCH_ARENA_BYTES */

/* The one arena handed to the library; 16-byte aligned as TFLM asks. */
static uint8_t arena[BENCH_ARENA_BYTES] __attribute__((aligned(16)));

static void put_u64(const char *tag, int with_index, uint32_t index, uint64_t v) {
    char buf[64];
    size_t n = 0;
    while (tag[n] != '\0') {
        buf[n] = tag[n];
        n++;
    }
    if (with_index) {
        buf[n++] = ' ';
        n = bench_put_dec(buf, n, index);
    }
    buf[n++] = ' ';
    n = bench_put_dec(buf, n, v);
    buf[n++] = '\n';
    buf[n] = '\0';
    bench_write(buf);
}

static void fail(const char *what, const char *msg) {
    bench_write("ERR ");
    bench_write(what);
    bench_write(": ");
    bench_write(msg);
    bench_write("\n");
    bench_exit(1);
}

/* "OUT s j <hex>\n", the hex written in chunks so that a large output needs no large buffer. */
static void put_output(uint32_t s, int j, const uint8_t *p, size_t len) {
    static const char hex[] = "0123456789abcdef";
    char line[2 * 64 + 1];
    char head[40];
    size_t n = 0;
    uint32_t nums[2] = {s, (uint32_t)j};
    head[n++] = 'O';
    head[n++] = 'U';
    head[n++] = 'T';
    for (int k = 0; k < 2; k++) {
        head[n++] = ' ';
        n = bench_put_dec(head, n, nums[k]);
    }
    head[n++] = ' ';
    head[n] = '\0';
    bench_write(head);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        line[k++] = hex[p[i] >> 4];
        line[k++] = hex[p[i] & 15u];
        if (k == sizeof(line) - 1) {
            line[k] = '\0';
            bench_write(line);
            k = 0;
        }
    }
    line[k] = '\0';
    bench_write(line);
    bench_write("\n");
}

int main(void) {
    char msg[200];
    const bench_blob_t *b = bench_blob();
    if (b->magic != BENCH_MAGIC) {
        fail("blob", "no benchmark blob where the host should have loaded it");
    }
    const uint8_t *base = (const uint8_t *)b;
    bench_write("LIB ");
    bench_write(lib_name());
    bench_write("\n");

    /* Cost of the measurement itself, subtracted from every bracket below. */
    uint64_t c0 = bench_instructions();
    uint64_t c1 = bench_instructions();
    uint64_t overhead = c1 - c0;

    msg[0] = '\0';
    uint64_t t0 = bench_instructions();
    int st = lib_init(base + b->model_off, b->model_len, arena, sizeof(arena), msg, sizeof(msg));
    uint64_t t1 = bench_instructions();
    if (st != 0) {
        fail("init", msg);
    }
    put_u64("INIT", 0, 0, t1 - t0 - overhead);
    put_u64("ARENA", 0, 0, (uint64_t)lib_arena_used());

    const uint8_t *in = base + b->inputs_off;
    for (uint32_t s = 0; s < b->n_samples; s++) {
        size_t off = 0;
        for (int i = 0; i < lib_num_inputs(); i++) {
            size_t len;
            uint8_t *dst = lib_input(i, &len);
            if (off + len > b->sample_len) {
                fail("inputs", "the model's inputs are larger than one sample in the blob");
            }
            memcpy(dst, in + (size_t)s * b->sample_len + off, len);
            off += len;
        }
        if (off != b->sample_len) {
            fail("inputs", "the model's inputs are smaller than one sample in the blob");
        }
        t0 = bench_instructions();
        st = lib_invoke(msg, sizeof(msg));
        t1 = bench_instructions();
        if (st != 0) {
            fail("invoke", msg);
        }
        put_u64("INVOKE", 1, s, t1 - t0 - overhead);
        for (int j = 0; j < lib_num_outputs(); j++) {
            size_t len;
            const uint8_t *p = lib_output(j, &len);
            put_output(s, j, p, len);
        }
    }
    bench_write("END\n");
    bench_exit(0);
    return 0;
}
