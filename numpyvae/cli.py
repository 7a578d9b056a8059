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

COMMANDS = {
    "train": "train", "evaluate": "evaluate", "sample": "sample", "check": "check",
    "lesson": "lesson", "exercises": "exercises",
    "variance": "variance", "bench": "bench", "reproduce": "reproduce",
}


_THREADED = ("train", "variance", "check", "lesson")   # commands taking --threads N


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
                           help="BLAS threads (1 is faster on a shared or small machine)")
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    from . import _threads          # --threads N: BLAS threads, set before the command runs
    words = sys.argv[1:] if argv is None else list(argv)
    threads = _threads.threads_from_argv(words)
    if threads is not None and words and words[0] in _THREADED:   # (bench has its own --threads)
        _threads.set_blas_threads(threads)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, OSError) as err:
        # bad arguments and missing files: a one-line message, not a traceback
        print(f"numpyvae {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
