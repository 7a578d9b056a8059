"""Log-likelihoods and closed-form KL divergences, each with its hand-written gradient.

Every value is a sum over the data (or latent) dimension, one number per example: shape ``(N,)``
(or ``(S, N)`` when the second argument carries ``S`` samples per example).

``logvar`` always means log sigma^2 (the *variance*): ``std = exp(0.5 * logvar)``.

``*_grad`` functions return the gradient of ``sum_n dout_n * value_n`` (``dout`` defaults to
ones), i.e. they are the backward pass of the function with upstream gradient ``dout``.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_array
from .functional import sigmoid, softplus

LOG_2PI = float(np.log(2 * np.pi))


def _check_pair(x, y, name_x, name_y):
    """x : (N, D);  y : (N, D) or (S, N, D) with the same dtype."""
    check_array(x, name_x, ndim=2)
    check_array(y, name_y, ndim=(2, 3), dtype=x.dtype)
    if y.shape[-2:] != x.shape:
        raise ValueError(f"{name_y} must have shape {x.shape} or (S, *{x.shape}), got {y.shape}")


def _dout(dout, shape, dtype):
    if dout is None:
        return None
    check_array(dout, "dout", shape=shape, dtype=dtype)
    return dout[..., None]


# ------------------------------------------------------------------------ Bernoulli


def bernoulli_log_likelihood(x, logits):
    """``log p(x | logits) = sum_d [x_d l_d - softplus(l_d)]``, the log of
    ``prod_d sigmoid(l_d)^x_d (1 - sigmoid(l_d))^(1 - x_d)``.

    Written with the stable softplus, it is exact for any finite logit (no ``log(p + eps)``).
    x : (N, D) in [0, 1] (binary, or intensities as in the PyTorch example);
    logits : (N, D) or (S, N, D)  ->  (N,) or (S, N)
    """
    _check_pair(x, logits, "x", "logits")
    if np.any(x < 0) or np.any(x > 1):
        raise ValueError("x (Bernoulli targets) must lie in [0, 1]")
    return _bernoulli_ll(x, logits)


def bernoulli_log_likelihood_grad(x, logits, dout=None):
    """d/d logits = ``(x - sigmoid(logits)) * dout``;  shape of ``logits``."""
    _check_pair(x, logits, "x", "logits")
    return _bernoulli_ll_grad(x, logits, _dout(dout, logits.shape[:-1], logits.dtype))


# The unchecked kernels below are what a model's training step calls after it has checked
# its minibatch once; the public functions above check their arguments and call them.

def _bernoulli_ll(x, logits):
    t = softplus(logits)
    np.subtract(logits * x, t, out=t)
    return t.sum(axis=-1)


def _bernoulli_ll_grad(x, logits, d=None):
    """d : None or upstream gradient with a trailing axis of 1, e.g. (S, N, 1)."""
    g = sigmoid(logits)
    np.subtract(x, g, out=g)
    if d is not None:
        g *= d
    return g


# ------------------------------------------------------------------------- Gaussian


def _check_logvar(logvar, mean):
    if isinstance(logvar, (int, float)) and not isinstance(logvar, bool):
        if not np.isfinite(logvar):
            raise ValueError("logvar must be finite")
        return float(logvar)
    check_array(logvar, "logvar", dtype=mean.dtype)
    if logvar.shape != mean.shape:
        raise ValueError(f"logvar must be a float or have the shape of mean {mean.shape}, "
                         f"got {logvar.shape}")
    return logvar


def gaussian_log_likelihood(x, mean, logvar=0.0):
    """``log N(x; mean, diag exp(logvar)) = -1/2 sum_d [log 2pi + logvar_d + (x_d - mean_d)^2 / exp(logvar_d)]``.

    With ``logvar = 0`` this is the lecture's ``C - 1/2 ||x - f(z)||^2`` with ``C = -D/2 log 2pi``.
    x : (N, D);  mean : (N, D) or (S, N, D);  logvar : float (fixed) or mean.shape (learned)
    -> (N,) or (S, N)
    """
    _check_pair(x, mean, "x", "mean")
    return _gaussian_ll(x, mean, _check_logvar(logvar, mean))


def _gaussian_ll(x, mean, logvar):
    r = np.subtract(x, mean)
    r *= r
    if isinstance(logvar, float):
        r *= float(np.exp(-logvar))
        r += LOG_2PI + logvar
    else:
        r *= np.exp(np.negative(logvar))
        r += logvar
        r += LOG_2PI
    r *= -0.5
    return r.sum(axis=-1)


def gaussian_log_likelihood_grad(x, mean, logvar=0.0, dout=None):
    """-> ``(dmean, dlogvar)``: ``dmean = (x - mean) / var``,
    ``dlogvar = 1/2 ((x - mean)^2 / var - 1)`` (``None`` when logvar is a fixed float)."""
    _check_pair(x, mean, "x", "mean")
    logvar = _check_logvar(logvar, mean)
    return _gaussian_ll_grad(x, mean, logvar, _dout(dout, mean.shape[:-1], mean.dtype))


def _gaussian_ll_grad(x, mean, logvar, d=None):
    dmean = np.subtract(x, mean)
    if isinstance(logvar, float):
        dmean *= float(np.exp(-logvar))
        if d is not None:
            dmean *= d
        return dmean, None
    dmean *= np.exp(np.negative(logvar))
    dlogvar = np.subtract(x, mean)
    dlogvar *= dmean            # (x - mean)^2 / var
    dlogvar -= 1
    dlogvar *= 0.5
    if d is not None:
        dmean *= d
        dlogvar *= d
    return dmean, dlogvar


def log_std_normal(z):
    """``log N(z; 0, I) = -1/2 sum_j (log 2pi + z_j^2)``.  z : (..., k) -> (...)."""
    r = z * z
    r += LOG_2PI
    r *= -0.5
    return r.sum(axis=-1)


# --------------------------------------------------------------- KL to N(0, I), diagonal


def kl_std_normal(mu, logvar):
    """Closed form ``KL(N(mu, diag exp(logvar)) || N(0, I))
    = 1/2 sum_j [exp(logvar_j) + mu_j^2 - 1 - logvar_j]``.

    It is the full-covariance formula ``1/2 (tr Sigma + mu^T mu - k - log det Sigma)`` with
    ``Sigma = diag(exp(logvar))``.   mu, logvar : (N, k) -> (N,)
    """
    check_array(mu, "mu", ndim=2)
    check_array(logvar, "logvar", shape=mu.shape, dtype=mu.dtype)
    return kl_std_normal_per_dim(mu, logvar).sum(axis=-1)


def kl_std_normal_grad(mu, logvar, dout=None):
    """-> ``(dmu, dlogvar) = (mu, 1/2 (exp(logvar) - 1))``, each times ``dout``."""
    check_array(mu, "mu", ndim=2)
    check_array(logvar, "logvar", shape=mu.shape, dtype=mu.dtype)
    return _kl_std_normal_grad(mu, logvar, _dout(dout, mu.shape[:1], mu.dtype))


def _kl_std_normal_grad(mu, logvar, d=None):
    dmu = mu.copy()
    dlogvar = np.exp(logvar)
    dlogvar -= 1
    dlogvar *= 0.5
    if d is not None:
        dmu *= d
        dlogvar *= d
    return dmu, dlogvar


def kl_std_normal_per_dim(mu, logvar):
    """The KL split by latent dimension, (N, k): used for active units and per-dim KL plots
    (and, summed, by ``kl_std_normal``).  Unchecked: call it with valid mu, logvar."""
    t = np.exp(logvar)
    t += mu * mu
    t -= 1
    t -= logvar
    t *= 0.5
    return t


# --------------------------------------------------------- KL to N(0, I), full covariance


def _check_L(mu, L):
    check_array(mu, "mu", ndim=2)
    n, k = mu.shape
    check_array(L, "L", shape=(n, k, k), dtype=mu.dtype)
    diag = np.diagonal(L, axis1=1, axis2=2)
    if np.any(diag <= 0):
        raise ValueError("L must have a strictly positive diagonal (a Cholesky factor)")
    if np.any(np.triu(L, 1)):
        raise ValueError("L must be lower-triangular (entries above the diagonal are nonzero)")
    return diag


def kl_full_cov_std_normal(mu, L):
    """``KL(N(mu, Sigma) || N(0, I)) = 1/2 (tr Sigma + mu^T mu - k - log det Sigma)``, Sigma = L L^T.

    With L lower-triangular: ``tr Sigma = ||L||_F^2`` and ``log det Sigma = 2 sum_i log L_ii``.
    mu : (N, k);  L : (N, k, k)  ->  (N,)
    """
    return _kl_full(mu, L, _check_L(mu, L))


def _kl_full(mu, L, diag):
    k = mu.shape[1]
    tr = np.einsum("nij,nij->n", L, L)
    mm = np.einsum("nj,nj->n", mu, mu)
    logdet = 2 * np.log(diag).sum(axis=1)
    return 0.5 * (tr + mm - k - logdet)


def kl_full_cov_std_normal_grad(mu, L, dout=None):
    """-> ``(dmu, dL) = (mu, L - diag(1 / L_ii))``, each times ``dout``."""
    diag = _check_L(mu, L)
    if dout is not None:
        check_array(dout, "dout", shape=mu.shape[:1], dtype=mu.dtype)
    return _kl_full_grad(mu, L, diag, dout)


def _kl_full_grad(mu, L, diag, dout=None):
    dmu = mu.copy()
    dL = L.copy()
    idx = np.arange(mu.shape[1])
    dL[:, idx, idx] -= 1 / diag
    if dout is not None:
        dmu *= dout[:, None]
        dL *= dout[:, None, None]
    return dmu, dL
