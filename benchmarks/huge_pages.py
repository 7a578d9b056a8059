"""The flat vectors on 2 MiB pages against 4 KiB pages (numpyvae/_memory.py ``flat_zeros``),
interleaved in one process.

    python benchmarks/huge_pages.py [--rounds 15] [--reps 30] [--kernels fused]

Two contenders per question, each with its own vectors, the order rotating every round:

  adam, cold   ``optim.Adam.step`` on the 784-400-20 VAE's 652,824 float32 parameters, after a
               32 MiB read that pushes its four vectors out of the caches (as a training step's
               forward and backward do, though they also leave dirty lines to write back; only
               the Adam call is timed)
  step         the whole training step at batch 128 (noise, forward, backward, Adam)

and prints each ms (median over rounds, range) and the round-by-round ratio huge ÷ 4 KiB (< 1:
huge pages faster).  It also prints how many KiB of the process sit on huge pages
(AnonHugePages), which is 0 where the kernel has transparent huge pages off.  Both contenders
compute the same bits (checked before timing).  Run it with one BLAS thread on a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpyvae  # noqa: E402
numpyvae.tune_process()  # before NumPy, as the numpyvae command
import numpy as np  # noqa: E402
import step_compare as sc  # noqa: E402
from machine import describe, format_machine  # noqa: E402
from numpyvae import _memory, _threads, fused, optim  # noqa: E402

EVICT = np.ones(8 << 20, np.float32)               # 32 MiB, more than this machine's L3 share


def huge_kib():
    try:
        with open("/proc/self/smaps_rollup") as f:
            return next(int(v.split()[1]) for v in f if v.startswith("AnonHugePages:"))
    except (OSError, StopIteration):
        return None


def built(huge, kernels):
    """(cold Adam callable, whole-step callable, the step's params) with every flat vector on
    huge pages or not."""
    _memory.use_huge_pages = huge
    try:
        model, opt, x, rng = sc.setup(128, 400, kernels=kernels)
        step = sc.numpyvae_step(model, opt, x, rng, kernels)
        step()                                      # the optimizer's state exists from here
        p, g = _memory.flat_zeros(model.params.size, np.float32), model.grads.copy()
        p[...] = model.params
        adam = optim.Adam(1e-3, kernels=kernels)
        adam.step(p, g)
    finally:
        _memory.use_huge_pages = True

    def cold():
        EVICT.max()                                 # untimed: reads 32 MiB, writes nothing
        t = time.perf_counter()
        adam.step(p, g)
        return time.perf_counter() - t
    return cold, step, p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--kernels", choices=("numpy", "fused"),
                    default="fused" if fused.available() else "numpy")
    a = ap.parse_args(argv)
    _threads.set_blas_threads(1)
    for line in format_machine(describe()):
        print(line)
    runs = {huge: built(huge, a.kernels) for huge in (True, False)}
    for _ in range(3):                              # the same bits on both
        for huge in runs:
            runs[huge][1]()
    assert np.array_equal(runs[True][2], runs[False][2])
    label = {True: "2 MiB", False: "4 KiB"}
    cold = {h: [] for h in runs}
    for r in range(a.rounds):                       # the cold Adam: each call timed alone
        for huge in (True, False) if r % 2 == 0 else (False, True):
            cold[huge].append(statistics.median(runs[huge][0]() for _ in range(a.reps)))
    steps = sc.interleaved({label[h]: runs[h][1] for h in runs}, a.rounds, a.reps, pause=0.05)
    print(f"\nkernels {a.kernels}, 1 thread, {a.rounds} rounds x {a.reps} calls, median (range "
          f"over rounds); AnonHugePages of this process: {huge_kib()} KiB")
    for what, t in (("adam, cold", {label[h]: v for h, v in cold.items()}), ("step", steps)):
        for name, v in t.items():
            s = sc.summary(v)
            print(f"  {what:10s} {name}  {s['ms']:.3f} ms ({s['lo']:.3f}-{s['hi']:.3f})")
        r = sc.ratio_summary(t["2 MiB"], t["4 KiB"])
        print(f"  {what:10s} 2 MiB ÷ 4 KiB {r['ratio']:.3f} ({r['lo']:.3f}-{r['hi']:.3f})")


if __name__ == "__main__":
    main()
