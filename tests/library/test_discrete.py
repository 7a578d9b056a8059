"""Discrete-latent estimators, the measure-valued estimator and the variance-ratio intervals:
every gradient against finite differences (float64), every exact moment against Monte Carlo."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyvae.estimators import discrete as D
from numpyvae.estimators import intervals as I
from numpyvae.estimators import measure_valued as M


def _fd(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


@given(st.floats(-3, 3), st.floats(0.05, 0.95))
@settings(max_examples=25, deadline=None)
def test_exact_toy_gradient_is_the_derivative_of_the_expectation(phi, t):
    assert np.isclose(D.toy_exact_gradient(phi, t), _fd(lambda p: D.toy_expectation(p, t), phi),
                      rtol=1e-6, atol=1e-12)


def test_hard_sample_has_no_pathwise_gradient():
    u = np.random.default_rng(0).random(1000)
    assert np.all(D.hard_sample_derivative(0.3, u) == 0.0)


def test_score_of_bernoulli_is_the_derivative_of_log_p():
    for b in (0.0, 1.0):
        logp = lambda p, b=b: np.log(D.sigmoid(p)) * b + np.log(1 - D.sigmoid(p)) * (1 - b)
        assert np.isclose(_fd(logp, 0.7), b - D.sigmoid(0.7), rtol=1e-7)


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_relaxed_pathwise_terms_are_derivatives_at_fixed_noise(tau):
    rng = np.random.default_rng(1)
    u, v = rng.random(50), rng.random(50)
    phi = 0.4
    terms = D.toy_terms(phi, u, v, tau=tau)
    relaxed = lambda p: D.toy_cost(D.sigmoid((p + D.logit(u)) / tau))
    assert np.allclose(terms["gumbel"], _fd(relaxed, phi), rtol=1e-6, atol=1e-9)
    # straight-through: f'(b) at the hard b times d b̃/dφ
    b = (phi + D.logit(u) > 0).astype(float)
    bt = lambda p: D.sigmoid((p + D.logit(u)) / tau)
    assert np.allclose(terms["straight_through"], 2 * (b - D.T_TOY) * _fd(bt, phi), rtol=1e-6,
                       atol=1e-9)


def test_rebar_own_gradient_against_finite_differences():
    """REBAR's two relaxed terms: ∂φ f(σ_λ(z)) and ∂φ f(σ_λ(z̃)) at fixed u, v and b."""
    rng = np.random.default_rng(2)
    u, v = rng.random(200), rng.random(200)
    phi, lam, eta = -0.3, 0.5, 1.3
    b = (phi + D.logit(u) > 0).astype(float)
    hold_b = lambda p, which: D.toy_cost(D.sigmoid(
        (p + D.logit(u) if which == 0 else D.conditional_z(p, b, v)[0]) / lam))
    d_z = _fd(lambda p: hold_b(p, 0), phi)
    d_zt = _fd(lambda p: hold_b(p, 1), phi)
    th = D.sigmoid(phi)
    zt, _ = D.conditional_z(phi, b, v)
    expected = ((D.toy_cost(b) - eta * D.toy_cost(D.sigmoid(zt / lam))) * (b - th)
                + eta * d_z - eta * d_zt)
    got = D.toy_terms(phi, u, v, tau=lam, eta=eta)["rebar"]
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-8)
    # the conditional sample lies on the side of 0 that b says
    assert np.all((zt > 0) == (b > 0))


def test_rebar_own_gradient_check_can_fail():
    """Drop the dz̃/dφ factor (the usual mistake): the same check must then fail."""
    rng = np.random.default_rng(3)
    u, v = rng.random(200), rng.random(200)
    phi = 0.2
    b = (phi + D.logit(u) > 0).astype(float)
    _zt, dzt = D.conditional_z(phi, b, v)
    fd = _fd(lambda p: D.conditional_z(p, b, v)[0], phi)
    assert np.allclose(dzt, fd, rtol=1e-6)
    assert not np.allclose(np.ones_like(dzt), fd, rtol=1e-3)


