"""Exercise 05 · the Gaussian log-likelihood w.r.t. the mean and the log-variance:
``gaussian_log_likelihood_backward(dll, cache) -> (dmean, dlogvar)``,
cache = ``(x, mean, logvar, inv_var)`` with ``inv_var = exp(-logvar) = 1 / sigma^2``.

Stub: ``lessons/exercises/05_gaussian.py``.  Reference:
:func:`numpyvae.distributions.gaussian_log_likelihood_backward`.  ``dll`` is (N,) or (S, N).
"""
from __future__ import annotations

import numpy as np

from .. import distributions as D
from .base import STANDIN_CHECK_ARRAY, Case, Exercise, Part, copy, label, ng
from .mistakes import mistake

STUB = "05_gaussian.py"
LOG_2PI = float(np.log(2 * np.pi))


def cases(rng):
    out = []
    for s, n, d in [(None, 1, 3), (None, 3, 3), (None, 4, 6), (None, 2, 5), (2, 3, 4)]:
        lead = (n,) if s is None else (s, n)
        x = rng.standard_normal((n, d))
        mean = rng.standard_normal((*lead, d))
        logvar = 0.7 * rng.standard_normal((*lead, d))
        _, cache = D.gaussian_log_likelihood_forward(x, mean, logvar)
        out.append(Case(label(N=n, D=d) + ("" if s is None else f", S={s}"), {
            "dll": rng.standard_normal(lead), "cache": cache,
            "x": x, "mean": mean, "logvar": logvar}, n))
    return out


def numerical(c):
    dll, x, mean, logvar = copy(c, "dll", "x", "mean", "logvar")

    def f():
        r = x - mean
        return -0.5 * np.sum(LOG_2PI + logvar + r * r * np.exp(-logvar), axis=-1)
    return {"dmean": ng(f, mean, dll), "dlogvar": ng(f, logvar, dll)}


EXERCISE = Exercise(5, "gaussian", "the Gaussian log-likelihood w.r.t. the mean and log-variance", (
    Part("gaussian_log_likelihood_backward", ("dll", "cache"), ("dmean", "dlogvar"), "tuple",
         "gaussian_log_likelihood_backward(dll, cache) -> (dmean, dlogvar),  "
         "cache = (x, mean, logvar, inv_var)", numerical, D.gaussian_log_likelihood_backward,
         model={"likelihood": "gaussian"}),
), cases, aliases=("gaussian_loglik_grad", "gaussian_log_likelihood"),
    helpers=(D.upstream,),
    preamble="import numpy as np\n" + STANDIN_CHECK_ARRAY)


# ----------------------------------------------------------------------- known mistakes

def _parts(cache, dll):
    x, mean, logvar, inv_var = cache
    return x - mean, inv_var, dll[..., None]


@mistake("gaussian", "gaussian_log_likelihood_backward", "std_vs_variance",
         "divided by the standard deviation exp(logvar/2) where the variance exp(logvar) "
         "belongs: logvar is log sigma^2, and inv_var = 1/sigma^2 is in the cache",
         ["dmean", "dlogvar"])
def gaussian__std(dll, cache):
    r, iv, d = _parts(cache, dll)
    inv_std = np.sqrt(iv)
    return r * inv_std * d, 0.5 * (r * r * inv_std - 1) * d


@mistake("gaussian", "gaussian_log_likelihood_backward", "factor_2",
         "dlogvar = (x - m)^2 / var - 1 is twice the right value: the log-density has "
         "-1/2 in front of both terms", ["dlogvar"])
def gaussian__dlogvar_no_half(dll, cache):
    r, iv, d = _parts(cache, dll)
    return r * iv * d, (r * r * iv - 1) * d


@mistake("gaussian", "gaussian_log_likelihood_backward", "missing_term",
         "dlogvar is missing the -1/2 from the normaliser -1/2 logvar: "
         "dlogvar = 1/2 ((x - m)^2 / var - 1)", ["dlogvar"])
def gaussian__no_normaliser(dll, cache):
    r, iv, d = _parts(cache, dll)
    return r * iv * d, 0.5 * r * r * iv * d


@mistake("gaussian", "gaussian_log_likelihood_backward", "sign",
         "(mean - x) / var is the gradient of the negative log-likelihood; the log-likelihood "
         "grows when the mean moves towards x: dmean = (x - mean) / var", ["dmean"])
def gaussian__dmean_sign(dll, cache):
    r, iv, d = _parts(cache, dll)
    return -r * iv * d, 0.5 * (r * r * iv - 1) * d


@mistake("gaussian", "gaussian_log_likelihood_backward", "missing_upstream",
         "dll is not multiplied in: each example's gradient is scaled by its upstream "
         "gradient dll_n (dll[..., None])", ["dmean", "dlogvar"])
def gaussian__no_upstream(dll, cache):
    r, iv, d = _parts(cache, dll)
    return r * iv, 0.5 * (r * r * iv - 1)
