"""Deterministic autoencoders, every gradient by hand: plain, tied, denoising, sparse, contractive.

One hidden layer (the sparse and contractive penalties are written for it).  Examples are rows,
so the lecture's ``h = f(W x + b)`` is ``H = f(X W + b)`` here (see functional.py)::

    x~ = m * x                  denoising only: keep-mask m_nd ~ Bernoulli(1 - q)   (N, D)
    a  = x~ W + b,  h = f(a)    encoder  W : (D, H), b : (H,), f = sigmoid | identity | relu | tanh
    o  = h V + c                decoder  V : (H, D), or V = W^T when ``tied``;  c : (D,)

    output "bernoulli":  o are logits, x^ = sigmoid(o),
                         rec(x) = -sum_d [x_d o_d - softplus(o_d)]      (cross-entropy, nats)
    output "gaussian":   x^ = o (linear),
                         rec(x) = 1/2 sum_d (x_d - o_d)^2               (squared error; it is
                         -log N(x; o, I) without the constant D/2 log 2 pi)

    loss = mean_n rec(x_n)  +  penalty  +  weight_decay/2 (||W||_F^2 + ||V||_F^2)

The loss is measured against the *clean* x even when the encoder sees x~.  Weight decay acts on
the weight matrices only, not on the biases (with tied weights W is counted once).

Backward pass, N examples (each output is the "matching" one for its loss, so both give the same
error signal at the output):

    do = (x^ - x) / N                    (N, D)
    dV = h^T do,   dc = sum_n do,   dh = do V^T        (+ sparse term)
    da = dh * f'(a)                                     (+ contractive term)
    dW = x~^T da   (+ dV^T when tied)   (+ contractive direct term),   db = sum_n da
    dW += weight_decay W,   dV += weight_decay V

All parameters live in one flat vector ``params`` (gradient ``grads``), built with
:func:`numpyvae.layers.bind_flat` as in the VAE.  float32 for training, float64 for gradient
checks: ``numpyvae.gradcheck.check_model`` works on every class here.
"""
from __future__ import annotations

import math

import numpy as np

from . import distributions as D
from . import functional as F
from ._validate import (check_array, check_data_values, check_positive_float, check_positive_int,
                        check_rng)
from .layers import ACTIVATIONS, Dense, Layer, bind_flat
from .optim import Adam, Optimizer

OUTPUTS = ("bernoulli", "gaussian")
HIDDEN_ACTIVATIONS = ("sigmoid", "identity", "relu", "tanh")

__all__ = ["Autoencoder", "DenoisingAutoencoder", "SparseAutoencoder", "ContractiveAutoencoder",
           "kl_bernoulli", "kl_bernoulli_grad", "sparsity_penalty", "sparsity_penalty_minimum",
           "contractive_penalty", "masking_noise", "fit", "OUTPUTS", "HIDDEN_ACTIVATIONS"]


# --------------------------------------------------------------------- penalties, as functions


def kl_bernoulli(rho, rho_hat):
    """``KL(Bernoulli(rho) || Bernoulli(rho_hat))
    = rho log(rho/rho_hat) + (1 - rho) log((1 - rho)/(1 - rho_hat))``.
    rho : float in (0, 1);  rho_hat : array in (0, 1)  ->  rho_hat.shape"""
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def kl_bernoulli_grad(rho, rho_hat):
    """``d KL(rho || rho_hat) / d rho_hat = -rho/rho_hat + (1 - rho)/(1 - rho_hat)``: zero only
    at rho_hat = rho, where the second derivative ``rho/rho_hat^2 + (1 - rho)/(1 - rho_hat)^2``
    is > 0 (a minimum)."""
    return (1 - rho) / (1 - rho_hat) - rho / rho_hat


def sparsity_penalty(h, rho, beta):
    """``P = beta sum_j KL(rho || rho_hat_j)``, ``rho_hat_j = mean_n h_nj`` (one number per batch).

    h : (N, H) sigmoid activations in (0, 1)  ->  (P, dh) with dh : (N, H) = dP/dh.
    ``d rho_hat_j / d h_nj = 1/N``, so every row of dh is ``beta KL'(rho_hat) / N``.
    """
    rho_hat = h.mean(axis=0)                                    # (H,)
    value = beta * float(kl_bernoulli(rho, rho_hat).sum())
    drho_hat = kl_bernoulli_grad(rho, rho_hat)
    drho_hat *= beta / h.shape[0]
    return value, np.broadcast_to(drho_hat, h.shape)


