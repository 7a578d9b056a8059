"""Pure forward/backward pairs: the maths of every layer, one function each.

Conventions (ARCHITECTURE.md, "Conventions" and "Ops"):
* arrays are ``(N, D)``, examples in rows;
* ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache) -> gradients``;
  the cache holds exactly what backward needs, so nothing is recomputed and no state is kept;
* float32 in gives float32 out: no Python-float or float64 constant ever promotes an array.

Notation: the lectures write a layer as ``h = W x + b`` with column vectors.  Here examples are
rows, so the same layer is ``H = X W + b`` with ``W`` of shape ``(D_in, D_out)``; the lecture's
``W`` is our ``W.T``.  The gradients follow: ``dW = X^T dH``, ``db = sum_n dH``, ``dX = dH W^T``.

Stability: softplus, sigmoid and log-sigmoid give a finite, correctly scaled answer for any
finite input and use no ``log(x + epsilon)`` fudge:
    softplus(a)    = max(a, 0) + log1p(exp(-|a|))      (log1p written with log: see softplus)
    sigmoid(a)     = 1 / (1 + exp(-a))                 (exp may overflow to inf: 1/inf = 0)
    log_sigmoid(a) = -softplus(-a)
Speed (ARCHITECTURE.md, "Performance"): softplus and sigmoid avoid NumPy's float32 ``log1p`` and
``tanh`` (a tanh layer still calls ``np.tanh``: it is the function), which on CPUs without AVX-512
cost about 9 ``log``s (14 ``exp``s) and 2.4 ``exp``s (BENCHMARKS.md, the AVX2 column).  The forms
used here are within a few float32 ulps of the exact values (tests/library/test_functional_accuracy.py measures it against
float64 over the whole float32 range).
"""
from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------- dense


def dense_forward(x, W, b):
    """Affine map ``y = x W + b``.

    x : (N, D_in)   W : (D_in, D_out)   b : (D_out,)   ->   y : (N, D_out)
    cache = (x, W)
    """
    y = x @ W
    y += b
    return y, (x, W)


def dense_backward(dy, cache, dW=None, db=None, need_dx=True):
    """Gradients of the affine map.

    dy : (N, D_out)  ->  dx : (N, D_in), dW : (D_in, D_out), db : (D_out,)
    ``dW``/``db`` may be preallocated arrays (views into a flat gradient vector); they are
    overwritten, not accumulated into.  ``need_dx=False`` skips ``dx`` (returned as None): the
    first layer of a network never needs the gradient with respect to the data.
    """
    x, W = cache
    dW = np.matmul(x.T, dy, out=dW)
    db = np.sum(dy, axis=0, out=db)
    dx = dy @ W.T if need_dx else None
    return dx, dW, db


# ------------------------------------------------------------------------ activations


def relu_forward(x, out=None):
    """``y = max(x, 0)``.  x : (N, D) -> y : (N, D); cache = y (its sign is the mask).

    Every activation takes ``out=``: a network that owns ``x`` (a fresh layer output) passes
    ``out=x`` and saves an allocation; the maths is the same."""
    y = np.maximum(x, 0, out=out)
    return y, y


def relu_backward(dy, cache, out=None):
    """``dx = dy * [y > 0]``.  The subgradient at exactly 0 is taken as 0."""
    y = cache
    return np.multiply(dy, y > 0, out=out)


def tanh_forward(x, out=None):
    """``y = tanh(x)``; cache = y because ``tanh'(x) = 1 - y^2``."""
    y = np.tanh(x, out=out)
    return y, y


def tanh_backward(dy, cache, out=None):
    """``dx = dy * (1 - y^2)``."""
    y = cache
    t = y * y
    np.subtract(1, t, out=t)
    return np.multiply(dy, t, out=out)


def sigmoid(x, out=None):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, within 4 float32 ulps for every x.

    For x below about -88 (float32), exp(-x) overflows to inf and 1 / (1 + inf) = 0, the right
    limit: that overflow is expected, so its warning is silenced.  (The tanh form
    ``0.5 (1 + tanh(x / 2))`` cancels to 0 already near x = -17 and is slower without AVX-512;
    ``scipy.special.expit`` is slow on float32.)
    """
    with np.errstate(over="ignore"):
        out = np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1
    return np.divide(1, out, out=out)


def sigmoid_forward(x, out=None):
    """``y = sigmoid(x)``; cache = y because ``sigmoid'(x) = y (1 - y)``."""
    y = sigmoid(x, out=out)
    return y, y


def sigmoid_backward(dy, cache, out=None):
    """``dx = dy * y (1 - y)``."""
    y = cache
    t = np.subtract(1, y)
    t *= y
    return np.multiply(dy, t, out=out)


def softplus(x, out=None):
    """``log(1 + exp(x)) = max(x, 0) + log1p(u)``, ``u = exp(-|x|)`` in (0, 1]: never overflows.

    ``log1p(u)`` is computed without ``np.log1p`` (slow in float32 without AVX-512) by the
    compensated form ``log1p(u) = log(w) + (u - (w - 1)) / w``, ``w = fl(1 + u)``:
    ``w - 1`` is exact for w in [1, 2], so ``c = u - (w - 1)`` is exactly the rounding error of
    ``1 + u``, and ``log(1 + u) = log(w) + log(1 + c/w) = log(w) + c/w`` to far below float32
    rounding.  Measured: within 5 float32 ulps of the float64 value for every x.
    (``np.logaddexp(0, x)`` gives the same numbers but costs many times more.)
    """
    u = np.abs(x)
    np.negative(u, out=u)
    np.exp(u, out=u)                  # u = exp(-|x|)
    w = u + 1                         # w = fl(1 + u)
    w -= 1                            # exact: w - 1
    u -= w                            # c = u - (w - 1), the rounding error of 1 + u
    w += 1                            # exact: w again
    u /= w                            # c / w
    out = np.maximum(x, 0, out=out)   # x is last read here, so out may be x
    out += u
    np.log(w, out=w)
    out += w
    return out


def softplus_forward(x, out=None):
    """``y = softplus(x)``; cache = x because ``softplus'(x) = sigmoid(x)``."""
    if out is x:                # the cache needs x itself, so never overwrite it
        out = None
    return softplus(x, out=out), x


def softplus_backward(dy, cache, out=None):
    """``dx = dy * sigmoid(x)``."""
    x = cache
    t = sigmoid(x)
    return np.multiply(dy, t, out=out)


def log_sigmoid(x, out=None):
    """``log sigmoid(x) = -softplus(-x)``, stable for any finite x."""
    out = softplus(np.negative(x), out=out)
    np.negative(out, out=out)
    return out


def identity_forward(x, out=None):
    return x, None


def identity_backward(dy, cache, out=None):
    return dy
