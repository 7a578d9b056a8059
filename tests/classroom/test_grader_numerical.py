"""The grader tells a backward pass written out by hand from a numerically differentiated one
(issue 24 item 4): a gradient must agree with the exact one to diagnosis.EXACT = 1e-12.  Every
correct analytic variant of tests/exercise_variants.py passes with a wide margin, every
brute-force central difference fails and is named, and no step h brings central differences of
a nonlinear gradient inside the tolerance."""
from __future__ import annotations

import types

import numpy as np
import pytest

from exercise_variants import NUMERICAL, VARIANTS
from hostile import ATTACKS

from numpyvae.exercises import EXERCISES, base, find_exercise, grade, grader
from numpyvae.exercises.diagnosis import EXACT
from numpyvae.gradcheck import rel_error

CASES = [(n, label) for n, vs in sorted(VARIANTS.items()) for label, _ in vs]


def _module(source):
    m = types.ModuleType("student_variant")
    exec(compile(source, "student_variant.py", "exec"), m.__dict__)
    return m


def test_at_least_three_correct_variants_per_exercise():
    assert {ex.number for ex in EXERCISES} == set(VARIANTS)
    assert all(len(v) >= 3 for v in VARIANTS.values())


@pytest.mark.parametrize("number, label", CASES, ids=[f"{n:02d} {lab}" for n, lab in CASES])
def test_correct_analytic_variant_passes_far_inside_the_exact_rule(number, label):
    source = dict(VARIANTS[number])[label]
    result = grade(find_exercise(number), _module(source))
    assert result.passed, [(c.name, c.diagnosis) for c in result.checks if not c.passed]
    worst = max(c.exact_error for c in result.checks)
    assert worst < EXACT / 100          # measured: at most 7.9e-16 over all 36 variants


NUMERICAL_FILES = {**NUMERICAL, 1: ATTACKS["numerical_gradient"][1]}


@pytest.mark.parametrize("number", sorted(NUMERICAL_FILES))
def test_brute_force_central_differences_are_named(number):
    result = grade(find_exercise(number), _module(NUMERICAL_FILES[number]))
    assert not result.passed
    kinds = {c.diagnosis.kind for c in result.checks if c.diagnosis is not None}
    assert kinds == {"numerical"}, kinds
    # they pass against central differences: only the exact rule catches them
    assert all(c.error < grader.THRESHOLD for c in result.checks)


# the gradients that are linear in what is perturbed: a central difference with a large step
# reproduces them exactly, so the numbers alone cannot tell (the exercises README says so)
LINEAR = {(1, "dx"), (1, "dW"), (1, "db"), (2, "dx:relu_backward"), (5, "dmean"), (6, "dmu"),
          (7, "dmu"), (8, "dmu"), (8, "dL"), (11, "terms:pathwise_terms"),
          (11, "terms:score_function_terms")}


def test_no_step_brings_central_differences_of_a_nonlinear_gradient_inside(monkeypatch):
    best = {}
    for h in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7):
        monkeypatch.setattr(base, "STEP", h)
        for ex in EXERCISES:
            cases = ex.cases(0)
            for part in ex.parts:
                for out in part.outputs:
                    worst = 0.0
                    for c in cases:
                        num = part.numerical(c)[out]
                        ref = grader._as_outputs(part.reference(
                            *(grader._copy_input(c.inputs[a]) for a in part.args)), part)[out]
                        worst = max(worst, rel_error(np.asarray(num), np.asarray(ref)))
                    key = (ex.number, out if len(ex.parts) == 1 else f"{out}:{part.function}")
                    best[key] = min(best.get(key, np.inf), worst)
    nonlinear = {k: v for k, v in best.items() if k not in LINEAR}
    assert min(nonlinear.values()) > 10 * EXACT, min(nonlinear.items(), key=lambda kv: kv[1])
    assert all(best[k] < EXACT for k in LINEAR if k in best)
    assert LINEAR <= set(best)
