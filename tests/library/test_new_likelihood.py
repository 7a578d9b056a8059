"""A new decoder likelihood is one class plus one registry entry: this test defines a third one,
the Laplace likelihood with a learned scale per pixel, registers it for the test only, checks
its log-density against scipy and its backward pass against central differences in float64,
and TRAINS a VAE through it -- with the library's training loop and with ``numpyvae train`` --
with no edit of the package (issue 28).

    p(x | z) = prod_d 1/(2 b_d) exp(-|x_d - m_d| / b_d),    out = [m | s],  s = log b
    log p    = sum_d [-log 2 - s_d - |x_d - m_d| e^-s_d]
    d/dm_d   = sign(x_d - m_d) e^-s_d,      d/ds_d = |x_d - m_d| e^-s_d - 1
"""
import json

import numpy as np
import pytest
from scipy import stats

import numpyvae as nv
from numpyvae import cli
from numpyvae import likelihoods as P
from numpyvae.gradcheck import check_model, numerical_gradient, rel_error
from numpyvae.shapes import make_shapes
from numpyvae.train import TrainConfig, train


class Laplace:
    """The decoder emits the location m and the log-scale s, (..., 2D); E[x|z] = m."""

    name = "laplace"

    def __init__(self, x_dim, **_options):
        self.x_dim, self.out_size = x_dim, 2 * x_dim

    def forward(self, x, out):
        m, s = out[..., :self.x_dim], out[..., self.x_dim:]
        r = x - m
        inv_b = np.exp(-s)
        return (-np.log(2.0) - s - np.abs(r) * inv_b).sum(axis=-1), (r, inv_b)

    def backward(self, dlog_px, cache):
        r, inv_b = cache
        d = dlog_px[..., None]
        return np.concatenate([np.sign(r) * inv_b * d, (np.abs(r) * inv_b - 1) * d], axis=-1)

    def mean(self, out):
        return out[..., :self.x_dim].copy()

    decode = mean

    def draw(self, out, rng):
        m, b = out[..., :self.x_dim], np.exp(out[..., self.x_dim:])
        return (m + b * rng.laplace(size=m.shape)).astype(out.dtype)

    def check_x(self, x, name):
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf")
        return x


class LaplaceMissingMinusOne(Laplace):
    """A planted error: d/ds without the -1 of d(-s)/ds."""

    def backward(self, dlog_px, cache):
        r, inv_b = cache
        d = dlog_px[..., None]
        return np.concatenate([np.sign(r) * inv_b * d, np.abs(r) * inv_b * d], axis=-1)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(P.LIKELIHOODS, "laplace", Laplace)


def _shapes(n, seed):
    x = make_shapes(n, np.random.default_rng(seed), size=12)
    x = x[0] if isinstance(x, tuple) else x
    return x.reshape(n, -1).astype(np.float32)


def test_the_log_density_is_scipys_and_the_backward_its_derivative():
    rng = np.random.default_rng(0)
    lik = Laplace(5)
    x = rng.random((3, 5))
    out = rng.standard_normal((4, 3, 10))
    log_px, cache = lik.forward(x, out)
    want = stats.laplace.logpdf(x, loc=out[..., :5], scale=np.exp(out[..., 5:])).sum(axis=-1)
    np.testing.assert_allclose(log_px, want, rtol=1e-12)
    dll = rng.standard_normal((4, 3))
    numeric = numerical_gradient(lambda: lik.forward(x, out)[0], out, dout=dll)
    assert rel_error(lik.backward(dll, cache), numeric) < 1e-8
    wrong = LaplaceMissingMinusOne(5)
    assert rel_error(wrong.backward(dll, wrong.forward(x, out)[1]), numeric) > 1e-2


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_a_vae_through_it_passes_the_float64_gradient_check(registered, monkeypatch, objective):
    rng = np.random.default_rng(1)
    model = nv.VAE(5, [4], 2, likelihood="laplace", rng=rng, activation="tanh", dtype=np.float64)
    assert model.decoder.layers[-1].params["b"].size == 10          # [m | s]
    x = rng.random((3, 5))
    eps = rng.standard_normal((3, 3, 2))
    report = check_model(model, x, eps=eps, objective=objective, threshold=1e-7)
    assert report.passed, str(report)
    # the same check turns red when the likelihood's backward is wrong
    monkeypatch.setitem(P.LIKELIHOODS, "laplace", LaplaceMissingMinusOne)
    wrong = nv.VAE(5, [4], 2, likelihood="laplace", rng=np.random.default_rng(1),
                   activation="tanh", dtype=np.float64)
    assert not check_model(wrong, x, eps=eps, objective=objective, threshold=1e-7).passed


def test_the_model_asks_it_for_the_mean_a_draw_and_the_data_values(registered):
    rng = np.random.default_rng(2)
    model = nv.VAE(4, [3], 2, likelihood="laplace", rng=rng)
    z = rng.standard_normal((5, 2), dtype=np.float32)
    out, _ = model.decoder.forward(z)
    np.testing.assert_array_equal(model.decode(z), out[:, :4])
    draws = model.sample(20000, np.random.default_rng(3), mean=False)
    assert draws.shape == (20000, 4) and draws.dtype == np.float32
    # a Laplace draw has E|x - m| = b: the decoder's scale at z = 0 is exp(s(0))
    zero = np.zeros((20000, 2), np.float32)
    out0, _ = model.decoder.forward(zero[:1])
    x0 = model._emit(zero, np.random.default_rng(4), mean=False)
    b0 = np.exp(out0[0, 4:])
    np.testing.assert_allclose(np.abs(x0 - out0[0, :4]).mean(axis=0), b0, rtol=0.05)
    model.check_x(np.full((2, 4), 3.0, np.float32))      # not a mass on [0, 1]: 3 is data
    with pytest.raises(ValueError, match="x_train contains NaN"):
        model.check_x(np.full((2, 4), np.nan, np.float32), "x_train")


def test_training_through_it_improves_the_model(registered):
    x_train, x_test = _shapes(256, 0), _shapes(64, 1)
    model = nv.VAE(x_train.shape[1], [32], 3, likelihood="laplace", rng=np.random.default_rng(5))
    before = -nv.evaluate.elbo_parts(model, x_test, np.random.default_rng(6))[0].mean()
    state = train(model, nv.optim.Adam(3e-3), x_train, x_test,
                  TrainConfig(epochs=4, batch_size=32), np.random.default_rng(7))
    rows = state.history
    assert len(rows) == 4 and all(np.isfinite(r["train_elbo"]) for r in rows)
    after = -rows[-1]["test_elbo"]
    assert after < before / 10, (before, after)  # test -ELBO, nats: measured 6016 -> 153
    ll = nv.evaluate.log_likelihood(model, x_test[:8], k=16, rng=np.random.default_rng(8))
    assert ll.shape == (8,) and np.all(np.isfinite(ll))  # the IWAE estimate asks it too


def test_numpyvae_train_offers_and_trains_it(registered, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", "--likelihood", "laplace", "--epochs", "2", "--n-train", "256",
                   "--n-test", "64", "--hidden", "32", "--z-dim", "3", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert "laplace" in json.dumps(config)
    assert (out / "report.md").exists()


def test_an_unregistered_likelihood_is_refused_with_the_registered_ones():
    with pytest.raises(ValueError, match="likelihood must be one of .*gaussian"):
        nv.VAE(5, [4], 3, likelihood="laplace", rng=np.random.default_rng(0))
