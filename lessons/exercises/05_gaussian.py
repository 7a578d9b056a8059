"""Exercise 05 · the Gaussian log-likelihood, w.r.t. the mean and the log-variance

Complete ``gaussian_loglik_grad`` below, then check it:

    numpyvae check 05                           # this file
    numpyvae check 05 --file my_gaussian.py     # your own copy

numpyvae's convention: ``logvar`` is log σ², the log of the VARIANCE.  So σ² = exp(logvar) and
the standard deviation is σ = exp(logvar / 2).
"""
import numpy as np


def gaussian_loglik_grad(x, mean, logvar):
    """Gradients of  Σ_n log N(x_n; m_n, diag exp(v_n))  with

        log N(x_n; m_n, diag exp(v_n)) = −½ Σ_d [log 2π + v_nd + (x_nd − m_nd)² exp(−v_nd)].

    x, mean, logvar : (N, D) float64   (v = logvar)
    Returns a tuple (dmean, dlogvar), each (N, D) float64: the gradients of the
    log-likelihood (not of its negative), summed over examples (no 1/N).
    """
    raise NotImplementedError(
        "Exercise 05 (gaussian): not implemented yet — hint: write (x − m)² exp(−v) and "
        "differentiate it w.r.t. m and w.r.t. v separately; keep the −½ in front")


if __name__ == "__main__":   # python 05_gaussian.py  is  numpyvae check 05 --file 05_gaussian.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "05", "--file", __file__]))
