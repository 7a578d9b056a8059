"""Reference solutions to the gradient-check exercises in ``lessons/exercises/``.

One function per stub function, with the same name and signature.  Instructors print them with
``numpyvae check EXERCISE --show-solution``.  Each solution writes its formula out in NumPy rather
than calling :mod:`numpyvae.functional` or :mod:`numpyvae.distributions`, so that a student can
read it line by line against the docstring of the stub.

Conventions (as everywhere in numpyvae): examples in rows, ``y = x W + b`` with ``W`` of shape
``(D_in, D_out)``, ``logvar`` = log sigma^2 so that ``std = exp(0.5 * logvar)``.
"""
from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------- helpers


def sigmoid(a):
    """``1 / (1 + exp(-a))`` written as ``0.5 (1 + tanh(a / 2))``: the same number, and no
    overflow warning for very negative ``a``."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def softplus(a):
    """``log(1 + exp(a))`` written as ``max(a, 0) + log1p(exp(-|a|))``: never overflows."""
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


# ----------------------------------------------------------------------- 01 dense layer


def dense_backward(dy, x, W, b):
    """y = x W + b.   dy (N, D_out), x (N, D_in), W (D_in, D_out), b (D_out,)
    -> dx (N, D_in), dW (D_in, D_out), db (D_out,)"""
    dx = dy @ W.T            # y_nk = sum_i x_ni W_ik  =>  dL/dx_ni = sum_k dy_nk W_ik
    dW = x.T @ dy            # dL/dW_ik = sum_n x_ni dy_nk   (a sum over the batch)
    db = dy.sum(axis=0)      # b is added to every row: sum the rows of dy
    return dx, dW, db


# ---------------------------------------------------------------------- 02 activations


def relu_backward(dy, x):
    """y = max(x, 0).   dy, x (N, D) -> dx (N, D) = dy * [x > 0]"""
    return dy * (x > 0)


def tanh_backward(dy, x):
    """y = tanh(x).   dy, x (N, D) -> dx (N, D) = dy * (1 - tanh(x)^2)"""
    y = np.tanh(x)
    return dy * (1.0 - y * y)


def sigmoid_backward(dy, x):
    """y = sigmoid(x).   dy, x (N, D) -> dx (N, D) = dy * s (1 - s),  s = sigmoid(x)"""
    s = sigmoid(x)
    return dy * s * (1.0 - s)


# ------------------------------------------------------------------------- 03 softplus


def softplus_backward(dy, x):
    """y = log(1 + exp(x)).   dy, x (N, D) -> dx (N, D) = dy * sigmoid(x)"""
    return dy * sigmoid(x)   # d/dx log(1 + e^x) = e^x / (1 + e^x) = 1 / (1 + e^-x)


# ------------------------------------------------------------ 04 Bernoulli log-likelihood


def bernoulli_loglik_grad(x, logits):
    """log p(x_n | l_n) = sum_d [x_nd l_nd - softplus(l_nd)].
    x, logits (N, D) -> dlogits (N, D) = x - sigmoid(logits)"""
    return x - sigmoid(logits)


# ------------------------------------------------------------- 05 Gaussian log-likelihood


def gaussian_loglik_grad(x, mean, logvar):
    """log N(x_n; m_n, diag exp(v_n)) = -1/2 sum_d [log 2pi + v_nd + (x_nd - m_nd)^2 exp(-v_nd)].
    x, mean, logvar (N, D) -> dmean, dlogvar (N, D)"""
    r = x - mean
    inv_var = np.exp(-logvar)                 # 1 / sigma^2: logvar is the log of the VARIANCE
    dmean = r * inv_var                       # (x - m) / sigma^2
    dlogvar = 0.5 * (r * r * inv_var - 1.0)   # 1/2 ((x - m)^2 / sigma^2 - 1)
    return dmean, dlogvar


# --------------------------------------------------------------------- 06 KL to N(0, I)


def kl_grad(mu, logvar):
    """KL_n = 1/2 sum_j [exp(v_nj) + mu_nj^2 - 1 - v_nj].
    mu, logvar (N, k) -> dmu (N, k) = mu,  dlogvar (N, k) = 1/2 (exp(logvar) - 1)"""
    dmu = mu.copy()                      # a copy, so that updating dmu later cannot change mu
    dlogvar = 0.5 * (np.exp(logvar) - 1.0)
    return dmu, dlogvar


# --------------------------------------------------------- 07 diagonal reparameterization


def reparam_backward(dz, mu, logvar, eps):
    """z = mu + exp(1/2 logvar) * eps.   dz, mu, logvar, eps (N, k) -> dmu, dlogvar (N, k)"""
    std = np.exp(0.5 * logvar)           # sigma = exp(logvar / 2), NOT exp(logvar)
    dmu = dz.copy()                      # dz/dmu = 1
    dlogvar = dz * eps * 0.5 * std       # dz/dlogvar = eps * d sigma/d logvar = eps * sigma / 2
    return dmu, dlogvar


# ------------------------------------------------------------ 08 full-covariance node


def full_cov_backward(dz, mu, L, eps):
    """z_n = mu_n + L_n eps_n.   dz, mu, eps (N, k), L (N, k, k) lower-triangular
    -> dmu (N, k),  dL (N, k, k) = tril(dz_n eps_n^T)"""
    dmu = dz.copy()
    outer = dz[:, :, None] * eps[:, None, :]   # outer[n, i, j] = dz[n, i] * eps[n, j]
    dL = np.tril(outer)                        # only the lower triangle of L is a parameter
    return dmu, dL


# ------------------------------------------------------------- 09 sparse-autoencoder penalty


def sparse_penalty_grad(h, rho, beta):
    """P = beta sum_j KL(rho || rho_hat_j),  rho_hat = mean of h over the batch (axis 0).
    h (N, H) sigmoid activations in (0, 1), rho, beta floats -> dh (N, H)"""
    n = h.shape[0]
    rho_hat = h.mean(axis=0)                               # (H,)
    dp_drho_hat = beta * (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat))
    # d rho_hat_j / d h_nj = 1/N for every row n: broadcast over the rows
    return np.broadcast_to(dp_drho_hat / n, h.shape).copy()


# ---------------------------------------------------------------- 10 contractive penalty


def contractive_penalty_grad(x, W, b, lam):
    """P = lam * mean_n ||J(x_n)||_F^2 with h = sigmoid(x W + b),
    ||J(x_n)||_F^2 = sum_j (h_nj (1 - h_nj))^2 sum_i W_ij^2.
    x (N, D), W (D, H), b (H,), lam float -> dW (D, H), db (H,)"""
    n = x.shape[0]
    h = sigmoid(x @ W + b)                 # (N, H)
    s = h * (1.0 - h)                      # sigmoid'(a) = h (1 - h)
    w2 = (W * W).sum(axis=0)               # (H,)  sum_i W_ij^2
    # through h: d(s^2)/da = 2 s ds/dh dh/da = 2 s (1 - 2h) s
    da = (lam / n) * w2 * 2.0 * s * s * (1.0 - 2.0 * h)     # (N, H)
    # directly: d(sum_i W_ij^2)/dW_ij = 2 W_ij, weighted by mean_n s_nj^2
    dW = x.T @ da + (lam / n) * 2.0 * W * (s * s).sum(axis=0)
    db = da.sum(axis=0)
    return dW, db


# --------------------------------------------------------- 11 score function vs pathwise


def pathwise_terms(theta, eps):
    """z = theta + eps, f(z) = z^2.  theta float, eps (S,) -> (S,): d/dtheta f(theta + eps_s)"""
    z = theta + eps
    return 2.0 * z                         # f'(z) * dz/dtheta = 2 z * 1


def score_function_terms(theta, eps):
    """z = theta + eps ~ N(theta, 1), f(z) = z^2.  theta float, eps (S,)
    -> (S,): f(z_s) * d/dtheta log N(z_s; theta, 1)"""
    z = theta + eps
    score = z - theta                      # d/dtheta [-(z - theta)^2 / 2] = z - theta = eps
    return z * z * score


# ------------------------------------------------------------- 12 one-hidden-layer VAE


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
