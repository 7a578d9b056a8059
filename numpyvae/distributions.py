"""Log-likelihoods and closed-form KL divergences, each a forward/backward pair.

Every value is a sum over the data (or latent) dimension, one number per example: shape ``(N,)``
(or ``(S, N)`` when the second argument carries ``S`` samples per example).

``logvar`` always means log sigma^2 (the *variance*): ``std = exp(0.5 * logvar)``.

The convention is that of functional.py and reparam.py (ARCHITECTURE.md, "Ops"):

    value, cache = name_forward(...)          value : (N,) or (S, N)
    grads        = name_backward(dvalue, cache)

``dvalue`` is the upstream gradient d loss / d value, one number per example (and sample).
The forward kernels check shapes and dtypes only (O(1)); the plain value functions
(``bernoulli_log_likelihood(x, logits)``, ``kl_std_normal(mu, logvar)``, ...) check values too
(NaN, the [0, 1] range of Bernoulli targets, a valid Cholesky factor) and return the value alone.
A model checks its minibatch once and then calls the kernels.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from ._validate import check_array, check_data_values

LOG_2PI = float(np.log(2 * np.pi))


def _check_pair(x, y, name_x, name_y, finite=False):
    """x : (N, D);  y : (N, D) or (S, N, D) with the same dtype."""
    check_array(x, name_x, ndim=2, finite=finite)
    check_array(y, name_y, ndim=(2, 3), dtype=x.dtype, finite=finite)
    if y.shape[-2:] != x.shape:
        raise ValueError(f"{name_y} must have shape {x.shape} or (S, *{x.shape}), got {y.shape}")


def _check_targets(x):
    if x.size:                                   # an empty x has nothing to check
        check_data_values(x, "x (Bernoulli targets)", unit_interval=True)


def upstream(dout, shape, dtype):
    """dout : one gradient per example (and sample) -> with a trailing axis, for broadcasting."""
    check_array(dout, "dout", shape=shape, dtype=dtype, finite=False)
    return dout[..., None]


# ------------------------------------------------------------------------ Bernoulli


def bernoulli_log_likelihood_forward(x, logits):
    """``log p(x | logits) = sum_d [x_d l_d - softplus(l_d)]``, the log of
    ``prod_d sigmoid(l_d)^x_d (1 - sigmoid(l_d))^(1 - x_d)``.

    Written with the stable softplus, it is exact for any finite logit (no ``log(p + eps)``).
    x : (N, D) in [0, 1] (binary, or intensities as in the PyTorch example);
    logits : (N, D) or (S, N, D)  ->  ll : (N,) or (S, N);  cache = (x, logits)
    """
    _check_pair(x, logits, "x", "logits")
    t = F.softplus(logits)
    np.subtract(logits * x, t, out=t)
    return t.sum(axis=-1), (x, logits)


def bernoulli_log_likelihood_backward(dll, cache):
    """dll : (N,) or (S, N)  ->  dlogits = ``(x - sigmoid(logits)) * dll``, the shape of logits."""
    x, logits = cache
    d = upstream(dll, logits.shape[:-1], logits.dtype)
    g = F.sigmoid(logits)
    np.subtract(x, g, out=g)
    g *= d
    return g


def bernoulli_log_likelihood(x, logits):
    """The value of :func:`bernoulli_log_likelihood_forward`, after checking x and logits."""
    _check_pair(x, logits, "x", "logits", finite=True)
    _check_targets(x)
    return bernoulli_log_likelihood_forward(x, logits)[0]


def bernoulli_log_likelihood_grad(x, logits, dout=None):
    """d/d logits of ``sum dout * log p(x | logits)`` (``dout`` defaults to ones).
    The backward needs only (x, logits), so the value itself is not computed."""
    _check_pair(x, logits, "x", "logits")
    if dout is None:
        dout = np.ones(logits.shape[:-1], logits.dtype)
    return bernoulli_log_likelihood_backward(dout, (x, logits))


# ------------------------------------------------------------------------- Gaussian


def _check_logvar(logvar, mean, finite=False):
    if isinstance(logvar, (int, float)) and not isinstance(logvar, bool):
        if not np.isfinite(logvar):
            raise ValueError("logvar must be finite")
        return float(logvar)
    check_array(logvar, "logvar", dtype=mean.dtype, finite=finite)
    if logvar.shape != mean.shape:
        raise ValueError(f"logvar must be a float or have the shape of mean {mean.shape}, "
                         f"got {logvar.shape}")
    return logvar


def gaussian_log_likelihood_forward(x, mean, logvar=0.0):
    """``log N(x; mean, diag exp(logvar))
    = -1/2 sum_d [log 2pi + logvar_d + (x_d - mean_d)^2 / exp(logvar_d)]``.

    With ``logvar = 0`` this is the lecture's ``C - 1/2 ||x - f(z)||^2`` with ``C = -D/2 log 2pi``.
    x : (N, D);  mean : (N, D) or (S, N, D);  logvar : float (fixed) or mean.shape (learned)
    -> ll : (N,) or (S, N);  cache = (x, mean, logvar, 1/var)
    """
    _check_pair(x, mean, "x", "mean")
    logvar = _check_logvar(logvar, mean)
    # inv_var = 1/σ² = exp(-logvar), computed once and kept for the backward pass
    inv_var = float(np.exp(-logvar)) if isinstance(logvar, float) else np.exp(np.negative(logvar))
    r = np.subtract(x, mean)
    r *= r
    r *= inv_var
    if isinstance(logvar, float):
        r += LOG_2PI + logvar
    else:
        r += logvar
        r += LOG_2PI
    r *= -0.5
    return r.sum(axis=-1), (x, mean, logvar, inv_var)


def gaussian_log_likelihood_backward(dll, cache):
    """dll : (N,) or (S, N)  ->  ``(dmean, dlogvar)`` with
    ``dmean = (x - mean) / var * dll``,  ``dlogvar = 1/2 ((x - mean)^2 / var - 1) * dll``
    (``dlogvar`` is ``None`` when logvar is a fixed float)."""
    x, mean, logvar, inv_var = cache
    d = upstream(dll, mean.shape[:-1], mean.dtype)
    dmean = np.subtract(x, mean)
    dmean *= inv_var
    if isinstance(logvar, float):
        dmean *= d
        return dmean, None
    dlogvar = np.subtract(x, mean)
    dlogvar *= dmean            # (x - mean)^2 / var
    dlogvar -= 1
    dlogvar *= 0.5
    dmean *= d
    dlogvar *= d
    return dmean, dlogvar


def gaussian_log_likelihood(x, mean, logvar=0.0):
    """The value of :func:`gaussian_log_likelihood_forward`, after checking for NaN."""
    _check_pair(x, mean, "x", "mean", finite=True)
    _check_logvar(logvar, mean, finite=True)
    return gaussian_log_likelihood_forward(x, mean, logvar)[0]


def gaussian_log_likelihood_grad(x, mean, logvar=0.0, dout=None):
    """-> ``(dmean, dlogvar)`` of ``sum dout * log N(x; mean, exp(logvar))``."""
    ll, cache = gaussian_log_likelihood_forward(x, mean, logvar)
    return gaussian_log_likelihood_backward(np.ones_like(ll) if dout is None else dout, cache)


# ----------------------------------------------------------------- the prior N(0, I)


def log_std_normal_forward(z):
    """``log N(z; 0, I) = -1/2 sum_j (log 2pi + z_j^2)``.  z : (..., k) -> (...);  cache = z."""
    check_array(z, "z", finite=False)
    r = z * z
    r += LOG_2PI
    r *= -0.5
    return r.sum(axis=-1), z


def log_std_normal_backward(dlp, cache):
    """dlp : (...) -> dz = ``-z * dlp``, the shape of z."""
    z = cache
    dz = z * upstream(dlp, z.shape[:-1], z.dtype)
    np.negative(dz, out=dz)
    return dz


def log_std_normal(z):
    """The value of :func:`log_std_normal_forward`."""
    return log_std_normal_forward(z)[0]


# --------------------------------------------------------------- KL to N(0, I), diagonal


def _check_mu_logvar(mu, logvar, finite=False):
    check_array(mu, "mu", ndim=2, finite=finite)
    check_array(logvar, "logvar", shape=mu.shape, dtype=mu.dtype, finite=finite)


def kl_std_normal_forward(mu, logvar):
    """Closed form ``KL(N(mu, diag exp(logvar)) || N(0, I))
    = 1/2 sum_j [exp(logvar_j) + mu_j^2 - 1 - logvar_j]``.

    It is the full-covariance formula ``1/2 (tr Sigma + mu^T mu - k - log det Sigma)`` with
    ``Sigma = diag(exp(logvar))``.   mu, logvar : (N, k) -> kl : (N,);  cache = (mu, var)
    """
    _check_mu_logvar(mu, logvar)
    var = np.exp(logvar)
    t = var + mu * mu
    t -= 1
    t -= logvar
    t *= 0.5
    return t.sum(axis=-1), (mu, var)


def kl_std_normal_backward(dkl, cache):
    """dkl : (N,) -> ``(dmu, dlogvar) = (mu dkl, 1/2 (exp(logvar) - 1) dkl)``."""
    mu, var = cache
    d = upstream(dkl, mu.shape[:1], mu.dtype)
    dlogvar = var - 1
    dlogvar *= 0.5
    dlogvar *= d
    return mu * d, dlogvar


def kl_std_normal(mu, logvar):
    """The value of :func:`kl_std_normal_forward`, after checking for NaN.  (N,)"""
    _check_mu_logvar(mu, logvar, finite=True)
    return kl_std_normal_forward(mu, logvar)[0]


def kl_std_normal_grad(mu, logvar, dout=None):
    """-> ``(dmu, dlogvar) = (mu, 1/2 (exp(logvar) - 1))``, each times ``dout`` (default ones)."""
    _check_mu_logvar(mu, logvar, finite=True)
    kl, cache = kl_std_normal_forward(mu, logvar)
    return kl_std_normal_backward(np.ones_like(kl) if dout is None else dout, cache)


def kl_std_normal_per_dim(mu, logvar):
    """The KL split by latent dimension, (N, k): for active units and per-dimension KL plots.
    Each column is the 1-D formula of :func:`kl_std_normal_forward`."""
    _check_mu_logvar(mu, logvar, finite=True)
    t = np.exp(logvar)
    t += mu * mu
    t -= 1
    t -= logvar
    t *= 0.5
    return t


# --------------------------------------------------------- KL to N(0, I), full covariance


def _check_L(mu, L, values=True):
    check_array(mu, "mu", ndim=2, finite=values)
    n, k = mu.shape
    check_array(L, "L", shape=(n, k, k), dtype=mu.dtype, finite=values)
    diag = np.diagonal(L, axis1=1, axis2=2)
    if values:
        if np.any(diag <= 0):
            raise ValueError("L must have a strictly positive diagonal (a Cholesky factor)")
        if np.any(np.triu(L, 1)):
            raise ValueError("L must be lower-triangular (entries above the diagonal are nonzero)")
    return diag


def kl_full_cov_std_normal_forward(mu, L):
    """``KL(N(mu, Sigma) || N(0, I)) = 1/2 (tr Sigma + mu^T mu - k - log det Sigma)``, Sigma = L L^T.

    With L lower-triangular: ``tr Sigma = ||L||_F^2`` and ``log det Sigma = 2 sum_i log L_ii``.
    mu : (N, k);  L : (N, k, k) lower-triangular, positive diagonal  ->  kl : (N,);
    cache = (mu, L, diag L)
    """
    diag = _check_L(mu, L, values=False)
    k = mu.shape[1]
    tr = np.einsum("nij,nij->n", L, L)
    mm = np.einsum("nj,nj->n", mu, mu)
    logdet = 2 * np.log(diag).sum(axis=1)
    return 0.5 * (tr + mm - k - logdet), (mu, L, diag)


def kl_full_cov_std_normal_backward(dkl, cache):
    """dkl : (N,) -> ``(dmu, dL) = (mu dkl, (L - diag(1 / L_ii)) dkl)``."""
    mu, L, diag = cache
    d = upstream(dkl, mu.shape[:1], mu.dtype)
    dL = L.copy()
    idx = np.arange(mu.shape[1])
    dL[:, idx, idx] -= 1 / diag
    dL *= d[..., None]
    return mu * d, dL


def kl_full_cov_std_normal(mu, L):
    """The value of :func:`kl_full_cov_std_normal_forward`, after checking L is a Cholesky factor."""
    _check_L(mu, L)
    return kl_full_cov_std_normal_forward(mu, L)[0]


def kl_full_cov_std_normal_grad(mu, L, dout=None):
    """-> ``(dmu, dL)`` of ``sum dout * KL``, ``dout`` defaulting to ones."""
    _check_L(mu, L)
    kl, cache = kl_full_cov_std_normal_forward(mu, L)
    return kl_full_cov_std_normal_backward(np.ones_like(kl) if dout is None else dout, cache)
