"""Thin layer classes over :mod:`numpyvae.functional`.

A layer has
* ``params`` and ``grads``: dicts with the same keys, each entry a *view* into one flat parameter
  vector and one flat gradient vector (``flat_params``, ``flat_grads``);
* ``forward(x) -> (y, cache)`` and ``backward(dy, cache) -> dx``.  ``backward`` overwrites
  ``grads`` (it does not accumulate).  No state is kept between calls, so several forward
  passes may be in flight at once.

Building a bigger model (``Sequential``, the VAE) gathers every leaf layer's parameters into
one new flat vector with :func:`bind_flat`; the layers' ``params``/``grads`` become views into
it, so an optimizer updates the whole model with one pass over one array.
"""
from __future__ import annotations

import numpy as np

from . import functional as F
from . import fused
from ._memory import flat_zeros
from ._validate import check_array, check_positive_int, check_rng


class Layer:
    """Base class: a layer without parameters."""

    param_shapes: dict = {}

    def __init__(self):
        self.params, self.grads = {}, {}
        self.flat_params = np.zeros(0, np.float32)
        self.flat_grads = np.zeros(0, np.float32)

    def leaves(self):
        """The layers that own parameters directly (itself, for a leaf)."""
        return [self]

    def num_params(self):
        return int(sum(int(np.prod(s)) for s in self.param_shapes.values()))

    def _check_input(self, x, name="x"):
        check_array(x, name, ndim=2)
        return x

    def __repr__(self):
        return f"{type(self).__name__}()"


def bind_flat(layers, dtype=np.float32):
    """Copy the parameters of ``layers`` into one new flat vector and rebind them as views.

    Returns ``(flat_params, flat_grads)``.  Every leaf's ``params[k]``/``grads[k]`` becomes a
    view of shape ``param_shapes[k]`` into those vectors, in order; a nested ``Sequential``
    gets ``flat_params``/``flat_grads`` views over its own contiguous block.
    """
    total = sum(layer.num_params() for layer in layers)
    flat_p, flat_g = flat_zeros(total, dtype), flat_zeros(total, dtype)   # huge pages: _memory
    offset = 0
    for layer in layers:
        offset = _assign(layer, flat_p, flat_g, offset)
    return flat_p, flat_g


def _assign(layer, flat_p, flat_g, offset):
    """Point ``layer`` (recursively) at ``flat_p[offset:...]``; return the offset after it."""
    start = offset
    if isinstance(layer, Sequential):
        for child in layer.layers:
            offset = _assign(child, flat_p, flat_g, offset)
        layer.rebind()
    else:
        params, grads = {}, {}
        for key, shape in layer.param_shapes.items():
            n = int(np.prod(shape))
            params[key] = flat_p[offset:offset + n].reshape(shape)
            grads[key] = flat_g[offset:offset + n].reshape(shape)
            params[key][...] = layer.params[key]
            offset += n
        layer.params, layer.grads = params, grads
    layer.flat_params, layer.flat_grads = flat_p[start:offset], flat_g[start:offset]
    return offset


