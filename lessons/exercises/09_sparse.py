"""Exercise 09 · the sparse-autoencoder penalty

Complete ``sparse_penalty_grad`` below, then check it:

    numpyvae check 09   # this file (from the folder it is in)
    numpyvae check 09 --file my_sparse.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

A sparse autoencoder keeps each hidden unit mostly off: the mean activation of unit j over the
batch, ρ̂_j = (1/N) Σ_n h_nj, is pulled towards a small target ρ (e.g. 0.05) by the penalty

    P = β Σ_j KL(ρ ‖ ρ̂_j),   KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂)),

the KL between Bernoulli(ρ) and Bernoulli(ρ̂).  The hidden units are sigmoids, so 0 < h < 1.

Choice made here: the gradient is taken w.r.t. the hidden ACTIVATIONS h (the sigmoid outputs),
not the pre-activations a (h = σ(a)).  To go on to a, multiply by σ'(a) = h (1 − h) as in
exercise 02.  P is one number for the whole batch (it is not averaged again).
"""
import numpy as np


def sparse_penalty_grad(h, rho, beta):
    """Gradient of  P = β Σ_j KL(ρ ‖ ρ̂_j)  with  ρ̂_j = mean_n h_nj  (the mean over the batch).

    h    : (N, H) float64, hidden activations in (0, 1)
    rho  : float, the target activation ρ in (0, 1)
    beta : float, the weight β > 0
    Returns dh : (N, H) float64, ∂P/∂h_nj.
    """
    raise NotImplementedError(
        "Exercise 09 (sparse): not implemented yet — hint: first find ∂P/∂ρ̂_j, then "
        "∂ρ̂_j/∂h_nj (what does one example contribute to a mean?)")


if __name__ == "__main__":   # python 09_sparse.py  is  numpyvae check 09 --file 09_sparse.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "09", "--file", __file__]))
