"""``numpyvae train / evaluate / sample`` end to end on the built-in shapes (small and fast)."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from numpyvae import checkpoint as ckpt
from numpyvae.cli import main
from numpyvae.commands.train import load_data, load_run
from numpyvae.plots import training as P
from numpyvae.train import METRICS, read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = ["--n-train", "300", "--n-test", "100", "--hidden", "32", "--batch-size", "32",
         "--quiet"]


def train(out, *extra):
    return main(["train", "--out", str(out), *SMALL, *extra])


def snapshot(folder):
    """{name: (bytes, mtime)} of every file under ``folder`` (to prove nothing changed)."""
    out = {}
    for base, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(base, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = (fh.read(), os.stat(p).st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def run2d(tmp_path_factory):
    """A finished 2-epoch run with z_dim 2 (so every figure, the manifold too, is drawn)."""
    out = tmp_path_factory.mktemp("run") / "r"
    assert train(out, "--epochs", "2", "--z-dim", "2") == 0
    return out


def test_a_run_writes_every_output(run2d):
    names = set(os.listdir(run2d)) - {".lock"}       # the writer's lock file (see lock_run_folder)
    assert names == {"config.json", "metrics.csv", "checkpoint.npz", "report.md", "curves.png",
                     "reconstructions.png", "samples.png", "traversals.png", "manifold.png",
                     "latents.png"}
    config = json.load(open(run2d / "config.json"))
    assert config["options"]["dataset"] == "shapes" and config["options"]["z_dim"] == 2
    assert config["model"]["hidden_dims"] == [32] and config["numpyvae"]
    rows = read_metrics(run2d / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2] and list(rows[0]) == list(METRICS)
    report = (run2d / "report.md").read_text()
    for name in names - {"report.md"}:
        assert f"({name})" in report, name


def test_every_png_opens_with_the_size_of_its_figure(run2d):
    model, opts, _ = load_run(str(run2d))
    test = load_data(opts, "test", opts["n_test"])
    rows = read_metrics(run2d / "metrics.csv")
    rng = np.random.default_rng(0)
    figures = {
        "curves.png": P.plot_curves(rows),
        "reconstructions.png": P.plot_reconstructions(model, test.x, (28, 28)),
        "samples.png": P.plot_samples(model, rng, (28, 28)),
        "traversals.png": P.plot_traversals(model, test.x, (28, 28)),
        "manifold.png": P.plot_manifold(model, (28, 28)),
        "latents.png": P.plot_latent_scatter(model, test.x, labels=test.labels,
                                             factors=test.factors),
    }
    for name, fig in figures.items():
        image = imread(run2d / name)
        w, h = fig.canvas.get_width_height()
        assert image.shape[:2] == (h, w), name
        assert image.std() > 0.05, f"{name} looks blank"


def test_frey_sized_images_use_the_image_shape():
    from numpyvae import VAE
    model = VAE(560, [16], 2, likelihood="gaussian", rng=np.random.default_rng(0))
    fig = P.plot_samples(model, np.random.default_rng(0), (28, 20), n=6, ncols=3)
    (ax,) = fig.axes
    assert ax.images[0].get_array().shape == (2 * 29 - 1, 3 * 21 - 1)


def test_sample_and_evaluate_commands(run2d, tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["sample", str(run2d), "--n", "9", "--seed", "4", "--out", str(out)]) == 0
    assert imread(out).ndim == 3
    assert main(["sample", str(run2d), "--n", "4"]) == 0
    assert (run2d / "samples-seed0.png").exists()
    assert main(["evaluate", str(run2d), "--k", "50", "--n", "40"]) == 0
    result = json.load(open(run2d / "evaluate.json"))
    assert result["n"] == 40 and result["k"] == 50
    assert result["log_likelihood"] >= result["elbo"] - 1.0
    assert "log p(x)" in capsys.readouterr().out
    os.remove(run2d / "evaluate.json")
    os.remove(run2d / "samples-seed0.png")


def test_resume_gives_the_same_run_as_training_straight(tmp_path):
    straight, parts = tmp_path / "straight", tmp_path / "parts"
    assert train(straight, "--epochs", "3", "--binarize", "dynamic", "--checkpoint-every", "4") == 0
    assert train(parts, "--epochs", "1", "--binarize", "dynamic") == 0
    assert main(["train", "--out", str(parts), "--resume", "--epochs", "3", "--quiet"]) == 0
    a, b = (ckpt.load(p / "checkpoint.npz") for p in (straight, parts))
    assert np.array_equal(a.params, b.params)
    rows = [read_metrics(p / "metrics.csv") for p in (straight, parts)]
    drop = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert drop(rows[0]) == drop(rows[1]) and len(rows[0]) == 3


def test_sigint_saves_a_checkpoint_and_resume_finishes_identically(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "numpyvae.cli", "train", "--out", str(tmp_path / "a"),
           *SMALL[:-1], "--epochs", "500"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        for line in proc.stdout:                 # wait until training is under way
            if line.startswith("epoch 1/"):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "resume with: numpyvae train --out" in err and "--resume" in err
    stopped = ckpt.load(tmp_path / "a" / "checkpoint.npz").meta["progress"]
    assert 1 <= stopped["epoch"] < 500
    epochs = str(stopped["epoch"] + 1)
    assert main(["train", "--out", str(tmp_path / "a"), "--resume", "--epochs", epochs,
                 "--quiet"]) == 0
    assert train(tmp_path / "b", "--epochs", epochs) == 0
    a, b = (ckpt.load(tmp_path / p / "checkpoint.npz") for p in ("a", "b"))
    assert np.array_equal(a.params, b.params)
    assert not [f for f in os.listdir(tmp_path / "a") if f.startswith(".tmp")]


def test_progress_lines_split_the_elbo(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), *SMALL[:-1], "--epochs", "1",
                 "--z-dim", "3"]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("epoch 1/1"))
    assert "train -ELBO" in line and "(rec" in line and "+ KL" in line and "test -ELBO" in line
    assert "\r" not in out                       # not a terminal: no live line


BAD = [   # (arguments, the option the message must name)
    (["--batch-size", "-5"], "--batch-size"),
    (["--epochs", "0"], "--epochs"),
    (["--z-dim", "0"], "--z-dim"),
    (["--hidden", "32", "0"], "--hidden"),
    (["--n-train", "-3"], "--n-train"),
    (["--samples", "0"], "--samples"),
    (["--lr", "-1"], "--lr"),
    (["--seed", "-1"], "--seed"),
    (["--checkpoint-every", "-1"], "--checkpoint-every"),
    (["--weight-decay", "heavy"], "--weight-decay"),
    (["--weight-decay", "-0.1"], "--weight-decay"),
    (["--init", "zeros"], "--init"),
    (["--binarize", "static"], "--binarize"),
    (["--decoder-logvar", "-2"], "--decoder-logvar"),              # bernoulli has no variance
    (["--likelihood", "gaussian", "--decoder-logvar", "wide"], "--decoder-logvar"),
    (["--dataset", "cifar"], "--dataset"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--resume"], "--resume"),
]


@pytest.mark.parametrize("args,option", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_exit_2_naming_the_option_and_write_nothing(tmp_path, capsys, args,
                                                                  option):
    out = tmp_path / "run"
    try:
        code = main(["train", "--out", str(out), *args])
    except SystemExit as e:                      # argparse's own errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert option in err[-1]
    assert not out.exists() and os.listdir(tmp_path) == []


@pytest.mark.parametrize("args,option", [
    (["--lr", "0.01"], "--lr"), (["--hidden", "64"], "--hidden"),
    (["--n-train", "200"], "--n-train"), (["--binarize", "dynamic"], "--binarize")])
def test_resume_with_other_options_is_refused_and_changes_nothing(run2d, capsys, args, option):
    before = snapshot(run2d)
    assert main(["train", "--out", str(run2d), "--resume", *args]) == 2
    assert option in capsys.readouterr().err
    assert snapshot(run2d) == before


def test_an_existing_run_is_not_overwritten_without_asking(run2d, capsys):
    before = snapshot(run2d)
    assert main(["train", "--out", str(run2d), *SMALL]) == 2
    assert "--resume" in capsys.readouterr().err
    assert snapshot(run2d) == before


def test_a_foreign_checkpoint_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "checkpoint.npz").write_text("not a zip")
    assert main(["train", "--out", str(tmp_path / "r"), "--resume"]) == 2
    assert "checkpoint.npz" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "r")]) == 2
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2


@pytest.mark.parametrize("cmd", [["sample", "--n", "0"], ["evaluate", "--k", "0"],
                                 ["evaluate", "--n", "-1"], ["evaluate", "--split", "dev"]])
def test_bad_sample_and_evaluate_arguments(run2d, capsys, cmd):
    before = snapshot(run2d)
    assert main([cmd[0], str(run2d), *cmd[1:]]) == 2
    assert cmd[1] in capsys.readouterr().err
    assert snapshot(run2d) == before


def test_the_default_run_parses_and_builds(tmp_path):
    """The defaults parse and build (1 tiny epoch instead of the full 20)."""
    assert main(["train", "--out", str(tmp_path / "r"), "--n-train", "256", "--n-test", "64",
                 "--epochs", "1", "--quiet"]) == 0
    config = json.load(open(tmp_path / "r" / "config.json"))
    assert config["model"]["hidden_dims"] == [512, 256] and config["options"]["lr"] == 1e-3


def test_frey_face_defaults_to_enough_epochs_to_learn_faces():
    """20 epochs of 1,768 faces are 280 steps, which leave prior samples as noise."""
    import argparse
    from numpyvae.commands import train as T
    p = argparse.ArgumentParser()
    T.add_arguments(p)
    opts = T._options(p.parse_args(["--dataset", "frey-face"]))
    assert opts["epochs"] == T.FREY_EPOCHS == 300 and opts["likelihood"] == "gaussian"
    assert T._options(p.parse_args(["--dataset", "frey-face", "--epochs", "5"]))["epochs"] == 5
    assert T._options(p.parse_args(["--dataset", "mnist"]))["epochs"] == 20


def test_overwrite_starts_afresh_and_clears_old_figures(tmp_path):
    out = tmp_path / "r"
    assert train(out, "--epochs", "1", "--z-dim", "2") == 0
    assert (out / "manifold.png").exists()
    assert train(out, "--epochs", "1", "--z-dim", "3", "--overwrite") == 0
    assert not (out / "manifold.png").exists()                 # z_dim 3 draws no manifold
    assert json.load(open(out / "config.json"))["options"]["z_dim"] == 3
    assert len(read_metrics(out / "metrics.csv")) == 1


def test_a_gaussian_decoder_with_a_fixed_variance(tmp_path):
    out = tmp_path / "g"
    assert train(out, "--epochs", "1", "--likelihood", "gaussian", "--decoder-logvar", "-3") == 0
    model = json.load(open(out / "config.json"))["model"]
    assert model["likelihood"] == "gaussian" and model["decoder_logvar"] == -3.0
    assert imread(out / "samples.png").ndim == 3


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path, capsys):
    import fcntl
    out = tmp_path / "race"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); f.truncate(0); "
                               "f.write('%d' % __import__('os').getpid()); f.flush(); "
                               "print('locked', flush=True); time.sleep(60)",
                               str(out / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert train(out, "--epochs", "1") == 2
        err = capsys.readouterr().err
        assert f"in use by process {holder.pid}" in err
        assert not (out / "config.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert train(out, "--epochs", "1") == 0          # the lock went with its holder
    with open(out / ".lock") as f:                   # and this run released its own
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_overwrite_removes_every_derived_file_and_stale_temporaries(tmp_path):
    out = tmp_path / "r"
    assert train(out, "--epochs", "1", "--z-dim", "2") == 0
    assert main(["sample", str(out), "--n", "4", "--seed", "3"]) == 0
    assert main(["evaluate", str(out), "--k", "5", "--n", "10"]) == 0
    (out / ".tmp-abc123.npz").write_bytes(b"x" * 100)     # a kill -9 during a checkpoint write
    (out / "notes.txt").write_text("mine")
    assert train(out, "--epochs", "1", "--z-dim", "3", "--overwrite") == 0
    names = set(os.listdir(out))
    assert "evaluate.json" not in names and "samples-seed3.png" not in names
    assert "manifold.png" not in names and ".tmp-abc123.npz" not in names
    assert "notes.txt" in names                        # not the package's: left alone


def test_contradictory_flags_are_refused(tmp_path, capsys):
    out = tmp_path / "r"
    assert train(out, "--epochs", "2") == 0
    before = snapshot(out)
    assert main(["train", "--out", str(out), "--resume", "--overwrite", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--epochs 1" in err and "2" in err
    assert snapshot(out) == before


def test_sample_and_evaluate_name_the_argument_at_fault(run2d, tmp_path, capsys):
    missing = str(tmp_path / "nonexist")
    assert main(["sample", missing]) == 2
    err = capsys.readouterr().err
    assert "RUN_DIR" in err and "--out" not in err
    assert main(["evaluate", missing]) == 2
    assert "RUN_DIR" in capsys.readouterr().err
    folder = tmp_path / "a.png"                  # --out is a folder, not a file
    folder.mkdir()
    assert main(["sample", str(run2d), "--out", str(folder)]) == 2
    assert "--out" in capsys.readouterr().err
    afile = tmp_path / "f"
    afile.write_text("x")                        # --out's folder is a file
    assert main(["sample", str(run2d), "--out", str(afile / "s.png")]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_sample_into_a_read_only_folder_names_out(run2d, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["sample", str(run2d), "--out", str(ro / "s.png")]) == 2
        assert "--out" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


def test_an_impossible_n_train_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--n-train", "100000000",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--n-train" in err and "memory" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_library_bug_shows_its_traceback_and_a_user_mistake_does_not(run2d, tmp_path,
                                                                       capsys, monkeypatch):
    assert main(["sample", str(tmp_path / "nonexist")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["--debug", "sample", str(tmp_path / "nonexist")]) == 2
    assert "Traceback" in capsys.readouterr().err
    from numpyvae.plots import training as plots

    def buggy(*args, **kwargs):
        return np.zeros(3) + np.zeros(4)         # a genuine bug: ValueError from NumPy
    monkeypatch.setattr(plots, "plot_samples", buggy)
    assert main(["sample", str(run2d), "--out", str(tmp_path / "s.png")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "operands could not be broadcast" in err


def test_a_degenerate_run_is_reported_as_degenerate(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--n-train", "512", "--n-test", "128", "--hidden",
                 "32", "--epochs", "1", "--lr", "10", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "degenerate" in err
    report = (out / "report.md").read_text()
    assert "This run is degenerate" in report and "worse than" in report
    assert train(tmp_path / "ok", "--epochs", "1") == 0      # a sane run is not flagged
    assert "run is degenerate" not in (tmp_path / "ok" / "report.md").read_text()


def test_degenerate_reasons():
    from numpyvae.train import degenerate_reason
    row = {"test_elbo": -90.0, "test_recon": -80.0, "test_kl": 10.0, "train_elbo": -95.0}
    assert degenerate_reason(row, [1.0, 2.0], baseline=-200.0) is None
    assert "inf" in degenerate_reason(row, [1.0, float("inf")], baseline=-200.0)
    assert "before training" in degenerate_reason({**row, "test_elbo": -1000.0}, [1.0], baseline=-200.0)
    assert "nan" in degenerate_reason({**row, "test_recon": float("nan")}, [1.0])
    assert degenerate_reason({**row, "train_kl": float("nan")}, [1.0], objective="iwae") is None
    assert degenerate_reason({**row, "train_kl": float("nan")}, [1.0]) is not None


def test_train_out_at_a_file_names_out(tmp_path, capsys):
    afile = tmp_path / "f"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        assert train(out, "--epochs", "1") == 2
        assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("likelihood, says", [("gaussian", True), ("bernoulli", False)])
def test_report_explains_a_negative_elbo_of_a_learned_gaussian(tmp_path, likelihood, says):
    """A learned-variance Gaussian's -ELBO can be negative: report.md says why, and the bound
    it states holds for the run's own numbers."""
    assert train(tmp_path / "r", "--likelihood", likelihood, "--epochs", "1") == 0
    report = (tmp_path / "r" / "report.md").read_text()
    assert ("A Gaussian decoder is a density" in report) == says
    if says:
        from numpyvae.vae import DECODER_LOGVAR_FLOOR
        bound = 784 * 0.5 * (np.log(2 * np.pi) + DECODER_LOGVAR_FLOOR)
        assert f"at least {bound:.0f} nats" in report
        last = read_metrics(str(tmp_path / "r" / "metrics.csv"))[-1]
        assert -last["test_elbo"] >= bound
