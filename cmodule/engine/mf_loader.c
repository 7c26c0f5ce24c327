/*
 * Model loading (= validation), memory planning and invocation.
 *
 * Arena layout (offsets from the arena start rounded up to MF_ALIGN):
 *   front: [mf_model_t][node table][data pointers][graph io lists][node io lists, packed]
 *          [io tensors][op params ...]
 *   then:  activations, which reuse the load-only tables at the arena's back
 *          ([planner records][prepare's tensor views][scratch offsets], written
 *          top-down while loading)
 * So the arena needs front + max(activations, load-only tables). The activation area is
 * placed by a greedy planner: largest buffer first, at the lowest offset that does not
 * overlap any placed buffer whose lifetime (first..last node using it) intersects its
 * own. Node scratch buffers take part with a lifetime of their one node; reshape-like
 * ops and in-place elementwise ops share their input's bytes. Between prepare and
 * planning, mf_fuse.c may fuse attention chains: their [heads, seq, seq] intermediates
 * (MF_T_FUSED) get no memory at all.
 *
 * This file: the arena's tables, then load = read the model's tables, prepare every
 * node (its op's prepare), fuse, plan, and place.
 */
#include "mf_loader.h"
#include "mf_fuse.h"
#include "mf_quant.h"

/* ---------------------------------------------------------------- arena tables */

static void *table_overflow(mf_meta_t *a, size_t bytes) {
    a->err->need = (MF_ALIGN - 1) + mf_align_up(a->used) + a->back + mf_align_up(bytes);
    a->err->need_exact = 0;
    mf_set_err(a->err, MF_ERR_ARENA, MF_TEXT("arena too small for the model tables: need more than %lu bytes, have %lu"),
        (unsigned long)a->err->need, (unsigned long)(a->cap + (MF_ALIGN - 1)));
    return NULL;
}

/* Zeroed front bytes at a multiple of `align` (a power of two <= MF_ALIGN). */
void *mf_meta_alloc_aligned(mf_meta_t *a, size_t bytes, size_t align) {
    size_t start = (a->used + (align - 1)) & ~(align - 1);
    /* Each difference is checked before it is taken: free = cap - back, then bytes <= free
     * (an unsigned cap - back - bytes that wrapped let a block overlap the back tables). */
    if (a->back > a->cap || bytes > a->cap - a->back || start > a->cap - a->back - bytes) {
        return table_overflow(a, bytes);
    }
    uint8_t *p = a->base + start;
    memset(p, 0, bytes);
    a->used = start + bytes;
    return p;
}

void *mf_meta_alloc(mf_meta_t *a, size_t bytes) {
    return mf_meta_alloc_aligned(a, bytes, MF_ALIGN);
}

void *mf_meta_alloc_back(mf_meta_t *a, size_t bytes) {
    /* bytes <= cap before rounding: a size within 7 of SIZE_MAX would round up to 0. */
    size_t sz = bytes <= a->cap ? mf_align_up(bytes) : a->cap + 1;
    size_t start = mf_align_up(a->used);
    if (sz > a->cap || a->back > a->cap - sz || start > a->cap - a->back - sz) {
        return table_overflow(a, bytes);
    }
    a->back += sz;
    uint8_t *p = a->base + a->cap - a->back;
    memset(p, 0, sz);
    return p;
}

void *mf_alloc(mf_ctx_t *ctx, size_t bytes) {
    mf_model_box_t *box = (mf_model_box_t *)ctx->m;
    return mf_meta_alloc(&box->load->meta, bytes);
}

static int find_op(int32_t code) {
    for (int i = 0; i < mf_op_count; i++) {
        if (mf_op_table[i].code == code) {
            return i;
        }
    }
    return -1;
}

