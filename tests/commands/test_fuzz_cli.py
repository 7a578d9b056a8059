"""The fuzz driver of issue 26: random flags and values over every subcommand, in-process
through ``numpyvae.cli.main``, bounded in count (FUZZ_N invocations) and in time (a per-call
alarm).  Every invocation is either all-valid (tiny sizes: it must finish, exit 0 with finite
numbers, or exit 1 saying "degenerate"/"diverged") or holds at least one invalid value (it must
exit non-zero with a message and, for train, create no run folder).  None may print a traceback,
report an internal error, or hang.  The seed is fixed, so a failure names a command that
reproduces it; NUMPYVAE_FUZZ_SEED tries other seeds."""
import contextlib
import io
import json
import math
import os
import shlex
import signal
import sys

import numpy as np
import pytest

from numpyvae.cli import main

FUZZ_N = int(os.environ.get("NUMPYVAE_FUZZ_N", "320"))
SEED = int(os.environ.get("NUMPYVAE_FUZZ_SEED", "26"))
CALL_SECONDS = 60                         # one invocation longer than this is a hang

BAD_INT = ["0", "-1", "2147483648", "99999999999999999999", "1.5", "x", "", "nan", "0x10"]
BAD_FLOAT = ["0", "-1", "nan", "inf", "-inf", "1e400", "fast", ""]
BAD_SEED = ["-1", "4294967296", "99999999999999999999", "x", "1e3"]
BAD_THREADS = ["0", "-1", "2147483648", "x"]
BAD_PATHS = ["/nonexistent/numpyvae-fuzz", " ", "\u2603"]

# flag -> (valid values, invalid values); a value "A B" is two words (nargs="+")
TRAIN = {
    "--n-train": (["1", "2", "33"], BAD_INT[:6] + ["100000000000"]),
    "--n-test": (["1", "7"], BAD_INT[:6]),
    "--hidden": (["4", "4 3"], ["0", "-3", "99999999999", "8 0", "a"]),
    "--z-dim": (["1", "3"], ["0", "-2", "2147483648", "2.0"]),
    "--batch-size": (["1", "7", "1000"], ["0", "-1", "10000000000"]),
    "--epochs": (["1", "2"], ["0", "-1", "10000000", "1e30"]),
    "--samples": (["1", "3"], ["0", "1000000"]),
    "--lr": (["0.001", "0.01"], BAD_FLOAT),
    "--seed": (["0", "7", "4294967295"], BAD_SEED),
    "--checkpoint-every": (["0", "1", "5"], ["-1", "10000000000", "x"]),
    "--weight-decay": (["0", "prior", "1e-4"], ["-1", "nan", "heavy", "inf"]),
    "--init": (["he", "xavier", "uniform", "0.01"], ["0", "-1", "nan", "zeros", "1e400"]),
    "--decoder-logvar": ([], ["nan", "wide", "inf", "1e400"]),
    "--likelihood": (["bernoulli", "gaussian"], ["poisson"]),
    "--activation": (["relu", "tanh", "sigmoid", "softplus"], ["gelu"]),
    "--covariance": (["diagonal", "full"], ["dense"]),
    "--optimizer": (["adam", "sgd", "momentum", "adagrad"], ["lbfgs"]),
    "--objective": (["elbo", "iwae"], ["vi"]),
    "--binarize": (["none", "dynamic"], ["static", "maybe"]),
    "--dataset": (["shapes"], ["cifar", ""]),
    "--threads": (["1", "2"], BAD_THREADS),
    "--data-dir": ([], BAD_PATHS),
    "--resume": ([], [None]),              # a fresh folder has nothing to resume
}
TRAIN_BASE = ["--n-train", "64", "--n-test", "32", "--hidden", "8", "--z-dim", "2",
              "--batch-size", "32", "--epochs", "1", "--quiet"]
EVALUATE = {
    "--k": (["1", "3"], BAD_INT[:8]),
    "--n": (["5", "8"], ["-1", "99999999999999999999", "x"]),
    "--split": (["test", "valid"], ["dev", ""]),
    "--seed": (["0", "3"], BAD_SEED),
    "--threads": (["1", "2"], BAD_THREADS),
    "--data-dir": ([], BAD_PATHS),
    "--accept-data-change": ([None], []),
}
SAMPLE = {
    "--n": (["1", "4"], ["0", "-1", "10001", "99999999999999999999", "x"]),
    "--seed": (["0", "5"], BAD_SEED),
    "--out": (["{tmp}/s.png"], ["{tmp}/s.txt", "/nonexistent/a.png", "{tmp}"]),
}
# commands that take long when valid: only invalid invocations (each has a bad value)
VARIANCE = {
    "--seed": ([], BAD_SEED), "--threads": ([], BAD_THREADS), "--dataset": ([], ["cifar"]),
    "--data-dir": ([], BAD_PATHS[:1]), "--out": ([], ["{file}"]),
}
REPRODUCE = {
    "--budget": ([], ["-1", "abc", "1e400", "0", "1.5"]), "--seed": ([], BAD_SEED),
    "--eval-k": ([], ["0", "-3", "99999999999999999999"]), "--eval-n": ([], ["0", "x"]),
    "--nz": ([], ["0", "-1", "99999"]), "--out": ([], ["{file}"]),
}
CHECK = {"--seed": ([], BAD_SEED), "--threads": ([], BAD_THREADS)}
LESSON = {"--seed": ([], BAD_SEED), "--threads": ([], BAD_THREADS)}
BENCH = {"--threads": ([], BAD_THREADS[:3])}


