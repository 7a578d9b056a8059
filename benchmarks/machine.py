"""What machine the benchmark ran on: the CPU, the SIMD extensions NumPy dispatches to, the BLAS.

The *machine kind* is what NumPy's own kernels (ufuncs: exp, log1p, the elementwise passes) run
on, because that is what decides which formulation of a kernel is fast:

    "AVX-512"  NumPy dispatches to its X86_V4 target (AVX512F, CD, VL, BW, DQ), enabled at run time
    "AVX2"     otherwise, NumPy dispatches to X86_V3 (AVX2 and FMA3)
    "other"    neither (an older x86 CPU, Arm, ...)

``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"`` makes an AVX-512 machine an AVX2 one
for NumPy (numpy >= 2.4 names its x86 targets X86_V2/V3/V4; older releases AVX512F, AVX512_SKX,
AVX2, ...).  NumPy then marks the disabled *targets* off in its feature dict while the single
features (AVX512F, AVX2) stay on, so the kind is read from the targets where they exist.  The
variable does not reach OpenBLAS, which picks its own kernels (``OPENBLAS_CORETYPE=Haswell``
emulates AVX2 there), nor PyTorch: ``ATEN_CPU_CAPABILITY=avx2`` sets its own kernels' target and
``MKL_ENABLE_INSTRUCTIONS=AVX2`` its GEMM's (MKL's).  Without the last one PyTorch's products keep
AVX-512 (measured on a Xeon: torch.mm 111 GFLOP/s, 67 with it, OpenBLAS's Haswell kernels 74), and
the PyTorch column of an emulated AVX2 run is then not that of an AVX2 machine.
"""
from __future__ import annotations

import os
import platform

# NumPy's X86_V4 target needs these; X86_V3 needs AVX2 and FMA3 (and AVX, F16C, BMI, ... that
# every AVX2 CPU has).
X86_V4_FEATURES = ("AVX512F", "AVX512CD", "AVX512VL", "AVX512BW", "AVX512DQ")
X86_V3_FEATURES = ("AVX", "AVX2", "FMA3")
ENV_VARIABLES = ("NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES", "OPENBLAS_CORETYPE",
                 "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_THREAD_TIMEOUT",
                 "NUMPYVAE_MALLOC")
_CPUINFO_SIMD = ("sse", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512",
                 "amx", "neon", "asimd", "sve")


def _group_on(features, groups):
    """The first of ``groups`` that NumPy's dict has, as a bool; None when it has none."""
    for g in groups:
        if g in features:
            return bool(features[g])
    return None


def machine_kind(features, targets=None):
    """"AVX-512", "AVX2" or "other" from NumPy's run-time feature dict ``{name: bool}``.

    ``targets`` (optional): the targets this NumPy build was compiled for (baseline + dispatch);
    a CPU with AVX-512 running a build without an AVX-512 target is an AVX2 machine for NumPy.
    A disabled target group (``X86_V4`` in numpy >= 2.4, ``AVX512_SKX`` before) wins over the
    single features, which NPY_DISABLE_CPU_FEATURES leaves on."""
    def built(prefixes):
        return targets is None or any(t.startswith(p) for t in targets for p in prefixes)

    if (all(features.get(f) for f in X86_V4_FEATURES)
            and _group_on(features, ("X86_V4", "AVX512_SKX")) is not False
            and built(("X86_V4", "AVX512"))):
        return "AVX-512"
    if (all(features.get(f) for f in X86_V3_FEATURES)
            and _group_on(features, ("X86_V3",)) is not False
            and built(("X86_V3", "X86_V4", "AVX2", "AVX512", "FMA3"))):
        return "AVX2"
    return "other"