/* Reads an int32 index vector into int16s, checking every index against n_tensors. */
static mf_status_t load_index_list(const mf_fbt_t *t, int field, mf_meta_t *meta, int n_tensors, int allow_absent,
    int16_t **out, uint8_t *count, mf_error_t *err, const char *what, int node) {
    mf_fbv_t v;
    if (mf_fbt_vec(t, field, 4, &v) == MF_FB_BAD) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(IO_LIST_BOUNDS), what, node);
    }
    if (v.count > MF_MAX_NODE_IO) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(IO_TOO_MANY_TENSORS),
            what, node, (unsigned)v.count, MF_MAX_NODE_IO);
    }
    int16_t *list = mf_meta_alloc(meta, (v.count ? v.count : 1) * sizeof(int16_t));
    if (!list) {
        return MF_ERR_ARENA;
    }
    for (uint32_t i = 0; i < v.count; i++) {
        int32_t ix = mf_fbv_i32(&v, i);
        if (ix < (allow_absent ? -1 : 0) || ix >= n_tensors) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(IO_TENSOR_INDEX), what, node, (int)ix, n_tensors);
        }
        list[i] = (int16_t)ix;
    }
    *out = list;
    *count = (uint8_t)v.count;
    return MF_OK;
}

/* A node's input then output tensor indices, read into one int16 list that is packed
 * right after the previous node's (2-byte aligned: no padding per list). */
static mf_status_t load_node_io(const mf_fbt_t *t, mf_meta_t *meta, int n_tensors, mf_node_t *node,
    mf_error_t *err, int index) {
    mf_fbv_t v[2];
    if (mf_fbt_vec(t, OP_INPUTS, 4, &v[0]) == MF_FB_BAD || mf_fbt_vec(t, OP_OUTPUTS, 4, &v[1]) == MF_FB_BAD) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NODE_IO_LIST_BOUNDS), index);
    }
    if (v[0].count > MF_MAX_NODE_IO || v[1].count > MF_MAX_NODE_IO) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(NODE_TOO_MANY_IO),
            index, (unsigned)v[0].count, (unsigned)v[1].count, MF_MAX_NODE_IO);
    }
    int16_t *list = mf_meta_alloc_aligned(meta, (v[0].count + v[1].count) * sizeof(int16_t), sizeof(int16_t));
    if (!list) {
        return MF_ERR_ARENA;
    }
    int16_t *at = list;
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < v[k].count; i++) {
            int32_t ix = mf_fbv_i32(&v[k], i);
            /* Only inputs may be absent (-1). */
            if (ix < (k == 0 ? -1 : 0) || ix >= n_tensors) {
                return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NODE_TENSOR_INDEX), index, (int)ix, n_tensors);
            }
            *at++ = (int16_t)ix;
        }
    }
    node->io = list;
    node->n_in = (uint8_t)v[0].count;
    node->n_out = (uint8_t)v[1].count;
    return MF_OK;
}

/* ---------------------------------------------------------------- load */

/* The model's top-level tables: subgraph 0 and the vectors the load walks. */
typedef struct {
    mf_fbt_t root;
    mf_fbt_t sg;
    mf_fbv_t opcodes, buffers, tensors, ops;
} mf_tables_t;

/* Load step 1: the file identifier, root table, schema version, subgraph 0 and limits. */
static mf_status_t read_tables(const uint8_t *buf, size_t len, mf_tables_t *tb, mf_error_t *err) {
    if (buf != NULL && len >= 8 && !(buf[4] == 'T' && buf[5] == 'F' && buf[6] == 'L' && buf[7] == '3')) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NOT_TFLITE_IDENTIFIER));
    }
    if (buf == NULL || mf_fb_root(buf, len, &tb->root) != MF_FB_OK) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NOT_TFLITE_ROOT), (unsigned long)len);
    }
    uint32_t version = mf_fbt_u32(&tb->root, MODEL_VERSION, 0);
    if (version != 3) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(SCHEMA_VERSION), (unsigned)version);
    }
    mf_fbv_t subgraphs;
    if (mf_fbt_vec(&tb->root, MODEL_OPCODES, 4, &tb->opcodes) == MF_FB_BAD ||
        mf_fbt_vec(&tb->root, MODEL_SUBGRAPHS, 4, &subgraphs) == MF_FB_BAD ||
        mf_fbt_vec(&tb->root, MODEL_BUFFERS, 4, &tb->buffers) == MF_FB_BAD) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(MODEL_TABLES_BOUNDS));
    }
    if (subgraphs.count < 1) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NO_SUBGRAPH));
    }
    if (mf_fbv_table(&tb->root, &subgraphs, 0, &tb->sg) != MF_FB_OK ||
        mf_fbt_vec(&tb->sg, SG_TENSORS, 4, &tb->tensors) == MF_FB_BAD ||
        mf_fbt_vec(&tb->sg, SG_OPERATORS, 4, &tb->ops) == MF_FB_BAD) {
        return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(SUBGRAPH_BOUNDS));
    }
    if (tb->tensors.count > MF_MAX_TENSORS || tb->ops.count > MF_MAX_NODES) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(MODEL_TOO_LARGE),
            (unsigned)tb->tensors.count, (unsigned)tb->ops.count, MF_MAX_TENSORS, MF_MAX_NODES);
    }
    return MF_OK;
}

