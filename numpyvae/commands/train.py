"""``numpyvae train``: train a VAE and write a run folder.

    numpyvae train                 # shapes, 784-512-256-10, Adam 1e-3, 20 epochs (25-65 s)
    numpyvae train --dataset mnist --hidden 400 --z-dim 20 --out runs/mnist
    numpyvae train --out runs/mnist --resume --epochs 30     # continue (more epochs)

The run folder holds config.json, metrics.csv, checkpoint.npz, the figures (*.png) and
report.md.  ``--resume`` takes every option not given on the command line from the checkpoint;
options that change the result must not differ (``--epochs``, ``--checkpoint-every``,
``--data-dir`` and ``--quiet`` may).  The helpers ``load_data`` and ``load_run`` are shared with
``numpyvae evaluate`` and ``numpyvae sample``.
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

HELP = "train a VAE (minibatch AEVB) and write metrics, figures, a report and checkpoints"

DATASETS = ("shapes", "mnist", "binarized-mnist", "frey-face")
FREY_EPOCHS = 300
DEFAULTS = {
    "dataset": "shapes", "binarize": "none", "likelihood": None, "z_dim": 10, "hidden": [512, 256],
    "activation": "relu", "covariance": "diagonal", "optimizer": "adam", "lr": 1e-3,
    "batch_size": 128, "epochs": 20, "samples": 1, "objective": "elbo", "weight_decay": 0.0,
    "init": "he", "decoder_logvar": "learned", "seed": 0, "n_train": None, "n_test": None, "checkpoint_every": 0,
}
# Options that may differ when resuming; all others must match the checkpoint.
FREE_ON_RESUME = ("epochs", "checkpoint_every")
OUTPUTS = ("config.json", "metrics.csv", "checkpoint.npz", "report.md", "curves.png",
           "reconstructions.png", "samples.png", "traversals.png", "manifold.png",
           "latents.png")


def add_arguments(p):
    from .. import objectives, posterior, vae          # the registries: families and bounds
    d = DEFAULTS
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, help=f"(default: {d['dataset']})")
    g.add_argument("--binarize", choices=("none", "dynamic", "static"),
                   help="dynamic: a fresh Bernoulli draw every epoch; static: Larochelle & "
                        "Murray's fixed MNIST binarization (default: none)")
    g.add_argument("--n-train", type=int, metavar="N", help="use the first N training examples")
    g.add_argument("--n-test", type=int, metavar="N", help="use the first N test examples")
    g.add_argument("--data-dir", help="data folder (default: $NUMPYVAE_DATA or ~/.cache/numpyvae)")
    g = p.add_argument_group("model")
    g.add_argument("--likelihood", choices=vae.LIKELIHOODS,
                   help="decoder (default: gaussian for frey-face, else bernoulli)")
    g.add_argument("--z-dim", type=int, metavar="K", help=f"latent size (default: {d['z_dim']})")
    g.add_argument("--hidden", type=int, nargs="+", metavar="H",
                   help="hidden layer widths, e.g. --hidden 400 (default: 512 256)")
    g.add_argument("--activation", choices=("relu", "tanh", "sigmoid", "softplus"),
                   help="(default: relu)")
    g.add_argument("--covariance", choices=tuple(posterior.FAMILIES),
                   help="the family of q(z|x) (default: diagonal)")
    g.add_argument("--init", help="he, xavier, uniform (PyTorch's default), or a standard "
                                  "deviation such as 0.01 (default: he)")
    g.add_argument("--decoder-logvar", metavar="LOGVAR",
                   help="gaussian decoder: 'learned' per pixel (floored at log(Q^2/2pi) = -12.92, "
                        "Q = 1/255), or a fixed log sigma^2 such as -4.6 (sigma = 0.1) "
                        "(default: learned)")
    g.add_argument("--weight-decay", metavar="LAMBDA",
                   help="L2 penalty lambda/2 |theta|^2, or 'prior' for 1/N_train "
                        "(a N(0, I) prior on the weights, as Kingma & Welling) (default: 0)")
    g = p.add_argument_group("optimization")
    g.add_argument("--optimizer", choices=("adam", "adagrad", "sgd", "momentum"),
                   help="(default: adam)")
    g.add_argument("--lr", type=float, help=f"learning rate (default: {d['lr']})")
    g.add_argument("--batch-size", type=int, metavar="B", help="(default: 128)")
    g.add_argument("--epochs", type=int,
                   help=f"(default: {d['epochs']}; {FREY_EPOCHS} for frey-face, whose 1,768 "
                        f"training faces make only 14 steps an epoch)")
    g.add_argument("--samples", type=int, metavar="L",
                   help="noise samples per example: L for the ELBO, k for IWAE (default: 1)")
    g.add_argument("--objective", choices=[o.cli_name for o in objectives.OBJECTIVES.values()],
                   help="the bound: " + "; ".join(f"{o.cli_name}: {o.label}"
                                                  for o in objectives.OBJECTIVES.values())
                        + " (default: elbo)")
    g.add_argument("--seed", type=int, help="seeds everything (default: 0)")
    g.add_argument("--kernels", choices=("numpy", "fused"),
                   help="the optimizer's update: NumPy ufuncs, or one fused numba loop with the "
                        "same bits (default: fused when numba imports, else numpy)")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="run folder (default: runs/<dataset>)")
    g.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")
    g.add_argument("--overwrite", action="store_true",
                   help="start afresh even if DIR already holds a run")
    g.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="also checkpoint every STEPS steps (default: 0, only each epoch's end)")
    g.add_argument("--quiet", action="store_true", help="print nothing but errors")


# ----------------------------------------------------------------------------- options

def _options(args, saved=None):
    """Merge the command line with the defaults (or, on resume, with the checkpoint's options)
    and check every value -> dict of options.  Raises ValueError naming the option."""
    given = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    if "weight_decay" in given:
        given["weight_decay"] = _weight_decay(given["weight_decay"])
    if "init" in given:
        given["init"] = _init(given["init"])
    if "decoder_logvar" in given:
        given["decoder_logvar"] = _decoder_logvar(given["decoder_logvar"])
    if saved is not None:
        for key, value in given.items():
            if key not in FREE_ON_RESUME and key in saved and saved[key] != value:
                raise ValueError(f"--{_flag(key)} {_show(value)} differs from the checkpoint's "
                                 f"{_show(saved[key])}; leave it out to resume, or train into "
                                 f"a new --out")
        opts = {**DEFAULTS, **saved, **given}
    else:
        opts = {**DEFAULTS, **given}
        if opts["likelihood"] is None:
            opts["likelihood"] = "gaussian" if opts["dataset"] == "frey-face" else "bernoulli"
        if opts["dataset"] == "frey-face" and "epochs" not in given:
            opts["epochs"] = FREY_EPOCHS     # 20 epochs would be 280 steps: noise, not faces
    for key in ("z_dim", "batch_size", "epochs", "samples"):
        _positive(opts[key], key)
    for h in opts["hidden"]:
        _positive(h, "hidden")
    for key in ("n_train", "n_test"):
        if opts[key] is not None:
            _positive(opts[key], key)
    if opts["checkpoint_every"] < 0:
        raise ValueError(f"--checkpoint-every must be >= 0, got {opts['checkpoint_every']}")
    if opts["seed"] < 0:
        raise ValueError(f"--seed must be >= 0, got {opts['seed']}")
    if not (opts["lr"] > 0 and np.isfinite(opts["lr"])):
        raise ValueError(f"--lr must be a positive number, got {opts['lr']}")
    if opts["binarize"] == "static" and opts["dataset"] not in ("mnist", "binarized-mnist"):
        raise ValueError(f"--binarize static exists only for mnist, not {opts['dataset']}")
    if opts["decoder_logvar"] != "learned" and opts["likelihood"] != "gaussian":
        raise ValueError("--decoder-logvar applies only to --likelihood gaussian")
    if opts["dataset"] == "binarized-mnist" and opts["binarize"] == "dynamic":
        raise ValueError("--binarize dynamic: binarized-mnist is already binary")
    return opts


def command_line(opts, out):
    """The ``numpyvae train`` command that reproduces a run with options ``opts``."""
    words = ["numpyvae", "train"]
    for key, value in opts.items():
        if value is not None:
            words += [f"--{_flag(key)}", _show(value)]
    return " ".join(words + ["--out", out])


def _flag(key):
    return key.replace("_", "-")


def _show(value):
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _positive(value, key):
    if value <= 0:
        raise ValueError(f"--{_flag(key)} must be a positive integer, got {value}")


def _weight_decay(text):
    if text == "prior":
        return "prior"
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"--weight-decay must be a number >= 0 or 'prior', got {text!r}")
    return value


def _init(text):
    if text in ("he", "xavier", "uniform"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"--init must be he, xavier, uniform or a positive std, got {text!r}")
    return value


def _decoder_logvar(text):
    if text == "learned":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise ValueError(f"--decoder-logvar must be 'learned' or a number, got {text!r}")
    return value


# ----------------------------------------------------------------------------- data and runs

def load_data(opts, split, n=None, data_dir=None):
    """Load ``split`` as the run with options ``opts`` sees it -> Dataset.  ``n`` keeps the
    first n examples of the standard split.  Training data with dynamic binarization stays in
    [0, 1] (the trainer draws a binarization per epoch); other splits get one fixed draw from
    np.random.default_rng([seed, 2])."""
    from ..datasets import Dataset, binarize_dynamic, load_dataset
    flag = {"train": "--n-train", "test": "--n-test"}.get(split, "--n")
    if n is not None and opts["dataset"] == "shapes":
        _check_fits_in_memory(n, flag)
    mode = {"none": None, "static": "static", "dynamic": None}[opts["binarize"]]
    data = load_dataset(opts["dataset"], split, binarize=mode, data_dir=data_dir)
    if n is not None and n > len(data) and opts["dataset"] == "shapes":
        data = load_dataset("shapes", split, n=n)          # more shapes than the standard set
    elif n is not None:                # the first n: the same images whatever n is
        if n > len(data):
            raise ValueError(f"--n-train/--n-test/--n: {opts['dataset']} {split} has only "
                             f"{len(data)} examples, asked for {n}")
        factors = data.factors and {k: v[:n] for k, v in data.factors.items()}
        data = Dataset(data.x[:n], None if data.labels is None else data.labels[:n],
                       data.image_shape, data.name, factors, data.split)
    if opts["binarize"] == "dynamic" and split != "train":
        x = binarize_dynamic(data.x, np.random.default_rng([opts["seed"], 2]))
        data = Dataset(x, data.labels, data.image_shape, data.name, data.factors, data.split)
    return data


def _check_fits_in_memory(n, flag, x_dim=784, itemsize=4):
    """ValueError naming ``flag`` if n images of x_dim float32 pixels exceed the machine's memory."""
    need = n * x_dim * itemsize
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > total:
        raise ValueError(f"{flag} {n}: {n} images need {need / 2**30:.1f} GiB, more than this "
                         f"machine's memory ({total / 2**30:.1f} GiB); ask for fewer")


def build_model(config, rng=None):
    """A VAE from its ``config`` dict (``VAE.config``; an older checkpoint's config is read as
    the model it was, see ``checkpoint.complete_config``)."""
    from ..vae import VAE
    return VAE.from_config(config, rng)


def load_run(run_dir):
    """-> (model with the checkpoint's parameters, options dict, Checkpoint)."""
    from .. import checkpoint as ckpt
    path = os.path.join(run_dir, "checkpoint.npz")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"RUN_DIR {run_dir} is not a folder")
    c = ckpt.load(path)
    try:
        model = build_model(c.meta["model"])
        opts = c.meta["run"]["options"]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: checkpoint metadata is incomplete ({err})") from None
    if c.params.shape != model.params.shape:
        raise ValueError(f"{path}: params have shape {c.params.shape}, "
                         f"the model needs {model.params.shape}")
    model.params[...] = c.params
    return model, opts, c


