"""Every gradient estimator of the course, one frozen record each: the one table that the studies,
their tables and plots, and ``numpyvae variance`` read.

A record holds the estimator's name (the key in every dict, table row and CSV column), its label
(every legend, and the classroom, interval, encoder-study and training tables; the discrete and
SNR tables print the name), its colour and marker (every plot), the studies it takes part
in, and what a study needs to know about it:

    leave_one_out   its baseline is the mean of f over the other draws: it needs S >= 2, and its
                    S-sample variance has the form (A + B/(S − 1))/S, not A/S
    temperature     a relaxation with a temperature τ (a discrete study's row per τ)
    encoder         for the encoder study: ``dh = encoder(model, h, draws)``, the upstream
                    gradient (N, raw_size) of its ELBO-gradient estimate (an ascent direction);
                    ``draws`` is :class:`numpyvae.estimators.encoder._Draws` (eps, z, f, log p(x|z),
                    its z-gradient and the family's cache)
    needs_kl        the encoder study's draws must carry the family's closed-form KL
    exact           for the cost family: ``exact(f, df, mu, sigma, wrt, hints)``, the exact
                    Moments (mean, variance) of ONE term by quadrature, or None where the
                    estimator is not defined (the measure-valued one wrt σ)

The studies (:data:`STUDIES`) list their estimators in the order of this table, read when they run
(:func:`names`), so an estimator added here (or by ``monkeypatch.setitem(ESTIMATORS, ...)`` in a
test) appears in the study, its table and its plot; an encoder-study estimator is one ``encoder``
function plus its record, a cost-family estimator one ``exact`` function plus its record.  The
classroom, discrete and SNR studies compute their estimators from formulas written in the study
(Monte Carlo on shared noise, enumeration), so a new one there also needs its formula in that
study.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

CLASSROOM = "classroom"            # d/dθ E[z²] against N (classroom.py)
COST_FAMILY = "cost_family"        # exact single-sample variances against k (exact.py)
ENCODER = "encoder"                # the VAE encoder's ELBO gradient against S (encoder.py)
ENCODER_TRAINING = "encoder_training"  # training the encoder with each (numpyvae variance, part 4)
BERNOULLI = "bernoulli"            # the REBAR toy, a Bernoulli latent (discrete.py)
CATEGORICAL = "categorical"        # a categorical latent (discrete.py)
SNR = "snr"                        # IWAE-gradient SNR against K (snr.py)
STUDIES = (CLASSROOM, COST_FAMILY, ENCODER, ENCODER_TRAINING, BERNOULLI, CATEGORICAL, SNR)


@dataclass(frozen=True)
class Estimator:
    """One gradient estimator (see the module docstring for the fields)."""
    name: str
    label: str
    colour: str
    marker: str
    studies: tuple
    leave_one_out: bool = False
    temperature: bool = False
    encoder: Callable | None = None
    needs_kl: bool = False
    exact: Callable | None = None

    @property
    def min_samples(self):
        """The fewest draws per example it is defined for."""
        return 2 if self.leave_one_out else 1


# ------------------------------------------------------------ the encoder study's estimators
# Each is dh, the gradient of its S-sample ELBO estimate with respect to the encoder's raw output
# h (N, raw_size), from the draws of encoder._draws.  c = 1/(NS).  encoder.py explains the four.

def _score_dh(model, h, draws):
    """Σ_sn f_sn/(NS) ∇_h log q(z_sn|x_n) at fixed z."""
    s, n, _ = draws.eps.shape
    w = draws.f.copy()
    w *= 1.0 / (s * n)
    return model.posterior.score(h, draws.eps, w)


def _score_loo_dh(model, h, draws):
    """The same with f_sn − b_sn, b_sn the mean of f over the other S − 1 draws of x_n."""
    s, n, _ = draws.eps.shape
    w = draws.f.copy()
    # b_sn = (Σ_t f_tn − f_sn)/(S − 1)  =>  f_sn − b_sn = S/(S − 1) (f_sn − mean_t f_tn)
    w -= w.mean(axis=0)
    w *= s / (s - 1)
    w *= 1.0 / (s * n)
    return model.posterior.score(h, draws.eps, w)


def _pathwise_dh(model, h, draws):
    """The total derivative of 1/(NS) Σ_sn f_sn through z = g(h, ε) and −log q's own h."""
    s, n, _ = draws.eps.shape
    c = 1.0 / (s * n)
    g = draws.dlogpx_dz - draws.z                      # ∂/∂z [log p(x|z) + log p(z)]
    g *= c
    return model.posterior.backward(g, draws.q_cache, dlog_q=np.full((s, n), -c, model.dtype))


def _pathwise_kl_dh(model, h, draws):
    """∇ of 1/(NS) Σ_sn log p(x_n|z_sn) − 1/N Σ_n KL_n: the KL's own gradient, as in
    VAE.forward_backward."""
    s, n, _ = draws.eps.shape
    return model.posterior.backward(draws.dlogpx_dz * model.dtype.type(1.0 / (s * n)),
                                    draws.q_cache, dkl=np.full(n, -1.0 / n, model.dtype))


