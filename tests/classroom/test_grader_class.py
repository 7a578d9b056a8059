"""``numpyvae check class``: a class of 22 submissions (complete, partial, zipped, with
mistakes, hostile, a broken and an escaping zip) graded as an instructor would; every honest
part gets its grade, every hostile part 0, and the CSV, summary, figure and Gradescope files
are there."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from class_fixture import CLASS_MARKER, make_class

from numpyvae.exercises import EXERCISES
from numpyvae.exercises import classroom

EXE = [sys.executable, "-m", "numpyvae.cli"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    expected = make_class(base / "submissions")
    out = base / "grades"
    r = subprocess.run([*EXE, "check", "class", str(base / "submissions"), "--out", str(out),
                        "-j", "2", "--timeout", "6", "--budget", "900", "--points", "1,12=3"],
                       capture_output=True, text=True, timeout=1200, cwd=base)
    return expected, out, r


def test_every_honest_part_graded_right_and_every_hostile_part_zero(graded):
    expected, out, r = graded
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == set(expected)
    wrong = []
    for student, want in expected.items():
        for ex in EXERCISES:
            got = float(rows[student][ex.key]) > 0
            if got != want[ex.number]:
                wrong.append((student, ex.key, rows[student][f"{ex.key} status"],
                              rows[student][f"{ex.key} mistake"]))
    assert not wrong, wrong
    assert float(rows["complete0"]["total"]) == 11 + 3 == float(rows["complete0"]["max"])


def test_named_mistakes_reach_the_csv(graded):
    expected, out, r = graded
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["mistake_transpose"]["01_dense mistake"] == "transpose"
    assert rows["mistake_std_vs_variance"]["07_reparam mistake"] == "std_vs_variance"
    assert rows["hostile_numerical_gradient"]["01_dense mistake"] == "numerical"
    assert rows["partial0"]["12_vae status"] == "missing"
    assert rows["broken"]["01_dense status"] == "missing"


def test_summary_figure_and_one_gradescope_file_per_student(graded):
    expected, out, r = graded
    summary = {row["exercise"]: row for row in csv.DictReader((out / "summary.csv").open())}
    assert set(summary) == {ex.key for ex in EXERCISES}
    assert float(summary["01_dense"]["pass_rate"]) < 1
    assert {"pass_rate", "most_common_mistake"} <= set(summary["06_kl"])
    assert summary["06_kl"]["most_common_mistake"] in ("factor_2", "sign")
    assert (out / "histogram.png").stat().st_size > 10_000
    for student in expected:
        gs = json.loads((out / "results" / f"{student}.json").read_text())
        assert {"score", "tests"} <= set(gs) and len(gs["tests"]) == len(EXERCISES)
    assert json.loads((out / "results" / "hostile_forge_and_kill.json").read_text())[
        "tests"][2]["score"] == 0
    assert "students" in r.stdout and "most common mistake" in r.stdout


def test_nothing_left_running_and_nothing_escaped(graded, tmp_path_factory):
    expected, out, r = graded
    left = subprocess.run(["pgrep", "-f", CLASS_MARKER], capture_output=True, text=True).stdout
    assert not left.strip()
    base = out.parent
    assert not list(base.parent.glob("01_dense.py")) and not (base / "01_dense.py").exists()


def test_unsafe_zips_are_refused_with_a_reason(tmp_path):
    import zipfile
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("../evil.py", "x = 1\n")
    assert "unsafe path" in classroom.unpack(z, tmp_path / "dest")
    z.write_bytes(b"not a zip")
    assert "could not be read" in classroom.unpack(z, tmp_path / "dest")


def test_usage_errors(tmp_path):
    r = subprocess.run([*EXE, "check", "class", str(tmp_path / "nope"), "--out",
                        str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "SUBMISSIONS" in r.stderr
    r = subprocess.run([*EXE, "check", "class", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and "--out" in r.stderr


def test_a_budget_that_runs_out_is_not_success(tmp_path):
    for name in ("alice", "bob"):
        subprocess.run([*EXE, "exercises", "init", str(tmp_path / "class" / name)], check=True,
                       capture_output=True)
    r = subprocess.run([*EXE, "check", "class", str(tmp_path / "class"), "--out",
                        str(tmp_path / "g"), "--budget", "1.5"], capture_output=True, text=True)
    assert r.returncode == 1 and "NOT FINISHED" in r.stdout
    rows = list(csv.DictReader((tmp_path / "g" / "grades.csv").open()))
    assert any(row["12_vae status"] == "timeout" for row in rows)


def test_readme_student_and_instructor_commands_work_as_written(tmp_path):
    """The README's commands of its "Exercises and grading" section, pasted into a shell in an
    empty folder (the stubs are not started, so a check exits 1; nothing may crash)."""
    import os
    import re
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exercises and grading", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", section, re.S)
              if not b.startswith("#!")]                  # not the Gradescope script
    assert len(blocks) == 2
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for block in blocks:
        r = subprocess.run(["bash", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode in (0, 1) and "Traceback" not in r.stdout + r.stderr, \
            (block, r.stdout[-1500:], r.stderr[-1500:])
    assert (tmp_path / "grades" / "grades.csv").is_file()
    assert (tmp_path / "grades" / "results" / "alice.json").is_file()


@pytest.mark.parametrize("flags, word", [
    (["--memory", "3"], "--memory"), (["--timeout", "1e-320"], "--timeout"),
    (["--timeout", "nan"], "--timeout"), (["-j", "0"], "--jobs"), (["--budget", "inf"], "--budget"),
    (["--seed", "-1"], "--seed")])
def test_nonsense_limits_are_refused_with_their_range(flags, word, tmp_path):
    args = ["class", str(tmp_path), "--out", str(tmp_path / "o")] if word in ("--jobs", "--budget") \
        else ["03"]
    r = subprocess.run([*EXE, "check", *args, *flags], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr, r.stderr
