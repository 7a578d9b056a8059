"""The gradient-check exercises: stubs, grader, reference solutions, diagnoses, the CLI.

The grader's numerical gradients depend only on (exercise, seed), and are computed once per
process, so grading the many wrong implementations below costs little.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyvae.cli import main
from numpyvae.exercises import (
    EXERCISES,
    THRESHOLD,
    find_exercise,
    format_result,
    grade,
    grade_file,
    result_to_dict,
    solution_source,
)
from numpyvae.exercises import mistakes as M
from numpyvae.exercises import solutions as S
from numpyvae.exercises.ex12_vae import wrong_vae_backward
from numpyvae.exercises.grader import default_file, find_exercises_dir

STUBS = Path(__file__).resolve().parents[1] / "lessons" / "exercises"
IDS = [ex.key for ex in EXERCISES]


def write(tmp_path, name, source):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def check(*argv, capsys):
    """Run ``numpyvae check ...`` in-process -> (exit code, stdout, stderr)."""
    code = main(["check", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def with_reference(ex, **replace):
    """The reference functions of ``ex``, with some replaced."""
    return {p.function: replace.get(p.function, getattr(S, p.function)) for p in ex.parts}


# ------------------------------------------------------------------ the catalogue & stubs


def test_exercises_in_course_order_each_with_a_stub():
    assert [ex.number for ex in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    assert sorted(p.name for p in STUBS.glob("[0-9][0-9]_*.py")) == [ex.stub for ex in EXERCISES]


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_stub_functions_are_documented_and_raise_not_implemented(ex):
    from numpyvae.exercises.grader import load_module
    module = load_module(STUBS / ex.stub)
    for part in ex.parts:
        fn = getattr(module, part.function)
        doc = fn.__doc__ or ""
        assert "->" in doc or "Returns" in doc, part.function      # says what it returns
        assert "float64" in doc, part.function
        case = ex.cases()[0]
        with pytest.raises(NotImplementedError) as info:
            fn(*(case.inputs[a] for a in part.args))
        msg = str(info.value)
        assert msg.startswith(f"Exercise {ex.number:02d} ({ex.name}):")
        assert "not implemented yet" in msg and "hint:" in msg


def test_find_exercise_by_number_name_stem_alias_or_function():
    sp = find_exercise("softplus")
    for spec in ["3", "03", 3, "softplus", "03_softplus", "03_softplus.py", "SOFTPLUS",
                 "softplus_backward"]:
        assert find_exercise(spec) is sp
    assert find_exercise("full-cov").name == "full_cov"
    assert find_exercise("relu").name == "activations"
    with pytest.raises(ValueError, match="01 dense"):
        find_exercise("13")


def test_every_case_set_has_batch_size_one_and_several_shapes():
    for ex in EXERCISES:
        cases = ex.cases()
        assert len(cases) >= 3 and min(c.batch for c in cases) == 1, ex.name
        assert len({c.label for c in cases}) == len(cases)
        for c in cases:
            for v in c.inputs.values():
                arrays = v.values() if isinstance(v, dict) else [v]
                assert all(not isinstance(a, np.ndarray) or a.dtype == np.float64 for a in arrays)


# ------------------------------------------------------------------ reference solutions


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_reference_solution_passes_the_grader_from_a_file(ex, tmp_path, capsys):
    path = write(tmp_path, f"ref_{ex.name}.py", solution_source(ex))
    code, out, err = check(ex.number, "--file", path, capsys=capsys)
    assert code == 0, out + err
    assert "FAIL" not in out and "result: PASS" in out
    # float64 central differences on a correct gradient: about 1e-8 or (much) less; against
    # the exact gradient, float64 rounding
    result = grade_file(ex, path)
    assert result.passed and all(c.error < 1e-8 for c in result.checks)
    assert all(c.exact_error < 1e-14 for c in result.checks)


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_importing_the_reference_is_refused(ex, tmp_path):
    """Copying passes no more: the solutions (or the library's kernels) cannot be imported
    while a student's file runs, and the reason is given."""
    path = write(tmp_path, f"copy_{ex.name}.py", "from numpyvae.exercises.solutions import *\n")
    result = grade_file(ex, path)
    assert result.status == "error"
    assert "exercises must be your own code" in result.message


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_show_solution_prints_source_that_passes(ex, tmp_path, capsys):
    code, out, _ = check(ex.key, "--show-solution", capsys=capsys)
    assert code == 0
    for part in ex.parts:
        assert f"def {part.function}(" in out
    assert out.strip() == solution_source(ex).strip()
    path = write(tmp_path, "shown.py", out)            # the printed source is self-contained
    assert grade_file(ex, path).passed


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_passes_with_other_seeds(seed):
    for ex in EXERCISES:
        result = grade(ex, S, seed=seed)
        assert result.passed, format_result(result)


def _scaled_reference(part, factor):
    """The reference function of ``part`` with every returned gradient multiplied by factor."""
    def fn(*args):
        out = part.reference(*args)
        if isinstance(out, dict):
            return {k: factor * v for k, v in out.items()}
        if isinstance(out, tuple):
            return tuple(factor * v for v in out)
        return factor * out
    return fn


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1),
       variant=st.sampled_from([(-1.0, "sign"), (2.0, "factor_2"), (0.5, "factor_half")]))
