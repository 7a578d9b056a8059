"""``numpyvae check``: grade a gradient-check exercise.

    numpyvae check 03                         the stub 03_softplus.py (see --dir below)
    numpyvae check softplus --file my.py      a student's copy
    numpyvae check all [--dir DIR]            every exercise (the files NN_name.py in DIR)
    numpyvae check list                       the exercises
    numpyvae check 03 --json result.json      machine-readable result for an autograder
    numpyvae check all --dir submission --gradescope results.json --points 03=5,12=20
    numpyvae check 03 --show-solution         the reference solution (for instructors)

The student's file is imported and run in a child process with a time limit (``--timeout``,
default 60 s per exercise) and a memory limit (``--memory``); the verdict is computed here, from
the values the student's functions returned (see :mod:`numpyvae.exercises.sandbox`).

Exit status: 0 only when every graded exercise passes; 1 when any fails, is not implemented yet,
raised, timed out or is missing; 2 for a usage error (unknown exercise, bad option).  With
``--json`` or ``--gradescope`` the file is written on every run, a usage error included.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

HELP = "grade a gradient-check exercise (numpyvae check 03 --file my_softplus.py)"


def add_arguments(parser):
    parser.add_argument(
        "exercise", metavar="EXERCISE",
        help="number (3 or 03), name (softplus) or file stem (03_softplus) of the exercise; "
             "'all' for every exercise, 'list' to list them, 'train' to train the VAE with "
             "your functions (with --dir), 'class' to grade a class (SUBMISSIONS --out DIR)")
    parser.add_argument("submissions", metavar="SUBMISSIONS", nargs="?", default=None,
                        help="with 'class': a folder holding one folder or .zip per student, "
                             "named after the student")
    parser.add_argument("--file", metavar="PATH",
                        help="the student's file (default: NN_name.py in the exercises folder)")
    parser.add_argument("--dir", metavar="DIR",
                        help="folder holding the student's NN_name.py files (default: "
                             "$NUMPYVAE_LESSONS/exercises, else ./lessons/exercises, else the "
                             "stubs installed with numpyvae)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the result as JSON to PATH ('-' for stdout)")
    parser.add_argument("--gradescope", metavar="PATH",
                        help="also write Gradescope's results.json (one test per exercise)")
    parser.add_argument("--points", metavar="SPEC", default="1",
                        help="points per exercise for --gradescope: a number for every exercise "
                             "and/or EXERCISE=P pairs, comma-separated, e.g. '2,12=10' "
                             "(default 1 each)")
    parser.add_argument("--partial-credit", action="store_true",
                        help="--gradescope: give the fraction of passing gradients of an "
                             "exercise that does not pass, instead of 0")
    parser.add_argument("--timeout", metavar="S", type=float, default=None,
                        help="seconds allowed for the student's code per exercise (default 60)")
    parser.add_argument("--memory", metavar="MB", type=int, default=None,
                        help="memory limit of the student's code in MiB where the OS offers one "
                             "(default 2048; 0 for none)")
    parser.add_argument("--show-solution", action="store_true",
                        help="print the reference solution instead of grading (instructors)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random test inputs (default 0)")
    parser.add_argument("--seed-file", metavar="PATH", default=None,
                        help="read the seed from PATH instead (a secret seed stays off the "
                             "command line; make the file readable by the grader only)")
    g = parser.add_argument_group("check class (numpyvae check class SUBMISSIONS --out DIR)")
    g.add_argument("--out", metavar="DIR", default=None,
                   help="where to write grades.csv, summary.csv, histogram.png and "
                        "results/STUDENT.json")
    g.add_argument("-j", "--jobs", type=int, default=2,
                   help="students graded side by side (default 2)")
    g.add_argument("--budget", metavar="S", type=float, default=3600.0,
                   help="seconds for the whole class (default 3600); what it leaves "
                        "ungraded is reported, never passed")
    parser.add_argument("--threads", metavar="N", type=int, default=None,
                        help="BLAS threads of the student's code (default 1)")
    from .check_train import add_arguments as train_arguments    # numpyvae check train
    train_arguments(parser)


def say(text=""):
    """print, replacing what the terminal's encoding cannot show (σ, —, ε on a Latin-1 or
    ASCII console) instead of crashing."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = text.encode(encoding, errors="replace").decode(encoding)
    print(text)


