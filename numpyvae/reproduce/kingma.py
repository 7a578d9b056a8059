"""Kingma & Welling (2014), Figure 2: the AEVB lower bound per example against the number of
training examples seen, train (a fixed 10k subset) and test, for several latent sizes N_z.

MNIST:     784-500-N_z (tanh) encoder and N_z-500-784 decoder, Bernoulli decoder on the pixel
           intensities in [0, 1] (not binarized: the paper does not say; intensities are
           deterministic and match the PyTorch example), N_z in {3, 5, 10, 20, 200}.
Frey Face: 560-200-N_z, Gaussian decoder with a sigmoid mean and a learned log-variance per
           pixel, N_z in {2, 5, 10, 20}.
Both: weights from N(0, 0.01^2) (init=0.01), Adagrad, minibatch M = 100, L = 1, weight decay
1/N_train (a N(0, I) prior on the parameters, see numpyvae/vae.py).

Each N_z is its own resumable run in OUT/nz<N_z>/ (checkpoint.npz, curve.csv); the summary
is OUT/summary.csv and the figure OUT/<name>.png.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .. import optim
from ..vae import VAE
from . import common as C

MNIST = dict(name="kingma-fig2", nz=(3, 5, 10, 20, 200), hidden=500, lr=0.01,
             budget=10_000_000, smoke_budget=3_000)
FREY = dict(name="kingma-frey", nz=(2, 5, 10, 20), hidden=200, lr=0.01,
            budget=1_000_000, smoke_budget=3_000)
BATCH = 100
SUMMARY_COLUMNS = ("nz", "samples_seen", "train_elbo", "test_elbo", "gap", "seconds",
                   "best_test_elbo", "dataset")


def _data(spec, smoke, data_dir, log):
    if spec is MNIST:
        n_train = 2000 if smoke else None
        x, name = C.mnist_or_shapes("train50k", smoke=smoke, data_dir=data_dir, n=n_train,
                                    log=log)
        xt, _ = C.mnist_or_shapes("test", smoke=smoke, data_dir=data_dir,
                                  n=500 if smoke else None, log=log)
        return x, x[:500 if smoke else 10_000], xt, name, "bernoulli"
    x, name = C.frey_or_shapes("train", smoke=smoke, data_dir=data_dir,
                               n=500 if smoke else None, log=log)
    xt, _ = C.frey_or_shapes("test", smoke=smoke, data_dir=data_dir,
                             n=200 if smoke else None, log=log)
    return x, x, xt, name, "gaussian"


def run_spec(spec, out, budget=None, resume=False, smoke=False, data_dir=None, nz=None,
             seed=0, lr=None, command=None, log=print):
    """Run every N_z of ``spec`` (MNIST or FREY) into ``out`` -> summary rows."""
    t0 = time.perf_counter()
    info = C.machine()
    budget = int(budget or (spec["smoke_budget"] if smoke else spec["budget"]))
    lr = float(lr or spec["lr"])
    x, x_eval_train, x_test, dataset, likelihood = _data(spec, smoke, data_dir, log)
    n_train = x.shape[0]
    # A small training set is tiled so that an epoch is >= 20k rows (see common.tile_to).
    x_epoch = C.tile_to(x, 20_000 if not smoke else 1)
    nz_list = tuple(nz) if nz else (spec["nz"][:2] if smoke else spec["nz"])
    os.makedirs(out, exist_ok=True)
    summary, curves = [], {}
    log(f"{spec['name']}: {dataset}, {n_train} train / {x_test.shape[0]} test, N_z {nz_list}, "
        f"budget {budget} examples, Adagrad lr {lr}, M = {BATCH}, seed {seed}")
    for k in nz_list:
        rng = np.random.default_rng([seed, k])
        model = VAE(x.shape[1], [spec["hidden"]], k, likelihood=likelihood, activation="tanh",
                    rng=rng, init=0.01, weight_decay=1.0 / n_train,
                    decoder_logvar="learned", gaussian_mean="sigmoid")
        run_dir = os.path.join(out, f"nz{k}")
        curve = C.Curve(run_dir, budget, BATCH, seed, resume=resume,
                        first_eval=None if smoke else min(10_000, budget),
                        checkpoint_every=0 if smoke else 2000)
        rows = C.curve_run(model, optim.Adagrad(lr), x_epoch,
                           {"train": x_eval_train, "test": x_test}, curve, log=log)
        curves[k] = rows
        summary.append(_summary_row(k, rows, dataset))
        C.write_csv(os.path.join(out, "summary.csv"), summary, SUMMARY_COLUMNS)
    # The figure and summary cover every N_z run found in ``out`` (runs of other budgets too).
    done_nz = {r["nz"] for r in summary}
    for name in sorted(os.listdir(out)):
        if name.startswith("nz") and name[2:].isdigit() and int(name[2:]) not in done_nz:
            rows = C.read_csv(os.path.join(out, name, "curve.csv"))
            if rows:
                curves[int(name[2:])] = rows
                summary.append(_summary_row(int(name[2:]), rows, dataset))
    summary.sort(key=lambda r: r["nz"])
    C.write_csv(os.path.join(out, "summary.csv"), summary, SUMMARY_COLUMNS)
    fig_path = os.path.join(out, f"{spec['name']}.png")
    plot_curves(curves, fig_path, spec, dataset, x_eval_train.shape[0])
    C.write_run_json(out, {
        "experiment": spec["name"], "command": command, "dataset": dataset, "budget": budget,
        "lr": lr, "seed": seed, "smoke": smoke, "nz": list(nz_list), "batch_size": BATCH,
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1), "machine": info,
        "summary": summary, "figure": fig_path})
    return summary


def _summary_row(k, rows, dataset):
    last = rows[-1]
    return {"nz": k, "samples_seen": last["samples_seen"], "train_elbo": last["train_elbo"],
            "test_elbo": last["test_elbo"], "gap": last["train_elbo"] - last["test_elbo"],
            "seconds": last["seconds"], "best_test_elbo": max(r["test_elbo"] for r in rows),
            "dataset": dataset}


def plot_curves(curves, path, spec, dataset, n_eval_train=10_000):
    """One panel per N_z: train and test lower bound against examples seen (log x), as the
    paper's Figure 2."""
    from matplotlib.figure import Figure
    ks = sorted(curves)
    fig = Figure(figsize=(3.0 * len(ks), 3.2), dpi=100)
    axes = fig.subplots(1, len(ks), sharex=True, sharey=True, squeeze=False)[0]
    for ax, k in zip(axes, ks):
        rows = curves[k]
        s = np.array([r["samples_seen"] for r in rows], float)
        ax.semilogx(s, [r["train_elbo"] for r in rows], "r-",
                    label=f"train ({'fixed subset of ' if spec is MNIST else 'all '}"
                          f"{n_eval_train:,})")
        ax.semilogx(s, [r["test_elbo"] for r in rows], "b--", label="test")
        ax.set_title(f"{dataset}, $N_z$ = {k}", fontsize=10)
        ax.set_xlabel("# training examples seen")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("lower bound per example (nats)")
    axes[0].legend(fontsize=8, loc="lower right")
    lows = [r["test_elbo"] for k in ks for r in curves[k]]
    highs = [max(r["train_elbo"], r["test_elbo"]) for k in ks for r in curves[k]]
    if dataset == "mnist":
        axes[0].set_ylim(max(min(lows), -200), max(highs) + 5)
    else:
        span = max(highs) - min(lows)
        axes[0].set_ylim(min(lows) - 0.05 * span - 1, max(highs) + 0.05 * span + 1)
    fig.suptitle(f"AEVB lower bound ({spec['name']}; Kingma & Welling 2014 Fig. 2 setup)",
                 fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.18, top=0.82, wspace=0.08)
    fig.savefig(path)
    return fig


def run_fig2(out, budget=None, resume=False, smoke=False, data_dir=None, log=print, **kw):
    return run_spec(MNIST, out, budget, resume, smoke, data_dir, log=log, **kw)


def run_frey(out, budget=None, resume=False, smoke=False, data_dir=None, log=print, **kw):
    return run_spec(FREY, out, budget, resume, smoke, data_dir, log=log, **kw)
