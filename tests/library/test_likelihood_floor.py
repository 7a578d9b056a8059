"""The learned decoder log-variance has a floor (issue 18 item 7).

Without one, a Gaussian decoder with a learned log-variance can drive it to -inf on pixels
that never change, and the ELBO to +inf.  With ``logvar = floor + softplus(raw - floor)`` and
``floor = log(Q^2 / 2 pi)``, Q = 1/255 the 8-bit grey-level step, the per-pixel
log-likelihood is at most ``log N(x; x, e^floor) = -1/2 (log 2 pi + floor) = log 255``: the
density of a model that puts probability 1 on a single grey level.  The values below are
written out from that definition, not read from the package.
"""
import numpy as np
import pytest
from fd_noise import assert_within_or_fd_noise

import numpyvae as nv
from numpyvae.gradcheck import check_model, numerical_gradient, rel_error

FLOOR = 2 * np.log(1 / 255) - np.log(2 * np.pi)          # -12.9236...
PIXEL_BOUND = -0.5 * (np.log(2 * np.pi) + FLOOR)         # = log 255 = 5.5413 nats


def gaussian(x_dim=6, dtype=np.float32, seed=0, **kw):
    return nv.VAE(x_dim, [8], 2, likelihood="gaussian", decoder_logvar="learned",
                  rng=np.random.default_rng(seed), dtype=dtype, **kw)


def test_the_floor_is_where_one_grey_level_would_get_probability_one():
    assert nv.vae.DECODER_LOGVAR_FLOOR == pytest.approx(FLOOR, abs=1e-12)
    assert PIXEL_BOUND == pytest.approx(np.log(255), abs=1e-12)
    assert gaussian().decoder_logvar_floor == nv.vae.DECODER_LOGVAR_FLOOR


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_likelihood_of_an_exact_mean_is_bounded_for_any_raw_logvar(dtype):
    model = gaussian(dtype=dtype)
    d = model.x_dim
    x = np.full((1, d), 0.5, dtype)
    raw = np.array([-1e4, -1e3, -100.0, FLOOR - 5, FLOOR, 0.0, 30.0], dtype)
    out = np.zeros((raw.size, 1, 2 * d), dtype)           # mean: sigmoid(0) = 0.5 = x exactly
    out[:, 0, d:] = raw[:, None]
    log_px, _ = model.likelihood_forward(x, out)
    assert log_px.dtype == dtype and np.all(np.isfinite(log_px))
    assert np.all(log_px <= d * PIXEL_BOUND * (1 + 1e-6))
    # far below the floor the bound is reached; far above it, logvar = raw (to rounding)
    assert log_px[0, 0] == pytest.approx(d * PIXEL_BOUND, rel=1e-6)
    assert log_px[-1, 0] == pytest.approx(-0.5 * d * (np.log(2 * np.pi) + 30.0), rel=1e-6)


def train_on_constant_pixels(value, steps=600, seed=0):
    """A tiny learned-variance Gaussian VAE on x = ``value`` everywhere, Adam from lr 0.05
    decaying by 1% a step (so that the mean settles and the variance can follow it down)
    -> (model, losses)."""
    x = np.full((32, 6), value, np.float32)
    model = gaussian(seed=seed)
    rng = np.random.default_rng(seed + 1)
    opt = nv.optim.Adam(0.05)
    losses = []
    for _ in range(steps):
        loss, grad = model.loss_and_grad(x, rng)
        opt.step(model.params, grad)
        opt.lr *= 0.99
        losses.append(loss)
    return model, np.array(losses)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_constant_pixels_the_elbo_stays_below_the_floor_bound_under_adam(seed):
    """x = 0.5 everywhere.  Measured without the floor (seeds 0, 1, 2): -ELBO passes the bound
    -33.25 and reaches -35.9, -37.0, -35.5 by step 600, its mean over the last 100 steps 2.5,
    2.9, 0.8 nats below the 100 before (still falling: the optimum is -inf).  With it: the last
    two windows differ by 0.18, 0.16, 0.04 nats, 5.2, 5.7, 0.7 nats above the bound."""
    model, losses = train_on_constant_pixels(0.5, seed=seed)
    bound = -6 * PIXEL_BOUND               # -ELBO >= -recon >= -D log 255
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(model.params))
    assert losses.min() >= bound - 1e-4, (losses.min(), bound)
    # the ELBO does not run away: it has levelled off
    drop = losses[-200:-100].mean() - losses[-100:].mean()
    assert drop < 0.5, drop


