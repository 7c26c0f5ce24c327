/* Reduction kernels; see k_reduce.h. */
#include "k_reduce.h"

#include "mf_config.h"

#if MF_OP_MEAN

int mfk_reduce_plan(int ndim, const int32_t *dims, const uint8_t *reduced, mfk_reduce_t *plan,
    uint32_t *scratch) {
    int32_t ext[MFK_RED_MAX];
    int kind[MFK_RED_MAX];
    int n = 0;
    int32_t num_out = 1, per_out = 1;
    int empty = 0;
    for (int d = 0; d < ndim; ++d) {
        const int r = reduced[d] != 0;
        if (dims[d] == 0) {
            empty = 1;
        }
        if (r) {
            per_out *= dims[d];
        } else {
            num_out *= dims[d];
        }
        if (dims[d] == 1) {
            continue;   /* adds nothing to any index */
        }
        if (n > 0 && kind[n - 1] == r) {
            ext[n - 1] *= dims[d];
        } else {
            ext[n] = dims[d];
            kind[n] = r;
            n++;
        }
    }
    if (empty) {
        n = 0;
    } else if (n == 0) {
        ext[0] = 1;
        kind[0] = 0;
        n = 1;
    }
    int reduced_loops = 0;
    for (int i = 0; i < n; ++i) {
        reduced_loops += kind[i];
    }
    /* [kept..., reduced] or nothing reduced: each output is one contiguous run. */
    const int direct = empty || reduced_loops == 0 || (reduced_loops == 1 && kind[n - 1]);
    if (scratch) {
        *scratch = direct ? 0 : (uint32_t)num_out * 4u;
    }
    if (!plan) {
        return n;
    }
    plan->nloops = n;
    plan->num_out = num_out;
    plan->per_out = per_out;
    plan->empty = empty;
    plan->direct = direct;
    plan->run = direct && !empty ? per_out : 0;
    plan->inner_reduced = n > 0 ? kind[n - 1] : 0;
    plan->rows = n > 0 ? 1 : 0;
    /* Output offsets advance only along kept loops. */
    int32_t acc = 1;
    for (int i = n - 1; i >= 0; --i) {
        plan->loop[i].extent = ext[i];
        if (kind[i]) {
            plan->loop[i].out_stride = 0;
        } else {
            plan->loop[i].out_stride = acc;
            acc *= ext[i];
        }
        if (i < n - 1) {
            plan->rows *= ext[i];
        }
    }
    return n;
}

/* Advances the row odometer idx over the outer loops of the plan (all but the innermost)
 * and returns the output offset of the next row. */
static inline int32_t next_row(const mfk_reduce_t *b, int32_t *idx, int32_t oo) {
    for (int d = b->nloops - 2; d >= 0; --d) {
        oo += b->loop[d].out_stride;
        if (++idx[d] < b->loop[d].extent) {
            break;
        }
        idx[d] = 0;
        oo -= b->loop[d].out_stride * b->loop[d].extent;
    }
    return oo;
}

static inline int8_t mean_out(uint32_t sum, const mfk_mean_s8_t *p, const mf_qmx_t *q) {
    /* TFLM: static_cast<int32_t>(temp_sum - input_zero_point * num_elements_in_axis). */
    const int32_t shifted = (int32_t)(sum - p->zp_total);
    const int32_t o = mf_mul_by_qmx(shifted, q) + p->out_zp;
    return (int8_t)mf_clamp(o, -128, 127);
}

void mfk_mean_s8(const mfk_mean_s8_t *p, const mfk_reduce_t *b, const int8_t *x, int8_t *y,
    int32_t *scratch) {
    if (b->empty) {
        /* TFLM leaves T() = 0 in every output when the input has no elements. */
        for (int32_t o = 0; o < b->num_out; ++o) {
            y[o] = 0;
        }
        return;
    }
    const mf_qmx_t q = mf_qmx(p->out);
    if (b->direct) {
        const int32_t run = b->run;
        for (int32_t o = 0; o < b->num_out; ++o) {
            uint32_t s = 0;   /* int32 sum, wrapping like TFLM's */
            for (int32_t i = 0; i < run; ++i) {
                s += (uint32_t)(int32_t)x[i];
            }
            x += run;
            y[o] = mean_out(s, p, &q);
        }
        return;
    }
    uint32_t *acc = (uint32_t *)scratch;
    for (int32_t o = 0; o < b->num_out; ++o) {
        acc[o] = 0;
    }
    const int32_t n = b->loop[b->nloops - 1].extent;
    int32_t idx[MFK_RED_MAX] = {0};
    int32_t oo = 0;
    for (int32_t r = 0; r < b->rows; ++r) {
        if (b->inner_reduced) {
            uint32_t s = 0;
            for (int32_t i = 0; i < n; ++i) {
                s += (uint32_t)(int32_t)x[i];
            }
            acc[oo] += s;
        } else {
            uint32_t *a = acc + oo;
            for (int32_t i = 0; i < n; ++i) {
                a[i] += (uint32_t)(int32_t)x[i];
            }
        }
        x += n;
        oo = next_row(b, idx, oo);
    }
    for (int32_t o = 0; o < b->num_out; ++o) {
        y[o] = mean_out(acc[o], p, &q);
    }
}

void mfk_mean_f32(const mfk_reduce_t *b, const float *x, float *y) {
    if (b->empty) {
        for (int32_t o = 0; o < b->num_out; ++o) {
            y[o] = 0.0f;
        }
        return;
    }
    /* Float sums must be added in TFLM's order: input order, starting from 0.0f. */
    const float count = (float)b->per_out;
    if (b->direct) {
        const int32_t run = b->run;
        for (int32_t o = 0; o < b->num_out; ++o) {
            float s = 0.0f;
            for (int32_t i = 0; i < run; ++i) {
                s += x[i];
            }
            x += run;
            y[o] = s / count;
        }
        return;
    }
    for (int32_t o = 0; o < b->num_out; ++o) {
        y[o] = 0.0f;
    }
    const int32_t n = b->loop[b->nloops - 1].extent;
    int32_t idx[MFK_RED_MAX] = {0};
    int32_t oo = 0;
    for (int32_t r = 0; r < b->rows; ++r) {
        if (b->inner_reduced) {
            float s = y[oo];
            for (int32_t i = 0; i < n; ++i) {
                s += x[i];
            }
            y[oo] = s;
        } else {
            float *a = y + oo;
            for (int32_t i = 0; i < n; ++i) {
                a[i] += x[i];
            }
        }
        x += n;
        oo = next_row(b, idx, oo);
    }
    for (int32_t o = 0; o < b->num_out; ++o) {
        y[o] = y[o] / count;
    }
}

#endif /* MF_OP_MEAN */
