"""One student's odd submission never stops the class (a red team's findings): a folder named
like an exercise (from a zip), a dangling link, a link to another student's file or a linked
student folder is that student's result, with the reason; every other student is graded and
grades.csv is written.  No symbolic link is ever followed, in ``check NN --file`` either."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile

import pytest

from numpyvae.exercises import EXERCISES, find_exercise, grade_file, grader

EXE = [sys.executable, "-m", "numpyvae.cli"]
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")
SOFTPLUS = find_exercise(3)


def workspace(folder):
    """A correct student: ``numpyvae exercises init``, then the reference solutions."""
    subprocess.run([*EXE, "exercises", "init", str(folder)], check=True, capture_output=True,
                   env=ENV)
    for ex in EXERCISES:
        (folder / ex.stub).write_text(grader.solution_source(ex), encoding="utf-8")


def grade(submissions, out):
    r = subprocess.run([*EXE, "check", "class", str(submissions), "--out", str(out), "-j", "2",
                        "--budget", "120"], capture_output=True, text=True, env=ENV,
                       timeout=600)
    assert (out / "grades.csv").is_file(), r.stdout[-2000:] + r.stderr[-2000:]
    assert (out / "summary.csv").is_file() and (out / "results" / "bob.json").is_file()
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    return {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}


def told(out, student, ex=SOFTPLUS):
    """What the student's Gradescope file says about exercise ``ex``."""
    tests = json.loads((out / "results" / f"{student}.json").read_text())["tests"]
    return tests[ex.number - 1]["output"]


@pytest.fixture
def bob(tmp_path):
    workspace(tmp_path / "C" / "bob")
    return tmp_path / "C"


def test_a_folder_named_like_an_exercise_in_a_zip(bob, tmp_path):
    with zipfile.ZipFile(bob / "eve.zip", "w") as z:
        z.writestr("03_softplus.py/x.py", "x = 1\n")
    rows = grade(bob, tmp_path / "G")
    assert float(rows["bob"]["total"]) == len(EXERCISES)
    assert rows["eve"]["03_softplus status"] == "missing" and float(rows["eve"]["total"]) == 0
    assert "eve.zip/03_softplus.py: is a folder" in told(tmp_path / "G", "eve")


def test_a_dangling_link(bob, tmp_path):
    carol = bob / "carol"
    carol.mkdir()
    (carol / "01_dense.py").write_text(grader.solution_source(find_exercise(1)))
    (carol / "03_mine.py").symlink_to(tmp_path / "nowhere.py")
    rows = grade(bob, tmp_path / "G")
    assert float(rows["bob"]["total"]) == len(EXERCISES)
    assert rows["carol"]["01_dense status"] == "pass"
    assert rows["carol"]["03_softplus status"] == "missing"
    assert "03_mine.py: is a symbolic link" in told(tmp_path / "G", "carol")


@pytest.mark.parametrize("name", ["03_softplus.py", "03_mine.py"])
def test_a_link_to_another_students_file_is_not_their_grade(name, bob, tmp_path):
    alice = bob / "alice"
    alice.mkdir()
    (alice / name).symlink_to(os.path.join("..", "bob", "03_softplus.py"))
    rows = grade(bob, tmp_path / "G")
    assert rows["bob"]["03_softplus status"] == "pass"
    assert rows["alice"]["03_softplus status"] != "pass"
    assert float(rows["alice"]["03_softplus"]) == 0 and float(rows["alice"]["total"]) == 0
    assert f"{name}: is a symbolic link" in told(tmp_path / "G", "alice")


def test_a_linked_student_folder_is_refused_not_followed(bob, tmp_path):
    (bob / "mallory").symlink_to("bob", target_is_directory=True)
    rows = grade(bob, tmp_path / "G")
    assert float(rows["bob"]["total"]) == len(EXERCISES)
    assert float(rows["mallory"]["total"]) == 0
    assert {rows["mallory"][f"{ex.key} status"] for ex in EXERCISES} == {"missing"}
    assert "mallory is a symbolic link" in told(tmp_path / "G", "mallory")


def test_check_file_refuses_a_link_naming_it(tmp_path):
    real = tmp_path / "real.py"
    real.write_text(grader.solution_source(SOFTPLUS))
    link = tmp_path / "link.py"
    link.symlink_to(real)
    r = subprocess.run([*EXE, "check", "03", "--file", str(link)], capture_output=True,
                       text=True, env=ENV, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert f"{link}: is a symbolic link" in r.stderr and "PASS" not in r.stdout
    with pytest.raises(FileNotFoundError, match="symbolic link"):
        grade_file(SOFTPLUS, link)
    with pytest.raises(FileNotFoundError, match="is a folder"):
        grade_file(SOFTPLUS, tmp_path)
    assert grade_file(SOFTPLUS, real).passed
