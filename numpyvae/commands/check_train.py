"""``numpyvae check train --dir DIR``: the end of the exercise session.  The student's backward
passes train the real VAE.

    numpyvae check train --dir lessons/exercises            # the student's NN_name.py files
    numpyvae check train --dir DIR --json result.json       # for an autograder
    numpyvae check train --dir DIR --steps 400 --figure curves.png

The course VAE (the shapes data, 784-512-256-10, ReLU, Bernoulli decoder, Adam 1e-3) is
trained twice from the same seed, in float64: once with the library's kernels and once with the
student's functions from DIR substituted into the real training loop (the model calls every
kernel through its module attribute at call time, ARCHITECTURE.md, the activation layers
included, so setting ``numpyvae.functional.dense_backward = student's`` in a child process is
enough).  Every function in
DIR that is defined and does not raise NotImplementedError on the grader's first case is used;
the library fills in the rest, and the report says which were the student's and how often the
training loop called each.

The course VAE calls dense, ReLU, the Bernoulli log-likelihood, the KL and the diagonal node;
for a student's tanh, sigmoid, softplus, Gaussian log-likelihood or full-covariance node the
model variant that calls it is trained as well (:func:`variants`, read from each exercise part's
``model``: the catalogue is the one table of the kernels), unless ``--activation``,
``--likelihood`` or ``--covariance`` chooses one model.  Exercises 09-12 are not kernels of the
VAE; ``numpyvae check`` grades them.

Both loss curves are printed side by side and drawn (``--figure``).  They agree when the
relative difference of the losses, and of the final parameters, stays within float64 rounding
(:data:`AGREE_RTOL`; a correct kernel that orders its arithmetic differently from the library's
differs by ~1e-16 per step, and Adam carries that along without amplifying it much in a few
hundred steps).  When they part, each student function is substituted alone, up to a few steps
past the parting, and the ones whose curve parts are named with their exercise.

Exit status: 0 when the curves agree, 1 when they part (or a student function raises during
training, or DIR holds no implemented function), 2 for a usage error.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

AGREE_RTOL = 1e-9          # float64 rounding, carried through a few hundred Adam steps
DEFAULTS = {"steps": 200, "batch_size": 100, "hidden": [512, 256], "z_dim": 10, "lr": 1e-3,
            "n_train": 2000, "activation": "relu", "likelihood": "bernoulli",
            "covariance": "diagonal", "seed": 0}
CHILD_TIMEOUT = 600.0      # seconds per training run
PAST_PARTING = 5           # steps run past the parting step when substituting one at a time



def add_arguments(parser):
    """The options of ``check train`` (called by ``numpyvae check``'s parser).  The choices come
    from the registries (activations, likelihoods, posterior families), never a fixed list."""
    from ..layers import ACTIVATIONS
    from ..posterior import FAMILIES
    from ..vae import LIKELIHOODS
    g = parser.add_argument_group("check train (numpyvae check train --dir DIR)")
    g.add_argument("--steps", type=int, default=None,
                   help=f"training steps of each run (default {DEFAULTS['steps']})")
    g.add_argument("--figure", metavar="PATH", default=None,
                   help="where to write the figure of the two loss curves "
                        "(default: check_train.png in the current folder)")
    g.add_argument("--activation", choices=[a for a in ACTIVATIONS if a != "identity"],
                   default=None,
                   help="the VAE's hidden activation (default relu; tanh/sigmoid/softplus "
                        "exercise those stubs)")
    g.add_argument("--likelihood", choices=LIKELIHOODS, default=None,
                   help="the decoder (default bernoulli; gaussian exercises 05)")
    g.add_argument("--covariance", choices=tuple(FAMILIES), default=None,
                   help="the posterior family (default diagonal; full exercises 08)")


# ------------------------------------------------------------------- the student's files


def student_files(directory):
    """{function: (exercise key, path)} for every library-backed stub function whose file
    ``NN_name.py`` is in ``directory``."""
    from ..exercises import catalogue, grader
    found = {}
    for ex, part in catalogue.library_parts():
        try:
            path = grader.default_file(ex, directory)
        except FileNotFoundError:
            continue
        found[part.function] = (ex.key, str(Path(path).resolve()))
    return found


# ------------------------------------------------------------------------- the child


IMPORT_SECONDS = 30        # for importing one student file inside the training child


class _StudentError(Exception):
    def __init__(self, function, err):
        super().__init__(f"{function} raised {type(err).__name__}: {err}")
        self.function = function


def _wrap(function, fn, calls, library_fn):
    """An adapter with the library kernel's full signature around the student's
    ``fn(dout, cache)``: the library's optional arguments (preallocated gradient buffers,
    ``out=``, ``need_dx``), read from ``library_fn``'s signature, are honoured here, outside the
    student's code."""
    import inspect
    params = inspect.signature(library_fn).parameters

    def run(*args):
        calls[function] = calls.get(function, 0) + 1
        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001 - the student's code
            raise _StudentError(function, err) from err

    if "need_dx" in params:                       # dense: gradient buffers dW, db, need_dx
        def dense_backward(dy, cache, dW=None, db=None, need_dx=True):
            dx, gW, gb = run(dy, cache)
            for got, buf, label in ((gW, dW, "dW"), (gb, db, "db")):
                if buf is not None and np.shape(got) != buf.shape:
                    raise _StudentError(function, ValueError(
                        f"returned {label} of shape {np.shape(got)}, the layer needs "
                        f"{buf.shape}"))
            if dW is not None:
                dW[...] = gW
                gW = dW
            if db is not None:
                db[...] = gb
                gb = db
            return (dx if need_dx else None), gW, gb
        return dense_backward
    if "out" in params:                           # the activations: out=
        def elementwise(dy, cache, out=None):
            dx = run(dy, cache)
            if out is not None:
                out[...] = dx
                return out
            return dx
        return elementwise
    return run


