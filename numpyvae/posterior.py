"""The variational family Q (lecture 004): q(z | x) as one node between encoder and decoder.

A family owns everything about q:

* how the encoder's raw output ``h`` (N, raw_size) splits into q's parameters;
* the reparameterized sample ``z = g(params, eps)`` (the node in reparam.py);
* ``KL(q(z|x) || N(0, I))`` in closed form (distributions.py);
* ``log q(z | x)`` at ``z = g(params, eps)``, for the importance weights of the IWAE bound.

One forward computes what the objective asks for, one backward takes the upstream gradients of
those outputs and returns ``dh``, the gradient with respect to the raw encoder output:

    out, cache = family.forward(h, eps, kl=True, log_q=False)
        out.z : (S, N, k);  out.kl : (N,) or None;  out.log_q : (S, N) or None
    dh = family.backward(dz, cache, dkl=None, dlog_q=None)           dh : (N, raw_size)
    dh = family.backward(dz, cache, dlog_q=..., score=False)         (STL, DReG: see below)

All three gradients enter at q's parameters (mu and logvar, or mu and L) and leave through one
map back to ``h``.  ``log q`` is written as a function of (params, eps): with ``z = mu + A eps``,
``log q(z|x) = log N(eps; 0, I) - log |det A|``, so its gradient has no path through z (the
"score" part of the log q gradient cancels its path part; Roeder et al. 2017 name this).

``score=False`` keeps the path part only: log q(z; params) is differentiated through z alone, the
params inside it held fixed (a stop-gradient), so ``dlog_q`` enters as ``dz += dlog_q *
d log q/dz`` and then through the sample: ``d log q/dz = -(z - mu)/sigma^2 = -eps/sigma``
(diagonal) or ``-L^{-T} eps`` (full).  This is the STL gradient (Roeder et al. 2017) and the
encoder half of DReG (Tucker et al. 2018).  The dropped score term ``d log q/d params`` at fixed z
has expectation 0 under q.  ``score`` is optional in a family: one without it serves the ELBO
and the IWAE bound, not their STL / DReG gradients.

Besides the node, a family answers what evaluation and the estimator study ask of q:

    family.moments(*family.params(h))      -> (mean (N, k), marginal variances (N, k))
    family.noise(h, z)                     -> eps with z = g(params, eps): (S, N, k)
    family.score(h, eps, w)                -> sum_s w_sn grad_h log q(z_sn | x_n) at FIXED z: (N, raw_size)

A new family is a class with ``raw_size``, ``params``, ``moments``, ``forward``, ``backward``,
``noise`` and ``score``, added to ``FAMILIES`` (one file plus its registry entry); vae.py,
evaluate.py and the estimator study need no edit (tests/library/test_new_family_and_bound.py).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import distributions as D
from . import fused
from . import reparam as R
from ._validate import check_array, check_positive_int


class Outputs(NamedTuple):
    """What ``forward`` returns: the sample and, when asked for, the KL and log q."""
    z: np.ndarray                       # (S, N, k)
    kl: np.ndarray | None               # (N,)
    log_q: np.ndarray | None            # (S, N)


def _check_h(h, raw_size):
    check_array(h, "h", ndim=2, finite=False)
    if h.shape[1] != raw_size:
        raise ValueError(f"h (raw encoder output) must have {raw_size} columns, got {h.shape}")


def _check_eps(eps, n, k, dtype):
    check_array(eps, "eps", ndim=3, dtype=dtype, finite=False)
    if eps.shape[1:] != (n, k):
        raise ValueError(f"eps must have shape (S, {n}, {k}), got {eps.shape}")
    if eps.shape[0] == 0:
        raise ValueError("eps must hold at least one sample (S >= 1)")


class DiagonalGaussian:
    """q(z|x) = N(mu, diag exp(logvar)).  The encoder emits ``h = [mu | logvar]``: (N, 2k)."""

    name = "diagonal"

    def __init__(self, k):
        self.k = check_positive_int(k, "k")
        self.raw_size = 2 * self.k

    def params(self, h):
        """h : (N, 2k) -> (mu, logvar), each (N, k) (views into h)."""
        _check_h(h, self.raw_size)
        return h[:, :self.k], h[:, self.k:]

    @staticmethod
    def moments(mu, logvar):
        """-> (mean (N, k), marginal variances (N, k)) of q."""
        return mu, np.exp(logvar)

    # With ``--kernels fused`` (fused.use) the ELBO's sample and KL run as numba loops around
    # NumPy's exp: the same bits, the same caches.  ``None`` back means "take the NumPy path".
    def forward(self, h, eps, kl=True, log_q=False):
        mu, logvar = self.params(h)
        _check_eps(eps, h.shape[0], self.k, h.dtype)
        done = fused.gaussian_posterior_forward(h, eps) if kl and not log_q else None
        if done is not None:
            z, kl_val, rcache, kcache = done
            return Outputs(z, kl_val, None), (rcache, kcache, h, eps)
        z, rcache = R.gaussian_forward(mu, logvar, eps)
        kl_val = kcache = lq = None
        if kl:
            kl_val, kcache = D.kl_std_normal_forward(mu, logvar)
        if log_q:
            # log q = log N(eps; 0, I) - sum_j log sigma_j,  log sigma_j = logvar_j / 2
            lq = D.log_std_normal(eps)
            lq -= 0.5 * logvar.sum(axis=1)
        return Outputs(z, kl_val, lq), (rcache, kcache, h, eps)

    def backward(self, dz, cache, dkl=None, dlog_q=None, score=True):
        """-> dh (N, 2k) = [dmu | dlogvar] from the sample's, the KL's and log q's gradients.
        ``score=False``: log q's gradient through z only (module docstring)."""
        rcache, kcache, h, eps = cache
        if dkl is not None and dlog_q is None and kcache is not None:
            dh = fused.gaussian_posterior_backward(dz, dkl, h, rcache[0], kcache[1], eps)
            if dh is not None:
                return dh
        if dlog_q is not None and not score:     # d log q / dz = -eps / sigma, sigma = e^(logvar/2)
            dz = dz - dlog_q[..., None] * eps * np.exp(-0.5 * h[:, self.k:])
            dlog_q = None
        dmu, dlogvar = R.gaussian_backward(dz, rcache)
        if dkl is not None:
            gmu, glogvar = D.kl_std_normal_backward(dkl, kcache)
            dmu += gmu
            dlogvar += glogvar
        if dlog_q is not None:            # d log q / d logvar_j = -1/2, for every sample
            dlogvar -= 0.5 * dlog_q.sum(axis=0)[:, None]
        dh = np.empty_like(h)
        dh[:, :self.k], dh[:, self.k:] = dmu, dlogvar
        return dh

    def noise(self, h, z):
        """The noise that gives z: eps = (z - mu) / sigma.  z : (S, N, k) -> eps : (S, N, k)."""
        mu, logvar = self.params(h)
        return (z - mu) / np.exp(0.5 * logvar)

    def score(self, h, eps, w):
        """sum_s w_sn grad_h log q(z_sn|x_n) with z_sn = mu + sigma eps_sn held fixed: (N, 2k).

        d log q / d mu = (z - mu)/sigma^2 = eps/sigma,
        d log q / d logvar = -1/2 + (z - mu)^2 / (2 sigma^2) = (eps^2 - 1)/2.
        w : (S, N);  eps : (S, N, k)."""
        _, logvar = self.params(h)
        std = np.multiply(logvar, 0.5)
        np.exp(std, out=std)
        dh = np.empty_like(h)
        np.divide(np.einsum("sn,snk->nk", w, eps), std, out=dh[:, :self.k])
        dlv = np.einsum("sn,snk->nk", w, eps * eps)
        dlv -= w.sum(axis=0)[:, None]
        np.multiply(dlv, 0.5, out=dh[:, self.k:])
        return dh


