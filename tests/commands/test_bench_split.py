"""The benchmark's comparisons: the step's 11 products, the split step's gradient, PyTorch's model."""
import importlib.util

import numpy as np
import pytest

import numpyvae as nv
from numpyvae import functional as F
from numpyvae.commands.bench import load_benchmark

TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def sc():
    return load_benchmark().step_compare


def _model(dtype=np.float32, batch=16, hidden=24, seed=0):
    rng = np.random.default_rng(seed)
    model = nv.VAE(784, [hidden], 20, rng=rng, dtype=dtype)
    x = (rng.random((batch, 784)) < 0.13).astype(dtype)
    return model, x, rng


def test_step_products_are_the_products_the_step_computes(sc, monkeypatch):
    """Record the matrix products of one real forward + backward (the dense kernels are looked
    up at call time) and compare them with the list the benchmark times."""
    seen = []
    fwd, bwd = F.dense_forward, F.dense_backward

    def dense_forward(x, W, b):
        seen.append(("y", x.shape[0], *W.shape))
        return fwd(x, W, b)

    def dense_backward(dy, cache, dW=None, db=None, need_dx=True):
        dx, dW, db = bwd(dy, cache, dW, db, need_dx)
        seen.append(("dW", dW.shape[0], dy.shape[0], dW.shape[1]))
        if dx is not None:
            seen.append(("dx", dy.shape[0], dy.shape[1], dx.shape[1]))
        return dx, dW, db

    monkeypatch.setattr(F, "dense_forward", dense_forward)
    monkeypatch.setattr(F, "dense_backward", dense_backward)
    model, x, rng = _model(batch=128, hidden=400)
    model.forward_backward(x, rng.standard_normal((1, 128, 20), dtype=np.float32))
    assert sorted(seen) == sorted(sc.step_products(128, 400))
    assert len(seen) == 11
    tp = load_benchmark()
    assert tp.step_flops(128, 400) == sum(2 * m * k * n for _, m, k, n in seen)


def test_the_twin_shares_the_parameters_and_owns_its_gradients(sc):
    model, x, rng = _model()
    other = sc.twin(model)
    assert other.params is model.params
    for (name, a), (_, b) in zip(model.named_params().items(), other.named_params().items()):
        assert np.shares_memory(a, b) and a.shape == b.shape, name
    assert not np.shares_memory(other.grads, model.grads)
    eps = rng.standard_normal((1, 16, 20), dtype=np.float32)
    before = model.forward_backward(x, eps)["loss"]
    model.params -= 0.01 * model.grads                     # the twin sees the update
    assert other.forward_backward(x, eps)["loss"] == model.forward_backward(x, eps)["loss"]
    assert other.forward_backward(x, eps)["loss"] != before


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_the_averaged_half_batch_gradient_is_the_full_batch_gradient(sc, dtype, tol):
    """float32: equal to rounding; float64: the averaging itself is exact."""
    model, x, rng = _model(dtype)
    parts = [model, sc.twin(model)]
    eps = rng.standard_normal((1, 16, 20)).astype(dtype)
    model.forward_backward(x, eps)
    full = model.grads.copy()
    step = sc.SplitStep(parts, x, rng)
    try:
        step.gradient(eps)
    finally:
        step.close()
    err = np.max(np.abs(model.grads - full)) / np.max(np.abs(full))
    assert err < tol
    assert model.grads.dtype == dtype
    # the benchmark's own check, which it asserts before and after timing
    assert sc.split_gradient_error(parts, x, rng) < sc.SPLIT_TOLERANCE


def test_adam_over_slices_is_the_same_update_as_one_adam(sc):
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(1001).astype(np.float32)
    p1 = p0.copy()
    whole, halves = nv.optim.Adam(1e-3), [nv.optim.Adam(1e-3), nv.optim.Adam(1e-3)]
    cut = [slice(0, 500), slice(500, None)]
    for _ in range(5):
        g = rng.standard_normal(1001).astype(np.float32)
        whole.step(p0, g)
        for opt, s in zip(halves, cut):
            opt.step(p1[s], g[s])
    assert np.array_equal(p0, p1)


