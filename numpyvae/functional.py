"""Pure forward/backward pairs: the maths of every layer, one function each.

Conventions (ARCHITECTURE.md, "Conventions" and "Ops"):
* arrays are ``(N, D)``, examples in rows;
* ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache) -> gradients``;
  the cache holds exactly what backward needs, so nothing is recomputed and no state is kept;
* float32 in gives float32 out: no Python-float or float64 constant ever promotes an array.

Notation: the lectures write a layer as ``h = W x + b`` with column vectors.  Here examples are
rows, so the same layer is ``H = X W + b`` with ``W`` of shape ``(D_in, D_out)``; the lecture's
``W`` is our ``W.T``.  The gradients follow: ``dW = X^T dH``, ``db = sum_n dH``, ``dX = dH W^T``.

Stability: softplus, sigmoid and log-sigmoid never overflow for any finite input and use no
``log(x + epsilon)`` fudge:
    softplus(a)    = max(a, 0) + log1p(exp(-|a|))
    sigmoid(a)     = 0.5 * (1 + tanh(a / 2))          (exact identity, no overflow)
    log_sigmoid(a) = -softplus(-a)
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
    """Logistic sigmoid ``1 / (1 + exp(-x))`` written as ``0.5 (1 + tanh(x/2))``.

    The tanh form cannot overflow for any finite x and keeps float32 as float32
    (``scipy.special.expit`` is slow on float32).
    """
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


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
    """``log(1 + exp(x))`` computed as ``max(x, 0) + log1p(exp(-|x|))``: never overflows.

    (``np.logaddexp(0, x)`` gives the same numbers but costs several times more.)
    """
    t = np.abs(x)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    out = np.maximum(x, 0, out=out)
    out += t
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
