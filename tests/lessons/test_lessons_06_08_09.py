"""Runs lessons 06, 08 and 09 in-process with --quick and checks their key numbers and figures.

Lessons 08 and 09 use MNIST and Frey Face when $NUMPYVAE_DATA (or ~/.cache/numpyvae) holds them
and fall back to the built-in shapes otherwise; the assertions hold either way.
"""
import math

import numpy as np
import pytest
from lesson_runs import assert_passed_with_figures, find, run_quick

EXPECTED_FIGURES = {
    6: ["single_sample_terms", "classroom"],
    8: ["training_curve", "abstraction", "generation", "amortization_gap"],
    9: ["bound_vs_samples", "marginal_likelihood"],       # + the two manifolds, named by the data
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{number: (checks, out_dir)}, each lesson run once with --quick."""
    return run_quick(tmp_path_factory, EXPECTED_FIGURES)


@pytest.mark.parametrize("number", sorted(EXPECTED_FIGURES))
def test_lesson_passes_and_writes_figures(runs, number):
    checks, out = runs[number]
    assert_passed_with_figures(checks, out, EXPECTED_FIGURES[number], min_checks=12)
    if number == 9:            # manifold_2d_{mnist,frey} on the real data, else _shapes_for_*
        names = sorted(p.stem for p in out.glob("manifold_2d_*.png"))
        assert len(names) == 2, names
        assert names[0] in ("manifold_2d_frey", "manifold_2d_shapes_for_frey"), names
        assert names[1] in ("manifold_2d_mnist", "manifold_2d_shapes_for_mnist"), names
        assert_passed_with_figures(checks, out, names, min_checks=12)


# ----------------------------------------------------------------------------------- lesson 06

def test_lesson06_variances_87_and_4(runs):
    res = runs[6][0]
    assert not [n for n in res if n.startswith("Var ĝ_SF at θ = 2")]   # a statement, not a check
    quad = find(res, "Var ĝ_SF by quadrature")
    assert quad.numerical == pytest.approx(87.0, rel=1e-9)
    assert quad.analytic == pytest.approx(87.0, rel=1e-14)
    assert find(res, "E[(θ + σε)⁴ ε²] by quadrature").analytic == pytest.approx(103.0, rel=1e-15)
    pw = find(res, "Var ĝ_PW by quadrature vs 4σ² = 4")
    assert pw.numerical == pytest.approx(4.0, rel=1e-9) and pw.analytic == 4.0
    mc_sf = find(res, "Var ĝ_SF over")
    assert mc_sf.numerical == pytest.approx(87.0, rel=0.1)
    mc_pw = find(res, "Var ĝ_PW over")
    assert mc_pw.numerical == pytest.approx(4.0, rel=0.05)
    for power, value in ((2, 1), (4, 3), (6, 15)):
        assert find(res, f"E ε^{power} by quadrature").numerical == pytest.approx(value, rel=1e-9)
    for label, b, v in (("none", 0, 87), ("E[f]", 5, 42), ("b*", 7, 38)):
        c = find(res, f"Var with baseline {label} (b = {b})")
        assert c.analytic == v and c.numerical == pytest.approx(v, rel=1e-9)


def test_lesson06_estimators_are_unbiased(runs):
    res = runs[6][0]
    for name in ("E[ĝ_SF] by quadrature", "E[ĝ_PW] by quadrature"):
        assert find(res, name).numerical == pytest.approx(4.0, rel=1e-9)
    for name in ("E[ĝ_SF] over", "E[ĝ_PW] over"):
        c = find(res, name)
        assert c.analytic == 4.0 and c.passed and abs(c.numerical - 4.0) < 0.2
    assert find(res, "all 24 estimators and N").passed
    for est in ("score function:", "pathwise:", "score, optimal b* (exact):"):
        assert find(res, est + " empirical/analytic variance").passed
    assert find(res, "fraction of score-function terms with the wrong sign").analytic == 0.5


# ----------------------------------------------------------------------------------- lesson 08

def test_lesson08_loss_and_gaussian_identity(runs):
    res = runs[8][0]
    loss = find(res, "loss written out")
    assert loss.numerical == pytest.approx(loss.analytic, rel=1e-5)
    for name in ("distributions.gaussian_log_likelihood", "the model's reconstruction term"):
        c = find(res, name)
        num, ana = np.asarray(c.numerical, float), np.asarray(c.analytic, float)
        assert num.shape == ana.shape == (4,)
        np.testing.assert_allclose(num, ana, rtol=1e-6)
        assert np.all(ana < -0.5 * 784 * math.log(2 * math.pi) + 1e-3)   # C − ½‖x − f‖² ≤ C


def test_lesson08_aggregate_posterior_close_to_prior(runs):
    res = runs[8][0]
    mean = np.asarray(find(res, "mean of the aggregate posterior").numerical)
    logvar = np.asarray(find(res, "log variances of the aggregate posterior").numerical)
    assert mean.shape == logvar.shape == (10,)
    assert np.max(np.abs(mean)) <= 0.5 and np.max(np.abs(logvar)) <= math.log(2)
    gain = find(res, "re-standardized copy: ELBO gain")
    assert gain.analytic >= 0 and gain.numerical == pytest.approx(gain.analytic, rel=0.05, abs=2e-3)
    assert find(res, "what re-standardizing could still gain").passed
    cov = find(res, "Cov of 20 samples")
    assert cov.numerical < 0.05


def test_lesson08_amortization_gap_nonnegative(runs):
    res = runs[8][0]
    gap = find(res, "amortization gap, re-estimated")
    first, again = np.asarray(gap.analytic), np.asarray(gap.numerical)
    assert first.shape == again.shape == (4,)
    assert np.all(first >= 0) and np.all(again >= 0) and first.mean() > 0
    for name in ("relative error of ∂ELBO/∂μᵢ", "relative error of ∂ELBO/∂log σᵢ²"):
        assert find(res, name).numerical < 1e-6
    assert find(res, "every per-point ELBO ≥ the encoder's ELBO").passed
    assert find(res, "log p(x) (the larger importance-sampled estimate)").passed


# ----------------------------------------------------------------------------------- lesson 09

def test_lesson09_importance_sampling_matches_quadrature(runs):
    res = runs[9][0]
    c = find(res, "importance sampling (K = ")
    is_, quad = np.asarray(c.numerical), np.asarray(c.analytic)
    assert is_.shape == quad.shape and is_.size >= 3
    assert np.max(np.abs(is_ - quad)) < 0.05
    assert np.all(quad < 0)                                 # Bernoulli: p(x) < 1
    conv = find(res, "quadrature 200² vs 400² grid")
    np.testing.assert_allclose(conv.numerical, conv.analytic, atol=1e-6)
    wide = find(res, "quadrature over [−7.5, 7.5]²")
    np.testing.assert_allclose(wide.numerical, wide.analytic, atol=1e-4)
    kl = find(res, "log p(x) − KL(q(z|x) ‖ p(z|x)) by quadrature vs")
    np.testing.assert_allclose(kl.numerical, kl.analytic, rtol=0, atol=1e-3)
    prior = find(res, "prior sampling (K = ")
    assert prior.passed and np.asarray(prior.numerical).shape == quad.shape
    assert find(res, "ELBO < log p(x) for every image").passed


def test_lesson09_bounds_improve_and_manifold(runs):
    res = runs[9][0]
    rose = [n for n in res if "the training bound rose" in n]
    assert len(rose) == 4 and all(res[n].passed for n in rose)      # 2 datasets x N_z ∈ {2, 5}
    assert sum(1 for n in res if "N_z = 2 is a bottleneck" in n) == 2
    varied = [n for n in res if "training made the grid vary" in n]
    assert len(varied) == 2 and all(res[n].passed for n in varied)
    assert not [n for n in res if n.startswith(("Φ(Φ⁻¹(u))", "prior mass of every cell"))]


def test_lesson09_iwae_is_a_mean_over_repetitions_below_log_px(runs):
    res = runs[9][0]
    excess = find(res, "IWAE_k, mean of the repetitions: largest excess")
    assert excess.passed and 0 <= excess.numerical <= excess.analytic == 3.0
    assert find(res, "IWAE_k at k = 10,000 lies above the ELBO").passed
    k1 = find(res, "IWAE_1 (mean of repetitions) vs the ELBO")
    assert np.asarray(k1.numerical).shape == np.asarray(k1.analytic).shape


def test_lesson08_train_elbo_before_training_is_a_number(runs):
    checks, _ = runs[8]
    assert find(checks, "training raised the test ELBO").passed


def test_check_below_prints_the_value_and_the_bound(capsys):
    from numpyvae import lessonkit
    assert lessonkit.check_below("err", 1.458e-09, 1e-6)
    assert not lessonkit.check_below("err2", float("nan"), 1e-6)
    assert not lessonkit.check_below("err3", [1e-9, 2e-6], 1e-6)
    text = capsys.readouterr().out
    assert "err: 1.46e-09 (≤ 1e-06)" in text and "analytic=0" not in text
