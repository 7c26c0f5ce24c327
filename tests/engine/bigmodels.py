"""Small model files whose activations add up to gigabytes, for the planner's limits.

Each has 64 MB int8 tensors (MF_MAX_TENSOR_BYTES) that stay alive together: graph inputs
that are also graph outputs, plus ADD nodes whose outputs are graph outputs, so the
planner cannot reuse any of their bytes. The files themselves are a few KB.
"""
from tflbuild import Graph

MB64 = 1 << 26


def past_4gib(nodes=True):
    """64 tensors of 64 MB alive at once: 4 GiB of activations, 8 bytes past what 32-bit
    offsets can place (the last tensor ends at 2^32). With nodes, 32 inputs (also
    outputs) and 32 ADD outputs (x + x); without, 64 inputs that are outputs too."""
    g = Graph()
    if not nodes:
        ts = [g.tensor((MB64,), "int8", scale=0.1, zp=0) for _ in range(64)]
        g.inputs, g.outputs = list(ts), list(ts)
        return g.build()
    xs = [g.tensor((MB64,), "int8", scale=0.1, zp=0) for _ in range(32)]
    ys = [g.tensor((MB64,), "int8", scale=0.2, zp=0) for _ in range(32)]
    for x, y in zip(xs, ys):
        g.op("ADD", [x, x], [y])
    g.inputs, g.outputs = list(xs), xs + ys
    return g.build()


def near_4gib(short=1032):
    """Activations of 2^32 - short bytes: 63 tensors of 64 MB and one of 64 MB - short.
    Plannable with 64-bit size_t (the arena is 4 GiB and a few KB); on a 32-bit board
    the tables in front of the activations push the total past SIZE_MAX."""
    g = Graph()
    ts = [g.tensor((MB64,), "int8", scale=0.1, zp=0) for _ in range(63)]
    ts.append(g.tensor((MB64 - short,), "int8", scale=0.1, zp=0))
    g.inputs, g.outputs = list(ts), list(ts)
    return g.build()
