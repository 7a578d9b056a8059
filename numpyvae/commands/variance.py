"""``numpyvae variance``: score-function vs pathwise gradient estimators, one Gaussian to a VAE.

    numpyvae variance                         # shapes, full version (about 3-4 minutes)
    numpyvae variance --quick --out /tmp/v    # small version (about 45 s on one core)
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

5. ``discrete.{csv,txt}``, ``discrete_tau.png``, ``discrete_traces.{csv,png}``  discrete latents:
   the score function with its baselines, Gumbel-softmax / concrete, straight-through and REBAR on
   the t = 0.499 toy and a categorical problem, each mean and variance beside the exact gradient
   and the exact variance (:mod:`numpyvae.estimators.discrete`); θ traces under Adam.
6. ``snr.{csv,png}``  IWAE gradient SNR against K on Rainforth et al.'s Gaussian toy and on the
   trained VAE of part 3, for the standard IWAE gradient, STL and DReG (estimator iwae, stl,
   dreg; part encoder and decoder; every combination, the decoder's STL and DReG rows being
   IWAE's), each with its 95% interval snr_lo, snr_hi (a bootstrap over the repetitions,
   :func:`numpyvae.estimators.intervals.median_snr_interval`) (:mod:`numpyvae.estimators.snr`).

Part 1 prints each empirical/analytic variance ratio with its 95% band (χ² with the exact fourth
moment, :mod:`numpyvae.estimators.intervals`); part 2 adds the measure-valued estimator
(:mod:`numpyvae.estimators.measure_valued`) to the cost-family curves.

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
           "elbo_summary.txt", "elbo_curves.png", "discrete.csv", "discrete.txt",
           "discrete_tau.png", "discrete_traces.csv", "discrete_traces.png", "snr.csv", "snr.png")
DISCRETE_COLUMNS = ("problem", "estimator", "tau", "phi", "mean", "var", "exact_grad",
                    "exact_var")
SNR_COLUMNS = ("model", "estimator", "part", "K", "snr", "snr_lo", "snr_hi")

# Architecture per dataset: (hidden widths, latent size).
ARCHITECTURES = {"shapes": ([256], 8), "mnist": ([200], 10)}
# Sizes of the two versions.
SETTINGS = {
    "full": {"n_train": 20000, "n_test": 1000, "pretrain_steps": 3000, "study_examples": 100,
             "sample_sizes": (1, 2, 5, 10, 20, 50, 100), "repetitions": 64,
             "curve_steps": 1500, "curve_samples": 5, "eval_every": 100, "batch_size": 100,
             "classroom_Ns": (10, 100, 1000, 10000, 100000), "cost_ks": None,
             "discrete_n": 200000, "discrete_taus": (0.1, 0.2, 0.5, 1.0, 2.0),
             "discrete_phis": (0.0, 1.0), "tau_sweep": np.geomspace(0.05, 3.0, 13),
             "trace_steps": 5000, "snr_Ks": (1, 3, 10, 30, 100, 300), "snr_reps": 1000,
             "snr_points": 4, "vae_Ks": (1, 4, 16, 64, 256), "vae_reps": 100, "vae_points": 8},
    "quick": {"n_train": 5000, "n_test": 500, "pretrain_steps": 300, "study_examples": 32,
              "sample_sizes": (1, 2, 5, 10, 20), "repetitions": 20,
              "curve_steps": 250, "curve_samples": 5, "eval_every": 50, "batch_size": 64,
              "classroom_Ns": (10, 100, 1000, 10000),
              "cost_ks": {"quadratic": np.linspace(-3.0, 3.0, 13),
                          "exp": np.linspace(0.1, 3.0, 12), "cos": np.linspace(0.1, 3.0, 12)},
              "discrete_n": 20000, "discrete_taus": (0.1, 0.5, 1.0), "discrete_phis": (0.0, 1.0),
              "tau_sweep": np.geomspace(0.05, 3.0, 7), "trace_steps": 5000,
              "snr_Ks": (1, 3, 10, 30, 100), "snr_reps": 400, "snr_points": 2,
              "vae_Ks": (1, 8, 64), "vae_reps": 30, "vae_points": 4},
}


def add_arguments(p):
    p.add_argument("--out", metavar="DIR", default=os.path.join("runs", "variance"),
                   help="folder for the tables and figures (default: runs/variance)")
    p.add_argument("--quick", action="store_true",
                   help="a small version (about 45 s) with fewer samples, repetitions and steps")
    p.add_argument("--dataset", choices=tuple(ARCHITECTURES), default="shapes",
                   help="data for the VAE part (default: shapes, needs no files; mnist reads "
                        "$NUMPYVAE_DATA or --data-dir)")
    p.add_argument("--data-dir", help="data folder (default: $NUMPYVAE_DATA or ~/.cache/numpyvae)")
    p.add_argument("--seed", type=int, default=0, help="seeds everything (default: 0)")
    from ..posterior import FAMILIES           # the registry, never a fixed list
    p.add_argument("--covariance", choices=tuple(FAMILIES), default="diagonal",
                   help="the VAE's posterior family q(z|x) for the encoder study, the training "
                        "curves and the SNR (default: diagonal)")


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
    from numpyvae.estimators import intervals as I
    from numpyvae.plots import estimators as P
    rows = E.classroom_experiment(Ns=cfg["classroom_Ns"], repetitions=100, rng=rng)
    I.add_classroom_intervals(rows, level=0.95)
    table = E.format_table(rows) + "\n\n" + I.format_intervals(rows)
    _say("== 1. classroom: d/dθ E[z²], z ~ N(θ=2, σ²=1), true gradient 4")
    _say(table)
    _write_csv(os.path.join(out, "classroom.csv"), rows)
    _write_text(os.path.join(out, "classroom.txt"), table)
    P.plot_classroom(rows, os.path.join(out, "classroom.png"))


def _cost_family(out, cfg):
    from numpyvae.estimators import exact as R
    from numpyvae.estimators import registry as E
    from numpyvae.plots import estimators as P
    curves = R.cost_family_curves(ks=cfg["cost_ks"])
    rows = []
    for cost in curves["costs"]:
        for i, k in enumerate(cost["k"]):
            for wrt in ("mu", "sigma"):
                row = {"cost": cost["name"], "k": float(k), "wrt": wrt,
                       "gradient": float(cost["gradient"][wrt][i])}
                row["var_measure_valued"] = ""           # built for the mean only
                for est, v in cost["variance"][wrt].items():
                    row[f"var_{est}"] = float(v[i])
                rows.append(row)
    _write_csv(os.path.join(out, "cost_family.csv"), rows,
               columns=["cost", "k", "wrt", "gradient"]
               + [f"var_{e}" for e in E.names(E.COST_FAMILY)])
    P.plot_cost_family(curves, os.path.join(out, "cost_family.png"))
    _say("\n== 2. cost family (Mohamed et al. 2020, §3): exact single-sample variances, "
         "x ~ N(1, 1); which estimator wins, by k")
    # the comparisons the lesson discusses, printed when their estimators are in the table
    for cost in curves["costs"]:
        for wrt in ("mu", "sigma"):
            v = cost["variance"][wrt]
            if not {"pathwise", "score_optimal"} <= set(v):
                continue
            wins = np.mean(v["pathwise"] < v["score_optimal"])
            _say(f"  {cost['name']:<9} wrt {wrt:<5}: pathwise below the score function with the "
                 f"optimal baseline at {wins:5.0%} of the k grid "
                 f"(k from {cost['k'][0]:g} to {cost['k'][-1]:g})")
        v = cost["variance"]["mu"]
        if not {"pathwise", "score_optimal", "measure_valued"} <= set(v):
            continue
        wins = np.mean(v["measure_valued"] < np.minimum(v["pathwise"], v["score_optimal"]))
        _say(f"  {cost['name']:<9} wrt mu   : measure-valued (coupled) lowest of the three at "
             f"{wins:5.0%} of the k grid; its quadrature mean matches the gradient to "
             f"{np.max(np.abs(cost['mean']['mu']['measure_valued'] - cost['gradient']['mu'])):.1e}")


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
    from numpyvae.estimators import registry as R
    from numpyvae.plots import encoder_variance as PV
    s = cfg["curve_samples"]
    _say(f"\n== 4. training from the same initialisation, {cfg['curve_steps']} steps, batch "
         f"{cfg['batch_size']}, S = {s} samples per example, Adam 1e-3; the encoder's gradient "
         f"from each estimator, the decoder's by ordinary backprop")
    histories, summary, curve_rows, test_rows = [], [], [], []
    for name in R.names(R.ENCODER_TRAINING):
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
    width = max([42] + [len(R.label(row["estimator"])) for row in summary])
    lines = [f"{'encoder gradient':<{width}} {'test ELBO at the end':>20} "
             f"{'train ELBO, last 10%':>21}"]
    lines.append("-" * len(lines[0]))
    for row in summary:
        flag = f"  (diverged at step {row['diverged_at']})" if row["diverged_at"] != "" else ""
        lines.append(f"{R.label(row['estimator']):<{width}} {row['final_test_elbo']:>20.2f} "
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


def _var_se(x):
    """The sample variance of x and its standard error sqrt((m4 − s⁴)/n)."""
    c = x - x.mean()
    v = float(np.mean(c * c))
    return float(x.var(ddof=1)), float(np.sqrt(max(np.mean(c ** 4) - v * v, 0.0) / x.size))


def _discrete(out, cfg, rng):
    from numpyvae.estimators import discrete as DS
    from numpyvae.estimators import registry as R
    from numpyvae.plots import discrete as PD
    n = cfg["discrete_n"]
    _say(f"\n== 5. discrete latents: single-sample estimators of d/dφ E[f], {n:,} samples each; "
         "exact gradients and variances by enumeration / quadrature")
    rows = []
    for phi in cfg["discrete_phis"]:
        g = DS.toy_exact_gradient(phi)
        for tau in cfg["discrete_taus"]:
            exact = DS.toy_moments(phi, tau=tau)
            mc = DS.toy_monte_carlo(phi, n, rng=rng, tau=tau)
            for est in R.names(R.BERNOULLI):
                relaxed = R.get(est).temperature
                if not relaxed and tau != cfg["discrete_taus"][0]:
                    continue                                  # no temperature: one row
                v, se = _var_se(mc[est])
                rows.append({"problem": "rebar_toy", "estimator": est,
                             "tau": tau if relaxed else "", "phi": phi,
                             "mean": float(mc[est].mean()), "var": v,
                             "se_mean": float(mc[est].std() / np.sqrt(n)), "se_var": se,
                             "exact_grad": g, "exact_mean": exact[est][0],
                             "exact_var": exact[est][1]})
    logits, a, cost = DS.categorical_problem(0.5)
    gexact = float(DS.categorical_exact_gradient(logits, cost)[0])
    cat_exact, _ = DS.categorical_moments(logits, cost)
    for tau in cfg["discrete_taus"]:
        terms = DS.categorical_terms(logits, a, cost, DS.gumbel_noise(rng, (n, a.size)),
                                     DS.gumbel_noise(rng, (n, a.size)), tau=tau)
        for est in R.names(R.CATEGORICAL):
            relaxed = R.get(est).temperature
            if not relaxed and tau != cfg["discrete_taus"][0]:
                continue
            v, se = _var_se(terms[est])
            rows.append({"problem": "categorical", "estimator": est, "tau": tau if relaxed else "",
                         "phi": float(logits[0]), "mean": float(terms[est].mean()), "var": v,
                         "se_mean": float(terms[est].std() / np.sqrt(n)), "se_var": se,
                         "exact_grad": gexact,
                         "exact_mean": "" if relaxed else cat_exact[est][0],
                         "exact_var": "" if relaxed else cat_exact[est][1]})
    head = (f"{'problem':<11} {'estimator':<16} {'tau':>4} {'phi':>4} {'mean ± 2 s.e.':>22} "
            f"{'exact mean':>11} {'exact grad':>10} {'var ± 2 s.e.':>20} {'exact var':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        tau = "" if r["tau"] == "" else f"{r['tau']:g}"
        em = "" if r["exact_mean"] == "" else f"{r['exact_mean']:.5f}"
        ev = "(none)" if r["exact_var"] == "" else f"{r['exact_var']:.4g}"
        lines.append(f"{r['problem']:<11} {r['estimator']:<16} {tau:>4} {r['phi']:>4g} "
                     f"{r['mean']:>10.5f} ± {2 * r['se_mean']:<9.2g} {em:>11} "
                     f"{r['exact_grad']:>10.5f} {r['var']:>9.4g} ± {2 * r['se_var']:<8.2g} "
                     f"{ev:>10}")
    lines.append("exact mean: of the estimator (≠ exact grad: biased); (none): no exact value, "
                 "the ± is 2 standard errors from the sample fourth moment")
    table = "\n".join(lines)
    _say(table)
    _write_csv(os.path.join(out, "discrete.csv"), rows, columns=list(DISCRETE_COLUMNS))
    _write_text(os.path.join(out, "discrete.txt"), table)
    phi = 1.0
    sweep = {"tau": cfg["tau_sweep"], "exact_grad": DS.toy_exact_gradient(phi), "exact": {},
             "mc": {}, "score": {}}
    m_sweep = [DS.toy_moments(phi, tau=t) for t in sweep["tau"]]
    mc_sweep = [DS.toy_monte_carlo(phi, n, rng=rng, tau=t) for t in sweep["tau"]]
    for est in DS.relaxed_names():
        sweep["exact"][est] = {"mean": [m[est][0] for m in m_sweep],
                               "var": [m[est][1] for m in m_sweep]}
        sweep["mc"][est] = {"mean": [m[est].mean() for m in mc_sweep],
                            "var": [m[est].var() for m in mc_sweep],
                            "se": [m[est].std() / np.sqrt(n) for m in mc_sweep]}
    flat = {e: m_sweep[0][e][1] for e in R.names(R.BERNOULLI) if not R.get(e).temperature}
    # the unbiased ones as horizontal lines, but not a variance that is 0 up to rounding (the
    # optimal baseline's on this toy: 1e-34), which no log axis can show beside the others
    sweep["score"] = {e: v for e, v in flat.items() if v > 1e-12 * max(flat.values())}
    PD.plot_temperature(sweep, os.path.join(out, "discrete_tau.png"),
                        title=f"E[(b − 0.499)²], b ~ Bernoulli(σ(φ)), φ = {phi:g}: relaxed "
                              "estimators against τ (REBAR uses λ = τ, η = 1)")
    traces = DS.toy_traces(rng=rng, steps=cfg["trace_steps"])
    _write_csv(os.path.join(out, "discrete_traces.csv"),
               [{"estimator": e, "step": int(s), "theta": float(t)}
                for e, th in traces["theta"].items() for s, t in zip(traces["step"], th)])
    PD.plot_traces(traces, os.path.join(out, "discrete_traces.png"),
                   title=f"Adam (lr 0.01, batch 1), {cfg['trace_steps']} steps, from θ = 0.5: "
                         "θ for each estimator (the optimum is θ = 0)")
    _say("θ after the traces: " + ", ".join(f"{e} {th[-1]:.3f}"
                                            for e, th in traces["theta"].items()))
    return rows


def _snr_toy(cfg, rng):
    from numpyvae.estimators import snr as S
    toy = S.make_toy(rng=rng)
    rows, samples = S.snr_study(toy, Ks=cfg["snr_Ks"], repetitions=cfg["snr_reps"], rng=rng,
                                n_points=cfg["snr_points"])
    _say(f"\n== 6. gradient SNR of the IWAE bound against K (Rainforth et al. 2018): Gaussian "
         f"toy, D = {toy['mu'].size}, {cfg['snr_reps']} repetitions, {cfg['snr_points']} data "
         "points, parameters perturbed by N(0, 0.01²) around the optimum")
    _say(S.format_snr(rows))
    _say("  expected slopes: iwae encoder -1/2, decoder +1/2; stl and dreg encoder rise; the "
         "stl and dreg decoder rows are the iwae decoder's (the same gradient)")
    for k, by in samples.items():
        d = {e: np.concatenate(v) for e, v in by.items()}
        t_d, p_d = S.paired_t(d["dreg"], d["iwae"])
        t_s, p_s = S.paired_t(d["stl"], d["iwae"])
        m = t_d.size
        _say(f"  K = {k:>4}: paired t-test against the standard IWAE gradient of b (Bonferroni "
             f"over {m}): dreg max|t| = {np.max(np.abs(t_d)):.2f}, p = "
             f"{min(1.0, m * p_d.min()):.3g};  stl max|t| = {np.max(np.abs(t_s)):.2f}, p = "
             f"{min(1.0, m * p_s.min()):.3g}")
    eps = rng.standard_normal((cfg["snr_reps"], 1, toy["mu"].size))
    std, stl = S.stl_at_exact_posterior(toy["x"][0], toy["mu"], eps)
    v, se = _var_se(std[:, 0])
    _say(f"  q = p(z|x), K = 1: STL gradient max |g| = {np.max(np.abs(stl)):.1e} (every sample "
         f"0); standard pathwise gradient variance {v:.3f} ± {2 * se:.3f} (exact 4σ_q² = 2)")
    return rows


def _snr_vae(cfg, model, x, rng):
    from numpyvae.estimators import snr as S
    tests = {}
    groups = 10
    rows = S.vae_snr(model, np.ascontiguousarray(x[:cfg["vae_points"]]), Ks=cfg["vae_Ks"],
                     repetitions=cfg["vae_reps"], rng=rng, tests=tests, groups=groups)
    _say(f"  trained VAE ({cfg['vae_points']} examples, {cfg['vae_reps']} repetitions per K; "
         f"noise floor about 1/√R = {1 / np.sqrt(cfg['vae_reps']):.2f}; each mean its own; "
         f"intervals: bootstrap over {min(groups, cfg['vae_reps'])} groups of repetitions):")
    _say(S.format_snr(rows))
    _say("  toy slopes for comparison: iwae encoder -1/2, decoder +1/2; stl and dreg decoder: "
         "the IWAE decoder gradient, bit for bit (the same rows)")
    for k, by in tests.items():
        (t_d, p_d), (t_s, p_s) = by["dreg"], by["stl"]
        m = t_d.size
        _say(f"  K = {k:>4}: paired t-test of the encoder gradient against IWAE's (Bonferroni "
             f"over {m}; R = {cfg['vae_reps']}, so only gross bias shows): dreg max|t| = "
             f"{np.max(np.abs(t_d)):.2f}, p = {min(1.0, m * p_d.min()):.3g};  stl max|t| = "
             f"{np.max(np.abs(t_s)):.2f}, p = {min(1.0, m * p_s.min()):.3g}")
    return rows


def run(args):
    from ..cli import check_flag
    check_flag(args.seed, "--seed", 0, 2**32 - 1)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is a file, not a folder")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise ValueError(f"--data-dir {args.data_dir} is not an existing folder")
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
    model = nv.VAE(784, hidden, k, covariance=args.covariance,
                   rng=np.random.default_rng(seeds[2]))
    _say(f"\nthe VAE of parts 3-6: 784-{'-'.join(map(str, hidden))}-{k}, posterior family "
         f"{args.covariance!r} (--covariance)")
    init = model.params.copy()
    _encoder_study(out, cfg, args.dataset, model, init, x_train, x_test, seeds[3:5])
    trained = model.params.copy()
    t0 = time.perf_counter()
    _elbo_curves(out, cfg, args.dataset, model, init, x_train, x_test, seeds[5])
    _say(f"[part 4: {time.perf_counter() - t0:.1f} s]")
    t0 = time.perf_counter()
    model.params[...] = trained            # the VAE trained in part 3
    extra = np.random.SeedSequence([args.seed, 16]).generate_state(3)
    _discrete(out, cfg, np.random.default_rng(extra[0]))
    snr_rows = _snr_toy(cfg, np.random.default_rng(extra[1]))
    snr_rows += _snr_vae(cfg, model, x_train, np.random.default_rng(extra[2]))
    from numpyvae.plots import snr as PS
    _write_csv(os.path.join(out, "snr.csv"), snr_rows, columns=list(SNR_COLUMNS))
    PS.plot_snr(snr_rows, os.path.join(out, "snr.png"),
                floors={"vae": 1 / np.sqrt(cfg["vae_reps"])})
    _say(f"[parts 5-6: {time.perf_counter() - t0:.1f} s]")
    missing = [name for name in OUTPUTS if not os.path.exists(os.path.join(out, name))]
    if missing:
        print(f"numpyvae variance: missing outputs {missing}", file=sys.stderr)
        return 1
    _say(f"\nwrote {len(OUTPUTS)} files to {out}  [total {time.perf_counter() - t_all:.1f} s]")
    return 0
