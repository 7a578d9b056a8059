"""``numpyvae variance``: score-function vs pathwise gradient estimators, one Gaussian to a VAE.

    numpyvae variance                         # shapes, full version (about 1.5-2.5 minutes)
    numpyvae variance --quick --out /tmp/v    # small version (about 20 s)
    numpyvae variance --dataset mnist         # the VAE part on (dynamically binarized) MNIST

Writes into ``--out`` (default ``runs/variance``), and prints every table:

1. ``classroom.{csv,txt,png}``  d/dθ E[z²], z ~ N(θ, σ²): every estimator and baseline against N,
   with the exact variances (:func:`numpyvae.estimators.classroom_experiment`).
2. ``cost_family.{csv,png}``    exact single-sample variances against k for (x − k)², exp(−k x²),
   cos(k x) (Mohamed et al. 2020, §3; :func:`numpyvae.estimators.exact.cost_family_curves`).
3. ``encoder_variance.{csv,txt,png}``  variance and SNR of the ELBO gradient with respect to the
   encoder's parameters against S, for the VAE untrained and trained
   (:func:`numpyvae.estimators.encoder.variance_study`).
4. ``elbo_curves.csv``, ``elbo_test.csv``, ``elbo_summary.{csv,txt}``, ``elbo_curves.png``  the same
   VAE trained from the same initialisation with the encoder's gradient from each estimator.

The "trained" VAE of part 3 is trained here first, with the ordinary VAE gradient (pathwise,
analytic KL, one sample, Adam).
"""
from __future__ import annotations

import csv
import os
import sys
import time

import numpy as np

HELP = "score-function vs pathwise estimator variance study (1-D examples and a VAE encoder)"

OUTPUTS = ("classroom.csv", "classroom.txt", "classroom.png", "cost_family.csv",
           "cost_family.png", "encoder_variance.csv", "encoder_variance.txt",
           "encoder_variance.png", "elbo_curves.csv", "elbo_test.csv", "elbo_summary.csv",
           "elbo_summary.txt", "elbo_curves.png")

# Architecture per dataset: (hidden widths, latent size).
ARCHITECTURES = {"shapes": ([256], 8), "mnist": ([200], 10)}
# Sizes of the two versions.
SETTINGS = {
    "full": {"n_train": 20000, "n_test": 1000, "pretrain_steps": 3000, "study_examples": 100,
             "sample_sizes": (1, 2, 5, 10, 20, 50, 100), "repetitions": 64,
             "curve_steps": 1500, "curve_samples": 5, "eval_every": 100, "batch_size": 100,
             "classroom_Ns": (10, 100, 1000, 10000, 100000), "cost_ks": None},
    "quick": {"n_train": 5000, "n_test": 500, "pretrain_steps": 300, "study_examples": 32,
              "sample_sizes": (1, 2, 5, 10, 20), "repetitions": 20,
              "curve_steps": 250, "curve_samples": 5, "eval_every": 50, "batch_size": 64,
              "classroom_Ns": (10, 100, 1000, 10000),
              "cost_ks": {"quadratic": np.linspace(-3.0, 3.0, 13),
                          "exp": np.linspace(0.1, 3.0, 12), "cos": np.linspace(0.1, 3.0, 12)}},
}
CURVE_ESTIMATORS = ("pathwise", "score_loo", "score")


def add_arguments(p):
    p.add_argument("--out", metavar="DIR", default=os.path.join("runs", "variance"),
                   help="folder for the tables and figures (default: runs/variance)")
    p.add_argument("--quick", action="store_true",
                   help="a small version (about 20 s) with fewer samples, repetitions and steps")
    p.add_argument("--dataset", choices=tuple(ARCHITECTURES), default="shapes",
                   help="data for the VAE part (default: shapes, needs no files; mnist reads "
                        "$NUMPYVAE_DATA or --data-dir)")
    p.add_argument("--data-dir", help="data folder (default: $NUMPYVAE_DATA or ~/.cache/numpyvae)")
    p.add_argument("--seed", type=int, default=0, help="seeds everything (default: 0)")


# ----------------------------------------------------------------------------- helpers


def _write_csv(path, rows, columns=None):
    """Rows (dicts) to CSV, written to a temporary name and moved into place."""
    columns = columns or list(rows[0])
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})
    os.replace(tmp, path)


def _write_text(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, path)


def _say(text=""):
    print(text, flush=True)


