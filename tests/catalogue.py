"""One table of differentiable ops (minitorch's idea): forward tests, gradient checks and
dtype tests all loop over it, so a new op gets every check by adding one row.

Each row: name -> (forward(*inputs) -> (out, cache), backward(dout, cache) -> the gradients,
strategy drawing a tuple of float64 input arrays, wrt = the indices of the inputs the backward
returns gradients for, in order).  The library's own functions sit in the table as they are: one
op convention (ARCHITECTURE.md), no adapters.
"""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from numpyvae import distributions as D
from numpyvae import functional as F
from numpyvae import reparam as R

batch = st.integers(1, 5)      # batch size 1 included
width = st.integers(1, 6)


def arrays(shape, lo, hi, avoid_zero=0.0):
    elems = st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=64)
    if avoid_zero:
        elems = elems.filter(lambda v: abs(v) > avoid_zero)
    return hnp.arrays(np.float64, shape, elements=elems)


@st.composite
def one_matrix(draw, lo=-10.0, hi=10.0, avoid_zero=0.0):
    n, d = draw(batch), draw(width)
    return (draw(arrays((n, d), lo, hi, avoid_zero)),)


@st.composite
def dense_inputs(draw):
    n, a, b = draw(batch), draw(width), draw(width)
    return (draw(arrays((n, a), -5, 5)), draw(arrays((a, b), -3, 3)), draw(arrays((b,), -3, 3)))


@st.composite
def gaussian_node_inputs(draw):
    n, k, s = draw(batch), draw(width), draw(st.integers(1, 3))
    mu = draw(arrays((n, k), -10, 10))
    logvar = draw(arrays((n, k), -20, 20))          # the range of log-variances
    shape = (n, k) if draw(st.booleans()) else (s, n, k)
    return mu, logvar, draw(arrays(shape, -4, 4))


@st.composite
def full_node_inputs(draw):
    n, k, s = draw(batch), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    mu = draw(arrays((n, k), -10, 10))
    L = np.tril(draw(arrays((n, k, k), -3, 3)))
    d = np.arange(k)
    L[:, d, d] = np.exp(draw(arrays((n, k), -5, 5)))
    shape = (n, k) if draw(st.booleans()) else (s, n, k)
    return mu, L, draw(arrays(shape, -4, 4))


@st.composite
def bernoulli_inputs(draw):
    n, d = draw(batch), draw(width)
    x = draw(arrays((n, d), 0, 1))
    logits = draw(arrays((n, d), -60, 60))           # large logits
    return x, logits


@st.composite
def gaussian_ll_inputs(draw):
    n, d = draw(batch), draw(width)
    return (draw(arrays((n, d), -3, 3)), draw(arrays((n, d), -3, 3)),
            draw(arrays((n, d), -20, 20)))


@st.composite
def kl_inputs(draw):
    n, k = draw(batch), draw(width)
    return draw(arrays((n, k), -10, 10)), draw(arrays((n, k), -20, 20))


@st.composite
def kl_full_inputs(draw):
    mu, L, _ = draw(full_node_inputs())
    return mu, L


OPS = {
    "dense": (F.dense_forward, F.dense_backward, dense_inputs(), (0, 1, 2)),
    "relu": (F.relu_forward, F.relu_backward, one_matrix(avoid_zero=1e-3), (0,)),
    "tanh": (F.tanh_forward, F.tanh_backward, one_matrix(-20, 20), (0,)),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward, one_matrix(-40, 40), (0,)),
    "softplus": (F.softplus_forward, F.softplus_backward, one_matrix(-60, 60), (0,)),
    "identity": (F.identity_forward, F.identity_backward, one_matrix(), (0,)),
    # eps is noise, an input with no predecessors: the node returns no gradient for it
    "reparam_diag": (R.gaussian_forward, R.gaussian_backward, gaussian_node_inputs(), (0, 1)),
    "reparam_full": (R.full_cov_forward, R.full_cov_backward, full_node_inputs(), (0, 1)),
    "kl_diag": (D.kl_std_normal_forward, D.kl_std_normal_backward, kl_inputs(), (0, 1)),
    "kl_full": (D.kl_full_cov_std_normal_forward, D.kl_full_cov_std_normal_backward,
                kl_full_inputs(), (0, 1)),
    # x is the data: no gradient
    "bernoulli_ll": (D.bernoulli_log_likelihood_forward, D.bernoulli_log_likelihood_backward,
                     bernoulli_inputs(), (1,)),
    "gaussian_ll": (D.gaussian_log_likelihood_forward, D.gaussian_log_likelihood_backward,
                    gaussian_ll_inputs(), (1, 2)),
    "log_std_normal": (D.log_std_normal_forward, D.log_std_normal_backward, one_matrix(), (0,)),
}


def gradients(backward, dout, cache):
    """The backward pass's result as a tuple (a one-input op returns a bare array)."""
    g = backward(dout, cache)
    return g if isinstance(g, tuple) else (g,)
