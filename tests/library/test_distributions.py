"""Closed-form KLs against Monte Carlo and scipy.stats; likelihoods against scipy.stats;
the reparameterization nodes' sample moments against exp(logvar) and L L^T."""
import numpy as np
import pytest
from scipy import stats

import numpyvae as nv
from numpyvae import distributions as D
from numpyvae import reparam as R


def _random_L(rng, n, k):
    L = np.tril(rng.standard_normal((n, k, k)) * 0.5)
    d = np.arange(k)
    L[:, d, d] = np.exp(rng.uniform(-1, 1, (n, k)))
    return L


def test_kl_diag_matches_monte_carlo_within_4_standard_errors():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(0, 1.5, (3, 4)), rng.uniform(-2, 2, (3, 4))
    s = 200_000
    z, _ = R.gaussian_forward(mu, logvar, rng.standard_normal((s, 3, 4)))
    log_q = stats.norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(-1)
    log_p = stats.norm.logpdf(z).sum(-1)
    terms = log_q - log_p                           # (S, N): E_q[log q - log p] = KL
    mc, se = terms.mean(0), terms.std(0) / np.sqrt(s)
    exact = D.kl_std_normal(mu, logvar)
    assert np.all(np.abs(mc - exact) < 4 * se), (mc, exact, se)


def test_kl_full_matches_monte_carlo_and_scipy():
    rng = np.random.default_rng(2)
    n, k, s = 3, 3, 200_000
    mu, L = rng.normal(0, 1, (n, k)), _random_L(rng, n, k)
    exact = D.kl_full_cov_std_normal(mu, L)
    z, _ = R.full_cov_forward(mu, L, rng.standard_normal((s, n, k)))
    for i in range(n):
        cov = L[i] @ L[i].T
        terms = (stats.multivariate_normal(mu[i], cov).logpdf(z[:, i])
                 - stats.multivariate_normal(np.zeros(k), np.eye(k)).logpdf(z[:, i]))
        assert abs(terms.mean() - exact[i]) < 4 * terms.std() / np.sqrt(s)
        # independent closed form: scipy's entropy gives E_q[-log q]; the cross-entropy
        # E_q[-log N(z;0,I)] = 1/2 (k log 2pi + tr Sigma + mu^T mu)
        cross = 0.5 * (k * np.log(2 * np.pi) + np.trace(cov) + mu[i] @ mu[i])
        entropy = stats.multivariate_normal(mu[i], cov).entropy()
        assert np.isclose(cross - entropy, exact[i], rtol=1e-10, atol=1e-12)


def test_kl_diag_is_full_with_diagonal_L_and_agrees_with_scipy_entropy():
    rng = np.random.default_rng(3)
    mu, logvar = rng.normal(size=(5, 3)), rng.uniform(-3, 3, (5, 3))
    L = np.zeros((5, 3, 3))
    d = np.arange(3)
    L[:, d, d] = np.exp(0.5 * logvar)
    np.testing.assert_allclose(D.kl_std_normal(mu, logvar), D.kl_full_cov_std_normal(mu, L), rtol=1e-12)
    ent = stats.norm(mu, np.exp(0.5 * logvar)).entropy().sum(-1)
    cross = 0.5 * (np.log(2 * np.pi) + np.exp(logvar) + mu ** 2).sum(-1)
    np.testing.assert_allclose(D.kl_std_normal(mu, logvar), cross - ent, rtol=1e-10)


def test_kl_is_zero_only_at_standard_normal_and_nonnegative():
    rng = np.random.default_rng(4)
    assert np.allclose(D.kl_std_normal(np.zeros((2, 3)), np.zeros((2, 3))), 0)
    mu, logvar = rng.normal(size=(1000, 3)), rng.normal(size=(1000, 3))
    assert np.all(D.kl_std_normal(mu, logvar) > 0)


def test_bernoulli_log_likelihood_matches_scipy_and_is_stable_for_huge_logits():
    rng = np.random.default_rng(5)
    x = (rng.random((4, 6)) < 0.5).astype(np.float64)
    logits = rng.normal(0, 3, (4, 6))
    p = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(D.bernoulli_log_likelihood(x, logits),
                               stats.bernoulli.logpmf(x, p).sum(-1), rtol=1e-10)
    big = np.array([[1e4, -1e4, 80.0, -80.0]], np.float32)
    xs = np.array([[1, 0, 0, 1]], np.float32)
    ll = D.bernoulli_log_likelihood(xs, big)
    assert ll.dtype == np.float32 and np.isfinite(ll).all()
    assert np.isclose(ll[0], -160.0, rtol=1e-6)      # the two confident mistakes cost 80 nats each


