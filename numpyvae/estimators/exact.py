"""Exact moments of single-sample gradient estimators: closed forms and quadrature, together.

Closed forms, for f = (z − k)² with z ~ N(μ, σ²), come first: they are what the lessons derive by
hand.  Quadrature, for any cost f, follows; tests check each closed form against it.

Quadrature: Every quantity is an expectation over ε ~ N(0, 1) (with z = μ + σ ε), computed as
``∫ h(ε) φ(ε) dε`` with :func:`scipy.integrate.quad` (:func:`expect_std_normal`).  The real line is
cut into pieces: (−∞, −L], [−L, L] with breakpoints, [L, ∞).  Two hints make hard costs safe:

* ``points`` (in z units): where f has a narrow peak or kink, e.g. 0 for ``exp(−k z²)``;
* ``scale`` (in z units): the shortest length over which f changes, e.g. the period ``2π/k`` of
  ``cos(k z)``; [−L, L] is then cut every ``scale/(4σ)`` in ε, so no piece holds more than a
  quarter period and the adaptive rule never sees a wiggle it can alias.

A single-sample estimator term g(ε) has mean E[g] and variance E[(g − E[g])²] (computed centred,
not as E[g²] − E[g]², so a small variance is not lost to cancellation).
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np
from scipy import integrate

from .._validate import check_positive_float, check_positive_int
from .checks import check_baseline, check_callable, check_real, check_wrt
from .montecarlo import gaussian_score

# ---------------------------------------------------------------------- closed forms, f = (z − k)²
#
# With z = μ + σε, m = μ − k and E[ε²], E[ε⁴], E[ε⁶], E[ε⁸] = 1, 3, 15, 105 (odd moments 0),
# f = (m + σε)² = m² + 2mσε + σ²ε².  The classroom example is k = 0, μ = θ.


def _quadratic_parts(mu, sigma, k, wrt):
    """(gradient, V0, B, C, mu22, mu20*mu02) of the score-function terms for f = (z − k)².

    Var of (f − b) s for a constant b is  V0 − 2 b B + b² C,  with V0 = Var(f s), B = E[f s²],
    C = E[s²].  mu22 = E[(f − Ef)² s²] and mu20·mu02 = Var(f) Var(s) feed the leave-one-out formula.
    """
    mu, sigma, k = check_real(mu, "mu"), check_positive_float(sigma, "sigma"), check_real(k, "k")
    m2, s2 = (mu - k) ** 2, sigma ** 2
    var_f = 4 * m2 * s2 + 2 * s2 * s2
    if check_wrt(wrt) == "mu":
        # s = ε/σ (derivations in the docstrings below)
        return (2 * (mu - k), m2 * m2 / s2 + 14 * m2 + 15 * s2, (m2 + 3 * s2) / s2, 1 / s2,
                12 * m2 + 10 * s2, var_f / s2)
    # s = (ε² − 1)/σ with E[(ε²−1)²], E[ε²(ε²−1)²], E[ε⁴(ε²−1)²], E[(ε²−1)⁴] = 2, 10, 78, 60
    parts = (2 * sigma, 2 * m2 * m2 / s2 + 60 * m2 + 74 * s2, (2 * m2 + 10 * s2) / s2, 2 / s2,
             40 * m2 + 60 * s2, 2 * var_f / s2)
    if wrt == "log_sigma":   # s_logσ = σ s_σ: gradient ×σ, variances ×σ², b* unchanged
        g, v0, b, c, m22, p = parts
        parts = (g * sigma, v0 * s2, b * s2, c * s2, m22 * s2, p * s2)
    return parts


def quadratic_score_variance(mu, sigma, *, k=0.0, wrt="mu", baseline=0.0):
    """Exact variance of ONE score-function term ``(f(z) − b) s(z)`` for ``f = (z − k)²``.

    Derivation (wrt μ, s = ε/σ, m = μ − k, c = m² − b):
        (f − b) s = (c + 2mσε + σ²ε²) ε/σ,  mean E[2mσε²]/σ = 2m (the rest has odd powers of ε),
        E[((f − b) s)²] = E[(c + 2mσε + σ²ε²)² ε²]/σ² = (c² + 6cσ² + 12m²σ² + 15σ⁴)/σ²,
        Var = c²/σ² + 6c + 8m² + 15σ².
    b = 0 gives m⁴/σ² + 14m² + 15σ²  (= 87 for the classroom μ = 2, σ = 1, k = 0).
    Wrt σ (s = (ε² − 1)/σ), the same expansion gives Var = 2m⁴/σ² + 60m² + 74σ² − 2bB + b²C with
    B = E[f s²] = (2m² + 10σ²)/σ², C = E[s²] = 2/σ².  Wrt log σ multiply by σ².
    The N-sample average has variance (this)/N: the terms are independent.
    """
    _, v0, b_, c, _, _ = _quadratic_parts(mu, sigma, k, wrt)
    b = check_real(baseline, "baseline")
    return v0 - 2 * b * b_ + b * b * c


def quadratic_optimal_baseline(mu, sigma, *, k=0.0, wrt="mu"):
    """``b* = E[f s²]/E[s²]``, the constant minimizing ``V0 − 2bB + b²C``, for ``f = (z − k)²``.

    Wrt μ: b* = m² + 3σ² (= 7 in the classroom);  wrt σ or log σ: b* = m² + 5σ².
    Not E[f] = m² + σ²: the best constant weights f where the score is large.
    """
    _, _, b_, c, _, _ = _quadratic_parts(mu, sigma, k, wrt)
    return b_ / c


def quadratic_optimal_score_variance(mu, sigma, *, k=0.0, wrt="mu"):
    """Variance of one term with the optimal baseline, ``V0 − B²/C``.

    Wrt μ: 8m² + 6σ² (= 38 in the classroom);  wrt σ: 40m² + 24σ²;  wrt log σ: σ² (40m² + 24σ²).
    """
    _, v0, b_, c, _, _ = _quadratic_parts(mu, sigma, k, wrt)
    return v0 - b_ * b_ / c


def quadratic_pathwise_variance(mu, sigma, *, k=0.0, wrt="mu"):
    """Variance of one pathwise term for ``f = (z − k)²``, ``f'(z) = 2(z − k) = 2(m + σε)``.

    Wrt μ: Var(2(m + σε)) = 4σ²;  wrt σ: Var(2mε + 2σε²) = 4m² + 8σ²;  wrt log σ: σ² (4m² + 8σ²).
    """
    mu, sigma, k = check_real(mu, "mu"), check_positive_float(sigma, "sigma"), check_real(k, "k")
    m2, s2 = (mu - k) ** 2, sigma ** 2
    if check_wrt(wrt) == "mu":
        return 4 * s2
    return (4 * m2 + 8 * s2) * (s2 if wrt == "log_sigma" else 1.0)


def quadratic_loo_variance(mu, sigma, n, *, k=0.0, wrt="mu"):
    """Variance of the N-SAMPLE average with the leave-one-out baseline, for ``f = (z − k)²``.

    With b_i = (Σ_j f_j − f_i)/(N−1),  f_i − b_i = N/(N−1) (f_i − f̄), so the average is
        G = 1/(N−1) Σ_i (f_i − f̄) s_i,
    the unbiased sample covariance of f and s (E[s] = 0, so E[G] = Cov(f, s) = the gradient).
    Its terms share f̄, so Var G is NOT Var(one term)/N.  Writing G as the U-statistic with kernel
    h = (f_a − f_b)(s_a − s_b)/2 and using Var U = [4(N−2) ζ₁ + 2 ζ₂]/(N(N−1)), ζ₁ = (μ22 − c²)/4,
    ζ₂ = (μ22 + μ20 μ02)/2, where μ_rs = E[(f − Ef)^r (s − Es)^s] and c = Cov(f, s):
        Var G = [μ22 − c² + (c² + μ20 μ02)/(N − 1)] / N.
    μ22 − c² is the variance of one term with the constant baseline b = E[f]; the extra
    (c² + μ20 μ02)/(N(N−1)) is the price of estimating that baseline.  Classroom (wrt μ):
        Var G = [8m² + 10σ² + (8m² + 2σ²)/(N − 1)] / N   (= (42 + 34/(N−1))/N at m = 2, σ = 1).
    Wrt σ: [40m² + 56σ² + (8m² + 8σ²)/(N − 1)] / N;  wrt log σ: σ² times that.
    """
    n = check_positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 for the leave-one-out baseline, got {n}")
    g, _, _, _, m22, p = _quadratic_parts(mu, sigma, k, wrt)
    return (m22 - g * g + (g * g + p) / (n - 1)) / n


# ---------------------------------------------------------------------- quadrature, any cost f

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
HALF_WIDTH = 12.0        # φ(12) ≈ 5e-32: [−12, 12] holds all the mass the pieces must resolve
_MAX_PIECES = 4000


class Moments(NamedTuple):
    """Mean and variance of one estimator term."""
    mean: float
    var: float


def _breakpoints(mu, sigma, points, scale):
    """Sorted breakpoints in ε inside [−L, L], always including −L, 0, L."""
    eps_points = [(check_real(p, "points[i]") - mu) / sigma for p in points]
    if scale is not None:
        step = check_positive_float(scale, "scale") / (4.0 * sigma)
        n = math.ceil(2 * HALF_WIDTH / step)
        if n > _MAX_PIECES:
            raise ValueError(f"scale={scale} with sigma={sigma} would need {n} pieces (max "
                             f"{_MAX_PIECES}); f varies too fast for quadrature at this sigma")
        eps_points += list(np.linspace(-HALF_WIDTH, HALF_WIDTH, n + 1))
    inside = [p for p in eps_points if -HALF_WIDTH < p < HALF_WIDTH]
    return sorted(set(inside) | {-HALF_WIDTH, 0.0, HALF_WIDTH})


def expect_std_normal(h, *, breaks=(-HALF_WIDTH, 0.0, HALF_WIDTH), epsabs=1e-13, epsrel=1e-11):
    """``E[h(ε)] = ∫ h(ε) φ(ε) dε``, ε ~ N(0, 1), by ``scipy.integrate.quad`` piece by piece.

    h      : scalar function of a float ε
    breaks : sorted breakpoints in ε (first and last are the ends of the finite part)
    Raises RuntimeError if quad reports trouble (give f's peaks as points or its scale).
    """
    def integrand(e):
        return h(e) * (_INV_SQRT_2PI * math.exp(-0.5 * e * e))

    pieces = [(-math.inf, breaks[0]), *zip(breaks[:-1], breaks[1:]), (breaks[-1], math.inf)]
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", integrate.IntegrationWarning)
        try:
            for a, b in pieces:
                total += integrate.quad(integrand, a, b, epsabs=epsabs, epsrel=epsrel, limit=200)[0]
        except integrate.IntegrationWarning as err:
            raise RuntimeError(f"quadrature did not converge on [{a}, {b}] (in ε): {err}; pass the "
                               f"cost's peaks as points= or its length scale as scale=") from None
    return total


def _term(f, mu, sigma, wrt, estimator, baseline=0.0):
    """One estimator term as a scalar function of ε."""
    if estimator == "pathwise":
        dz = {"mu": lambda e: 1.0, "sigma": lambda e: e, "log_sigma": lambda e: sigma * e}[wrt]
        return lambda e: float(f(mu + sigma * e)) * dz(e)
    return lambda e: (float(f(mu + sigma * e)) - baseline) * float(gaussian_score(e, sigma, wrt))


def _moments(g, breaks):
    mean = expect_std_normal(g, breaks=breaks)
    var = expect_std_normal(lambda e: (g(e) - mean) ** 2, breaks=breaks)
    return Moments(float(mean), float(var))


def _setup(f, name, mu, sigma, wrt, points, scale):
    check_callable(f, name)
    mu, sigma = check_real(mu, "mu"), check_positive_float(sigma, "sigma")
    check_wrt(wrt)
    return mu, sigma, _breakpoints(mu, sigma, points, scale)


def score_second_moment(sigma, wrt="mu"):
    """``E[s²]``: 1/σ² (μ), 2/σ² (σ), 2 (log σ), from E[ε²] = 1 and E[(ε² − 1)²] = 2."""
    sigma = check_positive_float(sigma, "sigma")
    return {"mu": 1.0 / sigma ** 2, "sigma": 2.0 / sigma ** 2, "log_sigma": 2.0}[check_wrt(wrt)]


def optimal_baseline(f, mu, sigma, *, wrt="mu", points=(), scale=None):
    """``b* = E[f(z) s(z)²] / E[s(z)²]``, the constant baseline of least variance (float).

    Var((f − b) s) = Var(f s) − 2b E[f s²] + b² E[s²] is a parabola in b; b* is its minimum.
    f : vectorized 1-D cost (called with floats here); points, scale : quadrature hints, z units.
    """
    mu, sigma, breaks = _setup(f, "f", mu, sigma, wrt, points, scale)
    fs2 = expect_std_normal(lambda e: float(f(mu + sigma * e)) * float(
        gaussian_score(e, sigma, wrt)) ** 2, breaks=breaks)
    return fs2 / score_second_moment(sigma, wrt)


def score_function_moments(f, mu, sigma, *, wrt="mu", baseline=None, points=(), scale=None):
    """Exact (mean, var) of ONE score-function term ``(f(z) − b) s(z)``, z ~ N(mu, sigma²).

    baseline : None (b = 0), a number, or 'optimal' (b* by :func:`optimal_baseline`)
    returns  : Moments(mean, var);  the N-sample average has variance var/N.
    """
    mu, sigma, breaks = _setup(f, "f", mu, sigma, wrt, points, scale)
    baseline = check_baseline(baseline)
    if baseline == "loo":
        raise ValueError("baseline='loo' has no single-sample variance; "
                         "use loo_variance(f, mu, sigma, n)")
    if baseline == "optimal":
        baseline = optimal_baseline(f, mu, sigma, wrt=wrt, points=points, scale=scale)
    return _moments(_term(f, mu, sigma, wrt, "score", baseline or 0.0), breaks)


def pathwise_moments(df, mu, sigma, *, wrt="mu", points=(), scale=None):
    """Exact (mean, var) of ONE pathwise term ``f'(z) ∂z/∂θ`` (∂z/∂θ = 1, ε, σε for μ, σ, log σ)."""
    mu, sigma, breaks = _setup(df, "df", mu, sigma, wrt, points, scale)
    return _moments(_term(df, mu, sigma, wrt, "pathwise"), breaks)


def loo_variance(f, mu, sigma, n, *, wrt="mu", points=(), scale=None):
    """Exact variance of the N-sample score-function average with the leave-one-out baseline.

    The average is the unbiased sample covariance of f and s; its variance (derivation in
    :func:`numpyvae.estimators.quadratic_loo_variance`) is
        [μ22 − c² + (c² + μ20 μ02)/(N − 1)] / N,
    c = Cov(f, s), μ22 = E[(f − Ef)² s²], μ20 = Var f, μ02 = E[s²], each by quadrature here.
    """
    mu, sigma, breaks = _setup(f, "f", mu, sigma, wrt, points, scale)
    n = check_positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 for the leave-one-out baseline, got {n}")
    fe = lambda e: float(f(mu + sigma * e))                              # noqa: E731
    se = lambda e: float(gaussian_score(e, sigma, wrt))                 # noqa: E731
    mean_f = expect_std_normal(fe, breaks=breaks)
    c = expect_std_normal(lambda e: fe(e) * se(e), breaks=breaks)
    mu22 = expect_std_normal(lambda e: (fe(e) - mean_f) ** 2 * se(e) ** 2, breaks=breaks)
    mu20 = expect_std_normal(lambda e: (fe(e) - mean_f) ** 2, breaks=breaks)
    return (mu22 - c * c + (c * c + mu20 * score_second_moment(sigma, wrt)) / (n - 1)) / n


# ---------------------------------------------------------------------- Mohamed et al. 2020, §3

def cost_table():
    """name -> (label, f(x, k), f'(x, k), default k grid, peaks(k), scale(k))."""
    return {
        "quadratic": ("$(x - k)^2$", lambda x, k: (x - k) ** 2, lambda x, k: 2.0 * (x - k),
                      np.linspace(-3.0, 3.0, 61), lambda k: (k,), lambda k: None),
        "exp": ("$\\exp(-k x^2)$", lambda x, k: np.exp(-k * x * x),
                lambda x, k: -2.0 * k * x * np.exp(-k * x * x),
                np.linspace(0.1, 3.0, 59), lambda k: (0.0,), lambda k: 1.0 / math.sqrt(k)),
        "cos": ("$\\cos(k x)$", lambda x, k: np.cos(k * x), lambda x, k: -k * np.sin(k * x),
                np.linspace(0.1, 3.0, 59), lambda k: (), lambda k: 2.0 * math.pi / k),
    }


COSTS = ("quadratic", "exp", "cos")


def cost_family_curves(mu=1.0, sigma=1.0, ks=None):
    """Exact single-sample variances against the cost parameter k (Mohamed et al. 2020, §3).

    Costs: (x − k)², exp(−k x²), cos(k x) under x ~ N(mu, sigma²); gradients wrt μ and σ;
    estimators: the cost family's records of estimators.registry (score function, with the
    optimal baseline b*, pathwise, measure-valued), each through its ``exact`` moments.
    ks : optional {cost name: 1-D k grid}; the defaults are k ∈ [−3, 3], [0.1, 3], [0.1, 3].
    Returns {"mu", "sigma", "costs": [{"name", "label", "k": (K,), "gradient": {wrt: (K,)},
             "variance": {wrt: {estimator: (K,)}}, "mean": {wrt: {estimator: (K,)}}}]},
    wrt in ("mu", "sigma"); an estimator not defined for a wrt (measure-valued, σ) is absent
    there.  "gradient" is the pathwise quadrature mean; every "mean" equals it (all unbiased).
    """
    from . import registry as E
    mu, sigma = check_real(mu, "mu"), check_positive_float(sigma, "sigma")
    ks = {} if ks is None else dict(ks)
    unknown = set(ks) - set(COSTS)
    if unknown:
        raise ValueError(f"ks has unknown cost names {sorted(unknown)}; expected some of {COSTS}")
    out = {"mu": mu, "sigma": sigma, "costs": []}
    for name, (label, f, df, grid, peaks, scale) in cost_table().items():
        grid = np.asarray(ks.get(name, grid), dtype=np.float64)
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
            raise ValueError(f"ks[{name!r}] must be a non-empty 1-D array of finite numbers")
        grad = {w: np.empty(grid.size) for w in ("mu", "sigma")}
        var = {w: {} for w in ("mu", "sigma")}
        mean = {w: {} for w in ("mu", "sigma")}
        for i, k in enumerate(grid):
            fk, dfk = (lambda x, k=k: f(x, k)), (lambda x, k=k: df(x, k))
            hints = {"points": peaks(k), "scale": scale(k)}
            for w in ("mu", "sigma"):
                grad[w][i] = pathwise_moments(dfk, mu, sigma, wrt=w, **hints).mean
                for e in E.names(E.COST_FAMILY):
                    m = E.get(e).exact(fk, dfk, mu, sigma, w, hints)
                    if m is not None:
                        var[w].setdefault(e, np.empty(grid.size))[i] = m.var
                        mean[w].setdefault(e, np.empty(grid.size))[i] = m.mean
        out["costs"].append({"name": name, "label": label, "k": grid,
                             "gradient": grad, "variance": var, "mean": mean})
    return out
