"""The optimizers' update on both paths, interleaved in one process: NumPy ufuncs blocked
``optim.BLOCK`` entries at a time, NumPy ufuncs over whole slices (no blocking), and the fused
numba loop (``--kernels fused``), on the 784-400-20 VAE's 652,824 float32 parameters.

    python benchmarks/optim_paths.py [--threads 1 2] [--rounds 9] [--reps 20] [--block 65536]

Each thread count runs in this process in turn (``_threads.set_blas_threads``: the update is cut
into that many slices on as many threads).  Every round times every contender (``reps`` calls,
median), the order rotating; the ratios are taken round by round.  It answers two questions of
issue 27: what the fused kernels gain over the NumPy path, and whether the NumPy path's blocking
pays on this machine (``optim.BLOCK``: it did on a Xeon, it did not on issue 27's EPYC).
Before timing, every contender's result is checked bit for bit against the blocked NumPy path.
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpyvae  # noqa: E402,F401  (before NumPy: sets OPENBLAS_THREAD_TIMEOUT)
import numpy as np  # noqa: E402
import step_compare as sc  # noqa: E402
from machine import describe, format_machine  # noqa: E402
from numpyvae import _threads, fused, optim  # noqa: E402

SIZE = 652_824


def contenders(name, p, g, block):
    """{label: callable} of one optimizer's step on the three paths (each with its own copy)."""
    def stepper(kernels, blk):
        o, q = optim.make(name, 1e-3, kernels=kernels), p.copy()

        def run():
            saved = optim.BLOCK
            optim.BLOCK = blk
            try:
                o.step(q, g)
            finally:
                optim.BLOCK = saved
        return run, q
    out = {f"numpy, blocks of {block}": stepper("numpy", block),
           "numpy, whole slices": stepper("numpy", 10 ** 12)}
    if fused.available():
        out["fused"] = stepper("fused", block)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--block", type=int, default=65536,
                    help="the blocked contender's block (optim.BLOCK on a CPU with 2 MiB of L2)")
    ap.add_argument("--optimizers", nargs="+", default=["adam", "adagrad", "momentum", "sgd"])
    a = ap.parse_args(argv)
    for line in format_machine(describe()):
        print(line)
    if fused.available():
        fused.prepare("adam", np.float32)
        print("fused:", fused.describe())
    rng = np.random.default_rng(0)
    p = rng.standard_normal(SIZE, dtype=np.float32)
    g = (rng.standard_normal(SIZE, dtype=np.float32) * 1e-2).astype(np.float32)
    print(f"\n{SIZE} float32 parameters; {a.rounds} interleaved rounds x {a.reps} calls; "
          "median ms (range over rounds); ratio to the blocked NumPy path, round by round")
    for threads in a.threads:
        _threads.set_blas_threads(threads)
        for name in a.optimizers:
            runs = contenders(name, p, g, a.block)
            for run, _ in runs.values():                 # equal bits before any timing
                run()
            ref = next(iter(runs.values()))[1]
            for label, (_, q) in runs.items():
                assert np.array_equal(q, ref), f"{name} {label}: not the same bits"
            t = sc.interleaved({k: r for k, (r, _) in runs.items()}, a.rounds, a.reps, pause=0.05)
            first = next(iter(t))
            print(f"{threads} thread(s), {name}:")
            for label, times in t.items():
                s = sc.summary(times)
                r = sc.ratio_summary(t[first], times)
                print(f"  {label:24s} {s['ms']:7.3f} ms ({s['lo']:.3f}-{s['hi']:.3f})   "
                      f"blocked ÷ this {r['ratio']:.2f} ({r['lo']:.2f}-{r['hi']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
