"""Gradient estimators for discrete latents: a Bernoulli b and a categorical z.

The problem is ``d/dφ E_{b ~ p_φ}[f(b)]``.  For a hard sample there is no path: ``b = H(φ + L)``
(H the step function, L logistic noise) is piecewise constant in φ, so the pathwise "gradient"
``f'(b) ∂b/∂φ`` is 0 almost surely (shown by :func:`hard_sample_derivative`).  What works:

Bernoulli, θ = σ(φ),  d/dφ log p(b) = b − θ:
    score             f(b) (b − θ)                                       unbiased
    score_const       (f(b) − c)(b − θ), c a constant (default E[f])       unbiased
    score_loo         two samples, each with the other's f as baseline      unbiased
    score_optimal     (f(b) − b*)(b − θ),  b* = E[f s²]/E[s²] (exact)       unbiased
    gumbel            concrete relaxation  b̃ = σ((φ + L)/τ),  f'(b̃) ∂b̃/∂φ   biased, low variance
    straight_through  forward the hard b, backward through b̃:  f'(b) ∂b̃/∂φ  biased
    rebar             [f(b) − η f(σ_λ(z̃))](b − θ) + η ∂φ f(σ_λ(z)) − η ∂φ f(σ_λ(z̃))
                      (Tucker et al. 2017): the relaxation as a control variate; unbiased for
                      every η, λ.  z = φ + L, z̃ ~ p(z | b) reparameterized with a second
                      uniform v (Tucker et al. 2017, App. C):
                      b = 0: z̃ = φ + logit(v (1 − θ));  b = 1: z̃ = φ + logit(1 − θ + v θ).

The toy of the REBAR and RELAX papers: f(b) = (b − t)², t = 0.499, exact gradient σ'(φ)(1 − 2t).

Exact means and variances: the score family by enumeration (b ∈ {0, 1}, or pairs of outcomes for
the leave-one-out baseline); the relaxed estimators by Gauss-Legendre quadrature in z-space
(:func:`toy_moments`), 2-D for REBAR (z and z̃ on the same side of 0).

Categorical, π = softmax(φ), f(z) = (a_z − t)² with a_k = k/(K − 1): score family by
enumeration; Gumbel-softmax y = softmax((φ + G)/τ) with the relaxed cost (a·y − t)²; its
straight-through variant.  Everything is float64 (a teaching reference, not a training kernel).
"""
from __future__ import annotations

import numpy as np

from .._validate import check_positive_float, check_positive_int, check_rng
from .checks import check_real
from . import registry as R

T_TOY = 0.499


def relaxed_names(study=R.BERNOULLI):
    """The estimators of ``study`` ("bernoulli" or "categorical") with a temperature τ."""
    return tuple(n for n in R.names(study) if R.get(n).temperature)


def sigmoid(x):
    """σ(x) = 1/(1 + e^{−x}), stable for large |x| (float64)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(p):
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


def toy_cost(b, t=T_TOY):
    """f(b) = (b − t)², for a hard b or a relaxed b̃ in [0, 1]."""
    return (np.asarray(b, dtype=np.float64) - t) ** 2


def toy_exact_gradient(phi, t=T_TOY):
    """d/dφ E[(b − t)²] = σ'(φ)(1 − 2t): E f = θ(1 − t)² + (1 − θ)t², d/dθ = 1 − 2t."""
    th = sigmoid(check_real(phi, "phi"))
    return float(th * (1 - th) * (1 - 2 * t))


def toy_expectation(phi, t=T_TOY):
    """E[(b − t)²] = θ(1 − t)² + (1 − θ)t², θ = σ(φ) (for finite differences)."""
    th = sigmoid(phi)
    return th * (1 - t) ** 2 + (1 - th) * t ** 2


def hard_sample_derivative(phi, u, h=1e-6):
    """Central finite difference of b(φ) = H(φ + logit u) at fixed u: 0 unless φ + logit u lies
    within h of 0 — the pathwise estimator through a hard sample sees no gradient."""
    z = logit(u)
    return ((phi + h + z > 0).astype(float) - (phi - h + z > 0).astype(float)) / (2 * h)


def conditional_z(phi, b, v):
    """z̃ ~ p(z | b) with z = φ + logit(u), reparameterized by v ~ U(0, 1) (u | b uniform on
    [0, 1 − θ) for b = 0 and [1 − θ, 1) for b = 1).  Returns (z̃, dz̃/dφ at fixed v and b)."""
    th = sigmoid(phi)
    vt = np.where(b > 0, 1 - th + v * th, v * (1 - th))
    dvt = np.where(b > 0, -th * (1 - th) * (1 - v), -v * th * (1 - th))
    return phi + logit(vt), 1.0 + dvt / (vt * (1 - vt))


