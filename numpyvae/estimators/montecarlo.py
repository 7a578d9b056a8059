"""Two Monte Carlo estimators of the gradient of an expectation.

We want  ``d/dθ E_{z ~ pθ}[f(z)]``  for a Gaussian ``pθ = N(μ, σ²)`` and a scalar cost ``f``,
with θ one of μ, σ or log σ.  Every sample is written ``z = μ + σ ε`` with ``ε ~ N(0, 1)``.

Score function (REINFORCE, likelihood ratio)
    The *log-derivative trick*  ``∇θ pθ(z) = pθ(z) ∇θ log pθ(z)``  moves the gradient inside::

        ∇θ ∫ pθ(z) f(z) dz = ∫ pθ(z) ∇θ log pθ(z) f(z) dz = E[ f(z) s(z) ],   s = ∇θ log pθ

    so ``f(z_i) s(z_i)`` is an unbiased estimate.  It needs only *values* of ``f`` (a black box,
    even a discrete one) and the score of the distribution::

        s_μ = (z − μ)/σ² = ε/σ,   s_σ = ((z − μ)² − σ²)/σ³ = (ε² − 1)/σ,   s_logσ = σ s_σ = ε² − 1

Pathwise (reparameterization)
    ``E_z[f(z)] = E_ε[f(μ + σ ε)]`` and the law of ε does not depend on θ, so the chain rule
    goes straight through the sample::

        ∇θ E[f(z)] = E[ f'(z) ∂z/∂θ ],     ∂z/∂μ = 1,   ∂z/∂σ = ε,   ∂z/∂logσ = σ ε

    It needs ``f'``.  This is what a VAE back-propagates through its reparameterization node.

Why the score function is noisy
    Each term multiplies the *value* ``f(z)`` by a zero-mean score (``E[s] = 0``): the gradient is
    a small correlation between ``f`` and ``s``, while every term carries the full size of ``f`` as
    noise.  Adding a constant ``c`` to ``f`` leaves the gradient alone but adds ``c s`` to every
    term, so the variance depends on where zero is.  For ``f = z²`` at ``z ~ N(2, 1)`` one sample
    has variance 87 (score function) against 4 (pathwise, which only sees how ``f`` changes near
    each sample).
    A *baseline* ``(f − b) s`` removes much of that offset at no bias, since ``E[b s] = b E[s] = 0``
    whenever ``b`` does not depend on the sample it multiplies.
    Pathwise is not always better: for ``f = cos(kz)`` the derivative has size ``k`` and the
    pathwise variance grows like ``k²`` while the score function's stays bounded
    (:func:`numpyvae.estimators.exact.cost_family_curves`).

Shapes: the noise ``eps`` is ``(R, N)``, R independent repetitions of an N-sample estimate.  An
estimator returns the R per-repetition estimates (the mean over the N samples), shape ``(R,)``, and
with ``return_terms=True`` also the ``(R, N)`` per-sample terms.  Results have the dtype of ``eps``.
Exact means and variances by quadrature live in :mod:`numpyvae.estimators.exact` (with the closed forms for f = (z − k)²).
"""
from __future__ import annotations

import numpy as np

from .._validate import check_positive_float
from .checks import check_baseline, check_callable, check_real, check_wrt, evaluate, noise

# --------------------------------------------------------------------------- the two estimators


def gaussian_score(eps, sigma, wrt="mu"):
    """``∂/∂θ log N(z; μ, σ²)`` at ``z = μ + σ ε``, written with ε (exact, and no μ needed).

    eps : any shape (or a float)  ->  same shape, a new array
    mu: (z − μ)/σ² = ε/σ;  sigma: ((z − μ)² − σ²)/σ³ = (ε² − 1)/σ;  log_sigma: σ · d/dσ = ε² − 1
    """
    if wrt == "mu":
        return eps / sigma
    s = np.square(eps)
    s -= 1.0
    if wrt == "sigma":
        s /= sigma
    return s


