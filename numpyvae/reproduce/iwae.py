"""Burda, Grosse & Salakhutdinov (2015), IWAE, Table 1: MNIST, one stochastic layer.

Model: 784-200-200-50 encoder (mu and logvar = log sigma^2 from one linear layer, so
sigma = exp of a linear function), 50-200-200-784 decoder, tanh, Bernoulli output, trained on
the 60,000 MNIST training images binarized afresh every epoch (dynamic binarization); the
test set is one fixed binarization of the 10,000 test images (np.random.default_rng([seed, 2])).
Adam (beta1 0.9, beta2 0.999, eps 1e-4), batch 20.

Schedule (the paper's): stage i = 1..8 runs 3^(i-1) epochs at lr 1e-3 * 10^(-(i-1)/7), 3,280
epochs in all.  Each stage is a resumable run in OUT/<model>/stage<i>/ (checkpoint every
epoch); a stage starts from the previous stage's final parameters, Adam moments and rng
state, with the new learning rate.  OUT/<model>/schedule.json records the finished stages and
their evaluations.  --budget E trains the first E epochs of the schedule (the last stage may
be cut short; 40 = stages 1-4, 121 = stages 1-5).

Models: "vae" (the ELBO, k = 1) and "iwae5" (the IWAE bound with k = 5).  After each stage
the test NLL is estimated with k = 500 on the first 200 test images (a cheap intermediate
number); at the end with ``eval_k`` (5000) on the first ``eval_n`` (default all 10,000) test
images.  On the 2-core machine of RESULTS.md k = 5000 costs ~0.5 s per image, so the session
used --eval-n 1000; ``--resume --eval-n 10000`` recomputes only the final number.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from .. import checkpoint as ckpt
from .. import optim
from ..datasets import binarize_dynamic
from ..evaluate import log_likelihood
from ..train import CHECKPOINT_NAME, TrainConfig, restore, train
from ..vae import VAE
from . import common as C

PAPER = {"vae": 86.76, "iwae5": 85.54}      # Table 1, one stochastic layer, test NLL (nats)
TARGET = 87.5
MODELS = {"vae": ("elbo", 1), "iwae5": ("iwae", 5)}
STAGE_COLUMNS = ("model", "stage", "epochs", "cum_epochs", "lr", "train_bound", "test_elbo",
                 "nll_sub", "sub_n", "sub_k", "train_seconds")


def schedule(total_epochs, n_stages=8):
    """[(stage i, epochs in this stage, lr)] covering the first ``total_epochs`` epochs."""
    out, left = [], total_epochs
    for i in range(1, n_stages + 1):
        if left <= 0:
            break
        e = min(3 ** (i - 1), left)
        out.append((i, e, 1e-3 * 10 ** (-(i - 1) / 7)))
        left -= e
    return out


def _model(seed):
    return VAE(784, [200, 200], 50, likelihood="bernoulli", activation="tanh",
               rng=np.random.default_rng([seed, 5]), init="xavier")


def run(out, budget=None, resume=False, smoke=False, data_dir=None, seed=0, models=None,
        eval_k=None, eval_n=None, command=None, log=print):
    t0 = time.perf_counter()
    info = C.machine()
    total = int(budget or (2 if smoke else 40))
    eval_k = int(eval_k or (100 if smoke else 5000))
    stage_k, stage_n = (20, 100) if smoke else (500, 200)
    x, dataset = C.mnist_or_shapes("train", smoke=smoke, data_dir=data_dir,
                                   n=1000 if smoke else None, log=log)
    xt_int, _ = C.mnist_or_shapes("test", smoke=smoke, data_dir=data_dir,
                                  n=200 if smoke else None, log=log)
    xt = binarize_dynamic(xt_int, np.random.default_rng([seed, 2]))
    eval_n = min(int(eval_n or xt.shape[0]), xt.shape[0])
    os.makedirs(out, exist_ok=True)
    setup = _Setup(out, x, xt, total, seed, resume, stage_k, stage_n, eval_k, eval_n, dataset)
    results = [_run_model(name, setup, log) for name in models or tuple(MODELS)]
    # final.csv, stages.csv and the figure cover every model found in ``out`` (a model may
    # have been trained by another call, e.g. --models iwae5 running side by side).
    all_models = [m for m in MODELS if os.path.isfile(os.path.join(out, m, "schedule.json"))]
    finals = [C.read_json(os.path.join(out, m, "schedule.json")).get("final")
              for m in all_models]
    C.write_csv(os.path.join(out, "final.csv"), [f for f in finals if f], FINAL_COLUMNS)
    stages = [s for m in all_models
              for s in C.read_json(os.path.join(out, m, "schedule.json"))["stages"]]
    C.write_csv(os.path.join(out, "stages.csv"), stages, STAGE_COLUMNS)
    C.write_csv(os.path.join(out, "full_test.csv"), full_evaluations(out), FULL_COLUMNS)
    fig = os.path.join(out, "iwae.png")
    _plot(out, all_models, fig, dataset)
    C.write_run_json(out, {
        "experiment": "iwae", "command": command, "seed": seed, "smoke": smoke,
        "budget_epochs": total, "models": list(models or MODELS),
        "schedule": schedule(total), "summary": results,
        "figure": fig, "machine": info, "dataset": dataset,
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1)})
    return results


FINAL_COLUMNS = ("model", "epochs", "test_nll", "k", "n_test", "paper", "difference",
                 "train_seconds", "eval_seconds", "dataset")


@dataclass(frozen=True)
class _Setup:
    """What every model of one ``run`` call shares: the output folder, the training images x
    and the binarized test images xt, the schedule's ``total`` epochs, the seed, ``resume``,
    the per-stage NLL estimate (k = ``stage_k`` on the first ``stage_n`` test images), the final
    one (``eval_k``, ``eval_n``), and the dataset's name."""
    out: str
    x: np.ndarray
    xt: np.ndarray
    total: int
    seed: int
    resume: bool
    stage_k: int
    stage_n: int
    eval_k: int
    eval_n: int
    dataset: str


