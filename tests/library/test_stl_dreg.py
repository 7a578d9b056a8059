"""STL and DReG on the VAE (issue 16, items 3-4): the posterior's ``score=False`` backward and the
``iwae_stl`` / ``iwae_dreg`` objectives against central differences of their surrogates in float64
(the q parameters inside log q frozen; DReG's squared weights frozen), the exact identities (decoder
gradients equal IWAE's bit for bit; DReG = STL at K = 1; total = path + score), unbiasedness by
paired t-tests, and the VAE SNR rows."""
import numpy as np
import pytest

import numpyvae as nv
from numpyvae import distributions as D
from numpyvae import posterior as Q
from numpyvae.estimators import intervals as I
from numpyvae.estimators import snr as S
from numpyvae.gradcheck import check_model, numerical_gradient, rel_error


def _log_q_frozen(fam, h0, z):
    """log q(z; params(h0)) for z (S, N, k), the parameters taken from a fixed h0 (by hand)."""
    mu, scale = fam.params(h0)
    if fam.name == "diagonal":
        return np.sum(-0.5 * (z - mu) ** 2 / np.exp(scale) - 0.5 * scale - 0.5 * np.log(2 * np.pi),
                      axis=-1)
    u = np.linalg.solve(scale, np.moveaxis(z - mu, 0, -1))             # L^{-1}(z - mu): (N, k, S)
    return (D.log_std_normal(np.moveaxis(u, -1, 0))
            - np.log(np.diagonal(scale, axis1=1, axis2=2)).sum(axis=1))


@pytest.mark.parametrize("name", sorted(Q.FAMILIES))
@pytest.mark.parametrize("seed", range(3))
def test_path_only_backward_matches_differences_of_the_frozen_log_q(name, seed):
    rng = np.random.default_rng(seed)
    n, k, s = 3, 3, 4
    fam = Q.family(name, k)
    h0 = rng.uniform(-1.5, 1.5, (n, fam.raw_size))
    eps = rng.standard_normal((s, n, k))
    dz = rng.standard_normal((s, n, k))
    dlq = rng.standard_normal((s, n))
    out, cache = fam.forward(h0, eps, kl=False, log_q=True)
    path = fam.backward(dz, cache, dlog_q=dlq, score=False)
    total = fam.backward(dz, cache, dlog_q=dlq)
    h = h0.copy()

    def surrogate():          # z moves with h; the parameters inside log q stay at h0
        z = fam.forward(h, eps, kl=False)[0].z
        return np.sum(dz * z) + np.sum(dlq * _log_q_frozen(fam, h0, z))

    assert rel_error(path, numerical_gradient(surrogate, h, h=1e-6)) < 1e-7
    # total = path + score: the score term is d/dh of log q(z0; params(h)) with z0 held fixed
    z0 = out.z

    def score():
        return np.sum(dlq * _log_q_frozen(fam, h, z0))

    assert rel_error(total - path, numerical_gradient(score, h, h=1e-6)) < 1e-7
    assert rel_error(total, path) > 1e-2                   # the dropped term is not small here
    np.testing.assert_array_equal(fam.backward(dz, cache, score=False), fam.backward(dz, cache))


@pytest.mark.parametrize("name", sorted(Q.FAMILIES))
def test_path_only_backward_keeps_float32(name):
    rng = np.random.default_rng(0)
    fam = Q.family(name, 2)
    h = rng.uniform(-1, 1, (3, fam.raw_size)).astype(np.float32)
    eps = rng.standard_normal((2, 3, 2), dtype=np.float32)
    out, cache = fam.forward(h, eps, kl=False, log_q=True)
    dh = fam.backward(np.ones_like(out.z), cache, dlog_q=np.ones_like(out.log_q), score=False)
    assert dh.dtype == np.float32 and dh.shape == h.shape