class Dense(Layer):
    """Affine layer ``y = x W + b`` (examples in rows, so ``W`` is the lecture's ``W^T``).

    in_features, out_features : sizes;  W : (in_features, out_features), b : (out_features,)
    init : "he"      W ~ N(0, 2 / in_features)           (default; suits ReLU)
           "xavier"  W ~ N(0, 2 / (in_features + out_features))  (Glorot; suits tanh/sigmoid)
           "uniform" W, b ~ U(-1/sqrt(in_features), 1/sqrt(in_features))  (PyTorch's nn.Linear
                     default; used to compare with the PyTorch examples VAE)
           float s   W ~ N(0, s^2)   (Kingma & Welling 2014 use s = 0.01)
    Biases start at zero, except with "uniform".  ``dtype`` is float32 for training, float64 for gradient checks.
    """

    def __init__(self, in_features, out_features, rng, init="he", dtype=np.float32):
        super().__init__()
        in_features = check_positive_int(in_features, "in_features")
        out_features = check_positive_int(out_features, "out_features")
        check_rng(rng)
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        if init == "he":
            std = np.sqrt(2.0 / in_features)
        elif init == "xavier":
            std = np.sqrt(2.0 / (in_features + out_features))
        elif init == "uniform":
            std = None
        elif (isinstance(init, (int, float)) and not isinstance(init, bool) and init > 0
              and np.isfinite(init)):
            std = float(init)
        else:
            raise ValueError(f"init must be 'he', 'xavier', 'uniform' or a positive float std, "
                             f"got {init!r}")
        self.in_features, self.out_features = in_features, out_features
        self.param_shapes = {"W": (in_features, out_features), "b": (out_features,)}
        if std is None:
            bound = 1.0 / np.sqrt(in_features)
            self.params = {
                "W": rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype),
                "b": rng.uniform(-bound, bound, out_features).astype(dtype),
            }
        else:
            self.params = {
                "W": (rng.standard_normal((in_features, out_features)) * std).astype(dtype),
                "b": np.zeros(out_features, dtype),
            }
        self.flat_params, self.flat_grads = bind_flat([self], dtype)

    def forward(self, x):
        """x : (N, in_features) -> y : (N, out_features); cache = (x, W)."""
        self._check_input(x)
        return self._forward(x)

    def _check_input(self, x, name="x"):
        check_array(x, name, ndim=2)
        if x.shape[1] != self.in_features:
            raise ValueError(f"{name} must have shape (N, {self.in_features}), got {x.shape}")
        if x.dtype != self.params["W"].dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but the layer is {self.params['W'].dtype}")
        return x

    def _forward(self, x, out=None):
        return F.dense_forward(x, self.params["W"], self.params["b"])

    def backward(self, dy, cache, need_dx=True):
        """dy : (N, out_features) -> dx : (N, in_features); writes grads['W'], grads['b'].
        With ``need_dx=False`` the input gradient is skipped and None returned.
        dy must be a finite array of the layer's dtype and shape (N, out_features), N as in the
        forward pass; else TypeError/ValueError naming dy, and nothing is written."""
        n = cache[0].shape[0]
        check_array(dy, "dy", dtype=self.params["W"].dtype, shape=(n, self.out_features))
        return self._backward(dy, cache, need_dx)

    def _backward(self, dy, cache, need_dx=True):
        """backward without the checks of dy (Sequential's own pass: dy comes from a kernel)."""
        dx, _, _ = F.dense_backward(dy, cache, self.grads["W"], self.grads["b"], need_dx)
        return dx

    def __repr__(self):
        return f"Dense({self.in_features}, {self.out_features})"


class _Elementwise(Layer):
    # The kernels are named, and looked up in functional.py at call time, so replacing
    # ``functional.relu_backward`` (as ``numpyvae check train`` does) reaches every ReLU layer.
    _op = "identity"

    @classmethod
    def _fwd(cls, x, out=None):
        return getattr(F, f"{cls._op}_forward")(x, out=out)

    @classmethod
    def _bwd(cls, dy, cache, out=None):
        return getattr(F, f"{cls._op}_backward")(dy, cache, out=out)

    def forward(self, x, out=None):
        """x : (N, D) -> y : (N, D).  ``out=x`` computes in place (for arrays the caller owns)."""
        self._check_input(x)
        return type(self)._fwd(x, out=out)

    def _forward(self, x, out=None):
        return type(self)._fwd(x, out=out)

    def backward(self, dy, cache, out=None):
        """dy : (N, D) -> dx : (N, D).  ``out=dy`` computes in place."""
        return type(self)._bwd(dy, cache, out=out)


class Identity(_Elementwise):
    """``y = x``."""


class ReLU(_Elementwise):
    """``y = max(x, 0)``."""
    _op = "relu"

    @classmethod
    def _fwd(cls, x, out=None):
        # --kernels fused (fused.use): the same maximum in one numba pass; None: the NumPy path
        y = fused.relu_forward(x, out)
        return super()._fwd(x, out=out) if y is None else y

    @classmethod
    def _bwd(cls, dy, cache, out=None):
        # --kernels fused (fused.use): the same product in one numba pass; None: the NumPy path
        dx = fused.relu_backward(dy, cache, out)
        return super()._bwd(dy, cache, out=out) if dx is None else dx


