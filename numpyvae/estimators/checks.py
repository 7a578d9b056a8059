"""Argument checks and noise handling shared by the estimators package.

The Monte Carlo estimators (:mod:`.montecarlo`) and the exact moments (:mod:`.exact`) both check
their arguments here, so one message names each argument the same way everywhere.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._validate import check_array, check_positive_int, check_rng

WRT = ("mu", "sigma", "log_sigma")
BASELINES = ("loo", "optimal")


def check_real(v, name):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def check_wrt(wrt):
    if not isinstance(wrt, str) or wrt not in WRT:
        raise ValueError(f"wrt must be one of {WRT}, got {wrt!r}")
    return wrt


def check_callable(f, name):
    if not callable(f):
        raise TypeError(f"{name} must be a callable taking an array z and returning an array "
                        f"of the same shape, got {type(f).__name__}")
    return f


def check_baseline(baseline):
    """None, a finite number, 'loo' or 'optimal'."""
    if baseline is None or (isinstance(baseline, str) and baseline in BASELINES):
        return baseline
    if isinstance(baseline, str):
        raise ValueError(f"baseline must be None, a number, 'loo' or 'optimal', got {baseline!r}")
    return check_real(baseline, "baseline")


def check_shape(shape):
    if (not isinstance(shape, tuple) or len(shape) != 2):
        raise ValueError(f"shape must be a tuple (repetitions, N), got {shape!r}")
    return (check_positive_int(shape[0], "shape[0] (repetitions)"),
            check_positive_int(shape[1], "shape[1] (N)"))


def noise(eps, rng, shape, dtype):
    """The (R, N) standard-normal noise: ``eps`` as given, or drawn from ``rng`` with ``shape``."""
    if eps is not None and rng is not None:
        raise ValueError("pass either eps or rng (with shape), not both")
    if eps is None:
        if rng is None:
            raise ValueError("eps is required (or pass rng= and shape=(repetitions, N) to draw it)")
        check_rng(rng)
        if shape is None:
            raise ValueError("shape=(repetitions, N) is required when the noise is drawn from rng")
        if dtype is None:
            dtype = np.float64
        elif dtype not in (np.float32, np.float64, "float32", "float64"):
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
        return rng.standard_normal(check_shape(shape), dtype=dtype)
    check_array(eps, "eps", ndim=2, dtype=dtype)
    if eps.shape[0] < 1 or eps.shape[1] < 1:
        raise ValueError(f"eps must have shape (repetitions >= 1, N >= 1), got {eps.shape}")
    if shape is not None and tuple(shape) != eps.shape:
        raise ValueError(f"shape {shape!r} does not match eps.shape {eps.shape}")
    return eps


def evaluate(f, name, mu, sigma, eps):
    """``z = mu + sigma * eps`` and ``f(z)``, both (R, N).  z is a new array, ours to overwrite."""
    z = eps * sigma
    z += mu
    out = f(z)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must return a numpy array of shape {z.shape}, "
                        f"got {type(out).__name__}")
    check_array(out, f"{name}(z)", shape=z.shape)
    return z, out

