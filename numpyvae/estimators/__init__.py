"""Gradient estimators of d/dθ E_{q_θ}[f(z)]: score function (REINFORCE) and pathwise
(reparameterization), their exact moments, the classroom experiment and the VAE-encoder study.

    montecarlo   the estimators themselves (score function with baselines, pathwise)
    exact        exact means and variances: closed forms for f = (z − k)², quadrature for any f
    classroom    d/dθ E[z²] by every estimator on shared noise, beside the exact variances
    encoder      the same comparison on a VAE's encoder, built on the public VAE and posterior API
    discrete     Bernoulli / categorical latents: score baselines, concrete, straight-through, REBAR
    measure_valued  the weak-derivative (measure-valued) gradient of a Gaussian mean
    snr          IWAE gradient SNR against K (Rainforth et al.'s toy, STL, DReG, a VAE)
    intervals    confidence bands for estimated variances (chi-square, bootstrap) and for the
                 median gradient SNR (a bootstrap over independent repetitions)
    checks       the argument checks they share
    registry     every estimator as one record: name, label, colour, marker, studies (the one
                 table the studies, their plots and ``numpyvae variance`` read)

``nv.estimators.score_function``, ``pathwise`` and the closed forms are re-exported here.
"""
from .checks import BASELINES, WRT  # noqa: F401
from . import registry  # noqa: F401
from .classroom import classroom_experiment, format_table  # noqa: F401
from .exact import (COSTS, HALF_WIDTH, Moments, cost_family_curves, expect_std_normal,  # noqa: F401
                    loo_variance, optimal_baseline, pathwise_moments, quadratic_loo_variance,
                    quadratic_optimal_baseline, quadratic_optimal_score_variance,
                    quadratic_pathwise_variance, quadratic_score_variance, score_function_moments,
                    score_second_moment)
from .montecarlo import gaussian_score, pathwise, score_function  # noqa: F401


def __getattr__(name):
    """``ESTIMATORS`` and ``ESTIMATOR_LABELS``: the classroom study's, read from the registry."""
    if name in ("ESTIMATORS", "ESTIMATOR_LABELS"):
        return getattr(classroom, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
