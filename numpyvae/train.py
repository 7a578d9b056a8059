"""The minibatch AEVB loop (Kingma & Welling 2014, Algorithm 1), with checkpoints and progress.

    state = train(model, optimizer, x_train, x_test, TrainConfig(epochs=10), rng, out_dir="runs/x")

Each epoch:
  1. ``perm = rng.permutation(N)``.  Minibatch i is gathered as ``np.take(x, perm[iB:(i+1)B],
     out=batch)`` into one (B, D) buffer allocated once; with dynamic binarization, a fresh
     Bernoulli draw of that batch follows.  (A shuffled copy of the whole training set per epoch
     was measured slower: it writes N x D floats to memory and the steps read them back, while
     the per-batch gather leaves the batch in cache for the step that uses it.)
  2. For each minibatch the noise ``eps ~ N(0, I)`` of shape (S, B, k) is drawn,
     ``model.forward_backward`` writes the gradient of the loss (-mean ELBO, or -mean IWAE
     bound) and ``optimizer.step`` applies it.
  3. The train ELBO (and its reconstruction and KL parts) is the running mean over the epoch of
     the per-example values that the steps computed; the test ELBO is evaluated at the end of the
     epoch with L = 1 and the same noise every epoch (``eval_rng(config.eval_seed)``).

Everything random in training comes from the one generator ``rng``, so resuming is exact: a
checkpoint stores the parameters, the optimizer state, the rng state now and at the start of the
current epoch (to rebuild the epoch's permutation), the position in the epoch, the running sums
and the metrics so far.  Training resumed from a checkpoint taken at any step ends with the same
parameters, bit for bit, as training that was never stopped.

Files written into ``out_dir`` (when given): ``checkpoint.npz`` (at the end of every epoch,
every ``checkpoint_every`` steps, and on Ctrl-C) and ``metrics.csv`` (one row per epoch, columns
METRICS).  ELBO, recon = E_q log p(x|z), and KL are in nats per example (so -ELBO = -recon + KL).
Every column except ``seconds`` (training wall time so far) is the same, bit for bit, for the
same seed on the same machine.  With the IWAE objective, train_elbo holds the IWAE bound and
train_recon/train_kl are NaN (the test columns are always the L = 1 ELBO).

Ctrl-C, SIGTERM or SIGHUP: the first one lets the current step finish, saves a checkpoint and
raises TrainingInterrupted (a KeyboardInterrupt, with the signal's number); a second one aborts
at once without saving.

Divergence: a non-finite loss, gradient, parameter or test ELBO raises TrainingDiverged naming
the step.  A checkpoint is written only with finite parameters and metrics, so the one on disk
after a divergence is the last finite one.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import checkpoint as ckpt
from . import objectives
from ._validate import check_positive_int, check_rng
from .datasets import binarize_dynamic
from .evaluate import elbo_parts
from .optim import OPTIMIZERS

METRICS = ("epoch", "step", "samples_seen", "train_elbo", "train_recon", "train_kl",
           "test_elbo", "test_recon", "test_kl", "seconds")
CHECKPOINT_NAME, METRICS_NAME = "checkpoint.npz", "metrics.csv"


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, SIGHUP: ``signum``) during ``train``: a checkpoint was saved at
    ``path`` (None without ``out_dir``)."""

    def __init__(self, path, state, signum=signal.SIGINT):
        super().__init__(f"interrupted at step {state.step}")
        self.path, self.state, self.signum = path, state, int(signum)


class TrainingDiverged(RuntimeError):
    """The loss, the parameters or the test ELBO became NaN or infinite at ``step``.  Nothing
    non-finite was saved: the checkpoint on disk (if any) is the last finite one."""

    def __init__(self, message, step=None, initial=False):
        super().__init__(message)
        self.step, self.initial = step, initial      # initial: before any update was made


