"""Exercise 10 · the contractive-autoencoder penalty

Complete ``contractive_penalty_grad`` below, then check it:

    numpyvae check 10   # this file (from the folder it is in)
    numpyvae check 10 --file my_contractive.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

A contractive autoencoder penalises how fast its code h = σ(x W + b) changes with the input:
λ ‖J_f(x)‖²_F, with J the Jacobian ∂h/∂x.  For sigmoid units the squared Frobenius norm has a
closed form (with s_j = h_j (1 − h_j) = σ'(a_j)):

    ‖J(x)‖²_F = Σ_j s_j² Σ_i W_ij².

Choice made here: the penalty is AVERAGED over the batch,  P = λ (1/N) Σ_n ‖J(x_n)‖²_F,
like every loss in numpyvae (a mean over examples).
"""
import numpy as np


def contractive_penalty_grad(x, W, b, lam):
    """Gradients of  P = λ (1/N) Σ_n Σ_j (h_nj (1 − h_nj))² Σ_i W_ij²,  h = σ(x W + b).

    x   : (N, D) float64
    W   : (D, H) float64
    b   : (H,)   float64
    lam : float, λ > 0
    Returns a tuple (dW, db) of float64 arrays, dW : (D, H), db : (H,).

    W appears twice: directly in Σ_i W_ij², and inside h (through a = x W + b).  Add both.
    """
    raise NotImplementedError(
        "Exercise 10 (contractive): not implemented yet — hint: compute ∂P/∂a_nj through "
        "s = h (1 − h) first (ds/da = (1 − 2h) s), then back-propagate through a = x W + b "
        "as in exercise 01; finally add the direct term from Σ_i W_ij²")


if __name__ == "__main__":   # python 10_contractive.py  is  numpyvae check 10 --file 10_contractive.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "10", "--file", __file__]))
