"""The engine's ARMv7E-M DSP kernels (__ARM_FEATURE_DSP: SXTB16/SXTAB16, SMLAD, SMLABB/SMLATT
in cmodule/engine/kernels) and its Helium ones (__ARM_FEATURE_MVE: kernels/k_mve.h and the
MVE blocks) give the same bytes as its portable C and as the host _uformer.

The engine is built into the bare-metal harness of benchmarks/cortex_m_vs_tflm.py four
times: -Os -mcpu=cortex-m4 with the DSP paths and with -U__ARM_FEATURE_DSP, run on QEMU
mps2-an386, and -mcpu=cortex-m55 (MVE) and -mcpu=cortex-m55+nomve (DSP on the same core),
run on QEMU mps3-an547. The models aim at the corners of those paths: dot-product
depths and channel counts that are not multiples of four (the scalar tails), strides,
dilation, SAME/VALID padding (depthwise taps outside the image are skipped), an odd
number of output pixels (the pixel-pair convolution's last pixel alone), depth
multiplier 2 (portable path inside a DSP build), 1x1 convolutions read in place, an
input zero point of -128, where x - zero_point reaches 255 in the int16 lanes, and a small
transformer (dense layers, attention matmuls, element-wise ops, LayerNorm). For MVE the
same shapes are the tail predicates: depths and channel counts off multiples of 16, 8 and
4, and outputs fewer than a vector; average pooling with windows clipped by the padding
(divisors 4, 6 and 9) over 8 + 8 + 5 channels and max pooling over 16 + 5; a convolution of 19 filters (blocks past
the four whose output stages the Helium kernel keeps, a last block of three) whose patch
rows of 63 bytes take several vectors, clipped at the padding.
Needs arm-none-eabi-gcc, qemu-system-arm and TensorFlow (to convert the models).
"""
import pathlib
import shutil
import subprocess
import sys

import pytest

import fwutil

pytestmark = pytest.mark.firmware

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _tools():
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (`make firmware-deps`)")
    pytest.importorskip("tensorflow", reason="TensorFlow converts the test models")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import cortex_m_vs_tflm

    return cortex_m_vs_tflm


def _conv_corners():
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((9, 11, 3), batch_size=1)
    x = keras.layers.Conv2D(7, 3, padding="same", activation="relu")(inp)        # depth 27, 7 channels
    x = keras.layers.Conv2D(6, (2, 3), strides=2, padding="valid")(x)           # depth 42, stride 2
    x = keras.layers.Conv2D(6, 3, dilation_rate=2, padding="same")(x)           # dilated gather
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)  # 6 = block of 4 + 2
    y = keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")(x)     # dilated taps
    z = keras.layers.DepthwiseConv2D(2, strides=2, depth_multiplier=2)(x)       # multiplier 2
    y = keras.layers.Conv2D(9, 1)(y)                                            # 1x1, in place
    y = keras.layers.Flatten()(y)
    z = keras.layers.Flatten()(z)
    x = keras.layers.Concatenate()([y, z])
    x = keras.layers.Dense(13, activation="relu")(x)                            # 4 + 4 + 4 + 1 units
    x = keras.layers.Activation("sigmoid")(x)                                   # per element, 3 x 4 + 1
    out = keras.layers.Dense(3, activation="tanh")(x)
    return keras.Model(inp, out)


def _depthwise_wide():
    import keras

    keras.utils.set_random_seed(4)
    inp = keras.Input((7, 6, 21), batch_size=1)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(inp)                    # 21 = 5 blocks + 1
    p = keras.layers.AveragePooling2D(3, strides=2, padding="same")(x)          # 21 = 8 + 8 + 5, clipped windows
    m = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)              # 21 = 16 + 5, clipped windows
    x = keras.layers.DepthwiseConv2D(5, strides=2, padding="valid", activation="relu")(x)
    x = keras.layers.Conv2D(5, 1)(x)
    q = keras.layers.Conv2D(19, 3, padding="same")(inp)                         # 4 x 4 + 3 filters, rows of 63
    flat = [keras.layers.Flatten()(t) for t in (x, p, q, m)]
    return keras.Model(inp, keras.layers.Concatenate()(flat))


