"""What an exercise is: :class:`Case` (one set of inputs), :class:`Part` (one stub function) and
:class:`Exercise` (one stub file), plus the helpers the exercise modules share.

Each exercise lives in one module, ``numpyvae/exercises/exNN_name.py``: its stub file name, its
cases, the grader's own forward pass (the ground truth of every numerical gradient), the
reference (the library function itself wherever one exists, so a student's function can stand
in for it in the real model: ``numpyvae check train``) and its known mistakes with their
diagnoses.  :mod:`numpyvae.exercises.catalogue` lists them.
"""
from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..gradcheck import numerical_gradient
from . import mistakes as M

THRESHOLD = 1e-6      # a correct float64 gradient shows ~1e-8 or less; a bug is ~1e-3 or more
STEP = 1e-5           # central-difference step h


@dataclass(frozen=True)
class Case:
    """One set of inputs.  ``inputs`` maps argument names to float64 arrays, floats or tuples of
    them (a cache); it also holds the forward pass's own inputs (x, W, logvar, ...), from which
    the numerical gradients are taken.  ``batch`` is N, the number of examples (or samples),
    used by the 1/N diagnoses."""
    label: str
    inputs: dict
    batch: int


@dataclass(frozen=True, repr=False)
class Part:
    """One stub function.

    function  : its name in the student's file (and in the library, where it replaces one)
    args      : the names of its arguments, in order (keys of ``Case.inputs``)
    outputs   : the names of the gradients it returns, in order
    returns   : "array" (one array), "tuple" (several) or "dict" (keys = ``outputs``)
    signature : how the docs write it, e.g. ``softplus_backward(dy, cache) -> dx``
    numerical : ``case -> {output: gradient by central differences}``
    reference : the correct function (the library's own kernel where there is one)
    hints     : ``{(output, kind): (kind, message)}`` replacing a generic diagnosis message
    model     : for a kernel of the VAE (the reference is the library's function, which a
                student's can replace: ``numpyvae check train``), the options of the VAE that
                calls it, ``{}`` for the course VAE (e.g. ``{"activation": "tanh"}``); None for
                an exercise that is not a kernel.  The one table of the kernels:
                ``check train`` (which models to train, how to call each kernel) and the tests
                read it here.
    """
    function: str
    args: tuple
    outputs: tuple
    returns: str
    signature: str
    numerical: Callable
    reference: Callable
    hints: dict = field(default_factory=dict)
    model: dict | None = None

    def __repr__(self):
        return f"<Part {self.signature}>"

    @property
    def library(self):
        """``"module:attribute"`` of the library function it replaces (its reference), or None."""
        if self.model is None:
            return None
        return f"{self.reference.__module__}:{self.reference.__name__}"

    @property
    def mistakes(self):
        return [m for m in M.MISTAKES if m.function == self.function]


@dataclass(frozen=True, repr=False)
class Exercise:
    number: int
    name: str
    title: str
    parts: tuple
    make_cases: Callable            # rng -> list[Case]
    aliases: tuple = ()
    helpers: tuple = ()             # functions printed before the parts by --show-solution
    preamble: str = "import numpy as np\n"   # imports that make the printed solution run
    blocks: tuple = ()              # exercise 12: ((name, outputs, where), ...), backward order

    def __repr__(self):
        return f"<Exercise {self.key}: {', '.join(p.function for p in self.parts)}>"

    @property
    def stub(self):
        return f"{self.number:02d}_{self.name}.py"

    @property
    def key(self):
        return f"{self.number:02d}_{self.name}"

    def cases(self, seed=0):
        return self.make_cases(np.random.default_rng([int(seed), self.number]))

    def solution_source(self):
        """The reference solution as a self-contained Python file (helpers first)."""
        blocks = [f"# Exercise {self.number:02d} ({self.name}): {self.title}\n"
                  f"# reference solution (numpyvae/exercises/ex{self.number:02d}_{self.name}.py)\n"
                  + self.preamble]
        for fn in (*self.helpers, *(p.reference for p in self.parts)):
            blocks.append(textwrap.dedent(inspect.getsource(fn)))
        return "\n\n".join(blocks)


# ----------------------------------------------------------------------- shared helpers

# What a printed reference solution (``--show-solution``) needs in place of the library's
# internals, so that it runs where the grader runs students' files: numpy and nothing else.
STANDIN_CHECK_ARRAY = '''

def check_array(x, name, *, shape=None, dtype=None, finite=True, ndim=None):
    """numpyvae._validate.check_array, cut down to the checks these solutions rely on."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if shape is not None and (x.ndim != len(shape) or any(
            s is not None and s != d for s, d in zip(shape, x.shape))):
        raise ValueError(f"{name} has shape {x.shape}, expected {tuple(shape)}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} has dtype {x.dtype}, expected {np.dtype(dtype)}")
    return x
'''
STANDIN_SIGMOID = '''

class F:
    """numpyvae.functional's sigmoid, written out: 1 / (1 + exp(-a)) without overflow."""
    @staticmethod
    def sigmoid(a):
        return 0.5 * (1.0 + np.tanh(0.5 * a))
'''


def ng(f, x, dout=None):
    """Central differences of ``sum(dout * f())`` w.r.t. ``x`` (perturbed in place)."""
    return numerical_gradient(f, x, h=STEP, dout=dout)


def copy(case, *names):
    return [np.array(case.inputs[n], dtype=np.float64, copy=True) for n in names]


def away_from_zero(a, margin=0.05):
    """Move entries of ``a`` away from 0 (ReLU's kink) by at least ``margin``."""
    return np.where(a >= 0, a + margin, a - margin)


def label(**sizes):
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def sigmoid(a):
    """``1 / (1 + exp(-a))`` written as ``0.5 (1 + tanh(a / 2))``: the same number, and no
    overflow for any finite ``a``."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def softplus(a):
    """``log(1 + exp(a))`` written as ``max(a, 0) + log1p(exp(-|a|))``: never overflows."""
    return np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a)))


def per_row(d, like):
    """An upstream gradient with one entry per example (and sample), (N,) or (S, N), with a
    trailing axis so that it scales each row of ``like``."""
    return np.asarray(d)[..., None] * np.ones_like(like)
