"""--kernels fused (numpyvae/fused.py, numba) against the NumPy path, the reference: the same bits
for every optimizer, float32 and float64, one and two threads; numba imported only when a fused
kernel is needed; everything works without numba; the compiled kernels are cached only where the
user can write.  (Speed is measured by benchmarks/, never here.)"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numpyvae import fused, optim

ROOT = Path(__file__).resolve().parents[2]
needs_numba = pytest.mark.skipif(not fused.available(),
                                 reason=f"numba not installed: {fused.INSTALL_HINT}")
# `import numba` fails in a child process started with this (the "numpyvae without [fast]" case)
NO_NUMBA = ("import sys; sys.modules['numba'] = None; "
            "sys.path.insert(0, {root!r}); ")


def _gradients(rng, size, dtype, steps):
    """Gradients of very different scales, with zeros, subnormals and huge entries mixed in, so
    that every branch of the IEEE arithmetic (rounding at every exponent) is exercised."""
    out = []
    for t in range(steps):
        g = rng.standard_normal(size) * 10.0 ** rng.uniform(-6, 3)
        g[rng.integers(0, size, 50)] = 0.0
        g[rng.integers(0, size, 50)] *= 1e-40 if dtype == np.float32 else 1e-310
        g[rng.integers(0, size, 5)] = 1e18            # g^2 still finite in float32
        out.append(g.astype(dtype))
    return out


def _run(name, kernels, dtype, steps=40, size=100_003, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(size).astype(dtype)
    o = optim.make(name, 1e-2, kernels=kernels, **kwargs)
    for g in _gradients(rng, size, dtype, steps):
        o.step(p, g)
    return p, o.state_dict(), o


def _assert_same_bits(a, b):
    (pa, sa), (pb, sb) = a, b
    assert pa.dtype == pb.dtype
    np.testing.assert_array_equal(pa.view(f"u{pa.itemsize}"), pb.view(f"u{pb.itemsize}"))
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(np.atleast_1d(sa[k]).view(np.uint8),
                                      np.atleast_1d(sb[k]).view(np.uint8), err_msg=k)


@needs_numba
@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fused_gives_the_numpy_paths_exact_bits(name, dtype, n_threads, parts):
    parts(n_threads)
    p_np, s_np, o_np = _run(name, "numpy", dtype)
    p_fu, s_fu, o_fu = _run(name, "fused", dtype)
    assert (o_np.kernels, o_fu.kernels) == ("numpy", "fused")
    assert np.all(np.isfinite(p_np)) and not np.array_equal(p_np, _run(name, "numpy", dtype,
                                                                       steps=1)[0])
    _assert_same_bits((p_np, s_np), (p_fu, s_fu))


@needs_numba
def test_fused_adam_with_the_iwae_settings_is_exact_after_many_steps(parts):
    """The IWAE setup's Adam (eps 1e-4), 300 steps: rounding differences would have grown."""
    parts(1)
    runs = [_run("adam", k, np.float32, steps=300, size=20_011, beta1=0.9, beta2=0.999,
                 eps=1e-4)[:2] for k in ("numpy", "fused")]
    _assert_same_bits(*runs)


@needs_numba
def test_the_bitwise_check_rejects_a_kernel_with_another_operation_order(parts):
    """The planted error: Adam's last line as ``p - M * (A / (sqrt(V) + E))``, algebraically
    the same update.  The comparison above must see it (and does, within a few steps)."""
    import numba

    def reordered(p, g, M, V, b1, b2, E, A):
        for i in range(p.size):
            gi = g[i]
            Mi = M[i] * b1 + gi
            Vi = V[i] * b2 + gi * gi
            M[i] = Mi
            V[i] = Vi
            p[i] = p[i] - Mi * (A / (np.sqrt(Vi) + E))
    parts(1)
    planted = numba.njit(nogil=True, error_model="numpy")(reordered)
    real = fused.kernel("adam", np.float32)
    assert real is not planted
    with fused.swapped("adam", planted, np.float32):
        bad = _run("adam", "fused", np.float32, steps=5)[:2]
    with pytest.raises(AssertionError):
        _assert_same_bits(_run("adam", "numpy", np.float32, steps=5)[:2], bad)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_fused_finite_check_finds_every_kind_of_non_finite_entry(dtype):
    info = np.finfo(dtype)
    finite = np.array([0.0, -0.0, info.max, -info.max, info.smallest_subnormal, info.tiny, 1.0],
                      dtype)
    assert fused.all_finite(finite)
    for bad in (np.nan, np.inf, -np.inf, -np.nan):
        for where in (0, 3, finite.size - 1):
            x = finite.copy()
            x[where] = bad
            assert not fused.all_finite(x), (bad, where)


