"""Layers: gradient checks through check_layer, flat-vector views, Sequential, bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import numpyvae as nv
from numpyvae.gradcheck import check_layer

LAYERS = {"ReLU": nv.ReLU, "Tanh": nv.Tanh, "Sigmoid": nv.Sigmoid, "Softplus": nv.Softplus,
          "Identity": nv.Identity}


@given(n=st.integers(1, 5), a=st.integers(1, 6), b=st.integers(1, 6),
       init=st.sampled_from(["he", "xavier", 0.01]), seed=st.integers(0, 1000))
def test_dense_gradients(n, a, b, init, seed):
    rng = np.random.default_rng(seed)
    layer = nv.Dense(a, b, rng=rng, init=init, dtype=np.float64)
    layer.params["b"][:] = rng.normal(size=b)
    report = check_layer(layer, rng.normal(size=(n, a)), rng=rng)
    assert report.worst < 1e-6, str(report)
    assert set(report.errors) == {"x", "W", "b"}


@pytest.mark.parametrize("name", sorted(LAYERS))
@given(n=st.integers(1, 5), d=st.integers(1, 6), scale=st.sampled_from([0.1, 1.0, 3.0]),
       seed=st.integers(0, 1000))
def test_activation_gradients(name, n, d, scale, seed):
    # saturated inputs (|x| >> 10) are covered by test_ops.py, whose criterion allows for the
    # finite-difference noise floor where the true gradient (~1e-26) is below it
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * scale
    x[np.abs(x) < 1e-3] = 0.5             # keep ReLU away from its kink
    report = check_layer(LAYERS[name](), x, rng=rng)
    assert report.worst < 1e-6, str(report)


def test_sequential_gradients_and_flat_views():
    rng = np.random.default_rng(0)
    net = nv.Sequential([nv.Dense(4, 5, rng=rng, dtype=np.float64), nv.Tanh(),
                         nv.Dense(5, 3, rng=rng, dtype=np.float64), nv.Softplus()])
    report = check_layer(net, rng.normal(size=(3, 4)), rng=rng)
    assert report.worst < 1e-6, str(report)
    assert net.flat_params.size == 4 * 5 + 5 + 5 * 3 + 3
    for key, view in net.params.items():
        assert np.shares_memory(view, net.flat_params), key
        assert np.shares_memory(net.grads[key], net.flat_grads), key
    net.flat_params[:] = 0.0
    assert not np.any(net.layers[0].params["W"])


def test_backward_overwrites_grads_and_keeps_no_state():
    rng = np.random.default_rng(1)
    layer = nv.Dense(3, 2, rng=rng)
    x1, x2 = rng.standard_normal((4, 3), np.float32), rng.standard_normal((5, 3), np.float32)
    y1, c1 = layer.forward(x1)
    y2, c2 = layer.forward(x2)                   # two passes in flight
    layer.backward(np.ones_like(y1), c1)
    g1 = layer.grads["W"].copy()
    layer.backward(np.ones_like(y2), c2)
    layer.backward(np.ones_like(y1), c1)
    np.testing.assert_array_equal(layer.grads["W"], g1)


def test_dense_initialisation_scales():
    rng = np.random.default_rng(2)
    assert abs(nv.Dense(1000, 500, rng=rng).params["W"].std() - np.sqrt(2 / 1000)) < 2e-3
    assert abs(nv.Dense(1000, 500, rng=rng, init="xavier").params["W"].std() - np.sqrt(2 / 1500)) < 2e-3
    assert abs(nv.Dense(1000, 500, rng=rng, init=0.01).params["W"].std() - 0.01) < 2e-4
    assert not np.any(nv.Dense(3, 4, rng=rng).params["b"])
    u = nv.Dense(400, 300, rng=rng, init="uniform")
    assert np.abs(u.params["W"]).max() <= 0.05 and abs(u.params["W"].std() - 0.05 / np.sqrt(3)) < 1e-3
    assert np.abs(u.params["b"]).max() <= 0.05 and np.any(u.params["b"])


@pytest.mark.parametrize("call,word", [
    (lambda r: nv.Dense(-1, 3, rng=r), "in_features"),
    (lambda r: nv.Dense(3, 0, rng=r), "out_features"),
    (lambda r: nv.Dense(3, 2, rng=r, init="magic"), "init"),
    (lambda r: nv.Dense(3, 2, rng=None), "rng"),
    (lambda r: nv.Dense(3, 2, rng=r).forward(np.zeros((2, 4), np.float32)), "x"),
    (lambda r: nv.Dense(3, 2, rng=r).forward(np.zeros((2, 3), np.float64)), "x"),
    (lambda r: nv.Dense(3, 2, rng=r).forward(np.full((2, 3), np.inf, np.float32)), "x"),
    (lambda r: nv.ReLU().forward(np.zeros(3, np.float32)), "x"),
    (lambda r: nv.Sequential([nv.ReLU(), "tanh"]), "layers"),
])
def test_bad_input(call, word):
    with pytest.raises((ValueError, TypeError), match=word):
        call(np.random.default_rng(0))


def test_dense_backward_refuses_a_bad_dy_naming_it():
    rng = np.random.default_rng(0)
    layer = nv.Dense(3, 2, rng=rng)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    _, cache = layer.forward(x)
    before = layer.flat_grads.copy()
    good = np.ones((4, 2), np.float32)
    for bad, error in ((good.astype(np.float64), TypeError), (np.ones((4, 2), int), TypeError),
                       (good.tolist(), TypeError), (np.full((4, 2), np.nan, np.float32), ValueError),
                       (np.ones((4, 3), np.float32), ValueError),
                       (np.ones((5, 2), np.float32), ValueError),
                       (np.ones(8, np.float32), ValueError)):
        with pytest.raises(error, match="dy"):
            layer.backward(bad, cache)
        assert np.array_equal(layer.flat_grads, before)     # nothing was written
    assert layer.backward(good, cache).shape == (4, 3)


@pytest.mark.parametrize("init", [float("inf"), float("nan"), -1.0, 0.0])
def test_dense_refuses_a_non_finite_or_non_positive_init(init):
    with pytest.raises(ValueError, match="init"):
        nv.Dense(3, 2, np.random.default_rng(0), init=init)
