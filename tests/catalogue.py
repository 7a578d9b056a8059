"""One table of differentiable ops (minitorch's idea): forward tests, gradient checks and
dtype tests all loop over it, so a new op gets every check by adding one row.

Each row: name -> (forward(*inputs) -> (out, cache), backward(dout, cache) -> tuple of input
grads, strategy drawing a tuple of float64 input arrays).
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


def _per_example(value_fn, grad_fn, n_data_args=1):
    """Adapt a (N,)-valued function with a *_grad(…, dout) into the forward/backward shape."""
    def fwd(*args):
        return value_fn(*args), args

    def bwd(dout, cache):
        g = grad_fn(*cache, dout=dout)
        return g if isinstance(g, tuple) else (g,)
    return fwd, bwd


def _elementwise(fwd, bwd):
    return (lambda x: fwd(x)), (lambda dout, cache: (bwd(dout, cache),))


def _gauss_ll_fwd(x, mean, logvar):
    return D.gaussian_log_likelihood(x, mean, logvar), (x, mean, logvar)


def _gauss_ll_bwd(dout, cache):
    x, mean, logvar = cache
    dmean, dlogvar = D.gaussian_log_likelihood_grad(x, mean, logvar, dout)
    return None, dmean, dlogvar


def _bern_fwd(x, logits):
    return D.bernoulli_log_likelihood(x, logits), (x, logits)


def _bern_bwd(dout, cache):
    return None, D.bernoulli_log_likelihood_grad(*cache, dout=dout)


def _kl_fwd(mu, logvar):
    return D.kl_std_normal(mu, logvar), (mu, logvar)


def _kl_bwd(dout, cache):
    return D.kl_std_normal_grad(*cache, dout=dout)


def _klf_fwd(mu, L):
    return D.kl_full_cov_std_normal(mu, L), (mu, L)


def _klf_bwd(dout, cache):
    return D.kl_full_cov_std_normal_grad(*cache, dout=dout)


@st.composite
def kl_inputs(draw):
    n, k = draw(batch), draw(width)
    return draw(arrays((n, k), -10, 10)), draw(arrays((n, k), -20, 20))


@st.composite
def kl_full_inputs(draw):
    mu, L, _ = draw(full_node_inputs())
    return mu, L


def _dense_fwd(x, W, b):
    return F.dense_forward(x, W, b)


def _dense_bwd(dout, cache):
    return F.dense_backward(dout, cache)


def _gauss_node_bwd(dout, cache):
    return R.gaussian_backward(dout, cache) + (None,)


def _full_node_bwd(dout, cache):
    return R.full_cov_backward(dout, cache) + (None,)


OPS = {
    "dense": (_dense_fwd, _dense_bwd, dense_inputs()),
    "relu": (*_elementwise(F.relu_forward, F.relu_backward), one_matrix(avoid_zero=1e-3)),
    "tanh": (*_elementwise(F.tanh_forward, F.tanh_backward), one_matrix(-20, 20)),
    "sigmoid": (*_elementwise(F.sigmoid_forward, F.sigmoid_backward), one_matrix(-40, 40)),
    "softplus": (*_elementwise(F.softplus_forward, F.softplus_backward), one_matrix(-60, 60)),
    "identity": (*_elementwise(F.identity_forward, F.identity_backward), one_matrix()),
    "reparam_diag": (R.gaussian_forward, _gauss_node_bwd, gaussian_node_inputs()),
    "reparam_full": (R.full_cov_forward, _full_node_bwd, full_node_inputs()),
    "kl_diag": (_kl_fwd, _kl_bwd, kl_inputs()),
    "kl_full": (_klf_fwd, _klf_bwd, kl_full_inputs()),
    "bernoulli_ll": (_bern_fwd, _bern_bwd, bernoulli_inputs()),
    "gaussian_ll": (_gauss_ll_fwd, _gauss_ll_bwd, gaussian_ll_inputs()),
}

# inputs that are not differentiated (data, noise): index -> reason
NOT_DIFFERENTIATED = {
    "reparam_diag": {2},  # eps: noise is an input with no predecessors
    "reparam_full": {2},
    "bernoulli_ll": {0},  # x: the data
    "gaussian_ll": {0},
}