@needs_numba
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("where", [0, 50_000, 99_999])
def test_a_non_finite_gradient_on_the_fused_path_changes_nothing(bad, where, parts):
    parts(2)
    o = optim.Adam(1e-2, kernels="fused")
    p = np.ones(100_000, np.float32)
    o.step(p, np.ones_like(p))
    before = p.copy(), {k: v.copy() for k, v in o.state_dict().items()}
    g = np.ones_like(p)
    g[where] = bad
    with pytest.raises(ValueError, match="grad contains NaN or inf"):
        o.step(p, g)
    _assert_same_bits(before, (p, o.state_dict()))


@needs_numba
def test_a_checkpoint_moves_between_the_paths_bit_for_bit(parts):
    """Steps on the NumPy path, the state saved, resumed on the fused path (and back): the same
    bits as never switching."""
    parts(1)
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(30_000).astype(np.float32)
    grads = _gradients(rng, p0.size, np.float32, 12)
    ref, p = optim.Adam(1e-2, kernels="numpy"), p0.copy()
    for g in grads:
        ref.step(p, g)
    q, kinds = p0.copy(), ["numpy", "fused", "numpy"]
    state = None
    for i, k in enumerate(kinds):
        o = optim.Adam(1e-2, kernels=k)
        if state is not None:
            o.load_state_dict(state, q)
        for g in grads[4 * i:4 * i + 4]:
            o.step(q, g)
        state = {k2: v.copy() for k2, v in o.state_dict().items()}
    _assert_same_bits((p, ref.state_dict()), (q, state))


