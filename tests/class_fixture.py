"""A class of 22 submissions for ``numpyvae check class``: complete, partial, zipped, with
mistakes, and hostile.  ``make_class(root) -> {student: {exercise number: passes?}}`` is the
grade every honest part must get; the hostile parts must get 0 and leave the rest alone.
"""
from __future__ import annotations

import textwrap
import zipfile
from pathlib import Path

from hostile import ATTACKS, MARKER

CLASS_MARKER = MARKER + "-class"        # the class's own, apart from other tests' attacks

from numpyvae.exercises import EXERCISES, solution_source

NUMBERS = [ex.number for ex in EXERCISES]
STUB = {ex.number: ex.stub for ex in EXERCISES}

MISTAKES = {        # (exercise, a student's wrong file)
    "transpose": (1, """
        def dense_backward(dy, cache):
            x, W = cache
            return dy @ W.T, dy.T @ x, dy.sum(axis=0)
        """),
    "sign": (3, """
        import numpy as np
        def softplus_backward(dy, cache):
            return dy * 0.5 * (1 + np.tanh(-0.5 * cache))
        """),
    "factor_2": (6, """
        def kl_std_normal_backward(dkl, cache):
            mu, var = cache
            return mu * dkl[:, None], (var - 1) * dkl[:, None]
        """),
    "std_vs_variance": (7, """
        def gaussian_backward(dz, cache):
            std, eps = cache
            g = dz * eps * 0.5 * std * std
            return (dz.sum(0), g.sum(0)) if dz.ndim == 3 else (dz.copy(), g)
        """),
    "sign_06": (6, """
        def kl_std_normal_backward(dkl, cache):
            mu, var = cache
            return mu * dkl[:, None], 0.5 * (var + 1) * dkl[:, None]
        """),
}


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for number, source in files.items():
        (folder / STUB[number]).write_text(textwrap.dedent(source), encoding="utf-8")


def _zip(folder, target, prefix=""):
    with zipfile.ZipFile(target, "w") as z:
        for p in sorted(folder.rglob("*.py")):
            z.write(p, prefix + str(p.relative_to(folder)))


def make_class(root):
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = root.parent / (root.name + "-staging")
    good = {n: solution_source(ex) for n, ex in zip(NUMBERS, EXERCISES, strict=True)}
    expected = {}

    def student(name, files, zipped=False, prefix=""):
        if zipped:
            _write(staging / name, files)
            _zip(staging / name, root / f"{name}.zip", prefix)
        else:
            _write(root / name / prefix, files)
        expected[name] = {n: False for n in NUMBERS}

    for i in range(4):                                          # complete and right
        name = f"complete{i}"
        student(name, good, zipped=(i == 1), prefix="hw/" if i == 2 else "")
        expected[name] = {n: True for n in NUMBERS}
    for i, subset in enumerate(([1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8], [12], [9, 10, 11])):
        name = f"partial{i}"                                    # some exercises only
        student(name, {n: good[n] for n in subset}, zipped=(i == 3))
        expected[name] = {n: n in subset for n in NUMBERS}
    for i, (kind, (number, source)) in enumerate(sorted(MISTAKES.items())):
        name = f"mistake_{kind}"                                # right but for one mistake
        student(name, {**good, number: source}, zipped=(i == 0))
        expected[name] = {n: n != number for n in NUMBERS}
    for attack in ("forge_and_kill", "sigstop_parent", "malformed_answer", "import_solutions",
                   "numerical_gradient", "daemon", "fork_bomb", "patch_installed_package"):
        number, source = ATTACKS[attack]                        # right but for one attack
        name = f"hostile_{attack}"
        student(name, {**good, number: source.replace(MARKER, CLASS_MARKER)})
        expected[name] = {n: n != number for n in NUMBERS}
    (root / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    expected["broken"] = {n: False for n in NUMBERS}
    with zipfile.ZipFile(root / "escaper.zip", "w") as z:      # a path out of its folder
        z.writestr("../../01_dense.py", good[1])
    expected["escaper"] = {n: False for n in NUMBERS}
    return expected
