"""Shared test settings: hypothesis profiles sized for a 2-core CI machine.

The tests sit in folders by what they test (library/, lessons/, commands/, classroom/); the helpers
they share (catalogue.py, fd_noise.py, lesson_runs.py) and data/ stay here, on sys.path."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# One BLAS thread for the test suite: most test matrices are small, and on a 2-core machine
# that is doing anything else, OpenBLAS's spinning threads make small products 10-50x slower.
# (Set before NumPy is first imported; the benchmark sets its own thread counts in children.)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
