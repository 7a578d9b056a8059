"""VAE(...) refuses absurd numbers with a message naming the argument, as the CLI does (issue 28):
a fixed decoder log-variance or a floor outside likelihoods.LOGVAR_RANGE = [-30, 30] (sigma
3e-7 to 3e6; 1e308 made every float32 loss infinite), and an initial std outside (0, 10]
(vae.INIT_STD_MAX; 1e30 made the first loss NaN).  The ends of the ranges are accepted."""
import numpy as np
import pytest

import numpyvae as nv


def vae(**kw):
    return nv.VAE(6, [4], 2, rng=np.random.default_rng(0), **kw)


@pytest.mark.parametrize("argument,value", [
    ("decoder_logvar", 1e308), ("decoder_logvar", -1e308), ("decoder_logvar", 30.5),
    ("decoder_logvar", float("nan")), ("decoder_logvar", True), ("decoder_logvar", "fixed"),
    ("decoder_logvar_floor", 1e308), ("decoder_logvar_floor", -31.0),
    ("decoder_logvar_floor", float("inf")),
    ("init", 1e30), ("init", 10.5), ("init", 0.0), ("init", -0.01), ("init", float("nan")),
    ("init", True), ("init", "lecun"),
])
def test_absurd_values_are_refused_naming_the_argument(argument, value):
    with pytest.raises(ValueError, match=f"^{argument} must"):
        vae(likelihood="gaussian", **{argument: value})


@pytest.mark.parametrize("kw", [
    {"decoder_logvar": 30.0}, {"decoder_logvar": -30}, {"decoder_logvar": np.float32(-4.6)},
    {"decoder_logvar_floor": -30.0}, {"decoder_logvar_floor": None},
    {"init": 10.0}, {"init": 1e-6}, {"init": 1}, {"init": "xavier"},
])
def test_the_ends_of_the_ranges_are_accepted_and_saved(kw):
    model = vae(likelihood="gaussian", **kw)
    key, value = next(iter(kw.items()))
    assert model.config[key] == value
    again = nv.VAE.from_config(model.config)
    assert again.config == model.config
    if key != "init":          # an std of 10 is allowed, though its first loss overflows
        x = np.full((3, 6), 0.5, np.float32)
        assert np.isfinite(model.loss(x, np.random.default_rng(1)))


def test_a_bernoulli_model_checks_the_gaussian_options_too():
    """The options are part of every saved config, so they are checked whatever the likelihood."""
    with pytest.raises(ValueError, match="decoder_logvar must"):
        vae(decoder_logvar=1e308)
