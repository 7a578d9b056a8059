"""Exercise 01 · the dense layer: backward pass of y = x W + b

Complete ``dense_backward`` below, then check it:

    numpyvae check 01   # this file (from the folder it is in)
    numpyvae check 01 --file my_dense.py       # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

Conventions: examples are rows.  The lecture writes a layer as h = W x + b with column vectors;
here the same layer is y = x W + b with W of shape (D_in, D_out), i.e. our W is the lecture's Wᵀ.

Your function has the signature and meaning of the library's own kernel,
``numpyvae.functional.dense_backward``, so it can stand in for it in the real VAE: when it
passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the library's kernels
and once with yours, and compares the loss curves.
"""
import numpy as np


def dense_backward(dy, cache):
    """Gradients of the dense layer  y = x W + b  (y_nk = Σ_i x_ni W_ik + b_k).

    Arguments (float64 arrays)
        dy    : (N, D_out)   upstream gradient ∂L/∂y
        cache : the tuple (x, W) that the forward pass
                ``numpyvae.functional.dense_forward(x, W, b)`` kept:
                x (N, D_in) the layer's input, W (D_in, D_out)

    Returns a tuple (dx, dW, db), float64:
        dx : (N, D_in)       ∂L/∂x
        dW : (D_in, D_out)   ∂L/∂W   (summed over the N examples)
        db : (D_out,)        ∂L/∂b   (summed over the N examples)

    Each gradient has the shape of the thing it is the gradient of.
    """
    x, W = cache
    raise NotImplementedError(
        "Exercise 01 (dense): not implemented yet — hint: write y_nk = Σ_i x_ni W_ik + b_k, "
        "differentiate one entry, then turn the sums into matrix products whose shapes match "
        "x, W and b")


if __name__ == "__main__":   # python 01_dense.py  is  numpyvae check 01 --file 01_dense.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "01", "--file", __file__]))
