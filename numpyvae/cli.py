"""The ``numpyvae`` command.  Each subcommand lives in ``numpyvae/commands/<name>.py``.

    numpyvae train ...          train a VAE, write figures, metrics and checkpoints
    numpyvae evaluate RUN_DIR   importance-sampled test log-likelihood
    numpyvae sample RUN_DIR     samples from a trained model
    numpyvae check EXERCISE     grade a gradient-check exercise
    numpyvae lesson list|run    the course lessons (also: copy, notebook)
    numpyvae exercises init DIR a student workspace with the exercise stubs
    numpyvae variance           score-function vs pathwise estimator variance study
    numpyvae bench              throughput benchmark
    numpyvae reproduce NAME     re-run a paper experiment
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

COMMANDS = {
    "train": "train", "evaluate": "evaluate", "sample": "sample", "check": "check",
    "lesson": "lesson", "exercises": "exercises",
    "variance": "variance", "bench": "bench", "reproduce": "reproduce",
}


_THREADED = ("train", "evaluate", "variance", "check", "lesson")   # commands taking --threads N


def _load(name):
    try:
        return importlib.import_module(f"numpyvae.commands.{COMMANDS[name]}")
    except ModuleNotFoundError as err:
        if err.name == f"numpyvae.commands.{COMMANDS[name]}":
            return None
        raise


def build_parser():
    parser = argparse.ArgumentParser(
        prog="numpyvae", description="Variational autoencoders in NumPy, every gradient by hand.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        if name in _THREADED and not any("--threads" in a.option_strings for a in p._actions):
            p.add_argument("--threads", metavar="N", type=int, default=None,
                           help="BLAS threads (default 1, or what OPENBLAS_NUM_THREADS says: more "
                                "threads help only on an idle machine)")
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    from . import _threads, tune_process
    tune_process()                  # the command's process-wide settings, before NumPy loads
    # --threads N: BLAS threads, set before the command runs
    words = sys.argv[1:] if argv is None else list(argv)
    threads = _threads.threads_from_argv(words)
    if threads is None:                # no --threads: one, unless the environment chose
        threads = _threads.default_threads()
    if threads is not None and words and words[0] in _THREADED:   # (bench has its own --threads)
        _threads.set_blas_threads(threads)
    debug = "--debug" in words         # --debug: a traceback for every error
    words = [w for w in words if w != "--debug"]
    parser = build_parser()
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error")
    args = parser.parse_args(words)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, MemoryError) as err:
        if debug:
            traceback.print_exc()
            return 2 if _users_mistake(err) else 1
        if _users_mistake(err):        # bad arguments, missing files, a full disk: one line
            print(f"numpyvae {args.command}: error: {err or type(err).__name__}",
                  file=sys.stderr)
            return 2
        traceback.print_exc()          # anything else is a bug: keep its traceback
        print(f"numpyvae {args.command}: internal error (a bug in numpyvae, please report it "
              f"with the traceback above)", file=sys.stderr)
        return 1


def _users_mistake(err):
    """True for errors of the user's making: an OSError or MemoryError (the machine said no),
    or a ValueError/TypeError that numpyvae raised itself with a ``raise`` statement (its
    checks of arguments, files and data).  One raised inside NumPy, matplotlib or Python, or
    by an operation in numpyvae's code (``None + 1``), is a bug: it keeps its traceback."""
    import linecache
    import os
    if isinstance(err, (OSError, MemoryError)):
        return True
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    where = os.path.abspath(tb.tb_frame.f_code.co_filename)
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    line = linecache.getline(where, tb.tb_lineno).strip()
    return where.startswith(package) and line.startswith("raise ")


if __name__ == "__main__":
    sys.exit(main())