def test_pixels_that_are_exactly_zero_neither_diverge_nor_exceed_the_bound():
    """x = 0 everywhere (a background of exact zeros, as in the shapes): the sigmoid mean can
    only approach 0, and without a floor the variance chases it until float32 overflows
    (measured: Adam raised "grad contains NaN or inf" within 400 steps)."""
    model, losses = train_on_constant_pixels(0.0)
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(model.params))
    assert losses.min() >= -6 * PIXEL_BOUND - 1e-4, losses.min()


def test_the_transform_and_its_gradient_far_below_and_above_the_floor():
    """d log p / d raw = d log p / d logvar * sigmoid(raw - floor), in float64, for raw from 40
    below the floor (factor 4e-18) to 20 above it (factor 1): the backward pass against the
    closed form to 1e-10, and against central differences to their rounding noise."""
    model = gaussian(x_dim=1, dtype=np.float64)
    x = np.array([[0.3]])
    raw = np.linspace(FLOOR - 40, FLOOR + 20, 61)
    out = np.zeros((raw.size, 1, 2))
    out[:, 0, 0] = 0.4                      # the raw mean: sigmoid(0.4) = 0.599 != x
    out[:, 0, 1] = raw
    dll = np.random.default_rng(0).standard_normal((raw.size, 1))
    log_px, cache = model.likelihood_forward(x, out)
    analytic = model.likelihood_backward(dll, cache)
    mean = 1 / (1 + np.exp(-0.4))
    logvar = FLOOR + np.logaddexp(0, raw - FLOOR)
    np.testing.assert_allclose(log_px[:, 0], -0.5 * (np.log(2 * np.pi) + logvar
                                                     + (0.3 - mean) ** 2 * np.exp(-logvar)),
                               rtol=1e-12)
    dlogvar = 0.5 * ((0.3 - mean) ** 2 * np.exp(-logvar) - 1) * dll[:, 0]
    want = dlogvar / (1 + np.exp(-(raw - FLOOR)))          # x sigmoid(raw - floor)
    # to 1e-10 of each entry, or of the largest (a sigmoid may round 4e-18 to 0)
    np.testing.assert_allclose(analytic[:, 0, 1], want, rtol=1e-10,
                               atol=1e-10 * np.abs(want).max())
    h = 1e-6
    numeric = numerical_gradient(lambda: model.likelihood_forward(x, out)[0], out, dout=dll, h=h)
    noise = 10 * np.finfo(np.float64).eps * np.abs(log_px[:, 0]) / h   # per entry
    assert np.all(np.abs(numeric[:, 0, 1] - want) <= 1e-6 * np.abs(want) + noise)
    assert rel_error(analytic[..., 0], numeric[..., 0]) < 1e-7         # d / d raw mean


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
@pytest.mark.parametrize("objective", ["elbo", "iwae"])
@pytest.mark.parametrize("offset", [-8.0, -1.0, 0.0, 2.0])
def test_whole_model_gradient_with_the_decoder_logvar_around_the_floor(covariance, objective,
                                                                       offset):
    """The 4 learned-Gaussian branches of test_vae_matrix, with the decoder's raw log-variance
    pushed to floor + offset (+- 0.5 spread over the pixels): float64 central differences."""
    rng = np.random.default_rng(5)
    model = nv.VAE(4, [3], 2, likelihood="gaussian", decoder_logvar="learned", activation="tanh",
                   rng=rng, covariance=covariance, init="xavier", dtype=np.float64)
    model.params += rng.normal(0, 0.1, model.params.shape)
    last = model.decoder.layers[-1].params
    last["b"][4:] = FLOOR + offset + rng.uniform(-0.5, 0.5, 4)
    x = rng.random((3, 4))
    eps = rng.standard_normal(model.noise_shape(x, 2))
    report = check_model(model, x, eps=eps, objective=objective, threshold=1e-7)
    loss, _ = model.loss_and_grad(x, eps=eps, objective=objective)
    assert_within_or_fd_noise(report, model.named_grads(), loss, 1e-7)


def test_sampling_uses_the_floored_variance():
    """A decoder whose raw log-variance is -1e3 samples with std e^(floor/2) = 0.0016, not 0."""
    model = gaussian(x_dim=200)
    last = model.decoder.layers[-1].params
    last["W"][:] = 0
    last["b"][:200] = 0.0                  # mean 0.5
    last["b"][200:] = -1e3
    x = model.sample(50, np.random.default_rng(0), mean=False)
    std = float(np.std(x - 0.5, dtype=np.float64))
    # 10,000 draws: the sample std is within 2% of sigma with overwhelming probability
    assert std == pytest.approx(np.exp(FLOOR / 2), rel=0.02)


# ----------------------------------------------------------------------------- config

