"""Exercise 11 · score-function and pathwise gradient estimators

Complete ``pathwise_terms`` and ``score_function_terms`` below, then check them:

    numpyvae check 11   # this file (from the folder it is in)
    numpyvae check 11 --file my_estimators.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

The classroom example: z ~ N(θ, 1) and f(z) = z².  We want  d/dθ E[f(z)]  (= 2θ exactly,
since E[z²] = θ² + 1).  Both estimators average per-sample terms over samples z_s = θ + ε_s:

  pathwise (reparameterization):  term_s = d/dθ f(θ + ε_s)  = f'(z_s) · ∂z/∂θ
  score function (REINFORCE):     term_s = f(z_s) · ∂/∂θ log N(z_s; θ, 1)   (z_s held fixed)

How this is "gradient-checked": the grader computes each per-sample term again by central
differences, sample by sample: d/dθ f(θ + ε_s) for the pathwise term, and
f(z_s) · d/dθ log N(z_s; θ, 1) for the score-function term.  Return the per-sample terms,
not their mean.
"""
import numpy as np


def pathwise_terms(theta, eps):
    """Pathwise per-sample terms for f(z) = z², z = θ + ε.

    theta : float
    eps   : (S,) float64, the standard-normal noise
    Returns (S,) float64: term_s = d/dθ f(θ + ε_s).
    """
    raise NotImplementedError(
        "Exercise 11 (estimators): pathwise_terms not implemented yet — hint: the chain rule "
        "through z = θ + ε; ∂z/∂θ = 1")


def score_function_terms(theta, eps):
    """Score-function per-sample terms for f(z) = z², z = θ + ε ~ N(θ, 1).

    theta : float
    eps   : (S,) float64, the standard-normal noise (z_s = θ + ε_s)
    Returns (S,) float64: term_s = f(z_s) · ∂/∂θ log N(z_s; θ, 1).
    log N(z; θ, 1) = −½ log 2π − ½ (z − θ)².
    """
    raise NotImplementedError(
        "Exercise 11 (estimators): score_function_terms not implemented yet — hint: "
        "differentiate the log-density w.r.t. θ with z held fixed, then multiply by f(z)")


if __name__ == "__main__":   # python 11_estimators.py  is  numpyvae check 11 --file 11_estimators.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "11", "--file", __file__]))
