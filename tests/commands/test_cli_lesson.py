"""``numpyvae lesson list`` and ``numpyvae lesson run``, called in-process through cli.main."""
import sys
from pathlib import Path

import pytest

from numpyvae import cli, lessonkit

LESSONS = Path(__file__).resolve().parents[2] / "lessons"


def test_list_prints_every_lesson_in_order(capsys):
    assert cli.main(["lesson", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    expected = lessonkit.list_lessons(LESSONS)
    assert len(lines) == len(expected) >= 6
    for line, (number, title, _) in zip(lines, expected):
        assert line == f"{number:02d}  {title}"
    numbers = [int(line.split()[0]) for line in lines]
    assert numbers == sorted(numbers)
    assert lines[0].startswith("01  ")
    assert any(line == "06  Gradient estimators: score function vs pathwise" for line in lines)


def test_run_02_quick_passes_and_writes_figures(tmp_path, capsys):
    out = tmp_path / "l02"
    assert cli.main(["lesson", "run", "02", "--quick", "--out", str(out), "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "checks passed" in text and "✗" not in text
    pngs = list(out.glob("*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_run_accepts_number_without_leading_zero(tmp_path, capsys):
    assert cli.main(["lesson", "run", "2", "--quick", "--out", str(tmp_path)]) == 0
    assert "checks passed" in capsys.readouterr().out


@pytest.mark.parametrize("spec, message", [("99", "there is no lesson 99"),
                                           ("abc", "must be a lesson number")])
def test_unknown_lesson_is_a_usage_error(spec, message, capsys):
    assert cli.main(["lesson", "run", spec, "--quick"]) == 2
    err = capsys.readouterr().err
    assert message in err and "01" in err          # names the lessons that do exist


def test_failing_check_gives_exit_status_1(tmp_path, capsys):
    (tmp_path / "01_bad.py").write_text(
        '"""01 · A lesson with a wrong check"""\n'
        "from numpyvae import lessonkit\n"
        "args = lessonkit.parse_args(__doc__)\n"
        "lessonkit.check('one is two', 1.0, 2.0)\n"
        "lessonkit.finish()\n", encoding="utf-8")
    code = cli.main(["lesson", "run", "1", "--lessons-dir", str(tmp_path),
                     "--out", str(tmp_path / "o")])
    assert code == 1
    captured = capsys.readouterr()
    assert "1 of 1 checks failed" in captured.err
    assert cli.main(["lesson", "list", "--lessons-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "01  A lesson with a wrong check"


def test_crashing_lesson_gives_exit_status_1(tmp_path, capsys):
    (tmp_path / "03_crash.py").write_text(
        '"""03 · Crash"""\nraise RuntimeError("boom")\n', encoding="utf-8")
    assert cli.main(["lesson", "run", "03", "--lessons-dir", str(tmp_path)]) == 1
    assert "boom" in capsys.readouterr().err


def test_missing_action_and_missing_dir(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["lesson"])
    assert info.value.code == 2
    assert cli.main(["lesson", "list", "--lessons-dir", str(tmp_path / "nowhere")]) == 2
    assert "no lessons directory" in capsys.readouterr().err


def test_list_and_run_work_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NUMPYVAE_LESSONS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lesson", "list"]) == 0
    assert capsys.readouterr().out.startswith("01  ")
    assert cli.main(["lesson", "run", "02", "--quick", "--threads", "1"]) == 0
    assert list((tmp_path / "lesson_out" / "02_generative_by_counting").glob("*.png"))


def test_notebook_without_jupytext_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jupytext", None)      # import jupytext -> ImportError
    assert cli.main(["lesson", "notebook", "06", str(tmp_path)]) == 2
    assert "numpyvae[notebooks]" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_notebook_has_the_docstring_as_doc_and_is_kept(tmp_path, capsys):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("jupytext")
    assert cli.main(["lesson", "notebook", "6", str(tmp_path)]) == 0
    path = tmp_path / "06_gradient_estimators.ipynb"
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source.startswith('__doc__ = """06 ')
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= 1
    path.write_text(path.read_text(encoding="utf-8").replace("Gradient", "GRADIENT"),
                    encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["lesson", "notebook", "6", str(tmp_path)]) == 0
    assert "kept" in capsys.readouterr().out and "GRADIENT" in path.read_text(encoding="utf-8")
    assert cli.main(["lesson", "notebook", "6", str(tmp_path), "--force"]) == 0
    assert "GRADIENT" not in path.read_text(encoding="utf-8")


def test_quiet_values_in_notebooks():
    v = lessonkit.Verdict(True)
    assert v and v == True and repr(v) == "True" and not lessonkit.Verdict(False)  # noqa: E712
    assert hasattr(v, "_ipython_display_") and hasattr(lessonkit.Results(), "_ipython_display_")
    assert lessonkit._name_from_doc("06 · Gradient estimators") == "06_gradient_estimators"
    assert lessonkit._name_from_doc("no number") == "lesson"


def test_notebook_extra_installs_every_command_the_instructions_name():
    """`numpyvae lesson notebook` tells the student to run `jupyter lab` and `jupyter nbconvert`:
    the [notebooks] extra must install the package behind each `jupyter X` it names."""
    import configparser
    import re

    from numpyvae.commands.lesson import notebook_instructions
    cfg = configparser.ConfigParser()
    cfg.read(LESSONS.parent / "setup.cfg", encoding="utf-8")
    extra = cfg["options.extras_require"]["notebooks"]
    installed = {re.split(r"[<>=!~ ]", line.strip())[0].lower()
                 for line in extra.splitlines() if line.strip()}
    provider = {"lab": "jupyterlab", "nbconvert": "nbconvert", "notebook": "notebook",
                "execute": "nbclient"}
    text = notebook_instructions("06_gradient_estimators.ipynb")
    named = set(re.findall(r"\bjupyter (\w+)", text))
    assert named >= {"lab", "nbconvert"}
    for sub in named:
        assert provider.get(sub) in installed, (sub, installed)
    assert {"jupytext", "ipykernel"} <= installed
