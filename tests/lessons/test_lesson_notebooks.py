"""Every lesson, executed as a notebook in quick mode, shows each figure it writes inline.

``numpyvae lesson notebook NN`` writes the notebook (jupytext); nbclient executes it with
NUMPYVAE_LESSON_ARGS="--quick --out DIR".  The number of PNG images among the cell outputs must
equal the number of figures the lesson wrote to DIR, every check must pass, and no cell may
end in an error.  Lessons 08 and 09 use MNIST and Frey Face when $NUMPYVAE_DATA holds them and
the shapes otherwise; the figure count must match either way.
"""
import pytest
from lesson_runs import LESSONS

from numpyvae import cli, lessonkit

NUMBERS = [n for n, _, _ in lessonkit.list_lessons(LESSONS)]


@pytest.mark.parametrize("number", NUMBERS, ids=[f"lesson{n:02d}" for n in NUMBERS])
def test_notebook_shows_every_figure_the_lesson_writes(number, tmp_path, monkeypatch):
    pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    assert cli.main(["lesson", "notebook", str(number), str(tmp_path),
                     "--lessons-dir", str(LESSONS)]) == 0
    (path,) = tmp_path.glob(f"{number:02d}_*.ipynb")
    nb = nbformat.read(path, as_version=4)
    out = tmp_path / "figures"
    monkeypatch.setenv("NUMPYVAE_LESSON_ARGS", f"--quick --out {out}")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs
              if o.output_type in ("display_data", "execute_result") and "image/png" in o.data]
    written = sorted(p.name for p in out.glob("*.png"))
    assert written, f"lesson {number:02d} wrote no figure to {out}"
    assert len(images) == len(written), (
        f"lesson {number:02d} wrote {len(written)} figures ({written}) but its notebook shows "
        f"{len(images)} inline")
    text = "".join(o.text for o in outputs if o.output_type == "stream")
    summary = [line for line in text.splitlines() if "checks passed" in line]
    assert summary, text[-2000:]
    n_pass, n_all = summary[-1].split()[0].split("/")
    assert n_pass == n_all and int(n_all) > 0, text[-2000:]
