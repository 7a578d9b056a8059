"""Wall time of the README's commands at each ``--threads`` setting, idle and beside a CPU load.

    python benchmarks/thread_default.py [--rounds 2] [--load 0 2] [--epochs 2]

Runs ``numpyvae train --epochs E`` (the README's first command, shortened) and ``numpyvae lesson
run 01 --quick`` as a new user would, in child processes whose environment holds no thread
variables (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, ...), once per setting: ``--threads 1``,
``--threads 2``, no ``--threads`` at all (the default) and OpenBLAS's default (the default before
issue 27, one thread per core).  Settings alternate within each round,
so a change of the shared machine's load reaches all of them alike.  ``--load N`` adds N busy
Python processes (one spinning loop each) for the rounds of that condition, then ends them (by
their process ids).  The load average (``os.getloadavg``) is printed beside every time.
The default thread count (``_threads.default_threads``) was chosen from these numbers (issue 27).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
# name -> (arguments, environment added): "default" is numpyvae's (no --threads, no variable);
# "OpenBLAS default" is what a command without --threads got before issue 27 (OpenBLAS's one
# thread per core; a variable that the user sets is still obeyed, so it stands in for that)
SETTINGS = {"--threads 1": (["--threads", "1"], {}), "--threads 2": (["--threads", "2"], {}),
            "default": ([], {}),
            "OpenBLAS default": ([], {"OPENBLAS_NUM_THREADS": str(os.cpu_count())})}


def commands(epochs, out):
    return {"train": ["train", "--epochs", str(epochs), "--out", out, "--overwrite", "--quiet"],
            "lesson 01 --quick": ["lesson", "run", "01", "--quick", "--out",
                                  os.path.join(out, "lesson")]}


def timed(args, env):
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "numpyvae.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"numpyvae {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def spin():
    """A busy process (one core's worth of load)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--load", type=int, nargs="+", default=[0, 2],
                    help="busy processes added for each condition")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--commands", nargs="+", default=["train", "lesson 01 --quick"],
                    choices=["train", "lesson 01 --quick"])
    ap.add_argument("--settings", nargs="+", default=["--threads 1", "OpenBLAS default"],
                    choices=list(SETTINGS))
    a = ap.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["MPLBACKEND"] = "Agg"
    out = tempfile.mkdtemp(prefix="numpyvae-threads-")
    print(f"{os.cpu_count()} logical CPUs; each time: seconds (1-minute load average at its start)")
    try:
        for load in a.load:
            spinners = [spin() for _ in range(load)]
            try:
                time.sleep(1 if load else 0)
                for name, cmd in commands(a.epochs, out).items():
                    if name not in a.commands:
                        continue
                    rows = {s: [] for s in a.settings}
                    for r in range(a.rounds):
                        order = a.settings[r % len(a.settings):] + a.settings[:r % len(a.settings)]
                        for s in order:
                            la = os.getloadavg()[0]
                            args, extra = SETTINGS[s]
                            rows[s].append((timed(cmd + args, {**env, **extra}), la))
                            print(f"  (+{load} busy, round {r + 1}: {name} {s} "
                                  f"{rows[s][-1][0]:.1f} s, load {la:.1f})", flush=True)
                    for s, times in rows.items():
                        cells = ", ".join(f"{t:.1f} s ({la:.1f})" for t, la in times)
                        print(f"+{load} busy: {name:18s} {s:12s} {cells}", flush=True)
            finally:
                for p in spinners:
                    p.kill()
                    p.wait()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
