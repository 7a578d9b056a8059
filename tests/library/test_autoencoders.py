"""Deterministic autoencoders: gradient checks of every variant (float64, noise held fixed),
the penalties against brute force, training, the PCA subspace, dtypes and bad input."""
import numpy as np
import pytest
from fd_noise import assert_within_or_fd_noise
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles

from numpyvae import autoencoders as ae
from numpyvae import optim
from numpyvae.gradcheck import check_model, numerical_gradient, rel_error

VARIANTS = ["plain", "tied", "weight_decay", "denoising", "sparse", "contractive"]


def _make(variant, x_dim, hidden, rng, output="bernoulli", activation="sigmoid", tied=False,
          dtype=np.float64):
    kw = dict(output=output, rng=rng, dtype=dtype, tied=tied)
    if variant in ("plain", "tied", "weight_decay"):
        return ae.Autoencoder(x_dim, hidden, activation=activation,
                              tied=tied or variant == "tied",
                              weight_decay=0.3 if variant == "weight_decay" else 0.0,
                              **{k: v for k, v in kw.items() if k != "tied"})
    if variant == "denoising":
        return ae.DenoisingAutoencoder(x_dim, hidden, noise_rate=0.3, activation=activation, **kw)
    if variant == "sparse":
        return ae.SparseAutoencoder(x_dim, hidden, rho=0.15, beta=2.0, **kw)
    return ae.ContractiveAutoencoder(x_dim, hidden, lam=0.7, init=1.0, **kw)


def _data(rng, n, d, output):
    return rng.random((n, d)) if output == "bernoulli" else rng.standard_normal((n, d))