# ------------------------------------------------------- the cost family's exact moments
# Each is the exact (mean, variance) of ONE term of the estimator for E_{N(μ, σ²)}[f(x)] and its
# gradient wrt ``wrt`` ("mu" or "sigma"), by quadrature (exact.py, measure_valued.py), or None
# where the estimator is not defined.  ``hints``: f's peaks and length scale for the quadrature.

def _score_exact(f, df, mu, sigma, wrt, hints):
    from .exact import score_function_moments
    return score_function_moments(f, mu, sigma, wrt=wrt, **hints)


def _score_optimal_exact(f, df, mu, sigma, wrt, hints):
    from .exact import score_function_moments
    return score_function_moments(f, mu, sigma, wrt=wrt, baseline="optimal", **hints)


def _pathwise_exact(f, df, mu, sigma, wrt, hints):
    from .exact import pathwise_moments
    return pathwise_moments(df, mu, sigma, wrt=wrt, **hints)


def _measure_valued_exact(f, df, mu, sigma, wrt, hints):
    """The coupled measure-valued term: built here for the mean (wrt μ) only."""
    if wrt != "mu":
        return None
    from .exact import Moments
    from .measure_valued import mvd_moments
    return Moments(*mvd_moments(f, mu, sigma, **hints))


# ------------------------------------------------------------------------------- the table

_SCORE_STUDIES = (CLASSROOM, COST_FAMILY, ENCODER, ENCODER_TRAINING, BERNOULLI, CATEGORICAL)

ESTIMATORS = {e.name: e for e in (
    Estimator("score", "score function", "tab:red", "o", _SCORE_STUDIES, encoder=_score_dh,
              exact=_score_exact),
    Estimator("score_const", "score, baseline b = E[f]", "tab:orange", "s",
              (CLASSROOM, BERNOULLI)),
    Estimator("score_loo", "score, leave-one-out baseline", "tab:purple", "D",
              (CLASSROOM, ENCODER, ENCODER_TRAINING, BERNOULLI, CATEGORICAL),
              leave_one_out=True, encoder=_score_loo_dh),
    Estimator("score_optimal", "score, optimal b* (exact)", "tab:blue", "^",
              (CLASSROOM, COST_FAMILY, BERNOULLI, CATEGORICAL), exact=_score_optimal_exact),
    Estimator("score_optimal_est", "score, b* estimated (LOO)", "tab:cyan", "v", (CLASSROOM,)),
    Estimator("pathwise", "pathwise", "tab:green", "P",
              (CLASSROOM, COST_FAMILY, ENCODER, ENCODER_TRAINING), encoder=_pathwise_dh,
              exact=_pathwise_exact),
    Estimator("pathwise_kl", "pathwise, analytic KL (VAE default)", "tab:blue", "s", (ENCODER,),
              encoder=_pathwise_kl_dh, needs_kl=True),
    Estimator("measure_valued", "measure-valued (coupled), wrt μ only", "tab:purple", "X",
              (COST_FAMILY,), exact=_measure_valued_exact),
    Estimator("gumbel", "Gumbel-softmax / concrete", "tab:green", "o", (BERNOULLI, CATEGORICAL),
              temperature=True),
    Estimator("straight_through", "straight-through Gumbel", "tab:olive", "o",
              (BERNOULLI, CATEGORICAL), temperature=True),
    Estimator("rebar", "REBAR (η, λ = τ)", "tab:brown", "o", (BERNOULLI,), temperature=True),
    Estimator("iwae", "IWAE", "tab:red", "o", (SNR,)),
    Estimator("stl", "STL", "tab:orange", "s", (SNR,)),
    Estimator("dreg", "DReG", "tab:blue", "^", (SNR,)),
)}


def get(name):
    """The record of the estimator ``name``; ValueError naming the registered ones otherwise."""
    try:
        return ESTIMATORS[name]
    except (KeyError, TypeError):
        raise ValueError(f"no estimator {name!r}; registered: {', '.join(ESTIMATORS)}") from None


def names(study):
    """The names of ``study``'s estimators, in the order of the table: a tuple, read now."""
    if study not in STUDIES:
        raise ValueError(f"no study {study!r}; the studies are {', '.join(STUDIES)}")
    return tuple(n for n, e in ESTIMATORS.items() if study in e.studies)


def label(name):
    """The estimator's label; an unregistered name is its own label."""
    e = ESTIMATORS.get(name)
    return name if e is None else e.label


def labels(study):
    """{name: label} for ``study``'s estimators."""
    return {n: ESTIMATORS[n].label for n in names(study)}


def style(name):
    """(colour, marker) of the estimator; an unregistered name is drawn black with an x."""
    e = ESTIMATORS.get(name)
    return ("black", "x") if e is None else (e.colour, e.marker)
