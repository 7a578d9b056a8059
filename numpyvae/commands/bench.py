"""``numpyvae bench``: the throughput benchmark in ``benchmarks/throughput.py``."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

HELP = ("throughput benchmark: the machine kind and SIMD extensions, ms/step against its own matrix "
        "products and sgemm, the fused kernels (--kernels), PyTorch eager/fused/compiled and JAX jit "
        "(if installed), epoch time, log-likelihood rate")


def find_benchmark():
    """benchmarks/throughput.py: $NUMPYVAE_BENCHMARKS, ./benchmarks, beside the package source (a
    checkout), or the copy installed with the package (numpyvae/benchmarks, see setup.py)."""
    candidates = []
    if os.environ.get("NUMPYVAE_BENCHMARKS"):
        candidates.append(Path(os.environ["NUMPYVAE_BENCHMARKS"]))
    here = Path(__file__).resolve().parents[1]          # the numpyvae package
    candidates += [Path.cwd() / "benchmarks", here.parent / "benchmarks", here / "benchmarks"]
    for folder in candidates:
        if (folder / "throughput.py").is_file():
            return folder / "throughput.py"
    raise FileNotFoundError("benchmarks/throughput.py not found: run from the repository root "
                            "or set NUMPYVAE_BENCHMARKS to the benchmarks folder")


def add_arguments(p):
    p.add_argument("--quick", action="store_true", help="a small grid (seconds), for tests")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="BLAS thread counts, each measured in its own child process")
    p.add_argument("--json", help="also write the raw results to this file")
    add_options(p)


def add_options(p):
    """The options after --quick/--threads/--json (benchmarks/throughput.py takes them too)."""
    p.add_argument("--no-torch", action="store_true",
                   help="leave PyTorch out even when it is importable (pip install "
                        "'numpyvae[bench]' puts it in)")
    p.add_argument("--no-jax", action="store_true", help="leave JAX out even when importable")
    p.add_argument("--no-compile", action="store_true",
                   help="leave torch.compile out (it compiles for ~20 s per batch size; "
                        "--quick leaves it out)")
    p.add_argument("--kernels", choices=("numpy", "fused"),
                   help="Adam's path in the step and epoch tables (default: fused when numba "
                        "imports, else numpy); the comparison times both")
    p.add_argument("--only-compare", action="store_true",
                   help="only the interleaved comparison (numpyvae, fused, PyTorch, JAX) at "
                        "batch 20 and 128")
    p.add_argument("--rounds", type=int, help="interleaved rounds of the comparison "
                                              "(default: 7, --quick 2)")


def load_benchmark():
    """benchmarks/throughput.py, imported as a module."""
    spec = importlib.util.spec_from_file_location("numpyvae_bench_throughput", find_benchmark())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(args):
    module = load_benchmark()
    argv = (["--quick"] if args.quick else []) + ["--threads", *map(str, args.threads)]
    if args.json:
        argv += ["--json", args.json]
    for flag in ("no_torch", "no_jax", "no_compile", "only_compare"):
        if getattr(args, flag, False):
            argv.append("--" + flag.replace("_", "-"))
    for option in ("kernels", "rounds"):
        if getattr(args, option, None) is not None:
            argv += ["--" + option, str(getattr(args, option))]
    return module.main(argv)
