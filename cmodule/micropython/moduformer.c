/*
 * _uformer for MicroPython: the binding of the mf engine (cmodule/engine).
 *
 * The Python API is docs/architecture.md's "Python API" contract, the same names and exceptions as
 * the CPython build (cmodule/cpython/moduformer.c):
 *   Model(model, arena_size=None, arena=None) .arena_size .num_inputs .num_outputs .ops
 *       .input_info(i) .output_info(i) .input(i) .output(i) .invoke() .metadata(name)
 *       .profile() (when the engine is built with MF_PROFILE, the default)
 *       .set_input(i, samples, mean, std, start=0)
 *   arena_size(buf), ARENA_TAG, OPS, version
 * Engine errors become ValueError (bad model or argument), NotImplementedError
 * (unsupported op/type) and MemoryError (arena), each carrying the engine's message.
 *
 * Memory: the model bytes are read in place from whatever object holds them (bytes,
 * bytearray, a memoryview of a file mapped from /rom), so a model in flash costs no RAM.
 * The Model object keeps that object referenced. The arena is one GC block owned by the
 * Model; tensor memoryviews point at that block's head (with an element offset) so the
 * GC keeps the arena alive as long as any view of it exists.
 *
 * arena=: a writable buffer the caller reserved once (uformer.Slot does, so a hot swap
 * allocates nothing big; docs/architecture.md "Slot memory contract"). Its first
 * ARENA_TAG bytes hold the owner tag, the engine gets the rest. A newer Model built on
 * the same buffer overwrites the engine's tables, so every method first checks that the
 * tag still names this Model and raises ValueError otherwise: a stale Model can never make
 * the engine follow another model's tables.
 */
#include <string.h>

#include "py/runtime.h"
#include "py/binary.h"
#include "py/objarray.h"
#include "py/objstr.h"
#include "py/objtuple.h"

#include "mf.h"

#if MICROPY_ENABLE_DYNRUNTIME
#include "py/smallint.h"  // the wrap of time.ticks_us, the native module's profile clock
#else
#include "py/mphal.h"  // the profile's clocks (a native module has no HAL)
#endif /* MICROPY_ENABLE_DYNRUNTIME */

#if !MICROPY_PY_BUILTINS_MEMORYVIEW
#error "_uformer needs MICROPY_PY_BUILTINS_MEMORYVIEW (tensors are exposed as memoryviews)"
#endif
#if !MICROPY_MODULE_GETATTR && !MICROPY_ENABLE_DYNRUNTIME
#error "_uformer needs MICROPY_MODULE_GETATTR (OPS is read from the engine at run time)"
#endif /* !MICROPY_MODULE_GETATTR && !MICROPY_ENABLE_DYNRUNTIME */

// The same source builds the dynamic native module (cmodule/natmod/uformer_natmod.c), where
// qstrs are numbered at load time: tables holding qstrs are then built at run time (the
// argument table on the stack; the type and module globals in mpy_init).
#if MICROPY_ENABLE_DYNRUNTIME
#define UFORMER_QSTR_TABLE const
#else
#define UFORMER_QSTR_TABLE static const
#endif /* MICROPY_ENABLE_DYNRUNTIME */

// Bytes at the start of a caller-provided arena that name the Model using it.
#define UFORMER_ARENA_TAG (sizeof(uint64_t))

typedef struct _uformer_model_obj_t {
    mp_obj_base_t base;
    // The object whose bytes the engine reads, kept referenced so the bytes outlive the
    // model; buf/len are its buffer at load time, checked again before every invoke.
    mp_obj_t buf_obj;
    const uint8_t *buf;
    size_t len;
    // One GC block of arena_len bytes holding the engine's tables and activations.
    uint8_t *arena;
    size_t arena_len;
    // A caller-provided arena (arena=): the object, kept referenced, and the tag its first
    // UFORMER_ARENA_TAG bytes must hold while this Model owns it; MP_OBJ_NULL for an arena
    // the Model allocated itself.
    mp_obj_t arena_obj;
    uint64_t tag;
    mf_model_t *model;  // inside arena
    mp_obj_t ops;       // tuple of op names, built on first access (MP_OBJ_NULL until then)
} uformer_model_obj_t;

