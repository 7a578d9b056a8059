"""Exercise 07 · the diagonal reparameterization node z = mu + exp(logvar/2) eps:
``gaussian_backward(dz, cache) -> (dmu, dlogvar)``, cache = ``(std, eps)`` with
``std = exp(logvar / 2)``.

Stub: ``lessons/exercises/07_reparam.py``.  Reference: :func:`numpyvae.reparam.gaussian_backward`.
``eps`` and ``dz`` are (N, k) or (S, N, k) (S samples per example, as the VAE calls it); the
gradients w.r.t. mu and logvar are (N, k), summed over the samples.
"""
from __future__ import annotations

import numpy as np

from .. import reparam as R
from .base import Case, Exercise, Part, copy, label, ng
from .mistakes import mistake

STUB = "07_reparam.py"


def cases(rng):
    out = []
    for s, n, k in [(None, 1, 3), (None, 3, 3), (None, 4, 2), (None, 2, 1), (2, 3, 2)]:
        lead = (n,) if s is None else (s, n)
        mu, logvar = rng.standard_normal((n, k)), 0.7 * rng.standard_normal((n, k))
        eps = rng.standard_normal((*lead, k))
        _, cache = R.gaussian_forward(mu, logvar, eps)
        out.append(Case(label(N=n, k=k) + ("" if s is None else f", S={s}"), {
            "dz": rng.standard_normal((*lead, k)), "cache": cache,
            "mu": mu, "logvar": logvar, "eps": eps}, n))
    return out


def numerical(c):
    dz, mu, logvar, eps = copy(c, "dz", "mu", "logvar", "eps")

    def f():
        return mu + np.exp(0.5 * logvar) * eps
    return {"dmu": ng(f, mu, dz), "dlogvar": ng(f, logvar, dz)}


EXERCISE = Exercise(7, "reparam",
                    "the diagonal reparameterization node z = mu + exp(logvar/2) eps", (
    Part("gaussian_backward", ("dz", "cache"), ("dmu", "dlogvar"), "tuple",
         "gaussian_backward(dz, cache) -> (dmu, dlogvar),  cache = (std, eps)", numerical,
         R.gaussian_backward, model={}),
), cases, aliases=("reparameterization", "reparam_backward"))


# ----------------------------------------------------------------------- known mistakes

def _sum(a):
    return a if a.ndim == 2 else a.sum(axis=0)


@mistake("reparam", "gaussian_backward", "std_vs_variance",
         "dlogvar uses exp(logvar) = std^2, the variance, where the standard deviation belongs: "
         "z = mu + exp(logvar/2) eps, so dz/dlogvar = eps exp(logvar/2) / 2 = eps std / 2",
         ["dlogvar"])
def reparam__variance(dz, cache):
    std, eps = cache
    return _sum(dz), _sum(dz * eps) * 0.5 * std * std


@mistake("reparam", "gaussian_backward", "factor_2",
         "dlogvar = dz eps std is twice the right value: d exp(logvar/2)/dlogvar = "
         "exp(logvar/2) / 2, the 1/2 is missing", ["dlogvar"])
def reparam__no_half(dz, cache):
    std, eps = cache
    return _sum(dz), _sum(dz * eps) * std


@mistake("reparam", "gaussian_backward", "missing_term",
         "dlogvar = dz eps / 2: the factor std = exp(logvar/2) from differentiating the "
         "exponential is missing", ["dlogvar"])
def reparam__no_std(dz, cache):
    std, eps = cache
    return _sum(dz), 0.5 * _sum(dz * eps)


@mistake("reparam", "gaussian_backward", "wrong_derivative",
         "dmu = dz * eps: z depends on mu with slope 1, so dmu = dz", ["dmu"])
def reparam__dmu_eps(dz, cache):
    std, eps = cache
    return _sum(dz * eps), _sum(dz * eps) * 0.5 * std


@mistake("reparam", "gaussian_backward", "sample_axis",
         "dz has a leading sample axis (S, N, k) here and the result kept it: every sample "
         "z_s = mu + std eps_s uses the same mu and logvar, so sum the gradients over axis 0",
         ["dmu", "dlogvar"])
def reparam__no_sample_sum(dz, cache):
    std, eps = cache
    return dz.copy(), dz * eps * 0.5 * std


@mistake("reparam", "gaussian_backward", "sample_axis",
         "the S samples are averaged (mean over axis 0) where they must be summed: each sample "
         "z_s = mu + std eps_s adds its own gradient dz_s to mu and logvar, so sum over the "
         "sample axis", ["dmu", "dlogvar"])
def reparam__sample_mean(dz, cache):
    std, eps = cache
    if dz.ndim == 2:
        return dz.copy(), dz * eps * 0.5 * std
    return dz.mean(axis=0), (dz * eps).mean(axis=0) * 0.5 * std


@mistake("reparam", "gaussian_backward", "wrong_axis",
         "the sample axis is summed as the LAST axis: with S samples dz is (S, N, k) and the "
         "samples are axis 0, so sum over axis 0 (axis -1 sums the latent dimensions)",
         ["dmu", "dlogvar"])
def reparam__sum_last_axis(dz, cache):
    std, eps = cache
    g = dz * eps * 0.5 * std
    if dz.ndim == 2:
        return dz.copy(), g
    return dz.sum(axis=-1), g.sum(axis=-1)


@mistake("reparam", "gaussian_backward", "missing_term",
         "dlogvar = dz std / 2: the noise eps is missing; z = mu + std eps, so "
         "dz/dlogvar = eps std / 2", ["dlogvar"])
def reparam__no_eps(dz, cache):
    std, eps = cache
    return _sum(dz), _sum(dz * 0.5 * std)
