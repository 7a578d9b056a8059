"""``numpyvae check``: grade a gradient-check exercise.

    numpyvae check 03                         lessons/exercises/03_softplus.py
    numpyvae check softplus --file my.py      a student's copy
    numpyvae check all [--dir DIR]            every exercise (the files NN_name.py in DIR)
    numpyvae check list                       the exercises
    numpyvae check 03 --json result.json      machine-readable result for an autograder
    numpyvae check 03 --show-solution         the reference solution (for instructors)

Exit status: 0 when every gradient passes, 1 when any fails (or is not implemented yet),
2 for a usage error (unknown exercise, missing file).
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

HELP = "grade a gradient-check exercise (numpyvae check 03 --file my_softplus.py)"


def add_arguments(parser):
    parser.add_argument(
        "exercise", metavar="EXERCISE",
        help="number (3 or 03), name (softplus) or file stem (03_softplus) of the exercise; "
             "'all' for every exercise, 'list' to list them")
    parser.add_argument("--file", metavar="PATH",
                        help="the student's file (default: NN_name.py in the exercises folder)")
    parser.add_argument("--dir", metavar="DIR",
                        help="folder holding the student's NN_name.py files (default: "
                             "$NUMPYVAE_LESSONS/exercises, else ./lessons/exercises, else the "
                             "source checkout's lessons/exercises)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the result as JSON to PATH ('-' for stdout)")
    parser.add_argument("--show-solution", action="store_true",
                        help="print the reference solution instead of grading (instructors)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random test inputs (default 0)")


def _print(text=""):
    """print, replacing what the terminal's encoding cannot show (σ, —, ε on a Latin-1 or
    ASCII console) instead of crashing."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = text.encode(encoding, errors="replace").decode(encoding)
    print(text)


def _write_json(path, data):
    text = json.dumps(data, indent=2, allow_nan=False)
    if path == "-":
        _print(text)
        return
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"--json {path}: the folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args):
    from ..exercises import catalogue, grader

    spec = args.exercise.strip().lower()
    if spec == "list":
        for ex in catalogue.EXERCISES:
            fns = ", ".join(p.function for p in ex.parts)
            _print(f"{ex.number:02d}  {ex.name:<12} {ex.title}   [{fns}]")
        return 0
    if spec == "all":
        if args.file:
            raise ValueError("--file names one student file; with 'all' use --dir DIR")
        exercises = list(catalogue.EXERCISES)
    else:
        exercises = [catalogue.find_exercise(args.exercise)]

    if args.show_solution:
        for i, ex in enumerate(exercises):
            if i:
                _print("\n")
            _print(grader.solution_source(ex))
        return 0

    results = []
    for i, ex in enumerate(exercises):
        path = Path(args.file) if args.file else grader.default_file(ex, args.dir)
        if not path.is_file():
            raise FileNotFoundError(f"--file {path}: no such file")
        if args.json == "-":       # stdout carries only the JSON: students' prints go to stderr
            with contextlib.redirect_stdout(sys.stderr):
                result = grader.grade_file(ex, path, seed=args.seed)
        else:
            result = grader.grade_file(ex, path, seed=args.seed)
        results.append(result)
        if args.json != "-":
            if i:
                _print("\n" + "-" * 72)
            _print(grader.format_result(result))

    if len(results) > 1 and args.json != "-":
        _print("\n" + "=" * 72)
        for r in results:
            _print(f"  {r.exercise.number:02d} {r.exercise.name:<12} "
                   f"{grader._STATUS_WORD[r.status]}")
        n_pass = sum(r.passed for r in results)
        _print(f"  {n_pass} of {len(results)} exercises pass")

    if args.json:
        if spec == "all":
            data = {"passed": all(r.passed for r in results), "seed": args.seed,
                    "exercises": [grader.result_to_dict(r) for r in results]}
        else:
            data = grader.result_to_dict(results[0])
        _write_json(args.json, data)
    return 0 if all(r.passed for r in results) else 1