static MP_NORETURN void uformer_raise(mf_status_t st, const mf_error_t *err) {
    const mp_obj_type_t *type;
    switch (st) {
        case MF_ERR_UNSUPPORTED:
            type = &mp_type_NotImplementedError;
            break;
        case MF_ERR_ARENA:
            type = &mp_type_MemoryError;
            break;
        default:
            // MF_ERR_MALFORMED and MF_ERR_ARG.
            type = &mp_type_ValueError;
            break;
    }
    mp_raise_msg_varg(type, MP_ERROR_TEXT("%s"), err->msg);
}

// Buffer of a model argument. str is refused like on CPython (it has no buffer there).
static void uformer_get_model_buffer(mp_obj_t obj, mp_buffer_info_t *bufinfo) {
    if (mp_obj_is_str(obj)) {
        mp_raise_TypeError(MP_ERROR_TEXT("model must be bytes, bytearray or memoryview, not str"));
    }
    mp_get_buffer_raise(obj, bufinfo, MP_BUFFER_READ);
}

// GC block of n bytes for the engine, or MemoryError naming the size and its purpose.
static uint8_t *uformer_alloc(size_t n, const char *what) {
    // The engine accepts a NULL arena of 0 bytes (it then reports what it needs).
    if (n == 0) {
        return NULL;
    }
    uint8_t *p = m_new_maybe(uint8_t, n);
    if (p == NULL) {
        mp_raise_msg_varg(&mp_type_MemoryError,
            MP_ERROR_TEXT("cannot allocate %u bytes of %s (not enough free heap)"), (unsigned int)n, what);
    }
    return p;
}

// Scratch for the engine's dry-run sizing (mf_measure): GC blocks, NULL when the heap has
// none of that size (the engine then tries a smaller one or reports the numbers).
static void *uformer_scratch_alloc(void *ctx, size_t bytes) {
    (void)ctx;
    return m_new_maybe(uint8_t, bytes);
}

static void uformer_scratch_release(void *ctx, void *p, size_t bytes) {
    (void)ctx;
    m_del(uint8_t, p, bytes);
}

// Exact arena bytes the model needs: the engine's one dry-run sizing, in GC scratch that is
// freed before this returns or raises (MemoryError when the heap cannot hold the tables).
static size_t uformer_measure(const uint8_t *buf, size_t len) {
    /* Filled at run time, not by an initializer: a constant initializer with function
     * addresses lands in .data, which a native module (.mpy) cannot have. */
    mf_scratch_alloc_t lender;
    lender.alloc = uformer_scratch_alloc;
    lender.release = uformer_scratch_release;
    lender.ctx = NULL;
    mf_error_t err;
    size_t need = 0;
    mf_status_t st = mf_measure(buf, len, &lender, &need, &err);
    if (st != MF_OK) {
        uformer_raise(st, &err);
    }
    return need;
}

// The Model, or ValueError when a newer Model took over its caller-provided arena (the
// engine's tables there are no longer this model's).
static uformer_model_obj_t *uformer_get_model(mp_obj_t self_in) {
    uformer_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    if (self->arena_obj != MP_OBJ_NULL) {
        uint64_t tag;
        memcpy(&tag, self->arena - UFORMER_ARENA_TAG, UFORMER_ARENA_TAG);
        if (tag != self->tag) {
            mp_raise_ValueError(MP_ERROR_TEXT("another Model was loaded into this model's arena: load it again"));
        }
    }
    return self;
}

/******************************************************************************/
// Model(model, arena_size=None)

