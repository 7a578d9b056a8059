"""Exercise 03 · softplus: backward pass of y = log(1 + exp(x))

Complete ``softplus_backward`` below, then check it:

    numpyvae check 03   # this file (from the folder it is in)
    numpyvae check 03 --file my_softplus.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

Softplus is a smooth ReLU; it is also the −log of a sigmoid: softplus(x) = −log σ(−x), which is
how it enters the Bernoulli log-likelihood (exercise 04).

Your function has the signature and meaning of the library's own kernel,
``numpyvae.functional.softplus_backward``, so it can stand in for it in the real VAE: when it
passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the library's kernels
and once with yours, and compares the loss curves.
"""
import numpy as np


def softplus_backward(dy, cache):
    """y = softplus(x) = log(1 + exp(x)), elementwise.

    dy    : (N, D) float64, upstream gradient
    cache : x, (N, D) float64 — the INPUT (what ``numpyvae.functional.softplus_forward`` kept)
    Returns dx : (N, D) float64,  dx = dy · softplus'(x)

    The grader includes x = ±30, ±500 and ±1000: your formula must not overflow there
    (exp(x) is inf in float64 above x ≈ 709.8, and in float32, the training dtype, above 88.7).
    """
    raise NotImplementedError(
        "Exercise 03 (softplus): not implemented yet — hint: differentiate log(1 + e^x) with "
        "the chain rule, then divide top and bottom by e^x: a familiar function appears")


if __name__ == "__main__":   # python 03_softplus.py  is  numpyvae check 03 --file 03_softplus.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "03", "--file", __file__]))