def test_the_floor_round_trips_through_config_and_is_validated():
    model = gaussian(decoder_logvar_floor=-5.0)
    assert model.config["decoder_logvar_floor"] == -5.0
    again = nv.VAE.from_config(model.config)
    assert again.config == model.config
    assert nv.VAE.from_config(gaussian().config).decoder_logvar_floor == nv.vae.DECODER_LOGVAR_FLOOR
    assert gaussian(decoder_logvar_floor=None).config["decoder_logvar_floor"] is None
    for bad in (float("nan"), float("-inf"), True, "low"):
        with pytest.raises(ValueError, match="decoder_logvar_floor"):
            gaussian(decoder_logvar_floor=bad)


def test_a_config_from_before_the_floor_rebuilds_the_model_it_was_trained_as():
    """Checkpoints written before the floor existed have no decoder_logvar_floor: a learned-
    variance Gaussian rebuilds with no floor (logvar = raw, the numbers it was trained and
    reported with); the floor does not act on any other model, which gets the default."""
    old = gaussian().config
    del old["decoder_logvar_floor"]
    model = nv.VAE.from_config(old)
    assert model.decoder_logvar_floor is None
    x = np.full((1, 6), 0.5, np.float32)
    out = np.zeros((1, 1, 12), np.float32)
    out[..., 6:] = -30.0
    log_px, _ = model.likelihood_forward(x, out)
    assert log_px[0, 0] == pytest.approx(-3 * (np.log(2 * np.pi) - 30.0), rel=1e-6)
    for config in (nv.VAE(6, [8], 2, rng=np.random.default_rng(0)).config,
                   nv.VAE(6, [8], 2, likelihood="gaussian", decoder_logvar=-1.0,
                          rng=np.random.default_rng(0)).config):
        del config["decoder_logvar_floor"]
        assert nv.VAE.from_config(config).decoder_logvar_floor == nv.vae.DECODER_LOGVAR_FLOOR


def test_an_old_checkpoint_restores_into_its_own_model_and_not_into_a_floored_one(tmp_path):
    from numpyvae import checkpoint as ckpt
    from numpyvae.train import TrainConfig, TrainState, restore, save_checkpoint
    model, opt, rng = gaussian(), nv.optim.Adam(1e-3), np.random.default_rng(0)
    x = np.full((4, 6), 0.5, np.float32)
    opt.step(model.params, model.loss_and_grad(x, rng)[1])
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, opt, rng, TrainConfig(), TrainState())
    c = ckpt.load(path)
    del c.meta["model"]["decoder_logvar_floor"]             # as written before the floor
    ckpt.save(path, params=c.params, optimizer_state=c.optimizer_state, rng_state=c.rng_state,
              meta=c.meta)
    old = nv.VAE.from_config(ckpt.load(path).meta["model"])
    restore(path, old, nv.optim.Adam(1e-3), np.random.default_rng(0), TrainConfig())
    np.testing.assert_array_equal(old.params, model.params)
    with pytest.raises(ValueError, match="decoder_logvar_floor"):
        restore(path, gaussian(), nv.optim.Adam(1e-3), np.random.default_rng(0), TrainConfig())


def test_an_old_learned_gaussian_run_evaluates_and_resumes_as_the_model_it_was(tmp_path):
    """``numpyvae evaluate`` and ``train --resume`` on a run whose checkpoint was written before
    the floor existed: it loads, and goes on with no floor (bit for bit the old model)."""
    from numpyvae import checkpoint as ckpt
    from numpyvae.cli import main
    from numpyvae.commands.train import load_run
    out = tmp_path / "r"
    small = ["--n-train", "200", "--n-test", "50", "--hidden", "16", "--batch-size", "50",
             "--z-dim", "2", "--likelihood", "gaussian", "--quiet"]
    assert main(["train", "--out", str(out), "--epochs", "1", *small]) == 0
    path = out / "checkpoint.npz"
    c = ckpt.load(path)
    assert c.meta["model"]["decoder_logvar_floor"] == nv.vae.DECODER_LOGVAR_FLOOR
    del c.meta["model"]["decoder_logvar_floor"]
    ckpt.save(path, params=c.params, optimizer_state=c.optimizer_state, rng_state=c.rng_state,
              meta=c.meta)
    model, _, _ = load_run(out)
    assert model.decoder_logvar_floor is None
    np.testing.assert_array_equal(model.params, c.params)
    assert main(["evaluate", str(out), "--k", "5", "--n", "10"]) == 0
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", *small]) == 0
    assert ckpt.load(path).meta["model"]["decoder_logvar_floor"] is None
