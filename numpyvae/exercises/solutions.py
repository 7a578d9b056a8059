"""Reference solutions to the exercises in ``lessons/exercises/``, by stub function name.

Each exercise's reference lives in its own module (``exNN_name.py``); for exercises 01-08 it is
the library's own kernel (:mod:`numpyvae.functional`, :mod:`numpyvae.distributions`,
:mod:`numpyvae.reparam`), which a correct student function can replace in the real model.
This module gathers them under the stub functions' names, with the helpers the solutions use.
``numpyvae check EXERCISE --show-solution`` prints one as a self-contained file.
"""
from __future__ import annotations

from .base import sigmoid, softplus
from .catalogue import EXERCISES
from .ex12_vae import vae_forward

_REFERENCES = {p.function: p.reference for ex in EXERCISES for p in ex.parts}
globals().update(_REFERENCES)


def reference(function):
    """The reference implementation of the stub function named ``function``."""
    return _REFERENCES[function]


__all__ = ["sigmoid", "softplus", "vae_forward", "reference", *_REFERENCES]