@dataclass
class TrainConfig:
    """How to train (the model and optimizer are built by the caller).

    epochs           : number of passes over x_train
    batch_size       : B; the last batch of an epoch holds the remaining N mod B examples
    n_samples        : S, noise samples per example (L for the ELBO, k for IWAE)
    objective        : a bound of objectives.OBJECTIVES ("elbo", "iwae", "iwae_stl", "iwae_dreg")
    dynamic_binarize : draw a fresh Bernoulli(x) binarization of x_train every epoch
    eval_seed        : the test ELBO uses np.random.default_rng([eval_seed, 1]), reset each epoch
    eval_batch_size  : examples per evaluation batch
    checkpoint_every : also checkpoint every this many steps (0: only at the end of each epoch)
    """
    epochs: int = 10
    batch_size: int = 128
    n_samples: int = 1
    objective: str = "elbo"
    dynamic_binarize: bool = False
    eval_seed: int = 0
    eval_batch_size: int = 1000
    checkpoint_every: int = 0

    def check(self):
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.n_samples, "n_samples")
        check_positive_int(self.eval_batch_size, "eval_batch_size")
        check_positive_int(self.checkpoint_every, "checkpoint_every", allow_zero=True)
        check_positive_int(self.eval_seed, "eval_seed", allow_zero=True)
        objectives.get(self.objective)          # raises naming the registered bounds
        return self


# Fields that must match when resuming (epochs may grow, checkpoint_every may change).
_RESUME_FIXED = ("batch_size", "n_samples", "objective", "dynamic_binarize", "eval_seed",
                 "eval_batch_size")


@dataclass
class TrainState:
    """Where training is.  ``epoch`` epochs are complete; ``batch`` batches of the next one are
    done.  ``sums`` = [sum bound, sum recon, sum kl] over the ``batch`` batches (float64);
    ``epoch_rng_state`` is the rng state before that epoch's permutation (None when batch == 0)."""
    epoch: int = 0
    batch: int = 0
    step: int = 0
    samples_seen: int = 0
    sums: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    count: int = 0
    epoch_rng_state: dict | None = None
    history: list = field(default_factory=list)
    seconds: float = 0.0


def eval_rng(seed):
    """The generator of the test-ELBO noise: the same stream at every evaluation."""
    return np.random.default_rng([seed, 1])


def optimizer_name(optimizer):
    return next(k for k, v in OPTIMIZERS.items() if type(optimizer) is v)


# ----------------------------------------------------------------------------- checkpoints

def save_checkpoint(path, model, optimizer, rng, config, state, run=None):
    """Write the whole training state to ``path`` (atomically); ``run`` is any JSON dict
    (the CLI stores its options there)."""
    meta = {"model": model.config, "train": asdict(config), "progress": asdict(state),
            "optimizer": {"name": optimizer_name(optimizer), "lr": optimizer.lr},
            "run": run or {}}
    ckpt.save(path, params=model.params, optimizer_state=optimizer.state_dict(),
              rng_state=rng.bit_generator.state, meta=meta)


def restore(checkpoint, model, optimizer, rng, config):
    """Load a checkpoint (a path or a ``checkpoint.Checkpoint``) into ``model``, ``optimizer``
    and ``rng`` -> TrainState.  Everything is checked first: a checkpoint of another model,
    optimizer or training setup raises ValueError naming the file and the difference, and
    nothing is changed."""
    c = checkpoint if isinstance(checkpoint, ckpt.Checkpoint) else ckpt.load(checkpoint)
    meta = c.meta
    try:
        saved_model, saved_train, progress = meta["model"], meta["train"], meta["progress"]
        saved_opt = meta["optimizer"]
        state = TrainState(**progress)
        # a config saved before a key existed is read as the model it was
        saved_model = ckpt.complete_config(saved_model)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{c.path}: checkpoint metadata is incomplete ({err})") from None
    _differ(c.path, "model", saved_model, model.config, saved_model)
    _differ(c.path, "optimizer", saved_opt,
            {"name": optimizer_name(optimizer), "lr": optimizer.lr}, saved_opt)
    _differ(c.path, "training", saved_train, asdict(config), _RESUME_FIXED)
    if c.params.shape != model.params.shape or c.params.dtype != model.params.dtype:
        raise ValueError(f"{c.path}: params have shape {c.params.shape} {c.params.dtype}, "
                         f"the model needs {model.params.shape} {model.params.dtype}")
    try:                               # try the states on throw-away copies first
        type(optimizer)(optimizer.lr).load_state_dict(c.optimizer_state, model.params)
        for rng_state in (c.rng_state, state.epoch_rng_state or c.rng_state):
            type(rng.bit_generator)().state = rng_state
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{c.path}: bad optimizer or rng state ({err})") from None
    model.params[...] = c.params
    optimizer.load_state_dict(c.optimizer_state, model.params)
    rng.bit_generator.state = c.rng_state
    return state


