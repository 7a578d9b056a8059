"""Fused kernels (``--kernels fused``): loops compiled by numba that give the NumPy path's exact
bits.  Optional: ``pip install "numpyvae[fast]"``.

* The optimizers: one loop over the flat vector per update.  NumPy's ufuncs cannot fuse passes,
  so ``optim.Adam`` makes ten passes over vectors of the model's size per step (ARCHITECTURE.md,
  "Performance"); a loop whose body is the whole update reads each entry once.
* The model's elementwise passes (:func:`use`): the Bernoulli likelihood's forward (15 NumPy
  passes -> 6, of which NumPy's ``exp``, ``log`` and row sums are 3) and backward (6 -> 3), and
  ReLU's forward (NumPy's ``maximum`` against a scalar is not vectorised) and backward (a bool
  array and a mixed-type product -> one pass), Tanh's backward (3 passes -> 1), and the diagonal
  Gaussian posterior's sample and closed-form KL with their gradient (about 20 ufunc calls on
  small arrays -> 2 loops).  Only the arithmetic between NumPy's ``exp`` and ``log`` is fused
  (see the comment above :func:`neg_abs`).  The nodes ask this module first
  (likelihoods.Bernoulli, the ReLU and Tanh layers, posterior.DiagonalGaussian); ``None`` back
  means "take the NumPy path", the textbook kernels of distributions.py, functional.py and
  reparam.py, which never call this module (they are also the exercises' reference solutions).

The loop bodies below are the formulas written *in the order the NumPy path (optim.py,
distributions.py, functional.py) computes them*, with every scalar in the array's dtype (as NumPy
casts a Python float against a float32 array), so every entry sees the same IEEE operations: the
same bits (tests/library/test_fused.py checks parameters and state after many steps, float32 and
float64, on one and two threads; test_fused_model.py the model's passes on any shape, extremes,
NaN and inf).  Three numba settings make that hold and make the loop fast:

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
from contextlib import contextmanager

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


def any_at_least(bits, magnitude, limit):
    """Is any |entry| >= the float whose bits are ``limit``, or NaN?  ``bits``: a float vector
    viewed as unsigned integers of its width; ``magnitude``: every bit but the sign.  For floats
    of one sign, the order of the bit patterns is the order of the values, and inf and NaN have
    the largest patterns (``limit`` = inf's bits: "any NaN or inf?").  An OR over the entries,
    with no early exit, so that the loop is vectorised."""
    bad = 0
    for i in range(bits.size):
        bad |= (bits[i] & magnitude) >= limit
    return bad != 0


# The model's elementwise passes (``fused.use("fused")``; ``numpyvae train --kernels fused``).
# Only the arithmetic between NumPy's transcendental functions is fused: numba's ``exp``/``log``
# are scalar calls into libm (the wheels have no SVML), slower than NumPy's SIMD ones and not the
# same bits, so ``exp`` and ``log`` stay NumPy's (distributions.py calls them between these loops).
# Arrays are 2-d, (R, C) rows of the last axis; ``x`` (N, C) is broadcast over the R = S N rows
# of the logits as NumPy broadcasts it (row r reads x[r % N]).


def neg_abs(a, out):
    for r in range(a.shape[0]):
        ar, o = a[r], out[r]
        for j in range(a.shape[1]):
            o[j] = -abs(ar[j])                          # u = |a|;  u = -u      (softplus)


def softplus_parts(a, u, w, out, one, zero):
    """u = exp(-|a|) on entry -> out = max(a, 0) + c / w, w = fl(1 + u): functional.softplus's
    lines up to its ``log(w)``, in its order.  ``one``, ``zero``: 1 and 0 in the arrays' dtype."""
    for r in range(a.shape[0]):
        ar, ur, wr, o = a[r], u[r], w[r], out[r]
        for j in range(a.shape[1]):
            ui = ur[j]
            wm1 = (ui + one) - one                      # w = u + 1;  w -= 1
            c = ui - wm1                                # u -= w
            wi = wm1 + one                              # w += 1
            ai = ar[j]
            m = ai if ai > zero or ai != ai else zero   # np.maximum(a, 0) (NaN stays NaN)
            o[j] = m + c / wi                           # u /= w;  out = max(a, 0);  out += u
            wr[j] = wi


def bernoulli_terms(logits, x, sp, log_w, t):
    """t = l x - (sp + log w): the Bernoulli forward's ``out += log(w)`` and
    ``np.subtract(logits * x, t)``, per entry, before the row sums."""
    n = x.shape[0]
    for r in range(logits.shape[0]):
        lr, xr, s, lw, tr = logits[r], x[r % n], sp[r], log_w[r], t[r]
        for j in range(logits.shape[1]):
            tr[j] = lr[j] * xr[j] - (s[j] + lw[j])


# Where a loop writes over what it reads (``e`` below, ``dy`` in place), it does so through ONE
# array argument: given the same array twice, LLVM's run-time overlap check fails and the loop runs
# its scalar version (measured: ReLU's backward 18 us in place against 4.5 us into another array).


def bernoulli_grad(x, e, d, one):
    """e = exp(-l) on entry, d (R,) -> e = (x - 1 / (e + 1)) d in place: the Bernoulli backward's
    ``g += 1;  1 / g;  x - g;  g *= d``."""
    n = x.shape[0]
    for r in range(e.shape[0]):
        xr, er, dr = x[r % n], e[r], d[r]
        for j in range(e.shape[1]):
            er[j] = (xr[j] - one / (er[j] + one)) * dr


def relu(x, out, zero):
    """out = max(x, 0), as ``np.maximum(x, 0)``: -0 becomes +0, a NaN stays that NaN.  (NumPy's
    ``maximum`` against a scalar is not vectorised: 33 us against 7 for an add on 128x784.)"""
    for r in range(x.shape[0]):
        xr, o = x[r], out[r]
        for j in range(x.shape[1]):
            xi = xr[j]
            o[j] = xi if xi > zero or xi != xi else zero


def relu_inplace(x, zero):
    """x = max(x, 0) in place (``relu`` with ``out=x``)."""
    for r in range(x.shape[0]):
        xr = x[r]
        for j in range(x.shape[1]):
            xi = xr[j]
            xr[j] = xi if xi > zero or xi != xi else zero


def tanh_grad(dy, y, out, one):
    """out = dy (1 - y^2), as functional.tanh_backward: ``t = y y;  1 - t;  dy t``."""
    for r in range(dy.shape[0]):
        dr, yr, o = dy[r], y[r], out[r]
        for j in range(dy.shape[1]):
            yj = yr[j]
            o[j] = dr[j] * (one - yj * yj)


def tanh_grad_inplace(dy, y, one):
    """dy *= 1 - y^2 (``tanh_grad`` with ``out=dy``)."""
    for r in range(dy.shape[0]):
        dr, yr = dy[r], y[r]
        for j in range(dy.shape[1]):
            yj = yr[j]
            dr[j] = dr[j] * (one - yj * yj)


# The diagonal Gaussian posterior (posterior.DiagonalGaussian) with the ELBO's closed-form KL.
# h (N, 2k) = [mu | logvar]; std = exp(logvar / 2) and var = exp(logvar) come from NumPy's exp;
# eps, z, dz are (S N, k): row r is sample r // N of example r % N.


def gaussian_sample_kl(eps, std, h, var, z, t, one, half):
    """z = eps std + mu (reparam.gaussian_forward: ``eps * std;  z += mu``) and the KL's terms
    t = (var + mu mu - 1 - logvar) / 2 (distributions.kl_std_normal_forward, in its order)."""
    n, k = h.shape[0], t.shape[1]
    for r in range(eps.shape[0]):
        er, zr, sr, hr = eps[r], z[r], std[r % n], h[r % n]
        for j in range(k):
            zr[j] = er[j] * sr[j] + hr[j]
    for r in range(n):
        hr, vr, tr = h[r], var[r], t[r]
        for j in range(k):
            mj = hr[j]
            tr[j] = (((vr[j] + mj * mj) - one) - hr[k + j]) * half


def gaussian_sample_kl_grad(dz, eps, std, h, var, dkl, dh, zero, one, half):
    """dh = [dmu | dlogvar] (N, 2k) from dz (S N, k) and dkl (N,): reparam.gaussian_backward's
    sums over the samples (NumPy's ``sum(axis=0)``: from +0, in sample order), its
    ``dlogvar *= std;  *= 0.5``, kl_std_normal_backward's ``mu d`` and ``(var - 1) 0.5 d``, and
    posterior's ``dmu += gmu;  dlogvar += glogvar``."""
    n, k = h.shape[0], std.shape[1]
    s = dz.shape[0] // n
    for r in range(n):
        hr, sr, vr, o, d = h[r], std[r], var[r], dh[r], dkl[r]
        for j in range(k):
            am = zero
            at = zero
            for i in range(s):
                g = dz[i * n + r, j]
                am = am + g
                at = at + g * eps[i * n + r, j]
            o[j] = am + hr[j] * d
            o[k + j] = (at * sr[j]) * half + ((vr[j] - one) * half) * d


def relu_grad(dy, y, out, one, zero):
    """out = dy [y > 0], as ``np.multiply(dy, y > 0)`` (the bool becomes 1.0 or 0.0)."""
    for r in range(dy.shape[0]):
        dr, yr, o = dy[r], y[r], out[r]
        for j in range(dy.shape[1]):
            o[j] = dr[j] * (one if yr[j] > zero else zero)


def relu_grad_inplace(dy, y, one, zero):
    """dy *= [y > 0] (``relu_grad`` with ``out=dy``)."""
    for r in range(dy.shape[0]):
        dr, yr = dy[r], y[r]
        for j in range(dy.shape[1]):
            dr[j] = dr[j] * (one if yr[j] > zero else zero)


BODIES = {"sgd": sgd, "momentum": momentum, "adagrad": adagrad, "adam": adam,
          "any_at_least": any_at_least, "neg_abs": neg_abs, "softplus_parts": softplus_parts,
          "bernoulli_terms": bernoulli_terms, "bernoulli_grad": bernoulli_grad,
          "relu": relu, "relu_inplace": relu_inplace, "relu_grad": relu_grad,
          "relu_grad_inplace": relu_grad_inplace, "tanh_grad": tanh_grad,
          "tanh_grad_inplace": tanh_grad_inplace, "gaussian_sample_kl": gaussian_sample_kl,
          "gaussian_sample_kl_grad": gaussian_sample_kl_grad}
# (number of 1-d arrays, 2-d arrays, scalars) of each body, for its compiled signature
_ARGS = {"sgd": (2, 0, 1), "momentum": (3, 0, 2), "adagrad": (3, 0, 2), "adam": (4, 0, 4),
         "neg_abs": (0, 2, 0), "softplus_parts": (0, 4, 2), "bernoulli_terms": (0, 5, 0),
         "bernoulli_grad": (1, 2, 1), "relu": (0, 2, 1), "relu_inplace": (0, 1, 1),
         "relu_grad": (0, 3, 2), "relu_grad_inplace": (0, 2, 2), "tanh_grad": (0, 3, 1),
         "tanh_grad_inplace": (0, 2, 1), "gaussian_sample_kl": (0, 6, 2)}

# ----------------------------------------------------------------- choosing the path

_numba = None            # the module, once imported
_import_error = None     # why it could not be, once tried
_lock = threading.Lock()
_dispatchers = {}
_compiled = set()
_ready = {}              # {(name, the dtype as the caller gave it): compiled dispatcher}
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


# numba and its LLVM take about 300 MiB of address space to import and compile (measured: 173 ->
# 470-487 MiB).  Under ``ulimit -v`` with less room than this, LLVM can die of SIGSEGV instead of
# raising MemoryError, so ``auto`` then takes the NumPy path, and ``fused`` is refused.
NUMBA_ROOM = 1 << 30


def address_space_room():
    """Bytes left under the address-space limit (``ulimit -v``), or None when there is no limit
    (or it cannot be read)."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    return soft - used


def _too_little_room():
    """Why numba must not be loaded now (the address-space limit), or None."""
    if _numba is not None:
        return None                      # loaded already: nothing more to map
    room = address_space_room()
    if room is None or room >= NUMBA_ROOM:
        return None
    return (f"the address-space limit (ulimit -v) leaves {max(room, 0) / 2**20:.0f} MiB, and "
            f"numba's compiler needs about {NUMBA_ROOM // 2**20} MiB")


def default():
    """What ``auto`` means: ``$NUMPYVAE_KERNELS`` when it is set to numpy or fused, otherwise
    fused when numba imports (and the address-space limit leaves it room), else numpy."""
    env = os.environ.get("NUMPYVAE_KERNELS", "auto")
    check_choice(env, "NUMPYVAE_KERNELS")
    if env != "auto":
        return env
    return "fused" if _too_little_room() is None and available() else "numpy"


def resolve(kernels="auto"):
    """"auto" -> :func:`default`; "numpy" -> "numpy"; "fused" -> "fused", or a clear error when
    numba is missing or has no room (nothing is silently swapped for what the user asked)."""
    check_choice(kernels)
    if kernels == "auto":
        kernels = default()
    if kernels == "fused":
        tight = _too_little_room()
        if tight is not None:
            raise ValueError(f"--kernels fused: {tight}; raise the limit or use --kernels numpy")
        if not available():
            raise ValueError(f"--kernels fused needs numba, which did not import "
                             f"({_import_error}): {INSTALL_HINT}, or use --kernels numpy")
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
    if name == "any_at_least":
        u = numba.from_dtype(unsigned(dtype))
        return (u[::1], u, u)
    if name == "bernoulli_grad":                             # (x, e, d, one): d is 1-d
        return (f[:, ::1], f[:, ::1], arr, f)
    if name == "gaussian_sample_kl_grad":                    # dkl is 1-d
        return (f[:, ::1],) * 5 + (arr, f[:, ::1], f, f, f)
    ones, twos, scalars = _ARGS[name]
    return (arr,) * ones + (f[:, ::1],) * twos + (f,) * scalars


def unsigned(dtype):
    return np.dtype(f"u{np.dtype(dtype).itemsize}")


def kernel(name, dtype):
    """The compiled kernel ``name`` (a key of :data:`BODIES`) for arrays of ``dtype`` (float32 or
    float64), compiled (or loaded from the cache) on first use; the time it took is kept in
    :data:`COMPILE_SECONDS`."""
    ready = _ready.get((name, dtype))           # the hot path: one dict lookup per call
    if ready is not None:
        return ready
    asked, dtype = dtype, np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"fused kernels are compiled for float32 and float64, not {dtype}")
    key = (name, dtype.name)
    if key in _compiled:
        _ready[(name, asked)] = _dispatchers[name]
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
            _ready[(name, asked)] = _dispatchers[name]
    return _dispatchers[name]


@contextmanager
def swapped(name, dispatcher, dtype=np.float32):
    """For tests that prove a bitwise check can fail: inside the block, ``dispatcher`` (a numba
    function) runs wherever kernel ``name`` for ``dtype`` would."""
    kernel(name, dtype)
    saved, kept = _dispatchers[name], dict(_ready)
    _dispatchers[name] = dispatcher
    _ready.clear()
    try:
        yield
    finally:
        _dispatchers[name] = saved
        _ready.clear()
        _ready.update(kept)


def prepare(optimizer, dtype):
    """Compile (or load) what a step of ``optimizer`` ("adam", ...) on ``dtype`` needs, now, so
    that the time is paid and known before training starts -> seconds it took."""
    t = time.perf_counter()
    kernel(optimizer, dtype)
    kernel("any_at_least", dtype)
    return time.perf_counter() - t


_magnitude_bits = {}


def magnitude_bits(dtype, value):
    """(every bit but the sign, the bits of ``value``) as unsigned integers of ``dtype``'s width:
    the arguments :func:`any_at_least` compares with.  (Kept: ``np.iinfo`` costs 16 us, and
    the optimizer asks every step.)"""
    key = (np.dtype(dtype), value)
    if key not in _magnitude_bits:
        u = unsigned(dtype)
        _magnitude_bits[key] = (u.type(np.iinfo(u).max >> 1), np.array(value, dtype).view(u)[()])
    return _magnitude_bits[key]


def all_finite(x):
    """True when the contiguous float vector ``x`` holds no NaN or inf (one fused read)."""
    return not kernel("any_at_least", x.dtype)(x.view(unsigned(x.dtype)),
                                               *magnitude_bits(x.dtype, np.inf))


# ----------------------------------------------------------------- the model's passes

_model = "numpy"         # the path of the model's elementwise passes in this process


def use(kernels):
    """Choose the path of the model's elementwise passes (the Bernoulli likelihood's forward and
    backward, ReLU's forward and backward, Tanh's backward, the diagonal posterior's sample and
    KL) for this process: "numpy" (the library's default: the textbook ufuncs), "fused" or
    "auto".  -> the previous choice.  ``numpyvae train --kernels``
    calls it; the optimizer's path is its own (``optim.Adam(kernels=...)``).  Both paths give the
    same bits."""
    global _model
    before, _model = _model, resolve(kernels)
    return before


@contextmanager
def using(kernels):
    """``with fused.using("fused"): ...``: :func:`use` for a block, then the previous choice."""
    before = use(kernels)
    try:
        yield _model
    finally:
        use(before)


def model_kernels():
    """"numpy" or "fused": the path the model's elementwise passes take now (:func:`use`)."""
    return _model


MODEL_KERNELS = ("neg_abs", "softplus_parts", "bernoulli_terms", "bernoulli_grad", "relu",
                 "relu_inplace", "relu_grad", "relu_grad_inplace", "tanh_grad",
                 "tanh_grad_inplace", "gaussian_sample_kl", "gaussian_sample_kl_grad")


def prepare_model(dtype):
    """Compile (or load) the model's fused passes for ``dtype`` now -> seconds it took."""
    t = time.perf_counter()
    for name in MODEL_KERNELS:
        kernel(name, dtype)
    return time.perf_counter() - t


# Plain loops and dtype objects below, not generators and ``dtype == np.float32``: at batch 20 a
# pass's arithmetic takes about 0.5 us, and these checks ran 1 us before they were written so.
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ONE_ZERO = {d: (d.type(1), d.type(0)) for d in _FLOATS}


def _fits(*arrays):
    """The fused passes take C-contiguous arrays of one float dtype; anything else (and every
    array while the path is "numpy") takes the NumPy path."""
    if _model != "fused":
        return False
    dtype = arrays[0].dtype
    if dtype not in _FLOATS:
        return False
    for a in arrays:
        if a.dtype != dtype or not a.flags.c_contiguous:
            return False
    return True


def _fits_2d(*arrays):
    """:func:`_fits`, and every array 2-d of the first one's shape."""
    if _model != "fused":
        return False
    dtype, shape = arrays[0].dtype, arrays[0].shape
    if dtype not in _FLOATS or len(shape) != 2:
        return False
    for a in arrays:
        if a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
            return False
    return True


def bernoulli_forward(x, logits):
    """distributions.bernoulli_log_likelihood_forward's value in 6 passes instead of 15, the same
    bits: x (N, D), logits (..., N, D) -> (...,) log p(x | logits), or None (take the NumPy path)."""
    if not _fits(x, logits) or x.ndim != 2:
        return None
    l2 = logits.reshape(-1, x.shape[1])
    dtype = l2.dtype.type
    u = np.empty_like(l2)
    kernel("neg_abs", dtype)(l2, u)
    np.exp(u, out=u)                                    # u = exp(-|l|)
    w, sp = np.empty_like(l2), np.empty_like(l2)
    kernel("softplus_parts", dtype)(l2, u, w, sp, dtype(1), dtype(0))
    np.log(w, out=w)
    kernel("bernoulli_terms", dtype)(l2, x, sp, w, u)   # u = l x - softplus(l)
    return u.reshape(logits.shape).sum(axis=-1)


def bernoulli_backward(dll, x, logits):
    """dll (...,) -> d logits = (x - sigmoid(logits)) dll, the same bits as the NumPy path, or
    None (take the NumPy path)."""
    if not _fits(x, logits) or x.ndim != 2:
        return None
    l2 = logits.reshape(-1, x.shape[1])
    e = np.negative(l2)
    with np.errstate(over="ignore"):                    # exp(-l) = inf for l < -88: sigmoid 0
        np.exp(e, out=e)
    d = np.ascontiguousarray(dll, dtype=l2.dtype).reshape(-1)
    kernel("bernoulli_grad", l2.dtype)(x, e, d, l2.dtype.type(1))
    return e.reshape(logits.shape)


def relu_forward(x, out=None):
    """functional.relu_forward's ``max(x, 0)`` in one vectorised pass, the same bits: -> (y, y)
    as functional.relu_forward returns, or None (take the NumPy path)."""
    if not (_fits_2d(x) if out is None else _fits_2d(x, out)):
        return None
    zero = _ONE_ZERO[x.dtype][1]
    if out is x:
        kernel("relu_inplace", x.dtype)(x, zero)
        return x, x
    if out is None:
        out = np.empty_like(x)
    kernel("relu", x.dtype)(x, out, zero)
    return out, out


def relu_backward(dy, y, out=None):
    """functional.relu_backward's ``dy [y > 0]`` in one pass (no bool array), the same bits, or
    None (take the NumPy path)."""
    if not (_fits_2d(dy, y) if out is None else _fits_2d(dy, y, out)):
        return None
    one, zero = _ONE_ZERO[dy.dtype]
    if out is dy:
        kernel("relu_grad_inplace", dy.dtype)(dy, y, one, zero)
        return dy
    if out is None:
        out = np.empty_like(dy)
    kernel("relu_grad", dy.dtype)(dy, y, out, one, zero)
    return out


def tanh_backward(dy, y, out=None):
    """functional.tanh_backward's ``dy (1 - y^2)`` in one pass, the same bits, or None (take
    the NumPy path)."""
    if not (_fits_2d(dy, y) if out is None else _fits_2d(dy, y, out)):
        return None
    one = _ONE_ZERO[dy.dtype][0]
    if out is dy:
        kernel("tanh_grad_inplace", dy.dtype)(dy, y, one)
        return dy
    if out is None:
        out = np.empty_like(dy)
    kernel("tanh_grad", dy.dtype)(dy, y, out, one)
    return out


def gaussian_posterior_forward(h, eps):
    """posterior.DiagonalGaussian's forward with the KL, the same bits as reparam.gaussian_forward
    and distributions.kl_std_normal_forward: h (N, 2k), eps (S, N, k) -> (z (S, N, k), kl (N,),
    their caches as those kernels return them), or None (take the NumPy path)."""
    if not _fits(h, eps) or h.ndim != 2 or eps.ndim != 3:
        return None
    k = h.shape[1] // 2
    mu, logvar = h[:, :k], h[:, k:]
    dtype = h.dtype.type
    std = np.multiply(logvar, dtype(0.5))               # std = exp(0.5 logvar)
    np.exp(std, out=std)
    var = np.exp(logvar)
    z, t = np.empty_like(eps), np.empty_like(std)
    kernel("gaussian_sample_kl", h.dtype)(eps.reshape(-1, k), std, h, var, z.reshape(-1, k), t,
                                          dtype(1), dtype(0.5))
    return z, t.sum(axis=-1), (std, eps), (mu, var)


def gaussian_posterior_backward(dz, dkl, h, std, var, eps):
    """posterior.DiagonalGaussian's backward with the KL's gradient (and no log q): dz (S, N, k),
    dkl (N,) -> dh (N, 2k), the same bits as the NumPy path, or None (take the NumPy path)."""
    if not isinstance(dkl, np.ndarray) or not _fits(dz, dkl, h, std, var, eps) \
            or dz.ndim != 3 or dz.shape != eps.shape or dkl.shape != h.shape[:1]:
        return None
    k = std.shape[1]
    dh = np.empty_like(h)
    dtype = h.dtype.type
    kernel("gaussian_sample_kl_grad", h.dtype)(dz.reshape(-1, k), eps.reshape(-1, k), std, h, var,
                                               dkl, dh, dtype(0), dtype(1), dtype(0.5))
    return dh


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
    if _too_little_room() is not None:
        return _too_little_room()
    return "chosen with --kernels numpy"


def numba_imported():
    """Whether numba is in ``sys.modules`` (for the test that ``import numpyvae`` leaves it out)."""
    return "numba" in sys.modules