def _relaxed(z, tau):
    """σ(z/τ) and its derivative wrt z."""
    s = sigmoid(z / tau)
    return s, s * (1 - s) / tau


def _check_phi(phi):
    if np.ndim(phi) == 0:
        return check_real(phi, "phi")
    phi = np.asarray(phi, dtype=np.float64)
    if not np.all(np.isfinite(phi)):
        raise ValueError("phi must be finite")
    return phi


def toy_terms(phi, u, v, *, t=T_TOY, tau=0.5, eta=1.0, lam=None, baseline=None):
    """Every single-sample Bernoulli-toy estimator of d/dφ E[(b − t)²] on the same noise.

    phi : float, or an array broadcasting with u;  u, v : (n,) uniforms (v: REBAR's conditional
    noise, and the second sample of the leave-one-out pair);  tau : the relaxation temperature;
    lam : REBAR's temperature (default tau);  eta : REBAR's control-variate scale;
    baseline : score_const's c (default E[f]).  Returns {estimator: (n,) float64 estimates}.
    """
    phi = _check_phi(phi)
    tau = check_positive_float(tau, "tau")
    lam = tau if lam is None else check_positive_float(lam, "lam")
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    th = sigmoid(phi)
    z = phi + logit(u)
    b = (z > 0).astype(np.float64)
    fb, s = toy_cost(b, t), b - th
    c = toy_expectation(phi, t) if baseline is None else check_real(baseline, "baseline")
    b2 = (phi + logit(v) > 0).astype(np.float64)
    f2 = toy_cost(b2, t)
    out = {"score": fb * s, "score_const": (fb - c) * s,
           "score_loo": 0.5 * ((fb - f2) * s + (f2 - fb) * (b2 - th)),
           "score_optimal": (fb - toy_optimal_baseline(phi, t)) * s}
    bt, dbt = _relaxed(z, tau)
    out["gumbel"] = 2 * (bt - t) * dbt                 # dz/dφ = 1
    out["straight_through"] = 2 * (b - t) * dbt
    sl, dsl = _relaxed(z, lam)
    zt, dzt = conditional_z(phi, b, v)
    slt, dslt = _relaxed(zt, lam)
    out["rebar"] = ((fb - eta * toy_cost(slt, t)) * s + eta * 2 * (sl - t) * dsl
                    - eta * 2 * (slt - t) * dslt * dzt)
    return out


def toy_traces(estimators=None, *, rng, steps=5000, lr=0.01, phi0=0.0,
               t=T_TOY, tau=0.5, eta=1.0, every=10):
    """Minimise E[(b − t)²] over φ with each estimator's single-sample gradient (batch 1) and
    Adam (``numpyvae.optim.Adam``, lr 0.01): one φ per estimator, updated side by side (Adam is
    elementwise, so this is the same as separate runs).  Returns {"step": (T,),
    "theta": {estimator: (T,)}} with θ = σ(φ) every ``every`` steps (and at step 0).
    estimators : names of the Bernoulli study (default: every one, registry.names("bernoulli")).
    The optimum is θ = 0 (since 1 − 2t > 0): f(0) = t² < f(1) = (1 − t)²."""
    from ..optim import Adam
    check_rng(rng)
    steps = check_positive_int(steps, "steps")
    known = R.names(R.BERNOULLI)
    names = list(known if estimators is None else estimators)
    unknown = set(names) - set(known)
    if unknown:
        raise ValueError(f"estimators: unknown {sorted(unknown)}; expected some of {known}")
    phi = np.full(len(names), check_real(phi0, "phi0"))
    opt = Adam(lr=lr)
    idx = np.arange(len(names))
    rec_steps, rec = [0], [sigmoid(phi)]
    for step in range(1, steps + 1):
        terms = toy_terms(phi, rng.random(len(names)), rng.random(len(names)), t=t, tau=tau,
                          eta=eta)
        grad = np.stack([terms[n] for n in names])[idx, idx]      # estimator i at φ_i
        opt.step(phi, grad)                                        # gradient descent on E f
        if step % every == 0 or step == steps:
            rec_steps.append(step)
            rec.append(sigmoid(phi))
    theta = np.array(rec)
    return {"step": np.array(rec_steps), "theta": {n: theta[:, i] for i, n in enumerate(names)}}


def rebar_control_terms(phi, u, v, *, t=T_TOY, lam=0.5):
    """The two relaxed pieces of REBAR as functions of φ at fixed noise, for finite differences:
    (f(σ_λ(z)), f(σ_λ(z̃))) with z = φ + logit u, z̃ = conditional_z(φ, H(z), v) and b held."""
    z = phi + logit(u)
    b = (z > 0).astype(np.float64)
    zt, _ = conditional_z(phi, b, v)
    return toy_cost(sigmoid(z / lam), t), toy_cost(sigmoid(zt / lam), t)