static mp_obj_t uformer_model_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *all_args) {
    enum { ARG_model, ARG_arena_size, ARG_arena };
    UFORMER_QSTR_TABLE mp_arg_t allowed_args[] = {
        { MP_QSTR_model, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_arena_size, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_arena, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t args[MP_ARRAY_SIZE(allowed_args)];
    mp_arg_parse_all_kw_array(n_args, n_kw, all_args, MP_ARRAY_SIZE(allowed_args), allowed_args, args);

    // Validate everything before allocating.
    mp_obj_t buf_obj = args[ARG_model].u_obj;
    mp_buffer_info_t bufinfo;
    uformer_get_model_buffer(buf_obj, &bufinfo);
    const uint8_t *buf = bufinfo.buf;
    size_t len = bufinfo.len;

    mp_obj_t arena_obj = args[ARG_arena].u_obj;
    uint8_t *arena;
    size_t arena_len;
    if (arena_obj != mp_const_none) {
        if (args[ARG_arena_size].u_obj != mp_const_none) {
            mp_raise_ValueError(MP_ERROR_TEXT("give arena or arena_size, not both (the arena's length is its size)"));
        }
        mp_buffer_info_t ainfo;
        if (mp_obj_is_str_or_bytes(arena_obj) || !mp_get_buffer(arena_obj, &ainfo, MP_BUFFER_WRITE)) {
            mp_raise_TypeError(MP_ERROR_TEXT("arena must be a writable buffer (bytearray)"));
        }
        if (ainfo.len < UFORMER_ARENA_TAG) {
            mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("arena of %u bytes is smaller than its %u-byte tag"),
                (unsigned int)ainfo.len, (unsigned int)UFORMER_ARENA_TAG);
        }
        if ((const uint8_t *)ainfo.buf < buf + len && buf < (const uint8_t *)ainfo.buf + ainfo.len) {
            mp_raise_ValueError(MP_ERROR_TEXT("arena overlaps the model bytes"));
        }
        arena = (uint8_t *)ainfo.buf + UFORMER_ARENA_TAG;
        arena_len = ainfo.len - UFORMER_ARENA_TAG;
    } else {
        arena_obj = MP_OBJ_NULL;
        if (args[ARG_arena_size].u_obj == mp_const_none) {
            // Auto: exactly what the plan needs, measured by a dry run.
            arena_len = uformer_measure(buf, len);
        } else {
            mp_int_t n = mp_obj_get_int(args[ARG_arena_size].u_obj);
            if (n < 0) {
                mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("arena_size must be >= 0, got %d"), (int)n);
            }
            arena_len = (size_t)n;
        }
        arena = uformer_alloc(arena_len, "model arena");
    }

    // The object first, so its address can tag a caller's arena before the engine writes.
    uformer_model_obj_t *self = mp_obj_malloc(uformer_model_obj_t, type);
    self->arena_obj = arena_obj;
    self->tag = (uint64_t)(uintptr_t)self;
    self->model = NULL;
    if (arena_obj != MP_OBJ_NULL) {
        // Any Model that used this buffer before is stale from here on, even if this load fails.
        memcpy(arena - UFORMER_ARENA_TAG, &self->tag, UFORMER_ARENA_TAG);
    }
    mf_error_t err;
    mf_model_t *model;
    mf_status_t st = mf_model_init(buf, len, arena, arena_len, &model, &err);
    if (st != MF_OK) {
        if (arena_obj == MP_OBJ_NULL) {
            // Give the arena back at once: the caller may retry with a smaller model.
            m_del(uint8_t, arena, arena_len);
        }
        if (st == MF_ERR_ARENA && (!err.need_exact || arena_obj != MP_OBJ_NULL)) {
            // The given arena could not even hold the tables, so the engine only knows a
            // lower bound: measure, to name the exact need as the CPython build does. A
            // caller's arena also holds the tag: the need counts it.
            size_t tag = arena_obj != MP_OBJ_NULL ? UFORMER_ARENA_TAG : 0;
            mp_raise_msg_varg(&mp_type_MemoryError, MP_ERROR_TEXT("arena too small: need %u bytes, have %u"),
                (unsigned int)(uformer_measure(buf, len) + tag), (unsigned int)(arena_len + tag));
        }
        uformer_raise(st, &err);
    }

    self->buf_obj = buf_obj;
    self->buf = buf;
    self->len = len;
    self->arena = arena;
    self->arena_len = arena_len;
    self->model = model;
    self->ops = MP_OBJ_NULL;
    return MP_OBJ_FROM_PTR(self);
}