def write_json(path, data, flag="--json"):
    text = json.dumps(data, indent=2, allow_nan=False)
    if path == "-":
        say(text)
        return
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{flag} {path}: the folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_points(spec, exercises):
    """``{exercise number: points}`` from ``--points`` (see its help); ValueError naming the
    argument on a bad item."""
    from ..exercises import catalogue
    points = {ex.number: 1.0 for ex in exercises}
    for item in str(spec).split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.rpartition("=")
        try:
            p = float(value)
        except ValueError:
            raise ValueError(f"--points: {item!r} is not a number or EXERCISE=POINTS") from None
        if not p >= 0 or p == float("inf"):
            raise ValueError(f"--points: {item!r}: points must be finite and >= 0")
        if not sep:
            points = {n: p for n in points}
        else:
            points[catalogue.find_exercise(key).number] = p
    return points


MIN_MEMORY_MB = 256           # Python and NumPy alone take about 150 MiB of address space


def _timeout(args):
    from ..exercises import sandbox
    if args.timeout is None:
        return sandbox.DEFAULT_TIMEOUT
    if not 0.5 <= args.timeout <= 86400:
        raise ValueError(f"--timeout must be seconds in [0.5, 86400], got {args.timeout}")
    return args.timeout


def _memory(args):
    from ..exercises import sandbox
    if args.memory is None:
        return sandbox.DEFAULT_MEMORY_MB
    if args.memory != 0 and not MIN_MEMORY_MB <= args.memory <= 2 ** 20:
        raise ValueError(f"--memory must be MiB in [{MIN_MEMORY_MB}, {2 ** 20}], or 0 for no "
                         f"limit, got {args.memory}")
    return args.memory


def _jobs_and_budget(args):
    if not 1 <= args.jobs <= 64:
        raise ValueError(f"-j/--jobs must be in [1, 64], got {args.jobs}")
    if not 1.0 <= args.budget <= 7 * 86400:
        raise ValueError(f"--budget must be seconds in [1, 604800], got {args.budget}")


def _grade_one(ex, args, grader, timeout, memory):
    """The Result for one exercise; a missing file is a Result with status "missing"."""
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            return grader.missing(ex, path, f"--file {path}: no such file", seed=args.seed)
    else:
        try:
            path = grader.default_file(ex, args.dir)
        except FileNotFoundError as err:
            return grader.missing(ex, None, str(err), seed=args.seed)
    return grader.grade_file(ex, path, seed=args.seed, timeout=timeout, memory_mb=memory,
                             threads=args.threads or 1)


def _error_json(args, message):
    """On a usage error, the --json / --gradescope files still say what happened."""
    data = {"status": "error", "passed": False, "message": message}
    for flag, target in (("--json", args.json), ("--gradescope", args.gradescope)):
        if target:
            with contextlib.suppress(OSError):
                write_json(target, data if flag == "--json" else
                            {"score": 0.0, "output": f"numpyvae check: {message}", "tests": []},
                            flag)


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run(args):
    """Grade; the --json / --gradescope files are written on every way out, a crash of the
    grader itself or a SIGTERM (Gradescope's time-out) included, and then show no pass."""
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        _error_json(args, str(err))
        raise
    except BaseException as err:
        _error_json(args, f"the grader stopped before it finished ({type(err).__name__}: "
                          f"{err}); no exercise is graded")
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _seed(args):
    if args.seed_file:
        from ..exercises import sandbox
        folder = str(Path(args.seed_file).resolve().parent)
        if folder not in sandbox.SECRETS:                # never in a jail
            sandbox.SECRETS.append(folder)
        try:
            text = Path(args.seed_file).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise FileNotFoundError(f"--seed-file {args.seed_file}: {err.strerror}") from None
        try:
            args.seed = int(text)
        except ValueError:
            raise ValueError(f"--seed-file {args.seed_file}: not an integer seed") from None
    if not 0 <= args.seed < 2 ** 63:
        raise ValueError(f"--seed must be an integer in [0, 2**63), got {args.seed}")
    return args.seed


