"""Infrastructure shared by the lessons in ``lessons/NN_topic.py``.

A lesson is a ``# %%`` cell script (it opens as a notebook in VS Code or jupytext) that::

    args = lessonkit.parse_args(__doc__)        # --out DIR, --quick, --seed S
    lessonkit.section("1. Something")
    lessonkit.say("prose for the student")
    lessonkit.check("log p(x)", numerical, analytic, rtol=1e-10)   # prints ✓ or ✗ and records it
    lessonkit.check_below("rel. error", err, 1e-6)   # an error that must stay below a bound
    lessonkit.savefig(fig, args, "elbo")        # -> args.out / "elbo.png", inline in a notebook
    lessonkit.show_figure(plot_fn(..., args.out / "x.png"))   # a PNG a plot function wrote
    lessonkit.check_yourself(["question", ...])
    lessonkit.finish()                          # summary; exit status 1 if any check failed

Tests and the command line run a lesson in-process with :func:`run_lesson`, which returns the
recorded checks ``{name: Check(numerical, analytic, passed)}``.

In a notebook (``numpyvae lesson notebook NN`` writes one with jupytext) figures also show
inline, the values :func:`check`, :func:`savefig` and :func:`finish` return display nothing
(no stray ``True`` or a long dictionary under a cell), and each lesson writes to its own
``lesson_out/NN_topic/``.  The kernel's own arguments are ignored; set
``NUMPYVAE_LESSON_ARGS="--quick"`` in the environment to run a notebook in quick mode.

All output goes through ``print``.  Text the terminal cannot encode (✓, σ, ‖ … on a non-UTF-8
stdout) is replaced rather than crashing the lesson, and ✓/✗ become OK/FAIL.
"""
from __future__ import annotations

import argparse
import ast
import builtins
import os
import re
import runpy
import shlex
import sys
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "Check", "Verdict", "Results",
    "parse_args", "section", "say", "table", "check", "check_true", "check_below", "summary",
    "savefig", "show_figure", "check_yourself", "finish", "results", "run_lesson",
    "list_lessons",
    "find_lessons_dir",
]


class Check(NamedTuple):
    """One recorded check.  For :func:`check_true`, numerical is the condition and analytic True."""
    numerical: object
    analytic: object
    passed: bool


class Verdict(int):
    """What :func:`check` and :func:`check_true` return: true or false like a bool (``if``,
    ``assert``, ``not``, ``== True``), printed as ``True``/``False``, and shown as nothing when
    it is the last value of a notebook cell."""

    def __new__(cls, passed):
        return super().__new__(cls, bool(passed))

    def __repr__(self):
        return repr(bool(self))

    __str__ = __repr__

    def _ipython_display_(self):
        pass


class Results(dict):
    """What :func:`finish` and :func:`summary` return: ``{name: Check}``, shown as nothing at the
    end of a notebook cell (the summary is printed already)."""

    def _ipython_display_(self):
        pass


class _State:
    """What the lesson that is running now has recorded."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.checks = {}
        self.figures = []
        self.start = time.perf_counter()


_state = _State()


# --------------------------------------------------------------------------------------------
# printing

def _encoding():
    return getattr(sys.stdout, "encoding", None) or "ascii"


def _can_encode(text):
    try:
        text.encode(_encoding())
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _emit(text=""):
    """print(text), replacing characters the stdout encoding cannot represent."""
    if not _can_encode(text):
        enc = _encoding()
        try:
            text = text.encode(enc, errors="replace").decode(enc)
        except LookupError:
            text = text.encode("ascii", errors="replace").decode("ascii")
    print(text)


def _marks():
    return ("✓", "✗") if _can_encode("✓✗") else ("OK", "FAIL")


def _fmt(v):
    """Short text for a number or an array."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.10g}"
    a = np.asarray(v)
    if a.ndim == 0:
        return _fmt(a.item())
    if a.size <= 8:
        return np.array2string(a, precision=6, separator=", ")
    return f"<array shape {a.shape}, first {np.array2string(a.ravel()[:3], precision=6)}>"


