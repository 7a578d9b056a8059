"""The decoder's likelihood p(x | z): one node between the decoder and the bound.

A likelihood owns everything about p(x|z) that the model needs:

* how wide the decoder's output is (``out_size``) and what its columns mean;
* ``log p(x | z)`` from that output, and its gradient back to the output;
* the mean of p(x|z), a draw from it, and which data values it is a density (or mass) of.

    lik = LIKELIHOODS[name](x_dim, **options)     options: the VAE's decoder_logvar,
                                                  gaussian_mean, decoder_logvar_floor
    log_px, cache = lik.forward(x, out)           x (N, D), out (S, N, out_size) -> (S, N)
    dout          = lik.backward(dlog_px, cache)  dlog_px (S, N) -> (S, N, out_size)
    lik.mean(out)       E[x | z] for out (N, out_size): (N, D), a new array
    lik.decode(out)     what VAE.decode returns: the logits (Bernoulli), the mean (Gaussian)
    lik.draw(out, rng)  x ~ p(x | z): (N, D)
    lik.check_x(x, name)  the values of a data array (finite; in [0, 1] where the likelihood
                          needs it), -> x; ValueError naming ``name`` otherwise

Every kernel is called through its module (``D.``, ``F.``) at call time, so replacing a module
attribute reaches the training step (ARCHITECTURE.md).  A likelihood takes the options it
understands and ignores the others.  A new likelihood is one class plus its ``LIKELIHOODS``
entry: vae.py, evaluation and training need no edit (tests/library/test_new_likelihood.py
trains through a third one defined in the test).
"""
from __future__ import annotations

import numpy as np

from . import distributions as D
from . import functional as F
from . import fused
from ._validate import check_data_values, is_real_in

# The floor of a learned decoder log-variance (ARCHITECTURE.md, "Conventions": logvar):
#     logvar = floor + softplus(raw - floor)  > floor,    d logvar / d raw = sigmoid(raw - floor)
# Without it log N(x; m, e^logvar) -> +inf as logvar -> -inf wherever x = m, and a pixel that
# never changes lets the ELBO run to +inf.  The data are 8-bit grey levels k/255, and a density
# p models grey level k by P(k) ~ p(k/255) Q with Q = 1/255.  A Gaussian's largest density is
# 1/sqrt(2 pi sigma^2), so it claims P(k) > 1 once sigma < Q/sqrt(2 pi): the floor is that
# point, log(Q^2 / 2 pi) = -12.92 (sigma = 0.4 grey levels), and per pixel log p(x|z) <= log 255.
# (Measured on Frey Face: the unfloored K&W model puts 0.005% of its test pixels below it.)
PIXEL_QUANTUM = 1.0 / 255.0
DECODER_LOGVAR_FLOOR = float(2.0 * np.log(PIXEL_QUANTUM) - np.log(2.0 * np.pi))

# A fixed log-variance or a floor outside this range is refused: sigma from 3e-7 to 3e6.  Beyond
# it a float32 loss over 784 pixels overflows (e^-logvar (x - m)^2 past 3.4e38, or logvar itself
# summed), and no data scaled to [0, 1] call for it.  The CLI's --decoder-logvar reads it too.
LOGVAR_RANGE = (-30.0, 30.0)


class Bernoulli:
    """p(x|z) = prod_d sigmoid(l_d)^x_d (1 - sigmoid(l_d))^(1 - x_d): the decoder emits the
    logits l, (..., D).  A mass over binary x; on grey levels in (0, 1) a cross-entropy score."""

    name = "bernoulli"

    def __init__(self, x_dim, **_options):
        self.x_dim = self.out_size = x_dim

    # With ``--kernels fused`` (fused.use) the same operations run as numba loops between NumPy's
    # exp and log: the same bits in fewer passes.  ``None`` back means "take the NumPy path".
    def forward(self, x, out):
        log_px = fused.bernoulli_forward(x, out)
        if log_px is None:
            return D.bernoulli_log_likelihood_forward(x, out)
        return log_px, (x, out)

    def backward(self, dlog_px, cache):
        dout = fused.bernoulli_backward(dlog_px, *cache)
        return D.bernoulli_log_likelihood_backward(dlog_px, cache) if dout is None else dout

    def mean(self, out):
        return F.sigmoid(out)

    def decode(self, out):
        return out

    def draw(self, out, rng):
        probs = self.mean(out)
        return (rng.random(probs.shape, dtype=probs.dtype) < probs).astype(probs.dtype)

    def check_x(self, x, name):
        return check_data_values(x, name, unit_interval=True, why=" for a Bernoulli decoder")