def _run(args):
    from ..exercises import catalogue, grader, report

    spec = args.exercise.strip().lower()
    _seed(args)
    if spec == "class":
        return _run_class(args)
    if args.submissions is not None:
        raise ValueError(f"unexpected argument {args.submissions!r} (SUBMISSIONS is for "
                         f"'numpyvae check class SUBMISSIONS --out DIR')")
    if spec == "train":        # the student's kernels train the VAE (check_train.py)
        from .check_train import run_train
        return run_train(args)
    if spec == "list":
        for ex in catalogue.EXERCISES:
            fns = ", ".join(p.function for p in ex.parts)
            say(f"{ex.number:02d}  {ex.name:<12} {ex.title}   [{fns}]")
        return 0
    if spec == "all":
        if args.file:
            raise ValueError("--file names one student file; with 'all' use --dir DIR")
        exercises = list(catalogue.EXERCISES)
    else:
        exercises = [catalogue.find_exercise(args.exercise)]
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")

    if args.show_solution:
        for i, ex in enumerate(exercises):
            if i:
                say("\n")
            say(grader.solution_source(ex))
        return 0

    points = parse_points(args.points, exercises)
    timeout, memory = _timeout(args), _memory(args)
    if args.dir is not None and not Path(args.dir).is_dir():
        if spec != "all":
            raise FileNotFoundError(f"--dir {args.dir}: no such directory")
    results = []
    for i, ex in enumerate(exercises):
        result = _grade_one(ex, args, grader, timeout, memory)
        results.append(result)
        if result.status == "missing" and args.file:     # a usage error, but still the files
            _write_outputs(args, spec, results, points)
            print(f"numpyvae check: error: {result.message}", file=sys.stderr)
            return 2
        if args.json != "-":
            if i:
                say("\n" + "-" * 72)
            say(report.format_result(result))

    if len(results) > 1 and args.json != "-":
        say("\n" + "=" * 72)
        for r in results:
            say(f"  {r.exercise.number:02d} {r.exercise.name:<12} "
                   f"{report.STATUS_WORD[r.status]}")
        n_pass = sum(r.passed for r in results)
        say(f"  {n_pass} of {len(results)} exercises pass")

    _write_outputs(args, spec, results, points)
    return 0 if results and all(r.passed for r in results) else 1


def _run_class(args):
    from ..exercises import catalogue, classroom
    if args.submissions is None or args.out is None:
        raise ValueError("usage: numpyvae check class SUBMISSIONS --out DIR [-j N] [--budget S]")
    if args.file or args.dir:
        raise ValueError("check class reads SUBMISSIONS: --file and --dir do not apply")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    points = parse_points(args.points, catalogue.EXERCISES)
    _jobs_and_budget(args)
    summary = classroom.grade_class(args.submissions, args.out, jobs=args.jobs,
                                    budget=args.budget, seed=args.seed, timeout=_timeout(args),
                                    memory=_memory(args), points=points,
                                    partial=args.partial_credit, log=say)
    if args.json:
        write_json(args.json, summary)
    return 1 if summary["unfinished"] else 0


def _write_outputs(args, spec, results, points):
    from ..exercises import report
    if args.json:
        if spec == "all":
            data = {"passed": all(r.passed for r in results), "seed": args.seed,
                    "status": "pass" if all(r.passed for r in results) else "fail",
                    "n_pass": sum(r.passed for r in results), "n_exercises": len(results),
                    "exercises": [report.result_to_dict(r) for r in results]}
        else:
            data = report.result_to_dict(results[0])
        write_json(args.json, data)
    if args.gradescope:
        write_json(args.gradescope, report.gradescope(results, points, args.partial_credit),
                    "--gradescope")
