"""The fast forms of softplus and sigmoid in functional.py (no log1p, no tanh) stay within a few
float32 ulps of the exact values, measured against float64, over the whole float32 range."""
import warnings

import numpy as np
import pytest
from scipy.special import expit

from numpyvae import functional as F

TINY = np.finfo(np.float32).tiny


def _grid():
    """Every kind of float32 input: a fine uniform grid, both tails on a log scale, the region
    near 0 where log1p matters most, and the overflow edges of exp."""
    rng = np.random.default_rng(0)
    mags = np.logspace(-30, 38, 200_000)
    x = np.concatenate([np.linspace(-120, 120, 1_200_001), mags, -mags,
                        rng.standard_normal(300_000) * 6, np.arange(-90, -86, 1e-4),
                        np.arange(86, 90, 1e-4)])
    return x.astype(np.float32)


def _ulps(y, ref):
    """|y - ref| in units of the float32 spacing at ref (ref in float64)."""
    return np.abs(y.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(np.float32))


@pytest.mark.parametrize("name,fn,exact,max_ulp", [
    ("softplus", F.softplus, lambda x: np.logaddexp(0.0, x), 5.0),
    ("sigmoid", F.sigmoid, expit, 4.0),
    ("log_sigmoid", F.log_sigmoid, lambda x: -np.logaddexp(0.0, -x), 5.0),
])
def test_float32_within_a_few_ulps(name, fn, exact, max_ulp):
    x = _grid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the expected exp overflow is silenced
        y = fn(x)
    assert y.dtype == np.float32
    ref = exact(x.astype(np.float64))
    finite = np.isfinite(ref) & (np.abs(ref) <= np.finfo(np.float32).max)
    normal = finite & (np.abs(ref) >= TINY)      # below TINY float32 itself has fewer digits
    err = _ulps(y[normal], ref[normal])
    assert err.max() <= max_ulp, f"{name}: {err.max():.2f} ulps at x = {x[normal][err.argmax()]}"
    # where the exact value is a float32 subnormal or zero, the answer is too (no garbage)
    sub = finite & ~normal
    assert np.all(np.abs(y[sub].astype(np.float64) - ref[sub]) <= 2 * TINY)


def test_the_textbook_tanh_sigmoid_would_fail_this_check():
    """The check above can fail: the form it replaced cancels to 0 near x = -17."""
    x = np.linspace(-40, -10, 10_001).astype(np.float32)
    old = np.float32(0.5) * (1 + np.tanh(x / np.float32(2)))
    ref = expit(x.astype(np.float64))
    assert _ulps(old, ref).max() > 1e6
    assert _ulps(F.sigmoid(x), ref).max() <= 4.0


@pytest.mark.parametrize("fn,exact", [(F.softplus, lambda x: np.logaddexp(0.0, x)), (F.sigmoid, expit)])
def test_float64_stays_float64_and_exact(fn, exact):
    x = np.concatenate([np.linspace(-700, 700, 200_001), np.logspace(-300, 2, 1000)])
    y = fn(x)
    assert y.dtype == np.float64
    ref = exact(x)
    keep = np.abs(ref) >= np.finfo(np.float64).tiny
    rel = np.abs(y[keep] - ref[keep]) / np.abs(ref[keep])
    assert rel.max() < 1e-14


@pytest.mark.parametrize("fn", [F.softplus, F.sigmoid])
def test_out_may_be_the_input(fn):
    x = np.linspace(-30, 30, 1001).astype(np.float32)
    want = fn(x)
    y = x.copy()
    got = fn(y, out=y)
    assert got is y
    np.testing.assert_array_equal(got, want)