class Hang(BaseException):
    pass


def write_frey(path, faces):
    """A Frey Face .mat file: faces (N, 560) uint8 stored as ff of shape (560, N)."""
    import scipy.io
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"ff": np.ascontiguousarray(faces.T)})


def _alarm(signum, frame):
    raise Hang


def _pick(rng, table, n_flags, must_be_bad):
    """-> (words, bad): ``n_flags`` distinct flags with a valid or invalid value each."""
    flags = list(table)
    chosen = [flags[i] for i in rng.choice(len(flags), size=min(n_flags, len(flags)),
                                           replace=False)]
    words, bad = [], False
    for i, flag in enumerate(chosen):
        good, wrong = table[flag]
        use_bad = (wrong and (not good or rng.random() < 0.4)) or (must_be_bad and i == 0
                                                                   and wrong)
        values = wrong if use_bad else good
        if not values:
            continue
        value = values[rng.integers(len(values))]
        bad |= bool(use_bad)
        words += [flag] if value is None else [flag, *(value.split(" ") if value else [""])]
    return words, bad


def _generate(rng, tmp, run, frey, nan_run):
    """One invocation -> (argv, expect) with expect "bad" or "good"."""
    kind = rng.choice(["train", "train", "train", "evaluate", "evaluate", "sample", "sample",
                       "variance", "reproduce", "check", "lesson", "bench", "exercises"])
    if kind == "train":
        words, bad = _pick(rng, TRAIN, int(rng.integers(1, 5)), False)
        out = os.path.join(tmp, f"t{rng.integers(1 << 40)}")
        if "--data-dir" not in words and rng.random() < 0.1 and "--dataset" not in words:
            words += ["--dataset", "frey-face", "--data-dir", frey]
        return ["train", "--out", out, *TRAIN_BASE, *words], bad, out
    if kind in ("evaluate", "sample"):
        table = EVALUATE if kind == "evaluate" else SAMPLE
        words, bad = _pick(rng, table, int(rng.integers(0, 4)), False)
        words = [w.replace("{tmp}", tmp) for w in words]
        target = rng.random()
        if target < 0.15:
            run_dir, bad = rng.choice([os.path.join(tmp, "none"), nan_run, __file__]), True
        else:
            run_dir = run
        if kind == "evaluate" and "--k" not in words:
            words += ["--k", "2"]
        if kind == "evaluate" and "--n" not in words:
            words += ["--n", "6"]
        if kind == "sample" and "--out" not in words:
            words += ["--out", os.path.join(tmp, f"s{rng.integers(1 << 40)}.png")]
        return [kind, run_dir, *words], bad, None
    afile = os.path.join(tmp, "a-file")
    if kind == "variance":
        words, _ = _pick(rng, VARIANCE, int(rng.integers(1, 3)), True)
        words = [w.replace("{file}", afile) for w in words]
        return ["variance", "--quick", "--out", os.path.join(tmp, "v"), *words], True, None
    if kind == "reproduce":
        if rng.random() < 0.2:
            return ["reproduce", "list"], False, None
        name = rng.choice(["kingma-fig2", "iwae", "nope", "marginal-likelihood"])
        words, _ = _pick(rng, REPRODUCE, int(rng.integers(1, 3)), True)
        if name == "iwae":
            words = [w for w in words if w != "--nz"] or ["--seed", "-1"]
        words = [w.replace("{file}", afile) for w in words]
        return ["reproduce", name, "--smoke", "--out", os.path.join(tmp, "rp"), *words], True, None
    if kind == "check":
        name = rng.choice(["03", "99", "", "../03"])
        words, _ = _pick(rng, CHECK, 1, True)
        return ["check", name, *words], True, None
    if kind == "lesson":
        if rng.random() < 0.3:
            return ["lesson", "list"], False, None
        words, _ = _pick(rng, LESSON, 1, True)
        return ["lesson", "run", rng.choice(["06", "99", "x"]), "--quick", *words], True, None
    if kind == "bench":
        words, _ = _pick(rng, BENCH, 1, True)
        return ["bench", "--quick", *words], True, None
    if rng.random() < 0.5:
        return ["exercises", "init", os.path.join(tmp, f"ws{rng.integers(1 << 40)}")], False, None
    return ["exercises", "init", afile], True, None


