"""The grader's reports: what ``numpyvae check`` prints, its ``--json`` form and Gradescope's
``results.json``.  Everything here reads a :class:`~numpyvae.exercises.grader.Result`, made by
the parent process alone (:mod:`numpyvae.exercises.grader`); nothing the student's code sent is
written without passing through it.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np

from .base import THRESHOLD
from .diagnosis import EXACT

def _fmt_err(e):
    if e is None:
        return "-"
    return "inf" if not np.isfinite(e) else f"{e:.1e}"


STATUS_WORD = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "timeout": "TIMEOUT",
                "not-implemented": "NOT IMPLEMENTED", "missing": "MISSING"}


def format_result(result):
    """The human-readable report printed by ``numpyvae check``."""
    ex = result.exercise
    lines = [f"Exercise {ex.number:02d} ({ex.name}): {ex.title}"]
    if result.file:
        lines.append(f"  file: {_display_path(result.file)}")
    if result.message:
        label = {"missing": "not graded", "timeout": "stopped"}.get(
            result.status, "could not load your file" if result.parts and
            "imported" in (result.parts[0].message or "") else "could not grade your file")
        lines += _wrap(f"{label}: {result.message}", "  ", hang=2)
        for p in result.parts[:1]:
            lines += [f"    {t}" for t in p.traceback]
        lines += _printed(result)
        lines += _sandbox(result)
        lines.append(f"  result: {STATUS_WORD[result.status]}")
        return "\n".join(lines)
    lines.append(f"  {result.n_cases} random float64 cases (seed {result.seed}), "
                 f"central differences, threshold {THRESHOLD:.0e} (and {EXACT:.0e} against the "
                 f"exact gradient)")
    for p in result.parts:
        lines.append("")
        lines.append(f"  {p.signature}")
        if p.status == "not-implemented":
            lines.append("    NOT IMPLEMENTED yet (it raises NotImplementedError):")
            lines += _wrap(p.message.removeprefix("not implemented yet - "), "      ")
            continue
        if p.message:
            lines.append(f"    {STATUS_WORD[p.status]}: {p.message}")
            lines += [f"      {t}" for t in p.traceback]
        if p.status == "error" and all(c.error is None for c in p.checks):
            lines += [f"    note: {n}" for n in p.notes]
            continue
        width = max(8, *(len(c.gradient) for c in p.checks))
        lines.append(f"    {'gradient':<{width}}  {'rel. error':>10}  {'result':<13}  worst entry")
        for c in p.checks:
            inexact = (not c.passed and c.error is not None and c.error < THRESHOLD
                       and c.exact_error is not None and c.exact_error > EXACT)
            verdict = f"PASS < {THRESHOLD:.0e}" if c.passed else (
                f"FAIL: exact {_fmt_err(c.exact_error)} > {EXACT:.0e}" if inexact else
                "FAIL" if c.error is None or c.error < THRESHOLD else f"FAIL > {THRESHOLD:.0e}")
            where = ""
            if c.worst_index is not None:
                where = f"{list(c.worst_index)} in case {c.case}"
            row = f"    {c.gradient:<{width}}  {_fmt_err(c.error):>10}  {verdict:<13}  {where}"
            lines.append(row.rstrip())
            pad = " " * (width + 6)
            if c.problem and not (p.message and c.problem.startswith("not graded")):
                lines += _wrap(f"problem: {c.problem}", pad, hang=2)
            if c.diagnosis:
                lines += _wrap(f"likely mistake ({c.diagnosis.kind}): {c.diagnosis.message}",
                               pad, hang=2)
        lines += [f"    note: {n}" for n in p.notes]
    n_bad = sum(not c.passed for c in result.checks)
    total = len(result.checks)
    lines += _printed(result)
    lines += _sandbox(result)
    lines.append("")
    todo = [p.function for p in result.parts if p.status == "not-implemented"]
    if result.status == "not-implemented":
        lines.append(f"  result: NOT IMPLEMENTED - complete {', '.join(todo)} in the file, "
                     f"then run this again")
    elif result.passed:
        lines.append(f"  result: PASS - {total} of {total} gradients agree with central "
                     f"differences (worst rel. error {_fmt_err(max(c.error for c in result.checks))}"
                     f" < {THRESHOLD:.0e})")
    else:
        lines.append(f"  result: {STATUS_WORD[result.status]} - {n_bad} of {total} gradients "
                     f"not passing")
    return "\n".join(lines)


def _sandbox(result):
    """The jail's protections that did not hold here (none when the grader runs as root on
    Linux, as Gradescope and CI do)."""
    weak = [(name, why) for name, held, why in result.protections if not held]
    if not weak:
        return []
    out = ["", "  sandbox: these protections do not hold on this machine:"]
    for name, why in weak:
        out += _wrap(f"- {name}: {why}", "    ", hang=2)
    return out


def _printed(result):
    """The student's printed output, indented, for the report."""
    text = (result.output or "").rstrip()
    if not text:
        return []
    shown = text.splitlines()[-20:]
    return ["", "  your code printed" + (" (the last 20 lines):" if len(text.splitlines()) > 20
                                         else ":")] + [
        f"    | {t[:160]}" + (" ..." if len(t) > 160 else "") for t in shown]