def _probe(ex, part, fn):
    """'ok', 'not-implemented' or a message: the function on the grader's first case."""
    case = ex.cases(0)[0]
    try:
        fn(*(_copy(case.inputs[a]) for a in part.args))
    except NotImplementedError:
        return "not-implemented"
    except Exception as err:  # noqa: BLE001 - the student's code
        return f"raises {type(err).__name__} on the grader's first case: {err}"
    return "ok"


def _copy(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, tuple):
        return tuple(_copy(x) for x in v)
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return v


def substitute(functions, calls):
    """Set the library's module attributes to the adapted student functions.
    ``functions``: {stub function name: callable}.  The model looks every kernel up in its module
    at call time, the activation layers included (ARCHITECTURE.md, "Kernels are looked up at call
    time"), so the module attribute is all there is to set."""
    import importlib

    from ..exercises import catalogue
    target = {p.function: p for _, p in catalogue.library_parts()}
    for name, fn in functions.items():
        module_name, attr = target[name].library.split(":")
        wrapped = _wrap(name, fn, calls, target[name].reference)
        setattr(importlib.import_module(module_name), attr, wrapped)


def train_curve(config, steps):
    """Train the course VAE in float64 from ``config['seed']``: -> (losses (steps,), params)."""
    import numpyvae as nv
    rng = np.random.default_rng(config["seed"])
    x, _ = nv.datasets.make_shapes(config["n_train"], np.random.default_rng(config["seed"] + 1))
    x = x.astype(np.float64)
    model = nv.VAE(x.shape[1], list(config["hidden"]), config["z_dim"],
                   likelihood=config["likelihood"], activation=config["activation"],
                   covariance=config["covariance"], rng=rng, dtype=np.float64)
    opt = nv.optim.Adam(lr=config["lr"])
    losses = np.empty(steps)
    b = config["batch_size"]
    order = rng.permutation(len(x))
    pos = 0
    for t in range(steps):
        if pos + b > len(x):
            order, pos = rng.permutation(len(x)), 0
        xb = x[order[pos:pos + b]]
        pos += b
        loss, grad = model.loss_and_grad(xb, rng)
        losses[t] = loss
        opt.step(model.params, grad)
    return losses, model.params.copy()


