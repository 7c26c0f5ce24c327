/*
 * The C library functions the engine (and the libm objects linked with it) call that a
 * dynamic native module has no other source for: the firmware exports only memset,
 * memcpy and memmove through mp_fun_table, and a natmod links no libc (tools/mpy_ld.py).
 * Plain C99, the standard semantics; built only into _uformer.mpy (cmodule/natmod/Makefile).
 */
#include <stddef.h>
#include <string.h>

size_t strlen(const char *s) {
    const char *p = s;
    while (*p != '\0') {
        p++;
    }
    return (size_t)(p - s);
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a;
    const unsigned char *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return x[i] < y[i] ? -1 : 1;
        }
    }
    return 0;
}

#if defined(__arm__)
/* newlib's expf/expm1f (under erfcf and tanhf, GELU's table) report overflow through
 * errno, which newlib's libc keeps; nothing here reads it. Not static: mpy_ld relocates
 * only external bss symbols. */
int mf_natmod_errno;

int *__errno(void) {
    return &mf_natmod_errno;
}

float __ieee754_sqrtf(float x);

/* sqrtf for the engine (the Makefile renames its calls: -Dsqrtf=mf_natmod_sqrtf, since
 * mpy_ld would also pull newlib's sqrtf and report a duplicate). newlib's sqrtf is a
 * wrapper that consults _LIB_VERSION, initialized data that a native module cannot carry
 * (mpy_ld refuses .data), only to decide how to set errno for x < 0; the value is
 * __ieee754_sqrtf's either way: the IEEE 754 square root, correctly rounded. */
float mf_natmod_sqrtf(float x) {
    return __ieee754_sqrtf(x);
}
#endif /* __arm__ */
