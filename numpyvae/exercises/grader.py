"""The grader: run a student's backward pass on random float64 inputs, compare every gradient
with central differences, and name the likely mistake when a gradient is wrong.

    result = grade_file(find_exercise("03"), "my_softplus.py")
    print(format_result(result));  result.passed;  result_to_dict(result)   # for --json

For every gradient the grader reports the worst relative error over all cases
(:func:`numpyvae.gradcheck.rel_error`: the worst entry's error against the size of the whole
gradient), the index of that entry and the case it came from, and PASS when the error is below
the threshold 1e-6 and (where every case ran) the result agrees with the exact reference to 1e-12
(``diagnosis.EXACT``; else it is named ``numerical`` or ``precision``).  A correct float64 gradient
shows about 1e-8 or less against central differences.

Diagnosis.  When a gradient fails, the grader compares the student's result with

1. the known-wrong implementations of :mod:`numpyvae.exercises.mistakes` (run on the same
   inputs), then
2. generic variants of the reference gradient ``ref``: ``-ref`` (sign), ``2 ref`` and
   ``ref / 2`` (factor), the transpose (last two axes), ``ref / N`` and ``N ref`` (batch
   mean versus sum) and zeros,
3. a known mistake with one generic variant on top; then NaN/inf where the true gradient is
   finite (overflow), a float32 or numerically differentiated result (precision, numerical), and
   a result right only at N = 1 (:mod:`numpyvae.exercises.diagnosis`),

and names the first one that matches (relative error below the threshold) in every case where
the student's result is wrong, provided it differs from the correct gradient there.  A variant
may have a different shape from the correct gradient (``dy.sum(axis=1)``, ``dy.T @ x``), so a
wrongly-shaped result can be diagnosed as well.

Nothing a student's function does escapes as a traceback from the grader: exceptions,
missing functions, wrong numbers or types of outputs, wrong shapes and dtypes become messages,
with the student's own traceback lines (from their file) where that helps.

Isolation.  :func:`grade_file` never imports the student's file in this process: a child process
(:mod:`numpyvae.exercises.sandbox`) imports it, calls its functions on the cases sent to it and
returns only their return values; the cases, the central differences and the verdict are
computed here.  The child has a time limit (``timeout``, default 60 s for the whole exercise)
and, where the OS offers one, a memory limit (``memory_mb``).  So ``sys.exit``, ``os._exit``,
an endless loop, patching numpyvae or raising ``BaseException`` gives an error or a timeout,
never a pass.  :func:`grade` runs trusted functions (the reference, the known mistakes) in this
process.

Statuses: ``pass``, ``fail`` (a wrong gradient), ``error`` (the code raised, returned the wrong
kind of thing, could not be imported, or ended the process), ``timeout``, ``not-implemented``
(a stub still raising NotImplementedError) and ``missing`` (no file to grade: nothing there, or a
symbolic link or folder in its place).
"""
from __future__ import annotations

import itertools
import os
import stat
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..gradcheck import rel_error
from . import _child, diagnosis, sandbox
from .diagnosis import Diagnosis
from .catalogue import EXERCISES, THRESHOLD

@dataclass
class Check:
    """The verdict on one gradient of one function, over all cases."""
    function: str
    gradient: str
    threshold: float = THRESHOLD
    error: float | None = None          # worst relative error over the comparable cases
    worst_index: tuple | None = None
    case: str | None = None             # label of the case the worst error came from
    passed: bool = False
    problem: str | None = None          # shape / dtype / exception / not implemented
    exact_error: float | None = None    # worst relative error against the exact gradient
    diagnosis: Diagnosis | None = None
    cases_right: tuple | None = None    # (cases that ran, all cases): right where it returned

    @property
    def name(self):
        return f"{self.function}:{self.gradient}"


@dataclass
class PartResult:
    function: str
    signature: str
    status: str                          # pass | fail | error | not-implemented
    checks: list = field(default_factory=list)
    message: str | None = None           # why the function could not be graded, if it could not
    traceback: list = field(default_factory=list)   # the student's own frames
    notes: list = field(default_factory=list)       # warnings that do not fail the check