def toy_optimal_baseline(phi, t=T_TOY):
    """b* = E[f s²]/E[s²] by enumeration, s = b − θ."""
    th = sigmoid(phi)
    f0, f1 = t * t, (1 - t) ** 2                         # p = (1 − θ, θ), s = (−θ, 1 − θ)
    return ((1 - th) * f0 * th * th + th * f1 * (1 - th) ** 2) / ((1 - th) * th * th
                                                                 + th * (1 - th) ** 2)


# ------------------------------------------------------------------ exact moments (toy)

_GL_X, _GL_W = np.polynomial.legendre.leggauss(40)


def _gl_nodes(breaks):
    """Gauss-Legendre nodes and weights on consecutive intervals of the sorted breaks."""
    a, b = np.asarray(breaks[:-1]), np.asarray(breaks[1:])
    half, mid = (b - a)[:, None] / 2, (a + b)[:, None] / 2
    return (mid + half * _GL_X).ravel(), (half * _GL_W).ravel()


def _side_grid(phi, tau, side):
    """z nodes on one side of 0 (side −1: z < 0, i.e. b = 0) with the logistic weights."""
    scales = np.concatenate([tau * 2.0 ** np.arange(-2, 7), 2.0 ** np.arange(-1, 6)])
    end = side * (30 + abs(phi))                        # logistic tail beyond: < e^{-30}
    cand = np.concatenate([side * scales, phi + scales, phi - scales])
    inside = cand[(side * cand > 0) & (np.abs(cand) < abs(end))]
    breaks = np.unique(np.concatenate([inside, [0.0, end]]))
    z, w = _gl_nodes(breaks)
    e = sigmoid(z - phi)
    return z, w * e * (1 - e)                           # logistic density of z = φ + L


def toy_moments(phi, *, t=T_TOY, tau=0.5, eta=1.0, lam=None):
    """Exact mean and variance of every single-sample toy estimator:
    {estimator: (mean, var)} — enumeration for the score family, quadrature for the rest."""
    phi = check_real(phi, "phi")
    th = float(sigmoid(phi))
    out = {}
    p = np.array([1 - th, th])
    f = toy_cost(np.array([0.0, 1.0]), t)
    s = np.array([-th, 1 - th])
    c, bstar = float(p @ f), toy_optimal_baseline(phi, t)
    for name, base in (("score", 0.0), ("score_const", c), ("score_optimal", bstar)):
        g = (f - base) * s
        m = float(p @ g)
        out[name] = (m, float(p @ (g - m) ** 2))
    pp = np.outer(p, p)                                 # leave-one-out: pairs (b1, b2)
    g = 0.5 * ((f[:, None] - f[None, :]) * s[:, None] + (f[None, :] - f[:, None]) * s[None, :])
    m = float(np.sum(pp * g))
    out["score_loo"] = (m, float(np.sum(pp * (g - m) ** 2)))
    relaxed = relaxed_names()
    sums = {k: [0.0, 0.0] for k in relaxed}
    for side, pb in ((-1, 1 - th), (1, th)):
        z, wz = _side_grid(phi, tau if lam is None else min(tau, lam), side)
        u = sigmoid(z - phi)
        # z̃ on the same side, as the conditional noise v (its density is wz / P(b))
        zt, wt = z, wz / pb
        vt = sigmoid(zt - phi)
        v = vt / (1 - th) if side < 0 else (vt - (1 - th)) / th
        v = np.clip(v, 1e-300, 1 - 1e-15)
        U, V = np.meshgrid(u, v, indexing="ij")
        W = np.outer(wz, wt)
        terms = toy_terms(phi, U.ravel(), V.ravel(), t=t, tau=tau, eta=eta, lam=lam)
        for k in relaxed:
            g = terms[k]
            sums[k][0] += float(W.ravel() @ g)
            sums[k][1] += float(W.ravel() @ (g * g))
    for k, (m1, m2) in sums.items():
        out[k] = (m1, max(m2 - m1 * m1, 0.0))
    return out


def rebar_optimal_eta(phi, *, t=T_TOY, tau=0.5):
    """The η minimising REBAR's exact variance (a parabola in η: Var(a + η c) with c the
    control-variate part), from :func:`toy_moments` at η = 0, 1, 2."""
    v0, v1, v2 = (toy_moments(phi, t=t, tau=tau, eta=e)["rebar"][1] for e in (0.0, 1.0, 2.0))
    a2 = (v2 - 2 * v1 + v0) / 2                         # Var = v0 + a1 η + a2 η²
    a1 = v1 - v0 - a2
    return -a1 / (2 * a2)


