"""Naming the mistake: what the grader says when a gradient is wrong.

:func:`diagnose` is called for each gradient that fails; :func:`review` once per stub function
after all its gradients are checked (it sees them together).  The grader
(:mod:`numpyvae.exercises.grader`) supplies ``prep`` with ``cases``, ``numeric`` and
``reference`` (``function -> [{output: array} per case]``) and ``specific``
(``function -> [(Mistake, [{output: array} | None per case])]``).

:func:`diagnose` tries, in order,

1. the known mistakes of the exercise (registered in its module), then the generic variants of
   the reference (``-ref``, ``2 ref``, ``ref / 2``, the transpose, ``ref / N``, ``N ref``,
   zeros), then every known mistake combined with one of the generic variants (two mistakes at
   once, e.g. the variance for the standard deviation *and* the 1/2 missing): the first that
   matches the student's result in every failing case, and differs from the truth in one, wins.
   NaN and inf match NaN and inf in the same places;
2. overflow: NaN or inf where the true gradient is finite;
3. precision: the result agrees with the reference only to float32 rounding (every entry a
   float32 number), or numerical: only to the accuracy of a finite difference;
4. batch size one: every case with N = 1 passed and every case with N > 1 failed.

:func:`review` marks gradients exactly right where the function returned as passed even if the
function raised in other cases (the failure belongs to the output that made it raise; partial
credit counts only the cases that ran), fails a gradient that passed the threshold but agrees
with the reference only to float32 rounding or a finite difference's accuracy (in the cases
that ran), and for exercise 12 names the first wrong block of the backward pass (a later block
is "downstream" of it unless the same mistake explains both; a known mistake that would also
have made a gradient wrong that came out right is refuted there and not named).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ..gradcheck import rel_error
from .base import THRESHOLD

DISTINCT = 1e-3        # a variant is diagnostic only where it differs from the truth by this much
EXACT = 1e-12          # an analytic float64 gradient agrees with the exact one to ~1e-15; central
                       # differences of a nonlinear function get no closer than ~1e-11 at any step
FLOAT32_BAND = 1e-4    # float32 arithmetic agrees to ~1e-7, not worse than this (else a mistake)
FLOAT32_FLOOR = 5e-9   # ... and not better than this


@dataclass
class Diagnosis:
    kind: str
    message: str

    def to_dict(self):
        return {"kind": self.kind, "message": self.message}


def _rel(a, b):
    """Relative error, NaN and inf matching NaN and inf in the same places; inf on mismatch."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    fa, fb = np.isfinite(a), np.isfinite(b)
    if not np.array_equal(fa, fb):
        return float("inf")
    if not fa.all():
        same = (np.isnan(a) & np.isnan(b)) | (a == b)
        if not same[~fa].all():
            return float("inf")
        a, b = a[fa], b[fb]
    with np.errstate(all="ignore"):
        e = rel_error(a, b) if a.size else 0.0
    return e if np.isfinite(e) else float("inf")


GENERIC = (
    ("sign", lambda r, n: -r,
     "{g} is exactly -1 times the correct gradient: a sign error (a minus sign lost or added "
     "in the chain rule, or the gradient of the negated function)",
     "and on top of that the sign is flipped"),
    ("factor_2", lambda r, n: 2.0 * r,
     "{g} is exactly twice the correct gradient: look for a missing 1/2 (or an extra 2)",
     "and on top of that a factor 2 (a missing 1/2)"),
    ("factor_half", lambda r, n: 0.5 * r,
     "{g} is exactly half the correct gradient: look for a missing 2 (from differentiating a "
     "square) or an extra 1/2", "and on top of that a factor 1/2 (a missing 2)"),
    ("transpose", lambda r, n: np.swapaxes(r, -1, -2) if r.ndim >= 2 else None,
     "{g} is the transpose of the correct gradient: a gradient has the shape of what it is "
     "the gradient of; swap the order of a matrix product or add/remove a .T",
     "and on top of that transposed"),
    ("batch_mean", lambda r, n: r / n if n > 1 else None,
     "{g} is the correct gradient divided by the batch size N: this exercise SUMS over the "
     "batch (see the docstring), so there is no 1/N", "and on top of that divided by N"),
    ("batch_sum", lambda r, n: r * n if n > 1 else None,
     "{g} is N times the correct gradient: this exercise AVERAGES over the batch (see the "
     "docstring), so a 1/N is missing", "and on top of that N times too large"),
    ("zero", lambda r, n: np.zeros_like(r), "{g} is all zeros", None),
)


