"""Known-wrong implementations of the exercises: the mistakes students actually make.

Each :class:`Mistake` is a complete, deliberately wrong function with the stub's signature.
The grader runs every one of them on the same inputs as the student's function; when the
student's result for a gradient matches a mistake's result (relative error below the
threshold) and the correct result does not, the grader names that mistake.  The tests also
use them as wrong student files: each must fail, with its own diagnosis.

Besides these, the grader tries the generic variants of every reference gradient
(``-ref``, ``2 ref``, ``ref / 2``, the transpose, ``ref / N``, ``N ref``, zeros); see
:mod:`numpyvae.exercises.grader`.

Diagnosis kinds (the ``kind`` field in ``--json`` output):

=================  ========================================================================
transpose          a missing or extra transpose, or an outer product in the wrong order
sign               the wrong sign (e.g. the gradient of the loss, not the log-likelihood)
factor_2           twice the correct value (e.g. a missing 1/2)
factor_half        half the correct value (e.g. a missing 2 from differentiating a square)
std_vs_variance    the standard deviation used where the variance belongs, or vice versa
wrong_axis         a sum or mean over the wrong axis
missing_bias_grad  the bias gradient is missing (zeros)
batch_mean         divided by the batch size where the exercise sums over the batch
batch_sum          summed over the batch where the exercise averages (a missing 1/N)
missing_upstream   the upstream gradient (dy, dz) is not multiplied in
used_input         the input x used where the output y = f(x) belongs
used_output        the output used where the derivative belongs
missing_term       one term of a sum of contributions is missing
wrong_derivative   the derivative of the wrong function
upper_triangle     the gradient of a triangular factor has nonzero entries above the diagonal
kl_direction       KL(rho_hat || rho) differentiated instead of KL(rho || rho_hat)
zero               the result is all zeros
=================  ========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import solutions as S

KINDS = ("transpose", "sign", "factor_2", "factor_half", "std_vs_variance", "wrong_axis",
         "missing_bias_grad", "batch_mean", "batch_sum", "missing_upstream", "used_input",
         "used_output", "missing_term", "wrong_derivative", "upper_triangle", "kl_direction",
         "zero")


@dataclass(frozen=True)
class Mistake:
    """A wrong implementation of ``function`` (a stub function of exercise ``exercise``).

    kind    : one of :data:`KINDS`
    message : what went wrong, in the words the grader prints
    affects : the gradients this mistake gets wrong (the others come out right)
    """
    exercise: str
    function: str
    impl: Callable
    kind: str
    message: str
    affects: tuple

    @property
    def name(self):
        return self.impl.__name__


MISTAKES: list[Mistake] = []


def mistake(exercise, function, kind, message, affects):
    """Register the decorated wrong implementation."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")

    def register(fn):
        MISTAKES.append(Mistake(exercise, function, fn, kind, message, tuple(affects)))
        return fn
    return register


def for_function(exercise, function):
    """The registered mistakes of one stub function, in registration order."""
    return [m for m in MISTAKES if m.exercise == exercise and m.function == function]


# ----------------------------------------------------------------------- 01 dense layer


@mistake("dense", "dense_backward", "transpose",
         "dx = dy @ W: the transpose of W is missing; y = x W gives dx = dy W^T (N, D_in)",
         ["dx"])
def dense_backward__dx_no_transpose(dy, x, W, b):
    return dy @ W, x.T @ dy, dy.sum(axis=0)


@mistake("dense", "dense_backward", "transpose",
         "dW = dy^T x is the transpose of the right answer: dW = x^T dy has W's shape (D_in, D_out)",
         ["dW"])
def dense_backward__dW_transposed(dy, x, W, b):
    return dy @ W.T, dy.T @ x, dy.sum(axis=0)


@mistake("dense", "dense_backward", "wrong_axis",
         "db summed over axis 1 (the outputs): b is added to every example, so sum dy over "
         "axis 0 (the batch)", ["db"])
