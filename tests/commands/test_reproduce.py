"""Smoke tests of ``numpyvae reproduce``: each experiment's --smoke run (a few seconds, on the
built-in shapes: the data folder is forced empty) writes its outputs with finite numbers in a
plausible range.  The real runs and their numbers are in RESULTS.md."""
import math

import pytest

from numpyvae import cli
from numpyvae.reproduce import EXPERIMENTS, common
from numpyvae.reproduce.iwae import schedule


def _smoke(name, tmp_path, *extra):
    out = tmp_path / name
    (tmp_path / "no-data").mkdir(exist_ok=True)           # an empty data folder: no MNIST
    code = cli.main(["reproduce", name, "--smoke", "--out", str(out),
                     "--data-dir", str(tmp_path / "no-data"), *extra])
    assert code == 0
    assert (out / "run.json").is_file()
    return out


def _finite(rows, *keys):
    for r in rows:
        for k in keys:
            assert math.isfinite(r[k]), (k, r)


def test_list(capsys):
    assert cli.main(["reproduce", "list"]) == 0
    text = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in text


def test_a_data_dir_that_does_not_exist_is_refused_before_anything_runs(tmp_path, capsys):
    """A mistyped --data-dir used to fall back to the shapes data in silence (--smoke)."""
    out = tmp_path / "run"
    assert cli.main(["reproduce", "kingma-fig2", "--smoke", "--out", str(out),
                     "--data-dir", str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "typo is not an existing folder" in err
    assert not out.exists()


def test_unknown_name_and_bad_budget(tmp_path, capsys):
    assert cli.main(["reproduce", "nope"]) == 2
    assert cli.main(["reproduce", "iwae", "--budget", "-3", "--out", str(tmp_path)]) == 2
    assert "--budget" in capsys.readouterr().err


def test_kingma_fig2_smoke(tmp_path, capsys):
    out = _smoke("kingma-fig2", tmp_path)
    assert "shapes" in capsys.readouterr().out          # says that it fell back
    rows = common.read_csv(out / "summary.csv")
    assert [r["nz"] for r in rows] == [3, 5]
    _finite(rows, "train_elbo", "test_elbo")
    for r in rows:
        assert -800 < r["test_elbo"] < 0 and -800 < r["train_elbo"] < 0
        curve = common.read_csv(out / f"nz{r['nz']}" / "curve.csv")
        assert len(curve) >= 2
        assert curve[-1]["samples_seen"] > curve[0]["samples_seen"]
    assert (out / "kingma-fig2.png").stat().st_size > 1000


def test_kingma_fig2_resume_extends(tmp_path):
    out = _smoke("kingma-fig2", tmp_path, "--nz", "3", "--budget", "2000")
    before = common.read_csv(out / "nz3" / "curve.csv")[-1]["samples_seen"]
    # without --resume an existing run is an error, not overwritten
    assert cli.main(["reproduce", "kingma-fig2", "--smoke", "--out", str(out), "--nz", "3",
                     "--budget", "2000", "--data-dir", str(tmp_path / "no-data")]) == 2
    _smoke("kingma-fig2", tmp_path, "--nz", "3", "--budget", "4000", "--resume")
    after = common.read_csv(out / "nz3" / "curve.csv")[-1]["samples_seen"]
    assert after > before


def test_kingma_frey_smoke(tmp_path):
    out = _smoke("kingma-frey", tmp_path)
    rows = common.read_csv(out / "summary.csv")
    assert [r["nz"] for r in rows] == [2, 5]
    _finite(rows, "train_elbo", "test_elbo")
    for r in rows:                       # Gaussian decoder: a density, so it may be > 0
        assert -5000 < r["train_elbo"] < 1e5
    assert (out / "kingma-frey.png").is_file()


def test_iwae_smoke(tmp_path):
    out = _smoke("iwae", tmp_path)
    final = common.read_csv(out / "final.csv")
    assert [r["model"] for r in final] == ["vae", "iwae5"]
    _finite(final, "test_nll")
    for r in final:
        assert 20 < r["test_nll"] < 600
    stages = common.read_csv(out / "stages.csv")
    assert [s["stage"] for s in stages] == [1, 2, 1, 2]
    assert (out / "iwae.png").is_file()


def test_iwae_schedule():
    full = schedule(3280)
    assert [e for _, e, _ in full] == [3 ** i for i in range(8)]
    assert full[-1][2] == pytest.approx(1e-4)
    assert [e for _, e, _ in schedule(40)] == [1, 3, 9, 27]
    assert [e for _, e, _ in schedule(50)] == [1, 3, 9, 27, 10]


def test_pytorch_example_smoke(tmp_path):
    out = _smoke("pytorch-example", tmp_path)
    rows = common.read_csv(out / "epochs.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    _finite(rows, "test_loss", "seconds_per_epoch")
    assert 10 < rows[-1]["test_loss"] < 600
    assert (out / "pytorch-example.png").is_file()


def test_marginal_likelihood_smoke(tmp_path):
    out = _smoke("marginal-likelihood", tmp_path)
    rows = common.read_csv(out / "marginal.csv")
    assert [r["n_train"] for r in rows] == [100, 1000]
    _finite(rows, "train_logpx", "test_logpx")
    for r in rows:
        assert -800 < r["test_logpx"] < 0
        assert r["train_logpx"] >= r["train_elbo"] - 5     # log p(x) >= ELBO, up to noise
    assert (out / "marginal.png").is_file()


def test_log_points():
    pts = common.log_points(1000, 1_000_000, per_decade=4)
    assert pts[0] == 1000 and pts[-1] == 1_000_000 and len(pts) == 13
    assert pts == sorted(pts)


def test_iwae_full_evaluation_refuses_an_unfinished_stage(tmp_path):
    from numpyvae.reproduce.iwae import evaluate_checkpoint
    out = _smoke("iwae", tmp_path)
    path = out / "vae" / "schedule.json"
    sched = common.read_json(path)
    sched["stages"] = [s for s in sched["stages"] if s["stage"] != 2]    # as if still training
    common.write_json(path, sched)
    with pytest.raises(ValueError, match=r"stage 2 of 'vae'.*not finished.*\[1\]"):
        evaluate_checkpoint(str(out), "vae", 2)
    with pytest.raises(ValueError, match="stage 7 of 'iwae5'.*not finished"):
        evaluate_checkpoint(str(out), "iwae5", 7)
