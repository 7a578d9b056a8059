"""Exercise 08 · the full-covariance reparameterization node z = μ + L ε

Complete ``full_cov_backward`` below, then check it:

    numpyvae check 08   # this file (from the folder it is in)
    numpyvae check 08 --file my_full_cov.py     # your own copy

Import only numpy and Python's standard library: while the grader runs your file,
``import numpyvae`` (or any other package) fails, so the answer must be your own code.

With a full covariance Σ = L Lᵀ, the encoder emits a lower-triangular Cholesky factor L per
example (positive diagonal), and z = μ + L ε.  Only the entries on and below the diagonal of L
are parameters; the entries above are fixed at 0.  The forward pass
``numpyvae.reparam.full_cov_forward(mu, L, eps)`` returns z and the cache (L, eps).

Your function has the signature and meaning of the library's own kernel,
``numpyvae.reparam.full_cov_backward``, so it can stand in for it in the real VAE: when it
passes, ``numpyvae check train --dir DIR`` trains the course VAE once with the library's kernels
and once with yours, and compares the loss curves.
"""
import numpy as np


def full_cov_backward(dz, cache):
    """Gradients of  z_n = μ_n + L_n ε_n,  i.e.  z_ni = μ_ni + Σ_j L_nij ε_nj,  one per example.

    dz    : (N, k) or (S, N, k) float64, upstream gradient ∂loss/∂z
    cache : the tuple (L, eps): L (N, k, k) lower-triangular, eps the fixed noise (shape of dz)
    Returns a tuple (dmu, dL) of float64 arrays (with a sample axis, summed over the samples):
        dmu : (N, k)
        dL  : (N, k, k), lower-triangular: entries above the diagonal must be 0 (they are not
              parameters).
    """
    L, eps = cache
    raise NotImplementedError(
        "Exercise 08 (full_cov): not implemented yet — hint: ∂z_ni/∂L_nij = ε_nj; the gradient "
        "for one example is an outer product of two vectors, keep only its lower triangle "
        "(np.tril works on stacks of matrices)")


if __name__ == "__main__":   # python 08_full_cov.py  is  numpyvae check 08 --file 08_full_cov.py
    import sys
    from numpyvae.cli import main
    sys.exit(main(["check", "08", "--file", __file__]))
