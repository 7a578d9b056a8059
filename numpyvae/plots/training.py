"""Figures of a training run: curves, reconstructions, samples, traversals, manifold, latents.

Every function builds a ``matplotlib.figure.Figure`` (no pyplot, so no global figure list and no
backend switching), saves it to ``path`` when one is given, and returns it.  Images are rows of
``x`` reshaped to ``image_shape`` (28 x 28, or 28 x 20 for Frey Face), drawn in gray from 0
(black) to 1 (white), without tick marks.  Figure sizes are fixed (no tight bounding box), so
the PNG has ``fig.canvas.get_width_height()`` pixels.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..evaluate import active_units, kl_per_dim

DPI = 100
PAD_VALUE = 0.35          # gray of the 1-pixel lines between images


def image_grid(images, ncols, pad=1):
    """Tile images (n, h, w) into one array ((rows*(h+pad)-pad), (ncols*(w+pad)-pad)),
    row-major, separated by ``pad`` pixels of PAD_VALUE (missing cells stay PAD_VALUE)."""
    n, h, w = images.shape
    nrows = -(-n // ncols)
    grid = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad), PAD_VALUE, np.float32)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return grid


def _images(x, image_shape):
    return np.clip(np.asarray(x, np.float32), 0, 1).reshape(-1, *image_shape)


def _grid_figure(grid, title, scale=3.0, left=0.0, top=0.45):
    """A figure showing ``grid`` at ``scale`` screen pixels per image pixel, plus a margin of
    ``left`` inches (row labels) and ``top`` inches (title); at least as wide as the title."""
    h, w = grid.shape
    img_w, img_h = round(w * scale), round(h * scale)              # pixels
    natural = img_w + round(DPI * (left + 0.1))
    width, height = max(natural, 7 * len(title) + 20), img_h + round(DPI * (top + 0.1))
    x0 = round(DPI * left) + (width - natural) // 2                 # centre a narrow grid
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    ax = fig.add_axes([x0 / width, round(DPI * 0.1) / height, img_w / width, img_h / height])
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.tick_params(length=0, labelsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title, y=1 - 8 / height, va="top", fontsize=10)
    return fig, ax


def _save(fig, path):
    """Write the PNG atomically (rendered in memory, then ``checkpoint.atomic_write_bytes``): a
    full disk or a kill leaves the old file or none, never an empty or half-written PNG."""
    if path is not None:
        import io

        from ..checkpoint import atomic_write_bytes
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=DPI, format="png")
        atomic_write_bytes(path, buffer.getvalue())
    return fig


def _inverse_normal_cdf(u):
    """Phi^-1(u) for u in (0, 1), float64 (the standard library's; no scipy import, whose
    OpenBLAS start-up hung under ``ulimit -v``)."""
    from statistics import NormalDist
    inv = NormalDist().inv_cdf
    return np.array([inv(float(v)) for v in u])


def plot_curves(history, path=None, title="Training curves"):
    """-ELBO (train and test) against the epoch, and its two parts: -E_q log p(x|z) and KL.
    history : metric rows (dicts with the ``numpyvae.train.METRICS`` keys)."""
    epoch = np.array([r["epoch"] for r in history])
    get = lambda key: np.array([r[key] for r in history], float)   # noqa: E731
    fig = Figure(figsize=(10, 3.8), dpi=DPI)
    ax1, ax2 = fig.subplots(1, 2)
    mark = "o" if len(history) <= 20 else None
    when = {"train": "train (running mean over the epoch)", "test": "test (at the epoch's end)"}
    for split, style in (("train", "-"), ("test", "--")):
        ax1.plot(epoch, -get(f"{split}_elbo"), style, marker=mark, label=when[split])
        ax2.plot(epoch, -get(f"{split}_recon"), style, marker=mark, color="tab:blue",
                 label=f"{split} reconstruction  -E log p(x|z)")
        ax2.plot(epoch, get(f"{split}_kl"), style, marker=mark, color="tab:red",
                 label=f"{split} KL(q(z|x) || p(z))")
    ax1.set_title("-ELBO (lower is better)", fontsize=10)
    ax2.set_title("the two parts of -ELBO", fontsize=10)
    n = history[0]["samples_seen"] if history else 0
    for ax in (ax1, ax2):
        ax.set_xlabel(f"epoch ({n} examples each)")
        ax.set_ylabel("nats per example")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.84, wspace=0.22)
    return _save(fig, path)


def plot_reconstructions(model, x, image_shape, path=None, n=10, blocks=2):
    """Inputs (top row of each block) over their reconstructions decode(mu(x)) (below)."""
    x = x[:n * blocks]
    recon = model.reconstruct(x)
    rows = []
    for b in range(blocks):
        rows += [x[b * n:(b + 1) * n], recon[b * n:(b + 1) * n]]
    grid = image_grid(_images(np.concatenate(rows), image_shape), n)
    fig, ax = _grid_figure(grid, "Test inputs (odd rows) and their reconstructions (even rows)",
                           left=0.6)
    h = image_shape[0] + 1
    ax.set_yticks([h * (i + 0.5) for i in range(2 * blocks)],
                  ["input", "recon."] * blocks)
    return _save(fig, path)


def plot_samples(model, rng, image_shape, path=None, n=64, ncols=8):
    """Decoder means for z ~ N(0, I): ``n`` samples from the prior in a grid."""
    grid = image_grid(_images(model.sample(n, rng), image_shape), ncols)
    fig, _ = _grid_figure(grid, f"{n} samples from the prior (decoder mean of z ~ N(0, I))")
    return _save(fig, path)


def plot_traversals(model, x, image_shape, path=None, n_dims=8, n_steps=11, span=3.0):
    """Start at mu(x[0]) and move one latent at a time over [-span, span]: one row per latent,
    the ``n_dims`` latents with the largest mean KL over ``x`` first."""
    kl = kl_per_dim(model, x)
    dims = np.argsort(-kl, kind="stable")[:n_dims]
    mu, _ = model.encode(x[:1])
    values = np.linspace(-span, span, n_steps, dtype=model.dtype)
    z = np.repeat(mu, len(dims) * n_steps, axis=0)
    for r, d in enumerate(dims):
        z[r * n_steps:(r + 1) * n_steps, d] = values
    images = _decode_mean(model, z)
    grid = image_grid(_images(images, image_shape), n_steps)
    fig, ax = _grid_figure(grid, f"Latent traversals from mu of a test image: z_j over "
                                 f"[{-span:g}, {span:g}], rows by KL", left=1.0, top=0.7)
    h, w = image_shape[0] + 1, image_shape[1] + 1
    ax.set_yticks([h * (i + 0.5) for i in range(len(dims))],
                  [f"z{d}  KL {kl[d]:.2f}" for d in dims])
    ax.set_xticks([w * (i + 0.5) for i in range(n_steps)], [f"{v:g}" for v in values])
    ax.xaxis.tick_top()
    return _save(fig, path)


def _decode_mean(model, z):
    """The mean of p(x|z) for z (N, k), as the model's likelihood gives it (Bernoulli
    probabilities, the Gaussian mean, ...): (N, D)."""
    out, _ = model.decoder.forward(z)
    return model.lik.mean(out)


def plot_manifold(model, image_shape, path=None, n=20):
    """The learned 2-D manifold (Kingma & Welling 2014, Fig. 4): decode z = Phi^-1(u) for u on
    an n x n grid of (i + 1/2)/n in (0, 1)^2; z_1 grows to the right, z_2 upwards."""
    if model.z_dim != 2:
        raise ValueError(f"plot_manifold needs a model with z_dim 2, got {model.z_dim}")
    u = (np.arange(n) + 0.5) / n
    z1, z2 = np.meshgrid(_inverse_normal_cdf(u), _inverse_normal_cdf(u[::-1]))
    z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(model.dtype)
    grid = image_grid(_images(_decode_mean(model, z), image_shape), n)
    fig, _ = _grid_figure(grid, "Learned 2-D manifold: decoder means at z = inverse normal "
                                "CDF of a uniform grid", scale=1.5)
    return _save(fig, path)


def plot_latent_scatter(model, x, path=None, labels=None, label_names=None, factors=None,
                        label_kind="label", max_points=5000):
    """Posterior means mu(x) of test images in the plane of the two most active latents
    (largest Var_x mu_j), coloured by ``labels`` (called ``label_kind``, e.g. "digit", with
    ``label_names[c]`` in the legend) or, without labels, by the example's index; with
    ``factors`` (shapes) a second panel is coloured by the true x position."""
    if model.z_dim < 2:
        raise ValueError("plot_latent_scatter needs z_dim >= 2")
    x = x[:max_points]
    _, activity = active_units(model, x)
    a, b = np.sort(np.argsort(-activity, kind="stable")[:2])
    mu = np.concatenate([model.encode(x[i:i + 1000])[0] for i in range(0, len(x), 1000)])
    if labels is not None:
        panels = [(label_kind, labels)]
    else:                              # Frey Face: the index follows the video's time order
        panels = [("example index", np.arange(len(x)))]
    if factors is not None:
        panels.append(("x position (pixels)", np.asarray(factors["x"])[:len(x)]))
    fig = Figure(figsize=(5.2 * len(panels), 4.8), dpi=DPI)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (name, colour) in zip(axes, panels):
        kw = dict(s=4, alpha=0.7, linewidths=0)
        if name == label_kind:
            colour = np.asarray(colour)[:len(x)]
            for c in np.unique(colour):
                sel = colour == c
                text = label_names[c] if label_names is not None else str(c)
                ax.scatter(mu[sel, a], mu[sel, b], color=f"C{c % 10}", label=text, **kw)
            ax.legend(fontsize=8, markerscale=3, loc="best")
        else:
            points = ax.scatter(mu[:, a], mu[:, b], c=colour, cmap="viridis", **kw)
            fig.colorbar(points, ax=ax, label=name)
        ax.set_xlabel(f"mu_{a}")
        ax.set_ylabel(f"mu_{b}")
        ax.set_title(f"coloured by {name}", fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
    which = "" if model.z_dim == 2 else f", the 2 most active of {model.z_dim} latents"
    fig.suptitle(f"Test-set posterior means: z{a} vs z{b}{which}", fontsize=10)
    fig.subplots_adjust(left=0.75 / (5.2 * len(panels)), right=0.97, bottom=0.11, top=0.88,
                        wspace=0.3)
    return _save(fig, path)
