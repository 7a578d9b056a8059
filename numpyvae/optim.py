"""Optimizers over one flat parameter vector, updated in place.

``opt.step(params, grad)`` changes ``params`` in place (so every layer, whose parameters are
views into it, sees the new values).  Each optimizer works in a few fused passes over the flat
vector using preallocated buffers: no per-layer loops and no temporaries the size of the model
beyond one scratch buffer.  Scalars are Python floats so float32 stays float32.

Every update is elementwise, so with ``--threads N`` (``_threads.set_blas_threads``) the vector is
cut into N slices updated at once on N threads: the same bits as one thread, in about 1/N the time.
On a CPU with at least 2 MiB of L2 per core each slice is then updated ``BLOCK`` entries at a
time (all of the passes on one block, then the next): the block's pieces of the four vectors stay
in the L2 cache between the passes, so only the first pass over a block reads main memory or L3
(ARCHITECTURE.md, "Performance"); with less L2 the passes run over whole slices.  Again the same
bits: every entry sees the same operations in the same order.

``kernels`` chooses how the update runs: ``"numpy"``, the ufunc passes below (the reference,
what students read); ``"fused"``, one compiled loop per update with the same formula in the same
operation order (numpyvae/fused.py, needs numba: ``pip install "numpyvae[fast]"``), the same
bits; ``"auto"`` (the default), fused when numba imports, else numpy, decided at the first step
(``$NUMPYVAE_KERNELS`` can pin it).  ``opt.kernels`` says which ran once a step has run.  (The
kernels take contiguous float32/float64 vectors; anything else takes the NumPy path.)

The optimizer's state (moment vectors and the step count) is exposed by ``state_dict()`` and
restored by ``load_state_dict()`` so training can be resumed bit for bit, on either path.
"""
from __future__ import annotations

import math

import numpy as np

from . import _threads, fused
from ._memory import flat_zeros
from ._validate import check_array, check_positive_float

# Entries per block of the NumPy path's update: 64 Ki floats = 256 KiB of each vector, so the ~5
# vectors an update touches (params, grad, state, scratch) fit a 2 MiB L2 cache.  Measured on issue
# 15's model (653k parameters, Adam, 1 thread; BENCHMARKS.md): on an AVX-512 Xeon with 2 MiB of L2
# per core 1.16-1.25x faster than whole-vector passes (with its AVX2 kernels too); on an AMD EPYC
# (Zen 5) with 1 MiB, 1.16-1.35x *slower* (issue 27), and 32 Ki blocks slower still (each NumPy
# call costs ~1 us).  So the blocks are used only where a core's L2 holds them.
def _l2_bytes(root="/sys/devices/system/cpu/cpu0/cache"):
    """A core's L2 cache in bytes (Linux sysfs), None where it cannot be read."""
    import os
    try:
        for index in sorted(os.listdir(root)):
            folder = os.path.join(root, index)
            with open(os.path.join(folder, "level")) as f:
                if f.read().strip() != "2":
                    continue
            with open(os.path.join(folder, "size")) as f:
                size = f.read().strip().upper()
            scale = {"K": 1024, "M": 1024 ** 2}.get(size[-1:], 1)
            return int(size.rstrip("KM")) * scale
    except (OSError, ValueError):
        return None
    return None


def block_for(l2_bytes):
    """64 Ki entries with at least 2 MiB of L2 per core, else whole slices (no blocking)."""
    return 65536 if l2_bytes is not None and l2_bytes >= 2 * 1024 ** 2 else 1 << 62


BLOCK = block_for(_l2_bytes())


# The fused path's check reads the gradient once, flagging NaN, inf and |g| >= FLAG_AT; only a
# flagged gradient is read again for its exact largest |g|.  2^32: far above any gradient of a
# run that is not diverging, and far enough below float32's max (3.4e38) that no optimizer's
# change from |g| < 2^32 can overflow at a sane lr (Adam's V gains g^2 < 2^64).
FLAG_AT = 2.0 ** 32
_HALF_MAX = {np.dtype(t): float(np.finfo(t).max) / 2 for t in (np.float32, np.float64)}


