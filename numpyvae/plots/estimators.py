"""Figures for the gradient-estimator lesson: variance against N, and against a cost parameter k.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``) and written by the Agg
renderer.  No pyplot: nothing is registered in pyplot's global figure list (so nothing to close or
leak), and importing this module does not switch the backend of a notebook that imports it.
"""
from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from ..estimators import registry as R

DPI = 110
_ROW_KEYS = ("N", "estimator", "repetitions", "true_grad", "mean", "var", "analytic_var")


def _plain_log_ticks(ax):
    """Label a log y axis with plain numbers (0.05, 0.1, 20), in 1-2-5 steps below 3 decades."""
    lo, hi = ax.get_ylim()
    if hi / lo < 1e3:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return path


def _check_table(table):
    if not isinstance(table, (list, tuple)) or not table:
        raise TypeError("table must be a non-empty list of rows from classroom_experiment")
    for row in table:
        if not isinstance(row, dict) or any(k not in row for k in _ROW_KEYS):
            raise ValueError(f"table rows must be dicts with keys {_ROW_KEYS}, got {row!r}")
    return table


def _series(table, name, key):
    rows = sorted((r for r in table if r["estimator"] == name), key=lambda r: r["N"])
    return np.array([r["N"] for r in rows], float), np.array([r[key] for r in rows], float), rows


def plot_classroom(table, path):
    """The classroom experiment in three panels, all against N (log axes):

    variance of the N-sample estimates;  N x variance (the per-sample variance, flat when the
    terms are independent, which separates the estimators);  mean ± 2 standard errors.
    table : rows from :func:`numpyvae.estimators.classroom_experiment`;  path : the .png to write.
    Markers: empirical, nudged sideways so they do not hide each other.  Lines: exact
    (dashed where only the large-N value is known).
    """
    _check_table(table)
    check_path(path)
    names = [n for n in R.names(R.CLASSROOM) if any(r["estimator"] == n for r in table)]
    nudge = dict(zip(names, np.geomspace(0.8, 1.25, len(names))))
    fig = Figure(figsize=(17, 5.6))
    ax_var, ax_nvar, ax_mean = fig.subplots(1, 3)
    marker_style = {"ms": 6.5, "markeredgecolor": "black", "markeredgewidth": 0.5}
    handles = []
    for name in names:
        colour, marker = R.style(name)
        ns, var, rows = _series(table, name, "var")
        _, exact, _ = _series(table, name, "analytic_var")
        _, mean, _ = _series(table, name, "mean")
        ls = "-" if all(r.get("analytic_exact", True) for r in rows) else "--"
        band = all("var_lo" in r and "var_hi" in r for r in rows)
        for ax, scale in ((ax_var, 1.0), (ax_nvar, ns)):
            ax.plot(ns, exact * scale, color=colour, lw=1.3, ls=ls, alpha=0.8)
            if band:    # interval for the true variance given the empirical one
                lo = np.array([r["var_lo"] for r in rows]) * scale
                hi = np.array([r["var_hi"] for r in rows]) * scale
                ax.errorbar(ns * nudge[name], var * scale, yerr=[var * scale - lo, hi - var * scale],
                            ls="none", color=colour, capsize=2.5, lw=1, alpha=0.9)
            ax.plot(ns * nudge[name], var * scale, ls="none", marker=marker, color=colour,
                    **marker_style)
        se = np.sqrt(var / np.array([r["repetitions"] for r in rows]))
        ax_mean.errorbar(ns * nudge[name], mean, yerr=2 * se, ls="none", marker=marker,
                         color=colour, capsize=2.5, **{**marker_style, "ms": 5})
        handles.append(Line2D([], [], color=colour, marker=marker, ls=ls,
                              label=R.label(name), **marker_style))
    row0 = table[0]
    ax_var.set(yscale="log", ylabel="variance of the N-sample estimate",
               title=f"Variance over {row0['repetitions']} repetitions")
    ax_var.legend(handles=handles, fontsize=8.5, loc="lower left", framealpha=0.9,
                  title="markers: empirical, lines: exact\n(dashed: large-N value)"
                        + ("\nbars: 95% interval (χ², exact 4th moment)"
                           if all("var_lo" in r for r in table) else ""),
                  title_fontsize=8.5)
    ax_nvar.set(yscale="log", ylabel="N x variance  (= variance of one term)",
                title="The same, times N")
    _plain_log_ticks(ax_nvar)
    ax_mean.axhline(row0["true_grad"], color="black", lw=1, ls=":")
    ax_mean.set(ylabel="mean of the estimates  (bars: ±2 standard errors)",
                title=f"Both are unbiased: true gradient {row0['true_grad']:g}")
    for ax in (ax_var, ax_nvar, ax_mean):
        ax.set(xscale="log", xlabel="N (samples per estimate)")
        ax.grid(True, which="major", alpha=0.3)
    theta, sigma = row0.get("theta", row0["true_grad"] / 2), row0.get("sigma", 1.0)
    fig.suptitle(r"Estimating $\frac{d}{d\theta}\,\mathbb{E}_{z\sim N(\theta,\sigma^2)}[z^2]$"
                 rf" at $\theta={theta:g}$, $\sigma={sigma:g}$: score function (with baselines) "
                 "vs pathwise", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


_WRT_LABEL = {"mu": r"$\mu$", "sigma": r"$\sigma$"}


def plot_cost_family(curves, path):
    """2x3 grid of single-sample variance against k: rows wrt μ and σ, columns the three costs.

    curves : the dict from :func:`numpyvae.estimators.exact.cost_family_curves`;  path : .png
    The y axis is logarithmic in a panel whose positive values span more than a factor of 30.
    """
    check_path(path)
    if not isinstance(curves, dict) or "costs" not in curves:
        raise TypeError("curves must be the dict returned by cost_family_curves")
    costs = curves["costs"]
    fig = Figure(figsize=(14, 7.8))
    axes = fig.subplots(2, len(costs), squeeze=False)
    for col, cost in enumerate(costs):
        for row, wrt in enumerate(("mu", "sigma")):
            ax = axes[row, col]
            values = cost["variance"][wrt]
            shown = [e for e in R.names(R.COST_FAMILY) if e in values]
            for est in shown:
                ax.plot(cost["k"], values[est], color=R.style(est)[0], lw=1.8,
                        label=R.label(est), ls="--" if est == "measure_valued" else "-")
            v = np.concatenate([values[e] for e in shown])
            v = v[v > 1e-9 * v.max()]          # an exact zero (e.g. coupled MVD at k = μ) is not drawn to 1e-31
            if v.size and v.max() / v.min() > 30:
                ax.set_yscale("log")
                ax.set_ylim(bottom=v.min() / 2)
                _plain_log_ticks(ax)
            ax.grid(True, which="major", alpha=0.3)
            ax.set_xlabel("k")
            ax.set_ylabel(f"variance, gradient wrt {_WRT_LABEL[wrt]}")
            ax.set_title(f"f(x) = {cost['label']},  wrt {_WRT_LABEL[wrt]}", fontsize=11)
    axes[0, 0].legend(fontsize=9, loc="best")
    fig.suptitle(f"Exact variance of single-sample gradient estimators, "
                 f"x ~ N(μ={curves['mu']:g}, σ²={curves['sigma'] ** 2:g})  "
                 "(after Mohamed et al. 2020, §3)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path