LABELS = {"shapes": ("shape", ("square", "ellipse", "triangle")), "mnist": ("digit", None)}


# ----------------------------------------------------------------------------- run

def run(args):
    s = _setup(args)                   # checks everything; nothing is written before this
    with lock_run_folder(s.out):       # one writer per run folder, for the whole run
        return _run_locked(args, s)


def _run_locked(args, s):
    from ..train import Progress, TrainingDiverged, TrainingInterrupted, format_row, train
    _start_writing(s, args.overwrite)
    say = (lambda *a: None) if args.quiet else print
    say(f"{s.model!r}\non {s.opts['dataset']}: {len(s.train)} train / {len(s.test)} test "
        f"examples, {s.opts['optimizer']} lr {s.opts['lr']}, batch {s.opts['batch_size']}, "
        f"{s.opts['epochs']} epochs -> {s.out}")
    say(_kernels_line(s.kernels))
    if s.kernels_before and s.kernels_before != s.kernels:
        print(f"numpyvae train: note: this run was trained with --kernels {s.kernels_before} and "
              f"goes on with --kernels {s.kernels} (the same operations in the same order: the "
              f"same bits)", file=sys.stderr)
    if s.state is not None:
        say(f"resuming after epoch {s.state.epoch}, step {s.state.step}")
        for row in s.state.history:
            say(format_row(row, s.opts["epochs"]))
    try:
        state = train(s.model, s.optimizer, s.train.x, s.test.x, s.config, s.rng, s.out,
                      state=s.state,
                      run={"options": s.opts, "image_shape": list(s.train.image_shape),
                           "kernels": s.kernels},
                      progress=None if args.quiet else Progress())
    except TrainingInterrupted as stop:
        print(f"\ninterrupted in epoch {stop.state.epoch + 1}, after step {stop.state.step}; "
              f"saved {stop.path}\nresume with: numpyvae train --out {s.out} --resume",
              file=sys.stderr)
        return 130
    except TrainingDiverged as err:
        print(f"numpyvae train: error: {err}", file=sys.stderr)
        return 1
    write_figures(s.model, s.test, state.history, s.out, s.opts["seed"])
    problem = write_report(s.model, s.test, state.history, s.out, s.opts, s.train)
    say(f"wrote {s.out}/report.md")
    if problem:                        # written, so it can be looked at, but not "finished"
        print(f"numpyvae train: warning: the run is degenerate ({problem}); try a smaller "
              f"--lr", file=sys.stderr)
        return 1
    return 0


