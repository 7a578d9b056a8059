"""Shared machinery of the paper reproductions: data with a smoke fallback, a resumable
training run that evaluates at log-spaced sample counts, machine facts, small file helpers.

    data = mnist_or_shapes("train50k", smoke=True, data_dir=None, log=print)
    rows = curve_run(model, optimizer, x_train, evals, Curve(out_dir, budget, batch_size, seed))

Every number the experiments write carries the machine it ran on (``machine()``) and the
wall time it took, so RESULTS.md can cite them.
"""
from __future__ import annotations

import csv
import json
import math
import os
import platform
import time
from dataclasses import dataclass

import numpy as np

from .. import _threads
from .. import checkpoint as ckpt
from ..datasets import DatasetError, load_dataset, load_mnist
from ..evaluate import elbo_parts
from ..train import CHECKPOINT_NAME, TrainConfig, restore, train

SHAPES_NOTE = ("NUMPYVAE_DATA holds no {what}: the smoke run falls back to the built-in "
               "'shapes' dataset, so its numbers say nothing about the paper")


def machine():
    """Facts about this machine for the results tables -> dict (JSON-serialisable)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"machine": platform.machine(), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
            "blas_threads": _threads.blas_threads(),       # what OpenBLAS runs with (--threads)
            "load_average_at_start": load}


def write_json(path, obj):
    ckpt.atomic_write_text(path, json.dumps(obj, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path, default=None):
    if not os.path.isfile(path):
        return default
    with open(path) as f:
        return json.load(f)


def write_csv(path, rows, columns):
    """rows: list of dicts -> CSV with ``columns`` (atomically)."""
    lines = [",".join(columns)]
    for r in rows:
        lines.append(",".join(_fmt(r.get(c, "")) for c in columns))
    ckpt.atomic_write_text(path, "\n".join(lines) + "\n")


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e5 else f"{v:.0f}"
    return str(v)


def read_csv(path):
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as f:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _parse(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# ----------------------------------------------------------------------------- data

def mnist_or_shapes(split, *, smoke, data_dir=None, binarize=None, n=None, log=print):
    """MNIST ``split`` (float32 (N, 784) in [0, 1]) -> (x, dataset name).

    binarize: None (intensities) or "static" (Larochelle & Murray).  In a smoke run with no
    MNIST files the built-in shapes (28 x 28 as well) stand in, with a message saying so;
    outside a smoke run a missing file is an error."""
    try:
        x, _ = load_mnist(split, binarize, data_dir, return_labels=False,
                          download=not smoke)
        name = "binarized-mnist" if binarize == "static" else "mnist"
    except (DatasetError, FileNotFoundError, OSError):
        if not smoke:
            raise
        log(SHAPES_NOTE.format(what="MNIST"))
        shapes_split = {"train": "train", "train50k": "train", "valid": "valid"}.get(split, "test")
        x = load_dataset("shapes", shapes_split, n=n or 2000).x
        name = "shapes"
    if n is not None:
        x = x[:n].copy()
    return x, name


def frey_or_shapes(split, *, smoke, data_dir=None, n=None, log=print):
    """Frey Face ``split`` (float32 (N, 560)) -> (x, name); shapes in a smoke run without it."""
    try:
        x = load_dataset("frey-face", split, data_dir=data_dir, download=not smoke).x
        name = "frey-face"
    except (DatasetError, FileNotFoundError, OSError):
        if not smoke:
            raise
        log(SHAPES_NOTE.format(what="Frey Face"))
        x = load_dataset("shapes", "train" if split == "train" else "test", n=n or 1000).x
        name = "shapes"
    if n is not None:
        x = x[:n].copy()
    return x, name


def tile_to(x, n_min):
    """Repeat the rows of ``x`` (N, D) so that an epoch holds at least ``n_min`` rows.

    The trainer checkpoints and evaluates once per epoch; with 1,000 examples that would be
    every 10 steps.  An epoch over the tiled copy visits every example the same number of
    times in a random order, which is the same minibatch distribution."""
    reps = max(1, math.ceil(n_min / x.shape[0]))
    return np.tile(x, (reps, 1)) if reps > 1 else x


# ----------------------------------------------------------------------------- curves

def log_points(first, last, per_decade=4):
    """Sample counts spaced evenly in log10 from ``first`` to ``last`` (inclusive)."""
    if last <= first:
        return [int(last)]
    n = max(2, int(round(math.log10(last / first) * per_decade)) + 1)
    pts = np.unique(np.round(np.logspace(math.log10(first), math.log10(last), n)).astype(int))
    return [int(p) for p in pts]


CURVE_COLUMNS = ("samples_seen", "step", "seconds", "train_elbo", "test_elbo")


@dataclass(frozen=True)
class Curve:
    """One curve run's settings: train for ``budget`` examples (rounded up to whole epochs) in
    minibatches of ``batch_size`` (the ELBO, L = 1), seeded by ``seed``, writing into
    ``out_dir``; ``resume`` continues from its checkpoint (and may extend the budget); the
    first evaluation after ``first_eval`` examples (None: 10 minibatches); a checkpoint every
    ``checkpoint_every`` steps (0: each epoch)."""
    out_dir: str
    budget: int
    batch_size: int
    seed: int
    resume: bool = False
    first_eval: int | None = None
    checkpoint_every: int = 2000


def curve_run(model, optimizer, x_train, evals, curve, log=print):
    """Train ``model`` as ``curve`` (a Curve) says, evaluating the lower bound (L = 1, the same
    noise every time) on ``evals`` = {"train": x, "test": x} whenever the number of examples
    seen passes one of the log-spaced points.  Writes ``curve.out_dir``/curve.csv
    (CURVE_COLUMNS), checkpoint.npz and metrics.csv.  -> list of curve rows (dicts)."""
    out_dir, batch_size, seed = curve.out_dir, curve.batch_size, curve.seed
    os.makedirs(out_dir, exist_ok=True)
    n = x_train.shape[0]
    epochs = max(1, math.ceil(curve.budget / n))
    total = epochs * n
    config = TrainConfig(epochs=epochs, batch_size=batch_size, eval_seed=seed,
                         eval_batch_size=1000, checkpoint_every=curve.checkpoint_every).check()
    rng = np.random.default_rng(seed)
    path = os.path.join(out_dir, CHECKPOINT_NAME)
    curve_path = os.path.join(out_dir, "curve.csv")
    state, rows = None, []
    if os.path.isfile(path):
        if not curve.resume:
            raise ValueError(f"{out_dir} already holds a run; add --resume to continue it, "
                             f"or choose another --out")
        state = restore(path, model, optimizer, rng, config)
        rows = [r for r in read_csv(curve_path) if r["samples_seen"] <= state.samples_seen]
        log(f"  resuming {out_dir} at {state.samples_seen} examples ({state.epoch} epochs)")
    points = log_points(curve.first_eval or min(batch_size * 10, total), total)
    done = {r["samples_seen"] for r in rows}
    t_start = time.perf_counter()

    def evaluate(st):
        row = {"samples_seen": st.samples_seen, "step": st.step, "seconds": round(st.seconds, 2)}
        for split, x in evals.items():
            elbo, _, _ = elbo_parts(model, x, np.random.default_rng([seed, 7]), 1000)
            row[f"{split}_elbo"] = float(elbo.mean(dtype=np.float64))
        rows.append(row)
        done.add(st.samples_seen)
        write_csv(curve_path, rows, CURVE_COLUMNS)
        log(f"  {os.path.basename(out_dir)}: {st.samples_seen:>10d} examples  "
            + "  ".join(f"{s} {row[f'{s}_elbo']:.2f}" for s in evals)
            + f"  ({st.seconds:.0f} s training)")

    pending = [p for p in points if p > max(done, default=0)]

    def on_step(st):
        if pending and st.samples_seen >= pending[0]:
            while pending and st.samples_seen >= pending[0]:
                pending.pop(0)
            if st.samples_seen not in done:
                evaluate(st)

    x_watch = evals.get("test", next(iter(evals.values())))[:1000]
    state = train(model, optimizer, x_train, x_watch, config, rng, out_dir, state=state,
                  on_step=on_step)
    if state.samples_seen not in done:
        evaluate(state)
    log(f"  {os.path.basename(out_dir)}: done, {state.samples_seen} examples, "
        f"{state.seconds:.0f} s training ({time.perf_counter() - t_start:.0f} s this call)")
    return rows


def write_run_json(out, info):
    """Write OUT/run.json = ``info``, keeping the list ``calls`` of every earlier call (its
    command, wall time and load), so a later --resume call does not erase the first times."""
    path = os.path.join(out, "run.json")
    old = read_json(path, {}) or {}
    calls = old.get("calls") or ([_call(old)] if old else [])
    info = dict(info, calls=calls + [_call(info)])
    write_json(path, info)


def _call(info):
    call = {k: info.get(k) for k in ("command", "wall_seconds_this_call", "smoke")}
    call["load_average_at_start"] = (info.get("machine") or {}).get("load_average_at_start")
    for key in ("nz", "models", "budget", "budget_epochs"):
        if key in info:
            call[key] = info[key]
    return call
