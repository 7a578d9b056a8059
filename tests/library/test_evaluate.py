"""Evaluation: importance-sampled log-likelihood, active units, KL per dimension."""
import tracemalloc

import numpy as np
import pytest

import numpyvae as nv
from numpyvae.evaluate import (MEMORY_BUDGET, active_units, chunk_sizes, elbo_parts,
                               kl_per_dim, log_likelihood)
from numpyvae.train import TrainConfig, train


@pytest.fixture(scope="module")
def trained():
    """A small VAE trained for a few epochs on shapes, and held-out images."""
    x, _ = nv.datasets.make_shapes(1200, np.random.default_rng(7))
    rng = np.random.default_rng(0)
    model = nv.VAE(784, [64], 4, rng=rng)
    train(model, nv.optim.make("adam", 3e-3), x[:1000], x[1000:], TrainConfig(epochs=6), rng)
    return model, x[1000:1100]


def test_log_likelihood_is_above_the_elbo_and_grows_with_k(trained):
    model, x = trained
    elbo, _, _ = elbo_parts(model, x, np.random.default_rng(1), n_samples=200)
    ll = {k: log_likelihood(model, x, k, np.random.default_rng(2)) for k in (1, 10, 100, 1000)}
    assert ll[1].dtype == np.float64 and ll[1].shape == (len(x),)
    assert abs(ll[1].mean() - elbo.mean()) < 3.0          # k = 1 is an unbiased ELBO estimate
    means = [ll[k].mean() for k in (1, 10, 100, 1000)]
    assert means == sorted(means) and means[-1] > means[0] + 0.5
    assert ll[1000].mean() > elbo.mean()
    # Per example the gain from k = 100 to k = 1000 is small: the estimate converges.
    assert np.mean(ll[1000] - ll[100]) < np.mean(ll[100] - ll[10])


@pytest.mark.parametrize("batch_size,chunk", [(1, 1), (7, 13), (3, 1000), (100, 64)])
def test_chunking_does_not_change_the_numbers(trained, batch_size, chunk):
    model, x = trained
    x = x[:20]
    ref = log_likelihood(model, x, 300, np.random.default_rng(3))
    got = log_likelihood(model, x, 300, np.random.default_rng(3), batch_size=batch_size,
                         chunk=chunk)
    # the same noise for every example; only float32 BLAS rounding may differ
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-5)


def test_an_example_gets_the_same_estimate_wherever_it_sits_in_a_batch(trained):
    model, x = trained
    whole = log_likelihood(model, x[:10], 50, np.random.default_rng(4))
    again = log_likelihood(model, x[:10], 50, np.random.default_rng(4))
    assert np.array_equal(whole, again)
    other = log_likelihood(model, x[:10], 50, np.random.default_rng(5))
    assert not np.array_equal(whole, other)


def test_chunks_for_k_5000_stay_within_the_memory_budget():
    model = nv.VAE(784, [400], 20, rng=np.random.default_rng(0))
    n, s = chunk_sizes(model, 5000)
    assert 256 <= s <= 5000 and n >= 1               # cache-sized chunks of samples
    per_pair = 2 * (2 * 784 + 400 + 4 * 20) * 4 + 8
    assert n * s * per_pair <= MEMORY_BUDGET < 2**30
    tiny = chunk_sizes(model, 5000, budget=100 * per_pair)
    assert tiny[0] * tiny[1] <= 100                   # the budget caps the chunk
    n, s = chunk_sizes(model, 10**7)                  # absurd k: samples are chunked too
    assert n == 1 and s * per_pair <= MEMORY_BUDGET


def test_measured_peak_memory_stays_under_the_budget():
    model = nv.VAE(784, [400], 20, rng=np.random.default_rng(0))
    x = (np.random.default_rng(1).random((6, 784)) < 0.3).astype(np.float32)
    budget = 16 * 2**20
    tracemalloc.start()
    try:
        log_likelihood(model, x, 3000, np.random.default_rng(0), budget=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < budget


def test_active_units_and_kl_per_dim(trained):
    model, x = trained
    n_active, activity = active_units(model, x)
    assert activity.shape == (4,) and n_active == int((activity > 0.01).sum())
    kl = kl_per_dim(model, x)
    _, _, kl_total = elbo_parts(model, x, np.random.default_rng(0))
    np.testing.assert_allclose(kl.sum(), kl_total.mean(dtype=np.float64), rtol=1e-5)
    assert np.all(kl >= 0)
    # Silence latent 0: mu_0 = 0 and logvar_0 = 0 for every input -> inactive, zero KL.
    dead = nv.VAE(**model.config, rng=np.random.default_rng(0))
    dead.params[:] = model.params
    last = dead.encoder.layers[-1].params
    for j in (0, model.z_dim):                  # the columns of mu_0 and logvar_0
        last["W"][:, j] = 0
        last["b"][j] = 0
    n_dead, dead_activity = active_units(dead, x)
    assert dead_activity[0] == 0 and kl_per_dim(dead, x)[0] == 0
    np.testing.assert_array_equal(dead_activity[1:], activity[1:])
    assert n_dead == n_active - int(activity[0] > 0.01)


def test_full_covariance_models_evaluate_too():
    model = nv.VAE(784, [16], 3, covariance="full", rng=np.random.default_rng(0))
    x = (np.random.default_rng(1).random((5, 784)) < 0.2).astype(np.float32)
    ll = log_likelihood(model, x, 20, np.random.default_rng(0))
    assert np.all(np.isfinite(ll))
    kl = kl_per_dim(model, x)
    _, _, kl_joint = elbo_parts(model, x, np.random.default_rng(0))
    assert kl.sum() <= kl_joint.mean() + 1e-4    # marginal KLs ignore the correlations


def test_bad_arguments(trained):
    model, x = trained
    with pytest.raises(ValueError, match="k"):
        log_likelihood(model, x, 0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        log_likelihood(model, x, 5, None)
    with pytest.raises(ValueError, match="x"):
        log_likelihood(model, x[:, :10], 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch_size"):
        log_likelihood(model, x, 5, np.random.default_rng(0), batch_size=0)


def test_log_likelihood_warns_for_a_bernoulli_decoder_on_grey_levels():
    import warnings
    rng = np.random.default_rng(0)
    model = nv.VAE(6, [4], 2, rng=rng)
    grey = rng.random((3, 6), dtype=np.float32)
    with pytest.warns(UserWarning, match="Bernoulli"):
        nv.evaluate.log_likelihood(model, grey, k=4, rng=rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nv.evaluate.log_likelihood(model, (grey < 0.5).astype(np.float32), k=4, rng=rng)


def test_bad_sample_counts_name_the_argument():
    rng = np.random.default_rng(0)
    model = nv.VAE(6, [4], 2, rng=rng)
    x = np.zeros((3, 6), np.float32)
    with pytest.raises(ValueError, match="eps"):
        model.loss(x, eps=np.zeros((0, 3, 2), np.float32))
    with pytest.raises(ValueError, match="chunk"):
        model.iwae_bound(x, 5, rng, chunk=0)