/* Load step 2: the model struct, the load state and the per-node and per-tensor tables
 * at the two ends of the arena. */
static mf_status_t start_tables(const mf_tables_t *tb, const uint8_t *buf, size_t len, uint8_t *arena,
    size_t arena_len, mf_model_box_t **out, mf_error_t *err) {
    uint8_t *base = arena ? (uint8_t *)(((uintptr_t)arena + (MF_ALIGN - 1)) & ~(uintptr_t)(MF_ALIGN - 1)) : NULL;
    /* Budget as if the arena had the worst alignment, so a given size works at any address. */
    size_t cap = (arena && arena_len >= MF_ALIGN - 1) ? arena_len - (MF_ALIGN - 1) : 0;
    cap &= ~(size_t)(MF_ALIGN - 1);  /* the back tables grow down from an aligned end */
    mf_meta_t first = { base, cap, 0, 0, err };
    mf_model_box_t *box = mf_meta_alloc(&first, sizeof(mf_model_box_t));
    mf_load_t *ld = box ? mf_meta_alloc_back(&first, sizeof(mf_load_t)) : NULL;
    if (!ld) {
        return MF_ERR_ARENA;
    }
    /* From here on the allocator state lives in the load state, where mf_alloc finds it. */
    ld->meta = first;
    box->load = ld;
    mf_meta_t *meta = &ld->meta;
    mf_model_t *m = &box->model;
    m->buf = buf;
    m->len = len;
    m->arena = arena;
    m->arena_len = arena_len;
    m->n_tensors = (int16_t)tb->tensors.count;
    m->n_nodes = (int16_t)tb->ops.count;
    m->nodes = mf_meta_alloc(meta, (tb->ops.count ? tb->ops.count : 1) * sizeof(mf_node_t));
    m->data = mf_meta_alloc(meta, (tb->tensors.count ? tb->tensors.count : 1) * sizeof(uint8_t *));
    m->plan = mf_meta_alloc_back(meta, (tb->tensors.count ? tb->tensors.count : 1) * sizeof(mf_plan_t));
    if (!m->nodes || !m->data || !m->plan) {
        return MF_ERR_ARENA;
    }
    ld->root = tb->root;
    ld->subgraph = tb->sg;
    ld->buffers = tb->buffers;
    ld->tensors = tb->tensors;
    ld->operators = tb->ops;
    *out = box;
    return MF_OK;
}

/* Load step 3: every tensor validated (the planner keeps what it needs), the graph's
 * inputs and outputs. */
static mf_status_t read_tensors(mf_model_box_t *box, mf_error_t *err) {
    mf_model_t *m = &box->model;
    mf_meta_t *meta = &box->load->meta;
    for (int16_t i = 0; i < m->n_tensors; i++) {
        mf_tensor_t t;
        mf_status_t st = mf_parse_tensor(box, i, &t, err);
        if (st != MF_OK) {
            return st;
        }
        mf_plan_t *p = &m->plan[i];
        p->kind = t.kind;
        p->alias_of = -1;
        p->bytes = (uint32_t)t.count * t.elem_size;
        p->offset = t.kind == MF_T_CONST ? (uint32_t)(t.data - m->buf) : 0;
    }
    int16_t *list;
    const mf_fbt_t *sg = &box->load->subgraph;
    mf_status_t st = load_index_list(sg, SG_INPUTS, meta, m->n_tensors, 0, &list, &m->n_inputs, err, "graph inputs", 0);
    if (st != MF_OK) {
        return st;
    }
    m->inputs = list;
    st = load_index_list(sg, SG_OUTPUTS, meta, m->n_tensors, 0, &list, &m->n_outputs, err, "graph outputs", 0);
    if (st != MF_OK) {
        return st;
    }
    m->outputs = list;
    const size_t n_io = (size_t)m->n_inputs + m->n_outputs;
    m->io = mf_meta_alloc(meta, (n_io ? n_io : 1) * sizeof(mf_tensor_t));
    return m->io ? MF_OK : MF_ERR_ARENA;
}