def test_gaussian_log_likelihood_matches_scipy_fixed_and_learned_variance():
    rng = np.random.default_rng(6)
    x, mean, logvar = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), rng.uniform(-3, 3, (3, 5))
    np.testing.assert_allclose(D.gaussian_log_likelihood(x, mean, logvar),
                               stats.norm.logpdf(x, mean, np.exp(0.5 * logvar)).sum(-1), rtol=1e-12)
    # fixed variance 1: the lecture's C - 1/2 ||x - f(z)||^2
    c = -0.5 * 5 * np.log(2 * np.pi)
    np.testing.assert_allclose(D.gaussian_log_likelihood(x, mean),
                               c - 0.5 * ((x - mean) ** 2).sum(-1), rtol=1e-12)


def test_diagonal_node_sample_variance_is_exp_logvar():
    """The std/variance mix-up test: samples must have variance exp(logvar), not exp(logvar)^2."""
    rng = np.random.default_rng(7)
    mu = np.array([[1.0, -2.0, 0.0]], np.float32)
    logvar = np.array([[np.log(4.0), np.log(0.25), 0.0]], np.float32)
    z, _ = R.gaussian_forward(mu, logvar, rng.standard_normal((400_000, 1, 3), dtype=np.float32))
    var = z.astype(np.float64).var(axis=0)[0]
    # sample variance of a normal has relative standard error sqrt(2/(S-1)) ~ 0.0022
    np.testing.assert_allclose(var, np.exp(logvar[0].astype(np.float64)), rtol=0.012)
    np.testing.assert_allclose(z.astype(np.float64).mean(axis=0)[0], mu[0], atol=0.012)


def test_full_node_sample_covariance_is_L_LT():
    rng = np.random.default_rng(8)
    mu = rng.normal(size=(1, 3))
    L = _random_L(rng, 1, 3)
    z, _ = R.full_cov_forward(mu, L, rng.standard_normal((400_000, 1, 3)))
    cov = np.cov(z[:, 0].T)
    np.testing.assert_allclose(cov, L[0] @ L[0].T, atol=0.03 * np.abs(L[0] @ L[0].T).max())
    np.testing.assert_allclose(z[:, 0].mean(0), mu[0], atol=0.02)


def test_tril_from_raw_gives_positive_diagonal_and_gradient():
    rng = np.random.default_rng(9)
    k = 3
    raw = rng.normal(size=(4, R.tril_size(k)))
    L, cache = R.tril_from_raw(raw, k)
    assert np.all(np.diagonal(L, axis1=1, axis2=2) > 0) and np.allclose(np.triu(L, 1), 0)
    dL = rng.normal(size=L.shape)
    draw = R.tril_from_raw_backward(dL, cache)
    num = nv.gradcheck.numerical_gradient(lambda: np.sum(R.tril_from_raw(raw, k)[0] * dL), raw)
    assert nv.gradcheck.rel_error(draw, num) < 1e-8


@pytest.mark.parametrize("call", [
    lambda: D.kl_std_normal(np.zeros((2, 3)), np.zeros((2, 4))),
    lambda: D.kl_std_normal(np.zeros((2, 3), np.float32), np.zeros((2, 3))),
    lambda: D.kl_std_normal(np.full((2, 3), np.nan), np.zeros((2, 3))),
    lambda: D.bernoulli_log_likelihood(np.full((2, 3), 1.5), np.zeros((2, 3))),
    lambda: D.bernoulli_log_likelihood(np.zeros((2, 3)), np.zeros((2, 4))),
    lambda: D.gaussian_log_likelihood(np.zeros((2, 3)), np.zeros((2, 3)), np.inf),
    lambda: D.kl_full_cov_std_normal(np.zeros((1, 2)), -np.eye(2)[None]),
    lambda: D.kl_full_cov_std_normal(np.zeros((1, 2)), np.ones((1, 2, 2))),
    lambda: R.gaussian_forward(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 2))),
    lambda: R.gaussian_forward([[0.0]], np.zeros((1, 1)), np.zeros((1, 1))),
    lambda: R.full_cov_forward(np.zeros((1, 2)), np.ones((1, 3, 3)), np.zeros((1, 2))),
])
def test_bad_input_raises_naming_the_argument(call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert any(name in str(info.value) for name in ("mu", "logvar", "x", "logits", "L", "eps"))
