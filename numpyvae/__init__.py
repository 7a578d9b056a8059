"""numpyvae: variational autoencoders in NumPy with every gradient written by hand.

    import numpy as np, numpyvae as nv
    rng = np.random.default_rng(0)
    model = nv.VAE(784, [400], 20, rng=rng)
    loss, grad = model.loss_and_grad(x, rng)       # x : (N, 784) float32 in [0, 1]
    nv.optim.Adam(1e-3).step(model.params, grad)

``import numpyvae`` changes nothing outside the package and loads its submodules (and NumPy) only
when first used.  The ``numpyvae`` command tunes its own process (:func:`tune_process`); a
notebook or script that wants the same speed calls ``numpyvae.tune_process()`` itself, best
before it imports NumPy.
"""
__version__ = "0.1.0"

_SUBMODULES = {"distributions", "functional", "gradcheck", "layers", "optim", "reparam",
               "posterior", "objectives", "vae", "estimators", "datasets", "shapes", "evaluate",
               "train", "checkpoint", "plots", "gmm", "autoencoders", "trigram", "lessonkit",
               "cli", "exercises", "fused"}
_NAMES = {"VAE": "vae", "Dense": "layers", "Identity": "layers", "ReLU": "layers",
          "Sequential": "layers", "Sigmoid": "layers", "Softplus": "layers", "Tanh": "layers"}


def tune_process(environ=None):
    """The process-wide settings the ``numpyvae`` command runs with, for this whole process:

    * idle OpenBLAS threads sleep at once (``OPENBLAS_THREAD_TIMEOUT``, unless already set;
      only an OpenBLAS loaded after this call, i.e. NumPy imported after it, sees it: _threads.py);
    * glibc keeps freed memory for NumPy's next temporaries (``mallopt``; ``NUMPYVAE_MALLOC=default``
      opts out: _memory.py).

    -> {"OPENBLAS_THREAD_TIMEOUT": the value in effect for a BLAS loaded now, "freed_memory": state}.
    """
    import os

    from . import _memory, _threads
    environ = os.environ if environ is None else environ
    _threads.quiet_idle_blas_threads(environ)
    return {"OPENBLAS_THREAD_TIMEOUT": environ.get("OPENBLAS_THREAD_TIMEOUT"),
            "freed_memory": _memory.keep_freed_memory(environ)}


def __getattr__(name):
    import importlib
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'numpyvae' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_SUBMODULES, *_NAMES})
