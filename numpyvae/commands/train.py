"""``numpyvae train``: train a VAE and write a run folder.

    numpyvae train                 # shapes, 784-512-256-10, Adam 1e-3, 20 epochs (25-65 s)
    numpyvae train --dataset mnist --hidden 400 --z-dim 20 --out runs/mnist
    numpyvae train --out runs/mnist --resume --epochs 30     # continue (more epochs)

The run folder holds config.json, metrics.csv, checkpoint.npz, the figures (*.png) and
report.md.  ``--resume`` takes every option not given on the command line from the checkpoint;
options that change the result must not differ (``--epochs``, ``--checkpoint-every``,
``--data-dir`` and ``--quiet`` may).  The helpers ``load_data`` and ``load_run`` are shared with
``numpyvae evaluate`` and ``numpyvae sample``.

The run folder is locked before anything in it is read; Ctrl-C, SIGTERM and SIGHUP save a
checkpoint; a diverged run exits 1 keeping its last finite checkpoint; the data's sha256
(``datasets.fingerprint``) is stored in the checkpoint and checked on ``--resume``
(ARCHITECTURE.md, "Faults and bad input").
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np

from ..cli import check_flag

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
    from .. import likelihoods, objectives, posterior  # the registries
    from ..layers import ACTIVATIONS
    d = DEFAULTS
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, help=f"(default: {d['dataset']})")
    g.add_argument("--binarize", choices=("none", "dynamic", "static"),
                   help="dynamic: a fresh Bernoulli draw every epoch; static: Larochelle & "
                        "Murray's fixed MNIST binarization (default: none)")
    g.add_argument("--n-train", type=int, metavar="N", help="use the first N training examples")
    g.add_argument("--n-test", type=int, metavar="N", help="use the first N test examples")
    g.add_argument("--data-dir", help="data folder (default: $NUMPYVAE_DATA or ~/.cache/numpyvae)")
    g.add_argument("--accept-data-change", action="store_true",
                   help="--resume even though the data files differ from those the checkpoint "
                        "was trained on (their sha256 is stored in the checkpoint)")
    g = p.add_argument_group("model")
    g.add_argument("--likelihood", choices=tuple(likelihoods.LIKELIHOODS),
                   help="decoder (default: gaussian for frey-face, else bernoulli)")
    g.add_argument("--z-dim", type=int, metavar="K", help=f"latent size (default: {d['z_dim']})")
    g.add_argument("--hidden", type=int, nargs="+", metavar="H",
                   help="hidden layer widths, e.g. --hidden 400 (default: 512 256)")
    g.add_argument("--activation", choices=[a for a in ACTIVATIONS if a != "identity"],
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
                   help="the optimizer's update and the model's elementwise passes (Bernoulli "
                        "likelihood, ReLU): NumPy ufuncs, or fused numba loops with the same bits "
                        "(default: fused when numba imports, else numpy)")
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
    _check_types(opts)
    for key, (lo, hi) in RANGES.items():
        values = opts[key] if isinstance(opts[key], list) else [opts[key]]
        for v in values:
            if v is not None:
                check_flag(v, f"--{_flag(key)}", lo, hi)
    if not opts["hidden"]:
        raise ValueError("--hidden needs at least one width")
    if not (opts["lr"] > 0 and np.isfinite(opts["lr"])):
        raise ValueError(f"--lr must be a positive number, got {opts['lr']}")
    if opts["binarize"] == "static" and opts["dataset"] not in ("mnist", "binarized-mnist"):
        raise ValueError(f"--binarize static exists only for mnist, not {opts['dataset']}")
    if opts["decoder_logvar"] != "learned" and opts["likelihood"] != "gaussian":
        raise ValueError("--decoder-logvar applies only to --likelihood gaussian")
    if opts["dataset"] == "binarized-mnist" and opts["binarize"] == "dynamic":
        raise ValueError("--binarize dynamic: binarized-mnist is already binary")
    return opts


# The range of every whole-number option (None: no upper bound).  The upper bounds are far
# beyond any VAE this package trains; they turn a typo into a one-line error instead of an
# allocation that fails (or an overflow deep inside NumPy).
RANGES = {"z_dim": (1, 4096), "hidden": (1, 65536), "batch_size": (1, 10**7),
          "epochs": (1, 10**6), "samples": (1, 10**5), "n_train": (1, 10**8),
          "n_test": (1, 10**8), "seed": (0, 2**32 - 1), "checkpoint_every": (0, 10**9)}
_TYPES = {"dataset": str, "binarize": str, "likelihood": str, "activation": str,
          "covariance": str, "optimizer": str, "objective": str, "lr": float}


def _choices():
    """The allowed words of each option: fixed ones, and the registries' (families, bounds)."""
    from .. import likelihoods, objectives, posterior
    return {"dataset": DATASETS, "binarize": ("none", "dynamic", "static"),
            "likelihood": tuple(likelihoods.LIKELIHOODS),
            "activation": ("relu", "tanh", "sigmoid", "softplus"),
            "covariance": tuple(posterior.FAMILIES),
            "optimizer": ("adam", "adagrad", "sgd", "momentum"),
            "objective": tuple(o.cli_name for o in objectives.OBJECTIVES.values())}


