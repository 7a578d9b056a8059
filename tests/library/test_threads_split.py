"""--threads N splits the optimizers' elementwise update into N slices run on N threads, and each
slice is updated optim.BLOCK entries at a time: the result is the same, bit for bit, as one
thread and one whole-vector pass (the update is elementwise)."""
import numpy as np
import pytest

from numpyvae import _threads, optim


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
@pytest.mark.parametrize("n_parts", [2, 3, 5])
def test_a_split_update_is_bit_identical(name, n_parts, parts):
    rng = np.random.default_rng(0)
    size = 100_003                                  # not a multiple of any part count
    p0 = rng.standard_normal(size).astype(np.float32)
    grads = [rng.standard_normal(size).astype(np.float32) for _ in range(4)]
    results = []
    for n in (1, n_parts):
        parts(n)
        o, p = optim.make(name, 1e-2), p0.copy()
        for g in grads:
            o.step(p, g)
        results.append((p, o.state_dict()))
    (p1, s1), (pn, sn) = results
    np.testing.assert_array_equal(p1, pn)
    for k in s1:
        np.testing.assert_array_equal(s1[k], sn[k])
    assert not np.array_equal(p1, p0)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
@pytest.mark.parametrize("n_parts", [1, 3])
def test_a_blocked_update_is_bit_identical_to_whole_vector_passes(name, n_parts, parts, monkeypatch):
    rng = np.random.default_rng(1)
    size = 20_011                       # prime: no block size or part count divides it
    p0 = rng.standard_normal(size).astype(np.float32)
    grads = [rng.standard_normal(size).astype(np.float32) for _ in range(3)]
    parts(n_parts)
    results = []
    for b in (10**9, 4099, 7):          # whole slices; blocks that do not divide them
        monkeypatch.setattr(optim, "BLOCK", b)
        o, p = optim.make(name, 1e-2, kernels="numpy"), p0.copy()   # BLOCK is the NumPy path's
        for g in grads:
            o.step(p, g)
        results.append((p, o.state_dict()))
    (p_ref, s_ref), *blocked = results
    assert not np.array_equal(p_ref, p0)
    for p, s in blocked:
        np.testing.assert_array_equal(p, p_ref)
        for k in s_ref:
            np.testing.assert_array_equal(s[k], s_ref[k])


def test_run_split_covers_every_index_once_and_raises_errors(parts):
    seen = np.zeros(50_000, np.int64)
    def mark(s):
        seen[s] += 1
    _threads.run_split(mark, seen.size, parts=4)
    assert np.all(seen == 1)
    def boom(s):
        if s.start > 0:
            raise RuntimeError("part failed")
    with pytest.raises(RuntimeError, match="part failed"):
        _threads.run_split(boom, 50_000, parts=3)


def test_small_vectors_are_not_split():
    calls = []
    _threads.run_split(calls.append, 1000, parts=4)
    assert calls == [slice(0, 1000)]


def test_idle_blas_threads_are_told_to_sleep_unless_the_user_chose():
    env = {}
    _threads.quiet_idle_blas_threads(env)
    assert env["OPENBLAS_THREAD_TIMEOUT"] == _threads.BLAS_THREAD_TIMEOUT
    env = {"OPENBLAS_THREAD_TIMEOUT": "28"}
    _threads.quiet_idle_blas_threads(env)
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "28"


def test_tune_process_sets_it_before_numpy_loads():
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    code = ("import sys, os; import numpyvae; numpyvae.tune_process(); "
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [_threads.BLAS_THREAD_TIMEOUT, "False"]


@pytest.mark.parametrize("n_parts", [2, 3])
def test_log_likelihood_on_threads_is_bit_identical(n_parts, parts):
    import numpyvae as nv
    from numpyvae import evaluate
    rng = np.random.default_rng(0)
    model = nv.VAE(12, [8], 3, rng=rng)
    x = (rng.random((7, 12)) < 0.4).astype(np.float32)
    results = []
    for n in (1, n_parts):
        parts(n)
        before = _threads.blas_threads()
        results.append(evaluate.log_likelihood(model, x, k=300, rng=np.random.default_rng(5),
                                               chunk=64, batch_size=2))
        assert _threads.blas_threads() == before          # the BLAS thread count is restored
    np.testing.assert_array_equal(results[0], results[1])
    assert np.all(np.isfinite(results[0]))


def test_the_block_size_follows_the_l2_cache(tmp_path):
    """64 Ki-entry blocks where a core has >= 2 MiB of L2 (measured faster on such a Xeon), whole
    slices with less (measured faster on a 1 MiB Zen 4) or when the size cannot be read."""
    for index, (level, size) in enumerate([("1", "48K"), ("2", "1024K"), ("3", "32768K")]):
        d = tmp_path / f"index{index}"
        d.mkdir()
        (d / "level").write_text(level + "\n")
        (d / "size").write_text(size + "\n")
    assert optim._l2_bytes(str(tmp_path)) == 1024 ** 2
    assert optim.block_for(1024 ** 2) > 10 ** 12
    (tmp_path / "index1" / "size").write_text("2048K\n")
    assert optim.block_for(optim._l2_bytes(str(tmp_path))) == 65536
    assert optim._l2_bytes(str(tmp_path / "missing")) is None
    assert optim.block_for(None) > 10 ** 12
