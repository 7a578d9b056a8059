"""Exercise 11 · score-function and pathwise estimators for z ~ N(theta, 1), f = z^2:
``pathwise_terms(theta, eps) -> terms`` and ``score_function_terms(theta, eps) -> terms``.

Stub: ``lessons/exercises/11_estimators.py``.  :mod:`numpyvae.estimators` has the general
estimators; these per-sample terms of the classroom example are written out here.
"""
from __future__ import annotations

import numpy as np

from .base import Case, Exercise, Part, away_from_zero, copy, label, ng
from .mistakes import mistake

STUB = "11_estimators.py"


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


def cases(rng):
    out = []
    for s in [1, 4, 50]:
        theta = float(np.round(rng.uniform(-2.0, 2.0), 3))
        # eps away from 0, where a score-function term is ~0 and its relative error meaningless
        eps = away_from_zero(rng.standard_normal(s))
        out.append(Case(label(S=s, theta=theta), {"theta": theta, "eps": eps}, s))
    return out


def pathwise_numerical(c):
    (eps,) = copy(c, "eps")
    # one copy of theta per sample: entry s of the derivative is d/dtheta f(theta + eps_s)
    theta = np.full(eps.shape, c.inputs["theta"])
    return {"terms": ng(lambda: (theta + eps) ** 2, theta, np.ones_like(eps))}


def score_numerical(c):
    (eps,) = copy(c, "eps")
    z = c.inputs["theta"] + eps                   # the samples, held fixed
    theta = np.full(eps.shape, c.inputs["theta"])

    def log_density():                            # log N(z_s; theta, 1), one per sample
        return -0.5 * np.log(2 * np.pi) - 0.5 * (z - theta) ** 2
    score = ng(log_density, theta, np.ones_like(eps))
    return {"terms": z * z * score}


EXERCISE = Exercise(11, "estimators",
                    "score-function and pathwise estimators for z ~ N(theta, 1), f = z^2", (
    Part("pathwise_terms", ("theta", "eps"), ("terms",), "array",
         "pathwise_terms(theta, eps) -> terms", pathwise_numerical, pathwise_terms),
    Part("score_function_terms", ("theta", "eps"), ("terms",), "array",
         "score_function_terms(theta, eps) -> terms", score_numerical, score_function_terms),
), cases, aliases=("score", "score_function", "pathwise", "reinforce"))


# ----------------------------------------------------------------------- known mistakes

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