def _wrap(text, indent, width=100, hang=0):
    out = []
    for para in str(text).splitlines() or [""]:
        out += textwrap.wrap(para, width, initial_indent=indent,
                             subsequent_indent=indent + " " * hang) or [indent]
    return out


def _display_path(path):
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _jsonable_float(x):
    return None if x is None or not np.isfinite(x) else float(x)


def result_to_dict(result):
    """The ``--json`` form of a result (see lessons/exercises/README.md for the fields)."""
    ex = result.exercise
    return {
        "exercise": ex.key, "number": ex.number, "name": ex.name, "title": ex.title,
        "file": result.file, "seed": result.seed, "threshold": THRESHOLD,
        "status": result.status, "passed": result.passed, "message": result.message,
        "output": result.output or "", "seconds": result.seconds,
        "sandbox": [{"protection": n, "held": bool(h), "detail": d}
                    for n, h, d in result.protections],
        "parts": [{"function": p.function, "status": p.status, "message": p.message,
                   "traceback": p.traceback, "notes": p.notes} for p in result.parts],
        "checks": [{
            "name": c.name, "function": c.function, "gradient": c.gradient,
            "error": _jsonable_float(c.error), "threshold": c.threshold, "passed": c.passed,
            "exact_error": _jsonable_float(c.exact_error), "exact_threshold": EXACT,
            "worst_index": None if c.worst_index is None else list(c.worst_index),
            "case": c.case, "problem": c.problem,
            "diagnosis": None if c.diagnosis is None else c.diagnosis.to_dict(),
        } for c in result.checks],
    }




def _credit(check):
    """A gradient's share of partial credit: 1 if it passed in every case; if the function
    raised in some cases, the share of cases where it returned (and was right), never 1."""
    if not check.passed:
        return 0.0
    if check.problem is None:
        return 1.0
    ran, total = check.cases_right or (0, 1)
    return ran / total if ran < total else 0.0


def gradescope(results, points, partial=False):
    """Gradescope's autograder ``results.json`` for ``results`` (one test per exercise)."""
    tests = []
    for r in results:
        ex = r.exercise
        max_score = float(points.get(ex.number, 1.0))
        if r.passed:
            score = max_score
        elif partial and r.checks and r.status in ("fail", "error"):
            score = max_score * sum(map(_credit, r.checks)) / len(r.checks)
        else:
            score = 0.0
        tests.append({
            "name": f"{ex.number:02d} {ex.name}: {ex.title}", "number": f"{ex.number}",
            "score": round(score, 6), "max_score": max_score,
            "status": "passed" if r.passed else "failed",
            "output": f"[{r.status}]\n" + format_result(r),
            "visibility": "visible"})
    n_pass = sum(r.passed for r in results)
    return {"score": round(sum(t["score"] for t in tests), 6),
            "output": f"{n_pass} of {len(results)} exercises pass "
                      f"(numpyvae check; statuses: "
                      + ", ".join(f"{r.exercise.number:02d} {r.status}" for r in results) + ")",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def json_text(data):
    """Strict JSON (no NaN or Infinity), as every results file is written."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"