def sparsity_penalty_minimum(rho, num=100001):
    """Where ``KL(rho || rho_hat)`` is smallest, found numerically on a grid of rho_hat in (0, 1).

    -> dict with ``grid_argmin`` (the grid point with the smallest KL, within 1/num of rho),
    ``min_value`` (the KL there, ~0), ``grad_at_rho`` (the derivative at rho_hat = rho, exactly 0)
    and ``curvature_at_rho`` (1/rho + 1/(1 - rho) > 0: a minimum, not a maximum).
    """
    rho = _check_rho(rho)
    grid = np.linspace(0, 1, check_positive_int(num, "num") + 2)[1:-1]     # open interval
    kl = kl_bernoulli(rho, grid)
    i = int(np.argmin(kl))
    return {"grid_argmin": float(grid[i]), "min_value": float(kl[i]),
            "grad_at_rho": float(kl_bernoulli_grad(rho, np.float64(rho))),
            "curvature_at_rho": 1 / rho + 1 / (1 - rho)}


def contractive_penalty(h, W, lam):
    """``P = lam mean_n ||J(x_n)||_F^2`` for a sigmoid code h = sigmoid(x W + b), J = dh/dx.

    ``J_ji = s_j W_ij`` with ``s = h (1 - h)``, hence ``||J||_F^2 = sum_j s_j^2 sum_i W_ij^2``.
    h : (N, H);  W : (D, H)  ->  (P, da, dW_direct)
        da : (N, H) = dP/da through s:  (2 lam / N) s^2 (1 - 2h) sum_i W_ij^2   (ds/da = s (1 - 2h))
        dW_direct : (D, H) = dP/dW through sum_i W_ij^2 only:  (2 lam / N) W_ij sum_n s_nj^2
    """
    n = h.shape[0]
    s2 = np.subtract(1, h)
    s2 *= h
    s2 *= s2                                                   # s^2, (N, H)
    w2 = np.einsum("ij,ij->j", W, W)                           # sum_i W_ij^2, (H,)
    value = lam * float((s2 @ w2).sum()) / n
    da = np.subtract(1, 2 * h)
    da *= s2
    da *= (2 * lam / n) * w2
    dW = W * ((2 * lam / n) * s2.sum(axis=0))
    return value, da, dW


def masking_noise(shape, q, rng, dtype=np.float32):
    """Keep-mask for masking noise: each entry is 0 with probability q, else 1.  -> shape, dtype."""
    check_rng(rng)
    return (rng.random(shape, dtype=np.float32) >= q).astype(dtype)


# ------------------------------------------------------------------------------- the models


class _Bias(Layer):
    """The decoder of a tied autoencoder owns only its bias c : (D,); its weight is W^T."""

    def __init__(self, size, dtype):
        super().__init__()
        self.param_shapes = {"b": (size,)}
        self.params = {"b": np.zeros(size, dtype)}
        self.flat_params, self.flat_grads = bind_flat([self], dtype)


def _check_rho(rho):
    rho = check_positive_float(rho, "rho")
    if not rho < 1:
        raise ValueError(f"rho must be in (0, 1), got {rho}")
    return rho