/******************************************************************************/
// Tensors

// Typecode of a tensor's elements as array/memoryview know them. Graph inputs and
// outputs are int8 or float32 in the models the host produces; the others follow
// the array module's letters. Bool is 'B' (CPython: '?', which MicroPython's
// memoryview lacks).
static char uformer_typecode(mf_type_t type) {
    switch (type) {
        case MF_INT8:
            return 'b';
        case MF_FLOAT32:
            return 'f';
        case MF_INT16:
            return 'h';
        case MF_INT32:
            return 'i';
        case MF_INT64:
            return 'q';
        default:
            // MF_BOOL: one byte per element.
            return 'B';
    }
}

// Graph input (is_input) or output `index_in` of the model, or IndexError naming the range.
static mf_tensor_t *uformer_io_tensor(uformer_model_obj_t *self, mp_obj_t index_in, bool is_input) {
    mp_int_t i = mp_obj_get_int(index_in);
    int n = is_input ? mf_num_inputs(self->model) : mf_num_outputs(self->model);
    mf_tensor_t *t = NULL;
    if (i >= 0 && i < n) {
        t = is_input ? mf_input(self->model, (int)i) : mf_output(self->model, (int)i);
    }
    if (t == NULL) {
        mp_raise_msg_varg(&mp_type_IndexError, MP_ERROR_TEXT("%s %d out of range (model has %d)"),
            is_input ? "input" : "output", (int)i, n);
    }
    return t;
}

// (shape tuple, typecode, scale, zero_point)
static mp_obj_t uformer_tensor_info(mf_tensor_t *t) {
    int ndim = mf_tensor_ndim(t);
    mp_obj_tuple_t *shape = MP_OBJ_TO_PTR(mp_obj_new_tuple(ndim, NULL));
    for (int d = 0; d < ndim; d++) {
        shape->items[d] = mp_obj_new_int(mf_tensor_dim(t, d));
    }
    char typecode = uformer_typecode(mf_tensor_type(t));
    mp_obj_t items[4] = {
        MP_OBJ_FROM_PTR(shape),
        mp_obj_new_str(&typecode, 1),
        mp_obj_new_float_from_f(mf_tensor_scale(t)),
        mp_obj_new_int(mf_tensor_zero_point(t)),
    };
    return mp_obj_new_tuple(4, items);
}

// A flat memoryview of the tensor's elements (zero copy).
static mp_obj_t uformer_tensor_view(uformer_model_obj_t *self, mf_tensor_t *t, bool writable) {
    char typecode = uformer_typecode(mf_tensor_type(t));
    size_t itemsize = mp_binary_get_size('@', typecode, NULL);
    size_t nitems = mf_tensor_bytes(t) / itemsize;
    uint8_t *data = mf_tensor_data(t);
    byte flags = writable ? MP_OBJ_ARRAY_TYPECODE_FLAG_RW : 0;
    // A caller's arena starts at its tag: the head of the caller's buffer.
    size_t tag = self->arena_obj != MP_OBJ_NULL ? UFORMER_ARENA_TAG : 0;
    uint8_t *head = self->arena - tag;
    uintptr_t start = (uintptr_t)head;
    uintptr_t offset = (uintptr_t)data - start;
    if (self->arena != NULL && (uintptr_t)data >= start && offset < self->arena_len + tag && offset % itemsize == 0) {
        // Point at the arena's head with an element offset, as memoryview slices do, so
        // the view alone keeps the arena alive for the GC.
        #if MICROPY_ENABLE_DYNRUNTIME
        // A native module cannot name mp_type_memoryview (py/dynruntime.h has no macro
        // for it): the view comes from the module's constructor (natmod/uformer_natmod.c),
        // which leaves the element offset, kept in `free`, to set here.
        mp_obj_array_t *view = MP_OBJ_TO_PTR(mp_obj_new_memoryview(typecode | flags, nitems, head));
        view->free = offset / itemsize;
        #else
        mp_obj_array_t *view = m_new_obj(mp_obj_array_t);
        mp_obj_memoryview_init(view, typecode | flags, offset / itemsize, nitems, head);
        #endif /* MICROPY_ENABLE_DYNRUNTIME */
        return MP_OBJ_FROM_PTR(view);
    }
    // A tensor outside the arena (constant data in the model bytes) is never written.
    return mp_obj_new_memoryview(typecode, nitems, data);
}

