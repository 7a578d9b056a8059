"""Where a training step's memory comes from: freed memory kept for the next step, and the flat
vectors on huge pages.

NumPy asks the C library (glibc's malloc on Linux) for every array.  With glibc's defaults an
array above 128 KiB -- a (128, 784) float32 batch of logits is 392 KiB -- is either mapped fresh
from the kernel or carved from the top of the heap and returned to the kernel when it is freed.
The next training step then allocates the same temporaries again, and the kernel has to fault
in and zero every page once more.  On the 2-core virtual machines this project is measured on,
those page faults were a fifth of a training step and almost half of the importance-sampled
log-likelihood (BENCHMARKS.md, "Memory").

:func:`keep_freed_memory` raises glibc's two thresholds for the whole process: arrays up to
32 MiB (glibc's largest setting) come from the heap, and freed heap memory is kept until more
than 512 MiB of it lies unused.  The cost: the process keeps its peak memory instead of shrinking
after a big evaluation.  ``import numpyvae`` does not do this: the ``numpyvae`` command does, at
its entry point, through :func:`numpyvae.tune_process` (which a notebook may call too).  Set
``NUMPYVAE_MALLOC=default`` to keep glibc's own behaviour.  Other C libraries (macOS, Windows,
musl) are left alone.

:func:`flat_zeros` allocates the flat parameter, gradient and optimizer-state vectors
(layers.bind_flat, optim.py) on 2 MiB pages where Linux allows it; see its docstring.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import sys

# mallopt(3) parameter numbers, from glibc's <malloc.h>
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 512 << 20, _M_TOP_PAD: 16 << 20}

state = "not set"           # "kept" once applied, else why not (bench prints it)


def keep_freed_memory(environ=os.environ):
    """Apply :data:`SETTINGS` through glibc's ``mallopt``; returns the resulting :data:`state`."""
    global state
    if environ.get("NUMPYVAE_MALLOC", "").lower() == "default":
        state = "glibc defaults (NUMPYVAE_MALLOC=default)"
    elif not sys.platform.startswith("linux"):
        state = f"not changed on {sys.platform}"
    else:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            state = "not changed (no glibc mallopt)"
        else:
            mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
            ok = all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
            state = "kept" if ok else "not changed (mallopt refused)"
    return state


# ----------------------------------------------------------------- the flat vectors on huge pages

HUGE_PAGE = 2 << 20        # x86-64's transparent huge page: one TLB entry maps 2 MiB
use_huge_pages = True      # False: plain NumPy allocations (the benchmark compares the two)


def flat_zeros(n, dtype):
    """A zeroed (n,) vector of ``dtype``, on 2 MiB pages when it spans at least one.

    A step streams the flat parameter, gradient and optimizer vectors (2.6 MB each for the
    784-400-20 VAE) through the cache; on 4 KiB pages every 4 KiB of them costs a TLB entry, and
    the fused Adam over cold vectors took 0.27 ms on 4 KiB pages against 0.22 ms on huge pages
    (BENCHMARKS.md, 2026-12-07 evening).  Linux backs an anonymous mapping with transparent huge
    pages when asked (``madvise(MADV_HUGEPAGE)``, the mode most distributions ship); the memory
    must be aligned to 2 MiB, which malloc's arrays are not.  Where the kernel has huge pages
    turned off the mapping stays on 4 KiB pages; without ``MADV_HUGEPAGE`` (another OS), for a
    vector under 2 MiB, or when the mapping fails, this is ``np.zeros``.  The values, and so every
    result, are the same either way: only where the bytes live changes.
    """
    import numpy as np                  # here: tune_process runs this module before NumPy loads
    dtype = np.dtype(dtype)
    nbytes = n * dtype.itemsize
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    if not use_huge_pages or advise is None or nbytes < HUGE_PAGE:
        return np.zeros(n, dtype)
    span = -(-nbytes // HUGE_PAGE) * HUGE_PAGE
    try:
        # private: a shared mapping would be shared with a forked child, and is not THP-eligible
        block = mmap.mmap(-1, span + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError):                       # no room (ulimit -v): malloc may still
        return np.zeros(n, dtype)
    raw = np.frombuffer(block, np.uint8)                # holds ``block`` alive
    start = -raw.ctypes.data % HUGE_PAGE
    try:
        block.madvise(advise, start, span)
    except OSError:                                     # huge pages "never": 4 KiB pages
        pass
    return raw[start:start + nbytes].view(dtype)
