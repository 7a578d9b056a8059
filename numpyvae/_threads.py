"""``--threads N``: the number of BLAS threads, for ``numpyvae train``, ``evaluate``, ``variance``,
``check`` and ``lesson``; it also splits the optimizer's update (:func:`run_split`) and the
log-likelihood's chunks over N Python threads.

OpenBLAS (and MKL, BLIS, Accelerate) read their thread count from the environment when NumPy is
first imported.  :func:`set_blas_threads` therefore sets the environment variables -- they hold
for NumPy when it has not been imported yet and for every child process (the grader's, a lesson
run in a subprocess) -- and, when NumPy is already loaded in this process, also asks the loaded
OpenBLAS (or MKL) to change its thread count through its ``*_set_num_threads`` function.
:func:`numpyvae.cli.main` sets them before the command imports NumPy (``import numpyvae``
loads no NumPy and changes no setting), which also holds for the grader's child processes.

One thread is the faster choice when the machine is shared (several jobs or students on few
cores: OpenBLAS threads then wait for each other), for the small matrices of the exercises and
the quick lessons, and when several processes run at once; more threads help the large matrix
products of full-size training on an otherwise idle machine.
"""
from __future__ import annotations

import ctypes
import glob
import itertools
import os
import sys

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads", "MKL_Set_Num_Threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads", "MKL_Get_Max_Threads")


# OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) after every call before they go to
# sleep.  With as many BLAS threads as cores they then hold the cores that the elementwise work
# between the products needs (the activations, the loss, the optimizer's slices): measured on
# the 2-core AVX2 machine, the 2-thread training step took 10.2 ms with the default, 8.1 ms with
# 2^4 cycles (BENCHMARKS.md).  OpenBLAS reads this when it is loaded, so the numpyvae command
# sets it (numpyvae.tune_process) before it imports NumPy, unless it is set already; a script
# that imports NumPy first keeps OpenBLAS's default.
BLAS_THREAD_TIMEOUT = "4"


def quiet_idle_blas_threads(environ=os.environ):
    """Let idle OpenBLAS threads sleep at once (``OPENBLAS_THREAD_TIMEOUT``, 2^n cycles), unless
    the variable is set already.  Only an OpenBLAS loaded after this call sees it."""
    environ.setdefault("OPENBLAS_THREAD_TIMEOUT", BLAS_THREAD_TIMEOUT)


# The thread count a command gets without --threads (issue 27, measured with
# benchmarks/thread_default.py; BENCHMARKS.md 2026-12-07, README "Threads"): one.  OpenBLAS's own
# default, one thread per core, makes a full-size epoch 1.3-1.4x faster on an idle 2-core machine,
# but `numpyvae train --epochs 2` took 82.7-96.4 s with it against 11.6-14.9 s with one thread on
# the shared 2-core machine at a load of 6-10: one thread is the setting that is never far worse.
DEFAULT_THREADS = 1


def default_threads(environ=os.environ):
    """The ``--threads`` of a command that was given none: :data:`DEFAULT_THREADS`, or None when
    the environment already chooses a BLAS thread count (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
    or MKL_NUM_THREADS set), which is then left as it is."""
    if any(environ.get(v) for v in VARIABLES[:3]):
        return None
    return DEFAULT_THREADS


def check_threads(n, name="--threads"):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {n!r}")
    return n


def env_matches(n):
    return all(os.environ.get(v) == str(n) for v in VARIABLES)


def _numpy_first(paths):
    """``paths`` with NumPy's own BLAS first: a NumPy wheel ships it in ``numpy.libs`` (Linux) or
    ``numpy/.dylibs`` (macOS), as the 64-bit-index ``scipy_openblas64_``.  Other copies can be
    loaded beside it: numba imports SciPy when SciPy is installed, and SciPy brings its own."""
    np_mod = sys.modules.get("numpy")
    home = os.path.dirname(os.path.dirname(np_mod.__file__)) if np_mod else None
    mine = (os.path.join(home, "numpy.libs"), os.path.join(home, "numpy", ".dylibs")) if home else ()

    def rank(path):
        if os.path.dirname(path) in mine:
            return 0
        return 1 if "openblas64" in os.path.basename(path).lower() else 2
    return sorted(paths, key=rank)


