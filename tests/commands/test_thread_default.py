"""Without --threads a command runs on one BLAS thread (issue 27: OpenBLAS's one thread per core
collapsed on a loaded 2-core machine), unless the environment already chose a count."""
import os
import subprocess
import sys
import tempfile

import pytest

from numpyvae import _threads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CODE = ("import os, sys; from numpyvae import cli, _threads; "
        "rc = cli.main(sys.argv[1:]); "
        "print('RESULT', rc, _threads.blas_threads(), os.environ.get('OPENBLAS_NUM_THREADS'), "
        "_threads.workers())")


def _run(extra_env, command=("lesson", "list")):
    env = {k: v for k, v in os.environ.items() if k not in _threads.VARIABLES}
    env.update(extra_env)
    proc = subprocess.run([sys.executable, "-c", CODE, *command], env=env, capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    return line.split()[1:]


def test_default_threads_rule():
    assert _threads.default_threads({}) == _threads.DEFAULT_THREADS == 1
    assert _threads.default_threads({"OPENBLAS_NUM_THREADS": "2"}) is None
    assert _threads.default_threads({"OMP_NUM_THREADS": "4"}) is None
    assert _threads.default_threads({"OPENBLAS_NUM_THREADS": ""}) == 1


def test_a_command_without_threads_runs_on_one_blas_thread():
    """On a machine with more than one core OpenBLAS would start one thread per core; the
    command (and its child processes, through the environment) gets one."""
    rc, blas, env, workers = _run({})
    assert rc == "0" and env == "1" and workers == "1"
    if os.cpu_count() > 1 and blas != "None":
        assert blas == "1"


@pytest.mark.parametrize("command", [("reproduce", "list"), ("sample", "no-such-run")])
def test_every_command_that_multiplies_matrices_gets_the_default(command):
    """`reproduce` (hours of IWAE training) and `sample` had no --threads and ran on OpenBLAS's
    one thread per core, the default that collapsed on a loaded machine (issue 27)."""
    rc, blas, env, workers = _run({}, command)
    assert env == "1" and workers == "1", (command, rc)
    if os.cpu_count() > 1 and blas != "None":
        assert blas == "1"
    rc, blas, env, workers = _run({}, (*command, "--threads", "2"))
    assert env == "2" and (blas in ("2", "None") or os.cpu_count() < 2), (command, rc)


def test_the_users_environment_still_wins():
    rc, blas, env, workers = _run({"OPENBLAS_NUM_THREADS": "2"})
    assert rc == "0" and env == "2" and workers == "1"
    assert blas in ("2", "None") or os.cpu_count() < 2


def test_a_lesson_run_directly_gets_the_commands_default():
    """`python lessons/01_autoencoders.py` (not through `numpyvae lesson run`, which sets the
    environment for its child) parses its arguments with lessonkit: one BLAS thread unless the
    environment chose a count, as the command."""
    code = ("import os, sys; from numpyvae import lessonkit, _threads; import numpy; "
            "a = lessonkit.parse_args('x', argv=['--out', sys.argv[1]], name='t'); "
            "print('RESULT', a.threads, _threads.blas_threads(), os.environ.get('OPENBLAS_NUM_THREADS'))")
    for extra, want in (({}, "1"), ({"OPENBLAS_NUM_THREADS": "2"}, "None")):
        env = {k: v for k, v in os.environ.items() if k not in _threads.VARIABLES}
        env.update(extra)
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, "-c", code, tmp], env=env,
                                  capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        threads, blas, env_value = next(l for l in proc.stdout.splitlines()
                                        if l.startswith("RESULT")).split()[1:]
        assert threads == want
        if want == "1":
            assert env_value == "1" and (blas in ("1", "None") or os.cpu_count() < 2)
        else:
            assert env_value == "2"
