"""Gradient SNR (Rainforth et al.'s Gaussian toy), STL and DReG: the hand-written gradients
against finite differences of the bound with the noise held fixed (float64), the slopes, STL at
the exact posterior, DReG's unbiasedness, and the VAE SNR through the public API."""
import numpy as np
import pytest

from numpyvae.estimators import intervals as I
from numpyvae.estimators import snr as S
from numpyvae.gradcheck import numerical_gradient


@pytest.fixture(scope="module")
def toy():
    return S.make_toy(rng=np.random.default_rng(0), d=5, n_data=64, perturb=0.1)


def _fd(f, x, h=1e-6):
    """Central differences of f at a copy of x (numerical_gradient perturbs x in place)."""
    return numerical_gradient(f, x.copy(), h=h)


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


def _stl_surrogate_bound(x, mu, b, A, m_stop, eps, s2=S.SIGMA_Q2, weights=None):
    """STL's surrogate: the bound with q's mean frozen at m_stop inside log q (z still moves
    with A and b); with ``weights`` (K,), DReG's Σ_k stop(w̃_k²) log w_k."""
    z = A @ x + b + np.sqrt(s2) * eps[0]                                   # (K, D)
    lw = S.log_weights(x, mu, m_stop, s2, z)
    if weights is not None:
        return float(np.sum(weights * lw))
    return float(lw.max() + np.log(np.mean(np.exp(lw - lw.max()))))


def test_stl_dreg_against_their_surrogates_and_the_decoder_identity(toy):
    x, mu, A, b = toy["x"][0], toy["mu"], toy["A"], toy["b"]
    eps = np.random.default_rng(7).standard_normal((1, 6, mu.size))
    g = S.gradients(x, mu, A, b, eps)
    m = A @ x + b
    lw = S.log_weights(x, mu, m, S.SIGMA_Q2, m + np.sqrt(S.SIGMA_Q2) * eps[0])
    w2 = (np.exp(lw - lw.max()) / np.exp(lw - lw.max()).sum()) ** 2
    stl = _fd(lambda v: _stl_surrogate_bound(x, mu, v, A, m, eps), b)
    dreg = _fd(lambda v: _stl_surrogate_bound(x, mu, v, A, m, eps, weights=w2), b)
    np.testing.assert_allclose(g["stl"]["b"][0], stl, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g["dreg"]["b"][0], dreg, rtol=1e-6, atol=1e-8)
    # the decoder identity: with q's parameters frozen, d/dμ of STL's surrogate is IWAE's ∂L/∂μ
    # (μ is not in q); DReG keeps IWAE's decoder gradient by definition.  So snr_study repeats
    # the iwae decoder row for stl and dreg.
    dec = _fd(lambda v: _stl_surrogate_bound(x, v, b, A, m, eps), mu)
    np.testing.assert_allclose(g["mu"][0], dec, rtol=1e-6, atol=1e-8)
    assert not np.allclose(g["stl"]["b"][0], g["dreg"]["b"][0], rtol=1e-3)   # K = 6: they differ


@pytest.fixture(scope="module")
def study():
    # perturb = 0.1 keeps every SNR well above the noise floor 1/√R, where |mean| / sd is
    # mostly noise and its spread does not shrink like 1/√R
    toy = S.make_toy(rng=np.random.default_rng(8), d=6, n_data=32, perturb=0.1)
    return {r: S.snr_study(toy, Ks=(1, 4, 16), repetitions=r, rng=np.random.default_rng(9),
                           n_points=2)[0] for r in (100, 1600)}


def test_every_row_is_present_with_an_interval_around_its_snr(study):
    for rows in study.values():
        assert {(r["estimator"], r["part"], r["K"]) for r in rows} == {
            (e, p, k) for e in S.ESTIMATORS for p in ("encoder", "decoder") for k in (1, 4, 16)}
        assert len(rows) == 3 * 2 * 3
        for r in rows:
            assert 0 < r["snr_lo"] <= r["snr"] <= r["snr_hi"], r
        by = {(r["estimator"], r["part"], r["K"]): r for r in rows}
        for k in (1, 4, 16):
            for e in ("stl", "dreg"):            # the decoder identity: the same row
                assert {c: by[e, "decoder", k][c] for c in ("snr", "snr_lo", "snr_hi")} == \
                    {c: by["iwae", "decoder", k][c] for c in ("snr", "snr_lo", "snr_hi")}
        # K = 1: every w̃ is 1, so DReG = STL on the same noise, interval and all
        assert by["stl", "encoder", 1]["snr_hi"] == by["dreg", "encoder", 1]["snr_hi"]
        assert by["stl", "encoder", 4]["snr"] != by["dreg", "encoder", 4]["snr"]


def test_interval_narrows_like_one_over_root_r(study):
    width = {r: {(x["estimator"], x["part"], x["K"]): np.log(x["snr_hi"] / x["snr_lo"])
                 for x in rows} for r, rows in study.items()}
    ratio = np.array([width[1600][key] / width[100][key] for key in width[100]])
    # 16 times the repetitions: about 1/4 (an interval that narrowed like R^(-1/4), 1/2, fails)
    assert np.all(ratio < 0.4), ratio
    assert 0.2 < np.median(ratio) < 0.32, ratio


