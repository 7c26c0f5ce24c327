/* The microformer engine (cmodule/engine) behind the harness interface of bench.h. */
#include <string.h>

#include "bench.h"
#include "mf.h"
#ifdef BENCH_PROFILE
/* The per-node entry points mf_invoke uses (cmodule/engine/mf_runtime.c), to count each
 * node's instructions; the engine itself has no timing hook. */
#include "mf_internal.h"
#endif /* BENCH_PROFILE */

/* The harness runs one model per boot, so the loaded model is the one piece of state. */
static mf_model_t *model;

static void copy_msg(char *msg, size_t msg_len, const char *src) {
    size_t n = strlen(src);
    if (n >= msg_len) {
        n = msg_len - 1;
    }
    memcpy(msg, src, n);
    msg[n] = '\0';
}

const char *lib_name(void) {
    return "microformer " MF_VERSION;
}

int lib_init(const uint8_t *buf, size_t len, uint8_t *arena, size_t arena_len,
    char *msg, size_t msg_len) {
    mf_error_t err;
    if (mf_model_init(buf, len, arena, arena_len, &model, &err) != MF_OK) {
        copy_msg(msg, msg_len, err.msg);
        return 1;
    }
    return 0;
}

size_t lib_arena_used(void) {
    return mf_arena_used(model);
}

int lib_num_inputs(void) {
    return mf_num_inputs(model);
}

int lib_num_outputs(void) {
    return mf_num_outputs(model);
}

uint8_t *lib_input(int i, size_t *len) {
    mf_tensor_t *t = mf_input(model, i);
    *len = mf_tensor_bytes(t);
    return (uint8_t *)mf_tensor_data(t);
}

const uint8_t *lib_output(int i, size_t *len) {
    mf_tensor_t *t = mf_output(model, i);
    *len = mf_tensor_bytes(t);
    return (const uint8_t *)mf_tensor_data(t);
}

#ifdef BENCH_PROFILE
/* "PROF <node> <op> <fused 0/1> <instructions>\n" */
static void put_prof(int node, const char *op, int fused, uint64_t n) {
    char buf[96];
    size_t k = 0;
    const char *head = "PROF ";
    while (*head != '\0') {
        buf[k++] = *head++;
    }
    k = bench_put_dec(buf, k, (uint32_t)node);
    buf[k++] = ' ';
    for (; *op != '\0' && k < 60; op++) {
        buf[k++] = *op;
    }
    buf[k++] = ' ';
    buf[k++] = fused ? '1' : '0';
    buf[k++] = ' ';
    k = bench_put_dec(buf, k, n);
    buf[k++] = '\n';
    buf[k] = '\0';
    bench_write(buf);
}
#endif /* BENCH_PROFILE */

int lib_invoke(char *msg, size_t msg_len) {
    (void)msg;
    (void)msg_len;
#ifdef BENCH_PROFILE
    /* mf_invoke's loop, with the instructions of every node that runs. */
    uint64_t c0 = bench_instructions();
    uint64_t overhead = bench_instructions() - c0;
    for (int i = 0; i < model->n_nodes; i++) {
        const mf_node_t *n = &model->nodes[i];
        if (n->flags != 0 && !(n->flags & MF_NODE_FUSED)) {
            continue;  /* part of a fused chain that runs at a later node */
        }
        uint64_t t0 = bench_instructions();
        if (n->flags == 0) {
            mf_op_table[n->op].eval(model, n);
        } else {
            mf_fused_eval(model, n);
        }
        uint64_t t1 = bench_instructions();
        /* A node cheaper than the counter's resolution can read below the overhead. */
        put_prof(i, mf_op_table[n->op].name, n->flags != 0, t1 - t0 > overhead ? t1 - t0 - overhead : 0u);
    }
#else
    mf_invoke(model);  /* cannot fail after a successful init (mf.h) */
#endif /* BENCH_PROFILE */
    return 0;
}
