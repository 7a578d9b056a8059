"""How much an empirical variance wobbles: intervals for empirical/analytic variance ratios.

The sample variance s² of R independent estimates with variance σ² and excess kurtosis κ has
    Var(s²) = σ⁴ (2/(R − 1) + κ/R),
so s²/σ² is approximately χ²_ν/ν with the matched degrees of freedom ν = 2/(2/(R − 1) + κ/R)
(Gaussian estimates: κ = 0, ν = R − 1, the textbook χ² interval).  An N-sample average of i.i.d.
terms with excess kurtosis κ₁ has κ = κ₁/N.  κ₁ comes from the exact fourth moment of one term
(quadrature, :func:`classroom_kurtosis`), so heavy tails widen the interval instead of being
ignored.  Where no exact moment exists, :func:`bootstrap_ratio_interval` resamples the estimates.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from .._validate import check_positive_float, check_positive_int, check_rng


def chi2_dof(repetitions, kurtosis=0.0):
    """ν = 2/(2/(R − 1) + κ/R) for the sample variance of R estimates with excess kurtosis κ."""
    r = check_positive_int(repetitions, "repetitions")
    if r < 2:
        raise ValueError(f"repetitions must be >= 2, got {r}")
    k = float(kurtosis)
    if not np.isfinite(k) or k < -2:
        raise ValueError(f"kurtosis must be a finite excess kurtosis >= -2, got {kurtosis}")
    return 2.0 / (2.0 / (r - 1) + k / r)


def ratio_band(repetitions, kurtosis=0.0, level=0.95):
    """(lo, hi): the central `level` range of s²/σ² ≈ χ²_ν/ν.  A ratio outside it is evidence
    (at 1 − level) that the analytic variance is wrong."""
    level = check_positive_float(level, "level")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    nu = chi2_dof(repetitions, kurtosis)
    a = (1 - level) / 2
    return float(chi2.ppf(a, nu) / nu), float(chi2.ppf(1 - a, nu) / nu)


def bootstrap_ratio_interval(estimates, analytic_var, *, rng, n_boot=2000, level=0.95):
    """Percentile bootstrap interval of var(estimates, ddof=1)/analytic_var (estimates (R,))."""
    check_rng(rng)
    x = np.asarray(estimates, dtype=np.float64)
    if x.ndim != 1 or x.size < 3:
        raise ValueError("estimates must be a 1-D array of at least 3 values")
    idx = rng.integers(0, x.size, size=(check_positive_int(n_boot, "n_boot"), x.size))
    v = x[idx].var(axis=1, ddof=1) / check_positive_float(analytic_var, "analytic_var")
    a = (1 - level) / 2
    return float(np.quantile(v, a)), float(np.quantile(v, 1 - a))


def classroom_kurtosis(theta=2.0, sigma=1.0):
    """Excess kurtosis κ₁ of one term of each classroom estimator (f = z², z ~ N(θ, σ²)), by
    quadrature.  score_loo and score_optimal_est are given the value of their constant-baseline
    limits (b = E[f] and b*), which they approach as N grows."""
    from .exact import expect_std_normal as E
    from .exact import quadratic_optimal_baseline
    b_mean, b_opt = theta ** 2 + sigma ** 2, quadratic_optimal_baseline(theta, sigma)

    def kappa(term):
        m = E(term)
        v = E(lambda e: (term(e) - m) ** 2)
        return E(lambda e: (term(e) - m) ** 4) / v ** 2 - 3.0

    def score(b):
        return lambda e: ((theta + sigma * e) ** 2 - b) * e / sigma

    out = {"score": kappa(score(0.0)), "score_const": kappa(score(b_mean)),
           "score_optimal": kappa(score(b_opt)), "pathwise": 0.0}
    out["score_loo"], out["score_optimal_est"] = out["score_const"], out["score_optimal"]
    return out


def add_classroom_intervals(rows, level=0.95):
    """Add ratio, ratio_lo, ratio_hi (the band of var/analytic_var under the analytic value),
    var_lo, var_hi (the interval for the true variance given the empirical one) and kurtosis to
    rows of :func:`numpyvae.estimators.classroom_experiment`, in place; returns rows."""
    kap = {}
    for row in rows:
        key = (row["theta"], row["sigma"])
        if key not in kap:
            kap[key] = classroom_kurtosis(*key)
        k1 = kap[key].get(row["estimator"], 0.0)
        lo, hi = ratio_band(row["repetitions"], k1 / row["N"], level)
        q = row["var"] / row["analytic_var"]
        row.update(ratio=q, ratio_lo=lo, ratio_hi=hi, var_lo=row["var"] / hi,
                   var_hi=row["var"] / lo, kurtosis=k1 / row["N"], level=level)
    return rows


def format_intervals(rows):
    """The ratio of each row with its band, one line per (N, estimator)."""
    from .classroom import ESTIMATOR_LABELS
    level = rows[0].get("level", 0.95)
    head = (f"{'N':>7}  {'estimator':<31} {'var/analytic':>12}  {int(level * 100)}% band under the "
            "analytic value (χ², exact 4th moment)")
    lines = [head, "-" * len(head)]
    for r in rows:
        inside = r["ratio_lo"] <= r["ratio"] <= r["ratio_hi"]
        lines.append(f"{r['N']:>7}  {ESTIMATOR_LABELS.get(r['estimator'], r['estimator']):<31} "
                     f"{r['ratio']:>12.3f}  [{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}]"
                     f"{'' if inside else '  outside'}  (excess kurtosis {r['kurtosis']:.1f})"
                     f"{'' if r.get('analytic_exact', True) else '  ~ large-N analytic value'}")
    lines.append(f"A ratio inside its band is within the noise of {rows[0]['repetitions']} "
                 f"repetitions; about 1 row in {round(1 / (1 - level))} falls outside by chance.  The "
                 "estimators share their noise, so at one N their ratios move together: one "
                 "unlucky draw shifts a whole block.")
    return "\n".join(lines)
