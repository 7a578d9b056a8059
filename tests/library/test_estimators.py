"""Tests for numpyvae.estimators (score function, pathwise, baselines, the classroom experiment),
numpyvae.estimators.exact (exact moments by quadrature) and numpyvae.plots.estimators."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from numpyvae import estimators as E
from numpyvae.estimators import exact as R

WRTS = ("mu", "sigma", "log_sigma")


def _chain(wrt, sigma, d_mu, d_sigma):
    return {"mu": d_mu, "sigma": d_sigma, "log_sigma": sigma * d_sigma}[wrt]


# Costs with known gradients: (name, f, f', exact gradient(mu, sigma, wrt)).
A = 0.7
COSTS = [
    ("square", lambda z: z * z, lambda z: 2.0 * z,
     lambda m, s, w: _chain(w, s, 2.0 * m, 2.0 * s)),
    # E[exp(a z)] = exp(a μ + a² σ²/2)
    ("exp", lambda z: np.exp(A * z), lambda z: A * np.exp(A * z),
     lambda m, s, w: _chain(w, s, A, A * A * s) * math.exp(A * m + A * A * s * s / 2)),
    # E[sin z] = sin μ exp(−σ²/2)
    ("sin", np.sin, np.cos,
     lambda m, s, w: _chain(w, s, math.cos(m), -s * math.sin(m)) * math.exp(-s * s / 2)),
]
COST_IDS = [c[0] for c in COSTS]


# --------------------------------------------------------------------------- unbiasedness


def _within_4se(estimates, truth):
    se = estimates.std(ddof=1) / math.sqrt(estimates.size)
    assert abs(estimates.mean() - truth) < 4 * se, (estimates.mean(), truth, se)


@pytest.mark.parametrize("wrt", WRTS)
@pytest.mark.parametrize("cost", COSTS, ids=COST_IDS)
@pytest.mark.parametrize("baseline", [None, 1.5, "loo", "optimal", "exact_optimal"])
def test_score_function_is_unbiased(cost, wrt, baseline):
    _, f, _, grad = cost
    mu, sigma = 0.3, 0.8
    if baseline == "exact_optimal":
        baseline = R.optimal_baseline(f, mu, sigma, wrt=wrt)
    est = E.score_function(f, mu, sigma, rng=np.random.default_rng(1), shape=(4000, 20), wrt=wrt,
                           baseline=baseline)
    _within_4se(est, grad(mu, sigma, wrt))


@pytest.mark.parametrize("wrt", WRTS)
@pytest.mark.parametrize("cost", COSTS, ids=COST_IDS)
def test_pathwise_is_unbiased(cost, wrt):
    _, _, df, grad = cost
    mu, sigma = 0.3, 0.8
    est = E.pathwise(df, mu, sigma, rng=np.random.default_rng(2), shape=(4000, 20), wrt=wrt)
    _within_4se(est, grad(mu, sigma, wrt))


@pytest.mark.parametrize("baseline", ["loo", "optimal"])
@pytest.mark.parametrize("n", [2, 3])
def test_sample_based_baselines_are_unbiased_even_for_tiny_n(baseline, n):
    # At N = 2 a baseline that used sample i itself would be badly biased (see the next test);
    # leaving sample i out keeps the estimator exactly unbiased.
    est = E.score_function(lambda z: z * z, 2.0, 1.0, rng=np.random.default_rng(3),
                           shape=(200_000, n), baseline=baseline)
    _within_4se(est, 4.0)


def test_a_baseline_that_sees_its_own_sample_is_biased():
    # Power check for the test above: b_i = mean of ALL f_j (sample i included) shrinks the
    # gradient by (N − 1)/N, here 1/2, and the same 4-standard-error test catches it.
    eps = np.random.default_rng(3).standard_normal((200_000, 2))
    f = (2.0 + eps) ** 2
    biased = ((f - f.mean(axis=1, keepdims=True)) * eps).mean(axis=1)
    se = biased.std(ddof=1) / math.sqrt(biased.size)
    assert abs(biased.mean() - 4.0) > 20 * se
    assert biased.mean() == pytest.approx(2.0, abs=4 * se)


# --------------------------------------------------------------------------- classroom experiment


def _excess_kurtosis(term):
    """Excess kurtosis of one estimator term g(ε), by quadrature."""
    m = R.expect_std_normal(term)
    v = R.expect_std_normal(lambda e: (term(e) - m) ** 2)
    return R.expect_std_normal(lambda e: (term(e) - m) ** 4) / v ** 2 - 3.0


def _variance_bounds(var, reps, kurt, p=0.0005):
    """Bounds on the sample variance of `reps` draws with true variance `var`.

    Gaussian draws: (R−1) s²/σ² ~ χ²(R−1).  The N-sample score-function averages are NOT Gaussian
    at small N: one term (f − b) s has excess kurtosis 24 to 43 here (a cubic in ε), so the average
    of N = 10 has 2.4 to 4.3, and the spread of s² is much wider than χ² says
    (Var(s²/σ²) = 2/(R−1) + κ/R).  We widen the bounds by moment matching: s²/σ² ≈ χ²(d)/d with
    d = 2 / (2/(R−1) + κ/R), which is exactly the χ²(R−1) bound when κ = 0 (the pathwise averages
    are Gaussian) and is nearly so for N >= 1000.
    """
    d = 2.0 / (2.0 / (reps - 1) + kurt / reps)
    return var * stats.chi2.ppf(p, d) / d, var * stats.chi2.ppf(1 - p, d) / d


@pytest.fixture(scope="module")
def classroom():
    return E.classroom_experiment(rng=np.random.default_rng(2024))


def test_classroom_table_layout(classroom):
    assert [(r["N"], r["estimator"]) for r in classroom] == [
        (n, e) for n in (10, 100, 1000, 10000, 100000) for e in E.ESTIMATORS]
    for row in classroom:
        assert row["repetitions"] == 100 and row["true_grad"] == 4.0
    text = E.format_table(classroom)
    assert "pathwise" in text and len(text.splitlines()) == len(classroom) + 3


def test_classroom_variances_inside_chi_square_bounds(classroom):
    theta = 2.0
    term = {"score": lambda e: (theta + e) ** 2 * e,
            "score_const": lambda e: ((theta + e) ** 2 - 5.0) * e,
            "score_loo": lambda e: ((theta + e) ** 2 - 5.0) * e,     # LOO ~ b = E[f] for large N
            "score_optimal": lambda e: ((theta + e) ** 2 - 7.0) * e,
            "score_optimal_est": lambda e: ((theta + e) ** 2 - 7.0) * e}
    kurt1 = {name: _excess_kurtosis(g) for name, g in term.items()}
    kurt1["pathwise"] = 0.0
    checked = 0
    for row in classroom:
        n, name = row["N"], row["estimator"]
        if name == "score_optimal_est" and n < 1000:
            continue       # its analytic value is the large-N one (+75 % at N = 10; see docstring)
        lo, hi = _variance_bounds(row["analytic_var"], row["repetitions"], kurt1[name] / n)
        assert lo < row["var"] < hi, (row, lo, hi)
        # the means: within 4 standard errors of 2θ
        assert abs(row["mean"] - 4.0) < 4 * math.sqrt(row["analytic_var"] / row["repetitions"])
        checked += 1
    assert checked == 28


def test_classroom_analytic_values():
    rows = E.classroom_experiment(Ns=(10,), repetitions=2, rng=np.random.default_rng(0))
    exact = {r["estimator"]: r["analytic_var"] for r in rows}
    assert exact["score"] == pytest.approx(8.7, rel=1e-14)
    assert exact["score_const"] == pytest.approx(4.2, rel=1e-14)              # 8θ² + 10σ²
    assert exact["score_optimal"] == pytest.approx(3.8, rel=1e-14)            # 8θ² + 6σ²
    assert exact["score_loo"] == pytest.approx((42 + 34 / 9) / 10, rel=1e-14)
    assert exact["pathwise"] == pytest.approx(0.4, rel=1e-14)


def test_classroom_matches_the_public_estimators_bit_for_bit(monkeypatch):
    # classroom_experiment shares temporaries between estimators; the numbers must be exactly those
    # of score_function / pathwise on the same noise (drawn in one piece here, in blocks there).
    Ns, reps = (10, 3000), 120
    monkeypatch.setattr(E.classroom, "_CHUNK", 7000)      # several blocks, with a short last one
    rows = E.classroom_experiment(Ns=Ns, repetitions=reps, rng=np.random.default_rng(11))
    rng = np.random.default_rng(11)
    got = {(r["N"], r["estimator"]): r for r in rows}
    for n in Ns:
        eps = rng.standard_normal((reps, n))
        f = lambda z: z * z                                       # noqa: E731
        ests = {name: E.score_function(f, 2.0, 1.0, eps, baseline=b) for name, b in
                {"score": None, "score_const": 5.0, "score_loo": "loo", "score_optimal": 7.0,
                 "score_optimal_est": "optimal"}.items()}
        ests["pathwise"] = E.pathwise(lambda z: 2.0 * z, 2.0, 1.0, eps)
        for name, est in ests.items():
            assert got[n, name]["mean"] == float(est.mean())
            assert got[n, name]["var"] == float(est.var(ddof=1))


def test_classroom_experiment_has_every_row():
    # Its speed (0.15 s for N up to 1e5 x 100 repetitions) is measured by `numpyvae bench`.
    rows = E.classroom_experiment(rng=np.random.default_rng(0))
    assert {r["N"] for r in rows} == {10, 100, 1000, 10000, 100000}
    assert all(np.isfinite(r["mean"]) and r["var"] > 0 for r in rows)


# --------------------------------------------------------------------------- exact references


def test_closed_forms_87_and_4_equal_quadrature():
    f, df = (lambda z: z * z), (lambda z: 2.0 * z)
    assert E.quadratic_score_variance(2.0, 1.0) == 87.0
    assert E.quadratic_pathwise_variance(2.0, 1.0) == 4.0
    score = R.score_function_moments(f, 2.0, 1.0)
    path = R.pathwise_moments(df, 2.0, 1.0)
    np.testing.assert_allclose([score.mean, score.var], [4.0, 87.0], rtol=1e-8)
    np.testing.assert_allclose([path.mean, path.var], [4.0, 4.0], rtol=1e-8)


@pytest.mark.parametrize("wrt", WRTS)
@pytest.mark.parametrize("mu, sigma, k", [(2.0, 1.0, 0.0), (0.3, 2.5, -1.0), (-1.0, 0.1, 0.5)])
def test_quadratic_closed_forms_equal_quadrature(mu, sigma, k, wrt):
    f, df = (lambda z: (z - k) ** 2), (lambda z: 2.0 * (z - k))
    kw = {"k": k, "wrt": wrt}
    b_star = R.optimal_baseline(f, mu, sigma, wrt=wrt)
    assert b_star == pytest.approx(E.quadratic_optimal_baseline(mu, sigma, **kw), rel=1e-8)
    for b in (0.0, 3.3, -2.0):
        assert R.score_function_moments(f, mu, sigma, wrt=wrt, baseline=b).var == pytest.approx(
            E.quadratic_score_variance(mu, sigma, baseline=b, **kw), rel=1e-8)
    assert R.score_function_moments(f, mu, sigma, wrt=wrt, baseline="optimal").var == \
        pytest.approx(E.quadratic_optimal_score_variance(mu, sigma, **kw), rel=1e-8)
    assert R.pathwise_moments(df, mu, sigma, wrt=wrt).var == pytest.approx(
        E.quadratic_pathwise_variance(mu, sigma, **kw), rel=1e-8)
    for n in (2, 10, 1000):
        assert R.loo_variance(f, mu, sigma, n, wrt=wrt) == pytest.approx(
            E.quadratic_loo_variance(mu, sigma, n, **kw), rel=1e-8)


def test_loo_variance_is_not_single_over_n():
    # With N = 3 the leave-one-out average has variance (42 + 34/2)/3, not 42/3 (b = E[f]):
    # the shared baseline correlates the terms.  A big Monte Carlo tells the two apart.
    est = E.score_function(lambda z: z * z, 2.0, 1.0, rng=np.random.default_rng(5),
                           shape=(400_000, 3), baseline="loo")
    exact = E.quadratic_loo_variance(2.0, 1.0, 3)
    assert exact == pytest.approx(59 / 3)
    assert est.var(ddof=1) == pytest.approx(exact, rel=0.03)
    assert abs(est.var(ddof=1) / (42 / 3) - 1) > 0.25


@pytest.mark.parametrize("k", [0.5, 3.0, 20.0])
@pytest.mark.parametrize("mu, sigma", [(1.0, 1.0), (0.4, 0.3)])
def test_cos_quadrature_equals_closed_forms(k, mu, sigma):
    # E[cos(kz)] = cos(kμ) e^{−k²σ²/2};  E[cos(a + bε) ε²] = cos(a) (1 − b²) e^{−b²/2}
    f, df = (lambda z: np.cos(k * z)), (lambda z: -k * np.sin(k * z))
    hints = {"scale": 2 * math.pi / k}
    g_mu = -k * math.sin(k * mu) * math.exp(-k * k * sigma * sigma / 2)
    g_sigma = -k * k * sigma * math.cos(k * mu) * math.exp(-k * k * sigma * sigma / 2)
    e2 = math.exp(-2 * k * k * sigma * sigma)
    var_path = k * k * (0.5 * (1 - math.cos(2 * k * mu) * e2) - g_mu ** 2 / k ** 2)
    var_score = 0.5 * (1 + math.cos(2 * k * mu) * (1 - 4 * k * k * sigma * sigma) * e2) \
        / sigma ** 2 - g_mu ** 2
    path = R.pathwise_moments(df, mu, sigma, **hints)
    score = R.score_function_moments(f, mu, sigma, **hints)
    np.testing.assert_allclose([path.mean, score.mean], [g_mu, g_mu], rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose([path.var, score.var], [var_path, var_score], rtol=1e-8)
    np.testing.assert_allclose(R.pathwise_moments(df, mu, sigma, wrt="sigma", **hints).mean,
                               g_sigma, rtol=1e-8, atol=1e-14)


def _mc_moments(terms):
    """Sample mean and variance of iid terms with their standard errors."""
    m, v = terms.mean(), terms.var()
    m4 = np.mean((terms - m) ** 4)
    return m, v, math.sqrt(v / terms.size), math.sqrt((m4 - v * v) / terms.size)


@pytest.mark.parametrize("wrt", ["mu", "sigma"])
@pytest.mark.parametrize("name, f, df, hints", [
    ("exp", lambda z: np.exp(-2.0 * z * z), lambda z: -4.0 * z * np.exp(-2.0 * z * z),
     {"points": (0.0,), "scale": 1 / math.sqrt(2.0)}),
    ("cos", lambda z: np.cos(2.5 * z), lambda z: -2.5 * np.sin(2.5 * z),
     {"scale": 2 * math.pi / 2.5}),
], ids=["exp", "cos"])
def test_quadrature_agrees_with_large_monte_carlo(name, f, df, hints, wrt):
    mu, sigma = 1.0, 1.0
    eps = np.random.default_rng(7).standard_normal((1, 2_000_000))
    b_star = R.optimal_baseline(f, mu, sigma, wrt=wrt, **hints)
    cases = [(R.score_function_moments(f, mu, sigma, wrt=wrt, **hints),
              E.score_function(f, mu, sigma, eps, wrt=wrt, return_terms=True)[1]),
             (R.score_function_moments(f, mu, sigma, wrt=wrt, baseline="optimal", **hints),
              E.score_function(f, mu, sigma, eps, wrt=wrt, baseline=b_star, return_terms=True)[1]),
             (R.pathwise_moments(df, mu, sigma, wrt=wrt, **hints),
              E.pathwise(df, mu, sigma, eps, wrt=wrt, return_terms=True)[1])]
    for exact, terms in cases:
        m, v, se_m, se_v = _mc_moments(terms)
        assert abs(m - exact.mean) < 4.5 * se_m
        assert abs(v - exact.var) < 4.5 * se_v


def test_exp_cost_gradient_equals_closed_form():
    # E[exp(−k z²)] = (1 + 2kσ²)^{−1/2} exp(−kμ²/(1 + 2kσ²)), differentiated by hand.
    k, mu, sigma = 1.7, 1.0, 1.0
    a = 1 + 2 * k * sigma ** 2
    value = a ** -0.5 * math.exp(-k * mu * mu / a)
    grads = {"mu": value * (-2 * k * mu / a),
             "sigma": value * (-2 * k * sigma / a + 4 * k * k * mu * mu * sigma / a ** 2)}
    for wrt, g in grads.items():
        m = R.score_function_moments(lambda z: np.exp(-k * z * z), mu, sigma, wrt=wrt,
                                     points=(0.0,)).mean
        assert m == pytest.approx(g, rel=1e-9)


@pytest.mark.parametrize("wrt", ["mu", "sigma"])
@pytest.mark.parametrize("f", [lambda z: z * z, lambda z: np.exp(0.5 * z), lambda z: np.cos(2 * z),
                               lambda z: np.exp(-z * z)], ids=["square", "exp", "cos", "bump"])
def test_optimal_baseline_beats_every_constant_baseline(f, wrt):
    mu, sigma = 1.0, 1.0
    best = R.score_function_moments(f, mu, sigma, wrt=wrt, baseline="optimal").var
    plain = R.score_function_moments(f, mu, sigma, wrt=wrt).var
    assert best <= plain * (1 + 1e-12)
    b_star = R.optimal_baseline(f, mu, sigma, wrt=wrt)
    for b in b_star + np.array([-3.0, -0.5, -0.01, 0.01, 0.5, 3.0]):
        assert best <= R.score_function_moments(f, mu, sigma, wrt=wrt, baseline=b).var * (1 + 1e-12)


def test_cost_family_curves_match_closed_forms():
    ks = {"quadratic": [-2.0, 0.5, 3.0], "exp": [0.3, 2.0], "cos": [0.5, 2.5]}
    curves = R.cost_family_curves(mu=1.0, sigma=1.0, ks=ks)
    assert [c["name"] for c in curves["costs"]] == ["quadratic", "exp", "cos"]
    quad = curves["costs"][0]
    for i, k in enumerate(ks["quadratic"]):
        for wrt in ("mu", "sigma"):
            v = quad["variance"][wrt]
            assert v["score"][i] == pytest.approx(
                E.quadratic_score_variance(1.0, 1.0, k=k, wrt=wrt), rel=1e-8)
            assert v["score_optimal"][i] == pytest.approx(
                E.quadratic_optimal_score_variance(1.0, 1.0, k=k, wrt=wrt), rel=1e-8)
            assert v["pathwise"][i] == pytest.approx(
                E.quadratic_pathwise_variance(1.0, 1.0, k=k, wrt=wrt), rel=1e-8)
    cos = curves["costs"][2]
    for i, k in enumerate(ks["cos"]):
        assert cos["gradient"]["mu"][i] == pytest.approx(-k * math.sin(k) * math.exp(-k * k / 2))
    for cost in curves["costs"]:
        for wrt in ("mu", "sigma"):
            assert all(np.all(v > 0) for v in cost["variance"][wrt].values())
            assert np.all(cost["variance"][wrt]["score_optimal"]
                          <= cost["variance"][wrt]["score"] * (1 + 1e-12))


def test_quadrature_failure_is_reported():
    # f = |z|^-1.5 at μ = 0: the gradient exists but (f s)² ~ 1/|ε| near 0, so the variance is
    # infinite.  That must be an error, not a finite-looking number.
    with pytest.raises(RuntimeError, match="quadrature"):
        R.score_function_moments(lambda z: np.abs(z) ** -1.5, 0.0, 1.0)


# --------------------------------------------------------------------------- bad input


def _square(z):
    return z * z


EPS = np.zeros((3, 4))


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"sigma": 0.0}, ValueError, "sigma"),
    ({"sigma": -1.0}, ValueError, "sigma"),
    ({"sigma": float("nan")}, ValueError, "sigma"),
    ({"sigma": "1"}, TypeError, "sigma"),
    ({"mu": float("nan")}, ValueError, "mu"),
    ({"mu": float("inf")}, ValueError, "mu"),
    ({"mu": None}, TypeError, "mu"),
    ({"eps": np.zeros(4)}, ValueError, "eps"),
    ({"eps": np.zeros((2, 3, 4))}, ValueError, "eps"),
    ({"eps": np.zeros((0, 4))}, ValueError, "eps"),
    ({"eps": np.array([[0.0, np.nan]])}, ValueError, "eps"),
    ({"eps": np.zeros((3, 4), dtype=np.int64)}, TypeError, "eps"),
    ({"eps": [[0.0, 1.0]]}, TypeError, "eps"),
    ({"f": "z**2"}, TypeError, "f"),
    ({"f": lambda z: z.sum()}, TypeError, "f"),
    ({"f": lambda z: z[:, :1]}, ValueError, "f(z)"),
    ({"f": lambda z: np.full_like(z, np.nan)}, ValueError, "f(z)"),
    ({"wrt": "logvar"}, ValueError, "wrt"),
    ({"baseline": "mean"}, ValueError, "baseline"),
    ({"baseline": float("nan")}, ValueError, "baseline"),
    ({"baseline": [1.0]}, TypeError, "baseline"),
    ({"baseline": "loo", "eps": np.zeros((3, 1))}, ValueError, "N >= 2"),
    ({"eps": None}, ValueError, "eps"),
    ({"eps": None, "rng": 0, "shape": (2, 3)}, TypeError, "rng"),
    ({"eps": None, "rng": np.random.default_rng(0)}, ValueError, "shape"),
    ({"eps": None, "rng": np.random.default_rng(0), "shape": (2, 0)}, ValueError, "shape"),
    ({"rng": np.random.default_rng(0)}, ValueError, "eps or rng"),
    ({"eps": None, "rng": np.random.default_rng(0), "shape": (2, 3), "dtype": np.int32},
     TypeError, "dtype"),
])
def test_score_function_rejects_bad_input(kwargs, exc, name):
    args = {"f": _square, "mu": 0.0, "sigma": 1.0, "eps": EPS, **kwargs}
    with pytest.raises(exc, match=name.replace("(", r"\(").replace(")", r"\)")):
        E.score_function(args.pop("f"), args.pop("mu"), args.pop("sigma"), args.pop("eps"), **args)


@pytest.mark.parametrize("kwargs, exc, name", [
    ({"df": 3.0}, TypeError, "df"),
    ({"sigma": 0.0}, ValueError, "sigma"),
    ({"wrt": "var"}, ValueError, "wrt"),
    ({"eps": np.ones((2, 2), dtype=np.float16)}, TypeError, "eps"),
])
def test_pathwise_rejects_bad_input(kwargs, exc, name):
    args = {"df": _square, "mu": 0.0, "sigma": 1.0, "eps": EPS, **kwargs}
    with pytest.raises(exc, match=name):
        E.pathwise(args.pop("df"), args.pop("mu"), args.pop("sigma"), args.pop("eps"), **args)


@pytest.mark.parametrize("call, exc, name", [
    (lambda: E.classroom_experiment(rng=None), TypeError, "rng"),
    (lambda: E.classroom_experiment(sigma=0.0, rng=np.random.default_rng(0)), ValueError, "sigma"),
    (lambda: E.classroom_experiment(repetitions=1, rng=np.random.default_rng(0)), ValueError,
     "repetitions"),
    (lambda: E.classroom_experiment(Ns=(1, 10), rng=np.random.default_rng(0)), ValueError, "Ns"),
    (lambda: E.classroom_experiment(Ns=(10.0,), rng=np.random.default_rng(0)), TypeError, "Ns"),
    (lambda: E.quadratic_loo_variance(2.0, 1.0, 1), ValueError, "n"),
    (lambda: E.quadratic_score_variance(2.0, -1.0), ValueError, "sigma"),
    (lambda: R.score_function_moments(_square, 0.0, 0.0), ValueError, "sigma"),
    (lambda: R.score_function_moments(None, 0.0, 1.0), TypeError, "f"),
    (lambda: R.score_function_moments(_square, 0.0, 1.0, baseline="loo"), ValueError, "loo"),
    (lambda: R.pathwise_moments(_square, 0.0, 1.0, wrt="x"), ValueError, "wrt"),
    (lambda: R.loo_variance(_square, 0.0, 1.0, 1), ValueError, "n"),
    (lambda: R.optimal_baseline(_square, float("nan"), 1.0), ValueError, "mu"),
    (lambda: R.cost_family_curves(ks={"sine": [1.0]}), ValueError, "ks"),
    (lambda: R.cost_family_curves(sigma=-1.0), ValueError, "sigma"),
])
def test_other_functions_reject_bad_input(call, exc, name):
    with pytest.raises(exc, match=name):
        call()


def test_inputs_are_not_modified():
    eps = np.random.default_rng(0).standard_normal((4, 6))
    keep = eps.copy()
    fixed = np.arange(24.0).reshape(4, 6)          # a cost that returns the caller's own array
    fixed_copy = fixed.copy()
    for baseline in (None, 1.0, "loo", "optimal"):
        E.score_function(lambda z: fixed, 0.5, 2.0, eps, baseline=baseline, return_terms=True)
    for wrt in WRTS:
        E.pathwise(lambda z: fixed, 0.5, 2.0, eps, wrt=wrt, return_terms=True)
    np.testing.assert_array_equal(eps, keep)
    np.testing.assert_array_equal(fixed, fixed_copy)


def test_estimated_optimal_baseline_survives_zero_scores():
    # wrt μ the score is ε/σ; a repetition whose other samples all have ε = 0 has no information
    # for b*: the baseline falls back to 0 instead of 0/0.
    eps = np.array([[0.0, 0.0, 1.5], [0.3, -1.0, 2.0]])
    est = E.score_function(_square, 1.0, 1.0, eps, baseline="optimal")
    assert np.all(np.isfinite(est))
    assert est[0] == pytest.approx((2.5 ** 2) * 1.5 / 3)


def test_rng_and_eps_give_the_same_numbers():
    eps = np.random.default_rng(9).standard_normal((5, 7))
    a = E.score_function(_square, 1.0, 0.5, eps, baseline="loo")
    b = E.score_function(_square, 1.0, 0.5, rng=np.random.default_rng(9), shape=(5, 7),
                         baseline="loo")
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- hypothesis properties

MUS = st.floats(-100.0, 100.0)
SIGMAS = st.floats(1e-2, 1e2)
SHAPES = st.tuples(st.integers(1, 6), st.integers(2, 40))


def _eps(seed, shape, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@given(mu=MUS, sigma=SIGMAS, a=st.floats(-10.0, 10.0), shape=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_pathwise_linear_cost_wrt_mu_is_exact_for_any_noise(mu, sigma, a, shape, seed):
    # f(z) = a z + c: f' = a everywhere, so every term is exactly a and the variance is zero.
    est, terms = E.pathwise(lambda z: np.full_like(z, a), mu, sigma, _eps(seed, shape),
                            return_terms=True)
    assert np.all(terms == a)
    np.testing.assert_allclose(est, a, rtol=1e-14, atol=1e-300)
    assert est.shape == (shape[0],)


@given(mu=MUS, sigma=SIGMAS, c=st.floats(-1e3, 1e3), shape=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_score_function_of_a_constant_with_that_baseline_is_zero(mu, sigma, c, shape, seed):
    # f ≡ c has gradient 0.  Without a baseline the estimate is c·mean(s), noisy; with b = c, or
    # with the leave-one-out baseline, every term is (c − c) s = 0.
    f = lambda z: np.full_like(z, c)                                    # noqa: E731
    eps = _eps(seed, shape)
    for wrt in WRTS:
        assert np.all(E.score_function(f, mu, sigma, eps, wrt=wrt, baseline=c) == 0.0)
        # LOO: f_i − b_i = N/(N−1) (c − mean(c, ..., c)), zero up to the rounding of that mean
        rounding = 4 * shape[1] * np.finfo(float).eps * abs(c)
        score_max = np.abs(E.gaussian_score(eps, sigma, wrt)).max()
        np.testing.assert_allclose(E.score_function(f, mu, sigma, eps, wrt=wrt, baseline="loo"),
                                   0.0, atol=rounding * score_max)


@given(mu=st.floats(-3.0, 3.0), sigma=st.floats(0.1, 3.0), b=st.floats(-50.0, 50.0),
       shape=SHAPES, seed=st.integers(0, 2**32 - 1))
def test_baselines_are_the_algebra_they_claim(mu, sigma, b, shape, seed):
    eps = _eps(seed, shape)
    f = lambda z: z * z                                                 # noqa: E731
    fz, s = (mu + sigma * eps) ** 2, eps / sigma
    plain = E.score_function(f, mu, sigma, eps)
    scale = np.abs(fz * s).max() + abs(b * s).max()
    # constant baseline: mean((f − b) s) = mean(f s) − b mean(s)
    np.testing.assert_allclose(E.score_function(f, mu, sigma, eps, baseline=b),
                               plain - b * s.mean(axis=1), atol=1e-12 * scale)
    # leave-one-out baseline: the unbiased sample covariance of f and s
    n = shape[1]
    cov = (fz * s).mean(axis=1) - fz.mean(axis=1) * s.mean(axis=1)
    np.testing.assert_allclose(E.score_function(f, mu, sigma, eps, baseline="loo"),
                               cov * n / (n - 1), atol=1e-11 * scale)


@given(mu=MUS, sigma=SIGMAS, shape=SHAPES, seed=st.integers(0, 2**32 - 1),
       baseline=st.sampled_from([None, 2.0, "loo", "optimal"]))
def test_log_sigma_is_sigma_times_sigma(mu, sigma, shape, seed, baseline):
    eps = _eps(seed, shape)
    f, df = (lambda z: np.sin(z)), (lambda z: np.cos(z))
    np.testing.assert_allclose(
        E.score_function(f, mu, sigma, eps, wrt="log_sigma", baseline=baseline),
        sigma * E.score_function(f, mu, sigma, eps, wrt="sigma", baseline=baseline),
        rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(E.pathwise(df, mu, sigma, eps, wrt="log_sigma"),
                               sigma * E.pathwise(df, mu, sigma, eps, wrt="sigma"),
                               rtol=1e-12, atol=1e-12)


@given(mu=st.floats(-3.0, 3.0), sigma=st.floats(0.1, 3.0), shape=SHAPES,
       seed=st.integers(0, 2**32 - 1), wrt=st.sampled_from(WRTS),
       baseline=st.sampled_from([None, 1.0, "loo", "optimal"]))
def test_float32_in_float32_out(mu, sigma, shape, seed, wrt, baseline):
    eps = _eps(seed, shape, np.float32)
    est, terms = E.score_function(_square, mu, sigma, eps, wrt=wrt, baseline=baseline,
                                  return_terms=True)
    assert est.dtype == terms.dtype == np.float32 and terms.shape == shape
    est64 = E.score_function(_square, mu, sigma, eps.astype(np.float64), wrt=wrt,
                             baseline=baseline)
    scale = np.abs(E.score_function(_square, mu, sigma, eps.astype(np.float64), wrt=wrt,
                                    return_terms=True)[1]).max() + 1.0
    np.testing.assert_allclose(est, est64, atol=1e-4 * scale)
    est, terms = E.pathwise(lambda z: 2 * z, mu, sigma, eps, wrt=wrt, return_terms=True)
    assert est.dtype == terms.dtype == np.float32


# --------------------------------------------------------------------------- plots


def test_plots_write_pngs(tmp_path, classroom):
    from numpyvae.plots import estimators as P
    curves = R.cost_family_curves(ks={"quadratic": np.linspace(-3, 3, 7),
                                      "exp": np.linspace(0.1, 3, 6),
                                      "cos": np.linspace(0.1, 3, 6)})
    for path in (P.plot_classroom(classroom, tmp_path / "classroom.png"),
                 P.plot_cost_family(curves, tmp_path / "cost.png")):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_plots_reject_bad_input(tmp_path):
    from numpyvae.plots import estimators as P
    with pytest.raises(TypeError, match="table"):
        P.plot_classroom([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="table"):
        P.plot_classroom([{"N": 10}], tmp_path / "x.png")
    with pytest.raises(TypeError, match="curves"):
        P.plot_cost_family({}, tmp_path / "x.png")
    with pytest.raises(TypeError, match="path"):
        P.plot_cost_family({"costs": []}, 3)
