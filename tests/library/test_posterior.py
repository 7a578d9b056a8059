"""The posterior node (posterior.py): each family's forward/backward against central differences,
its sample against exp(logvar) / L L^T, and a third family that plugs into the VAE with no edit of
vae.py."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyvae as nv
from numpyvae import distributions as D
from numpyvae import posterior as Q
from numpyvae.gradcheck import check_model, numerical_gradient, rel_error


def _raw(rng, family, n, low=-3.0, high=3.0):
    return rng.uniform(low, high, (n, family.raw_size))


@pytest.mark.parametrize("name", sorted(Q.FAMILIES))
@pytest.mark.parametrize("terms", [(True, False), (False, True), (True, True)])
@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), k=st.integers(1, 4), s=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_backward_matches_central_differences(name, terms, n, k, s, seed):
    rng = np.random.default_rng(seed)
    fam = Q.family(name, k)
    h = _raw(rng, fam, n)
    eps = rng.standard_normal((s, n, k))
    kl, log_q = terms
    out, cache = fam.forward(h, eps, kl=kl, log_q=log_q)
    dz = rng.standard_normal(out.z.shape)
    dkl = rng.standard_normal(n) if kl else None
    dlq = rng.standard_normal((s, n)) if log_q else None
    dh = fam.backward(dz, cache, dkl=dkl, dlog_q=dlq)
    assert dh.shape == h.shape and dh.dtype == np.float64

    def scalar():
        o, _ = fam.forward(h, eps, kl=kl, log_q=log_q)
        v = np.sum(dz * o.z)
        v += np.sum(dkl * o.kl) if kl else 0.0
        v += np.sum(dlq * o.log_q) if log_q else 0.0
        return v
    assert rel_error(dh, numerical_gradient(scalar, h)) < 1e-7


@pytest.mark.parametrize("name", sorted(Q.FAMILIES))
def test_kl_and_log_q_agree_with_the_distributions_module(name):
    rng = np.random.default_rng(0)
    fam = Q.family(name, 3)
    h = _raw(rng, fam, 4)
    eps = rng.standard_normal((2, 4, 3))
    out, _ = fam.forward(h, eps, kl=True, log_q=True)
    mu, scale = fam.params(h)
    if name == "diagonal":
        kl = D.kl_std_normal(mu, scale)
        var = np.exp(scale)[None]
        log_q = -0.5 * np.sum(np.log(2 * np.pi * var) + (out.z - mu) ** 2 / var, axis=-1)
    else:
        kl = D.kl_full_cov_std_normal(mu, scale)
        from scipy import stats
        log_q = np.array([[stats.multivariate_normal(mu[i], scale[i] @ scale[i].T).logpdf(out.z[j, i])
                           for i in range(4)] for j in range(2)])
    np.testing.assert_allclose(out.kl, kl, rtol=1e-12)
    np.testing.assert_allclose(out.log_q, log_q, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(Q.FAMILIES))
def test_sample_covariance_is_the_familys(name):
    rng = np.random.default_rng(1)
    fam = Q.family(name, 2)
    h = _raw(rng, fam, 1, -1, 1)
    eps = rng.standard_normal((200_000, 1, 2))
    z = fam.forward(h, eps, kl=False)[0].z[:, 0]
    mu, scale = fam.params(h)
    cov = np.diag(np.exp(scale[0])) if name == "diagonal" else scale[0] @ scale[0].T
    np.testing.assert_allclose(z.mean(axis=0), mu[0], atol=0.02 * np.sqrt(cov.max()) + 0.01)
    np.testing.assert_allclose(np.cov(z.T), cov, rtol=0.03, atol=0.01)
    np.testing.assert_allclose(fam.moments(mu, scale)[1][0], np.diag(cov), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(Q.FAMILIES))
@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 3), k=st.integers(1, 4), s=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_score_is_the_gradient_of_log_q_at_fixed_z(name, n, k, s, seed):
    """family.score(h, eps, w) = grad_h sum_sn w_sn log q(z_sn; h) with z fixed, by central
    differences of log q written through ``noise`` (eps = g^{-1}(h, z)) and ``forward``."""
    rng = np.random.default_rng(seed)
    fam = Q.family(name, k)
    h = _raw(rng, fam, n, -1.5, 1.5)
    eps = rng.standard_normal((s, n, k))
    z = fam.forward(h, eps, kl=False)[0].z
    np.testing.assert_allclose(fam.noise(h, z), eps, rtol=1e-9, atol=1e-9)
    w = rng.standard_normal((s, n))
    got = fam.score(h, eps, w)
    assert got.shape == h.shape

    def weighted_log_q():
        return float(np.sum(w * fam.forward(h, fam.noise(h, z), kl=False, log_q=True)[0].log_q))
    assert rel_error(got, numerical_gradient(weighted_log_q, h)) < 1e-7


@pytest.mark.parametrize("name", sorted(Q.FAMILIES))
def test_score_has_mean_zero_under_q(name):
    """E_q[grad log q] = 0: a planted sign error in either half of a score fails this."""
    rng = np.random.default_rng(3)
    fam = Q.family(name, 3)
    h = _raw(rng, fam, 2, -1, 1)
    eps = rng.standard_normal((200_000, 2, 3))
    mean = fam.score(h, eps, np.full(eps.shape[:2], 1.0 / eps.shape[0]))
    assert np.max(np.abs(mean)) < 0.03


class IsotropicGaussian:
    """A third family, defined here only: q = N(mu, exp(a) I), one log-variance per example."""

    name = "isotropic"

    def __init__(self, k):
        self.k, self.raw_size = k, k + 1

    def params(self, h):
        return h[:, :self.k], np.repeat(h[:, self.k:], self.k, axis=1)

    @staticmethod
    def moments(mu, logvar):
        return mu, np.exp(logvar)

    def forward(self, h, eps, kl=True, log_q=False):
        diag = Q.DiagonalGaussian(self.k)
        out, cache = diag.forward(np.concatenate(self.params(h), axis=1), eps, kl=kl, log_q=log_q)
        return out, (cache, diag)

    def backward(self, dz, cache, dkl=None, dlog_q=None):
        inner, diag = cache
        dh = diag.backward(dz, inner, dkl=dkl, dlog_q=dlog_q)
        return np.concatenate([dh[:, :self.k], dh[:, self.k:].sum(axis=1, keepdims=True)], axis=1)


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_a_third_family_needs_no_edit_of_vae_py(monkeypatch, objective):
    monkeypatch.setitem(Q.FAMILIES, "isotropic", IsotropicGaussian)
    rng = np.random.default_rng(2)
    model = nv.VAE(5, [4], 3, rng=rng, covariance="isotropic", activation="tanh", dtype=np.float64)
    assert model.encoder.layers[-1].params["b"].size == 4
    x = rng.random((3, 5))
    report = check_model(model, x, rng=rng, n_samples=2, objective=objective, threshold=1e-7)
    assert report.passed, str(report)
    mu, logvar = model.encode(x)
    assert logvar.shape == (3, 3) and np.all(logvar == logvar[:, :1])


def test_unknown_family_and_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="covariance"):
        Q.family("banana", 2)
    fam = Q.family("diagonal", 2)
    with pytest.raises(ValueError, match="h"):
        fam.forward(np.zeros((3, 5)), np.zeros((1, 3, 2)))
    with pytest.raises(ValueError, match="eps"):
        fam.forward(np.zeros((3, 4)), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="eps"):
        fam.forward(np.zeros((3, 4)), np.zeros((0, 3, 2)))
    with pytest.raises(TypeError, match="eps"):
        fam.forward(np.zeros((3, 4)), np.zeros((1, 3, 2), np.float32))