class Autoencoder:
    """Plain autoencoder ``x -> h = f(x W + b) -> o = h V + c`` (see the module docstring).

    x_dim, hidden_dim : D and H (H > D is an overcomplete code)
    output       : "bernoulli" (sigmoid output, cross-entropy; x in [0, 1]) or
                   "gaussian" (linear output, squared error; any real x)
    activation   : hidden f: "sigmoid" (default), "identity" (a linear autoencoder), "relu", "tanh"
    tied         : decoder weight V = W^T (its gradient is the sum from both uses)
    weight_decay : lam >= 0, adds lam/2 (||W||^2 + ||V||^2) to the loss
    rng          : numpy Generator for the initial weights;  init : Dense init (default "xavier")
    dtype        : float32 for training, float64 for gradient checks
    """

    def __init__(self, x_dim, hidden_dim, output="bernoulli", activation="sigmoid", tied=False,
                 weight_decay=0.0, rng=None, init="xavier", dtype=np.float32):
        x_dim = check_positive_int(x_dim, "x_dim")
        hidden_dim = check_positive_int(hidden_dim, "hidden_dim")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation must be one of {HIDDEN_ACTIVATIONS}, got {activation!r}")
        if not isinstance(tied, bool):
            raise TypeError(f"tied must be a bool, got {type(tied).__name__}")
        self.weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        check_rng(rng)
        self.x_dim, self.hidden_dim, self.output = x_dim, hidden_dim, output
        self.activation, self.tied, self.dtype = activation, tied, np.dtype(dtype)
        self.encoder = Dense(x_dim, hidden_dim, rng=rng, init=init, dtype=self.dtype)
        self.act = ACTIVATIONS[activation]()
        self.decoder = (_Bias(x_dim, self.dtype) if tied
                        else Dense(hidden_dim, x_dim, rng=rng, init=init, dtype=self.dtype))
        self.params, self.grads = bind_flat([self.encoder, self.decoder], self.dtype)

    # ------------------------------------------------------------------ bookkeeping

    @property
    def W(self):
        """Encoder weight (D, H), a view into ``params``."""
        return self.encoder.params["W"]

    @property
    def V(self):
        """Decoder weight (H, D): a view into ``params``, or W^T (also a view) when tied."""
        return self.W.T if self.tied else self.decoder.params["W"]

    def named_params(self):
        """{"encoder.W": view, "encoder.b": ..., "decoder.W" (untied only), "decoder.b"}."""
        out = {f"encoder.{k}": v for k, v in self.encoder.params.items()}
        out.update({f"decoder.{k}": v for k, v in self.decoder.params.items()})
        return out

    def named_grads(self):
        """The gradient blocks under the same names as ``named_params``, views into ``grads``."""
        out = {f"encoder.{k}": v for k, v in self.encoder.grads.items()}
        out.update({f"decoder.{k}": v for k, v in self.decoder.grads.items()})
        return out

    def num_params(self):
        return self.params.size

    def noise_shape(self, x, **_):
        """Shape of the noise input ``eps``: (0,) -- a plain autoencoder has none."""
        return (0,)

    def check_x(self, x, name="x"):
        check_array(x, name, ndim=2, dtype=self.dtype, finite=False)
        if x.shape[1] != self.x_dim or x.shape[0] == 0:
            raise ValueError(f"{name} must have shape (N, {self.x_dim}) with N > 0, got {x.shape}")
        return check_data_values(x, name, unit_interval=self.output == "bernoulli",
                                 why=" for output='bernoulli'")

    def _check_h(self, h):
        check_array(h, "h", ndim=2, dtype=self.dtype)
        if h.shape[1] != self.hidden_dim:
            raise ValueError(f"h must have shape (N, {self.hidden_dim}), got {h.shape}")
        return h

    # ------------------------------------------------------------------ inference

    def encode(self, x):
        """x : (N, D) -> code h : (N, H)."""
        self.check_x(x)
        a, _ = self.encoder.forward(x)
        return self.act.forward(a, out=a)[0]

    def decode(self, h):
        """h : (N, H) -> reconstruction x^ : (N, D); sigmoid(o) for "bernoulli", o for "gaussian"."""
        self._check_h(h)
        o, _ = F.dense_forward(h, self.V, self.decoder.params["b"])
        return F.sigmoid(o, out=o) if self.output == "bernoulli" else o

    def reconstruct(self, x):
        """x : (N, D) -> x^ : (N, D), no noise (a denoising autoencoder is *used* on clean data)."""
        return self.decode(self.encode(x))

    def jacobian(self, x):
        """Encoder Jacobian dh/dx per example: x : (N, D) -> J : (N, H, D), J_nji = f'(a_nj) W_ij"""
        self.check_x(x)
        a, _ = self.encoder.forward(x)
        h, cache = self.act.forward(a, out=a)
        fprime = self.act.backward(np.ones_like(h), cache)
        return fprime[:, :, None] * self.W.T[None]

    # ------------------------------------------------------------------ the objective

    def _noise(self, x, rng, eps):
        """The encoder's input x~ (x itself here; the denoising subclass masks it)."""
        if eps is not None and not (isinstance(eps, np.ndarray) and eps.size == 0):
            raise ValueError(f"eps must be None for a {type(self).__name__} (it has no noise)")
        return x

    def _penalty(self, h):
        """Extra loss term on the code -> (value, dh, da, dW): None where it adds nothing."""
        return 0.0, None, None, None

    def _recon(self, x, o):
        """(N,) reconstruction loss per example, and x^ (for the output gradient x^ - x)."""
        if self.output == "bernoulli":
            return -D.bernoulli_log_likelihood(x, o), F.sigmoid(o)
        r = np.subtract(x, o)
        r *= r
        return 0.5 * r.sum(axis=1), o

    def forward_backward(self, x, x_in, need_grad=True):
        """One pass (no argument checks: use ``loss_and_grad``/``loss`` for checked input).

        x : (N, D) the clean target;  x_in : (N, D) what the encoder sees (x, or m * x).

        -> dict with "loss" (float: mean reconstruction + penalty + weight decay), "recon" (N,),
           "penalty" (float) and "h" (N, H).  With ``need_grad`` the gradient is written into
           ``self.grads``.
        """
        n = x.shape[0]
        a, enc_cache = self.encoder.forward(x_in)
        h, act_cache = self.act.forward(a, out=a)        # a itself is not needed again
        V, c = self.V, self.decoder.params["b"]
        o, dec_cache = F.dense_forward(h, V, c)
        recon, xhat = self._recon(x, o)
        pen, dh_pen, da_pen, dW_pen = self._penalty(h)
        loss = float(recon.mean()) + pen
        if self.weight_decay:
            loss += 0.5 * self.weight_decay * float(np.vdot(self.W, self.W)
                                                    + (0 if self.tied else np.vdot(V, V)))
        result = {"loss": loss, "recon": recon, "penalty": pen, "h": h}
        if not need_grad:
            return result

        do = np.subtract(xhat, x)
        do *= 1.0 / n
        if self.tied:
            dh, dVt = do @ self.W, do.T @ h                    # dV^T = (h^T do)^T, (D, H)
            np.sum(do, axis=0, out=self.decoder.grads["b"])
        else:
            dh = self.decoder.backward(do, dec_cache)
        if dh_pen is not None:
            dh += dh_pen
        da = self.act.backward(dh, act_cache, out=dh)
        if da_pen is not None:
            da += da_pen
        self.encoder.backward(da, enc_cache, need_dx=False)
        dW = self.encoder.grads["W"]
        if self.tied:
            dW += dVt
        if dW_pen is not None:
            dW += dW_pen
        if self.weight_decay:
            dW += self.weight_decay * self.W
            if not self.tied:
                self.decoder.grads["W"] += self.weight_decay * V
        return result

    def loss_and_grad(self, x, rng=None, eps=None):
        """x : (N, D) -> (loss, grad): the loss in nats per example (+ penalties) and the flat
        gradient ``self.grads`` (overwritten by the next call).  ``rng`` draws the noise of a
        denoising autoencoder; ``eps`` gives that noise fixed instead (see ``noise_shape``)."""
        self.check_x(x)
        x_in = self._noise(x, rng, eps)
        return self.forward_backward(x, x_in)["loss"], self.grads

    def loss(self, x, rng=None, eps=None):
        """The loss alone (no backward pass)."""
        self.check_x(x)
        return self.forward_backward(x, self._noise(x, rng, eps), need_grad=False)["loss"]

    def __repr__(self):
        return (f"{type(self).__name__}({self.x_dim}, {self.hidden_dim}, output={self.output!r}, "
                f"activation={self.activation!r}, tied={self.tied}, params={self.params.size})")


