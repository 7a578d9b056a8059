"""Exercise 10 · the contractive penalty lam ||J_f(x)||_F^2:
``contractive_penalty_grad(x, W, b, lam) -> (dW, db)``.

Stub: ``lessons/exercises/10_contractive.py``.  There is no library kernel of this signature
(:class:`numpyvae.autoencoders.ContractiveAutoencoder` folds it into its backward pass), so the
reference is written out here.
"""
from __future__ import annotations

import numpy as np

from .base import Case, Exercise, Part, copy, label, ng, sigmoid
from .mistakes import mistake

STUB = "10_contractive.py"


def contractive_penalty_grad(x, W, b, lam):
    """P = lam * mean_n ||J(x_n)||_F^2 with h = sigmoid(x W + b),
    ||J(x_n)||_F^2 = sum_j (h_nj (1 - h_nj))^2 sum_i W_ij^2.
    x (N, D), W (D, H), b (H,), lam float -> dW (D, H), db (H,)"""
    n = x.shape[0]
    h = sigmoid(x @ W + b)                 # (N, H)
    s = h * (1.0 - h)                      # sigmoid'(a) = h (1 - h)
    w2 = (W * W).sum(axis=0)               # (H,)  sum_i W_ij^2
    # through h: d(s^2)/da = 2 s ds/dh dh/da = 2 s (1 - 2h) s
    da = (lam / n) * w2 * 2.0 * s * s * (1.0 - 2.0 * h)     # (N, H)
    # directly: d(sum_i W_ij^2)/dW_ij = 2 W_ij, weighted by mean_n s_nj^2
    dW = x.T @ da + (lam / n) * 2.0 * W * (s * s).sum(axis=0)
    db = da.sum(axis=0)
    return dW, db


def cases(rng):
    out = []
    for n, d, h, lam in [(1, 2, 3, 0.7), (3, 3, 3, 1.0), (2, 4, 5, 0.3), (5, 3, 2, 2.0)]:
        out.append(Case(label(N=n, D=d, H=h), {
            "x": rng.standard_normal((n, d)), "W": rng.standard_normal((d, h)),
            "b": 0.5 * rng.standard_normal(h), "lam": lam}, n))
    return out


def numerical(c):
    x, W, b = copy(c, "x", "W", "b")
    lam = c.inputs["lam"]

    def f():
        h = sigmoid(x @ W + b)
        s = h * (1 - h)
        return lam * np.mean(np.sum(s * s * np.sum(W * W, axis=0), axis=1))
    return {"dW": ng(f, W), "db": ng(f, b)}


EXERCISE = Exercise(10, "contractive", "the contractive penalty lam ||J_f(x)||_F^2", (
    Part("contractive_penalty_grad", ("x", "W", "b", "lam"), ("dW", "db"), "tuple",
         "contractive_penalty_grad(x, W, b, lam) -> (dW, db)", numerical,
         contractive_penalty_grad,
         hints={("db", "zero"): ("missing_bias_grad",
                                 "db is all zeros: b acts through h just as x W does")}),
), cases, aliases=("cae",), helpers=(sigmoid,))


# ----------------------------------------------------------------------- known mistakes

def _contractive(x, W, b, lam, direct=True, through_h=True, two=2.0, mean=True,
                 transpose=False, zero_db=False, direct_mean=True):
    n = x.shape[0] if mean else 1
    h = sigmoid(x @ W + b)
    s = h * (1 - h)
    w2 = (W * W).sum(axis=0)
    da = (lam / n) * w2 * 2 * s * s * (1 - 2 * h)
    dW = np.zeros_like(W) if not transpose else np.zeros_like(W.T)
    if through_h:
        dW = dW + (da.T @ x if transpose else x.T @ da)
    if direct:
        d = (lam / (n if direct_mean else 1)) * two * W * (s * s).sum(axis=0)
        dW = dW + (d.T if transpose else d)
    db = np.zeros_like(b) if zero_db else da.sum(axis=0)
    return dW, db


@mistake("contractive", "contractive_penalty_grad", "missing_term",
         "only the direct term: W also acts through h = sigmoid(x W + b), which contributes "
         "x^T da to dW, with da = lam/N * w2 * 2 s^2 (1 - 2h) the pre-activation gradient",
         ["dW"])
def contractive_penalty_grad__direct_only(x, W, b, lam):
    return _contractive(x, W, b, lam, through_h=False)


@mistake("contractive", "contractive_penalty_grad", "missing_term",
         "only the term through h: W also appears directly in sum_i W_ij^2, which contributes "
         "lam/N * 2 W_ij sum_n s_nj^2", ["dW"])
def contractive_penalty_grad__through_h_only(x, W, b, lam):
    return _contractive(x, W, b, lam, direct=False)


@mistake("contractive", "contractive_penalty_grad", "factor_half",
         "the direct term is half the right value: d/dW_ij sum_i W_ij^2 = 2 W_ij", ["dW"])
def contractive_penalty_grad__direct_no_two(x, W, b, lam):
    return _contractive(x, W, b, lam, two=1.0)


@mistake("contractive", "contractive_penalty_grad", "batch_sum",
         "summed over the batch: the penalty is the MEAN of ||J(x_n)||_F^2 over the examples",
         ["dW", "db"])
def contractive_penalty_grad__sum(x, W, b, lam):
    return _contractive(x, W, b, lam, mean=False)


@mistake("contractive", "contractive_penalty_grad", "transpose",
         "dW has shape (H, D): it is the transpose of the right answer (W is (D, H)); "
         "the term through h is x^T da, not da^T x", ["dW"])
def contractive_penalty_grad__transposed(x, W, b, lam):
    return _contractive(x, W, b, lam, transpose=True)


@mistake("contractive", "contractive_penalty_grad", "missing_bias_grad",
         "db is all zeros: b acts through h just as x W does; db = column sums of the "
         "pre-activation gradient", ["db"])
def contractive_penalty_grad__db_zero(x, W, b, lam):
    return _contractive(x, W, b, lam, zero_db=True)