def _build(cmp, out, name, flags, arm=None):
    """The engine harness ELF (benchmarks/cmp + the engine's unity build) with the
    benchmark's flags for target `arm` (default its Cortex-M4) plus `flags`."""
    arm = arm or cmp.ARM
    elf = out / f"engine-{name}.elf"
    cmd = ([arm["prefix"] + "gcc"] + arm["arch"] + cmp.COMMON + ["-std=c99", f"-I{cmp.CMP}", f"-I{cmp.ENGINE}"]
           + flags + arm["link"] + ["-Wl,--gc-sections", "-o", str(elf)]
           + [str(cmp.CMP / f) for f in ("main.c", arm["port"], "lib_engine.c")]
           + [str(cmp.ENGINE / "unity" / "mf_unity.c"), "-lm"])
    r = subprocess.run(["nice", "-n", "10"] + cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"building the {name} engine harness failed:\n{r.stderr[-2000:]}"
    return cmp.Harness("engine", arm["name"], elf, out / f"engine-{name}.map", ())


def _transformer():
    """FULLY_CONNECTED and BATCH_MATMUL with depths 5 and 10 (tails), ADD/SUB/MUL and
    SQUARED_DIFFERENCE (LayerNorm) through the inlined requantization."""
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    import zoo

    return zoo.transformer(seq=12, channels=5, d_model=20, heads=2, layers=1, ffn=28)


@pytest.fixture(scope="module")
def harnesses(tmp_path_factory):
    cmp = _tools()
    out = tmp_path_factory.mktemp("dsp")
    hs = {"dsp": _build(cmp, out, "dsp", []),
          "portable": _build(cmp, out, "portable", ["-U__ARM_FEATURE_DSP"])}
    # The Cortex-M55 builds need gcc 10+ (-mcpu=cortex-m55); older compilers test the M4 only.
    if cmp._knows_m55():
        hs["mve"] = _build(cmp, out, "mve", [], cmp.M55)
        hs["m55-dsp"] = _build(cmp, out, "m55-dsp", [], cmp.M55_NOMVE)
    return cmp, hs


@pytest.mark.parametrize("builder,positive", [(_conv_corners, False), (_conv_corners, True),
                                              (_depthwise_wide, True), (_transformer, False)])
def test_mve_dsp_and_portable_kernels_equal_host(builder, positive, harnesses, tmp_path):
    import _uformer

    cmp, hs = harnesses
    import zoo

    model = zoo.convert(builder(), samples=24, seed=1, positive=positive)
    info = _uformer.Model(model).input_info(0)
    if positive:
        assert info[3] == -128, f"input zero point {info[3]}, expected -128"
    _every_build_equals_host(cmp, hs, model, 4, tmp_path)


def _every_build_equals_host(cmp, hs, model, n, tmp_path, samples=None):
    """Runs `samples` (default: n random ones) through every harness build; each must give
    the host's bytes."""
    import _uformer

    if samples is None:
        samples = fwutil.inputs(_uformer, model, samples=n)
    expected = fwutil.reference(_uformer, model, samples)
    blob = tmp_path / "m.bin"
    blob.write_bytes(cmp.blob(model, samples))
    for name, h in hs.items():
        r = cmp.run(h, blob, timeout=300)
        assert not r.error, f"{name}: {r.error}"
        assert cmp.as_rows(r.outputs) == expected, f"{name} build differs from the host _uformer"


def _scales_above_one():
    """CONV_2D and DEPTHWISE_CONV_2D whose input * filter / output scale is above 1 for
    some channels (a left shift before the multiply): the DSP kernels check every
    channel and take the generic requantization for such a layer."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from tflbuild import Graph, options

    rng = np.random.default_rng(5)
    g = Graph()
    x = g.input((1, 5, 6, 3), "int8", scale=0.5, zp=3)
    w = g.const(rng.integers(-127, 128, (5, 3, 3, 3), dtype=np.int8), "int8",
                scale=np.array([0.5, 0.001, 0.2, 0.002, 0.9], np.float32), zp=0, qdim=0)
    y = g.output((1, 5, 6, 5), "int8", scale=0.01, zp=-7)
    g.op("CONV_2D", [x, w, -1], [y], options("Conv2DOptions", padding=0, strideH=1, strideW=1,
                                                 dilationHFactor=1, dilationWFactor=1), version=3)
    wd = g.const(rng.integers(-127, 128, (1, 3, 3, 5), dtype=np.int8), "int8",
                 scale=np.array([0.001, 0.3, 0.002, 0.7, 0.004], np.float32), zp=0, qdim=3)
    z = g.output((1, 5, 6, 5), "int8", scale=0.05, zp=2)
    g.op("DEPTHWISE_CONV_2D", [y, wd, -1], [z], options("DepthwiseConv2DOptions", padding=0, strideH=1,
                                                         strideW=1, dilationHFactor=1, dilationWFactor=1,
                                                         depthMultiplier=1), version=3)
    return g.build()


def test_scales_above_one_take_the_generic_requantization(harnesses, tmp_path):
    cmp, hs = harnesses
    _every_build_equals_host(cmp, hs, _scales_above_one(), 3, tmp_path)


def _small_sigmoids():
    """LOGISTIC and TANH on tensors under 64 elements (computed per element at invoke, four
    lanes at a time with Helium): 61 elements (a tail of one) of a coarse input scale, where
    inputs on both sides saturate at the radius, and 37 of a fine one."""
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from tflbuild import Graph

    g = Graph()
    for n, scale, zp in ((61, 0.2, 3), (37, 0.02, -9)):
        x = g.input((1, n), "int8", scale=scale, zp=zp)
        y = g.output((1, n), "int8", scale=1 / 256, zp=-128)
        g.op("LOGISTIC", [x], [y])
        z = g.output((1, n), "int8", scale=1 / 128, zp=0)
        g.op("TANH", [x], [z])
    return g.build()


def test_small_sigmoids_equal_host(harnesses, tmp_path):
    """Every int8 input value through both small LOGISTIC and TANH layers."""
    cmp, hs = harnesses
    samples = [[bytes((k * n + i) % 256 for i in range(n)) for n in (61, 37)] for k in range(8)]
    _every_build_equals_host(cmp, hs, _small_sigmoids(), len(samples), tmp_path, samples)


def test_only_the_dsp_build_has_dual_macs(harnesses):
    """The Cortex-M4 builds differ where they should: SMLAD/SMLABB only with
    __ARM_FEATURE_DSP."""
    _, hs = harnesses
    for name in ("dsp", "portable"):
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(hs[name].elf)], capture_output=True, text=True,
                             check=True).stdout
        found = {op for op in ("smlad", "smlabb", "sxtab16") if f"\t{op}\t" in dis}
        assert found == ({"smlad", "smlabb", "sxtab16"} if name == "dsp" else set()), (name, found)


def test_only_the_mve_build_has_helium_kernels(harnesses):
    """The Cortex-M55 builds differ where they should: the MVE kernels (named *_mve*; the
    depthwise one is never inlined) only with __ARM_FEATURE_MVE. objdump 2.40 prints MVE
    instructions as coprocessor ones, so the symbols tell."""
    _, hs = harnesses
    if "mve" not in hs:
        pytest.skip("arm-none-eabi-gcc does not compile for -mcpu=cortex-m55 (gcc 10 or later)")
    syms = {}
    for name in ("mve", "m55-dsp"):
        nm = subprocess.run(["arm-none-eabi-nm", str(hs[name].elf)], capture_output=True, text=True, check=True)
        syms[name] = {line.split()[-1] for line in nm.stdout.splitlines()}
    assert "dw_pixels_m1_mve" in syms["mve"]
    assert not any("_mve" in s for s in syms["m55-dsp"]) and "dw_taps4" in syms["m55-dsp"]


def test_mve_fixed_point_equals_scalar(tmp_path):
    """k_mve.h's exp_on_negative_values and requantization against mf_quant.h's scalar
    functions on pseudo-random operands, and its logistic and tanh on a dense sweep of
    Q4.27 inputs (tests/firmware/mve_check.c), on mps3-an547."""
    cmp = _tools()
    if not cmp._knows_m55():
        pytest.skip("arm-none-eabi-gcc does not compile for -mcpu=cortex-m55 (gcc 10 or later)")
    arm = cmp.M55
    elf = tmp_path / "mve_check.elf"
    cmd = ([arm["prefix"] + "gcc"] + arm["arch"] + cmp.COMMON + ["-std=c99", f"-I{cmp.CMP}", f"-I{cmp.ENGINE}"]
           + arm["link"] + ["-Wl,--gc-sections", "-o", str(elf), str(ROOT / "tests" / "firmware" / "mve_check.c"),
                            str(cmp.CMP / arm["port"]), str(cmp.ENGINE / "mf_quant.c"), "-lm"])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    blob = tmp_path / "none.bin"  # the harness's qemu command loads a blob; this program reads none
    blob.write_bytes(bytes(16))
    run = subprocess.run(cmp.QEMU[arm["name"]](elf, blob), capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    line = next((ln for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("MVECHECK")), None)
    assert line, run.stdout + run.stderr
    exp_bad, exp_n, qm_bad, qm_n, sig_bad, sig_n = (int(v) for v in line.split()[1:])
    assert exp_n == 31 * 4000 * 4 and qm_n == 100000 * 8
    assert sig_n == (65536 + 4 * 262336 + 4) * 2
    assert (exp_bad, qm_bad, sig_bad) == (0, 0, 0)
