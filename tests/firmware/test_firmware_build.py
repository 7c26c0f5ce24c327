"""Builds the UNIX and QEMU_M4 firmware (and UNIX with --ops-from) against $MICROPY_DIR and
checks what went in: the engine with the same ops as the CPython build, the frozen uformer,
models computing byte for byte what the CPython _uformer computes."""
import subprocess

import pytest

import fwutil

pytestmark = pytest.mark.firmware

MODELS = ("mlp", "cnn", "hybrid", "tf_l1_h1_d16_s16", "tf_l2_h4_d32_s64")


def mp(exe, code, cwd=None):
    p = subprocess.run([str(exe), "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_unix_build_has_the_engine_and_framework(unix_firmware, cpython_engine):
    out = mp(unix_firmware.firmware, "import sys, _uformer, uformer\n"
             "print(sys.implementation._build)\nprint(_uformer.version)\nprint(repr(_uformer.OPS))\n"
             "print(uformer.Model.__name__, uformer.Window.__name__, uformer.Slot.__name__)")
    build, version, ops, names = out.splitlines()
    assert build == "UNIX"
    assert version == cpython_engine.version
    assert eval(ops) == tuple(cpython_engine.OPS)
    assert names == "Model Window Slot"
    s = unix_firmware.sizes
    assert s.engine > 10_000 and s.binding > 1_000 and s.frozen > 1_000


def test_qemu_build_is_cortex_m4_with_the_module(qemu_firmware):
    elf = qemu_firmware.out / "firmware.elf"
    head = elf.read_bytes()[:20]
    assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 40  # EM_ARM
    s = qemu_firmware.sizes
    # The module is the engine plus a small binding; both are in the map of the link.
    assert 10_000 < s.engine < s.flash and 1_000 < s.binding < 10_000
    assert s.module == s.engine + s.binding + s.library
    assert (qemu_firmware.out / "firmware.bin").stat().st_size >= s.text


@pytest.mark.parametrize("name", MODELS)
def test_unix_outputs_match_cpython(name, unix_firmware, cpython_engine, zoo_model, tmp_path):
    model = zoo_model(name)
    samples = fwutil.inputs(cpython_engine, model)
    (tmp_path / "m.tflite").write_bytes(model)
    (tmp_path / "in.bin").write_bytes(fwutil.pack(samples))
    out = mp(unix_firmware.firmware, fwutil.script("m.tflite", "in.bin", len(samples)), cwd=tmp_path)
    got, info, _ = fwutil.parse(out)
    assert got == fwutil.reference(cpython_engine, model, samples)
    assert info["ARENA"] == cpython_engine.Model(model).arena_size  # both 64-bit builds


def _terse_errors_explain_to_cpython(exe, engine, model, tmp_path, count=60):
    """Loads mutants of `model` that the CPython build refuses with a coded (terse) error on
    the firmware; returns how many were compared."""
    import random
    import re

    import fuzz_models
    from microformer.engine_messages import explain

    rng = random.Random(3)
    want = []
    while len(want) < count:
        m = fuzz_models.mutate(model, rng)
        try:
            engine.Model(m, arena_size=256 * 1024)
        except (ValueError, NotImplementedError) as e:  # MemoryError depends on the heap
            if "unsupported op" not in str(e):
                want.append((m, str(e)))
    for i, (m, _) in enumerate(want):
        (tmp_path / f"bad{i}.tflite").write_bytes(m)
    code = ("import _uformer\nfor i in range(%d):\n try:\n  _uformer.Model(open('bad%%d.tflite' %% i, 'rb')"
            ".read(), arena_size=262144)\n  print('LOADED')\n except (ValueError, NotImplementedError, "
            "MemoryError) as e:\n  print('ERR', e)\n" % len(want))
    got = [line[4:] for line in mp(exe, code, cwd=tmp_path).splitlines() if line.startswith("ERR ")]
    assert len(got) == len(want)
    coded = 0
    for (_, full), terse in zip(want, got):
        coded += bool(re.search(r"\bE\d+\b", terse))
        assert explain(terse) == full
    return coded


def test_ops_from_compiles_only_the_models_ops(build_firmware, cpython_engine, zoo_model, tmp_path):
    from microformer.firmware import opsconfig

    tf = tmp_path / "tf.tflite"
    tf.write_bytes(zoo_model("tf_l1_h1_d16_s16"))
    cnn = tmp_path / "cnn.tflite"
    cnn.write_bytes(zoo_model("cnn"))
    fw = build_firmware("UNIX", "UNIX-ops-tf", ops_from=[tf])
    used = opsconfig.model_ops(tf)
    assert sorted(fw.ops) == sorted(used)

    samples = fwutil.inputs(cpython_engine, tf.read_bytes())
    (tmp_path / "in.bin").write_bytes(fwutil.pack(samples))
    out = mp(fw.firmware, "import _uformer; print(repr(_uformer.OPS))\n"
             + fwutil.script("tf.tflite", "in.bin", len(samples)), cwd=tmp_path)
    ops = eval(out.splitlines()[0])
    assert sorted(ops) == sorted(used)
    got, _, _ = fwutil.parse(out)
    assert got == fwutil.reference(cpython_engine, tf.read_bytes(), samples)

    # A model needing a kernel left out is refused at load, naming the op.
    p = subprocess.run([str(fw.firmware), "-c",
                        "import _uformer\ntry:\n _uformer.Model(open('cnn.tflite','rb').read())\n"
                        "except NotImplementedError as e:\n print('NIE', e)"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    # (op names are left out of --ops-from builds: the host names the op)
    from microformer.engine_messages import explain

    assert "NIE unsupported op #3 " in p.stdout, p.stdout + p.stderr
    assert "unsupported op CONV_2D v" in explain(p.stdout)
    # --ops-from builds print model errors as codes; explained, they are the CPython sentences.
    assert fw.terse_errors
    checked = _terse_errors_explain_to_cpython(fw.firmware, cpython_engine, tf.read_bytes(), tmp_path)
    assert checked >= 5
    # Fewer kernels, less flash.
    full = build_firmware("UNIX", "UNIX")
    assert fw.sizes.engine < full.sizes.engine
