"""Kingma & Welling (2014), Figure 3 analogue: the marginal likelihood with little and with
much data.  N_z = 3, one hidden layer of 100 tanh units, Bernoulli decoder, Adagrad (lr 0.01,
init N(0, 0.01^2), weight decay 1/N_train, M = 100) on the Larochelle & Murray binarized MNIST,
trained on its first 1,000 and on all 50,000 training points.  At the end the importance-
sampled log p(x) (``evaluate.log_likelihood``, k = 1000 samples by default) is computed on 500
training points (the first 500 of those trained on) and 500 test points (every 20th row: the
test file is sorted by class).

Writes OUT/n<N>/ (checkpoint, curve.csv), OUT/marginal.csv, OUT/run.json and OUT/marginal.png.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .. import optim
from ..evaluate import log_likelihood
from ..vae import VAE
from . import common as C

SIZES = (1000, 50000)
COLUMNS = ("n_train", "samples_seen", "train_logpx", "test_logpx", "gap", "train_elbo",
           "test_elbo", "k", "n_eval", "train_seconds", "eval_seconds", "dataset")


def run(out, budget=None, resume=False, smoke=False, data_dir=None, seed=0, eval_k=None,
        command=None, log=print):
    t0 = time.perf_counter()
    info = C.machine()
    budget = int(budget or (3000 if smoke else 3_000_000))
    k = int(eval_k or (50 if smoke else 1000))
    n_eval = 100 if smoke else 500
    sizes = (100, 1000) if smoke else SIZES
    x_all, dataset = C.mnist_or_shapes("train", smoke=smoke, data_dir=data_dir,
                                       binarize="static", log=log)
    xt, _ = C.mnist_or_shapes("test", smoke=smoke, data_dir=data_dir, binarize="static",
                              log=log)
    # The Larochelle & Murray test file is sorted by class (its first 980 rows are zeros), so
    # take every (N/n_eval)-th row: n_eval images in the classes' proportions.
    xt = xt[::max(1, xt.shape[0] // n_eval)][:n_eval].copy()
    if dataset == "shapes":                  # shapes are grey: binarize them once, fixed
        x_all = (x_all > 0.5).astype(np.float32)
        xt = (xt > 0.5).astype(np.float32)
    os.makedirs(out, exist_ok=True)
    table, curves = [], {}
    for n in sizes:
        x = x_all[:n]
        rng = np.random.default_rng([seed, n])
        model = VAE(784, [100], 3, likelihood="bernoulli", activation="tanh", rng=rng,
                    init=0.01, weight_decay=1.0 / n)
        run_dir = os.path.join(out, f"n{n}")
        log(f"marginal-likelihood: N_train = {n} ({dataset}), budget {budget} examples")
        curve = C.Curve(run_dir, budget, 100, seed, resume=resume,
                        first_eval=None if smoke else 10_000, checkpoint_every=0 if smoke else 2000)
        rows = C.curve_run(model, optim.Adagrad(0.01), C.tile_to(x, 1 if smoke else 20_000),
                           {"train": x[:n_eval], "test": xt}, curve, log=log)
        curves[n] = rows
        t1 = time.perf_counter()
        lp_train = log_likelihood(model, x[:n_eval], k, np.random.default_rng([seed, 11]))
        lp_test = log_likelihood(model, xt, k, np.random.default_rng([seed, 12]))
        row = {"n_train": n, "samples_seen": rows[-1]["samples_seen"],
               "train_logpx": float(lp_train.mean()), "test_logpx": float(lp_test.mean()),
               "gap": float(lp_train.mean() - lp_test.mean()),
               "train_elbo": rows[-1]["train_elbo"], "test_elbo": rows[-1]["test_elbo"],
               "k": k, "n_eval": n_eval, "train_seconds": rows[-1]["seconds"],
               "eval_seconds": round(time.perf_counter() - t1, 1), "dataset": dataset}
        log(f"  N_train {n}: log p(x) train {row['train_logpx']:.2f}  test "
            f"{row['test_logpx']:.2f}  (k = {k}, {row['eval_seconds']} s)")
        table.append(row)
        C.write_csv(os.path.join(out, "marginal.csv"), table, COLUMNS)
    fig = os.path.join(out, "marginal.png")
    _plot(curves, table, fig, dataset)
    C.write_run_json(out, {
        "experiment": "marginal-likelihood", "command": command, "seed": seed, "smoke": smoke,
        "budget": budget, "summary": table, "figure": fig, "machine": info,
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1)})
    return table


def _plot(curves, table, path, dataset):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.subplots()
    colors = ["tab:red", "tab:blue", "tab:green"]
    for (n, rows), c, t in zip(sorted(curves.items()), colors, table):
        s = [r["samples_seen"] for r in rows]
        ax.semilogx(s, [r["train_elbo"] for r in rows], "-", color=c,
                    label=f"N_train={n}: train ELBO")
        ax.semilogx(s, [r["test_elbo"] for r in rows], "--", color=c,
                    label=f"N_train={n}: test ELBO")
        ax.plot([s[-1]], [t["train_logpx"]], "o", color=c, label=f"train log p(x), k={t['k']}")
        ax.plot([s[-1]], [t["test_logpx"]], "s", mfc="none", color=c,
                label=f"test log p(x), k={t['k']}")
    ax.set_xlabel("# training examples seen")
    ax.set_ylabel("nats per example")
    ax.set_title(f"N_z = 3, 100 tanh units, Adagrad ({dataset})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
