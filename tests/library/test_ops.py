"""Every op in the catalogue: gradient check in float64, float32 in -> float32 out."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpyvae.gradcheck import numerical_gradient, rel_error

from catalogue import OPS, gradients

THRESHOLD = 1e-6


def assert_close(name, analytic, numeric, fvals, h=1e-5):
    """Worst relative error below THRESHOLD, measured against the gradient's own scale.

    Central differences cannot resolve better than their rounding noise, about
    ``eps_mach * (1 + max|f|) / h`` in absolute terms (the 1 stands for the O(1)
    constants inside the formulas, such as the -1 in the KL, which round too).  Where a hypothesis draw makes that noise larger
    than THRESHOLD x the gradient (log-variance 20 makes |KL| ~ 1e8 while dKL/dmu = mu ~ 1; a
    weight of 1e-221 makes the gradient itself unresolvable), the error is allowed up to
    10x that noise and no further.  A correct gradient always passes; a wrong one fails unless
    its error is below what float64 differences can see at that point.
    """
    err = np.abs(np.asarray(analytic) - numeric).max()
    scale = max(np.abs(analytic).max(), np.abs(numeric).max())
    noise = 10 * np.finfo(np.float64).eps * (1 + np.abs(fvals).max()) / h
    assert err <= max(THRESHOLD * scale, noise), (
        f"{name}: relative error {rel_error(analytic, numeric):.2e} (abs {err:.2e}, "
        f"FD noise {noise:.1e})")


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_gradient_matches_central_differences(name, data):
    fwd, bwd, strategy, wrt = OPS[name]
    inputs = [np.ascontiguousarray(a) for a in data.draw(strategy)]
    out, cache = fwd(*inputs)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    grads = gradients(bwd, dout, cache)
    assert len(grads) == len(wrt)
    for i, g in zip(wrt, grads):
        x = inputs[i]
        assert g.shape == x.shape and g.dtype == np.float64
        if name == "reparam_full" and i == 1 or name == "kl_full" and i == 1:
            mask = np.tril(np.ones(x.shape[-2:], bool))   # only the lower triangle is free
            num = numerical_gradient(lambda: fwd(*inputs)[0], x, dout=dout, mask=mask)
        else:
            num = numerical_gradient(lambda: fwd(*inputs)[0], x, dout=dout)
        assert_close(f"{name} input {i}", g, num, fwd(*inputs)[0])


@pytest.mark.parametrize("name", sorted(OPS))
@given(data=st.data())
def test_float32_in_float32_out(name, data):
    fwd, bwd, strategy, _ = OPS[name]
    inputs = [np.ascontiguousarray(a, dtype=np.float32) for a in data.draw(strategy)]
    out, cache = fwd(*inputs)
    assert out.dtype == np.float32, f"{name} forward returned {out.dtype}"
    for g in gradients(bwd, np.ones_like(out), cache):
        assert g is None or g.dtype == np.float32, f"{name} backward returned {g.dtype}"