def _loaded_blas():
    """Paths of the BLAS libraries loaded in this process, NumPy's first (Linux: /proc/self/maps;
    elsewhere the libraries bundled beside numpy)."""
    paths = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                p = line.split()[-1] if line.strip() else ""
                low = os.path.basename(p).lower()
                if ("openblas" in low or "mkl_rt" in low) and p not in paths:
                    paths.append(p)
    except OSError:
        np_mod = sys.modules.get("numpy")
        if np_mod is not None:
            base = os.path.dirname(os.path.dirname(np_mod.__file__))
            for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*",
                            "scipy_openblas*/lib/*openblas*"):
                paths += glob.glob(os.path.join(base, pattern))
    return _numpy_first(paths)


def _call(names, *args):
    done = []
    for path in _loaded_blas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                done.append(fn(*args) if args else fn())
                break
    return done


def blas_threads():
    """The thread count the loaded BLAS reports (None when NumPy is not loaded or it cannot
    tell)."""
    if "numpy" not in sys.modules:
        return None
    got = _call(_GETTERS)
    return int(got[0]) if got else None


# --threads N also splits the elementwise passes of the optimizer into N parts, run on N Python
# threads (NumPy's ufuncs release the GIL on large arrays, so the parts run on N cores at once).
_workers = 1
_pool, _pool_size = None, 0


def workers():
    """How many parts elementwise work is split into (1 unless --threads / set_blas_threads)."""
    return _workers


def run_split(fn, size, parts=None, min_size=16384):
    """Call ``fn(slice)`` on ``parts`` contiguous slices of ``range(size)`` at once, one on this
    thread and the others on a shared thread pool; re-raises the first error.  With one part
    this is just ``fn(slice(0, size))``.  The slices cover every index exactly once, so work
    that is elementwise gives the same bits however it is split.  A slice is never shorter
    than ``min_size`` (short vectors are not worth a thread)."""
    global _pool, _pool_size
    parts = max(1, min(parts or _workers, size // min_size or 1))
    if parts == 1:
        return fn(slice(0, size))
    if _pool_size < parts - 1:
        from concurrent.futures import ThreadPoolExecutor
        _pool = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="numpyvae")
        _pool_size = parts - 1
    edges = [size * i // parts for i in range(parts + 1)]
    futures = [_pool.submit(fn, slice(a, b)) for a, b in itertools.pairwise(edges[1:])]
    try:
        fn(slice(edges[0], edges[1]))
    finally:
        errors = [f.exception() for f in futures]     # waits for every part
    for e in errors:
        if e is not None:
            raise e


class one_blas_thread:
    """``with one_blas_thread(parts):`` the loaded BLAS runs on one thread while ``parts > 1``
    Python threads each make their own BLAS calls (``parts`` BLAS threads would each start
    ``parts`` more, on the same cores); afterwards the thread count is what it was."""

    def __init__(self, parts):
        self.parts, self.before = parts, None

    def __enter__(self):
        if self.parts > 1:
            self.before = blas_threads()
            if self.before and self.before > 1:
                _call(_SETTERS, ctypes.c_int(1))
        return self

    def __exit__(self, *exc):
        if self.before and self.before > 1:
            _call(_SETTERS, ctypes.c_int(self.before))


def set_blas_threads(n):
    """Use ``n`` BLAS threads: the environment (for NumPy not yet imported and for child
    processes) and, if NumPy is loaded, the loaded BLAS itself.  Elementwise work that
    :func:`run_split` does is split into ``n`` parts.  Returns True when the loaded BLAS was
    changed (or NumPy is not loaded yet, so the environment will do)."""
    global _workers
    n = check_threads(n)
    _workers = n
    for v in VARIABLES:
        os.environ[v] = str(n)
    if "numpy" not in sys.modules:
        return True
    return bool(_call(_SETTERS, ctypes.c_int(n)))


def threads_from_argv(argv):
    """The N of ``--threads N`` / ``--threads=N`` in ``argv`` (None when absent or not a whole
    number: argparse then reports the error)."""
    for i, a in enumerate(argv):
        if a == "--":
            break
        value = None
        if a == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith("--threads="):
            value = a.split("=", 1)[1]
        if value is not None:
            try:
                n = int(value)
            except ValueError:
                return None
            return n if n >= 1 else None
    return None
