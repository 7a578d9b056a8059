"""The variational autoencoder: encoder -> posterior node -> decoder -> likelihood.

    h            = encoder(x)                  raw parameters of q, (N, raw_size)
    z, KL, log q = posterior(h, eps)           the family Q of posterior.py; eps ~ N(0, I) is an
                                               input, (S, N, k): S samples per example
    out          = decoder(z)                  logits (Bernoulli) or mean[, logvar] (Gaussian)
    ELBO(x)      = 1/S sum_s log p(x | z_s)  -  KL(q(z|x) || N(0, I))    (KL in closed form)
    IWAE_S(x)    = log 1/S sum_s p(x|z_s) p(z_s) / q(z_s|x)              (log-mean-exp)

The loss is ``-mean_n bound(x_n)`` in nats per example (plus the optional weight decay), and
``loss_and_grad`` runs the whole backward pass by hand, in straight-line code: likelihood ->
decoder -> posterior node (sample, KL, log q) -> encoder.  The two bounds differ only in the
weights they put on the four terms (``OBJECTIVES`` below).  All parameters live in one flat
vector ``params``, the gradient in ``grads``; the layers' ``params``/``grads`` dicts are views
into them.

Weight decay ``lam`` adds ``lam/2 ||theta||^2`` to the loss.  Kingma & Welling put a N(0, I)
prior on all parameters; the per-example objective is then ``mean ELBO + log p(theta) / N_train``,
so ``lam = 1 / N_train`` is exactly that prior (biases included).
"""
from __future__ import annotations

import numpy as np

from . import distributions as D
from . import functional as F
from . import posterior as Q
from ._validate import (check_array, check_data_values, check_positive_float,
                        check_positive_int, check_rng)
from .layers import ACTIVATIONS, bind_flat, mlp

LIKELIHOODS = ("bernoulli", "gaussian")
COVARIANCES = tuple(Q.FAMILIES)      # the variational families of posterior.py

# The floor of a learned decoder log-variance (ARCHITECTURE.md, "Conventions": logvar):
#     logvar = floor + softplus(raw - floor)  > floor,    d logvar / d raw = sigmoid(raw - floor)
# Without it log N(x; m, e^logvar) -> +inf as logvar -> -inf wherever x = m, and a pixel that
# never changes lets the ELBO run to +inf.  The data are 8-bit grey levels k/255, and a density
# p models grey level k by P(k) ~ p(k/255) Q with Q = 1/255.  A Gaussian's largest density is
# 1/sqrt(2 pi sigma^2), so it claims P(k) > 1 once sigma < Q/sqrt(2 pi): the floor is that
# point, log(Q^2 / 2 pi) = -12.92 (sigma = 0.0016 = 0.4 grey levels), and per pixel
# log p(x|z) <= -1/2 (log 2 pi + floor) = log 255 = 5.54 nats.  (log 1e-3 = -6.91 was not taken:
# measured on Frey Face, the unfloored K&W model (560-200-20, Adagrad 0.01, 10^6 examples seen)
# puts 49% of its test pixels below log 1e-3 and 0.005% below log(Q^2 / 2 pi); putting the
# floor into that model changes its test ELBO of 1079 nats by -118 +- 6 and +0.3 +- 0.1.)
# Entries of the decoder's output per block of VAE.log_weights' likelihood (128 KiB of float32 per
# temporary).  Measured on (668, 784) logits, one thread: the Bernoulli likelihood 1.54x faster in
# blocks of 32-64 rows than in one piece on an AVX-512 Xeon (2 MiB L2), 1.25-1.29x with AVX2 kernels.
LIKELIHOOD_BLOCK = 2 ** 15

PIXEL_QUANTUM = 1.0 / 255.0
DECODER_LOGVAR_FLOOR = float(2.0 * np.log(PIXEL_QUANTUM) - np.log(2.0 * np.pi))