/* The prepare step's tensor cache: one view per input and output of the widest node. It
 * is not kept in the tables (a field would grow the load state past its alignment), so
 * the planner's step sizes it the same way to reuse it. */
static size_t cache_bytes(const mf_model_t *m) {
    int max_io = 1;
    for (int i = 0; i < m->n_nodes; i++) {
        if (m->nodes[i].n_in + m->nodes[i].n_out > max_io) {
            max_io = m->nodes[i].n_in + m->nodes[i].n_out;
        }
    }
    return (size_t)max_io * sizeof(mf_tensor_t);
}

/* Load step 4: every node's op (code and version against the op table) and tensors. */
static mf_status_t read_nodes(mf_model_box_t *box, const mf_fbv_t *opcodes, mf_error_t *err) {
    mf_model_t *m = &box->model;
    mf_meta_t *meta = &box->load->meta;
    const mf_fbt_t *root = &box->load->root;
    const mf_fbt_t *sg = &box->load->subgraph;
    for (uint32_t i = 0; i < (uint32_t)m->n_nodes; i++) {
        mf_node_t *node = &m->nodes[i];
        mf_fbt_t ot, oc, opt;
        if (mf_fbv_table(sg, &box->load->operators, i, &ot) != MF_FB_OK) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NODE_TABLE_BOUNDS), (unsigned)i);
        }
        uint32_t opcode_index = mf_fbt_u32(&ot, OP_OPCODE, 0);
        if (opcode_index >= opcodes->count || mf_fbv_table(root, opcodes, opcode_index, &oc) != MF_FB_OK) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NODE_OPCODE_INDEX),
                (unsigned)i, (unsigned)opcode_index, (unsigned)opcodes->count);
        }
        int32_t code = mf_fbt_i32(&oc, OPCODE_BUILTIN, 0);
        int32_t dep = mf_fbt_i8(&oc, OPCODE_DEPRECATED, 0);
        if (dep > code) {
            code = dep;
        }
        int32_t ver = mf_fbt_i32(&oc, OPCODE_VERSION, 1);
        char tmp[40];  /* an op name (at most 32 characters) or "#<code>" */
        if (mf_fbt_has(&oc, OPCODE_CUSTOM)) {
            return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_TEXT("unsupported custom op at node %u"), (unsigned)i);
        }
        int op = find_op(code);
        if (op < 0) {
            return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_TEXT("unsupported op %s v%d at node %u"),
                mf_op_display_name(code, tmp, sizeof(tmp)), (int)ver, (unsigned)i);
        }
        if (ver < mf_op_table[op].min_version || ver > mf_op_table[op].max_version) {
            return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_TEXT("unsupported op %s v%d at node %u (engine runs v%d to v%d)"),
                mf_op_table[op].name, (int)ver, (unsigned)i, mf_op_table[op].min_version, mf_op_table[op].max_version);
        }
        node->op = (uint8_t)op;
        mf_status_t st = load_node_io(&ot, meta, m->n_tensors, node, err, (int)i);
        if (st != MF_OK) {
            return st;
        }
        if (mf_fbt_has(&ot, OP_INTERMEDIATES) || mf_fbt_has(&ot, OP_CUSTOM_OPTIONS) ||
            mf_fbt_u8(&ot, OP_OPTIONS2_TYPE, 0) != 0) {
            return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(NODE_INTERMEDIATES), (unsigned)i, mf_op_table[op].name);
        }
        if (mf_fbt_table(&ot, OP_OPTIONS, &opt) == MF_FB_BAD) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(NODE_OPTIONS_BOUNDS), (unsigned)i, mf_op_table[op].name);
        }
    }
    m->cache = mf_meta_alloc_back(meta, cache_bytes(m));
    m->scratch_at = mf_meta_alloc_back(meta, (size_t)(m->n_nodes ? m->n_nodes : 1) * sizeof(uint32_t));
    return m->cache && m->scratch_at ? MF_OK : MF_ERR_ARENA;
}

