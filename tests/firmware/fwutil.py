"""Shared by the firmware tests: seeded inputs for a model, the CPython reference outputs,
and the script that computes the same outputs under MicroPython (unix or a board)."""
import numpy as np

SAMPLES = 3


def inputs(engine, model, samples=SAMPLES, seed=0):
    """[sample][input] random int8 bytes filling each of the model's input tensors."""
    m = engine.Model(model)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        row = []
        for i in range(m.num_inputs):
            shape, code, _, _ = m.input_info(i)
            assert code == "b", f"input {i} is {code!r}; these tests feed int8 inputs"
            row.append(rng.integers(-128, 128, int(np.prod(shape)), dtype=np.int8).tobytes())
        out.append(row)
    return out


def reference(engine, model, samples):
    """[sample][output] bytes from the CPython _uformer."""
    m = engine.Model(model)
    res = []
    for row in samples:
        for i, data in enumerate(row):
            m.input(i).cast("B")[:] = data
        m.invoke()
        res.append([bytes(m.output(j)) for j in range(m.num_outputs)])
    return res


def pack(samples):
    return b"".join(b"".join(row) for row in samples)


def zoo_files(engine, names, samples):
    """For a ROMFS image: {"<name>.tflite": model, "<name>.in": packed inputs} of the zoo
    models `names`, and {name: reference outputs} the board must print for them."""
    import zoo

    files, expected = {}, {}
    for n in names:
        model = zoo.get(n)
        rows = inputs(engine, model, samples=samples)
        files[n + ".tflite"] = model
        files[n + ".in"] = pack(rows)
        expected[n] = reference(engine, model, rows)
    return files, expected


# Reads the model (from a file, or in place from /rom) and the packed inputs, runs every
# sample and prints "OUT sample output hex" lines plus the instructions/time per invoke.
SCRIPT = """
import _uformer, gc, time
MODEL = {model!r}
INPUTS = {inputs!r}
SAMPLES = {samples}
IN_PLACE = {in_place}
gc.collect()
free0 = gc.mem_free()
if IN_PLACE:
    f = open(MODEL, "rb")
    buf = memoryview(f)
else:
    with open(MODEL, "rb") as f:
        buf = f.read()
m = _uformer.Model(buf)
gc.collect()
print("USED", free0 - gc.mem_free(), "ARENA", m.arena_size, "MODEL", len(buf))
views = [m.input(i) for i in range(m.num_inputs)]
with open(INPUTS, "rb") as f:
    for s in range(SAMPLES):
        for v in views:
            v[:] = f.read(len(v))
        t = time.ticks_us()
        m.invoke()
        dt = time.ticks_diff(time.ticks_us(), t)
        for j in range(m.num_outputs):
            print("OUT", s, j, bytes(m.output(j)).hex())
        print("US", s, dt)
"""


def script(model_path, inputs_path, samples, in_place=False):
    return SCRIPT.format(model=model_path, inputs=inputs_path, samples=samples, in_place=in_place)


def parse(out):
    """(outputs [sample][output] bytes, {"USED":..., "ARENA":..., "MODEL":...}, [us per invoke])."""
    outputs, info, us = {}, {}, []
    for line in out.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "OUT":
            outputs.setdefault(int(f[1]), {})[int(f[2])] = bytes.fromhex(f[3]) if len(f) > 3 else b""
        elif f[0] == "USED":
            info = {f[k]: int(f[k + 1]) for k in range(0, len(f), 2)}
        elif f[0] == "US":
            us.append(int(f[2]))
    rows = [[outputs[s][j] for j in sorted(outputs[s])] for s in sorted(outputs)]
    return rows, info, us
