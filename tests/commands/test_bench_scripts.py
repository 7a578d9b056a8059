"""The checkout's profiling and epoch scripts (benchmarks/) run at tiny sizes and report what they
were asked for.  (No test asserts a time: speed is measured by the benchmark.)"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numpyvae import fused

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
needs_numba = pytest.mark.skipif(not fused.available(),
                                 reason=f"needs numba: {fused.INSTALL_HINT}")


def _run(script, *args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _rows(text):
    """The profile's table: {kernel: ms per step}, and the step's ms."""
    total = float(re.search(r"([\d.]+) ms/step", text).group(1))
    rows = dict(re.findall(r"^\s+(\S.*?)\s+([\d.]+) ms$", text, re.M))
    return {k: float(v) for k, v in rows.items()}, total


@pytest.mark.parametrize("kernels", ["numpy", pytest.param("fused", marks=needs_numba)])
def test_profile_step_profiles_the_iwae_setup_when_asked(kernels):
    """--objective iwae --samples 3 --activation tanh reach the step: the IWAE weights
    (log_mean_exp) and the prior's log p(z) are timed, and the header says what ran."""
    tiny = ["--steps", "3", "--batch", "4", "--hidden", "8", "8", "--z-dim", "2",
            "--kernels", kernels]
    text = _run("profile_step.py", *tiny, "--activation", "tanh", "--objective", "iwae",
                "--samples", "3")
    assert "hidden [8, 8], z 2, tanh, iwae with 3 sample(s)" in text, text
    rows, total = _rows(text)
    assert rows["log_mean_exp"] > 0 and rows["log_std_normal_forward"] > 0, rows
    assert "adam" in rows and "glue (everything not wrapped)" in rows and total > 0
    text = _run("profile_step.py", *tiny)                    # the default: ReLU and the ELBO
    assert "relu, elbo with 1 sample(s)" in text, text
    rows, _ = _rows(text)
    assert "log_mean_exp" not in rows and "log_std_normal_forward" not in rows, rows


@needs_numba
def test_iwae_epoch_script_compares_the_two_paths_bit_for_bit(tmp_path):
    """benchmarks/iwae_epoch.py trains the IWAE setup's VAE on both paths and asserts that the
    parameters are bit-identical (on 100 images: five steps of batch 20)."""
    text = _run("iwae_epoch.py", "--n", "100", "--rounds", "1", "--models", "vae")
    assert "vae round 1: numpy" in text and "parameters bit-identical: True" in text, text
