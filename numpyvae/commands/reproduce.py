"""``numpyvae reproduce``: re-run a paper experiment (see RESULTS.md).

    numpyvae reproduce list
    numpyvae reproduce kingma-fig2 --out runs/kingma-fig2            # the documented run
    numpyvae reproduce kingma-fig2 --out runs/kingma-fig2 --resume --budget 2e7
    numpyvae reproduce iwae --smoke                                  # a few seconds

Every run is resumable: rerun the same command with ``--resume`` after an interruption, or
with a larger ``--budget`` to extend it.  ``--smoke`` uses tiny budgets and subsets (and the
built-in shapes when NUMPYVAE_DATA holds no data) to check that the pipeline works.
"""
from __future__ import annotations

import os
import sys

HELP = "re-run a paper experiment (Kingma & Welling, IWAE, PyTorch example); 'list' shows them"


def add_arguments(p):
    p.add_argument("name", metavar="NAME", help="an experiment, or 'list'")
    p.add_argument("--budget", metavar="N",
                   help="training budget: examples (e.g. 1e7) or epochs, see 'list'")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/reproduce/NAME)")
    p.add_argument("--resume", action="store_true", help="continue the runs found in DIR")
    p.add_argument("--smoke", action="store_true",
                   help="a few seconds: tiny budgets and subsets (shapes if no data)")
    p.add_argument("--nz", type=int, nargs="+", metavar="K",
                   help="kingma-fig2/kingma-frey: only these latent sizes")
    p.add_argument("--models", nargs="+", choices=("vae", "iwae5"),
                   help="iwae: only these models (default: both)")
    p.add_argument("--eval-k", type=int, metavar="K", help="iwae/marginal-likelihood: "
                   "importance samples for the final log-likelihood (default 5000)")
    p.add_argument("--eval-n", type=int, metavar="N",
                   help="iwae: test examples for the final log-likelihood (default: all 10000)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--data-dir", help="data folder (default: $NUMPYVAE_DATA or ~/.cache/numpyvae)")


def _budget(text):
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 < value <= 1e12 and value == int(value)):
        raise ValueError(f"--budget must be a whole number from 1 to 1e12 such as 40 or 1e7, "
                         f"got {text!r}")
    return int(value)


def run(args):
    from ..reproduce import EXPERIMENTS
    if args.name == "list":
        width = max(map(len, EXPERIMENTS))
        for e in EXPERIMENTS.values():
            print(f"{e.name:<{width}}  {e.description}\n{'':<{width}}  --budget: "
                  f"{e.budget_unit} (default {e.default_budget})")
        return 0
    if args.name not in EXPERIMENTS:
        raise ValueError(f"NAME must be 'list' or one of {', '.join(EXPERIMENTS)}; "
                         f"got {args.name!r}")
    exp = EXPERIMENTS[args.name]
    from ..cli import check_flag
    from ..evaluate import MAX_K
    from .train import RANGES
    check_flag(args.seed, "--seed", *RANGES["seed"])
    for k in args.nz or ():
        check_flag(k, "--nz", *RANGES["z_dim"])
    ranges = {"eval_k": (1, MAX_K), "eval_n": RANGES["n_test"]}
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise ValueError(f"--data-dir {args.data_dir} is not an existing folder")
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise ValueError(f"--out {args.out} is a file, not a folder")
    out = args.out or os.path.join("runs", "reproduce" + ("-smoke" if args.smoke else ""),
                                   exp.name)
    extra = {"seed": args.seed}
    if args.nz:
        if exp.module != "kingma":
            raise ValueError("--nz applies only to kingma-fig2 and kingma-frey")
        extra["nz"] = args.nz
    if args.models:
        if exp.name != "iwae":
            raise ValueError("--models applies only to iwae")
        extra["models"] = args.models
    for key in ("eval_k", "eval_n"):
        value = getattr(args, key)
        if value is not None:
            check_flag(value, f"--{key.replace('_', '-')}", *ranges[key])
            extra[key] = value
    command = " ".join(["numpyvae", "reproduce", *sys.argv[2:]]) if sys.argv[1:2] == [
        "reproduce"] else f"numpyvae reproduce {args.name}"
    print(f"numpyvae reproduce {exp.name} -> {out}")
    exp.load()(out, budget=_budget(args.budget), resume=args.resume, smoke=args.smoke,
               data_dir=args.data_dir, log=lambda *a: print(*a, flush=True),
               command=command, **extra)
    print(f"wrote {out}")
    return 0
