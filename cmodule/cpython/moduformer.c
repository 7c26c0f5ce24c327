/*
 * _uformer for CPython: the same Python API as the MicroPython module (docs/architecture.md), over
 * the same engine. This is the host-side simulator and the test harness's engine.
 *
 * Ownership: a Model holds a buffer export of the model bytes (so a bytearray cannot be
 * resized under it) and owns its arena (PyMem), or, with arena=, a writable export of the
 * caller's buffer. Tensor views returned by input()/output() keep their Model alive.
 *
 * arena=: the first ARENA_TAG bytes of the caller's buffer name the Model using it (its
 * address); a newer Model on the same buffer overwrites the engine's tables, so every
 * method checks the tag first and a stale Model raises ValueError instead of letting the
 * engine follow another model's tables (same rule as cmodule/micropython/moduformer.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <time.h>

#include "mf.h"

/* Bytes at the start of a caller-provided arena that name the Model using it. */
#define ARENA_TAG ((size_t)sizeof(uint64_t))

typedef struct {
    PyObject_HEAD
    Py_buffer model;      /* export of the model bytes, released in dealloc */
    uint8_t *arena;       /* PyMem-owned, or inside `user_arena` after its tag */
    size_t arena_len;
    Py_buffer user_arena; /* writable export of arena= (obj NULL when the arena is ours) */
    uint64_t tag;
    mf_model_t *m;
} ModelObject;

/* 0, or -1 with ValueError when a newer Model took over this model's caller arena. */
static int check_owner(ModelObject *self) {
    if (self->user_arena.obj != NULL) {
        uint64_t tag;
        memcpy(&tag, self->arena - ARENA_TAG, ARENA_TAG);
        if (tag != self->tag) {
            PyErr_SetString(PyExc_ValueError, "another Model was loaded into this model's arena: load it again");
            return -1;
        }
    }
    return 0;
}

typedef struct {
    PyObject_HEAD
    ModelObject *owner;   /* strong reference */
    mf_tensor_t *t;
    int writable;
    Py_ssize_t shape;     /* element count, for the 1-D buffer */
    Py_ssize_t itemsize;
} TensorObject;

static PyTypeObject ModelType;
static PyTypeObject TensorType;

static PyObject *raise_status(mf_status_t st, const mf_error_t *err) {
    PyObject *exc = PyExc_ValueError;
    if (st == MF_ERR_UNSUPPORTED) {
        exc = PyExc_NotImplementedError;
    } else if (st == MF_ERR_ARENA) {
        exc = PyExc_MemoryError;
    }
    PyErr_SetString(exc, err->msg);
    return NULL;
}

/* The engine's dry-run sizing (mf_measure) with PyMem scratch. */
static void *scratch_alloc(void *ctx, size_t bytes) {
    return PyMem_Malloc(bytes ? bytes : 1);
}

static void scratch_release(void *ctx, void *p, size_t bytes) {
    PyMem_Free(p);
}

static const mf_scratch_alloc_t scratch_lender = { scratch_alloc, scratch_release, NULL };

static mf_status_t dry_run(const uint8_t *buf, size_t len, size_t *need, mf_error_t *err) {
    return mf_measure(buf, len, &scratch_lender, need, err);
}

static int get_model_buffer(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) != 0) {
        return -1;
    }
    return 0;
}

