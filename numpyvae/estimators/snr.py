"""Tighter bounds starve the encoder: gradient SNR of the IWAE bound against K (Rainforth et al.
2018), and two fixes, STL (Roeder et al. 2017) and DReG (Tucker et al. 2018).

The Gaussian toy of Rainforth et al.:  z ~ N(μ, I),  x | z ~ N(z, I)  (so p(x) = N(μ, 2I) and
p(z | x) = N((x + μ)/2, ½ I)),  q(z | x) = N(Ax + b, σ_q² I) with σ_q² = ⅔,  D = 20.  The
generative parameter is μ, the inference parameters A and b.  At the optimum A = I/2, b = μ/2.

With z_k = m + σ_q ε_k (m = Ax + b), log w_k = log p(z_k) + log p(x | z_k) − log q(z_k | x) and
w̃_k the normalised weights, the IWAE bound L_K = log (1/K) Σ w_k has the gradients (by hand):

    ∂L/∂μ         = Σ_k w̃_k (z_k − μ)                                 generative ("decoder")
    iwae  ∂L/∂m   = Σ_k w̃_k [(μ − z_k) + (x − z_k)]                   the total derivative: the
                    path term ∂_z log w · ∂z/∂m plus the score term ∂_m(−log q)|_z = −(z − m)/σ_q²
    stl   ∂L/∂m   = Σ_k w̃_k [(μ − z_k) + (x − z_k) + (z_k − m)/σ_q²]    path term only
    dreg  ∂L/∂m   = Σ_k w̃_k² [(μ − z_k) + (x − z_k) + (z_k − m)/σ_q²]   doubly reparameterized

and ∂L/∂b = ∂L/∂m, ∂L/∂A = (∂L/∂m) xᵀ.  iwae and dreg have the same expectation (DReG is unbiased);
stl is unbiased for K = 1 only.  At q = p(z | x) (σ_q² = ½, m = (x + μ)/2) every STL term is 0.
Shapes: x (D,), noise eps (R, K, D): R independent repetitions of a K-sample gradient.

On a VAE (:func:`vae_snr`) the same three gradients come from the model's objectives "iwae",
"iwae_stl" and "iwae_dreg" (vae.py; the posterior's ``backward(..., score=False)``).

No SNR here has a closed form, so each comes with a 95% interval, a bootstrap over the
repetitions (:func:`numpyvae.estimators.intervals.median_snr_interval`, which owns the
statistic), and each fitted log-log slope with a standard error (:func:`loglog_fit`).
"""
from __future__ import annotations

import numpy as np

from .. import objectives as O
from .._validate import check_positive_int, check_rng
from . import registry as R

D_TOY = 20
SIGMA_Q2 = 2.0 / 3.0
BASE = "iwae"        # the standard gradient; the others' decoder gradient is its, bit for bit


def make_toy(*, rng, d=D_TOY, n_data=1024, perturb=0.01):
    """The true μ* ~ N(0, I), data x_n ~ N(μ*, 2I), and parameters perturbed by N(0, perturb²)
    around the optimum (μ = mean of the data, A = I/2, b = μ/2).  Returns a dict."""
    check_rng(rng)
    d = check_positive_int(d, "d")
    mu_true = rng.standard_normal(d)
    x = mu_true + np.sqrt(2.0) * rng.standard_normal((check_positive_int(n_data, "n_data"), d))
    mu_opt = x.mean(axis=0)
    return {"x": x, "mu_true": mu_true,
            "mu": mu_opt + perturb * rng.standard_normal(d),
            "A": 0.5 * np.eye(d) + perturb * rng.standard_normal((d, d)),
            "b": 0.5 * mu_opt + perturb * rng.standard_normal(d)}


def log_weights(x, mu, m, s2, z):
    """log w = log N(z; μ, I) + log N(x; z, I) − log N(z; m, s2 I), z (..., D) -> (...)."""
    d = z.shape[-1]
    return (-0.5 * np.sum((z - mu) ** 2, -1) - 0.5 * np.sum((x - z) ** 2, -1)
            + 0.5 * np.sum((z - m) ** 2, -1) / s2 - d * np.log(2 * np.pi)
            + 0.5 * d * np.log(2 * np.pi * s2))


