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

/* Buffer b: tensor b (b < n_tensors) or the scratch of node b - n_tensors. Sets its
 * lifetime and where its offset goes; returns its planned size, 0 when it is not planned
 * (not an arena tensor, or a node without scratch). */
static uint32_t buf_info(const mf_model_t *m, int b, int *first, int *last, uint32_t **offset) {
    if (b < m->n_tensors) {
        mf_plan_t *t = &m->plan[b];
        *first = t->first_use;
        *last = t->last_use;
        *offset = &t->offset;
        return t->kind == MF_T_ARENA ? plan_size(t->bytes) : 0;
    }
    const int n = b - m->n_tensors;
    *first = *last = n;
    *offset = &m->scratch_at[n];
    return m->nodes[n].scratch_bytes ? plan_size(m->nodes[n].scratch_bytes) : 0;
}

int mf_plan_buffers(const mf_model_t *m) {
    int k = 0;
    for (int b = 0; b < m->n_tensors + m->n_nodes; b++) {
        uint32_t *off;
        int first, last;
        k += buf_info(m, b, &first, &last, &off) != 0;
    }
    return k;
}

/* Places every buffer at an offset below `limit` (<= MF_PLAN_MAX) and sets *total to the
 * activation bytes. Returns -1, or the buffer (as buf_info numbers them) that would end
 * past `limit`: every offset + size stays <= limit, so no uint32_t sum here can wrap.
 *
 * `order` (mf_plan_buffers entries, caller-owned scratch) first lists the plannable
 * buffers largest first (ties by index keep the plan deterministic); then, as each is
 * placed, order[0..i) holds the placed ones by offset. One pass over those finds the
 * lowest offset where the buffer overlaps no placed buffer alive at the same time: a
 * conflicting buffer that overlaps the candidate makes every offset up to its end
 * infeasible, and later ones start no lower. O(buffers^2) in all, where scanning every
 * buffer for the largest and re-scanning after each move cost O(buffers^3) (half of a
 * 3-layer transformer's load). */
int mf_plan(mf_model_t *m, uint16_t *order, uint32_t limit, size_t *total_out) {
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
    int k = 0;
    for (int b = 0; b < nb; b++) {
        uint32_t *off;
        int first, last;
        const uint32_t size = buf_info(m, b, &first, &last, &off);
        if (size == 0) {
            continue;
        }
        /* Insertion by size, largest first; equal sizes stay in index order. */
        int j = k++;
        for (; j > 0 && buf_info(m, order[j - 1], &first, &last, &off) < size; j--) {
            order[j] = order[j - 1];
        }
        order[j] = (uint16_t)b;
    }
    size_t total = 0;
    for (int i = 0; i < k; i++) {
        const int pick = order[i];
        uint32_t *off;
        int first, last;
        const uint32_t size = buf_info(m, pick, &first, &last, &off);
        /* `at` is 0 or a placed buffer's end, so at <= limit; `pos` is where the pick
         * goes in the by-offset prefix. */
        uint32_t at = 0;
        int pos = 0;
        if (size > limit) {
            return pick;
        }
        for (int j = 0; j < i; j++) {
            uint32_t *o2;
            int f2, l2;
            const uint32_t s2 = buf_info(m, order[j], &f2, &l2, &o2);
            if (f2 <= last && l2 >= first && *o2 < at + size && at < *o2 + s2) {
                at = *o2 + s2;
                if (size > limit - at) {
                    return pick;
                }
            }
            if (*o2 <= at) {
                pos = j + 1;
            }
        }
        *off = at;
        if (at + size > total) {
            total = at + size;
        }
        for (int j = i; j > pos; j--) {
            order[j] = order[j - 1];
        }
        order[pos] = (uint16_t)pick;
    }
    *total_out = total;
    return -1;
}