def dense_backward__db_wrong_axis(dy, x, W, b):
    return dy @ W.T, x.T @ dy, dy.sum(axis=1)


@mistake("dense", "dense_backward", "missing_bias_grad",
         "db is all zeros: the bias gradient is missing (db = sum of dy over the batch)", ["db"])
def dense_backward__db_zero(dy, x, W, b):
    return dy @ W.T, x.T @ dy, np.zeros_like(b)


@mistake("dense", "dense_backward", "batch_mean",
         "dW and db are averaged over the batch: the layer's gradients are sums over the batch "
         "(any 1/N belongs to the loss, and arrives inside dy)", ["dW", "db"])
def dense_backward__mean_over_batch(dy, x, W, b):
    n = x.shape[0]
    return dy @ W.T, x.T @ dy / n, dy.sum(axis=0) / n


# ---------------------------------------------------------------------- 02 activations


@mistake("activations", "relu_backward", "used_output",
         "dx = dy * relu(x): the derivative of ReLU is the 0/1 mask [x > 0], not ReLU itself",
         ["dx"])
def relu_backward__output_not_mask(dy, x):
    return dy * np.maximum(x, 0)


@mistake("activations", "relu_backward", "missing_upstream",
         "dx = [x > 0]: the upstream gradient dy is not multiplied in (chain rule)", ["dx"])
def relu_backward__no_upstream(dy, x):
    return (x > 0).astype(x.dtype)


@mistake("activations", "tanh_backward", "missing_term",
         "dx = dy * (1 - tanh(x)): tanh'(x) = 1 - tanh(x)^2, the square is missing", ["dx"])
def tanh_backward__no_square(dy, x):
    return dy * (1 - np.tanh(x))


@mistake("activations", "tanh_backward", "used_input",
         "dx = dy * (1 - x^2): tanh'(x) = 1 - y^2 with y = tanh(x), the OUTPUT, not the input x",
         ["dx"])
def tanh_backward__input_not_output(dy, x):
    return dy * (1 - x * x)


@mistake("activations", "sigmoid_backward", "used_input",
         "dx = dy * x (1 - x): sigmoid'(x) = s (1 - s) with s = sigmoid(x), the OUTPUT, "
         "not the input x", ["dx"])
def sigmoid_backward__input_not_output(dy, x):
    return dy * x * (1 - x)


@mistake("activations", "sigmoid_backward", "missing_term",
         "dx = dy * s: sigmoid'(x) = s (1 - s), the factor (1 - s) is missing", ["dx"])
def sigmoid_backward__no_one_minus(dy, x):
    return dy * S.sigmoid(x)


# ------------------------------------------------------------------------- 03 softplus


@mistake("softplus", "softplus_backward", "sign",
         "dx = dy * sigmoid(-x): the sign inside the sigmoid is wrong; "
         "d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(+x)", ["dx"])
def softplus_backward__sigmoid_of_minus_x(dy, x):
    return dy * S.sigmoid(-x)


@mistake("softplus", "softplus_backward", "wrong_derivative",
         "dx = dy * exp(x): that is the derivative of exp(x); the chain rule through log(1 + e^x) "
         "divides by (1 + e^x)", ["dx"])
def softplus_backward__exp(dy, x):
    return dy * np.exp(x)


@mistake("softplus", "softplus_backward", "used_output",
         "dx = dy * softplus(x): that is the forward pass, not its derivative sigmoid(x)", ["dx"])
def softplus_backward__forward(dy, x):
    return dy * S.softplus(x)


# ------------------------------------------------------------- 04 Bernoulli log-likelihood


@mistake("bernoulli", "bernoulli_loglik_grad", "sign",
         "sigmoid(logits) - x is the gradient of the NEGATIVE log-likelihood (the loss); the "
         "exercise asks for the log-likelihood itself: x - sigmoid(logits)", ["dlogits"])