class _Surrogate:
    """A float64 VAE seen by check_model: the analytic gradient is the VAE's ``objective``; the
    loss differentiated numerically is the STL / DReG surrogate with phi_stop (and, for DReG, the
    squared weights) frozen at the current parameters."""

    def __init__(self, model, x, eps, dreg=False):
        self.m, self.params = model, model.params
        self.named_params, self.named_grads = model.named_params, model.named_grads
        h0, _ = model.encoder.forward(x)
        self.h0 = h0.copy()
        self.weights = None
        if dreg:
            lw = self._log_w(x, eps)
            w = np.exp(lw - lw.max(axis=0))
            self.weights = (w / w.sum(axis=0)) ** 2

    def _log_w(self, x, eps):
        m = self.m
        s, n = eps.shape[:2]
        h, _ = m.encoder.forward(x)
        z = m.posterior.forward(h, eps, kl=False)[0].z
        out, _ = m.decoder.forward(z.reshape(s * n, -1))
        log_px, _ = m.likelihood_forward(x, out.reshape(s, n, -1))
        return log_px + D.log_std_normal(z) - _log_q_frozen(m.posterior, self.h0, z)

    def loss_and_grad(self, x, eps, objective):
        return self.m.loss_and_grad(x, eps=eps, objective=objective)

    def loss(self, x, eps, objective):
        lw = self._log_w(x, eps)
        if self.weights is not None:                    # -mean_n sum_s stop(w~_s^2) l_s
            return -float(np.mean(np.sum(self.weights * lw, axis=0)))
        top = lw.max(axis=0)
        return -float(np.mean(top + np.log(np.mean(np.exp(lw - top), axis=0))))


def _model(cov, lik, seed=0):
    rng = np.random.default_rng(seed)
    model = nv.VAE(6, [5], 3, likelihood=lik, covariance=cov, activation="tanh", rng=rng,
                   dtype=np.float64)
    model.params[...] += 0.3 * rng.standard_normal(model.params.size)   # away from the init
    x = rng.random((4, 6))
    eps = rng.standard_normal((5, 4, 3))
    return model, x, eps


COMBOS = [("diagonal", "bernoulli"), ("full", "bernoulli"), ("diagonal", "gaussian"),
          ("full", "gaussian")]


@pytest.mark.parametrize("cov,lik", COMBOS)
def test_stl_gradient_is_the_gradient_of_its_surrogate(cov, lik):
    model, x, eps = _model(cov, lik)
    report = check_model(_Surrogate(model, x, eps), x, eps=eps, objective="iwae_stl",
                         threshold=1e-7)
    assert report.passed, str(report)
    # and it is not the IWAE gradient: the score term it drops is not zero at fixed noise
    model.loss_and_grad(x, eps=eps, objective="iwae_stl")
    stl = model.named_grads()["encoder.0.W"].copy()
    model.loss_and_grad(x, eps=eps, objective="iwae")
    assert rel_error(stl, model.named_grads()["encoder.0.W"]) > 1e-3


@pytest.mark.parametrize("cov,lik", COMBOS)
def test_dreg_encoder_gradient_is_the_gradient_of_its_surrogate(cov, lik):
    model, x, eps = _model(cov, lik, seed=1)
    enc = [n for n in model.named_params() if n.startswith("encoder")]
    dec = [n for n in model.named_params() if n.startswith("decoder")]
    report = check_model(_Surrogate(model, x, eps, dreg=True), x, eps=eps,
                         objective="iwae_dreg", params=enc, threshold=1e-7)
    assert report.passed, str(report)
    # its decoder gradient is the IWAE bound's, checked against the bound itself
    report = check_model(model, x, eps=eps, objective="iwae_dreg", params=dec, threshold=1e-7)
    assert report.passed, str(report)


@pytest.mark.parametrize("cov", ["diagonal", "full"])
def test_exact_identities(cov):
    model, x, eps = _model(cov, "bernoulli", seed=2)
    grads, losses = {}, {}
    for obj in ("iwae", "iwae_stl", "iwae_dreg"):
        losses[obj] = model.loss_and_grad(x, eps=eps, objective=obj)[0]
        grads[obj] = {n: g.copy() for n, g in model.named_grads().items()}
    for obj in ("iwae_stl", "iwae_dreg"):
        assert losses[obj] == losses["iwae"]                    # the same bound
        for n in grads[obj]:
            if n.startswith("decoder"):                           # bit for bit
                np.testing.assert_array_equal(grads[obj][n], grads["iwae"][n])
    # K = 1: every normalised weight is exactly 1, so DReG's w~^2 = w~ and DReG = STL
    one = eps[:1]
    model.loss_and_grad(x, eps=one, objective="iwae_stl")
    stl1 = model.grads.copy()
    model.loss_and_grad(x, eps=one, objective="iwae_dreg")
    np.testing.assert_array_equal(model.grads, stl1)
    # ... and K = 1 STL is the ELBO's path-only gradient: the ELBO with the Monte Carlo KL differs
    # from it by the score term, whose mean is 0 (tested below), so the two are not equal here
    model.loss_and_grad(x, eps=one, objective="iwae")
    assert rel_error(model.grads, stl1) > 1e-3


