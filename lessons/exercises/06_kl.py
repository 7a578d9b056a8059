"""Exercise 06 · the KL divergence of a diagonal Gaussian from N(0, I)

Complete ``kl_std_normal_backward`` below, then check it:

    numpyvae check 06   # this file (from the folder it is in)
    numpyvae check 06 --file my_kl.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

This is the KL term of the VAE's ELBO, in closed form.  ``logvar`` is log σ² (the variance).
The forward pass ``numpyvae.distributions.kl_std_normal_forward(mu, logvar)`` returns, per
example,  KL_n = ½ Σ_j [exp(v_nj) + μ_nj² − 1 − v_nj]  (v = logvar), and the cache (mu, var)
with var = exp(logvar).

Your function has the signature and meaning of the library's own kernel,
``numpyvae.distributions.kl_std_normal_backward``, so it can stand in for it in the real VAE:
when it passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the library's
kernels and once with yours, and compares the loss curves.
"""
import numpy as np


def kl_std_normal_backward(dkl, cache):
    """Gradients of  Σ_n dkl_n · KL_n  w.r.t. μ and v = logvar.

    dkl   : (N,) float64, the upstream gradient: one number per example
    cache : the tuple (mu, var): mu (N, k) float64, var = exp(logvar) (N, k) float64
    Returns a tuple (dmu, dlogvar), each (N, k) float64, each row scaled by its own dkl_n
    (no 1/N here: a mean over the batch belongs to the loss, and arrives inside dkl).
    """
    mu, var = cache
    raise NotImplementedError(
        "Exercise 06 (kl): not implemented yet — hint: each term depends on one μ_nj or one "
        "v_nj only; differentiate the four terms one by one (d exp(v)/dv = exp(v) = var)")


if __name__ == "__main__":   # python 06_kl.py  is  numpyvae check 06 --file 06_kl.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "06", "--file", __file__]))
