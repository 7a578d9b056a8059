"""Exercise 03 · softplus: backward pass of y = log(1 + exp(x))

Complete ``softplus_backward`` below, then check it:

    numpyvae check 03                           # this file
    numpyvae check 03 --file my_softplus.py     # your own copy

Softplus is a smooth ReLU; it is also the −log of a sigmoid: softplus(x) = −log σ(−x), which is
how it enters the Bernoulli log-likelihood (exercise 04).
"""
import numpy as np


def softplus_backward(dy, x):
    """y = softplus(x) = log(1 + exp(x)), elementwise.

    dy, x : (N, D) float64   ->   dx : (N, D) float64,  dx = dy · softplus'(x)

    The grader includes x = ±30: your formula must not overflow there.
    """
    raise NotImplementedError(
        "Exercise 03 (softplus): not implemented yet — hint: differentiate log(1 + e^x) with "
        "the chain rule, then divide top and bottom by e^x: a familiar function appears")


if __name__ == "__main__":   # python 03_softplus.py  is  numpyvae check 03 --file 03_softplus.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "03", "--file", __file__]))
