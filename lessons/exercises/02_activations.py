"""Exercise 02 · activations: backward passes of ReLU, tanh and sigmoid

Complete the three functions below, then check them:

    numpyvae check 02   # this file (from the folder it is in)
    numpyvae check 02 --file my_activations.py   # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

Each function gets the upstream gradient dy = ∂L/∂y and the cache its forward pass kept.  For
these three the cache is the activation's OUTPUT y = act(x) (applied elementwise), not its
input: each derivative is easiest to write in terms of y.  Return dx = ∂L/∂x = dy · act'(x).

Your function has the signature and meaning of the library's own kernel,
``numpyvae.functional.relu_backward`` (tanh_, sigmoid_), so it can stand in for it in the real
VAE: when it passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the
library's kernels and once with yours, and compares the loss curves.
"""
import numpy as np


def relu_backward(dy, cache):
    """y = max(x, 0), elementwise.

    dy    : (N, D) float64, upstream gradient
    cache : y = relu(x), (N, D) float64 (what ``numpyvae.functional.relu_forward`` kept)
    Returns dx : (N, D) float64,  dx = dy · relu'(x)
    relu'(x) is 1 where x > 0 and 0 where x < 0 (take 0 at x = 0; the grader never puts x at 0).
    """
    raise NotImplementedError(
        "Exercise 02 (activations): relu_backward not implemented yet — hint: the derivative "
        "is a 0/1 mask, and y > 0 exactly where x > 0; multiply it by dy")


def tanh_backward(dy, cache):
    """y = tanh(x), elementwise.

    dy    : (N, D) float64, upstream gradient
    cache : y = tanh(x), (N, D) float64 — already the OUTPUT of tanh
    Returns dx : (N, D) float64,  dx = dy · tanh'(x)
    """
    raise NotImplementedError(
        "Exercise 02 (activations): tanh_backward not implemented yet — hint: write tanh'(x) "
        "in terms of y = tanh(x), which is what you are given")


def sigmoid_backward(dy, cache):
    """y = σ(x) = 1 / (1 + exp(−x)), elementwise.

    dy    : (N, D) float64, upstream gradient
    cache : y = σ(x), (N, D) float64 — already the OUTPUT of the sigmoid
    Returns dx : (N, D) float64,  dx = dy · σ'(x)
    """
    raise NotImplementedError(
        "Exercise 02 (activations): sigmoid_backward not implemented yet — hint: like tanh, "
        "σ' is a function of the output y = σ(x)")


if __name__ == "__main__":   # python 02_activations.py  is  numpyvae check 02 --file 02_activations.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "02", "--file", __file__]))
