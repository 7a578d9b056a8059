"""The whole VAE: gradient checks of the loss (eps fixed), exactness on a linear-Gaussian
model, IWAE monotonicity, training with every optimizer, dtype discipline, bad input."""
import numpy as np
import pytest

import numpyvae as nv
from numpyvae.gradcheck import check_model


# ----------------------------------------------------------------- gradient checks

# The loss gradient of every covariance x objective x likelihood branch: test_vae_matrix.py.


def test_gradient_with_large_logits_and_extreme_logvar():
    """Push the decoder to logits ~ +-50 and the encoder to log-variances 3 and -12.

    (The single ops are checked over log-variances -20..20 in test_ops.py.  For the whole
    model, a large log-variance makes the loss ~ exp(logvar)/2 and saturates the decoder's
    tanh units, and float64 central differences then carry more rounding noise than the
    1e-6 being tested, so that range is left to the per-op tests.)"""
    rng = np.random.default_rng(0)
    model = nv.VAE(5, [4], 2, rng=rng, activation="tanh", dtype=np.float64)
    dec_last = model.decoder.layers[-1]
    dec_last.params["b"][:] = [50, -50, 40, -40, 0]
    enc_last = model.encoder.layers[-1]
    enc_last.params["b"][2:] = [3.0, -12.0]
    x = (rng.random((3, 5)) < 0.5).astype(np.float64)
    report = check_model(model, x, rng=rng, n_samples=2)
    assert report.worst < 1e-6, str(report)


# -------------------------------------------------- linear-Gaussian model: exact log p(x)

def _linear_gaussian(rng, d=4, k=2, sigma2=0.5):
    """A VAE with no hidden layers and a full-covariance encoder *is* the linear-Gaussian model
    x = W z + b + noise; set its encoder to the exact posterior."""
    m = nv.VAE(d, [], k, likelihood="gaussian", decoder_logvar=float(np.log(sigma2)),
               gaussian_mean="identity", covariance="full", rng=rng, dtype=np.float64)
    Wd, bd = m.decoder.layers[0].params["W"], m.decoder.layers[0].params["b"]
    Wd[...] = rng.normal(size=(k, d))
    bd[...] = rng.normal(size=d)
    W = Wd.T                                               # column convention: x = W z + b
    S = np.linalg.inv(np.eye(k) + W.T @ W / sigma2)        # exact posterior covariance
    C = np.linalg.cholesky(S)
    We, be = m.encoder.layers[0].params["W"], m.encoder.layers[0].params["b"]
    We[...] = 0
    We[:, :k] = (S @ W.T / sigma2).T                       # m = S W^T (x - b) / sigma2
    be[:k] = -bd @ We[:, :k]
    rows, cols = np.tril_indices(k, -1)
    be[k:2 * k] = np.log(np.diag(C))
    be[2 * k:] = C[rows, cols]
    cov_x = W @ W.T + sigma2 * np.eye(d)

    def log_px(x):
        from scipy import stats
        return stats.multivariate_normal(bd, cov_x).logpdf(x)
    return m, log_px


def test_elbo_equals_log_px_for_the_exact_posterior():
    rng = np.random.default_rng(10)
    m, log_px = _linear_gaussian(rng)
    x = rng.normal(size=(6, 4)) * 2
    exact = log_px(x)
    # log p(x, z) - log q(z|x) is constant when q is the exact posterior: IWAE with any k is exact
    np.testing.assert_allclose(m.iwae_bound(x, 1, rng), exact, rtol=1e-10)
    np.testing.assert_allclose(m.iwae_bound(x, 7, rng), exact, rtol=1e-10)
    # the ELBO (closed-form KL, Monte Carlo reconstruction) equals log p(x) within 4 SE
    s = 20_000
    elbos = np.stack([m.elbo(x, rng, n_samples=1) for _ in range(200)])
    big = m.elbo(x, rng, n_samples=s)
    se = elbos.std(axis=0) / np.sqrt(s)
    assert np.all(np.abs(big - exact) < 4 * se + 1e-9), (big - exact, se)


