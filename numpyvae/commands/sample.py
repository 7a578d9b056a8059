"""``numpyvae sample RUN_DIR``: a grid of samples from the prior of a trained run.

    numpyvae sample runs/shapes --n 64 --seed 1 --out samples.png
"""
from __future__ import annotations

import os

import numpy as np

HELP = "draw a grid of samples from the prior of a trained run"
MAX_SAMPLES = 10000          # a 100 x 100 grid of images: the largest figure that is still a figure


def add_arguments(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by 'numpyvae train'")
    p.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--out", metavar="FILE.png",
                   help="image file (default: RUN_DIR/samples-seed<SEED>.png)")


def run(args):
    from ..cli import check_flag
    from ..plots.training import plot_samples
    from .train import RANGES, load_run

    check_flag(args.n, "--n", 1, MAX_SAMPLES)
    check_flag(args.seed, "--seed", *RANGES["seed"])
    if args.out is not None:
        _check_out(args.out)
    model, opts, c = load_run(args.run_dir)   # a missing RUN_DIR is named as RUN_DIR
    out = args.out or os.path.join(args.run_dir, f"samples-seed{args.seed}.png")
    shape = tuple(c.meta["run"]["image_shape"])
    ncols = int(np.ceil(np.sqrt(args.n)))
    try:
        plot_samples(model, np.random.default_rng(args.seed), shape, out, n=args.n, ncols=ncols)
    except OSError as err:
        flag = "--out" if args.out is not None else "RUN_DIR"
        raise ValueError(f"{flag}: cannot write {out} ({err.strerror or err})") from None
    print(f"wrote {out}")
    return 0


def _check_out(out):
    """--out must be a .png file name in an existing, writable folder; else ValueError naming --out."""
    if not out.lower().endswith(".png"):
        raise ValueError(f"--out must name a .png file, got {out}")
    if os.path.isdir(out):
        raise ValueError(f"--out {out} is a folder; give a file name such as {out}/samples.png")
    folder = os.path.dirname(out) or "."
    if not os.path.exists(folder):
        raise ValueError(f"--out: folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise ValueError(f"--out: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--out: folder {folder} is not writable")
