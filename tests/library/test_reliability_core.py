"""Issue 26, library side: check_model refusing what it cannot check, and the optimizers'
state validated on load and never made non-finite by a step."""
import numpy as np
import pytest

from numpyvae import _threads, optim
from numpyvae.gradcheck import check_model
from numpyvae.vae import VAE


@pytest.fixture(scope="module")
def model64():
    return VAE(5, [4], 2, rng=np.random.default_rng(0), dtype=np.float64)


X = np.random.default_rng(1).random((3, 5))


# ----------------------------------------------------------------------------- check_model

def test_check_model_refuses_an_unknown_parameter_name(model64):
    """Before: params=["encoder.0.WW"] checked nothing and passed."""
    with pytest.raises(ValueError, match="encoder.0.WW"):
        check_model(model64, X, params=["encoder.0.WW"])
    with pytest.raises(ValueError, match="params"):
        check_model(model64, X, params=[])
    with pytest.raises(TypeError, match="params"):
        check_model(model64, X, params="encoder.0.W")      # a str is not a list of names
    name = next(iter(model64.named_params()))
    report = check_model(model64, X, params=[name])
    assert list(report.errors) == [name] and report.passed


@pytest.mark.parametrize("kwargs,word", [
    ({"threshold": float("nan")}, "threshold"), ({"threshold": -1.0}, "threshold"),
    ({"threshold": 0.0}, "threshold"), ({"threshold": float("inf")}, "threshold"),
    ({"h": 1e-300}, "h"), ({"h": 0.5}, "h"), ({"h": float("nan")}, "h")])
def test_check_model_refuses_nonsense_thresholds_and_steps(model64, kwargs, word):
    with pytest.raises(ValueError, match=word):
        check_model(model64, X, **kwargs)


# ----------------------------------------------------------------------------- optimizer state

def _params(n=10, dtype=np.float32):
    return np.linspace(-1, 1, n).astype(dtype)


@pytest.mark.parametrize("name,key", [("adam", "opt_V"), ("adam", "opt_M"),
                                      ("adagrad", "opt_G"), ("momentum", "opt_v")])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -1.0])
def test_load_state_dict_refuses_non_finite_or_negative_moments(name, key, bad):
    p = _params()
    opt = optim.make(name, 1e-2)
    opt.step(p, np.ones_like(p))
    d = opt.state_dict()
    d[key] = d[key].copy()
    d[key][2] = bad
    fresh = optim.make(name, 1e-2)
    if bad == -1.0 and key in ("opt_M", "opt_v"):           # first moments may be negative
        fresh.load_state_dict(d, p)
        return
    with pytest.raises(ValueError, match=key):
        fresh.load_state_dict(d, p)
    assert fresh.t == 0 and not fresh.state


KERNELS = ["numpy"] + (["fused"] if optim.fused.available() else [])


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("name,lr,g", [("adam", 1e-3, 1e30), ("adagrad", 1e-2, 1e30),
                                       ("sgd", 1e30, 1e10), ("momentum", 1e30, 1e10),
                                       ("sgd", 2e38, 1.0)])
def test_a_step_that_would_make_the_state_non_finite_changes_nothing(name, lr, g, kernels):
    """Before: Adam's V became inf from a finite float32 gradient of 1e30 (the parameters then
    froze); SGD(1e30) drove them to -inf."""
    p = _params()
    opt = optim.make(name, lr, kernels=kernels)
    opt.step(p, np.full_like(p, 0.5 if lr < 1e38 else 1e-10))
    before_p = p.copy()
    before_s = {k: v.copy() for k, v in opt.state_dict().items()}
    with pytest.raises(ValueError, match="non-finite"):
        opt.step(p, np.full_like(p, g))
    assert np.array_equal(p, before_p)
    after = opt.state_dict()
    assert all(np.array_equal(after[k], v) for k, v in before_s.items())


@pytest.mark.parametrize("kernels", KERNELS)
def test_the_nan_guard_looks_at_every_threads_slice(kernels):
    """One bad entry at the end of a 40,000-entry gradient split over threads: the guard must
    take all slices into account (a guard over 'any' slice let it through)."""
    p = np.zeros(40_000, np.float32)
    g = np.ones_like(p)
    g[-1] = np.nan
    old = _threads._workers
    _threads._workers = 2
    try:
        with pytest.raises(ValueError, match="grad"):
            optim.make("adam", 1e-3, kernels=kernels).step(p, g)
        g[-1], g[0] = 1.0, np.inf
        with pytest.raises(ValueError, match="grad"):
            optim.make("sgd", 1e-3, kernels=kernels).step(p, g)
    finally:
        _threads._workers = old
    assert not p.any()


