"""The wheel carries the lessons and the exercise stubs: the top-level ``lessons/`` (the source
of truth) is installed as the data package ``numpyvae/lessons``, and ``benchmarks/`` as
``numpyvae/benchmarks`` so that ``numpyvae bench`` runs from any folder (see setup.cfg for the rest)."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["numpyvae", "numpyvae.*"])
    + ["numpyvae.lessons", "numpyvae.lessons.exercises", "numpyvae.benchmarks"],
    package_dir={"numpyvae.lessons": "lessons", "numpyvae.benchmarks": "benchmarks"},
)
