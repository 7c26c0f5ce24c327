"""The profiled invoke (mf_invoke_profiled, Model.profile): one entry per node named like
the model's ops (and like `microformer inspect`), a fused chain charged to the node that
runs it and the nodes it absorbed at 0, outputs byte-identical to a plain invoke, and the
engine's clock contract checked with a counting clock in a C harness. No test here reads
a real clock's numbers: timings are not a test's business."""
import json
import subprocess

import numpy as np
import pytest

import _uformer
import extbuild
from oracle import random_inputs
from test_engine_fusion import attention
from test_engine_planner import ENGINE

# (name, model builder): a fused attention chain, the same graph with a per-position MUL
# (must not fuse: every node runs its op), and one with Q, K, V as inputs.
MODELS = {
    "fused_dense": lambda: attention(1, front="dense"),
    "unfused_vector_mul": lambda: attention(2, front="dense", mul="vector"),
    "fused_inputs": lambda: attention(3, heads=2, seq=6, depth=4),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    return request.param, MODELS[request.param]()


def test_one_entry_per_node_named_like_the_ops(model):
    _, buf = model
    m = _uformer.Model(buf)
    unit, nodes = m.profile()
    assert unit == "ns"
    assert tuple(op for op, _, _ in nodes) == m.ops
    assert all(f in (0, 1, 2) and isinstance(t, int) and t >= 0 for _, f, t in nodes)


def test_fused_chain_is_charged_to_the_node_that_runs_it(model):
    name, buf = model
    _, nodes = _uformer.Model(buf).profile()
    runs = [i for i, (_, f, _) in enumerate(nodes) if f == 1]
    absorbed = [i for i, (_, f, _) in enumerate(nodes) if f == 2]
    if name.startswith("unfused"):
        assert runs == [] and absorbed == []
        return
    # QK^T, the scale and the softmax run row by row inside the PV matmul (mf_fuse.c).
    assert [nodes[i][0] for i in absorbed] == ["BATCH_MATMUL", "MUL", "SOFTMAX"]
    assert len(runs) == 1 and nodes[runs[0]][0] == "BATCH_MATMUL" and runs[0] > absorbed[-1]
    assert all(nodes[i][2] == 0 for i in absorbed)


def _outputs(m):
    return [bytes(m.output(i)) for i in range(m.num_outputs)]


def test_profiled_invoke_computes_the_same_bytes(model):
    _, buf = model
    plain, prof = _uformer.Model(buf), _uformer.Model(buf)
    rng = np.random.default_rng(0)
    # Profiled runs, then a plain one on the same Model: nothing is left behind. (The
    # inputs are written before every run: the planner may reuse an input's memory.)
    for run in ("profile", "profile", "profile", "invoke"):
        for i, x in enumerate(random_inputs(buf, rng)):
            for m in (plain, prof):
                np.frombuffer(m.input(i), dtype=x.dtype)[...] = x.reshape(-1)
        plain.invoke()
        getattr(prof, run)()
        assert _outputs(prof) == _outputs(plain)


def test_names_match_inspect(model, tmp_path, capsys):
    from microformer import cli

    _, buf = model
    p = tmp_path / "m.tflite"
    p.write_bytes(buf)
    assert cli.main(["inspect", str(p), "--no-sqnr", "--json"]) == 0
    ops = [o["op"] for o in json.loads(capsys.readouterr().out)["ops"]]
    _, nodes = _uformer.Model(buf).profile()
    assert [op for op, _, _ in nodes] == ops


def test_stale_model_refuses_to_profile():
    buf = MODELS["fused_dense"]()
    arena = bytearray(_uformer.arena_size(buf) + _uformer.ARENA_TAG)
    old = _uformer.Model(buf, arena=arena)
    _uformer.Model(buf, arena=arena)
    with pytest.raises(ValueError, match="another Model was loaded into this model's arena"):
        old.profile()


_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mf.h"

#if MF_PROFILE
/* A clock that advances 7 ticks per read and wraps around 2^32 during the run. */
static uint32_t counting(void *ctx) {
    uint32_t *c = ctx;
    uint32_t v = *c;
    *c += 7u;
    return v;
}
#endif /* MF_PROFILE */

int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    static uint8_t buf[1 << 16], arena[1 << 20];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    mf_model_t *m;
    mf_error_t err;
    if (mf_model_init(buf, len, arena, sizeof(arena), &m, &err) != MF_OK) {
        printf("error %s\n", err.msg);
        return 1;
    }
#if MF_PROFILE
    int n = mf_num_nodes(m);
    uint32_t *t = malloc(sizeof(uint32_t) * (size_t)(n + 1));
    for (int i = 0; i <= n; i++) {
        t[i] = 0xdeadbeefu;
    }
    const uint32_t start = 0xffffffe0u;
    uint32_t clock = start;
    mf_invoke_profiled(m, counting, &clock, t, n);
    printf("{\"reads\": %u, \"nodes\": [", (unsigned)((clock - start) / 7u));
    for (int i = 0; i < n; i++) {
        printf("%s[\"%s\", %d, %u]", i ? ", " : "", mf_node_op_name(m, i), mf_node_fused(m, i), (unsigned)t[i]);
    }
    uint32_t s[3] = { 1u, 1u, 0xdeadbeefu };
    mf_invoke_profiled(m, counting, &clock, s, 2);
    printf("], \"past_end\": %u, \"short\": [%u, %u, %u], \"range\": [%d, %d]}\n", (unsigned)t[n],
        (unsigned)s[0], (unsigned)s[1], (unsigned)s[2], mf_node_fused(m, -1), mf_node_fused(m, n));
#else
    mf_invoke(m);
    printf("{\"profile\": false}\n");
#endif /* MF_PROFILE */
    return 0;
}
"""


def _harness(tmp_path, flags, buf):
    cc = extbuild.host_cc()
    if cc is None:
        pytest.skip("no host C compiler (cc, gcc, clang) found")
    src = tmp_path / "harness.c"
    src.write_text(_HARNESS)
    exe = tmp_path / "harness"
    r = subprocess.run([cc, "-std=c99", "-Os", "-Wall", "-Werror", *flags, "-I", str(ENGINE), str(src),
                        str(ENGINE / "unity" / "mf_unity.c"), "-lm", "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    (tmp_path / "m.tflite").write_bytes(buf)
    out = subprocess.run([str(exe), str(tmp_path / "m.tflite")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_engine_clock_contract(tmp_path):
    """Two clock reads per node that runs, none for an absorbed node; ticks are uint32
    differences (right across the clock's wrap); only the first n_ticks entries are written."""
    buf = MODELS["fused_dense"]()
    r = _harness(tmp_path, [], buf)
    nodes = r["nodes"]
    assert [op for op, _, _ in nodes] == list(_uformer.Model(buf).ops)
    running = [t for _, f, t in nodes if f != 2]
    assert running and all(t == 7 for t in running)
    assert all(t == 0 for _, f, t in nodes if f == 2)
    assert r["reads"] == 2 * len(running)
    assert r["past_end"] == 0xDEADBEEF
    assert r["short"] == [7 if nodes[0][1] != 2 else 0, 7 if nodes[1][1] != 2 else 0, 0xDEADBEEF]
    assert r["range"] == [-1, -1]


def test_profiler_can_be_left_out(tmp_path):
    """MF_PROFILE 0: the engine and a plain invoke build and run without it."""
    assert _harness(tmp_path, ["-DMF_PROFILE=0"], MODELS["fused_dense"]()) == {"profile": False}
