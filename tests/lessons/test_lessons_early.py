"""Runs lessons 02-04 in-process with --quick and checks their results; tests lessonkit itself."""
import io
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from numpyvae import lessonkit

from lesson_runs import LESSONS, assert_passed_with_figures, find, run_quick

EXPECTED_FIGURES = {
    2: ["next_word", "distinct_reviews", "perplexity_vs_k", "parameter_counts"],
    3: ["em_elbo", "gmm_fit", "kmeans_limit", "intractable_posterior", "monte_carlo_em"],
    4: ["jensen_gap", "kl_properties", "mean_field"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{number: (checks, out_dir)}, each lesson run once with --quick."""
    return run_quick(tmp_path_factory, EXPECTED_FIGURES)


@pytest.mark.parametrize("number", sorted(EXPECTED_FIGURES))
def test_lesson_passes_and_writes_figures(runs, number):
    checks, out = runs[number]
    assert_passed_with_figures(checks, out, EXPECTED_FIGURES[number], min_checks=8)


def test_lesson02_key_numbers(runs):
    res = runs[2][0]
    c = find(res, "number of decimal digits of 2^784")
    assert c.numerical == 237 == c.analytic
    assert find(res, "argmax decoding gives one identical review").passed
    assert find(res, "max over all").numerical < 1e-12


def test_lesson03_elbo_tight_after_e_step(runs):
    res = runs[3][0]
    gap = find(res, "ELBO gap after E-step")
    assert abs(gap.numerical) < 1e-8 and gap.analytic == 1e-8       # a bound, not "analytic 0"
    assert find(res, "ELBO never decreases").passed
    assert find(res, "σ = 0.01: fraction of points where EM and k-means agree").numerical == 1.0


def test_lesson04_identity_and_mean_field(runs):
    res = runs[4][0]
    ident = find(res, "ELBO identity")
    assert abs(ident.numerical - ident.analytic) < 1e-10
    mf = find(res, "mean-field minimal KL(q‖p), ρ = 0.9")
    assert mf.analytic == pytest.approx(-0.5 * math.log(1 - 0.9 ** 2), rel=1e-14)
    assert mf.numerical == pytest.approx(mf.analytic, rel=1e-7)
    var = find(res, "optimal mean-field variances")
    np.testing.assert_allclose(var.numerical, 1 - 0.9 ** 2, rtol=1e-5)
    tight = find(res, "q = exact posterior")
    assert abs(tight.numerical - tight.analytic) < 1e-10


def test_list_lessons_reads_titles():
    lessons = {n: (title, path) for n, title, path in lessonkit.list_lessons(LESSONS)}
    assert lessons[2][0] == "Generative models by counting"
    assert lessons[3][0] == "Latent-variable models and EM"
    assert lessons[4][0] == "The ELBO"
    assert lessons[4][1].name == "04_elbo.py"
    numbers = [n for n, _, _ in lessonkit.list_lessons(LESSONS)]
    assert numbers == sorted(numbers)


def test_find_lessons_dir_prefers_env(monkeypatch, tmp_path):
    (tmp_path / "07_demo.py").write_text('"""07 · A demo\n\nmore"""\n')
    monkeypatch.setenv("NUMPYVAE_LESSONS", str(tmp_path))
    assert lessonkit.find_lessons_dir() == tmp_path
    assert lessonkit.list_lessons() == [(7, "A demo", tmp_path / "07_demo.py")]
    with pytest.raises(ValueError, match="path_or_number"):
        lessonkit.run_lesson(99)
    with pytest.raises(FileNotFoundError):
        lessonkit.find_lessons_dir(tmp_path / "missing")


# ---------------------------------------------------------------------------------- lessonkit

def write_lesson(tmp_path, body):
    path = tmp_path / "01_tiny.py"
    path.write_text('"""01 · Tiny\n"""\nfrom numpyvae import lessonkit\n'
                    "args = lessonkit.parse_args(__doc__)\n" + body + "\nlessonkit.finish()\n",
                    encoding="utf-8")
    return path


def test_run_lesson_reports_failures_and_restores_argv(tmp_path, capsys):
    path = write_lesson(tmp_path, "lessonkit.check('good', 1.0, 1.0)\n"
                                  "lessonkit.check('bad', 1.0, 2.0)\n"
                                  "lessonkit.check_true('cond', True, 'fine')\n"
                                  "assert args.quick and args.seed == 3\n")
    argv = sys.argv[:]
    res = lessonkit.run_lesson(path, ["--quick", "--seed", "3", "--out", str(tmp_path / "o")])
    assert sys.argv == argv
    assert res["good"] == (1.0, 1.0, True)
    assert res["bad"].passed is False
    assert res["cond"].passed
    text = capsys.readouterr().out
    assert "2/3 checks passed" in text and "failed: bad" in text


def test_finish_exits_nonzero_on_failure_when_run_as_script(tmp_path):
    import subprocess
    path = write_lesson(tmp_path, "lessonkit.check('bad', 1.0, 2.0)\n")
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo), PYTHONIOENCODING="utf-8")
    r = subprocess.run([sys.executable, str(path), "--out", str(tmp_path / "o")], env=env,
                       capture_output=True, text=True, encoding="utf-8")
    assert r.returncode == 1, r.stderr
    assert "✗" in r.stdout
    path.write_text(path.read_text().replace("2.0", "1.0"))
    r = subprocess.run([sys.executable, str(path), "--out", str(tmp_path / "o")], env=env,
                       capture_output=True, text=True, encoding="utf-8")
    assert r.returncode == 0 and "✓" in r.stdout


def test_check_tolerances_and_arrays(capsys, tmp_path):
    lessonkit.parse_args(argv=["--out", str(tmp_path)], name="t")
    assert lessonkit.check("a", 1.0 + 1e-9, 1.0, rtol=1e-8)
    assert not lessonkit.check("b", 1.1, 1.0, rtol=1e-3)
    assert lessonkit.check("c", 1e-13, 0.0, atol=1e-12)
    assert lessonkit.check("d", np.ones(10), np.ones(10))
    assert not lessonkit.check("e", np.ones(3), np.ones(4))
    assert not lessonkit.check("f", float("nan"), 1.0, rtol=1.0)
    assert lessonkit.check("g", float("inf"), float("inf"))
    assert lessonkit.check("a", 2.0, 2.0)                 # same name twice: both kept
    res = lessonkit.summary()
    assert list(res) == ["a", "b", "c", "d", "e", "f", "g", "a (2)"]
    out = capsys.readouterr().out
    assert "b: numerical=1.1 analytic=1 ✗" in out
    assert "5/8 checks passed" in out


def test_parse_args_ignores_notebook_arguments_and_defaults_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = lessonkit.parse_args("doc", argv=["-f", "/run/kernel-1.json", "--quick"], name="03_x")
    assert args.quick and args.seed == 0
    assert args.out == tmp_path / "lesson_out" / "03_x" and args.out.is_dir()


def test_non_utf8_stdout_does_not_crash(monkeypatch, tmp_path):
    buf = io.BytesIO()
    stream = io.TextIOWrapper(buf, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    lessonkit.parse_args(argv=["--out", str(tmp_path)], name="t")
    lessonkit.section("σ and μ ‖ ≥")
    lessonkit.say("KL(q ‖ p) ≥ 0")
    lessonkit.check("ρ = 0.9", 1.0, 1.0)
    lessonkit.check("bad", 1.0, 2.0)
    lessonkit.check_yourself(["Why is −½ log(1 − ρ²) ≥ 0?"])
    lessonkit.summary()
    stream.flush()
    text = buf.getvalue().decode("ascii")
    assert "? = 0.9: numerical=1 analytic=1 OK" in text
    assert "bad: numerical=1 analytic=2 FAIL" in text


def test_lesson_02_survives_an_ascii_terminal(monkeypatch, tmp_path):
    buf = io.BytesIO()
    stream = io.TextIOWrapper(buf, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    res = lessonkit.run_lesson(2, ["--quick", "--out", str(tmp_path)], lessons_dir=LESSONS)
    stream.flush()
    assert all(c.passed for c in res.values())
    assert " OK" in buf.getvalue().decode("ascii")


def test_savefig_writes_png_and_closes(tmp_path):
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    args = lessonkit.parse_args(argv=["--out", str(tmp_path)], name="t")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = lessonkit.savefig(fig, args, "line")
    assert path == tmp_path / "line.png" and path.is_file()
    assert not plt.fignum_exists(fig.number)


def test_lesson_run_accepts_a_name(tmp_path, capsys):
    """`numpyvae lesson run elbo` finds 04_elbo.py, as `numpyvae check softplus` takes names."""
    from numpyvae import cli
    assert cli.main(["lesson", "run", "elbo", "--quick", "--out", str(tmp_path)]) == 0
    assert "checks passed" in capsys.readouterr().out
    assert cli.main(["lesson", "run", "04_elbo", "--quick", "--out", str(tmp_path)]) == 0
    assert cli.main(["lesson", "run", "no-such-lesson", "--quick"]) == 2
    assert "no-such-lesson" in capsys.readouterr().err