def numpy_simd():
    """NumPy's run-time view: {"features": {name: bool}, "baseline": [...], "dispatch": [...]}.

    The feature dict is the one ``np.show_runtime()`` reads (``numpy._core._multiarray_umath``
    in numpy 2, ``numpy.core._multiarray_umath`` in 1.x); it reflects NPY_DISABLE_CPU_FEATURES.
    Without it, ``np.show_config(mode="dicts")``'s target lists stand in."""
    import numpy as np
    mod = None
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            mod = __import__(name, fromlist=["__cpu_features__"])
            break
        except ImportError:
            continue
    if mod is not None and hasattr(mod, "__cpu_features__"):
        return {"features": {k: bool(v) for k, v in mod.__cpu_features__.items()},
                "baseline": list(getattr(mod, "__cpu_baseline__", [])),
                "dispatch": list(getattr(mod, "__cpu_dispatch__", []))}
    simd = np.show_config(mode="dicts").get("SIMD Extensions", {})
    found, missing = list(simd.get("found", [])), list(simd.get("not found", []))
    base = list(simd.get("baseline", []))
    features = {t: True for t in base + found}
    features.update({t: False for t in missing})
    return {"features": features, "baseline": base, "dispatch": found + missing}


def cpuinfo(path="/proc/cpuinfo"):
    """{"model": str, "family": str|None, "model_number": str|None, "flags": [SIMD flags]}
    from /proc/cpuinfo (Linux), else from ``platform``."""
    fields = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break                          # the first CPU is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or platform.machine() or "unknown"
    flags = (fields.get("flags") or fields.get("Features") or "").split()
    simd = [f for f in flags if f.startswith(_CPUINFO_SIMD)]
    return {"model": model, "family": fields.get("cpu family"),
            "model_number": fields.get("model"), "flags": simd}


def openblas_info():
    """{"config": str, "core": str, "others": [str]} of the OpenBLAS loaded by NumPy (empty strings
    if none); "others": the configuration of every other OpenBLAS in the process (SciPy's)."""
    import ctypes

    from numpyvae import _threads
    out = {"config": "", "core": "", "others": []}
    for path in _threads._loaded_blas():            # NumPy's first
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        found = {}
        for key, names in (("config", ("scipy_openblas_get_config64_", "scipy_openblas_get_config",
                                        "openblas_get_config64_", "openblas_get_config")),
                           ("core", ("scipy_openblas_get_corename64_",
                                     "scipy_openblas_get_corename",
                                     "openblas_get_corename64_", "openblas_get_corename"))):
            for name in names:
                fn = getattr(lib, name, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    found[key] = (fn() or b"").decode(errors="replace")
                    break
        if not found.get("core"):
            continue
        if out["core"]:
            out["others"].append(f"{found.get('config') or 'OpenBLAS'} ({os.path.basename(path)})")
        else:
            out.update(found)
    return out


def describe(environ=None):
    """Everything the benchmark prints about the machine, as a JSON-able dict."""
    import numpy as np
    environ = os.environ if environ is None else environ
    simd = numpy_simd()
    targets = simd["baseline"] + simd["dispatch"]
    cpu = cpuinfo()
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "numpy": np.__version__,
            "kind": machine_kind(simd["features"], targets or None),
            "numpy_features": [k for k, v in simd["features"].items() if v],
            "numpy_baseline": simd["baseline"],
            "numpy_dispatch_on": [t for t in simd["dispatch"] if simd["features"].get(t)],
            "numpy_dispatch_off": [t for t in simd["dispatch"] if not simd["features"].get(t)],
            "cpu_has_avx512f": "avx512f" in cpu["flags"],
            "env": {k: environ[k] for k in ENV_VARIABLES if environ.get(k)},
            "openblas": openblas_info(), "freed_memory": _memory_state()}


def _memory_state():
    """numpyvae/_memory.py's setting in this process (None if numpyvae is not loaded)."""
    import sys
    mod = sys.modules.get("numpyvae._memory")
    return None if mod is None else mod.state