class DenoisingAutoencoder(Autoencoder):
    """Masking noise: the encoder sees ``x~ = m * x`` with each m_nd = 0 with probability q
    (``noise_rate``), and the loss compares the reconstruction with the clean x.

    The noise is an input: ``loss_and_grad(x, rng)`` draws m from rng, ``loss_and_grad(x, eps=m)``
    uses a fixed keep-mask m : (N, D) of 0s and 1s (for gradient checks).
    """

    def __init__(self, x_dim, hidden_dim, noise_rate=0.25, **kwargs):
        q = check_positive_float(noise_rate, "noise_rate", allow_zero=True)
        if not q < 1:
            raise ValueError(f"noise_rate must be in [0, 1), got {noise_rate}")
        super().__init__(x_dim, hidden_dim, **kwargs)
        self.noise_rate = q

    def noise_shape(self, x, **_):
        """The keep-mask has the shape of x: (N, D)."""
        return x.shape

    def _noise(self, x, rng, eps):
        if eps is None:
            if rng is None:
                raise ValueError("a DenoisingAutoencoder needs rng= (to draw the mask) or eps= "
                                 "(a fixed mask)")
            eps = masking_noise(x.shape, self.noise_rate, rng, self.dtype)
        check_array(eps, "eps", shape=x.shape, dtype=self.dtype)
        if np.any((eps != 0) & (eps != 1)):
            raise ValueError("eps (the keep-mask) must contain only 0s and 1s")
        return x * eps