def _invoke(argv):
    """One in-process call; the process's BLAS threads and their environment are put back
    afterwards (a --threads 2 call must not change the bits of the tests that run after it in
    this worker)."""
    from numpyvae import _threads
    saved_env = {v: os.environ.get(v) for v in _threads.VARIABLES}
    saved_blas, saved_workers = _threads.blas_threads() or 1, _threads._workers
    out, err = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CALL_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:            # argparse's own errors and --help
                code = e.code if isinstance(e.code, int) else 2
    except Hang:
        code = "hang"
    finally:
        signal.alarm(0)
        _threads.set_blas_threads(saved_blas)
        _threads._workers = saved_workers
        for v, value in saved_env.items():
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value
    return code, out.getvalue(), err.getvalue()


def _finite_outputs(argv):
    """Problems with the numbers an exit-0 invocation wrote (train, evaluate)."""
    if argv[0] == "train":
        out = argv[argv.index("--out") + 1]
        from numpyvae.train import read_metrics
        rows = read_metrics(os.path.join(out, "metrics.csv"))
        for r in rows:
            for k, v in r.items():
                if k not in ("train_recon", "train_kl") and not math.isfinite(v):
                    return f"metrics.csv {k} = {v}"
    if argv[0] == "evaluate":
        result = json.load(open(os.path.join(argv[1], "evaluate.json")))
        for k in ("log_likelihood", "elbo"):
            if not math.isfinite(result[k]):
                return f"evaluate.json {k} = {result[k]}"
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished tiny run, a copy of it with a NaN parameter, a fake Frey Face folder, a file."""
    from numpyvae import checkpoint as ckpt
    tmp = tmp_path_factory.mktemp("fuzz")
    run = tmp / "run"
    assert main(["train", "--out", str(run), *TRAIN_BASE]) == 0
    nan_run = tmp / "nanrun"
    nan_run.mkdir()
    c = ckpt.load(run / "checkpoint.npz")
    params = c.params.copy()
    params[0] = np.nan
    ckpt.save(nan_run / "checkpoint.npz", params=params, optimizer_state=c.optimizer_state,
              rng_state=c.rng_state, meta=c.meta)
    faces = np.random.default_rng(0).integers(0, 256, (1965, 560), dtype=np.uint8)
    write_frey(tmp / "frey" / "frey_face" / "frey_rawface.mat", faces)
    (tmp / "a-file").write_text("not a folder")
    return str(tmp), str(run), str(tmp / "frey"), str(nan_run)


@pytest.mark.slow
def test_fuzz_every_subcommand(world, monkeypatch):
    tmp, run, frey, nan_run = world
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("NUMPYVAE_DATA", os.path.join(tmp, "no-data"))   # never a download
    rng = np.random.default_rng(SEED)
    failures, counts = [], {}
    for _ in range(FUZZ_N):
        argv, bad, out = _generate(rng, tmp, run, frey, nan_run)
        code, stdout, stderr = _invoke(argv)
        counts[argv[0]] = counts.get(argv[0], 0) + 1
        line = shlex.join(["numpyvae", *argv])
        if code == "hang":
            failures.append(f"hang: {line}")
        elif "Traceback" in stderr or "internal error" in stderr:
            failures.append(f"traceback (exit {code}): {line}\n{stderr[-1500:]}")
        elif bad and code == 0:
            failures.append(f"exit 0 with an invalid value: {line}")
        elif code != 0 and not stderr.strip():
            failures.append(f"exit {code} without a message: {line}")
        elif bad and out is not None and os.path.exists(out):
            failures.append(f"a refused run left its folder behind: {line}\n{stderr}")
        elif not bad and code not in (0, 1) and argv[0] != "exercises":
            failures.append(f"exit {code} for valid values: {line}\n{stderr[-800:]}")
        elif not bad and code == 1 and not any(w in stderr for w in ("degenerate", "diverged")):
            failures.append(f"exit 1 without saying why: {line}\n{stderr[-800:]}")
        elif code == 0 and (problem := _finite_outputs(argv)):
            failures.append(f"exit 0 with nonsense ({problem}): {line}")
    assert sum(counts.values()) >= min(FUZZ_N, 300)
    assert len(counts) == 9, counts                    # every subcommand was tried
    assert not failures, f"{len(failures)} of {FUZZ_N} failed:\n" + "\n".join(failures[:15])