def child_task(task, load, mark):
    """Run in the jailed child (:mod:`numpyvae.exercises._child`): load the student's files
    with ``load(file name) -> (module, error)``, substitute, train.
    -> (result dict, [final parameters] or [])"""
    import signal
    from ..exercises import catalogue
    parts = {p.function: (ex, p) for ex, p in catalogue.library_parts()}
    result = {"status": {}, "calls": {}, "error": None, "failed_function": None,
              "losses": [], "steps_done": 0}
    use, modules = {}, {}

    seconds = int(task.get("import_seconds", IMPORT_SECONDS))

    def too_slow(signum, frame):
        raise TimeoutError(f"time-out: importing it took longer than {seconds} s")

    for name, (_key, fname) in task["functions"].items():
        if fname not in modules:
            mark(f"importing {fname}")
            old = signal.signal(signal.SIGALRM, too_slow)
            signal.alarm(seconds)
            try:
                modules[fname] = load(fname)
            except TimeoutError as err:
                modules[fname] = (None, {"message": str(err)})
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, old)
        module, err = modules[fname]
        if err is not None:
            result["status"][name] = f"{fname} could not be imported: {err['message']}"
            continue
        fn = getattr(module, name, None)
        if not callable(fn):
            result["status"][name] = f"not defined in {fname}"
            continue
        status = _probe(*parts[name], fn) if task["probe"] else "ok"
        result["status"][name] = status
        if status == "ok":
            use[name] = fn
    substitute(use, result["calls"])
    losses, params = [], []
    try:
        mark(f"training ({task['steps']} steps)")
        curve, final = train_curve(task["config"], task["steps"])
        losses, params = curve.tolist(), [final]
    except _StudentError as err:
        result["error"] = str(err)
        result["failed_function"] = err.function
    except Exception as err:  # noqa: BLE001 - e.g. a wrong shape surfacing in the library
        result["error"] = f"{type(err).__name__}: {err}"
    result["losses"] = [v if np.isfinite(v) else None for v in losses]
    result["steps_done"] = len(losses)
    return result, params


def _run_child(functions, config, steps, probe):
    """One training run in a jailed child (:mod:`numpyvae.exercises.sandbox`, as every
    student file runs) -> (result dict, final params or None).  A time-out says so."""
    from ..exercises import sandbox
    task = {"kind": "train", "config": config, "steps": steps, "probe": probe,
            "import_seconds": IMPORT_SECONDS,
            "functions": {n: (key, Path(path).name) for n, (key, path) in functions.items()}}
    some = next(iter(functions.values()))[1] if functions else None
    out = sandbox.run_task(some, task, timeout=CHILD_TIMEOUT)
    empty = {"losses": [], "status": {}, "calls": {}, "failed_function": None}
    if out.status == "timeout":
        doing = f" (it was {out.progress})" if out.progress else ""
        return dict(empty, timeout=True, error=f"time-out: the training run did not finish "
                    f"within the time limit of {CHILD_TIMEOUT:.0f} s{doing}"), None
    if out.status != "ok" or not isinstance(out.task_result, dict):
        tail = " / ".join((out.output or "").strip().splitlines()[-3:])
        why = "; ".join(out.notes) or sandbox.why_it_ended(out.returncode)
        return dict(empty, error=f"the training process ended without a result ({why})"
                    + (f": {tail}" if tail else "")), None
    result = _checked(out.task_result)
    params = out.task_arrays[0] if out.task_arrays else None
    return result, params


def _checked(result):
    """The child's answer, with every field of the kind the report needs (it is untrusted)."""
    def num(v):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    status = result.get("status") if isinstance(result.get("status"), dict) else {}
    calls = result.get("calls") if isinstance(result.get("calls"), dict) else {}
    losses = result.get("losses") if isinstance(result.get("losses"), list) else []
    err, failed = result.get("error"), result.get("failed_function")
    return {"status": {str(k): str(v)[:500] for k, v in status.items()},
            "calls": {str(k): int(v) for k, v in calls.items() if isinstance(v, int)},
            "losses": [num(v) for v in losses[:10 ** 6]],
            "error": None if err is None else str(err)[:2000],
            "failed_function": None if failed is None else str(failed)[:100]}


# ------------------------------------------------------------------------- comparing


def _rel_diff(a, b):
    """Per-step relative difference of two loss curves (inf where one is missing/NaN)."""
    n = max(len(a), len(b))
    out = np.full(n, np.inf)
    for i in range(min(len(a), len(b))):
        if a[i] is not None and b[i] is not None:
            out[i] = abs(a[i] - b[i]) / max(abs(b[i]), 1e-300)
    return out


def _parting(diff):
    bad = np.flatnonzero(~(diff <= AGREE_RTOL))
    return None if bad.size == 0 else int(bad[0])