class Gaussian:
    """p(x|z) = N(x; m, diag e^logvar).  The decoder emits the raw mean, (..., D), and with a
    learned log-variance the raw log-variance after it: out = [raw mean | raw logvar], (..., 2D).

    m = sigmoid(raw mean) (``gaussian_mean="sigmoid"``, Kingma & Welling's Frey Face) or the raw
    mean itself ("identity").  logvar = the fixed float ``decoder_logvar``, or, "learned",
    ``floor + softplus(raw - floor)`` (``raw`` itself with ``decoder_logvar_floor=None``)."""

    name = "gaussian"

    def __init__(self, x_dim, decoder_logvar="learned", gaussian_mean="sigmoid",
                 decoder_logvar_floor=DECODER_LOGVAR_FLOOR, **_options):
        self.x_dim, self.logvar, self.floor = x_dim, decoder_logvar, decoder_logvar_floor
        self.squash = gaussian_mean == "sigmoid"
        self.out_size = 2 * x_dim if decoder_logvar == "learned" else x_dim

    def forward(self, x, out):
        """A learned log-variance is floored first (``_logvar_forward``), so per pixel
        log p(x|z) <= -1/2 (log 2 pi + floor)."""
        mean = out[..., :self.x_dim]
        scache = None
        if self.squash:
            mean, scache = F.sigmoid_forward(mean)
        logvar, lcache = self._logvar_forward(out)
        lp, gcache = D.gaussian_log_likelihood_forward(x, mean, logvar)
        return lp, (gcache, scache, lcache)

    def backward(self, dlog_px, cache):
        gcache, scache, lcache = cache
        dmean, dlogvar = D.gaussian_log_likelihood_backward(dlog_px, gcache)
        if scache is not None:
            dmean = F.sigmoid_backward(dmean, scache, out=dmean)
        if dlogvar is None:
            return dmean
        return np.concatenate([dmean, self._logvar_backward(dlogvar, lcache)], axis=-1)

    def mean(self, out):
        mean = out[..., :self.x_dim]
        return F.sigmoid(mean) if self.squash else mean.copy()

    def decode(self, out):
        return self.mean(out)

    def draw(self, out, rng):
        mean = self.mean(out)
        logvar, _ = self._logvar_forward(out)
        std = np.exp(0.5 * np.asarray(logvar, mean.dtype))
        return mean + std * rng.standard_normal(mean.shape, dtype=mean.dtype)

    def check_x(self, x, name):
        return check_data_values(x, name)

    def _logvar_forward(self, out):
        """The log-variance from the decoder's output (..., out_size): the fixed float, or the
        learned one on the last D columns.  -> (logvar, cache).  The one place the floor is
        applied."""
        if self.logvar != "learned":
            return self.logvar, None
        raw = out[..., self.x_dim:]
        if self.floor is None:
            return raw, None
        floor = raw.dtype.type(self.floor)                 # float32 stays float32
        logvar, cache = F.softplus_forward(raw - floor)    # cache: raw - floor
        logvar += floor
        return logvar, cache

    def _logvar_backward(self, dlogvar, cache):
        """d logvar -> d raw = d logvar * sigmoid(raw - floor) (in place; d raw = d logvar with
        no floor)."""
        return dlogvar if cache is None else F.softplus_backward(dlogvar, cache, out=dlogvar)


LIKELIHOODS = {"bernoulli": Bernoulli, "gaussian": Gaussian}


def get(name, x_dim, **options):
    """The likelihood ``name`` of ``LIKELIHOODS`` for data of ``x_dim`` columns, built with the
    VAE's likelihood ``options``; ValueError naming the registered ones for another name."""
    if not isinstance(name, str) or name not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {tuple(LIKELIHOODS)}, got {name!r}")
    return LIKELIHOODS[name](x_dim, **options)


def check_options(decoder_logvar, gaussian_mean, decoder_logvar_floor):
    """The VAE's likelihood options checked (for every likelihood, so that a saved config is
    valid whatever reads it) -> {name: value} normalised: decoder_logvar "learned" or a float in
    LOGVAR_RANGE; gaussian_mean "sigmoid" or "identity"; decoder_logvar_floor a float in
    LOGVAR_RANGE or None.  ValueError naming the argument otherwise."""
    lo, hi = LOGVAR_RANGE
    if not (decoder_logvar == "learned" or is_real_in(decoder_logvar, lo, hi)):
        raise ValueError(f"decoder_logvar must be 'learned' or a float from {lo:g} to {hi:g}, "
                         f"got {decoder_logvar!r}")
    if decoder_logvar_floor is not None and not is_real_in(decoder_logvar_floor, lo, hi):
        raise ValueError(f"decoder_logvar_floor must be a float from {lo:g} to {hi:g} or None, "
                         f"got {decoder_logvar_floor!r}")
    if gaussian_mean not in ("sigmoid", "identity"):
        raise ValueError(f"gaussian_mean must be 'sigmoid' or 'identity', got {gaussian_mean!r}")
    learned, floorless = decoder_logvar == "learned", decoder_logvar_floor is None
    return {"decoder_logvar": decoder_logvar if learned else float(decoder_logvar),
            "gaussian_mean": gaussian_mean,
            "decoder_logvar_floor": None if floorless else float(decoder_logvar_floor)}