def bernoulli_loglik_grad__loss_sign(x, logits):
    return S.sigmoid(logits) - x


@mistake("bernoulli", "bernoulli_loglik_grad", "missing_term",
         "x - logits: the derivative of softplus(l) is sigmoid(l), not l", ["dlogits"])
def bernoulli_loglik_grad__no_sigmoid(x, logits):
    return x - logits


@mistake("bernoulli", "bernoulli_loglik_grad", "batch_mean",
         "divided by the batch size: the exercise differentiates sum_n log p(x_n), "
         "each example's gradient is x_n - sigmoid(l_n) with no 1/N", ["dlogits"])
def bernoulli_loglik_grad__mean(x, logits):
    return (x - S.sigmoid(logits)) / x.shape[0]


# -------------------------------------------------------------- 05 Gaussian log-likelihood


@mistake("gaussian", "gaussian_loglik_grad", "std_vs_variance",
         "divided by the standard deviation exp(logvar/2) where the variance exp(logvar) "
         "belongs: logvar is log sigma^2", ["dmean", "dlogvar"])
def gaussian_loglik_grad__std(x, mean, logvar):
    r = x - mean
    inv_std = np.exp(-0.5 * logvar)
    return r * inv_std, 0.5 * (r * r * inv_std - 1)


@mistake("gaussian", "gaussian_loglik_grad", "factor_2",
         "dlogvar = (x - m)^2 / var - 1 is twice the right value: the log-density has "
         "-1/2 in front of both terms", ["dlogvar"])
def gaussian_loglik_grad__dlogvar_no_half(x, mean, logvar):
    r = x - mean
    iv = np.exp(-logvar)
    return r * iv, r * r * iv - 1


@mistake("gaussian", "gaussian_loglik_grad", "missing_term",
         "dlogvar is missing the -1/2 from the normaliser -1/2 logvar: "
         "dlogvar = 1/2 ((x - m)^2 / var - 1)", ["dlogvar"])
def gaussian_loglik_grad__no_normaliser(x, mean, logvar):
    r = x - mean
    iv = np.exp(-logvar)
    return r * iv, 0.5 * r * r * iv


@mistake("gaussian", "gaussian_loglik_grad", "sign",
         "(mean - x) / var is the gradient of the negative log-likelihood; the log-likelihood "
         "grows when the mean moves towards x: dmean = (x - mean) / var", ["dmean"])
def gaussian_loglik_grad__dmean_sign(x, mean, logvar):
    r = x - mean
    iv = np.exp(-logvar)
    return -r * iv, 0.5 * (r * r * iv - 1)


# --------------------------------------------------------------------- 06 KL to N(0, I)


@mistake("kl", "kl_grad", "std_vs_variance",
         "dlogvar uses exp(logvar/2), the standard deviation, where the variance exp(logvar) "
         "belongs: dlogvar = 1/2 (exp(logvar) - 1)", ["dlogvar"])
def kl_grad__std(mu, logvar):
    return mu.copy(), 0.5 * (np.exp(0.5 * logvar) - 1)


@mistake("kl", "kl_grad", "factor_2",
         "dlogvar = exp(logvar) - 1 is twice the right value: the KL has 1/2 in front",
         ["dlogvar"])
def kl_grad__dlogvar_no_half(mu, logvar):
    return mu.copy(), np.exp(logvar) - 1


@mistake("kl", "kl_grad", "factor_2",
         "dmu = 2 mu is twice the right value: d/dmu (1/2 mu^2) = mu", ["dmu"])
def kl_grad__dmu_two(mu, logvar):
    return 2 * mu, 0.5 * (np.exp(logvar) - 1)


@mistake("kl", "kl_grad", "missing_term",
         "dlogvar = 1/2 exp(logvar): the -1/2 from the -logvar term is missing", ["dlogvar"])
