"""Figures for the VAE-encoder estimator study (:mod:`numpyvae.estimators.encoder`).

    plot_encoder_variance(rows, path)   variance and SNR against S, untrained and trained
    plot_elbo_curves(histories, path)   train and test ELBO, the encoder learning from each estimator

Like :mod:`numpyvae.plots.estimators`: object-oriented matplotlib (``Figure``), written by Agg, no
pyplot state.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..estimators import registry as R
from .estimators import DPI, check_path

_ROW_KEYS = ("model", "S", "estimator", "repetitions", "var_mean", "snr_median")
_MARKERS = {"ms": 6.5, "markeredgecolor": "black", "markeredgewidth": 0.5}


def _check_rows(rows):
    if not isinstance(rows, (list, tuple)) or not rows:
        raise TypeError("rows must be a non-empty list of rows from "
                        "estimators.encoder.variance_study")
    for row in rows:
        if not isinstance(row, dict) or any(k not in row for k in _ROW_KEYS):
            raise ValueError(f"rows must be dicts with keys {_ROW_KEYS}, got {row!r}")
        if row["estimator"] not in R.names(R.ENCODER):
            raise ValueError(f"unknown estimator {row['estimator']!r} in rows")
    return rows


def _series(rows, model, name, key):
    sel = sorted((r for r in rows if r["model"] == model and r["estimator"] == name),
                 key=lambda r: r["S"])
    return np.array([r["S"] for r in sel], float), np.array([r[key] for r in sel], float)


def _bar_s(rows, model):
    """The S of the per-layer panel: the largest S <= 10 at which every estimator was run."""
    present = {r["estimator"] for r in rows if r["model"] == model}
    full = sorted(s for s in {r["S"] for r in rows if r["model"] == model}
                  if {r["estimator"] for r in rows if r["model"] == model and r["S"] == s}
                  == present)
    small = [s for s in full if s <= 10]
    return (small or full or [None])[-1]


def loo_law(s, var):
    """Fit ``V(S) = (A + B/(S − 1))/S`` to leave-one-out variances by relative least squares.

    That is the exact form of the variance with a leave-one-out baseline (see
    :func:`numpyvae.estimators.quadratic_loo_variance`): for each parameter the estimate is a
    U-statistic in the S draws of each example, and a mean over parameters keeps the form.
    s, var : (K,) with every S >= 2.  -> a function of S (array) giving the fitted curve.
    """
    s, var = np.asarray(s, float), np.asarray(var, float)
    design = np.stack([1.0 / (s * var), 1.0 / (s * (s - 1) * var)], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(s), rcond=None)
    if s.size < 2:
        a, b = var[0] * s[0], 0.0
    return lambda t: (a + b / (np.asarray(t, float) - 1)) / np.asarray(t, float)


def block_labels(layers):
    """Readable names for parameter blocks such as ``encoder.0.W``, ``encoder.2.b``: the
    Sequential index becomes the dense layer's number in order (``dense 1 weights``,
    ``dense 2 bias``); other names are kept."""
    indices = []
    for layer in layers:
        parts = layer.replace("encoder.", "").split(".")
        if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) not in indices:
            indices.append(int(parts[0]))
    kinds = {"W": "weights", "b": "bias"}
    out = []
    for layer in layers:
        parts = layer.replace("encoder.", "").split(".")
        if len(parts) == 2 and parts[0].isdigit():
            out.append(f"dense {indices.index(int(parts[0])) + 1}\n{kinds.get(parts[1], parts[1])}")
        else:
            out.append(layer.replace("encoder.", ""))
    return out


def _s_ticks(ax, sizes):
    ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
    ax.set_xticks([], minor=True)


def plot_encoder_variance(rows, path, *, title=None):
    """One row of panels per model (e.g. untrained, trained), three panels each:

    variance per parameter against S and median SNR against S (log-log; markers empirical,
    dashed lines reference laws, not analytic values: variance ∝ 1/S and SNR ∝ √S scaled
    through each estimator's first point; for the leave-one-out baseline (A + B/(S − 1))/S with
    A and B fitted);
    and the variance of each parameter block (W, b of every encoder layer) at one S, as bars.
    rows : from :func:`numpyvae.estimators.encoder.variance_study` (several models concatenated);
    path : the .png to write;  title : optional suptitle (e.g. naming the data and architecture).
    """
    _check_rows(rows)
    check_path(path)
    models = list(dict.fromkeys(r["model"] for r in rows))
    names = [e for e in R.names(R.ENCODER) if any(r["estimator"] == e for r in rows)]
    layers = [k[4:] for k in rows[0] if k.startswith("var_") and k != "var_mean"]
    sizes = sorted({r["S"] for r in rows})
    nudge = dict(zip(names, np.geomspace(0.94, 1.0 / 0.94, len(names))))
    height = 5.0 * len(models) + 1.3
    fig = Figure(figsize=(17, height))
    axes = fig.subplots(len(models), 3, squeeze=False)
    for i, model in enumerate(models):
        ax_var, ax_snr, ax_bar = axes[i]
        for name in names:
            colour, marker = R.style(name)
            s, var = _series(rows, model, name, "var_mean")
            _, snr = _series(rows, model, name, "snr_median")
            if not s.size:
                continue
            grid = np.geomspace(s[0], max(s[-1], s[0] * 1.01), 60)
            shown = s * nudge[name]          # sideways, so that equal values do not hide
            if R.get(name).leave_one_out:
                law = loo_law(s, var)
                # SNR ∝ 1/std: the same law, scaled through the points (geometric mean)
                c = np.exp(np.mean(np.log(snr * np.sqrt(law(s)))))
                var_line, snr_line = law(grid), c / np.sqrt(law(grid))
            else:
                var_line, snr_line = var[0] * s[0] / grid, snr[0] * np.sqrt(grid / s[0])
            ax_var.plot(grid, var_line, color=colour, ls="--", lw=1.2, alpha=0.8)
            ax_var.plot(shown, var, ls="none", marker=marker, color=colour, **_MARKERS)
            ax_snr.plot(grid, snr_line, color=colour, ls="--", lw=1.2, alpha=0.8)
            ax_snr.plot(shown, snr, ls="none", marker=marker, color=colour, **_MARKERS)
        reps = rows[0]["repetitions"]
        n_ex = rows[0].get("n_examples", "?")
        ax_var.set(xscale="log", yscale="log", xlabel="S (samples per example)",
                   ylabel="variance per encoder parameter\n(mean over parameters)",
                   title=f"{model}: variance of the S-sample gradient\n"
                         f"({reps} repetitions, minibatch of {n_ex} examples)")
        ax_snr.set(xscale="log", yscale="log", xlabel="S (samples per example)",
                   ylabel="signal-to-noise ratio |∇φ ELBO| / std\n(median over parameters)",
                   title=f"{model}: signal-to-noise ratio")
        for ax in (ax_var, ax_snr):
            _s_ticks(ax, sizes)
        s_bar = _bar_s(rows, model)
        width = 0.8 / len(names)
        for j, name in enumerate(names):
            row = next((r for r in rows if r["model"] == model and r["estimator"] == name
                        and r["S"] == s_bar), None)
            if row is None:
                continue
            values = [row[f"var_{layer}"] for layer in layers]
            ax_bar.bar(np.arange(len(layers)) + (j - (len(names) - 1) / 2) * width, values,
                       width=width, color=R.style(name)[0], edgecolor="black", linewidth=0.4)
        ax_bar.set_xticks(np.arange(len(layers)), block_labels(layers))
        ax_bar.set(yscale="log", xlabel="encoder parameter block",
                   ylabel="variance per parameter\n(mean within the block)",
                   title=f"{model}: variance by parameter block at S = {s_bar}")
        for ax in (ax_var, ax_snr, ax_bar):
            ax.grid(True, which="major", alpha=0.3)
    handles = [Line2D([], [], color=R.style(n)[0], marker=R.style(n)[1], ls="none",
                      label=R.label(n), **_MARKERS) for n in names]
    handles.append(Line2D([], [], color="grey", ls="--",
                          label="reference laws (not analytic): variance ∝ 1/S, SNR ∝ √S "
                                "through the first point;\n"
                                "leave-one-out: (A + B/(S−1))/S, A and B fitted"))
    fig.suptitle(title or "Gradient of the ELBO with respect to the VAE encoder's parameters: "
                          "score function vs pathwise", fontsize=13, y=1 - 0.15 / height)
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9.5,
               bbox_to_anchor=(0.5, 1 - 0.5 / height), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / height))
    fig.savefig(path, dpi=DPI)
    return path


def _smooth(y, window):
    """Trailing moving average of y (NaNs ignored), same length; the first points average fewer."""
    ok = np.isfinite(y)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, y, 0.0))])
    k = np.concatenate([[0], np.cumsum(ok)])
    idx = np.arange(1, y.size + 1)
    lo = np.maximum(idx - window, 0)
    count = k[idx] - k[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (c[idx] - c[lo]) / np.maximum(count, 1), np.nan)


def plot_elbo_curves(histories, path, *, title=None):
    """Train ELBO (moving average; raw values faint), test ELBO, and a zoom on the test ELBO of
    the best runs over the second half of training, against the training step.

    histories : list of dicts from :func:`numpyvae.estimators.encoder.train_with_estimator`;
    path : the .png to write.  The y axes start above the first few steps (the initial ELBO of an
    untrained model is far below everything else); the start value is given in the title.
    """
    check_path(path)
    if not isinstance(histories, (list, tuple)) or not histories:
        raise TypeError("histories must be a non-empty list from train_with_estimator")
    for h in histories:
        if not isinstance(h, dict) or any(k not in h for k in ("estimator", "step", "train_elbo",
                                                               "eval_step", "test_elbo")):
            raise ValueError("each history must be a dict from train_with_estimator")
    fig = Figure(figsize=(19, 6.0))
    ax_tr, ax_te, ax_zoom = fig.subplots(1, 3, gridspec_kw={"width_ratios": (1.2, 1.2, 1)})
    steps = max(len(h["step"]) for h in histories)
    window = max(1, steps // 25)
    lows, highs, handles = [], [], []
    for h in histories:
        colour, marker = R.style(h["estimator"])
        label = R.label(h["estimator"])
        if h.get("diverged_at") is not None:
            label += f" (diverged at step {h['diverged_at']})"
        y = np.asarray(h["train_elbo"], float)
        sm = _smooth(y, window)
        ax_tr.plot(h["step"], y, color=colour, lw=0.5, alpha=0.18)
        ax_tr.plot(h["step"], sm, color=colour, lw=2.0)
        te_s, te = np.asarray(h["eval_step"]), np.asarray(h["test_elbo"], float)
        if te.size:
            for ax in (ax_te, ax_zoom):
                ax.plot(te_s, te, color=colour, marker=marker, lw=1.5, **{**_MARKERS, "ms": 5})
            label += f":  test ELBO {te[-1]:.2f} at step {te_s[-1]}"
        handles.append(Line2D([], [], color=colour, marker=marker, lw=2.0, label=label,
                              **{**_MARKERS, "ms": 5}))
        cut = max(1, steps // 8)
        tail = sm[cut:][np.isfinite(sm[cut:])]
        if te.size > 1:
            tail = np.concatenate([tail, te[1:][np.isfinite(te[1:])]])
        if tail.size:
            lows.append(tail.min())
            highs.append(tail.max())
    start = [h["test_elbo"][0] for h in histories if len(h["test_elbo"])]
    if lows:
        lo, hi = min(lows), max(highs)
        pad = 0.06 * (hi - lo if hi > lo else abs(hi) + 1)
        for ax in (ax_tr, ax_te):
            ax.set_ylim(lo - pad, hi + pad)
    # zoom: the second half of training, for the runs within 10% of the best final test ELBO
    finals = [(h["test_elbo"][-1], h) for h in histories if len(h["test_elbo"])]
    if finals:
        best = max(v for v, _ in finals)
        close = [h for v, h in finals if np.isfinite(v) and v >= best - 0.1 * abs(best)]
        half = [np.asarray(h["test_elbo"], float)[np.asarray(h["eval_step"]) >= steps // 2]
                for h in close]
        half = np.concatenate([v for v in half if v.size] or [np.array([best])])
        z_lo, z_hi = half.min(), half.max()
        z_pad = 0.15 * (z_hi - z_lo if z_hi > z_lo else abs(z_hi) * 0.01 + 0.1)
        ax_zoom.set_xlim(steps // 2 - steps * 0.02, steps * 1.03)
        ax_zoom.set_ylim(z_lo - z_pad, z_hi + z_pad)
        left_out = [R.label(h["estimator"]) for h in histories
                    if not any(h is c for c in close)]
    else:
        left_out = []
    zoom_title = "Test ELBO, zoom on the second half"
    if left_out:
        zoom_title += ("\nbelow the axis, > 10% under the best final test ELBO:\n"
                       + ", ".join(left_out))
    ax_zoom.set(xlabel="training step", ylabel="test ELBO (nats per example, fixed noise)",
                title=zoom_title)
    note = f" (step 0: {start[0]:.0f}, off the scale)" if start else ""
    ax_tr.set(xlabel="training step", ylabel="ELBO on the minibatch (nats per example)",
              title=f"Train ELBO, moving average over {window} steps{note}")
    ax_te.set(xlabel="training step", ylabel="test ELBO (nats per example, fixed noise)",
              title="Test ELBO")
    for ax in (ax_tr, ax_te, ax_zoom):
        ax.grid(True, alpha=0.3)
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9.5,
               frameon=False)
    fig.suptitle(title or "Training the same VAE from the same initialisation, the encoder's "
                          "gradient from each estimator (decoder: ordinary backprop)",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=DPI)
    return path