# ----------------------------------------------------------------- gradient checks

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("output", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("tied", [False, True])
def test_gradient_matches_central_differences(variant, output, tied):
    rng = np.random.default_rng(VARIANTS.index(variant) + 10 * tied)
    model = _make(variant, 6, 4, rng, output=output, tied=tied)
    model.params += rng.normal(0, 0.2, model.params.shape)          # nonzero biases too
    x = _data(rng, 5, 6, output)
    eps = ae.masking_noise(x.shape, 0.3, rng, np.float64) if variant == "denoising" else None
    report = check_model(model, x, eps=eps)
    assert report.worst < 1e-6, str(report)
    expected = {"encoder.W", "encoder.b", "decoder.b"}
    if not model.tied:
        expected.add("decoder.W")
    assert set(report.errors) == expected


@settings(max_examples=15)
@given(n=st.integers(1, 4), x_dim=st.integers(1, 6), hidden=st.integers(1, 7),
       variant=st.sampled_from(VARIANTS), output=st.sampled_from(["bernoulli", "gaussian"]),
       activation=st.sampled_from(["sigmoid", "identity", "tanh"]), tied=st.booleans(),
       seed=st.integers(0, 2**16))
def test_gradient_any_shape(n, x_dim, hidden, variant, output, activation, tied, seed):
    """Batch size 1, widths 1, over- and undercomplete codes, every hidden activation."""
    rng = np.random.default_rng(seed)
    if variant in ("sparse", "contractive"):
        activation = "sigmoid"
    model = _make(variant, x_dim, hidden, rng, output=output, activation=activation, tied=tied)
    model.params += rng.normal(0, 0.1, model.params.shape)
    x = _data(rng, n, x_dim, output)
    eps = ae.masking_noise(x.shape, 0.3, rng, np.float64) if variant == "denoising" else None
    report = check_model(model, x, eps=eps)
    loss, _ = model.loss_and_grad(x, eps=eps)
    assert_within_or_fd_noise(report, model.named_grads(), loss, 1e-6)


def test_tied_gradient_is_the_sum_of_both_uses():
    rng = np.random.default_rng(1)
    tied = ae.Autoencoder(5, 3, tied=True, rng=rng, dtype=np.float64)
    untied = ae.Autoencoder(5, 3, rng=rng, dtype=np.float64)
    untied.encoder.params["W"][...] = tied.W
    untied.decoder.params["W"][...] = tied.W.T
    x = rng.random((4, 5))
    lt, _ = tied.loss_and_grad(x)
    lu, _ = untied.loss_and_grad(x)
    assert lt == pytest.approx(lu, rel=1e-12)
    g = tied.named_grads()["encoder.W"]
    np.testing.assert_allclose(g, untied.encoder.grads["W"] + untied.decoder.grads["W"].T,
                               rtol=1e-12)
    assert tied.num_params() == 5 * 3 + 3 + 5


def test_weight_decay_gradient_is_lambda_times_the_weights_and_spares_biases():
    rng = np.random.default_rng(2)
    m = ae.Autoencoder(5, 3, weight_decay=0.25, rng=rng, dtype=np.float64)
    x = rng.random((4, 5))
    m.loss_and_grad(x)
    with_wd = {k: v.copy() for k, v in m.named_grads().items()}
    m.weight_decay = 0.0
    m.loss_and_grad(x)
    without = m.named_grads()
    np.testing.assert_allclose(with_wd["encoder.W"] - without["encoder.W"], 0.25 * m.W, atol=1e-15)
    np.testing.assert_allclose(with_wd["decoder.W"] - without["decoder.W"], 0.25 * m.V, atol=1e-15)
    np.testing.assert_allclose(with_wd["encoder.b"], without["encoder.b"], atol=1e-15)
    np.testing.assert_allclose(with_wd["decoder.b"], without["decoder.b"], atol=1e-15)


# ------------------------------------------------------------------ the penalties

@pytest.mark.parametrize("rho", [0.01, 0.05, 0.3, 0.5, 0.9])
def test_sparsity_penalty_minimum_is_at_rho(rho):
    info = ae.sparsity_penalty_minimum(rho)
    assert abs(info["grid_argmin"] - rho) < 2e-5
    assert info["min_value"] == pytest.approx(0.0, abs=1e-9)
    assert info["grad_at_rho"] == pytest.approx(0.0, abs=1e-12)
    assert info["curvature_at_rho"] > 0
    grid = np.linspace(0.001, 0.999, 999)
    d = ae.kl_bernoulli_grad(rho, grid)
    assert np.all(d[grid < rho] < 0) and np.all(d[grid > rho] > 0)     # falls, then rises
    assert np.all(ae.kl_bernoulli(rho, grid) >= -1e-15)


def test_sparsity_penalty_gradient_and_value():
    rng = np.random.default_rng(3)
    h = rng.uniform(0.05, 0.95, (6, 4))
    value, dh = ae.sparsity_penalty(h, 0.1, 3.0)
    rho_hat = h.mean(axis=0)
    expected = 3.0 * np.sum(0.1 * np.log(0.1 / rho_hat) + 0.9 * np.log(0.9 / (1 - rho_hat)))
    assert value == pytest.approx(expected, rel=1e-12)
    num = numerical_gradient(lambda: ae.sparsity_penalty(h, 0.1, 3.0)[0], h)
    assert rel_error(dh, num) < 1e-8
    value_at_rho, dh_at_rho = ae.sparsity_penalty(np.full((3, 2), 0.1), 0.1, 3.0)
    assert value_at_rho == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(dh_at_rho, 0.0, atol=1e-12)


def test_contractive_penalty_equals_explicit_jacobian_norm():
    rng = np.random.default_rng(4)
    m = ae.ContractiveAutoencoder(5, 3, lam=0.5, init=1.0, rng=rng, dtype=np.float64)
    x = rng.random((7, 5))
    J = m.jacobian(x)                                   # (N, H, D)
    # the Jacobian itself against central differences of the encoder
    num = np.stack([(m.encode(x + 1e-6 * e) - m.encode(x - 1e-6 * e)) / 2e-6 for e in np.eye(5)],
                   axis=-1)
    np.testing.assert_allclose(J, num, rtol=1e-6, atol=1e-10)
    value, _, _ = ae.contractive_penalty(m.encode(x), m.W, 0.5)
    assert value == pytest.approx(0.5 * np.mean(np.sum(J ** 2, axis=(1, 2))), rel=1e-12)
    total = m.forward_backward(x, x, need_grad=False)
    assert total["penalty"] == pytest.approx(value, rel=1e-12)


def test_contractive_penalty_gradient_matches_the_exercise_solution():
    """The model's penalty gradient (through h and directly) equals exercise 10's reference."""
    from numpyvae.exercises.solutions import contractive_penalty_grad
    rng = np.random.default_rng(5)
    m = ae.ContractiveAutoencoder(5, 3, lam=0.4, init=1.0, rng=rng, dtype=np.float64)
    x = rng.random((6, 5))
    h = m.encode(x)
    _, da, dW_direct = ae.contractive_penalty(h, m.W, 0.4)
    dW_ref, db_ref = contractive_penalty_grad(x, m.W.copy(), m.encoder.params["b"].copy(), 0.4)
    np.testing.assert_allclose(x.T @ da + dW_direct, dW_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(da.sum(axis=0), db_ref, rtol=1e-12, atol=1e-15)


def test_denoising_uses_the_clean_target_and_masks_the_input():
    rng = np.random.default_rng(6)
    m = ae.DenoisingAutoencoder(5, 3, noise_rate=0.5, rng=rng, dtype=np.float64)
    plain = ae.Autoencoder(5, 3, rng=rng, dtype=np.float64)
    plain.params[...] = m.params
    x = rng.random((4, 5))
    mask = ae.masking_noise(x.shape, 0.5, rng, np.float64)
    out = plain.forward_backward(x, x * mask, need_grad=False)      # encoder sees m*x, target x
    assert m.loss(x, eps=mask) == pytest.approx(out["loss"], rel=1e-14)
    assert m.loss(x, eps=np.ones_like(x)) == pytest.approx(plain.loss(x), rel=1e-14)
    # the same rng state gives the same mask, so the same loss
    l1 = m.loss(x, rng=np.random.default_rng(9))
    l2 = m.loss(x, rng=np.random.default_rng(9))
    assert l1 == l2


def test_masking_noise_rate():
    mask = ae.masking_noise((200_000,), 0.3, np.random.default_rng(7))
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    assert abs((1 - mask.mean()) - 0.3) < 4 * np.sqrt(0.3 * 0.7 / mask.size)


# --------------------------------------------------------------------------- training

@pytest.mark.parametrize("variant", VARIANTS)
def test_training_reduces_the_loss(variant):
    rng = np.random.default_rng(8)
    x = (rng.random((300, 20)) < 0.3).astype(np.float32)
    x[:, 10:] = x[:, :10]                                # redundancy to learn
    model = _make(variant, 20, 8, rng, dtype=np.float32)
    before = model.loss(x, rng=np.random.default_rng(0))
    history = ae.fit(model, x, rng, epochs=15, batch_size=50, optimizer=optim.Adam(1e-2))
    after = model.loss(x, rng=np.random.default_rng(0))
    assert after < 0.8 * before
    assert history[-1] < history[0]
    assert model.params.dtype == np.float32


def test_sparse_training_drives_mean_activation_toward_rho():
    rng = np.random.default_rng(9)
    x = (rng.random((400, 20)) < 0.3).astype(np.float32)
    plain = ae.Autoencoder(20, 16, rng=rng)
    sparse = ae.SparseAutoencoder(20, 16, rho=0.05, beta=5.0, rng=rng)
    for m in (plain, sparse):
        ae.fit(m, x, rng, epochs=40, batch_size=50, optimizer=optim.Adam(1e-2))
    gap_plain = np.abs(plain.encode(x).mean(axis=0) - 0.05).mean()
    gap_sparse = np.abs(sparse.encode(x).mean(axis=0) - 0.05).mean()
    assert gap_sparse < 0.3 * gap_plain
    assert gap_sparse < 0.05


def test_linear_autoencoder_recovers_the_pca_subspace():
    rng = np.random.default_rng(10)
    n, d, k = 500, 12, 3
    x = (rng.standard_normal((n, k)) @ rng.standard_normal((k, d)) * 2
         + 0.3 * rng.standard_normal((n, d)) + 1.5).astype(np.float32)
    xc = (x - x.mean(axis=0)).astype(np.float64)
    _, s, pcs = np.linalg.svd(xc, full_matrices=False)
    m = ae.Autoencoder(d, k, output="gaussian", activation="identity", rng=rng)
    opt = optim.Adam(1e-2)
    for step in range(3500):
        if step == 3000:
            opt.lr = 1e-3
        opt.step(m.params, m.loss_and_grad(x)[1])
    angles = np.degrees(subspace_angles(m.V.T.astype(np.float64), pcs[:k].T))
    assert angles.max() < 1.0
    assert m.loss(x) == pytest.approx(0.5 * np.sum(s[k:] ** 2) / n, rel=2e-3)   # Eckart-Young


def test_overcomplete_linear_autoencoder_copies_random_inputs():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((400, 8)).astype(np.float32)
    m = ae.Autoencoder(8, 12, output="gaussian", activation="identity", rng=rng)
    opt = optim.Adam(1e-2)
    for _ in range(800):
        opt.step(m.params, m.loss_and_grad(x)[1])
    r = (3 * rng.standard_normal((50, 8))).astype(np.float32)
    assert np.linalg.norm(m.reconstruct(r) - r) / np.linalg.norm(r) < 0.02


# -------------------------------------------------------------------- dtype and API

@pytest.mark.parametrize("variant", VARIANTS)
def test_float32_in_float32_out(variant):
    rng = np.random.default_rng(12)
    m = _make(variant, 6, 4, rng, dtype=np.float32)
    x = rng.random((3, 6), dtype=np.float32)
    loss, grad = m.loss_and_grad(x, rng=rng)
    assert isinstance(loss, float) and grad.dtype == np.float32
    for out in (m.encode(x), m.reconstruct(x), m.decode(m.encode(x)), m.jacobian(x)):
        assert out.dtype == np.float32
    assert m.encode(x).shape == (3, 4) and m.reconstruct(x).shape == (3, 6)
    assert m.jacobian(x).shape == (3, 4, 6)
    assert np.all((m.reconstruct(x) >= 0) & (m.reconstruct(x) <= 1))     # sigmoid output


def test_params_are_one_flat_vector_with_views():
    rng = np.random.default_rng(13)
    m = ae.Autoencoder(6, 4, rng=rng)
    assert m.params.size == 6 * 4 + 4 + 4 * 6 + 6 == m.num_params()
    for view in m.named_params().values():
        assert np.shares_memory(view, m.params)
    for view in m.named_grads().values():
        assert np.shares_memory(view, m.grads)
    m.params[:] = 0
    assert not np.any(m.W) and not np.any(m.V)
    t = ae.Autoencoder(6, 4, tied=True, rng=rng)
    assert np.shares_memory(t.V, t.params) and t.V.shape == (4, 6)


# ---------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(x_dim=0, hidden_dim=3), ValueError, "x_dim"),
    (dict(x_dim=4, hidden_dim=2.5), TypeError, "hidden_dim"),
    (dict(x_dim=4, hidden_dim=3, output="poisson"), ValueError, "output"),
    (dict(x_dim=4, hidden_dim=3, activation="softmax"), ValueError, "activation"),
    (dict(x_dim=4, hidden_dim=3, weight_decay=-1.0), ValueError, "weight_decay"),
    (dict(x_dim=4, hidden_dim=3, tied="yes"), TypeError, "tied"),
    (dict(x_dim=4, hidden_dim=3, rng=0), TypeError, "rng"),
])
def test_bad_constructor_arguments_name_the_argument(kwargs, exc, word):
    kwargs.setdefault("rng", np.random.default_rng(0))
    with pytest.raises(exc, match=word):
        ae.Autoencoder(**kwargs)