def kl_grad__no_minus_one(mu, logvar):
    return mu.copy(), 0.5 * np.exp(logvar)


# ------------------------------------------------------- 07 diagonal reparameterization


@mistake("reparam", "reparam_backward", "std_vs_variance",
         "dlogvar uses exp(logvar), the variance, where the standard deviation exp(logvar/2) "
         "belongs: z = mu + exp(logvar/2) eps, so dz/dlogvar = eps exp(logvar/2) / 2",
         ["dlogvar"])
def reparam_backward__variance(dz, mu, logvar, eps):
    return dz.copy(), dz * eps * 0.5 * np.exp(logvar)


@mistake("reparam", "reparam_backward", "factor_2",
         "dlogvar = dz eps sigma is twice the right value: d exp(logvar/2)/dlogvar = "
         "exp(logvar/2) / 2, the 1/2 is missing", ["dlogvar"])
def reparam_backward__no_half(dz, mu, logvar, eps):
    return dz.copy(), dz * eps * np.exp(0.5 * logvar)


@mistake("reparam", "reparam_backward", "missing_term",
         "dlogvar = dz eps / 2: the factor sigma = exp(logvar/2) from differentiating the "
         "exponential is missing", ["dlogvar"])
def reparam_backward__no_std(dz, mu, logvar, eps):
    return dz.copy(), 0.5 * dz * eps


@mistake("reparam", "reparam_backward", "wrong_derivative",
         "dmu = dz * eps: z depends on mu with slope 1, so dmu = dz", ["dmu"])
def reparam_backward__dmu_eps(dz, mu, logvar, eps):
    return dz * eps, dz * eps * 0.5 * np.exp(0.5 * logvar)


# ------------------------------------------------------------ 08 full-covariance node


@mistake("full_cov", "full_cov_backward", "transpose",
         "dL = tril(eps dz^T): the outer product is in the wrong order; "
         "z_i = sum_j L_ij eps_j gives dL_ij = dz_i eps_j, i.e. tril(dz eps^T)", ["dL"])
def full_cov_backward__outer_transposed(dz, mu, L, eps):
    return dz.copy(), np.tril(eps[:, :, None] * dz[:, None, :])


@mistake("full_cov", "full_cov_backward", "upper_triangle",
         "dL has nonzero entries above the diagonal: only the lower triangle of L is a "
         "parameter (the entries above are fixed at 0), so dL = tril(dz eps^T)", ["dL"])
def full_cov_backward__no_tril(dz, mu, L, eps):
    return dz.copy(), dz[:, :, None] * eps[:, None, :]


@mistake("full_cov", "full_cov_backward", "wrong_axis",
         "dL summed over the batch: each example has its own L_n, so dL keeps the batch axis "
         "(N, k, k)", ["dL"])
def full_cov_backward__summed_batch(dz, mu, L, eps):
    return dz.copy(), np.tril(np.einsum("ni,nj->ij", dz, eps))


# ------------------------------------------------------------ 09 sparse-autoencoder penalty


def _sparse_grad(h, rho, beta, axis=0, reverse=False, mean=True):
    rho_hat = h.mean(axis=axis, keepdims=True)
    if reverse:
        d = beta * (np.log(rho_hat / rho) - np.log((1 - rho_hat) / (1 - rho)))
    else:
        d = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))
    if mean:
        d = d / h.shape[axis]
    return np.broadcast_to(d, h.shape).copy()


@mistake("sparse", "sparse_penalty_grad", "batch_sum",
         "the 1/N is missing: rho_hat_j is the MEAN of h_nj over the batch, so "
         "d rho_hat_j / d h_nj = 1/N", ["dh"])
def sparse_penalty_grad__no_mean(h, rho, beta):
    return _sparse_grad(h, rho, beta, mean=False)


