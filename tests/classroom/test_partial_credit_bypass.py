"""--partial-credit: a function that raises on some cases earns credit only for the cases that
ran, and is checked against the exact gradient there (a finite difference is not a backward
pass).  Before, raising on the hard cases and returning a finite difference on the rest got full
points."""
import json
import textwrap
from pathlib import Path

import pytest

from numpyvae.cli import main
from numpyvae.exercises import find_exercise, format_result, grade
from numpyvae.exercises import solutions as S

# raises on the cases with large inputs, numerically differentiates the rest
SOFTPLUS_FD = """
import numpy as np
def softplus_backward(dy, cache):
    if np.abs(cache).max() > 20: raise ValueError("skip")
    f = lambda t: np.log1p(np.exp(t)); h = 1e-5
    return dy * (f(cache + h) - f(cache - h)) / (2 * h)
"""
# raises on the cases with large inputs, the exact formula on the rest
SOFTPLUS_EXACT = """
import numpy as np
def softplus_backward(dy, cache):
    if np.abs(cache).max() > 20: raise ValueError("skip")
    return dy * 0.5 * (1.0 + np.tanh(0.5 * cache))
"""
SOFTPLUS_GOOD = """
import numpy as np
def softplus_backward(dy, cache):
    return dy * 0.5 * (1.0 + np.tanh(0.5 * cache))
"""
KL_FD = """
import numpy as np
def kl_std_normal_backward(dkl, cache):
    mu, var = cache
    if mu.shape[0] > 4: raise ValueError("skip")
    lv, h, d = np.log(var), 1e-5, dkl[:, None]
    f = lambda m, l: 0.5 * (np.exp(l) + m * m - 1.0 - l)
    return (d * (f(mu + h, lv) - f(mu - h, lv)) / (2 * h),
            d * (f(mu, lv + h) - f(mu, lv - h)) / (2 * h))
"""
KL_EXACT = """
import numpy as np
def kl_std_normal_backward(dkl, cache):
    mu, var = cache
    if mu.shape[0] > 4: raise ValueError("skip")
    return mu * dkl[:, None], 0.5 * (var - 1.0) * dkl[:, None]
"""
KL_GOOD = """
def kl_std_normal_backward(dkl, cache):
    mu, var = cache
    return mu * dkl[:, None], 0.5 * (var - 1.0) * dkl[:, None]
"""


def gradescope(tmp_path, capsys, number, source):
    path = tmp_path / f"{number}_student.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    out = tmp_path / "results.json"
    main(["check", number, "--file", str(path), "--gradescope", str(out), "--points", "4",
          "--partial-credit"])
    capsys.readouterr()
    return json.loads(Path(out).read_text())["tests"][0]


@pytest.mark.parametrize("number, source", [("03", SOFTPLUS_FD), ("03", SOFTPLUS_EXACT),
                                            ("06", KL_FD), ("06", KL_EXACT)],
                         ids=["softplus_fd", "softplus_exact", "kl_fd", "kl_exact"])
def test_raising_on_some_cases_never_gets_full_points(tmp_path, capsys, number, source):
    t = gradescope(tmp_path, capsys, number, source)
    assert t["output"].startswith("[error]") and t["status"] == "failed", t["output"]
    assert t["max_score"] == 4 and t["score"] < 4, t["output"]


@pytest.mark.parametrize("number, source", [("03", SOFTPLUS_FD), ("06", KL_FD)],
                         ids=["softplus", "kl"])
def test_finite_difference_is_checked_in_the_cases_that_ran(tmp_path, capsys, number, source):
    t = gradescope(tmp_path, capsys, number, source)
    assert t["score"] == 0, t["output"]
    assert "numerically differentiated" in t["output"]


def test_exact_where_it_ran_earns_only_those_cases(tmp_path, capsys):
    # one gradient, right in 3 of the 4 cases (the 4th has inputs of +-1000)
    t = gradescope(tmp_path, capsys, "03", SOFTPLUS_EXACT)
    assert t["score"] == pytest.approx(3.0), t["output"]


@pytest.mark.parametrize("number, source", [("03", SOFTPLUS_GOOD), ("06", KL_GOOD)],
                         ids=["softplus", "kl"])
def test_a_correct_solution_still_gets_full_points(tmp_path, capsys, number, source):
    t = gradescope(tmp_path, capsys, number, source)
    assert t["output"].startswith("[pass]") and t["score"] == t["max_score"] == 4, t["output"]


def test_in_process_the_raising_finite_difference_is_not_passed():
    ex = find_exercise("03")
    ns = {}
    exec(textwrap.dedent(SOFTPLUS_FD), ns)
    fns = {p.function: S.reference(p.function) for p in ex.parts}
    fns["softplus_backward"] = ns["softplus_backward"]
    result = grade(ex, fns)
    (c,) = result.checks
    assert result.status == "error" and not c.passed, format_result(result)
    assert c.diagnosis is not None and c.diagnosis.kind == "numerical"