def test_elbo_below_log_px_and_iwae_increases_with_k():
    rng = np.random.default_rng(11)
    m, log_px = _linear_gaussian(rng)
    m.encoder.layers[0].params["b"][:2] += 0.7                   # a wrong posterior mean
    m.encoder.layers[0].params["b"][2:4] += 0.5                  # and too wide
    x = rng.normal(size=(400, 4))
    exact = log_px(x).mean()
    bounds = []
    for k in (1, 10, 100, 1000):
        b = np.mean([m.iwae_bound(x, k, rng).mean() for _ in range(3)])
        bounds.append(b)
    elbo = m.elbo(x, rng, n_samples=200).mean()
    assert elbo < exact - 0.1
    assert bounds[0] < bounds[1] < bounds[2] < bounds[3] < exact, (bounds, exact)
    assert exact - bounds[3] < 0.1 * (exact - bounds[0])


# ------------------------------------------------------------------ training

def _synthetic_binary(rng, n=512, d=64):
    protos = rng.random((4, d)) < 0.3
    idx = rng.integers(0, 4, n)
    flips = rng.random((n, d)) < 0.05
    return (protos[idx] ^ flips).astype(np.float32)


@pytest.mark.parametrize("name,lr", [("sgd", 0.05), ("momentum", 0.01), ("adagrad", 0.05),
                                     ("adam", 3e-3)])
def test_training_improves_the_elbo_with_each_optimizer(name, lr):
    rng = np.random.default_rng(12)
    x = _synthetic_binary(rng)
    model = nv.VAE(64, [32], 4, rng=rng, activation="tanh", init="xavier")
    opt = nv.optim.make(name, lr)
    eval_rng = np.random.default_rng(99)
    before = -model.elbo(x, np.random.default_rng(99), n_samples=4).mean()
    for step in range(300):
        batch = x[(step * 64) % 512:(step * 64) % 512 + 64]
        _, grad = model.loss_and_grad(batch, rng)
        opt.step(model.params, grad)
    after = -model.elbo(x, eval_rng, n_samples=4).mean()
    assert np.isfinite(after) and after < 0.6 * before, (name, before, after)


# ------------------------------------------------------------------ dtype discipline

class _Traced(np.ndarray):
    """An ndarray that records the dtype of every ufunc result computed from it."""
    seen = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [i.view(np.ndarray) if isinstance(i, _Traced) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _Traced) else o
                                  for o in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        results = result if isinstance(result, tuple) else (result,)
        for r in results:
            if isinstance(r, np.ndarray):
                _Traced.seen.append((ufunc.__name__, r.dtype))
        if isinstance(result, np.ndarray) and not isinstance(result, _Traced):
            return result.view(_Traced)
        return result


def test_float32_training_step_creates_no_float64_arrays():
    rng = np.random.default_rng(13)
    for cov in ("diagonal", "full"):
        for objective in ("elbo", "iwae"):
            model = nv.VAE(20, [16], 3, rng=rng, covariance=cov)
            x = (rng.random((8, 20)) < 0.3).astype(np.float32)
            eps = rng.standard_normal((2, 8, 3), dtype=np.float32)
            _Traced.seen = []
            model.forward_backward(x.view(_Traced), eps.view(_Traced), objective)
            assert _Traced.seen, "tracer saw nothing"
            bad = [(u, str(d)) for u, d in _Traced.seen if d == np.float64]
            assert not bad, f"{cov}/{objective}: float64 temporaries from {bad}"
            assert model.grads.dtype == np.float32


def test_public_methods_keep_float32():
    rng = np.random.default_rng(14)
    model = nv.VAE(12, [8], 2, rng=rng)
    x = (rng.random((5, 12)) < 0.5).astype(np.float32)
    mu, logvar = model.encode(x)
    assert mu.dtype == logvar.dtype == np.float32
    assert model.decode(mu).dtype == np.float32
    assert model.elbo(x, rng).dtype == np.float32
    assert model.iwae_bound(x, 3, rng).dtype == np.float32
    assert model.sample(4, rng).dtype == np.float32
    assert model.reconstruct(x, rng).dtype == np.float32
    loss, grad = model.loss_and_grad(x, rng)
    assert isinstance(loss, float) and grad.dtype == np.float32


