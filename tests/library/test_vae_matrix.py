"""Every branch of the VAE, every run: covariance x objective x likelihood, parametrized.

* moderate ranges: the loss gradient (noise fixed) against float64 central differences, worst
  relative error < 1e-7;
* extreme ranges (log-variances +-20, logits +-1e4, batch size 1): loss and gradient finite, and
  a float32 model stays float32.
Hypothesis varies the sizes, activation and seed inside each branch; the branch itself is a
parameter, so no run can miss one.
"""
import itertools

import numpy as np
import pytest
from fd_noise import assert_within_or_fd_noise
from hypothesis import given, settings
from hypothesis import strategies as st

import numpyvae as nv
from numpyvae.gradcheck import check_model

COVARIANCES = ("diagonal", "full")
OBJECTIVES = ("elbo", "iwae")
LIKELIHOODS = ("bernoulli", "gaussian-learned", "gaussian-fixed")
MATRIX = list(itertools.product(COVARIANCES, OBJECTIVES, LIKELIHOODS))
IDS = ["-".join(b) for b in MATRIX]


def make_model(covariance, likelihood, rng, dtype, x_dim=5, hidden=(4,), z_dim=2,
               activation="tanh", weight_decay=0.0, gaussian_mean="sigmoid"):
    kw = {}
    if likelihood.startswith("gaussian"):
        kw = {"decoder_logvar": "learned" if likelihood.endswith("learned") else -1.0,
              "gaussian_mean": gaussian_mean}
    return nv.VAE(x_dim, list(hidden), z_dim, likelihood=likelihood.split("-")[0],
                  activation=activation, rng=rng, covariance=covariance, init="xavier",
                  weight_decay=weight_decay, dtype=dtype, **kw)


@pytest.mark.parametrize("covariance,objective,likelihood", MATRIX, ids=IDS)
@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 4), x_dim=st.integers(1, 6), z_dim=st.integers(1, 3),
       hidden=st.lists(st.integers(1, 5), min_size=0, max_size=2),
       # smooth activations only: central differences across a ReLU kink are not a derivative
       # (ReLU is checked away from its kink in test_ops.py, and trains in every other test)
       activation=st.sampled_from(["tanh", "softplus", "sigmoid"]),
       samples=st.integers(1, 3), weight_decay=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 2**16))
def test_loss_gradient_matches_central_differences(covariance, objective, likelihood, n, x_dim,
                                                   z_dim, hidden, activation, samples,
                                                   weight_decay, seed):
    rng = np.random.default_rng(seed)
    model = make_model(covariance, likelihood, rng, np.float64, x_dim, hidden, z_dim, activation,
                       weight_decay, "sigmoid" if seed % 2 else "identity")
    model.params += rng.normal(0, 0.1, model.params.shape)   # nonzero biases too
    x = rng.random((n, x_dim))
    if likelihood == "bernoulli" and seed % 3 == 0:
        x = (x < 0.5).astype(np.float64)
    eps = rng.standard_normal(model.noise_shape(x, samples))
    report = check_model(model, x, eps=eps, objective=objective, threshold=1e-7)
    assert_within_1e7_or_fd_noise(model, x, eps, objective, report)


def assert_within_1e7_or_fd_noise(model, x, eps, objective, report, h=1e-5):
    """Worst relative error < 1e-7 per block, or under the float64 central-difference noise."""
    loss, _ = model.loss_and_grad(x, eps=eps, objective=objective)
    assert_within_or_fd_noise(report, model.named_grads(), loss, 1e-7, h)


def _push_to_extremes(model, logvar, logit):
    """Set the last encoder bias so q's log-variance (or log L_ii) is ``logvar`` and the last
    decoder bias so the logits (or the Gaussian's raw means) are ``+-logit`` and a learned decoder
    log-variance is ``logvar``; shrink the last weights so the biases dominate."""
    k = model.z_dim
    enc, dec = model.encoder.layers[-1], model.decoder.layers[-1]
    enc.params["W"] *= 1e-3
    enc.params["b"][k:2 * k] = logvar / 2 if model.covariance == "full" else logvar
    dec.params["W"] *= 1e-6
    signs = np.where(np.arange(dec.params["b"].size) % 2, -1.0, 1.0)
    dec.params["b"][:] = signs * logit
    if model.likelihood == "gaussian" and model.decoder_logvar == "learned":
        dec.params["b"][model.x_dim:] = logvar


@pytest.mark.parametrize("covariance,objective,likelihood", MATRIX, ids=IDS)
@pytest.mark.parametrize("logvar,logit", [(20.0, 1e4), (-20.0, -1e4), (20.0, -1e4), (-20.0, 1e4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_ranges_stay_finite_and_keep_their_dtype(covariance, objective, likelihood, logvar,
                                                         logit, dtype):
    rng = np.random.default_rng(3)
    model = make_model(covariance, likelihood, rng, dtype)
    _push_to_extremes(model, logvar, logit)
    x = (rng.random((1, 5)) < 0.5).astype(dtype)                  # batch size 1
    loss, grad = model.loss_and_grad(x, rng, n_samples=2, objective=objective)
    assert np.isfinite(loss), f"loss {loss}"
    assert grad.dtype == dtype and np.all(np.isfinite(grad))
    bound = model.elbo(x, rng) if objective == "elbo" else model.iwae_bound(x, 3, rng)
    assert bound.dtype == dtype and bound.shape == (1,) and np.all(np.isfinite(bound))


@pytest.mark.parametrize("covariance,objective,likelihood", MATRIX, ids=IDS)
def test_named_grads_are_views_into_the_flat_gradient(covariance, objective, likelihood):
    rng = np.random.default_rng(0)
    model = make_model(covariance, likelihood, rng, np.float32)
    x = rng.random((3, 5), dtype=np.float32)
    _, grad = model.loss_and_grad(x, rng, objective=objective)
    named = model.named_grads()
    assert list(named) == list(model.named_params())
    assert sum(v.size for v in named.values()) == grad.size
    for name, view in named.items():
        assert view.shape == model.named_params()[name].shape
        assert np.shares_memory(view, model.grads)
    flat = np.concatenate([v.ravel() for v in named.values()])
    np.testing.assert_array_equal(flat, grad)        # the blocks tile the vector, in order