class FullCovGaussian:
    """q(z|x) = N(mu, L L^T), L lower-triangular with a positive diagonal.

    The encoder emits ``h = [mu | a | off]``: k means, k raw diagonal entries a (``L_ii = exp(a_i)``)
    and the k(k-1)/2 entries below the diagonal, row by row (:func:`reparam.tril_from_raw`).
    """

    name = "full"

    def __init__(self, k):
        self.k = check_positive_int(k, "k")
        self.raw_size = self.k + R.tril_size(self.k)

    def params(self, h):
        """h : (N, k + k(k+1)/2) -> (mu (N, k), L (N, k, k))."""
        _check_h(h, self.raw_size)
        return h[:, :self.k], R.tril_from_raw(h[:, self.k:], self.k)[0]

    @staticmethod
    def moments(mu, L):
        """-> (mean (N, k), marginal variances Sigma_jj = sum_i L_ji^2, (N, k))."""
        return mu, np.einsum("nji,nji->nj", L, L)

    def forward(self, h, eps, kl=True, log_q=False):
        _check_h(h, self.raw_size)
        _check_eps(eps, h.shape[0], self.k, h.dtype)
        mu = h[:, :self.k]
        L, tcache = R.tril_from_raw(h[:, self.k:], self.k)
        z, rcache = R.full_cov_forward(mu, L, eps)
        kl_val = kcache = lq = None
        if kl:
            kl_val, kcache = D.kl_full_cov_std_normal_forward(mu, L)
        if log_q:
            # log q = log N(eps; 0, I) - log det L = log N(eps; 0, I) - sum_i a_i
            lq = D.log_std_normal(eps)
            lq -= h[:, self.k:2 * self.k].sum(axis=1)
        return Outputs(z, kl_val, lq), (rcache, kcache, tcache, L, h, eps)

    def backward(self, dz, cache, dkl=None, dlog_q=None, score=True):
        """-> dh (N, k + k(k+1)/2): every gradient enters at (dmu, dL), then one map back to h.
        ``score=False``: log q's gradient through z only (module docstring)."""
        rcache, kcache, tcache, L, h, eps = cache
        if dlog_q is not None and not score:     # d log q / dz = -L^{-T} eps, per example
            u = np.linalg.solve(np.swapaxes(L, 1, 2), np.moveaxis(eps, 0, -1))   # (N, k, S)
            dz = dz - dlog_q[..., None] * np.moveaxis(u, -1, 0)
            dlog_q = None
        dmu, dL = R.full_cov_backward(dz, rcache)
        if dkl is not None:
            gmu, gL = D.kl_full_cov_std_normal_backward(dkl, kcache)
            dmu += gmu
            dL += gL
        if dlog_q is not None:            # d log q / d L_ii = -1 / L_ii, for every sample
            idx = np.arange(self.k)
            dL[:, idx, idx] -= dlog_q.sum(axis=0)[:, None] / L[:, idx, idx]
        dh = np.empty_like(h)
        dh[:, :self.k] = dmu
        dh[:, self.k:] = R.tril_from_raw_backward(dL, tcache)
        return dh

    def noise(self, h, z):
        """The noise that gives z: eps = L^{-1} (z - mu).  z : (S, N, k) -> eps : (S, N, k)."""
        mu, L = self.params(h)
        eps = np.linalg.solve(L, np.moveaxis(z - mu, 0, -1))        # (N, k, S)
        return np.ascontiguousarray(np.moveaxis(eps, -1, 0))

    def score(self, h, eps, w):
        """sum_s w_sn grad_h log q(z_sn|x_n) with z_sn = mu + L eps_sn held fixed: (N, raw_size).

        log q = -k/2 log 2 pi - sum_i log L_ii - ||L^{-1}(z - mu)||^2 / 2, and L^{-1}(z - mu) = eps:
        d log q / d mu = L^{-T} eps,   d log q / d L = tril(L^{-T} eps eps^T) - diag(1 / L_ii),
        then the map back to the raw entries (``d L_ii / d a_i = L_ii``).
        w : (S, N);  eps : (S, N, k)."""
        mu, L = self.params(h)
        a = np.linalg.solve(np.swapaxes(L, 1, 2), np.moveaxis(eps, 0, -1))    # L^{-T} eps, (N, k, S)
        wt = np.moveaxis(w, 0, -1)[:, None, :]                                 # (N, 1, S)
        dL = np.matmul(a * wt, eps.transpose(1, 0, 2))                         # (N, k, k)
        dL = np.tril(dL)
        idx = np.arange(self.k)
        dL[:, idx, idx] -= w.sum(axis=0)[:, None] / L[:, idx, idx]
        dh = np.empty_like(h)
        dh[:, :self.k] = (a * wt).sum(axis=-1)
        dh[:, self.k:] = R.tril_from_raw_backward(dL, (L, self.k))
        return dh


FAMILIES = {"diagonal": DiagonalGaussian, "full": FullCovGaussian}


def family(name, k):
    """The family registered as ``name`` in ``FAMILIES`` (e.g. "diagonal", "full") for a
    k-dimensional z."""
    if name not in FAMILIES:
        raise ValueError(f"covariance must be one of {tuple(FAMILIES)}, got {name!r}")
    return FAMILIES[name](k)
