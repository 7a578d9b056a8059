"""The third family (Mohamed et al. 2020, §6): the measure-valued gradient of a Gaussian mean.

The weak derivative of N(x; μ, σ²) wrt μ splits into two probability densities:

    ∂μ N(x; μ, σ²) = (x − μ)/σ² · N(x; μ, σ²) = c [p⁺(x) − p⁻(x)],   c = 1/(σ √(2π)),

p⁺ the positive part normalised: x = μ + σW, W ~ Weibull(scale √2, shape 2) (a Rayleigh, density
w e^{−w²/2} on w > 0), and p⁻ its mirror image x = μ − σW.  Hence

    ∇μ E[f(x)] = c (E[f(μ + σW)] − E[f(μ − σW')]).

With coupling the same W feeds both halves (W' = W); without it W' is independent.  For smooth
monotone f the coupled difference is small, which is where the estimator's low variance comes
from.  Like the score function it needs only values of f (no f'), but two evaluations per sample.
(Wrt σ the weak derivative is the double-sided Maxwell minus the Gaussian itself; not built here.)

Exact moments by quadrature over the Rayleigh w ∈ (0, ∞): :func:`mvd_moments`.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import integrate

from .._validate import check_positive_float
from .checks import check_callable, check_real

_C = 1.0 / math.sqrt(2.0 * math.pi)
W_MAX = 12.0            # Rayleigh tail beyond: e^{-72}


def rayleigh(rng, shape):
    """W ~ Weibull(scale √2, shape 2), i.e. Rayleigh(1), by inversion: √(−2 log(1 − u))."""
    return np.sqrt(-2.0 * np.log1p(-rng.random(shape)))


def mvd_terms(f, mu, sigma, w, w2=None):
    """Single-sample measure-valued estimates of ∇μ E[f(x)], x ~ N(μ, σ²).

    w : Rayleigh samples (any shape); w2 : independent ones for the uncoupled estimator (default:
    coupled, w2 = w).  Returns c (f(μ + σ w) − f(μ − σ w2)), c = 1/(σ√(2π)), same shape as w."""
    f = check_callable(f, "f")
    mu, sigma = check_real(mu, "mu"), check_positive_float(sigma, "sigma")
    w = np.asarray(w, dtype=np.float64)
    w2 = w if w2 is None else np.asarray(w2, dtype=np.float64)
    return _C / sigma * (f(mu + sigma * w) - f(mu - sigma * w2))


def _expect_rayleigh(h, breaks):
    total = 0.0
    pieces = [*itertools.pairwise(breaks), (breaks[-1], math.inf)]
    for a, b in pieces:
        total += integrate.quad(lambda w: h(w) * w * math.exp(-0.5 * w * w), a, b,
                                epsabs=1e-14, epsrel=1e-11, limit=200)[0]
    return total


def _breaks(mu, sigma, points, scale):
    br = {0.0, W_MAX}
    for p in points:
        br.add(abs(check_real(p, "points[i]") - mu) / sigma)
    if scale is not None:
        step = check_positive_float(scale, "scale") / (4.0 * sigma)
        br.update(np.arange(step, W_MAX, step).tolist())
    return sorted(b for b in br if 0.0 <= b <= W_MAX)


def mvd_moments(f, mu, sigma, *, coupled=True, points=(), scale=None):
    """Exact (mean, var) of one measure-valued term, by quadrature over the Rayleigh.

    coupled: Var(c (f(μ+σW) − f(μ−σW)));  uncoupled: c² (Var f(μ+σW) + Var f(μ−σW')).
    points / scale: f's peaks and shortest length scale (in x units), as in :mod:`.exact`."""
    f = check_callable(f, "f")
    mu, sigma = check_real(mu, "mu"), check_positive_float(sigma, "sigma")
    c = _C / sigma
    br = _breaks(mu, sigma, points, scale)
    def plus(w):
        return float(f(mu + sigma * w))

    def minus(w):
        return float(f(mu - sigma * w))
    ep, em = _expect_rayleigh(plus, br), _expect_rayleigh(minus, br)
    mean = c * (ep - em)
    if coupled:
        var = c * c * _expect_rayleigh(lambda w: (plus(w) - minus(w) - (ep - em)) ** 2, br)
    else:
        var = c * c * (_expect_rayleigh(lambda w: (plus(w) - ep) ** 2, br)
                       + _expect_rayleigh(lambda w: (minus(w) - em) ** 2, br))
    return mean, var
