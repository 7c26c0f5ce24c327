/*
 * The op table: one entry per MF_OP line of mf_ops.def whose op this build compiles
 * (MF_OP_ON(NAME), mf_config.h), in the list's order. _uformer.OPS lists it; a node
 * keeps its op's index here.
 */
#include "mf_internal.h"

#define MF_OP(NAME, code, vmin, vmax, min_in, max_in, n_out, options, f32, prepare, eval) \
    MF_WHEN(MF_OP_ON(NAME), { code, vmin, vmax, min_in, max_in, n_out, MF_OPTIONS_##options, #NAME, prepare, eval },)
#define MF_OPTIONS(member, tag)
const mf_op_t mf_op_table[] = {
#include "mf_ops.def"
    { 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL },  /* end (and a valid array with no op) */
};
#undef MF_OP
#undef MF_OPTIONS

const int mf_op_count = (int)(sizeof(mf_op_table) / sizeof(mf_op_table[0])) - 1;