@pytest.mark.parametrize("phi", [-1.0, 0.0, 1.5])
def test_exact_moments_match_monte_carlo(phi):
    tau = 0.5
    exact = D.toy_moments(phi, tau=tau)
    mc = D.toy_monte_carlo(phi, 400_000, rng=np.random.default_rng(4), tau=tau)
    g = D.toy_exact_gradient(phi)
    for est in ("score", "score_const", "score_loo", "score_optimal", "rebar"):
        assert np.isclose(exact[est][0], g, rtol=1e-9, atol=1e-13), est    # unbiased
    for est, (m, v) in exact.items():
        x = mc[est]
        se = np.sqrt(v / x.size) + 1e-15
        assert abs(x.mean() - m) < 5 * se, est
        c = x - x.mean()
        se_v = np.sqrt(max(np.mean(c ** 4) - v * v, 0) / x.size) + 1e-30
        assert abs(x.var() - v) < 5 * se_v + 1e-12 * v, est


def test_relaxed_estimators_are_biased_and_bias_vanishes_as_tau_shrinks():
    g = D.toy_exact_gradient(1.0)
    bias = [abs(D.toy_moments(1.0, tau=t)["gumbel"][0] - g) for t in (1.0, 0.1, 0.02)]
    assert bias[0] > 10 * abs(g) and bias[2] < bias[1] < bias[0]


def test_optimal_baseline_minimises_the_exact_variance():
    phi = 0.8
    bstar = D.toy_optimal_baseline(phi)
    th = D.sigmoid(phi)
    p, s, f = np.array([1 - th, th]), np.array([-th, 1 - th]), D.toy_cost(np.array([0., 1.]))

    def v(c):
        gg = (f - c) * s
        return p @ gg ** 2 - (p @ gg) ** 2
    assert v(bstar) <= min(v(bstar + 0.01), v(bstar - 0.01))
    assert np.isclose(D.toy_moments(phi)["score_optimal"][1], v(bstar), atol=1e-15)


def test_rebar_optimal_eta_minimises_variance():
    eta = D.rebar_optimal_eta(0.5, tau=0.5)
    v = lambda e: D.toy_moments(0.5, tau=0.5, eta=e)["rebar"][1]
    assert v(eta) <= min(v(eta + 0.1), v(eta - 0.1))


def test_traces_shapes_and_the_baselines_reach_the_optimum():
    tr = D.toy_traces(rng=np.random.default_rng(5), steps=2000, every=100)
    assert tr["step"][0] == 0 and tr["step"][-1] == 2000
    assert set(tr["theta"]) == set(D.BERNOULLI_ESTIMATORS)
    assert tr["theta"]["score_optimal"][-1] < 0.05       # exact-baseline score function works
    with pytest.raises(ValueError, match="estimators"):
        D.toy_traces(["nope"], rng=np.random.default_rng(0), steps=2)


def test_categorical_exact_gradient_and_moments():
    logits, a, cost = D.categorical_problem(0.5)
    g = D.categorical_exact_gradient(logits, cost)

    def expect(p0):
        lg = logits.copy()
        lg[0] = p0
        return D.softmax(lg) @ cost
    assert np.isclose(g[0], _fd(expect, 0.5), rtol=1e-7)
    exact, _ = D.categorical_moments(logits, cost)
    rng = np.random.default_rng(6)
    n = 300_000
    terms = D.categorical_terms(logits, a, cost, D.gumbel_noise(rng, (n, 4)),
                                D.gumbel_noise(rng, (n, 4)), tau=0.5)
    for est, (m, v) in exact.items():
        assert np.isclose(m, g[0], rtol=1e-12), est
        assert abs(terms[est].mean() - m) < 5 * np.sqrt(v / n), est
        assert abs(terms[est].var() / v - 1) < 0.05, est
    # the Gumbel-max sample has the softmax law
    z = np.argmax(logits + D.gumbel_noise(rng, (n, 4)), axis=1)
    assert np.allclose(np.bincount(z, minlength=4) / n, D.softmax(logits), atol=5e-3)


def test_categorical_gumbel_softmax_gradient_against_finite_differences():
    logits, a, cost = D.categorical_problem(0.5)
    rng = np.random.default_rng(7)
    gum = D.gumbel_noise(rng, (30, 4))
    tau = 0.7
    got = D.categorical_terms(logits, a, cost, gum, gum, tau=tau)["gumbel"]

    def relaxed(p0):
        lg = logits.copy()
        lg[0] = p0
        y = D.softmax((lg + gum) / tau)
        return (y @ a - 0.45) ** 2
    assert np.allclose(got, _fd(relaxed, 0.5), rtol=1e-6, atol=1e-10)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="tau"):
        D.toy_terms(0.0, [0.5], [0.5], tau=0.0)
    with pytest.raises(ValueError, match="k"):
        D.categorical_problem(0.0, k=1)


