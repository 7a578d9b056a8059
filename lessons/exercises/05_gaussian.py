"""Exercise 05 · the Gaussian log-likelihood, w.r.t. the mean and the log-variance

Complete ``gaussian_log_likelihood_backward`` below, then check it:

    numpyvae check 05   # this file (from the folder it is in)
    numpyvae check 05 --file my_gaussian.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

numpyvae's convention: ``logvar`` is log σ², the log of the VARIANCE.  So σ² = exp(logvar) and
the standard deviation is σ = exp(logvar / 2).  The forward pass
``numpyvae.distributions.gaussian_log_likelihood_forward(x, mean, logvar)`` returns, per example,

    ll_n = log N(x_n; m_n, diag exp(v_n)) = −½ Σ_d [log 2π + v_nd + (x_nd − m_nd)² exp(−v_nd)]

and the cache (x, mean, logvar, inv_var) with inv_var = exp(−logvar) = 1/σ².

Your function has the signature and meaning of the library's own kernel,
``numpyvae.distributions.gaussian_log_likelihood_backward``, so it can stand in for it in the
real VAE: when it passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the
library's kernels and once with yours, and compares the loss curves.
"""
import numpy as np


def gaussian_log_likelihood_backward(dll, cache):
    """Gradients of  Σ_n dll_n · ll_n  w.r.t. the mean and the log-variance (v = logvar).

    dll   : (N,) float64, the upstream gradient: one number per example (or (S, N) when mean
            and logvar carry S samples per example)
    cache : the tuple (x, mean, logvar, inv_var):
            x (N, D); mean, logvar, inv_var (N, D) or (S, N, D); inv_var = exp(−logvar)
    Returns a tuple (dmean, dlogvar) of float64 arrays, each the shape of mean: the gradients of
    the log-likelihood (not of its negative), each row scaled by its own dll_n (no 1/N).
    """
    x, mean, logvar, inv_var = cache
    raise NotImplementedError(
        "Exercise 05 (gaussian): not implemented yet — hint: write (x − m)² exp(−v) and "
        "differentiate it w.r.t. m and w.r.t. v separately; keep the −½ in front")


if __name__ == "__main__":   # python 05_gaussian.py  is  numpyvae check 05 --file 05_gaussian.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "05", "--file", __file__]))
