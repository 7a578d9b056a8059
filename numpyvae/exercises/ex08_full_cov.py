"""Exercise 08 · the full-covariance node z = mu + L eps:
``full_cov_backward(dz, cache) -> (dmu, dL)``, cache = ``(L, eps)``.

Stub: ``lessons/exercises/08_full_cov.py``.  Reference: :func:`numpyvae.reparam.full_cov_backward`.
``eps`` and ``dz`` are (N, k) or (S, N, k); dmu is (N, k) and dL (N, k, k), summed over samples.
"""
from __future__ import annotations

import numpy as np

from .. import reparam as R
from .base import Case, Exercise, Part, copy, label, ng
from .mistakes import mistake

STUB = "08_full_cov.py"


def cases(rng):
    out = []
    for s, n, k in [(None, 1, 3), (None, 2, 1), (None, 3, 3), (None, 4, 2), (2, 2, 3)]:
        lead = (n,) if s is None else (s, n)
        L = np.tril(rng.standard_normal((n, k, k)), -1)
        d = np.arange(k)
        L[:, d, d] = np.exp(0.3 * rng.standard_normal((n, k)))
        mu, eps = rng.standard_normal((n, k)), rng.standard_normal((*lead, k))
        _, cache = R.full_cov_forward(mu, L, eps)
        out.append(Case(label(N=n, k=k) + ("" if s is None else f", S={s}"), {
            "dz": rng.standard_normal((*lead, k)), "cache": cache, "mu": mu, "L": L,
            "eps": eps}, n))
    return out


def numerical(c):
    dz, mu, L, eps = copy(c, "dz", "mu", "L", "eps")

    def f():
        return mu + np.einsum("nij,...nj->...ni", L, eps)
    k = L.shape[1]
    # z uses every entry of L; only the lower triangle is a parameter of the model
    return {"dmu": ng(f, mu, dz), "dL": ng(f, L, dz) * np.tril(np.ones((k, k)))}


EXERCISE = Exercise(8, "full_cov", "the full-covariance node z = mu + L eps", (
    Part("full_cov_backward", ("dz", "cache"), ("dmu", "dL"), "tuple",
         "full_cov_backward(dz, cache) -> (dmu, dL),  cache = (L, eps)", numerical,
         R.full_cov_backward, model={"covariance": "full"}),
), cases, aliases=("full-cov", "fullcov", "cholesky"))


# ----------------------------------------------------------------------- known mistakes

def _outer(dz, eps):
    o = dz[..., :, None] * eps[..., None, :]
    return o if o.ndim == 3 else o.sum(axis=0)


def _dmu(dz):
    return dz.copy() if dz.ndim == 2 else dz.sum(axis=0)


@mistake("full_cov", "full_cov_backward", "transpose",
         "dL = tril(eps dz^T): the outer product is in the wrong order; "
         "z_i = sum_j L_ij eps_j gives dL_ij = dz_i eps_j, i.e. tril(dz eps^T)", ["dL"])
def full_cov__outer_transposed(dz, cache):
    L, eps = cache
    return _dmu(dz), np.tril(_outer(eps, dz))


@mistake("full_cov", "full_cov_backward", "upper_triangle",
         "dL has nonzero entries above the diagonal: only the lower triangle of L is a "
         "parameter (the entries above are fixed at 0), so dL = tril(dz eps^T)", ["dL"])
def full_cov__no_tril(dz, cache):
    L, eps = cache
    return _dmu(dz), _outer(dz, eps)


@mistake("full_cov", "full_cov_backward", "wrong_axis",
         "dL summed over the batch: each example has its own L_n, so dL keeps the batch axis "
         "(N, k, k)", ["dL"])
def full_cov__summed_batch(dz, cache):
    L, eps = cache
    return _dmu(dz), np.tril(_outer(dz, eps).sum(axis=0))