@pytest.mark.parametrize("cls, kwargs, word", [
    (ae.SparseAutoencoder, dict(rho=0.0), "rho"),
    (ae.SparseAutoencoder, dict(rho=1.0), "rho"),
    (ae.SparseAutoencoder, dict(beta=-1.0), "beta"),
    (ae.SparseAutoencoder, dict(activation="relu"), "activation"),
    (ae.ContractiveAutoencoder, dict(lam=-0.1), "lam"),
    (ae.ContractiveAutoencoder, dict(activation="tanh"), "activation"),
    (ae.DenoisingAutoencoder, dict(noise_rate=1.0), "noise_rate"),
    (ae.DenoisingAutoencoder, dict(noise_rate=-0.1), "noise_rate"),
])
def test_bad_penalty_arguments_name_the_argument(cls, kwargs, word):
    with pytest.raises(ValueError, match=word):
        cls(4, 3, rng=np.random.default_rng(0), **kwargs)


def test_bad_data_names_the_argument_and_changes_nothing():
    rng = np.random.default_rng(14)
    m = ae.Autoencoder(4, 3, rng=rng)
    before = m.params.copy()
    with pytest.raises(ValueError, match="x"):
        m.loss_and_grad(np.full((2, 4), 1.5, np.float32))           # outside [0, 1]
    with pytest.raises(ValueError, match="x"):
        m.loss_and_grad(np.zeros((2, 5), np.float32))               # wrong width
    with pytest.raises(ValueError, match="x"):
        m.loss_and_grad(np.zeros((0, 4), np.float32))               # empty batch
    with pytest.raises(TypeError, match="x"):
        m.loss_and_grad(np.zeros((2, 4), np.float64))               # wrong dtype
    with pytest.raises(TypeError, match="x"):
        m.loss_and_grad([[0.0] * 4])
    with pytest.raises(ValueError, match="x"):
        m.loss_and_grad(np.full((2, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="h"):
        m.decode(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="eps"):
        m.loss_and_grad(np.zeros((2, 4), np.float32), eps=np.ones((2, 4), np.float32))
    np.testing.assert_array_equal(m.params, before)


def test_denoising_bad_noise_names_the_argument():
    rng = np.random.default_rng(15)
    m = ae.DenoisingAutoencoder(4, 3, rng=rng)
    x = rng.random((2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="rng"):
        m.loss_and_grad(x)                                            # neither rng nor eps
    with pytest.raises(ValueError, match="eps"):
        m.loss_and_grad(x, eps=np.full((2, 4), 0.5, np.float32))      # not a 0/1 mask
    with pytest.raises(ValueError, match="eps"):
        m.loss_and_grad(x, eps=np.ones((3, 4), np.float32))           # wrong shape


def test_fit_rejects_bad_arguments():
    rng = np.random.default_rng(16)
    m = ae.Autoencoder(4, 3, rng=rng)
    x = rng.random((10, 4), dtype=np.float32)
    with pytest.raises(TypeError, match="rng"):
        ae.fit(m, x, rng=1)
    with pytest.raises(ValueError, match="epochs"):
        ae.fit(m, x, rng, epochs=0)
    with pytest.raises(TypeError, match="optimizer"):
        ae.fit(m, x, rng, optimizer="adam")
