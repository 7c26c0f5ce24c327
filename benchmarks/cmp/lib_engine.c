/* The microformer engine (cmodule/engine) behind the harness interface of bench.h. */
#include <string.h>

#include "bench.h"
#include "mf.h"

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

int lib_invoke(char *msg, size_t msg_len) {
    (void)msg;
    (void)msg_len;
    mf_invoke(model);  /* cannot fail after a successful init (mf.h) */
    return 0;
}