static mp_obj_t uformer_model_input_info(mp_obj_t self_in, mp_obj_t index_in) {
    return uformer_tensor_info(uformer_io_tensor(uformer_get_model(self_in), index_in, true));
}
static MP_DEFINE_CONST_FUN_OBJ_2(uformer_model_input_info_obj, uformer_model_input_info);

static mp_obj_t uformer_model_output_info(mp_obj_t self_in, mp_obj_t index_in) {
    return uformer_tensor_info(uformer_io_tensor(uformer_get_model(self_in), index_in, false));
}
static MP_DEFINE_CONST_FUN_OBJ_2(uformer_model_output_info_obj, uformer_model_output_info);

static mp_obj_t uformer_model_input(mp_obj_t self_in, mp_obj_t index_in) {
    uformer_model_obj_t *self = uformer_get_model(self_in);
    return uformer_tensor_view(self, uformer_io_tensor(self, index_in, true), true);
}
static MP_DEFINE_CONST_FUN_OBJ_2(uformer_model_input_obj, uformer_model_input);

static mp_obj_t uformer_model_output(mp_obj_t self_in, mp_obj_t index_in) {
    uformer_model_obj_t *self = uformer_get_model(self_in);
    return uformer_tensor_view(self, uformer_io_tensor(self, index_in, false), false);
}
static MP_DEFINE_CONST_FUN_OBJ_2(uformer_model_output_obj, uformer_model_output);

// The float32 items of a samples/mean/std argument (array('f') or a memoryview of one),
// or TypeError naming the argument. *n is the item count.
static const float *uformer_get_f32(mp_obj_t obj, size_t *n, const char *what) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(obj, &bufinfo, MP_BUFFER_READ);
    if (bufinfo.typecode != 'f') {
        mp_raise_msg_varg(&mp_type_TypeError, MP_ERROR_TEXT("%s must be array('f') (float32)"), what);
    }
    *n = bufinfo.len / sizeof(float);
    return bufinfo.buf;
}

