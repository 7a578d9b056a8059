"""Gaussian mixture models and EM: the latent-variable model the ELBO is first shown on.

The model, with a discrete latent z ∈ {0, …, K-1}::

    p(z = k) = π_k,      p(x | z = k) = N(x | μ_k, Σ_k),
    log p(x) = logsumexp_k [ log π_k + log N(x | μ_k, Σ_k) ]

EM is coordinate ascent on the ELBO (a.k.a. the negative free energy)::

    F(q, θ) = Σ_i Σ_k q_ik [ log π_k + log N(x_i | μ_k, Σ_k) − log q_ik ]
            = Σ_i log p(x_i) − Σ_i KL(q_i ‖ p(z | x_i))

E-step: maximise F over q with θ fixed   -> q_ik = p(z=k | x_i), the KL is 0, F = log p(x).
M-step: maximise F over θ with q fixed   -> weighted means and covariances (closed form).

Neither step can lower F, so the sequence F(E-step 1), F(M-step 1), F(E-step 2), … never decreases.

Shapes: ``x`` is (N, D), responsibilities ``q`` are (N, K), ``weights`` (K,), ``means`` (K, D),
``covs`` (K, D, D).  Everything here is computed in float64 (this is not the training hot path):
float32 inputs are accepted and promoted, and every returned array is float64.
Quantities reported per example (``log_likelihood``, ``elbo``) are (N,); the fit history stores
their *means* over the data set, i.e. nats per example.

The hard-assignment (k-means) limit: with every covariance fixed to σ²I and equal weights, the
E-step is a softmax of −‖x − μ_k‖² / (2σ²); as σ → 0 it becomes the one-hot argmin, the M-step
becomes "each mean is the average of its points", and EM is exactly Lloyd's k-means
(see :func:`isotropic_em` and :func:`kmeans_limit`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg
from scipy.special import logsumexp, xlogy

from numpyvae._validate import (check_array, check_positive_float, check_positive_int,
                                check_rng)

__all__ = [
    "GMMParams", "EMHistory", "log_joint", "log_likelihood", "e_step", "m_step", "elbo",
    "init_params", "fit", "kmeans", "isotropic_responsibilities", "isotropic_em", "kmeans_limit",
    "DEFAULT_REG",
]

#: Covariance floor added to the diagonal of every covariance in the M-step (in the units of x²).
#: Without it a component that collapses onto one point (or onto a lower-dimensional subspace)
#: gets a singular covariance and log p(x) → +∞.  With ``reg > 0`` the M-step maximises F only up
#: to a term of order reg² per example, so for an exact textbook demonstration pass ``reg=0``.
DEFAULT_REG = 1e-6


@dataclass(frozen=True)
class GMMParams:
    """Parameters θ = (π, μ, Σ) of a K-component mixture in D dimensions.

    weights : (K,)      mixing proportions π_k ≥ 0, summing to 1
    means   : (K, D)    component means μ_k
    covs    : (K, D, D) full covariance matrices Σ_k (symmetric positive definite)
    """
    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]


@dataclass
class EMHistory:
    """What EM did, one entry per iteration t (all in nats per example, i.e. means over the data).

    elbo_after_e[t] : F(q_t, θ_t) with q_t = p(z | x, θ_t)  (equals log_lik[t] up to rounding)
    log_lik[t]      : log p(x | θ_t), computed independently with logsumexp
    elbo_after_m[t] : F(q_t, θ_{t+1})  (the M-step's result; ≤ log_lik[t+1])
    converged       : whether the log-likelihood improvement fell below ``tol``
    """
    elbo_after_e: list = field(default_factory=list)
    log_lik: list = field(default_factory=list)
    elbo_after_m: list = field(default_factory=list)
    converged: bool = False

    @property
    def n_iter(self) -> int:
        return len(self.log_lik)

    def half_steps(self) -> np.ndarray:
        """The ELBO after every half-step, E, M, E, M, … : shape (2 * n_iter,). Never decreases."""
        out = np.empty(2 * self.n_iter)
        out[0::2] = self.elbo_after_e
        out[1::2] = self.elbo_after_m
        return out

    def e_step_gaps(self) -> np.ndarray:
        """log p(x) − ELBO right after each E-step: shape (n_iter,). Zero up to rounding."""
        return np.asarray(self.log_lik) - np.asarray(self.elbo_after_e)


# --------------------------------------------------------------------------------------------
# validation helpers

def _as_data(x, name="x"):
    check_array(x, name, ndim=2)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {x.shape}")
    return np.asarray(x, dtype=np.float64)


def _check_params(params, dim=None):
    if not isinstance(params, GMMParams):
        raise TypeError(f"params must be a GMMParams, got {type(params).__name__}")
    means = check_array(params.means, "params.means", ndim=2)
    K, D = means.shape
    if K == 0:
        raise ValueError("params.means must have at least one component (row)")
    check_array(params.weights, "params.weights", shape=(K,))
    check_array(params.covs, "params.covs", shape=(K, D, D))
    if dim is not None and D != dim:
        raise ValueError(f"params.means has dimension {D} but x has {dim} columns; they must match")
    w = params.weights
    if np.any(w < 0) or abs(float(w.sum()) - 1.0) > 1e-8:
        raise ValueError(f"params.weights must be >= 0 and sum to 1, got sum {float(w.sum())!r}")
    return K, D


def _cholesky(cov, k):
    """Lower Cholesky factor of covs[k]; a ValueError naming the component if not SPD."""
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"params.covs[{k}] must be symmetric")
    try:
        c, _ = linalg.cho_factor(cov, lower=True, check_finite=False)
    except linalg.LinAlgError:
        raise ValueError(f"params.covs[{k}] is not positive definite") from None
    return np.tril(c)


# --------------------------------------------------------------------------------------------
# densities

def log_joint(x, params):
    """log p(x_i, z=k) = log π_k + log N(x_i | μ_k, Σ_k), shape (N, K).

    Each Gaussian term uses the Cholesky factor Σ_k = L Lᵀ:
    log N = −½ ‖L⁻¹(x − μ)‖² − Σ_j log L_jj − (D/2) log 2π,
    so no inverse or determinant is ever formed.  A zero weight gives −inf for that column.
    """
    x = _as_data(x)
    K, D = _check_params(params, dim=x.shape[1])
    means = np.asarray(params.means, dtype=np.float64)
    covs = np.asarray(params.covs, dtype=np.float64)
    with np.errstate(divide="ignore"):                     # log 0 = -inf for an unused component
        log_w = np.log(np.asarray(params.weights, dtype=np.float64))
    out = np.empty((x.shape[0], K))
    const = 0.5 * D * np.log(2.0 * np.pi)
    for k in range(K):                                     # a loop over components, never examples
        L = _cholesky(covs[k], k)
        r = linalg.solve_triangular(L, (x - means[k]).T, lower=True, check_finite=False)  # (D, N)
        half_logdet = np.sum(np.log(np.diag(L)))
        out[:, k] = log_w[k] - 0.5 * np.einsum("dn,dn->n", r, r) - half_logdet - const
    return out


def log_likelihood(x, params):
    """log p(x_i) = logsumexp_k log p(x_i, z=k), shape (N,)."""
    return logsumexp(log_joint(x, params), axis=1)


def e_step(x, params):
    """Responsibilities q_ik = p(z=k | x_i, θ), shape (N, K); rows sum to 1.

    Computed as exp(log p(x, k) − log p(x)) so that nothing overflows even when
    the log-densities are large and negative.
    """
    lj = log_joint(x, params)
    return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))


def _check_q(q, n, name="q"):
    check_array(q, name, ndim=2)
    if q.shape[0] != n:
        raise ValueError(f"{name} has {q.shape[0]} rows but x has {n}; they must match")
    if q.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column (component)")
    if np.any(q < 0) or not np.allclose(q.sum(axis=1), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"{name} must be non-negative with rows summing to 1")
    return np.asarray(q, dtype=np.float64)


def elbo(x, q, params):
    """Per-example ELBO F_i = Σ_k q_ik [log p(x_i, z=k) − log q_ik], shape (N,).

    Uses the convention 0 · log 0 = 0 (``scipy.special.xlogy``), so hard (one-hot)
    responsibilities are allowed.  F_i ≤ log p(x_i), with equality iff q_i = p(z | x_i).
    """
    x = _as_data(x)
    q = _check_q(q, x.shape[0])
    lj = log_joint(x, params)
    if q.shape[1] != lj.shape[1]:
        raise ValueError(f"q has {q.shape[1]} columns but params has {lj.shape[1]} components")
    return _elbo_from_log_joint(lj, q)


def _elbo_from_log_joint(lj, q):
    """Σ_k q_ik [lj_ik − log q_ik] for validated lj = log p(x, z), q: both (N, K) -> (N,)."""
    # q * log p(x, k), with 0 * (-inf) := 0 for components of zero weight
    expected_log_joint = np.where(q > 0, q * np.where(q > 0, lj, 0.0), 0.0).sum(axis=1)
    entropy = -xlogy(q, q).sum(axis=1)
    return expected_log_joint + entropy


def m_step(x, q, reg=DEFAULT_REG):
    """θ maximising F(q, θ) for fixed responsibilities q (N, K); returns a GMMParams.

    N_k = Σ_i q_ik,   π_k = N_k / N,   μ_k = Σ_i q_ik x_i / N_k,
    Σ_k = Σ_i q_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N_k + reg · I.

    ``reg`` ≥ 0 is the covariance floor (see :data:`DEFAULT_REG`).  A component with N_k = 0
    has no data to estimate it from and raises ValueError.
    """
    x = _as_data(x)
    q = _check_q(q, x.shape[0])
    reg = check_positive_float(reg, "reg", allow_zero=True)
    N, D = x.shape
    Nk = q.sum(axis=0)                                                    # (K,)
    if np.any(Nk <= 0):
        bad = np.flatnonzero(Nk <= 0).tolist()
        raise ValueError(f"q gives component(s) {bad} zero total responsibility; "
                         "they cannot be estimated (re-initialise them or use fewer components)")
    weights = Nk / N
    means = (q.T @ x) / Nk[:, None]                                       # (K, D)
    covs = np.empty((q.shape[1], D, D))
    for k in range(q.shape[1]):
        xc = x - means[k]
        covs[k] = (q[:, k, None] * xc).T @ xc / Nk[k]
        covs[k] = 0.5 * (covs[k] + covs[k].T)                             # exact symmetry
        covs[k].flat[::D + 1] += reg
    return GMMParams(weights, means, covs)


# --------------------------------------------------------------------------------------------
# fitting

def init_params(x, K, rng, reg=DEFAULT_REG):
    """A starting point for EM: K distinct data points as means, the data covariance for every
    component, equal weights."""
    x = _as_data(x)
    K = check_positive_int(K, "K")
    rng = check_rng(rng)
    reg = check_positive_float(reg, "reg", allow_zero=True)
    N, D = x.shape
    if K > N:
        raise ValueError(f"K must be <= the number of examples ({N}), got {K}")
    means = x[rng.choice(N, size=K, replace=False)].copy()
    cov = np.atleast_2d(np.cov(x, rowvar=False, bias=True)) + reg * np.eye(D)
    if not np.all(np.linalg.eigvalsh(cov) > 0):
        raise ValueError("x has a singular covariance; pass reg > 0")
    return GMMParams(np.full(K, 1.0 / K), means, np.repeat(cov[None], K, axis=0))


def fit(x, K, rng, n_iter=200, tol=1e-10, reg=DEFAULT_REG, init=None):
    """Fit a K-component GMM by EM.  Returns ``(params, history)``.

    x      : (N, D) data
    K      : number of components
    rng    : numpy.random.Generator, used only for the initialisation (ignored if ``init`` given)
    n_iter : maximum number of EM iterations (one E-step + one M-step each)
    tol    : stop when the mean log-likelihood per example improves by less than ``tol``
    reg    : covariance floor added to each covariance's diagonal in the M-step
    init   : optional starting GMMParams

    history is an :class:`EMHistory`: per iteration, the ELBO after the E-step, log p(x), and
    the ELBO after the M-step, all as means over examples.
    """
    x = _as_data(x)
    K = check_positive_int(K, "K")
    n_iter = check_positive_int(n_iter, "n_iter")
    tol = check_positive_float(tol, "tol", allow_zero=True)
    reg = check_positive_float(reg, "reg", allow_zero=True)
    if init is None:
        params = init_params(x, K, rng, reg=reg)
    else:
        got_K, _ = _check_params(init, dim=x.shape[1])
        if got_K != K:
            raise ValueError(f"init has {got_K} components but K is {K}")
        params = init
    history = EMHistory()
    lj = log_joint(x, params)                          # log p(x, z | θ_t), (N, K)
    for _ in range(n_iter):
        # E-step.  log p(x) comes from logsumexp; the ELBO from the q-weighted formula, so the
        # gap between them is a real check, not the same number computed twice.
        log_px = logsumexp(lj, axis=1, keepdims=True)
        q = np.exp(lj - log_px)
        history.elbo_after_e.append(float(np.mean(_elbo_from_log_joint(lj, q))))
        history.log_lik.append(float(np.mean(log_px)))
        # M-step; log p(x, z | θ_{t+1}) serves both F(q_t, θ_{t+1}) and the next E-step
        params = m_step(x, q, reg=reg)
        lj = log_joint(x, params)
        history.elbo_after_m.append(float(np.mean(_elbo_from_log_joint(lj, q))))
        if len(history.log_lik) > 1 and history.log_lik[-1] - history.log_lik[-2] < tol:
            history.converged = True
            break
    return params, history


# --------------------------------------------------------------------------------------------
# k-means and the hard-assignment limit

def _sq_dists(x, centers):
    """‖x_i − c_k‖², shape (N, K), without an (N, K, D) temporary; clipped at 0."""
    d = (x * x).sum(1)[:, None] - 2.0 * x @ centers.T + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(x, K, rng, n_iter=100, init=None):
    """Lloyd's k-means.  Returns ``(centers (K, D), labels (N,) int)``.

    Starts from K distinct random data points (or from ``init``, shape (K, D)), then alternates
    "assign each point to its nearest centre" and "move each centre to the mean of its points"
    until the labels stop changing or ``n_iter`` rounds have run.  A centre that loses all its
    points stays where it is.
    """
    x = _as_data(x)
    K = check_positive_int(K, "K")
    n_iter = check_positive_int(n_iter, "n_iter")
    N, D = x.shape
    if init is None:
        rng = check_rng(rng)
        if K > N:
            raise ValueError(f"K must be <= the number of examples ({N}), got {K}")
        centers = x[rng.choice(N, size=K, replace=False)].copy()
    else:
        check_array(init, "init", shape=(K, D))
        centers = np.array(init, dtype=np.float64)
    labels = None
    for _ in range(n_iter):
        new = np.argmin(_sq_dists(x, centers), axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=K)
        sums = np.zeros((K, D))
        np.add.at(sums, labels, x)
        full = counts > 0
        centers[full] = sums[full] / counts[full, None]
    return centers, labels


def isotropic_responsibilities(x, means, sigma):
    """E-step of a GMM with equal weights and every covariance σ²I, shape (N, K):
    q_ik = softmax_k(−‖x_i − μ_k‖² / (2σ²)).  As σ → 0 this is one-hot at the nearest mean."""
    x = _as_data(x)
    check_array(means, "means", shape=(None, x.shape[1]))
    sigma = check_positive_float(sigma, "sigma")
    logits = -_sq_dists(x, np.asarray(means, dtype=np.float64)) / (2.0 * sigma ** 2)
    return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))


def isotropic_em(x, init_means, sigma, n_iter=100):
    """EM for a GMM whose covariances are all fixed to σ²I and whose weights are fixed equal:
    only the means are learned.  Returns ``(means (K, D), q (N, K))`` with q the final E-step.

    The M-step is μ_k = Σ_i q_ik x_i / Σ_i q_ik.  With σ small enough that q is one-hot
    (in float64), every iteration is exactly one round of Lloyd's k-means.
    """
    x = _as_data(x)
    check_array(init_means, "init_means", shape=(None, x.shape[1]))
    sigma = check_positive_float(sigma, "sigma")
    n_iter = check_positive_int(n_iter, "n_iter")
    means = np.array(init_means, dtype=np.float64)
    q = isotropic_responsibilities(x, means, sigma)
    for _ in range(n_iter):
        Nk = q.sum(axis=0)
        full = Nk > 0                                          # an empty component stays put
        new_means = means.copy()
        new_means[full] = (q.T @ x)[full] / Nk[full, None]
        if np.array_equal(new_means, means):
            break
        means = new_means
        q = isotropic_responsibilities(x, means, sigma)
    return means, q


def kmeans_limit(x, K, rng, sigmas=(1.0, 0.3, 0.1, 0.01), n_iter=100):
    """Show that EM with shared covariance σ²I becomes k-means as σ → 0.

    Runs k-means and, from the *same* initial centres, isotropic EM for each σ in ``sigmas``.
    Returns ``(kmeans_centers, kmeans_labels, rows)`` where each row is a dict with

      sigma          : the σ used
      max_soft       : max_i,k |q_ik − onehot(kmeans label)_ik|   (→ 0 as σ → 0)
      agreement      : fraction of points whose argmax_k q_ik equals the k-means label
      max_center_gap : max |μ_EM − μ_kmeans| over all coordinates
      means, q       : EM's final means (K, D) and responsibilities (N, K)
    """
    x = _as_data(x)
    K = check_positive_int(K, "K")
    rng = check_rng(rng)
    if K > x.shape[0]:
        raise ValueError(f"K must be <= the number of examples ({x.shape[0]}), got {K}")
    init = x[rng.choice(x.shape[0], size=K, replace=False)].copy()
    centers, labels = kmeans(x, K, None, n_iter=n_iter, init=init)
    hard = np.eye(K)[labels]
    rows = []
    for s in sigmas:
        means, q = isotropic_em(x, init, s, n_iter=n_iter)
        rows.append(dict(sigma=float(s),
                         max_soft=float(np.max(np.abs(q - hard))),
                         agreement=float(np.mean(np.argmax(q, axis=1) == labels)),
                         max_center_gap=float(np.max(np.abs(means - centers))),
                         means=means, q=q))
    return centers, labels, rows