def candidates(part, output, prep):
    """(kind, message, [array | None per case]) for every known-wrong variant of ``output``."""
    out = []
    specific = []
    for m, per_case in prep.specific[part.function]:
        values = [None if pc is None else pc.get(output) for pc in per_case]
        specific.append((m, values))
        out.append((m.kind, m.message, values))
    refs = [np.asarray(r[output], np.float64) for r in prep.reference[part.function]]
    for kind, make, message, _ in GENERIC:
        values = [make(r, c.batch) for r, c in zip(refs, prep.cases, strict=True)]
        kind2, message2 = part.hints.get((output, kind), (kind, message.format(g=output)))
        out.append((kind2, message2, values))
    # two mistakes at once: a known mistake, then one generic transformation on top of it
    for m, values in specific:
        for kind, make, _, also in GENERIC:
            if also is None:
                continue
            combo = []
            for v, c in zip(values, prep.cases, strict=True):
                try:
                    combo.append(None if v is None else make(np.asarray(v, np.float64), c.batch))
                except Exception:  # noqa: BLE001 - e.g. a scalar has no transpose
                    combo.append(None)
            out.append((f"{m.kind}+{kind}", f"two mistakes at once: {m.message}; {also}",
                        combo))
    return out


def _matches(values, student, failing, numeric, output):
    distinct = False
    for ci in failing:
        v, s, num = values[ci], student[ci], numeric[ci][output]
        if v is None or np.shape(v) != s.shape or _rel(s, v) >= THRESHOLD:
            return False
        if np.shape(v) != num.shape or _rel(v, num) > DISTINCT:
            distinct = True
    return distinct


def diagnose(part, output, student, failing, prep):
    """The likely mistake behind a failing gradient, or None.

    student : {case index: the student's result as a float64 array}
    failing : the case indices where it is wrong (wrong shape, value or NaN)."""
    if not failing:
        return None
    numeric = prep.numeric[part.function]
    for kind, message, values in candidates(part, output, prep):
        if _matches(values, student, failing, numeric, output):
            return Diagnosis(kind, message)
    same_shape = [ci for ci in failing if student[ci].shape == numeric[ci][output].shape]
    for ci in same_shape:                     # 2. overflow: NaN / inf where the truth is finite
        s, num = student[ci], numeric[ci][output]
        bad = ~np.isfinite(s) & np.isfinite(num)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            what = "NaN" if np.isnan(s[idx]) else "inf"
            return Diagnosis("overflow", (
                f"overflow: {output} is {what} at {list(idx)} in case {prep.cases[ci].label}, "
                "where the true gradient is finite. The grader's inputs include large values "
                "(such as +-30, +-500, +-1000): exp(x) overflows float64 above x ~ 709.8 "
                "(float32, the training dtype, above 88.7), and inf / inf or 0 * inf is NaN. "
                "Rewrite the formula so that exp only sees -|x|, e.g. "
                "sigmoid(x) = 0.5 (1 + tanh(x / 2))"))
    refs = prep.reference[part.function]
    if same_shape and len(same_shape) == len(failing):          # 3. precision
        errs = [_rel(student[ci], refs[ci][output]) for ci in failing]
        if max(errs) < FLOAT32_BAND:
            return _inexact(output, max(errs), [student[ci] for ci in failing])
    ones = [ci for ci, c in enumerate(prep.cases) if c.batch == 1]   # 4. batch size one
    more = [ci for ci, c in enumerate(prep.cases) if c.batch > 1]
    if ones and not set(ones) & set(failing) and set(failing) == set(more):
        labels = ", ".join(prep.cases[ci].label for ci in ones)
        return Diagnosis("batch_size_one", (
            f"right for batch size 1 only: the N = 1 case passed ({labels}) and every case "
            "with N > 1 fails. Look for a term that treats the examples differently from the "
            "others: a 1/N left off one term (or put on one), a sum over the batch missing, or "
            "rows mixed up by a sum or mean over the wrong axis"))
    return None