// set_input(i, samples, mean, std, start=0): one window of raw samples, normalized per
// channel and quantized into input i by the engine (mf_write_window: the same bytes the
// host's microformer.engine writes for the same samples).
static mp_obj_t uformer_model_set_input(size_t n_args, const mp_obj_t *args) {
    uformer_model_obj_t *self = uformer_get_model(args[0]);
    mf_tensor_t *t = uformer_io_tensor(self, args[1], true);
    size_t count, n_mean, n_std;
    const float *samples = uformer_get_f32(args[2], &count, "samples");
    const float *mean = uformer_get_f32(args[3], &n_mean, "mean");
    const float *std = uformer_get_f32(args[4], &n_std, "std");
    mp_int_t start = n_args > 5 ? mp_obj_get_int(args[5]) : 0;
    if (start < 0) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("window start %d is negative"), (int)start);
    }
    if (n_mean != n_std) {
        mp_raise_msg_varg(&mp_type_ValueError, MP_ERROR_TEXT("mean has %u values, std %u: need one of each per channel"),
            (unsigned int)n_mean, (unsigned int)n_std);
    }
    mf_error_t err;
    mf_status_t st = mf_write_window(t, samples, count, (size_t)start, mean, std, n_mean, &err);
    if (st != MF_OK) {
        uformer_raise(st, &err);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(uformer_model_set_input_obj, 5, 6, uformer_model_set_input);

/******************************************************************************/
// invoke, metadata

// The Model, ready to run: uformer_get_model's check, and ValueError when the object
// holding the model bytes was resized (its bytes moved) after the load, since the engine
// reads weights from them on every run.
static uformer_model_obj_t *uformer_get_runnable(mp_obj_t self_in) {
    uformer_model_obj_t *self = uformer_get_model(self_in);
    mp_buffer_info_t bufinfo = { .buf = NULL, .len = 0 };
    if (!mp_get_buffer(self->buf_obj, &bufinfo, MP_BUFFER_READ) || bufinfo.buf != self->buf || bufinfo.len != self->len) {
        mp_raise_msg_varg(&mp_type_ValueError,
            MP_ERROR_TEXT("model buffer changed since load (was %u bytes, now %u): load the model again"),
            (unsigned int)self->len, (unsigned int)bufinfo.len);
    }
    return self;
}

static mp_obj_t uformer_model_invoke(mp_obj_t self_in) {
    mf_invoke(uformer_get_runnable(self_in)->model);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(uformer_model_invoke_obj, uformer_model_invoke);

#if MF_PROFILE
// profile(): invoke once, timing every node. (unit, ((op, fused, ticks), ...)), one entry
// per node in execution order; fused 0: the node runs its op, 1: it runs a fused chain
// (its ticks are the chain's), 2: that chain absorbed it (0 ticks). The unit is the
// port's best clock: "cpu" (time.ticks_cpu's counter: CPU cycles on stm32 and esp32)
// where the port has one, else "us" (ticks_us; the unix and qemu ports' ticks_cpu is 0).
#if MICROPY_ENABLE_DYNRUNTIME
// A native module reaches no HAL: time.ticks_us through the runtime (a call per read,
// which adds to every node's ticks).
static uint32_t uformer_clock_call(void *ctx) {
    return (uint32_t)mp_obj_get_int_truncated(mp_call_function_n_kw(MP_OBJ_FROM_PTR(ctx), 0, 0, NULL));
}
#else
static uint32_t uformer_clock_cpu(void *ctx) {
    (void)ctx;
    return (uint32_t)mp_hal_ticks_cpu();
}

static uint32_t uformer_clock_us(void *ctx) {
    (void)ctx;
    return (uint32_t)mp_hal_ticks_us();
}
#endif /* MICROPY_ENABLE_DYNRUNTIME */

static mp_obj_t uformer_model_profile(mp_obj_t self_in) {
    uformer_model_obj_t *self = uformer_get_runnable(self_in);
    int n = mf_num_nodes(self->model);
    const char *unit = "us";
    uint32_t mask = 0xffffffffu;
    #if MICROPY_ENABLE_DYNRUNTIME
    mp_obj_t dest[2];
    mp_load_method_maybe(mp_import_name(MP_QSTR_time, mp_const_none, MP_OBJ_NEW_SMALL_INT(0)), MP_QSTR_ticks_us, dest);
    if (dest[0] == MP_OBJ_NULL) {
        mp_raise_NotImplementedError(MP_ERROR_TEXT("profile() needs time.ticks_us, which this port lacks"));
    }
    mf_clock_fn now = uformer_clock_call;
    void *ctx = MP_OBJ_TO_PTR(dest[0]);
    // ticks_us wraps at MICROPY_PY_TIME_TICKS_PERIOD, which no port changes from its
    // default, the small-int range (dynruntime.h does not define it).
    mask = (uint32_t)MP_SMALL_INT_POSITIVE_MASK;
    #else
    // A stub ticks_cpu returns 0; a running cycle counter does not read 0 twice in a row.
    mf_clock_fn now = uformer_clock_us;
    void *ctx = NULL;
    if (mp_hal_ticks_cpu() != 0 || mp_hal_ticks_cpu() != 0) {
        now = uformer_clock_cpu;
        unit = "cpu";
    }
    #endif /* MICROPY_ENABLE_DYNRUNTIME */
    uint32_t *ticks = (uint32_t *)uformer_alloc(sizeof(uint32_t) * (size_t)n, "profile ticks");
    mf_invoke_profiled(self->model, now, ctx, ticks, n);
    mp_obj_tuple_t *nodes = MP_OBJ_TO_PTR(mp_obj_new_tuple(n, NULL));
    for (int i = 0; i < n; i++) {
        const char *name = mf_node_op_name(self->model, i);
        mp_obj_t e[3] = {
            mp_obj_new_str(name, strlen(name)),
            MP_OBJ_NEW_SMALL_INT(mf_node_fused(self->model, i)),
            mp_obj_new_int_from_uint(ticks[i] & mask),
        };
        nodes->items[i] = mp_obj_new_tuple(3, e);
    }
    m_del(uint32_t, ticks, n);
    mp_obj_t out[2] = { mp_obj_new_str(unit, strlen(unit)), MP_OBJ_FROM_PTR(nodes) };
    return mp_obj_new_tuple(2, out);
}
static MP_DEFINE_CONST_FUN_OBJ_1(uformer_model_profile_obj, uformer_model_profile);
#endif /* MF_PROFILE */

static mp_obj_t uformer_model_metadata(mp_obj_t self_in, mp_obj_t name_in) {
    uformer_model_obj_t *self = uformer_get_model(self_in);
    const char *name = mp_obj_str_get_str(name_in);
    const uint8_t *data;
    size_t size;
    mf_error_t err;
    mf_status_t st = mf_metadata(self->buf, self->len, name, &data, &size, &err);
    if (st == MF_ERR_ARG) {
        // No entry of that name.
        return mp_const_none;
    }
    if (st != MF_OK) {
        uformer_raise(st, &err);
    }
    return mp_obj_new_bytes(data, size);
}
static MP_DEFINE_CONST_FUN_OBJ_2(uformer_model_metadata_obj, uformer_model_metadata);

/******************************************************************************/
// Attributes: arena_size, num_inputs, num_outputs, ops (read-only)

static mp_obj_t uformer_model_ops(uformer_model_obj_t *self) {
    if (self->ops == MP_OBJ_NULL) {
        int n = mf_num_nodes(self->model);
        mp_obj_tuple_t *ops = MP_OBJ_TO_PTR(mp_obj_new_tuple(n, NULL));
        for (int i = 0; i < n; i++) {
            const char *name = mf_node_op_name(self->model, i);
            ops->items[i] = mp_obj_new_str(name, strlen(name));
        }
        self->ops = MP_OBJ_FROM_PTR(ops);
    }
    return self->ops;
}

static void uformer_model_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest) {
    if (dest[0] != MP_OBJ_NULL) {
        // Store or delete: the attributes are read-only (AttributeError).
        return;
    }
    // An if chain, not a switch: a native module's qstrs are not constants.
    if (attr == MP_QSTR_arena_size) {
        dest[0] = mp_obj_new_int_from_uint(mf_arena_used(uformer_get_model(self_in)->model));
    } else if (attr == MP_QSTR_num_inputs) {
        dest[0] = MP_OBJ_NEW_SMALL_INT(mf_num_inputs(uformer_get_model(self_in)->model));
    } else if (attr == MP_QSTR_num_outputs) {
        dest[0] = MP_OBJ_NEW_SMALL_INT(mf_num_outputs(uformer_get_model(self_in)->model));
    } else if (attr == MP_QSTR_ops) {
        dest[0] = uformer_model_ops(uformer_get_model(self_in));
    } else {
        // Methods: continue the lookup in locals_dict.
        dest[1] = MP_OBJ_SENTINEL;
    }
}

static void uformer_model_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    uformer_model_obj_t *self = MP_OBJ_TO_PTR(self_in);
    uint64_t tag = self->tag;
    if (self->arena_obj != MP_OBJ_NULL) {
        memcpy(&tag, self->arena - UFORMER_ARENA_TAG, UFORMER_ARENA_TAG);
    }
    if (tag != self->tag) {
        mp_printf(print, "<Model %u bytes, stale: its arena holds a newer model>", (unsigned int)self->len);
        return;
    }
    mp_printf(print, "<Model %u bytes, %d ops, arena %u bytes>", (unsigned int)self->len,
        mf_num_nodes(self->model), (unsigned int)mf_arena_used(self->model));
}