def test_any_seed_reference_passes_and_scaled_reference_is_named(seed, variant):
    factor, kind = variant
    for ex in EXERCISES:
        assert grade(ex, S, seed=seed).passed
        wrong = grade(ex, {p.function: _scaled_reference(p, factor) for p in ex.parts}, seed=seed)
        assert wrong.status == "fail"
        for c in wrong.checks:
            assert not c.passed and c.diagnosis is not None and c.diagnosis.kind == kind, \
                (ex.name, c.name, c.diagnosis)


# -------------------------------------------------------------------------- the stubs


def test_stubs_as_shipped_are_not_implemented(capsys):
    code, out, _ = check("all", "--dir", STUBS, capsys=capsys)
    assert code != 0
    assert out.count("NOT IMPLEMENTED yet") == sum(len(ex.parts) for ex in EXERCISES)
    assert f"0 of {len(EXERCISES)} exercises pass" in out
    assert "Traceback" not in out
    for ex in EXERCISES:
        result = grade_file(ex, STUBS / ex.stub)
        assert result.status == "not-implemented"
        assert all(c.problem == "not implemented yet" and not c.passed for c in result.checks)


def test_running_a_stub_directly_grades_it(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(STUBS.parents[1]), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    proc = subprocess.run([sys.executable, str(STUBS / "06_kl.py")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Exercise 06 (kl): not implemented yet" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_one_stub_from_the_default_folder(capsys, monkeypatch):
    monkeypatch.setenv("NUMPYVAE_LESSONS", str(STUBS.parent))
    code, out, _ = check("03", capsys=capsys)
    assert code == 1
    assert "Exercise 03 (softplus): not implemented yet" in out
    assert "03_softplus.py" in out


# ------------------------------------------------------- mistakes: each fails, named right


@pytest.mark.parametrize("m", M.MISTAKES, ids=[m.name for m in M.MISTAKES])
def test_each_known_mistake_fails_and_is_named(m):
    ex = find_exercise(m.exercise)
    result = grade(ex, with_reference(ex, **{m.function: m.impl}))
    assert result.status in ("fail", "error")
    by_name = {c.gradient: c for c in result.checks if c.function == m.function}
    for gradient in m.affects:
        c = by_name[gradient]
        assert not c.passed
        assert c.diagnosis is not None and c.diagnosis.kind == m.kind, (gradient, c.diagnosis)
    if result.status == "fail":      # the outputs the mistake leaves alone still pass
        assert all(c.passed for c in result.checks if c.gradient not in m.affects
                   or c.function != m.function)


def test_every_exercise_has_known_mistakes_covering_the_main_kinds():
    for ex in EXERCISES:
        assert sum(len(p.mistakes) for p in ex.parts) >= 2, ex.name
    kinds = {m.kind for m in M.MISTAKES}
    assert {"transpose", "sign", "factor_2", "factor_half", "std_vs_variance", "wrong_axis",
            "missing_bias_grad"} <= kinds


# Hand-written wrong implementations, phrased differently from mistakes.py: the grader must
# name them from their values alone.

def _dense_dW_einsum_transposed(dy, cache):
    x, W = cache
    return dy @ W.T, np.einsum("nk,ni->ki", dy, x), dy.sum(axis=0)


def _dense_dx_transposed(dy, cache):
    x, W = cache
    return W @ dy.T, x.T @ dy, dy.sum(0)          # (D_in, N): dx transposed


def _dense_db_last_axis(dy, cache):
    x, W = cache
    return dy @ W.T, x.T @ dy, np.sum(dy, axis=-1)


def _dense_db_forgotten(dy, cache):
    x, W = cache
    return dy @ W.T, x.T @ dy, 0.0 * dy[0]


def _softplus_negated(dy, x):
    return -dy * 0.5 * (1 + np.tanh(x / 2))


def _softplus_doubled(dy, x):
    return 2 * dy * S.sigmoid(x)


def _bernoulli_averaged(dll, cache):
    x, logits = cache
    return (x - 0.5 * (1 + np.tanh(logits / 2))) * dll[..., None] / len(x)


def _gaussian_sqrt_variance(dll, cache):
    x, mean, logvar, inv_var = cache
    sigma = np.sqrt(np.exp(logvar))
    d = dll[..., None]
    return d * (x - mean) / sigma, d * (-0.5 + 0.5 * (x - mean) ** 2 / np.exp(logvar))


def _kl_std(dkl, cache):
    mu, var = cache
    return mu * dkl[:, None], dkl[:, None] * (np.sqrt(var) - 1.0) / 2


def _kl_half(dkl, cache):
    mu, var = cache
    return mu * dkl[:, None] / 2, 0.5 * (var - 1.0) * dkl[:, None]


def _reparam_variance(dz, cache):
    std, eps = cache
    t = 0.5 * std ** 2 * eps * dz
    return (dz if dz.ndim == 2 else dz.sum(0)) * 1.0, t if t.ndim == 2 else t.sum(0)


def _reparam_no_half(dz, cache):
    std, eps = cache
    t = dz * eps * std
    return (dz if dz.ndim == 2 else dz.sum(0)) + 0, t if t.ndim == 2 else t.sum(0)


def _full_cov_wrong_outer(dz, cache):
    L, eps = cache
    dL = np.tril(np.einsum("...nj,...ni->...nij", dz, eps))
    return (dz if dz.ndim == 2 else dz.sum(0)) * 1.0, dL if dL.ndim == 3 else dL.sum(0)


def _sparse_axis1(h, rho, beta):
    rho_hat = h.mean(axis=1, keepdims=True)
    g = beta * ((1 - rho) / (1 - rho_hat) - rho / rho_hat) / h.shape[1]
    return g * np.ones_like(h)


def _contractive_summed(x, W, b, lam):
    dW, db = S.contractive_penalty_grad(x, W, b, lam)
    return dW * x.shape[0], db * x.shape[0]


def _pathwise_half(theta, eps):
    return theta + eps


def _score_negated(theta, eps):
    return -((theta + eps) ** 2) * eps


def _vae_var(x, eps, params):
    return wrong_vae_backward(x, eps, params, std_vs_var=True)


HANDWRITTEN = [
    ("dense", "dense_backward", _dense_dW_einsum_transposed, {"dW": "transpose"}),
    ("dense", "dense_backward", _dense_dx_transposed, {"dx": "transpose"}),
    ("dense", "dense_backward", _dense_db_last_axis, {"db": "wrong_axis"}),
    ("dense", "dense_backward", _dense_db_forgotten, {"db": "missing_bias_grad"}),
    ("softplus", "softplus_backward", _softplus_negated, {"dx": "sign"}),
    ("softplus", "softplus_backward", _softplus_doubled, {"dx": "factor_2"}),
    ("bernoulli", "bernoulli_log_likelihood_backward", _bernoulli_averaged,
     {"dlogits": "batch_mean"}),
    ("gaussian", "gaussian_log_likelihood_backward", _gaussian_sqrt_variance,
     {"dmean": "std_vs_variance"}),
    ("kl", "kl_std_normal_backward", _kl_std, {"dlogvar": "std_vs_variance"}),
    ("kl", "kl_std_normal_backward", _kl_half, {"dmu": "factor_half"}),
    ("reparam", "gaussian_backward", _reparam_variance, {"dlogvar": "std_vs_variance"}),
    ("reparam", "gaussian_backward", _reparam_no_half, {"dlogvar": "factor_2"}),
    ("full_cov", "full_cov_backward", _full_cov_wrong_outer, {"dL": "transpose"}),
    ("sparse", "sparse_penalty_grad", _sparse_axis1, {"dh": "wrong_axis"}),
    ("contractive", "contractive_penalty_grad", _contractive_summed,
     {"dW": "batch_sum", "db": "batch_sum"}),
    ("estimators", "pathwise_terms", _pathwise_half, {"terms": "factor_half"}),
    ("estimators", "score_function_terms", _score_negated, {"terms": "sign"}),
    ("vae", "vae_backward", _vae_var, {"W_logvar": "std_vs_variance"}),
]


@pytest.mark.parametrize("name, function, impl, expected", HANDWRITTEN,
                         ids=[h[2].__name__ for h in HANDWRITTEN])
def test_handwritten_mistakes_are_named(name, function, impl, expected):
    ex = find_exercise(name)
    result = grade(ex, with_reference(ex, **{function: impl}))
    assert not result.passed
    got = {c.gradient: c for c in result.checks if c.function == function}
    for gradient, kind in expected.items():
        assert not got[gradient].passed
        assert got[gradient].diagnosis is not None, format_result(result)
        assert got[gradient].diagnosis.kind == kind, format_result(result)


def test_diagnosis_is_printed_with_the_failure(tmp_path, capsys):
    path = write(tmp_path, "my_dense.py", """
        import numpy as np
        def dense_backward(dy, cache):
            x, W = cache
            return dy @ W.T, dy.T @ x, np.zeros(dy.shape[1])
        """)
    code, out, _ = check("dense", "--file", path, capsys=capsys)
    assert code == 1
    assert "likely mistake (transpose)" in out
    assert "likely mistake (missing_bias_grad)" in out
    assert "has shape (2, 3), but should have shape (3, 2)" in out
    assert "FAIL" in out and f"{THRESHOLD:.0e}" in out


# ------------------------------------------------------- student code that misbehaves


def test_student_value_error_gives_a_trimmed_traceback(tmp_path, capsys):
    path = write(tmp_path, "raises.py", """
        import numpy as np

        def helper(x):
            raise ValueError("my own bug")

        def softplus_backward(dy, x):
            return helper(x)
        """)
    code, out, err = check("03", "--file", path, capsys=capsys)
    assert code == 1
    assert "raised ValueError" in out and "my own bug" in out
    assert "raises.py, line 5, in helper" in out and "raises.py, line 8" in out
    assert "Traceback" not in out + err and "grader.py" not in out + err


def test_missing_transpose_that_raises_gets_a_hint_and_still_a_diagnosis(tmp_path):
    path = write(tmp_path, "dense.py", """
        def dense_backward(dy, cache):
            x, W = cache
            return dy @ W, x.T @ dy, dy.sum(axis=0)
        """)
    result = grade_file(find_exercise(1), path)
    assert result.status == "error"
    text = format_result(result)
    assert "missing (or extra) transpose" in text
    dx = result.checks[0]
    assert dx.diagnosis.kind == "transpose"         # from the square case, where it ran
    # dW and db are right wherever the function returned: not FAIL because dx raised
    assert [c.passed for c in result.checks] == [False, True, True]


def test_wrong_shape_float32_and_nan_files_are_explained(tmp_path, capsys):
    bodies = {
        "shape": "(dy / (1 + np.exp(-x))).sum(axis=0)",
        "f32": "(dy / (1 + np.exp(-x))).astype(np.float32)",
        "nan": "dy * np.nan",
    }
    out = {}
    for name, body in bodies.items():
        path = write(tmp_path, f"{name}.py", f"""
            import numpy as np
            def softplus_backward(dy, x):
                return {body}
            """)
        code, out[name], err = check("softplus", "--file", path, capsys=capsys)
        assert code == 1 and "Traceback" not in out[name] + err
    assert "has shape (3,), but should have shape (1, 3)" in out["shape"]
    assert "has dtype float32" in out["f32"] and "needs float64" in out["f32"]
    assert "contains NaN or inf" in out["nan"]
    f32 = grade_file(find_exercise(3), tmp_path / "f32.py")
    assert f32.status == "fail" and f32.checks[0].error < 1e-6   # right values, wrong dtype


def test_wrong_number_or_kind_of_outputs(tmp_path):
    dense = find_exercise("dense")
    two = grade(dense, {"dense_backward": lambda dy, c: (dy @ c[1].T, c[0].T @ dy)})
    assert two.status == "error"
    assert "returned 2 values; expected 3" in two.parts[0].message
    assert "forget to return the bias gradient db" in two.parts[0].message
    assert all(not c.passed for c in two.checks)
    one = grade(dense, {"dense_backward": lambda dy, c: dy @ c[1].T})
    assert "expected a tuple of 3 arrays" in one.parts[0].message
    sp = grade(find_exercise("softplus"), {"softplus_backward": lambda dy, x: None})
    assert "returned None" in sp.parts[0].message
    lst = grade(find_exercise("softplus"), {"softplus_backward": lambda dy, x: [1.0]})
    assert "expected one numpy array dx" in lst.parts[0].message
    vae = grade(find_exercise("vae"), {"vae_backward": lambda x, eps, p: {"W1": p["W1"], "c": 1}})
    assert "missing keys" in vae.parts[0].message and "unexpected keys ['c']" in vae.parts[0].message


def test_missing_function_syntax_error_and_import_error(tmp_path, capsys):
    missing = write(tmp_path, "missing.py", "def softplus_backwards(dy, x):\n    return dy\n")
    code, out, _ = check("03", "--file", missing, capsys=capsys)
    assert code == 1 and "does not define a function softplus_backward" in out
    syntax = write(tmp_path, "syntax.py", "def softplus_backward(dy, x)\n    return dy\n")
    code, out, err = check("03", "--file", syntax, capsys=capsys)
    assert code == 1 and "syntax.py, line 1: SyntaxError" in out and "Traceback" not in out + err
    boom = write(tmp_path, "boom.py", "x = 1 / 0\n")
    code, out, _ = check("03", "--file", boom, capsys=capsys)
    assert code == 1 and "ZeroDivisionError" in out and "boom.py, line 1" in out
    code, _, err = check("03", "--file", tmp_path / "nope.py", capsys=capsys)
    assert code == 2 and "no such file" in err


def test_partly_implemented_exercise(tmp_path):
    path = write(tmp_path, "act.py", """
        import numpy as np
        def relu_backward(dy, y):
            return dy * (y > 0)
        def tanh_backward(dy, x):
            raise NotImplementedError("Exercise 02 (activations): tanh not yet")
        def sigmoid_backward(dy, x):
            raise NotImplementedError
        """)
    result = grade_file(find_exercise(2), path)
    assert [p.status for p in result.parts] == ["pass", "not-implemented", "not-implemented"]
    assert result.status == "not-implemented" and not result.passed


def test_input_mutation_and_warnings_are_noted_not_failed():
    def softplus_backward(dy, x):
        dy *= 1.0 / (1.0 + np.exp(-x))        # in place: the caller's dy is destroyed
        np.exp(np.array([1000.0]))            # an overflow warning
        return dy
    result = grade(find_exercise(3), {"softplus_backward": softplus_backward})
    assert result.passed
    notes = " ".join(result.parts[0].notes)
    assert "changed its argument 'dy' in place" in notes and "overflow" in notes


def test_student_modules_do_not_leak(tmp_path):
    before = set(sys.modules)
    path = write(tmp_path, "s.py", solution_source(find_exercise(3)))
    assert grade_file(find_exercise(3), path).passed
    assert not [m for m in set(sys.modules) - before if "student" in m]


# ------------------------------------------------------------------------- JSON, all


def test_json_output_has_the_documented_fields(tmp_path, capsys):
    path = write(tmp_path, "neg.py", """
        import numpy as np
        def kl_std_normal_backward(dkl, cache):
            mu, var = cache
            return -mu * dkl[:, None], 0.5 * (var - 1) * dkl[:, None]
        """)
    out_json = tmp_path / "r.json"
    code, _, _ = check("kl", "--file", path, "--json", out_json, capsys=capsys)
    assert code == 1
    data = json.loads(out_json.read_text())
    assert data["exercise"] == "06_kl" and data["passed"] is False and data["status"] == "fail"
    assert data["threshold"] == THRESHOLD
    checks = {c["name"]: c for c in data["checks"]}
    assert set(checks) == {"kl_std_normal_backward:dmu", "kl_std_normal_backward:dlogvar"}
    for c in checks.values():
        assert {"name", "error", "threshold", "passed", "worst_index", "diagnosis"} <= set(c)
    dmu = checks["kl_std_normal_backward:dmu"]
    assert dmu["passed"] is False and dmu["error"] > 1 and isinstance(dmu["worst_index"], list)
    assert dmu["diagnosis"]["kind"] == "sign" and dmu["diagnosis"]["message"]
    assert checks["kl_std_normal_backward:dlogvar"]["passed"] is True
    assert checks["kl_std_normal_backward:dlogvar"]["diagnosis"] is None


def test_json_for_all_is_strict_json_and_stdout_mode(tmp_path, capsys):
    out_json = tmp_path / "all.json"
    code, _, _ = check("all", "--dir", STUBS, "--json", out_json, capsys=capsys)
    assert code == 1
    data = json.loads(out_json.read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert data["passed"] is False and len(data["exercises"]) == len(EXERCISES)
    assert {e["status"] for e in data["exercises"]} == {"not-implemented"}
    assert all(c["error"] is None for e in data["exercises"] for c in e["checks"])
    code, out, _ = check("03", "--dir", STUBS, "--json", "-", capsys=capsys)
    assert json.loads(out)["exercise"] == "03_softplus"        # stdout holds only the JSON


def test_all_runs_every_exercise_and_passes_on_solutions(tmp_path, capsys):
    for ex in EXERCISES:
        write(tmp_path, ex.stub, solution_source(ex))
    code, out, _ = check("all", "--dir", tmp_path, capsys=capsys)
    assert code == 0, out
    assert f"{len(EXERCISES)} of {len(EXERCISES)} exercises pass" in out
    for ex in EXERCISES:
        assert f"Exercise {ex.number:02d} ({ex.name})" in out
    data = [result_to_dict(grade(ex, S)) for ex in EXERCISES]
    assert all(d["passed"] for d in data)


def test_usage_errors_exit_2(capsys):
    code, _, err = check("nonsense", capsys=capsys)
    assert code == 2 and "no exercise 'nonsense'" in err
    code, _, err = check("all", "--file", "x.py", capsys=capsys)
    assert code == 2 and "--dir" in err
    code, out, _ = check("list", capsys=capsys)
    assert code == 0 and "12  vae" in out


def test_lessons_folder_lookup(tmp_path, monkeypatch):
    (tmp_path / "lessons" / "exercises").mkdir(parents=True)
    write(tmp_path / "lessons" / "exercises", "03_mine.py", "")
    monkeypatch.delenv("NUMPYVAE_LESSONS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_exercises_dir() == tmp_path / "lessons" / "exercises"
    assert default_file(find_exercise(3)).name == "03_mine.py"     # any NN_*.py will do
    monkeypatch.setenv("NUMPYVAE_LESSONS", str(STUBS.parent))
    assert find_exercises_dir() == STUBS
    with pytest.raises(FileNotFoundError, match="no such directory"):
        find_exercises_dir(tmp_path / "nowhere")
