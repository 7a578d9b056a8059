"""The grader against hostile student files (issue 24): each attack of tests/hostile.py runs
through the ``numpyvae check`` command as Gradescope runs it (``--gradescope`` and ``--json``),
and must end non-zero, with both files written by the grader, showing no pass, and nothing the
student started left running.  CI runs as root, so the privilege drop is tested there; as an
unprivileged user the tests check what the user namespace gives instead.

Before this issue: the forged file survived (exit 137, 12/12), SIGSTOP hung the grader, a
malformed answer crashed it, an 8 TiB header left no results file, the reference import and the
numerical gradient passed, and the daemon outlived the grader.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hostile import ATTACKS, MARKER, ROOT_WARNING

from numpyvae.exercises import find_exercise, grader, sandbox

ROOT = os.geteuid() == 0
EXE = [sys.executable, "-m", "numpyvae.cli"]


def _left_running(marker):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    out.append(int(pid))
            except OSError:
                pass
    return out


_MARKERS = []


def _own(source):
    """The attack with a marker of this test's own (tests may run side by side)."""
    marker = f"{MARKER}-{os.getpid()}-{len(_MARKERS)}"
    _MARKERS.append(marker)
    return source.replace(MARKER, marker)


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def nothing_left():
    start = len(_MARKERS)
    yield
    time.sleep(0.2)
    left = [pid for marker in _MARKERS[start:] for pid in _left_running(marker)]
    _kill(left)
    assert not left, f"processes the student started outlived the grader: {left}"


def _check(tmp_path, number, source, *extra, timeout=8):
    f = tmp_path / "student" / "attack.py"
    f.parent.mkdir(exist_ok=True)
    f.write_text(textwrap.dedent(_own(source)))
    gs, js = tmp_path / "results.json", tmp_path / "result.json"
    cwd = tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    p = subprocess.run([*EXE, "check", str(number), "--file", str(f), "--gradescope", str(gs),
                        "--json", str(js), "--timeout", str(timeout), *extra],
                       capture_output=True, text=True, timeout=120, cwd=cwd)
    return p, json.loads(gs.read_text()), json.loads(js.read_text())


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_scores_nothing_and_leaves_nothing(name, tmp_path, nothing_left):
    number, source = ATTACKS[name]
    p, gs, res = _check(tmp_path, number, source)
    assert p.returncode == 1, p.stdout + p.stderr
    assert gs["score"] == 0 and all(t["score"] == 0 for t in gs["tests"]), gs
    assert res["passed"] is False and res["status"] in ("fail", "error", "timeout"), res
    assert ROOT_WARNING not in res["output"], "the student's code ran with the grader's root"
    if ROOT:                                  # the jail as Gradescope and CI get it
        held = {n: h for n, h, _ in res["sandbox"]}
        assert held and all(held.values()), res["sandbox"]
    assert not (tmp_path / "student" / "numpyvae-hostile-was-here").exists()
    assert not Path("/tmp/numpyvae-hostile-was-here").exists()


def test_forged_file_does_not_survive(tmp_path, nothing_left):
    p, gs, res = _check(tmp_path, *ATTACKS["forge_and_kill"])
    assert p.returncode == 1
    assert gs["tests"] and gs["tests"][0]["status"] == "failed"   # the grader's own file
    assert "passed" not in gs


def test_sigstop_ends_as_a_time_out(tmp_path, nothing_left):
    t = time.monotonic()
    p, gs, res = _check(tmp_path, *ATTACKS["sigstop_parent"], timeout=3)
    assert res["status"] == "timeout" and "time limit of 3 s" in res["message"]
    assert time.monotonic() - t < 60


@pytest.mark.parametrize("name", ["malformed_answer", "oversized_answer"])
def test_malformed_answers_are_named(name, tmp_path, nothing_left):
    p, gs, res = _check(tmp_path, *ATTACKS[name])
    assert res["status"] == "error"
    assert "your code's results could not be read" in res["message"]


@pytest.mark.parametrize("name", ["import_solutions", "import_library_kernel"])
def test_reference_import_is_refused_with_the_reason(name, tmp_path, nothing_left):
    p, gs, res = _check(tmp_path, *ATTACKS[name])
    assert "exercises must be your own code" in res["message"], res["message"]


def test_numerical_gradient_is_named(tmp_path, nothing_left):
    p, gs, res = _check(tmp_path, *ATTACKS["numerical_gradient"])
    kinds = {c["gradient"]: c["diagnosis"] and c["diagnosis"]["kind"] for c in res["checks"]}
    assert kinds["dx"] == kinds["dW"] == "numerical", kinds
    assert "looks numerically differentiated" in p.stdout


