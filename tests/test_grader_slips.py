"""The student-facing slips of issue 24, each as a student writes it: a diagnosis that was
wrong or missing, a display that contradicted itself, a hint that was not given, the stub's own
command grading the wrong file, and ``check train`` silent for ten minutes."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from numpyvae.commands import check_train as T
from numpyvae.exercises import find_exercise, grade_file, solution_source
from numpyvae.exercises.report import format_result

EXE = [sys.executable, "-m", "numpyvae.cli"]


def _grade(tmp_path, number, source, name="student.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return grade_file(find_exercise(number), path)


def _kinds(result):
    return {c.gradient: c.diagnosis.kind if c.diagnosis else None
            for c in result.checks if not c.passed}


# each: (exercise, student's code, {gradient: the kind the grader must name})
SLIPS = {
    "07 averages the samples": (7, """
        def gaussian_backward(dz, cache):
            std, eps = cache
            if dz.ndim == 3:
                return dz.mean(axis=0), (dz * eps).mean(axis=0) * 0.5 * std
            return dz.copy(), dz * eps * 0.5 * std
        """, {"dmu": "sample_axis", "dlogvar": "sample_axis"}),
    "07 sums the last axis": (7, """
        def gaussian_backward(dz, cache):
            std, eps = cache
            g = dz * eps * 0.5 * std
            if dz.ndim == 3:
                return dz.sum(axis=-1), g.sum(axis=-1)
            return dz.copy(), g
        """, {"dmu": "wrong_axis", "dlogvar": "wrong_axis"}),
    "07 forgets eps": (7, """
        def gaussian_backward(dz, cache):
            std, eps = cache
            g = dz * 0.5 * std
            return (dz.sum(axis=0), g.sum(axis=0)) if dz.ndim == 3 else (dz.copy(), g)
        """, {"dlogvar": "missing_term"}),
    "06 broadcasts dkl into dlogvar": (6, """
        def kl_std_normal_backward(dkl, cache):
            mu, var = cache
            return mu * dkl[:, None], 0.5 * (var - 1) * dkl
        """, {"dlogvar": "broadcast"}),
    "03 forgets dy": (3, """
        import numpy as np
        def softplus_backward(dy, cache):
            return 0.5 * (1 + np.tanh(0.5 * cache))
        """, {"dx": "missing_upstream"}),
}


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_the_mistake_is_named_right(name, tmp_path):
    number, source, expected = SLIPS[name]
    result = _grade(tmp_path, number, source)
    assert result.status in ("fail", "error")
    kinds = _kinds(result)
    for gradient, kind in expected.items():
        assert kinds.get(gradient) == kind, (kinds, format_result(result))
    assert "batch_size_one" not in kinds.values()


def test_batch_size_one_is_only_said_when_every_larger_case_fails(tmp_path):
    """A right-for-N=1-only result still gets its diagnosis (the rule is not dropped)."""
    result = _grade(tmp_path, 1, """
        def dense_backward(dy, cache):
            x, W = cache
            return dy @ W.T, x.T @ dy, dy.sum(axis=0) / dy.shape[0] ** 2
        """)
    assert _kinds(result)["db"].startswith("batch")


def test_float32_result_says_why_it_fails(tmp_path):
    result = _grade(tmp_path, 3, """
        import numpy as np
        def softplus_backward(dy, cache):
            s = 0.5 * (1 + np.tanh(0.5 * cache.astype(np.float32)))
            return dy * s
        """)
    text = format_result(result)
    row = next(line for line in text.splitlines() if line.strip().startswith("dx "))
    assert "FAIL: exact" in row and "> 1e-12" in row, row      # not a bare FAIL beside 1e-06
    assert _kinds(result)["dx"] == "precision"


def test_latin1_file_gets_a_save_as_utf8_hint(tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes('"""Exercise 03, by André"""\ndef softplus_backward(dy, cache):\n'
                     '    return dy\n'.encode("latin-1"))
    result = grade_file(find_exercise(3), path)
    assert result.status == "error" and "save it as UTF-8" in result.message


def test_stub_header_command_grades_the_workspace_file(tmp_path):
    """``numpyvae check 03`` inside the student's workspace grades that file."""
    ws = tmp_path / "ws"
    subprocess.run([*EXE, "exercises", "init", str(ws)], check=True, capture_output=True)
    (ws / "03_softplus.py").write_text(solution_source(find_exercise(3)), encoding="utf-8")
    r = subprocess.run([*EXE, "check", "03"], cwd=ws, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "file: 03_softplus.py" in r.stdout and "result: PASS" in r.stdout


def test_check_train_names_a_file_that_hangs_at_import(tmp_path, monkeypatch):
    d = tmp_path / "ws"
    d.mkdir()
    (d / "01_dense.py").write_text("import time\ntime.sleep(600)\n"
                                   + solution_source(find_exercise(1)))
    (d / "02_activations.py").write_text(solution_source(find_exercise(2)))
    monkeypatch.setattr(T, "IMPORT_SECONDS", 2)
    lines = []
    result = T.check_train(d, steps=3, config={"activation": "relu"}, figure=None,
                           log=lines.append)
    dense = result["functions"]["dense_backward"]
    assert dense["source"] == "library" and "time-out" in dense["status"], dense
    assert result["functions"]["relu_backward"]["source"] == "student"
    assert any("training with your functions" in line for line in lines)   # progress


def test_check_train_names_a_whole_run_time_out(tmp_path, monkeypatch):
    d = tmp_path / "ws"
    d.mkdir()
    (d / "02_activations.py").write_text(textwrap.dedent("""
        import time
        def relu_backward(dy, cache):
            if dy.shape[0] > 50:      # the training loop's batches, not the probe
                time.sleep(600)
            return dy * (cache > 0)
        """))
    monkeypatch.setattr(T, "CHILD_TIMEOUT", 8.0)
    lines = []
    result = T.check_train(d, steps=3, config={"activation": "relu"}, figure=None,
                           log=lines.append)
    assert result["timeout"] and not result["agree"]
    assert any("result: TIMEOUT" in line for line in lines)
    assert any("time limit of 8 s" in line for line in lines)


def test_threshold_and_exact_rule_agree_with_the_docs():
    from numpyvae.exercises.diagnosis import EXACT, FLOAT32_FLOOR
    assert EXACT == 1e-12 and EXACT < FLOAT32_FLOOR


@pytest.fixture(autouse=True)
def _one_blas_thread(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
