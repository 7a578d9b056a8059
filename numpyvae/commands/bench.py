"""``numpyvae bench``: the throughput benchmark in ``benchmarks/throughput.py``."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

HELP = ("throughput benchmark: the machine kind and SIMD extensions, ms/step against its own matrix "
        "products and sgemm, PyTorch eager (if installed), epoch time, log-likelihood rate")


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
    p.add_argument("--no-torch", action="store_true",
                   help="leave PyTorch out even when it is importable (pip install "
                        "'numpyvae[bench]' puts it in)")


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
    if getattr(args, "no_torch", False):
        argv.append("--no-torch")
    return module.main(argv)
