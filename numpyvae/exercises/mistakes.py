"""Known-wrong implementations of the exercises: the mistakes students actually make.

Each :class:`Mistake` is a complete, deliberately wrong function with the stub's signature; it
is registered (with :func:`mistake`) in its exercise's module ``exNN_name.py``, beside the
exercise's cases and reference.  The grader runs every one of them on the same inputs as the
student's function; when the student's result for a gradient matches a mistake's result and the
correct result does not, the grader names that mistake (:mod:`numpyvae.exercises.diagnosis`).
The tests also use them as wrong student files: each must fail, with its own diagnosis.

Besides these, the grader tries generic variants of every reference gradient (``-ref``,
``2 ref``, ``ref / 2``, the transpose, ``ref / N``, ``N ref``, zeros), each known mistake
combined with one of those (two mistakes at once), and three rules that need no variant: NaN or
inf where the truth is finite (overflow), agreement only to float32 rounding (precision), and a
result right for batch size 1 only.

Diagnosis kinds (the ``kind`` field in ``--json`` output; two mistakes at once are joined by
``+``, e.g. ``std_vs_variance+factor_2``):

=================  ========================================================================
transpose          a missing or extra transpose, or an outer product in the wrong order
sign               a wrong sign: of the whole result, or of one term inside the formula
factor_2           twice the correct value (e.g. a missing 1/2)
factor_half        half the correct value (e.g. a missing 2 from differentiating a square)
std_vs_variance    the standard deviation used where the variance belongs, or vice versa
wrong_axis         a sum or mean over the wrong axis
missing_bias_grad  the bias gradient is missing (zeros)
not_summed         a gradient kept one row per example where the parameter is shared: sum
                   over the batch
batch_mean         divided by the batch size where the exercise sums over the batch
batch_sum          summed over the batch where the exercise averages (a missing 1/N)
batch_size_one     right for batch size 1 only (a 1/N or a sum left off one term)
broadcast          a per-example upstream gradient (N,) multiplied without its trailing axis
sample_axis        the leading sample axis (S, N, k) not summed away
missing_upstream   the upstream gradient (dy, dz, dll, dkl) is not multiplied in
used_input         the input used where the output belongs
used_output        the output used where the derivative belongs
applied_twice      a function applied to its own output (tanh(tanh(x)))
missing_term       one term of a sum of contributions is missing
wrong_derivative   the derivative of the wrong function
upper_triangle     the gradient of a triangular factor has nonzero entries above the diagonal
kl_direction       KL(rho_hat || rho) differentiated instead of KL(rho || rho_hat)
overflow           NaN or inf where the true gradient is finite (exp of a large input)
precision          right only to float32 rounding: computed in float32 somewhere inside
numerical          right only to a finite difference's accuracy: numerically differentiated
downstream         exercise 12: wrong only because an earlier block of the backward pass is
block              exercise 12: the first wrong block, with no more specific diagnosis
zero               the result is all zeros
=================  ========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

KINDS = ("transpose", "sign", "factor_2", "factor_half", "std_vs_variance", "wrong_axis",
         "missing_bias_grad", "not_summed", "batch_mean", "batch_sum", "batch_size_one",
         "broadcast", "sample_axis", "missing_upstream", "used_input", "used_output",
         "applied_twice", "missing_term", "wrong_derivative", "upper_triangle", "kl_direction",
         "overflow", "precision", "numerical", "downstream", "block", "zero")


@dataclass(frozen=True)
class Mistake:
    """A wrong implementation of ``function`` (a stub function of exercise ``exercise``).

    kind    : one of :data:`KINDS`
    message : what went wrong, in the words the grader prints
    affects : the gradients this mistake gets wrong (the others come out right)
    """
    exercise: str
    function: str
    impl: Callable
    kind: str
    message: str
    affects: tuple

    @property
    def name(self):
        return self.impl.__name__


MISTAKES: list[Mistake] = []


def mistake(exercise, function, kind, message, affects):
    """Register the decorated wrong implementation."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")

    def register(fn):
        MISTAKES.append(Mistake(exercise, function, fn, kind, message, tuple(affects)))
        return fn
    return register


def for_function(exercise, function):
    """The registered mistakes of one stub function, in registration order."""
    return [m for m in MISTAKES if m.exercise == exercise and m.function == function]