class Optimizer:
    """Base class: ``step(params, grad)`` updates ``params`` in place."""

    _buffers: tuple = ()
    _nonnegative: tuple = ()         # state vectors that are sums of squares

    def __init__(self, lr, kernels="auto"):
        self.lr = check_positive_float(lr, "lr")
        self.kernels = fused.check_choice(kernels, "kernels")
        self.t = 0
        self.state = {}

    def _fused_kernel(self, dtype):
        """The compiled update for ``dtype`` on the fused path, None on the NumPy path
        (``"auto"`` is settled here, at the first step)."""
        if self.kernels == "auto":
            self.kernels = fused.default()
        if self.kernels == "numpy":
            return None
        if self.kernels == "fused":
            fused.resolve("fused")                  # a clear error when numba is missing
        return fused.kernel(type(self).__name__.lower(), dtype)

    def _scalars(self):
        """The update's scalars (Python floats), in the fused kernel's argument order."""
        raise NotImplementedError

    def _check(self, params, grad, fused_path=False):
        """Check everything before any state is touched: a step that raises changes nothing."""
        check_array(params, "params", ndim=1, finite=False)
        check_array(grad, "grad", shape=params.shape, dtype=params.dtype, finite=False)
        # NaN/inf and the largest |gradient| on the --threads N slices at once.  (Not with a
        # BLAS dot product: that wakes the BLAS threads, which then spin on the cores the update
        # runs on.)  Fused path: one read by the fused kernel, flagging any entry that is NaN,
        # inf or of magnitude >= FLAG_AT; only a flagged gradient is read again for its min
        # and max.  NumPy path: the min and max (two reads, no temporaries; a NaN anywhere makes
        # them NaN).  The parameters are not read: a pass over them cost 8% of Adam's step, and
        # a NaN parameter shows in the loss first.
        ends, g = [], FLAG_AT
        flagged, limit = True, _HALF_MAX[params.dtype]
        if fused_path and grad.flags.c_contiguous and grad.size:
            flags = []
            u = fused.unsigned(grad.dtype)
            bits = fused.magnitude_bits(grad.dtype, FLAG_AT)
            any_set = fused.kernel("any_at_least", grad.dtype)
            _threads.run_split(lambda s: flags.append(bool(any_set(grad[s].view(u), *bits))),
                               grad.size)
            # unflagged: |g| < FLAG_AT; read again only if even that could overflow (absurd lr)
            flagged = any(flags) or self._largest_change(FLAG_AT) >= limit
        if flagged and grad.size:
            _threads.run_split(lambda s: ends.append((grad[s].min(), grad[s].max())), grad.size)
            g = max((max(-float(e[0]), float(e[1])) for e in ends), default=0.0)
        # (every slice's ends are tested: Python's max() skips a NaN depending on order)
        if not all(math.isfinite(float(v)) for e in ends for v in e):
            raise ValueError("grad contains NaN or inf")
        if self._largest_change(g) >= limit:
            raise ValueError(f"this step would make the parameters or the optimizer's state "
                             f"non-finite in {params.dtype} (|grad| up to {g:.3g}, lr "
                             f"{self.lr:.3g}): nothing was changed; the run diverged")
        if not params.flags.writeable:
            raise ValueError("params must be writeable (the update is in place)")
        if self.state and self.state["scratch"].shape != params.shape:
            raise ValueError(f"params has size {params.size} but this optimizer holds state for "
                             f"size {self.state['scratch'].size}: use a new optimizer")
        if not self.state:
            self.state = {name: flat_zeros(params.size, params.dtype) for name in self._buffers}
            self.state["scratch"] = flat_zeros(params.size, params.dtype)

    def _largest_change(self, g):
        """An upper bound on the |change| this step makes to any parameter or state entry, from
        the largest |gradient| ``g`` (the overflow check; parameters near float max are not
        considered: they have long made the loss non-finite)."""
        return self.lr * g

    def step(self, params, grad):
        kernel = None
        if (isinstance(params, np.ndarray) and isinstance(grad, np.ndarray)
                and params.dtype in (np.float32, np.float64) and params.flags.c_contiguous
                and grad.flags.c_contiguous):          # else the checks below say what is wrong
            kernel = self._fused_kernel(params.dtype)
        self._check(params, grad, fused_path=kernel is not None)
        self.t += 1
        state = self.state
        scalars = self._scalars()

        if kernel is not None:                         # one fused pass per thread's slice
            dtype = params.dtype.type
            args = [dtype(c) for c in scalars]         # as NumPy casts a Python float
            _threads.run_split(lambda s: kernel(params[s], grad[s],
                                                *[state[k][s] for k in self._buffers], *args),
                               params.size)
            return

        def update_slice(part):                       # one thread's slice, block by block
            for i in range(part.start, part.stop, BLOCK):
                b = slice(i, min(i + BLOCK, part.stop))
                self._update(params[b], grad[b], {k: v[b] for k, v in state.items()}, *scalars)
        _threads.run_split(update_slice, params.size)

    def _update(self, params, grad, state, *scalars):
        """Update ``params`` (a slice of the flat vector) in place; ``state`` holds the same
        slice of every state vector (and of the scratch buffer); ``scalars`` are
        ``_scalars()``.  The fused kernel of the same name (fused.py) repeats these operations
        in this order."""
        raise NotImplementedError

    def state_dict(self):
        """Arrays and the step count, for a checkpoint (``np.savez`` friendly).
        Refuses non-finite state: a diverged run must not be saved as if it could resume."""
        out = {f"opt_{k}": v for k, v in self.state.items() if k != "scratch"}
        for k, v in out.items():
            if not np.all(np.isfinite(v)):
                raise ValueError(f"optimizer state {k} is non-finite ({int(np.sum(~np.isfinite(v)))} "
                                 "entries): the run diverged; lower --lr")
        out["opt_t"] = np.array(self.t, np.int64)
        return out

    def load_state_dict(self, d, params):
        """Restore what ``state_dict`` returned, for parameters like ``params``.
        Everything is checked first; on an error the optimizer is unchanged."""
        state = {}
        for key in [f"opt_{name}" for name in self._buffers] + ["opt_t"]:
            if key not in d:
                raise ValueError(f"optimizer state is missing {key!r}")
        for name in self._buffers:
            key = f"opt_{name}"
            arr = np.asarray(d[key])
            if arr.shape != params.shape or arr.dtype != params.dtype:
                raise ValueError(f"optimizer state {key!r} has shape {arr.shape}/{arr.dtype}, "
                                 f"expected {params.shape}/{params.dtype}")
            if not np.isfinite(arr).all():
                raise ValueError(f"optimizer state {key!r} holds NaN or inf")
            if name in self._nonnegative and arr.size and arr.min() < 0:
                raise ValueError(f"optimizer state {key!r} holds negative entries (a sum of "
                                 "squares cannot)")
            state[name] = flat_zeros(arr.size, arr.dtype)    # a copy, on huge pages (_memory)
            state[name][...] = arr
        t = np.asarray(d["opt_t"])
        if t.shape != () or not np.issubdtype(t.dtype, np.integer) or int(t) < 0:
            raise ValueError(f"optimizer state 'opt_t' must be an integer >= 0, got {t!r}")
        state["scratch"] = flat_zeros(params.size, params.dtype)
        self.state, self.t = state, int(t)

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, kernels={self.kernels!r})"