def _variant_name(options):
    return "-".join(str(v) for v in options.values()) or "course"


def variants():
    """[(name, VAE options)]: the course VAE (dense, ReLU, the Bernoulli log-likelihood, the KL and
    the diagonal node), then each other model an exercise kernel needs, named by its options
    ("tanh", "gaussian", "full", ...), in course order: from the catalogue's parts."""
    from ..exercises import catalogue
    out = {"course": {}}
    for _, p in catalogue.library_parts():
        out.setdefault(_variant_name(p.model), dict(p.model))
    return list(out.items())


def needs():
    """{kernel: the name of the model variant that calls it}, from the catalogue's parts."""
    from ..exercises import catalogue
    return {p.function: _variant_name(p.model) for _, p in catalogue.library_parts()}


def _describe(cfg):
    return (f"{784}-{'-'.join(map(str, cfg['hidden']))}-{cfg['z_dim']}, {cfg['activation']}, "
            f"{cfg['likelihood']} decoder, {cfg['covariance']} posterior")


def _compare(name, files, cfg, steps, log=print):
    """Train one model twice (library, student) and compare -> (model result, statuses)."""
    log(f"  model {name}: training with the library's kernels ({steps} steps) ...")
    lib, lib_params = _run_child({}, cfg, steps, False)
    if lib.get("error"):
        raise RuntimeError(f"the library's own training run failed: {lib['error']}")
    log(f"  model {name}: training with your functions ...")
    stu, stu_params = _run_child(files, cfg, steps, True)
    used = [n for n, s in stu["status"].items() if s == "ok" and stu["calls"].get(n, 0) > 0]
    diff = _rel_diff(stu["losses"], lib["losses"])
    parted = _parting(diff) if used else None
    param_diff = None
    if stu_params is not None and lib_params is not None:
        scale = max(float(np.abs(lib_params).max()), 1e-300)
        param_diff = float(np.abs(stu_params - lib_params).max() / scale)
        if used and parted is None and not param_diff <= AGREE_RTOL:
            parted = steps - 1
    if stu.get("error") and parted is None:
        parted = len(stu["losses"])
    model = {"model": name, "config": cfg, "description": _describe(cfg),
             "library_losses": lib["losses"], "student_losses": stu["losses"],
             "calls": stu["calls"], "used": used, "error": stu.get("error"),
             "failed_function": stu.get("failed_function"), "parted_at": parted,
             "max_rel_diff": (float(diff.max()) if len(diff) and np.isfinite(diff).all()
                              else None),
             "param_rel_diff": param_diff if param_diff is not None and np.isfinite(param_diff)
             else None, "responsible": []}
    model["agree"] = bool(used) and parted is None and not stu.get("error")
    model["timeout"] = bool(stu.get("timeout"))
    if parted is not None and used:
        if stu.get("failed_function"):
            model["responsible"] = [stu["failed_function"]]
        else:
            short = min(steps, parted + 1 + PAST_PARTING)
            for fn in used:
                log(f"  model {name}: your {fn} alone ({short} steps) ...")
                one, _ = _run_child({fn: files[fn]}, cfg, short, False)
                if one.get("error") or _parting(_rel_diff(one["losses"],
                                                          lib["losses"][:short])) is not None:
                    model["responsible"].append(fn)
    return model, stu["status"]


