"""Run a lesson with one planted error and read the checks that guard it.

A planted error is either a change to the library (a function replaced with monkeypatch, undone
after the test) or a change to the lesson's own text, made to a copy in memory: the lesson is
compiled from the changed source and executed as ``python lessons/NN_topic.py --quick`` would
run it.  Nothing is ever written to disk.

The run stops right after the last check it is asked about (an exception raised from inside
``lessonkit``), so a planted error in an early section costs only the sections before it.  The
lessons run on the built-in shapes dataset ($NUMPYVAE_DATA points at an empty folder), so the
outcome does not depend on whether the real data are present.
"""
from __future__ import annotations

import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from lesson_runs import LESSONS  # noqa: E402

from numpyvae import lessonkit  # noqa: E402


class _Reached(BaseException):
    """Raised once every asked-for check has been recorded: nothing after it needs to run."""


def pattern_rx(pattern):
    """A check-name pattern, ``*`` standing for any text (as in lessons/README.md's claim map)."""
    return re.compile(".+".join(re.escape(p) for p in pattern.split("*")) + r"\Z")


def lesson_path(number):
    paths = sorted(LESSONS.glob(f"{int(number):02d}_*.py"))
    assert len(paths) == 1, f"expected one lesson {number:02d}, found {paths}"
    return paths[0]


def run_until(number, patterns, monkeypatch, tmp_path, replace=()):
    """Run lesson ``number`` with --quick on the shapes data until a check matching each of
    ``patterns`` has been recorded; -> {pattern: (check name, Check)}.

    replace : [(old, new)] changes to the lesson's text, each ``old`` found exactly once.
    Library changes are made by the caller with ``monkeypatch`` before calling this."""
    path = lesson_path(number)
    src = path.read_text(encoding="utf-8")
    for old, new in replace:
        n = src.count(old)
        assert n == 1, (f"the planted error's target text occurs {n} times in {path.name} "
                        f"(expected once; has the lesson changed?): {old!r}")
        src = src.replace(old, new)
    rxs = {p: pattern_rx(p) for p in patterns}
    found = {}
    record = lessonkit._record

    def record_and_stop(name, value):
        record(name, value)
        for p, rx in rxs.items():
            if p not in found and rx.match(name):
                found[p] = (name, value)
        if len(found) == len(rxs):
            raise _Reached

    monkeypatch.setattr(lessonkit, "_record", record_and_stop)
    monkeypatch.setattr(lessonkit, "savefig", lambda fig, args, name: plt.close(fig))
    monkeypatch.setattr(lessonkit, "show_figure", lambda p: p)
    empty = tmp_path / "no-data"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("NUMPYVAE_DATA", str(empty))
    monkeypatch.setattr(sys, "argv", [str(path), "--quick", "--out", str(tmp_path / "out")])
    monkeypatch.syspath_prepend(str(path.parent))
    code = compile(src, str(path), "exec")
    try:
        exec(code, {"__name__": "__main__", "__file__": str(path)})
    except _Reached:
        pass
    except SystemExit as e:                    # finish(): exit 1 when a check failed
        if e.code not in (0, 1, None):
            raise
    finally:
        plt.close("all")
    missing = [p for p in patterns if p not in found]
    assert not missing, f"lesson {number:02d} recorded no check matching {missing}"
    return found
