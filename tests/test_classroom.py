"""Classroom use: the grader's child process (student code cannot fool, hang or crash it), batch
grading with missing files and Gradescope's format, the student workspace, lesson notebooks, the
installed wheel used from an empty folder, and --threads."""
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from numpyvae import _threads
from numpyvae.cli import build_parser, main
from numpyvae.commands.check import parse_points
from numpyvae.exercises import EXERCISES, find_exercise, grade_file

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / "lessons" / "exercises"

# a correct softplus_backward written out (the grader passes the input x as the second argument)
GOOD = """
import numpy as np
def softplus_backward(dy, cache):
    return dy * 0.5 * (1.0 + np.tanh(0.5 * cache))
"""


def write(folder, name, text):
    path = Path(folder) / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def check(*args, capsys):
    code = main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------- the child process


def test_correct_file_passes_and_its_prints_stay_out_of_stdout_json(tmp_path, capsys):
    path = write(tmp_path, "good.py", GOOD + "print('hello from the student')\n")
    code, out, _ = check("03", "--file", path, "--json", "-", capsys=capsys)
    assert code == 0
    data = json.loads(out)                         # stdout holds only the JSON
    assert data["status"] == "pass" and data["passed"] is True
    assert "hello from the student" in data["output"]


HOSTILE = {
    "sys_exit_at_import": "import sys\nsys.exit(0)\n",
    "os_exit_at_import": "import os\nos._exit(0)\n",
    "os_exit_in_function": """
        import os
        def softplus_backward(dy, cache):
            os._exit(0)
        """,
    "sys_exit_in_function": """
        import sys
        def softplus_backward(dy, cache):
            sys.exit(0)
        """,
    "patches_the_grader": """
        import numpy as np
        import numpyvae.exercises.grader as g
        import numpyvae.gradcheck as gc
        g._safe_rel_error = lambda a, b: 0.0
        gc.rel_error = lambda a, b: 0.0
        g.THRESHOLD = float("inf")
        def softplus_backward(dy, cache):
            return np.zeros_like(dy)
        """,
    "raises_base_exception": """
        class Escape(BaseException):
            pass
        def softplus_backward(dy, cache):
            raise Escape("not an Exception")
        """,
    "raises_keyboard_interrupt": """
        def softplus_backward(dy, cache):
            raise KeyboardInterrupt
        """,
    "prints_a_fake_pass": """
        import numpy as np
        print('result: PASS - 1 of 1 gradients agree')
        print('{"status": "pass", "passed": true}')
        def softplus_backward(dy, cache):
            print('PASS')
            return dy
        """,
    "returns_an_object": """
        class Liar:
            def __eq__(self, other):
                return True
            def __array__(self, *a, **k):
                raise RuntimeError("no")
        def softplus_backward(dy, cache):
            return Liar()
        """,
    "endless_loop": """
        def softplus_backward(dy, cache):
            while True:
                pass
        """,
    "sleeps": "import time\ntime.sleep(1000)\n",
    "prints_without_end": """
        import sys
        def softplus_backward(dy, cache):
            while True:
                sys.stdout.write("x" * 100000)
        """,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_exits_nonzero_with_a_json_status_other_than_pass(name, tmp_path, capsys):
    path = write(tmp_path, f"{name}.py", HOSTILE[name])
    out_json = tmp_path / "r.json"
    code, out, err = check("03", "--file", path, "--json", out_json, "--timeout", 3,
                           capsys=capsys)
    assert code == 1, out + err
    data = json.loads(out_json.read_text())
    assert data["status"] != "pass" and data["passed"] is False
    assert data["status"] in ("fail", "error", "timeout")
    assert "Traceback" not in out + err
    if name in ("endless_loop", "sleeps"):
        assert data["status"] == "timeout" and "time limit of 3 s" in data["message"]
        assert data["seconds"] < 3 + 30


def test_timeout_names_where_the_code_was(tmp_path):
    path = write(tmp_path, "loop.py", HOSTILE["endless_loop"])
    result = grade_file(find_exercise(3), path, timeout=2)
    assert result.status == "timeout" and not result.passed
    assert "in softplus_backward, case N=1" in result.message
    assert all(not c.passed and c.problem == "timed out" for c in result.checks)


def test_process_ending_in_the_function_is_an_error_saying_so(tmp_path):
    path = write(tmp_path, "bye.py", HOSTILE["os_exit_in_function"])
    result = grade_file(find_exercise(3), path)
    assert result.status == "error"
    assert "ended before it returned" in result.message and "os._exit" in result.message


def test_sys_exit_at_import_is_explained(tmp_path):
    path = write(tmp_path, "exits.py", HOSTILE["sys_exit_at_import"])
    result = grade_file(find_exercise(3), path)
    assert result.status == "error" and "called sys.exit(0)" in result.message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux-reliable")
def test_memory_limit_turns_a_huge_allocation_into_an_error(tmp_path):
    path = write(tmp_path, "hog.py", """
        import numpy as np
        def softplus_backward(dy, cache):
            big = np.ones(400 * 2 ** 20 // 8)      # 400 MiB
            return dy + big[:1]
        """)
    result = grade_file(find_exercise(3), path, memory_mb=300)
    assert result.status == "error" and "MemoryError" in result.parts[0].message
    result = grade_file(find_exercise(3), path, memory_mb=0)      # no limit: it runs (and fails)
    assert result.status == "fail"


def test_student_file_cannot_write_the_parents_namespace(tmp_path):
    """Patching in the child leaves the grader of this process alone."""
    import numpyvae.exercises.grader as g
    before = g._safe_rel_error
    path = write(tmp_path, "p.py", HOSTILE["patches_the_grader"])
    result = grade_file(find_exercise(3), path)
    assert result.status == "error" and "exercises must be your own code" in result.message
    assert g._safe_rel_error is before


def test_timeout_must_be_positive(capsys):
    code, _, err = check("03", "--timeout", 0, capsys=capsys)
    assert code == 2 and "--timeout" in err


# ------------------------------------------------------------- batch grading


def test_all_with_three_of_twelve_files_reports_missing_and_writes_gradescope(tmp_path, capsys):
    sub = tmp_path / "submission"
    sub.mkdir()
    write(sub, "03_softplus.py", GOOD)
    (sub / "01_dense.py").write_text((STUBS / "01_dense.py").read_text(encoding="utf-8"),
                                     encoding="utf-8")
    write(sub, "12_vae.py", "import sys\nsys.exit(0)\n")
    out_json, gs = tmp_path / "all.json", tmp_path / "results.json"
    code, out, _ = check("all", "--dir", sub, "--json", out_json, "--gradescope", gs,
                         "--points", "2,03=5,12=10", capsys=capsys)
    assert code == 1
    assert f"1 of {len(EXERCISES)} exercises pass" in out and "MISSING" in out
    data = json.loads(out_json.read_text(),
                      parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    statuses = {e["number"]: e["status"] for e in data["exercises"]}
    assert len(data["exercises"]) == len(EXERCISES)
    assert statuses[3] == "pass" and statuses[1] == "not-implemented" and statuses[12] == "error"
    assert {statuses[n] for n in statuses if n not in (1, 3, 12)} == {"missing"}
    g = json.loads(gs.read_text())
    assert {"score", "tests"} <= set(g) and len(g["tests"]) == len(EXERCISES)
    for t in g["tests"]:
        assert {"name", "score", "max_score", "status", "output"} <= set(t)
        assert t["status"] in ("passed", "failed") and isinstance(t["output"], str)
        assert 0 <= t["score"] <= t["max_score"]
    by_number = {int(t["number"]): t for t in g["tests"]}
    assert by_number[3]["score"] == 5 and by_number[3]["status"] == "passed"
    assert by_number[12]["max_score"] == 10 and by_number[12]["score"] == 0
    assert by_number[2]["max_score"] == 2 and "missing" in by_number[2]["output"]
    assert g["score"] == 5


def test_missing_dir_still_writes_every_entry(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code, _, _ = check("all", "--dir", tmp_path / "nowhere", "--json", out_json, capsys=capsys)
    assert code == 1
    assert [e["status"] for e in json.loads(out_json.read_text())["exercises"]] == \
        ["missing"] * len(EXERCISES)


def test_usage_error_still_writes_the_json(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code, _, _ = check("nonsense", "--json", out_json, capsys=capsys)
    assert code == 2
    data = json.loads(out_json.read_text())
    assert data["status"] == "error" and "no exercise" in data["message"]
    code, _, _ = check("03", "--file", tmp_path / "nope.py", "--json", out_json, capsys=capsys)
    assert code == 2 and json.loads(out_json.read_text())["status"] == "missing"


def test_partial_credit(tmp_path, capsys):
    sub = tmp_path / "s"
    sub.mkdir()
    part = find_exercise(6).parts[0]
    assert len(part.outputs) == 2
    # the reference with its second gradient negated: one of two gradients right
    write(sub, "06_kl.py", f"""
        def {part.function}(dkl, cache):
            mu, var = cache
            return mu * dkl[:, None], -0.5 * (var - 1.0) * dkl[:, None]
        """)
    gs = tmp_path / "g.json"
    check("06", "--dir", sub, "--gradescope", gs, "--points", "4", "--partial-credit",
          capsys=capsys)
    t = json.loads(gs.read_text())["tests"][0]
    assert t["max_score"] == 4 and t["score"] == 2 and t["status"] == "failed"
    check("06", "--dir", sub, "--gradescope", gs, "--points", "4", capsys=capsys)
    assert json.loads(gs.read_text())["tests"][0]["score"] == 0


@pytest.mark.parametrize("spec, expected", [("1", {3: 1.0, 12: 1.0}),
                                            ("2,12=10", {3: 2.0, 12: 10.0}),
                                            ("softplus=3", {3: 3.0, 12: 1.0})])
def test_points_spec(spec, expected):
    points = parse_points(spec, EXERCISES)
    for number, p in expected.items():
        assert points[number] == p


@pytest.mark.parametrize("spec", ["x", "03=-1", "03=inf", "nonsense=2"])
def test_bad_points_spec_names_the_argument(spec):
    with pytest.raises(ValueError, match="points|no exercise"):
        parse_points(spec, EXERCISES)


def test_submission_in_a_subfolder_is_found(tmp_path, capsys):
    (tmp_path / "upload" / "my_work").mkdir(parents=True)
    write(tmp_path / "upload" / "my_work", "03_softplus.py", GOOD)
    code, out, _ = check("03", "--dir", tmp_path / "upload", capsys=capsys)
    assert code == 0, out


# ------------------------------------------------------------- the workspace


def test_exercises_init_copies_and_never_overwrites(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["exercises", "init", str(ws)]) == 0
    names = sorted(p.name for p in ws.iterdir())
    assert names == sorted([ex.stub for ex in EXERCISES] + ["README.md"])
    assert "numpyvae check" in (ws / "README.md").read_text(encoding="utf-8")
    capsys.readouterr()
    (ws / "03_softplus.py").write_text(GOOD, encoding="utf-8")
    (ws / "05_gaussian.py").unlink()
    assert main(["exercises", "init", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "03_softplus.py" in out and "copied 1 file" in out
    assert (ws / "03_softplus.py").read_text(encoding="utf-8") == GOOD
    assert (ws / "05_gaussian.py").is_file()
    code, _, _ = check("03", "--dir", ws, capsys=capsys)
    assert code == 0
    code, _, _ = check("04", "--dir", ws, capsys=capsys)
    assert code == 1


def test_lesson_copy_never_overwrites(tmp_path, capsys):
    assert main(["lesson", "copy", "02", str(tmp_path)]) == 0
    (copy,) = tmp_path.glob("02_*.py")
    copy.write_text(copy.read_text(encoding="utf-8") + "\n# mine\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["lesson", "copy", "02", str(tmp_path)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert copy.read_text(encoding="utf-8").endswith("# mine\n")
    assert main(["lesson", "list", "--lessons-dir", str(tmp_path)]) == 0


# ------------------------------------------------------------- notebooks


def test_lesson_notebook_runs_in_quick_mode_with_inline_figures_and_no_stray_values(
        tmp_path, monkeypatch):
    pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    assert main(["lesson", "notebook", "06", str(tmp_path)]) == 0
    path = tmp_path / "06_gradient_estimators.ipynb"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("NUMPYVAE_LESSON_ARGS", "--quick")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type in ("execute_result", "error")]
    assert any(o.output_type == "display_data" and "image/png" in o.data for o in outputs)
    text = "".join(o.text for o in outputs if o.output_type == "stream")
    summary = [line for line in text.splitlines() if "checks passed" in line]
    assert summary, text[-2000:]
    n_pass, n_all = summary[-1].split()[0].split("/")
    assert n_pass == n_all and int(n_all) > 0
    assert "✗" not in text
    assert list((tmp_path / "lesson_out" / "06_gradient_estimators").glob("*.png"))
    # the notebook is kept when it exists
    assert main(["lesson", "notebook", "06", str(tmp_path)]) == 0


# ------------------------------------------------------------- threads


def test_threads_flag_is_accepted_and_sets_the_blas():
    parser = build_parser()
    for argv in (["train", "--threads", "1"], ["variance", "--threads", "1"],
                 ["check", "03", "--threads", "1"], ["lesson", "run", "02", "--threads", "1"]):
        assert parser.parse_args(argv).threads == 1
    assert _threads.threads_from_argv(["lesson", "run", "02", "--threads=3"]) == 3
    assert _threads.threads_from_argv(["train"]) is None
    before = _threads.blas_threads()
    try:
        assert _threads.set_blas_threads(1)
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
        if before is not None:
            assert _threads.blas_threads() == 1
    finally:
        if before is not None:
            _threads.set_blas_threads(before)
    with pytest.raises(ValueError, match="--threads"):
        _threads.set_blas_threads(0)


# ------------------------------------------------------------- the installed wheel


def test_wheel_installed_in_a_fresh_venv_works_from_an_empty_folder(tmp_path):
    """Build the wheel, install it (without dependencies, which come from this environment
    through a .pth file) into a fresh venv, and use it from an empty folder."""
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheels), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("numpyvae-*.whl")
    import zipfile
    with zipfile.ZipFile(wheel) as zf:                # numpyvae bench needs its benchmark
        assert "numpyvae/benchmarks/throughput.py" in zf.namelist()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    py = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site) / "_deps.pth").write_text("\n".join(sorted(deps)) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile",
                    "--target", site, str(wheel)], check=True, timeout=300)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMPYVAE_LESSONS")}
    env.update(MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")

    def numpyvae(*args):
        return subprocess.run([str(py), "-m", "numpyvae.cli", *args], cwd=empty, env=env,
                              capture_output=True, text=True, timeout=600)

    where = subprocess.run([str(py), "-c", "import numpyvae; print(numpyvae.__file__)"],
                           cwd=empty, env=env, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    r = numpyvae("lesson", "list")
    assert r.returncode == 0 and r.stdout.startswith("01  "), r.stderr
    r = numpyvae("lesson", "run", "02", "--quick", "--threads", "1")
    assert r.returncode == 0 and "checks passed" in r.stdout, r.stderr[-2000:]
    assert list((empty / "lesson_out" / "02_generative_by_counting").glob("*.png"))
    r = numpyvae("check", "03", "--json", "stub.json")
    assert r.returncode == 1 and json.loads((empty / "stub.json").read_text())["status"] == \
        "not-implemented"
    r = numpyvae("exercises", "init", "ws")
    assert r.returncode == 0 and (empty / "ws" / "03_softplus.py").is_file()
    write(empty, "good.py", GOOD)
    r = numpyvae("check", "03", "--file", "good.py", "--json", "good.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((empty / "good.json").read_text())["status"] == "pass"
    assert sorted(p.name for p in empty.iterdir()) == \
        ["good.json", "good.py", "lesson_out", "stub.json", "ws"]


def test_bench_threads_are_not_taken_for_blas_threads(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")
    with pytest.raises(SystemExit):
        main(["bench", "--threads", "1", "2", "--help"])
    assert os.environ["OPENBLAS_NUM_THREADS"] == "7"