def _differ(path, what, saved, current, keys):
    for key in keys:
        if saved.get(key) != current.get(key):
            raise ValueError(f"{path}: the checkpoint's {what} {key} is {saved.get(key)!r}, "
                             f"but this run has {current.get(key)!r}")


def degenerate_reason(row, kl_per_latent, baseline=None, objective="elbo"):
    """Why a finished run is degenerate, or None if it looks sane.

    row           : the last metrics row (``state.history[-1]``)
    kl_per_latent : the test KL of each latent (``evaluate.kl_per_dim``)
    baseline      : the test ELBO of the model before training (same seed, same weights), or
                    None; a run that ends below it made the model worse: degenerate (e.g. Adam at
                    lr 10 on MNIST ends at -ELBO ~ 1e3, where the untrained model has ~ 550)
    objective     : its bound (an IWAE-type run has no training parts: they are NaN)
    """
    keys = ["train_elbo", "test_elbo", "test_recon", "test_kl"]
    if objectives.get(objective).uses_kl:
        keys[1:1] = ["train_recon", "train_kl"]
    bad = [f"{k} = {row[k]}" for k in keys if k in row and not math.isfinite(row[k])]
    kl = np.asarray(kl_per_latent, np.float64)
    if not np.isfinite(kl).all():
        bad.append(f"the KL of latent(s) {np.flatnonzero(~np.isfinite(kl)).tolist()} is "
                   f"{kl[~np.isfinite(kl)][0]}")
    if bad:
        return "not finite: " + "; ".join(bad)
    if baseline is not None and math.isfinite(baseline) and row["test_elbo"] < baseline:
        return (f"the test -ELBO {-row['test_elbo']:.4g} is worse than the {-baseline:.4g} "
                f"nats of the same model before training")
    return None


def write_metrics(path, history):
    """Write the metric rows (dicts with the METRICS keys) as CSV, atomically."""
    lines = [",".join(METRICS)]
    lines += [",".join(repr(row[k]) for k in METRICS) for row in history]
    ckpt.atomic_write_text(path, "\n".join(lines) + "\n")


def read_metrics(path):
    """metrics.csv -> list of dicts (ints for epoch/step/samples_seen, floats otherwise)."""
    with open(path) as f:
        header, *rows = f.read().split()
    keys = header.split(",")
    ints = {"epoch", "step", "samples_seen"}
    return [{k: (int(v) if k in ints else float(v)) for k, v in zip(keys, r.split(","))}
            for r in rows]


# ----------------------------------------------------------------------------- the loop

def train(model, optimizer, x_train, x_test, config, rng, out_dir=None, *, state=None,
          run=None, progress=None, on_step=None):
    """Train ``model`` in place -> the final TrainState (``.history`` holds the metric rows).

    x_train : (N, D), x_test : (M, D)   float arrays of the model's dtype, in [0, 1]
    config  : TrainConfig;  rng : the numpy Generator for shuffling, binarization and noise
    out_dir : folder for checkpoint.npz and metrics.csv, created if needed (None: write nothing)
    state   : a TrainState from ``restore`` to continue from (None: start afresh)
    run     : JSON dict stored in checkpoints (e.g. the CLI options)
    progress: a Progress (None: silent);  on_step(state): called after every step
    Raises TrainingInterrupted on Ctrl-C (after saving a checkpoint) or from ``on_step``
    raising KeyboardInterrupt, and TrainingDiverged if the loss is not finite.
    """
    config.check()
    check_rng(rng)
    model.check_x(x_train, "x_train")
    model.check_x(x_test, "x_test")
    state = state if state is not None else TrainState()
    path = None
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, CHECKPOINT_NAME)

    def save():
        if path is not None:
            _check_finite(model, state)            # never save a diverged model
            save_checkpoint(path, model, optimizer, rng, config, state, run)

    job = _Job(model, optimizer, config, rng, out_dir, progress, on_step)
    with _DeferSigint() as sigint:
        try:
            _loop(job, x_train, x_test, state, save, sigint)
        except KeyboardInterrupt:
            if sigint.forced:          # a second Ctrl-C mid-step: the state may be torn
                raise
            save()
            raise TrainingInterrupted(path, state, sigint.signum or signal.SIGINT) from None
    return state