@mistake("sparse", "sparse_penalty_grad", "kl_direction",
         "this is the gradient of KL(rho_hat || rho); the penalty is KL(rho || rho_hat) = "
         "rho log(rho/rho_hat) + (1-rho) log((1-rho)/(1-rho_hat))", ["dh"])
def sparse_penalty_grad__kl_reversed(h, rho, beta):
    return _sparse_grad(h, rho, beta, reverse=True)


@mistake("sparse", "sparse_penalty_grad", "wrong_axis",
         "rho_hat averaged over axis 1 (the hidden units of one example); it is the mean "
         "activation of each unit over the batch, axis 0", ["dh"])
def sparse_penalty_grad__wrong_axis(h, rho, beta):
    return _sparse_grad(h, rho, beta, axis=1)


# ---------------------------------------------------------------- 10 contractive penalty


def _contractive(x, W, b, lam, direct=True, through_h=True, two=2.0, mean=True,
                 transpose=False, zero_db=False):
    n = x.shape[0] if mean else 1
    h = S.sigmoid(x @ W + b)
    s = h * (1 - h)
    w2 = (W * W).sum(axis=0)
    da = (lam / n) * w2 * 2 * s * s * (1 - 2 * h)
    dW = np.zeros_like(W) if not transpose else np.zeros_like(W.T)
    if through_h:
        dW = dW + (da.T @ x if transpose else x.T @ da)
    if direct:
        d = (lam / n) * two * W * (s * s).sum(axis=0)
        dW = dW + (d.T if transpose else d)
    db = np.zeros_like(b) if zero_db else da.sum(axis=0)
    return dW, db


@mistake("contractive", "contractive_penalty_grad", "missing_term",
         "only the direct term: W also acts through h = sigmoid(x W + b), which contributes "
         "x^T da to dW, with da = lam/N * w2 * 2 s^2 (1 - 2h) the pre-activation gradient",
         ["dW"])
def contractive_penalty_grad__direct_only(x, W, b, lam):
    return _contractive(x, W, b, lam, through_h=False)


@mistake("contractive", "contractive_penalty_grad", "missing_term",
         "only the term through h: W also appears directly in sum_i W_ij^2, which contributes "
         "lam/N * 2 W_ij sum_n s_nj^2", ["dW"])
def contractive_penalty_grad__through_h_only(x, W, b, lam):
    return _contractive(x, W, b, lam, direct=False)


@mistake("contractive", "contractive_penalty_grad", "factor_half",
         "the direct term is half the right value: d/dW_ij sum_i W_ij^2 = 2 W_ij", ["dW"])
def contractive_penalty_grad__direct_no_two(x, W, b, lam):
    return _contractive(x, W, b, lam, two=1.0)


@mistake("contractive", "contractive_penalty_grad", "batch_sum",
         "summed over the batch: the penalty is the MEAN of ||J(x_n)||_F^2 over the examples",
         ["dW", "db"])
def contractive_penalty_grad__sum(x, W, b, lam):
    return _contractive(x, W, b, lam, mean=False)


@mistake("contractive", "contractive_penalty_grad", "transpose",
         "dW has shape (H, D): it is the transpose of the right answer (W is (D, H)); "
         "the term through h is x^T da, not da^T x", ["dW"])
def contractive_penalty_grad__transposed(x, W, b, lam):
    return _contractive(x, W, b, lam, transpose=True)


@mistake("contractive", "contractive_penalty_grad", "missing_bias_grad",
         "db is all zeros: b acts through h just as x W does; db = column sums of the "
         "pre-activation gradient", ["db"])
def contractive_penalty_grad__db_zero(x, W, b, lam):
    return _contractive(x, W, b, lam, zero_db=True)


# --------------------------------------------------------- 11 score function vs pathwise


@mistake("estimators", "pathwise_terms", "used_output",
         "returned f(z) = z^2 itself: the pathwise term is the derivative f'(z) dz/dtheta = 2 z",
         ["terms"])