@dataclass
class Result:
    exercise: object
    file: str | None
    status: str                  # pass | fail | error | timeout | not-implemented | missing
    parts: list = field(default_factory=list)
    message: str | None = None   # why the file could not be graded at all, if it could not
    seed: int = 0
    n_cases: int = 0
    output: str = ""             # what the student's code printed (the end of it)
    seconds: float | None = None     # wall-clock time of the child process
    protections: list = field(default_factory=list)  # the jail's [(protection, held, why not)]

    @property
    def passed(self):
        return self.status == "pass"

    @property
    def checks(self):
        return [c for p in self.parts for c in p.checks]


_STATUS_ORDER = ("missing", "timeout", "error", "fail", "not-implemented", "pass")


def _combine(statuses):
    for s in _STATUS_ORDER:
        if s in statuses:
            return s
    return "pass"


# ------------------------------------------------------------------- finding the files


def find_exercises_dir(directory=None):
    """The folder holding the exercise stubs.

    ``directory`` if given; else ``$NUMPYVAE_LESSONS/exercises``; else ``./lessons/exercises``;
    else ``lessons/exercises`` beside the package source (a source checkout); else the copy
    installed with the package (``numpyvae/lessons/exercises``).
    Raises FileNotFoundError naming the places looked at."""
    if directory is not None:
        d = Path(directory)
        if not d.is_dir():
            raise FileNotFoundError(f"--dir {d}: no such directory")
        return d
    candidates = []
    if os.environ.get("NUMPYVAE_LESSONS"):
        candidates.append(Path(os.environ["NUMPYVAE_LESSONS"]) / "exercises")
    candidates.append(Path.cwd() / "lessons" / "exercises")
    candidates.append(Path(__file__).resolve().parents[2] / "lessons" / "exercises")
    candidates.append(Path(__file__).resolve().parents[1] / "lessons" / "exercises")  # installed
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        "no lessons/exercises folder found; looked in " + ", ".join(map(str, candidates))
        + ". Give the file with --file PATH, or set NUMPYVAE_LESSONS to the lessons folder.")


def _not_a_file(path):
    """Why ``path`` cannot be graded as a student's file, or None for a regular file.  A
    symbolic link is never followed: it could name another student's file, or any file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if stat.S_ISLNK(mode):
        return "is a symbolic link, which the grader never follows"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def _regular(path):
    """``path`` if it is a regular file; else FileNotFoundError saying what it is."""
    why = _not_a_file(path)
    if why:
        raise FileNotFoundError(f"{path}: {why}")
    return path


def default_file(exercise, directory=None):
    """The student's file for ``exercise`` in the exercises folder: ``NN_name.py``, or the one
    file there whose name starts with ``NN_``.  Without ``directory``, ``NN_name.py`` in the
    current folder comes first (``numpyvae check 03`` inside a student's workspace grades that
    workspace's file, as the stub's header says).  The file found must be a regular file (not a
    symbolic link, a folder or a dangling link): else FileNotFoundError says what it is."""
    if directory is None and os.path.lexists(Path.cwd() / exercise.stub):
        return _regular(Path.cwd() / exercise.stub)
    d = find_exercises_dir(directory)
    path = d / exercise.stub
    if os.path.lexists(path):
        return _regular(path)
    matches = sorted(d.glob(f"{exercise.number:02d}_*.py"))
    if not matches:             # a submission in a subfolder (an upload of a whole folder)
        matches = sorted(p for p in d.rglob(f"{exercise.number:02d}_*.py")
                         if "__pycache__" not in p.parts and not any(
                             part.startswith(".") for part in p.relative_to(d).parts))
    if len(matches) == 1:
        return _regular(matches[0])
    if matches:
        raise FileNotFoundError(f"several files for exercise {exercise.number:02d} in {d}: "
                                + ", ".join(m.name for m in matches) + "; choose one with --file")
    raise FileNotFoundError(f"no file {exercise.stub} in {d}; give yours with --file PATH")


# ------------------------------------------------------------------- loading the student


class LoadError(Exception):
    """The student's file could not be imported (syntax error, exception at import time)."""

    def __init__(self, message, frames=()):
        super().__init__(message)
        self.frames = list(frames)


