"""Exercise 07 · the reparameterization node (diagonal Gaussian)

Complete ``gaussian_backward`` below, then check it:

    numpyvae check 07   # this file (from the folder it is in)
    numpyvae check 07 --file my_reparam.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

The node turns a random draw into a deterministic function of the encoder outputs and of the
noise:  z = μ + σ ε  with  σ = exp(½ logvar)  and  ε ~ N(0, I) given as an INPUT.  With ε held
fixed, the node is an ordinary differentiable function and can be gradient-checked.  The
forward pass ``numpyvae.reparam.gaussian_forward(mu, logvar, eps)`` returns z and the cache
(std, eps) with std = exp(½ logvar).  The VAE draws S samples per example at once: eps, z and
dz may then have a leading sample axis, (S, N, k).

Your function has the signature and meaning of the library's own kernel,
``numpyvae.reparam.gaussian_backward``, so it can stand in for it in the real VAE: when it
passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the library's kernels
and once with yours, and compares the loss curves.
"""
import numpy as np


def gaussian_backward(dz, cache):
    """Gradients of  z = μ + exp(½ logvar) · ε  (elementwise).

    dz    : (N, k) or (S, N, k) float64, upstream gradient ∂L/∂z
    cache : the tuple (std, eps): std = exp(½ logvar) (N, k), eps the fixed noise, the shape of dz
    Returns a tuple (dmu, dlogvar), each (N, k) float64: ∂L/∂μ and ∂L/∂logvar (with a sample
    axis, summed over the samples: every z_s uses the same μ and logvar).
    """
    std, eps = cache
    raise NotImplementedError(
        "Exercise 07 (reparam): not implemented yet — hint: write σ as a function of logvar "
        "first, then use the chain rule through z = μ + σ ε")


if __name__ == "__main__":   # python 07_reparam.py  is  numpyvae check 07 --file 07_reparam.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "07", "--file", __file__]))
