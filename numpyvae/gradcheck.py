"""Gradient checking: compare a hand-written backward pass with central differences.

Always in float64.  In float32 the rounding error of ``f(x + h) - f(x - h)`` is about
``1e-7 |f| / h``; with ``h = 1e-3`` that is already ``1e-4 |f|``, as large as the bugs one is
looking for.  In float64 the same error is ``1e-16 |f| / h``, so relative errors of 1e-8 or
less are what a correct gradient shows and anything above about 1e-6 is a bug.

Relative error, as used here (:func:`rel_error`):
    max_i |a_i - b_i|  /  max(max_i |a_i|, max_i |b_i|)
i.e. the worst entry's error measured against the size of the gradient as a whole.  Measuring
each entry against *its own* size would flag entries that are almost zero, where finite
differences carry no relative accuracy at all.  ``rel_error(a, b, elementwise=True)`` gives the
per-entry CS231n form ``|a - b| / (|a| + |b|)`` for when that is what you want.  0/0 is 0.
A NaN or inf in either gradient gives a relative error of NaN, and any non-finite error fails a report.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np


def _require_float64(x, name):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} has dtype {x.dtype}; gradient checks need float64. In float32, the rounding "
            f"error of f(x+h) - f(x-h) is ~1e-7*|f|/h, as big as the bugs being looked for. "
            f"Build the layer or model with dtype=np.float64 and pass float64 arrays.")


def numerical_gradient(f, x, h=1e-5, dout=None, mask=None):
    """Central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every entry i of x.

    f    : a function of no arguments *or* of x, reading ``x`` (which is perturbed in place and
           restored in a ``finally`` block, even if f raises)
    x    : float64 array of any shape
    dout : if f returns an array, the gradient is that of ``sum(dout * f)``; the difference is
           taken output by output before the sum, so large outputs elsewhere add no rounding noise
    mask : optional boolean array of x's shape; only entries where it is True are perturbed
           (e.g. the lower triangle of a Cholesky factor); the others get gradient 0
    -> float64 array of x's shape
    """
    _require_float64(x, "x")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not (isinstance(h, float) and 0 < h < 1):
        raise ValueError(f"h must be a float in (0, 1), got {h!r}")
    if dout is not None:
        _require_float64(np.asarray(dout) if not isinstance(dout, np.ndarray) else dout, "dout")

    takes_x = _takes_argument(f)

    def call():
        return f(x) if takes_x else f()

    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("x must be contiguous so that it can be perturbed in place")
    indices = range(flat_x.size) if mask is None else np.flatnonzero(np.broadcast_to(mask, x.shape))
    for i in indices:
        old = flat_x[i]
        try:
            flat_x[i] = old + h
            fp = np.array(call(), dtype=np.float64, copy=True)
            flat_x[i] = old - h
            fm = np.array(call(), dtype=np.float64, copy=True)
        finally:
            flat_x[i] = old
        diff = fp - fm
        if dout is not None:
            diff = np.sum(diff * dout)
        elif diff.ndim:
            diff = diff.sum()
        flat_g[i] = diff / (2 * h)
    return grad


def _takes_argument(f):
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in sig.parameters.values())


def rel_error(a, b, elementwise=False):
    """Relative error between two gradients (see the module docstring); 0 when both are 0."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a has shape {a.shape} but b has shape {b.shape}")
    if a.size == 0:
        return 0.0
    err = np.abs(a - b)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")            # a NaN or inf gradient is never "close": it fails
    if elementwise:
        scale = np.abs(a) + np.abs(b)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(scale > 0, err / np.where(scale > 0, scale, 1), 0.0)
        return float(r.max())
    scale = max(np.abs(a).max(), np.abs(b).max())
    return 0.0 if scale == 0 else float(err.max() / scale)


@dataclass
class CheckReport:
    """Worst relative error per checked array, with the index of its worst entry."""
    errors: dict = field(default_factory=dict)       # name -> relative error
    worst_index: dict = field(default_factory=dict)  # name -> index tuple
    threshold: float = 1e-6

    @property
    def worst(self):
        # non-finite errors win (Python's max() would skip a NaN depending on order)
        values = list(self.errors.values())
        bad = [e for e in values if not np.isfinite(e)]
        return bad[0] if bad else max(values, default=0.0)

    @property
    def passed(self):
        return all(np.isfinite(e) and e < self.threshold for e in self.errors.values())

    def add(self, name, analytic, numeric):
        self.errors[name] = rel_error(analytic, numeric)
        diff = np.abs(np.asarray(analytic, np.float64) - np.asarray(numeric, np.float64))
        diff = np.where(np.isfinite(diff), diff, np.inf)   # point at the first non-finite entry
        self.worst_index[name] = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape)) if diff.size else ()

    def __str__(self):
        lines = [f"{'array':<16}{'rel. error':>12}  {'worst at':<14} result (threshold {self.threshold:.0e})"]
        for name, e in self.errors.items():
            ok = "PASS" if np.isfinite(e) and e < self.threshold else "FAIL"
            lines.append(f"{name:<16}{e:>12.2e}  {str(self.worst_index[name]):<14} {ok}")
        return "\n".join(lines)


