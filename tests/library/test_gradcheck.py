"""The gradient checker itself: refuses float32, restores perturbations, 0/0 safe, catches bugs."""
import numpy as np
import pytest

import numpyvae as nv
from numpyvae.gradcheck import check_layer, check_model, numerical_gradient, rel_error


def test_numerical_gradient_of_known_functions():
    x = np.array([[1.0, -2.0, 0.5]])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v ** 3), x), 3 * x ** 2, rtol=1e-8)
    dout = np.array([[2.0, 1.0, -1.0]])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sin(v), x, dout=dout),
                               np.cos(x) * dout, rtol=1e-8)


def test_refuses_float32_with_an_explanation():
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: x.sum(), x)
    layer = nv.Dense(3, 2, rng=np.random.default_rng(0))           # float32 layer
    with pytest.raises(TypeError, match="float64"):
        check_layer(layer, np.ones((2, 3)))
    with pytest.raises(TypeError, match="rounding"):
        check_layer(nv.ReLU(), np.ones((2, 3), np.float32))
    model = nv.VAE(4, [3], 2, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="float64"):
        check_model(model, np.zeros((2, 4)))


def test_perturbation_is_restored_even_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f():
        calls.append(x.copy())
        if len(calls) == 2:
            raise RuntimeError("boom")
        return x.sum()
    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_rel_error_is_safe_at_zero_and_symmetric():
    z = np.zeros(4)
    assert rel_error(z, z) == 0.0
    assert rel_error(z, z, elementwise=True) == 0.0
    a, b = np.array([1.0, 2.0]), np.array([1.0, 2.2])
    assert rel_error(a, b) == pytest.approx(0.2 / 2.2)
    assert rel_error(a, b) == rel_error(b, a)
    with pytest.raises(ValueError, match="shape"):
        rel_error(np.zeros(2), np.zeros(3))


def test_check_layer_catches_a_wrong_backward():
    class BadTanh(nv.Tanh):
        def backward(self, dy, cache):
            return dy * (1 - cache)                      # forgot the square
    rng = np.random.default_rng(0)
    report = check_layer(BadTanh(), rng.normal(size=(3, 4)), rng=rng)
    assert not report.passed and report.errors["x"] > 1e-2
    assert "FAIL" in str(report)


def test_check_model_reports_every_parameter_and_catches_a_bug(monkeypatch):
    rng = np.random.default_rng(1)
    model = nv.VAE(5, [4], 2, rng=rng, dtype=np.float64, activation="tanh")
    x = rng.random((3, 5))
    report = check_model(model, x, rng=rng)
    assert set(report.errors) == set(model.named_params()) and report.passed
    from numpyvae import distributions as D
    real = D.kl_std_normal_backward              # the kernel the model's training step calls
    monkeypatch.setattr(D, "kl_std_normal_backward",
                        lambda dkl, cache: tuple(2 * g for g in real(dkl, cache)))
    assert not check_model(model, x, rng=np.random.default_rng(1)).passed


def test_bad_arguments():
    x = np.zeros(3)
    with pytest.raises(TypeError, match="f"):
        numerical_gradient(3, x)
    with pytest.raises(ValueError, match="h"):
        numerical_gradient(lambda: 0.0, x, h=-1.0)
    with pytest.raises(TypeError, match="x"):
        numerical_gradient(lambda: 0.0, [0.0, 1.0])


def test_non_finite_errors_fail_everywhere():
    from numpyvae.gradcheck import CheckReport, rel_error
    r = CheckReport()
    r.add("a", np.ones(3), np.ones(3))
    r.add("b", np.array([np.nan, 1, 1]), np.ones(3))
    assert not r.passed and not np.isfinite(r.worst)
    assert "FAIL" in str(r).splitlines()[2]
    assert r.worst_index["b"] == (0,)
    assert np.isnan(rel_error(np.array([1.0, np.inf]), np.ones(2)))
    assert np.isnan(rel_error(np.array([np.nan, 1.0]), np.ones(2), elementwise=True))
    r2 = CheckReport()
    r2.add("c", np.array([np.inf, 1.0]), np.array([np.inf, 1.0]))
    assert not r2.passed


def test_check_layer_fails_on_a_nan_gradient():
    class NaNDense(nv.Dense):
        def backward(self, dy, cache):
            dx = super().backward(dy, cache)
            self.grads["b"][0] = np.nan
            return dx
    rng = np.random.default_rng(0)
    layer = NaNDense(3, 2, rng=rng, dtype=np.float64)
    report = check_layer(layer, rng.normal(size=(4, 3)), rng=rng)
    assert not report.passed and "FAIL" in str(report)
