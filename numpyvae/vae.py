"""The variational autoencoder, in the order of the lecture: encoder -> q -> decoder -> likelihood -> bound.

    h            = encoder(x)                  raw parameters of q, (N, raw_size)
    z, KL, log q = posterior(h, eps)           the family Q of posterior.py; eps ~ N(0, I) is an
                                               input, (S, N, k): S samples per example
    out          = decoder(z)                  (S, N, out_size): p(x|z)'s parameters
    log p(x|z)   = likelihood(x, out)          the likelihood of likelihoods.py, (S, N)
    ELBO(x)      = 1/S sum_s log p(x | z_s)  -  KL(q(z|x) || N(0, I))    (KL in closed form)
    IWAE_S(x)    = log 1/S sum_s p(x|z_s) p(z_s) / q(z_s|x)              (log-mean-exp)

The loss is ``-mean_n bound(x_n)`` in nats per example (plus the optional weight decay), and
:meth:`VAE.forward_backward` runs the forward pass and then the backward pass by hand, in
straight-line code, in the reverse order.  The bounds differ only in the weights they put on the
four terms log p(x|z), log p(z), log q(z|x) and KL: one record each in objectives.py.  All
parameters live in one flat vector ``params``, the gradient in ``grads``; the layers'
``params``/``grads`` dicts are views into them.

Weight decay ``lam`` adds ``lam/2 ||theta||^2`` to the loss.  Kingma & Welling put a N(0, I)
prior on all parameters; the per-example objective is then ``mean ELBO + log p(theta) / N_train``,
so ``lam = 1 / N_train`` is exactly that prior (biases included).
"""
from __future__ import annotations

import numpy as np

from . import distributions as D
from . import likelihoods as P
from . import objectives as O
from . import posterior as Q
from ._validate import (check_array, check_positive_float, check_positive_int, check_rng,
                        is_real_in)
from .layers import ACTIVATIONS, bind_flat, mlp
from .likelihoods import DECODER_LOGVAR_FLOOR, LIKELIHOODS  # noqa: F401 (read as vae.X)

# A Dense initial std above this saturates every unit (inf/NaN losses): VAE(init=...) refuses it.
INIT_STD_MAX = 10.0