def toy_monte_carlo(phi, n, *, rng, t=T_TOY, tau=0.5, eta=1.0):
    """n single-sample estimates of each toy estimator: {estimator: (n,)}."""
    check_rng(rng)
    n = check_positive_int(n, "n")
    u, v = rng.random(n), rng.random(n)
    return toy_terms(phi, u, v, t=t, tau=tau, eta=eta)


# ------------------------------------------------------------------ categorical


def softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def categorical_problem(phi0, k=4, t=0.45):
    """Logits (phi0, 0, …, 0), values a_j = j/(K − 1), cost c_j = (a_j − t)²."""
    k = check_positive_int(k, "k")
    if k < 2:
        raise ValueError(f"k must be >= 2 categories, got {k}")
    logits = np.zeros(k)
    logits[0] = check_real(phi0, "phi0")
    a = np.arange(k) / (k - 1)
    return logits, a, (a - t) ** 2


def categorical_exact_gradient(logits, cost):
    """d/dφ_j E[c_z] = π_j (c_j − E c)   (returns the (K,) vector)."""
    pi = softmax(logits)
    return pi * (cost - pi @ cost)


def categorical_moments(logits, cost, j=0):
    """Exact mean and variance of the score-family estimators of d/dφ_j E[c_z] by enumeration:
    {estimator: (mean, var)} for score, score_loo (2 samples), score_optimal."""
    pi = softmax(logits)
    s = (np.arange(pi.size) == j) - pi[j]               # d/dφ_j log π_z, for each z
    out = {}
    g = cost * s
    m = pi @ g
    out["score"] = (float(m), float(pi @ (g - m) ** 2))
    bstar = float(pi @ (cost * s * s) / (pi @ (s * s)))
    g = (cost - bstar) * s
    m = pi @ g
    out["score_optimal"] = (float(m), float(pi @ (g - m) ** 2))
    pp = np.outer(pi, pi)
    g = 0.5 * ((cost[:, None] - cost[None, :]) * s[:, None]
               + (cost[None, :] - cost[:, None]) * s[None, :])
    m = np.sum(pp * g)
    out["score_loo"] = (float(m), float(np.sum(pp * (g - m) ** 2)))
    return out, bstar


def categorical_terms(logits, a, cost, gumbels, gumbels2, *, t=0.45, tau=0.5, j=0):
    """Single-sample estimates of d/dφ_j E[c_z] from Gumbel noise (n, K) (gumbels2: the second
    sample of the leave-one-out pair).  z = argmax(φ + G) is an exact sample of softmax(φ).
    Gumbel-softmax: y = softmax((φ + G)/τ), relaxed cost (a·y − t)², gradient J_yᵀ ∇_y;
    straight-through: ∇_y evaluated at the one-hot sample."""
    tau = check_positive_float(tau, "tau")
    pi = softmax(logits)
    x = logits + gumbels
    z = np.argmax(x, axis=1)
    z2 = np.argmax(logits + gumbels2, axis=1)
    s, s2 = (z == j) - pi[j], (z2 == j) - pi[j]
    fz, f2 = cost[z], cost[z2]
    _, bstar = categorical_moments(logits, cost, j)
    out = {"score": fz * s, "score_loo": 0.5 * ((fz - f2) * s + (f2 - fz) * s2),
           "score_optimal": (fz - bstar) * s}
    y = softmax(x / tau)

    def back(dy):                      # d/dφ_j of softmax((φ + G)/τ) contracted with dy
        return y[:, j] * (dy[:, j] - np.sum(dy * y, axis=1)) / tau

    out["gumbel"] = back(2 * ((y @ a) - t)[:, None] * a[None, :])
    out["straight_through"] = back(2 * (a[z] - t)[:, None] * a[None, :])
    return out


def gumbel_noise(rng, shape):
    """Standard Gumbel noise −log(−log u)."""
    return -np.log(-np.log(rng.random(shape)))


def __getattr__(name):
    """The studies' lists, read from the registry at each use: ``BERNOULLI_ESTIMATORS``,
    ``CATEGORICAL_ESTIMATORS``, ``RELAXED`` (the Bernoulli ones with a temperature), ``LABELS``."""
    if name == "BERNOULLI_ESTIMATORS":
        return R.names(R.BERNOULLI)
    if name == "CATEGORICAL_ESTIMATORS":
        return R.names(R.CATEGORICAL)
    if name == "RELAXED":
        return relaxed_names()
    if name == "LABELS":
        return {n: R.label(n) for n in R.names(R.BERNOULLI) + R.names(R.CATEGORICAL)}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