def apply_score(fz, s, buf, baseline):
    """Per-sample score-function terms ``(f − b) s``, written into ``s``.  All arrays (R, N).

    buf : scratch space of the same shape that does not alias ``fz`` (fz itself is not modified).
    """
    n = fz.shape[1]
    if baseline is None:
        s *= fz
        return s
    if baseline == "loo":
        # b_i = mean of f over the other N−1 samples, so f_i − b_i = N/(N−1) (f_i − mean_j f_j)
        np.subtract(fz, fz.mean(axis=1, keepdims=True), out=buf)
        buf *= n / (n - 1)
    elif baseline == "optimal":
        # b_i = Σ_{j≠i} f_j s_j² / Σ_{j≠i} s_j²: the sample estimate of b* = E[f s²]/E[s²] with
        # sample i left out, so that it is independent of s_i and the estimator stays unbiased.
        s2 = np.square(s, out=buf)
        q = s2.sum(axis=1, keepdims=True)
        t = np.einsum("ij,ij->i", fz, s2)[:, None]
        b = fz * s2
        np.subtract(t, b, out=b)
        np.subtract(q, s2, out=buf)
        np.divide(b, buf, out=b, where=buf != 0)   # all other s_j = 0: b_i = Σ_{j≠i} f_j s_j² = 0
        np.subtract(fz, b, out=buf)
    else:
        np.subtract(fz, baseline, out=buf)
    s *= buf
    return s


def score_function(f, mu, sigma, eps=None, *, rng=None, shape=None, dtype=None, wrt="mu",
                   baseline=None, return_terms=False):
    """Score-function (REINFORCE) estimate of ``d/dθ E[f(z)]``, ``z ~ N(mu, sigma²)``.

    f        : vectorized cost, (R, N) array -> (R, N) array.  It gets a fresh array z that it may
               overwrite (return it), and must not keep.
    mu, sigma: floats, sigma > 0
    eps      : (R, N) standard-normal noise;  or rng= (a Generator) and shape=(R, N) to draw it
               (dtype= float64 by default)
    wrt      : 'mu', 'sigma' or 'log_sigma'
    baseline : None        terms f(z) s(z)
               b (number)  terms (f(z) − b) s(z)
               'loo'       b_i = mean of f over the other N−1 samples of the repetition (N >= 2)
               'optimal'   b_i = Σ_{j≠i} f_j s_j² / Σ_{j≠i} s_j², the leave-one-out sample estimate
                           of b* = E[f s²]/E[s²] (N >= 2).  For the exact b* pass the number
                           ``exact.optimal_baseline(f, mu, sigma, wrt=wrt)``.
               All of these are unbiased: b_i never depends on sample i.
    returns  : (R,) estimates, the mean of the terms over N;
               with return_terms=True, (estimates, terms (R, N))
    """
    check_callable(f, "f")
    mu, sigma = check_real(mu, "mu"), check_positive_float(sigma, "sigma")
    check_wrt(wrt)
    baseline = check_baseline(baseline)
    eps = noise(eps, rng, shape, dtype)
    if isinstance(baseline, str) and eps.shape[1] < 2:
        raise ValueError(f"baseline={baseline!r} needs N >= 2 samples per repetition, "
                         f"got eps.shape {eps.shape}")
    z, fz = evaluate(f, "f", mu, sigma, eps)
    buf = z if not np.may_share_memory(z, fz) else np.empty_like(z)
    terms = apply_score(fz, gaussian_score(eps, sigma, wrt), buf, baseline)
    estimates = terms.mean(axis=1)
    return (estimates, terms) if return_terms else estimates


def pathwise(df, mu, sigma, eps=None, *, rng=None, shape=None, dtype=None, wrt="mu",
             return_terms=False):
    """Pathwise (reparameterization) estimate of ``d/dθ E[f(z)]``, ``z = mu + sigma * eps``.

    df       : f', the vectorized derivative of the cost, (R, N) array -> (R, N) array
    mu, sigma, eps / rng, shape, dtype, wrt : as in :func:`score_function`
    terms    : mu: f'(z);   sigma: f'(z) ε;   log_sigma: f'(z) ε σ
    returns  : (R,) estimates, the mean of the terms over N;
               with return_terms=True, (estimates, terms (R, N))
    """
    check_callable(df, "df")
    mu, sigma = check_real(mu, "mu"), check_positive_float(sigma, "sigma")
    check_wrt(wrt)
    eps = noise(eps, rng, shape, dtype)
    z, dfz = evaluate(df, "df", mu, sigma, eps)
    terms = z                            # scratch we own; never write into the caller's f'(z)
    if wrt == "mu":
        np.copyto(terms, dfz)
    else:
        np.multiply(dfz, eps, out=terms)
        if wrt == "log_sigma":
            terms *= sigma
    estimates = terms.mean(axis=1)
    return (estimates, terms) if return_terms else estimates