def _load(dataset, n_train, n_test, data_dir, rng):
    from numpyvae.datasets import load_dataset
    if dataset == "shapes":
        train = load_dataset("shapes", "train", n=n_train)
        test = load_dataset("shapes", "test", n=n_test)
    else:   # one fixed Bernoulli draw of the intensities, so that the likelihood is a real one
        train = load_dataset("mnist", "train", binarize="dynamic", rng=rng, n=n_train,
                             data_dir=data_dir)
        test = load_dataset("mnist", "test", binarize="dynamic", rng=rng, n=n_test,
                            data_dir=data_dir)
    return train.x, test.x


# ----------------------------------------------------------------------------- the four parts


def _classroom(out, cfg, rng):
    from numpyvae import estimators as E
    from numpyvae.plots import estimators as P
    rows = E.classroom_experiment(Ns=cfg["classroom_Ns"], repetitions=100, rng=rng)
    table = E.format_table(rows)
    _say("== 1. classroom: d/dθ E[z²], z ~ N(θ=2, σ²=1), true gradient 4")
    _say(table)
    _write_csv(os.path.join(out, "classroom.csv"), rows)
    _write_text(os.path.join(out, "classroom.txt"), table)
    P.plot_classroom(rows, os.path.join(out, "classroom.png"))


def _cost_family(out, cfg):
    from numpyvae.estimators import exact as R
    from numpyvae.plots import estimators as P
    curves = R.cost_family_curves(ks=cfg["cost_ks"])
    rows = []
    for cost in curves["costs"]:
        for i, k in enumerate(cost["k"]):
            for wrt in ("mu", "sigma"):
                row = {"cost": cost["name"], "k": float(k), "wrt": wrt,
                       "gradient": float(cost["gradient"][wrt][i])}
                for est, v in cost["variance"][wrt].items():
                    row[f"var_{est}"] = float(v[i])
                rows.append(row)
    _write_csv(os.path.join(out, "cost_family.csv"), rows)
    P.plot_cost_family(curves, os.path.join(out, "cost_family.png"))
    _say("\n== 2. cost family (Mohamed et al. 2020, §3): exact single-sample variances, "
         "x ~ N(1, 1); which estimator wins, by k")
    for cost in curves["costs"]:
        for wrt in ("mu", "sigma"):
            v = cost["variance"][wrt]
            wins = np.mean(v["pathwise"] < v["score_optimal"])
            _say(f"  {cost['name']:<9} wrt {wrt:<5}: pathwise below the score function with the "
                 f"optimal baseline at {wins:5.0%} of the k grid "
                 f"(k from {cost['k'][0]:g} to {cost['k'][-1]:g})")


def _encoder_study(out, cfg, dataset, model, init, x_train, x_test, seeds):
    from numpyvae.estimators import encoder as G
    from numpyvae.plots import encoder_variance as PV
    x = np.ascontiguousarray(x_train[:cfg["study_examples"]])
    hidden, k = ARCHITECTURES[dataset]
    _say(f"\n== 3. VAE encoder ({dataset}, 784-{'-'.join(map(str, hidden))}-{k}, "
         f"{G.encoder_size(model)} encoder parameters): gradient of the mean ELBO over "
         f"{x.shape[0]} fixed examples, {cfg['repetitions']} repetitions per S")
    rows = []
    model.params[...] = init
    t0 = time.perf_counter()
    rows += G.variance_study(model, x, cfg["sample_sizes"], cfg["repetitions"],
                             rng=np.random.default_rng(seeds[0]), label="untrained")["rows"]
    t_study = time.perf_counter() - t0
    t0 = time.perf_counter()
    hist = G.train_with_estimator(model, x_train, "pathwise_kl", steps=cfg["pretrain_steps"],
                                  rng=np.random.default_rng(seeds[1]), n_samples=1,
                                  batch_size=cfg["batch_size"], x_test=x_test,
                                  eval_every=cfg["pretrain_steps"])
    t_train = time.perf_counter() - t0
    _say(f"trained the VAE for {cfg['pretrain_steps']} steps (pathwise, analytic KL, Adam 1e-3, "
         f"batch {cfg['batch_size']}): test ELBO {hist['test_elbo'][0]:.1f} -> "
         f"{hist['test_elbo'][-1]:.1f} nats  [{t_train:.1f} s]")
    t0 = time.perf_counter()
    rows += G.variance_study(model, x, cfg["sample_sizes"], cfg["repetitions"],
                             rng=np.random.default_rng(seeds[0]), label="trained")["rows"]
    t_study += time.perf_counter() - t0
    table = G.format_variance_table(rows)
    _say(table)
    _say(f"[variance study: {t_study:.1f} s]")
    _write_csv(os.path.join(out, "encoder_variance.csv"), rows)
    _write_text(os.path.join(out, "encoder_variance.txt"), table)
    PV.plot_encoder_variance(
        rows, os.path.join(out, "encoder_variance.png"),
        title=f"{dataset}, VAE 784-{'-'.join(map(str, hidden))}-{k}: gradient of the ELBO with "
              f"respect to the encoder's parameters, score function vs pathwise")
    return rows


