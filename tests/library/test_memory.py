"""numpyvae keeps freed memory for reuse (numpyvae/_memory.py): repeated large temporaries do not
fault their pages in again.  Measured by page-fault counts, never by time."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

PROBE = r"""
import numpyvae; numpyvae.tune_process()          # as the numpyvae command does, before NumPy
import resource, numpy as np, numpyvae._memory as m
x = np.ones((668, 784), np.float32)         # a log-likelihood chunk of logits, 2 MiB
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    y = np.exp(-np.abs(x)) + 1             # temporaries of 2 MiB each, freed at once
f0 = faults()
for _ in range(50):
    y = np.exp(-np.abs(x)) + 1
    del y
print(m.state, faults() - f0)
"""


def _probe(env_extra):
    env = {k: v for k, v in os.environ.items() if k != "NUMPYVAE_MALLOC"}
    env.update(OPENBLAS_NUM_THREADS="1", **env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return " ".join(out[:-1]), int(out[-1])


def test_temporaries_reuse_their_pages():
    state, faults = _probe({})
    if state != "kept":
        pytest.skip(f"this C library was not changed: {state}")
    assert faults < 200, f"{faults} page faults for 50 rounds of 2 MiB temporaries"


def test_the_opt_out_keeps_glibc_behaviour_and_shows_what_it_costs():
    state, faults = _probe({"NUMPYVAE_MALLOC": "default"})
    assert state.startswith("glibc defaults")
    # glibc hands each freed 2 MiB block back and faults 512 pages in again: the probe can fail
    assert faults > 5000


# ----------------------------------------------------------------- the flat vectors on huge pages

def _thp_eligible(address):
    """The kernel's "THPeligible" flag of the mapping holding ``address`` (/proc/self/smaps): 1
    when transparent huge pages may back it, whether or not the kernel found free 2 MiB pages."""
    current = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and ":" not in head:              # a mapping's first line
                lo, hi = (int(v, 16) for v in head.split("-"))
                current = lo <= address < hi
            elif current and head == "THPeligible:":
                return int(line.split()[1])
    raise AssertionError("no mapping holds the address")


def test_flat_vectors_are_zeroed_aligned_and_advised_onto_huge_pages():
    import mmap

    import numpy as np

    from numpyvae import _memory
    for dtype in (np.float32, np.float64):
        a = _memory.flat_zeros(700_001, dtype)
        assert a.shape == (700_001,) and a.dtype == dtype and a.flags.c_contiguous
        assert a.flags.writeable and not a.any()
        if hasattr(mmap, "MADV_HUGEPAGE"):
            assert a.ctypes.data % _memory.HUGE_PAGE == 0
    small = _memory.flat_zeros(1000, np.float32)            # under one huge page: plain NumPy
    assert small.flags.owndata and not small.any()


def test_huge_pages_may_back_the_flat_vectors_when_the_kernel_allows_them():
    """Where transparent huge pages are "always" or "madvise", the kernel may map a flat vector
    with 2 MiB pages (its mapping is "THPeligible"); with ``use_huge_pages = False`` the vector
    is NumPy's own, from malloc."""
    import numpy as np

    from numpyvae import _memory
    try:
        mode = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        pytest.skip("no transparent huge pages here")
    if "[never]" in mode:
        pytest.skip("transparent huge pages are off on this machine")
    a = _memory.flat_zeros(3 * _memory.HUGE_PAGE // 4, np.float32)        # 6 MiB
    a += 1
    assert _thp_eligible(a.ctypes.data) == 1
    _memory.use_huge_pages = False
    try:
        plain = _memory.flat_zeros(3 * _memory.HUGE_PAGE // 4, np.float32)
    finally:
        _memory.use_huge_pages = True
    assert plain.flags.owndata


def test_a_forked_child_does_not_write_into_the_parents_vectors():
    """The mapping is private: a grader's or a worker's forked child changing the model's
    parameters changes its own copy only."""
    import numpy as np

    from numpyvae import _memory
    a = _memory.flat_zeros(1 << 20, np.float32)
    pid = os.fork()
    if pid == 0:                                   # the child
        a[:] = 7
        os._exit(0 if a[0] == 7 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and not a.any()


def test_training_on_huge_pages_gives_the_same_bits():
    import numpy as np

    import numpyvae as nv
    from numpyvae import _memory
    x = (np.random.default_rng(0).random((32, 784)) < 0.3).astype(np.float32)
    out = {}
    for huge in (True, False):
        _memory.use_huge_pages = huge
        try:
            model = nv.VAE(784, [400], 20, rng=np.random.default_rng(1))
            opt = nv.optim.Adam(1e-3, kernels="numpy")
            rng = np.random.default_rng(2)
            for _ in range(3):
                model.loss_and_grad(x, rng)
                opt.step(model.params, model.grads)
        finally:
            _memory.use_huge_pages = True
        assert model.params.flags.owndata != huge and opt.state["M"].flags.owndata != huge
        out[huge] = model.params.copy()
    np.testing.assert_array_equal(out[True].view(np.uint32), out[False].view(np.uint32))
