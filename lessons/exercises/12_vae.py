"""Exercise 12 · the full backward pass of a one-hidden-layer VAE

Complete ``vae_backward`` below, then check it:

    numpyvae check 12   # this file (from the folder it is in)
    numpyvae check 12 --file my_vae.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

The model (tanh hidden layers, Bernoulli decoder; examples in rows, y = x W + b):

    h      = tanh(x W1 + b1)                     (N, H)     encoder
    μ      = h W_mu + b_mu                       (N, k)
    logvar = h W_logvar + b_logvar               (N, k)     log σ²
    z      = μ + exp(½ logvar) · ε               (N, k)     ε fixed (given)
    g      = tanh(z W2 + b2)                     (N, H)     decoder
    logits = g W3 + b3                           (N, D)
    loss   = (1/N) Σ_n [ KL_n − log p(x_n | logits_n) ]
             log p(x | l) = Σ_d [x_d l_d − softplus(l_d)],   KL_n = ½ Σ_j [exp(v) + μ² − 1 − v]

``vae_forward`` below computes it (complete; do not change it: the grader uses its own copy).
Every piece of the backward pass is one of exercises 01–07.
"""
import numpy as np


def softplus(a):
    """log(1 + exp(a)), stable for any a."""
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def sigmoid(a):
    """1 / (1 + exp(−a)) without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def vae_forward(x, eps, params):
    """The forward pass.  x (N, D) in {0, 1}, eps (N, k), params: dict of float64 arrays
        W1 (D, H), b1 (H,), W_mu (H, k), b_mu (k,), W_logvar (H, k), b_logvar (k,),
        W2 (k, H), b2 (H,), W3 (H, D), b3 (D,).
    Returns (loss, cache): loss a float, cache a dict of the intermediate arrays."""
    p = params
    h = np.tanh(x @ p["W1"] + p["b1"])
    mu = h @ p["W_mu"] + p["b_mu"]
    logvar = h @ p["W_logvar"] + p["b_logvar"]
    std = np.exp(0.5 * logvar)
    z = mu + std * eps
    g = np.tanh(z @ p["W2"] + p["b2"])
    logits = g @ p["W3"] + p["b3"]
    log_px = (x * logits - softplus(logits)).sum(axis=1)
    kl = 0.5 * (np.exp(logvar) + mu * mu - 1.0 - logvar).sum(axis=1)
    loss = float(np.mean(kl - log_px))
    cache = dict(x=x, eps=eps, h=h, mu=mu, logvar=logvar, std=std, z=z, g=g, logits=logits)
    return loss, cache


def vae_backward(x, eps, params):
    """Gradients of ``vae_forward``'s loss w.r.t. every parameter, with eps held fixed.

    x : (N, D) float64,  eps : (N, k) float64,  params : dict as in ``vae_forward``
    Returns a dict with exactly the keys of ``params``; grads[key] is float64 with the shape of
    params[key].  Remember: the loss is a MEAN over the batch, and z feeds both the decoder and
    (through μ and logvar) the KL term.
    """
    raise NotImplementedError(
        "Exercise 12 (vae): not implemented yet — hint: call vae_forward for the cache, then "
        "go backwards: dlogits (exercise 04, with the loss's sign and 1/N) → W3, b3 → tanh → "
        "W2, b2 → dz → reparameterization (07) + the KL's own gradient (06) → W_mu, W_logvar → "
        "tanh → W1, b1")


if __name__ == "__main__":   # python 12_vae.py  is  numpyvae check 12 --file 12_vae.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "12", "--file", __file__]))
