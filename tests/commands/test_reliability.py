"""Issue 26: nothing lost, nothing reported as success that failed.

Each test here was written against the code before the fix and failed on it: the folder lock
taken before anything in the run folder is read, SIGTERM/SIGHUP saving like Ctrl-C, a run out of
memory keeping its checkpoint, diverged runs never ending with exit 0 or a non-finite checkpoint,
non-finite parameters refused by evaluate and sample, the data's fingerprint checked on resume
and evaluate, and numeric flags refused with their range instead of a traceback."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numpyvae import checkpoint as ckpt
from numpyvae.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--n-train", "64", "--n-test", "32", "--hidden", "8", "--z-dim", "2",
        "--batch-size", "32", "--quiet"]
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def tiny(out, *extra):
    return main(["train", "--out", str(out), *TINY, *extra])


def one_line_error(capsys, *words):
    """The stderr of the last command: one line (besides warnings), no traceback, holding
    every word."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    err = "\n".join(line for line in err.splitlines() if " warning: " not in line)
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture(scope="module")
def run1(tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "run"
    assert tiny(out, "--epochs", "1") == 0
    return out


def copy_run(run, dest):
    shutil.copytree(run, dest)
    return dest


def rewrite_checkpoint(path, params=None, meta=None):
    c = ckpt.load(path)
    ckpt.save(path, params=c.params if params is None else params,
              optimizer_state=c.optimizer_state, rng_state=c.rng_state,
              meta=c.meta if meta is None else meta)


# ----------------------------------------------------------------------------- 1. the lock first

@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path/run (a slow second 'numpyvae train')."""
    out = tmp_path / "run"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c",
                             "import fcntl, sys, time, os; f = open(sys.argv[1], 'a+'); "
                             "fcntl.flock(f, fcntl.LOCK_EX); f.truncate(0); "
                             "f.write(str(os.getpid())); f.flush(); "
                             "print('locked', flush=True); time.sleep(60)",
                             str(out / ".lock")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield out, proc.pid
    proc.kill()
    proc.wait()


@pytest.mark.parametrize("extra", [["--resume"], []], ids=["resume", "fresh"])
def test_the_lock_is_taken_before_the_folder_is_read(holder, capsys, extra):
    """Before: --resume read (and judged) the checkpoint, and a fresh run judged 'already holds
    a run', before taking the lock; a slow second writer could then overwrite a finished run."""
    out, pid = holder
    (out / "checkpoint.npz").write_bytes(b"a run being written by the lock's holder")
    assert main(["train", "--out", str(out), *TINY, *extra]) == 2
    one_line_error(capsys, f"in use by process {pid}")


def test_a_refused_run_leaves_no_folder_behind(tmp_path, capsys):
    out = tmp_path / "a" / "b"
    assert main(["train", "--out", str(out), *TINY, "--resume"]) == 2
    one_line_error(capsys, "--resume")
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- 2. SIGTERM, SIGHUP

def _start(out, *extra):
    cmd = [sys.executable, "-m", "numpyvae.cli", "train", "--out", str(out),
           "--n-train", "300", "--n-test", "100", "--hidden", "32", "--batch-size", "32",
           "--threads", "1", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_save_like_ctrl_c(tmp_path, sig):
    """Before: SIGTERM (timeout, batch schedulers, docker stop) exited 143 with no message
    and lost the epoch's work."""
    out = tmp_path / "my run"                       # a space: the hint must be shell-quoted
    proc = _start(out, "--epochs", "500")
    try:
        for line in proc.stdout:
            if line.startswith("epoch 1/"):
                break
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    assert signal.Signals(sig).name in err and "Traceback" not in err
    assert f"resume with: numpyvae train --out '{out}' --resume" in err
    c = ckpt.load(out / "checkpoint.npz")
    assert c.meta["progress"]["epoch"] >= 1
    assert not [f for f in os.listdir(out) if f.startswith(".tmp")]


def test_sigterm_before_training_exits_with_a_message(tmp_path):
    """A SIGTERM while the data load (before the loop's handler): a message, 143, no traceback."""
    code = ("import os, signal, sys; from numpyvae import cli, datasets\n"
            "real = datasets.load_dataset\n"
            "def slow(*a, **k):\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return real(*a, **k)\n"
            "datasets.load_dataset = slow\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "train", "--out", str(tmp_path / "r"), *TINY],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 143, r.stderr
    assert "SIGTERM" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- 3. out of memory

def test_plots_do_not_import_scipy():
    """scipy.special's import started OpenBLAS threads that hung under ``ulimit -v``."""
    r = subprocess.run([sys.executable, "-c", "import sys, numpyvae.plots.training; "
                        "print('scipy' in sys.modules)"], capture_output=True, text=True,
                       env=ENV)
    assert r.stdout.strip() == "False", r.stderr


def test_figures_out_of_memory_keep_the_checkpoint_and_say_so(tmp_path, capsys, monkeypatch):
    from numpyvae.commands import train as T

    def no_memory(*a, **k):
        raise MemoryError("Unable to allocate 512. MiB for an array")
    monkeypatch.setattr(T, "write_figures", no_memory)
    out = tmp_path / "r"
    assert tiny(out, "--epochs", "1") == 1
    one_line_error(capsys, "memory", "checkpoint")
    assert ckpt.load(out / "checkpoint.npz").meta["progress"]["epoch"] == 1


def test_a_plotting_library_that_cannot_load_skips_the_figures(tmp_path, capsys, monkeypatch):
    """Before: ImportError ... failed to map segment, as a raw traceback after training."""
    from numpyvae.commands import train as T

    def cannot_load():
        raise ImportError("libopenblas.so: failed to map segment from shared object")
    monkeypatch.setattr(T, "_import_plots", cannot_load)
    out = tmp_path / "r"
    assert tiny(out, "--epochs", "1") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "figures" in err and "failed to map segment" in err
    assert (out / "checkpoint.npz").exists() and (out / "report.md").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS on Linux")
@pytest.mark.parametrize("margin", [60, 160, 400])
def test_under_ulimit_v_training_ends_with_a_message_not_a_hang(tmp_path, margin):
    """``ulimit -v``: the address space just above what the imports need.  Whatever fails, the
    run ends within the timeout, exit non-zero or 0, never a traceback."""
    out = tmp_path / "r"
    code = ("import resource, sys\n"
            "from numpyvae import cli\n"
            "import numpyvae.commands.train, numpyvae.vae, numpyvae.train\n"
            "size = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
            "resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv.pop(1)) * 2**20,) * 2)\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, str(margin), "train", "--out", str(out), *TINY,
                        "--epochs", "1", "--threads", "1"], capture_output=True, text=True,
                       env=ENV, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    if r.returncode != 0:
        assert "memory" in r.stderr or "figures" in r.stderr, r.stderr
    print(margin, r.returncode, r.stderr)


# ----------------------------------------------------------------------------- 4. divergence

def test_a_diverged_run_says_so_names_the_step_and_keeps_a_finite_checkpoint(tmp_path, capsys):
    """Before: a checkpoint with test_elbo nan, and an error blaming the data."""
    out = tmp_path / "r"
    code = main(["train", "--out", str(out), "--optimizer", "sgd", "--lr", "1e30",
                 "--epochs", "2", "--hidden", "16", "--n-train", "128", "--n-test", "64",
                 "--checkpoint-every", "1", "--quiet"])
    assert code == 1
    err = one_line_error(capsys, "diverged", "step")
    assert "x contains" not in err
    if (out / "checkpoint.npz").exists():
        c = ckpt.load(out / "checkpoint.npz")
        assert np.isfinite(c.params).all()
        for row in c.meta["progress"]["history"]:
            assert all(np.isfinite(v) for k, v in row.items() if k != "train_recon")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_evaluate_and_sample_refuse_non_finite_parameters(run1, tmp_path, capsys, bad):
    """Before: evaluate exited 0 writing log p(x) ~= nan, sample exited 0."""
    run = copy_run(run1, tmp_path / "r")
    c = ckpt.load(run / "checkpoint.npz")
    params = c.params.copy()
    params[3] = bad
    rewrite_checkpoint(run / "checkpoint.npz", params=params)
    assert main(["evaluate", str(run), "--k", "3", "--n", "8"]) == 2
    one_line_error(capsys, "non-finite")
    assert not (run / "evaluate.json").exists()
    assert main(["sample", str(run), "--n", "4"]) == 2
    one_line_error(capsys, "non-finite")
    assert not (run / "samples-seed0.png").exists()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"]) == 2
    one_line_error(capsys, "non-finite")


# ----------------------------------------------------------------------------- 5. fingerprints

def write_frey(path, faces):
    """A Frey Face .mat file: faces (N, 560) uint8 stored as ff of shape (560, N)."""
    import scipy.io
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"ff": np.ascontiguousarray(faces.T)})


def _frey(root, seed):
    faces = np.random.default_rng(seed).integers(0, 256, (1965, 560), dtype=np.uint8)
    write_frey(root / "frey_face" / "frey_rawface.mat", faces)


def test_the_data_fingerprint_is_checked_on_resume_and_evaluate(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "r"
    _frey(data, 0)
    assert main(["train", "--dataset", "frey-face", "--data-dir", str(data), "--out", str(out),
                 "--epochs", "1", "--hidden", "8", "--z-dim", "2", "--quiet"]) == 0
    err = capsys.readouterr().err            # the fake file is not the published one: said
    assert "frey_rawface.mat" in err and "sha256" in err
    fp = ckpt.load(out / "checkpoint.npz").meta["run"]["data"]
    assert any("frey_rawface.mat" in k for k in fp) and all(len(v) == 64 for v in fp.values())
    _frey(data, 1)                            # other pixels, a valid file
    before = (out / "checkpoint.npz").read_bytes()
    assert main(["train", "--out", str(out), "--data-dir", str(data), "--resume",
                 "--epochs", "2", "--quiet"]) == 2
    one_line_error(capsys, "frey_rawface.mat", "--accept-data-change")
    assert (out / "checkpoint.npz").read_bytes() == before
    assert main(["evaluate", str(out), "--data-dir", str(data), "--k", "2", "--n", "4"]) == 2
    one_line_error(capsys, "frey_rawface.mat", "--accept-data-change")
    assert main(["evaluate", str(out), "--data-dir", str(data), "--k", "2", "--n", "4",
                 "--accept-data-change"]) == 0
    assert main(["train", "--out", str(out), "--data-dir", str(data), "--resume",
                 "--epochs", "2", "--quiet", "--accept-data-change"]) == 0


def test_shapes_runs_are_fingerprinted_too(run1):
    fp = ckpt.load(run1 / "checkpoint.npz").meta["run"]["data"]
    assert set(fp) == {"shapes train 64", "shapes test 32"}


# ----------------------------------------------------------------------------- 7, 8: flags

BAD_FLAGS = [
    (["train", "--threads", "0"], "--threads"),
    (["train", "--threads", "-1"], "--threads"),
    (["train", "--threads", "2147483648"], "--threads"),
    (["variance", "--quick", "--threads", "0", "--seed", "-3"], "--threads"),
    (["train", "--z-dim", "2147483648", "--covariance", "full"], "--z-dim"),
    (["train", "--hidden", "8", "99999999999"], "--hidden"),
    (["train", "--epochs", "10000000000"], "--epochs"),
    (["train", "--seed", "99999999999999999999"], "--seed"),
    (["train", "--batch-size", "99999999999"], "--batch-size"),
    (["train", "--samples", "99999999999"], "--samples"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--data-dir", "/nonexistent/numpyvae-data"], "--data-dir"),
]


@pytest.mark.parametrize("words,flag", BAD_FLAGS, ids=[" ".join(w) for w, _ in BAD_FLAGS])
def test_bad_numbers_are_one_line_naming_the_flag_and_its_range(tmp_path, capsys, words, flag):
    out = tmp_path / "r"
    tiny_run = TINY + ["--epochs", "1"] if words[0] == "train" else []   # (if accepted: quick)
    code = main([words[0], *tiny_run, *words[1:], "--out", str(out)])
    assert code == 2
    err = one_line_error(capsys, flag)
    if flag not in ("--data-dir",):
        assert "got" in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("words,flag", [
    (["evaluate", "--k", "99999999999999999999"], "--k"),
    (["evaluate", "--n", "99999999999999999999"], "--n"),
    (["evaluate", "--seed", "99999999999999999999"], "--seed"),
    (["evaluate", "--threads", "0"], "--threads"),
    (["sample", "--n", "99999999999999999999"], "--n"),
    (["sample", "--seed", "99999999999999999999"], "--seed"),
])
def test_bad_numbers_for_evaluate_and_sample(run1, capsys, words, flag):
    assert main([words[0], str(run1), *words[1:]]) == 2
    one_line_error(capsys, flag, "got")


def _edit_meta(run, tmp_path, change):
    run = copy_run(run, tmp_path / "r")
    meta = ckpt.load(run / "checkpoint.npz").meta
    change(meta)
    rewrite_checkpoint(run / "checkpoint.npz", meta=meta)
    return run


@pytest.mark.parametrize("what,change", [
    ("lr", lambda m: m["run"]["options"].update(lr="fast")),
    ("batch", lambda m: m["progress"].update(batch=10**6)),
    ("history", lambda m: [r.pop("epoch") for r in m["progress"]["history"]]),
    ("dataset", lambda m: m["run"]["options"].update(dataset="cifar")),
    ("image_shape", lambda m: m["run"].update(image_shape=[3, 3])),
    ("epoch", lambda m: m["progress"].update(epoch=-4)),
])
@pytest.mark.parametrize("cmd", ["resume", "evaluate", "sample"])
def test_a_damaged_checkpoint_meta_is_one_line(run1, tmp_path, capsys, what, change, cmd):
    run = _edit_meta(run1, tmp_path, change)
    words = {"resume": ["train", "--out", str(run), "--resume", "--epochs", "2", "--quiet"],
             "evaluate": ["evaluate", str(run), "--k", "2", "--n", "4"],
             "sample": ["sample", str(run), "--n", "4"]}[cmd]
    code = main(words)
    unused = ("image_shape",) if cmd == "resume" else ("batch", "history", "epoch", "lr")
    if what in unused:
        assert code == 0                 # a field the command does not read
        capsys.readouterr()
        return
    assert code == 2
    one_line_error(capsys, "checkpoint")


def test_log_likelihood_refuses_an_absurd_k_before_allocating():
    from numpyvae.evaluate import log_likelihood
    from numpyvae.vae import VAE
    m = VAE(4, [3], 2, rng=np.random.default_rng(0))
    x = np.full((2, 4), 0.5, np.float32)
    with pytest.raises(ValueError, match="k"):
        log_likelihood(m, x, 10**9, np.random.default_rng(0))
    assert log_likelihood(m, x, 7, np.random.default_rng(0)).shape == (2,)


# ----------------------------------------------------------------------------- 10. paths

def test_reproduce_line_is_shell_quoted(tmp_path):
    import shlex
    out = tmp_path / "a run"
    assert tiny(out, "--epochs", "1") == 0
    line = json.load(open(out / "config.json"))["command"]
    words = shlex.split(line)
    assert words[words.index("--out") + 1] == str(out)
    assert f"`{line}`" in (out / "report.md").read_text()


def test_variance_out_at_a_file_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("x")
    assert main(["variance", "--quick", "--out", str(f)]) == 2
    one_line_error(capsys, "--out")


def test_a_data_file_replaced_by_a_folder(tmp_path, capsys):
    (tmp_path / "frey_face" / "frey_rawface.mat").mkdir(parents=True)
    assert main(["train", "--dataset", "frey-face", "--data-dir", str(tmp_path),
                 "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = one_line_error(capsys, "frey_rawface.mat", "folder")
    assert "put a copy" not in err.lower()


def test_a_checkpoint_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        return real(fd)
    monkeypatch.setattr(os, "fsync", spy)
    ckpt.atomic_write_text(tmp_path / "a.txt", "hello")
    assert str(tmp_path) in synced


def test_sample_on_a_full_disk_leaves_no_empty_png(run1, tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    def full(self, fname, *a, **k):
        if hasattr(fname, "write"):
            raise OSError(28, "No space left on device")
        open(fname, "wb").close()
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    out = tmp_path / "s.png"
    assert main(["sample", str(run1), "--out", str(out)]) == 2
    one_line_error(capsys, "No space left")
    assert not out.exists()


def test_a_loss_non_finite_before_any_step_blames_the_initial_weights(tmp_path, capsys):
    assert tiny(tmp_path / "r", "--epochs", "1", "--init", "5") == 1
    err = one_line_error(capsys, "diverged at step 1", "--init")
    assert "--lr" not in err
