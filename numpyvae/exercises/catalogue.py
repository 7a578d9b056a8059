"""The catalogue of gradient-check exercises: what each stub function is, on which inputs the
grader runs it, and how the grader gets the true gradient by central differences.

The grader never trusts the student's forward pass: every numerical gradient here comes from
the forward functions in this module (float64, written out plainly), perturbed one entry at a
time by :func:`numpyvae.gradcheck.numerical_gradient`.

One :class:`Exercise` per stub file ``lessons/exercises/NN_name.py``; an exercise has one or
more :class:`Part` (one stub function each).  Inputs are drawn from a ``numpy.random.Generator``
seeded with ``(seed, exercise number)``, so a run is reproducible.  Every exercise has a case
with batch size 1 (with several entries, so that the relative error is not measured against a
single, possibly tiny, gradient entry), a "square" case (equal sizes, so that a transposed or wrongly-summed
result has the right shape and can be recognised by its values) and cases with odd sizes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..gradcheck import numerical_gradient
from . import mistakes as M
from . import solutions as S

THRESHOLD = 1e-6      # a correct float64 gradient shows ~1e-8 or less; a bug is ~1e-3 or more
STEP = 1e-5           # central-difference step h


@dataclass(frozen=True)
class Case:
    """One set of inputs.  ``inputs`` maps argument names to float64 arrays (or floats);
    ``batch`` is N, the number of examples (or samples), used by the 1/N diagnoses."""
    label: str
    inputs: dict
    batch: int


@dataclass(frozen=True, repr=False)
class Part:
    """One stub function.

    function  : its name in the student's file
    args      : the names of its arguments, in order (keys of ``Case.inputs``)
    outputs   : the names of the gradients it returns, in order
    returns   : "array" (one array), "tuple" (several) or "dict" (keys = ``outputs``)
    signature : how the docs write it, e.g. ``softplus_backward(dy, x) -> dx``
    numerical : ``case -> {output: gradient by central differences}``
    hints     : ``{(output, kind): message}`` replacing a generic diagnosis message
    """
    function: str
    args: tuple
    outputs: tuple
    returns: str
    signature: str
    numerical: Callable
    hints: dict = field(default_factory=dict)

    def __repr__(self):
        return f"<Part {self.signature}>"

    @property
    def reference(self):
        return getattr(S, self.function)

    @property
    def mistakes(self):
        return [m for m in M.MISTAKES if m.function == self.function]


@dataclass(frozen=True, repr=False)
class Exercise:
    number: int
    name: str
    title: str
    parts: tuple
    make_cases: Callable            # rng -> list[Case]
    aliases: tuple = ()
    helpers: tuple = ()             # solution helpers printed by --show-solution

    def __repr__(self):
        return f"<Exercise {self.key}: {', '.join(p.function for p in self.parts)}>"

    @property
    def stub(self):
        return f"{self.number:02d}_{self.name}.py"

    @property
    def key(self):
        return f"{self.number:02d}_{self.name}"

    def cases(self, seed=0):
        return self.make_cases(np.random.default_rng([int(seed), self.number]))


# ======================================================================= forward passes
# The grader's own forward passes, the ground truth for every numerical gradient.

def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _softplus(a):
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def _ng(f, x, dout=None):
    return numerical_gradient(f, x, h=STEP, dout=dout)


def _copy(case, *names):
    return [np.array(case.inputs[n], dtype=np.float64, copy=True) for n in names]


# ----------------------------------------------------------------------- helpers for cases


def _away_from_zero(a, margin=0.05):
    """Move entries of ``a`` away from 0 (ReLU's kink) by at least ``margin``."""
    return np.where(a >= 0, a + margin, a - margin)


def _label(**sizes):
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


# ======================================================================== 01 dense


def _dense_cases(rng):
    out = []
    for n, din, dout in [(1, 1, 1), (3, 3, 3), (2, 4, 5), (5, 3, 2)]:
        out.append(Case(_label(N=n, D_in=din, D_out=dout), {
            "dy": rng.standard_normal((n, dout)), "x": rng.standard_normal((n, din)),
            "W": rng.standard_normal((din, dout)), "b": rng.standard_normal(dout)}, n))
    return out


def _dense_numerical(c):
    dy, x, W, b = _copy(c, "dy", "x", "W", "b")

    def f():
        return x @ W + b
    return {"dx": _ng(f, x, dy), "dW": _ng(f, W, dy), "db": _ng(f, b, dy)}


DENSE = Exercise(1, "dense", "the dense layer y = x W + b", (
    Part("dense_backward", ("dy", "x", "W", "b"), ("dx", "dW", "db"), "tuple",
         "dense_backward(dy, x, W, b) -> (dx, dW, db)", _dense_numerical,
         hints={("db", "zero"): ("missing_bias_grad",
                                 "db is all zeros: the bias gradient is missing "
                                 "(db = dy summed over the batch, axis 0)")}),
), _dense_cases, aliases=("affine", "linear"))


# ==================================================================== 02 activations


def _elementwise_cases(rng, scale=1.5, kink=False):
    out = []
    for n, d in [(1, 3), (3, 3), (4, 7), (6, 5)]:
        x = scale * rng.standard_normal((n, d))
        if kink:
            x = _away_from_zero(x)
        out.append(Case(_label(N=n, D=d), {"dy": rng.standard_normal((n, d)), "x": x}, n))
    return out


def _elementwise_numerical(forward):
    def numerical(c):
        dy, x = _copy(c, "dy", "x")
        return {"dx": _ng(lambda: forward(x), x, dy)}
    return numerical


ACTIVATIONS = Exercise(2, "activations", "ReLU, tanh and sigmoid", (
    Part("relu_backward", ("dy", "x"), ("dx",), "array", "relu_backward(dy, x) -> dx",
         _elementwise_numerical(lambda x: np.maximum(x, 0.0))),
    Part("tanh_backward", ("dy", "x"), ("dx",), "array", "tanh_backward(dy, x) -> dx",
         _elementwise_numerical(np.tanh)),
    Part("sigmoid_backward", ("dy", "x"), ("dx",), "array", "sigmoid_backward(dy, x) -> dx",
         _elementwise_numerical(_sigmoid)),
), lambda rng: _elementwise_cases(rng, kink=True), aliases=("relu", "tanh", "sigmoid"),
    helpers=("sigmoid",))


# ======================================================================== 03 softplus


def _softplus_cases(rng):
    cases = _elementwise_cases(rng, scale=3.0)
    # one large logit of each sign: a stable formula must not overflow
    x = cases[-1].inputs["x"]
    x[0, 0], x[-1, -1] = 30.0, -30.0
    return cases


SOFTPLUS = Exercise(3, "softplus", "softplus y = log(1 + exp(x))", (
    Part("softplus_backward", ("dy", "x"), ("dx",), "array", "softplus_backward(dy, x) -> dx",
         _elementwise_numerical(_softplus)),
), _softplus_cases, helpers=("sigmoid",))


# ================================================================ 04 Bernoulli log-lik


def _bernoulli_cases(rng):
    out = []
    for n, d in [(1, 3), (3, 3), (4, 7), (2, 5)]:
        out.append(Case(_label(N=n, D=d), {
            "x": (rng.random((n, d)) < 0.5).astype(np.float64),
            "logits": 2.0 * rng.standard_normal((n, d))}, n))
    return out


def _bernoulli_numerical(c):
    x, logits = _copy(c, "x", "logits")

    def f():
        return np.sum(x * logits - _softplus(logits))
    return {"dlogits": _ng(f, logits)}


BERNOULLI = Exercise(4, "bernoulli", "the Bernoulli log-likelihood w.r.t. the logits", (
    Part("bernoulli_loglik_grad", ("x", "logits"), ("dlogits",), "array",
         "bernoulli_loglik_grad(x, logits) -> dlogits", _bernoulli_numerical),
), _bernoulli_cases, helpers=("sigmoid",))


# ================================================================= 05 Gaussian log-lik


def _gaussian_cases(rng):
    out = []
    for n, d in [(1, 3), (3, 3), (4, 6), (2, 5)]:
        out.append(Case(_label(N=n, D=d), {
            "x": rng.standard_normal((n, d)), "mean": rng.standard_normal((n, d)),
            "logvar": 0.7 * rng.standard_normal((n, d))}, n))
    return out


def _gaussian_numerical(c):
    x, mean, logvar = _copy(c, "x", "mean", "logvar")

    def f():
        r = x - mean
        return -0.5 * np.sum(np.log(2 * np.pi) + logvar + r * r * np.exp(-logvar))
    return {"dmean": _ng(f, mean), "dlogvar": _ng(f, logvar)}


GAUSSIAN = Exercise(5, "gaussian", "the Gaussian log-likelihood w.r.t. the mean and log-variance", (
    Part("gaussian_loglik_grad", ("x", "mean", "logvar"), ("dmean", "dlogvar"), "tuple",
         "gaussian_loglik_grad(x, mean, logvar) -> (dmean, dlogvar)", _gaussian_numerical),
), _gaussian_cases)


# ========================================================================= 06 KL


def _latent_cases(rng, names):
    out = []
    for n, k in [(1, 3), (3, 3), (4, 2), (2, 1)]:
        inputs = {}
        for name in names:
            scale = 0.7 if name == "logvar" else 1.0
            inputs[name] = scale * rng.standard_normal((n, k))
        out.append(Case(_label(N=n, k=k), inputs, n))
    return out


def _kl_numerical(c):
    mu, logvar = _copy(c, "mu", "logvar")

    def f():
        return 0.5 * np.sum(np.exp(logvar) + mu * mu - 1.0 - logvar)
    return {"dmu": _ng(f, mu), "dlogvar": _ng(f, logvar)}


KL = Exercise(6, "kl", "the diagonal Gaussian KL to N(0, I) w.r.t. mu and log sigma^2", (
    Part("kl_grad", ("mu", "logvar"), ("dmu", "dlogvar"), "tuple",
         "kl_grad(mu, logvar) -> (dmu, dlogvar)", _kl_numerical),
), lambda rng: _latent_cases(rng, ("mu", "logvar")), aliases=("kl_divergence",))


# ================================================================== 07 reparam (diagonal)


def _reparam_numerical(c):
    dz, mu, logvar, eps = _copy(c, "dz", "mu", "logvar", "eps")

    def f():
        return mu + np.exp(0.5 * logvar) * eps
    return {"dmu": _ng(f, mu, dz), "dlogvar": _ng(f, logvar, dz)}


REPARAM = Exercise(7, "reparam", "the diagonal reparameterization node z = mu + exp(logvar/2) eps", (
    Part("reparam_backward", ("dz", "mu", "logvar", "eps"), ("dmu", "dlogvar"), "tuple",
         "reparam_backward(dz, mu, logvar, eps) -> (dmu, dlogvar)", _reparam_numerical),
), lambda rng: _latent_cases(rng, ("dz", "mu", "logvar", "eps")), aliases=("reparameterization",))


# ============================================================== 08 full-covariance node


def _full_cov_cases(rng):
    out = []
    for n, k in [(1, 3), (2, 1), (3, 3), (4, 2)]:
        L = np.tril(rng.standard_normal((n, k, k)), -1)
        d = np.arange(k)
        L[:, d, d] = np.exp(0.3 * rng.standard_normal((n, k)))
        out.append(Case(_label(N=n, k=k), {
            "dz": rng.standard_normal((n, k)), "mu": rng.standard_normal((n, k)), "L": L,
            "eps": rng.standard_normal((n, k))}, n))
    return out


def _full_cov_numerical(c):
    dz, mu, L, eps = _copy(c, "dz", "mu", "L", "eps")

    def f():
        return mu + np.einsum("nij,nj->ni", L, eps)
    k = L.shape[1]
    # z uses every entry of L; only the lower triangle is a parameter of the model
    return {"dmu": _ng(f, mu, dz), "dL": _ng(f, L, dz) * np.tril(np.ones((k, k)))}


FULL_COV = Exercise(8, "full_cov", "the full-covariance node z = mu + L eps", (
    Part("full_cov_backward", ("dz", "mu", "L", "eps"), ("dmu", "dL"), "tuple",
         "full_cov_backward(dz, mu, L, eps) -> (dmu, dL)", _full_cov_numerical),
), _full_cov_cases, aliases=("full-cov", "fullcov", "cholesky"))


# ====================================================================== 09 sparse AE


def _sparse_cases(rng):
    out = []
    for n, h, rho, beta in [(1, 3, 0.1, 3.0), (3, 3, 0.05, 2.0), (6, 4, 0.1, 0.5),
                            (5, 7, 0.2, 1.5)]:
        out.append(Case(_label(N=n, H=h), {
            "h": _sigmoid(0.8 * rng.standard_normal((n, h))), "rho": rho, "beta": beta}, n))
    return out


def _sparse_numerical(c):
    (h,) = _copy(c, "h")
    rho, beta = c.inputs["rho"], c.inputs["beta"]

    def f():
        rho_hat = h.mean(axis=0)
        return beta * np.sum(rho * np.log(rho / rho_hat)
                             + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    return {"dh": _ng(f, h)}


SPARSE = Exercise(9, "sparse", "the sparse-autoencoder penalty beta sum_j KL(rho || rho_hat_j)", (
    Part("sparse_penalty_grad", ("h", "rho", "beta"), ("dh",), "array",
         "sparse_penalty_grad(h, rho, beta) -> dh", _sparse_numerical),
), _sparse_cases, aliases=("sparsity",))


# ================================================================= 10 contractive AE


def _contractive_cases(rng):
    out = []
    for n, d, h, lam in [(1, 2, 3, 0.7), (3, 3, 3, 1.0), (2, 4, 5, 0.3), (5, 3, 2, 2.0)]:
        out.append(Case(_label(N=n, D=d, H=h), {
            "x": rng.standard_normal((n, d)), "W": rng.standard_normal((d, h)),
            "b": 0.5 * rng.standard_normal(h), "lam": lam}, n))
    return out


def _contractive_numerical(c):
    x, W, b = _copy(c, "x", "W", "b")
    lam = c.inputs["lam"]

    def f():
        h = _sigmoid(x @ W + b)
        s = h * (1 - h)
        return lam * np.mean(np.sum(s * s * np.sum(W * W, axis=0), axis=1))
    return {"dW": _ng(f, W), "db": _ng(f, b)}


CONTRACTIVE = Exercise(10, "contractive", "the contractive penalty lam ||J_f(x)||_F^2", (
    Part("contractive_penalty_grad", ("x", "W", "b", "lam"), ("dW", "db"), "tuple",
         "contractive_penalty_grad(x, W, b, lam) -> (dW, db)", _contractive_numerical,
         hints={("db", "zero"): ("missing_bias_grad",
                                 "db is all zeros: b acts through h just as x W does")}),
), _contractive_cases, aliases=("cae",), helpers=("sigmoid",))


# ======================================================================= 11 estimators


def _estimator_cases(rng):
    out = []
    for s in [1, 4, 50]:
        theta = float(np.round(rng.uniform(-2.0, 2.0), 3))
        # eps away from 0, where a score-function term is ~0 and its relative error meaningless
        eps = _away_from_zero(rng.standard_normal(s))
        out.append(Case(_label(S=s, theta=theta), {"theta": theta, "eps": eps}, s))
    return out


def _pathwise_numerical(c):
    (eps,) = _copy(c, "eps")
    # one copy of theta per sample: entry s of the derivative is d/dtheta f(theta + eps_s)
    theta = np.full(eps.shape, c.inputs["theta"])
    return {"terms": _ng(lambda: (theta + eps) ** 2, theta, np.ones_like(eps))}


def _score_numerical(c):
    (eps,) = _copy(c, "eps")
    z = c.inputs["theta"] + eps                   # the samples, held fixed
    theta = np.full(eps.shape, c.inputs["theta"])

    def log_density():                            # log N(z_s; theta, 1), one per sample
        return -0.5 * np.log(2 * np.pi) - 0.5 * (z - theta) ** 2
    score = _ng(log_density, theta, np.ones_like(eps))
    return {"terms": z * z * score}


ESTIMATORS = Exercise(11, "estimators",
                      "score-function and pathwise estimators for z ~ N(theta, 1), f = z^2", (
    Part("pathwise_terms", ("theta", "eps"), ("terms",), "array",
         "pathwise_terms(theta, eps) -> terms", _pathwise_numerical),
    Part("score_function_terms", ("theta", "eps"), ("terms",), "array",
         "score_function_terms(theta, eps) -> terms", _score_numerical),
), _estimator_cases, aliases=("score", "score_function", "pathwise", "reinforce"))


# ============================================================================ 12 VAE

VAE_KEYS = ("W1", "b1", "W_mu", "b_mu", "W_logvar", "b_logvar", "W2", "b2", "W3", "b3")


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
    log_px = np.sum(x * logits - _softplus(logits), axis=1)
    kl = 0.5 * np.sum(np.exp(logvar) + mu * mu - 1.0 - logvar, axis=1)
    return np.mean(kl - log_px)


def _vae_cases(rng):
    out = []
    for n, d, h, k in [(1, 3, 2, 2), (4, 4, 4, 4), (3, 5, 3, 2)]:
        out.append(Case(_label(N=n, D=d, H=h, k=k), {
            "x": (rng.random((n, d)) < 0.5).astype(np.float64),
            "eps": rng.standard_normal((n, k)),
            "params": vae_init(d, h, k, rng)}, n))
    return out


def _vae_numerical(c):
    x, eps = _copy(c, "x", "eps")
    params = {key: v.copy() for key, v in c.inputs["params"].items()}
    return {key: _ng(lambda: vae_loss(x, eps, params), params[key]) for key in VAE_KEYS}


VAE = Exercise(12, "vae", "the full backward pass of a one-hidden-layer VAE", (
    Part("vae_backward", ("x", "eps", "params"), VAE_KEYS, "dict",
         "vae_backward(x, eps, params) -> grads (dict)", _vae_numerical),
), _vae_cases, aliases=("elbo",), helpers=("sigmoid", "softplus", "vae_forward"))


EXERCISES = (DENSE, ACTIVATIONS, SOFTPLUS, BERNOULLI, GAUSSIAN, KL, REPARAM, FULL_COV, SPARSE,
             CONTRACTIVE, ESTIMATORS, VAE)


def _norm(s):
    return str(s).strip().lower().replace("-", "_").removesuffix(".py")


def find_exercise(spec):
    """The exercise named by ``spec``: its number (``3``, ``"03"``), name (``"softplus"``),
    file stem (``"03_softplus"``), an alias or one of its function names.
    Raises ValueError listing the exercises when nothing matches."""
    key = _norm(spec)
    for ex in EXERCISES:
        names = {ex.name, ex.key, *ex.aliases, *(p.function for p in ex.parts)}
        if key in names or (key.isdigit() and int(key) == ex.number):
            return ex
    listing = ", ".join(f"{ex.number:02d} {ex.name}" for ex in EXERCISES)
    raise ValueError(f"no exercise {spec!r}; the exercises are: {listing} (or 'all')")