_counter = itertools.count()


def load_module(path):
    """Import ``path`` as a fresh module with a private name (never cached in sys.modules,
    so two students' files, or two versions of one, never see each other).  The loader is the
    jailed child's, :func:`numpyvae.exercises._child.load_student`, so a student reads the same
    messages here as from ``numpyvae check``; a failure raises :class:`LoadError`."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    name = f"_numpyvae_student_{next(_counter)}_{path.stem.replace('-', '_')}"
    try:
        module, err = _child.load_student(str(path), name, str(path), catch=Exception)
    finally:
        sys.modules.pop(name, None)
    if err is not None:
        raise LoadError(err["message"], err.get("frames", ()))
    return module


def _student_frames(err, path=None):
    """Traceback lines of ``err`` from the student's own file (or, without a file, every frame
    below the grader's call), formatted for printing."""
    return _child._frames(err, None if path is None else str(Path(path).resolve()), __file__)


def _hint_for_exception(err, part=None):
    text = str(err)
    if isinstance(err, TypeError) and part is not None and (
            "positional argument" in text or "unexpected keyword" in text):
        return f"the grader calls {part.signature.split(' ->')[0]}: keep the stub's signature"
    if isinstance(err, ValueError) and ("matmul" in text or "not aligned" in text):
        return ("the shapes do not line up in a matrix product: compare the shapes in the "
                "docstring and look for a missing (or extra) transpose")
    if isinstance(err, ValueError) and "broadcast" in text:
        return ("two arrays with incompatible shapes were combined elementwise: print the "
                "shapes; a sum over the wrong axis or a missing transpose is the usual cause")
    if isinstance(err, (KeyError, IndexError)):
        return "look at the names and shapes given in the docstring"
    return None


# --------------------------------------------------------------- the prepared cases


@dataclass
class _Prepared:
    cases: list
    numeric: dict        # function -> [ {output: array} per case ]
    reference: dict      # function -> [ {output: array} per case ]
    specific: dict       # function -> [ (Mistake, [ {output: array} | None per case ]) ]
    exercise: object = None


_PREPARED: dict = {}
_MAX_PREPARED = 64


def _copy_input(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, dict):
        return {k: _copy_input(x) for k, x in v.items()}
    if isinstance(v, tuple):                    # a cache, e.g. (x, W)
        return tuple(_copy_input(x) for x in v)
    return v


def _as_outputs(value, part):
    """Normalise a trusted function's return value to {output: array}."""
    if part.returns == "array":
        return {part.outputs[0]: value}
    if part.returns == "tuple":
        return dict(zip(part.outputs, value))
    return dict(value)


def _prepare(exercise, seed):
    """Cases, numerical gradients, reference gradients and the known mistakes' results for
    ``(exercise, seed)``: none of these depends on the student, so they are computed once."""
    key = (exercise.name, int(seed))
    if key in _PREPARED:
        return _PREPARED[key]
    cases = exercise.cases(seed)
    numeric, reference, specific = {}, {}, {}
    for part in exercise.parts:
        numeric[part.function] = [part.numerical(c) for c in cases]
        reference[part.function] = [
            _as_outputs(part.reference(*(_copy_input(c.inputs[a]) for a in part.args)), part)
            for c in cases]
        specific[part.function] = []
        for m in part.mistakes:
            per_case = []
            for c in cases:
                try:
                    with np.errstate(all="ignore"):
                        out = m.impl(*(_copy_input(c.inputs[a]) for a in part.args))
                    per_case.append({k: np.asarray(v, np.float64)
                                     for k, v in _as_outputs(out, part).items()})
                except Exception:  # noqa: BLE001 - e.g. dy @ W with non-square W
                    per_case.append(None)
            specific[part.function].append((m, per_case))
    if len(_PREPARED) >= _MAX_PREPARED:           # a long-lived process grading many seeds
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[key] = _Prepared(cases, numeric, reference, specific, exercise)
    return _PREPARED[key]


# --------------------------------------------------------------- running the student


@dataclass
class _Run:
    """What one call of the student's function gave on one case."""
    outputs: dict | None = None          # output name -> whatever was returned
    error: BaseException | None = None
    frames: list = field(default_factory=list)
    structure: str | None = None         # wrong number / kind of return values
    notes: list = field(default_factory=list)


