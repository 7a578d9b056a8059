"""Optimizers: in-place updates on the flat vector matching the textbook formulas; state I/O."""
import numpy as np
import pytest

import numpyvae as nv


def _reference(name, p, grads, lr):
    """Textbook updates in float64, one array expression per line."""
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            p = p - lr * g
        elif name == "momentum":
            m = 0.9 * m + g
            p = p - lr * m
        elif name == "adagrad":
            v = v + g * g
            p = p - lr * g / (np.sqrt(v) + 1e-8)
        else:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            mh, vh = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)
            p = p - lr * mh / (np.sqrt(vh) + 1e-8)
    return p


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
def test_matches_textbook_formula_in_place(name):
    rng = np.random.default_rng(0)
    p = rng.normal(size=50)
    grads = [rng.normal(size=50) for _ in range(20)]
    params = p.copy()
    opt = nv.optim.make(name, 0.01)
    ident = id(params)
    for g in grads:
        opt.step(params, g)
    assert id(params) == ident
    np.testing.assert_allclose(params, _reference(name, p, grads, 0.01), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
def test_float32_stays_float32_and_state_roundtrip_is_exact(name):
    rng = np.random.default_rng(1)
    p1 = rng.standard_normal(100, dtype=np.float32)
    p2 = p1.copy()
    grads = [rng.standard_normal(100, dtype=np.float32) for _ in range(10)]
    a = nv.optim.make(name, 1e-2)
    for g in grads:
        a.step(p1, g)
    b = nv.optim.make(name, 1e-2)
    for g in grads[:4]:
        b.step(p2, g)
    state = {k: v.copy() for k, v in b.state_dict().items()}
    c = nv.optim.make(name, 1e-2)
    c.load_state_dict(state, p2)
    for g in grads[4:]:
        c.step(p2, g)
    assert p1.dtype == np.float32 and np.array_equal(p1, p2)
    assert all(v.dtype in (np.float32, np.int64) for v in a.state_dict().values())


def test_bad_arguments_leave_params_unchanged():
    p = np.ones(5, np.float32)
    opt = nv.optim.Adam(1e-3)
    for g in (np.ones(4, np.float32), np.ones(5, np.float64), np.full(5, np.nan, np.float32)):
        with pytest.raises((ValueError, TypeError), match="grad"):
            opt.step(p, g)
    assert np.all(p == 1) and opt.t == 0
    with pytest.raises(ValueError, match="lr"):
        nv.optim.SGD(-1.0)
    with pytest.raises(ValueError, match="beta"):
        nv.optim.Momentum(0.1, beta=1.5)
    with pytest.raises(ValueError, match="optimizer"):
        nv.optim.make("rmsprop", 0.1)


def test_adam_reads_textbook_scaled_state_of_older_checkpoints():
    rng = np.random.default_rng(2)
    p = rng.standard_normal(20)
    grads = [rng.standard_normal(20) for _ in range(6)]
    a = nv.optim.Adam(1e-2)
    q = p.copy()
    for g in grads[:3]:
        a.step(q, g)
    m, v = a.moments()
    old = {"opt_m": m, "opt_v": v, "opt_t": np.array(3)}
    b = nv.optim.Adam(1e-2)
    b.load_state_dict(old, q)
    q2 = q.copy()
    for g in grads[3:]:
        a.step(q, g)
        b.step(q2, g)
    np.testing.assert_allclose(q2, q, rtol=1e-12)
    np.testing.assert_allclose(q, _reference("adam", p, grads, 1e-2), rtol=1e-10)