def check_layer(layer, x, dout=None, rng=None, h=1e-5, threshold=1e-6):
    """Check ``layer.backward`` against central differences for the input and every parameter.

    The scalar checked is ``sum(dout * layer.forward(x)[0])`` with a random ``dout`` (from
    ``rng``, default seed 0).  The layer must be built with ``dtype=np.float64``.
    x : (N, D_in) float64  ->  CheckReport with entries "x" and every key of ``layer.params``
    """
    _require_float64(x, "x")
    for key, p in layer.params.items():
        _require_float64(p, f"layer.params[{key!r}]")
    rng = np.random.default_rng(0) if rng is None else rng
    y, cache = layer.forward(x)
    if dout is None:
        dout = rng.standard_normal(y.shape)
    _require_float64(dout, "dout")
    dx = layer.backward(dout, cache)
    analytic = {"x": dx.copy(), **{k: g.copy() for k, g in layer.grads.items()}}

    def f():
        return layer.forward(x)[0]

    report = CheckReport(threshold=threshold)
    report.add("x", analytic["x"], numerical_gradient(f, x, h=h, dout=dout))
    for key, p in layer.params.items():
        report.add(key, analytic[key], numerical_gradient(f, p, h=h, dout=dout))
    return report


def check_model(model, x, eps=None, rng=None, h=1e-5, threshold=1e-6, params=None, **kwargs):
    """Check ``model.loss_and_grad`` (with the noise ``eps`` held fixed) against central differences.

    model : an object with ``params`` (flat float64 vector), ``named_params()`` and
            ``named_grads()`` -> {name: view} (the same names),
            and ``loss_and_grad(x, eps=eps, **kwargs) -> (loss, grad)``; e.g. a float64 VAE.
    eps   : the fixed noise; drawn once from ``rng`` with ``model.noise_shape(x, ...)`` if None
    params: restrict the check to these parameter names (default: all)
    h     : the finite-difference step, in [1e-10, 0.1] (smaller steps drown in rounding)
    threshold : the relative error below which a parameter passes, in (0, 1)
    -> CheckReport with the worst relative error per named parameter
    Unknown names in ``params``, an empty ``params``, or a nonsense ``h`` or ``threshold`` raise
    ValueError: a check that checks nothing must not pass.
    """
    _require_float64(model.params, "model.params")
    _require_float64(x, "x")
    _check_step_and_threshold(h, threshold)
    names = model.named_params()
    if params is not None:
        if isinstance(params, str) or not all(isinstance(p, str) for p in params):
            raise TypeError(f"params must be a list of parameter names, got {params!r}")
        params = list(params)
        unknown = [p for p in params if p not in names]
        if unknown or not params:
            raise ValueError(f"params: {'no names given' if not params else 'unknown name(s) ' + ', '.join(map(repr, unknown))}; "
                             f"the model's parameters are {', '.join(names)}")
    rng = np.random.default_rng(0) if rng is None else rng
    if eps is None:
        eps = rng.standard_normal(model.noise_shape(x, **kwargs))
    _require_float64(eps, "eps")
    model.loss_and_grad(x, eps=eps, **kwargs)
    analytic = {name: g.copy() for name, g in model.named_grads().items()}
    loss_fn = getattr(model, "loss", None) or (lambda x, eps, **kw: model.loss_and_grad(x, eps=eps, **kw)[0])
    report = CheckReport(threshold=threshold)
    for name, view in names.items():
        if params is not None and name not in params:
            continue
        gview = analytic[name]

        def f():
            return loss_fn(x, eps=eps, **kwargs)

        report.add(name, gview, numerical_gradient(f, view, h=h))
    return report


def _check_step_and_threshold(h, threshold):
    """ValueError unless 1e-10 <= h <= 0.1 and 0 < threshold < 1 (both finite real numbers)."""
    import numbers
    for name, v, ok in (("h", h, lambda v: 1e-10 <= v <= 0.1),
                        ("threshold", threshold, lambda v: 0 < v < 1)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not ok(float(v)):
            span = "from 1e-10 to 0.1" if name == "h" else "between 0 and 1"
            raise ValueError(f"{name} must be a number {span}, got {v!r}")


__all__ = ["numerical_gradient", "rel_error", "check_layer", "check_model", "CheckReport"]
