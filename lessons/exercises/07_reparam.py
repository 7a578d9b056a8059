"""Exercise 07 · the reparameterization node (diagonal Gaussian)

Complete ``reparam_backward`` below, then check it:

    numpyvae check 07                          # this file
    numpyvae check 07 --file my_reparam.py     # your own copy

The node turns a random draw into a deterministic function of the encoder outputs and of the
noise:  z = μ + σ ε  with  σ = exp(½ logvar)  and  ε ~ N(0, I) given as an INPUT.  With ε held
fixed, the node is an ordinary differentiable function and can be gradient-checked.
"""
import numpy as np


def reparam_backward(dz, mu, logvar, eps):
    """Gradients of  z = μ + exp(½ logvar) · ε  (elementwise).

    dz     : (N, k) float64   upstream gradient ∂L/∂z
    mu     : (N, k) float64
    logvar : (N, k) float64   log σ² (the log of the VARIANCE)
    eps    : (N, k) float64   the fixed noise
    Returns a tuple (dmu, dlogvar), each (N, k) float64: ∂L/∂μ and ∂L/∂logvar.
    """
    raise NotImplementedError(
        "Exercise 07 (reparam): not implemented yet — hint: write σ as a function of logvar "
        "first, then use the chain rule through z = μ + σ ε")


if __name__ == "__main__":   # python 07_reparam.py  is  numpyvae check 07 --file 07_reparam.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "07", "--file", __file__]))