# ----------------------------------------------------------------------------- weak spots (item 11)
# Each of these was a planted single-line bug that the whole suite let through.

def test_check_report_worst_is_the_largest_error():
    """A ``worst`` taking min() blinded every ``report.worst < 1e-6`` assertion."""
    from numpyvae.gradcheck import CheckReport
    r = CheckReport()
    r.add("a", np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    r.add("b", np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    assert r.worst == pytest.approx(0.2) and not r.passed


def test_check_layer_uses_a_random_dout_by_default():
    """With dout = ones, a backward that reverses dy's columns passes; with a random dout not."""
    from numpyvae.gradcheck import check_layer
    from numpyvae.layers import Dense

    class Reversed(Dense):
        def backward(self, dout, cache, *a, **k):
            return super().backward(np.ascontiguousarray(dout[:, ::-1]), cache, *a, **k)
    rng = np.random.default_rng(0)
    layer = Reversed(3, 4, rng, dtype=np.float64)
    x = rng.standard_normal((5, 3))
    assert not check_layer(layer, x).passed
    assert check_layer(Dense(3, 4, rng, dtype=np.float64), x).passed


def test_sequential_leaves_the_callers_x_alone_when_it_starts_with_an_activation():
    from numpyvae.layers import Dense, ReLU, Sequential
    rng = np.random.default_rng(0)
    net = Sequential([ReLU(), Dense(3, 2, rng)])
    x = np.array([[-1.0, 2.0, -3.0]], np.float32)
    before = x.copy()
    net.forward(x)
    assert np.array_equal(x, before)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_reconstruct_without_rng_decodes_the_posterior_mean(likelihood):
    """A reconstruct() decoding the log-variance columns (the reconstruction figure uses it)."""
    from numpyvae.functional import sigmoid
    m = VAE(6, [5], 2, likelihood=likelihood, rng=np.random.default_rng(2), dtype=np.float64)
    x = np.random.default_rng(3).random((4, 6))
    mu = m.encode(x)[0]
    want = m.decode(mu)
    if likelihood == "bernoulli":
        want = sigmoid(want)
    np.testing.assert_allclose(m.reconstruct(x), want, rtol=1e-12)


def test_gaussian_decode_is_the_mean_columns():
    from numpyvae.functional import sigmoid
    m = VAE(6, [5], 2, likelihood="gaussian", rng=np.random.default_rng(2), dtype=np.float64)
    z = np.random.default_rng(4).standard_normal((3, 2))
    out, _ = m.decoder.forward(z)
    assert out.shape[1] == 12                      # mean columns, then log-variance columns
    np.testing.assert_allclose(m.decode(z), sigmoid(out[:, :6]), rtol=1e-12)


def test_kl_per_dim_is_the_one_dimensional_formula():
    from numpyvae.distributions import kl_std_normal, kl_std_normal_per_dim
    rng = np.random.default_rng(5)
    mu, logvar = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    want = 0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar)
    per = kl_std_normal_per_dim(mu, logvar)
    np.testing.assert_allclose(per, want, rtol=1e-13)
    np.testing.assert_allclose(per.sum(axis=1), kl_std_normal(mu, logvar), rtol=1e-13)


@pytest.mark.parametrize("logvar", [-1.3, 0.7])
def test_gaussian_log_likelihood_at_a_fixed_variance_other_than_one(logvar):
    from scipy.stats import norm

    from numpyvae.distributions import gaussian_log_likelihood
    rng = np.random.default_rng(6)
    x, mean = rng.random((3, 5)), rng.random((3, 5))
    want = norm.logpdf(x, mean, np.exp(0.5 * logvar)).sum(axis=1)
    np.testing.assert_allclose(gaussian_log_likelihood(x, mean, logvar), want, rtol=1e-13)


def test_log_standard_normal_value():
    from scipy.stats import norm

    from numpyvae.distributions import log_std_normal
    z = np.random.default_rng(7).standard_normal((4, 3)) * 2
    np.testing.assert_allclose(log_std_normal(z), norm.logpdf(z).sum(axis=-1), rtol=1e-13)