def _elbo_curves(out, cfg, dataset, model, init, x_train, x_test, seed):
    from numpyvae.estimators import encoder as G
    from numpyvae.estimators.encoder import LABELS
    from numpyvae.plots import encoder_variance as PV
    s = cfg["curve_samples"]
    _say(f"\n== 4. training from the same initialisation, {cfg['curve_steps']} steps, batch "
         f"{cfg['batch_size']}, S = {s} samples per example, Adam 1e-3; the encoder's gradient "
         f"from each estimator, the decoder's by ordinary backprop")
    histories, summary, curve_rows, test_rows = [], [], [], []
    for name in CURVE_ESTIMATORS:
        model.params[...] = init
        t0 = time.perf_counter()
        h = G.train_with_estimator(model, x_train, name, steps=cfg["curve_steps"],
                                   rng=np.random.default_rng(seed), n_samples=s,
                                   batch_size=cfg["batch_size"], x_test=x_test,
                                   eval_every=cfg["eval_every"])
        seconds = time.perf_counter() - t0
        histories.append(h)
        tail = h["train_elbo"][-max(1, cfg["curve_steps"] // 10):]
        summary.append({"estimator": name, "steps": cfg["curve_steps"], "samples": s,
                        "final_test_elbo": float(h["test_elbo"][-1]),
                        "train_elbo_last_10pct": float(np.nanmean(tail)),
                        "diverged_at": "" if h["diverged_at"] is None else h["diverged_at"],
                        "seconds": round(seconds, 2)})
        curve_rows += [{"estimator": name, "step": int(t), "train_elbo": float(v)}
                       for t, v in zip(h["step"], h["train_elbo"])]
        test_rows += [{"estimator": name, "step": int(t), "test_elbo": float(v)}
                      for t, v in zip(h["eval_step"], h["test_elbo"])]
    lines = [f"{'encoder gradient':<42} {'test ELBO at the end':>20} {'train ELBO, last 10%':>21}"]
    lines.append("-" * len(lines[0]))
    for row in summary:
        flag = f"  (diverged at step {row['diverged_at']})" if row["diverged_at"] != "" else ""
        lines.append(f"{LABELS[row['estimator']]:<42} {row['final_test_elbo']:>20.2f} "
                     f"{row['train_elbo_last_10pct']:>21.2f}{flag}")
    table = "\n".join(lines)
    _say(table)
    _write_csv(os.path.join(out, "elbo_curves.csv"), curve_rows)
    _write_csv(os.path.join(out, "elbo_test.csv"), test_rows)
    _write_csv(os.path.join(out, "elbo_summary.csv"), summary)
    _write_text(os.path.join(out, "elbo_summary.txt"), table)
    PV.plot_elbo_curves(histories, os.path.join(out, "elbo_curves.png"),
                        title=f"{dataset}: the same VAE trained from the same initialisation, "
                              f"encoder gradient from each estimator (S = {s}; decoder: "
                              f"ordinary backprop)")
    return summary


def run(args):
    if not isinstance(args.seed, int) or args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    import numpyvae as nv
    cfg = SETTINGS["quick" if args.quick else "full"]
    out = args.out
    os.makedirs(out, exist_ok=True)
    seeds = np.random.SeedSequence(args.seed).generate_state(6)
    t_all = time.perf_counter()
    x_train, x_test = _load(args.dataset, cfg["n_train"], cfg["n_test"], args.data_dir,
                            np.random.default_rng(seeds[0]))

    t0 = time.perf_counter()
    _classroom(out, cfg, np.random.default_rng(seeds[1]))
    _cost_family(out, cfg)
    _say(f"[parts 1-2: {time.perf_counter() - t0:.1f} s]")

    hidden, k = ARCHITECTURES[args.dataset]
    model = nv.VAE(784, hidden, k, rng=np.random.default_rng(seeds[2]))
    init = model.params.copy()
    _encoder_study(out, cfg, args.dataset, model, init, x_train, x_test, seeds[3:5])
    t0 = time.perf_counter()
    _elbo_curves(out, cfg, args.dataset, model, init, x_train, x_test, seeds[5])
    _say(f"[part 4: {time.perf_counter() - t0:.1f} s]")
    missing = [name for name in OUTPUTS if not os.path.exists(os.path.join(out, name))]
    if missing:
        print(f"numpyvae variance: missing outputs {missing}", file=sys.stderr)
        return 1
    _say(f"\nwrote {len(OUTPUTS)} files to {out}  [total {time.perf_counter() - t_all:.1f} s]")
    return 0
