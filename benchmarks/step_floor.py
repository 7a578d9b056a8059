"""How much of issue 15's step budget the optimizer alone uses, in one process, interleaved.

The target "step <= 1.25 x its own matrix products" leaves 0.25 x products for everything else in
the step: activations, the loss and its gradient, biases, the noise, Python, and Adam.  This
script times, in rotating rounds on the same thread(s):

  products   the step's 11 matrix products alone (step_compare.products_runner)
  adam       ``optim.Adam.step`` on the model's 653k parameters (checks, blocks, 10 passes)
  one pass   a single in-place ufunc pass over the flat vector (``p *= 1``), the unit Adam is made of
  step       the whole step (noise, forward, backward, Adam)

and prints each against the products.  With NumPy, Adam cannot be fewer than nine or ten passes
(ARCHITECTURE.md, "Performance"), so when ``adam / products`` is above the allowance (0.25, from
``throughput.TARGETS``) the first target cannot be met by any change to the rest of the step.

    python benchmarks/step_floor.py [--threads 1] [--rounds 9]
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpyvae  # noqa: E402
numpyvae.tune_process()  # before NumPy: OPENBLAS_THREAD_TIMEOUT, as the numpyvae command
import numpy as np  # noqa: E402
import step_compare as sc  # noqa: E402
from throughput import TARGETS  # noqa: E402
from machine import describe, format_machine  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args(argv)
    numpyvae._threads.set_blas_threads(a.threads)
    for line in format_machine(describe()):
        print(line)
    model, opt, x, rng = sc.setup()
    step = sc.numpyvae_step(model, opt, x, rng)
    step()                                           # a real gradient, and Adam's state
    grad, p = model.grads.copy(), model.params.copy()
    adam = numpyvae.optim.Adam(1e-3)
    adam.step(p, grad)                               # its state exists before the timing
    fns = {"products": sc.products_runner(128, 400, rng), "adam": lambda: adam.step(p, grad),
           "one pass": lambda: np.multiply(p, 1, out=p), "step": step}
    t = sc.interleaved(fns, a.rounds, a.reps)
    print(f"\n{a.threads} thread(s), 784-400-20 VAE, batch 128, {p.size} parameters; "
          f"{a.rounds} interleaved rounds x {a.reps} calls, median (range over rounds)")
    for name in fns:
        s = sc.summary(t[name])
        r = sc.ratio_summary(t[name], t["products"])
        print(f"  {name:9s} {s['ms']:7.3f} ms ({s['lo']:.3f}-{s['hi']:.3f})   "
              f"÷ products {r['ratio']:.3f} ({r['lo']:.3f}-{r['hi']:.3f})")
    r = sc.ratio_summary(t["adam"], t["products"])["ratio"]
    allowance = TARGETS["step_over_products"] - 1
    verdict = "over" if r > allowance else "within"
    print(f"  Adam alone is {r:.2f} x the products: {verdict} the {allowance:.2f} x products the "
          "target leaves for all that is not a product")


if __name__ == "__main__":
    main()