class Tanh(_Elementwise):
    """``y = tanh(x)``."""
    _op = "tanh"

    @classmethod
    def _bwd(cls, dy, cache, out=None):
        # --kernels fused (fused.use): the same product in one numba pass; None: the NumPy path
        dx = fused.tanh_backward(dy, cache, out)
        return super()._bwd(dy, cache, out=out) if dx is None else dx


class Sigmoid(_Elementwise):
    """``y = 1 / (1 + exp(-x))``."""
    _op = "sigmoid"


class Softplus(_Elementwise):
    """``y = log(1 + exp(x))``."""
    _op = "softplus"


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "softplus": Softplus,
               "identity": Identity}


class Sequential(Layer):
    """A chain of layers; its parameters are one flat vector over all of them.

    forward(x) -> (y, caches) with one cache per layer; backward(dy, caches) -> dx.
    """

    def __init__(self, layers):
        super().__init__()
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a numpyvae layer, got {type(layer).__name__}")
        self.layers = layers
        dtypes = {leaf.flat_params.dtype for leaf in self.leaves() if leaf.num_params()}
        if len(dtypes) > 1:
            raise TypeError(f"layers mix dtypes {sorted(map(str, dtypes))}")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        self.flat_params, self.flat_grads = bind_flat(self.layers, dtype)
        self.rebind()

    def leaves(self):
        return [leaf for layer in self.layers for leaf in layer.leaves()]

    def _forward(self, x, out=None):
        return self.forward(x, check=False)

    def num_params(self):
        return sum(leaf.num_params() for leaf in self.leaves())

    def forward(self, x, check=True):
        """x : (N, D_in) -> (y, caches), one cache per layer.

        ``x`` is checked once, by the first layer (``check=False`` skips even that: a model
        whose minibatch is already checked uses it on the hot path).  An activation that
        follows a Dense works in place on the Dense's fresh output (never on the caller's
        ``x``): the same numbers, one allocation fewer."""
        caches = []
        owned = False
        if check and self.layers:
            self.layers[0]._check_input(x)
        for layer in self.layers:
            if owned and isinstance(layer, _Elementwise):
                x, cache = layer._forward(x, out=x)
            else:
                x, cache = layer._forward(x)
            owned = isinstance(layer, Dense) or (owned and isinstance(layer, _Elementwise))
            caches.append(cache)
        return x, caches

    def backward(self, dy, caches, need_dx=True):
        """dy : (N, D_out) -> dx : (N, D_in).  ``need_dx=False`` skips the first layer's input
        gradient when the first layer is a Dense (returns None): the data needs no gradient."""
        owned = False
        for i in range(len(self.layers) - 1, -1, -1):
            layer, cache = self.layers[i], caches[i]
            if isinstance(layer, Dense):
                dy = layer._backward(dy, cache, need_dx=need_dx or i > 0)
                owned = True
            elif isinstance(layer, _Elementwise):
                dy = layer.backward(dy, cache, out=dy if owned else None)
                owned = True
            else:
                dy = layer.backward(dy, cache)
                owned = False
            if dy is None:
                break
        return dy

    def rebind(self):
        """Refresh the name -> view dicts after a parent model rebinds the leaves."""
        self.params = {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                       for k, v in layer.params.items()}
        self.grads = {f"{i}.{k}": v for i, layer in enumerate(self.layers)
                      for k, v in layer.grads.items()}

    def __repr__(self):
        return "Sequential([" + ", ".join(map(repr, self.layers)) + "])"


def mlp(sizes, activation, rng, init="he", dtype=np.float32, final_activation=None):
    """``Dense -> act -> ... -> Dense`` through the given sizes (no activation after the last
    Dense unless ``final_activation`` names one)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, rng=rng, init=init, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    if final_activation is not None:
        layers.append(ACTIVATIONS[final_activation]())
    return Sequential(layers)