def _check_types(opts):
    """The options read back from a checkpoint have the types the command line gives (a
    damaged checkpoint holding ``lr: "fast"`` is refused here, not deep inside training)."""
    choices = _choices()
    for key, value in opts.items():
        if key in RANGES:
            items = value if key == "hidden" and isinstance(value, list) else [value]
            ok = all(v is None and key in ("n_train", "n_test")
                     or isinstance(v, int) and not isinstance(v, bool) for v in items)
        elif key in _TYPES:
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  if _TYPES[key] is float else isinstance(value, str))
            ok = ok and (key not in choices or value in choices[key])
        else:
            continue
        if not ok:
            raise ValueError(f"--{_flag(key)} {value!r} is not a valid value (from the "
                             f"checkpoint's options?)")


def command_line(opts, out):
    """The ``numpyvae train`` command that reproduces a run with options ``opts``, quoted for
    a POSIX shell (paths with spaces)."""
    import shlex
    words = ["numpyvae", "train"]
    for key, value in opts.items():
        if value is not None:
            words += [f"--{_flag(key)}", *map(str, value if isinstance(value, list) else [value])]
    return shlex.join(words + ["--out", str(out)])


def _flag(key):
    return key.replace("_", "-")


def _show(value):
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


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
    from ..vae import INIT_STD_MAX     # a larger std saturates every unit: inf/NaN losses
    if not (0 < value <= INIT_STD_MAX):
        raise ValueError(f"--init must be he, xavier, uniform or a std from 0 to {INIT_STD_MAX:g} "
                         f"(exclusive of 0), got {text!r}")
    return value


def _decoder_logvar(text):
    if text == "learned":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    from ..likelihoods import LOGVAR_RANGE    # sigma from 3e-7 to 3e6: beyond, the loss overflows
    if not LOGVAR_RANGE[0] <= value <= LOGVAR_RANGE[1]:
        raise ValueError(f"--decoder-logvar must be 'learned' or a number from {LOGVAR_RANGE[0]:g} "
                         f"to {LOGVAR_RANGE[1]:g}, got {text!r}")
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
    _check_data_files(opts["dataset"], split, mode, data_dir)
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


def _check_data_files(name, split, mode, data_dir):
    """A data file's name taken by a folder is named as such (not "put a copy at <folder>")."""
    from ..datasets import _source_files, data_root
    if name == "shapes":
        return
    root = data_root(data_dir)
    for names in _source_files(name, split, mode):
        for n in names:
            if os.path.isdir(root / n):
                raise ValueError(f"{root / n} is a folder, not the data file {os.path.basename(n)}")


def data_fingerprint(opts, datasets, data_dir, command):
    """{file or generated split: sha256} of the data ``datasets`` came from (see
    ``datasets.fingerprint``); a file that differs from the published one is said on stderr."""
    from ..datasets import fingerprint
    mode = "static" if opts["binarize"] == "static" else None
    prints = {}
    for data in datasets:
        found, warnings = fingerprint(data, mode, data_dir)
        for w in warnings:
            if w not in _WARNED:
                _WARNED.add(w)
                print(f"numpyvae {command}: warning: {w}", file=sys.stderr)
        prints.update(found)
    return prints


_WARNED = set()


