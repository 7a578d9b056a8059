"""Issue 28's refactor (the family owns q, the bounds as one table, vae.py in lecture order) changes
no number: training a few steps through every family x bound, the evaluation functions, the
encoder estimator study and the bound values, against arrays recorded from the code before it
(commit fcf821a, tests/data/refactor_reference.npz, written by ``python tests/library/test_refactor_reference.py``).

Tolerances: the float32 training, evaluation and bound values must be bit-identical (the arithmetic
order did not change); the float64 encoder study must agree to 1e-12 (relative to the largest entry),
which is what "the old estimates equal the new ones" means for an estimator that now asks the
posterior family for the score instead of writing it out itself.  Bits are a property of the machine
too (NumPy's SIMD kernels, the BLAS): the file also holds ``machine_probe``, a few float32 exp, log,
tanh and matrix products from NumPy alone, and where they differ from the recording machine's (an
AMD EPYC, AVX2 kernels) the float32 arrays are compared to 1e-5 of their scale instead.
"""
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

import numpyvae as nv
from numpyvae.estimators import encoder as E
from numpyvae.shapes import make_shapes

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "refactor_reference.npz"
FAMILIES = ("diagonal", "full")
BOUNDS = ("elbo", "iwae", "iwae_stl", "iwae_dreg")
TRAIN = [(c, o, "bernoulli") for c, o in itertools.product(FAMILIES, BOUNDS)] + \
        [(c, "elbo", "gaussian") for c in FAMILIES]


def _data():
    x = make_shapes(64, np.random.default_rng(0), size=12)
    x = x[0] if isinstance(x, tuple) else x
    return x.astype(np.float32).reshape(64, -1)


def _train(cov, obj, lik):
    x = _data()
    rng = np.random.default_rng(1)
    model = nv.VAE(x.shape[1], [12], 3, likelihood=lik, rng=rng, covariance=cov)
    opt = nv.optim.Adam(1e-2)
    losses = []
    for step in range(6):
        i = (step * 16) % 64
        loss, grad = model.loss_and_grad(x[i:i + 16], rng, n_samples=3, objective=obj)
        opt.step(model.params, grad)
        losses.append(loss)
    return np.array(losses), model.params.copy()


def _trained(cov, dtype=np.float32):
    losses, params = _train(cov, "elbo", "bernoulli")
    model = nv.VAE(_data().shape[1], [12], 3, rng=np.random.default_rng(1), covariance=cov,
                   dtype=dtype)
    model.params[...] = params
    return model


def _evaluation(cov):
    x = _data()[:20]
    model = _trained(cov)
    ev = nv.evaluate
    elbo, recon, kl = ev.elbo_parts(model, x, np.random.default_rng(2), batch_size=7, n_samples=2)
    out = {"elbo": elbo, "recon": recon, "kl": kl,
           "loglik": ev.log_likelihood(model, x, 30, np.random.default_rng(3), warn=False),
           "iwae_bound": model.iwae_bound(x, 10, np.random.default_rng(4)),
           "kl_per_dim": ev.kl_per_dim(model, x, batch_size=7),
           "activity": ev.active_units(model, x, batch_size=7)[1]}
    eps = np.random.default_rng(5).standard_normal((4, 20, 3), dtype=np.float32)
    for obj in BOUNDS:
        out[f"loss.{obj}"] = np.array(model.loss(x, eps=eps, objective=obj))
    out["log_weights"] = model.log_weights(x, eps)
    return out


def _encoder_study():
    """The diagonal family in float64 (the study refused the full family before issue 28)."""
    x = _data()[:10].astype(np.float64)
    model = _trained("diagonal", np.float64)
    eps = np.random.default_rng(6).standard_normal((4, 10, 3))
    out = {f"grad.{k}": v for k, v in E.encoder_gradients(model, x, eps).items()}
    out["f"] = E.single_sample_f(model, x, eps)
    z = np.random.default_rng(7).standard_normal((2, 10, 3))
    out["log_q"] = E.log_q(model, x, z)
    out["log_q_grad"] = E.log_q_grad(model, x, z, np.random.default_rng(8).standard_normal((2, 10)))
    for est in E.ESTIMATORS:
        loss, grad = E.loss_gradient(model, x, eps, est)
        out[f"loss_gradient.{est}"] = np.append(grad.copy(), loss)
    m = E.estimator_moments(model, x, 3, 5, np.random.default_rng(9))
    for k, v in m.items():
        out[f"moments.{k}"] = np.concatenate([v.mean, v.var])
    return out