def _kernels_line(kernels):
    """Which update runs (--kernels), and what numba's compiling cost."""
    from .. import fused
    if kernels == "fused":
        return f"kernels: fused ({fused.describe()})"
    return f"kernels: numpy ({fused.why_numpy()})"


def untrained_elbo(model, test, seed):
    """Mean test ELBO (nats) of the run's model as it was before its first step (the same
    seed builds the same initial weights).  A run that ends below it made the model worse."""
    from ..evaluate import elbo_parts
    from ..train import eval_rng
    start = build_model(model.config, np.random.default_rng(seed))
    return float(elbo_parts(start, test.x, eval_rng(seed))[0].mean(dtype=np.float64))


def _setup(args):
    """Check the options, load the data, build (or restore) model, optimizer and rng.
    -> SimpleNamespace(opts, out, train, test, model, optimizer, rng, config, state)."""
    from types import SimpleNamespace

    from .. import checkpoint as ckpt, fused, optim
    from ..train import CHECKPOINT_NAME, TrainConfig, restore
    from ..vae import DECODER_LOGVAR_FLOOR, VAE

    out, saved = args.out, None
    if args.resume and args.overwrite:
        raise ValueError("--resume continues a run and --overwrite starts afresh: give one")
    if args.resume:
        out = out or os.path.join("runs", args.dataset or DEFAULTS["dataset"])
        path = os.path.join(out, CHECKPOINT_NAME)
        if not os.path.isfile(path):
            raise ValueError(f"--resume: there is no checkpoint {path} to resume from")
        checkpoint = ckpt.load(path)
        saved = checkpoint.meta.get("run", {}).get("options")
        if not isinstance(saved, dict):
            raise ValueError(f"{path} was not written by 'numpyvae train' (no options)")
    opts = _options(args, saved)
    out = out or os.path.join("runs", opts["dataset"])
    if not (args.resume or args.overwrite) and os.path.exists(os.path.join(out, CHECKPOINT_NAME)):
        raise ValueError(f"--out {out} already holds a run; add --resume to continue it or "
                         f"--overwrite to start afresh")
    train = load_data(opts, "train", opts["n_train"], args.data_dir)
    test = load_data(opts, "test", opts["n_test"], args.data_dir)
    decay = 1.0 / len(train) if opts["weight_decay"] == "prior" else opts["weight_decay"]
    rng = np.random.default_rng(opts["seed"])
    spec = dict(
        x_dim=train.x.shape[1], hidden_dims=opts["hidden"], z_dim=opts["z_dim"],
        likelihood=opts["likelihood"], activation=opts["activation"],
        covariance=opts["covariance"], init=opts["init"], weight_decay=decay,
        decoder_logvar=opts["decoder_logvar"], decoder_logvar_floor=DECODER_LOGVAR_FLOOR)
    if args.resume and isinstance(checkpoint.meta.get("model"), dict):
        # resuming keeps the checkpoint's decoder log-variance floor (None for a run saved
        # before the floor existed: it goes on as the model it was)
        spec["decoder_logvar_floor"] = ckpt.complete_config(
            checkpoint.meta["model"])["decoder_logvar_floor"]
    model = build_model(spec, rng)
    kernels = fused.resolve(args.kernels or "auto")
    optimizer = optim.make(opts["optimizer"], opts["lr"], kernels=kernels)
    if kernels == "fused":             # compiled (or loaded from the cache) now, and timed
        fused.prepare(opts["optimizer"], model.params.dtype)
    config = TrainConfig(epochs=opts["epochs"], batch_size=opts["batch_size"],
                         n_samples=opts["samples"], objective=opts["objective"],
                         dynamic_binarize=opts["binarize"] == "dynamic", eval_seed=opts["seed"],
                         checkpoint_every=opts["checkpoint_every"]).check()
    state = restore(checkpoint, model, optimizer, rng, config) if args.resume else None
    if state is not None and opts["epochs"] < state.epoch:
        raise ValueError(f"--epochs {opts['epochs']}: the checkpoint has already trained "
                         f"{state.epoch} epochs; give --epochs {state.epoch} or more to resume")
    before = checkpoint.meta.get("run", {}).get("kernels") if args.resume else None
    return SimpleNamespace(opts=opts, out=out, train=train, test=test, model=model,
                           optimizer=optimizer, rng=rng, config=config, state=state,
                           kernels=kernels, kernels_before=before)


