"""Exercise 12 · the whole backward pass of a one-hidden-layer VAE:
``vae_backward(x, eps, params) -> grads`` (a dict with the keys of params).

Stub: ``lessons/exercises/12_vae.py``.  The model is written out in the stub (tanh layers, a
Bernoulli decoder, the closed-form KL), so the reference is written out here too; every piece of
it is one of exercises 01-07.  The grader checks each gradient separately and groups them into
the blocks of the backward pass (:data:`BLOCKS`, in backward order), so that it can name the
first wrong block: the blocks after it in the backward pass are wrong because it is.
"""
from __future__ import annotations

import numpy as np

from .base import Case, Exercise, Part, copy, label, ng, sigmoid, softplus
from .mistakes import mistake

STUB = "12_vae.py"
VAE_KEYS = ("W1", "b1", "W_mu", "b_mu", "W_logvar", "b_logvar", "W2", "b2", "W3", "b3")

# (name, gradients, where the error enters if this is the first wrong block), backward order
BLOCKS = (
    ("the decoder's output layer", ("W3", "b3"),
     "dlogits = (sigmoid(logits) - x) / N (exercise 04 with the loss's sign and 1/N) and "
     "the dense backward of logits = g W3 + b3 (exercise 01)"),
    ("the decoder's hidden layer", ("W2", "b2"),
     "dg = dlogits W3^T, then through tanh: (1 - g^2) (exercise 02), then the dense backward "
     "of z W2 + b2"),
    ("the mean head", ("W_mu", "b_mu"),
     "dz = da2 W2^T, then dmu = dz + mu / N (the node, exercise 07, plus the KL, exercise 06)"),
    ("the log-variance head", ("W_logvar", "b_logvar"),
     "dlogvar = dz eps std / 2 + (exp(logvar) - 1) / (2N) (exercises 07 and 06)"),
    ("the encoder's hidden layer", ("W1", "b1"),
     "dh = dmu W_mu^T + dlogvar W_logvar^T, then through tanh: (1 - h^2), then the dense "
     "backward of x W1 + b1"),
)


def vae_init(D, H, k, rng, scale=0.5):
    """Random float64 parameters for exercise 12: a dict with the keys :data:`VAE_KEYS`."""
    shapes = {"W1": (D, H), "b1": (H,), "W_mu": (H, k), "b_mu": (k,), "W_logvar": (H, k),
              "b_logvar": (k,), "W2": (k, H), "b2": (H,), "W3": (H, D), "b3": (D,)}
    return {key: scale * rng.standard_normal(shapes[key]) for key in VAE_KEYS}


def vae_loss(x, eps, p):
    """The grader's forward pass of exercise 12: mean_n [KL_n - log p(x_n | z_n)]."""
    h = np.tanh(x @ p["W1"] + p["b1"])
    mu = h @ p["W_mu"] + p["b_mu"]
    logvar = h @ p["W_logvar"] + p["b_logvar"]
    z = mu + np.exp(0.5 * logvar) * eps
    logits = np.tanh(z @ p["W2"] + p["b2"]) @ p["W3"] + p["b3"]
    log_px = np.sum(x * logits - softplus(logits), axis=1)
    kl = 0.5 * np.sum(np.exp(logvar) + mu * mu - 1.0 - logvar, axis=1)
    return np.mean(kl - log_px)


def vae_forward(x, eps, params):
    """The forward pass of exercise 12 (the same as in the stub).
    x (N, D) in [0, 1], eps (N, k), params: dict of float64 arrays -> (loss, cache)"""
    p = params
    h = np.tanh(x @ p["W1"] + p["b1"])                       # (N, H)
    mu = h @ p["W_mu"] + p["b_mu"]                           # (N, k)
    logvar = h @ p["W_logvar"] + p["b_logvar"]               # (N, k)
    std = np.exp(0.5 * logvar)
    z = mu + std * eps                                       # (N, k)
    g = np.tanh(z @ p["W2"] + p["b2"])                       # (N, H)
    logits = g @ p["W3"] + p["b3"]                           # (N, D)
    log_px = (x * logits - softplus(logits)).sum(axis=1)     # (N,)
    kl = 0.5 * (np.exp(logvar) + mu * mu - 1.0 - logvar).sum(axis=1)
    loss = float(np.mean(kl - log_px))
    cache = dict(x=x, eps=eps, h=h, mu=mu, logvar=logvar, std=std, z=z, g=g, logits=logits)
    return loss, cache


