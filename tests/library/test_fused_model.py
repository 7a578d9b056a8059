"""The model's fused elementwise passes (``fused.use("fused")``, ``numpyvae train --kernels fused``):
the Bernoulli likelihood's forward and backward (likelihoods.Bernoulli), ReLU's forward and
backward (the ReLU layer), Tanh's backward and the diagonal Gaussian posterior's sample and KL
with their gradient (posterior.DiagonalGaussian) give the NumPy path's exact bits, for any shape (batch size 1 included), float32 and float64, logits from 0 to the float
range's ends, NaN and inf; anything the loops do not take (a strided array, mixed dtypes) falls
back to the NumPy path; the library's default stays the NumPy path.  (Speed: benchmarks/.)"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import numpyvae as nv
from numpyvae import distributions as D, fused
from numpyvae.layers import ReLU, Tanh
from numpyvae.likelihoods import Bernoulli
from numpyvae.posterior import DiagonalGaussian

needs_numba = pytest.mark.skipif(not fused.available(),
                                 reason=f"numba not installed: {fused.INSTALL_HINT}")
EXTREMES = [0.0, -0.0, 1e-30, -1e-30, 17.0, -17.0, 88.8, -88.8, 104.0, -104.0, 3e38, -3e38,
            np.nan, np.inf, -np.inf]


def _bits(a):
    a = np.asarray(a)
    return a.view(f"u{a.itemsize}")


def _caught(name, planted, passes, case, index, rtol=0.0, atol=0.0):
    """A plausible wrong loop ``planted`` in place of the kernel ``name``: output ``index`` of
    ``passes(*case, path)`` stays within (rtol, atol) of the NumPy path's (0, 0: equal as
    numbers), as the same formula on paper should, and the bitwise comparison must still fail."""
    import numba
    want = passes(*case, "numpy")
    with fused.swapped(name, numba.njit(error_model="numpy")(planted)):
        got = passes(*case, "fused")
    np.testing.assert_allclose(got[index], want[index], rtol=rtol, atol=atol)
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(_bits(want[index]), _bits(got[index]))


NAMES = ("log p(x|z)", "d logits", "relu dx", "relu dx in place", "relu y", "relu y in place")


def _passes(x, logits, dll, dy, y, kernels):
    """The passes on one path, through the nodes that choose it (the Bernoulli likelihood of
    likelihoods.py, the ReLU layer): (log p(x|l), d logits, ReLU's dx, ReLU's dx in place, ReLU's
    y of a pre-activation with -0, NaN of either sign and inf, the same in place)."""
    node, relu = Bernoulli(x.shape[1]), ReLU()
    pre = dy.copy()
    k = min(pre.size, len(EXTREMES))
    pre.reshape(-1)[-k:] = np.array(EXTREMES[:k], pre.dtype)
    pre.reshape(-1)[0] = -np.array(np.nan, pre.dtype)          # a NaN with its sign bit set
    with fused.using(kernels):
        with np.errstate(all="ignore"):
            ll, cache = node.forward(x, logits)
            g = node.backward(dll, cache)
            r = relu.backward(dy, y)
            inplace = dy.copy()
            r2 = relu.backward(inplace, y, out=inplace)
            a, _ = relu._forward(pre)                    # the unchecked call Sequential makes
            pre2 = pre.copy()
            a2, _ = relu._forward(pre2, out=pre2)
    assert r2 is inplace and a2 is pre2
    return ll, g, r, r2, a, a2


def _case(rng, s, n, d, dtype, scale):
    x = (rng.random((n, d)) < 0.4).astype(dtype)
    x[:, : max(1, d // 3)] = rng.random((n, max(1, d // 3)))   # grey levels too
    logits = (rng.standard_normal((s, n, d)) * scale).astype(dtype)
    flat = logits.reshape(-1)
    k = min(flat.size, len(EXTREMES))
    flat[rng.choice(flat.size, k, replace=False)] = np.array(EXTREMES[:k], dtype)
    dll = rng.standard_normal((s, n)).astype(dtype)
    dy = rng.standard_normal((s * n, d)).astype(dtype)
    y = np.maximum(rng.standard_normal((s * n, d)), 0).astype(dtype)
    y[0, 0], dy[0, -1] = np.nan, -0.0
    return x, logits, dll, dy, y


@needs_numba
@settings(max_examples=40, deadline=None)
@given(s=st.integers(1, 4), n=st.integers(1, 9), d=st.integers(1, 70),
       dtype=st.sampled_from([np.float32, np.float64]),
       scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]), seed=st.integers(0, 2**31 - 1))
def test_fused_model_passes_give_the_numpy_paths_exact_bits(s, n, d, dtype, scale, seed):
    case = _case(np.random.default_rng(seed), s, n, d, dtype, scale)
    want = _passes(*case, "numpy")
    got = _passes(*case, "fused")
    for name, a, b in zip(NAMES, want, got):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_array_equal(_bits(a), _bits(b), err_msg=name)


def _posterior_and_tanh(h, eps, dz, dkl, dy, y, kernels):
    """The diagonal Gaussian posterior's forward (z, KL) and backward (dh) with the KL's
    gradient, and Tanh's backward (into a new array and in place), on one path."""
    q, tanh = DiagonalGaussian(h.shape[1] // 2), Tanh()
    with fused.using(kernels), np.errstate(all="ignore"):
        out, cache = q.forward(h, eps, kl=True)
        dh = q.backward(dz, cache, dkl=dkl)
        r = tanh.backward(dy, y)
        inplace = dy.copy()
        r2 = tanh.backward(inplace, y, out=inplace)
    assert r2 is inplace
    return out.z, out.kl, dh, r, r2


def _posterior_case(rng, s, n, k, dtype, scale):
    h = (rng.standard_normal((n, 2 * k)) * scale).astype(dtype)
    flat = h.reshape(-1)
    flat[rng.choice(flat.size, min(flat.size, 6), replace=False)] = np.array(
        [0.0, -0.0, 40.0, -40.0, 1e-30, -88.0][:min(flat.size, 6)], dtype)
    eps = rng.standard_normal((s, n, k)).astype(dtype)
    dz = rng.standard_normal((s, n, k)).astype(dtype)
    dz.reshape(-1)[0], eps.reshape(-1)[-1] = -0.0, -0.0     # a sum over samples starts at +0
    dz[:, 0, 0] = -0.0
    dkl = rng.standard_normal(n).astype(dtype)
    y = np.tanh(rng.standard_normal((s * n, k)) * scale).astype(dtype)
    dy = rng.standard_normal((s * n, k)).astype(dtype)
    y.reshape(-1)[0], dy.reshape(-1)[-1] = 1.0, -0.0
    return h, eps, dz, dkl, dy, y


@needs_numba
@settings(max_examples=40, deadline=None)
@given(s=st.integers(1, 5), n=st.integers(1, 9), k=st.integers(1, 60),
       dtype=st.sampled_from([np.float32, np.float64]),
       scale=st.sampled_from([1e-3, 1.0, 10.0]), seed=st.integers(0, 2**31 - 1))
def test_fused_posterior_and_tanh_give_the_numpy_paths_exact_bits(s, n, k, dtype, scale, seed):
    case = _posterior_case(np.random.default_rng(seed), s, n, k, dtype, scale)
    want = _posterior_and_tanh(*case, "numpy")
    got = _posterior_and_tanh(*case, "fused")
    for name, a, b in zip(("z", "kl", "dh", "tanh dx", "tanh dx in place"), want, got):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        np.testing.assert_array_equal(_bits(a), _bits(b), err_msg=name)


@needs_numba
def test_the_bitwise_check_rejects_a_sample_sum_that_starts_from_the_first_sample():
    """The planted error: the sum over samples started at dz[0] instead of NumPy's +0, the same
    number on paper; a -0 gradient then keeps its sign, and the comparison must see it."""
    def from_first(dz, eps, std, h, var, dkl, dh, zero, one, half):
        n, k = h.shape[0], std.shape[1]
        s = dz.shape[0] // n
        for r in range(n):
            for j in range(k):
                am, at = dz[r, j], dz[r, j] * eps[r, j]
                for i in range(1, s):
                    am = am + dz[i * n + r, j]
                    at = at + dz[i * n + r, j] * eps[i * n + r, j]
                dh[r, j] = am + h[r, j] * dkl[r]
                dh[r, k + j] = (at * std[r, j]) * half + ((var[r, j] - one) * half) * dkl[r]
    case = list(_posterior_case(np.random.default_rng(5), 1, 6, 4, np.float32, 1.0))
    case[0][0, 0], case[3][0] = -0.0, 1.0                # mu d = -0: dmu = sum + (-0) keeps
    #                                                      the sum's sign: -0 from dz[0], +0 from +0
    _caught("gaussian_sample_kl_grad", from_first, _posterior_and_tanh, case, 2)


@needs_numba
def test_the_bitwise_check_rejects_a_tanh_backward_expanded():
    """The planted error: ``dy - dy y^2`` for ``dy (1 - y^2)``, the same number on paper."""
    def expanded(dy, y, out, one):
        for r in range(dy.shape[0]):
            for j in range(dy.shape[1]):
                out[r, j] = dy[r, j] - dy[r, j] * y[r, j] * y[r, j]
    case = _posterior_case(np.random.default_rng(6), 2, 16, 40, np.float32, 1.0)
    _caught("tanh_grad", expanded, _posterior_and_tanh, case, 3, rtol=1e-5, atol=1e-6)


@needs_numba
def test_the_fused_posterior_leaves_what_it_does_not_take_to_the_numpy_path():
    """The IWAE bound (log q, no KL), STL's score=False, a 2-d dz and a float64 dkl on a float32
    model take the NumPy path, and give its numbers."""
    rng = np.random.default_rng(2)
    h, eps, dz, dkl, _, _ = _posterior_case(rng, 2, 5, 3, np.float32, 1.0)
    q = DiagonalGaussian(3)
    with fused.using("fused"):
        assert fused.gaussian_posterior_backward(dz[0], dkl, h, h[:, :3].copy(), h[:, 3:].copy(),
                                                 eps[0]) is None
        assert fused.gaussian_posterior_backward(dz, dkl.astype(np.float64), h, h[:, :3].copy(),
                                                 h[:, 3:].copy(), eps) is None
        out, cache = q.forward(h, eps, kl=False, log_q=True)
        assert out.kl is None and out.log_q is not None
        lq = rng.standard_normal((2, 5)).astype(np.float32)
        got = q.backward(dz, cache, dlog_q=lq, score=False)
    with fused.using("numpy"):
        out2, cache2 = q.forward(h, eps, kl=False, log_q=True)
        want = q.backward(dz, cache2, dlog_q=lq, score=False)
    np.testing.assert_array_equal(_bits(out.log_q), _bits(out2.log_q))
    np.testing.assert_array_equal(_bits(got), _bits(want))


@needs_numba
@pytest.mark.parametrize("shape", [(1, 128, 784), (5, 20, 784), (1, 1, 784)])
def test_fused_model_passes_at_the_training_shapes(shape):
    case = _case(np.random.default_rng(0), *shape, np.float32, 8.0)
    for a, b in zip(_passes(*case, "numpy"), _passes(*case, "fused")):
        np.testing.assert_array_equal(_bits(a), _bits(b))


@needs_numba
def test_the_bitwise_check_rejects_a_likelihood_loop_in_another_order():
    """The planted error: ``l x - sp - log w`` for ``l x - (sp + log w)``, the same number on
    paper; the comparison above must see the rounding it moves."""
    def reordered(logits, x, sp, log_w, t):
        n = x.shape[0]
        for r in range(logits.shape[0]):
            for j in range(logits.shape[1]):
                t[r, j] = (logits[r, j] * x[r % n, j] - sp[r, j]) - log_w[r, j]
    case = _case(np.random.default_rng(3), 2, 64, 784, np.float32, 8.0)
    _caught("bernoulli_terms", reordered, _passes, case, 0, rtol=1e-5)


@needs_numba
def test_the_bitwise_check_rejects_a_relu_that_keeps_minus_zero():
    """The planted error: ``x if x >= 0`` for ``x if x > 0``, the same number on paper; but
    max(-0, 0) is +0 in NumPy, and the comparison must see the sign bit the loop keeps."""
    def keeps_minus_zero(x, out, zero):
        for r in range(x.shape[0]):
            for j in range(x.shape[1]):
                xi = x[r, j]
                out[r, j] = xi if xi >= zero or xi != xi else zero
    case = _case(np.random.default_rng(4), 1, 8, 30, np.float32, 1.0)
    _caught("relu", keeps_minus_zero, _passes, case, 4)


@needs_numba
def test_what_the_loops_do_not_take_falls_back_to_the_numpy_path():
    rng = np.random.default_rng(1)
    x, logits, dll, dy, y = _case(rng, 1, 8, 10, np.float32, 3.0)
    wide = np.repeat(logits, 2, axis=-1)[..., ::2]            # strided: not C-contiguous
    with fused.using("fused"), np.errstate(all="ignore"):
        assert fused.bernoulli_forward(x, wide) is None
        assert fused.bernoulli_forward(x.astype(np.float64), logits) is None
        assert fused.relu_backward(dy[:, ::2], y[:, ::2]) is None
        assert fused.relu_forward(dy[:, ::2]) is None
        assert fused.relu_forward(dy, out=np.empty(dy.shape, np.float64)) is None
        ll = Bernoulli(10).forward(x, wide)[0]                 # still right, by the NumPy path
    with fused.using("numpy"), np.errstate(all="ignore"):
        assert fused.bernoulli_forward(x, logits) is None      # the path is "numpy": no loop
        np.testing.assert_array_equal(ll, D.bernoulli_log_likelihood_forward(x, wide)[0])


@needs_numba
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_a_whole_vae_step_has_the_same_bits_on_both_paths(objective, activation):
    rng = np.random.default_rng(0)
    x = (rng.random((16, 30)) < 0.5).astype(np.float32)
    eps = rng.standard_normal((3, 16, 4)).astype(np.float32)
    grads = {}
    for kernels in ("numpy", "fused"):
        model = nv.VAE(30, [12, 9], 4, rng=np.random.default_rng(1), activation=activation)
        with fused.using(kernels):
            loss = model.forward_backward(x, eps, objective)["loss"]
        grads[kernels] = (loss, model.grads.copy())
    assert grads["numpy"][0] == grads["fused"][0]
    np.testing.assert_array_equal(_bits(grads["numpy"][1]), _bits(grads["fused"][1]))


def test_the_librarys_model_path_is_numpy_until_chosen():
    assert fused.model_kernels() == "numpy"
    with pytest.raises(ValueError, match="--kernels must be one of"):
        fused.use("numba")
    assert fused.model_kernels() == "numpy"


def test_the_textbook_kernels_stay_textbook():
    """The library's kernels double as the exercises' reference solutions (``numpyvae check NN
    --show-solution`` prints their source, and the jail runs it): they never reach for fused.py;
    the nodes that call them choose the path."""
    import inspect

    from numpyvae import distributions, functional, reparam
    for f in (functional.relu_forward, functional.relu_backward, functional.tanh_backward,
              distributions.bernoulli_log_likelihood_forward,
              distributions.bernoulli_log_likelihood_backward, reparam.gaussian_forward,
              reparam.gaussian_backward, distributions.kl_std_normal_forward,
              distributions.kl_std_normal_backward):
        assert "fused" not in inspect.getsource(f), f.__name__