def _inexact(output, err, values):
    """A result close to the exact gradient, but not as close as float64 analytic arithmetic.
    float32 rounding leaves ~1e-8 to 1e-7 (and float32 numbers, if the result was cast back);
    a float64 finite difference leaves less than ~1e-9 with any usual step."""
    float32 = all(np.array_equal(v, v.astype(np.float32).astype(np.float64), equal_nan=True)
                  for v in values)
    if not float32 and err < FLOAT32_FLOOR:
        return Diagnosis("numerical", (
            f"this gradient looks numerically differentiated: {output} agrees with the exact "
            f"gradient only to {err:.0e} relative, the accuracy of a finite difference, where a "
            f"backward pass written out by hand in float64 agrees to ~1e-15 (the grader asks "
            f"for {EXACT:.0e}). Differentiate the formula with the chain rule and compute the "
            "result from the cache"))
    also = "" if float32 else (" (or is it numerically differentiated with a tiny step? the "
                               "grader asks for a backward pass written out by hand)")
    return Diagnosis("precision", (
        f"precision: computed in float32? {output} agrees with the exact gradient only to "
        f"{err:.0e} relative (float32 rounding is ~1e-7, float64 ~1e-16){also}. Keep every "
        "intermediate in float64: no np.float32, astype(np.float32) or float32 constants"))


# ------------------------------------------------------------------------------ review


def _student_values(runs, output):
    out = {}
    for ci, run in enumerate(runs):
        if run.outputs is None:
            continue
        v = run.outputs.get(output)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            out[ci] = np.asarray(v, np.float64)
    return out


def review(exercise, part, result, runs, prep):
    """Amend the checks of one stub function (``result.checks``) once all are made."""
    numeric = prep.numeric[part.function]
    refs = prep.reference[part.function]
    raised = [ci for ci, r in enumerate(runs) if r.error is not None]
    returned = [ci for ci, r in enumerate(runs) if r.outputs is not None]
    for check in result.checks:
        student = _student_values(runs, check.gradient)
        ran = sorted(student)
        if not ran:
            continue
        right = all(student[ci].shape == numeric[ci][check.gradient].shape
                    and _rel(student[ci], numeric[ci][check.gradient]) < THRESHOLD for ci in ran)
        if not (right and check.error is not None and check.error < THRESHOLD):
            continue
        if not (check.passed and len(ran) == len(runs)) and not (
                raised and ran == returned
                and all(runs[ci].outputs[check.gradient].dtype == np.float64 for ci in ran)):
            continue
        # passed against central differences, but agrees with the exact gradient only to
        # float32 rounding or to a finite difference's accuracy (also where some cases raised)
        errs = [_rel(student[ci], refs[ci][check.gradient]) for ci in ran]
        check.exact_error = max(errs)
        if EXACT < max(errs) < FLOAT32_BAND:
            check.passed = False
            check.diagnosis = _inexact(check.gradient, max(errs), [student[ci] for ci in ran])
        elif raised and max(errs) <= EXACT:
            # right wherever the function returned: not FAIL because it raised elsewhere, but
            # it earns credit only for the cases that ran (report.gradescope)
            check.passed = True
            check.cases_right = (len(ran), len(runs))
            why = "another output's mistake, see above" if len(part.outputs) > 1 else "see above"
            check.problem = (f"right in the {len(ran)} of {len(runs)} cases where your function "
                             f"returned; not checked in the other {len(raised)}, where it "
                             f"raised ({why})")
            check.diagnosis = None
    if exercise.blocks:                  # gradients chained through one backward pass
        _drop_refuted(part, result, runs, prep)
        _review_blocks(exercise, result, {m.message for m, _ in prep.specific[part.function]})