def _machine_probe():
    """float32 results of the NumPy kernels the model uses, on fixed inputs: equal bits here mean
    the same float32 arithmetic as the recording machine."""
    rng = np.random.default_rng(123)
    a, b = (rng.standard_normal((48, 48), dtype=np.float32) for _ in range(2))
    return np.concatenate([np.exp(a).ravel(), np.log(np.abs(b) + 1).ravel(), np.tanh(a).ravel(),
                           (a @ b).ravel(), (a[:16] @ b.T).ravel(), a.sum(axis=1)])


def _same(got, want, what, bitwise):
    """Bit for bit on the recording machine's kind, else to float32 rounding of the scale."""
    if bitwise:
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.max(np.abs(want)),
                                   err_msg=what)


def _record():
    arrays = {}
    for cov, obj, lik in TRAIN:
        losses, params = _train(cov, obj, lik)
        arrays[f"train.{cov}-{obj}-{lik}.loss"] = losses
        arrays[f"train.{cov}-{obj}-{lik}.params"] = params
    for cov in FAMILIES:
        arrays.update({f"eval.{cov}.{k}": v for k, v in _evaluation(cov).items()})
    arrays.update({f"encoder.{k}": v for k, v in _encoder_study().items()})
    arrays["machine_probe"] = _machine_probe()
    np.savez(REFERENCE, **arrays)
    print(f"wrote {len(arrays)} arrays to {REFERENCE}")


@pytest.fixture(scope="module")
def ref():
    return np.load(REFERENCE)


@pytest.fixture(scope="module")
def bitwise(ref):
    """True on a machine whose float32 kernels give the recording machine's bits."""
    return np.array_equal(_machine_probe(), ref["machine_probe"])


@pytest.mark.parametrize("cov,obj,lik", TRAIN, ids=["-".join(b) for b in TRAIN])
def test_training_is_unchanged(ref, bitwise, cov, obj, lik):
    losses, params = _train(cov, obj, lik)
    key = f"train.{cov}-{obj}-{lik}"
    _same(losses, ref[key + ".loss"], "loss", bitwise)
    _same(params, ref[key + ".params"], "params", bitwise)


@pytest.mark.parametrize("cov", FAMILIES)
def test_evaluation_and_bounds_are_unchanged(ref, bitwise, cov):
    for k, v in _evaluation(cov).items():
        _same(np.asarray(v), ref[f"eval.{cov}.{k}"], k, bitwise)


def test_encoder_study_is_unchanged_to_1e12(ref):
    got = _encoder_study()
    assert set(got) == {k[len("encoder."):] for k in ref.files if k.startswith("encoder.")}
    for k, v in got.items():
        want = ref[f"encoder.{k}"]
        assert np.max(np.abs(v - want)) <= 1e-12 * np.max(np.abs(want)), k


def test_a_planted_change_is_caught(ref, bitwise, monkeypatch):
    """The comparison can fail: a sample moved by one part in 2^20 (in 10^3 where only the
    tolerance applies) moves the training run off the recording."""
    real = nv.reparam.gaussian_forward
    factor = np.float32(1 + 2.0 ** -20 if bitwise else 1 + 1e-3)

    def planted(mu, logvar, eps):
        z, cache = real(mu, logvar, eps)
        z *= factor
        return z, cache

    monkeypatch.setattr(nv.reparam, "gaussian_forward", planted)
    with pytest.raises(AssertionError):
        test_training_is_unchanged(ref, bitwise, "diagonal", "elbo", "bernoulli")


if __name__ == "__main__":
    sys.exit(_record())
