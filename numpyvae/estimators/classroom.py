"""The classroom experiment: d/dθ E[z²], z ~ N(θ, σ²), by every estimator on shared noise.

Each estimate's variance is printed beside its exact value from :mod:`.exact`.
"""
from __future__ import annotations

import time

import numpy as np

from .._validate import check_positive_float, check_positive_int, check_rng
from .checks import check_real
from .exact import (quadratic_loo_variance, quadratic_optimal_baseline,
                    quadratic_optimal_score_variance, quadratic_pathwise_variance,
                    quadratic_score_variance)
from .montecarlo import apply_score
from . import registry as R

_CHUNK = 1 << 18        # doubles per block of noise (2 MB): keeps the temporaries in cache


def _classroom_block(eps, theta, sigma, baselines, work):
    """Every classroom estimator on one block of noise, sharing z, f(z) = z² and s = ε/σ.

    eps : (r, n);  work : 3 scratch arrays (r, n);  returns {estimator: (r,) estimates}.
    The arithmetic is that of :func:`score_function` and :func:`pathwise` (a test checks they agree
    bit for bit); only the temporaries are shared and reused.
    """
    fz, s, buf = work
    np.multiply(eps, sigma, out=fz)
    fz += theta                                         # z = θ + σ ε
    out = {"pathwise": fz.mean(axis=1) * 2.0}           # f'(z) = 2z  (×2 is exact, so = mean of 2z)
    np.square(fz, out=fz)                               # f(z) = z²
    for name, b in baselines.items():
        np.divide(eps, sigma, out=s)                    # s_μ = ε/σ (apply_score overwrites s)
        out[name] = apply_score(fz, s, buf, b).mean(axis=1)
    return out


def classroom_experiment(theta=2.0, sigma=1.0, Ns=(10, 100, 1000, 10000, 100000), repetitions=100,
                         *, rng, constant_baseline=None):
    """``d/dθ E[z²]``, ``z ~ N(θ, σ²)`` (true value 2θ), estimated R times with N samples, each N.

    Every estimator sees the same noise.  Estimators (registry.names("classroom"), in that order):
    score (b = 0), score_const (b = constant_baseline, default E[f] = θ² + σ²), score_loo,
    score_optimal (the exact b* = θ² + 3σ²), score_optimal_est (b* estimated leave-one-out),
    pathwise.
    Returns a list of dict rows, one per (N, estimator):
        N, estimator, repetitions, theta, sigma, true_grad,
        mean, var      the mean and the (ddof=1) variance of the R estimates
        analytic_var   the exact variance of the N-sample average; for score_optimal_est only the
                       large-N value Var*/N: estimating b* adds O(1/N²), i.e. a relative O(1/N)
                       (f s² is heavy-tailed: at N = 10 the variance is about 1.8x Var*/N)
        analytic_exact False only for score_optimal_est
    The noise is drawn in float64 in blocks of whole repetitions (same numbers as one big draw).
    """
    theta, sigma = check_real(theta, "theta"), check_positive_float(sigma, "sigma")
    r = check_positive_int(repetitions, "repetitions")
    if r < 2:
        raise ValueError(f"repetitions must be >= 2 to estimate a variance, got {r}")
    Ns = [check_positive_int(n, "Ns[i]") for n in Ns]
    if not Ns or min(Ns) < 2:
        raise ValueError(f"Ns must be a non-empty sequence of ints >= 2, got {Ns}")
    check_rng(rng)
    b_const = theta ** 2 + sigma ** 2 if constant_baseline is None else check_real(
        constant_baseline, "constant_baseline")
    b_opt = quadratic_optimal_baseline(theta, sigma)
    per_one = {"score": quadratic_score_variance(theta, sigma),
               "score_const": quadratic_score_variance(theta, sigma, baseline=b_const),
               "score_optimal": quadratic_optimal_score_variance(theta, sigma),
               "score_optimal_est": quadratic_optimal_score_variance(theta, sigma),
               "pathwise": quadratic_pathwise_variance(theta, sigma)}
    baselines = {"score": None, "score_const": b_const, "score_loo": "loo",
                 "score_optimal": b_opt, "score_optimal_est": "optimal"}
    names = R.names(R.CLASSROOM)
    unknown = [n for n in names if n not in baselines and n != "pathwise"]
    if unknown:
        raise ValueError(f"the classroom experiment has no formula for {unknown}: add its "
                         "baseline and exact variance here")
    baselines = {n: b for n, b in baselines.items() if n in names}

    rows = []
    for n in Ns:
        est = {name: np.empty(r) for name in names}
        step = max(1, min(r, _CHUNK // n))
        noise, *work = (np.empty((step, n)) for _ in range(4))   # reused: no 80 MB temporaries
        for r0 in range(0, r, step):
            rows_here = min(step, r - r0)
            eps = rng.standard_normal(out=noise[:rows_here])
            block = _classroom_block(eps, theta, sigma, baselines, [w[:rows_here] for w in work])
            for name in names:
                est[name][r0:r0 + rows_here] = block[name]
        for name in names:
            exact = (quadratic_loo_variance(theta, sigma, n) if name == "score_loo"
                     else per_one[name] / n)
            rows.append({"N": n, "estimator": name, "repetitions": r, "theta": theta,
                         "sigma": sigma, "true_grad": 2 * theta,
                         "mean": float(est[name].mean()), "var": float(est[name].var(ddof=1)),
                         "analytic_var": float(exact),
                         "analytic_exact": name != "score_optimal_est"})
    return rows


def format_table(rows):
    """The rows of :func:`classroom_experiment` as a fixed-width text table (str)."""
    head = f"{'N':>7}  {'estimator':<31} {'mean':>9} {'var':>11} {'analytic var':>12} {'ratio':>6}"
    lines = [head, "-" * len(head)]
    for row in rows:
        mark = "" if row["analytic_exact"] else " ~"
        label = R.label(row["estimator"])
        lines.append(f"{row['N']:>7}  {label:<31} {row['mean']:>9.5f} {row['var']:>11.4e} "
                     f"{row['analytic_var']:>12.4e} {row['var'] / row['analytic_var']:>6.3f}{mark}")
    lines.append("~ : large-N analytic value; estimating b* adds a relative O(1/N) "
                 "(about +75% at N = 10)")
    return "\n".join(lines)


if __name__ == "__main__":
    t0 = time.perf_counter()
    table = classroom_experiment(rng=np.random.default_rng(0))
    elapsed = time.perf_counter() - t0
    print(format_table(table))
    print(f"classroom_experiment: {elapsed:.3f} s")


def __getattr__(name):
    """``ESTIMATORS`` and ``ESTIMATOR_LABELS``: the classroom study's names and labels, read from
    the registry at each use."""
    if name == "ESTIMATORS":
        return R.names(R.CLASSROOM)
    if name == "ESTIMATOR_LABELS":
        return R.labels(R.CLASSROOM)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