# ------------------------------------------------------------------ measure-valued


def test_mvd_moments_closed_form_for_a_quadratic():
    # f = (x − k)²: f(μ + σw) − f(μ − σw) = 4(μ − k)σw, E W = √(π/2), Var W = 2 − π/2
    mu, sigma, k = 2.0, 1.5, 0.5
    mean, var = M.mvd_moments(lambda x: (x - k) ** 2, mu, sigma)
    c = 1 / (sigma * np.sqrt(2 * np.pi))
    assert np.isclose(mean, 2 * (mu - k), rtol=1e-10)
    assert np.isclose(var, (c * 4 * (mu - k) * sigma) ** 2 * (2 - np.pi / 2), rtol=1e-9)


def test_mvd_monte_carlo_coupled_and_uncoupled():
    rng = np.random.default_rng(8)
    f = np.cos
    n = 400_000
    for coupled in (True, False):
        m, v = M.mvd_moments(f, 1.0, 1.0, coupled=coupled)
        w = M.rayleigh(rng, n)
        x = M.mvd_terms(f, 1.0, 1.0, w, None if coupled else M.rayleigh(rng, n))
        assert np.isclose(m, -np.sin(1.0) * np.exp(-0.5), rtol=1e-9)     # d/dμ E cos x
        assert abs(x.mean() - m) < 5 * np.sqrt(v / n)
        assert abs(x.var() / v - 1) < 0.02


def test_mvd_in_the_cost_family():
    """The measure-valued record's exact moments (wrt μ only) are in the cost family's curves:
    its quadrature mean is the gradient, and every estimator's mean is (all are unbiased)."""
    from numpyvae.estimators import exact as R
    curves = R.cost_family_curves(ks={"quadratic": [0.0, 2.0], "exp": [0.5], "cos": [1.0]})
    for cost in curves["costs"]:
        assert np.allclose(cost["mean"]["mu"]["measure_valued"], cost["gradient"]["mu"],
                           atol=1e-10)
        assert np.all(cost["variance"]["mu"]["measure_valued"] >= 0)
        assert "measure_valued" not in cost["variance"]["sigma"]
        for wrt in ("mu", "sigma"):
            for est, m in cost["mean"][wrt].items():
                assert np.allclose(m, cost["gradient"][wrt], atol=1e-8), (cost["name"], wrt, est)


# ------------------------------------------------------------------ intervals


def test_ratio_band_covers_gaussian_sample_variances():
    rng = np.random.default_rng(9)
    r = 50
    lo, hi = I.ratio_band(r, 0.0, level=0.95)
    q = rng.standard_normal((4000, r)).var(axis=1, ddof=1)
    inside = np.mean((q >= lo) & (q <= hi))
    assert 0.93 < inside < 0.97


def test_ratio_band_widens_with_kurtosis_and_covers_heavy_tails():
    rng = np.random.default_rng(10)
    r = 100
    lo0, hi0 = I.ratio_band(r, 0.0)
    # Laplace: excess kurtosis 3, variance 2
    lo, hi = I.ratio_band(r, 3.0)
    assert lo < lo0 and hi > hi0
    q = rng.laplace(size=(4000, r)).var(axis=1, ddof=1) / 2.0
    assert 0.92 < np.mean((q >= lo) & (q <= hi)) < 0.98
    # the Gaussian band ignores the tails and covers too little
    assert np.mean((q >= lo0) & (q <= hi0)) < 0.9


def test_classroom_kurtosis_and_intervals():
    k = I.classroom_kurtosis()
    assert k["pathwise"] == 0.0 and k["score"] > 10
    from numpyvae.estimators import classroom_experiment
    rows = I.add_classroom_intervals(classroom_experiment(Ns=(10, 100), repetitions=50,
                                                          rng=np.random.default_rng(0)))
    for r in rows:
        assert r["ratio_lo"] < 1 < r["ratio_hi"] and r["var_lo"] < r["var"] < r["var_hi"]
    assert "band" in I.format_intervals(rows)
    with pytest.raises(ValueError, match="repetitions"):
        I.chi2_dof(1)


def test_bootstrap_interval_contains_the_truth_mostly():
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(100):
        lo, hi = I.bootstrap_ratio_interval(rng.standard_normal(200), 1.0, rng=rng, n_boot=300)
        hits += lo <= 1.0 <= hi
    assert hits > 85