def vae_backward(x, eps, params):
    """Gradients of ``vae_forward``'s loss = mean_n [KL_n - log p(x_n | z_n)] with eps fixed.
    -> dict with the keys of ``params``, each gradient of the same shape as its parameter"""
    p = params
    _, c = vae_forward(x, eps, params)
    n = x.shape[0]
    grads = {}
    # decoder: the loss is a MEAN over the batch, hence the 1/N
    dlogits = (sigmoid(c["logits"]) - x) / n                 # d(-log p)/dlogits
    grads["W3"] = c["g"].T @ dlogits
    grads["b3"] = dlogits.sum(axis=0)
    da2 = (dlogits @ p["W3"].T) * (1.0 - c["g"] ** 2)        # through tanh
    grads["W2"] = c["z"].T @ da2
    grads["b2"] = da2.sum(axis=0)
    dz = da2 @ p["W2"].T
    # reparameterization node, plus the KL's own gradient
    dmu = dz + c["mu"] / n
    dlogvar = dz * c["eps"] * 0.5 * c["std"] + 0.5 * (np.exp(c["logvar"]) - 1.0) / n
    # encoder
    grads["W_mu"] = c["h"].T @ dmu
    grads["b_mu"] = dmu.sum(axis=0)
    grads["W_logvar"] = c["h"].T @ dlogvar
    grads["b_logvar"] = dlogvar.sum(axis=0)
    da1 = (dmu @ p["W_mu"].T + dlogvar @ p["W_logvar"].T) * (1.0 - c["h"] ** 2)
    grads["W1"] = x.T @ da1
    grads["b1"] = da1.sum(axis=0)
    return {key: grads[key] for key in params}


def cases(rng):
    out = []
    for n, d, h, k in [(1, 3, 2, 2), (4, 4, 4, 4), (3, 5, 3, 2)]:
        out.append(Case(label(N=n, D=d, H=h, k=k), {
            "x": (rng.random((n, d)) < 0.5).astype(np.float64),
            "eps": rng.standard_normal((n, k)),
            "params": vae_init(d, h, k, rng)}, n))
    return out


def numerical(c):
    x, eps = copy(c, "x", "eps")
    params = {key: v.copy() for key, v in c.inputs["params"].items()}
    return {key: ng(lambda: vae_loss(x, eps, params), params[key]) for key in VAE_KEYS}


EXERCISE = Exercise(12, "vae", "the full backward pass of a one-hidden-layer VAE", (
    Part("vae_backward", ("x", "eps", "params"), VAE_KEYS, "dict",
         "vae_backward(x, eps, params) -> grads (dict)", numerical, vae_backward),
), cases, aliases=("elbo",), helpers=(sigmoid, softplus, vae_forward), blocks=BLOCKS)


# ----------------------------------------------------------------------- known mistakes

def wrong_vae_backward(x, eps, params, *, std_vs_var=False, reparam_half=True, kl=True,
                       decoder_sign=1.0, tanh="right", mean=True, transpose_w3=False,
                       kl_mean=True):
    """The reference backward pass of exercise 12 with one mistake switched on."""
    p = params
    _, c = vae_forward(x, eps, params)
    n = x.shape[0] if mean else 1
    n_kl = n if kl_mean else 1
    g = {}

    def dtanh(y):
        return {"right": 1 - y * y, "no_square": 1 - y, "twice": 1 - np.tanh(y) ** 2}[tanh]

    dlogits = decoder_sign * (sigmoid(c["logits"]) - x) / n
    g["W3"] = (dlogits.T @ c["g"]) if transpose_w3 else c["g"].T @ dlogits
    g["b3"] = dlogits.sum(axis=0)
    da2 = (dlogits @ p["W3"].T) * dtanh(c["g"])
    g["W2"] = c["z"].T @ da2
    g["b2"] = da2.sum(axis=0)
    dz = da2 @ p["W2"].T
    scale = np.exp(c["logvar"]) if std_vs_var else c["std"]
    dmu = dz.copy()
    dlogvar = dz * c["eps"] * scale * (0.5 if reparam_half else 1.0)
    if kl:
        dmu += c["mu"] / n_kl
        dlogvar += 0.5 * (np.exp(c["logvar"]) - 1) / n_kl
    g["W_mu"] = c["h"].T @ dmu
    g["b_mu"] = dmu.sum(axis=0)
    g["W_logvar"] = c["h"].T @ dlogvar
    g["b_logvar"] = dlogvar.sum(axis=0)
    da1 = (dmu @ p["W_mu"].T + dlogvar @ p["W_logvar"].T) * dtanh(c["h"])
    g["W1"] = x.T @ da1
    g["b1"] = da1.sum(axis=0)
    return {k: g[k] for k in params}


