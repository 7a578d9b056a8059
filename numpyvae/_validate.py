"""Argument checks shared by every module.

The public functions that use them validate their inputs *before* touching any state, and raise
``TypeError`` (wrong type / dtype) or ``ValueError`` (wrong shape, value, NaN/inf) with a
message that names the argument.  Nothing here converts dtypes silently.  (functional.py's
kernels check nothing: the layers check for them, ARCHITECTURE.md "Validation at the boundary".)
"""
from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_array(x, name, *, ndim=None, dtype=None, finite=True, shape=None):
    """Return ``x`` unchanged after checking it.

    x      : the value to check; must already be an ``np.ndarray`` of a floating dtype.
    name   : the argument name used in error messages.
    ndim   : required number of dimensions (int or tuple of allowed ints).
    dtype  : a required dtype (e.g. the dtype of another argument), else float32 or float64.
    finite : reject NaN and +-inf.
    shape  : required shape; ``None`` entries are wildcards.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if dtype is not None:
        if x.dtype != np.dtype(dtype):
            raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {x.dtype}")
    elif x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
                f"got shape {x.shape}")
    if shape is not None:
        if x.ndim != len(shape) or any(s is not None and s != xs for s, xs in zip(shape, x.shape)):
            want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    if finite and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def check_data_values(x, name, *, unit_interval=False, why=""):
    """Check a data array's values: no NaN or inf, and with ``unit_interval`` every entry in
    [0, 1] (else ``ValueError`` "{name} must lie in [0, 1]{why}").  Two passes over ``x``, its min
    and max, which are NaN when any entry is NaN.  ``x`` must hold at least one entry."""
    lo, hi = x.min(), x.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf")
    if unit_interval and (lo < 0 or hi > 1):
        raise ValueError(f"{name} must lie in [0, 1]{why}")
    return x


def check_positive_int(v, name, *, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {v}")
    return int(v)


def check_positive_float(v, name, *, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {v}")
    return v


def is_real_in(v, lo, hi):
    """A real number (not a bool) with ``lo <= v <= hi``, so never NaN or inf."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and lo <= v <= hi


def check_rng(rng, name="rng"):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}; numpyvae never uses the global random state")
    return rng
