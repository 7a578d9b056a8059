"""Gradient SNR (Rainforth et al.'s Gaussian toy), STL and DReG: the hand-written gradients
against finite differences of the bound with the noise held fixed (float64), the slopes, STL at
the exact posterior, DReG's unbiasedness, and the VAE SNR through the public API."""
import numpy as np
import pytest

from numpyvae.estimators import snr as S


@pytest.fixture(scope="module")
def toy():
    return S.make_toy(rng=np.random.default_rng(0), d=5, n_data=64, perturb=0.1)


def _fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_iwae_gradients_against_finite_differences(toy):
    x, mu, A, b = toy["x"][0], toy["mu"], toy["A"], toy["b"]
    eps = np.random.default_rng(1).standard_normal((1, 7, mu.size))
    g = S.gradients(x, mu, A, b, eps)
    bound = lambda mu_, A_, b_: float(S.iwae_bound(x, mu_, A_, b_, eps)[0])
    assert np.allclose(g["mu"][0], _fd(lambda m: bound(m, A, b), mu), rtol=1e-6, atol=1e-8)
    assert np.allclose(g["iwae"]["b"][0], _fd(lambda v: bound(mu, A, v), b), rtol=1e-6,
                       atol=1e-8)
    assert np.allclose(g["iwae"]["A"][0], _fd(lambda a: bound(mu, a, b), A), rtol=1e-6,
                       atol=1e-8)
    # STL is not the gradient of the bound at fixed noise (its score term is dropped)
    assert not np.allclose(g["stl"]["b"][0], g["iwae"]["b"][0], rtol=1e-3)


def test_iwae_bound_is_below_log_px_and_tightens(toy):
    x, mu, A, b = toy["x"][0], toy["mu"], toy["A"], toy["b"]
    d = mu.size
    log_px = -0.5 * np.sum((x - mu) ** 2) / 2 - 0.5 * d * np.log(2 * np.pi * 2)
    rng = np.random.default_rng(2)
    b1 = S.iwae_bound(x, mu, A, b, rng.standard_normal((4000, 1, d))).mean()
    b50 = S.iwae_bound(x, mu, A, b, rng.standard_normal((4000, 50, d))).mean()
    assert b1 < b50 < log_px


def test_stl_zero_at_exact_posterior_and_standard_variance_is_two(toy):
    eps = np.random.default_rng(3).standard_normal((20000, 1, toy["mu"].size))
    std, stl = S.stl_at_exact_posterior(toy["x"][0], toy["mu"], eps)
    assert np.max(np.abs(stl)) < 1e-12
    v = std.var(axis=0)
    assert np.allclose(v, 2.0, rtol=0.05)          # 4 σ_q² with σ_q² = ½; se ≈ 1 %


def test_snr_slopes_and_dreg_unbiased():
    toy = S.make_toy(rng=np.random.default_rng(4))
    rows, samples = S.snr_study(toy, Ks=(1, 4, 16, 64), repetitions=300,
                                rng=np.random.default_rng(5), n_points=2)
    assert {r["estimator"] for r in rows} == set(S.ESTIMATORS)
    assert abs(S.loglog_slope(rows, "iwae", "encoder") + 0.5) < 0.15
    assert abs(S.loglog_slope(rows, "iwae", "decoder") - 0.5) < 0.15
    assert S.loglog_slope(rows, "dreg", "encoder") > 0.1
    for k, by in samples.items():
        _t, p = S.paired_t(np.concatenate(by["dreg"]), np.concatenate(by["iwae"]))
        assert min(1.0, p.min() * p.size) > 1e-3, k     # Bonferroni: no evidence of bias
    # the same test detects STL's bias at K > 1 (so it can fail)
    _t, p = S.paired_t(np.concatenate(samples[64]["stl"]), np.concatenate(samples[64]["iwae"]))
    assert p.min() * p.size < 1e-6


def test_paired_t_detects_a_shift():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((500, 3))
    _t, p = S.paired_t(a + 0.3, a + rng.standard_normal((500, 3)) * 0.1)
    assert np.all(p < 1e-6)


def test_vae_snr_uses_the_public_api():
    import numpyvae as nv
    model = nv.VAE(20, [16], 3, rng=np.random.default_rng(0))
    x = (np.random.default_rng(1).random((3, 20)) > 0.5).astype(np.float32)
    rows = S.vae_snr(model, x, Ks=(1, 4), repetitions=8, rng=np.random.default_rng(2))
    assert {(r["part"], r["K"]) for r in rows} == {(p, k) for p in ("encoder", "decoder")
                                                   for k in (1, 4)}
    assert all(np.isfinite(r["snr"]) and r["snr"] > 0 for r in rows)
