"""The benchmark's machine description: the kind from NumPy's feature dict, the [bench] extra."""
import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

from numpyvae.commands.bench import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
BASE = ["MMX", "SSE", "SSE2", "SSE3", "SSSE3", "SSE41", "POPCNT", "SSE42", "X86_V2"]
V3 = ["AVX", "F16C", "FMA3", "AVX2", "BMI", "BMI2", "LZCNT", "MOVBE", "X86_V3"]
V4 = ["AVX512F", "AVX512CD", "AVX512VL", "AVX512BW", "AVX512DQ", "AVX512_SKX", "X86_V4"]
TARGETS_24 = ["X86_V2", "X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"]    # numpy 2.4


def features(on, off=()):
    d = {k: True for k in on}
    d.update({k: False for k in off})
    return d


@pytest.fixture(scope="module")
def machine():
    return load_benchmark().machine


def test_kind_from_numpy_2_4_feature_dicts(machine):
    kind = machine.machine_kind
    assert kind(features(BASE + V3 + V4), TARGETS_24) == "AVX-512"
    assert kind(features(BASE + V3, V4), TARGETS_24) == "AVX2"                 # Zen 3
    # NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" on an AVX-512 CPU: the target is
    # off, the single features stay on; NumPy dispatches to X86_V3
    emulated = features(BASE + V3 + V4[:-1], ["X86_V4", "AVX512_ICL", "AVX512_SPR"])
    assert kind(emulated, TARGETS_24) == "AVX2"
    assert kind(features(BASE + V3[:-1], ["X86_V3"] + V4), TARGETS_24) == "other"   # X86_V3 off
    assert kind(features(BASE, V3 + V4), TARGETS_24) == "other"                 # an old x86
    # a CPU with AVX-512 under a NumPy built without any AVX-512 target
    assert kind(features(BASE + V3 + V4), ["X86_V2", "X86_V3"]) == "AVX2"


def test_kind_from_older_numpy_feature_dicts(machine):
    """numpy 1.x - 2.3 have no X86_V* groups; their targets are AVX512F, AVX512_SKX, AVX2, ..."""
    kind = machine.machine_kind
    old_v3, old_v4 = [f for f in V3 if f != "X86_V3"], [f for f in V4 if f != "X86_V4"]
    targets = ["SSE", "SSE2", "SSE3", "SSSE3", "SSE41", "POPCNT", "SSE42", "AVX", "F16C",
               "FMA3", "AVX2", "AVX512F", "AVX512_SKX"]
    assert kind(features(BASE[:-1] + old_v3 + old_v4), targets) == "AVX-512"
    assert kind(features(BASE[:-1] + old_v3 + old_v4[:-1], ["AVX512_SKX"]), targets) == "AVX2"
    assert kind(features(BASE[:-1] + old_v3, old_v4), targets) == "AVX2"
    assert kind(features(BASE[:-1] + ["AVX", "FMA3"], ["AVX2"] + old_v4), targets) == "other"
    assert kind(features(BASE[:-1] + old_v3 + old_v4)) == "AVX-512"     # targets unknown


def test_kind_on_arm_is_other(machine):
    assert machine.machine_kind(features(["NEON", "NEON_FP16", "ASIMD", "ASIMDHP"],
                                         ["SSE", "AVX2", "AVX512F"]), ["NEON", "ASIMD"]) == "other"


def test_this_machine_is_described_consistently(machine):
    m = machine.describe()
    simd = machine.numpy_simd()
    assert m["kind"] == machine.machine_kind(simd["features"],
                                             simd["baseline"] + simd["dispatch"] or None)
    assert set(m["numpy_dispatch_on"]).isdisjoint(m["numpy_dispatch_off"])
    text = "\n".join(machine.format_machine(m, {"available": False}))
    assert f"machine kind: {m['kind']}" in text and "CPU: " in text


def test_an_emulated_avx2_run_says_what_pytorch_gemm_uses(machine):
    """NPY_DISABLE_CPU_FEATURES does not reach MKL: the line says whether its GEMM was limited."""
    m = machine.describe()
    torch = {"available": True, "version": "x", "capability": "AVX2", "blas": "mkl", "mkl": True,
             "mkldnn": True}
    def torch_line(env):
        return [line for line in machine.format_machine(dict(m, env=env), torch)
                if line.startswith("PyTorch")][0]
    assert "MKL" not in torch_line({}).split("oneDNN")[1]
    assert "MKL_ENABLE_INSTRUCTIONS=AVX2 limits it" in torch_line({"NPY_DISABLE_CPU_FEATURES": "X86_V4"})
    assert "limited to AVX2" in torch_line({"NPY_DISABLE_CPU_FEATURES": "X86_V4",
                                            "MKL_ENABLE_INSTRUCTIONS": "AVX2"})


def _kind_in_child(disabled):
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=disabled)
    code = ("from numpyvae.commands.bench import load_benchmark\n"
            "m = load_benchmark().machine\n"
            "d = m.describe()\n"
            "print(d['kind'])\n"
            "print('\\n'.join(m.format_machine(d)))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    return out[0], "\n".join(out[1:])


def test_npy_disable_cpu_features_is_seen_and_reported(machine):
    simd = machine.numpy_simd()
    if "X86_V4" not in simd["dispatch"] or not simd["features"].get("X86_V3"):
        pytest.skip("needs numpy >= 2.4's X86_V* targets and an AVX2 CPU")
    kind, text = _kind_in_child("X86_V4 AVX512_ICL AVX512_SPR")
    assert kind == "AVX2"                      # an AVX-512 machine becomes an AVX2 one
    assert "NPY_DISABLE_CPU_FEATURES='X86_V4 AVX512_ICL AVX512_SPR' switched off X86_V4" in text
    kind, text = _kind_in_child("X86_V3 X86_V4 AVX512_ICL AVX512_SPR")
    assert kind == "other" and "switched off X86_V3" in text


def test_torch_is_an_optional_bench_extra_never_a_dependency():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "torch" not in cfg["options"]["install_requires"]
    assert "torch" in cfg["options.extras_require"]["bench"]
    code = "import sys, numpyvae, numpyvae.cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numpys_own_blas_is_put_first():
    """numba imports SciPy, whose OpenBLAS then sits beside NumPy's in the process: the BLAS line
    must describe NumPy's (numpy.libs), whatever order /proc/self/maps lists them in."""
    import numpy as np
    home = os.path.dirname(os.path.dirname(np.__file__))
    numpys = os.path.join(home, "numpy.libs", "libscipy_openblas64_-abc.so")
    scipys = os.path.join(home, "scipy.libs", "libscipy_openblas-def.so")
    from numpyvae import _threads
    assert _threads._numpy_first([scipys, numpys]) == [numpys, scipys]
    assert _threads._numpy_first([numpys, scipys]) == [numpys, scipys]
    elsewhere = ["/usr/lib/libopenblas.so.0", "/opt/x/libscipy_openblas64_.so"]   # no numpy.libs
    assert _threads._numpy_first(elsewhere) == elsewhere[::-1]


def test_the_blas_line_reports_numpys_openblas_with_scipys_loaded(machine):
    import numpy as np
    blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
    if blas.get("name") != "scipy-openblas" or not blas.get("version"):
        pytest.skip(f"NumPy's BLAS here is {blas.get('name')!r}, not a wheel's scipy-openblas")
    pytest.importorskip("scipy.linalg")              # loads SciPy's OpenBLAS, as numba does
    info = machine.openblas_info()
    assert blas["version"] in info["config"], (blas["version"], info)
    assert all(blas["version"] not in other for other in info["others"]), info