def _describe(value):
    if value is None:
        return "None (is a return statement missing?)"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} values"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, sandbox.Opaque):
        return f"a {value.type_name}"
    return f"a {type(value).__name__}"


def _unpack(value, part):
    """The student's return value as {output: value}, or an explanation of what is wrong."""
    names = ", ".join(part.outputs)
    k = len(part.outputs)
    if part.returns == "array":
        if isinstance(value, np.ndarray):
            return {part.outputs[0]: value}, None
        return None, (f"returned {_describe(value)}; expected one numpy array "
                      f"{part.outputs[0]}")
    if part.returns == "tuple":
        if not isinstance(value, (tuple, list)):
            return None, f"returned {_describe(value)}; expected a tuple of {k} arrays ({names})"
        if len(value) != k:
            msg = f"returned {len(value)} values; expected {k}: ({names})"
            if len(value) == k - 1 and part.outputs[-1] == "db":
                msg += " - did you forget to return the bias gradient db?"
            return None, msg
        return dict(zip(part.outputs, value)), None
    if not isinstance(value, dict):
        return None, f"returned {_describe(value)}; expected a dict with keys {names}"
    missing = [o for o in part.outputs if o not in value]
    extra = sorted(str(x) for x in value if x not in part.outputs)
    if missing or extra:
        msg = "returned a dict with " + "; ".join(
            ([f"missing keys {missing}"] if missing else [])
            + ([f"unexpected keys {extra}"] if extra else []))
        return None, msg + f"; expected exactly the keys of params: {names}"
    return {o: value[o] for o in part.outputs}, None


def _changed(before, after):
    if isinstance(before, np.ndarray):
        return not (isinstance(after, np.ndarray) and after.shape == before.shape
                    and np.array_equal(after, before, equal_nan=True))
    if isinstance(before, dict):
        return any(_changed(before[k], after.get(k)) for k in before)
    if isinstance(before, tuple):
        return not isinstance(after, tuple) or any(map(_changed, before, after))
    return False


def _call(fn, part, case, path):
    args = [_copy_input(case.inputs[a]) for a in part.args]
    saved = [_copy_input(a) for a in args]
    run = _Run()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args)
        except (Exception, SystemExit) as err:  # noqa: BLE001 - the student's code
            run.error, run.frames = err, _student_frames(err, path)
            return run
    for w in caught:
        run.notes.append(f"your code warned: {w.category.__name__}: {w.message} "
                         f"({Path(w.filename).name}, line {w.lineno})")
    for name, a, b in zip(part.args, saved, args):
        if _changed(a, b):
            run.notes.append(f"your function changed its argument {name!r} in place; a backward "
                             f"pass must leave its inputs alone (the caller may still need them)")
    run.outputs, run.structure = _unpack(value, part)
    return run


def _replay(recorded, ci, part):
    """The :class:`_Run` of case ``ci`` from what the child process sent back."""
    run = _Run()
    if ci >= len(recorded.calls):
        run.error = RuntimeError("the grader got no result for this case from the child process")
        return run
    call = recorded.calls[ci]
    run.notes = list(call.notes)
    if call.error is not None:
        run.error, run.frames = call.error, list(call.frames)
        return run
    run.outputs, run.structure = _unpack(call.value, part)
    return run


# -------------------------------------------------------------------- comparing


def _value_problem(value, want):
    """A message if ``value`` cannot be the gradient of shape ``want`` (float64), else None."""
    if not isinstance(value, np.ndarray):
        return f"is {_describe(value)}, not a numpy array of shape {want}"
    if value.dtype != np.float64:
        return (f"has dtype {value.dtype}; the grader passes float64 arrays and needs float64 "
                f"back (look for np.float32, astype(...) or an integer array)")
    if value.shape != want:
        return f"has shape {value.shape}, but should have shape {want}"
    if not np.all(np.isfinite(value)):
        return "contains NaN or inf (an overflow? a log or division of 0?)"
    return None