# ------------------------------------------------------------------ bad input

def _model():
    return nv.VAE(6, [5], 2, rng=np.random.default_rng(0))


@pytest.mark.parametrize("x,word", [
    (np.zeros((3, 7), np.float32), "x"),
    (np.zeros((3, 6), np.float64), "x"),
    (np.zeros((3, 6), np.int64), "x"),
    (np.full((3, 6), np.nan, np.float32), "x"),
    (np.full((3, 6), 2.0, np.float32), "x"),
    (np.full((3, 6), -0.5, np.float32), "x"),
    (np.zeros(6, np.float32), "x"),
    (np.zeros((0, 6), np.float32), "x"),
    ([[0.0] * 6], "x"),
])
def test_bad_data_raises_and_leaves_the_model_unchanged(x, word):
    model = _model()
    before = model.params.copy(), model.grads.copy()
    for call in (lambda: model.loss_and_grad(x, np.random.default_rng(0)),
                 lambda: model.elbo(x, np.random.default_rng(0)),
                 lambda: model.iwae_bound(x, 2, np.random.default_rng(0)),
                 lambda: model.encode(x)):
        with pytest.raises((ValueError, TypeError), match=word):
            call()
    assert np.array_equal(model.params, before[0]) and np.array_equal(model.grads, before[1])


def _one_bad(v):
    x = np.full((3, 6), 0.5, np.float32)
    x[1, 4] = v
    return x


@pytest.mark.parametrize("model", ["vae", "autoencoder"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("x,says", [
    (_one_bad(np.nan), "x contains NaN or inf"), (_one_bad(np.inf), "x contains NaN or inf"),
    (_one_bad(-np.inf), "x contains NaN or inf"), (_one_bad(1.5), "must lie in"),
    (_one_bad(-1e-7), "must lie in")])
def test_one_bad_entry_is_named_by_what_is_wrong(model, likelihood, x, says):
    """check_x reads min and max only (_validate.check_data_values): one NaN or inf anywhere is
    still named as such, and the [0, 1] range is a Bernoulli decoder's alone."""
    if model == "vae":
        model = nv.VAE(6, [5], 2, rng=np.random.default_rng(0), likelihood=likelihood)
    else:
        model = nv.autoencoders.Autoencoder(6, 4, output=likelihood, rng=np.random.default_rng(0))
    if likelihood == "gaussian" and says == "must lie in":
        assert model.check_x(x) is x
    else:
        with pytest.raises(ValueError, match=says):
            model.check_x(x)


@pytest.mark.parametrize("kwargs,word", [
    ({"x_dim": -1}, "x_dim"), ({"z_dim": 0}, "z_dim"), ({"hidden_dims": [4, -2]}, "hidden_dims"),
    ({"likelihood": "poisson"}, "likelihood"), ({"activation": "gelu"}, "activation"),
    ({"covariance": "banded"}, "covariance"), ({"weight_decay": -1.0}, "weight_decay"),
    ({"rng": 0}, "rng"), ({"x_dim": 2.5}, "x_dim"),
])
def test_bad_constructor_arguments(kwargs, word):
    args = {"x_dim": 6, "hidden_dims": [5], "z_dim": 2, "rng": np.random.default_rng(0), **kwargs}
    with pytest.raises((ValueError, TypeError), match=word):
        nv.VAE(**args)


def test_bad_noise_samples_and_rng():
    model = _model()
    x = np.zeros((3, 6), np.float32)
    with pytest.raises(ValueError, match="n_samples"):
        model.loss_and_grad(x, np.random.default_rng(0), n_samples=-2)
    with pytest.raises(TypeError, match="rng"):
        model.loss_and_grad(x, 42)
    with pytest.raises(ValueError, match="eps"):
        model.loss_and_grad(x, eps=np.zeros((1, 4, 2), np.float32))
    with pytest.raises(TypeError, match="eps"):
        model.loss_and_grad(x, eps=np.zeros((1, 3, 2), np.float64))
    with pytest.raises(ValueError, match="k"):
        model.iwae_bound(x, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n"):
        model.sample(-1, np.random.default_rng(0))