def pathwise_terms__value(theta, eps):
    return (theta + eps) ** 2


@mistake("estimators", "pathwise_terms", "missing_term",
         "2 eps: f' must be evaluated at the sample z = theta + eps, not at eps", ["terms"])
def pathwise_terms__at_eps(theta, eps):
    return 2.0 * eps


@mistake("estimators", "score_function_terms", "wrong_derivative",
         "f(z) z: the score of N(z; theta, 1) is d/dtheta log N = z - theta (= eps), not z",
         ["terms"])
def score_function_terms__z_not_eps(theta, eps):
    z = theta + eps
    return z * z * z


@mistake("estimators", "score_function_terms", "missing_term",
         "the score alone: each term is f(z) times the score, f(z) (z - theta)", ["terms"])
def score_function_terms__no_f(theta, eps):
    return eps.copy()


@mistake("estimators", "score_function_terms", "used_output",
         "f'(z) eps: the score-function term multiplies the VALUE f(z), not its derivative",
         ["terms"])
def score_function_terms__derivative(theta, eps):
    return 2.0 * (theta + eps) * eps


# ------------------------------------------------------------- 12 one-hidden-layer VAE


def _vae_backward(x, eps, params, *, std_vs_var=False, reparam_half=True, kl=True,
                  decoder_sign=1.0, tanh_square=True, mean=True, transpose_w3=False):
    """The reference backward pass of exercise 12 with one mistake switched on."""
    p = params
    _, c = S.vae_forward(x, eps, params)
    n = x.shape[0] if mean else 1
    g = {}

    def dtanh(y):
        return 1 - y * y if tanh_square else 1 - y

    dlogits = decoder_sign * (S.sigmoid(c["logits"]) - x) / n
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
        dmu += c["mu"] / n
        dlogvar += 0.5 * (np.exp(c["logvar"]) - 1) / n
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
    return _vae_backward(x, eps, params, std_vs_var=True)


@mistake("vae", "vae_backward", "factor_2",
         "the 1/2 in dz/dlogvar = eps exp(logvar/2) / 2 is missing",
         ["W_logvar", "b_logvar", "W1", "b1"])
def vae_backward__reparam_no_half(x, eps, params):
    return _vae_backward(x, eps, params, reparam_half=False)


@mistake("vae", "vae_backward", "missing_term",
         "the KL's own gradient is missing: add mu / N to dmu and (exp(logvar) - 1) / (2N) "
         "to dlogvar before back-propagating into the encoder", _ENC)
def vae_backward__no_kl(x, eps, params):
    return _vae_backward(x, eps, params, kl=False)


@mistake("vae", "vae_backward", "sign",
         "the reconstruction gradient has the wrong sign: the loss is -log p(x|z), so "
         "dlogits = (sigmoid(logits) - x) / N", ["W3", "b3", "W2", "b2", *_ENC])
def vae_backward__decoder_sign(x, eps, params):
    return _vae_backward(x, eps, params, decoder_sign=-1.0)


@mistake("vae", "vae_backward", "missing_term",
         "tanh'(a) = 1 - tanh(a)^2: the square is missing", ["W2", "b2", *_ENC])
def vae_backward__tanh_no_square(x, eps, params):
    return _vae_backward(x, eps, params, tanh_square=False)


@mistake("vae", "vae_backward", "batch_sum",
         "the loss is the MEAN over the batch: every gradient needs the 1/N",
         [*_ENC, "W2", "b2", "W3", "b3"])
def vae_backward__sum(x, eps, params):
    return _vae_backward(x, eps, params, mean=False)


@mistake("vae", "vae_backward", "transpose",
         "dW3 = dlogits^T g is the transpose of the right answer: dW3 = g^T dlogits, "
         "the shape of W3 (H, D)", ["W3"])
def vae_backward__W3_transposed(x, eps, params):
    return _vae_backward(x, eps, params, transpose_w3=True)