def _start_writing(s, overwrite):
    """Create the run folder (clearing an old run's outputs with --overwrite), write config.json."""
    from .. import __version__, checkpoint as ckpt
    os.makedirs(s.out, exist_ok=True)
    for name in os.listdir(s.out):
        if _is_temporary(name) or (overwrite and _is_derived(name)):
            os.remove(os.path.join(s.out, name))
    info = {"numpyvae": __version__, "options": s.opts, "model": s.model.config,
            "optimizer": {"name": s.opts["optimizer"], "lr": s.opts["lr"]},
            "data": {"train": len(s.train), "test": len(s.test),
                     "image_shape": list(s.train.image_shape)},
            "command": command_line(s.opts, s.out), "kernels": s.kernels}
    ckpt.atomic_write_text(os.path.join(s.out, "config.json"), json.dumps(info, indent=2) + "\n")


def _is_derived(name):
    """Whether ``name`` is a file the package writes into a run folder (train, evaluate, sample)."""
    import fnmatch
    return name in OUTPUTS or name == "evaluate.json" or fnmatch.fnmatch(name, "samples-seed*.png")


def _is_temporary(name):
    """An atomic write's temporary (``.tmp-*``) left behind by a killed process."""
    return name.startswith(".tmp-")


LOCK_NAME = ".lock"