_ENC = ["W_mu", "b_mu", "W_logvar", "b_logvar", "W1", "b1"]


@mistake("vae", "vae_backward", "std_vs_variance",
         "the reparameterization node uses exp(logvar), the variance, where the standard "
         "deviation exp(logvar/2) belongs: dlogvar += dz eps exp(logvar/2) / 2",
         ["W_logvar", "b_logvar", "W1", "b1"])
def vae_backward__variance(x, eps, params):
    return wrong_vae_backward(x, eps, params, std_vs_var=True)


@mistake("vae", "vae_backward", "factor_2",
         "the 1/2 in dz/dlogvar = eps exp(logvar/2) / 2 is missing",
         ["W_logvar", "b_logvar", "W1", "b1"])
def vae_backward__reparam_no_half(x, eps, params):
    return wrong_vae_backward(x, eps, params, reparam_half=False)


@mistake("vae", "vae_backward", "missing_term",
         "the KL's own gradient is missing: add mu / N to dmu and (exp(logvar) - 1) / (2N) "
         "to dlogvar before back-propagating into the encoder", _ENC)
def vae_backward__no_kl(x, eps, params):
    return wrong_vae_backward(x, eps, params, kl=False)


@mistake("vae", "vae_backward", "batch_size_one",
         "right for batch size 1 only (the N = 1 case passed): the KL's gradient is missing "
         "its 1/N: dmu += mu / N, dlogvar += (exp(logvar) - 1) / (2N)", _ENC)
def vae_backward__kl_no_mean(x, eps, params):
    return wrong_vae_backward(x, eps, params, kl_mean=False)


@mistake("vae", "vae_backward", "sign",
         "the reconstruction gradient has the wrong sign: the loss is -log p(x|z), so "
         "dlogits = (sigmoid(logits) - x) / N", ["W3", "b3", "W2", "b2", *_ENC])
def vae_backward__decoder_sign(x, eps, params):
    return wrong_vae_backward(x, eps, params, decoder_sign=-1.0)


@mistake("vae", "vae_backward", "missing_term",
         "tanh'(a) = 1 - tanh(a)^2: the square is missing", ["W2", "b2", *_ENC])
def vae_backward__tanh_no_square(x, eps, params):
    return wrong_vae_backward(x, eps, params, tanh="no_square")


@mistake("vae", "vae_backward", "applied_twice",
         "tanh applied twice: g and h are already tanh outputs, so tanh' = 1 - g^2 "
         "(not 1 - tanh(g)^2)", ["W2", "b2", *_ENC])
def vae_backward__tanh_twice(x, eps, params):
    return wrong_vae_backward(x, eps, params, tanh="twice")


@mistake("vae", "vae_backward", "batch_sum",
         "the loss is the MEAN over the batch: every gradient needs the 1/N",
         [*_ENC, "W2", "b2", "W3", "b3"])
def vae_backward__sum(x, eps, params):
    return wrong_vae_backward(x, eps, params, mean=False)


@mistake("vae", "vae_backward", "transpose",
         "dW3 = dlogits^T g is the transpose of the right answer: dW3 = g^T dlogits, "
         "the shape of W3 (H, D)", ["W3"])
def vae_backward__W3_transposed(x, eps, params):
    return wrong_vae_backward(x, eps, params, transpose_w3=True)