static PyObject *Model_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"model", "arena_size", "arena", NULL};
    PyObject *buf_obj;
    PyObject *arena_obj = Py_None;
    PyObject *user_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$O", kwlist, &buf_obj, &arena_obj, &user_obj)) {
        return NULL;
    }
    Py_ssize_t want = -1;
    if (arena_obj != Py_None) {
        if (user_obj != Py_None) {
            return PyErr_Format(PyExc_ValueError, "give arena or arena_size, not both (the arena's length is its size)");
        }
        want = PyLong_AsSsize_t(arena_obj);
        if (want == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (want < 0) {
            return PyErr_Format(PyExc_ValueError, "arena_size must be >= 0, got %zd", want);
        }
    }
    ModelObject *self = (ModelObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (get_model_buffer(buf_obj, &self->model) != 0) {
        Py_DECREF(self);
        return NULL;
    }
    const uint8_t *buf = self->model.buf;
    size_t len = (size_t)self->model.len;
    mf_error_t err;
    size_t need;
    mf_status_t st;
    size_t tag = 0;
    if (user_obj != Py_None) {
        if (PyObject_GetBuffer(user_obj, &self->user_arena, PyBUF_WRITABLE) != 0) {
            self->user_arena.obj = NULL;
            Py_DECREF(self);
            PyErr_SetString(PyExc_TypeError, "arena must be a writable buffer (bytearray)");
            return NULL;
        }
        uint8_t *a = self->user_arena.buf;
        size_t alen = (size_t)self->user_arena.len;
        if (alen < ARENA_TAG) {
            Py_DECREF(self);
            return PyErr_Format(PyExc_ValueError, "arena of %zu bytes is smaller than its %zu-byte tag", alen, ARENA_TAG);
        }
        if (a < buf + len && buf < a + alen) {
            Py_DECREF(self);
            return PyErr_Format(PyExc_ValueError, "arena overlaps the model bytes");
        }
        tag = ARENA_TAG;
        self->tag = (uint64_t)(uintptr_t)self;
        /* Any Model that used this buffer before is stale from here on, even if this load fails. */
        memcpy(a, &self->tag, ARENA_TAG);
        self->arena = NULL;  /* not ours: dealloc must not free it */
        need = alen - ARENA_TAG;
        st = mf_model_init(buf, len, a + ARENA_TAG, need, &self->m, &err);
        if (st == MF_OK) {
            self->arena = a + ARENA_TAG;
            self->arena_len = need;
        }
    } else {
        if (want < 0) {
            st = dry_run(buf, len, &need, &err);
            if (st != MF_OK) {
                Py_DECREF(self);
                return raise_status(st, &err);
            }
        } else {
            need = (size_t)want;
        }
        self->arena = PyMem_Malloc(need ? need : 1);
        if (self->arena == NULL) {
            Py_DECREF(self);
            return PyErr_NoMemory();
        }
        self->arena_len = need;
        st = mf_model_init(buf, len, self->arena, need, &self->m, &err);
    }
    if (st == MF_ERR_ARENA && (!err.need_exact || tag)) {
        /* The given arena could not even hold the tables: report the exact need (with the
         * tag a caller's arena also holds). */
        size_t exact;
        mf_error_t err2;
        if (dry_run(buf, len, &exact, &err2) == MF_OK) {
            snprintf(err.msg, sizeof(err.msg), "arena too small: need %zu bytes, have %zu", exact + tag, need + tag);
        }
    }
    if (st != MF_OK) {
        Py_DECREF(self);
        return raise_status(st, &err);
    }
    return (PyObject *)self;
}

static void Model_dealloc(ModelObject *self) {
    if (self->model.obj) {
        PyBuffer_Release(&self->model);
    }
    if (self->user_arena.obj) {
        PyBuffer_Release(&self->user_arena);
    } else {
        PyMem_Free(self->arena);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static mf_tensor_t *get_tensor(ModelObject *self, PyObject *arg, int output) {
    if (check_owner(self) != 0) {
        return NULL;
    }
    long i = PyLong_AsLong(arg);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int n = output ? mf_num_outputs(self->m) : mf_num_inputs(self->m);
    mf_tensor_t *t = (i >= 0 && i < n) ? (output ? mf_output(self->m, (int)i) : mf_input(self->m, (int)i)) : NULL;
    if (t == NULL) {
        PyErr_Format(PyExc_IndexError, "%s %ld out of range (model has %d)", output ? "output" : "input", i, n);
    }
    return t;
}

static const char *typecode(mf_type_t type) {
    switch (type) {
        case MF_INT8: return "b";
        case MF_FLOAT32: return "f";
        case MF_INT16: return "h";
        case MF_INT32: return "i";
        case MF_INT64: return "q";
        case MF_BOOL: return "?";
        default: return "B";
    }
}

static PyObject *tensor_info(ModelObject *self, PyObject *arg, int output) {
    mf_tensor_t *t = get_tensor(self, arg, output);
    if (t == NULL) {
        return NULL;
    }
    int nd = mf_tensor_ndim(t);
    PyObject *shape = PyTuple_New(nd);
    if (shape == NULL) {
        return NULL;
    }
    for (int i = 0; i < nd; i++) {
        PyTuple_SET_ITEM(shape, i, PyLong_FromLong(mf_tensor_dim(t, i)));
    }
    return Py_BuildValue("(Nsdl)", shape, typecode(mf_tensor_type(t)), (double)mf_tensor_scale(t),
        (long)mf_tensor_zero_point(t));
}

static PyObject *tensor_view(ModelObject *self, PyObject *arg, int output) {
    mf_tensor_t *t = get_tensor(self, arg, output);
    if (t == NULL) {
        return NULL;
    }
    TensorObject *tv = PyObject_New(TensorObject, &TensorType);
    if (tv == NULL) {
        return NULL;
    }
    Py_INCREF(self);
    tv->owner = self;
    tv->t = t;
    tv->writable = !output;
    size_t bytes = mf_tensor_bytes(t);
    size_t item = 1;
    switch (mf_tensor_type(t)) {
        case MF_FLOAT32: case MF_INT32: item = 4; break;
        case MF_INT16: item = 2; break;
        case MF_INT64: item = 8; break;
        default: item = 1; break;
    }
    tv->itemsize = (Py_ssize_t)item;
    tv->shape = (Py_ssize_t)(bytes / item);
    PyObject *mv = PyMemoryView_FromObject((PyObject *)tv);
    Py_DECREF(tv);
    return mv;
}

static PyObject *Model_input_info(ModelObject *self, PyObject *arg) {
    return tensor_info(self, arg, 0);
}

static PyObject *Model_output_info(ModelObject *self, PyObject *arg) {
    return tensor_info(self, arg, 1);
}

static PyObject *Model_input(ModelObject *self, PyObject *arg) {
    return tensor_view(self, arg, 0);
}

static PyObject *Model_output(ModelObject *self, PyObject *arg) {
    return tensor_view(self, arg, 1);
}

static PyObject *Model_invoke(ModelObject *self, PyObject *unused) {
    if (check_owner(self) != 0) {
        return NULL;
    }
    mf_invoke(self->m);
    Py_RETURN_NONE;
}

#if MF_PROFILE
/* The profile's clock: a monotonic nanosecond count, wrapping modulo 2^32 (the engine
 * takes differences in uint32_t, so a node may take up to 4.29 s). */
static uint32_t clock_ns(void *ctx) {
    (void)ctx;
    struct timespec ts;
#if defined(CLOCK_MONOTONIC)
    clock_gettime(CLOCK_MONOTONIC, &ts);
#else
    timespec_get(&ts, TIME_UTC);
#endif /* CLOCK_MONOTONIC */
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

/* profile(): invoke once, timing every node. ("ns", ((op, fused, ticks), ...)), one entry
 * per node in execution order: fused 0 for a node that runs its op, 1 for one that runs
 * a fused chain (its ticks are the chain's), 2 for a node that chain absorbed (0 ticks). */
static PyObject *Model_profile(ModelObject *self, PyObject *unused) {
    if (check_owner(self) != 0) {
        return NULL;
    }
    int n = mf_num_nodes(self->m);
    uint32_t *ticks = PyMem_Malloc(sizeof(uint32_t) * (size_t)(n ? n : 1));
    if (ticks == NULL) {
        return PyErr_NoMemory();
    }
    mf_invoke_profiled(self->m, clock_ns, NULL, ticks, n);
    PyObject *nodes = PyTuple_New(n);
    for (int i = 0; nodes != NULL && i < n; i++) {
        PyObject *e = Py_BuildValue("(siI)", mf_node_op_name(self->m, i), mf_node_fused(self->m, i),
            (unsigned int)ticks[i]);
        if (e == NULL) {
            Py_CLEAR(nodes);
            break;
        }
        PyTuple_SET_ITEM(nodes, i, e);
    }
    PyMem_Free(ticks);
    return nodes == NULL ? NULL : Py_BuildValue("(sN)", "ns", nodes);
}
#endif /* MF_PROFILE */

/* A C-contiguous float32 export of obj ("samples", "mean", "std") into view, or -1 with
 * TypeError. Its element count is view->len / 4. */
static int get_f32_buffer(PyObject *obj, Py_buffer *view, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if ((f[0] == '<' || f[0] == '=' || f[0] == '@') && f[1] == 'f' && f[2] == 0) {
        f++;
    }
    if (strcmp(f, "f") != 0 || view->itemsize != 4) {
        PyErr_Format(PyExc_TypeError, "%s must be float32 (array('f') or numpy float32), got format '%s'",
            what, view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *Model_set_input(ModelObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"i", "samples", "mean", "std", "start", NULL};
    PyObject *index, *samples_obj, *mean_obj, *std_obj;
    Py_ssize_t start = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO|n", kwlist, &index, &samples_obj, &mean_obj, &std_obj, &start)) {
        return NULL;
    }
    mf_tensor_t *t = get_tensor(self, index, 0);
    if (t == NULL) {
        return NULL;
    }
    if (start < 0) {
        return PyErr_Format(PyExc_ValueError, "window start %zd is negative", start);
    }
    Py_buffer x, mean, std;
    if (get_f32_buffer(samples_obj, &x, "samples") != 0) {
        return NULL;
    }
    if (get_f32_buffer(mean_obj, &mean, "mean") != 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    if (get_f32_buffer(std_obj, &std, "std") != 0) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&mean);
        return NULL;
    }
    mf_error_t err;
    mf_status_t st = MF_ERR_ARG;
    if (mean.len != std.len) {
        snprintf(err.msg, sizeof(err.msg), "mean has %zd values, std %zd: need one of each per channel",
            mean.len / 4, std.len / 4);
    } else {
        st = mf_write_window(t, x.buf, (size_t)x.len / 4, (size_t)start, mean.buf, std.buf, (size_t)mean.len / 4, &err);
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&mean);
    PyBuffer_Release(&std);
    if (st != MF_OK) {
        return raise_status(st, &err);
    }
    Py_RETURN_NONE;
}

static PyObject *Model_metadata(ModelObject *self, PyObject *arg) {
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL) {
        return NULL;
    }
    const uint8_t *data;
    size_t size;
    mf_error_t err;
    mf_status_t st = mf_metadata(self->model.buf, (size_t)self->model.len, name, &data, &size, &err);
    if (st == MF_ERR_ARG) {
        Py_RETURN_NONE;
    }
    if (st != MF_OK) {
        return raise_status(st, &err);
    }
    return PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
}

static PyObject *Model_get_arena_size(ModelObject *self, void *closure) {
    if (check_owner(self) != 0) {
        return NULL;
    }
    return PyLong_FromSize_t(mf_arena_used(self->m));
}

static PyObject *Model_get_num_inputs(ModelObject *self, void *closure) {
    if (check_owner(self) != 0) {
        return NULL;
    }
    return PyLong_FromLong(mf_num_inputs(self->m));
}

static PyObject *Model_get_num_outputs(ModelObject *self, void *closure) {
    if (check_owner(self) != 0) {
        return NULL;
    }
    return PyLong_FromLong(mf_num_outputs(self->m));
}

static PyObject *Model_get_ops(ModelObject *self, void *closure) {
    if (check_owner(self) != 0) {
        return NULL;
    }
    int n = mf_num_nodes(self->m);
    PyObject *t = PyTuple_New(n);
    if (t == NULL) {
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        PyTuple_SET_ITEM(t, i, PyUnicode_FromString(mf_node_op_name(self->m, i)));
    }
    return t;
}

static PyMethodDef Model_methods[] = {
    {"input_info", (PyCFunction)Model_input_info, METH_O, "(shape, typecode, scale, zero_point) of input i"},
    {"output_info", (PyCFunction)Model_output_info, METH_O, "(shape, typecode, scale, zero_point) of output i"},
    {"input", (PyCFunction)Model_input, METH_O, "writable memoryview of input tensor i (in the arena)"},
    {"output", (PyCFunction)Model_output, METH_O, "read-only memoryview of output tensor i"},
    {"set_input", (PyCFunction)(void (*)(void))Model_set_input, METH_VARARGS | METH_KEYWORDS,
        "set_input(i, samples, mean, std, start=0): normalize and quantize a float32 window into input i "
        "(the engine's mf_write_window)"},
    {"invoke", (PyCFunction)Model_invoke, METH_NOARGS, "run the model once"},
#if MF_PROFILE
    {"profile", (PyCFunction)Model_profile, METH_NOARGS,
        "invoke once, timing each node: (unit, ((op, fused, ticks), ...)); unit 'ns', fused 0 own op, "
        "1 runs a fused chain (charged with it), 2 absorbed by a later fused node (0 ticks)"},
#endif /* MF_PROFILE */
    {"metadata", (PyCFunction)Model_metadata, METH_O, "bytes of metadata entry `name`, or None"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Model_getset[] = {
    {"arena_size", (getter)Model_get_arena_size, NULL, "arena bytes this model uses", NULL},
    {"num_inputs", (getter)Model_get_num_inputs, NULL, NULL, NULL},
    {"num_outputs", (getter)Model_get_num_outputs, NULL, NULL, NULL},
    {"ops", (getter)Model_get_ops, NULL, "op names in execution order", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_uformer.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_dealloc = (destructor)Model_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Model(model_bytes, arena_size=None, *, arena=None): an int8 .tflite model loaded into the engine",
    .tp_methods = Model_methods,
    .tp_getset = Model_getset,
    .tp_new = Model_new,
};

/* ---- tensor views: a buffer exporter that keeps its Model alive ---- */

static int Tensor_getbuffer(TensorObject *self, Py_buffer *view, int flags) {
    if (check_owner(self->owner) != 0) {
        return -1;
    }
    if ((flags & PyBUF_WRITABLE) && !self->writable) {
        PyErr_SetString(PyExc_BufferError, "output tensors are read-only");
        return -1;
    }
    view->obj = (PyObject *)self;
    Py_INCREF(self);
    view->buf = mf_tensor_data(self->t);
    view->len = self->shape * self->itemsize;
    view->readonly = !self->writable;
    view->itemsize = self->itemsize;
    view->format = (flags & PyBUF_FORMAT) ? (char *)typecode(mf_tensor_type(self->t)) : NULL;
    view->ndim = 1;
    view->shape = (flags & PyBUF_ND) ? &self->shape : NULL;
    view->strides = (flags & PyBUF_STRIDES) ? &self->itemsize : NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static void Tensor_dealloc(TensorObject *self) {
    Py_XDECREF(self->owner);
    PyObject_Free(self);
}

static PyBufferProcs Tensor_as_buffer = {
    .bf_getbuffer = (getbufferproc)Tensor_getbuffer,
    .bf_releasebuffer = NULL,
};

static PyTypeObject TensorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_uformer._Tensor",
    .tp_basicsize = sizeof(TensorObject),
    .tp_dealloc = (destructor)Tensor_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_as_buffer = &Tensor_as_buffer,
};

/* ---- module ---- */

static PyObject *mod_arena_size(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (get_model_buffer(arg, &view) != 0) {
        return NULL;
    }
    size_t need;
    mf_error_t err;
    mf_status_t st = dry_run(view.buf, (size_t)view.len, &need, &err);
    PyBuffer_Release(&view);
    if (st != MF_OK) {
        return raise_status(st, &err);
    }
    return PyLong_FromSize_t(need);
}

static PyMethodDef module_methods[] = {
    {"arena_size", mod_arena_size, METH_O, "exact arena bytes a model needs (dry run)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef uformer_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_uformer",
    .m_doc = "microformer engine (CPython build)",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__uformer(void) {
    if (PyType_Ready(&ModelType) < 0 || PyType_Ready(&TensorType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&uformer_module);
    if (m == NULL) {
        return NULL;
    }
    int n = mf_num_supported_ops();
    PyObject *ops = PyTuple_New(n);
    if (ops == NULL) {
        Py_DECREF(m);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        PyTuple_SET_ITEM(ops, i, PyUnicode_FromString(mf_supported_op(i)));
    }
    Py_INCREF(&ModelType);
    if (PyModule_AddObject(m, "Model", (PyObject *)&ModelType) < 0 ||
        PyModule_AddObject(m, "OPS", ops) < 0 ||
        PyModule_AddIntConstant(m, "ARENA_TAG", (long)ARENA_TAG) < 0 ||
        PyModule_AddStringConstant(m, "version", MF_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
