/*
 * int8 -> int8 SOFTMAX over the last axis, bit-identical to TFLM's
 * reference_ops::Softmax<int8_t, int8_t> (the gemmlowp fixed-point path TFLM uses for
 * int8; its LUT path is int16 only): per row, diff = x - max is rescaled by
 * (input_multiplier, input_left_shift) into Q5.26, exp_on_negative_values gives Q0.31,
 * the sum is accumulated in Q12.19, its reciprocal is taken with GetReciprocal and each
 * output is exp * reciprocal shifted to the 1/256 scale with zero point -128.
 *
 * exp() depends only on max - x in [0, 255], so eval keeps a table of exp over that
 * difference in the node's scratch, filled lazily: each distinct difference costs one
 * exp per invoke instead of two per element.
 */
#ifndef MF_K_SOFTMAX_H
#define MF_K_SOFTMAX_H

#include <stdint.h>

typedef struct {
    int32_t input_multiplier;   /* from PreprocessSoftmaxScaling(beta, input_scale, 5) */
    int32_t input_left_shift;   /* 0..31 */
    int32_t limit;              /* largest max - x whose exp counts: TFLM's diff >= diff_min
                                 * with diff_min = -CalculateInputRadius(5, input_left_shift, 31),
                                 * capped at 255 (the largest difference of int8 values) */
} mf_k_softmax_params_t;

/* Entries of the exp table: one per difference max - x in [0, limit]. */
static inline int32_t mf_k_softmax_table_len(const mf_k_softmax_params_t *p) {
    return p->limit + 1;
}

/* outer rows of depth elements each; table: mf_k_softmax_table_len(p) int32 of scratch,
 * marked empty once per invoke (reset), then any number of row batches (the fused
 * attention produces its rows one at a time). out may equal in (each row is read whole
 * before it is written). */
void mf_k_softmax_reset(const mf_k_softmax_params_t *p, int32_t *table);
void mf_k_softmax_rows(const int8_t *in, int8_t *out, int32_t outer, int32_t depth,
    const mf_k_softmax_params_t *p, int32_t *table);

/* One row without the table: each exp is computed once into exps[depth] (int32
 * scratch), which costs an exp per element instead of one per distinct difference but
 * no table memory; for callers with few rows. out may equal in. */
void mf_k_softmax_row_exps(const int8_t *in, int8_t *out, int32_t depth, const mf_k_softmax_params_t *p,
    int32_t *exps);

/* Whether to use the table: when an invoke has at least as many elements as the table
 * has entries. Fewer elements are no slower to exp one by one (each exp is computed
 * at most once either way) and need depth int32 of scratch instead of up to 1 KB; with
 * more, the table's reuse wins (measured: a 16x16 attention ran 25% slower end to end
 * with per-element exps). */
#ifndef MF_K_SOFTMAX_ELEMS_PER_ENTRY
#define MF_K_SOFTMAX_ELEMS_PER_ENTRY 1
#endif /* MF_K_SOFTMAX_ELEMS_PER_ENTRY */
static inline int mf_k_softmax_use_table(const mf_k_softmax_params_t *p, int32_t elements) {
    return elements >= MF_K_SOFTMAX_ELEMS_PER_ENTRY * mf_k_softmax_table_len(p);
}

#endif /* MF_K_SOFTMAX_H */
