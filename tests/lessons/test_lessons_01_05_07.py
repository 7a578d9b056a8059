"""Lessons 01 (autoencoders), 05 (closed-form KL) and 07 (reparameterization), run with --quick:
every check passes, the key numbers are what the lesson claims, and the figures are written."""
from pathlib import Path

import numpy as np
import pytest
from lesson_runs import run_quick

LESSONS = Path(__file__).resolve().parents[2] / "lessons"
FILES = {1: "01_autoencoders.py", 5: "05_closed_form_kl.py", 7: "07_reparameterization.py"}
FIGURES = {
    1: ["reconstructions", "pca_vs_ae", "denoising", "sparse_activations"],
    5: ["kl_1d"],
    7: ["graph_before_after", "moments_and_noise"],
}


@pytest.fixture(scope="module")
def lesson_runs(tmp_path_factory):
    """Each lesson run once (shared with the other lesson tests): {number: (checks, out_dir)}."""
    return run_quick(tmp_path_factory, FIGURES, seed=0)


def _value(checks, name):
    assert name in checks, f"no check named {name!r}; have {sorted(checks)}"
    return float(np.asarray(checks[name].numerical))


@pytest.mark.parametrize("number", sorted(FIGURES))
def test_all_checks_pass_and_figures_exist(lesson_runs, number):
    checks, out = lesson_runs[number]
    assert len(checks) >= 15
    failed = [name for name, c in checks.items() if not c.passed]
    assert not failed, failed
    for fig in FIGURES[number]:
        path = out / f"{fig}.png"
        assert path.is_file() and path.stat().st_size > 10_000, path


def test_lesson_01_key_numbers(lesson_runs):
    checks, _ = lesson_runs[1]
    angle = _value(checks, "largest principal angle, AE decoder vs top-4 PCA subspace (degrees)")
    assert 0 <= angle < 2.0
    pca = checks["AE loss vs PCA's optimal error ½ Σ_{i>k} λ_i"]
    assert pca.numerical == pytest.approx(pca.analytic, rel=2e-3)
    assert pca.numerical >= pca.analytic * (1 - 1e-5)        # PCA's error is a lower bound
    assert _value(checks, "overcomplete: relative error on random inputs (it copies)") < 0.05
    for name in ["contractive AE", "tied AE", "sparse AE", "weight decay AE"]:
        err = _value(checks, f"{name}: worst relative error of the hand-written gradient")
        assert 0 <= err < 1e-6, name
    dae = "denoising AE (mask held fixed): worst relative error of the gradient"
    assert _value(checks, dae) < 1e-6
    argmin = checks["argmin of KL(0.05 ‖ ρ̂) on a grid of 100001 points vs ρ"]
    assert abs(argmin.numerical - 0.05) < 1e-5
    assert abs(_value(checks, "dKL/dρ̂ at ρ̂ = ρ (vs 0)")) < 1e-12
    tied_count = checks["tied parameter count vs D·H + H + D"]
    assert tied_count.numerical == tied_count.analytic == 784 * 64 + 64 + 784


def test_lesson_05_key_numbers(lesson_runs):
    checks, _ = lesson_runs[5]
    kl_mc = checks["KL(q ‖ p) = E_q[log q − log p]: Monte Carlo vs closed form (±4 s.e.)"]
    assert kl_mc.analytic > 0.5                                # a non-trivial KL
    assert abs(kl_mc.numerical - kl_mc.analytic) < 0.05       # quick: 40k samples, s.e. ~ 0.01
    lib = checks["numpyvae.distributions.kl_full_cov_std_normal vs the derivation"]
    assert lib.numerical == pytest.approx(kl_mc.analytic, rel=1e-12)
    scipy_kl = checks["KL via scipy: −entropy(q) − E_q[log p]"]
    assert scipy_kl.numerical == pytest.approx(kl_mc.analytic, rel=1e-12)
    for name in ["diagonal KL, dmu", "diagonal KL, dlogvar", "full-covariance KL, dL",
                 "full-covariance KL, dmu"]:
        assert _value(checks, f"{name}: relative error vs central differences") < 1e-8, name
    diag = checks["kl_std_normal vs ½ Σ_j (exp(logvar) + μ² − 1 − logvar)"]
    np.testing.assert_allclose(diag.numerical, diag.analytic, rtol=1e-12)


def test_lesson_07_key_numbers(lesson_runs):
    checks, _ = lesson_runs[7]
    names = ["diagonal: dμ", "diagonal: dlogvar", "full: dμ", "full: dL (lower triangle)",
             "full: d raw (through exp and tril)"]
    for name in names:
        err = _value(checks, f"{name}: relative error")
        assert 0 <= err < 1e-6, name
    var = "sample variance of z vs exp(logvar): largest deviation in standard errors"
    assert _value(checks, var) < 4
    assert _value(checks, "sample covariance vs L Lᵀ: largest deviation in standard errors") < 4
    slope = _value(checks, "fresh noise: slope of log std vs log h (std ∝ 1/h)")
    assert slope == pytest.approx(-1.0, abs=0.05)
    for name in ("after: every node on the paths φ → loss is deterministic (graph from the probes)",
                 "before: a random node lies on the path φ → loss (graph from the probes)",
                 "after: z depends on each of μ, logvar and ε (perturbing one changes z)"):
        assert checks[name].passed, name
    assert not [n for n in checks if "predecessors" in n]       # no check of a typed dictionary


def test_lesson_07_probe_detects_a_node_that_draws_its_own_noise():
    """The graph check of lesson 07 could fail: its probe finds hidden randomness."""
    import ast
    src = (LESSONS / FILES[7]).read_text(encoding="utf-8")
    tree = ast.parse(src)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "probe_node")
    scope = {"np": np}
    exec(compile(ast.Module([fn], []), "probe", "exec"), scope)  # noqa: S102 - the lesson's own code
    probe = scope["probe_node"]
    mu, lv, eps = np.zeros((1, 2)), np.zeros((1, 2)), np.ones((1, 2))
    r = np.random.default_rng(0)
    assert probe(lambda mu, logvar: mu + r.standard_normal(mu.shape),
                 {"mu": mu, "logvar": lv}) == (["mu", "logvar"], True)
    assert probe(lambda mu, logvar, eps: mu + np.random.standard_normal(mu.shape) * 0 + eps,
                 {"mu": mu, "logvar": lv, "eps": eps})[1] is True
    assert probe(lambda mu, logvar, eps: mu + eps,                # logvar ignored: found out
                 {"mu": mu, "logvar": lv, "eps": eps}) == (["mu", "eps"], False)
    assert probe(lambda mu, logvar, eps: mu + np.exp(0.5 * logvar) * eps,
                 {"mu": mu, "logvar": lv, "eps": eps}) == (["mu", "logvar", "eps"], False)