class SparseAutoencoder(Autoencoder):
    """Sigmoid code with the sparsity penalty ``beta sum_j KL(rho || rho_hat_j)``, rho_hat the batch
    mean of h (see :func:`sparsity_penalty`).  rho : target mean activation in (0, 1)."""

    def __init__(self, x_dim, hidden_dim, rho=0.05, beta=1.0, **kwargs):
        if kwargs.get("activation", "sigmoid") != "sigmoid":
            raise ValueError("activation must be 'sigmoid' for a SparseAutoencoder (rho_hat is a "
                             "mean activation in (0, 1))")
        self.rho = _check_rho(rho)
        self.beta = check_positive_float(beta, "beta", allow_zero=True)
        super().__init__(x_dim, hidden_dim, **kwargs)

    def _penalty(self, h):
        value, dh = sparsity_penalty(h, self.rho, self.beta)
        return value, dh, None, None


class ContractiveAutoencoder(Autoencoder):
    """Sigmoid code with the contractive penalty ``lam mean_n ||dh/dx (x_n)||_F^2``
    (see :func:`contractive_penalty`).  W enters twice, through h and directly."""

    def __init__(self, x_dim, hidden_dim, lam=0.1, **kwargs):
        if kwargs.get("activation", "sigmoid") != "sigmoid":
            raise ValueError("activation must be 'sigmoid' for a ContractiveAutoencoder (the "
                             "closed form of ||J||_F uses sigmoid' = h (1 - h))")
        self.lam = check_positive_float(lam, "lam", allow_zero=True)
        super().__init__(x_dim, hidden_dim, **kwargs)

    def _penalty(self, h):
        value, da, dW = contractive_penalty(h, self.W, self.lam)
        return value, None, da, dW


# --------------------------------------------------------------------------------- training


def fit(model, x, rng, epochs=10, batch_size=100, optimizer=None):
    """Minibatch training: each epoch shuffles x (with ``rng``) and takes one optimizer step per
    batch.  ``optimizer`` defaults to Adam(1e-3).  The same ``rng`` draws a denoising model's masks.

    x : (N, D)  ->  list of the mean training loss of each epoch
    """
    model.check_x(x)
    check_rng(rng)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    optimizer = Adam(1e-3) if optimizer is None else optimizer
    if not isinstance(optimizer, Optimizer):
        raise TypeError("optimizer must be a numpyvae.optim optimizer, "
                        f"got {type(optimizer).__name__}")
    n = x.shape[0]
    history = []
    for _ in range(epochs):
        xs = x[rng.permutation(n)]
        total = 0.0
        for i in range(0, n, batch_size):
            batch = xs[i:i + batch_size]
            loss, grad = model.loss_and_grad(batch, rng=rng)
            if not math.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} during training")
            optimizer.step(model.params, grad)
            total += loss * batch.shape[0]
        history.append(total / n)
    return history
