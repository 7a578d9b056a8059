"""Exercise 04 · the Bernoulli log-likelihood, differentiated w.r.t. the logits

Complete ``bernoulli_loglik_grad`` below, then check it:

    numpyvae check 04                            # this file
    numpyvae check 04 --file my_bernoulli.py     # your own copy

A Bernoulli decoder outputs logits l (not probabilities): p = σ(l).  Then
    log p(x | l) = Σ_d [x_d log σ(l_d) + (1 − x_d) log(1 − σ(l_d))] = Σ_d [x_d l_d − softplus(l_d)],
which is exact and stable for any logit.
"""
import numpy as np


def bernoulli_loglik_grad(x, logits):
    """Gradient of  Σ_n log p(x_n | l_n),  log p(x_n | l_n) = Σ_d [x_nd l_nd − softplus(l_nd)].

    x      : (N, D) float64 in {0, 1}
    logits : (N, D) float64
    Returns dlogits : (N, D) float64, the gradient of the log-likelihood (NOT of the loss
    −log p) summed over examples, so each row is that example's own gradient (no 1/N).
    """
    raise NotImplementedError(
        "Exercise 04 (bernoulli): not implemented yet — hint: the derivative of softplus is "
        "exercise 03")


if __name__ == "__main__":   # python 04_bernoulli.py  is  numpyvae check 04 --file 04_bernoulli.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "04", "--file", __file__]))