# --------------------------------------------------------------------------------------------
# the lesson's life cycle

def parse_args(description=None, argv=None, name=None):
    """Parse ``--out DIR``, ``--quick``, ``--seed S`` and ``--threads N`` and start recording a
    fresh lesson.

    description : shown by ``--help`` (a lesson passes its ``__doc__``)
    argv        : the arguments; default ``sys.argv[1:]``, in a Jupyter kernel
                  ``$NUMPYVAE_LESSON_ARGS`` (e.g. ``--quick``).  Unknown arguments are ignored.
    name        : the lesson's name for the default output directory; default the stem of the
                  calling file, in a notebook the lesson whose number starts ``description``
                  (``06_gradient_estimators``), else ``lesson``.

    Returns an ``argparse.Namespace`` with ``out`` (a ``pathlib.Path``, created; default
    ``lesson_out/<name>/`` under the current directory), ``quick`` (bool), ``seed`` (int) and
    ``threads`` (``--threads N``: the BLAS threads, set at once; without it 1, as the
    ``numpyvae`` command, or None when the environment chooses the count).
    """
    if name is None:
        caller_file = sys._getframe(1).f_globals.get("__file__")
        name = Path(caller_file).stem if caller_file else _name_from_doc(description)
    parser = argparse.ArgumentParser(
        description=description, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"directory for figures (default: lesson_out/{name}/)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes so the lesson runs in a few seconds")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="BLAS threads (default 1, unless OPENBLAS_NUM_THREADS, "
                             "OMP_NUM_THREADS or MKL_NUM_THREADS is set)")
    if argv is None:
        argv = (shlex.split(os.environ.get("NUMPYVAE_LESSON_ARGS", "")) if _in_notebook()
                else sys.argv[1:])
    args, _unknown = parser.parse_known_args(list(argv))
    from . import _threads
    if args.threads is None:            # as the numpyvae command: one thread unless the
        args.threads = _threads.default_threads()     # environment chose a count (_threads.py)
    if args.threads is not None:
        _threads.set_blas_threads(_threads.check_threads(args.threads))
    if args.out is None:
        args.out = Path.cwd() / "lesson_out" / name
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    _state.reset()
    return args


def _in_notebook():
    """True inside a Jupyter kernel (IPython with a kernel), where sys.argv is the kernel's."""
    shell = sys.modules.get("IPython")
    try:
        ip = shell.get_ipython() if shell is not None else None
    except Exception:  # noqa: BLE001 - an odd IPython
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


def _name_from_doc(description):
    """The lesson's file stem from its docstring's number ("06 · ..." -> "06_gradient_estimators"
    when that lesson is found, else "lesson_06"); "lesson" without a number."""
    m = re.match(r"\s*(\d+)\s*[·.:\-–—]", str(description or ""))
    if not m:
        return "lesson"
    number = int(m.group(1))
    try:
        for n, _, path in list_lessons():
            if n == number:
                return path.stem
    except (FileNotFoundError, OSError):
        pass
    return f"lesson_{number:02d}"


def section(title):
    """Print a section heading."""
    _emit()
    _emit(title)
    _emit("=" * len(title))


def say(text):
    """Print prose: the common indentation is removed and surrounding blank lines are stripped."""
    _emit(textwrap.dedent(str(text)).strip("\n"))


