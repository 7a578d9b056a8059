"""Keep freed memory for the next step instead of handing it back to the operating system.

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
"""
from __future__ import annotations

import ctypes
import ctypes.util
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
