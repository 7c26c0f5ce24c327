/*
 * Memory planning: tensor lifetimes, then a greedy placement of every activation and
 * node scratch in the activation area: largest buffer first, at the lowest offset that
 * does not overlap any placed buffer whose lifetime (first..last node using it)
 * intersects its own. Aliases keep their root alive as long as they are used.
 */
#include "mf_loader.h"

/* Lifetimes: first_use = producing node (-1 for graph inputs), last_use = last reader
 * (n_nodes for graph outputs). Also checks single producers and topological order. */
mf_status_t mf_compute_lifetimes(mf_model_t *m, mf_error_t *err) {
    for (int i = 0; i < m->n_tensors; i++) {
        m->plan[i].first_use = INT16_MAX;
        m->plan[i].last_use = -2;
    }
    for (int i = 0; i < m->n_inputs; i++) {
        mf_plan_t *t = &m->plan[m->inputs[i]];
        if (t->kind == MF_T_CONST) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(GRAPH_INPUT_CONSTANT), i, m->inputs[i]);
        }
        t->first_use = -1;
        t->last_use = -1;
    }
    for (int n = 0; n < m->n_nodes; n++) {
        const mf_node_t *node = &m->nodes[n];
        for (int k = 0; k < node->n_in; k++) {
            int16_t ix = mf_node_input(node, k);
            if (ix < 0) {
                continue;
            }
            mf_plan_t *t = &m->plan[ix];
            if (t->kind != MF_T_CONST && t->first_use == INT16_MAX) {
                return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(READ_BEFORE_WRITE), n, ix);
            }
            t->last_use = (int16_t)n;
        }
        for (int k = 0; k < node->n_out; k++) {
            int16_t ix = mf_node_output(node, k);
            mf_plan_t *t = &m->plan[ix];
            if (t->kind == MF_T_CONST) {
                return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(WRITES_CONSTANT), n, ix);
            }
            if (t->first_use != INT16_MAX) {
                return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(WRITTEN_TWICE), ix, n);
            }
            t->first_use = (int16_t)n;
            if (t->last_use < n) {
                t->last_use = (int16_t)n;
            }
        }
    }
    for (int i = 0; i < m->n_outputs; i++) {
        mf_plan_t *t = &m->plan[m->outputs[i]];
        if (t->kind != MF_T_CONST && t->first_use == INT16_MAX) {
            return mf_set_err(err, MF_ERR_MALFORMED, MF_MSG(OUTPUT_NEVER_WRITTEN), i, m->outputs[i]);
        }
        t->last_use = m->n_nodes;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        mf_plan_t *t = &m->plan[i];
        if (t->kind == MF_T_ARENA && t->first_use == INT16_MAX) {
            t->kind = MF_T_UNUSED;
        }
    }
    return MF_OK;
}

/* ---------------------------------------------------------------- planning */

/* Bytes rounded up to MF_ALIGN, or UINT32_MAX (more than any plan limit) when rounding
 * would pass MF_PLAN_MAX and wrap. Tensors are at most MF_MAX_TENSOR_BYTES; scratch sizes
 * come from op prepares, so they are checked here rather than trusted. */
static uint32_t plan_size(uint32_t bytes) {
    return bytes > MF_PLAN_MAX ? UINT32_MAX : (uint32_t)mf_align_up(bytes);
}

/* A plannable buffer: tensor i (0 <= i < n_tensors) or scratch of node i - n_tensors. */
static int buf_info(const mf_model_t *m, int b, uint32_t *size, int *first, int *last, uint32_t **offset) {
    if (b < m->n_tensors) {
        mf_plan_t *t = &m->plan[b];
        if (t->kind != MF_T_ARENA) {
            return 0;
        }
        *size = plan_size(t->bytes);
        *first = t->first_use;
        *last = t->last_use;
        *offset = &t->offset;
        return 1;
    }
    mf_node_t *n = &m->nodes[b - m->n_tensors];
    if (n->scratch_bytes == 0) {
        return 0;
    }
    *size = plan_size(n->scratch_bytes);
    *first = *last = b - m->n_tensors;
    *offset = &m->scratch_at[b - m->n_tensors];
    return 1;
}

/* Places every buffer at an offset below `limit` (<= MF_PLAN_MAX) and sets *total to the
 * activation bytes. Returns -1, or the buffer (as buf_info numbers them) that would end
 * past `limit`: every offset + size stays <= limit, so no uint32_t sum here can wrap. */
int mf_plan(mf_model_t *m, uint32_t limit, size_t *total_out) {
    int nb = m->n_tensors + m->n_nodes;
    /* Aliases keep their root alive as long as they are used. */
    for (int i = 0; i < m->n_tensors; i++) {
        mf_plan_t *t = &m->plan[i];
        if (t->kind == MF_T_ALIAS) {
            mf_plan_t *r = &m->plan[t->alias_of];
            if (t->last_use > r->last_use) {
                r->last_use = t->last_use;
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        uint32_t size, *off;
        int first, last;
        if (buf_info(m, b, &size, &first, &last, &off)) {
            *off = PLACE_NONE;
        }
    }
    size_t total = 0;
    for (;;) {
        /* Largest unplaced buffer; ties by index keep the plan deterministic. */
        int pick = -1;
        uint32_t pick_size = 0;
        for (int b = 0; b < nb; b++) {
            uint32_t size, *off;
            int first, last;
            if (buf_info(m, b, &size, &first, &last, &off) && *off == PLACE_NONE && (pick < 0 || size > pick_size)) {
                pick = b;
                pick_size = size;
            }
        }
        if (pick < 0) {
            break;
        }
        uint32_t size, *off;
        int first, last;
        buf_info(m, pick, &size, &first, &last, &off);
        uint32_t at = 0;
        /* Move past every conflicting placed buffer until a gap fits; each pass either
         * finds no conflict or moves `at` strictly up, so this ends after <= nb passes.
         * `at` is 0 or a placed buffer's end, so at <= limit. */
        for (int moved = 1; moved;) {
            if (size > limit - at) {
                return pick;
            }
            moved = 0;
            for (int b = 0; b < nb; b++) {
                uint32_t s2, *o2;
                int f2, l2;
                if (!buf_info(m, b, &s2, &f2, &l2, &o2) || *o2 == PLACE_NONE) {
                    continue;
                }
                if (f2 > last || l2 < first) {
                    continue;
                }
                if (*o2 < at + size && at < *o2 + s2) {
                    at = *o2 + s2;
                    moved = 1;
                }
            }
        }
        *off = at;
        if (at + size > total) {
            total = at + size;
        }
    }
    *total_out = total;
    return -1;
}