def _run_model(name, setup, log):
    """Train model ``name`` of MODELS through the schedule's stages and estimate its test NLL
    -> the final row (FINAL_COLUMNS)."""
    out, x, xt, total, seed = setup.out, setup.x, setup.xt, setup.total, setup.seed
    stage_k, stage_n, eval_k, eval_n = setup.stage_k, setup.stage_n, setup.eval_k, setup.eval_n
    objective, k_train = MODELS[name]
    mdir = os.path.join(out, name)
    sched_path = os.path.join(mdir, "schedule.json")
    os.makedirs(mdir, exist_ok=True)
    sched = C.read_json(sched_path, {"model": name, "stages": [], "final": None})
    if sched["stages"] and not setup.resume:
        raise ValueError(f"{mdir} already holds a run; add --resume or choose another --out")
    model = _model(seed)
    rng = np.random.default_rng(seed)
    cum = 0
    for stage, epochs, lr in schedule(total):
        cum += epochs
        sdir = os.path.join(mdir, f"stage{stage}")
        opt = optim.Adam(lr, beta1=0.9, beta2=0.999, eps=1e-4)
        config = TrainConfig(epochs=epochs, batch_size=20, n_samples=k_train,
                             objective=objective, dynamic_binarize=True, eval_seed=seed,
                             eval_batch_size=1000).check()
        path = os.path.join(sdir, CHECKPOINT_NAME)
        done = [s for s in sched["stages"] if s["stage"] == stage]
        if done and done[0]["epochs"] == epochs and os.path.isfile(path):
            c = ckpt.load(path)          # finished earlier: just carry its state on
            model.params[...] = c.params
            prev = c
            continue
        state = None
        if os.path.isfile(path):
            state = restore(path, model, opt, rng, config)   # epochs may grow
            log(f"  {name} stage {stage}: resuming after epoch {state.epoch}")
        elif stage > 1:
            prev = ckpt.load(os.path.join(mdir, f"stage{stage - 1}", CHECKPOINT_NAME))
            model.params[...] = prev.params
            opt.load_state_dict(prev.optimizer_state, model.params)
            rng.bit_generator.state = prev.rng_state
        log(f"{name} stage {stage}: {epochs} epochs at lr {lr:.3g} (epochs {cum - epochs + 1}"
            f"-{cum} of the schedule)")
        state = train(model, opt, x, xt[:1000], config, rng, sdir, state=state)
        last = state.history[-1]
        nll = -log_likelihood(model, xt[:stage_n], stage_k, np.random.default_rng([seed, 9]))
        row = {"model": name, "stage": stage, "epochs": epochs, "cum_epochs": cum, "lr": lr,
               "train_bound": last["train_elbo"], "test_elbo": last["test_elbo"],
               "nll_sub": float(nll.mean()), "sub_n": stage_n, "sub_k": stage_k,
               "train_seconds": last["seconds"]}
        sched["stages"] = [s for s in sched["stages"] if s["stage"] != stage] + [row]
        C.write_json(sched_path, sched)
        log(f"  {name} stage {stage} done: train bound {last['train_elbo']:.2f}, test ELBO "
            f"{last['test_elbo']:.2f}, test NLL (k={stage_k}, first {stage_n}) "
            f"{row['nll_sub']:.2f}, {last['seconds']:.0f} s")
    final = sched.get("final")
    if not final or final["k"] != eval_k or final["n_test"] != eval_n \
            or final["epochs"] != cum:
        t1 = time.perf_counter()
        nll = -log_likelihood(model, xt[:eval_n], eval_k, np.random.default_rng([seed, 10]))
        final = {"model": name, "epochs": cum, "test_nll": float(nll.mean()), "k": eval_k,
                 "n_test": eval_n, "paper": PAPER[name],
                 "difference": float(nll.mean()) - PAPER[name],
                 "train_seconds": round(sum(s["train_seconds"] for s in sched["stages"]
                                            if s["cum_epochs"] <= cum), 1),
                 "eval_seconds": round(time.perf_counter() - t1, 1), "dataset": setup.dataset}
        if sched.get("final"):           # keep earlier finals (shorter budgets, other k/n)
            sched.setdefault("earlier_finals", []).append(sched["final"])
        sched["final"] = final
        C.write_json(sched_path, sched)
    log(f"{name}: test NLL {final['test_nll']:.2f} nats (k = {final['k']}, {final['n_test']} "
        f"test images) after {final['epochs']} epochs; paper {PAPER[name]}")
    return final


