"""One epoch of the IWAE setup (reproduce/iwae.py: 784-200-200-50, tanh, Bernoulli, batch 20,
Adam with eps 1e-4, dynamic binarization) on the NumPy path and with the fused kernels (Adam and
the Bernoulli likelihood; the model's tanh has no fused pass), alternating in one process; the two runs' parameters are compared bit for bit after every epoch.

    python benchmarks/iwae_epoch.py [--rounds 2] [--n 60000] [--models vae iwae5]

MNIST from $NUMPYVAE_DATA when it is there, else random binary images of the same size (the time
of an epoch does not depend on the pixels).  One thread: run it with OPENBLAS_NUM_THREADS=1.
Prints every epoch's seconds, the load average at its start, and the ratio numpy ÷ fused per round.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpyvae  # noqa: E402,F401
import numpy as np  # noqa: E402
from numpyvae import fused, optim  # noqa: E402
from numpyvae.reproduce import iwae  # noqa: E402
from numpyvae.train import TrainConfig, train  # noqa: E402


def data(n):
    try:
        from numpyvae import datasets
        x = datasets.load_dataset("mnist", "train", n=n, download=False).x
        return np.ascontiguousarray(x, np.float32), "MNIST"
    except Exception as e:                       # no data folder: the same sizes, random pixels
        rng = np.random.default_rng(0)
        return (rng.random((n, 784), dtype=np.float32) < 0.13).astype(np.float32), \
            f"random binary images ({type(e).__name__})"


def one_epoch(name, kernels, x, x_test):
    objective, k = iwae.MODELS[name]
    model = iwae._model(0)
    opt = optim.Adam(1e-3, beta1=0.9, beta2=0.999, eps=1e-4, kernels=kernels)
    config = TrainConfig(epochs=1, batch_size=20, n_samples=k, objective=objective,
                         dynamic_binarize=True, eval_seed=0, eval_batch_size=1000).check()
    with fused.using(kernels):                   # the model's passes too, as `train --kernels`
        state = train(model, opt, x, x_test, config, np.random.default_rng(0))
    return state.history[0]["seconds"], model.params.copy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--models", nargs="+", default=list(iwae.MODELS), choices=list(iwae.MODELS))
    a = ap.parse_args(argv)
    if not fused.available():
        sys.exit(f"needs numba: {fused.INSTALL_HINT}")
    fused.prepare("adam", np.float32)
    fused.prepare_model(np.float32)
    x, what = data(a.n)
    x_test = x[:500]
    print(f"{len(x)} {what}; fused: {fused.describe()}")
    for name in a.models:
        for r in range(a.rounds):
            row = {}
            for kernels in (("numpy", "fused") if r % 2 == 0 else ("fused", "numpy")):
                load = os.getloadavg()[0]
                t = time.perf_counter()
                seconds, params = one_epoch(name, kernels, x, x_test)
                row[kernels] = (seconds, time.perf_counter() - t, load, params)
            same = np.array_equal(row["numpy"][3], row["fused"][3])
            print(f"{name} round {r + 1}: numpy {row['numpy'][0]:.2f} s (load {row['numpy'][2]:.1f}),"
                  f" fused {row['fused'][0]:.2f} s (load {row['fused'][2]:.1f}); numpy ÷ fused "
                  f"{row['numpy'][0] / row['fused'][0]:.2f}; parameters bit-identical: {same}",
                  flush=True)
            assert same
    return 0


if __name__ == "__main__":
    sys.exit(main())