def _encoder_samples(model, x, k, reps, rng, objectives=("iwae", "iwae_stl", "iwae_dreg")):
    """{objective: (reps, encoder params)} on shared noise (paired)."""
    names = [n for n in model.named_params() if n.startswith("encoder")]
    out = {o: [] for o in objectives}
    for _ in range(reps):
        eps = rng.standard_normal((k, x.shape[0], model.z_dim))
        for o in objectives:
            model.loss_and_grad(x, eps=eps, objective=o)
            out[o].append(np.concatenate([model.named_grads()[n].ravel() for n in names]))
    out = {o: np.array(v) for o, v in out.items()}
    keep = out["iwae"].std(axis=0) > 0            # weights of inputs that are 0 in x get no gradient
    return {o: v[:, keep] for o, v in out.items()}


@pytest.fixture(scope="module")
def small_vae():
    rng = np.random.default_rng(3)
    model = nv.VAE(8, [6], 2, activation="tanh", rng=rng, dtype=np.float64)
    model.params[...] += 0.3 * rng.standard_normal(model.params.size)
    x = (rng.random((2, 8)) > 0.5).astype(np.float64)
    return model, x


def test_dreg_is_unbiased_and_stl_is_not_for_k_above_1(small_vae):
    model, x = small_vae
    g = _encoder_samples(model, x, 8, 2000, np.random.default_rng(4))
    p = S.paired_t(g["iwae_dreg"], g["iwae"])[1]
    assert min(1.0, p.min() * p.size) > 1e-3                 # Bonferroni: no evidence of bias
    p = S.paired_t(g["iwae_stl"], g["iwae"])[1]
    assert p.min() * p.size < 1e-6                          # the same test finds STL's bias


def test_stl_is_unbiased_at_k_1(small_vae):
    model, x = small_vae
    g = _encoder_samples(model, x, 1, 2000, np.random.default_rng(5), ("iwae", "iwae_stl"))
    p = S.paired_t(g["iwae_stl"], g["iwae"])[1]
    assert min(1.0, p.min() * p.size) > 1e-3
    # and the paired difference (the score term) is not identically zero: the test has data
    assert np.std(g["iwae_stl"] - g["iwae"], axis=0).max() > 1e-2


def test_third_family_without_score_serves_iwae_but_not_stl(monkeypatch):
    from test_posterior import IsotropicGaussian
    monkeypatch.setitem(Q.FAMILIES, "isotropic", IsotropicGaussian)
    rng = np.random.default_rng(6)
    model = nv.VAE(5, [4], 3, rng=rng, covariance="isotropic", dtype=np.float64)
    x = rng.random((3, 5))
    model.loss_and_grad(x, rng, n_samples=2, objective="iwae")
    with pytest.raises(TypeError, match="score"):
        model.loss_and_grad(x, rng, n_samples=2, objective="iwae_stl")


def test_vae_snr_rows_for_every_estimator():
    model = nv.VAE(20, [16], 3, rng=np.random.default_rng(0))
    x = (np.random.default_rng(1).random((3, 20)) > 0.5).astype(np.float32)
    rows = S.vae_snr(model, x, Ks=(1, 4), repetitions=8, rng=np.random.default_rng(2))
    assert {(r["estimator"], r["part"], r["K"]) for r in rows} == {
        (e, p, k) for e in S.ESTIMATORS for p in ("encoder", "decoder") for k in (1, 4)}
    assert all(r["model"] == "vae" and np.isfinite(r["snr"]) and r["snr"] > 0 for r in rows)
    snr = {(r["estimator"], r["part"], r["K"]): r["snr"] for r in rows}
    for k in (1, 4):           # the decoder gradients are IWAE's, bit for bit, on shared noise
        assert snr["stl", "decoder", k] == snr["dreg", "decoder", k] == snr["iwae", "decoder", k]
    assert snr["stl", "encoder", 1] == snr["dreg", "encoder", 1]          # DReG = STL at K = 1
    assert snr["stl", "encoder", 4] != snr["dreg", "encoder", 4]
    by = {(r["estimator"], r["part"], r["K"]): r for r in rows}
    for r in rows:
        assert 0 < r["snr_lo"] <= r["snr"] <= r["snr_hi"], r
    for k in (1, 4):           # the same gradients, the same bootstrap counts: the same interval
        for e in ("stl", "dreg"):
            assert by[e, "decoder", k] == {**by["iwae", "decoder", k], "estimator": e}
    assert by["stl", "encoder", 1]["snr_lo"] == by["dreg", "encoder", 1]["snr_lo"]


