/*
 * FULLY_CONNECTED (int8): graph glue for kernels/k_fully_connected.c.
 *
 * Semantics are TFLM's fully_connected.cc with reference_integer_ops::FullyConnected
 * (per-tensor weights) and FullyConnectedPerChannel (one scale per output unit).
 * Prepare keeps only the multipliers (int32) and shifts (int8) per unit, 5 bytes each;
 * the kernel applies the input offset inside its dot products and reads the bias from
 * the model.
 */
#include "mf_config.h"

#if MF_OP_ON(FULLY_CONNECTED)

#include "mf_internal.h"
#include "mf_quant.h"
#include "kernels/k_fully_connected.h"

enum { FC_OPT_ACTIVATION = 0, FC_OPT_WEIGHTS_FORMAT = 1, FC_OPT_KEEP_NUM_DIMS = 2 };

mf_status_t mf_fc_prepare(mf_ctx_t *ctx, mf_node_t *node) {
    mf_model_t *m = ctx->m;
    mf_status_t st;
    mf_fbt_t opt;
    if ((st = mf_node_options(ctx, node, &opt)) != MF_OK) {
        return st;
    }
    int act = mf_fbt_i8(&opt, FC_OPT_ACTIVATION, 0);
    int wfmt = mf_fbt_u8(&opt, FC_OPT_WEIGHTS_FORMAT, 0);
    int keep = mf_fbt_u8(&opt, FC_OPT_KEEP_NUM_DIMS, 0) != 0;
    if (wfmt != 0) {
        return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(FC_WEIGHTS_FORMAT), wfmt);
    }
    if ((st = mf_check_activation(ctx, act)) != MF_OK) {
        return st;
    }

    const mf_tensor_t *in = mf_node_in(m, node, 0);
    const mf_tensor_t *w = mf_node_in(m, node, 1);
    const mf_tensor_t *bias = mf_node_in(m, node, 2);
    const mf_tensor_t *out = mf_node_out(m, node, 0);
    if ((st = mf_check_s8(ctx, in, "input")) != MF_OK || (st = mf_check_s8(ctx, out, "output")) != MF_OK) {
        return st;
    }
    if ((st = mf_check_type(ctx, w, "filter", MF_INT8)) != MF_OK || (st = mf_check_const(ctx, w, "filter")) != MF_OK) {
        return st;
    }
    if (w->ndim != 2) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(FC_FILTER_DIMS), w->ndim);
    }
    const int32_t units = w->dims[0];
    const int32_t depth = w->dims[1];
    if (units < 1 || depth < 1) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(FC_FILTER_EMPTY), (int)units, (int)depth);
    }
    if ((st = mf_check_depth(ctx, depth, MF_K_MAX_DEPTH)) != MF_OK) {
        return st;
    }

    /* Filter quantization: per-tensor, or one scale per unit along dim 0. */
    if ((st = mf_check_filter(ctx, w, bias, units, 0)) != MF_OK) {
        return st;
    }
    const int per_channel = w->nq > 1;

    /* Shapes: TFLite's rule. Batches are all leading dims of the input. */
    if (in->ndim < 1 || in->count < 1 || in->count % depth != 0) {
        return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(FC_INPUT_COUNT), (int)in->count, (int)depth);
    }
    const int32_t batches = in->count / depth;
    /* Output: [batches, units], or the input's shape with units last (keep_num_dims). */
    int32_t want[MF_MAX_DIMS];
    int wn = 2;
    want[0] = batches;
    if (keep) {
        if (in->dims[in->ndim - 1] != depth) {
            return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(FC_INPUT_DEPTH), (int)in->dims[in->ndim - 1], (int)depth);
        }
        wn = in->ndim;
        memcpy(want, in->dims, sizeof(int32_t) * (size_t)(wn - 1));
    }
    want[wn - 1] = units;
    if ((st = mf_check_shape(ctx, out, "output", wn, want)) != MF_OK) {
        return st;
    }

    /* One block: the struct, then the multipliers, then the shifts. */
    const size_t nqm = (size_t)(per_channel ? units : 1);
    mf_fc_params_t *p = mf_alloc(ctx, sizeof(*p) + nqm * (sizeof(int32_t) + sizeof(int8_t)));
    if (!p) {
        return MF_ERR_ARENA;
    }
    int32_t *mult = (int32_t *)(void *)(p + 1);
    int8_t *shift = (int8_t *)(mult + nqm);
    if ((st = mf_activation_clamp_s8(ctx, act, out->scale, out->zero_point, &p->act_min, &p->act_max)) != MF_OK) {
        return st;
    }

    /* One multiplier per unit (FullyConnectedPerChannel) or one for all: input_scale *
     * filter_scale / output_scale in double, as GetQuantizedConvolutionMultipler forms it
     * in the TFLM oracle (tflite-micro on PyPI; the older kernel_util.cc in the source tree
     * takes the product in float: measured, 3 of 6.1M outputs of per-tensor models differed
     * with that, none with the double one). The filter's scale is its scale 0. */
    const mf_real_t in_scale = mf_real_from_float(in->scale), out_scale = mf_real_from_float(out->scale);
    for (int32_t u = 0; u < (int32_t)nqm; u++) {
        const mf_real_t prod = mf_real_mul(in_scale, mf_real_from_float(mf_tensor_qscale(w, u)));
        if (!per_channel && bias) {
            /* TFLM refuses a bias scale that does not match input * filter scale:
             * std::abs(prod - (double)bias_scale) / (double)output_scale <= 0.02. The bias
             * scale is unchecked: a negative one adds, and +-inf or NaN (read as >= 2^600)
             * fail the test as in double. 0x3F947AE147AE147B is the double 0.02. */
            const mf_real_t diff = mf_real_addsub(prod, mf_real_from_float(bias->scale), !(bias->scale < 0.0f));
            if (!(mf_real_div(diff, out_scale) <= 0x3F947AE147AE147Bu)) {
                return mf_fail(ctx, MF_ERR_MALFORMED, MF_MSG(FC_BIAS_SCALE));
            }
        }
        const mf_qm_t qm = mf_quantize_multiplier(mf_real_div(prod, out_scale));
        /* TFLM applies multipliers with x * (1 << shift): larger shifts would overflow. */
        if (qm.shift > 30) {
            return mf_fail(ctx, MF_ERR_UNSUPPORTED, MF_MSG(FC_UNIT_SHIFT), (int)u, (int)qm.shift);
        }
        mult[u] = qm.multiplier;
        shift[u] = (int8_t)qm.shift;
    }

    p->batches = batches;
    p->depth = depth;
    p->units = units;
    p->in_offset = -in->zero_point;
    p->out_offset = out->zero_point;
    p->per_channel = per_channel;
    p->mult = mult;
    p->shift = shift;
    node->params = p;
    return MF_OK;
}

void mf_fc_eval(mf_model_t *m, const mf_node_t *node) {
    const mf_fc_params_t *p = node->params;
    mf_k_fully_connected_s8(p, (const int8_t *)mf_in_data(m, node, 0), (const int8_t *)mf_in_data(m, node, 1),
        (const int32_t *)(const void *)mf_in_data(m, node, 2), (int8_t *)mf_out_data(m, node, 0));
}


#endif /* MF_OP_ON(FULLY_CONNECTED) */