def _as_float_array(value):
    if not isinstance(value, np.ndarray):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # complex -> float64 warns; the dtype is reported
            return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _worst_index(a, b):
    diff = np.abs(a - b)
    if diff.size == 0:
        return ()
    flat = int(np.argmax(np.where(np.isnan(diff), np.inf, diff)))   # a NaN entry is the worst
    return tuple(int(i) for i in np.unravel_index(flat, diff.shape))


def _safe_rel_error(a, b):
    with np.errstate(all="ignore"):
        e = rel_error(a, b)
    return e if np.isfinite(e) else float("inf")


def _check_output(part, output, runs, prep):
    check = Check(part.function, output)
    numeric = prep.numeric[part.function]
    worst = -1.0
    problems, failing, student = [], [], {}
    for ci, (run, case) in enumerate(zip(runs, prep.cases)):
        if run.outputs is None:
            continue
        value = run.outputs[output]
        want = numeric[ci][output].shape
        problem = _value_problem(value, want)
        if problem:
            problems.append(f"{output} {problem} (case {case.label})")
        arr = _as_float_array(value)
        if arr is None:
            continue
        student[ci] = arr
        if arr.shape != want:
            failing.append(ci)
            continue
        err = _safe_rel_error(arr, numeric[ci][output])
        if err >= THRESHOLD or problem:
            failing.append(ci)
        if err > worst:
            worst = err
            check.error = err
            check.worst_index = _worst_index(arr, numeric[ci][output])
            check.case = case.label
    raised = [ci for ci, r in enumerate(runs) if r.error is not None]
    if problems:
        check.problem = problems[0]
    elif raised:
        check.problem = (f"not checked in {len(raised)} of {len(runs)} cases: your function "
                         f"raised there (see above)")
    elif any(r.structure is not None for r in runs):
        first = next(r.structure for r in runs if r.structure is not None)
        check.problem = f"not graded: {part.function} {first}"
    check.passed = (check.problem is None and check.error is not None
                    and check.error < THRESHOLD)
    if not check.passed:
        check.diagnosis = diagnosis.diagnose(part, output, student, failing, prep)
    return check


# ---------------------------------------------------------------------- grading


def _grade_part(part, fn, prep, path):
    result = PartResult(part.function, part.signature, "pass")
    runs = []
    for ci, case in enumerate(prep.cases):
        run = _replay(fn, ci, part) if isinstance(fn, sandbox.Recorded) else \
            _call(fn, part, case, path)
        if isinstance(run.error, NotImplementedError):
            result.status = "not-implemented"
            detail = str(run.error).strip()
            result.message = "not implemented yet" + (f" - {detail}" if detail else "")
            result.checks = [Check(part.function, o, problem="not implemented yet")
                             for o in part.outputs]
            return result
        runs.append(run)
        for note in run.notes:
            if note not in result.notes:
                result.notes.append(note)
    errors = [(r, c) for r, c in zip(runs, prep.cases) if r.error is not None]
    structure = [(r, c) for r, c in zip(runs, prep.cases) if r.structure is not None]
    if errors:
        run, case = errors[0]
        err = run.error
        where = (f"in every case, first in {case.label}" if len(errors) == len(runs)
                 else f"in {len(errors)} of {len(runs)} cases, e.g. {case.label}")
        result.message = f"your function raised {type(err).__name__} ({where}): {err}"
        hint = _hint_for_exception(err, part)
        if hint:
            result.message += f"\n    hint: {hint}"
        result.traceback = run.frames
    elif structure:
        run, case = structure[0]
        result.message = f"{part.function} {run.structure}"
    result.checks = [_check_output(part, o, runs, prep) for o in part.outputs]
    diagnosis.review(prep.exercise, part, result, runs, prep)
    if errors or structure:
        result.status = "error"
    elif not all(c.passed for c in result.checks):
        result.status = "fail"
    return result