def test_vae_snr_refuses_a_decoder_gradient_that_is_not_iwaes():
    model = nv.VAE(10, [6], 2, rng=np.random.default_rng(0))
    x = (np.random.default_rng(1).random((2, 10)) > 0.5).astype(np.float32)
    real = model.loss_and_grad

    def broken(x, eps, objective):               # a DReG that also reweights the decoder
        out = real(x, eps=eps, objective=objective)
        if objective == "iwae_dreg":
            model.named_grads()["decoder.0.W"][...] *= 2
        return out

    model.loss_and_grad = broken
    with pytest.raises(RuntimeError, match="dreg decoder gradient"):
        S.vae_snr(model, x, Ks=(2,), repetitions=3, rng=np.random.default_rng(2))


def test_vae_snr_interval_narrows_with_more_repetitions():
    rng = np.random.default_rng(3)
    model = nv.VAE(12, [8], 2, activation="tanh", rng=rng, dtype=np.float64)
    model.params[...] += 0.3 * rng.standard_normal(model.params.size)
    x = (np.random.default_rng(4).random((3, 12)) > 0.5).astype(np.float64)
    width = {}
    for r in (40, 640):      # 40 groups either way, so t_ν is the same and se alone shrinks
        rows = S.vae_snr(model, x, Ks=(1, 8), repetitions=r, rng=np.random.default_rng(5),
                         groups=40)
        width[r] = np.array([np.log(w["snr_hi"] / w["snr_lo"]) for w in rows])
    ratio = width[640] / width[40]
    # 16 times the repetitions: about 1/4 (0.3 here: the median over this small model's few
    # parameters is coarse); an interval that narrowed like R^(-1/4), 1/2, fails
    assert np.all(ratio < 0.6), ratio
    assert 0.18 < np.median(ratio) < 0.4, ratio


def test_vae_snr_and_its_t_tests_match_a_direct_computation():
    model = nv.VAE(7, [5], 2, activation="tanh", rng=np.random.default_rng(7), dtype=np.float64)
    x = (np.random.default_rng(8).random((3, 7)) > 0.5).astype(np.float64)
    tests = {}
    rows = S.vae_snr(model, x, Ks=(3,), repetitions=6, rng=np.random.default_rng(9), tests=tests)
    rng = np.random.default_rng(9)                   # replay the same noise, keep every sample
    g = {e: [] for e in S.ESTIMATORS}
    for _ in range(6):
        eps = rng.standard_normal((3, 3, 2))
        for e in S.ESTIMATORS:
            model.loss_and_grad(x, eps=eps, objective=S.VAE_OBJECTIVES[e])
            g[e].append(model.grads.copy())
    g = {e: np.array(v) for e, v in g.items()}
    n_enc = sum(v.size for n, v in model.named_params().items() if n.startswith("encoder"))
    for r in rows:
        a = g[r["estimator"]][:, :n_enc] if r["part"] == "encoder" else \
            g[r["estimator"]][:, n_enc:]
        sd = a.std(axis=0, ddof=1)
        assert r["snr"] == pytest.approx(np.median(np.abs(a.mean(0)[sd > 0]) / sd[sd > 0]),
                                         rel=1e-9)
    for e in ("stl", "dreg"):
        d = g[e][:, :n_enc] - g["iwae"][:, :n_enc]
        live = d.std(axis=0) > 0
        t, p = S.paired_t(g[e][:, :n_enc][:, live], g["iwae"][:, :n_enc][:, live])
        np.testing.assert_allclose(tests[3][e][0], t, rtol=1e-7)
        np.testing.assert_allclose(tests[3][e][1], p, rtol=1e-6)
    # the interval: R = 6 draws in min(10, 6) = 6 groups of one, bootstrapped with the counts of
    # the generator vae_snr spawns from rng (one seed per K, shared by every series)
    seed = int(np.random.default_rng(9).spawn(1)[0].integers(2 ** 63))
    for r in rows:
        a = g[r["estimator"]][:, :n_enc] if r["part"] == "encoder" else g["iwae"][:, n_enc:]
        out = I.median_snr_interval(np.ones(6), a, a * a, rng=np.random.default_rng(seed))
        assert (r["snr_lo"], r["snr_hi"]) == pytest.approx((out["lo"], out["hi"]), rel=1e-9)
    with pytest.raises(ValueError, match="repetitions"):
        S.vae_snr(model, x, Ks=(1,), repetitions=1, rng=rng)
