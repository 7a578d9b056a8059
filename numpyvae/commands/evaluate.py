"""``numpyvae evaluate RUN_DIR``: the importance-sampled log-likelihood of a trained run.

    numpyvae evaluate runs/mnist --k 5000 --n 1000

Prints the mean log p(x) (nats per example) with its standard error, the ELBO of the same
examples, the number of active units, and writes RUN_DIR/evaluate.json.  A Bernoulli decoder
on grey levels (``evaluate.bernoulli_on_grey``) is said in the printout (a note) and in
evaluate.json (``"bernoulli_on_grey": true`` and a ``"note"``): those numbers are not
log-likelihoods of the images.
"""
from __future__ import annotations

import json
import os
import time

import numpy as np

HELP = "importance-sampled test log-likelihood (and active units) of a trained run"


def add_arguments(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by 'numpyvae train'")
    p.add_argument("--k", type=int, default=5000,
                   help="importance samples per example (default: 5000)")
    p.add_argument("--n", type=int, default=1000,
                   help="evaluate the first N examples of the split (default: 1000; "
                        "0 for all of them)")
    p.add_argument("--split", default="test", help="data split (default: test)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default: 0)")
    p.add_argument("--data-dir", help="data folder (default: $NUMPYVAE_DATA or ~/.cache/numpyvae)")
    p.add_argument("--accept-data-change", action="store_true",
                   help="evaluate even though the data files differ from those the run was "
                        "trained on (their sha256 is stored in the checkpoint)")


def run(args):
    from .. import checkpoint as ckpt
    from ..datasets import SPLITS
    from ..evaluate import (
        GREY_NOTE,
        active_units,
        bernoulli_on_grey,
        elbo_parts,
        kl_per_dim,
        log_likelihood,
    )
    from ..cli import check_flag
    from ..evaluate import MAX_K
    from .train import RANGES, check_fingerprint, data_fingerprint, load_data, load_run

    check_flag(args.k, "--k", 1, MAX_K)
    check_flag(args.n, "--n", 0, RANGES["n_test"][1])
    check_flag(args.seed, "--seed", *RANGES["seed"])
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise ValueError(f"--data-dir {args.data_dir} is not an existing folder")
    model, opts, c = load_run(args.run_dir)
    if args.split not in SPLITS[opts["dataset"]]:
        raise ValueError(f"--split must be one of {', '.join(SPLITS[opts['dataset']])} for "
                         f"{opts['dataset']}, got {args.split!r}")
    data = load_data(opts, args.split, args.n or None, args.data_dir)
    check_fingerprint(c, data_fingerprint(opts, [data], args.data_dir, "evaluate"),
                      args.accept_data_change, "evaluate")
    x = data.x
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    grey = bernoulli_on_grey(model, x)
    ll = log_likelihood(model, x, args.k, rng, warn=False)   # the note below says it once
    elbo, _, _ = elbo_parts(model, x, rng)
    n_active, activity = active_units(model, x)
    kl = kl_per_dim(model, x)
    seconds = time.perf_counter() - start
    if not (np.isfinite(ll).all() and np.isfinite(elbo).all()):
        raise ValueError(f"the log-likelihood or ELBO of the run in {args.run_dir} is not finite "
                         f"(log p(x) {float(ll.mean())}, ELBO {float(elbo.mean())}): the model is "
                         "degenerate; nothing written")
    stderr = float(ll.std(ddof=1) / np.sqrt(len(ll))) if len(ll) > 1 else float("nan")
    result = {"split": args.split, "n": len(ll), "k": args.k, "seed": args.seed,
              "log_likelihood": float(ll.mean()), "stderr": stderr,
              "elbo": float(elbo.mean(dtype=np.float64)), "active_units": n_active,
              "activity": activity.tolist(), "kl_per_dim": kl.tolist(),
              "seconds": round(seconds, 3), "bernoulli_on_grey": grey}
    if grey:
        result["note"] = GREY_NOTE
    print(f"{opts['dataset']} {args.split} ({len(ll)} examples), k = {args.k}: "
          f"log p(x) ~= {result['log_likelihood']:.2f} +- {stderr:.2f} nats "
          f"(ELBO {result['elbo']:.2f}); active units {n_active}/{model.z_dim}; "
          f"{seconds:.1f} s")
    if grey:
        print(f"note: {GREY_NOTE}")
    path = os.path.join(args.run_dir, "evaluate.json")
    ckpt.atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0
