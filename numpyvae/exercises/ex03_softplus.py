"""Exercise 03 · softplus y = log(1 + exp(x)): ``softplus_backward(dy, cache) -> dx``,
cache = the INPUT x.

Stub: ``lessons/exercises/03_softplus.py``.
Reference: :func:`numpyvae.functional.softplus_backward`.
The cases include x = +-30, +-500 and +-1000: exp(x) overflows float64 above x ~ 709.8 (and
float32, the training dtype, above 88.7), and a formula such as exp(x) / (1 + exp(x)) then gives
inf / inf = NaN.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .base import Case, Exercise, Part, copy, label, ng, sigmoid, softplus
from .mistakes import mistake

STUB = "03_softplus.py"


def cases(rng):
    out = []
    for n, d in [(1, 3), (3, 3), (4, 7), (6, 5)]:
        out.append(Case(label(N=n, D=d), {"dy": rng.standard_normal((n, d)),
                                          "x": 3.0 * rng.standard_normal((n, d))}, n))
    # large inputs of each sign: a stable formula must not overflow
    x = out[-1].inputs["x"]
    x[0, 0], x[-1, -1], x[1, 1], x[2, 2], x[3, 3], x[4, 4] = 30, -30, 500, -500, 1000, -1000
    return out


def numerical(c):
    dy, x = copy(c, "dy", "x")
    return {"dx": ng(lambda: softplus(x), x, dy)}


EXERCISE = Exercise(3, "softplus", "softplus y = log(1 + exp(x))", (
    Part("softplus_backward", ("dy", "x"), ("dx",), "array",
         "softplus_backward(dy, cache) -> dx,  cache = x", numerical,
         F.softplus_backward, model={"activation": "softplus"}),
), cases, helpers=(F.sigmoid,), aliases=("softplus_grad",))


# ----------------------------------------------------------------------- known mistakes

@mistake("softplus", "softplus_backward", "sign",
         "dx = dy * sigmoid(-x): the sign inside the sigmoid is wrong; "
         "d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(+x)", ["dx"])
def softplus_backward__sigmoid_of_minus_x(dy, cache):
    return dy * sigmoid(-cache)


@mistake("softplus", "softplus_backward", "wrong_derivative",
         "dx = dy * exp(x): that is the derivative of exp(x); the chain rule through "
         "log(1 + e^x) divides by (1 + e^x)", ["dx"])
def softplus_backward__exp(dy, cache):
    with np.errstate(over="ignore"):
        return dy * np.exp(cache)


@mistake("softplus", "softplus_backward", "used_output",
         "dx = dy * softplus(x): that is the forward pass, not its derivative sigmoid(x)", ["dx"])
def softplus_backward__forward(dy, cache):
    return dy * softplus(cache)


@mistake("softplus", "softplus_backward", "overflow",
         "overflow: exp(x) / (1 + exp(x)) is inf / inf = NaN for large x (exp overflows "
         "float64 above x ~ 709.8, float32 above 88.7); the same number without overflow is "
         "1 / (1 + exp(-x)) for x >= 0, exp(x) / (1 + exp(x)) for x < 0, or "
         "0.5 (1 + tanh(x / 2))", ["dx"])
def softplus_backward__overflow(dy, cache):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(cache)
        return dy * e / (1 + e)


@mistake("softplus", "softplus_backward", "missing_upstream",
         "dx = sigmoid(x): the upstream gradient dy is not multiplied in; the chain rule "
         "gives dx = dy * sigmoid(x)", ["dx"])
def softplus_backward__no_upstream(dy, cache):
    return sigmoid(cache)
