/*
 * Error messages: the engine's own small formatter (no libc printf on some boards),
 * status + message helpers, and the "node N (OP): " prefix of prepare errors.
 */
#include "mf_loader.h"

/* ---------------------------------------------------------------- formatting */

static void put_str(char *out, size_t size, size_t *n, const char *s) {
    while (*s && *n + 1 < size) {
        out[(*n)++] = *s++;
    }
}

static void put_uint(char *out, size_t size, size_t *n, unsigned long v, int neg) {
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + (v % 10));
        v /= 10;
    } while (v && k < 23);
    if (neg) {
        tmp[k++] = '-';
    }
    while (k > 0 && *n + 1 < size) {
        out[(*n)++] = tmp[--k];
    }
}

/* Prints one argument of type kind (MF_MSG_ARG_*). */
static void put_arg(char *out, size_t size, size_t *n, int kind, va_list *ap) {
    if (kind == MF_MSG_ARG_D || kind == MF_MSG_ARG_LD) {
        long v = kind == MF_MSG_ARG_LD ? va_arg(*ap, long) : (long)va_arg(*ap, int);
        put_uint(out, size, n, v < 0 ? 0ul - (unsigned long)v : (unsigned long)v, v < 0);
    } else if (kind == MF_MSG_ARG_U || kind == MF_MSG_ARG_LU) {
        put_uint(out, size, n, kind == MF_MSG_ARG_LU ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned), 0);
    } else {
        const char *s = va_arg(*ap, const char *);
        put_str(out, size, n, s ? s : "(null)");
    }
}

void mf_vformat(char *out, size_t size, mf_msg_t msg, va_list ap) {
    size_t n = 0;
    if (size == 0) {
        return;
    }
    va_list args;  /* a copy to pass by address: a va_list parameter may be an array */
    va_copy(args, ap);
#if MF_TERSE_ERRORS
    if (msg & ((1u << MF_MSG_CODE_BITS) - 1)) {
        put_str(out, size, &n, "E");
        put_uint(out, size, &n, msg & ((1u << MF_MSG_CODE_BITS) - 1), 0);
        for (int k = 0; k < MF_MSG_MAX_ARGS; k++) {
            int kind = (int)(msg >> (MF_MSG_CODE_BITS + 3 * k)) & 7;
            if (kind == MF_MSG_ARG_END) {
                break;
            }
            put_str(out, size, &n, k ? "; " : ": ");
            put_arg(out, size, &n, kind, &args);
        }
        out[n] = 0;
        va_end(args);
        return;
    }
    const char *fmt = va_arg(args, const char *);  /* MF_TEXT */
#else
    const char *fmt = msg;
#endif /* MF_TERSE_ERRORS */
    for (const char *p = fmt; *p && n + 1 < size; p++) {
        if (*p != '%') {
            out[n++] = *p;
            continue;
        }
        p++;
        int is_long = 0;
        if (*p == 'l') {
            is_long = 1;
            p++;
        }
        if (*p == 'd') {
            put_arg(out, size, &n, is_long ? MF_MSG_ARG_LD : MF_MSG_ARG_D, &args);
        } else if (*p == 'u') {
            put_arg(out, size, &n, is_long ? MF_MSG_ARG_LU : MF_MSG_ARG_U, &args);
        } else if (*p == 's') {
            put_arg(out, size, &n, MF_MSG_ARG_S, &args);
        } else if (*p == '%') {
            out[n++] = '%';
        } else {
            break;  /* unknown conversion: stop rather than misread the arguments */
        }
    }
    out[n] = 0;
    va_end(args);
}

mf_status_t mf_set_err(mf_error_t *err, mf_status_t st, mf_msg_t msg, ...) {
    va_list ap;
    va_start(ap, msg);
    mf_vformat(err->msg, sizeof(err->msg), msg, ap);
    va_end(ap);
    return st;
}

const char *mf_op_display_name(int32_t code, char *tmp, size_t size) {
    const char *name = mf_builtin_name(code, tmp, size);
    if (name) {
        return name;
    }
    size_t n = 0;
    put_str(tmp, size, &n, "#");  /* "#47": `microformer explain` names BuiltinOperator 47 */
    put_uint(tmp, size, &n, (unsigned long)(code < 0 ? -code : code), code < 0);
    tmp[n] = 0;
    return tmp;
}

mf_status_t mf_fail(mf_ctx_t *ctx, mf_status_t st, mf_msg_t msg, ...) {
    mf_error_t *err = ctx->err;
    const mf_node_t *node = &ctx->m->nodes[ctx->node];
    size_t n = 0;
    char *out = err->msg;
    size_t size = sizeof(err->msg);
    put_str(out, size, &n, "node ");
    put_uint(out, size, &n, (unsigned long)ctx->node, 0);
    put_str(out, size, &n, " (");
    put_str(out, size, &n, mf_op_table[node->op].name);
    put_str(out, size, &n, "): ");
    out[n] = 0;
    va_list ap;
    va_start(ap, msg);
    mf_vformat(out + n, size - n, msg, ap);
    va_end(ap);
    return st;
}

/* "[d0,d1,...]" (negative entries keep their sign) into out, NUL-terminated. */
void mf_format_dims(char *out, size_t size, const int32_t *dims, int ndim) {
    size_t n = 0;
    put_str(out, size, &n, "[");
    for (int i = 0; i < ndim; i++) {
        put_uint(out, size, &n, (unsigned long)(dims[i] < 0 ? -dims[i] : dims[i]), dims[i] < 0);
        put_str(out, size, &n, i + 1 < ndim ? "," : "");
    }
    put_str(out, size, &n, "]");
    out[n] = 0;
}
