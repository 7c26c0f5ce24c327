/*
 * The whole engine as one translation unit (a "unity" build, as SQLite ships its
 * amalgamation): every port and the CPython extension compile this file instead of the
 * separate sources. GCC then sees all of the engine at once — it inlines single-use
 * static helpers across files and drops what no op of the build references — which
 * takes about 1.5 KB (4 %) off the Cortex-M4 flash of the engine (firmware issue #7:
 * flash budget). The sources stay separate files for reading and review.
 *
 * Consequences for the sources: file-scope `static` names and macros must be unique
 * across the engine (they share one scope here). tests/engine/test_engine_build.py
 * checks that this list names every engine source exactly once.
 */
#include "../mf_fuse.c"
#include "../mf_error.c"
#include "../mf_loader.c"
#include "../mf_planner.c"
#include "../mf_prepare.c"
#include "../mf_runtime.c"
#include "../mf_tflite.c"
#include "../mf_opnames.c"
#include "../mf_ops.c"
#include "../mf_quant.c"
#include "../mf_reader.c"
#include "../ops/op_activations.c"
#include "../ops/op_batch_matmul.c"
#include "../ops/op_conv.c"
#include "../ops/op_elementwise.c"
#include "../ops/op_fully_connected.c"
#include "../ops/op_pool.c"
#include "../ops/op_quantize.c"
#include "../ops/op_reduce.c"
#include "../ops/op_shape.c"
#include "../ops/op_softmax.c"
#include "../kernels/k_activations.c"
#include "../kernels/k_batch_matmul.c"
#include "../kernels/k_conv.c"
#include "../kernels/k_elementwise.c"
#include "../kernels/k_fully_connected.c"
#include "../kernels/k_pool.c"
#include "../kernels/k_quantize.c"
#include "../kernels/k_reduce.c"
#include "../kernels/k_shape.c"
#include "../kernels/k_softmax.c"