def _check_finite(model, state):
    """TrainingDiverged naming the step if the parameters or the last epoch's metrics are not
    finite (one pass over the parameters, at checkpoint time only)."""
    if not np.isfinite(model.params).all():
        raise TrainingDiverged(f"training diverged: the parameters are non-finite after step "
                               f"{state.step}", state.step)
    if state.history:
        row = state.history[-1]
        bad = [k for k in ("train_elbo", "test_elbo", "test_recon", "test_kl")
               if not math.isfinite(row[k])]
        if bad:
            raise TrainingDiverged(f"training diverged: {bad[0]} is {row[bad[0]]} at the end of "
                                   f"epoch {row['epoch']} (step {row['step']})", row["step"])


@dataclass(frozen=True)
class _Job:
    """What ``train`` was called with, for ``_loop``."""
    model: object
    optimizer: object
    config: TrainConfig
    rng: np.random.Generator
    out_dir: str | None
    progress: object
    on_step: object


def _loop(job, x_train, x_test, state, save, sigint):
    """The epochs and steps of ``train``: ``state`` advances in place; ``save()`` writes a
    checkpoint; ``sigint`` (a _DeferSigint) says whether a stop was asked for."""
    model, optimizer, config, rng = job.model, job.optimizer, job.config, job.rng
    progress, on_step = job.progress, job.on_step
    n, bsize, s = x_train.shape[0], config.batch_size, config.n_samples
    n_batches = math.ceil(n / bsize)
    batch_buffer = np.empty((min(bsize, n), x_train.shape[1]), x_train.dtype)
    start, start_seconds = time.perf_counter(), state.seconds
    if progress:
        progress.start(state, config.epochs, n_batches, n)
    while state.epoch < config.epochs:
        if state.batch == 0:
            state.epoch_rng_state = rng.bit_generator.state
            perm = rng.permutation(n)
        else:                          # resumed mid-epoch: rebuild this epoch's permutation
            now, rng.bit_generator.state = rng.bit_generator.state, state.epoch_rng_state
            perm = rng.permutation(n)
            rng.bit_generator.state = now
        for b in range(state.batch, n_batches):
            xb = _gather(x_train, perm[b * bsize:(b + 1) * bsize], batch_buffer, rng,
                         config.dynamic_binarize)
            eps = rng.standard_normal((s, xb.shape[0], model.z_dim), dtype=model.dtype)
            try:                       # x was checked: a ValueError here is NaN/inf inside
                r = model.forward_backward(xb, eps, config.objective)
            except ValueError as err:  # ... only if the parameters really are non-finite
                if np.isfinite(model.params).all():
                    raise              # a genuine bug: keep its own message and traceback
                raise TrainingDiverged(f"training diverged: the parameters are non-finite "
                                       f"before step {state.step + 1}", state.step + 1) from None
            if not math.isfinite(r["loss"]):
                raise TrainingDiverged(f"training diverged at step {state.step + 1} (the loss "
                                       f"is {r['loss']})", state.step + 1, state.step == 0)
            try:
                optimizer.step(model.params, model.grads)
            except ValueError as err:  # a gradient or state that would be non-finite
                if "non-finite" not in str(err) and "NaN or inf" not in str(err):
                    raise
                raise TrainingDiverged(f"training diverged at step {state.step + 1} ({err})",
                                       state.step + 1) from None
            state.batch, state.step = b + 1, state.step + 1
            state.samples_seen += xb.shape[0]
            state.count += xb.shape[0]
            for i, key in enumerate(("bound", "recon", "kl")):
                state.sums[i] += float(r[key].sum(dtype=np.float64)) if key in r else math.nan
            state.seconds = start_seconds + time.perf_counter() - start
            if config.checkpoint_every and state.step % config.checkpoint_every == 0:
                save()
            if progress:
                progress.step(state, r["loss"])
            if on_step:
                on_step(state)
            if sigint.requested:
                raise KeyboardInterrupt
        test = elbo_parts(model, x_test, eval_rng(config.eval_seed), config.eval_batch_size)
        state.seconds = start_seconds + time.perf_counter() - start
        train_means = [v / state.count for v in state.sums]
        row = dict(zip(METRICS, (state.epoch + 1, state.step, state.samples_seen, *train_means,
                                 *(float(v.mean(dtype=np.float64)) for v in test),
                                 round(state.seconds, 3))))
        state.history.append(row)
        try:
            _check_finite(model, state)
        except TrainingDiverged:
            state.history.pop()        # the state stays that of the last good step
            raise
        state.epoch, state.batch, state.count = state.epoch + 1, 0, 0
        state.sums, state.epoch_rng_state = [0.0, 0.0, 0.0], None
        if job.out_dir is not None:
            write_metrics(os.path.join(job.out_dir, METRICS_NAME), state.history)
        save()
        if progress:
            progress.epoch(row, config.epochs)
        if sigint.requested:
            raise KeyboardInterrupt