def check_train(directory, steps=None, config=None, figure="check_train.png", log=print):
    """Run the comparison; -> the result dict (also what ``--json`` writes).

    ``config`` overrides :data:`DEFAULTS`; with none of activation / likelihood / covariance
    given, the course VAE is trained and then, for student functions it does not call, the
    :func:`variants` that do."""
    from ..exercises import catalogue
    config = {k: v for k, v in (config or {}).items() if v is not None}
    cfg = dict(DEFAULTS, **config)
    steps = int(steps or cfg["steps"])
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    files = student_files(directory)
    order = {p.function: (ex.number, i) for i, (ex, p) in enumerate(catalogue.library_parts())}
    custom = any(k in config for k in ("activation", "likelihood", "covariance"))
    t0 = time.perf_counter()
    models, status = [], {}
    todo = [("custom" if custom else "course", {})]
    while todo:
        name, extra = todo.pop(0)
        model, st = _compare(name, files, dict(cfg, **extra), steps, log)
        models.append(model)
        status.update(st)
        if custom or name != "course":
            continue
        called, need = set(model["used"]), needs()
        todo = [v for v in variants()[1:]
                if any(need.get(fn) == v[0] for fn, s in st.items()
                       if s == "ok" and fn not in called)]
    timed_out = any(m["timeout"] for m in models)
    functions = {}
    for ex, p in catalogue.library_parts():
        st = status.get(p.function, "no file" if p.function not in files else
                        "not checked: the training run with your functions timed out"
                        if timed_out else "not found")
        functions[p.function] = {
            "exercise": ex.key, "library": p.library,
            "source": "student" if st == "ok" else "library", "status": st,
            "calls": sum(m["calls"].get(p.function, 0) for m in models),
            "models": [m["model"] for m in models if p.function in m["used"]]}
    responsible = sorted({fn for m in models for fn in m["responsible"]}, key=order.get)
    result = {"dir": str(directory), "steps": steps, "tolerance": AGREE_RTOL, "dtype": "float64",
              "seed": cfg["seed"], "functions": functions, "models": models,
              "agree": bool(models) and all(m["agree"] or not m["used"] for m in models)
              and any(m["used"] for m in models) and not timed_out,
              "timeout": timed_out,
              "responsible": responsible,
              "library_losses": models[0]["library_losses"],
              "student_losses": models[0]["student_losses"],
              "seconds": round(time.perf_counter() - t0, 1)}
    with warnings.catch_warnings():      # an all-NaN curve: matplotlib warns about the limits
        warnings.simplefilter("ignore", UserWarning)
        result["figure"] = _figure(result, figure) if figure else None
    for line in report_lines(result):
        log(line)
    return result