def table(headers, rows, floatfmt=".6g"):
    """Print a small aligned table.  ``rows`` is a list of sequences as long as ``headers``."""
    cells = [[str(h) for h in headers]]
    for r in rows:
        cells.append([format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v)
                      for v in r])
    widths = [max(len(row[j]) for row in cells) for j in range(len(headers))]
    for i, row in enumerate(cells):
        _emit("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if i == 0:
            _emit("  ".join("-" * w for w in widths))


def _record(name, value):
    if not isinstance(name, str) or not name:
        raise TypeError("name must be a non-empty str")
    key, n = name, 2
    while key in _state.checks:                 # never overwrite (and so hide) an earlier result
        key = f"{name} ({n})"
        n += 1
    _state.checks[key] = value


def check(name, numerical, analytic, rtol=1e-7, atol=0.0):
    """Compare a numerical value with its analytic value; print and record the result.

    Passes when ``|numerical − analytic| ≤ atol + rtol·|analytic|`` everywhere (arrays allowed;
    equal infinities pass, NaN fails).  Prints ``name: numerical=… analytic=… ✓`` (or ✗) and
    returns whether it passed.
    """
    num, ana = np.asarray(numerical, dtype=float), np.asarray(analytic, dtype=float)
    if num.shape == ana.shape or ana.ndim == 0:
        passed = bool(np.all(np.isclose(num, ana, rtol=rtol, atol=atol)))
    else:                                                   # a shape mismatch is a failure
        passed = False
    ok, bad = _marks()
    line = f"{name}: numerical={_fmt(numerical)} analytic={_fmt(analytic)} {ok if passed else bad}"
    if num.size > 1 and num.shape == ana.shape:
        line += f"  (max |diff| = {float(np.max(np.abs(num - ana))):.3g})"
    _emit(line)
    _record(name, Check(numerical, analytic, passed))
    return Verdict(passed)


def check_true(name, condition, detail=""):
    """Record a yes/no check (e.g. an inequality); prints ``name: detail ✓`` and returns it."""
    passed = bool(condition)
    ok, bad = _marks()
    detail = str(detail).strip()
    _emit(f"{name}: {detail + ' ' if detail else ''}{ok if passed else bad}")
    _record(name, Check(passed, True, passed))
    return Verdict(passed)


def check_below(name, value, bound):
    """Record that a non-negative error (a relative error, a distance in standard errors ...) is at
    most ``bound``; prints ``name: 1.46e-09 (≤ 1e-06) ✓`` and records
    ``Check(value, bound, passed)``.  NaN fails."""
    v = float(np.max(np.asarray(value, dtype=float)))
    passed = bool(v <= float(bound))                        # NaN compares False: a failure
    ok, bad = _marks()
    _emit(f"{name}: {v:.3g} (≤ {float(bound):.3g}) {ok if passed else bad}")
    _record(name, Check(value, bound, passed))
    return Verdict(passed)


def savefig(fig, args, name):
    """Write ``fig`` to ``args.out / (name + ".png")``, close it, and return the path."""
    import matplotlib.pyplot as plt
    path = Path(args.out) / (name if name.endswith(".png") else name + ".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return show_figure(path)


def show_figure(path):
    """Record a PNG already written (by :func:`savefig` or a ``numpyvae.plots`` function), print
    ``[figure saved: path]`` and, in a notebook, show it inline under the cell.  Returns the path.
    Every figure a lesson writes goes through here, so the notebook shows each one."""
    path = Path(path)
    _state.figures.append(path)
    _emit(f"[figure saved: {path}]")
    if _in_notebook():                    # the saved PNG, inline under the cell
        from IPython.display import Image, display
        display(Image(filename=str(path)))
    return _QuietPath(path)


class _QuietPath(type(Path())):
    """A Path that shows as nothing at the end of a notebook cell."""

    def _ipython_display_(self):
        pass


def check_yourself(questions):
    """Print the closing "Check yourself" questions, numbered."""
    section("Check yourself")
    for i, q in enumerate(questions, 1):
        body = textwrap.fill(" ".join(str(q).split()), width=92,
                             initial_indent=f"{i}. ", subsequent_indent="   ")
        _emit(body)


def results():
    """The checks recorded so far: ``{name: Check(numerical, analytic, passed)}`` (a copy)."""
    return Results(_state.checks)


def summary():
    """Print how many checks passed (and which failed); return :func:`results`."""
    res = results()
    n_pass = sum(c.passed for c in res.values())
    elapsed = time.perf_counter() - _state.start
    _emit()
    _emit(f"{n_pass}/{len(res)} checks passed in {elapsed:.1f} s")
    for name, c in res.items():
        if not c.passed:
            _emit(f"  failed: {name}")
    return res


def finish():
    """End a lesson: print the summary and, when run as a script, exit with status 1 if any check
    failed (inside IPython/Jupyter only a warning is printed).  Returns the results otherwise."""
    res = summary()
    if not all(c.passed for c in res.values()):
        if getattr(builtins, "__IPYTHON__", False):
            _emit("Some checks failed (see above).")
        else:
            raise SystemExit(1)
    return res


# --------------------------------------------------------------------------------------------
# finding and running lessons

_LESSON_FILE = re.compile(r"^(\d+)_\w+\.py$")


def find_lessons_dir(lessons_dir=None):
    """The directory holding the lessons: ``lessons_dir`` if given, else ``$NUMPYVAE_LESSONS``,
    else ``lessons/`` beside the package (a source checkout), else ``lessons/`` inside the
    installed package, else ``./lessons``.  Raises FileNotFoundError naming the places tried."""
    if lessons_dir is not None:
        candidates = [Path(lessons_dir)]
    else:
        here = Path(__file__).resolve().parent
        candidates = [Path(p) for p in [os.environ.get("NUMPYVAE_LESSONS")] if p]
        candidates += [here.parent / "lessons", here / "lessons", Path.cwd() / "lessons"]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError("no lessons directory found; looked in "
                            + ", ".join(str(c) for c in candidates)
                            + " (set NUMPYVAE_LESSONS to the folder holding NN_topic.py files)")


def _title(path):
    """First line of the module docstring, without its "NN · " prefix ('' if none)."""
    try:
        doc = ast.get_docstring(ast.parse(Path(path).read_text(encoding="utf-8")))
    except SyntaxError:
        doc = None
    first = (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""
    return re.sub(r"^\s*\d+\s*[·.:\-–—]\s*", "", first).strip()


def list_lessons(lessons_dir=None):
    """All lessons, in course order: a list of ``(number, title, path)``.

    ``number`` is the int prefix of the file name, ``title`` the first line of the lesson's
    docstring without its number, ``path`` a ``pathlib.Path``.  Files are read, not imported.
    """
    d = find_lessons_dir(lessons_dir)
    found = []
    for p in sorted(d.iterdir()):
        m = _LESSON_FILE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), _title(p), p))
    return sorted(found, key=lambda t: (t[0], t[2].name))


