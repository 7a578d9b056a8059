"""Where one training step's time goes, measured inside real steps.

    python benchmarks/profile_step.py [--steps 200] [--threads 1] [--batch 128] [--hidden 400 ...]
                                      [--z-dim 20] [--activation relu] [--objective elbo]
                                      [--samples 1]

Issue 15's model by default (784-H-20 VAE, ReLU, Bernoulli decoder, Adam, batch 128, float32);
the IWAE setup's with ``--batch 20 --hidden 200 200 --z-dim 50 --activation tanh`` and, for its
k = 5 bound, ``--objective iwae --samples 5``.  Every kernel
the step calls through a module attribute (``functional``, ``distributions``, ``reparam``; vae.py,
layers.py and posterior.py look them up at call time) is wrapped in a timer, and so is the Adam
step.  The table gives the mean ms per step of each, and "glue" is the step's time that no wrapped
kernel accounts for (reshapes, dicts, the objective's small arrays, the noise draw).
A kernel's time includes the kernels it calls itself (softplus inside the Bernoulli forward), so
those are listed indented beneath it and not added twice.  The timers cost about 0.2 us a call.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.isfile(os.path.join(os.path.dirname(HERE), "numpyvae", "__init__.py")):
    sys.path.insert(0, os.path.dirname(HERE))          # a checkout: profile its numpyvae


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--kernels", choices=("auto", "numpy", "fused"), default="auto",
                   help="Adam's and the model's passes' path (optim.py, fused.py; default: fused "
                        "when numba imports)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--hidden", type=int, nargs="+", default=[400])
    p.add_argument("--z-dim", type=int, default=20)
    p.add_argument("--activation", default="relu", help="the hidden layers' (vae.py)")
    p.add_argument("--objective", default="elbo", help="the bound (objectives.py): elbo, iwae, ...")
    p.add_argument("--samples", type=int, default=1, help="samples of z per example (k)")
    args = p.parse_args(argv)

    import numpyvae as nv
    nv.tune_process()                   # first: OPENBLAS_THREAD_TIMEOUT before NumPy loads
    import numpy as np
    from numpyvae import _threads
    from numpyvae import distributions as D
    from numpyvae import functional as F
    from numpyvae import objectives as O
    from numpyvae import reparam as R
    _threads.set_blas_threads(args.threads)

    rng = np.random.default_rng(0)
    model = nv.VAE(784, args.hidden, args.z_dim, rng=rng, activation=args.activation)
    from numpyvae import fused
    kernels = fused.resolve(args.kernels)
    opt = nv.optim.Adam(1e-3, kernels=kernels)
    fused.use(kernels)                               # the model's elementwise passes too
    if kernels == "fused":                           # compiled before the timing, not inside it
        fused.prepare("adam", np.float32)
        fused.prepare_model(np.float32)
    print(f"kernels (Adam and the model's elementwise passes): {kernels}")
    x = (rng.random((args.batch, 784)) < 0.3).astype(np.float32)

    totals = defaultdict(float)
    nested = {}                                      # name -> the wrapped kernel it ran inside
    stack = []

    def wrap(mod, name, label=None):
        fn, label = getattr(mod, name), label or name

        def timed(*a, **k):
            if stack:
                nested.setdefault(label, stack[-1])
            stack.append(label)
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                totals[label] += time.perf_counter() - t
                stack.pop()
        setattr(mod, name, timed)

    for mod in (F, D, R):
        for name in dir(mod):
            if name.endswith(("_forward", "_backward")) or name in ("softplus", "sigmoid"):
                if callable(getattr(mod, name)):
                    wrap(mod, name)
    for name in ("bernoulli_forward", "bernoulli_backward", "relu_forward", "relu_backward",
                 "tanh_backward", "gaussian_posterior_forward", "gaussian_posterior_backward"):
        wrap(fused, name, f"fused.{name}")   # the nodes' fused passes (likelihoods.py, ReLU)
    wrap(O, "log_mean_exp")                  # the IWAE bounds' weights

    def step():                      # the trainer's step: x is checked once, before training
        eps = rng.standard_normal((args.samples, args.batch, args.z_dim), dtype=np.float32)
        model.forward_backward(x, eps, args.objective)
        stack.append("adam")
        t = time.perf_counter()
        opt.step(model.params, model.grads)
        totals["adam"] += time.perf_counter() - t
        stack.pop()

    for _ in range(20):
        step()
    totals.clear()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    total = time.perf_counter() - t0

    per = {k: v / args.steps * 1e3 for k, v in totals.items()}
    top = {k: v for k, v in per.items() if k not in nested}
    glue = total / args.steps * 1e3 - sum(top.values())
    print(f"profile of {args.steps} steps, batch {args.batch}, hidden {args.hidden}, "
          f"z {args.z_dim}, {args.activation}, {args.objective} with {args.samples} sample(s), "
          f"{args.threads} thread(s): {total / args.steps * 1e3:.2f} ms/step")
    for k, v in sorted(top.items(), key=lambda kv: -kv[1]):
        print(f"  {k:40s} {v:7.3f} ms")
        for sub, parent in nested.items():
            if parent == k:
                print(f"      {sub:36s} {per[sub]:7.3f} ms")
    print(f"  {'glue (everything not wrapped)':40s} {glue:7.3f} ms")


if __name__ == "__main__":
    main()
