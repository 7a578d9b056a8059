"""Evaluating a trained VAE: ELBO, importance-sampled log-likelihood, active units, KL per dim.

    elbo_parts(model, x, rng, batch_size)      -> (elbo, recon, kl), each (N,)
    log_likelihood(model, x, k=5000, rng=...)  -> (N,) float64, log p(x) estimated with k samples
    active_units(model, x, threshold=0.01)     -> (number active, activity (k,))
    kl_per_dim(model, x)                       -> (k,) mean KL of each latent's marginal
    bernoulli_on_grey(model, x)                -> True if a Bernoulli decoder meets grey levels

The importance-sampled estimate (Burda, Grosse & Salakhutdinov 2016, eq. 8 with q as proposal)

    log p(x) ~= log 1/K sum_k p(x, z_k) / q(z_k | x),   z_k ~ q(z | x)

is the IWAE bound with K samples: it is <= log p(x) in expectation, >= the ELBO, and increases
towards log p(x) as K grows.  ``log_likelihood`` is the package's one implementation of it
(``VAE.iwae_bound`` calls it); the training objective's IWAE bound over S samples is
``objectives.IWAE``.  Both reduce the log-weights with ``objectives.log_mean_exp``.

Noise: example i of ``x`` gets its own generator ``np.random.default_rng([base, i])``, where
``base`` is one integer drawn from ``rng``.  The k noise vectors of example i are that
generator's stream in order, so the numbers do not depend on how the work is chunked
(``batch_size``, ``chunk``), only on ``rng`` and on the example's position in ``x``.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _threads
from . import distributions as D
from .objectives import log_mean_exp
from ._validate import check_positive_int, check_rng

MEMORY_BUDGET = 256 * 2**20     # bytes of temporaries per chunk of log_likelihood (well < 1 GB)

# What a Bernoulli decoder's numbers are on grey levels: log_likelihood's warning, the
# "note" of ``numpyvae evaluate``'s evaluate.json and its printout, and the run's report.md.
GREY_NOTE = ("x holds grey levels (values other than 0 and 1), but a Bernoulli decoder is a "
             "normalised density over binary x only: its log p(x) and ELBO here are "
             "cross-entropy scores, not log-likelihoods of these images")


def bernoulli_on_grey(model, x):
    """Whether ``model`` has a Bernoulli decoder and ``x`` (N, D) holds any value other than
    0 and 1, so that its "log-likelihoods" of x are not those of a normalised density."""
    return model.likelihood == "bernoulli" and bool(np.any((x != 0) & (x != 1)))


def elbo_parts(model, x, rng, batch_size=1000, n_samples=1):
    """Per-example ELBO and its parts with ``n_samples`` samples, computed ``batch_size``
    examples at a time -> (elbo, recon, kl), each (N,) in the model's dtype:
    recon = E_q log p(x|z) (<= 0 for a Bernoulli decoder), kl = KL(q(z|x) || p(z)),
    elbo = recon - kl."""
    check_rng(rng)
    batch_size = check_positive_int(batch_size, "batch_size")
    parts = [model.elbo_parts(x[i:i + batch_size], rng, n_samples)
             for i in range(0, x.shape[0], batch_size)]
    return tuple(np.concatenate(p) for p in zip(*parts))


CACHE_BYTES = 2 * 2**20         # target size of one chunk's widest activation (decoder output)

# Entries of the decoder's output per block of VAE.log_weights' likelihood (128 KiB of float32 per
# temporary).  Measured on (668, 784) logits, one thread: the Bernoulli likelihood 1.54x faster in
# blocks of 32-64 rows than in one piece on an AVX-512 Xeon (2 MiB L2), 1.25-1.29x with AVX2 kernels.
LIKELIHOOD_BLOCK = 2 ** 15


def chunk_sizes(model, k, budget=MEMORY_BUDGET):
    """(examples per chunk, samples per chunk).

    A chunk holds about ``CACHE_BYTES / (4 D)`` (sample, example) pairs (~670 for MNIST):
    enough rows for the decoder's matrix products to run near the sgemm rate, and few enough
    that the (pairs, D) decoder output stays in the CPU's last-level cache.  (Chunks as large as
    memory allows ran at half the speed: every elementwise pass then streamed from main memory.)
    ``VAE.log_weights`` then takes the likelihood of a chunk in smaller blocks, which fit L2
    (``LIKELIHOOD_BLOCK``).  ``budget`` caps the temporaries: per pair a forward
    pass holds the decoder's output and hidden layers, the encoder's output and z, each
    counted twice (caches, temporaries), plus the float64 log-weight."""
    widths = model.x_dim * 2 + sum(model.hidden_dims) + 4 * model.z_dim
    per_pair = 2 * widths * model.dtype.itemsize + 8
    pairs = max(1, min(budget // per_pair, CACHE_BYTES // (model.x_dim * model.dtype.itemsize)))
    samples = min(k, pairs)
    return max(1, pairs // samples), samples


def log_likelihood(model, x, k=5000, rng=None, *, batch_size=None, chunk=None,
                   budget=MEMORY_BUDGET, warn=True):
    """Importance-sampled log p(x) with ``k`` samples from q(z|x), per example: (N,) float64.

    x          : (N, D) in the model's dtype
    rng        : numpy Generator (one integer is drawn from it; see the module docstring)
    batch_size : examples per chunk;  chunk : samples per chunk (default: from ``chunk_sizes``,
                 so that peak memory stays about ``budget`` bytes for any k)
    warn       : warn (once per call) when a Bernoulli decoder meets grey levels: then the
                 number is not log p(x) (``bernoulli_on_grey``, ``GREY_NOTE``)
    The log-weights of one example are all kept (k float64 values, 40 kB for k = 5000) and
    reduced with one log-sum-exp at the end, so chunking does not change the sums.
    """
    model.check_x(x)
    k = check_positive_int(k, "k")
    check_rng(rng)
    auto_n, auto_s = chunk_sizes(model, k, budget)
    n_chunk = auto_n if batch_size is None else check_positive_int(batch_size, "batch_size")
    s_chunk = auto_s if chunk is None else check_positive_int(chunk, "chunk")
    if warn and bernoulli_on_grey(model, x):
        warnings.warn(f"log_likelihood: {GREY_NOTE}", UserWarning, stacklevel=2)
    base = int(rng.integers(2**63))
    out = np.empty(x.shape[0], np.float64)
    starts = range(0, x.shape[0], n_chunk)

    def run(part):
        """The chunks of examples starts[part], with buffers of their own."""
        log_w = np.empty((min(n_chunk, x.shape[0]), k), np.float64)
        for i0 in starts[part]:
            xb = x[i0:i0 + n_chunk]
            n = xb.shape[0]
            gens = [np.random.default_rng([base, i]) for i in range(i0, i0 + n)]
            eps = np.empty((min(s_chunk, k), n, model.z_dim), model.dtype)
            for s0 in range(0, k, s_chunk):
                s = min(s_chunk, k - s0)
                for j, g in enumerate(gens):
                    eps[:s, j] = g.standard_normal((s, model.z_dim), dtype=model.dtype)
                log_w[:n, s0:s0 + s] = model.log_weights(xb, eps[:s], LIKELIHOOD_BLOCK).T
            out[i0:i0 + n] = log_mean_exp(log_w[:n], axis=1)

    # With --threads N the chunks are shared out to N threads, each with one BLAS thread: the
    # elementwise passes then run on N cores too.  Every chunk is computed exactly as on one
    # thread, so the numbers are the same bits.
    parts = min(_threads.workers(), len(starts))
    with _threads.one_blas_thread(parts):
        _threads.run_split(run, len(starts), parts=parts, min_size=1)
    return out


def _posterior_moments(model, x, batch_size):
    """-> (mu (N, k), var (N, k)): the mean and the marginal variances of q(z|x)."""
    mus, variances = [], []
    for i in range(0, x.shape[0], batch_size):
        mu, var = model.posterior.moments(*model.encode(x[i:i + batch_size]))
        mus.append(mu)
        variances.append(var)
    return np.concatenate(mus), np.concatenate(variances)


def active_units(model, x, threshold=0.01, batch_size=1000):
    """Burda et al. (2016): unit j is active if A_j = Cov_x(E_q[z_j | x]) > threshold.
    -> (number of active units, A (k,) float64)."""
    mu, _ = _posterior_moments(model, x, check_positive_int(batch_size, "batch_size"))
    activity = mu.astype(np.float64).var(axis=0)
    return int((activity > threshold).sum()), activity


def kl_per_dim(model, x, batch_size=1000):
    """Mean over x of KL(q(z_j|x) || N(0, 1)) for each latent j: (k,) float64, nats.
    For a diagonal q these sum to the KL term of the ELBO; for a full-covariance q they are
    the KLs of the marginals and their sum is <= the joint KL (which also counts correlations)."""
    mu, var = _posterior_moments(model, x, check_positive_int(batch_size, "batch_size"))
    mu, var = mu.astype(np.float64), var.astype(np.float64)
    return D.kl_std_normal_per_dim(mu, np.log(var)).mean(axis=0)      # the one per-latent KL
