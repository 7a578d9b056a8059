"""The training step with another revision's kernels, paired round by round in one process.

    python benchmarks/paired_kernels.py [--base REV] [--rounds 25] [--threads 1]

The functional.py kernels and optim.Adam of revision REV (read with ``git show``) are swapped in
for the working tree's, by module attribute (vae.py and layers.py look kernels up at call time),
and the two alternate round by round with the step's matrix products timed in the same rounds.
A load change on a shared machine then reaches both alike: the per-round ratio old ÷ new is the
figure to read.  Only kernels that are pure functions of their inputs are compared this way;
what lives elsewhere (numpyvae/_memory.py, the BLAS settings) is the same for both.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)


def _module_at(rev, path, name, tmp):
    """The file ``path`` as it was at ``rev``, imported as module ``name``."""
    src = subprocess.run(["git", "-C", os.path.dirname(HERE), "show", f"{rev}:{path}"],
                         capture_output=True, text=True, check=True).stdout
    src = src.replace("from ._validate", "from numpyvae._validate").replace(
        "from . import _threads", "from numpyvae import _threads")
    file = os.path.join(tmp, name + ".py")
    with open(file, "w") as f:
        f.write(src)
    spec = importlib.util.spec_from_file_location(name, file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="3905ec8", help="the revision to compare with")
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import numpyvae as nv
    nv.tune_process()                   # first: OPENBLAS_THREAD_TIMEOUT before NumPy loads
    import numpy as np
    import throughput as T
    from numpyvae import _threads
    from numpyvae import functional as F
    _threads.set_blas_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        old_f = _module_at(args.base, "numpyvae/functional.py", "base_functional", tmp)
        old_o = _module_at(args.base, "numpyvae/optim.py", "base_optim", tmp)
    names = [n for n in dir(F) if n.endswith(("_forward", "_backward"))
             or n in ("softplus", "sigmoid", "log_sigmoid")]
    kernels = {"new": {n: getattr(F, n) for n in names},
               "old": {n: getattr(old_f, n) for n in names if hasattr(old_f, n)}}
    model, _, x, rng = T._step_setup(128, 400)
    eps = rng.standard_normal((1, 128, T.Z_DIM), dtype=np.float32)
    opts = {"old": old_o.Adam(1e-3), "new": nv.optim.Adam(1e-3)}
    T.time.perf_counter = time.thread_time if args.threads == 1 else time.perf_counter
    times = {"old": [], "new": [], "products": []}
    for _ in range(args.rounds):
        for which in ("old", "new"):
            for n, f in kernels[which].items():
                setattr(F, n, f)
            opt = opts[which]

            def step():
                model.forward_backward(x, eps)
                opt.step(model.params, model.grads)
            times[which].append(T._median_time(step, 20))
        times["products"].append(T.step_flops(128, 400)
                                 / T.model_shapes_rate(128, 400, repeats=20) / 1e9)
    for n, f in kernels["new"].items():
        setattr(F, n, f)
    ratio = [o / n for o, n in zip(times["old"], times["new"])]
    best = {k: min(v) * 1e3 for k, v in times.items()}
    print(f"{args.rounds} rounds x 20 steps, {args.threads} thread(s), base {args.base}")
    print(f"old / new step time per round: median {statistics.median(ratio):.3f} "
          f"(range {min(ratio):.2f}-{max(ratio):.2f})")
    print(f"best of the rounds: old {best['old']:.2f} ms, new {best['new']:.2f} ms, products "
          f"{best['products']:.2f} ms; step / products {best['old'] / best['products']:.2f} -> "
          f"{best['new'] / best['products']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
