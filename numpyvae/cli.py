"""The ``numpyvae`` command.  Each subcommand lives in ``numpyvae/commands/<name>.py``.

    numpyvae train ...          train a VAE, write figures, metrics and checkpoints
    numpyvae evaluate RUN_DIR   importance-sampled test log-likelihood
    numpyvae sample RUN_DIR     samples from a trained model
    numpyvae check EXERCISE     grade a gradient-check exercise
    numpyvae lesson list|run    the course lessons
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
    "lesson": "lesson", "variance": "variance", "bench": "bench", "reproduce": "reproduce",
}


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
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
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