def test_bad_kernels_choices_are_refused_by_name():
    with pytest.raises(ValueError, match="kernels must be one of auto, numpy, fused"):
        optim.Adam(1e-3, kernels="numba")
    env = {**os.environ, "NUMPYVAE_KERNELS": "fast"}
    code = ("import numpy as np, numpyvae as nv; o = nv.optim.SGD(0.1); "
            "o.step(np.ones(3, np.float32), np.ones(3, np.float32))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode != 0 and "NUMPYVAE_KERNELS must be one of" in proc.stderr


def _child(code, env=None, no_numba=False):
    prefix = (NO_NUMBA.format(root=str(ROOT)) if no_numba
              else f"import sys; sys.path.insert(0, {str(ROOT)!r}); ")
    return subprocess.run([sys.executable, "-c", prefix + code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def test_import_numpyvae_does_not_import_numba():
    """Not at import, not for an optimizer on the NumPy path, not for the CLI's parser; only the
    first fused step does (when numba is installed)."""
    code = ("import numpy as np, numpyvae as nv, numpyvae.cli, numpyvae.optim, numpyvae.fused; "
            "from numpyvae.commands import train, bench; "
            "o = nv.optim.Adam(1e-3, kernels='numpy'); p = np.ones(10, np.float32); "
            "o.step(p, p.copy()); "
            "m = nv.VAE(6, [5], 2, rng=np.random.default_rng(0)); "
            "m.loss_and_grad(np.zeros((2, 6), np.float32), np.random.default_rng(0)); "
            "print('numba' in sys.modules); "
            "o = nv.optim.Adam(1e-3, kernels='auto'); print('numba' in sys.modules)")
    proc = _child(code, env={"NUMPYVAE_KERNELS": "auto"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_without_numba_everything_runs_on_the_numpy_path():
    """As after a plain `pip install .` (no [fast]): auto is numpy, the result is the NumPy
    path's, and asking for fused is a clear error that changes nothing."""
    code = (
        "import numpy as np, numpyvae as nv\n"
        "from numpyvae import fused, optim\n"
        "assert not fused.available() and fused.default() == 'numpy'\n"
        "rng = np.random.default_rng(0); p = rng.standard_normal(1000).astype(np.float32)\n"
        "g = rng.standard_normal(1000).astype(np.float32)\n"
        "a, b = optim.Adam(1e-2), optim.Adam(1e-2, kernels='numpy'); pa, pb = p.copy(), p.copy()\n"
        "for _ in range(3): a.step(pa, g); b.step(pb, g)\n"
        "assert a.kernels == 'numpy' and np.array_equal(pa, pb)\n"
        "c = optim.Adam(1e-2, kernels='fused'); pc = p.copy()\n"
        "try:\n    c.step(pc, g)\nexcept ValueError as e:\n    print('refused:', e)\n"
        "assert c.t == 0 and not c.state and np.array_equal(pc, p)\n"
        "try:\n    fused.use('fused')\nexcept ValueError as e:\n    print('model refused:', e)\n"
        "assert fused.model_kernels() == 'numpy'\n"
        "print(fused.describe())\n")
    proc = _child(code, env={"NUMPYVAE_KERNELS": "auto"}, no_numba=True)
    assert proc.returncode == 0, proc.stderr
    assert 'refused: --kernels fused needs numba' in proc.stdout
    assert 'model refused: --kernels fused needs numba' in proc.stdout
    assert 'pip install "numpyvae[fast]"' in proc.stdout


@needs_numba
def test_kernels_are_cached_in_the_users_cache_and_never_beside_the_package(tmp_path):
    cache = tmp_path / "xdg"
    code = ("import numpy as np; from numpyvae import fused, optim\n"
            "o = optim.SGD(0.1, kernels='fused'); p = np.ones(10); o.step(p, p.copy())\n"
            "print(fused.cache_dir()[0]); print(fused.describe())")
    env = {"XDG_CACHE_HOME": str(cache), "NUMBA_CACHE_DIR": ""}
    for _ in range(2):                                   # compiled, then loaded from the cache
        proc = _child(code, env=env)
        assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == str(cache / "numpyvae" / "numba")
    assert list((cache / "numpyvae" / "numba").rglob("*.nbi"))
    package = ROOT / "numpyvae"
    assert not [f for f in package.rglob("*") if f.suffix in (".nbi", ".nbc")]


@needs_numba
def test_with_nowhere_to_write_the_kernels_still_run(tmp_path):
    """HOME and the temporary directory point below a regular file (no folder can be made
    there, even as root, unlike a read-only permission): nothing is cached, the bits are the
    same."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"HOME": str(blocker / "home"), "XDG_CACHE_HOME": "", "NUMBA_CACHE_DIR": ""}
    code = (f"import tempfile; tempfile.tempdir = {str(blocker / 'tmp')!r}\n"
            "import numpy as np; from numpyvae import fused, optim\n"
            "rng = np.random.default_rng(0); p = rng.standard_normal(50_000).astype(np.float32)\n"
            "q = p.copy(); g = rng.standard_normal(p.size).astype(np.float32)\n"
            "a, b = optim.Adam(1e-2, kernels='fused'), optim.Adam(1e-2, kernels='numpy')\n"
            "for _ in range(3): a.step(p, g); b.step(q, g)\n"
            "assert np.array_equal(p, q)\n"
            "print(fused.cache_dir()[0]); print(fused.describe())")
    proc = _child(code, env=env)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[:2]
    assert first == "None" and "compiled in every process" in second


@needs_numba
def test_train_runs_both_paths_to_the_same_bits_records_and_prints_the_choice(tmp_path, capsys):
    """`numpyvae train --kernels numpy|fused`: printed, in config.json and the checkpoint; the
    two runs' checkpoints hold the same parameters and optimizer state bit for bit; a run
    resumed on the other path is told so (and still matches)."""
    import json

    from numpyvae import checkpoint as ckpt
    from numpyvae.cli import main
    small = ["--n-train", "300", "--n-test", "100", "--hidden", "32", "--batch-size", "32"]
    saved = {}
    for k in ("numpy", "fused"):
        assert main(["train", "--out", str(tmp_path / k), *small, "--epochs", "2",
                     "--kernels", k]) == 0
        out = capsys.readouterr().out
        assert f"kernels: {k} (" in out
        if k == "fused":
            assert "numba" in out and "kernel(s)" in out
        assert json.load(open(tmp_path / k / "config.json"))["kernels"] == k
        c = ckpt.load(tmp_path / k / "checkpoint.npz")
        assert c.meta["run"]["kernels"] == k
        saved[k] = (c.params, c.optimizer_state)
    _assert_same_bits(*saved.values())
    # one epoch on the NumPy path, the second resumed on the fused one
    mixed = tmp_path / "mixed"
    assert main(["train", "--out", str(mixed), *small, "--epochs", "1", "--kernels", "numpy"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(mixed), "--resume", "--epochs", "2",
                 "--kernels", "fused"]) == 0
    err = capsys.readouterr().err
    assert "trained with --kernels numpy and goes on with --kernels fused" in err
    c = ckpt.load(mixed / "checkpoint.npz")
    _assert_same_bits(saved["numpy"], (c.params, c.optimizer_state))
    assert json.load(open(mixed / "config.json"))["kernels"] == "fused"


def test_train_kernels_fused_without_numba_is_a_clear_error_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    code = (f"from numpyvae.cli import main; raise SystemExit(main(['train', '--out', {str(out)!r}, "
            "'--n-train', '100', '--n-test', '50', '--hidden', '8', '--kernels', 'fused']))")
    proc = _child(code, no_numba=True)
    assert proc.returncode == 2, proc.stderr
    assert "numpyvae train: error: --kernels fused needs numba" in proc.stderr
    assert 'pip install "numpyvae[fast]"' in proc.stderr
    assert not out.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc on Linux")
def test_under_a_tight_ulimit_v_numba_is_not_loaded():
    """numba + LLVM map about 300 MiB; with less than fused.NUMBA_ROOM left under ``ulimit -v``
    LLVM could die of SIGSEGV (seen in CI: `numpyvae train` under a 400 MiB margin).  Then "auto"
    is the NumPy path, with the reason printed, and "fused" is refused by name; numba stays out."""
    code = ("import resource, numpy as np, numpyvae as nv\n"
            "from numpyvae import fused\n"
            "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
            "resource.setrlimit(resource.RLIMIT_AS, (used + 400 * 2**20,) * 2)\n"
            "print('default', fused.default())\n"
            "print('why', fused.why_numpy())\n"
            "o = nv.optim.Adam(1e-3); p = np.ones(10, np.float32); o.step(p, p.copy())\n"
            "print('optimizer', o.kernels)\n"
            "try:\n    fused.resolve('fused')\nexcept ValueError as e:\n    print('refused', e)\n"
            "print('numba loaded', 'numba' in sys.modules)\n")
    proc = _child(code, env={"NUMPYVAE_KERNELS": "auto"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "default numpy" in out and "optimizer numpy" in out and "numba loaded False" in out
    assert "why the address-space limit (ulimit -v) leaves" in out
    assert "refused --kernels fused: the address-space limit" in out and "--kernels numpy" in out


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_flag_is_any_magnitude_at_or_above_the_limit_or_nan(dtype):
    """``any_at_least`` compares bits without the sign: an entry is flagged exactly when
    |entry| >= the limit (either sign), or it is NaN or inf."""
    kernel, u = fused.kernel("any_at_least", dtype), fused.unsigned(dtype)
    at = np.array(optim.FLAG_AT, dtype)
    below = np.nextafter(at, dtype(0))
    bits = fused.magnitude_bits(dtype, optim.FLAG_AT)
    for value, flagged in ((below, False), (-below, False), (at, True), (-at, True),
                           (np.inf, True), (-np.inf, True), (np.nan, True), (-np.nan, True),
                           (np.finfo(dtype).max, True), (-0.0, False), (3.0, False)):
        x = np.full(1001, 0.5, dtype)
        x[500] = value
        assert bool(kernel(x.view(u), *bits)) is flagged, value


@needs_numba
def test_a_gradient_above_two_is_read_once_on_the_fused_path(monkeypatch):
    """A sane gradient (|g| up to 3 here; the benchmark's model crosses 2 in early steps) is read
    once by the flag and once by the update; a flagged one (|g| >= 2^32) also for its min and
    max, and the update is the same either way."""
    from numpyvae import _threads
    calls = []
    real = _threads.run_split
    monkeypatch.setattr(_threads, "run_split", lambda fn, n: (calls.append(n), real(fn, n)))
    for g_max, reads in ((3.0, 2), (2.0 ** 33, 3)):
        calls.clear()
        p, g = np.ones(10_000, np.float32), np.full(10_000, 0.25, np.float32)
        g[7] = g_max
        o = optim.Adam(1e-3, kernels="fused")
        o.step(p, g)
        assert len(calls) == reads, (g_max, calls)
        q = np.ones(10_000, np.float32)
        optim.Adam(1e-3, kernels="numpy").step(q, g)
        np.testing.assert_array_equal(p.view(np.uint32), q.view(np.uint32))
