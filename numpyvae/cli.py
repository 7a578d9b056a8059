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


# commands taking --threads N, and one BLAS thread without it: every command whose work is matrix
# products (bench has its own --threads; exercises only copies files)
_THREADED = ("train", "evaluate", "variance", "check", "lesson", "reproduce", "sample")


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


MAX_THREADS = 1024
MAX_SEED = 2**32 - 1          # what every generator here accepts as one seed word


def check_flag(value, flag, lo, hi=None):
    """``value`` (a number from the command line) must lie in [lo, hi] (hi None: no upper
    bound) and be finite -> value; else ValueError "--flag must be ... from lo to hi, got v"."""
    import math
    whole = isinstance(lo, int) and (hi is None or isinstance(hi, int))
    ok = not isinstance(value, float) or math.isfinite(value)
    ok = ok and value >= lo and (hi is None or value <= hi)
    if not ok:
        kind = "a whole number" if whole else "a number"
        span = f">= {lo}" if hi is None else f"from {lo} to {hi}"
        raise ValueError(f"{flag} must be {kind} {span}, got {value}")
    return value


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``timeout``, a batch scheduler, ``docker stop``, a closed terminal)
    outside training, where the trainer's own handler saves a checkpoint first."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


class _StopSignals:
    """While active, SIGTERM and SIGHUP raise :class:`Terminated` (as Ctrl-C raises
    KeyboardInterrupt), so every command ends through the same clean path: a message, the
    checkpoint kept, exit 128 + the signal's number."""

    SIGNALS = ("SIGTERM", "SIGHUP")

    def __enter__(self):
        import signal
        import threading
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
                    self.previous[sig] = signal.signal(sig, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise Terminated(signum)

    def __exit__(self, *exc):
        import signal
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def signal_name(signum):
    import signal
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def main(argv=None):
    from . import _threads, tune_process
    tune_process()                  # the command's process-wide settings, before NumPy loads
    # --threads N: BLAS threads, set before the command runs
    words = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in words         # --debug: a traceback for every error
    words = [w for w in words if w != "--debug"]
    if words and words[0] in _THREADED:      # (bench has its own --threads)
        try:
            threads = _threads_flag(words)
        except ValueError as err:
            print(f"numpyvae {words[0]}: error: {err}", file=sys.stderr)
            return 2
        if threads is None:            # no --threads: one, unless the environment chose
            threads = _threads.default_threads()
        if threads is not None:
            _threads.set_blas_threads(threads)
    parser = build_parser()
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error")
    args = parser.parse_args(words)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    threads = getattr(args, "threads", None)       # bench's list too (its own --threads)
    for n in threads if isinstance(threads, list) else [threads]:
        if isinstance(n, int) and not 1 <= n <= MAX_THREADS:
            print(f"numpyvae {args.command}: error: --threads must be a whole number from 1 to "
                  f"{MAX_THREADS}, got {n}", file=sys.stderr)
            return 2
    seed = getattr(args, "seed", None)
    if isinstance(seed, int) and not 0 <= seed <= MAX_SEED:   # every command's --seed, checked once
        print(f"numpyvae {args.command}: error: --seed must be a whole number from 0 to "
              f"{MAX_SEED}, got {seed}", file=sys.stderr)
        return 2
    try:
        with _StopSignals():
            return int(args._run(args) or 0)
    except Terminated as stop:
        print(f"numpyvae {args.command}: stopped by {signal_name(stop.signum)}", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, MemoryError) as err:
        if debug:
            traceback.print_exc()
            return 2 if _users_mistake(err) else 1
        if _users_mistake(err):        # bad arguments, missing files, a full disk: one line
            what = f"out of memory ({err})" if isinstance(err, MemoryError) else err
            print(f"numpyvae {args.command}: error: {what or type(err).__name__}",
                  file=sys.stderr)
            return 2
        traceback.print_exc()          # anything else is a bug: keep its traceback
        print(f"numpyvae {args.command}: internal error (a bug in numpyvae, please report it "
              f"with the traceback above)", file=sys.stderr)
        return 1


def _threads_flag(words):
    """The N of ``--threads N`` / ``--threads=N`` checked against 1..MAX_THREADS -> int or None
    (absent).  Not a whole number -> None: argparse then reports it."""
    from . import _threads
    for i, a in enumerate(words):
        if a == "--":
            break
        if a == "--threads" and i + 1 < len(words):
            text = words[i + 1]
        elif a.startswith("--threads="):
            text = a.split("=", 1)[1]
        else:
            continue
        try:
            n = int(text)
        except ValueError:
            return None
        return _threads.check_threads(check_flag(n, "--threads", 1, MAX_THREADS))
    return None


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
