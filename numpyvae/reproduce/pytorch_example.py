"""The PyTorch examples VAE (github.com/pytorch/examples, vae/main.py) in numpyvae.

784-400-20 encoder and 20-400-784 decoder, ReLU, Bernoulli decoder on the MNIST intensities
(60,000 train / 10,000 test), Adam lr 1e-3, batch 128, 10 epochs, L = 1.  The reference
prints "Test set loss" = mean over the test set of BCE + KLD with one sample, which is our
-test_elbo; it reaches about 105 nats.  This is the same run as

    numpyvae train --dataset mnist --hidden 400 --z-dim 20 --batch-size 128 --epochs 10

(He-normal initialisation; PyTorch's nn.Linear default is uniform(+-1/sqrt(fan_in)).)
Writes OUT/metrics.csv (the trainer's, one row per epoch), OUT/epochs.csv, OUT/run.json and
OUT/pytorch-example.png.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .. import optim
from ..train import CHECKPOINT_NAME, TrainConfig, restore, train
from ..vae import VAE
from . import common as C

REFERENCE_TEST_LOSS = 105.0     # nats, approximately, after 10 epochs (pytorch/examples)
COLUMNS = ("epoch", "test_loss", "train_loss", "seconds_per_epoch", "seconds")


def run(out, budget=None, resume=False, smoke=False, data_dir=None, seed=0, command=None,
        log=print):
    t0 = time.perf_counter()
    info = C.machine()
    epochs = int(budget or (2 if smoke else 10))
    x, dataset = C.mnist_or_shapes("train", smoke=smoke, data_dir=data_dir,
                                   n=2000 if smoke else None, log=log)
    xt, _ = C.mnist_or_shapes("test", smoke=smoke, data_dir=data_dir,
                              n=500 if smoke else None, log=log)
    rng = np.random.default_rng(seed)
    model = VAE(784, [400], 20, likelihood="bernoulli", activation="relu", rng=rng, init="he")
    opt = optim.Adam(1e-3)
    config = TrainConfig(epochs=epochs, batch_size=128, eval_seed=seed,
                         checkpoint_every=0).check()
    os.makedirs(out, exist_ok=True)
    state = None
    path = os.path.join(out, CHECKPOINT_NAME)
    if os.path.isfile(path):
        if not resume:
            raise ValueError(f"{out} already holds a run; add --resume or choose another --out")
        state = restore(path, model, opt, rng, config)
    log(f"pytorch-example: {dataset}, {x.shape[0]} train / {xt.shape[0]} test, {epochs} epochs")
    state = train(model, opt, x, xt, config, rng, out, state=state)
    rows, prev = [], 0.0
    for r in state.history:
        rows.append({"epoch": r["epoch"], "test_loss": -r["test_elbo"],
                     "train_loss": -r["train_elbo"],
                     "seconds_per_epoch": round(r["seconds"] - prev, 2),
                     "seconds": r["seconds"]})
        prev = r["seconds"]
        log(f"  epoch {r['epoch']:>2}  test loss {-r['test_elbo']:.2f}  "
            f"train loss {-r['train_elbo']:.2f}  {rows[-1]['seconds_per_epoch']:.1f} s")
    C.write_csv(os.path.join(out, "epochs.csv"), rows, COLUMNS)
    fig = os.path.join(out, "pytorch-example.png")
    _plot(rows, fig, dataset)
    final = rows[-1]
    summary = {"epochs": final["epoch"], "test_loss": final["test_loss"],
               "reference": REFERENCE_TEST_LOSS,
               "difference": final["test_loss"] - REFERENCE_TEST_LOSS,
               "mean_seconds_per_epoch": float(np.mean([r["seconds_per_epoch"] for r in rows])),
               "dataset": dataset}
    C.write_run_json(out, {
        "experiment": "pytorch-example", "command": command, "seed": seed, "smoke": smoke,
        "summary": summary, "epochs": rows, "figure": fig, "machine": info,
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1)})
    return [summary]


def _plot(rows, path, dataset):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5, 3.4), dpi=100)
    ax = fig.subplots()
    e = [r["epoch"] for r in rows]
    ax.plot(e, [r["train_loss"] for r in rows], "o-", label="train (running mean over epoch)")
    ax.plot(e, [r["test_loss"] for r in rows], "s--", label="test (end of epoch)")
    if dataset == "mnist":
        ax.axhline(REFERENCE_TEST_LOSS, color="gray", lw=1, label="PyTorch example, ~105")
    ax.set_xlabel("epoch")
    ax.set_ylabel("-ELBO (nats per example)")
    ax.set_title(f"784-400-20 ReLU VAE, Adam 1e-3, batch 128 ({dataset})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
