"""Tests for numpyvae.estimators.encoder (score-function and pathwise ELBO gradients of a VAE
encoder) and numpyvae.plots.encoder_variance."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import numpyvae as nv
from numpyvae.estimators import encoder as G
from numpyvae.gradcheck import numerical_gradient, rel_error


FAMILIES = tuple(nv.posterior.FAMILIES)     # the study asks the family: it runs on every one


def _tiny(seed=0, activation="tanh", likelihood="bernoulli", hidden=(5,), z_dim=2, x_dim=6, n=4,
          covariance="diagonal"):
    rng = np.random.default_rng(seed)
    model = nv.VAE(x_dim, list(hidden), z_dim, likelihood=likelihood, activation=activation,
                   rng=rng, dtype=np.float64, covariance=covariance)
    # nonzero biases, so that no parameter is special
    model.params += 0.1 * rng.standard_normal(model.params.size)
    x = rng.random((n, x_dim))
    return model, x, rng


# --------------------------------------------------------------------------- exact gradients


@pytest.mark.parametrize("covariance", FAMILIES)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_pathwise_matches_finite_differences_of_single_sample_f(activation, likelihood, covariance):
    model, x, rng = _tiny(activation=activation, likelihood=likelihood, covariance=covariance)
    eps = rng.standard_normal((3, x.shape[0], model.z_dim))
    got = G.encoder_gradients(model, x, eps, ["pathwise"])["pathwise"]
    # the same f, differentiated numerically with the noise held fixed
    num = numerical_gradient(lambda: G.single_sample_f(model, x, eps).mean(),
                             model.encoder.flat_params)
    assert rel_error(got, num) < 1e-7


@pytest.mark.parametrize("covariance", FAMILIES)
def test_pathwise_kl_is_the_vae_gradient(covariance):
    model, x, rng = _tiny(covariance=covariance)
    eps = rng.standard_normal((4, x.shape[0], model.z_dim))
    got = G.encoder_gradients(model, x, eps, ["pathwise_kl"])["pathwise_kl"]
    model.forward_backward(x, eps, "elbo")
    p = model.encoder.flat_params.size
    expected = -model.grads[:p]                     # forward_backward: gradient of the LOSS
    assert rel_error(got, expected) < 1e-12
    assert np.shares_memory(model.grads[:p], model.encoder.flat_grads)

    def analytic_elbo():
        h, _ = G._encode(model, x)
        q, _ = model.posterior.forward(h, eps, kl=True)
        return G._draws(model, x, h, eps).log_px.mean() - q.kl.mean()
    assert rel_error(got, numerical_gradient(analytic_elbo, model.encoder.flat_params)) < 1e-7


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_loss_gradient_with_pathwise_kl_is_forward_backward(weight_decay):
    rng = np.random.default_rng(3)
    model = nv.VAE(6, [5], 2, rng=rng, dtype=np.float64, weight_decay=weight_decay)
    x = rng.random((4, 6))
    eps = rng.standard_normal((2, 4, 2))
    model.forward_backward(x, eps, "elbo")
    expected, loss_expected = model.grads.copy(), model.loss(x, eps=eps)
    loss, grad = G.loss_gradient(model, x, eps, "pathwise_kl")
    assert grad is model.grads
    assert rel_error(grad, expected) < 1e-12
    assert loss == pytest.approx(loss_expected, rel=1e-12)


def test_decoder_gradient_does_not_depend_on_the_encoder_estimator():
    model, x, rng = _tiny()
    eps = rng.standard_normal((3, x.shape[0], model.z_dim))
    p = model.encoder.flat_params.size
    decoder = {}
    for name in G.ESTIMATORS:
        grad = G.loss_gradient(model, x, eps, name)[1].copy()   # model.grads: copy it
        decoder[name] = grad[p:]
        enc = G.encoder_gradients(model, x, eps, [name])[name]
        np.testing.assert_allclose(grad[:p], -enc, rtol=1e-12, atol=1e-15)
    for name in G.ESTIMATORS:
        np.testing.assert_array_equal(decoder[name], decoder["pathwise_kl"])


@pytest.mark.parametrize("covariance", FAMILIES)
def test_score_term_matches_finite_differences_of_log_q_at_fixed_z(covariance):
    model, x, rng = _tiny(activation="relu", covariance=covariance)
    z = rng.standard_normal((3, x.shape[0], model.z_dim))
    w = rng.standard_normal((3, x.shape[0]))
    got = G.log_q_grad(model, x, z, w)
    num = numerical_gradient(lambda: float((w * G.log_q(model, x, z)).sum()),
                             model.encoder.flat_params)
    assert rel_error(got, num) < 1e-7


def test_log_q_is_the_gaussian_density():
    model, x, rng = _tiny()
    z = rng.standard_normal((5, x.shape[0], model.z_dim))
    mu, logvar = model.encode(x)
    expected = stats.norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(axis=-1)
    np.testing.assert_allclose(G.log_q(model, x, z), expected, rtol=1e-12)
    np.testing.assert_allclose(G.log_q(model, x, z[0]), expected[0], rtol=1e-12)


def test_log_q_of_the_full_family_is_its_gaussian_density():
    model, x, rng = _tiny(covariance="full", z_dim=3)
    z = rng.standard_normal((5, x.shape[0], model.z_dim))
    mu, L = model.encode(x)
    expected = np.array([[stats.multivariate_normal(mu[n], L[n] @ L[n].T).logpdf(z[s, n])
                          for n in range(x.shape[0])] for s in range(5)])
    np.testing.assert_allclose(G.log_q(model, x, z), expected, rtol=1e-11)


def test_score_estimators_are_the_weighted_score():
    model, x, rng = _tiny()
    s, n = 4, x.shape[0]
    eps = rng.standard_normal((s, n, model.z_dim))
    mu, logvar = model.encode(x)
    z = mu + np.exp(0.5 * logvar) * eps
    f = G.single_sample_f(model, x, eps)
    got = G.encoder_gradients(model, x, eps, ["score", "score_loo"])
    np.testing.assert_allclose(got["score"], G.log_q_grad(model, x, z, f / (s * n)),
                               rtol=1e-10, atol=1e-14)
    loo = (f.sum(axis=0) - f) / (s - 1)            # mean of the OTHER draws of the same x
    np.testing.assert_allclose(got["score_loo"], G.log_q_grad(model, x, z, (f - loo) / (s * n)),
                               rtol=1e-10, atol=1e-14)


def test_single_sample_f_is_log_p_minus_log_q():
    model, x, rng = _tiny()
    eps = rng.standard_normal((3, x.shape[0], model.z_dim))
    mu, logvar = model.encode(x)
    z = mu + np.exp(0.5 * logvar) * eps
    logits = model.decode(z.reshape(-1, model.z_dim)).reshape(3, x.shape[0], -1)
    log_px = (x * logits - np.logaddexp(0, logits)).sum(-1)    # Bernoulli, x in [0, 1]
    expected = (log_px + stats.norm.logpdf(z).sum(-1)
                - stats.norm.logpdf(z, mu, np.exp(0.5 * logvar)).sum(-1))
    np.testing.assert_allclose(G.single_sample_f(model, x, eps), expected, rtol=1e-10)


@given(n=st.integers(1, 3), s=st.integers(2, 3), hidden=st.integers(1, 4),
       z_dim=st.integers(1, 3), seed=st.integers(0, 2**16), covariance=st.sampled_from(FAMILIES))
def test_gradients_match_finite_differences_for_any_shape(n, s, hidden, z_dim, seed, covariance):
    model, x, rng = _tiny(seed=seed, hidden=(hidden,), z_dim=z_dim, x_dim=3, n=n,
                          covariance=covariance)
    eps = rng.standard_normal((s, n, z_dim))
    got = G.encoder_gradients(model, x, eps)
    p = model.encoder.flat_params
    num = numerical_gradient(lambda: G.single_sample_f(model, x, eps).mean(), p)
    assert rel_error(got["pathwise"], num) < 1e-6
    h, _ = G._encode(model, x)
    z = model.posterior.forward(h, eps, kl=False)[0].z
    w = G.single_sample_f(model, x, eps) / (s * n)
    num = numerical_gradient(lambda: float((w * G.log_q(model, x, z)).sum()), p)
    assert rel_error(got["score"], num) < 1e-6


# --------------------------------------------------------------------------- unbiasedness


@pytest.fixture(scope="module")
def tiny_moments():
    model, x, _ = _tiny(seed=5)
    moments = G.estimator_moments(model, x, 5, 4000, np.random.default_rng(1))
    reference = G.estimator_moments(model, x, 2000, 100, np.random.default_rng(2),
                                    ["pathwise_kl"])["pathwise_kl"]
    return moments, reference


@pytest.mark.parametrize("name", G.ESTIMATORS)
def test_every_estimator_is_unbiased(tiny_moments, name):
    moments, reference = tiny_moments
    m = moments[name]
    se = np.sqrt(m.var / m.repetitions + reference.var / reference.repetitions)
    z = np.abs(m.mean - reference.mean) / se
    assert np.all(se > 0)
    assert z.max() < 5.0, (name, z.max())
    # and the reference really is far more precise than the estimator being checked
    assert np.mean(reference.var / reference.repetitions) < 0.1 * np.mean(m.var / m.repetitions)


def test_every_estimator_is_unbiased_on_the_full_covariance_family():
    """The study on q = N(mu, L L^T): score, leave-one-out, pathwise and pathwise-KL estimate
    the same gradient (the score of the full family is posterior.FullCovGaussian.score)."""
    model, x, _ = _tiny(seed=5, covariance="full", z_dim=2)
    moments = G.estimator_moments(model, x, 5, 3000, np.random.default_rng(1))
    ref = G.estimator_moments(model, x, 1000, 60, np.random.default_rng(2),
                              ["pathwise_kl"])["pathwise_kl"]
    for name, m in moments.items():
        se = np.sqrt(m.var / m.repetitions + ref.var / ref.repetitions)
        assert np.all(se > 0)
        assert np.max(np.abs(m.mean - ref.mean) / se) < 5.0, name


def test_score_and_pathwise_means_agree_with_each_other(tiny_moments):
    moments, _ = tiny_moments
    a, b = moments["score"], moments["pathwise"]
    se = np.sqrt(a.var / a.repetitions + b.var / b.repetitions)
    assert np.max(np.abs(a.mean - b.mean) / se) < 5.0


def test_baseline_keeps_the_mean_and_reduces_the_variance(tiny_moments):
    moments, _ = tiny_moments
    plain, loo = moments["score"], moments["score_loo"]
    se = np.sqrt(plain.var / plain.repetitions + loo.var / loo.repetitions)
    assert np.max(np.abs(plain.mean - loo.mean) / se) < 5.0
    assert loo.var.mean() < 0.3 * plain.var.mean()
    assert np.all(loo.var <= plain.var * 1.2)        # per parameter, up to sampling noise


def test_welford_moments_equal_the_two_pass_moments():
    model, x, _ = _tiny(seed=2)
    got = G.estimator_moments(model, x, 3, 7, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    stack = {e: [] for e in G.ESTIMATORS}
    for _ in range(7):
        eps = rng.standard_normal((3, x.shape[0], model.z_dim))
        for e, g in G.encoder_gradients(model, x, eps).items():
            stack[e].append(g)
    for e in G.ESTIMATORS:
        a = np.array(stack[e])
        np.testing.assert_allclose(got[e].mean, a.mean(axis=0), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(got[e].var, a.var(axis=0, ddof=1), rtol=1e-8, atol=1e-14)


# --------------------------------------------------------------------------- on a real VAE


@pytest.fixture(scope="module")
def shapes_vae():
    from numpyvae.datasets import load_dataset
    x = load_dataset("shapes", "train", n=1000).x
    model = nv.VAE(784, [64], 4, rng=np.random.default_rng(0))
    untrained = model.params.copy()
    G.train_with_estimator(model, x, "pathwise_kl", steps=300, n_samples=1, batch_size=100,
                           rng=np.random.default_rng(1))
    return model, untrained, model.params.copy(), np.ascontiguousarray(x[:32])


@pytest.mark.parametrize("state", ["untrained", "trained"])
def test_pathwise_variance_is_far_below_score_function_on_a_vae(shapes_vae, state):
    model, untrained, trained, x = shapes_vae
    model.params[...] = untrained if state == "untrained" else trained
    m = G.estimator_moments(model, x, 1, 10, np.random.default_rng(3),
                            ["score", "pathwise", "pathwise_kl"])
    ratio = m["score"].var.mean() / m["pathwise"].var.mean()
    assert ratio > 100, ratio
    assert m["pathwise_kl"].var.mean() <= m["pathwise"].var.mean() * 1.05


def test_variance_study_rows(shapes_vae):
    model, untrained, _, x = shapes_vae
    model.params[...] = untrained
    out = G.variance_study(model, x[:16], (1, 4, 16), 8, rng=np.random.default_rng(0),
                           label="untrained")
    rows = out["rows"]
    assert {(r["S"], r["estimator"]) for r in rows} == {
        (s, e) for s in (1, 4, 16) for e in G.ESTIMATORS if not (s == 1 and e == "score_loo")}
    slices = G.layer_slices(model)
    assert list(slices) == out["layers"] == ["encoder.0.W", "encoder.0.b", "encoder.2.W",
                                              "encoder.2.b"]
    assert sum(sl.stop - sl.start for sl in slices.values()) == G.encoder_size(model)
    sizes = {k: sl.stop - sl.start for k, sl in slices.items()}
    for r in rows:
        assert r["model"] == "untrained" and r["repetitions"] == 8 and r["n_examples"] == 16
        pooled = sum(r[f"var_{k}"] * n for k, n in sizes.items()) / G.encoder_size(model)
        assert r["var_mean"] == pytest.approx(pooled, rel=1e-9)
        if r["estimator"].startswith("score"):   # the pathwise ones share noise with the reference
            assert 0.5 < r["err_ratio"] < 2.0, r
    by = {(r["S"], r["estimator"]): r for r in rows}
    for s in (1, 4, 16):
        assert by[s, "score"]["var_mean"] > 30 * by[s, "pathwise"]["var_mean"]
        assert by[s, "score"]["snr_median"] < by[s, "pathwise"]["snr_median"]
    for e in ("score", "pathwise", "pathwise_kl"):          # variance ∝ 1/S (independent draws)
        ratio = by[1, e]["var_mean"] / by[16, e]["var_mean"]
        assert 8 < ratio < 32, (e, ratio)
    assert by[4, "score_loo"]["var_mean"] < by[4, "score"]["var_mean"]
    assert G.format_variance_table(rows).count("\n") == len(rows) + 1


def test_layer_slices_point_at_the_parameter_views():
    model, _, _ = _tiny()
    vec = model.encoder.flat_params
    for key, sl in G.layer_slices(model).items():
        view = model.encoder.params[key[len("encoder."):]]
        np.testing.assert_array_equal(vec[sl], view.ravel())


def test_same_seed_same_numbers_and_float32_stays_float32():
    rng = np.random.default_rng(0)
    model = nv.VAE(20, [8], 3, rng=rng)
    x = rng.random((5, 20), dtype=np.float32)
    a = G.variance_study(model, x, (1, 3), 4, rng=np.random.default_rng(7))["rows"]
    b = G.variance_study(model, x, (1, 3), 4, rng=np.random.default_rng(7))["rows"]
    assert a == b
    eps = rng.standard_normal((2, 5, 3), dtype=np.float32)
    for g in G.encoder_gradients(model, x, eps).values():
        assert g.dtype == np.float32
    assert G.single_sample_f(model, x, eps).dtype == np.float32
    loss, grad = G.loss_gradient(model, x, eps, "score")
    assert grad.dtype == np.float32 and isinstance(loss, float)


def test_inputs_are_not_modified():
    model, x, rng = _tiny()
    eps = rng.standard_normal((3, x.shape[0], model.z_dim))
    keep = (x.copy(), eps.copy(), model.params.copy())
    G.encoder_gradients(model, x, eps)
    G.single_sample_f(model, x, eps)
    G.loss_gradient(model, x, eps, "score_loo")
    np.testing.assert_array_equal(x, keep[0])
    np.testing.assert_array_equal(eps, keep[1])
    np.testing.assert_array_equal(model.params, keep[2])


# --------------------------------------------------------------------------- training


def test_train_with_estimator_learns_and_records_history():
    from numpyvae.datasets import load_dataset
    x = load_dataset("shapes", "train", n=400).x
    xt = load_dataset("shapes", "test", n=100).x
    histories = {}
    for name in ("pathwise", "score_loo"):
        model = nv.VAE(784, [32], 3, rng=np.random.default_rng(0))
        histories[name] = h = G.train_with_estimator(
            model, x, name, steps=60, n_samples=3, batch_size=50, rng=np.random.default_rng(1),
            x_test=xt, eval_every=20)
        assert h["step"].shape == h["train_elbo"].shape == (60,)
        assert list(h["eval_step"]) == [0, 20, 40, 60]
        assert h["diverged_at"] is None
        assert h["test_elbo"][-1] > h["test_elbo"][0] + 100      # from about -550
    # same initialisation and same noise: the first minibatch ELBO is the same
    assert histories["pathwise"]["train_elbo"][0] == histories["score_loo"]["train_elbo"][0]


def test_mean_elbo_matches_model_elbo():
    model, x, _ = _tiny()
    expected = model.elbo(x, np.random.default_rng(3)).mean()
    for batch_size in (2, 3, 10):     # (1, B, k) blocks take the same noise values, in order
        value = G.mean_elbo(model, x, np.random.default_rng(3), batch_size=batch_size)
        assert value == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- bad input


def _bad_cases():
    model, x, rng = _tiny()
    eps = rng.standard_normal((2, x.shape[0], model.z_dim))
    full = nv.VAE(6, [5], 2, covariance="full", rng=rng, dtype=np.float64)
    r = np.random.default_rng(0)
    return [
        (lambda: G.encoder_gradients(full, x[:, :3], eps), ValueError, "x"),
        (lambda: G.encoder_gradients("model", x, eps), TypeError, "VAE"),
        (lambda: G.encoder_gradients(model, x, eps[0]), ValueError, "eps"),
        (lambda: G.encoder_gradients(model, x, eps[:, :2]), ValueError, "eps"),
        (lambda: G.encoder_gradients(model, x, eps.astype(np.float32)), TypeError, "eps"),
        (lambda: G.encoder_gradients(model, x[:, :3], eps), ValueError, "x"),
        (lambda: G.encoder_gradients(model, x + 2, eps), ValueError, "x"),
        (lambda: G.encoder_gradients(model, x, eps, ["reinforce"]), ValueError, "estimators"),
        (lambda: G.encoder_gradients(model, x, eps, []), ValueError, "estimators"),
        (lambda: G.encoder_gradients(model, x, eps, 3), TypeError, "estimators"),
        (lambda: G.encoder_gradients(model, x, eps[:1], ["score_loo"]), ValueError, "S >= 2"),
        (lambda: G.log_q_grad(model, x, eps, np.ones((2, 3))), ValueError, "weights"),
        (lambda: G.log_q(model, x, eps[:, :, :1]), ValueError, "z"),
        (lambda: G.estimator_moments(model, x, 2, 1, r), ValueError, "repetitions"),
        (lambda: G.estimator_moments(model, x, 0, 5, r), ValueError, "n_samples"),
        (lambda: G.estimator_moments(model, x, 2, 5, 0), TypeError, "rng"),
        (lambda: G.variance_study(model, x, (), 5, rng=r), ValueError, "sample_sizes"),
        (lambda: G.variance_study(model, x, (1,), 5, rng=r, label=3), TypeError, "label"),
        (lambda: G.loss_gradient(model, x, eps, "nope"), ValueError, "estimators"),
        (lambda: G.loss_gradient(model, x, eps, ["score", "pathwise"]), TypeError, "estimator"),
        (lambda: G.train_with_estimator(model, x, "score", steps=0, rng=r), ValueError, "steps"),
        (lambda: G.train_with_estimator(model, x, "score", steps=2, rng=r, batch_size=10),
         ValueError, "batch_size"),
        (lambda: G.train_with_estimator(model, x, "score_loo", steps=2, rng=r, batch_size=2,
                                        n_samples=1), ValueError, "S >= 2"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_cases())))
def test_bad_input_is_rejected(case):
    call, exc, name = _bad_cases()[case]
    with pytest.raises(exc, match=name):
        call()


# --------------------------------------------------------------------------- plots


def test_loo_law_recovers_its_constants():
    from numpyvae.plots.encoder_variance import loo_law
    s = np.array([2.0, 5.0, 10.0, 50.0])
    law = loo_law(s, (3.0 + 7.0 / (s - 1)) / s)
    np.testing.assert_allclose(law(np.array([3.0, 100.0])),
                               (3.0 + 7.0 / np.array([2.0, 99.0])) / np.array([3.0, 100.0]))


def test_plots_write_pngs(tmp_path):
    import matplotlib.image
    from numpyvae.plots import encoder_variance as PV
    rng = np.random.default_rng(0)
    model = nv.VAE(30, [6], 2, rng=rng)
    x = rng.random((6, 30), dtype=np.float32)
    rows = []
    for label in ("untrained", "trained"):
        rows += G.variance_study(model, x, (1, 2, 4), 3, rng=rng, label=label)["rows"]
    hist = G.train_with_estimator(model, x, "score_loo", steps=6, n_samples=2, batch_size=3,
                                  rng=rng, x_test=x, eval_every=2)
    for path in (PV.plot_encoder_variance(rows, tmp_path / "v.png"),
                 PV.plot_elbo_curves([hist], tmp_path / "c.png")):
        img = matplotlib.image.imread(path)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600


def test_plots_reject_bad_input(tmp_path):
    from numpyvae.plots import encoder_variance as PV
    with pytest.raises(TypeError):
        PV.plot_encoder_variance([], tmp_path / "x.png")
    with pytest.raises(ValueError):
        PV.plot_encoder_variance([{"S": 1}], tmp_path / "x.png")
    with pytest.raises(TypeError):
        PV.plot_elbo_curves({}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        PV.plot_elbo_curves([{"estimator": "score"}], tmp_path / "x.png")
    with pytest.raises(TypeError):
        PV.plot_elbo_curves([{"estimator": "score", "step": [], "train_elbo": [],
                              "eval_step": [], "test_elbo": []}], 3)


def test_elbo_from_f_estimates_the_analytic_elbo():
    # the mean of the single-sample f is an unbiased estimate of the ELBO (analytic KL)
    model, x, rng = _tiny(seed=9)
    eps = rng.standard_normal((20000, x.shape[0], model.z_dim))
    f = G.single_sample_f(model, x, eps)
    h, _ = G._encode(model, x)
    analytic = (G._draws(model, x, h, eps).log_px.mean(axis=0)
                - model.posterior.forward(h, eps[:1], kl=True)[0].kl)
    se = f.std(axis=0, ddof=1) / math.sqrt(f.shape[0])
    # the analytic-KL ELBO uses the same draws for log p(x|z): compare the difference's noise
    diff = f.mean(axis=0) - analytic
    assert np.all(np.abs(diff) < 5 * se)
