"""``import numpyvae`` changes nothing outside the package (issue 28 item 4): no malloc settings,
no OpenBLAS variables, no NumPy loaded, even after a model is built and trained a step.  The
``numpyvae`` command's entry point applies them (``numpyvae.tune_process``), before NumPy loads.
Each check runs in a fresh interpreter, so nothing this test process did can leak in."""
import os
import subprocess
import sys

import pytest

PLAIN_IMPORT = r"""
import os, sys
import numpyvae as nv
print("numpy loaded at import:", "numpy" in sys.modules)
import numpy as np
rng = np.random.default_rng(0)
model = nv.VAE(6, [4], 2, rng=rng)
x = (rng.random((3, 6)) < 0.5).astype(np.float32)
loss, grad = model.loss_and_grad(x, rng)
nv.optim.Adam(1e-3).step(model.params, grad)
print("timeout:", os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
print("malloc:", sys.modules["numpyvae._memory"].state if "numpyvae._memory" in sys.modules
      else "module not loaded")
"""

COMMAND = r"""
import os, sys
from numpyvae import cli
seen = {}
real = cli.build_parser
def spy():          # runs after main's settings, before any command module imports NumPy
    seen["numpy"] = "numpy" in sys.modules
    return real()
cli.build_parser = spy
code = cli.main(["lesson", "list"])
import numpyvae._memory as m
print("rc:", code)
print("timeout:", os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
print("malloc:", m.state)
print("numpy before parser:", seen["numpy"])
"""


def _run(code, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_THREAD_TIMEOUT", "NUMPYVAE_MALLOC")}
    env.update(env_extra)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)


def test_import_and_use_change_no_process_setting():
    got = _run(PLAIN_IMPORT)
    assert got["numpy loaded at import"] == "False"
    assert got["timeout"] == "None"
    assert got["malloc"] in ("module not loaded", "not set")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_the_command_entry_point_applies_them_before_numpy():
    got = _run(COMMAND)
    assert got["rc"] == "0"
    assert got["timeout"] == "4"
    assert got["malloc"] == "kept"
    assert got["numpy before parser"] == "False"


def test_tune_process_is_the_explicit_switch_and_respects_the_opt_out():
    code = ("import numpyvae; print('settings:', numpyvae.tune_process())")
    assert "'OPENBLAS_THREAD_TIMEOUT': '4'" in _run(code)["settings"]
    out = _run(code, NUMPYVAE_MALLOC="default", OPENBLAS_THREAD_TIMEOUT="7")["settings"]
    assert "'OPENBLAS_THREAD_TIMEOUT': '7'" in out and "glibc defaults" in out
