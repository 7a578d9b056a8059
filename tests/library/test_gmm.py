"""Tests for numpyvae.gmm: mixture log-likelihood, EM as ELBO ascent, the k-means limit."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from numpyvae import gmm


def random_params(rng, K, D):
    A = rng.standard_normal((K, D, D))
    covs = A @ np.swapaxes(A, 1, 2) / D + 0.2 * np.eye(D)
    return gmm.GMMParams(rng.dirichlet(np.ones(K)), 3 * rng.standard_normal((K, D)), covs)


def sample(rng, params, n):
    z = rng.choice(params.n_components, size=n, p=params.weights)
    L = np.linalg.cholesky(params.covs)
    x = params.means[z] + np.einsum("nij,nj->ni", L[z], rng.standard_normal((n, params.dim)))
    return x, z


def scipy_mixture_loglik(x, p):
    dens = sum(w * multivariate_normal(m, c).pdf(x) for w, m, c in zip(p.weights, p.means, p.covs))
    return np.log(dens)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    params = random_params(rng, 3, 2)
    x, z = sample(rng, params, 400)
    return x, z, params


def test_log_likelihood_matches_scipy_mixture():
    rng = np.random.default_rng(1)
    params = random_params(rng, 4, 3)
    x, _ = sample(rng, params, 50)
    np.testing.assert_allclose(gmm.log_likelihood(x, params), scipy_mixture_loglik(x, params),
                               rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 20), d=st.integers(1, 4), k=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_shapes_posterior_and_tight_elbo(n, d, k, seed):
    rng = np.random.default_rng(seed)
    params = random_params(rng, k, d)
    x = 4 * rng.standard_normal((n, d))
    lj = gmm.log_joint(x, params)
    ll = gmm.log_likelihood(x, params)
    q = gmm.e_step(x, params)
    assert lj.shape == (n, k) and ll.shape == (n,) and q.shape == (n, k)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ll, scipy_mixture_loglik(x, params), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gmm.elbo(x, q, params), ll, rtol=0, atol=1e-10)


def test_elbo_is_loglik_minus_kl_for_any_q(data):
    x, _, params = data
    q = np.random.default_rng(2).dirichlet(np.ones(3), size=len(x))
    post = gmm.e_step(x, params)
    kl = np.sum(q * (np.log(q) - np.log(post)), axis=1)
    F = gmm.elbo(x, q, params)
    np.testing.assert_allclose(gmm.log_likelihood(x, params) - F, kl, rtol=1e-9, atol=1e-12)
    assert np.all(F <= gmm.log_likelihood(x, params) + 1e-12)


def test_elbo_accepts_hard_assignments(data):
    x, z, params = data
    q = np.eye(3)[z]                            # 0 · log 0 must count as 0
    F = gmm.elbo(x, q, params)
    np.testing.assert_allclose(F, gmm.log_joint(x, params)[np.arange(len(x)), z], rtol=1e-12)


def test_m_step_with_hard_assignments_gives_class_statistics(data):
    x, z, _ = data
    reg = 1e-3
    p = gmm.m_step(x, np.eye(3)[z], reg=reg)
    for k in range(3):
        xk = x[z == k]
        np.testing.assert_allclose(p.weights[k], len(xk) / len(x), rtol=1e-12)
        np.testing.assert_allclose(p.means[k], xk.mean(0), rtol=1e-12)
        np.testing.assert_allclose(p.covs[k], np.cov(xk, rowvar=False, bias=True) + reg * np.eye(2),
                                   rtol=1e-10)


@pytest.mark.parametrize("reg", [0.0, gmm.DEFAULT_REG])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_em_elbo_tight_after_e_step_and_monotone(data, reg, seed):
    x, _, _ = data
    params, hist = gmm.fit(x, 3, np.random.default_rng(seed), n_iter=200, reg=reg)
    assert hist.n_iter >= 2
    assert np.max(np.abs(hist.e_step_gaps())) < 1e-8
    half = hist.half_steps()
    assert half.shape == (2 * hist.n_iter,)
    assert np.min(np.diff(half)) >= -1e-10
    # the M-step's ELBO is a lower bound on the next log-likelihood
    assert np.all(np.asarray(hist.elbo_after_m[:-1]) <= np.asarray(hist.log_lik[1:]) + 1e-10)
    np.testing.assert_allclose(params.weights.sum(), 1.0, rtol=1e-12)


def test_fit_is_seeded_and_recovers_separated_clusters():
    rng = np.random.default_rng(3)
    true = gmm.GMMParams(np.array([0.5, 0.5]), np.array([[-5.0, 0.0], [5.0, 0.0]]),
                         np.stack([np.eye(2), np.eye(2)]))
    x, _ = sample(rng, true, 2000)
    p1, h1 = gmm.fit(x, 2, np.random.default_rng(7))
    p2, h2 = gmm.fit(x, 2, np.random.default_rng(7))
    np.testing.assert_array_equal(p1.means, p2.means)
    assert h1.log_lik == h2.log_lik
    order = np.argsort(p1.means[:, 0])
    np.testing.assert_allclose(p1.means[order], true.means, atol=0.15)
    np.testing.assert_allclose(p1.covs[order], true.covs, atol=0.15)


def test_kmeans_fixed_point():
    rng = np.random.default_rng(4)
    x, _ = sample(rng, random_params(rng, 3, 2), 300)
    centers, labels = gmm.kmeans(x, 3, np.random.default_rng(0))
    d = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, np.argmin(d, axis=1))
    for k in range(3):
        np.testing.assert_allclose(centers[k], x[labels == k].mean(0), rtol=1e-12)


def test_kmeans_is_the_small_sigma_limit_of_isotropic_em(data):
    x, _, _ = data
    centers, labels, rows = gmm.kmeans_limit(x, 3, np.random.default_rng(5),
                                             sigmas=(3.0, 0.3, 1e-3))
    assert [r["sigma"] for r in rows] == [3.0, 0.3, 1e-3]
    soft = [r["max_soft"] for r in rows]
    assert soft[0] > soft[-1]
    last = rows[-1]
    assert last["agreement"] == 1.0
    assert last["max_soft"] < 1e-12
    np.testing.assert_allclose(last["means"], centers, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.argmax(last["q"], axis=1), labels)


def test_float32_input_is_accepted_and_float64_returned(data):
    x, _, params = data
    ll32 = gmm.log_likelihood(x.astype(np.float32), params)
    assert ll32.dtype == np.float64
    np.testing.assert_allclose(ll32, gmm.log_likelihood(x.astype(np.float32).astype(np.float64),
                                                        params), rtol=1e-12)


def test_zero_weight_component(data):
    x, _, params = data
    p = gmm.GMMParams(np.array([0.0, 0.5, 0.5]), params.means, params.covs)
    q = gmm.e_step(x, p)
    assert np.all(q[:, 0] == 0)
    np.testing.assert_allclose(gmm.elbo(x, q, p), gmm.log_likelihood(x, p), atol=1e-10)


@pytest.mark.parametrize("call, exc, word", [
    (lambda x, p, q: gmm.log_likelihood(x[0], p), ValueError, "x"),
    (lambda x, p, q: gmm.log_likelihood(x.astype(int), p), TypeError, "x"),
    (lambda x, p, q: gmm.log_likelihood(x[:, :1], p), ValueError, "x"),
    (lambda x, p, q: gmm.log_likelihood(np.where(x > 1, np.nan, x), p), ValueError, "x"),
    (lambda x, p, q: gmm.log_likelihood(x, (p.weights, p.means, p.covs)), TypeError, "params"),
    (lambda x, p, q: gmm.log_likelihood(x, gmm.GMMParams(p.weights * 2, p.means, p.covs)),
     ValueError, "weights"),
    (lambda x, p, q: gmm.log_likelihood(x, gmm.GMMParams(p.weights, p.means, -p.covs)),
     ValueError, "covs"),
    (lambda x, p, q: gmm.log_likelihood(x, gmm.GMMParams(p.weights, p.means, p.covs[:2])),
     ValueError, "covs"),
    (lambda x, p, q: gmm.m_step(x, q[:-1]), ValueError, "q"),
    (lambda x, p, q: gmm.m_step(x, 2 * q), ValueError, "q"),
    (lambda x, p, q: gmm.m_step(x, q, reg=-1.0), ValueError, "reg"),
    (lambda x, p, q: gmm.m_step(x, np.eye(3)[np.zeros(len(x), int)]), ValueError, "q"),
    (lambda x, p, q: gmm.elbo(x, q[:, :2] / q[:, :2].sum(1, keepdims=True), p), ValueError, "q"),
    (lambda x, p, q: gmm.fit(x, 0, np.random.default_rng(0)), ValueError, "K"),
    (lambda x, p, q: gmm.fit(x, 3, 0), TypeError, "rng"),
    (lambda x, p, q: gmm.fit(x, 3, np.random.default_rng(0), n_iter=0), ValueError, "n_iter"),
    (lambda x, p, q: gmm.fit(x, 2, None, init=p), ValueError, "K"),
    (lambda x, p, q: gmm.kmeans(x, len(x) + 1, np.random.default_rng(0)), ValueError, "K"),
    (lambda x, p, q: gmm.kmeans(x, 3, None, init=np.zeros((2, 2))), ValueError, "init"),
    (lambda x, p, q: gmm.isotropic_responsibilities(x, p.means, 0.0), ValueError, "sigma"),
])
def test_bad_input_names_the_argument(data, call, exc, word):
    x, _, params = data
    q = gmm.e_step(x, params)
    with pytest.raises(exc, match=word):
        call(x, params, q)