def test_split_step_trains_like_the_full_step(sc):
    """One split step (either Adam) moves the shared parameters as one full-batch step with the
    same noise does: all but a few entries agree to 1e-6 (the first Adam step is about
    lr * sign(g), so an entry whose gradient is at rounding level may go either way)."""
    for adam_split in (False, True):
        model, x, _ = _model()
        ref, _, _ = _model()
        step = sc.SplitStep([model, sc.twin(model)], x, np.random.default_rng(7),
                            adam_split=adam_split)
        try:
            step()
        finally:
            step.close()
        eps = np.random.default_rng(7).standard_normal((1, 16, 20), dtype=np.float32)
        ref.forward_backward(x, eps)
        nv.optim.Adam(1e-3).step(ref.params, ref.grads)
        moved = np.abs(model.params - ref.params)
        assert np.max(np.abs(model.params - _model()[0].params)) > 0     # it did move
        assert np.mean(moved > 1e-6) < 1e-3                                # same update


@pytest.mark.skipif(not TORCH, reason="PyTorch is not installed (the optional [bench] extra)")
def test_pytorch_model_computes_the_same_loss_and_gradients(sc):
    model, _, x, _ = sc.setup(batch=32, hidden=64)
    net = sc.torch_model(model)
    same = sc.same_function(model, net, x, np.random.default_rng(1))
    assert same["loss_rel_diff"] < 1e-5 and same["grad_rel_diff"] < 1e-5
    assert np.isfinite(same["loss"]) and same["loss"] > 0


def test_interleaved_rounds_rotate_the_order_and_ratios_are_per_round(sc):
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = sc.interleaved(fns, rounds=3, reps=2, pause=0)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    firsts = [calls[i * 12] for i in range(3)]             # (2 untimed + 2 timed) x 3 per round
    assert firsts == ["a", "b", "c"]
    r = sc.ratio_summary([2.0, 3.0, 10.0], [1.0, 1.0, 4.0])
    assert r == {"ratio": 2.5, "lo": 2.0, "hi": 3.0}
    assert sc.summary([0.001, 0.003, 0.002]) == {"ms": 2.0, "lo": 1.0, "hi": 3.0}


def test_step_floor_times_adam_against_the_products(monkeypatch, capsys):
    """benchmarks/step_floor.py (issue 15's budget: Adam alone against 0.25 x the products) runs
    and prints each part against the products; no time is asserted."""
    import importlib
    import sys
    from pathlib import Path
    from numpyvae import _threads
    from numpyvae.commands.bench import find_benchmark
    monkeypatch.syspath_prepend(str(Path(find_benchmark()).parent))
    floor = importlib.import_module("step_floor")
    before = _threads.workers()
    try:
        floor.main(["--threads", "1", "--rounds", "1", "--reps", "1"])
    finally:
        _threads.set_blas_threads(before)
        sys.modules.pop("step_floor", None)
    text = capsys.readouterr().out
    for name in ("products", "adam", "one pass", "step"):
        assert f"  {name}" in text and "÷ products" in text, name
    assert "machine kind:" in text
    assert "Adam alone is " in text and ("over the 0.25" in text or "within the 0.25" in text)


def test_interleaved_reports_the_cores_each_callable_kept_busy(sc):
    """CPU time ÷ wall time per block: a loop that computes keeps about one core busy, a sleep
    none (loose bounds: the machine may be loaded)."""
    import time

    def spin():
        t = time.perf_counter()
        while time.perf_counter() - t < 0.01:
            pass
    cores = {}
    sc.interleaved({"spin": spin, "sleep": lambda: time.sleep(0.01)}, rounds=2, reps=3, pause=0,
                   cores=cores)
    assert set(cores) == {"spin", "sleep"} and all(len(v) == 2 for v in cores.values())
    assert min(cores["spin"]) > 0.2 and max(cores["sleep"]) < 0.1, cores
