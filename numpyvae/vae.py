"""The variational autoencoder: encoder -> reparameterization node -> decoder -> likelihood.

    h            = encoder(x)                               (N, 2k) or (N, k + k(k+1)/2)
    mu, logvar   = split(h)                                 q(z|x) = N(mu, diag exp(logvar))
    z            = mu + exp(logvar/2) * eps,  eps ~ N(0,I)  (S, N, k): S samples per example
    out          = decoder(z)                               logits (Bernoulli) or mean[, logvar]
    ELBO(x)      = 1/S sum_s log p(x | z_s)  -  KL(q(z|x) || N(0, I))    (KL in closed form)
    IWAE_S(x)    = log 1/S sum_s p(x, z_s) / q(z_s | x)                 (log-mean-exp)

The loss is ``-mean_n ELBO(x_n)`` in nats per example (plus the optional weight decay), and
``loss_and_grad`` runs the whole backward pass by hand: likelihood -> decoder -> reparam node
(+ the KL's own gradient) -> encoder.  All parameters live in one flat vector ``params``, the
gradient in ``grads``; the layers' ``params``/``grads`` dicts are views into them.

Weight decay ``lam`` adds ``lam/2 ||theta||^2`` to the loss.  Kingma & Welling put a N(0, I)
prior on all parameters; the per-example objective is then ``mean ELBO + log p(theta) / N_train``,
so ``lam = 1 / N_train`` is exactly that prior (biases included).
"""
from __future__ import annotations

import numpy as np

from . import distributions as D
from . import reparam as R
from ._validate import check_array, check_positive_float, check_positive_int, check_rng
from .functional import sigmoid
from .layers import ACTIVATIONS, bind_flat, mlp