# ---------------------------------------------------------------------- the two bounds
#
# An objective maps the per-sample terms to the bound (N,) and to d loss / d term, where
# loss = -mean_n bound:  (log_px (S, N), log_pz (S, N) | None, log_q (S, N) | None, kl (N,) | None, n)
#   -> (bound (N,), {"log_px", "log_pz", "log_q", "kl": gradient or None}, extra outputs)


def elbo_objective(log_px, log_pz, log_q, kl, n):
    """ELBO = 1/S sum_s log p(x|z_s) - KL: weight 1/S on each log p(x|z_s), -1 on the KL.
    (log p(z) - log q is the KL's Monte Carlo twin; the closed form replaces it.)"""
    s = log_px.shape[0]
    recon = log_px.mean(axis=0)
    d = {"log_px": np.full(log_px.shape, -1.0 / (s * n), dtype=log_px.dtype),
         "kl": np.full(kl.shape, 1.0 / n, dtype=kl.dtype), "log_pz": None, "log_q": None}
    return recon - kl, d, {"recon": recon, "kl": kl}


elbo_objective.uses_kl = True


def _iwae_weights(log_px, log_pz, log_q):
    """-> (IWAE bound (N,), normalised importance weights w~_s (S, N))."""
    s = log_px.shape[0]
    log_w = log_px + log_pz - log_q
    m = log_w.max(axis=0)
    w = np.exp(log_w - m)
    total = w.sum(axis=0)
    bound = m + np.log(total) - float(np.log(s))
    w /= total                         # normalised importance weights, (S, N)
    return bound, w


def iwae_objective(log_px, log_pz, log_q, kl, n):
    """IWAE = log 1/S sum_s w_s,  log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x).
    d bound / d log w_s = w_s / sum_t w_t (the normalised weights): the same weight on log p(x|z)
    and log p(z), minus it on log q."""
    bound, w = _iwae_weights(log_px, log_pz, log_q)
    dlog_w = w * (-1.0 / n)            # d loss / d log w_s
    return bound, {"log_px": dlog_w, "log_pz": dlog_w, "log_q": -dlog_w, "kl": None}, {}


def iwae_stl_objective(log_px, log_pz, log_q, kl, n):
    """The IWAE bound with the STL gradient (Roeder et al. 2017): IWAE's weights, but log q is
    differentiated through z only (``log_q_score = False``: the posterior's ``score=False``).
    The decoder's gradient is IWAE's, bit for bit (the decoder is not in q)."""
    return iwae_objective(log_px, log_pz, log_q, kl, n)


def iwae_dreg_objective(log_px, log_pz, log_q, kl, n):
    """The IWAE bound with the DReG gradient (Tucker et al. 2018): the encoder gets
    -sum_s w~_s^2 d log w_s/dz dz/dphi / N, log q through z only; the decoder IWAE's -w~_s/N.
    ``dz_weight`` = w~_s multiplies the gradient reaching z_s (from log p(x|z) and log p(z), each
    weighted w~_s) after the decoder's backward, so the encoder sees w~_s^2 there too."""
    bound, w = _iwae_weights(log_px, log_pz, log_q)
    dlog_w = w * (-1.0 / n)
    return bound, {"log_px": dlog_w, "log_pz": dlog_w, "log_q": w * w * (1.0 / n), "kl": None,
                   "dz_weight": w}, {}


elbo_objective.log_q_score = iwae_objective.log_q_score = True
iwae_stl_objective.log_q_score = iwae_dreg_objective.log_q_score = False
iwae_objective.uses_kl = iwae_stl_objective.uses_kl = iwae_dreg_objective.uses_kl = False

OBJECTIVES = {"elbo": elbo_objective, "iwae": iwae_objective, "iwae_stl": iwae_stl_objective,
              "iwae_dreg": iwae_dreg_objective}


def _objective(name):
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {tuple(OBJECTIVES)}, got {name!r}")
    return OBJECTIVES[name]


