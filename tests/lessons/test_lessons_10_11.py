"""Runs lessons 10 (discrete latents) and 11 (tighter bounds, gradient SNR) in-process with
--quick and checks their key numbers and figures, and that `numpyvae lesson list` finds them."""
import numpy as np
import pytest
from lesson_runs import LESSONS, assert_passed_with_figures, find, run_quick

from numpyvae import lessonkit

EXPECTED_FIGURES = {10: ["discrete_tau", "discrete_traces"], 11: ["snr"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return run_quick(tmp_path_factory, EXPECTED_FIGURES)


@pytest.mark.parametrize("number", sorted(EXPECTED_FIGURES))
def test_lesson_passes_and_writes_figures(runs, number):
    checks, out = runs[number]
    assert_passed_with_figures(checks, out, EXPECTED_FIGURES[number], min_checks=15)


def test_lessons_are_listed(capsys):
    found = {n: title for n, title, _ in lessonkit.list_lessons(LESSONS)}
    assert found[10].startswith("Discrete latents")
    assert found[11].startswith("Tighter bounds")
    from numpyvae import cli
    assert cli.main(["lesson", "list"]) == 0
    text = capsys.readouterr().out
    assert "Discrete latents" in text and "Tighter bounds" in text


def test_lesson10_key_numbers(runs):
    res = runs[10][0]
    exact = find(res, "d/dφ E[(b − t)²] by finite differences")
    th = 1 / (1 + np.exp(-1.0))
    assert exact.analytic == pytest.approx(th * (1 - th) * (1 - 2 * 0.499), rel=1e-12)
    assert find(res, "∂b/∂φ by finite differences at fixed noise").passed
    assert find(res, "Var of the score function with b*").numerical == pytest.approx(0, abs=1e-20)
    rebar = find(res, "REBAR ĝ (η = 1) vs the formula")
    assert rebar.passed
    assert find(res, "E[REBAR] by 2-D quadrature").numerical == pytest.approx(exact.analytic,
                                                                            rel=1e-7)
    assert find(res, "the score function with the optimal baseline reaches").passed


def test_lesson11_key_numbers(runs):
    res = runs[11][0]
    enc = find(res, "log-log slope of the encoder's SNR")
    dec = find(res, "log-log slope of the decoder's SNR")
    assert enc.analytic == -0.5 and abs(enc.numerical + 0.5) < 0.15
    assert dec.analytic == 0.5 and abs(dec.numerical - 0.5) < 0.15
    assert find(res, "STL gradient at q = p(z|x)").numerical < 1e-12
    assert find(res, "K = 100: the same test rejects STL").passed
    assert find(res, "∂L/∂A (encoder, IWAE) vs finite differences").passed
    for obj in ("iwae_stl", "iwae_dreg"):        # the VAE's STL / DReG against their surrogates
        assert find(res, f"{obj}: encoder gradient vs central differences").numerical < 1e-7
    assert find(res, "K = 1: every w̃ is 1, so DReG = STL").numerical == 0
    assert find(res, "STL and DReG decoder gradients vs IWAE's").numerical == 0