LIKELIHOODS = ("bernoulli", "gaussian")
COVARIANCES = ("diagonal", "full")


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
    gaussian_mean  : Gaussian only: "sigmoid" squashes the mean into (0, 1) as Kingma & Welling
                  do for Frey Face; "identity" leaves it linear
    init        : Dense initialisation ("he", "xavier", "uniform" or a std such as 0.01)
    weight_decay: lam >= 0, see the module docstring
    dtype       : float32 for training, float64 for gradient checks
    """

    def __init__(self, x_dim, hidden_dims, z_dim, likelihood="bernoulli", activation="relu",
                 rng=None, covariance="diagonal", decoder_logvar="learned",
                 gaussian_mean="sigmoid", init="he", weight_decay=0.0, dtype=np.float32):
        x_dim = check_positive_int(x_dim, "x_dim")
        z_dim = check_positive_int(z_dim, "z_dim")
        if isinstance(hidden_dims, (int, np.integer)):
            hidden_dims = [hidden_dims]
        hidden_dims = [check_positive_int(h, "hidden_dims[i]") for h in hidden_dims]
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if activation not in ACTIVATIONS or activation == "identity" and hidden_dims:
            raise ValueError(f"activation must be one of relu, tanh, sigmoid, softplus, got {activation!r}")
        if covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
        if not (decoder_logvar == "learned" or isinstance(decoder_logvar, (int, float))
                and not isinstance(decoder_logvar, bool) and np.isfinite(decoder_logvar)):
            raise ValueError(f"decoder_logvar must be 'learned' or a finite float, got {decoder_logvar!r}")
        if gaussian_mean not in ("sigmoid", "identity"):
            raise ValueError(f"gaussian_mean must be 'sigmoid' or 'identity', got {gaussian_mean!r}")
        weight_decay = check_positive_float(weight_decay, "weight_decay", allow_zero=True)
        check_rng(rng)
        self.x_dim, self.z_dim, self.hidden_dims = x_dim, z_dim, list(hidden_dims)
        self.likelihood, self.activation, self.covariance = likelihood, activation, covariance
        self.decoder_logvar = decoder_logvar if decoder_logvar == "learned" else float(decoder_logvar)
        self.gaussian_mean, self.init = gaussian_mean, init
        self.weight_decay = float(weight_decay)
        self.dtype = np.dtype(dtype)

        k = z_dim
        enc_out = 2 * k if covariance == "diagonal" else k + R.tril_size(k)
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
                "weight_decay": self.weight_decay, "dtype": self.dtype.name}

    def named_params(self):
        """{"encoder.0.W": view, ...}: every parameter block, as views into ``params``."""
        out = {f"encoder.{k}": v for k, v in self.encoder.params.items()}
        out.update({f"decoder.{k}": v for k, v in self.decoder.params.items()})
        return out

    def num_params(self):
        return self.params.size

    def noise_shape(self, x, n_samples=1, **_):
        """Shape of the reparameterization noise for ``x``: (S, N, k)."""
        return (n_samples, x.shape[0], self.z_dim)

    def _check_x(self, x, name="x"):
        check_array(x, name, ndim=2, dtype=self.dtype)
        if x.shape[1] != self.x_dim:
            raise ValueError(f"{name} must have shape (N, {self.x_dim}), got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one example, got shape {x.shape}")
        if self.likelihood == "bernoulli" and (np.any(x < 0) or np.any(x > 1)):
            raise ValueError(f"{name} must lie in [0, 1] for a Bernoulli decoder")
        return x

    def _noise(self, x, rng, eps, n_samples):
        if eps is None:
            check_rng(rng)
            n_samples = check_positive_int(n_samples, "n_samples")
            return rng.standard_normal(self.noise_shape(x, n_samples), dtype=self.dtype)
        check_array(eps, "eps", ndim=3, dtype=self.dtype)
        if eps.shape[1:] != (x.shape[0], self.z_dim):
            raise ValueError(f"eps must have shape (S, {x.shape[0]}, {self.z_dim}), got {eps.shape}")
        return eps

    # ------------------------------------------------------------------ encoder side

    def encode(self, x):
        """x : (N, D) -> (mu, logvar) each (N, k) for a diagonal q, or (mu, L) with L (N, k, k)."""
        self._check_x(x)
        h, _ = self.encoder.forward(x)
        mu, scale, _ = self._posterior(h)
        return mu.copy(), scale.copy() if self.covariance == "diagonal" else scale

    def _posterior(self, h):
        """Split the encoder output; returns (mu, scale, cache) where scale is logvar or L."""
        k = self.z_dim
        mu = h[:, :k]
        if self.covariance == "diagonal":
            return mu, h[:, k:], None
        L, tcache = R.tril_from_raw(h[:, k:], k)
        return mu, L, tcache

    # The hot path below calls the unchecked kernels (R._gaussian_forward, D._bernoulli_ll, ...)
    # because the minibatch was checked once on entry; the maths is the public functions'.

    def _reparam(self, mu, scale, eps):
        if self.covariance == "diagonal":
            return R._gaussian_forward(mu, scale, eps)
        return R._full_cov_forward(mu, scale, eps)

    def _kl(self, mu, scale):
        if self.covariance == "diagonal":
            return D.kl_std_normal_per_dim(mu, scale).sum(axis=-1)
        return D._kl_full(mu, scale, np.diagonal(scale, axis1=1, axis2=2))

    def _log_q(self, h, eps):
        """log q(z_s | x) with z_s = g(phi, eps_s), as a function of (phi, eps): (S, N)."""
        k = self.z_dim
        r = D.log_std_normal(eps)  # -1/2 sum (log 2pi + eps^2)
        if self.covariance == "diagonal":
            r -= 0.5 * h[:, k:].sum(axis=1)          # - 1/2 sum_j logvar_j
        else:
            r -= h[:, k:2 * k].sum(axis=1)            # - sum_i log L_ii = - sum_i raw_i
        return r

    # ------------------------------------------------------------------ decoder side

    def decode(self, z):
        """z : (N, k) -> Bernoulli logits (N, D), or the Gaussian mean (N, D)."""
        check_array(z, "z", ndim=2, dtype=self.dtype)
        if z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {z.shape}")
        out, _ = self.decoder.forward(z)
        return self._decoded(out)

    def _decoded(self, out):
        """Decoder output (N, D_out) -> Bernoulli logits, or the Gaussian mean (N, D)."""
        if self.likelihood == "bernoulli":
            return out
        mean = out[:, :self.x_dim]
        return sigmoid(mean) if self.gaussian_mean == "sigmoid" else mean.copy()

    def _log_px(self, x, out):
        """log p(x | z) for decoder outputs ``out`` (S, N, D_out) -> (S, N), and a closure that
        maps d log p (S, N) to d out (S, N, D_out)."""
        if self.likelihood == "bernoulli":
            lp = D._bernoulli_ll(x, out)
            return lp, lambda dlp: D._bernoulli_ll_grad(x, out, dlp[..., None])
        d = self.x_dim
        raw = out[..., :d]
        mean = sigmoid(raw) if self.gaussian_mean == "sigmoid" else raw
        logvar = out[..., d:] if self.decoder_logvar == "learned" else self.decoder_logvar
        lp = D._gaussian_ll(x, mean, logvar)

        def back(dlp):
            dmean, dlogvar = D._gaussian_ll_grad(x, mean, logvar, dlp[..., None])
            if self.gaussian_mean == "sigmoid":
                dmean *= mean * (1 - mean)
            if dlogvar is None:
                return dmean
            return np.concatenate([dmean, dlogvar], axis=-1)
        return lp, back

    # ------------------------------------------------------------------ the objective

    def forward_backward(self, x, eps, objective="elbo", need_grad=True):
        """One pass over a minibatch with fixed noise.

        x : (N, D);  eps : (S, N, k);  objective : "elbo" (closed-form KL) or "iwae"
        -> dict with "loss" (float, nats per example incl. weight decay), "bound" (N,),
           and for the ELBO "recon" (N,) = mean_s log p(x|z_s) and "kl" (N,).
        If ``need_grad``, the gradient of "loss" is written into ``self.grads``.
        """
        n, s = x.shape[0], eps.shape[0]
        h, enc_cache = self.encoder.forward(x, check=False)
        mu, scale, tcache = self._posterior(h)
        z, rcache = self._reparam(mu, scale, eps)
        out, dec_cache = self.decoder.forward(z.reshape(s * n, self.z_dim), check=False)
        out = out.reshape(s, n, -1)
        log_px, log_px_back = self._log_px(x, out)
        result = {}
        if objective == "elbo":
            kl = self._kl(mu, scale)
            recon = log_px.mean(axis=0)
            bound = recon - kl
            result.update(recon=recon, kl=kl)
            dlog_px = np.full((s, n), -1.0 / (s * n), dtype=self.dtype)
        elif objective == "iwae":
            log_w = log_px + D.log_std_normal(z) - self._log_q(h, eps)
            m = log_w.max(axis=0)
            w = np.exp(log_w - m)
            total = w.sum(axis=0)
            bound = m + np.log(total) - float(np.log(s))
            w /= total                         # normalised importance weights, (S, N)
            dlog_px = w * (-1.0 / n)           # d loss / d log w_s
        else:
            raise ValueError(f"objective must be 'elbo' or 'iwae', got {objective!r}")
        loss = -float(bound.mean())
        if self.weight_decay:
            loss += 0.5 * self.weight_decay * float(np.dot(self.params, self.params))
        result.update(loss=loss, bound=bound)
        if not need_grad:
            return result

        dout = log_px_back(dlog_px).reshape(s * n, -1)
        dz = self.decoder.backward(dout, dec_cache).reshape(s, n, self.z_dim)
        if objective == "iwae":
            dz -= dlog_px[..., None] * z       # log p(z) = -1/2 |z|^2 + const
        dh = np.empty_like(h)
        k = self.z_dim
        if self.covariance == "diagonal":
            dmu, dlogvar = R.gaussian_backward(dz, rcache)
            if objective == "elbo":
                gmu, glv = D._kl_std_normal_grad(mu, scale)
                dmu += gmu * (1.0 / n)
                dlogvar += glv * (1.0 / n)
            else:                              # - log q contributes +1/2 per logvar_j
                dlogvar += 0.5 * dlog_px.sum(axis=0)[:, None]
            dh[:, :k], dh[:, k:] = dmu, dlogvar
        else:
            dmu, dL = R.full_cov_backward(dz, rcache)
            if objective == "elbo":
                gmu, gL = D._kl_full_grad(mu, scale, np.diagonal(scale, axis1=1, axis2=2))
                dmu += gmu * (1.0 / n)
                dL += gL * (1.0 / n)
            draw = R.tril_from_raw_backward(dL, tcache)
            if objective == "iwae":                # - log q contributes +1 per raw diagonal
                draw[:, :k] += dlog_px.sum(axis=0)[:, None]
            dh[:, :k], dh[:, k:] = dmu, draw
        self.encoder.backward(dh, enc_cache, need_dx=False)
        if self.weight_decay:
            self.grads += self.weight_decay * self.params
        return result

    def loss_and_grad(self, x, rng=None, n_samples=1, eps=None, objective="elbo"):
        """-> (loss, grad): loss = -mean ELBO (or IWAE bound) in nats per example (+ weight decay);
        grad is ``self.grads`` (the flat gradient vector, overwritten by the next call).
        Give ``rng`` to draw ``n_samples`` noise samples, or ``eps`` (S, N, k) to fix the noise."""
        self._check_x(x)
        eps = self._noise(x, rng, eps, n_samples)
        return self.forward_backward(x, eps, objective)["loss"], self.grads

    def loss(self, x, rng=None, n_samples=1, eps=None, objective="elbo"):
        """The loss alone (no backward pass)."""
        self._check_x(x)
        eps = self._noise(x, rng, eps, n_samples)
        return self.forward_backward(x, eps, objective, need_grad=False)["loss"]

    def elbo(self, x, rng, n_samples=1, eps=None):
        """Per-example ELBO with ``n_samples`` reconstruction samples: (N,) nats."""
        self._check_x(x)
        eps = self._noise(x, rng, eps, n_samples)
        return self.forward_backward(x, eps, "elbo", need_grad=False)["bound"]

    def elbo_parts(self, x, rng, n_samples=1):
        """-> (elbo, recon, kl), each (N,): ELBO = recon - KL."""
        self._check_x(x)
        eps = self._noise(x, rng, None, n_samples)
        r = self.forward_backward(x, eps, "elbo", need_grad=False)
        return r["bound"], r["recon"], r["kl"]

    def log_weights(self, x, eps):
        """Importance log-weights ``log p(x, z_s) - log q(z_s | x)`` for z_s = g(phi, eps_s): (S, N)."""
        h, _ = self.encoder.forward(x)
        mu, scale, _ = self._posterior(h)
        z, _ = self._reparam(mu, scale, eps)
        s, n = eps.shape[:2]
        out, _ = self.decoder.forward(z.reshape(s * n, self.z_dim))
        log_px, _ = self._log_px(x, out.reshape(s, n, -1))
        return log_px + D.log_std_normal(z) - self._log_q(h, eps)

    def iwae_bound(self, x, k, rng, chunk=None):
        """The k-sample importance-weighted bound ``log 1/k sum_s w_s`` per example: (N,).

        Samples are drawn ``chunk`` at a time (default: so that one chunk holds ~4M outputs)
        and combined with a running log-sum-exp, so memory does not grow with k.
        """
        self._check_x(x)
        k = check_positive_int(k, "k")
        check_rng(rng)
        n = x.shape[0]
        if chunk is None:
            chunk = max(1, min(k, 4_000_000 // max(1, n * self.x_dim)))
        running_max = np.full(n, -np.inf, self.dtype)
        running_sum = np.zeros(n, self.dtype)
        done = 0
        while done < k:
            s = min(chunk, k - done)
            eps = rng.standard_normal((s, n, self.z_dim), dtype=self.dtype)
            lw = self.log_weights(x, eps)
            new_max = np.maximum(running_max, lw.max(axis=0))
            running_sum *= np.exp(running_max - new_max)
            running_sum += np.exp(lw - new_max).sum(axis=0)
            running_max = new_max
            done += s
        return running_max + np.log(running_sum) - float(np.log(k))

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
        mu, scale = self.encode(x)
        if rng is None:
            z = mu
        else:
            check_rng(rng)
            eps = rng.standard_normal(mu.shape, dtype=self.dtype)
            z, _ = self._reparam(mu, scale, eps)
        return self._emit(z, rng, mean)

    def _emit(self, z, rng, mean):
        full, _ = self.decoder.forward(z)          # one decoder pass for the mean and logvar
        probs = self._decoded(full)
        if self.likelihood == "bernoulli":
            probs = sigmoid(probs)
        if mean:
            return probs
        check_rng(rng)
        if self.likelihood == "bernoulli":
            return (rng.random(probs.shape, dtype=self.dtype) < probs).astype(self.dtype)
        logvar = full[:, self.x_dim:] if self.decoder_logvar == "learned" else self.decoder_logvar
        std = np.exp(0.5 * np.asarray(logvar, self.dtype))
        return probs + std * rng.standard_normal(probs.shape, dtype=self.dtype)

    def __repr__(self):
        return (f"VAE(x_dim={self.x_dim}, hidden_dims={self.hidden_dims}, z_dim={self.z_dim}, "
                f"likelihood={self.likelihood!r}, activation={self.activation!r}, "
                f"covariance={self.covariance!r}, params={self.params.size})")