/* Load step 5: lifetimes, every node's prepare (with its tensors parsed again from the
 * model plus what planning knows so far), then fusion. */
static mf_status_t prepare_nodes(mf_model_box_t *box, mf_error_t *err) {
    mf_model_t *m = &box->model;
    mf_status_t st = mf_compute_lifetimes(m, err);
    if (st != MF_OK) {
        return st;
    }
    mf_ctx_t ctx = { m, err, 0 };
    for (int i = 0; i < m->n_nodes; i++) {
        mf_node_t *node = &m->nodes[i];
        ctx.node = i;
        for (int k = 0; k < node->n_in + node->n_out; k++) {
            int16_t ix = node->io[k];
            if (ix >= 0 && (st = mf_view_tensor(box, ix, &m->cache[k], err)) != MF_OK) {
                return st;
            }
        }
        const mf_op_t *op = &mf_op_table[node->op];
        if ((st = mf_check_io(&ctx, node, op)) != MF_OK || (st = op->prepare(&ctx, node)) != MF_OK) {
            return st;
        }
    }
    ctx.node = 0;
    return mf_fuse(&ctx);
}

/* Load step 6: the plan, every tensor's and scratch's bytes, the public io tensors. The
 * load-only tables at the arena's back are released to the activations. */
static mf_status_t place(mf_model_box_t *box, mf_error_t *err) {
    mf_model_t *m = &box->model;
    const mf_meta_t *meta = &box->load->meta;
    const uint8_t *buf = m->buf;
    m->meta_used = mf_align_up(meta->used);
    /* The arena total (MF_ALIGN - 1) + meta_used + activations must fit a size_t: on a
     * 32-bit board that bounds the activations below MF_PLAN_MAX. meta_used <= cap, which
     * is below the arena length, so this difference cannot wrap. */
    size_t room = MF_SIZE_MAX - (MF_ALIGN - 1) - m->meta_used;
    uint32_t limit = room < MF_PLAN_MAX ? (uint32_t)room : MF_PLAN_MAX;
    size_t act;
    /* The planner's work list, load-only: in the prepare step's tensor cache, which is
     * done with, when it fits (every zoo model: no byte of arena, nor of the tables
     * that mf_measure's scratch must hold), else at the back. */
    size_t order_bytes = (size_t)mf_plan_buffers(m) * sizeof(uint16_t);
    uint16_t *order = order_bytes <= cache_bytes(m) ? (uint16_t *)(void *)m->cache
        : mf_meta_alloc_back(&box->load->meta, order_bytes);
    if (order == NULL) {
        return MF_ERR_ARENA;
    }
    int over = mf_plan(m, order, limit, &act);
    if (over >= 0) {
        return mf_set_err(err, MF_ERR_UNSUPPORTED, MF_MSG(ARENA_ADDRESS_LIMIT),
            (unsigned long)((MF_ALIGN - 1) + m->meta_used + limit),
            over < m->n_tensors ? "tensor" : "scratch of node",
            over < m->n_tensors ? over : over - m->n_tensors);
    }
    m->act_bytes = act;
    m->used = (MF_ALIGN - 1) + m->meta_used + (act > meta->back ? act : meta->back);
    if (m->arena_len < m->used) {
        err->need = m->used;
        err->need_exact = 1;
        return mf_set_err(err, MF_ERR_ARENA, MF_TEXT("arena too small: need %lu bytes, have %lu"),
            (unsigned long)m->used, (unsigned long)m->arena_len);
    }
    m->act = meta->base + m->meta_used;
    for (int i = 0; i < m->n_tensors; i++) {
        const mf_plan_t *p = &m->plan[i];
        if (p->kind == MF_T_ARENA) {
            m->data[i] = m->act + p->offset;
        } else if (p->kind == MF_T_CONST) {
            m->data[i] = (uint8_t *)(uintptr_t)(buf + p->offset);  /* only read */
        } else {
            m->data[i] = NULL;
        }
    }
    for (int i = 0; i < m->n_tensors; i++) {
        if (m->plan[i].kind == MF_T_ALIAS) {
            m->data[i] = m->data[m->plan[i].alias_of];
        }
    }
    for (int i = 0; i < m->n_nodes; i++) {
        mf_node_t *n = &m->nodes[i];
        n->scratch = n->scratch_bytes ? m->act + m->scratch_at[i] : NULL;
    }
    for (int i = 0; i < m->n_inputs + m->n_outputs; i++) {
        int16_t ix = i < m->n_inputs ? m->inputs[i] : m->outputs[i - m->n_inputs];
        mf_status_t st = mf_view_tensor(box, ix, &m->io[i], err);
        if (st != MF_OK) {
            return st;
        }
        m->io[i].data = m->data[ix];
    }
    /* The load-only tables at the back are about to be overwritten by activations. */
    m->plan = NULL;
    m->cache = NULL;
    m->scratch_at = NULL;
    box->load = NULL;
    /* Inputs start at zero so a model invoked before any input is written is deterministic. */
    memset(m->act, 0, act);
    return MF_OK;
}