def test_snooping_finds_no_secret(tmp_path, nothing_left, monkeypatch):
    number, source = ATTACKS["snoop"]
    secret = tmp_path / "seed"
    secret.write_text("918273645")
    secret.chmod(0o600)
    monkeypatch.setenv("NUMPYVAE_TEST_SECRET", "hunter2-secret")
    p, gs, res = _check(tmp_path, number, source, "--seed-file", str(secret))
    out = res["output"]
    assert "ENV [" in out and "NUMPYVAE_TEST_SECRET" not in out and "hunter2" not in out
    assert "918273645" not in out and "--seed" not in out and "--gradescope" not in out
    if ROOT:
        assert "READ /etc/shadow" not in out and "DENIED /etc/shadow" in out
        # its /proc shows its own processes only: the grader's command line is not there
        assert "numpyvae.cli" not in out and "pytest" not in out


def test_installed_package_cannot_be_patched(tmp_path, nothing_left):
    """After the attack a later student's sign error in exercise 06 still fails."""
    p, gs, res = _check(tmp_path, *ATTACKS["patch_installed_package"])
    assert "PATCHED /" not in res["output"].replace("NOT PATCHED", "")
    sign_error = textwrap.dedent("""
        def kl_std_normal_backward(dkl, cache):
            mu, var = cache
            return mu * dkl[:, None], 0.5 * (var + 1) * dkl[:, None]
    """)
    p2, gs2, res2 = _check(tmp_path, 6, sign_error)
    assert gs2["score"] == 0 and res2["status"] == "fail"


def test_fork_bomb_is_bounded(tmp_path, nothing_left):
    p, gs, res = _check(tmp_path, *ATTACKS["fork_bomb"])
    if ROOT:
        assert "fork refused after" in res["output"]


def test_results_files_written_when_the_grader_itself_is_stopped(tmp_path):
    """SIGTERM (Gradescope's time-out) while a student's code runs: both files still say 0."""
    f = tmp_path / "slow.py"
    f.write_text("import time\ndef softplus_backward(dy, cache):\n    time.sleep(60)\n")
    gs, js = tmp_path / "results.json", tmp_path / "result.json"
    proc = subprocess.Popen([*EXE, "check", "03", "--file", str(f), "--gradescope", str(gs),
                             "--json", str(js)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert json.loads(gs.read_text())["score"] == 0.0
    assert json.loads(js.read_text())["passed"] is False


# ------------------------------------------------------------------ without namespaces


def _grade_in_child(tmp_path, name, jail_args, timeout):
    """Grade in a separate process (a stopped grader must not stop the test run)."""
    number, source = ATTACKS[name]
    f = tmp_path / f"{name}.py"
    f.write_text(_own(source))
    code = textwrap.dedent(f"""
        import json
        from numpyvae.exercises import find_exercise, grader, sandbox
        r = grader.grade_file(find_exercise({number}), {str(f)!r}, timeout={timeout},
                              jail=sandbox.Jail(**{jail_args!r}))
        print(json.dumps({{"status": r.status, "output": r.output,
                          "protections": r.protections}}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout + 40)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("the grader hung")
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not ROOT, reason="a grader whose student runs with its own uid needs root "
                                     "to emulate here")
def test_without_namespaces_a_watchdog_ends_a_stopped_grader(tmp_path, nothing_left):
    """The student runs with the grader's own uid and no PID namespace (what a non-root
    grader gets where user namespaces are off) and SIGSTOPs the grader: the watchdog, another
    process, resumes it, and the time limit still fires."""
    r = _grade_in_child(tmp_path, "sigstop_grader", {"namespaces": False, "uid": 0, "gid": 0},
                        timeout=4)
    assert r["status"] == "timeout"
    weak = [name for name, held, _ in r["protections"] if not held]
    assert any("PID namespace" in n for n in weak)        # and the report says so


@pytest.mark.skipif(not ROOT, reason="the privilege drop needs root")
@pytest.mark.parametrize("name", ["daemon", "forge_and_kill", "snoop"])
def test_without_namespaces_root_still_drops_privileges(name, tmp_path, nothing_left):
    r = _grade_in_child(tmp_path, name, {"namespaces": False}, timeout=8)
    assert r["status"] in ("fail", "error")
    assert ROOT_WARNING not in r["output"]


def test_reports_which_protections_hold(tmp_path):
    f = tmp_path / "ok.py"
    f.write_text(grader.solution_source(find_exercise(3)))
    r = grader.grade_file(find_exercise(3), f, jail=sandbox.Jail(namespaces=False))
    from numpyvae.exercises.report import format_result
    text = format_result(r)
    assert r.passed
    assert "these protections do not hold on this machine" in text
    assert "own PID namespace" in text