def grade(exercise, functions, seed=0, file=None, path=None):
    """Grade the functions of ``exercise`` found in ``functions`` (a module, or a mapping from
    function names to callables).  ``path``: the student's file, to trim tracebacks to it.
    -> :class:`Result`"""
    prep = _prepare(exercise, seed)
    result = Result(exercise, None if file is None else str(file), "pass", seed=int(seed),
                    n_cases=len(prep.cases))
    for part in exercise.parts:
        fn = (functions.get(part.function) if isinstance(functions, dict)
              else getattr(functions, part.function, None))
        if fn is None or not callable(fn):
            where = f"your file {Path(file).name}" if file else "the student code"
            pr = PartResult(part.function, part.signature, "error",
                            message=f"{where} does not define a function "
                                    f"{part.function}: {part.signature}")
            pr.checks = [Check(part.function, o, problem="function not defined")
                         for o in part.outputs]
        else:
            pr = _grade_part(part, fn, prep, path)
        result.parts.append(pr)
    result.status = _combine({p.status for p in result.parts})
    return result


def ungraded(exercise, file, status, message, problem, frames=(), seed=0):
    """A Result for a file that could not be graded at all (missing, not importable, timed
    out, ended the process): every check fails with ``problem``."""
    result = Result(exercise, None if file is None else str(file), status, seed=int(seed),
                    message=message)
    for part in exercise.parts:
        pr = PartResult(part.function, part.signature, "error" if status != "missing" else status,
                        message=f"not graded: {problem}", traceback=list(frames))
        pr.checks = [Check(part.function, o, problem=problem) for o in part.outputs]
        result.parts.append(pr)
    return result


def missing(exercise, file, message=None, seed=0):
    """The Result for an exercise whose file is not there."""
    name = exercise.stub if file is None else Path(file).name
    return ungraded(exercise, file, "missing", message or f"no file {name} to grade",
                    "no file", seed=seed)


def grade_file(exercise, path, seed=0, timeout=sandbox.DEFAULT_TIMEOUT,
               memory_mb=sandbox.DEFAULT_MEMORY_MB, threads=1, jail=None):
    """Grade the student's file ``path``: it is imported and run in a child process (see the
    module docstring), at most ``timeout`` seconds and ``memory_mb`` MiB.  -> :class:`Result`

    A file that cannot be imported, takes too long or ends the child process gives a Result
    with status "error" or "timeout" and the reason; a missing file, a symbolic link (never
    followed) or a folder raises FileNotFoundError saying which."""
    path = _regular(Path(path))
    prep = _prepare(exercise, seed)
    try:
        out = sandbox.run_student(path, exercise.parts, prep.cases, timeout=timeout,
                                  memory_mb=memory_mb, threads=threads, jail=jail)
    except (OSError, ValueError) as err:         # unreadable or oversized file
        return ungraded(exercise, path, "error", f"{path.name} could not be read: {err}",
                        "file could not be read", seed=seed)
    doing = f" (it was {out.progress})" if out.progress else ""
    if out.status == "import_error":
        result = ungraded(exercise, path, "error", out.import_message,
                          "file could not be imported", out.import_frames, seed)
    elif out.status == "timeout":
        result = ungraded(
            exercise, path, "timeout",
            f"your code did not finish within the time limit of {timeout:g} s{doing}: an "
            f"endless loop, or far too much work? The grader stopped it.",
            "timed out", seed=seed)
    elif out.status == "malformed":
        result = ungraded(exercise, path, "error", "; ".join(out.notes),
                          "results could not be read", seed=seed)
    elif out.status == "crashed":
        code = out.returncode
        why = sandbox.why_it_ended(code)
        extra = f"; {'; '.join(out.notes)}" if out.notes else ""
        result = ungraded(
            exercise, path, "error",
            f"the process running your code ended before it returned its results (exit "
            f"status {code}){doing}: {why}{extra}", "the process ended early", seed=seed)
    else:
        functions = {name: rec for name, rec in out.parts.items() if rec is not None}
        result = grade(exercise, functions, seed=seed, file=path, path=path)
    result.n_cases = len(prep.cases)
    result.output, result.seconds = out.output, out.seconds
    result.protections = list(out.protections)
    return result


def solution_source(exercise):
    """The reference solution of ``exercise`` as Python source (helpers first)."""
    return exercise.solution_source()


__all__ = ["EXERCISES", "grade", "grade_file", "solution_source", "find_exercises_dir",
           "default_file", "load_module", "Result", "Check", "PartResult", "Diagnosis",
           "LoadError", "ungraded", "missing"]
