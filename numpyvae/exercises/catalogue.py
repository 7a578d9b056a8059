"""The catalogue of exercises: one module per exercise (``exNN_name.py``), listed here.

Each exercise module holds everything about one exercise: the stub file it grades
(``lessons/exercises/NN_name.py``), its test cases, the grader's own forward pass (the ground
truth of every numerical gradient, in float64, perturbed one entry at a time by
:func:`numpyvae.gradcheck.numerical_gradient`), its reference -- the library's own kernel
wherever one exists, so that a student's function has the library's signature and can stand in
for it in the real VAE (``numpyvae check train``) -- and its known mistakes with their
diagnoses.

Inputs are drawn from a ``numpy.random.Generator`` seeded with ``(seed, exercise number)``, so a
run is reproducible.  Every exercise has a case with batch size 1 (with several entries, so that
the relative error is not measured against a single, possibly tiny, gradient entry), a "square"
case (equal sizes, so that a transposed or wrongly-summed result has the right shape and can be
recognised by its values) and cases with odd sizes; the kernels the VAE calls with S samples per
example (04, 05, 07, 08) have a case with a sample axis.
"""
from __future__ import annotations

from . import (
    ex01_dense,
    ex02_activations,
    ex03_softplus,
    ex04_bernoulli,
    ex05_gaussian,
    ex06_kl,
    ex07_reparam,
    ex08_full_cov,
    ex09_sparse,
    ex10_contractive,
    ex11_estimators,
    ex12_vae,
)
from .base import STEP, THRESHOLD, Case, Exercise, Part
from .ex12_vae import VAE_KEYS, vae_init, vae_loss

MODULES = (ex01_dense, ex02_activations, ex03_softplus, ex04_bernoulli, ex05_gaussian, ex06_kl,
           ex07_reparam, ex08_full_cov, ex09_sparse, ex10_contractive, ex11_estimators, ex12_vae)
EXERCISES = tuple(m.EXERCISE for m in MODULES)

for _m, _ex in zip(MODULES, EXERCISES):     # the module's STUB names the file the grader reads
    assert _m.STUB == _ex.stub, (_m.STUB, _ex.stub)


def _norm(s):
    return str(s).strip().lower().replace("-", "_").removesuffix(".py")


def find_exercise(spec):
    """The exercise named by ``spec``: its number (``3``, ``"03"``), name (``"softplus"``),
    file stem (``"03_softplus"``), an alias or one of its function names.
    Raises ValueError listing the exercises when nothing matches."""
    key = _norm(spec)
    for ex in EXERCISES:
        names = {ex.name, ex.key, *ex.aliases, *(p.function for p in ex.parts)}
        if key in names or (key.isdigit() and int(key) == ex.number):
            return ex
    listing = ", ".join(f"{ex.number:02d} {ex.name}" for ex in EXERCISES)
    raise ValueError(f"no exercise {spec!r}; the exercises are: {listing} (or 'all')")


def library_parts():
    """The parts that replace a library kernel: [(exercise, part)], in course order."""
    return [(ex, p) for ex in EXERCISES for p in ex.parts if p.library]


__all__ = ["EXERCISES", "MODULES", "THRESHOLD", "STEP", "Case", "Part", "Exercise",
           "find_exercise", "library_parts", "VAE_KEYS", "vae_init", "vae_loss"]
