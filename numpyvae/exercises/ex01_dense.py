"""Exercise 01 · the dense layer y = x W + b: ``dense_backward(dy, cache) -> (dx, dW, db)``.

Stub: ``lessons/exercises/01_dense.py``.  Reference: :func:`numpyvae.functional.dense_backward`
(cache = ``(x, W)`` from :func:`numpyvae.functional.dense_forward`).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .base import Case, Exercise, Part, copy, label, ng
from .mistakes import mistake

STUB = "01_dense.py"


def cases(rng):
    out = []
    # batch 1 with several entries; a square W (where a transposed dW has the right shape);
    # odd sizes
    for n, din, dout in [(1, 3, 2), (3, 3, 3), (2, 4, 5), (5, 3, 2)]:
        x, W = rng.standard_normal((n, din)), rng.standard_normal((din, dout))
        b = rng.standard_normal(dout)
        _, cache = F.dense_forward(x, W, b)
        out.append(Case(label(N=n, D_in=din, D_out=dout), {
            "dy": rng.standard_normal((n, dout)), "cache": cache, "x": x, "W": W, "b": b}, n))
    return out


def numerical(c):
    dy, x, W, b = copy(c, "dy", "x", "W", "b")

    def f():
        return x @ W + b
    return {"dx": ng(f, x, dy), "dW": ng(f, W, dy), "db": ng(f, b, dy)}


EXERCISE = Exercise(1, "dense", "the dense layer y = x W + b", (
    Part("dense_backward", ("dy", "cache"), ("dx", "dW", "db"), "tuple",
         "dense_backward(dy, cache) -> (dx, dW, db),  cache = (x, W)", numerical,
         F.dense_backward, model={},
         hints={("db", "zero"): ("missing_bias_grad",
                                 "db is all zeros: the bias gradient is missing "
                                 "(db = dy summed over the batch, axis 0)")}),
), cases, aliases=("affine", "linear"))


# ----------------------------------------------------------------------- known mistakes

@mistake("dense", "dense_backward", "transpose",
         "dx = dy @ W: the transpose of W is missing; y = x W gives dx = dy W^T (N, D_in) "
         "(with a non-square W, dy @ W raises: the shapes do not line up)", ["dx"])
def dense_backward__dx_no_transpose(dy, cache):
    x, W = cache
    return dy @ W, x.T @ dy, dy.sum(axis=0)


@mistake("dense", "dense_backward", "transpose",
         "dW = dy^T x is the transpose of the right answer: dW = x^T dy has W's shape "
         "(D_in, D_out); on a square W the shapes agree and only the values tell", ["dW"])
def dense_backward__dW_transposed(dy, cache):
    x, W = cache
    return dy @ W.T, dy.T @ x, dy.sum(axis=0)


@mistake("dense", "dense_backward", "wrong_axis",
         "db summed over axis 1 (the outputs): b is added to every example, so sum dy over "
         "axis 0 (the batch)", ["db"])
def dense_backward__db_wrong_axis(dy, cache):
    x, W = cache
    return dy @ W.T, x.T @ dy, dy.sum(axis=1)


@mistake("dense", "dense_backward", "not_summed",
         "db = dy keeps one row per example: sum over the batch. b is shared by every example "
         "(y_n = x_n W + b for each n), so db = dy summed over axis 0, shape (D_out,)", ["db"])
def dense_backward__db_not_summed(dy, cache):
    x, W = cache
    return dy @ W.T, x.T @ dy, dy.copy()


@mistake("dense", "dense_backward", "missing_bias_grad",
         "db is all zeros: the bias gradient is missing (db = sum of dy over the batch)", ["db"])
def dense_backward__db_zero(dy, cache):
    x, W = cache
    return dy @ W.T, x.T @ dy, np.zeros(dy.shape[1])


@mistake("dense", "dense_backward", "batch_mean",
         "db = dy.mean(axis=0) averages over the batch: the layer's gradients are sums over "
         "the batch (any 1/N belongs to the loss, and arrives inside dy)", ["db"])
def dense_backward__db_mean(dy, cache):
    x, W = cache
    return dy @ W.T, x.T @ dy, dy.mean(axis=0)


@mistake("dense", "dense_backward", "batch_mean",
         "dW = x^T dy / N averages over the batch: the layer's gradients are sums over the "
         "batch (any 1/N belongs to the loss, and arrives inside dy)", ["dW"])
def dense_backward__dW_mean(dy, cache):
    x, W = cache
    return dy @ W.T, x.T @ dy / x.shape[0], dy.sum(axis=0)
