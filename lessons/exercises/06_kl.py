"""Exercise 06 · the KL divergence of a diagonal Gaussian from N(0, I)

Complete ``kl_grad`` below, then check it:

    numpyvae check 06                     # this file
    numpyvae check 06 --file my_kl.py     # your own copy

This is the KL term of the VAE's ELBO, in closed form.  ``logvar`` is log σ² (the variance).
"""
import numpy as np


def kl_grad(mu, logvar):
    """Gradients of  Σ_n KL(N(μ_n, diag exp(v_n)) ‖ N(0, I))  with

        KL_n = ½ Σ_j [exp(v_nj) + μ_nj² − 1 − v_nj].

    mu, logvar : (N, k) float64   (v = logvar)
    Returns a tuple (dmu, dlogvar), each (N, k) float64, summed over examples (no 1/N).
    """
    raise NotImplementedError(
        "Exercise 06 (kl): not implemented yet — hint: each term depends on one μ_nj or one "
        "v_nj only; differentiate the four terms one by one")


if __name__ == "__main__":   # python 06_kl.py  is  numpyvae check 06 --file 06_kl.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "06", "--file", __file__]))
