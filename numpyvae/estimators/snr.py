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
"""
from __future__ import annotations

import numpy as np

from .._validate import check_positive_int, check_rng

D_TOY = 20
SIGMA_Q2 = 2.0 / 3.0
ESTIMATORS = ("iwae", "stl", "dreg")


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
    top = lw.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.mean(np.exp(lw - top), axis=1))


def gradients(x, mu, A, b, eps, s2=SIGMA_Q2):
    """Gradients of the IWAE bound at one x for every repetition, by hand.

    Returns {"mu": (R, D), "iwae": {"b": (R, D), "A": (R, D, D)}, "stl": {...}, "dreg": {...}}.
    """
    m = A @ x + b
    z = m + np.sqrt(s2) * eps
    lw = log_weights(x, mu, m, s2, z)
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)                        # (R, K)
    total = (mu - z) + (x - z)                              # d log w / dm, total
    path = total + (z - m) / s2                             # ∂_z log w (times ∂z/∂m = I)
    out = {"mu": np.einsum("rk,rkd->rd", w, z - mu)}
    for name, weights, term in (("iwae", w, total), ("stl", w, path), ("dreg", w * w, path)):
        gm = np.einsum("rk,rkd->rd", weights, term)
        out[name] = {"b": gm, "A": gm[:, :, None] * x[None, None, :]}
    return out


def snr(g):
    """|mean| / std over the repetitions (axis 0), per parameter (ddof = 1)."""
    g = np.asarray(g, dtype=np.float64)
    return np.abs(g.mean(axis=0)) / g.std(axis=0, ddof=1)


def snr_study(toy, Ks=(1, 3, 10, 30, 100), repetitions=1000, *, rng, n_points=4):
    """SNR of each estimator's encoder gradient (A and b) and of the decoder gradient (μ) against
    K, on the first n_points data points.  Per (point, parameter) the SNR over the repetitions,
    then the median over parameters and points.

    The expectation of the standard IWAE encoder gradient shrinks like 1/K, and at large K its
    sample mean over R repetitions is mostly noise (an SNR floor near 1/√R).  iwae and dreg have
    the same expectation (the paired t-test of :func:`paired_t` checks it), so both SNRs use the
    mean of the dreg samples, whose noise is far smaller; each uses its own standard deviation.
    stl (biased for K > 1) uses its own mean.
    Returns (rows {model: "gaussian_toy", estimator, part, K, snr} — the decoder gradient is the
    same for all three estimators, listed under "iwae" — and {K: {estimator: [(R, D) b-gradient
    samples per point]}} for the t-tests)."""
    check_rng(rng)
    r = check_positive_int(repetitions, "repetitions")
    rows, samples = [], {}
    for k in Ks:
        k = check_positive_int(k, "K")
        enc = {e: [] for e in ESTIMATORS}
        dec = []
        samples[k] = {e: [] for e in ESTIMATORS}
        block = max(1, min(r, 2_000_000 // (k * toy["mu"].size)))   # noise blocks of <= 16 MB
        for x in toy["x"][:n_points]:
            parts = [gradients(x, toy["mu"], toy["A"], toy["b"],
                               rng.standard_normal((min(block, r - r0), k, toy["mu"].size)))
                     for r0 in range(0, r, block)]
            g = {"mu": np.concatenate([p["mu"] for p in parts])}
            for e in ESTIMATORS:
                g[e] = {w: np.concatenate([p[e][w] for p in parts]) for w in ("b", "A")}
            dec.append(snr(g["mu"]))
            flat = {e: np.concatenate([g[e]["b"], g[e]["A"].reshape(r, -1)], axis=1)
                    for e in ESTIMATORS}
            mean = {"iwae": flat["dreg"].mean(0), "dreg": flat["dreg"].mean(0),
                    "stl": flat["stl"].mean(0)}
            for e in ESTIMATORS:
                enc[e].append(np.abs(mean[e]) / flat[e].std(axis=0, ddof=1))
                samples[k][e].append(g[e]["b"])
        rows.append({"model": "gaussian_toy", "estimator": "iwae", "part": "decoder", "K": k,
                     "snr": float(np.median(np.concatenate(dec)))})
        for e in ESTIMATORS:
            rows.append({"model": "gaussian_toy", "estimator": e, "part": "encoder", "K": k,
                         "snr": float(np.median(np.concatenate(enc[e])))})
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
    sel = sorted((r["K"], r["snr"]) for r in rows
                 if r["estimator"] == estimator and r["part"] == part)
    k, s = np.array(sel, dtype=float).T
    return float(np.polyfit(np.log(k), np.log(s), 1)[0])


def stl_at_exact_posterior(x, mu, eps):
    """K = 1 ELBO gradient wrt m at q = p(z | x) = N((x + μ)/2, ½ I): (standard, stl) (R, D).
    Every STL term is exactly 0; the standard one is μ + x − 2z with variance 4 · ½ = 2."""
    m = 0.5 * (x + mu)
    g = gradients(x, mu, np.zeros((x.size, x.size)), m, eps, s2=0.5)
    return g["iwae"]["b"], g["stl"]["b"]


VAE_OBJECTIVES = {"iwae": "iwae", "stl": "iwae_stl", "dreg": "iwae_dreg"}    # estimator -> VAE


def vae_snr(model, x, Ks=(1, 4, 16, 64), repetitions=50, *, rng, tests=None):
    """SNR of the IWAE, STL and DReG gradients of a VAE against K, through the public API only:
    ``model.loss_and_grad(x, eps=..., objective=o)`` with o = "iwae", "iwae_stl", "iwae_dreg"
    (:data:`VAE_OBJECTIVES`), all three on the same noise, and ``model.named_grads()``
    (parameters named ``encoder.*`` and ``decoder.*``).  x : (N, D) a fixed minibatch.

    Per parameter the SNR over the repetitions, then the median over the parameters of each part
    whose gradient is not identically zero.  Each estimator's mean is its own sample mean over
    the same R draws, so an SNR near 1/√R is at the noise floor.  (The toy's :func:`snr_study`
    gives the IWAE encoder DReG's mean; here the t-tests of ``tests`` are too weak at small R to
    justify that.)  Means and variances are accumulated as float64 sums over the repetitions, so
    memory does not grow with R.

    The decoder's STL and DReG gradients are IWAE's, bit for bit (the decoder is not in q), so
    their decoder rows repeat the IWAE numbers; at K = 1 DReG's weights are exactly 1 and its
    encoder rows equal STL's.
    tests : optional dict, filled with {K: {"stl" | "dreg": (t, p)}}: the paired t-test of each
        encoder gradient against IWAE's (:func:`t_test`), per encoder parameter where the paired
        difference is not identically zero.
    Returns rows {model: "vae", estimator, part, K, snr}."""
    check_rng(rng)
    r = check_positive_int(repetitions, "repetitions")
    if r < 2:
        raise ValueError(f"repetitions must be >= 2 for a standard deviation, got {r}")
    names = list(model.named_params())
    enc = np.concatenate([np.full(v.size, n.startswith("encoder")) for n, v in
                          model.named_params().items()])
    rows = []
    for k in Ks:
        k = check_positive_int(k, "K")
        s1 = {e: 0.0 for e in ESTIMATORS + ("stl-iwae", "dreg-iwae")}
        s2 = dict(s1)
        for _ in range(r):
            eps = rng.standard_normal((k, x.shape[0], model.z_dim), dtype=model.dtype)
            g = {}
            for e in ESTIMATORS:
                model.loss_and_grad(x, eps=eps, objective=VAE_OBJECTIVES[e])
                grads = model.named_grads()
                g[e] = np.concatenate([np.asarray(grads[n], dtype=np.float64).ravel()
                                       for n in names])
            g["stl-iwae"], g["dreg-iwae"] = g["stl"] - g["iwae"], g["dreg"] - g["iwae"]
            for e, v in g.items():
                s1[e] = s1[e] + v
                s2[e] = s2[e] + v * v
        mean = {e: s1[e] / r for e in s1}
        sd = {e: np.sqrt(np.maximum(s2[e] - r * mean[e] ** 2, 0.0) / (r - 1)) for e in s1}
        for e in ESTIMATORS:
            for part, sel in (("encoder", enc), ("decoder", ~enc)):
                keep = sel & (sd[e] > 0)
                rows.append({"model": "vae", "estimator": e, "part": part, "K": k,
                             "snr": float(np.median(np.abs(mean[e][keep]) / sd[e][keep]))})
        if tests is not None:
            tests[k] = {}
            for e in ("stl", "dreg"):
                d = f"{e}-iwae"
                keep = enc & (sd[d] > 0)
                tests[k][e] = t_test(mean[d][keep], sd[d][keep], r)
    return rows
