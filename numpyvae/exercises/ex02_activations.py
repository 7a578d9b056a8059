"""Exercise 02 · ReLU, tanh and sigmoid: ``relu_backward / tanh_backward / sigmoid_backward
(dy, cache) -> dx``, cache = the activation's OUTPUT y.

Stub: ``lessons/exercises/02_activations.py``.  References: :mod:`numpyvae.functional`'s own
kernels (the layers of :mod:`numpyvae.layers` call them).
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .base import Case, Exercise, Part, away_from_zero, copy, label, ng, sigmoid
from .mistakes import mistake

STUB = "02_activations.py"

_FORWARD = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh, "sigmoid": sigmoid}


def cases(rng):
    out = []
    for n, d in [(1, 3), (3, 3), (4, 7), (6, 5)]:
        x = away_from_zero(1.5 * rng.standard_normal((n, d)))    # never at ReLU's kink
        inputs = {"dy": rng.standard_normal((n, d)), "x": x}
        for name, f in _FORWARD.items():
            inputs[f"y_{name}"] = f(x)
        out.append(Case(label(N=n, D=d), inputs, n))
    return out


def _numerical(name):
    def numerical(c):
        dy, x = copy(c, "dy", "x")
        return {"dx": ng(lambda: _FORWARD[name](x), x, dy)}
    return numerical


def _part(name, reference, model):
    return Part(f"{name}_backward", ("dy", f"y_{name}"), ("dx",), "array",
                f"{name}_backward(dy, cache) -> dx,  cache = y = {name}(x)", _numerical(name),
                reference, model=model)


EXERCISE = Exercise(2, "activations", "ReLU, tanh and sigmoid", (
    _part("relu", F.relu_backward, {}),                  # the course VAE's activation
    _part("tanh", F.tanh_backward, {"activation": "tanh"}),
    _part("sigmoid", F.sigmoid_backward, {"activation": "sigmoid"}),
), cases, aliases=("relu", "tanh", "sigmoid"))


# ----------------------------------------------------------------------- known mistakes

@mistake("activations", "relu_backward", "used_output",
         "dx = dy * y: the derivative of ReLU is the 0/1 mask [y > 0], not the output y itself",
         ["dx"])
def relu_backward__output_not_mask(dy, cache):
    return dy * cache


@mistake("activations", "relu_backward", "missing_upstream",
         "dx = [y > 0]: the upstream gradient dy is not multiplied in (chain rule)", ["dx"])
def relu_backward__no_upstream(dy, cache):
    return (cache > 0).astype(np.float64)


@mistake("activations", "relu_backward", "wrong_derivative",
         "dx = dy * [y >= 0] = dy: y = relu(x) is never negative, so the mask must be [y > 0]",
         ["dx"])
def relu_backward__ge(dy, cache):
    return dy * (cache >= 0)


@mistake("activations", "tanh_backward", "applied_twice",
         "dx = dy * (1 - tanh(y)^2): tanh applied twice. The cache is already the output "
         "y = tanh(x), so tanh'(x) = 1 - y^2", ["dx"])
def tanh_backward__twice(dy, cache):
    return dy * (1 - np.tanh(cache) ** 2)


@mistake("activations", "tanh_backward", "missing_term",
         "dx = dy * (1 - y): tanh'(x) = 1 - y^2 with y = tanh(x), the square is missing", ["dx"])
def tanh_backward__no_square(dy, cache):
    return dy * (1 - cache)


@mistake("activations", "tanh_backward", "wrong_derivative",
         "dx = dy * y (1 - y): that is the sigmoid's derivative; tanh'(x) = 1 - y^2", ["dx"])
def tanh_backward__sigmoid_formula(dy, cache):
    return dy * cache * (1 - cache)


@mistake("activations", "sigmoid_backward", "applied_twice",
         "dx = dy * s(y) (1 - s(y)): the sigmoid applied twice. The cache is already the output "
         "y = sigmoid(x), so sigmoid'(x) = y (1 - y)", ["dx"])
def sigmoid_backward__twice(dy, cache):
    s = sigmoid(cache)
    return dy * s * (1 - s)


@mistake("activations", "sigmoid_backward", "missing_term",
         "dx = dy * y: sigmoid'(x) = y (1 - y), the factor (1 - y) is missing", ["dx"])
def sigmoid_backward__no_one_minus(dy, cache):
    return dy * cache


@mistake("activations", "sigmoid_backward", "wrong_derivative",
         "dx = dy * (1 - y^2): that is tanh's derivative; sigmoid'(x) = y (1 - y)", ["dx"])
def sigmoid_backward__tanh_formula(dy, cache):
    return dy * (1 - cache * cache)
