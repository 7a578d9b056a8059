"""Exercise 06 · the KL of a diagonal Gaussian from N(0, I):
``kl_std_normal_backward(dkl, cache) -> (dmu, dlogvar)``, cache = ``(mu, var)`` with
``var = exp(logvar)``.

Stub: ``lessons/exercises/06_kl.py``.
Reference: :func:`numpyvae.distributions.kl_std_normal_backward`.
"""
from __future__ import annotations

import numpy as np

from .. import distributions as D
from .base import STANDIN_CHECK_ARRAY, Case, Exercise, Part, copy, label, ng
from .mistakes import mistake

STUB = "06_kl.py"


def cases(rng):
    out = []
    for n, k in [(1, 3), (3, 3), (4, 2), (2, 1), (5, 4)]:
        mu, logvar = rng.standard_normal((n, k)), 0.7 * rng.standard_normal((n, k))
        _, cache = D.kl_std_normal_forward(mu, logvar)
        out.append(Case(label(N=n, k=k), {"dkl": rng.standard_normal(n), "cache": cache,
                                          "mu": mu, "logvar": logvar}, n))
    return out


def numerical(c):
    dkl, mu, logvar = copy(c, "dkl", "mu", "logvar")

    def f():
        return 0.5 * np.sum(np.exp(logvar) + mu * mu - 1.0 - logvar, axis=1)
    return {"dmu": ng(f, mu, dkl), "dlogvar": ng(f, logvar, dkl)}


EXERCISE = Exercise(6, "kl", "the diagonal Gaussian KL to N(0, I) w.r.t. mu and log sigma^2", (
    Part("kl_std_normal_backward", ("dkl", "cache"), ("dmu", "dlogvar"), "tuple",
         "kl_std_normal_backward(dkl, cache) -> (dmu, dlogvar),  cache = (mu, var)", numerical,
         D.kl_std_normal_backward, model={}),
), cases, aliases=("kl_divergence", "kl_grad"), helpers=(D.upstream,),
    preamble="import numpy as np\n" + STANDIN_CHECK_ARRAY)


# ----------------------------------------------------------------------- known mistakes

def _d(dkl):
    return dkl[:, None]


@mistake("kl", "kl_std_normal_backward", "sign",
         "a sign error inside the KL formula: dlogvar = 1/2 (exp(logvar) + 1). The term "
         "-logvar differentiates to -1, so dlogvar = 1/2 (exp(logvar) - 1)", ["dlogvar"])
def kl__inner_sign(dkl, cache):
    mu, var = cache
    return mu * _d(dkl), 0.5 * (var + 1) * _d(dkl)


@mistake("kl", "kl_std_normal_backward", "std_vs_variance",
         "dlogvar uses exp(logvar/2), the standard deviation, where the variance exp(logvar) "
         "belongs: d/dlogvar exp(logvar) = exp(logvar), so dlogvar = 1/2 (exp(logvar) - 1)",
         ["dlogvar"])
def kl__std(dkl, cache):
    mu, var = cache
    return mu * _d(dkl), 0.5 * (np.sqrt(var) - 1) * _d(dkl)


@mistake("kl", "kl_std_normal_backward", "factor_2",
         "dlogvar = exp(logvar) - 1 is twice the right value: the KL has 1/2 in front",
         ["dlogvar"])
def kl__dlogvar_no_half(dkl, cache):
    mu, var = cache
    return mu * _d(dkl), (var - 1) * _d(dkl)


@mistake("kl", "kl_std_normal_backward", "factor_2",
         "dmu = 2 mu is twice the right value: d/dmu (1/2 mu^2) = mu", ["dmu"])
def kl__dmu_two(dkl, cache):
    mu, var = cache
    return 2 * mu * _d(dkl), 0.5 * (var - 1) * _d(dkl)


@mistake("kl", "kl_std_normal_backward", "missing_term",
         "dlogvar = 1/2 exp(logvar): the -1/2 from the -logvar term is missing", ["dlogvar"])
def kl__no_minus_one(dkl, cache):
    mu, var = cache
    return mu * _d(dkl), 0.5 * var * _d(dkl)


@mistake("kl", "kl_std_normal_backward", "missing_upstream",
         "dkl is not multiplied in: each example's KL gradient is scaled by its upstream "
         "gradient dkl_n (dkl[:, None])", ["dmu", "dlogvar"])
def kl__no_upstream(dkl, cache):
    mu, var = cache
    return mu.copy(), 0.5 * (var - 1)


@mistake("kl", "kl_std_normal_backward", "broadcast",
         "mu * dkl: dkl has one entry per example, shape (N,), so it must scale whole rows: "
         "mu * dkl[:, None] (with N = k the product broadcasts along the wrong axis instead "
         "of raising)", ["dmu"])
def kl__dmu_broadcast(dkl, cache):
    mu, var = cache
    return mu * dkl, 0.5 * (var - 1) * _d(dkl)


@mistake("kl", "kl_std_normal_backward", "broadcast",
         "(exp(logvar) - 1) / 2 * dkl: dkl has one entry per example, shape (N,), so it must "
         "scale whole rows: * dkl[:, None] (with N = k the product broadcasts along the wrong "
         "axis instead of raising)", ["dlogvar"])
def kl__dlogvar_broadcast(dkl, cache):
    mu, var = cache
    return mu * _d(dkl), 0.5 * (var - 1) * dkl
