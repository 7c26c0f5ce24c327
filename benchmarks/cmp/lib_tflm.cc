// TensorFlow Lite Micro (reference kernels, or CMSIS-NN kernels when built with them) behind
// the harness interface of bench.h. The resolver registers every op the microformer engine
// implements that TFLM has, so the linked size is "all ops" on both sides.
#include <new>
#include <string.h>

#include "bench.h"
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

constexpr int kNumOps = 28;
using Resolver = tflite::MicroMutableOpResolver<kNumOps>;

// Storage for the objects built inside lib_init, so their construction is counted as
// part of TFLM's load, as an application pays it (no static constructors).
alignas(Resolver) uint8_t resolver_storage[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *interpreter = nullptr;
char *log_msg = nullptr;
size_t log_msg_len = 0;

void log_to_msg(const char *s) {
    if (log_msg == nullptr || log_msg_len == 0) {
        return;
    }
    size_t have = strlen(log_msg);
    size_t n = strlen(s);
    if (have + n >= log_msg_len) {
        n = log_msg_len - 1 - have;
    }
    memcpy(log_msg + have, s, n);
    log_msg[have + n] = '\0';
}

void copy_msg(char *msg, size_t msg_len, const char *src) {
    if (msg[0] != '\0') {
        return;  // TFLM's own log already says why
    }
    size_t n = strlen(src);
    if (n >= msg_len) {
        n = msg_len - 1;
    }
    memcpy(msg, src, n);
    msg[n] = '\0';
}

TfLiteStatus register_ops(Resolver *r) {
    const TfLiteStatus s[] = {
        r->AddFullyConnected(), r->AddReshape(), r->AddExpandDims(), r->AddSqueeze(),
        r->AddTranspose(), r->AddStridedSlice(), r->AddConcatenation(), r->AddPad(),
        r->AddBatchMatMul(), r->AddSoftmax(), r->AddLogistic(), r->AddTanh(),
        r->AddHardSwish(), r->AddRelu(), r->AddRelu6(), r->AddConv2D(),
        r->AddDepthwiseConv2D(), r->AddMaxPool2D(), r->AddAveragePool2D(), r->AddAdd(),
        r->AddSub(), r->AddMul(), r->AddSquaredDifference(), r->AddMean(),
        r->AddRsqrt(), r->AddQuantize(), r->AddDequantize(), r->AddNeg(),
    };
    static_assert(sizeof(s) / sizeof(s[0]) == kNumOps, "kNumOps must match the ops added");
    for (TfLiteStatus x : s) {
        if (x != kTfLiteOk) {
            return x;
        }
    }
    return kTfLiteOk;
}

}  // namespace

extern "C" {

const char *lib_name(void) {
#ifdef CMSIS_NN
    return "tflite-micro + CMSIS-NN";
#else
    return "tflite-micro reference";
#endif  // CMSIS_NN
}

int lib_init(const uint8_t *buf, size_t len, uint8_t *arena, size_t arena_len, char *msg,
             size_t msg_len) {
    (void)len;  // TFLM trusts the buffer (no length); the host checked it converts
    log_msg = msg;
    log_msg_len = msg_len;
    RegisterDebugLogCallback(log_to_msg);
    Resolver *r = new (resolver_storage) Resolver();
    if (register_ops(r) != kTfLiteOk) {
        copy_msg(msg, msg_len, "op registration failed");
        return 1;
    }
    const tflite::Model *m = tflite::GetModel(buf);
    if (m->version() != TFLITE_SCHEMA_VERSION) {
        copy_msg(msg, msg_len, "model schema version differs from TFLM's");
        return 1;
    }
    interpreter = new (interpreter_storage) tflite::MicroInterpreter(m, *r, arena, arena_len);
    if (interpreter->AllocateTensors() != kTfLiteOk) {
        copy_msg(msg, msg_len, "AllocateTensors failed");
        return 1;
    }
    return 0;
}

size_t lib_arena_used(void) {
    return interpreter->arena_used_bytes();
}

int lib_num_inputs(void) {
    return static_cast<int>(interpreter->inputs_size());
}

int lib_num_outputs(void) {
    return static_cast<int>(interpreter->outputs_size());
}

uint8_t *lib_input(int i, size_t *len) {
    TfLiteTensor *t = interpreter->input(i);
    *len = t->bytes;
    return reinterpret_cast<uint8_t *>(t->data.raw);
}

const uint8_t *lib_output(int i, size_t *len) {
    TfLiteTensor *t = interpreter->output(i);
    *len = t->bytes;
    return reinterpret_cast<const uint8_t *>(t->data.raw);
}

int lib_invoke(char *msg, size_t msg_len) {
    msg[0] = '\0';
    log_msg = msg;
    log_msg_len = msg_len;
    if (interpreter->Invoke() != kTfLiteOk) {
        copy_msg(msg, msg_len, "Invoke failed");
        return 1;
    }
    return 0;
}

// No heap and no exceptions on these targets: TFLM's classes have virtual destructors,
// whose deleting variants reference operator delete, never called here.
void __cxa_pure_virtual(void) {
    bench_write("ERR pure virtual call\n");
    bench_exit(1);
}

}  // extern "C"

void operator delete(void *p) noexcept {
    (void)p;
}

void operator delete(void *p, size_t n) noexcept {
    (void)p;
    (void)n;
}