def _known_snr_draws(rng, rho, sigma, r, shared=0.5):
    """r draws of P gradients with SNRs rho: a noise shared by every parameter (as one ε drives
    a whole gradient) plus each parameter's own."""
    noise = (np.sqrt(shared) * rng.standard_normal((r, 1))
             + np.sqrt(1 - shared) * rng.standard_normal((r, rho.size)))
    return sigma * (rho + noise)


def test_median_snr_interval_covers_a_known_snr_at_the_nominal_rate():
    rng = np.random.default_rng(10)
    rho, sigma = rng.uniform(0.3, 2.0, 31), rng.uniform(0.5, 2.0, 31)
    truth = np.median(rho)                              # SNR_j = rho_j exactly
    hits = []
    for trial in range(400):
        g = _known_snr_draws(rng, rho, sigma, 60)
        if trial % 2:                                   # one unit per repetition
            n, s1, s2 = np.ones(60), g, g * g
        else:                                           # 10 groups of 6, as vae_snr streams
            n = np.full(10, 6.0)
            s1, s2 = g.reshape(10, 6, -1).sum(1), (g * g).reshape(10, 6, -1).sum(1)
        out = I.median_snr_interval(n, s1, s2, rng=rng, n_boot=100)
        hits.append(out["lo"] <= truth <= out["hi"])
    cover = np.mean(hits)
    # 95% nominal; 400 trials give a standard error of 1.1%.  An interval √2 too narrow covers
    # about 83%, one 1.5 times too wide about 99.7%: both fail.
    assert 0.90 < cover < 0.985, cover


def test_median_snr_interval_estimate_and_checks():
    rng = np.random.default_rng(11)
    g = _known_snr_draws(rng, rng.uniform(0.3, 2.0, 9), 1.0, 40)
    g[:, 3] = 0.0                                       # an identically zero gradient: left out
    h = g + 0.1 * rng.standard_normal(g.shape)           # another series for the numerator
    sd = g.std(0, ddof=1)
    direct = np.median(np.abs(g.mean(0)[sd > 0]) / sd[sd > 0])
    per = I.median_snr_interval(np.ones(40), g, g * g, rng=np.random.default_rng(0))
    grouped = I.median_snr_interval(np.full(4, 10.0), g.reshape(4, 10, -1).sum(1),
                                    (g * g).reshape(4, 10, -1).sum(1), rng=rng)
    assert per["snr"] == pytest.approx(direct, rel=1e-12)
    assert grouped["snr"] == pytest.approx(direct, rel=1e-12)
    assert per["n_params"] == grouped["n_params"] == 8
    other = I.median_snr_interval(np.ones(40), g, g * g, mean_sums=h, rng=rng)
    assert other["snr"] == pytest.approx(np.median(np.abs(h.mean(0)[sd > 0]) / sd[sd > 0]),
                                         rel=1e-12)
    # the same rng, the same interval; a subset of the parameters widens nothing by much
    again = I.median_snr_interval(np.ones(40), g, g * g, rng=np.random.default_rng(0))
    assert again == per
    sub = I.median_snr_interval(np.ones(40), g, g * g, rng=np.random.default_rng(0),
                                max_params=5)
    assert sub["snr"] == per["snr"] and sub["se_log"] > 0.5 * per["se_log"]
    with pytest.raises(ValueError, match="units"):
        I.median_snr_interval(np.ones(1), g[:1], g[:1] ** 2, rng=rng)
    with pytest.raises(ValueError, match="zero variance"):
        I.median_snr_interval(np.ones(5), np.ones((5, 3)), np.ones((5, 3)), rng=rng)
    with pytest.raises(ValueError, match="level"):
        I.median_snr_interval(np.ones(40), g, g * g, rng=rng, level=1.5)


def _fit_draws(se, n=2000, seed=12):
    """Fitted slopes of n noisy power laws SNR = e^0.2 K^(-1/2) with log-noise se per K."""
    ks = np.array([1, 3, 10, 30, 100])
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(n):
        y = -0.5 * np.log(ks) + 0.2 + se * rng.standard_normal(ks.size)
        rows = [{"estimator": "iwae", "part": "encoder", "K": int(k), "snr": float(np.exp(v)),
                 "snr_se_log": float(s)} for k, v, s in zip(ks, y, se)]
        fits.append(S.loglog_fit(rows, "iwae", "encoder"))
    assert S.loglog_slope(rows, "iwae", "encoder") == fits[-1]["slope"]
    return fits


def test_loglog_fit_standard_errors_are_the_slopes_spread():
    fits = _fit_draws(np.array([0.05, 0.03, 0.08, 0.02, 0.04]))
    slopes = np.array([f["slope"] for f in fits])
    assert fits[0]["se"] == pytest.approx(slopes.std(), rel=0.06)     # 2000 draws: 1.6 %
    assert slopes.mean() == pytest.approx(-0.5, abs=4 * fits[0]["se"] / np.sqrt(2000))
    # equal noise at every K: the residual s.e. is the textbook one, E[se_fit²] = Var(slope)
    fits = _fit_draws(np.full(5, 0.04))
    slopes = np.array([f["slope"] for f in fits])
    assert np.mean([f["se_fit"] ** 2 for f in fits]) == pytest.approx(slopes.var(), rel=0.1)
    assert fits[0]["se"] == pytest.approx(slopes.std(), rel=0.06)