#if !MICROPY_ENABLE_DYNRUNTIME
static const mp_rom_map_elem_t uformer_model_locals_dict_table[] = {
    { MP_ROM_QSTR(MP_QSTR_input_info), MP_ROM_PTR(&uformer_model_input_info_obj) },
    { MP_ROM_QSTR(MP_QSTR_output_info), MP_ROM_PTR(&uformer_model_output_info_obj) },
    { MP_ROM_QSTR(MP_QSTR_input), MP_ROM_PTR(&uformer_model_input_obj) },
    { MP_ROM_QSTR(MP_QSTR_output), MP_ROM_PTR(&uformer_model_output_obj) },
    { MP_ROM_QSTR(MP_QSTR_set_input), MP_ROM_PTR(&uformer_model_set_input_obj) },
    { MP_ROM_QSTR(MP_QSTR_invoke), MP_ROM_PTR(&uformer_model_invoke_obj) },
    #if MF_PROFILE
    { MP_ROM_QSTR(MP_QSTR_profile), MP_ROM_PTR(&uformer_model_profile_obj) },
    #endif /* MF_PROFILE */
    { MP_ROM_QSTR(MP_QSTR_metadata), MP_ROM_PTR(&uformer_model_metadata_obj) },
};
static MP_DEFINE_CONST_DICT(uformer_model_locals_dict, uformer_model_locals_dict_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    uformer_model_type,
    MP_QSTR_Model,
    MP_TYPE_FLAG_NONE,
    make_new, uformer_model_make_new,
    print, uformer_model_print,
    attr, uformer_model_attr,
    locals_dict, &uformer_model_locals_dict
    );
