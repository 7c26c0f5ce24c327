/* Reduction kernels; see k_reduce.h. */
#include "k_reduce.h"

#include "mf_config.h"

#if MF_OP_ON(MEAN)

size_t mf_k_reduce_plan(int ndim, const int32_t *dims, const uint8_t *reduced, mf_k_reduce_t *plan) {
    mf_k_rloop_t *l = plan->loop;
    int n = 0;
    int32_t num_out = 1, per_out = 1;
    /* Until the strides are known, out_stride is 1 for kept loops and 0 for reduced ones. */
    for (int d = 0; d < ndim; ++d) {
        const int32_t e = dims[d];
        const int32_t keep = !reduced[d];
        if (keep) {
            num_out *= e;
        } else {
            per_out *= e;
        }
        if (e == 1) {
            continue;   /* adds nothing to any index */
        }
        if (n > 0 && l[n - 1].out_stride == keep) {
            l[n - 1].extent *= e;
        } else {
            l[n].extent = e;
            l[n].out_stride = keep;
            n++;
        }
    }
    /* Loops alternate, so [kept, reduced], one loop or none is every case where each
     * output is the sum of one contiguous run: one form for all of them. */
    plan->direct = n < 2 || (n == 2 && !l[1].out_stride);
    if (plan->direct) {
        l[0].extent = num_out;
        l[0].out_stride = 1;
        l[1].extent = per_out;
        l[1].out_stride = 0;
        n = 2;
    }
    plan->nloops = n;
    plan->num_out = num_out;
    plan->per_out = per_out;
    plan->inner = l[n - 1].extent;
    plan->inner_reduced = !l[n - 1].out_stride;
    plan->rows = num_out * per_out / plan->inner;
    /* Output offsets advance only along kept loops. */
    int32_t acc = 1;
    for (int i = n - 1; i >= 0; --i) {
        if (l[i].out_stride) {
            l[i].out_stride = acc;
            acc *= l[i].extent;
        }
    }
    return MF_K_REDUCE_BYTES(n);
}

/* Advances the row odometer idx over the outer loops of the plan (all but the innermost)
 * and returns the output offset of the next row. */
static inline int32_t next_row(const mf_k_reduce_t *b, int32_t *idx, int32_t oo) {
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

static inline int8_t mean_out(uint32_t sum, const mf_k_mean_s8_t *p, const mf_qmx_t *q) {
    /* TFLM: static_cast<int32_t>(temp_sum - input_zero_point * num_elements_in_axis). */
    const int32_t shifted = (int32_t)(sum - p->zp_total);
    const int32_t o = mf_mul_by_qmx(shifted, q) + p->out_zp;
    return (int8_t)mf_clamp(o, -128, 127);
}

void mf_k_mean_s8(const mf_k_mean_s8_t *p, const mf_k_reduce_t *b, const int8_t *x, int8_t *y,
    int32_t *scratch) {
    const mf_qmx_t q = mf_qmx(p->out);
    uint32_t *acc = (uint32_t *)scratch;
    const int32_t n = b->inner;
    int32_t idx[MF_K_RED_MAX] = {0};
    int32_t oo = 0;
    if (!b->direct) {
        for (int32_t o = 0; o < b->num_out; ++o) {
            acc[o] = 0;
        }
    }
    for (int32_t r = 0; r < b->rows; ++r) {
        if (b->inner_reduced) {
            uint32_t s = 0;   /* int32 sum, wrapping like TFLM's */
            for (int32_t i = 0; i < n; ++i) {
                s += (uint32_t)(int32_t)x[i];
            }
            x += n;
            if (b->direct) {
                y[r] = mean_out(s, p, &q);
                continue;   /* row r is output r: no odometer */
            }
            acc[oo] += s;
        } else {
            uint32_t *a = acc + oo;
            for (int32_t i = 0; i < n; ++i) {
                a[i] += (uint32_t)(int32_t)x[i];
            }
            x += n;
        }
        oo = next_row(b, idx, oo);
    }
    if (!b->direct) {
        for (int32_t o = 0; o < b->num_out; ++o) {
            y[o] = mean_out(acc[o], p, &q);
        }
    }
}

void mf_k_mean_f32(const mf_k_reduce_t *b, const float *x, float *y) {
    const int32_t n = b->inner;
    int32_t idx[MF_K_RED_MAX] = {0};
    int32_t oo = 0;
    for (int32_t o = 0; o < b->num_out; ++o) {
        y[o] = 0.0f;
    }
    /* Float sums must be added in TFLM's order: input order, starting from 0.0f. */
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
    const float count = (float)b->per_out;
    for (int32_t o = 0; o < b->num_out; ++o) {
        y[o] = y[o] / count;
    }
}

#endif /* MF_OP_ON(MEAN) */