class lock_run_folder:
    """``with lock_run_folder(out):`` holds an exclusive ``fcntl.flock`` on ``out/.lock``
    (creating the folder) for the whole run; another process holding it -> ValueError naming
    its pid.  The lock goes with the process, so a killed run leaves no stale lock."""

    def __init__(self, out):
        self.out, self.file = out, None

    def __enter__(self):
        import fcntl
        path = os.path.join(self.out, LOCK_NAME)
        try:
            if os.path.exists(self.out) and not os.path.isdir(self.out):
                raise ValueError(f"--out {self.out} is a file, not a folder")
            os.makedirs(self.out, exist_ok=True)
            f = open(path, "a+")
        except OSError as err:
            raise ValueError(f"--out {self.out}: cannot write there "
                             f"({err.strerror or err})") from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise ValueError(f"--out {self.out}: run folder in use by process {holder} "
                             f"(another 'numpyvae train' writes there)") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self.file = f
        return self

    def __exit__(self, *exc):
        import fcntl
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
        return False


def write_figures(model, test, history, out, seed):
    """The run's PNG figures -> list of file names written."""
    from ..plots import training as P
    shape, x = test.image_shape, test.x
    names = ["curves.png", "reconstructions.png", "samples.png", "traversals.png"]
    P.plot_curves(history, os.path.join(out, "curves.png"),
                  title=f"{test.name}: {model.x_dim}-{'-'.join(map(str, model.hidden_dims))}-"
                        f"{model.z_dim} VAE")
    P.plot_reconstructions(model, x, shape, os.path.join(out, "reconstructions.png"))
    P.plot_samples(model, np.random.default_rng([seed, 3]), shape,
                   os.path.join(out, "samples.png"))
    P.plot_traversals(model, x, shape, os.path.join(out, "traversals.png"))
    if model.z_dim == 2:
        P.plot_manifold(model, shape, os.path.join(out, "manifold.png"))
        names.append("manifold.png")
    if model.z_dim >= 2:
        names.append("latents.png")
        kind, names = LABELS.get(test.name, ("label", None))
        P.plot_latent_scatter(model, x, os.path.join(out, "latents.png"), labels=test.labels,
                              label_names=names, factors=test.factors, label_kind=kind)
    return names


