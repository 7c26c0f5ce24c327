"""The planner's offset and size arithmetic at the 2^32 boundary.

A few-KB model can declare activations that add up to more than 32-bit offsets (or a
32-bit board's size_t) can hold. Such a model must be refused with the number before any
arena is allocated, never planned with wrapped offsets into an under-sized arena (which
made the engine write past the arena's end). The same sums are checked in a 32-bit build
of the engine (i686 cross compiler, when installed) and in a 64-bit build whose size_t
bound is set to 2^32 - 1 (MF_SIZE_MAX, always).
"""
import re
import shutil
import subprocess

import pytest

import _uformer
import bigmodels
import extbuild
ENGINE = extbuild.ROOT / "cmodule" / "engine"

LIMIT_RE = re.compile(r"arena needs more than (\d+) bytes \(tensor (\d+) does not fit\), "
                      r"the most this build can address")


def _refusal(data):
    with pytest.raises(NotImplementedError) as e:
        _uformer.arena_size(data)
    m = LIMIT_RE.fullmatch(str(e.value))
    assert m, str(e.value)
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("nodes", [True, False], ids=["add-nodes", "inputs-only"])
def test_activations_past_4gib_are_refused_with_the_number(nodes):
    data = bigmodels.past_4gib(nodes)
    assert len(data) < 8 * 1024
    most, tensor = _refusal(data)
    # 64-bit host: the activation area stops at 2^32 - 8 (uint32 offsets), after the tables.
    assert 2 ** 32 - 8 < most < 2 ** 32 + 64 * 1024
    assert tensor == 63  # the 64th 64 MB tensor is the one that would end at 2^32
    # Model() refuses the same way (before allocating anything).
    with pytest.raises(NotImplementedError, match="arena needs more than"):
        _uformer.Model(data)


def test_activations_just_below_the_bound_plan_exactly():
    """2^32 - 1032 bytes of activations: planned without wrapping (a dry run only; the
    4 GiB arena is never allocated)."""
    need = _uformer.arena_size(bigmodels.near_4gib(1032))
    assert 2 ** 32 - 1032 < need < 2 ** 32 - 1032 + 64 * 1024


_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mf.h"

static uint8_t scratch[1 << 20];  /* the model tables; the activations are never laid out */

int main(int argc, char **argv) {
    static uint8_t buf[1 << 16];
    FILE *f = fopen(argv[1], "rb");
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    size_t need = 0;
    mf_error_t err;
    mf_status_t st = mf_arena_size(buf, len, scratch, sizeof(scratch), &need, &err);
    printf("%d %u %lu %s\n", (int)st, (unsigned)(sizeof(size_t) * 8), (unsigned long)need, err.msg);
    return 0;
}
"""


def _build_harness(tmp_path, cc, flags, name):
    src = tmp_path / "harness.c"
    src.write_text(_HARNESS)
    exe = tmp_path / name
    r = subprocess.run([cc, "-std=c99", "-Os", "-Wall", "-Werror", *flags, "-I", str(ENGINE), str(src),
                        str(ENGINE / "unity" / "mf_unity.c"), "-lm", "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return exe


def _run(exe, tmp_path, data):
    p = tmp_path / "m.tflite"
    p.write_bytes(data)
    out = subprocess.run([str(exe), str(p)], capture_output=True, text=True, check=True, timeout=60).stdout
    st, bits, need, msg = out.rstrip("\n").split(" ", 3)
    return int(st), int(bits), int(need), msg


def _check_32bit_bound(exe, tmp_path, bits):
    # 4 GiB of activations: refused with SIZE_MAX as the number, tensor 63 named.
    st, b, _, msg = _run(exe, tmp_path, bigmodels.past_4gib(True))
    assert b == bits and st == 2, msg  # MF_ERR_UNSUPPORTED
    m = LIMIT_RE.fullmatch(msg)
    assert m and int(m.group(1)) == 2 ** 32 - 1, msg
    # 2^32 - 1032 bytes: fits uint32 offsets, but not with the tables in front in a
    # 32-bit size_t; the last tensor is the one left out.
    st, _, _, msg = _run(exe, tmp_path, bigmodels.near_4gib(1032))
    m = LIMIT_RE.fullmatch(msg)
    assert st == 2 and m and int(m.group(1)) == 2 ** 32 - 1 and m.group(2) == "63", msg
    # Well below: planned exactly.
    st, _, need, msg = _run(exe, tmp_path, bigmodels.near_4gib(1 << 25))
    assert st == 0 and 2 ** 32 - (1 << 25) < need < 2 ** 32 - (1 << 25) + 64 * 1024, msg


def test_32bit_size_bound_on_this_host(tmp_path):
    """The engine with its size_t bound at 2^32 - 1 (what a 32-bit board has), on this host."""
    cc = extbuild.host_cc()
    if cc is None:
        pytest.skip("no host C compiler (cc, gcc, clang) found")
    exe = _build_harness(tmp_path, cc, ["-DMF_SIZE_MAX=0xffffffffu"], "h64")
    _check_32bit_bound(exe, tmp_path, 64)


def test_32bit_build(tmp_path):
    """The engine compiled for i686 (32-bit size_t and pointers), linked statically."""
    cc = shutil.which("i686-linux-gnu-gcc")
    if cc is None:
        pytest.skip("no 32-bit compiler (apt-get install gcc-i686-linux-gnu)")
    exe = _build_harness(tmp_path, cc, ["-static"], "h32")
    try:
        _run(exe, tmp_path, b"")
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"this host does not run i686 binaries: {e}")
    _check_32bit_bound(exe, tmp_path, 32)


def test_cli_refuses_the_model_with_the_number(tmp_path, capsys):
    from microformer import cli

    p = tmp_path / "big.tflite"
    p.write_bytes(bigmodels.past_4gib(True))
    code = cli.main(["push", str(p), "--sim", str(tmp_path / "sim")])
    err = capsys.readouterr().err
    assert code == 1
    assert re.fullmatch(r"microformer: engine refuses the model: arena needs more than \d+ bytes "
                        r"\(tensor 63 does not fit\), the most this build can address\n", err), err
    assert not (tmp_path / "sim" / "models" / "big.tflite").exists()
