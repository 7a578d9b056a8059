"""The reparameterization node: ``z = g(phi, eps)``, with the noise ``eps`` as an *input*.

Before the trick, ``z ~ q(z | x)`` is a random draw and no gradient flows through it.  After it,
``z`` is a deterministic function of the encoder outputs and of ``eps ~ N(0, I)``; ``eps`` has no
predecessors in the graph, so backprop runs straight through the node, and the node can be
gradient-checked with ``eps`` held fixed.

Two versions:
* diagonal:          ``z = mu + exp(0.5 * logvar) * eps``      (``logvar`` is log sigma^2)
* full covariance:   ``z = mu + L eps``, ``Sigma = L L^T``, L lower-triangular, positive diagonal.

Samples: ``eps`` may carry extra leading sample axes, shape ``(S, N, k)``; ``z`` then has shape
``(S, N, k)`` (S samples per data point, all in flight at once) and the backward pass sums the
gradient over those axes.

How an encoder's raw outputs become ``L`` (:func:`tril_from_raw`): the encoder emits ``k``
numbers ``a`` for the diagonal and ``k(k-1)/2`` numbers for the strict lower triangle;
``L_ii = exp(a_i)`` (always positive, and ``log L_ii = a_i`` is what the KL needs) and the
off-diagonal entries are used as they are.

The forwards check types, dtypes and shapes only; values are checked at the public boundary
(ARCHITECTURE.md, "Validation at the boundary").
"""
from __future__ import annotations

import numpy as np

from ._validate import check_array

# --------------------------------------------------------------------------- diagonal


def gaussian_forward(mu, logvar, eps):
    """``z = mu + exp(0.5 logvar) * eps``.

    mu, logvar : (N, k);  eps : (N, k) or (S, N, k)  ->  z : eps.shape
    cache = (std, eps)
    """
    check_array(mu, "mu", ndim=2, finite=False)
    check_array(logvar, "logvar", shape=mu.shape, dtype=mu.dtype, finite=False)
    check_array(eps, "eps", ndim=(2, 3), dtype=mu.dtype, finite=False)
    if eps.shape[-2:] != mu.shape:
        raise ValueError(f"eps must have shape {mu.shape} or (S, *{mu.shape}), got {eps.shape}")
    std = np.multiply(logvar, 0.5)
    np.exp(std, out=std)
    z = eps * std
    z += mu
    return z, (std, eps)


def gaussian_backward(dz, cache):
    """Gradients of ``z = mu + std * eps`` with ``std = exp(0.5 logvar)``.

    dz : eps.shape  ->  dmu : (N, k) = sum_s dz,   dlogvar : (N, k) = sum_s dz * eps * std / 2
    """
    std, eps = cache
    t = dz * eps
    dmu = dz.copy() if dz.ndim == 2 else dz.sum(axis=0)
    dlogvar = t if t.ndim == 2 else t.sum(axis=0)
    dlogvar *= std
    dlogvar *= 0.5
    return dmu, dlogvar


# ----------------------------------------------------------------------- full covariance


def full_cov_forward(mu, L, eps):
    """``z = mu + L eps`` per example.

    mu : (N, k);  L : (N, k, k) lower-triangular;  eps : (N, k) or (S, N, k)  ->  z : eps.shape
    cache = (L, eps).  That L is lower-triangular is the caller's contract, not checked here (a
    check reads every entry: :func:`tril_from_raw` builds L so; ``distributions.kl_full_cov_std_normal``
    checks a user's L).
    """
    check_array(mu, "mu", ndim=2, finite=False)
    n, k = mu.shape
    check_array(L, "L", shape=(n, k, k), dtype=mu.dtype, finite=False)
    check_array(eps, "eps", ndim=(2, 3), dtype=mu.dtype, finite=False)
    if eps.shape[-2:] != mu.shape:
        raise ValueError(f"eps must have shape {mu.shape} or (S, *{mu.shape}), got {eps.shape}")
    # (.., N, k, k) @ (.., N, k, 1): one small matrix-vector product per example and sample
    z = np.matmul(L, eps[..., None])[..., 0]
    z += mu
    return z, (L, eps)


def full_cov_backward(dz, cache):
    """dz : eps.shape -> dmu : (N, k) = sum_s dz,  dL : (N, k, k) = tril(sum_s dz eps^T)."""
    L, eps = cache
    dL = np.matmul(dz[..., :, None], eps[..., None, :])
    if dL.ndim == 4:
        dL = dL.sum(axis=0)
    dL = np.tril(dL)
    dmu = dz.copy() if dz.ndim == 2 else dz.sum(axis=0)
    return dmu, dL


# -------------------------------------------------------- raw encoder outputs -> L


def tril_size(k):
    """Number of raw numbers for a k x k Cholesky factor: k diagonal + k(k-1)/2 below."""
    return k + k * (k - 1) // 2


def tril_from_raw(raw, k):
    """raw : (N, k + k(k-1)/2) -> L : (N, k, k) with ``L_ii = exp(raw[:, i])`` for i < k and
    the remaining columns filling the strict lower triangle row by row.  cache = (L, k)."""
    check_array(raw, "raw", ndim=2, finite=False)
    if raw.shape[1] != tril_size(k):
        raise ValueError(f"raw must have {tril_size(k)} columns for k={k}, got {raw.shape[1]}")
    n = raw.shape[0]
    L = np.zeros((n, k, k), raw.dtype)
    d = np.arange(k)
    L[:, d, d] = np.exp(raw[:, :k])
    rows, cols = np.tril_indices(k, -1)
    L[:, rows, cols] = raw[:, k:]
    return L, (L, k)


def tril_from_raw_backward(dL, cache):
    """dL : (N, k, k) -> draw : (N, k + k(k-1)/2), using ``d L_ii / d a_i = L_ii``."""
    L, k = cache
    d = np.arange(k)
    rows, cols = np.tril_indices(k, -1)
    draw = np.empty((L.shape[0], tril_size(k)), L.dtype)
    draw[:, :k] = dL[:, d, d] * L[:, d, d]
    draw[:, k:] = dL[:, rows, cols]
    return draw

