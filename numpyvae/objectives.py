"""The bounds a VAE trains on, as one table: one frozen record per bound (lectures 007 and 011).

Every bound is built from four per-sample terms of the forward pass (vae.py):

    log_px (S, N) = log p(x|z_s)    log_pz (S, N) = log p(z_s)    log_q (S, N) = log q(z_s|x)
    kl (N,)       = KL(q(z|x) || N(0, I)) in closed form

and a record's ``weights`` maps them to the bound and to the gradient of the loss
``-mean_n bound`` with respect to each term (ARCHITECTURE.md, "The VAE in one pass"):

    bound (N,), d, parts = record.weights(log_px, log_pz, log_q, kl, n)
    d = {"log_px", "log_pz", "log_q", "kl": d loss / d term, or None for a term not used
         [, "dz_weight": (S, N) a factor on the gradient reaching z (DReG)]}

| bound       | d/d log p(x|z_s) | d/d log p(z_s) | d/d log q(z_s|x)             | d/d KL |
| ELBO        | -1/(SN)          |                |                              | +1/N   |
| IWAE        | -w~_s/N          | -w~_s/N        | +w~_s/N                      |        |
| IWAE, STL   | -w~_s/N          | -w~_s/N        | +w~_s/N, through z only      |        |
| IWAE, DReG  | -w~_s/N, x w~_s at z | -w~_s/N, x w~_s at z | +w~_s^2/N, through z only |  |

w~_s are the normalised importance weights.  ``uses_kl``: the forward pass computes the closed-form
KL (and no log p(z), log q); otherwise log p(z) and log q.  ``log_q_score`` False: log q is
differentiated through z only, its parameters held fixed (the posterior's ``score=False``).

A new bound is one ``Objective`` added to ``OBJECTIVES``; vae.py, train.py and ``numpyvae train
--objective`` read this table (tests/library/test_new_family_and_bound.py adds one and trains).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def log_mean_exp(a, axis=0, weights=False):
    """``log 1/S sum_s exp(a_s)`` along ``axis`` (S = a.shape[axis]), stably:
    ``m + log sum_s exp(a_s - m) - log S`` with m the maximum.  The package's one log-sum-exp.
    With ``weights=True`` also the normalised weights ``exp(a_s) / sum_t exp(a_t)`` (a.shape)."""
    m = a.max(axis=axis, keepdims=True)
    e = np.exp(a - m)
    total = e.sum(axis=axis)
    out = np.squeeze(m, axis) + np.log(total) - float(np.log(a.shape[axis]))
    if not weights:
        return out
    e /= np.expand_dims(total, axis)
    return out, e


@dataclass(frozen=True)
class Objective:
    """One bound.  name : the key in ``OBJECTIVES`` (``numpyvae train --objective`` spells its
    underscores as hyphens);  weights : the map above;  uses_kl, log_q_score : see the module
    docstring;  snr_name : its name in the gradient-SNR study (estimators/snr.py), or None."""
    name: str
    label: str
    weights: Callable
    uses_kl: bool
    log_q_score: bool = True
    snr_name: str | None = None

    @property
    def cli_name(self):
        return self.name.replace("_", "-")


def _elbo(log_px, log_pz, log_q, kl, n):
    """ELBO = 1/S sum_s log p(x|z_s) - KL: weight 1/S on each log p(x|z_s), -1 on the KL.
    (log p(z) - log q is the KL's Monte Carlo twin; the closed form replaces it.)"""
    s = log_px.shape[0]
    recon = log_px.mean(axis=0)
    d = {"log_px": np.full(log_px.shape, -1.0 / (s * n), dtype=log_px.dtype),
         "kl": np.full(kl.shape, 1.0 / n, dtype=kl.dtype), "log_pz": None, "log_q": None}
    return recon - kl, d, {"recon": recon, "kl": kl}


def _iwae(log_px, log_pz, log_q, kl, n):
    """IWAE = log 1/S sum_s w_s,  log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x).
    d bound / d log w_s = w~_s (the normalised weights): the same weight on log p(x|z) and
    log p(z), minus it on log q.  (STL uses these weights too, with log q through z only: the
    decoder's gradient is IWAE's, bit for bit.)"""
    bound, w = log_mean_exp(log_px + log_pz - log_q, axis=0, weights=True)
    dlog_w = w * (-1.0 / n)            # d loss / d log w_s
    return bound, {"log_px": dlog_w, "log_pz": dlog_w, "log_q": -dlog_w, "kl": None}, {}


def _iwae_dreg(log_px, log_pz, log_q, kl, n):
    """The IWAE bound with the DReG gradient (Tucker et al. 2018): the encoder gets
    -sum_s w~_s^2 d log w_s/dz dz/dphi / N, log q through z only; the decoder IWAE's -w~_s/N.
    ``dz_weight`` = w~_s multiplies the gradient reaching z_s (from log p(x|z) and log p(z), each
    weighted w~_s) after the decoder's backward, so the encoder sees w~_s^2 there too."""
    bound, w = log_mean_exp(log_px + log_pz - log_q, axis=0, weights=True)
    dlog_w = w * (-1.0 / n)
    return bound, {"log_px": dlog_w, "log_pz": dlog_w, "log_q": w * w * (1.0 / n), "kl": None,
                   "dz_weight": w}, {}


ELBO = Objective("elbo", "ELBO (closed-form KL)", _elbo, uses_kl=True)
IWAE = Objective("iwae", "IWAE bound", _iwae, uses_kl=False, snr_name="iwae")
IWAE_STL = Objective("iwae_stl", "IWAE bound, STL gradient (Roeder et al. 2017)", _iwae,
                     uses_kl=False, log_q_score=False, snr_name="stl")
IWAE_DREG = Objective("iwae_dreg", "IWAE bound, DReG gradient (Tucker et al. 2018)", _iwae_dreg,
                      uses_kl=False, log_q_score=False, snr_name="dreg")

OBJECTIVES = {o.name: o for o in (ELBO, IWAE, IWAE_STL, IWAE_DREG)}


def get(name):
    """The record registered as ``name`` (hyphens read as underscores: "iwae-stl")."""
    key = name.replace("-", "_") if isinstance(name, str) else name
    if key not in OBJECTIVES:
        raise ValueError(f"objective must be one of {tuple(OBJECTIVES)}, got {name!r}")
    return OBJECTIVES[key]