def iwae_bound(x, mu, A, b, eps, s2=SIGMA_Q2):
    """The K-sample IWAE bound for one x, each repetition: eps (R, K, D) -> (R,)."""
    m = A @ x + b
    lw = log_weights(x, mu, m, s2, m + np.sqrt(s2) * eps)
    return O.log_mean_exp(lw, axis=1)


def gradients(x, mu, A, b, eps, s2=SIGMA_Q2):
    """Gradients of the IWAE bound at one x for every repetition, by hand.

    Returns {"mu": (R, D), "iwae": {"b": (R, D), "A": (R, D, D)}, "stl": {...}, "dreg": {...}}.
    """
    m = A @ x + b
    z = m + np.sqrt(s2) * eps
    lw = log_weights(x, mu, m, s2, z)
    w = O.log_mean_exp(lw, axis=1, weights=True)[1]         # normalised weights, (R, K)
    total = (mu - z) + (x - z)                              # d log w / dm, total
    path = total + (z - m) / s2                             # ∂_z log w (times ∂z/∂m = I)
    out = {"mu": np.einsum("rk,rkd->rd", w, z - mu)}
    for name, weights, term in (("iwae", w, total), ("stl", w, path), ("dreg", w * w, path)):
        gm = np.einsum("rk,rkd->rd", weights, term)
        out[name] = {"b": gm, "A": gm[:, :, None] * x[None, None, :]}
    return out


