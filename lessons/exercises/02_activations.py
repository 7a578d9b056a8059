"""Exercise 02 · activations: backward passes of ReLU, tanh and sigmoid

Complete the three functions below, then check them:

    numpyvae check 02                            # this file
    numpyvae check 02 --file my_activations.py   # your own copy

Each function gets the upstream gradient dy = ∂L/∂y and the activation's INPUT x
(y = act(x), applied elementwise) and returns dx = ∂L/∂x = dy * act'(x).
"""
import numpy as np


def relu_backward(dy, x):
    """y = max(x, 0), elementwise.

    dy, x : (N, D) float64   ->   dx : (N, D) float64,  dx = dy · relu'(x)
    relu'(x) is 1 where x > 0 and 0 where x < 0 (take 0 at x = 0; the grader never puts x at 0).
    """
    raise NotImplementedError(
        "Exercise 02 (activations): relu_backward not implemented yet — hint: the derivative "
        "is a 0/1 mask; multiply it by dy")


def tanh_backward(dy, x):
    """y = tanh(x), elementwise.

    dy, x : (N, D) float64   ->   dx : (N, D) float64,  dx = dy · (1 − tanh(x)²)
    """
    raise NotImplementedError(
        "Exercise 02 (activations): tanh_backward not implemented yet — hint: tanh' is "
        "easiest to write in terms of the output y = tanh(x)")


def sigmoid_backward(dy, x):
    """y = σ(x) = 1 / (1 + exp(−x)), elementwise.

    dy, x : (N, D) float64   ->   dx : (N, D) float64,  dx = dy · σ(x) (1 − σ(x))
    (For large negative x, exp(−x) overflows; σ(x) = ½ (1 + tanh(x/2)) is the same number
    without the overflow warning.)
    """
    raise NotImplementedError(
        "Exercise 02 (activations): sigmoid_backward not implemented yet — hint: like tanh, "
        "σ' is a function of the output s = σ(x)")


if __name__ == "__main__":   # python 02_activations.py  is  numpyvae check 02 --file 02_activations.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "02", "--file", __file__]))