#endif /* !MICROPY_ENABLE_DYNRUNTIME */

/******************************************************************************/
// Module: arena_size(buf), OPS, version

static mp_obj_t uformer_arena_size(mp_obj_t buf_in) {
    mp_buffer_info_t bufinfo;
    uformer_get_model_buffer(buf_in, &bufinfo);
    return mp_obj_new_int_from_uint(uformer_measure(bufinfo.buf, bufinfo.len));
}
static MP_DEFINE_CONST_FUN_OBJ_1(uformer_arena_size_obj, uformer_arena_size);

// OPS comes from the engine's table (which --ops-from trims), so it is built from it
// rather than duplicated here as a constant.
static mp_obj_t uformer_supported_ops(void) {
    int n = mf_num_supported_ops();
    mp_obj_tuple_t *ops = MP_OBJ_TO_PTR(mp_obj_new_tuple(n, NULL));
    for (int i = 0; i < n; i++) {
        const char *name = mf_supported_op(i);
        ops->items[i] = mp_obj_new_str(name, strlen(name));
    }
    return MP_OBJ_FROM_PTR(ops);
}

#if !MICROPY_ENABLE_DYNRUNTIME
// Built on access; the native module stores it in its globals at import instead.
static mp_obj_t uformer_getattr(mp_obj_t attr_in) {
    if (mp_obj_str_get_qstr(attr_in) != MP_QSTR_OPS) {
        // Not found: the runtime raises AttributeError (or, for the import machinery's
        // probe of __init__, carries on).
        return MP_OBJ_NULL;
    }
    return uformer_supported_ops();
}
static MP_DEFINE_CONST_FUN_OBJ_1(uformer_getattr_obj, uformer_getattr);

static MP_DEFINE_STR_OBJ(uformer_version_obj, MF_VERSION);

static const mp_rom_map_elem_t uformer_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__uformer) },
    { MP_ROM_QSTR(MP_QSTR___getattr__), MP_ROM_PTR(&uformer_getattr_obj) },
    { MP_ROM_QSTR(MP_QSTR_Model), MP_ROM_PTR(&uformer_model_type) },
    { MP_ROM_QSTR(MP_QSTR_arena_size), MP_ROM_PTR(&uformer_arena_size_obj) },
    { MP_ROM_QSTR(MP_QSTR_ARENA_TAG), MP_ROM_INT(UFORMER_ARENA_TAG) },
    { MP_ROM_QSTR(MP_QSTR_version), MP_ROM_PTR(&uformer_version_obj) },
};
static MP_DEFINE_CONST_DICT(uformer_module_globals, uformer_module_globals_table);

const mp_obj_module_t uformer_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&uformer_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__uformer, uformer_user_cmodule);
#endif /* !MICROPY_ENABLE_DYNRUNTIME */
