"""Fused optimizer kernels (``--kernels fused``): one loop over the flat vector per update, compiled
by numba, giving the NumPy path's exact bits.  Optional: ``pip install "numpyvae[fast]"``.

Why: NumPy's ufuncs cannot fuse passes, so ``optim.Adam`` reads and writes the 653k-entry vector
ten times per step (ARCHITECTURE.md, "Performance"); a loop whose body is the whole update reads
each entry once.  The loop bodies below are the optimizers' formulas written *in the order the
NumPy path (optim.py) computes them*, with every scalar in the array's dtype (as NumPy casts a
Python float against a float32 array), so every entry sees the same IEEE operations: the same
bits (tests/library/test_fused.py checks parameters and state after many steps, float32 and
float64, on one and two threads).  Three numba settings make that hold and make the loop fast:

* ``error_model="numpy"``: a division by zero gives inf/NaN as in NumPy, with no Python-style
  check in the loop, which would keep the loop scalar (measured: 1.41 ms against 0.14 ms for
  Adam over 653k float32 entries on AVX-512; the compiled loop uses 512-bit ``vsqrtps``/``vdivps``).
* no ``fastmath``: LLVM may then neither reassociate nor contract ``a * b + c`` into one FMA
  (either would change the bits).
* ``nogil=True`` and no ``parallel=True``: ``--threads N`` runs the kernel on N slices on
  numpyvae's own Python threads (``_threads.run_split``, as the NumPy path does), so numba never
  starts a threading layer of its own (its OpenMP layer made a PyTorch step in the same process
  3-6x slower, and fought OpenBLAS's threads: issue 27).

``import numpyvae`` does not import numba: it is imported the first time a fused kernel is
needed.  Compiled kernels are cached (numba's ``cache=True``) in a folder the user can write
(:func:`cache_dir`), never beside the installed package (site-packages may be read-only); when no
such folder exists they are compiled in every process instead.  :data:`COMPILE_SECONDS` records how
long each kernel took to compile or load.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time

import numpy as np

KERNELS = ("numpy", "fused")
CHOICES = ("auto",) + KERNELS
INSTALL_HINT = 'pip install "numpyvae[fast]" (numba)'

# ----------------------------------------------------------------- the loop bodies
# Plain Python: numba compiles them (``kernel``).  Arrays are (n,) slices of the flat vectors,
# all of one dtype; scalars are of that dtype too.  Each body is the NumPy path's sequence of
# operations for one entry (optim.py, the ``_update`` methods), named as there.


def sgd(p, g, lr):
    for i in range(p.size):
        p[i] = p[i] - g[i] * lr                         # tmp = g lr;  p -= tmp


def momentum(p, g, v, lr, beta):
    for i in range(p.size):
        vi = v[i] * beta + g[i]                         # v *= beta;  v += g
        v[i] = vi
        p[i] = p[i] - vi * lr                           # tmp = v lr;  p -= tmp


def adagrad(p, g, G, lr, eps):
    for i in range(p.size):
        gi = g[i]
        Gi = G[i] + gi * gi                             # G += g^2
        G[i] = Gi
        p[i] = p[i] - (gi / (np.sqrt(Gi) + eps)) * lr  # tmp = (g / (sqrt(G) + eps)) lr


def adam(p, g, M, V, b1, b2, E, A):
    for i in range(p.size):                             # rescaled moments: see optim.Adam
        gi = g[i]
        Mi = M[i] * b1 + gi                             # M *= b1;  M += g
        Vi = V[i] * b2 + gi * gi                        # V *= b2;  V += g^2
        M[i] = Mi
        V[i] = Vi
        p[i] = p[i] - (Mi / (np.sqrt(Vi) + E)) * A    # tmp = (M / (sqrt(V) + E)) A


def any_nonfinite(bits, exponent):
    """``bits``: a float vector viewed as unsigned integers of its width; ``exponent``: the mask
    of its exponent field.  An entry is NaN or inf exactly when every exponent bit is set.  An OR
    over the entries, with no early exit, so that the loop is vectorised."""
    bad = 0
    for i in range(bits.size):
        bad |= (bits[i] & exponent) == exponent
    return bad != 0


BODIES = {"sgd": sgd, "momentum": momentum, "adagrad": adagrad, "adam": adam,
          "any_nonfinite": any_nonfinite}

# ----------------------------------------------------------------- choosing the path

_numba = None            # the module, once imported
_import_error = None     # why it could not be, once tried
_lock = threading.Lock()
_dispatchers = {}
_compiled = set()
COMPILE_SECONDS = {}     # {(kernel name, dtype name): seconds to compile or load it}
FROM_CACHE = set()       # the keys of COMPILE_SECONDS that were loaded from the cache
IMPORT_SECONDS = None    # seconds that importing numba took
_cache = None            # (folder or None, why), once chosen


def check_choice(kernels, name="--kernels"):
    if kernels not in CHOICES:
        raise ValueError(f"{name} must be one of {', '.join(CHOICES)}, got {kernels!r}")
    return kernels


def available():
    """True when numba imports (importing it, the first time)."""
    return _load_numba() is not None


def default():
    """What ``auto`` means: ``$NUMPYVAE_KERNELS`` when it is set to numpy or fused, otherwise
    fused when numba imports, else numpy."""
    env = os.environ.get("NUMPYVAE_KERNELS", "auto")
    check_choice(env, "NUMPYVAE_KERNELS")
    if env != "auto":
        return env
    return "fused" if available() else "numpy"


def resolve(kernels="auto"):
    """"auto" -> :func:`default`; "numpy" -> "numpy"; "fused" -> "fused", or a clear error when
    numba is missing (nothing is silently swapped for what the user asked)."""
    check_choice(kernels)
    if kernels == "auto":
        kernels = default()
    if kernels == "fused" and not available():
        raise ValueError(f"--kernels fused needs numba, which did not import ({_import_error}): "
                           f"{INSTALL_HINT}, or use --kernels numpy")
    return kernels


def _load_numba():
    global _numba, _import_error, IMPORT_SECONDS
    if _numba is not None or _import_error is not None:
        return _numba
    with _lock:
        if _numba is None and _import_error is None:
            folder, _ = cache_dir()
            t = time.perf_counter()
            try:
                import numba
            except Exception as e:          # ImportError, or a numba built for another NumPy
                _import_error = f"{type(e).__name__}: {e}"
                return None
            IMPORT_SECONDS = time.perf_counter() - t
            # numba's own setting, not the environment (which child processes would inherit):
            # it holds until a NUMBA_* variable changes (numba.core.config._EnvReloader)
            if folder is not None and not os.environ.get("NUMBA_CACHE_DIR"):
                numba.config.CACHE_DIR = folder
            _numba = numba
    return _numba


def _writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def cache_dir():
    """(folder, why) where compiled kernels are cached: ``$NUMBA_CACHE_DIR`` when set, else
    ``$XDG_CACHE_HOME/numpyvae/numba`` (default ``~/.cache``), else a per-user folder in the
    temporary directory; the first that can be written.  (None, why) when none can: the kernels
    are then compiled in each process, and nothing is written beside the package."""
    global _cache
    if _cache is not None:
        return _cache
    candidates = []
    if os.environ.get("NUMBA_CACHE_DIR"):
        candidates.append(("$NUMBA_CACHE_DIR", os.environ["NUMBA_CACHE_DIR"]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates.append(("the user's cache", os.path.join(base, "numpyvae", "numba")))
    user = getattr(os, "getuid", lambda: "user")()
    candidates.append(("the temporary directory",
                       os.path.join(tempfile.gettempdir(), f"numpyvae-numba-{user}")))
    for why, folder in candidates:
        if _writable(folder):
            _cache = (os.path.abspath(folder), why)
            return _cache
    _cache = (None, "no writable cache folder (tried " +
              ", ".join(folder for _, folder in candidates) + "): compiled in every process")
    return _cache


def _signature(numba, name, dtype):
    f = numba.from_dtype(dtype)
    arr = f[::1]                                             # a contiguous 1-d array
    if name == "any_nonfinite":
        return (numba.from_dtype(unsigned(dtype))[::1], numba.from_dtype(unsigned(dtype)))
    n_arrays = {"sgd": 2, "momentum": 3, "adagrad": 3, "adam": 4}[name]
    n_scalars = {"sgd": 1, "momentum": 2, "adagrad": 2, "adam": 4}[name]
    return (arr,) * n_arrays + (f,) * n_scalars


def unsigned(dtype):
    return np.dtype(f"u{np.dtype(dtype).itemsize}")


def kernel(name, dtype):
    """The compiled kernel ``name`` (a key of :data:`BODIES`) for arrays of ``dtype`` (float32 or
    float64), compiled (or loaded from the cache) on first use; the time it took is kept in
    :data:`COMPILE_SECONDS`."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"fused kernels are compiled for float32 and float64, not {dtype}")
    key = (name, dtype.name)
    if key in _compiled:
        return _dispatchers[name]
    numba = _load_numba()
    if numba is None:
        raise ValueError(f"fused kernels need numba ({_import_error}): {INSTALL_HINT}")
    with _lock:
        if key not in _compiled:
            if name not in _dispatchers:
                folder, _ = cache_dir()
                _dispatchers[name] = numba.njit(nogil=True, error_model="numpy",
                                                cache=folder is not None)(BODIES[name])
            d = _dispatchers[name]
            hits = sum(d.stats.cache_hits.values())
            t = time.perf_counter()
            d.compile(_signature(numba, name, dtype))
            COMPILE_SECONDS[key] = time.perf_counter() - t
            if sum(d.stats.cache_hits.values()) > hits:
                FROM_CACHE.add(key)
            _compiled.add(key)
    return _dispatchers[name]


