"""A new posterior family and a new bound are each one definition plus one registry entry: this
test defines a third family (an isotropic Gaussian) and a fifth bound (Renyi's alpha = 1/2 bound,
Li & Turner 2016) here, registers them for the test only, and TRAINS a VAE through both -- with
the library's training loop and with ``numpyvae train`` -- and runs the encoder estimator study
on the family, with no edit of the package (issue 28)."""
import json

import numpy as np
import pytest

import numpyvae as nv
from numpyvae import cli
from numpyvae import objectives as O
from numpyvae import posterior as Q
from numpyvae.estimators import encoder as E
from numpyvae.gradcheck import check_model, numerical_gradient, rel_error
from numpyvae.shapes import make_shapes
from numpyvae.train import TrainConfig, train


class IsotropicGaussian:
    """q(z|x) = N(mu, exp(a) I): one log-variance a per example.  h = [mu | a], (N, k + 1).
    Everything is the diagonal family's at logvar = (a, ..., a), with the gradients of the k
    copies of a summed."""

    name = "isotropic"

    def __init__(self, k):
        self.k, self.raw_size, self._diag = k, k + 1, Q.DiagonalGaussian(k)

    def _wide(self, h):
        return np.concatenate([h[:, :self.k], np.repeat(h[:, self.k:], self.k, axis=1)], axis=1)

    def _narrow(self, dwide):
        return np.concatenate([dwide[:, :self.k], dwide[:, self.k:].sum(axis=1, keepdims=True)],
                              axis=1)

    def params(self, h):
        return self._diag.params(self._wide(h))

    moments = staticmethod(Q.DiagonalGaussian.moments)

    def forward(self, h, eps, kl=True, log_q=False):
        return self._diag.forward(self._wide(h), eps, kl=kl, log_q=log_q)

    def backward(self, dz, cache, dkl=None, dlog_q=None, score=True):
        return self._narrow(self._diag.backward(dz, cache, dkl=dkl, dlog_q=dlog_q, score=score))

    def noise(self, h, z):
        return self._diag.noise(self._wide(h), z)

    def score(self, h, eps, w):
        return self._narrow(self._diag.score(self._wide(h), eps, w))


ALPHA = 0.5


def renyi_weights(log_px, log_pz, log_q, kl, n):
    """L_alpha = 1/(1 - alpha) log 1/S sum_s w_s^(1 - alpha):  d L / d log w_s = the normalised
    w_s^(1 - alpha).  Between the IWAE bound (alpha = 0) and the Monte Carlo ELBO (alpha -> 1)."""
    lme, w = O.log_mean_exp((1 - ALPHA) * (log_px + log_pz - log_q), axis=0, weights=True)
    dlog_w = w * (-1.0 / n)
    return lme / (1 - ALPHA), {"log_px": dlog_w, "log_pz": dlog_w, "log_q": -dlog_w,
                               "kl": None}, {}


RENYI = O.Objective("renyi_half", "Renyi bound, alpha = 1/2", renyi_weights, uses_kl=False)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(Q.FAMILIES, "isotropic", IsotropicGaussian)
    monkeypatch.setitem(O.OBJECTIVES, "renyi_half", RENYI)


def _shapes(n, seed):
    x = make_shapes(n, np.random.default_rng(seed), size=12)
    x = x[0] if isinstance(x, tuple) else x
    return x.reshape(n, -1).astype(np.float32)


def test_the_new_pair_is_gradient_checked_and_bounded_by_its_neighbours(registered):
    rng = np.random.default_rng(0)
    model = nv.VAE(5, [4], 3, rng=rng, covariance="isotropic", activation="tanh", dtype=np.float64)
    assert model.encoder.layers[-1].params["b"].size == 4          # k + 1 raw outputs
    x = rng.random((3, 5))
    eps = rng.standard_normal((4, 3, 3))
    report = check_model(model, x, eps=eps, objective="renyi_half", threshold=1e-7)
    assert report.passed, str(report)
    # on the same noise: IWAE >= Renyi(1/2) >= mean_s log w_s (the log-weights' plain mean)
    iwae, renyi = (-model.loss(x, eps=eps, objective=o) for o in ("iwae", "renyi_half"))
    mc_elbo = model.log_weights(x, eps).mean()
    assert iwae > renyi > mc_elbo


def test_training_through_the_new_family_and_bound_improves_the_model(registered):
    x_train, x_test = _shapes(256, 0), _shapes(64, 1)
    rng = np.random.default_rng(2)
    model = nv.VAE(x_train.shape[1], [32], 3, rng=rng, covariance="isotropic")
    before = -nv.evaluate.elbo_parts(model, x_test, np.random.default_rng(3))[0].mean()
    state = train(model, nv.optim.Adam(3e-3), x_train, x_test,
                  TrainConfig(epochs=4, batch_size=32, n_samples=3, objective="renyi_half"), rng)
    rows = state.history
    assert len(rows) == 4 and all(np.isfinite(r["train_elbo"]) for r in rows)
    assert np.isnan(rows[-1]["train_kl"])                # no closed-form KL in this bound
    after = -rows[-1]["test_elbo"]
    assert after < before - 20, (before, after)          # nats per example, test -ELBO
    kl = nv.evaluate.kl_per_dim(model, x_test)           # evaluation asks the family too
    assert kl.shape == (3,) and np.all(np.isfinite(kl))


def test_numpyvae_train_offers_and_trains_them(registered, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["train", "--covariance", "isotropic", "--objective", "renyi-half",
                   "--samples", "3", "--epochs", "2", "--n-train", "256", "--n-test", "64",
                   "--hidden", "32", "--z-dim", "3", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert "isotropic" in json.dumps(config) and "renyi-half" in json.dumps(config)
    assert (out / "report.md").exists()


def test_unregistered_names_are_refused_with_the_registered_ones():
    with pytest.raises(ValueError, match="iwae_dreg"):
        O.get("renyi_half")
    with pytest.raises(ValueError, match="covariance"):
        nv.VAE(5, [4], 3, rng=np.random.default_rng(0), covariance="isotropic")


def test_the_encoder_study_runs_on_the_new_family(registered):
    rng = np.random.default_rng(4)
    model = nv.VAE(6, [5], 2, rng=rng, covariance="isotropic", activation="tanh", dtype=np.float64)
    x = rng.random((4, 6))
    eps = rng.standard_normal((3, 4, 2))
    got = E.encoder_gradients(model, x, eps)
    num = numerical_gradient(lambda: E.single_sample_f(model, x, eps).mean(),
                             model.encoder.flat_params)
    assert rel_error(got["pathwise"], num) < 1e-7
    h, _ = E._encode(model, x)
    z = model.posterior.forward(h, eps, kl=False)[0].z
    w = E.single_sample_f(model, x, eps) / eps[..., 0].size
    num = numerical_gradient(lambda: float((w * E.log_q(model, x, z)).sum()),
                             model.encoder.flat_params)
    assert rel_error(got["score"], num) < 1e-7