def _gather(x, idx, buffer, rng, dynamic):
    """The minibatch ``x[idx]`` copied into ``buffer[:len(idx)]``, then optionally binarized afresh.

    ``mode="clip"`` only tells NumPy it may skip the bounds-check copy (``mode="raise"`` buffers
    ``out``); the indices come from a permutation, so they are always in range."""
    xb = buffer[:idx.size]
    np.take(x, idx, axis=0, out=xb, mode="clip")
    if dynamic:
        binarize_dynamic(xb, rng, out=xb)
    return xb


class _DeferSigint:
    """While active, the first Ctrl-C (SIGINT), SIGTERM or SIGHUP only sets ``requested`` (the
    loop stops after the current step, so parameters are never left half-updated) and
    ``signum``; a second one raises at once (``forced``).  SIGTERM is what ``timeout``, batch
    schedulers and ``docker stop`` send, SIGHUP a closed terminal: both save like Ctrl-C."""

    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")

    def __enter__(self):
        self.requested = self.forced = False
        self.signum = None
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        return False


# ----------------------------------------------------------------------------- progress

class Progress:
    """Prints progress to ``stream``: on a terminal a live ``\\r`` line (steps, loss,
    samples/s, time left), and one line per epoch in every case (ELBO split into parts)."""

    def __init__(self, stream=None, live=None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._last = 0.0

    def start(self, state, epochs, n_batches, n):
        self.total_steps, self.n_batches = epochs * n_batches, n_batches
        self.t0, self.step0, self.seconds0 = time.perf_counter(), state.step, state.seconds

    def step(self, state, loss):
        now = time.perf_counter()
        if not self.live or now - self._last < 0.2:
            return
        self._last = now
        done = state.step - self.step0
        rate = done / max(now - self.t0, 1e-9)
        left = (self.total_steps - state.step) / max(rate, 1e-9)
        per_step = (state.samples_seen / max(state.step, 1)) * rate
        self.stream.write(f"\r  epoch {state.epoch + 1}  step {state.batch}/{self.n_batches}  "
                          f"loss {loss:8.3f}  {per_step:7.0f} samples/s  "
                          f"{_clock(left)} left \x1b[K")
        self.stream.flush()

    def epoch(self, row, epochs):
        if self.live:
            self.stream.write("\r\x1b[K")
        self.stream.write(format_row(row, epochs) + "\n")
        self.stream.flush()


def format_row(row, epochs):
    """``epoch 3/10  train -ELBO 102.31 (rec 78.20 + KL 24.11)  test -ELBO ...  12.3 s``."""
    def part(prefix):
        elbo, rec, kl = (row[f"{prefix}_{k}"] for k in ("elbo", "recon", "kl"))
        if math.isnan(rec):
            return f"{prefix} -bound {-elbo:.2f}"
        return f"{prefix} -ELBO {-elbo:.2f} (rec {-rec:.2f} + KL {kl:.2f})"
    return (f"epoch {row['epoch']}/{epochs}  {part('train')}  {part('test')}  "
            f"{row['seconds']:.1f} s")


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
