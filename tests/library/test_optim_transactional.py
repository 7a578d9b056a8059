"""A failed optimizer step or load changes nothing (issue 18, item 3)."""
import numpy as np
import pytest

from numpyvae import optim


def _snapshot(o):
    return o.t, {k: v.copy() for k, v in o.state.items() if k != "scratch"}


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_a_step_on_a_read_only_vector_changes_nothing(name):
    o = optim.make(name, 1e-2)
    p = np.ones(5, np.float32)
    o.step(p, np.ones(5, np.float32))
    t, state = _snapshot(o)
    q = p.copy()
    q.setflags(write=False)
    with pytest.raises(ValueError, match="params"):
        o.step(q, np.full(5, 3, np.float32))
    assert o.t == t
    for k, v in state.items():
        np.testing.assert_array_equal(o.state[k], v)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_a_vector_of_another_size_is_refused(name):
    o = optim.make(name, 1e-2)
    o.step(np.ones(5, np.float32), np.ones(5, np.float32))
    with pytest.raises(ValueError, match="size"):
        o.step(np.ones(6, np.float32), np.ones(6, np.float32))
    assert o.t == 1


def test_load_without_opt_t_leaves_the_state_alone():
    o = optim.Adam(1e-2)
    p = np.ones(5, np.float32)
    o.step(p, np.ones(5, np.float32))
    t, state = _snapshot(o)
    d = o.state_dict()
    del d["opt_t"]
    d["opt_M"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="opt_t"):
        o.load_state_dict(d, p)
    assert o.t == t
    np.testing.assert_array_equal(o.state["M"], state["M"])


def test_non_finite_state_is_not_saved():
    o = optim.Adam(1e-2)
    p = np.ones(3, np.float32)
    o.step(p, np.array([1, np.float32(3e38), 1], np.float32))   # V overflows to inf
    with pytest.raises(ValueError, match="non-finite"):
        o.state_dict()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, 3, 6])
def test_one_non_finite_gradient_entry_is_refused_before_any_change(bad, where):
    o = optim.Adam(1e-2)
    p = np.ones(7, np.float32)
    o.step(p, np.ones(7, np.float32))
    t, state = _snapshot(o)
    before = p.copy()
    g = np.ones(7, np.float32)
    g[where] = bad
    with pytest.raises(ValueError, match="grad contains NaN or inf"):
        o.step(p, g)
    assert o.t == t
    np.testing.assert_array_equal(p, before)
    for k, v in state.items():
        np.testing.assert_array_equal(o.state[k], v)


def test_a_huge_but_finite_gradient_is_accepted():
    """g . g overflows to inf here, but every entry is finite: the step must go ahead."""
    o = optim.SGD(1e-30)
    p = np.ones(3, np.float32)
    o.step(p, np.array([3e38, -3e38, 1], np.float32))
    assert o.t == 1 and np.all(np.isfinite(p))
