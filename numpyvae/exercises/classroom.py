"""Grading a whole class: ``numpyvae check class SUBMISSIONS --out DIR``.

    summary = grade_class("submissions/", "grades/", jobs=2, budget=1800)

SUBMISSIONS holds one folder or one ``.zip`` per student, named after the student
(``alice/``, ``bob.zip``); inside, the student's ``NN_name.py`` files (in a subfolder too).  Every
exercise of every student runs in its own jailed child (:mod:`numpyvae.exercises.sandbox`), the
students ``jobs`` at a time, each exercise under a fresh unprivileged uid of its own when the
grader is root, so that one hostile submission cannot reach another's files or processes.  An
exercise that timed out or ended early while others ran beside it is graded once more alone at
the end, so a neighbour hogging the CPU cannot cost an honest student points.  ``budget`` bounds
the whole run: what it leaves ungraded is reported as such, never as a pass.

DIR receives ``grades.csv`` (a row per student: points, status and named mistake per exercise),
``summary.csv`` (per exercise: pass rate, the most common named mistake), ``histogram.png`` and
``results/STUDENT.json`` (Gradescope's format, one per student).  All of it is written by this
process, after every child is gone.
"""
from __future__ import annotations

import collections
import csv
import os
import re
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import grader, report, sandbox
from .catalogue import EXERCISES

MAX_ZIP_MEMBERS = 500
MAX_ZIP_BYTES = 20 * 2 ** 20        # uncompressed, all .py members together
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


@dataclass
class Student:
    name: str
    source: Path                     # the folder or zip as submitted
    folder: Path | None = None       # where its files are (a zip unpacked)
    problem: str | None = None       # why it could not be read at all
    results: list = field(default_factory=list)


def find_submissions(root):
    """[Student] for every folder and .zip in ``root``, sorted by name.  One that is a symbolic
    link is never followed: it is that student's problem."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"SUBMISSIONS {root}: no such folder")
    students = []
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            continue
        link = p.is_symlink()
        name = p.stem if p.suffix.lower() == ".zip" and (link or p.is_file()) else p.name
        if not (p.is_dir() or p.suffix.lower() == ".zip"):
            continue
        if not _NAME.match(name):
            raise ValueError(f"SUBMISSIONS: {p.name!r} is not a usable student name (letters, "
                             f"digits and . _ @ + - only)")
        students.append(Student(name, p, problem=f"{p.name} is a symbolic link, which the "
                                                 f"grader never follows" if link else None))
    names = [s.name for s in students]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"SUBMISSIONS: two submissions for {', '.join(dup)} (a folder and a zip?)")
    if not students:
        raise ValueError(f"SUBMISSIONS {root}: no student folders or .zip files in it")
    return students


def unpack(zip_path, dest):
    """Extract the .py files of a student's zip into ``dest``, refusing absolute paths, '..',
    links and bombs.  -> None, or why the zip was refused."""
    try:
        with zipfile.ZipFile(zip_path) as z:
            infos = z.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                return f"the zip has {len(infos)} members (at most {MAX_ZIP_MEMBERS})"
            wanted = [i for i in infos if i.filename.endswith(".py") and not i.is_dir()]
            if sum(i.file_size for i in wanted) > MAX_ZIP_BYTES:
                return f"its .py files unpack to more than {MAX_ZIP_BYTES // 2 ** 20} MiB"
            for info in wanted:
                parts = Path(info.filename.replace("\\", "/")).parts
                if (info.filename.startswith(("/", "\\")) or ".." in parts or not parts
                        or (info.external_attr >> 16) & 0o170000 == 0o120000):
                    return f"it holds an unsafe path {info.filename!r}"
                if any(p.startswith(".") or p == "__MACOSX" for p in parts):
                    continue
                target = Path(dest, *parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                data = z.read(info)
                if len(data) > sandbox.MAX_SOURCE_BYTES:
                    return f"{info.filename} is larger than {sandbox.MAX_SOURCE_BYTES} bytes"
                target.write_bytes(data)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as err:
        return f"the zip could not be read ({err})"
    return None


def _grade_student(student, exercises, seed, timeout, memory, jail, deadline):
    results = []
    for ex in exercises:
        left = deadline - time.monotonic()
        if student.problem:
            results.append(grader.missing(ex, None, student.problem, seed=seed))
            continue
        try:
            path = grader.default_file(ex, student.folder)
        except FileNotFoundError as err:     # none, several, or a link or folder in its place
            results.append(grader.missing(ex, None, _shown(student, str(err).split("; give")[0]),
                                          seed=seed))
            continue
        except (OSError, ValueError) as err:
            results.append(grader.ungraded(ex, None, "error", _shown(
                student, f"the files of {student.source.name} could not be listed: {err}"),
                "could not be read", seed=seed))
            continue
        if left < 1.0:
            results.append(_out_of_budget(ex, path, seed))
            continue
        results.append(_grade_file(student, ex, path, seed, min(timeout, left), memory, jail))
    return results


def _grade_file(student, ex, path, seed, timeout, memory, jail):
    """grade_file, where a problem of the student's file (a link, a folder, a file gone or
    unreadable) is this student's result for ``ex``: it never stops the class."""
    try:
        return grader.grade_file(ex, path, seed=seed, timeout=timeout, memory_mb=memory,
                                 jail=jail)
    except FileNotFoundError as err:
        return grader.missing(ex, path, _shown(student, str(err)), seed=seed)
    except (OSError, ValueError) as err:
        return grader.ungraded(ex, path, "error", _shown(
            student, f"{Path(path).name} could not be graded: {err}"), "could not be graded",
            seed=seed)