def write_report(model, test, history, out, opts, train=None):
    """report.md: the setup, the final numbers and links to the figures.
    -> why the run is degenerate (``train.degenerate_reason``), or None; said in the report."""
    from .. import checkpoint as ckpt
    from ..evaluate import GREY_NOTE, active_units, bernoulli_on_grey, kl_per_dim
    from ..train import degenerate_reason
    last = history[-1]
    n_active, _ = active_units(model, test.x)
    kl = kl_per_dim(model, test.x)
    baseline = untrained_elbo(model, test, opts["seed"]) if train is not None else None
    problem = degenerate_reason(last, kl, baseline, opts["objective"])
    figures = [n for n in ("curves.png", "reconstructions.png", "samples.png",
                           "traversals.png", "manifold.png", "latents.png")
               if os.path.exists(os.path.join(out, n))]
    from ..objectives import get as objective
    if not objective(opts["objective"]).uses_kl:    # an IWAE-type bound: no training parts
        train_row = (f"| train: -IWAE bound, k = {opts['samples']} (mean over the last epoch) "
                     f"| {-last['train_elbo']:.2f} | | |")
    else:
        train_row = (f"| train (running mean over the last epoch) | {-last['train_elbo']:.2f} | "
                     f"{-last['train_recon']:.2f} | {last['train_kl']:.2f} |")
    warning = ([f"**This run is degenerate: {problem}.** Its numbers and figures describe a "
                "broken model; train again with a smaller --lr.", ""] if problem else [])
    # what the -ELBO in the table means for this likelihood, when it is not a plain log p(x)
    notes = ([(f"**Bernoulli decoder on grey levels:** in the test images, {GREY_NOTE}.  The "
              "-ELBO in the table is such a score (`--binarize dynamic` gives binary pixels)."),
             ""] if bernoulli_on_grey(model, test.x) else [])
    if (model.likelihood == "gaussian" and model.decoder_logvar == "learned"
            and model.decoder_logvar_floor is not None):   # a density: log p(x|z) can be > 0
        per_pixel = -0.5 * (math.log(2 * math.pi) + model.decoder_logvar_floor)
        notes.extend([(f"**A Gaussian decoder is a density**, so log p(x|z) can be positive and the "
                      f"-ELBO negative. Its learned log-variance has a floor of "
                      f"{model.decoder_logvar_floor:.2f} (vae.DECODER_LOGVAR_FLOOR), so per pixel "
                      f"log p(x|z) <= {per_pixel:.2f} nats and the -ELBO is at least "
                      f"{-per_pixel * model.x_dim:.0f} nats here; a run near that bound models "
                      "pixels that never change (a constant background) at the 8-bit "
                      "quantisation limit."), ""])
    lines = [
        f"# numpyvae run: {opts['dataset']}", "", *warning,
        f"`{model!r}`", "",
        f"{opts['optimizer']} (lr {opts['lr']}), batch {opts['batch_size']}, "
        f"{last['epoch']} epochs ({last['step']} steps, {last['samples_seen']} examples seen), "
        f"objective {opts['objective']} with {opts['samples']} sample(s), seed {opts['seed']}, "
        f"{last['seconds']:.1f} s.", "",
        f"Reproduce with `{command_line(opts, out)}`.", "",
        "| | -ELBO | reconstruction -E log p(x\\|z) | KL |", "|---|---|---|---|",
        train_row,
        f"| test (L = 1) | {-last['test_elbo']:.2f} | {-last['test_recon']:.2f} | "
        f"{last['test_kl']:.2f} |", "", *notes,
        "Nats per example.  Active units (Cov_x E_q[z_j] > 0.01): "
        f"{n_active} of {model.z_dim}.  KL per latent (test): "
        + ", ".join(f"{v:.2f}" for v in kl) + ".", "",
        "For the importance-sampled test log-likelihood run "
        f"`numpyvae evaluate {out} --k 5000`.", "",
        "Files: [config.json](config.json), [metrics.csv](metrics.csv), "
        "[checkpoint.npz](checkpoint.npz).", ""]
    lines += [f"![{n[:-4]}]({n})\n" for n in figures]
    ckpt.atomic_write_text(os.path.join(out, "report.md"), "\n".join(lines))
    return problem
