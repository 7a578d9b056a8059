"""Exercise 09 · the sparse-autoencoder penalty beta sum_j KL(rho || rho_hat_j):
``sparse_penalty_grad(h, rho, beta) -> dh``.

Stub: ``lessons/exercises/09_sparse.py``.  There is no library kernel of this exact signature
(:class:`numpyvae.autoencoders.SparseAutoencoder` folds it into its own backward pass), so the
reference is written out here.
"""
from __future__ import annotations

import numpy as np

from .base import Case, Exercise, Part, copy, label, ng, sigmoid
from .mistakes import mistake

STUB = "09_sparse.py"


def sparse_penalty_grad(h, rho, beta):
    """P = beta sum_j KL(rho || rho_hat_j),  rho_hat = mean of h over the batch (axis 0).
    h (N, H) sigmoid activations in (0, 1), rho, beta floats -> dh (N, H)"""
    n = h.shape[0]
    rho_hat = h.mean(axis=0)                               # (H,)
    dp_drho_hat = beta * (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat))
    # d rho_hat_j / d h_nj = 1/N for every row n: broadcast over the rows
    return np.broadcast_to(dp_drho_hat / n, h.shape).copy()


def cases(rng):
    out = []
    for n, h, rho, beta in [(1, 3, 0.1, 3.0), (3, 3, 0.05, 2.0), (6, 4, 0.1, 0.5),
                            (5, 7, 0.2, 1.5)]:
        out.append(Case(label(N=n, H=h), {
            "h": sigmoid(0.8 * rng.standard_normal((n, h))), "rho": rho, "beta": beta}, n))
    return out


def numerical(c):
    (h,) = copy(c, "h")
    rho, beta = c.inputs["rho"], c.inputs["beta"]

    def f():
        rho_hat = h.mean(axis=0)
        return beta * np.sum(rho * np.log(rho / rho_hat)
                             + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    return {"dh": ng(f, h)}


EXERCISE = Exercise(9, "sparse", "the sparse-autoencoder penalty beta sum_j KL(rho || rho_hat_j)", (
    Part("sparse_penalty_grad", ("h", "rho", "beta"), ("dh",), "array",
         "sparse_penalty_grad(h, rho, beta) -> dh", numerical, sparse_penalty_grad),
), cases, aliases=("sparsity",))


# ----------------------------------------------------------------------- known mistakes

def _sparse_grad(h, rho, beta, axis=0, reverse=False, mean=True):
    rho_hat = h.mean(axis=axis, keepdims=True)
    if reverse:
        d = beta * (np.log(rho_hat / rho) - np.log((1 - rho_hat) / (1 - rho)))
    else:
        d = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    if mean:
        d = d / h.shape[axis]
    return np.broadcast_to(d, h.shape).copy()


@mistake("sparse", "sparse_penalty_grad", "batch_sum",
         "the 1/N is missing: rho_hat_j is the MEAN of h_nj over the batch, so "
         "d rho_hat_j / d h_nj = 1/N", ["dh"])
def sparse_penalty_grad__no_mean(h, rho, beta):
    return _sparse_grad(h, rho, beta, mean=False)


@mistake("sparse", "sparse_penalty_grad", "kl_direction",
         "this is the gradient of KL(rho_hat || rho); the penalty is KL(rho || rho_hat) = "
         "rho log(rho/rho_hat) + (1-rho) log((1-rho)/(1-rho_hat))", ["dh"])
def sparse_penalty_grad__kl_reversed(h, rho, beta):
    return _sparse_grad(h, rho, beta, reverse=True)


@mistake("sparse", "sparse_penalty_grad", "wrong_axis",
         "rho_hat averaged over axis 1 (the hidden units of one example); it is the mean "
         "activation of each unit over the batch, axis 0", ["dh"])
def sparse_penalty_grad__wrong_axis(h, rho, beta):
    return _sparse_grad(h, rho, beta, axis=1)
