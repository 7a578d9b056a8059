"""How much an empirical variance wobbles: intervals for empirical/analytic variance ratios.

The sample variance s² of R independent estimates with variance σ² and excess kurtosis κ has
    Var(s²) = σ⁴ (2/(R − 1) + κ/R),
so s²/σ² is approximately χ²_ν/ν with the matched degrees of freedom ν = 2/(2/(R − 1) + κ/R)
(Gaussian estimates: κ = 0, ν = R − 1, the textbook χ² interval).  An N-sample average of i.i.d.
terms with excess kurtosis κ₁ has κ = κ₁/N.  κ₁ comes from the exact fourth moment of one term
(quadrature, :func:`classroom_kurtosis`), so heavy tails widen the interval instead of being
ignored.  Where no exact moment exists, :func:`bootstrap_ratio_interval` resamples the estimates.

:func:`median_snr_interval` gives a gradient SNR (the median over parameters of |mean| / sd)
its interval by resampling repetitions, or groups of them for a study that streams its sums.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import chi2
from scipy.stats import t as t_dist

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
    from .registry import label
    level = rows[0].get("level", 0.95)
    head = (f"{'N':>7}  {'estimator':<31} {'var/analytic':>12}  {int(level * 100)}% band under the "
            "analytic value (χ², exact 4th moment)")
    lines = [head, "-" * len(head)]
    for r in rows:
        inside = r["ratio_lo"] <= r["ratio"] <= r["ratio_hi"]
        lines.append(f"{r['N']:>7}  {label(r['estimator']):<31} "
                     f"{r['ratio']:>12.3f}  [{r['ratio_lo']:.2f}, {r['ratio_hi']:.2f}]"
                     f"{'' if inside else '  outside'}  (excess kurtosis {r['kurtosis']:.1f})"
                     f"{'' if r.get('analytic_exact', True) else '  ~ large-N analytic value'}")
    lines.append(f"A ratio inside its band is within the noise of {rows[0]['repetitions']} "
                 f"repetitions; about 1 row in {round(1 / (1 - level))} falls outside by chance.  The "
                 "estimators share their noise, so at one N their ratios move together: one "
                 "unlucky draw shifts a whole block.")
    return "\n".join(lines)


def median_snr_interval(counts, sums, sums_sq, *, mean_sums=None, rng, n_boot=100, level=0.95,
                        max_params=20000):
    """The median over parameters of SNR_j = |mean_j| / sd_j (ddof = 1) and a bootstrap
    confidence interval for it, from per-unit sums of independent repetitions.

    counts : (U,) repetitions in each unit; a unit is one repetition (counts 1, sums the draws
        themselves) or a group of them summed on the fly, so that a study that streams its
        repetitions needs memory for U units, not for R repetitions.
    sums, sums_sq : (U, P) per unit Σ g and Σ g² of each parameter's draws g.
    mean_sums : optional (U, P) Σ of another series on the same noise whose mean is the SNR's
        numerator (the toy's IWAE encoder uses DReG's mean, which has the same expectation).
    Parameters with zero variance over all R draws are left out (an identically zero gradient
    has no SNR), as are, in a bootstrap replicate, those with zero variance in that replicate.

    The interval: the U units are i.i.d. (disjoint sets of independent repetitions), so
    resampling units with replacement (``n_boot`` replicates; the replicate sums are count
    matrices times the unit sums) gives the sampling spread of the median at the full R.  With
    se the replicates' standard deviation of log SNR, scaled by √(U/(U − 1)), the interval is
        SNR · exp(± t_ν · se)   (t quantile at (1 + level)/2),   1/ν = 1/(U − 1) + 1/(B − 1).
    For a plain mean this is the textbook t interval of U group means (the bootstrap variance of
    a mean of U units is (U − 1)/U times the usual s²/U), so a few large groups lose nothing but
    degrees of freedom, which t pays for; the 1/(B − 1) term pays for the Monte Carlo noise of
    se from B = n_boot replicates (relative variances add, as in Satterthwaite's rule).  The log
    scale keeps the interval positive and follows the ratio's right skew.
    It is not a percentile interval: a bootstrap replicate of |mean|/sd carries the estimate's
    upward bias a second time (near the noise floor 1/√R, or where rare large draws dominate
    sd), which can put the whole replicate distribution above the estimate.  Centred on the
    estimate, the interval measures how much the number wobbles from run to run.  It does not
    remove that bias: an SNR at the noise floor is mostly noise whatever its interval.
    Cost: a replicate needs every parameter's SNR and a median, so above ``max_params``
    parameters the replicates use a fixed random subset of that many (the estimate uses all).
    A subset's median wobbles at least as much as the whole set's (the noise shared by all
    parameters moves both alike; the parameters' own noise averages out less over fewer), so
    the interval errs on the wide side.  Replicates take the median of SNR², not of SNR (the
    same for an odd count, and within rounding of the middle pair for an even one).
    Returns {"snr", "lo", "hi", "se_log", "n_params"}.
    """
    check_rng(rng)
    n_boot = check_positive_int(n_boot, "n_boot")
    max_params = check_positive_int(max_params, "max_params")
    level = check_positive_float(level, "level")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    n = np.asarray(counts, dtype=np.float64)
    s1 = np.asarray(sums, dtype=np.float64)
    s2 = np.asarray(sums_sq, dtype=np.float64)
    m1 = s1 if mean_sums is None else np.asarray(mean_sums, dtype=np.float64)
    if n.ndim != 1 or s1.ndim != 2 or s1.shape[0] != n.size or s2.shape != s1.shape \
            or m1.shape != s1.shape:
        raise ValueError(f"counts must be (U,) and sums, sums_sq, mean_sums (U, P); got "
                         f"{n.shape}, {s1.shape}, {s2.shape}, {m1.shape}")
    if n.size < 2 or np.any(n < 1) or n.sum() < 3:
        raise ValueError(f"need at least 2 units and 3 repetitions, got counts {n.tolist()}")
    u, total = n.size, n.sum()
    t1, t2, tm = s1.sum(axis=0), s2.sum(axis=0), m1.sum(axis=0)
    var = np.maximum(t2 - t1 * t1 / total, 0.0) / (total - 1)
    keep = np.flatnonzero(var > 0)
    if keep.size == 0:
        raise ValueError("every parameter has zero variance: no SNR")
    snr = float(np.median(np.abs(tm[keep] / total) / np.sqrt(var[keep])))
    if keep.size > max_params:
        keep = np.sort(rng.choice(keep, size=max_params, replace=False))
    s1, s2 = s1[:, keep], s2[:, keep]
    m1 = s1 if mean_sums is None else m1[:, keep]
    chunk = max(1, min(n_boot, 2_000_000 // keep.size))        # replicates of <= 16 MB at once
    logs = []
    for b0 in range(0, n_boot, chunk):
        c = rng.multinomial(u, np.full(u, 1.0 / u), size=min(chunk, n_boot - b0)).astype(float)
        nb = (c @ n)[:, None]
        a1, v = c @ s1, c @ s2
        am = a1.copy() if mean_sums is None else c @ m1
        a1 *= a1
        a1 /= nb
        v -= a1                                  # (N − 1) var, per replicate and parameter
        am *= am                                 # (N mean)²
        ok = v > 0
        snr2 = np.divide(am, v, out=np.full_like(v, np.nan), where=ok)
        snr2 *= (nb - 1) / (nb * nb)
        med = np.median(snr2, axis=1) if ok.all() else np.nanmedian(snr2, axis=1)
        logs.append(0.5 * np.log(med))
    se = float(np.std(np.concatenate(logs), ddof=1) * np.sqrt(u / (u - 1)))
    q = float(t_dist.ppf(0.5 + level / 2, 1.0 / (1.0 / (u - 1) + 1.0 / (n_boot - 1))))
    return {"snr": snr, "lo": snr * float(np.exp(-q * se)), "hi": snr * float(np.exp(q * se)),
            "se_log": se, "n_params": int(np.count_nonzero(var > 0))}
