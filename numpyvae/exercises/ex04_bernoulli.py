"""Exercise 04 · the Bernoulli log-likelihood w.r.t. the logits:
``bernoulli_log_likelihood_backward(dll, cache) -> dlogits``, cache = ``(x, logits)``.

Stub: ``lessons/exercises/04_bernoulli.py``.  Reference:
:func:`numpyvae.distributions.bernoulli_log_likelihood_backward`.  ``dll`` has one entry per
example, (N,), or per sample and example, (S, N) when the logits carry S samples (S, N, D):
that is how the VAE calls it.  One case has logits of +-30, +-500 and +-1000.
"""
from __future__ import annotations

import numpy as np

from .. import distributions as D
from .base import (STANDIN_CHECK_ARRAY, STANDIN_SIGMOID, Case, Exercise, Part, copy, label,
                   ng, sigmoid, softplus)
from .mistakes import mistake

STUB = "04_bernoulli.py"


def cases(rng):
    out = []
    for s, n, d in [(None, 1, 3), (None, 3, 3), (None, 4, 7), (2, 2, 5), (None, 6, 6)]:
        x = (rng.random((n, d)) < 0.5).astype(np.float64)
        lead = (n,) if s is None else (s, n)
        logits = 2.0 * rng.standard_normal((*lead, d))
        dll = rng.standard_normal(lead)
        out.append(Case(label(N=n, D=d) + ("" if s is None else f", S={s}"),
                        {"dll": dll, "cache": (x, logits), "x": x, "logits": logits}, n))
    big = out[-1].inputs["logits"]
    for i, v in enumerate([30, -30, 500, -500, 1000, -1000]):
        big[i, i] = v
    return out


def numerical(c):
    dll, x, logits = copy(c, "dll", "x", "logits")

    def f():
        return np.sum(x * logits - softplus(logits), axis=-1)
    return {"dlogits": ng(f, logits, dll)}


EXERCISE = Exercise(4, "bernoulli", "the Bernoulli log-likelihood w.r.t. the logits", (
    Part("bernoulli_log_likelihood_backward", ("dll", "cache"), ("dlogits",), "array",
         "bernoulli_log_likelihood_backward(dll, cache) -> dlogits,  cache = (x, logits)",
         numerical, D.bernoulli_log_likelihood_backward, model={}),
), cases, aliases=("bernoulli_loglik_grad", "bernoulli_log_likelihood"),
    helpers=(D.upstream,),
    preamble="import numpy as np\n" + STANDIN_CHECK_ARRAY + STANDIN_SIGMOID)


# ----------------------------------------------------------------------- known mistakes

@mistake("bernoulli", "bernoulli_log_likelihood_backward", "sign",
         "(sigmoid(logits) - x) dll is the gradient of the NEGATIVE log-likelihood (the loss); "
         "this function differentiates the log-likelihood itself: (x - sigmoid(logits)) dll",
         ["dlogits"])
def bernoulli__loss_sign(dll, cache):
    x, logits = cache
    return (sigmoid(logits) - x) * dll[..., None]


@mistake("bernoulli", "bernoulli_log_likelihood_backward", "missing_term",
         "x - logits: the derivative of softplus(l) is sigmoid(l), not l", ["dlogits"])
def bernoulli__no_sigmoid(dll, cache):
    x, logits = cache
    return (x - logits) * dll[..., None]


@mistake("bernoulli", "bernoulli_log_likelihood_backward", "missing_upstream",
         "x - sigmoid(logits) without dll: the upstream gradient (one number per example) is "
         "not multiplied in", ["dlogits"])
def bernoulli__no_upstream(dll, cache):
    x, logits = cache
    return (x - sigmoid(logits)) * np.ones_like(logits)


@mistake("bernoulli", "bernoulli_log_likelihood_backward", "broadcast",
         "dll multiplied without a trailing axis: dll has one entry per example, shape (N,), "
         "so it scales whole rows: (x - sigmoid(logits)) * dll[..., None] (with N = D the "
         "product broadcasts along the wrong axis instead of raising)", ["dlogits"])
def bernoulli__broadcast(dll, cache):
    x, logits = cache
    return (x - sigmoid(logits)) * dll


@mistake("bernoulli", "bernoulli_log_likelihood_backward", "overflow",
         "overflow: exp(l) / (1 + exp(l)) is inf / inf = NaN for large logits (exp overflows "
         "float64 above 709.8, float32 above 88.7); sigmoid(l) = 0.5 (1 + tanh(l / 2)) is the "
         "same number with no overflow", ["dlogits"])
def bernoulli__overflow(dll, cache):
    x, logits = cache
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(logits)
        return (x - e / (1 + e)) * dll[..., None]


@mistake("bernoulli", "bernoulli_log_likelihood_backward", "batch_mean",
         "divided by the batch size: this function's gradient is each example's own, "
         "(x_n - sigmoid(l_n)) dll_n; any 1/N belongs to the loss and arrives inside dll",
         ["dlogits"])
def bernoulli__mean(dll, cache):
    x, logits = cache
    return (x - sigmoid(logits)) * dll[..., None] / x.shape[0]

