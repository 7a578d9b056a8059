"""The catalogue of exercises: one module per exercise (``exNN_name.py``), found here by its file
name, so a new exercise is one new module.  Each library-backed part says which model of the VAE
calls it (:class:`numpyvae.exercises.base.Part`'s ``model``): :func:`library_parts` is the one table
of the kernels a student can replace, read by ``numpyvae check train`` and the tests.

Each exercise module holds everything about one exercise: the stub file it grades
(``lessons/exercises/NN_name.py``), its test cases, the grader's own forward pass (the ground
truth of every numerical gradient, in float64, perturbed one entry at a time by
:func:`numpyvae.gradcheck.numerical_gradient`), its reference -- the library's own kernel
wherever one exists, so that a student's function has the library's signature and can stand in
for it in the real VAE (``numpyvae check train``) -- and its known mistakes with their
diagnoses.

Inputs are drawn from a ``numpy.random.Generator`` seeded with ``(seed, exercise number)``, so a
run is reproducible.  Every exercise but 11 has a case with batch size 1 (with several entries, so that
the relative error is not measured against a single, possibly tiny, gradient entry), a "square"
case (equal sizes, so that a transposed or wrongly-summed result has the right shape and can be
recognised by its values) and cases with odd sizes; the kernels the VAE calls with S samples per
example (04, 05, 07, 08) have a case with a sample axis.  Exercise 11's per-sample terms have one
axis, S = 1, 4 and 50.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from .base import STEP, THRESHOLD, Case, Exercise, Part
from .ex12_vae import VAE_KEYS, vae_init, vae_loss

# every module exNN_name.py of this package, in course order: an exercise is one more file
MODULES = tuple(importlib.import_module(f"{__package__}.{m.name}")
                for m in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]),
                                key=lambda m: m.name)
                if re.fullmatch(r"ex\d\d_\w+", m.name))
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