def report_lines(result):
    """The printed report."""
    from ..exercises import catalogue
    ex_of = {p.function: ex for ex, p in catalogue.library_parts()}
    m0 = result["models"][0]
    lines = [f"check train: the course VAE on the shapes data trained twice from seed "
             f"{result['seed']} in float64, with the library's kernels and with yours "
             f"({result['steps']} Adam steps of batch {m0['config']['batch_size']} each)",
             f"  folder: {result['dir']}", "", "  functions:"]
    for name, info in result["functions"].items():
        ex = ex_of[name]
        if info["source"] == "student":
            what = f"YOURS    called {info['calls']} times"
            what += (f" (model: {', '.join(info['models'])})" if info["models"] else
                     " (no model here calls it)")
        else:
            what = f"library  ({info['status']})"
        lines.append(f"    {ex.number:02d} {name:<36} {what}")
    others = [ex.number for ex in catalogue.EXERCISES if not any(p.library for p in ex.parts)]
    if others:
        span = (f"{others[0]:02d}-{others[-1]:02d}" if others == list(range(others[0],
                                                                         others[-1] + 1))
                else ", ".join(f"{n:02d}" for n in others))
        lines.append(f"    (exercises {span} are not kernels of the VAE: numpyvae check grades "
                     "them)")
    mine = [n for n, i in result["functions"].items() if i["source"] == "student"]
    if result.get("timeout"):
        errors = [m["error"] for m in result["models"] if m.get("timeout")]
        lines += ["", f"  {errors[0]}", "", "  result: TIMEOUT - the training run with your "
                  "functions was stopped (an endless loop, a sleep, or far too much work at "
                  "import?)"]
        return lines
    if not mine:
        lines += ["", "  none of the functions in the folder is implemented yet: nothing to "
                      "compare (run numpyvae check NN for each exercise first)",
                  "", "  result: NOTHING TO COMPARE"]
        return lines
    for m in result["models"]:
        if not m["used"]:
            continue
        lines += ["", f"  model {m['model']}: {m['description']}; your "
                      f"{', '.join(m['used'])}",
                  f"    {'step':>5}  {'library':>14}  {'yours':>14}  {'rel. diff':>9}"]
        lib, stu = m["library_losses"], m["student_losses"]
        n = len(lib)
        parted = m["parted_at"]
        rows = 10 if m is m0 else 4
        show = sorted({0, n - 1, *range(0, n, max(1, n // rows)),
                       *([] if parted is None else [min(parted, n - 1)])})
        for t in show:
            a = lib[t]
            b = stu[t] if t < len(stu) else None
            d = "-" if b is None or a is None else f"{abs(a - b) / max(abs(a), 1e-300):.1e}"
            mark = "  <- the curves part here" if parted is not None and t == parted else ""
            lines.append(f"    {t + 1:>5}  {_num(a):>14}  {_num(b):>14}  {d:>9}{mark}")
        if m["error"]:
            lines.append(f"    training with your functions stopped at step "
                         f"{len(stu) + 1}: {m['error']}")
        if m["agree"]:
            lines.append(f"    agree: largest relative difference {_num(m['max_rel_diff'], 'e')}"
                         f" of the loss, {_num(m['param_rel_diff'], 'e')} of the final "
                         f"parameters (tolerance {AGREE_RTOL:.0e})")
        else:
            names = ", ".join(m["responsible"]) or "no single function alone"
            lines.append(f"    PART at step {(parted or 0) + 1}: {names}")
    lines.append("")
    if result["agree"]:
        lines.append(f"  result: AGREE - the curves agree to float64 rounding (tolerance "
                     f"{AGREE_RTOL:.0e} relative): your functions train the VAE exactly as "
                     f"the library's do")
    else:
        lines.append("  result: PART - with your functions the training goes differently")
        for name in result["responsible"]:
            ex = ex_of[name]
            lines.append(f"    responsible: exercise {ex.number:02d} ({ex.name}), {name}: "
                         f"run  numpyvae check {ex.number:02d}  for the diagnosis")
        if not result["responsible"]:
            lines.append("    no single function parts the curves on its own: they part only "
                         "together (run numpyvae check all)")
    if result.get("figure"):
        lines.append(f"  figure: {result['figure']}")
    return lines


def _num(v, fmt="f"):
    if v is None:
        return "-"
    return f"{v:.1e}" if fmt == "e" else f"{v:.6f}"


def _figure(result, path):
    import matplotlib
    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = [m for m in result["models"] if m["used"]] or result["models"][:1]
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 3.2 * len(models)), squeeze=False)
    for (ax, bx), m in zip(axes, models, strict=True):
        lib = np.array([np.nan if v is None else v for v in m["library_losses"]])
        stu = np.array([np.nan if v is None else v for v in m["student_losses"]])
        t = np.arange(1, len(lib) + 1)
        plot = ax.semilogy if np.nanmin(np.r_[lib, stu, 1.0]) > 0 else ax.plot   # a Gaussian
        plot(t, lib, lw=2.5, color="0.6", label="library kernels")          # decoder's loss
        plot(t[:len(stu)], stu, lw=1, color="C3", label="your kernels")     # can be < 0
        ax.set_ylabel("loss (nats per example)")
        verdict = ("agree" if m["agree"] else f"part at step {(m['parted_at'] or 0) + 1}"
                   if m["used"] else "none of yours used")
        ax.set_title(f"{m['model']}: {verdict}", fontsize=10)
        ax.legend(fontsize=8)
        k = min(len(lib), len(stu))
        with np.errstate(all="ignore"):
            diff = np.abs(stu[:k] - lib[:k]) / np.abs(lib[:k])
        bx.semilogy(t[:k], np.maximum(diff, 1e-17), color="C0")
        bx.axhline(AGREE_RTOL, color="k", ls="--", lw=1, label=f"tolerance {AGREE_RTOL:.0e}")
        bx.set_ylabel("relative difference\n(0 drawn at 1e-17)")
        bx.set_ylim(1e-18, 10)
        bx.legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("training step")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def run_train(args):
    """``numpyvae check train``: called by :mod:`numpyvae.commands.check`."""
    from .check import write_json
    directory = Path(args.dir) if args.dir else None
    if directory is None:
        from ..exercises.grader import find_exercises_dir
        directory = find_exercises_dir()
    if not directory.is_dir():
        raise FileNotFoundError(f"--dir {directory}: no such directory")
    config = {k: getattr(args, k, None) for k in ("activation", "likelihood", "covariance")}
    if getattr(args, "seed", None):
        config["seed"] = args.seed
    log = print if args.json != "-" else (lambda s: print(s, file=sys.stderr))
    result = check_train(directory, getattr(args, "steps", None), config,
                         getattr(args, "figure", None) or "check_train.png", log=log)
    if args.json:
        write_json(args.json, result)
    return 0 if result["agree"] else 1