def _resolve_lesson(path_or_number, lessons_dir=None):
    if isinstance(path_or_number, bool):
        raise TypeError("path_or_number must be a lesson number or a path, got bool")
    if isinstance(path_or_number, (int, np.integer)) or (
            isinstance(path_or_number, str) and path_or_number.strip().isdigit()):
        number = int(path_or_number)
        matches = [p for n, _, p in list_lessons(lessons_dir) if n == number]
        if not matches:
            raise ValueError(f"path_or_number: there is no lesson number {number}")
        return matches[0]
    if isinstance(path_or_number, (str, os.PathLike)):
        path = Path(path_or_number)
        if not path.is_file():
            raise FileNotFoundError(f"path_or_number: no lesson file at {path}")
        return path
    raise TypeError(f"path_or_number must be an int or a path, got {type(path_or_number).__name__}")


def run_lesson(path_or_number, argv=(), lessons_dir=None):
    """Run a lesson in this process, as ``python lessons/NN_topic.py *argv`` would, and return its
    checks ``{name: Check(numerical, analytic, passed)}``.

    A failed check does not raise here (the lesson's SystemExit(1) is caught): look at
    ``passed``.  Any other exception from the lesson propagates.  ``sys.argv`` and ``sys.path``
    are restored afterwards.
    """
    path = _resolve_lesson(path_or_number, lessons_dir).resolve()
    argv = [str(a) for a in argv]
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = [str(path)] + argv
    sys.path.insert(0, str(path.parent))
    _state.reset()
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, 1, None):
            raise
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        try:
            import matplotlib.pyplot as plt
            plt.close("all")
        except ImportError:                                 # pragma: no cover
            pass
    return results()
