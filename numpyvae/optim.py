"""Optimizers over one flat parameter vector, updated in place.

``opt.step(params, grad)`` changes ``params`` in place (so every layer, whose parameters are
views into it, sees the new values).  Each optimizer works in a few fused passes over the flat
vector using preallocated buffers: no per-layer loops and no temporaries the size of the model
beyond one scratch buffer.  Scalars are Python floats so float32 stays float32.

Every update is elementwise, so with ``--threads N`` (``_threads.set_blas_threads``) the vector is
cut into N slices updated at once on N threads: the same bits as one thread, in about 1/N the time.
Each slice is then updated ``BLOCK`` entries at a time (all of the passes on one block, then the
next): the block's pieces of the four vectors stay in the CPU's L2 cache between the passes, so
only the first pass over a block reads main memory or L3 (ARCHITECTURE.md, "Performance").
Again the same bits: every entry sees the same operations in the same order.

The optimizer's state (moment vectors and the step count) is exposed by ``state_dict()`` and
restored by ``load_state_dict()`` so training can be resumed bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

from . import _threads
from ._validate import check_array, check_positive_float

# Entries per block of the update: 64 Ki floats = 256 KiB of each vector, so the ~5 vectors an
# update touches (params, grad, state, scratch) fit a 2 MiB L2 cache with room to spare.  Measured
# on issue 15's model (653k parameters, Adam, 1 thread): 1.16-1.25x faster than whole-vector passes
# on an AVX-512 Xeon and with its AVX2 kernels (BENCHMARKS.md); smaller blocks lose it again to the
# ~1 us each NumPy call costs.
BLOCK = 65536


class Optimizer:
    """Base class: ``step(params, grad)`` updates ``params`` in place."""

    _buffers: tuple = ()
    _nonnegative: tuple = ()         # state vectors that are sums of squares

    def __init__(self, lr):
        self.lr = check_positive_float(lr, "lr")
        self.t = 0
        self.state = {}

    def _check(self, params, grad):
        """Check everything before any state is touched: a step that raises changes nothing."""
        check_array(params, "params", ndim=1, finite=False)
        check_array(grad, "grad", shape=params.shape, dtype=params.dtype, finite=False)
        # NaN/inf and the largest |gradient|, from the gradient's min and max on the --threads N
        # slices at once (a NaN anywhere makes a min or max NaN; two reads, no temporaries).
        # (Not with a BLAS dot product: that wakes the BLAS threads, which then spin on the
        # cores the update runs on.)  The parameters are not read here: a pass over them cost
        # 8% of Adam's step, and a NaN parameter shows in the loss before any step.
        ends = []
        if grad.size:
            _threads.run_split(lambda s: ends.append((grad[s].min(), grad[s].max())), grad.size)
        # (every slice's ends are tested: Python's max() skips a NaN depending on order)
        if not all(math.isfinite(float(v)) for e in ends for v in e):
            raise ValueError("grad contains NaN or inf")
        g = max((max(-float(e[0]), float(e[1])) for e in ends), default=0.0)
        if self._largest_change(g) >= float(np.finfo(params.dtype).max) / 2:
            raise ValueError(f"this step would make the parameters or the optimizer's state "
                             f"non-finite in {params.dtype} (|grad| up to {g:.3g}, lr "
                             f"{self.lr:.3g}): nothing was changed; the run diverged")
        if not params.flags.writeable:
            raise ValueError("params must be writeable (the update is in place)")
        if self.state and self.state["scratch"].shape != params.shape:
            raise ValueError(f"params has size {params.size} but this optimizer holds state for "
                             f"size {self.state['scratch'].size}: use a new optimizer")
        if not self.state:
            self.state = {name: np.zeros_like(params) for name in self._buffers}
            self.state["scratch"] = np.empty_like(params)

    def _largest_change(self, g):
        """An upper bound on the |change| this step makes to any parameter or state entry, from
        the largest |gradient| ``g`` (the overflow check; parameters near float max are not
        considered: they have long made the loss non-finite)."""
        return self.lr * g

    def step(self, params, grad):
        self._check(params, grad)
        self.t += 1
        state = self.state

        def update_slice(part):                       # one thread's slice, block by block
            for i in range(part.start, part.stop, BLOCK):
                b = slice(i, min(i + BLOCK, part.stop))
                self._update(params[b], grad[b], {k: v[b] for k, v in state.items()})
        _threads.run_split(update_slice, params.size)

    def _update(self, params, grad, state):
        """Update ``params`` (a slice of the flat vector) in place; ``state`` holds the same
        slice of every state vector (and of the scratch buffer)."""
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
            state[name] = arr.copy()
        t = np.asarray(d["opt_t"])
        if t.shape != () or not np.issubdtype(t.dtype, np.integer) or int(t) < 0:
            raise ValueError(f"optimizer state 'opt_t' must be an integer >= 0, got {t!r}")
        state["scratch"] = np.empty_like(params)
        self.state, self.t = state, int(t)

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """``theta <- theta - lr * g``."""

    def _update(self, params, grad, state):
        tmp = np.multiply(grad, self.lr, out=state["scratch"])
        params -= tmp


class Momentum(Optimizer):
    """Heavy-ball momentum: ``v <- beta v + g``;  ``theta <- theta - lr v``."""

    _buffers = ("v",)

    def __init__(self, lr, beta=0.9):
        super().__init__(lr)
        self.beta = check_positive_float(beta, "beta", allow_zero=True)
        if self.beta >= 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}")

    def _largest_change(self, g):
        v = g / (1.0 - self.beta)        # |v| <= max |g| / (1 - beta) over the run
        return max(v, self.lr * v)

    def _update(self, params, grad, state):
        v, tmp = state["v"], state["scratch"]
        v *= self.beta
        v += grad
        np.multiply(v, self.lr, out=tmp)
        params -= tmp


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011), as used by Kingma & Welling 2014:
    ``G <- G + g^2``;  ``theta <- theta - lr g / (sqrt(G) + eps)``.  ``lr`` is the paper's
    "global stepsize" (they chose it from {0.01, 0.02, 0.1})."""

    _buffers = ("G",)
    _nonnegative = ("G",)

    def __init__(self, lr=0.01, eps=1e-8):
        super().__init__(lr)
        self.eps = check_positive_float(eps, "eps")

    def _largest_change(self, g):
        if g >= 1e150:
            return math.inf
        return max(g * g, self.lr * g / self.eps)

    def _update(self, params, grad, state):
        G, tmp = state["G"], state["scratch"]
        np.multiply(grad, grad, out=tmp)
        G += tmp
        np.sqrt(G, out=tmp)
        tmp += self.eps
        np.divide(grad, tmp, out=tmp)
        tmp *= self.lr
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

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = check_positive_float(beta1, "beta1", allow_zero=True)
        self.beta2 = check_positive_float(beta2, "beta2", allow_zero=True)
        if self.beta1 >= 1 or self.beta2 >= 1:
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {beta1}, {beta2}")
        self.eps = check_positive_float(eps, "eps")

    def _largest_change(self, g):
        # V <= max g^2 / (1 - b2) and M <= max |g| / (1 - b1) over the run; the step itself
        # is at most about lr / sqrt(1 - b2) per entry
        if g >= 1e150:
            return math.inf
        return max(g * g / (1.0 - self.beta2), g / (1.0 - self.beta1))

    def _update(self, params, grad, state):
        M, V, tmp = state["M"], state["V"], state["scratch"]
        b1, b2, t = self.beta1, self.beta2, self.t
        M *= b1                                # M = m / (1 - b1)
        M += grad
        np.multiply(grad, grad, out=tmp)       # V = v / (1 - b2)
        V *= b2
        V += tmp
        c2, s2 = math.sqrt(1.0 - b2 ** t), math.sqrt(1.0 - b2)
        A = self.lr * (1.0 - b1) * c2 / ((1.0 - b1 ** t) * s2)
        np.sqrt(V, out=tmp)
        tmp += self.eps * c2 / s2
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
    """Build an optimizer by name ("sgd", "momentum", "adagrad", "adam")."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](lr, **kwargs)