/* Load = validate and lay out: the steps above, in order; each returns its status with
 * err filled. */
static mf_status_t load(const uint8_t *buf, size_t len, uint8_t *arena, size_t arena_len,
    mf_model_t **out, mf_error_t *err) {
    err->msg[0] = 0;
    err->need = 0;
    err->need_exact = 0;
    mf_tables_t tb;
    mf_model_box_t *box = NULL;
    mf_status_t st = read_tables(buf, len, &tb, err);
    if (st == MF_OK) {
        st = start_tables(&tb, buf, len, arena, arena_len, &box, err);
    }
    if (st == MF_OK) {
        st = read_tensors(box, err);
    }
    if (st == MF_OK) {
        st = read_nodes(box, &tb.opcodes, err);
    }
    if (st == MF_OK) {
        st = prepare_nodes(box, err);
    }
    if (st == MF_OK) {
        st = place(box, err);
    }
    if (st == MF_OK) {
        *out = &box->model;
    }
    return st;
}

mf_status_t mf_model_init(const uint8_t *buf, size_t len, uint8_t *arena, size_t arena_len,
    mf_model_t **out, mf_error_t *err) {
    *out = NULL;
    return load(buf, len, arena, arena_len, out, err);
}

mf_status_t mf_arena_size(const uint8_t *buf, size_t len, uint8_t *scratch, size_t scratch_len,
    size_t *need, mf_error_t *err) {
    mf_model_t *m;
    mf_status_t st = load(buf, len, scratch, scratch_len, &m, err);
    if (st == MF_OK) {
        *need = m->used;
        return MF_OK;
    }
    if (st == MF_ERR_ARENA && err->need_exact) {
        *need = err->need;
        err->msg[0] = 0;
        return MF_OK;
    }
    *need = err->need;
    return st;
}

mf_status_t mf_measure(const uint8_t *buf, size_t len, const mf_scratch_alloc_t *a, size_t *need, mf_error_t *err) {
    size_t bound = 0;  /* the engine's latest lower bound for the tables */
    size_t scratch_len = MF_SCRATCH_START;
    *need = 0;
    for (int round = 0; round < MF_SCRATCH_ROUNDS; round++) {
        uint8_t *scratch = a->alloc(a->ctx, scratch_len);
        if (scratch == NULL && scratch_len > bound) {
            /* Doubling overshot what the lender has: the bound alone still progresses. */
            scratch_len = bound;
            scratch = scratch_len ? a->alloc(a->ctx, scratch_len) : NULL;
        }
        if (scratch == NULL && scratch_len > 0) {
            err->need = scratch_len;
            err->need_exact = 0;
            return mf_set_err(err, MF_ERR_ARENA, MF_TEXT("cannot allocate %lu bytes of scratch to size the model's arena"),
                (unsigned long)scratch_len);
        }
        mf_status_t st = mf_arena_size(buf, len, scratch, scratch_len, need, err);
        if (scratch != NULL) {
            a->release(a->ctx, scratch, scratch_len);
        }
        if (st != MF_ERR_ARENA) {
            return st;
        }
        /* Only the tables did not fit: each round re-runs the load only up to the first
         * table that does not fit, so many rounds are cheap. */
        bound = err->need;
        scratch_len = scratch_len <= SIZE_MAX / 2 && 2 * scratch_len > bound ? 2 * scratch_len : bound;
    }
    return mf_set_err(err, MF_ERR_ARENA, MF_TEXT("not enough memory to size the model's arena: its tables need more than %lu bytes"),
        (unsigned long)err->need);
}