FULL_COLUMNS = ("model", "stage", "epochs", "k", "n_test", "test_nll", "eval_seconds")


def full_evaluations(out):
    """The finished evaluate_checkpoint runs in ``out`` -> rows (FULL_COLUMNS)."""
    rows = []
    for name in MODELS:
        mdir = os.path.join(out, name)
        sched = C.read_json(os.path.join(mdir, "schedule.json"))
        if not sched:
            continue
        cum = {s["stage"]: s["cum_epochs"] for s in sched["stages"]}
        for fname in sorted(os.listdir(mdir)):
            if not (fname.startswith("nll_stage") and fname.endswith(".csv")):
                continue
            stage, k = fname[len("nll_stage"):-len(".csv")].split("_k")
            chunks = C.read_csv(os.path.join(mdir, fname))
            n = sum(r["n"] for r in chunks)
            if not n or int(stage) not in cum:
                continue
            rows.append({"model": name, "stage": int(stage), "epochs": cum[int(stage)],
                         "k": int(k), "n_test": n,
                         "test_nll": sum(r["nll_sum"] for r in chunks) / n,
                         "eval_seconds": round(sum(r["seconds"] for r in chunks), 1)})
    return rows


def _plot(out, names, path, dataset):
    """Left: the whole run; right: the same from epoch 30 on, where the numbers are close to the
    paper's.  Diamonds are the k = 5000 NLL on all test images, stars on fewer."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), dpi=100)
    axes = fig.subplots(1, 2)
    for name, c in zip(names, ("tab:blue", "tab:red")):
        sched = C.read_json(os.path.join(out, name, "schedule.json"))
        st = sorted(sched["stages"], key=lambda s: s["stage"])
        # per-epoch test ELBO from each stage's metrics.csv, on the cumulative epoch axis
        ep, elbo, base = [], [], 0
        for s in st:
            rows = C.read_csv(os.path.join(out, name, f"stage{s['stage']}", "metrics.csv"))
            ep += [base + r["epoch"] for r in rows]
            elbo += [-r["test_elbo"] for r in rows]
            base = s["cum_epochs"]
        # k = 5000 numbers: the commands' own finals and the evaluate_checkpoint runs
        finals = sched.get("earlier_finals", []) + ([sched["final"]] if sched.get("final") else [])
        points = [(f["epochs"], f["test_nll"], f["n_test"], f["k"]) for f in finals]
        points += [(r["epochs"], r["test_nll"], r["n_test"], r["k"])
                   for r in full_evaluations(out) if r["model"] == name]
        n_all = max([n for _, _, n, _ in points], default=0)
        for ax in axes:
            ax.plot(ep, elbo, "-", color=c, alpha=0.5, label=f"{name}: test -ELBO (L=1)")
            if st:
                ax.plot([s["cum_epochs"] for s in st], [s["nll_sub"] for s in st], "o-",
                        color=c, ms=4, label=f"{name}: test NLL, k={st[0]['sub_k']}, "
                                             f"first {st[0]['sub_n']}")
            for full in (True, False):
                pts = sorted((e, v, n) for e, v, n, _ in points if (n == n_all) == full)
                if pts:
                    what = f"all {n_all}" if full else f"first {max(n for *_, n in pts)}"
                    pts = [(e, v) for e, v, _ in pts]
                    ax.plot(*zip(*pts), "D-" if full else "*", ms=7 if full else 11,
                            mfc="none" if full else c, color=c, lw=1,
                            label=f"{name}: test NLL, k=5000, {what} images")
            if dataset == "mnist":
                ax.axhline(PAPER[name], color=c, ls=":", lw=1,
                           label=f"{name}: paper, 3,280 epochs ({PAPER[name]})")
    if dataset == "mnist" and "vae" in names:
        for ax in axes:
            ax.axhline(TARGET, color="k", ls="--", lw=0.8, label=f"vae: target {TARGET}")
    for ax, title in zip(axes, ("the whole run", "from epoch 30 on")):
        ax.set_xscale("log")
        ax.set_xlabel("epochs trained (log scale)")
        ax.set_ylabel("nats per test image")
        ax.set_title(f"IWAE Table 1 setup, 784-200-200-50 ({dataset}): {title}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=6)
    if dataset == "mnist":
        axes[1].set_xlim(30, 4000)
        axes[1].set_ylim(84, 100)
    fig.tight_layout()
    fig.savefig(path)


def evaluate_checkpoint(out, name, stage, k=5000, n=10_000, chunk=1000, seed=0,
                        data_dir=None, log=print):
    """The test NLL of OUT/<name>/stage<stage>/checkpoint.npz with ``k`` importance samples on
    the first ``n`` test images, ``chunk`` images at a time; each finished chunk is appended to
    OUT/<name>/nll_stage<stage>_k<k>.csv, so an interrupted evaluation resumes where it stopped.
    Chunk c uses ``np.random.default_rng([seed, 10, c])``.  -> (mean NLL, images done)."""
    sched = C.read_json(os.path.join(out, name, "schedule.json")) or {"stages": []}
    if not any(s["stage"] == stage for s in sched["stages"]):
        finished = sorted(s["stage"] for s in sched["stages"])
        raise ValueError(f"stage {stage} of {name!r} in {out} is not finished (finished stages: "
                         f"{finished or 'none'}); its checkpoint would be a mid-stage snapshot")
    c = ckpt.load(os.path.join(out, name, f"stage{stage}", CHECKPOINT_NAME))
    model = _model(seed)
    model.params[...] = c.params
    x, _ = C.mnist_or_shapes("test", smoke=False, data_dir=data_dir, log=log)
    xt = binarize_dynamic(x, np.random.default_rng([seed, 2]))[:n]
    path = os.path.join(out, name, f"nll_stage{stage}_k{k}.csv")
    rows = C.read_csv(path)
    for i in range(len(rows), -(-xt.shape[0] // chunk)):
        t = time.perf_counter()
        nll = -log_likelihood(model, xt[i * chunk:(i + 1) * chunk], k,
                              np.random.default_rng([seed, 10, i]))
        rows.append({"chunk": i, "first": i * chunk, "n": nll.size,
                     "nll_sum": float(nll.sum()), "nll_mean": float(nll.mean()),
                     "seconds": round(time.perf_counter() - t, 1)})
        C.write_csv(path, rows, ("chunk", "first", "n", "nll_sum", "nll_mean", "seconds"))
        done = sum(r["n"] for r in rows)
        mean = sum(r["nll_sum"] for r in rows) / done
        log(f"{name} stage {stage}: {done} test images, NLL {mean:.3f} (k = {k}, "
            f"chunk {rows[-1]['seconds']} s)")
    done = sum(r["n"] for r in rows)
    return sum(r["nll_sum"] for r in rows) / done, done