class VAE:
    """A VAE with MLP encoder and decoder.

    x_dim, hidden_dims, z_dim : D, e.g. [400] (the decoder uses them reversed), k
    likelihood  : a name of likelihoods.LIKELIHOODS: "bernoulli" (decoder emits logits), "gaussian"
    activation  : hidden activation, "relu" | "tanh" | "sigmoid" | "softplus"
    rng         : numpy Generator for the initial weights
    covariance  : a family of posterior.FAMILIES: "diagonal" (encoder emits mu, logvar) or
                  "full" (mu and a Cholesky factor L)
    decoder_logvar : Gaussian only: "learned" (one log-variance per pixel) or a fixed float
                  log sigma^2 in [-30, 30] (0.0 gives the lecture's ``C - 1/2 ||x - f(z)||^2``)
    decoder_logvar_floor : learned Gaussian only: ``logvar = floor + softplus(raw - floor)``
                  (default ``DECODER_LOGVAR_FLOOR``), or None for ``logvar = raw`` (unbounded)
    gaussian_mean  : Gaussian only: "sigmoid" squashes the mean into (0, 1) as Kingma & Welling
                  do for Frey Face; "identity" leaves it linear
    init        : Dense initialisation ("he", "xavier", "uniform" or a std in (0, 10], e.g. 0.01)
    weight_decay: lam >= 0, see the module docstring
    dtype       : float32 for training, float64 for gradient checks
    """

    def __init__(self, x_dim, hidden_dims, z_dim, likelihood="bernoulli", activation="relu",
                 rng=None, covariance="diagonal", decoder_logvar="learned",
                 gaussian_mean="sigmoid", init="he", weight_decay=0.0, dtype=np.float32,
                 decoder_logvar_floor=DECODER_LOGVAR_FLOOR):
        self.x_dim, self.z_dim = check_positive_int(x_dim, "x_dim"), check_positive_int(z_dim, "z_dim")
        if isinstance(hidden_dims, (int, np.integer)):
            hidden_dims = [hidden_dims]
        self.hidden_dims = [check_positive_int(h, "hidden_dims[i]") for h in hidden_dims]
        if activation not in ACTIVATIONS or activation == "identity" and self.hidden_dims:
            raise ValueError(f"activation must be one of relu, tanh, sigmoid, softplus, got {activation!r}")
        if not isinstance(init, str) and not (is_real_in(init, 0, INIT_STD_MAX) and init > 0):
            raise ValueError(f"init must be 'he', 'xavier', 'uniform' or a std above 0 and at "
                             f"most {INIT_STD_MAX:g}, got {init!r}")
        self.weight_decay = float(check_positive_float(weight_decay, "weight_decay", allow_zero=True))
        check_rng(rng)
        self.posterior = Q.family(covariance, self.z_dim)     # raises for an unknown family
        options = P.check_options(decoder_logvar, gaussian_mean, decoder_logvar_floor)
        self.lik = P.get(likelihood, self.x_dim, **options)     # the node p(x|z), likelihoods.py
        self.decoder_logvar = options["decoder_logvar"]
        self.gaussian_mean, self.decoder_logvar_floor = (options["gaussian_mean"],
                                                         options["decoder_logvar_floor"])
        self.likelihood, self.activation, self.covariance = likelihood, activation, covariance
        self.init, self.dtype = init, np.dtype(dtype)
        self.encoder = mlp([self.x_dim, *self.hidden_dims, self.posterior.raw_size], activation,
                           rng, init, self.dtype)
        self.decoder = mlp([self.z_dim, *self.hidden_dims[::-1], self.lik.out_size], activation,
                           rng, init, self.dtype)
        self.params, self.grads = bind_flat([self.encoder, self.decoder], self.dtype)

    # ------------------------------------------------------------------ encoder -> q

    def encode(self, x):
        """x : (N, D) -> q's parameters: (mu, logvar) each (N, k) for a diagonal q,
        or (mu (N, k), L (N, k, k)) for a full covariance."""
        self.check_x(x)
        h, _ = self.encoder.forward(x)
        return tuple(np.array(p) for p in self.posterior.params(h))

    # ------------------------------------------------------------------ decoder -> likelihood

    def decode(self, z):
        """z : (N, k) -> Bernoulli logits (N, D), or the Gaussian mean (N, D)."""
        check_array(z, "z", ndim=2, dtype=self.dtype)
        if z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {z.shape}")
        return self.lik.decode(self.decoder.forward(z)[0])

    def likelihood_forward(self, x, out):
        """log p(x | z) from the decoder's output for z: x (N, D), out (S, N, D_out) -> log_px
        (S, N), cache.  The likelihood node ``self.lik`` (likelihoods.py) computes it."""
        return self.lik.forward(x, out)

    def likelihood_backward(self, dlog_px, cache):
        """dlog_px : (S, N) -> d out : (S, N, D_out)."""
        return self.lik.backward(dlog_px, cache)

    # ------------------------------------------------------------------ the bound

    def forward_backward(self, x, eps, objective="elbo", need_grad=True):
        """One pass over a minibatch with fixed noise (x and eps already checked).

        x : (N, D);  eps : (S, N, k);  objective : a name in objectives.OBJECTIVES ("elbo",
            "iwae", "iwae_stl", "iwae_dreg") or an ``objectives.Objective``
        -> dict with "loss" (float, nats per example incl. weight decay), "bound" (N,),
           and for the ELBO "recon" (N,) = mean_s log p(x|z_s) and "kl" (N,).
        If ``need_grad``, the gradient of "loss" is written into ``self.grads``.
        """
        bound_of = objective if isinstance(objective, O.Objective) else O.get(objective)
        n, s, k = x.shape[0], eps.shape[0], self.z_dim
        # forward: encoder -> q (sample, KL or log q) -> decoder -> likelihood -> bound
        h, enc_cache = self.encoder.forward(x, check=False)
        q, q_cache = self.posterior.forward(h, eps, kl=bound_of.uses_kl, log_q=not bound_of.uses_kl)
        out, dec_cache = self.decoder.forward(q.z.reshape(s * n, k), check=False)
        log_px, px_cache = self.lik.forward(x, out.reshape(s, n, -1))
        log_pz = pz_cache = None
        if not bound_of.uses_kl:
            log_pz, pz_cache = D.log_std_normal_forward(q.z)
        bound, d, parts = bound_of.weights(log_px, log_pz, q.log_q, q.kl, n)
        loss = -float(bound.mean())
        if self.weight_decay:
            loss += 0.5 * self.weight_decay * float(np.dot(self.params, self.params))
        result = dict(parts, loss=loss, bound=bound)
        if not need_grad:
            return result

        # backward, in reverse; d holds d loss / d term for every term the bound uses (else None)
        dout = self.lik.backward(d["log_px"], px_cache).reshape(s * n, -1)
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
        """-> (loss, grad): loss = -mean bound in nats per example (+ weight decay); grad is
        ``self.grads`` (the flat gradient vector, overwritten by the next call).
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

    def log_weights(self, x, eps, block=None):
        """Importance log-weights ``log p(x, z_s) - log q(z_s | x)`` for z_s = g(phi, eps_s): (S, N).

        ``block``: take log p(x | z_s) ``block // (N D_out)`` samples at a time (at least one),
        so the likelihood's temporaries fit a cache (evaluate.LIKELIHOOD_BLOCK); the numbers are
        the same bits (each is a sum over one row).  None: all S at once."""
        self.check_x(x)
        check_array(eps, "eps", ndim=3, dtype=self.dtype)
        s, n = eps.shape[:2]
        h, _ = self.encoder.forward(x, check=False)
        q, _ = self.posterior.forward(h, eps, kl=False, log_q=True)
        out, _ = self.decoder.forward(q.z.reshape(s * n, self.z_dim), check=False)
        out = out.reshape(s, n, -1)
        log_px = np.empty((s, n), self.dtype)
        rows = s if block is None else max(1, block // (n * out.shape[-1]))
        for i in range(0, s, rows):
            log_px[i:i + rows] = self.lik.forward(x, out[i:i + rows])[0]
        return log_px + D.log_std_normal(q.z) - q.log_q

    def iwae_bound(self, x, k, rng, chunk=None):
        """The k-sample importance-weighted bound ``log 1/k sum_s w_s`` per example: (N,) in the
        model's dtype.  It is :func:`numpyvae.evaluate.log_likelihood` (the one implementation),
        with ``chunk`` samples per chunk, so memory does not grow with k."""
        from .evaluate import log_likelihood
        return log_likelihood(self, x, k, rng, chunk=chunk, warn=False).astype(self.dtype)

    # ------------------------------------------------------------------ generation

    def sample(self, n, rng, mean=True):
        """Draw z ~ N(0, I) and decode: (n, D).  ``mean=True`` returns the decoder's mean
        (Bernoulli probabilities or the Gaussian mean); ``mean=False`` draws x ~ p(x|z)."""
        n = check_positive_int(n, "n")
        check_rng(rng)
        return self._emit(rng.standard_normal((n, self.z_dim), dtype=self.dtype), rng, mean)

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
        out, _ = self.decoder.forward(z)
        if mean:
            return self.lik.mean(out)
        check_rng(rng)
        return self.lik.draw(out, rng)

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

    @classmethod
    def from_config(cls, config, rng=None):
        """The model a saved ``config`` describes (older configs completed by
        ``checkpoint.complete_config``); ``rng`` draws the initial weights (default seed 0)."""
        from .checkpoint import complete_config
        return cls(rng=np.random.default_rng(0) if rng is None else rng, **complete_config(config))

    def named_params(self):
        """{"encoder.0.W": view, ...}: every parameter block, as views into ``params``."""
        return {f"{part}.{k}": v for part in ("encoder", "decoder")
                for k, v in getattr(self, part).params.items()}

    def named_grads(self):
        """The gradient blocks as views into ``grads`` (names, shapes, order of named_params)."""
        return {f"{part}.{k}": v for part in ("encoder", "decoder")
                for k, v in getattr(self, part).grads.items()}

    def num_params(self):
        return self.params.size

    def noise_shape(self, x, n_samples=1, **_):
        """Shape of the reparameterization noise for ``x``: (S, N, k)."""
        return (n_samples, x.shape[0], self.z_dim)

    def check_x(self, x, name="x"):
        """Check a minibatch at the public boundary: (N >= 1, D) in the model's dtype, finite,
        with the values the likelihood models (in [0, 1] for a Bernoulli decoder).  Returns x."""
        check_array(x, name, ndim=2, dtype=self.dtype, finite=False)
        if x.shape[1] != self.x_dim:
            raise ValueError(f"{name} must have shape (N, {self.x_dim}), got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one example, got shape {x.shape}")
        return self.lik.check_x(x, name)

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
            raise ValueError(f"eps must hold at least one sample (S >= 1), got shape {eps.shape}")
        return eps

    def __repr__(self):
        return (f"VAE(x_dim={self.x_dim}, hidden_dims={self.hidden_dims}, z_dim={self.z_dim}, "
                f"likelihood={self.likelihood!r}, activation={self.activation!r}, "
                f"covariance={self.covariance!r}, params={self.params.size})")