def snr_study(toy, Ks=(1, 3, 10, 30, 100), repetitions=1000, *, rng, n_points=4, n_boot=200,
              level=0.95):
    """SNR of each estimator's encoder gradient (A and b) and of the decoder gradient (μ) against
    K, on the first n_points data points.  Per (point, parameter) the SNR over the repetitions,
    then the median over parameters and points, with its bootstrap interval
    (:func:`numpyvae.estimators.intervals.median_snr_interval`; units are the repetitions, all
    points of one repetition resampled together).  The bootstrap draws from a generator spawned
    from ``rng``, so the SNRs themselves are those of ``rng`` alone, and at one K every series is
    resampled with the same counts (identical gradients get identical intervals).

    The expectation of the standard IWAE encoder gradient shrinks like 1/K, and at large K its
    sample mean over R repetitions is mostly noise (an SNR floor near 1/√R).  iwae and dreg have
    the same expectation (the paired t-test of :func:`paired_t` checks it), so both SNRs use the
    mean of the dreg samples, whose noise is far smaller; each uses its own standard deviation.
    stl (biased for K > 1) uses its own mean.

    The decoder gradient ∂L/∂μ is the same for all three estimators: STL freezes q's parameters
    (A, b), which μ is not among, and DReG reweights only the encoder's gradient (Tucker et al.
    keep IWAE's for the generative model).  So the stl and dreg decoder rows repeat the iwae
    decoder row, SNR and interval alike (tests/library/test_snr.py checks STL's surrogate against it).
    Returns (rows {model: "gaussian_toy", estimator, part, K, snr, snr_lo, snr_hi, snr_se_log}
    — one per (estimator, part, K) — and {K: {estimator: [(R, D) b-gradient samples per
    point]}} for the t-tests)."""
    from .intervals import median_snr_interval
    check_rng(rng)
    r = check_positive_int(repetitions, "repetitions")
    if r < 3:
        raise ValueError(f"repetitions must be >= 3 for an interval, got {r}")
    boot = rng.spawn(1)[0]
    ones = np.ones(r)
    rows, samples = [], {}

    def interval(g, seed, mean=None):
        out = median_snr_interval(ones, g, g * g, mean_sums=mean, rng=np.random.default_rng(seed),
                                  n_boot=n_boot, level=level)
        return {"snr": out["snr"], "snr_lo": out["lo"], "snr_hi": out["hi"],
                "snr_se_log": out["se_log"]}

    for k in Ks:
        k = check_positive_int(k, "K")
        names = R.names(R.SNR)
        enc = {e: [] for e in names}
        dec = []
        samples[k] = {e: [] for e in names}
        block = max(1, min(r, 2_000_000 // (k * toy["mu"].size)))   # noise blocks of <= 16 MB
        for x in toy["x"][:n_points]:
            parts = [gradients(x, toy["mu"], toy["A"], toy["b"],
                               rng.standard_normal((min(block, r - r0), k, toy["mu"].size)))
                     for r0 in range(0, r, block)]
            dec.append(np.concatenate([p["mu"] for p in parts]))
            for e in names:
                g = {w: np.concatenate([p[e][w] for p in parts]) for w in ("b", "A")}
                enc[e].append(np.concatenate([g["b"], g["A"].reshape(r, -1)], axis=1))
                samples[k][e].append(g["b"])
        flat = {e: np.concatenate(v, axis=1) for e, v in enc.items()}     # (R, points · P)
        seed = int(boot.integers(2 ** 63))
        decoder = interval(np.concatenate(dec, axis=1), seed)
        for e in names:
            mean = flat["dreg"] if e == "iwae" else None
            base = {"model": "gaussian_toy", "estimator": e, "K": k}
            rows.append({**base, "part": "encoder", **interval(flat[e], seed, mean)})
            rows.append({**base, "part": "decoder", **decoder})
    return rows, samples


def paired_t(a, b):
    """Paired t statistic and two-sided p-value for E[a − b] = 0, per column; a, b (R, P) computed
    on the same noise (so the pairs, not the samples, are independent)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return t_test(d.mean(0), d.std(0, ddof=1), d.shape[0])


def t_test(mean, sd, r):
    """One-sample t statistic and two-sided p-value for E = 0 from a sample mean and standard
    deviation (ddof = 1) of r draws, per entry."""
    from scipy import stats
    t = mean / (sd / np.sqrt(r))
    return t, 2 * stats.t.sf(np.abs(t), r - 1)


def loglog_slope(rows, estimator, part):
    """Least-squares slope of log SNR against log K for one (estimator, part)."""
    return loglog_fit(rows, estimator, part)["slope"]


def loglog_fit(rows, estimator, part):
    """The least-squares line log SNR = a + slope · log K for one (estimator, part), and two
    standard errors of its slope:

    se        from the SNRs' own noise: the slope is Σ_i c_i log SNR_i with the least-squares
              weights c_i = (log K_i − mean) / Σ (log K_i − mean)², and each K has its own
              independent noise, so Var(slope) = Σ c_i² se_i², se_i the row's ``snr_se_log``
              (its bootstrap standard error of log SNR).  It says how much the slope wobbles
              from run to run, not whether log SNR is a straight line in log K.
    se_fit    the textbook residual one, √(Σ resid² / (n − 2) / Σ (log K_i − mean)²): misfit
              (curvature, e.g. √K reached only asymptotically) counts here too; nan for n = 2.
    Returns {"slope", "se", "se_fit"} (se is nan if a row has no ``snr_se_log``)."""
    sel = sorted((r["K"], r["snr"], r.get("snr_se_log", np.nan)) for r in rows
                 if r["estimator"] == estimator and r["part"] == part)
    k, s, se = np.array(sel, dtype=float).T
    x, y = np.log(k), np.log(s)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ y / sxx)
    resid = y - y.mean() - slope * dx
    se_fit = float(np.sqrt(resid @ resid / (x.size - 2) / sxx)) if x.size > 2 else float("nan")
    return {"slope": slope, "se": float(np.sqrt(np.sum((dx / sxx) ** 2 * se ** 2))),
            "se_fit": se_fit}


def format_snr(rows, columns=None, level=0.95):
    """SNR rows of one model as a table: one line per K, each cell "snr [lo, hi]", then the
    fitted log-log slope ± its noise standard error (:func:`loglog_fit`) per column.
    columns : (estimator, part) pairs; default every estimator's encoder, then BASE's decoder."""
    if columns is None:
        columns = [(e, "encoder") for e in R.names(R.SNR)] + [(BASE, "decoder")]
    by = {(r["estimator"], r["part"], r["K"]): r for r in rows}
    ks = sorted({r["K"] for r in rows})
    cells = [[f"{e} {p}" for e, p in columns]]
    for k in ks:
        cells.append([f"{by[e, p, k]['snr']:.3g} [{by[e, p, k]['snr_lo']:.3g}, "
                      f"{by[e, p, k]['snr_hi']:.3g}]" for e, p in columns])
    fits = [loglog_fit(rows, e, p) for e, p in columns]
    cells.append([f"{f['slope']:+.3f} ± {f['se']:.3f}" for f in fits])
    cells.append([f"{f['se_fit']:.3f}" for f in fits])
    heads = ["K"] + [str(k) for k in ks] + ["slope ± s.e.", "s.e. (fit)"]
    width = [max(len(c[j]) for c in cells) for j in range(len(columns))]
    hw = max(len(h) for h in heads)
    lines = []
    for i, (h, row) in enumerate(zip(heads, cells)):
        lines.append(f"{h:>{hw}}  " + "  ".join(c.rjust(w) for c, w in zip(row, width)))
        if i == 0 or i == len(ks):
            lines.append("-" * len(lines[-1]))
    lines.append(f"[lo, hi]: {level:.0%} interval (bootstrap over the repetitions, "
                 "log scale); slope ± s.e.: the noise of the SNRs carried through the "
                 "least-squares fit; s.e. (fit): from the fit's residuals, misfit included")
    return "\n".join(lines)


def stl_at_exact_posterior(x, mu, eps):
    """K = 1 ELBO gradient wrt m at q = p(z | x) = N((x + μ)/2, ½ I): (standard, stl) (R, D).
    Every STL term is exactly 0; the standard one is μ + x − 2z with variance 4 · ½ = 2."""
    m = 0.5 * (x + mu)
    g = gradients(x, mu, np.zeros((x.size, x.size)), m, eps, s2=0.5)
    return g["iwae"]["b"], g["stl"]["b"]


# estimator -> the VAE's objective: read from the bounds' table (objectives.Objective.snr_name)
VAE_OBJECTIVES = {o.snr_name: o.name for o in O.OBJECTIVES.values() if o.snr_name}


def vae_snr(model, x, Ks=(1, 4, 16, 64), repetitions=50, *, rng, tests=None, groups=10,
            n_boot=100, level=0.95):
    """SNR of the IWAE, STL and DReG gradients of a VAE against K, through the public API only:
    ``model.loss_and_grad(x, eps=..., objective=o)`` with o = "iwae", "iwae_stl", "iwae_dreg"
    (:data:`VAE_OBJECTIVES`), all three on the same noise, and ``model.named_grads()``
    (parameters named ``encoder.*`` and ``decoder.*``).  x : (N, D) a fixed minibatch.

    Per parameter the SNR over the repetitions, then the median over the parameters of each part
    whose gradient is not identically zero.  Each estimator's mean is its own sample mean over
    the same R draws, so an SNR near 1/√R is at the noise floor.  (The toy's :func:`snr_study`
    gives the IWAE encoder DReG's mean; here the t-tests of ``tests`` are too weak at small R to
    justify that.)

    Memory does not grow with R: the R repetitions fall into ``groups`` consecutive groups
    (G = min(groups, R)), and for each group the float64 sums Σ g and Σ g² are accumulated as
    the repetitions stream by, for IWAE's whole gradient and STL's and DReG's encoder parts
    (2 G (P + 2 P_enc) floats: 131 MB for the 409k-parameter VAE of ``numpyvae variance``);
    the paired differences of the t-tests keep whole-run sums over the encoder.  The G groups
    are i.i.d., so the interval is a bootstrap over groups
    (:func:`numpyvae.estimators.intervals.median_snr_interval`, which explains why G groups
    cost only degrees of freedom); it draws from a generator spawned from ``rng``, the same
    counts for every series at one K.  A per-
    repetition bootstrap would need every gradient; the alternative of batch means (the SNR of
    each group alone) measures a different statistic, the SNR from R/G draws, far more biased
    at the noise floor than the SNR from R.

    The decoder's STL and DReG gradients are IWAE's, bit for bit (the decoder is not in q), so
    their decoder rows repeat the IWAE row, interval included; the loop checks the identity on
    every draw and raises if it fails.  At K = 1 DReG's weights are exactly 1 and its encoder
    rows equal STL's.
    tests : optional dict, filled with {K: {"stl" | "dreg": (t, p)}}: the paired t-test of each
        encoder gradient against IWAE's (:func:`t_test`), per encoder parameter where the paired
        difference is not identically zero.
    Returns rows {model: "vae", estimator, part, K, snr, snr_lo, snr_hi, snr_se_log}."""
    from .intervals import median_snr_interval
    check_rng(rng)
    r = check_positive_int(repetitions, "repetitions")
    if r < 3:
        raise ValueError(f"repetitions must be >= 3 for an interval, got {r}")
    n_groups = min(check_positive_int(groups, "groups"), r)
    if n_groups < 2:
        raise ValueError(f"groups must be >= 2, got {groups}")
    boot = rng.spawn(1)[0]
    params = model.named_params()                 # the encoder's parameters first, then the rest
    names = sorted(params, key=lambda n: not n.startswith("encoder"))
    n_enc = sum(params[n].size for n in names if n.startswith("encoder"))
    enc, dec = slice(0, n_enc), slice(n_enc, None)
    edges = np.linspace(0, r, n_groups + 1).round().astype(int)
    counts = np.diff(edges).astype(np.float64)
    group_of = np.repeat(np.arange(n_groups), counts.astype(int))
    estimators = R.names(R.SNR)
    others = [e for e in estimators if e != BASE]          # their decoder gradient is BASE's
    sizes = {e: n_enc for e in others}
    sizes[BASE] = sum(params[n].size for n in names)
    rows = []
    for k in Ks:
        k = check_positive_int(k, "K")
        s1 = {e: np.zeros((n_groups, n)) for e, n in sizes.items()}
        s2 = {e: np.zeros((n_groups, n)) for e, n in sizes.items()}
        d1 = {e: 0.0 for e in others}
        d2 = dict(d1)
        for i in range(r):
            eps = rng.standard_normal((k, x.shape[0], model.z_dim), dtype=model.dtype)
            g = {}
            for e in estimators:
                model.loss_and_grad(x, eps=eps, objective=VAE_OBJECTIVES[e])
                grads = model.named_grads()
                g[e] = np.concatenate([np.asarray(grads[n], dtype=np.float64).ravel()
                                       for n in names])
            j = group_of[i]
            s1[BASE][j] += g[BASE]
            s2[BASE][j] += g[BASE] ** 2
            for e in others:
                if not np.array_equal(g[e][dec], g[BASE][dec]):
                    raise RuntimeError(f"the {e} decoder gradient differs from IWAE's; it must "
                                       "be the same, bit for bit")
                v, d = g[e][enc], g[e][enc] - g[BASE][enc]
                s1[e][j] += v
                s2[e][j] += v * v
                d1[e] = d1[e] + d
                d2[e] = d2[e] + d * d
        found, seed = {}, int(boot.integers(2 ** 63))
        series = [(BASE, "encoder", enc), (BASE, "decoder", dec)]
        series += [(e, "encoder", slice(None)) for e in others]
        for e, part, sel in series:
            out = median_snr_interval(counts, s1[e][:, sel], s2[e][:, sel],
                                      rng=np.random.default_rng(seed), n_boot=n_boot,
                                      level=level)
            found[e, part] = {"snr": out["snr"], "snr_lo": out["lo"], "snr_hi": out["hi"],
                              "snr_se_log": out["se_log"]}
        for e in estimators:
            for part in ("encoder", "decoder"):
                rows.append({"model": "vae", "estimator": e, "part": part, "K": k,
                             **found[e if part == "encoder" else BASE, part]})
        if tests is not None:
            tests[k] = {}
            for e in others:
                mean = d1[e] / r
                sd = np.sqrt(np.maximum(d2[e] - r * mean ** 2, 0.0) / (r - 1))
                keep = sd > 0
                tests[k][e] = t_test(mean[keep], sd[keep], r)
    return rows


def __getattr__(name):
    """``ESTIMATORS``: the SNR study's names, read from the registry at each use."""
    if name == "ESTIMATORS":
        return R.names(R.SNR)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
