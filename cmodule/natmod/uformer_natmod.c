/*
 * _uformer as a MicroPython dynamic native module (`_uformer.mpy`, loaded by stock firmware).
 *
 * There is one binding: cmodule/micropython/moduformer.c, included below, the same file the
 * built-in module compiles, so the Python API, the checks and the error messages are the
 * same. What a native module cannot do the way firmware code does is filled in here:
 *
 *  - The runtime is reached through mp_fun_table (py/dynruntime.h), which has no varargs
 *    exception constructor, no m_malloc_maybe, no memoryview constructor and no
 *    mp_type_MemoryError: the macros below supply them from what the table has.
 *  - Qstrs are numbered when the .mpy is loaded (mp_native_qstr_table), so they are not
 *    compile-time constants: the type object, its method table and the module globals are
 *    built in mpy_init (the binding leaves its ROM tables out under MICROPY_ENABLE_DYNRUNTIME,
 *    as extmod/modframebuf.c does for examples/natmod/framebuf).
 *  - A native module's globals are a plain dict filled at import, so OPS (the engine's
 *    table, which --ops-from trims) is stored once there instead of being produced by the
 *    module __getattr__ the built-in module uses.
 *
 * The engine (cmodule/engine/unity/mf_unity.c) is a separate object in the same .mpy; its
 * libgcc and libm needs are linked in by tools/mpy_ld.py (Makefile: LINK_RUNTIME=1) and the
 * few libc functions they and the engine call that the firmware does not export are in
 * mf_natmod_libc.c. memcpy/memset/memmove resolve to the firmware's through mp_fun_table.
 */
#define MICROPY_PY_BUILTINS_MEMORYVIEW (1)

#include "py/dynruntime.h"

#include <stdarg.h>
#include <string.h>

// Not among dynruntime.h's exception types.
#define mp_type_MemoryError (*(mp_obj_type_t *)(mp_load_global(MP_QSTR_MemoryError)))

// m_new_maybe: a GC block or NULL, without raising (the binding names the size itself).
#define m_malloc_maybe(n) (mp_fun_table.realloc_(NULL, (n), false))

// mp_obj_is_str_or_bytes compares a slot with mp_obj_str_binary_op, a firmware symbol a
// native module cannot link against; compare the types instead.
#undef mp_obj_is_str_or_bytes
#define mp_obj_is_str_or_bytes(o) (mp_obj_is_str(o) || mp_obj_get_type(o) == &mp_type_bytes)

// The longest exception message: the engine's message (mf_error_t.msg, 160 bytes) inside
// the binding's longest format. Longer messages are cut, never overrun.
#define UFORMER_NATMOD_MSG_MAX (224)

typedef struct _uformer_natmod_msg_t {
    char buf[UFORMER_NATMOD_MSG_MAX];
    size_t len;
} uformer_natmod_msg_t;

static void uformer_natmod_msg_strn(void *data, const char *str, size_t len) {
    uformer_natmod_msg_t *m = data;
    size_t room = sizeof(m->buf) - m->len;
    if (len > room) {
        len = room;
    }
    memcpy(m->buf + m->len, str, len);
    m->len += len;
}

// mp_raise_msg_varg: the message is formatted here (mp_vprintf from the firmware) and the
// exception built by calling its type with the message string, as Python code would.
static MP_NORETURN void uformer_natmod_raise_varg(const mp_obj_type_t *type, const char *fmt, ...) {
    uformer_natmod_msg_t msg;
    msg.len = 0;
    mp_print_t print = { &msg, uformer_natmod_msg_strn };
    va_list ap;
    va_start(ap, fmt);
    mp_vprintf(&print, fmt, ap);
    va_end(ap);
    mp_obj_t arg = mp_obj_new_str(msg.buf, msg.len);
    nlr_raise(mp_call_function_n_kw(MP_OBJ_FROM_PTR(type), 1, 0, &arg));
}
#define mp_raise_msg_varg uformer_natmod_raise_varg

// A memoryview of nitems elements at items (mp_obj_new_memoryview is not exported).
static mp_obj_t uformer_natmod_new_memoryview(byte typecode, size_t nitems, void *items) {
    mp_obj_array_t *view = m_malloc(sizeof(mp_obj_array_t));
    view->base.type = MP_OBJ_TO_PTR(mp_load_global(MP_QSTR_memoryview));
    view->typecode = typecode;
    view->free = 0;  // element offset into items (see the binding's uformer_tensor_view)
    view->len = nitems;
    view->items = items;
    return MP_OBJ_FROM_PTR(view);
}
#define mp_obj_new_memoryview uformer_natmod_new_memoryview

#include "../micropython/moduformer.c"

// The Model type and its methods, filled in by mpy_init (they hold load-time qstrs).
// Not static: mpy_ld relocates only external bss symbols.
mp_obj_full_type_t uformer_model_type;
mp_map_elem_t uformer_model_locals_dict_table[7 + MF_PROFILE];
static MP_DEFINE_CONST_DICT(uformer_model_locals_dict, uformer_model_locals_dict_table);

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY

    uformer_model_type.base.type = (void *)&mp_type_type;
    uformer_model_type.flags = MP_TYPE_FLAG_NONE;
    uformer_model_type.name = MP_QSTR_Model;
    MP_OBJ_TYPE_SET_SLOT(&uformer_model_type, make_new, uformer_model_make_new, 0);
    MP_OBJ_TYPE_SET_SLOT(&uformer_model_type, print, uformer_model_print, 1);
    MP_OBJ_TYPE_SET_SLOT(&uformer_model_type, attr, uformer_model_attr, 2);
    uformer_model_locals_dict_table[0] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_input_info), MP_OBJ_FROM_PTR(&uformer_model_input_info_obj) };
    uformer_model_locals_dict_table[1] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_output_info), MP_OBJ_FROM_PTR(&uformer_model_output_info_obj) };
    uformer_model_locals_dict_table[2] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_input), MP_OBJ_FROM_PTR(&uformer_model_input_obj) };
    uformer_model_locals_dict_table[3] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_output), MP_OBJ_FROM_PTR(&uformer_model_output_obj) };
    uformer_model_locals_dict_table[4] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_set_input), MP_OBJ_FROM_PTR(&uformer_model_set_input_obj) };
    uformer_model_locals_dict_table[5] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_invoke), MP_OBJ_FROM_PTR(&uformer_model_invoke_obj) };
    uformer_model_locals_dict_table[6] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_metadata), MP_OBJ_FROM_PTR(&uformer_model_metadata_obj) };
    #if MF_PROFILE
    uformer_model_locals_dict_table[7] = (mp_map_elem_t) { MP_OBJ_NEW_QSTR(MP_QSTR_profile), MP_OBJ_FROM_PTR(&uformer_model_profile_obj) };
    #endif /* MF_PROFILE */
    MP_OBJ_TYPE_SET_SLOT(&uformer_model_type, locals_dict, (void *)&uformer_model_locals_dict, 3);

    mp_store_global(MP_QSTR_Model, MP_OBJ_FROM_PTR(&uformer_model_type));
    mp_store_global(MP_QSTR_arena_size, MP_OBJ_FROM_PTR(&uformer_arena_size_obj));
    mp_store_global(MP_QSTR_ARENA_TAG, MP_OBJ_NEW_SMALL_INT(UFORMER_ARENA_TAG));
    mp_store_global(MP_QSTR_version, mp_obj_new_str(MF_VERSION, strlen(MF_VERSION)));
    mp_store_global(MP_QSTR_OPS, uformer_supported_ops());

    MP_DYNRUNTIME_INIT_EXIT
}