class SGD(Optimizer):
    """``theta <- theta - lr * g``."""

    def _scalars(self):
        return (self.lr,)

    def _update(self, params, grad, state, lr):
        tmp = np.multiply(grad, lr, out=state["scratch"])
        params -= tmp


class Momentum(Optimizer):
    """Heavy-ball momentum: ``v <- beta v + g``;  ``theta <- theta - lr v``."""

    _buffers = ("v",)

    def __init__(self, lr, beta=0.9, kernels="auto"):
        super().__init__(lr, kernels)
        self.beta = check_positive_float(beta, "beta", allow_zero=True)
        if self.beta >= 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}")

    def _largest_change(self, g):
        v = g / (1.0 - self.beta)        # |v| <= max |g| / (1 - beta) over the run
        return max(v, self.lr * v)

    def _scalars(self):
        return self.lr, self.beta

    def _update(self, params, grad, state, lr, beta):
        v, tmp = state["v"], state["scratch"]
        v *= beta
        v += grad
        np.multiply(v, lr, out=tmp)
        params -= tmp


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011), as used by Kingma & Welling 2014:
    ``G <- G + g^2``;  ``theta <- theta - lr g / (sqrt(G) + eps)``.  ``lr`` is the paper's
    "global stepsize" (they chose it from {0.01, 0.02, 0.1})."""

    _buffers = ("G",)
    _nonnegative = ("G",)

    def __init__(self, lr=0.01, eps=1e-8, kernels="auto"):
        super().__init__(lr, kernels)
        self.eps = check_positive_float(eps, "eps")

    def _largest_change(self, g):
        if g >= 1e150:
            return math.inf
        return max(g * g, self.lr * g / self.eps)

    def _scalars(self):
        return self.lr, self.eps

    def _update(self, params, grad, state, lr, eps):
        G, tmp = state["G"], state["scratch"]
        np.multiply(grad, grad, out=tmp)
        G += tmp
        np.sqrt(G, out=tmp)
        tmp += eps
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        params -= tmp


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction:
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        theta <- theta - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m/(1-b1^t), v_hat = v/(1-b2^t)

    Implementation note (where the code departs from the textbook notation): the state holds
    the *rescaled* moments ``M = m / (1 - b1)`` and ``V = v / (1 - b2)``.  Their updates lose the
    factor on g (``M <- b1 M + g``, ``V <- b2 V + g^2``), and the constant factors, with the bias
    corrections, fold into two scalars of the final step:
        theta <- theta - A * M / (sqrt(V) + E),
        A = lr (1 - b1) sqrt(1 - b2^t) / ((1 - b1^t) sqrt(1 - b2)),   E = eps sqrt(1 - b2^t) / sqrt(1 - b2)
    which is algebraically the textbook update, in 10 passes over the flat vector instead of 12.
    """

    _buffers = ("M", "V")
    _nonnegative = ("V",)

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, kernels="auto"):
        super().__init__(lr, kernels)
        self.beta1 = check_positive_float(beta1, "beta1", allow_zero=True)
        self.beta2 = check_positive_float(beta2, "beta2", allow_zero=True)
        if self.beta1 >= 1 or self.beta2 >= 1:
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {beta1}, {beta2}")
        self.eps = check_positive_float(eps, "eps")

    def _largest_change(self, g):
        # this step's g^2 (added to V) and |M| <= max |g| / (1 - b1); the step itself is at most
        # about lr / sqrt(1 - b2) per entry.  (V could still creep past float max over many
        # steps of gradients near 1e19: state_dict refuses that state at the next checkpoint.)
        if g >= 1e150:
            return math.inf
        return max(g * g, g / (1.0 - self.beta1))

    def _scalars(self):
        """(b1, b2, E, A) of step ``self.t``, as in the class docstring."""
        b1, b2, t = self.beta1, self.beta2, self.t
        c2, s2 = math.sqrt(1.0 - b2 ** t), math.sqrt(1.0 - b2)
        A = self.lr * (1.0 - b1) * c2 / ((1.0 - b1 ** t) * s2)
        return b1, b2, self.eps * c2 / s2, A

    def _update(self, params, grad, state, b1, b2, E, A):
        M, V, tmp = state["M"], state["V"], state["scratch"]
        M *= b1                                # M = m / (1 - b1)
        M += grad
        np.multiply(grad, grad, out=tmp)       # V = v / (1 - b2)
        V *= b2
        V += tmp
        np.sqrt(V, out=tmp)
        tmp += E
        np.divide(M, tmp, out=tmp)
        tmp *= A
        params -= tmp

    def moments(self):
        """The textbook (m, v), recovered from the rescaled state."""
        return self.state["M"] * (1.0 - self.beta1), self.state["V"] * (1.0 - self.beta2)

    def load_state_dict(self, d, params):
        """Also reads the textbook-scaled ``opt_m``/``opt_v`` of checkpoints written before the
        rescaled state was introduced (converting them)."""
        if "opt_M" not in d and "opt_m" in d and "opt_v" in d:
            d = dict(d)
            d["opt_M"] = np.asarray(d.pop("opt_m")) / (1.0 - self.beta1)
            d["opt_V"] = np.asarray(d.pop("opt_v")) / (1.0 - self.beta2)
            d["opt_M"] = d["opt_M"].astype(params.dtype)
            d["opt_V"] = d["opt_V"].astype(params.dtype)
        super().load_state_dict(d, params)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": Adagrad, "adam": Adam}


def make(name, lr, **kwargs):
    """Build an optimizer by name ("sgd", "momentum", "adagrad", "adam"); ``kernels="numpy" |
    "fused" | "auto"`` among the keyword arguments chooses the path."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](lr, **kwargs)