class VAE:
    """A VAE with MLP encoder and decoder.

    x_dim       : data dimension D;   hidden_dims : e.g. [400] (decoder uses them reversed)
    z_dim       : latent dimension k
    likelihood  : "bernoulli" (decoder emits logits) or "gaussian"
    activation  : hidden activation, "relu" | "tanh" | "sigmoid" | "softplus"
    rng         : numpy Generator for the initial weights
    covariance  : "diagonal" (encoder emits mu, logvar) or "full" (mu and a Cholesky factor L)
    decoder_logvar : Gaussian only: "learned" (decoder also emits a log-variance per pixel) or a
                  fixed float log sigma^2 (0.0 gives the lecture's ``C - 1/2 ||x - f(z)||^2``)
    decoder_logvar_floor : learned Gaussian only: the floor of the log-variance,
                  ``logvar = floor + softplus(raw - floor)`` (default ``DECODER_LOGVAR_FLOOR``
                  = log(Q^2 / 2 pi), Q = 1/255: see above), or None for ``logvar = raw``, no
                  floor (the model of checkpoints saved before the floor existed; unbounded)
    gaussian_mean  : Gaussian only: "sigmoid" squashes the mean into (0, 1) as Kingma & Welling
                  do for Frey Face; "identity" leaves it linear
    init        : Dense initialisation ("he", "xavier", "uniform" or a std such as 0.01)
    weight_decay: lam >= 0, see the module docstring
    dtype       : float32 for training, float64 for gradient checks
    """

    def __init__(self, x_dim, hidden_dims, z_dim, likelihood="bernoulli", activation="relu",
                 rng=None, covariance="diagonal", decoder_logvar="learned",
                 gaussian_mean="sigmoid", init="he", weight_decay=0.0, dtype=np.float32,
                 decoder_logvar_floor=DECODER_LOGVAR_FLOOR):
        x_dim = check_positive_int(x_dim, "x_dim")
        z_dim = check_positive_int(z_dim, "z_dim")
        if isinstance(hidden_dims, (int, np.integer)):
            hidden_dims = [hidden_dims]
        hidden_dims = [check_positive_int(h, "hidden_dims[i]") for h in hidden_dims]
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if activation not in ACTIVATIONS or activation == "identity" and hidden_dims:
            raise ValueError(f"activation must be one of relu, tanh, sigmoid, softplus, got {activation!r}")
        posterior = Q.family(covariance, z_dim)           # raises for an unknown family
        if not (decoder_logvar == "learned" or isinstance(decoder_logvar, (int, float))
                and not isinstance(decoder_logvar, bool) and np.isfinite(decoder_logvar)):
            raise ValueError(f"decoder_logvar must be 'learned' or a finite float, got {decoder_logvar!r}")
        if decoder_logvar_floor is not None and not (
                isinstance(decoder_logvar_floor, (int, float, np.floating))
                and not isinstance(decoder_logvar_floor, bool) and np.isfinite(decoder_logvar_floor)):
            raise ValueError("decoder_logvar_floor must be a finite float or None, got "
                             f"{decoder_logvar_floor!r}")
        if gaussian_mean not in ("sigmoid", "identity"):
            raise ValueError(f"gaussian_mean must be 'sigmoid' or 'identity', got {gaussian_mean!r}")
        weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        check_rng(rng)
        self.x_dim, self.z_dim, self.hidden_dims = x_dim, z_dim, list(hidden_dims)
        self.likelihood, self.activation, self.covariance = likelihood, activation, covariance
        self.decoder_logvar = decoder_logvar if decoder_logvar == "learned" else float(decoder_logvar)
        self.decoder_logvar_floor = (None if decoder_logvar_floor is None
                                     else float(decoder_logvar_floor))
        self.gaussian_mean, self.init = gaussian_mean, init
        self.weight_decay = float(weight_decay)
        self.dtype = np.dtype(dtype)

        k = z_dim
        self.posterior = posterior
        enc_out = posterior.raw_size
        learned = likelihood == "gaussian" and self.decoder_logvar == "learned"
        dec_out = 2 * x_dim if learned else x_dim
        self.encoder = mlp([x_dim, *hidden_dims, enc_out], activation, rng, init, self.dtype)
        self.decoder = mlp([k, *hidden_dims[::-1], dec_out], activation, rng, init, self.dtype)
        self.params, self.grads = bind_flat([self.encoder, self.decoder], self.dtype)

    # ------------------------------------------------------------------ bookkeeping

    @property
    def config(self):
        """The constructor arguments (JSON-serialisable), to rebuild the model from a checkpoint."""
        return {"x_dim": self.x_dim, "hidden_dims": self.hidden_dims, "z_dim": self.z_dim,
                "likelihood": self.likelihood, "activation": self.activation,
                "covariance": self.covariance, "decoder_logvar": self.decoder_logvar,
                "gaussian_mean": self.gaussian_mean,
                "init": self.init if isinstance(self.init, str) else float(self.init),
                "weight_decay": self.weight_decay, "dtype": self.dtype.name,
                "decoder_logvar_floor": self.decoder_logvar_floor}

    @staticmethod
    def complete_config(config):
        """A saved ``config`` with the keys older checkpoints lack filled in, as the model they
        were: a config from before the floor has no ``decoder_logvar_floor``, and a learned-
        variance Gaussian then gets None (no floor: the model its parameters were trained and
        reported as); any other model gets the default, on which the floor does not act."""
        config = dict(config)
        if "decoder_logvar_floor" not in config:
            learned = (config.get("likelihood") == "gaussian"
                       and config.get("decoder_logvar", "learned") == "learned")
            config["decoder_logvar_floor"] = None if learned else DECODER_LOGVAR_FLOOR
        return config

    @classmethod
    def from_config(cls, config, rng=None):
        """The model a saved ``config`` describes (``complete_config``); ``rng`` draws the
        initial weights (default seed 0)."""
        return cls(rng=np.random.default_rng(0) if rng is None else rng,
                   **cls.complete_config(config))

    def named_params(self):
        """{"encoder.0.W": view, ...}: every parameter block, as views into ``params``."""
        out = {f"encoder.{k}": v for k, v in self.encoder.params.items()}
        out.update({f"decoder.{k}": v for k, v in self.decoder.params.items()})
        return out

    def named_grads(self):
        """{"encoder.0.W": view, ...}: the gradient blocks, as views into ``grads``
        (the same names, shapes and order as :meth:`named_params`)."""
        out = {f"encoder.{k}": v for k, v in self.encoder.grads.items()}
        out.update({f"decoder.{k}": v for k, v in self.decoder.grads.items()})
        return out

    def num_params(self):
        return self.params.size

    def noise_shape(self, x, n_samples=1, **_):
        """Shape of the reparameterization noise for ``x``: (S, N, k)."""
        return (n_samples, x.shape[0], self.z_dim)

    def check_x(self, x, name="x"):
        """Check a minibatch at the public boundary: (N >= 1, D) in the model's dtype, finite,
        in [0, 1] for a Bernoulli decoder.  Returns x."""
        check_array(x, name, ndim=2, dtype=self.dtype, finite=False)
        if x.shape[1] != self.x_dim:
            raise ValueError(f"{name} must have shape (N, {self.x_dim}), got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one example, got shape {x.shape}")
        return check_data_values(x, name, unit_interval=self.likelihood == "bernoulli",
                                 why=" for a Bernoulli decoder")

    def noise(self, x, rng=None, eps=None, n_samples=1):
        """Check x, and return the noise for it: ``eps`` (S, N, k) checked, or S = ``n_samples``
        draws from ``rng``."""
        self.check_x(x)
        if eps is None:
            check_rng(rng)
            n_samples = check_positive_int(n_samples, "n_samples")
            return rng.standard_normal(self.noise_shape(x, n_samples), dtype=self.dtype)
        check_array(eps, "eps", ndim=3, dtype=self.dtype)
        if eps.shape[1:] != (x.shape[0], self.z_dim):
            raise ValueError(f"eps must have shape (S, {x.shape[0]}, {self.z_dim}), got {eps.shape}")
        if eps.shape[0] == 0:
            raise ValueError("eps must hold at least one sample (S >= 1), got shape "
                             f"{eps.shape}")
        return eps

    # ------------------------------------------------------------------ encoder side

    def encode(self, x):
        """x : (N, D) -> q's parameters: (mu, logvar) each (N, k) for a diagonal q,
        or (mu (N, k), L (N, k, k)) for a full covariance."""
        self.check_x(x)
        h, _ = self.encoder.forward(x)
        return tuple(np.array(p) for p in self.posterior.params(h))

    # ------------------------------------------------------------------ decoder side

    def decode(self, z):
        """z : (N, k) -> Bernoulli logits (N, D), or the Gaussian mean (N, D)."""
        check_array(z, "z", ndim=2, dtype=self.dtype)
        if z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {z.shape}")
        out, _ = self.decoder.forward(z)
        return out if self.likelihood == "bernoulli" else self._gaussian_mean(out)

    def _gaussian_mean(self, out):
        """The Gaussian decoder's mean from its output (N, D_out): the first D columns, squashed
        by the sigmoid when ``gaussian_mean="sigmoid"``.  A new array."""
        mean = out[:, :self.x_dim]
        return F.sigmoid(mean) if self.gaussian_mean == "sigmoid" else mean.copy()

    def _decoder_logvar_forward(self, out):
        """The Gaussian decoder's log-variance from its output (..., D_out): the fixed float, or
        the learned one, ``floor + softplus(raw - floor)`` on the last D columns (``raw`` itself
        with no floor).  -> (logvar, cache).  The one place the floor is applied: training,
        evaluation and sampling all come here."""
        if self.decoder_logvar != "learned":
            return self.decoder_logvar, None
        raw = out[..., self.x_dim:]
        if self.decoder_logvar_floor is None:
            return raw, None
        floor = raw.dtype.type(self.decoder_logvar_floor)     # float32 stays float32
        logvar, cache = F.softplus_forward(raw - floor)       # cache: raw - floor
        logvar += floor
        return logvar, cache

    def _decoder_logvar_backward(self, dlogvar, cache):
        """d logvar -> d raw = d logvar * sigmoid(raw - floor) (in place; d raw = d logvar with
        no floor)."""
        return dlogvar if cache is None else F.softplus_backward(dlogvar, cache, out=dlogvar)

    def likelihood_forward(self, x, out):
        """log p(x | z) from the decoder's output for z.

        x : (N, D);  out : (S, N, D_out) logits, or the Gaussian's raw mean [| raw logvar]
        -> log_px : (S, N);  cache
        A learned log-variance is floored first (``_decoder_logvar_forward``), so per pixel
        log p(x|z) <= -1/2 (log 2 pi + floor).
        """
        if self.likelihood == "bernoulli":
            return D.bernoulli_log_likelihood_forward(x, out)
        mean = out[..., :self.x_dim]
        scache = None
        if self.gaussian_mean == "sigmoid":
            mean, scache = F.sigmoid_forward(mean)
        logvar, lcache = self._decoder_logvar_forward(out)
        lp, gcache = D.gaussian_log_likelihood_forward(x, mean, logvar)
        return lp, (gcache, scache, lcache)

    def likelihood_backward(self, dlog_px, cache):
        """dlog_px : (S, N) -> d out : (S, N, D_out)."""
        if self.likelihood == "bernoulli":
            return D.bernoulli_log_likelihood_backward(dlog_px, cache)
        gcache, scache, lcache = cache
        dmean, dlogvar = D.gaussian_log_likelihood_backward(dlog_px, gcache)
        if scache is not None:
            dmean = F.sigmoid_backward(dmean, scache, out=dmean)
        if dlogvar is None:
            return dmean
        return np.concatenate([dmean, self._decoder_logvar_backward(dlogvar, lcache)], axis=-1)

    # ------------------------------------------------------------------ the objective

    def forward_backward(self, x, eps, objective="elbo", need_grad=True):
        """One pass over a minibatch with fixed noise (x and eps already checked).

        x : (N, D);  eps : (S, N, k);  objective : "elbo" (closed-form KL) or "iwae", or
            "iwae_stl" / "iwae_dreg" (the IWAE bound with the STL / DReG gradient)
        -> dict with "loss" (float, nats per example incl. weight decay), "bound" (N,),
           and for the ELBO "recon" (N,) = mean_s log p(x|z_s) and "kl" (N,).
        If ``need_grad``, the gradient of "loss" is written into ``self.grads``.

        The ELBO and the IWAE bound differ only in how they weigh the four terms
        log p(x|z), log p(z), log q(z|x) and KL (see ``OBJECTIVES``).
        """
        bound_of = _objective(objective)
        n, s, k = x.shape[0], eps.shape[0], self.z_dim
        h, enc_cache = self.encoder.forward(x, check=False)
        q, q_cache = self.posterior.forward(h, eps, kl=bound_of.uses_kl, log_q=not bound_of.uses_kl)
        out, dec_cache = self.decoder.forward(q.z.reshape(s * n, k), check=False)
        log_px, px_cache = self.likelihood_forward(x, out.reshape(s, n, -1))
        log_pz = pz_cache = None
        if not bound_of.uses_kl:
            log_pz, pz_cache = D.log_std_normal_forward(q.z)
        bound, d, parts = bound_of(log_px, log_pz, q.log_q, q.kl, n)
        loss = -float(bound.mean())
        if self.weight_decay:
            loss += 0.5 * self.weight_decay * float(np.dot(self.params, self.params))
        result = dict(parts, loss=loss, bound=bound)
        if not need_grad:
            return result

        # d holds d loss / d term for every term the bound uses (None for the others)
        dout = self.likelihood_backward(d["log_px"], px_cache).reshape(s * n, -1)
        dz = self.decoder.backward(dout, dec_cache).reshape(s, n, k)
        if d["log_pz"] is not None:
            dz += D.log_std_normal_backward(d["log_pz"], pz_cache)
        if d.get("dz_weight") is not None:            # DReG: the encoder's w~_s becomes w~_s^2
            dz *= d["dz_weight"][..., None]
        # log_q_score False (STL, DReG): log q reaches q's parameters through z only
        kw = {} if bound_of.log_q_score else {"score": False}
        dh = self.posterior.backward(dz, q_cache, dkl=d["kl"], dlog_q=d["log_q"], **kw)
        self.encoder.backward(dh, enc_cache, need_dx=False)
        if self.weight_decay:
            self.grads += self.weight_decay * self.params
        return result

    def loss_and_grad(self, x, rng=None, n_samples=1, eps=None, objective="elbo"):
        """-> (loss, grad): loss = -mean ELBO (or IWAE bound) in nats per example (+ weight decay);
        grad is ``self.grads`` (the flat gradient vector, overwritten by the next call).
        Give ``rng`` to draw ``n_samples`` noise samples, or ``eps`` (S, N, k) to fix the noise."""
        eps = self.noise(x, rng, eps, n_samples)
        return self.forward_backward(x, eps, objective)["loss"], self.grads

    def loss(self, x, rng=None, n_samples=1, eps=None, objective="elbo"):
        """The loss alone (no backward pass)."""
        eps = self.noise(x, rng, eps, n_samples)
        return self.forward_backward(x, eps, objective, need_grad=False)["loss"]

    def elbo(self, x, rng, n_samples=1, eps=None):
        """Per-example ELBO with ``n_samples`` reconstruction samples: (N,) nats."""
        return self.elbo_parts(x, rng, n_samples, eps)[0]

    def elbo_parts(self, x, rng, n_samples=1, eps=None):
        """-> (elbo, recon, kl), each (N,): ELBO = recon - KL.  The one ELBO-parts evaluation."""
        eps = self.noise(x, rng, eps, n_samples)
        r = self.forward_backward(x, eps, "elbo", need_grad=False)
        return r["bound"], r["recon"], r["kl"]

    def log_weights(self, x, eps):
        """Importance log-weights ``log p(x, z_s) - log q(z_s | x)`` for z_s = g(phi, eps_s): (S, N).

        log p(x | z_s) is taken ``LIKELIHOOD_BLOCK // (N D_out)`` samples at a time (at least
        one): the same numbers (each is a sum over one row), but the likelihood's temporaries
        then fit the CPU's L2 cache, where evaluate.log_likelihood's chunks of ~670 samples
        (sized for the decoder's matrix products) do not."""
        self.check_x(x)
        check_array(eps, "eps", ndim=3, dtype=self.dtype)
        s, n = eps.shape[:2]
        h, _ = self.encoder.forward(x, check=False)
        q, _ = self.posterior.forward(h, eps, kl=False, log_q=True)
        out, _ = self.decoder.forward(q.z.reshape(s * n, self.z_dim), check=False)
        out = out.reshape(s, n, -1)
        log_px = np.empty((s, n), self.dtype)
        rows = max(1, LIKELIHOOD_BLOCK // (n * out.shape[-1]))
        for i in range(0, s, rows):
            log_px[i:i + rows] = self.likelihood_forward(x, out[i:i + rows])[0]
        return log_px + D.log_std_normal(q.z) - q.log_q

    def iwae_bound(self, x, k, rng, chunk=None):
        """The k-sample importance-weighted bound ``log 1/k sum_s w_s`` per example: (N,) in the
        model's dtype.  It is :func:`numpyvae.evaluate.log_likelihood` (the one implementation),
        with ``chunk`` samples per chunk, so memory does not grow with k.  (As a bound it needs no
        warning about grey levels under a Bernoulli decoder; ``log_likelihood`` gives one.)"""
        from .evaluate import log_likelihood
        return log_likelihood(self, x, k, rng, chunk=chunk, warn=False).astype(self.dtype)

    # ------------------------------------------------------------------ generation

    def sample(self, n, rng, mean=True):
        """Draw z ~ N(0, I) and decode: (n, D).  ``mean=True`` returns the decoder's mean
        (Bernoulli probabilities or the Gaussian mean); ``mean=False`` draws x ~ p(x|z)."""
        n = check_positive_int(n, "n")
        check_rng(rng)
        z = rng.standard_normal((n, self.z_dim), dtype=self.dtype)
        return self._emit(z, rng, mean)

    def reconstruct(self, x, rng=None, mean=True):
        """Encode then decode: (N, D).  With ``rng`` z is sampled from q(z|x), else z = mu."""
        self.check_x(x)
        h, _ = self.encoder.forward(x)
        if rng is None:
            z = np.array(self.posterior.params(h)[0])
        else:
            check_rng(rng)
            eps = rng.standard_normal((1, x.shape[0], self.z_dim), dtype=self.dtype)
            z = self.posterior.forward(h, eps, kl=False)[0].z[0]
        return self._emit(z, rng, mean)

    def _emit(self, z, rng, mean):
        """Decode z (N, k) once: the mean of p(x|z) or, with ``mean=False``, a draw from it."""
        full, _ = self.decoder.forward(z)
        probs = F.sigmoid(full) if self.likelihood == "bernoulli" else self._gaussian_mean(full)
        if mean:
            return probs
        check_rng(rng)
        if self.likelihood == "bernoulli":
            return (rng.random(probs.shape, dtype=self.dtype) < probs).astype(self.dtype)
        logvar, _ = self._decoder_logvar_forward(full)
        std = np.exp(0.5 * np.asarray(logvar, self.dtype))
        return probs + std * rng.standard_normal(probs.shape, dtype=self.dtype)

    def __repr__(self):
        return (f"VAE(x_dim={self.x_dim}, hidden_dims={self.hidden_dims}, z_dim={self.z_dim}, "
                f"likelihood={self.likelihood!r}, activation={self.activation!r}, "
                f"covariance={self.covariance!r}, params={self.params.size})")