def prepare(optimizer, dtype):
    """Compile (or load) what a step of ``optimizer`` ("adam", ...) on ``dtype`` needs, now, so
    that the time is paid and known before training starts -> seconds it took."""
    t = time.perf_counter()
    kernel(optimizer, dtype)
    kernel("any_nonfinite", dtype)
    return time.perf_counter() - t


def all_finite(x):
    """True when the contiguous float vector ``x`` holds no NaN or inf (one fused read)."""
    u = unsigned(x.dtype)
    exponent = u.type(0x7F800000 if x.dtype == np.float32 else 0x7FF0000000000000)
    return not kernel("any_nonfinite", x.dtype)(x.view(u), exponent)


def describe():
    """One line for ``train`` and ``bench``: numba's version, the cache folder, what compiling
    (or loading from the cache) took so far."""
    if _numba is None:
        return f"numba not imported ({_import_error or 'not needed yet'})"
    folder, why = cache_dir()
    spent = sum(COMPILE_SECONDS.values())
    where = f"cache {folder} ({why})" if folder else why
    n, cached = len(COMPILE_SECONDS), len(FROM_CACHE)
    how = ("loaded from the cache" if n and cached == n else
           "compiled" if not cached else f"compiled ({cached} loaded from the cache)")
    return (f"numba {_numba.__version__}, import {IMPORT_SECONDS:.2f} s, {n} kernel(s) {how} "
            f"in {spent:.2f} s; {where}")


def why_numpy():
    """Why the NumPy path was chosen, for the printout (numba is not imported to find out)."""
    if _import_error is not None:
        return f"numba did not import: {_import_error}; {INSTALL_HINT} for fused kernels"
    if os.environ.get("NUMPYVAE_KERNELS") == "numpy":
        return "NUMPYVAE_KERNELS=numpy"
    return "chosen with --kernels numpy"


def numba_imported():
    """Whether numba is in ``sys.modules`` (for the test that ``import numpyvae`` leaves it out)."""
    return "numba" in sys.modules