def _failing(student, numeric, output, n_cases):
    return [ci for ci in range(n_cases) if ci in student and not (
        student[ci].shape == numeric[ci][output].shape
        and _rel(student[ci], numeric[ci][output]) < THRESHOLD)]


def _drop_refuted(part, result, runs, prep):
    """Exercise 12: a known mistake named for one gradient is refuted when a gradient it gets
    wrong came out right (in one backward pass, a mistake upstream reaches everything below it):
    diagnose that gradient again without the refuted mistakes."""
    passed = {c.gradient for c in result.checks if c.passed}
    specific = prep.specific[part.function]
    refuted = [(m, v) for m, v in specific if set(m.affects) & passed]
    if not refuted:
        return
    messages = {m.message for m, _ in refuted}
    kept = SimpleNamespace(cases=prep.cases, numeric=prep.numeric, reference=prep.reference,
                           specific={part.function: [mv for mv in specific if mv not in refuted]})
    numeric = prep.numeric[part.function]
    for c in result.checks:
        if c.passed or c.diagnosis is None or not any(
                c.diagnosis.message == msg or msg in c.diagnosis.message for msg in messages):
            continue
        student = _student_values(runs, c.gradient)
        failing = _failing(student, numeric, c.gradient, len(prep.cases))
        c.diagnosis = diagnose(part, c.gradient, student, failing, kept) if failing else None


def _review_blocks(exercise, result, registered):
    """Exercise 12: group the gradients into the blocks of the backward pass and name the first
    wrong one; a later block that is wrong only because of it says so."""
    checks = {c.gradient: c for c in result.checks}
    verdicts = []
    first = None
    for i, (name, grads, _) in enumerate(exercise.blocks):
        ok = all(checks[g].passed for g in grads)
        verdicts.append(f"{name} ({', '.join(grads)}): {'right' if ok else 'WRONG'}")
        if not ok and first is None:
            first = i
    if first is None:
        return
    # the two heads of the encoder both take dz: if the mean head is first, the log-variance
    # head is not downstream of it
    firsts = {first}
    if exercise.blocks[first][1][0] == "W_mu":
        firsts.add(first + 1)
    name, grads, where = exercise.blocks[first]
    right_before = [b[0] for b in exercise.blocks[:first]]
    # a later block keeps its own diagnosis only if the same mistake explains the first block
    # (a known mistake that also explains the first block, or the same generic slip, e.g. every
    # gradient negated)
    first_diags = [checks[g].diagnosis for i in firsts for g in exercise.blocks[i][1]
                   if checks[g].diagnosis is not None]
    first_messages = {d.message for d in first_diags}
    first_kinds = {d.kind for d in first_diags}
    for i, (bname, bgrads, bwhere) in enumerate(exercise.blocks):
        for g in bgrads:
            c = checks[g]
            d = c.diagnosis
            if c.passed or d is not None and (
                    i in firsts or d.message in first_messages
                    or d.message not in registered and d.kind in first_kinds):
                continue
            if i in firsts:
                after = (f"; the blocks before it in the backward pass ({', '.join(right_before)}) "
                         "are right, so the error enters here" if right_before else
                         "; it is the first block of the backward pass")
                right = [x for x in bgrads if checks[x].passed]
                if right and g.startswith("W"):    # the bias is right: so is the upstream grad
                    after += (f"; {', '.join(right)} is right, so the gradient arriving at this "
                              f"layer is too, and the mistake is in {g} = (the layer's input)^T "
                              "(that gradient), exercise 01")
                c.diagnosis = Diagnosis("block", f"the first wrong block is {bname} "
                                        f"({', '.join(bgrads)}){after}: {bwhere}")
            else:
                c.diagnosis = Diagnosis("downstream", (
                    f"{bname} is wrong because {name} ({', '.join(grads)}), earlier in the "
                    "backward pass, is: its error flows on into this block. Fix that block "
                    "first"))
    result.notes.append("blocks of the backward pass, in backward order: " + "; ".join(verdicts))
