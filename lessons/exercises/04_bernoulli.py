"""Exercise 04 · the Bernoulli log-likelihood, differentiated w.r.t. the logits

Complete ``bernoulli_log_likelihood_backward`` below, then check it:

    numpyvae check 04   # this file (from the folder it is in)
    numpyvae check 04 --file my_bernoulli.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

A Bernoulli decoder outputs logits l (not probabilities): p = σ(l).  Then, per example,
    ll = log p(x | l) = Σ_d [x_d log σ(l_d) + (1 − x_d) log(1 − σ(l_d))] = Σ_d [x_d l_d − softplus(l_d)],
which is exact and stable for any logit.  The forward pass
``numpyvae.distributions.bernoulli_log_likelihood_forward(x, logits)`` returns ll, one number per
example, and the cache (x, logits).

Your function has the signature and meaning of the library's own kernel,
``numpyvae.distributions.bernoulli_log_likelihood_backward``, so it can stand in for it in the
real VAE: when it passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the
library's kernels and once with yours, and compares the loss curves.
"""
import numpy as np


def bernoulli_log_likelihood_backward(dll, cache):
    """Gradient w.r.t. the logits of  Σ_n dll_n · ll_n,  ll_n = Σ_d [x_nd l_nd − softplus(l_nd)].

    dll   : (N,) float64, the upstream gradient: one number per example
            (or (S, N) when the logits carry S samples per example, as in the VAE)
    cache : the tuple (x, logits):
            x      : (N, D) float64 in [0, 1]
            logits : (N, D) float64 (or (S, N, D))
    Returns dlogits : float64, the shape of logits: the gradient of the log-likelihood (NOT of
    the loss −log p), each example's row scaled by its own dll_n (no 1/N here: a mean over the
    batch belongs to the loss, and arrives inside dll).

    The grader includes logits of ±30, ±500 and ±1000: your formula must not overflow there.
    """
    x, logits = cache
    raise NotImplementedError(
        "Exercise 04 (bernoulli): not implemented yet — hint: the derivative of softplus is "
        "exercise 03; dll has one entry per row, so give it a trailing axis: dll[..., None]")


if __name__ == "__main__":   # python 04_bernoulli.py  is  numpyvae check 04 --file 04_bernoulli.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "04", "--file", __file__]))
