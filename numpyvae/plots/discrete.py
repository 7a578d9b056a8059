"""Figures for discrete latents: bias and variance against the temperature τ, and the
optimisation traces of θ on the REBAR toy.  Object-oriented Matplotlib (no pyplot)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..estimators import registry as R

DPI = 110


def plot_temperature(sweep, path, *, title=""):
    """sweep: {"tau": (T,), "exact_grad": float, "exact": {est: {"mean": (T,), "var": (T,)}},
    "mc": {est: {"mean": (T,), "var": (T,), "se": (T,)}}, "score": {est: var}} for the relaxed
    estimators.  Left: bias E ĝ − ∇ (exact lines, Monte Carlo markers ± 2 s.e.);
    right: single-sample variance, with the unbiased score-family variances as horizontal lines."""
    fig = Figure(figsize=(13, 5))
    ax_b, ax_v = fig.subplots(1, 2)
    tau, g = np.asarray(sweep["tau"]), sweep["exact_grad"]
    for est, ex in sweep["exact"].items():
        c = R.style(est)[0]
        ax_b.plot(tau, np.asarray(ex["mean"]) - g, color=c, lw=1.6, label=R.label(est))
        mc = sweep["mc"][est]
        ax_b.errorbar(tau, np.asarray(mc["mean"]) - g, yerr=2 * np.asarray(mc["se"]),
                      ls="none", marker="o", ms=4, color=c, capsize=2)
        ax_v.plot(tau, ex["var"], color=c, lw=1.6, label=R.label(est))
        ax_v.plot(tau, mc["var"], ls="none", marker="o", ms=4, color=c)
    for est, v in sweep.get("score", {}).items():
        if v > 0:
            ax_v.axhline(v, color=R.style(est)[0], ls="--", lw=1.2, label=f"{R.label(est)} (no τ)")
    ax_b.axhline(0.0, color="black", lw=0.8, ls=":")
    ax_b.set(xscale="log", xlabel="temperature τ",
             ylabel="bias E[ĝ] − ∇ of the single-sample estimator",
             title=f"Bias (lines: quadrature; markers: Monte Carlo ± 2 s.e.); true gradient {g:.3g}")
    ax_v.set(xscale="log", yscale="log", xlabel="temperature τ",
             ylabel="variance of one sample", title="Variance (lines: exact; markers: Monte Carlo)")
    ax_b.legend(fontsize=8)
    ax_v.legend(fontsize=8)
    for ax in (ax_b, ax_v):
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle(title or "Relaxed estimators against the temperature", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def plot_traces(traces, path, *, title=""):
    """traces: the dict of :func:`numpyvae.estimators.discrete.toy_traces`: θ against the step."""
    fig = Figure(figsize=(10, 5))
    ax = fig.subplots()
    for est, th in traces["theta"].items():
        ax.plot(traces["step"], th, color=R.style(est)[0], lw=1.3, label=R.label(est))
    ax.axhline(0.0, color="black", lw=0.8, ls=":")
    ax.set(xlabel="Adam step (lr 0.01, one sample per step)", ylabel="θ = σ(φ)", ylim=(-0.02, 1.02),
           title=title or "Minimising E[(b − 0.499)²]: the optimum is θ = 0")
    ax.legend(fontsize=8, loc="center right")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path
