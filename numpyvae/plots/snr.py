"""Figure for gradient SNR against the number of importance samples K (log-log)."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..estimators import registry as R
from ..estimators.snr import BASE

DPI = 110


def _series():
    """[((estimator, part), (colour, marker, label))]: every estimator's encoder series in the
    registry's colours, then one decoder series.  The others' decoder rows repeat BASE's (the same
    gradient): drawn once, as BASE's, in a colour of its own."""
    names = R.names(R.SNR)
    out = [((e, "encoder"), (*R.style(e), f"{R.label(e)}, encoder")) for e in names]
    return out + [((BASE, "decoder"),
                   ("tab:green", "D", f"decoder ({' = '.join(R.label(e) for e in names)})"))]


def plot_snr(rows, path, *, title="", floors=None):
    """rows: snr.csv rows (model, estimator, part, K, snr, snr_lo, snr_hi).  One panel per
    model; each SNR with its 95% interval as an error bar (rows without snr_lo/snr_hi get none);
    a dotted reference line of slope −½ and +½ through the first IWAE encoder / decoder point.
    floors: optional {model: SNR noise floor (about 1/√R where the mean comes from the same R
    draws)}, drawn as a grey band's top."""
    models = [m for m in ("gaussian_toy", "vae") if any(r["model"] == m for r in rows)]
    fig = Figure(figsize=(6.5 * len(models), 5.8))
    axes = np.atleast_1d(fig.subplots(1, len(models)))
    for ax, model in zip(axes, models):
        series = _series()
        shift = {key: 1.06 ** (i - (len(series) - 1) / 2)          # bars side by side
                 for i, (key, _) in enumerate(series)}
        for (est, part), (c, mk, label) in series:
            sel = sorted((r["K"], r["snr"], r.get("snr_lo", np.nan), r.get("snr_hi", np.nan))
                         for r in rows
                         if r["model"] == model and r["estimator"] == est and r["part"] == part)
            if not sel:
                continue
            k, s, lo, hi = np.array(sel, dtype=float).T
            bars = np.vstack([s - lo, hi - s])
            ax.errorbar(k * shift[est, part], s, yerr=None if np.isnan(bars).any() else bars,
                        color=c, marker=mk, ms=5, lw=1.2, capsize=3, label=label)
            if est == BASE:
                slope = -0.5 if part == "encoder" else 0.5
                ax.plot(k, s[0] * (k / k[0]) ** slope, color=c, ls=":", lw=1,
                        label=f"slope {slope:+g} (reference)")
        if floors and model in floors:
            ax.axhspan(1e-6, floors[model], color="grey", alpha=0.15,
                       label=f"noise floor ≈ 1/√R = {floors[model]:.2g}")
        ax.set(xscale="log", yscale="log", xlabel="K (importance samples)",
               ylabel="SNR = |E g| / std g  (median over parameters)",
               title={"gaussian_toy": "Rainforth et al.'s Gaussian toy (D = 20)",
                      "vae": "trained VAE (IWAE, STL, DReG)"}[model])
        ax.grid(True, which="major", alpha=0.3)
        lo = min([min(r["snr"], r.get("snr_lo", r["snr"])) for r in rows if r["model"] == model]
                 + ([floors[model]] if floors and model in floors else []))
        ax.set_ylim(bottom=lo / 2)
    legend = {}                          # one legend under the panels, each label once
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=4, fontsize=8)
    fig.suptitle(title or "Tighter bounds starve the encoder: gradient SNR against K "
                 "(bars: 95% intervals, bootstrap over the repetitions)", fontsize=12)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=DPI)
    return path