def _shown(student, text):
    """``text`` with the student's folder (a temporary one for a zip) named as submitted."""
    return text.replace(str(student.folder), student.source.name) if student.folder else text


def _out_of_budget(ex, path, seed):
    return grader.ungraded(ex, path, "timeout", "not graded: the class's time budget (--budget) "
                           "ran out before this exercise", "not graded (time budget)", seed=seed)


def grade_class(root, out, jobs=2, budget=3600.0, seed=0, timeout=sandbox.DEFAULT_TIMEOUT,
                memory=sandbox.DEFAULT_MEMORY_MB, points=None, partial=False, log=print):
    """Grade every submission in ``root`` and write the class's files into ``out``.
    -> the summary dict (also what the printed report shows)."""
    jobs = int(jobs)
    if jobs < 1:
        raise ValueError(f"-j/--jobs must be >= 1, got {jobs}")
    if not budget > 0:
        raise ValueError(f"--budget must be positive seconds, got {budget}")
    students = find_submissions(root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exercises = list(EXERCISES)
    points = points or {ex.number: 1.0 for ex in exercises}
    start = time.monotonic()
    deadline = start + float(budget)
    root_hidden = str(Path(root).resolve())
    with tempfile.TemporaryDirectory(prefix="numpyvae-class-") as tmp:
        for s in students:
            if s.problem:
                continue
            if s.source.is_dir():
                s.folder = s.source
            else:
                s.folder = Path(tmp, s.name)
                try:
                    s.folder.mkdir()
                    s.problem = unpack(s.source, s.folder)
                except OSError as err:           # e.g. Bob.zip beside bob.zip, case-blind disk
                    s.problem = f"it could not be unpacked ({err.strerror or err})"
                if s.problem:
                    s.problem = f"{s.source.name}: {s.problem}"
        lock = threading.Lock()
        done = [0]

        def work(s):
            try:
                jail = sandbox.Jail(hide=(root_hidden, tmp))   # a fresh uid for every exercise
                s.results = _grade_student(s, exercises, seed, timeout, memory, jail, deadline)
            finally:
                with lock:
                    done[0] += 1
                    n_pass = sum(r.passed for r in s.results)
                    log(f"  [{done[0]:>3}/{len(students)}] {s.name:<24} {n_pass:>2} of "
                        f"{len(exercises)} pass  ({time.monotonic() - start:.0f} s)")

        log(f"grading {len(students)} submissions, {jobs} at a time, each exercise in its own "
            f"jail (time budget {budget:g} s)")
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, students))
        # again, alone: what timed out or ended early while other students ran beside it
        if jobs > 1:
            for s in students:
                for i, r in enumerate(s.results):
                    if r.status in ("timeout", "error") and r.file and r.message and (
                            "time limit" in r.message or "ended before" in r.message):
                        left = deadline - time.monotonic()
                        if left < 1.0:
                            break
                        s.results[i] = _grade_file(
                            s, r.exercise, r.file, seed, min(timeout, left), memory,
                            sandbox.Jail(hide=(root_hidden, tmp)))
    seconds = time.monotonic() - start
    summary = _write(students, exercises, points, partial, out, seconds)
    for line in summary_lines(summary):
        log(line)
    return summary


