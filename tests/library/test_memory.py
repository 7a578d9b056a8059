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