def format_machine(m, torch_info=None):
    """The lines printed at the top of ``numpyvae bench``."""
    cpu = m["cpu"]
    ident = ", ".join(f"{k} {cpu[v]}" for k, v in (("family", "family"), ("model", "model_number"))
                      if cpu.get(v))
    lines = [f"CPU: {cpu['model']}" + (f" ({ident})" if ident else "")
             + f", {m['logical_cpus']} logical CPUs",
             "CPU SIMD flags (/proc/cpuinfo): " + (" ".join(cpu["flags"]) or "unknown"),
             f"NumPy {m['numpy']} SIMD extensions (run time): " + " ".join(m["numpy_features"]),
             "NumPy targets: baseline " + (" ".join(m["numpy_baseline"]) or "none")
             + "; dispatched " + (" ".join(m["numpy_dispatch_on"]) or "none")
             + "; not used " + (" ".join(m["numpy_dispatch_off"]) or "none")]
    kind = f"machine kind: {m['kind']} (what NumPy's kernels dispatch to)"
    disabled = m["env"].get("NPY_DISABLE_CPU_FEATURES")
    if disabled:
        named = disabled.replace(",", " ").split()
        off = [t for t in m["numpy_dispatch_off"] if t in named]
        ignored = [t for t in named if t not in m["numpy_dispatch_off"]]
        kind += (f"; NPY_DISABLE_CPU_FEATURES={disabled!r} switched off "
                 + (" ".join(off) or "nothing"))
        if ignored:
            kind += " (not a dispatch target of this NumPy, no effect: " + " ".join(ignored) + ")"
    if m["env"].get("NPY_ENABLE_CPU_FEATURES"):
        kind += f"; NPY_ENABLE_CPU_FEATURES={m['env']['NPY_ENABLE_CPU_FEATURES']!r}"
    if m["cpu_has_avx512f"] and m["kind"] != "AVX-512":
        kind += " (the CPU itself has AVX-512F)"
    lines.append(kind)
    blas = m["openblas"]
    if blas["core"] or blas["config"]:
        line = f"BLAS: {blas['config'] or 'OpenBLAS'}; kernels for core {blas['core'] or '?'}"
        if m["env"].get("OPENBLAS_CORETYPE"):
            line += f" (OPENBLAS_CORETYPE={m['env']['OPENBLAS_CORETYPE']})"
        elif disabled:
            line += " (NPY_DISABLE_CPU_FEATURES does not reach OpenBLAS: OPENBLAS_CORETYPE does)"
        timeout = m["env"].get("OPENBLAS_THREAD_TIMEOUT")
        line += (f"; idle threads sleep after 2^{timeout} cycles (OPENBLAS_THREAD_TIMEOUT)"
                 if timeout else "; idle threads spin OpenBLAS's default 2^28 cycles")
        lines.append(line)
        for other in blas.get("others", ()):
            lines.append(f"  also loaded, not the one NumPy calls (numba imports SciPy, which "
                         f"has its own): {other}")
    if m.get("freed_memory"):
        lines.append(f"numpyvae memory: freed memory {m['freed_memory']} (numpyvae/_memory.py)")
    if torch_info is not None:
        line = format_torch(torch_info)
        mkl = m["env"].get("MKL_ENABLE_INSTRUCTIONS")
        if torch_info.get("available") and torch_info.get("mkl") and (mkl or disabled):
            line += (f"; its GEMM limited to {mkl} (MKL_ENABLE_INSTRUCTIONS)" if mkl else
                     "; its GEMM still uses what the CPU has (MKL_ENABLE_INSTRUCTIONS=AVX2 limits it)")
        lines.append(line)
    return lines


def format_torch(t):
    if not t.get("available"):
        return ("PyTorch: not importable, so no PyTorch column (pip install 'numpyvae[bench]' "
                "adds it)")
    return (f"PyTorch {t['version']}: CPU capability {t['capability']}; its own GEMM "
            f"(BLAS_INFO={t['blas']}, MKL {'yes' if t['mkl'] else 'no'}, oneDNN "
            f"{'yes' if t['mkldnn'] else 'no'}), not NumPy's OpenBLAS; torch.optim.Adam with its "
            "defaults but lr; torch.set_num_threads(T) as the BLAS threads, 1 inter-op thread")