def _mistake(result):
    """The named mistake of a failed exercise: the first diagnosis, or its status."""
    for c in result.checks:
        if c.diagnosis is not None:
            return c.diagnosis.kind
    return "" if result.passed else result.status


def _write(students, exercises, points, partial, out, seconds):
    (out / "results").mkdir(exist_ok=True)
    rows = []
    per_ex = {ex.key: {"graded": 0, "passed": 0, "mistakes": collections.Counter()}
              for ex in exercises}
    for s in students:
        gs = report.gradescope(s.results, points, partial)
        _atomic(out / "results" / f"{s.name}.json", report.json_text(gs))
        row = {"student": s.name, "total": gs["score"],
               "max": sum(points.get(ex.number, 1.0) for ex in exercises)}
        for r, t in zip(s.results, gs["tests"], strict=True):
            key = r.exercise.key
            row[key] = t["score"]
            row[f"{key} status"] = r.status
            row[f"{key} mistake"] = _mistake(r)
            if r.status != "missing":
                per_ex[key]["graded"] += 1
            per_ex[key]["passed"] += r.passed
            if not r.passed and r.status != "missing":
                per_ex[key]["mistakes"][_mistake(r)] += 1
        rows.append(row)
    fields = ["student", "total", "max"] + [f"{ex.key}{suffix}" for ex in exercises
                                            for suffix in ("", " status", " mistake")]
    _atomic(out / "grades.csv", _csv(fields, rows))
    ex_rows = []
    for ex in exercises:
        d = per_ex[ex.key]
        common = d["mistakes"].most_common(1)
        ex_rows.append({"exercise": ex.key, "submitted": d["graded"], "passed": d["passed"],
                        "pass_rate": round(d["passed"] / len(students), 4),
                        "most_common_mistake": common[0][0] if common else "",
                        "times": common[0][1] if common else 0})
    _atomic(out / "summary.csv", _csv(list(ex_rows[0]), ex_rows))
    totals = [r["total"] for r in rows]
    figure = _histogram(totals, ex_rows, rows[0]["max"] if rows else 0, out / "histogram.png")
    unfinished = sum(r.message is not None and "time budget" in r.message
                     for s in students for r in s.results)
    return {"students": rows, "exercises": ex_rows, "seconds": round(seconds, 1),
            "out": str(out), "figure": figure, "n": len(students), "unfinished": unfinished}


def _csv(fields, rows):
    import io
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _atomic(path, text):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _histogram(totals, ex_rows, max_points, path):
    import matplotlib
    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    bins = np.arange(-0.5, max(max_points, 1) + 1.0, 1.0)
    a.hist(totals, bins=bins, color="C0", edgecolor="white")
    a.set_xlabel(f"points (of {max_points:g})")
    a.set_ylabel("students")
    a.set_title(f"{len(totals)} students: mean {np.mean(totals):.1f}, median "
                f"{np.median(totals):.1f}", fontsize=10)
    keys = [r["exercise"][:2] for r in ex_rows]
    rates = [100 * r["pass_rate"] for r in ex_rows]
    b.bar(keys, rates, color="C2")
    b.set_ylim(0, 105)
    b.set_xlabel("exercise")
    b.set_ylabel("% of students passing")
    b.set_title("pass rate per exercise", fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
    return str(path)


def summary_lines(summary):
    lines = ["", f"  {'exercise':<16} {'passed':>9}  most common mistake"]
    n = summary["n"]
    for r in summary["exercises"]:
        mistake = f"{r['most_common_mistake']} ({r['times']})" if r["times"] else "-"
        lines.append(f"  {r['exercise']:<16} {r['passed']:>3} of {n:<3}  {mistake}")
    totals = [s["total"] for s in summary["students"]]
    lines += ["", f"  {n} students, mean {sum(totals) / max(n, 1):.2f} points; "
                  f"{summary['seconds']:.0f} s",
              f"  wrote {summary['out']}/grades.csv, summary.csv, histogram.png and "
              f"results/STUDENT.json"]
    if summary["unfinished"]:
        lines.append(f"  NOT FINISHED: the time budget ran out with {summary['unfinished']} "
                     f"exercises ungraded (they score 0); give a larger --budget")
    return lines
