"""numpyvae: variational autoencoders in NumPy with every gradient written by hand.

    import numpy as np, numpyvae as nv
    rng = np.random.default_rng(0)
    model = nv.VAE(784, [400], 20, rng=rng)
    loss, grad = model.loss_and_grad(x, rng)       # x : (N, 784) float32 in [0, 1]
    nv.optim.Adam(1e-3).step(model.params, grad)

Submodules are imported lazily where they pull in matplotlib (``plots``) or files (``datasets``).
"""
from . import _memory, _threads

_threads.quiet_idle_blas_threads()   # before NumPy loads OpenBLAS: see _threads.py
_memory.keep_freed_memory()          # NumPy's temporaries reuse freed pages: see _memory.py

from . import distributions, functional, gradcheck, layers, optim, reparam  # noqa: E402, F401
from .layers import Dense, Identity, ReLU, Sequential, Sigmoid, Softplus, Tanh  # noqa: E402, F401
from .vae import VAE  # noqa: E402, F401

__version__ = "0.1.0"

_LAZY = {"estimators", "datasets", "shapes",
         "evaluate", "train", "checkpoint", "plots", "gmm", "autoencoders", "trigram",
         "lessonkit", "cli", "exercises"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'numpyvae' has no attribute {name!r}")