def check_fingerprint(checkpoint, current, accept, flag):
    """ValueError if the data read now differ from those the checkpoint recorded (unless
    ``accept``: --accept-data-change).  A checkpoint from before fingerprints records none."""
    from ..datasets import fingerprint_mismatch
    run = checkpoint.meta.get("run")
    recorded = run.get("data") if isinstance(run, dict) else None
    problem = fingerprint_mismatch(recorded, current)
    if problem and not accept:
        raise ValueError(f"{flag}: the data differ from those {checkpoint.path} was trained on "
                         f"({problem}); add --accept-data-change to go on with these data")


def check_params_finite(checkpoint):
    """ValueError if the checkpoint's parameters hold NaN or inf (a diverged or damaged run)."""
    bad = ~np.isfinite(checkpoint.params)
    if bad.any():
        raise ValueError(f"{checkpoint.path}: the checkpoint holds {int(bad.sum())} non-finite "
                         f"parameter(s) (first at index {int(np.flatnonzero(bad)[0])}): a "
                         "diverged or damaged run, which cannot be evaluated, sampled or resumed")


def _check_model_fits_in_memory(spec):
    """ValueError naming --hidden/--z-dim if the model's parameters, gradients and optimizer
    state (about 6 copies of the flat vector) would not fit in the machine's memory."""
    dims = [spec["x_dim"], *spec["hidden_dims"], spec["z_dim"]]
    k = spec["z_dim"]
    out = 2 * k + (k * (k - 1) // 2 if spec["covariance"] == "full" else 0)
    n = sum(a * b + b for a, b in zip(dims[:-2], dims[1:-1])) + dims[-2] * out + out
    back = [k, *reversed(spec["hidden_dims"]), 2 * spec["x_dim"]]
    n += sum(a * b + b for a, b in zip(back[:-1], back[1:]))
    need = 6 * 4 * n
    total = _machine_memory()
    if total is not None and need > total:
        raise ValueError(f"--hidden {' '.join(map(str, spec['hidden_dims']))} --z-dim {k}: "
                         f"about {n:,} parameters need {need / 2**30:.1f} GiB, more than this "
                         f"machine's memory ({total / 2**30:.1f} GiB); ask for fewer")


def _machine_memory():
    """The machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _check_fits_in_memory(n, flag, x_dim=784, itemsize=4):
    """ValueError naming ``flag`` if n images of x_dim float32 pixels exceed the machine's memory."""
    need = n * x_dim * itemsize
    total = _machine_memory()
    if total is not None and need > total:
        raise ValueError(f"{flag} {n}: {n} images need {need / 2**30:.1f} GiB, more than this "
                         f"machine's memory ({total / 2**30:.1f} GiB); ask for fewer")


def build_model(config, rng=None):
    """A VAE from its ``config`` dict (``VAE.config``; an older checkpoint's config is read as
    the model it was, see ``checkpoint.complete_config``)."""
    from ..vae import VAE
    return VAE.from_config(config, rng)


def load_run(run_dir):
    """-> (model with the checkpoint's parameters, options dict, Checkpoint).  Everything the
    caller uses is checked: the options, the image shape, finite parameters."""
    from .. import checkpoint as ckpt
    path = os.path.join(run_dir, "checkpoint.npz")
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"RUN_DIR {run_dir} is not a folder")
    c = ckpt.load(path)
    try:
        opts = c.meta["run"]["options"]
        _check_types({k: opts[k] for k in ("dataset", "binarize", "seed")})
        shape = c.meta["run"]["image_shape"]
        if not (isinstance(shape, list) and len(shape) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
            raise ValueError(f"image_shape {shape!r}")
        model = build_model(c.meta["model"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: checkpoint metadata is damaged or incomplete ({err})") from None
    if shape[0] * shape[1] != model.x_dim:
        raise ValueError(f"{path}: checkpoint metadata is damaged: image_shape {shape} does "
                         f"not hold the model's {model.x_dim} pixels")
    if c.params.shape != model.params.shape:
        raise ValueError(f"{path}: params have shape {c.params.shape}, "
                         f"the model needs {model.params.shape}")
    check_params_finite(c)
    model.params[...] = c.params
    return model, opts, c


LABELS = {"shapes": ("shape", ("square", "ellipse", "triangle")), "mnist": ("digit", None)}


# ----------------------------------------------------------------------------- run

def run(args):
    if args.resume and args.overwrite:
        raise ValueError("--resume continues a run and --overwrite starts afresh: give one")
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        raise ValueError(f"--data-dir {args.data_dir} is not an existing folder")
    given = _options(args)             # the command line's own values, before any file is touched
    out = args.out or os.path.join("runs", given["dataset"] if args.dataset or not args.resume
                                   else DEFAULTS["dataset"])
    created = _missing_folders(out)
    # one writer per run folder, for the whole run: taken before anything in the folder is
    # read or judged, so a second 'train' never acts on what the first is about to change
    with lock_run_folder(out):
        try:
            s = _setup(args, out)      # checks everything; nothing is written before this
        except BaseException:
            _remove_created(out, created)       # a refused run leaves no folder behind
            raise
        from .. import fused           # the model's elementwise passes take the optimizer's path
        with fused.using(s.kernels):
            return _run_locked(args, s)


def _missing_folders(out):
    """The folders that creating ``out`` would make, deepest first."""
    made, path = [], os.path.abspath(out)
    while not os.path.exists(path):
        made.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return made


def _remove_created(out, created):
    """Remove the lock file and the folders ``lock_run_folder`` made, if they hold nothing else."""
    if not created:
        return
    try:
        os.remove(os.path.join(out, LOCK_NAME))
        for folder in created:
            os.rmdir(folder)
    except OSError:
        pass


def _import_plots():
    """Import the figure code (matplotlib) now, before training, not after it: a library that
    cannot be loaded (no memory to map it under ``ulimit -v``) is then known before the run
    starts, and the run goes on without figures."""
    from ..plots import training
    return training


def _say_figures_skipped(why, out):
    print(f"numpyvae train: warning: no figures ({why}); the checkpoint and metrics in {out} are "
          "complete", file=sys.stderr)


def _run_locked(args, s):
    import shlex

    from ..train import Progress, TrainingDiverged, TrainingInterrupted, format_row, train
    from ..cli import signal_name
    try:
        plots = _import_plots()
    except (ImportError, MemoryError, OSError) as err:
        plots, plots_error = None, f"matplotlib could not be loaded: {err}"
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
    resume = f"numpyvae train --out {shlex.quote(str(s.out))} --resume"
    path = os.path.join(s.out, "checkpoint.npz")
    try:
        with np.errstate(over="ignore", invalid="ignore"):   # a divergence is said once, below
            state = train(s.model, s.optimizer, s.train.x, s.test.x, s.config, s.rng, s.out,
                          state=s.state,
                          run={"options": s.opts, "image_shape": list(s.train.image_shape),
                               "data": s.fingerprint, "kernels": s.kernels},
                          progress=None if args.quiet else Progress())
    except TrainingInterrupted as stop:
        what = "interrupted" if stop.signum == 2 else f"stopped by {signal_name(stop.signum)}"
        print(f"\n{what} in epoch {stop.state.epoch + 1}, after step {stop.state.step}; "
              f"saved {stop.path}\nresume with: {resume}", file=sys.stderr)
        return 128 + stop.signum
    except TrainingDiverged as err:
        kept = (f"the last finite checkpoint is kept in {path}" if os.path.exists(path)
                else "no checkpoint was written")
        advice = ("the initial weights give a non-finite loss; try a smaller --init"
                  if err.initial else "try a smaller --lr")
        print(f"numpyvae train: error: {err}; {kept}; {advice}", file=sys.stderr)
        return 1
    except MemoryError as err:
        kept = (f"the last checkpoint is kept in {path} (resume with: {resume})"
                if os.path.exists(path) else "no checkpoint was written")
        print(f"numpyvae train: error: out of memory during training ({err or 'MemoryError'}); "
              f"{kept}", file=sys.stderr)
        return 1
    try:
        if plots is None:
            _say_figures_skipped(plots_error, s.out)
        else:
            write_figures(s.model, s.test, state.history, s.out, s.opts["seed"])
        problem = write_report(s.model, s.test, state.history, s.out, s.opts, s.train)
    except MemoryError as err:
        print(f"numpyvae train: error: out of memory after training, while drawing the figures "
              f"and report ({err or 'MemoryError'}); the checkpoint {path} is complete",
              file=sys.stderr)
        return 1
    say(f"wrote {s.out}/report.md")
    if plots is None:
        return 1
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


def _setup(args, out):
    """Check the options, load the data, build (or restore) model, optimizer and rng, with the
    run folder ``out`` locked.
    -> SimpleNamespace(opts, out, train, test, model, optimizer, rng, config, state, fingerprint)."""
    from types import SimpleNamespace

    from .. import checkpoint as ckpt, fused, optim
    from ..likelihoods import DECODER_LOGVAR_FLOOR
    from ..train import CHECKPOINT_NAME, TrainConfig

    saved = None
    if args.resume:
        path = os.path.join(out, CHECKPOINT_NAME)
        if not os.path.isfile(path):
            raise ValueError(f"--resume: there is no checkpoint {path} to resume from")
        checkpoint = ckpt.load(path)
        run_meta = checkpoint.meta.get("run")
        saved = run_meta.get("options") if isinstance(run_meta, dict) else None
        if not isinstance(saved, dict):
            raise ValueError(f"{path} was not written by 'numpyvae train' (no options)")
        check_params_finite(checkpoint)
    opts = _options(args, saved)
    if not (args.resume or args.overwrite) and os.path.exists(os.path.join(out, CHECKPOINT_NAME)):
        raise ValueError(f"--out {out} already holds a run; add --resume to continue it or "
                         f"--overwrite to start afresh")
    train = load_data(opts, "train", opts["n_train"], args.data_dir)
    test = load_data(opts, "test", opts["n_test"], args.data_dir)
    fingerprint = data_fingerprint(opts, (train, test), args.data_dir, "train")
    if args.resume:
        check_fingerprint(checkpoint, fingerprint, args.accept_data_change, "--resume")
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
    _check_model_fits_in_memory(spec)
    model = build_model(spec, rng)
    kernels = fused.resolve(args.kernels or "auto")
    optimizer = optim.make(opts["optimizer"], opts["lr"], kernels=kernels)
    if kernels == "fused":             # compiled (or loaded from the cache) now, and timed
        fused.prepare(opts["optimizer"], model.params.dtype)
        fused.prepare_model(model.params.dtype)
    config = TrainConfig(epochs=opts["epochs"], batch_size=opts["batch_size"],
                         n_samples=opts["samples"], objective=opts["objective"],
                         dynamic_binarize=opts["binarize"] == "dynamic", eval_seed=opts["seed"],
                         checkpoint_every=opts["checkpoint_every"]).check()
    state = _restore(checkpoint, model, optimizer, rng, config, len(train)) if args.resume else None
    if state is not None and opts["epochs"] < state.epoch:
        raise ValueError(f"--epochs {opts['epochs']}: the checkpoint has already trained "
                         f"{state.epoch} epochs; give --epochs {state.epoch} or more to resume")
    before = checkpoint.meta.get("run", {}).get("kernels") if args.resume else None
    return SimpleNamespace(opts=opts, out=out, train=train, test=test, model=model,
                           optimizer=optimizer, rng=rng, config=config, state=state,
                           fingerprint=fingerprint, kernels=kernels,
                           kernels_before=before)


def _restore(checkpoint, model, optimizer, rng, config, n_train):
    """``train.restore``, with the progress it reads checked: a damaged checkpoint is one line."""
    from ..train import METRICS, restore
    try:
        state = restore(checkpoint, model, optimizer, rng, config)
    except TypeError as err:            # progress with unknown or missing fields
        raise ValueError(f"{checkpoint.path}: checkpoint progress is damaged ({err})") from None
    ints = ("epoch", "batch", "step", "samples_seen", "count")
    bad = [k for k in ints if isinstance(getattr(state, k), bool)
           or not isinstance(getattr(state, k), int) or getattr(state, k) < 0]
    history_ok = isinstance(state.history, list) and all(
        isinstance(r, dict) and all(k in r for k in METRICS) for r in state.history)
    if bad or not history_ok or len(state.history) != state.epoch:
        what = bad[0] if bad else "history"
        raise ValueError(f"{checkpoint.path}: checkpoint progress is damaged ({what})")
    if state.batch >= math.ceil(n_train / config.batch_size) or (
            not isinstance(state.sums, list) or len(state.sums) != 3):
        raise ValueError(f"{checkpoint.path}: checkpoint progress is damaged (batch "
                         f"{state.batch} of an epoch of {math.ceil(n_train / config.batch_size)})")
    return state


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
        if f.read() != f"{os.getpid()}\n":     # (the lock is taken before any check: a refused
            f.seek(0)                          # run should leave even .lock's time alone)
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
                      f"{model.decoder_logvar_floor:.2f} (likelihoods.DECODER_LOGVAR_FLOOR), so per pixel "
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
