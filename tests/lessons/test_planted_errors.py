"""Every lesson check that guards a lecture claim can fail: a plausible planted error turns it ✗.

Each entry of PLANTS applies one mistake a student or a maintainer could make -- in the library
(a function replaced with monkeypatch) or in the lesson's own text (changed in memory, never on
disk) -- runs the lesson with --quick on the shapes data until the checks it names have been
recorded (see planted.py), and asserts that every one of them failed.  A control run of each
lesson, without any planted error and stopped at the same place, shows that the same checks pass
on the same data, so a ✗ is the planted error's doing.

lessons/README.md's claim map names, beside each check, the planted error (its id here) that
proves it can fail; test_claim_map_names_a_planted_error_for_every_check keeps the two in step.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
from lesson_runs import LESSONS
from planted import pattern_rx, run_until
from scipy.special import logsumexp, xlogy

import numpyvae as nv
from numpyvae import autoencoders as ae
from numpyvae import distributions as dist
from numpyvae import estimators as est
from numpyvae import evaluate, gmm, optim
from numpyvae import reparam as R
from numpyvae import trigram as tg
from numpyvae.estimators import exact as ref


@dataclass
class Plant:
    id: str
    lesson: int
    targets: tuple          # check-name patterns ("*": any text) that must turn ✗
    what: str               # the planted error, in words
    patch: Callable | None = None            # patch(monkeypatch): changes to the library
    replace: tuple = field(default=())       # ((old, new), ...): changes to the lesson's text


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


# ------------------------------------------------------------------------ library changes

def kl_one_term(mp):
    mp.setattr(ae, "kl_bernoulli", lambda rho, rh: rho * np.log(rho / rh))
    mp.setattr(ae, "kl_bernoulli_grad", lambda rho, rh: -rho / rh)


def kl_reversed(mp):
    mp.setattr(ae, "kl_bernoulli",
               lambda rho, rh: rh * np.log(rh / rho) + (1 - rh) * np.log((1 - rh) / (1 - rho)))
    mp.setattr(ae, "kl_bernoulli_grad",
               lambda rho, rh: np.log(rh / rho) - np.log((1 - rh) / (1 - rho)))


def decay_on_biases(mp):
    orig = ae.Autoencoder.forward_backward

    def fb(self, x, x_in, need_grad=True):
        out = orig(self, x, x_in, need_grad)
        if need_grad and self.weight_decay:
            self.encoder.grads["b"] += self.weight_decay * self.encoder.params["b"]
            self.decoder.grads["b"] += self.weight_decay * self.decoder.params["b"]
        return out
    mp.setattr(ae.Autoencoder, "forward_backward", fb)


def tied_encoder_term_only(mp):
    orig = ae.Autoencoder.forward_backward

    def fb(self, x, x_in, need_grad=True):
        out = orig(self, x, x_in, need_grad)
        if need_grad and self.tied:
            h = out["h"]
            o = h @ self.V + self.decoder.params["b"]
            xhat = sigmoid(o) if self.output == "bernoulli" else o
            self.encoder.grads["W"] -= ((xhat - x) / x.shape[0]).T @ h   # drop the decoder's use
        return out
    mp.setattr(ae.Autoencoder, "forward_backward", fb)


def denoising_backward_on_clean_input(mp):
    orig = ae.Autoencoder.forward_backward

    def fb(self, x, x_in, need_grad=True):
        out = orig(self, x, x_in, False)
        if need_grad:
            orig(self, x, x, True)          # the gradient as if the encoder had seen x, not m * x
        return out
    mp.setattr(ae.DenoisingAutoencoder, "forward_backward", fb)


def denoising_target_corrupted(mp):
    orig = ae.Autoencoder.forward_backward
    mp.setattr(ae.DenoisingAutoencoder, "forward_backward",
               lambda self, x, x_in, need_grad=True: orig(self, x_in, x_in, need_grad))


def contractive_s_not_squared(mp):
    orig = ae.contractive_penalty

    def pen(h, W, lam):
        _, da, dW = orig(h, W, lam)
        s = h * (1 - h)
        return lam * float((s @ np.einsum("ij,ij->j", W, W)).sum()) / h.shape[0], da, dW
    mp.setattr(ae, "contractive_penalty", pen)


def contractive_no_direct_part(mp):
    orig = ae.contractive_penalty

    def pen(h, W, lam):
        value, da, dW = orig(h, W, lam)
        return value, da, np.zeros_like(dW)
    mp.setattr(ae, "contractive_penalty", pen)


def argmax_ignored(mp):
    orig = tg.generate
    mp.setattr(tg, "generate",
               lambda model, rng, method="sample", max_len=30: orig(model, rng, "sample", max_len))


def bigram_sampler(mp):
    bigram = {}
    for (_, v), c in tg.fit_trigram(tg.REVIEWS).counts.items():
        bigram.setdefault(v, Counter()).update(c)

    def generate(model, rng, method="sample", max_len=30):
        v, out = tg.BOS, []
        for _ in range(max_len):
            c = bigram[v]                                  # p(w | v): the u of p(w | u, v) dropped
            words = sorted(c)
            freq = np.array([c[w] for w in words], dtype=np.float64)
            w = words[int(rng.choice(len(words), p=freq / freq.sum()))]
            if w == tg.EOS:
                break
            out.append(w)
            v = w
        return tg.detokenize(out)
    mp.setattr(tg, "generate", generate)


def gmm_log_px_as_max(mp):
    mp.setattr(gmm, "log_likelihood", lambda x, params: gmm.log_joint(x, params).max(axis=1))


def gmm_elbo_without_entropy(mp):
    orig = gmm.elbo
    mp.setattr(gmm, "elbo", lambda x, q, params: orig(x, q, params) + xlogy(q, q).sum(axis=1))


def gmm_entropy_sign(mp):
    def f(lj, q):
        expected = np.where(q > 0, q * np.where(q > 0, lj, 0.0), 0.0).sum(axis=1)
        return expected + xlogy(q, q).sum(axis=1)          # − entropy instead of + entropy
    mp.setattr(gmm, "_elbo_from_log_joint", f)


def gmm_covariance_without_responsibilities(mp):
    orig = gmm.m_step

    def m_step(x, q, reg=gmm.DEFAULT_REG):
        p = orig(x, q, reg)
        covs = np.array([(x - m).T @ (x - m) / len(x) + reg * np.eye(x.shape[1])
                         for m in p.means])
        return gmm.GMMParams(p.weights, p.means, covs)
    mp.setattr(gmm, "m_step", m_step)


def isotropic_sign(mp):
    def resp(x, means, sigma):
        d2 = ((x[:, None, :] - np.asarray(means)[None]) ** 2).sum(axis=-1)
        logits = d2 / (2.0 * sigma ** 2)                   # − forgotten: the farthest mean wins
        return np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    mp.setattr(gmm, "isotropic_responsibilities", resp)


def kl_full_cov_logdet_without_2(mp):
    orig = dist.kl_full_cov_std_normal

    def kl(mu, L):
        half = np.sum(np.log(np.abs(np.diagonal(L, axis1=-2, axis2=-1))), axis=-1)
        return orig(mu, L) + 0.5 * half                    # −½ Σ log L_ii instead of −Σ log L_ii
    mp.setattr(dist, "kl_full_cov_std_normal", kl)


def quadrature_without_sqrt2(mp):
    orig = ref.expect_std_normal
    mp.setattr(ref, "expect_std_normal", lambda h, **kw: orig(lambda e: h(e / math.sqrt(2)), **kw))


def score_moments_uncentred(mp):
    def moments(f, mu, sigma, *, baseline=None, **_):
        b = 0.0 if baseline is None else float(baseline)
        term = lambda e: (f(mu + sigma * e) - b) * (mu + sigma * e) / sigma ** 2  # noqa: E731
        mean = ref.expect_std_normal(term)
        return SimpleNamespace(mean=mean, var=ref.expect_std_normal(lambda e: (term(e) - mean) ** 2))
    mp.setattr(ref, "score_function_moments", moments)


def pathwise_moments_wrt_sigma(mp):
    orig = ref.pathwise_moments
    mp.setattr(ref, "pathwise_moments",
               lambda df, mu, sigma, **kw: orig(df, mu, sigma, **dict(kw, wrt="sigma")))


def score_terms_uncentred(mp):
    def sf(f, mu, sigma, eps=None, *, return_terms=False, **_):
        z = mu + sigma * eps
        terms = f(z.copy()) * z / sigma ** 2               # the score z/σ² instead of (z − μ)/σ²
        return (terms.mean(axis=-1), terms) if return_terms else terms.mean(axis=-1)
    mp.setattr(est, "score_function", sf)


def pathwise_terms_times_eps(mp):
    def pw(df, mu, sigma, eps=None, *, return_terms=False, **_):
        terms = df(mu + sigma * eps) * eps                 # ∂z/∂σ = ε used for ∂z/∂μ = 1
        return (terms.mean(axis=-1), terms) if return_terms else terms.mean(axis=-1)
    mp.setattr(est, "pathwise", pw)


def encoder_score_uncentred(mp):
    from numpyvae import posterior
    orig = posterior.DiagonalGaussian.score

    def score(self, h, eps, w):
        dh = orig(self, h, eps, w)
        dh[:, self.k:] += 0.5 * w.sum(axis=0)[:, None]     # ½ε² for ½(ε² − 1): mean ≠ 0
        return dh
    mp.setattr(posterior.DiagonalGaussian, "score", score)


def classroom_sums(mp):
    orig = est.classroom_experiment

    def experiment(*a, **kw):
        table = orig(*a, **kw)
        for r in table:                                    # Σ of N terms instead of their mean
            r["mean"] = r["mean"] * r["N"]
            r["var"] = r["var"] * r["N"] ** 2
        return table
    mp.setattr(est, "classroom_experiment", experiment)


def reparam_fresh_noise(mp):
    orig = R.gaussian_forward
    mp.setattr(R, "gaussian_forward", lambda mu, logvar, eps: orig(
        mu, logvar, np.random.standard_normal(np.shape(eps)).astype(np.asarray(eps).dtype)))


def reparam_dmu_averaged(mp):
    orig = R.gaussian_backward

    def back(dz, cache):
        dmu, dlv = orig(dz, cache)
        return dmu / dz.shape[0], dlv                      # mean over samples instead of sum
    mp.setattr(R, "gaussian_backward", back)


def reparam_dlogvar_without_half(mp):
    orig = R.gaussian_backward

    def back(dz, cache):
        dmu, dlv = orig(dz, cache)
        return dmu, 2 * dlv
    mp.setattr(R, "gaussian_backward", back)


def full_cov_transposed(mp):
    orig = R.full_cov_forward

    def fwd(mu, L, eps):                                   # z = μ + Lᵀε, through the real node:
        lt_eps = np.einsum("nji,snj->sni", L, eps)         # feed it ε' = L⁻¹ Lᵀ ε
        return orig(mu, L, np.linalg.solve(L[None], lt_eps[..., None])[..., 0])
    mp.setattr(R, "full_cov_forward", fwd)


def full_cov_dL_transposed(mp):
    orig = R.full_cov_backward

    def back(dz, cache):
        dmu, dL = orig(dz, cache)
        return dmu, np.swapaxes(dL, -1, -2)                # ε dzᵀ instead of dz εᵀ
    mp.setattr(R, "full_cov_backward", back)


def gaussian_loglik_without_half(mp):
    orig = dist.gaussian_log_likelihood_forward

    def fwd(x, mean, logvar=0.0):
        ll, cache = orig(x, mean, logvar)
        extra = 0.5 * np.sum((x - mean) ** 2 * np.exp(-np.asarray(logvar, dtype=ll.dtype)), axis=-1)
        return ll - extra.astype(ll.dtype), cache          # −‖x − f‖² instead of −½‖x − f‖²
    mp.setattr(dist, "gaussian_log_likelihood_forward", fwd)


def loss_summed_over_batch(mp):
    orig = nv.VAE.loss
    mp.setattr(nv.VAE, "loss", lambda self, x, *a, **kw: orig(self, x, *a, **kw) * len(x))


def adam_ascends(mp):
    orig = optim.Adam.step

    def ascend(self, params, grad):
        try:
            orig(self, params, -grad)
        except ValueError as err:      # the ascent's gradient would overflow Adam's V: the
            if "non-finite" not in str(err):   # optimizer refuses that step (issue 26) and
                raise                          # the lesson goes on climbing with the next
    mp.setattr(optim.Adam, "step", ascend)


def adam_does_nothing(mp):
    mp.setattr(optim.Adam, "step", lambda self, params, grad: None)


def kl_dropped(mp):
    fwd, back = dist.kl_std_normal_forward, dist.kl_std_normal_backward

    def kl_forward(mu, logvar):
        kl, cache = fwd(mu, logvar)
        return np.zeros_like(kl), cache

    def kl_backward(dkl, cache):
        gmu, glv = back(dkl, cache)
        return np.zeros_like(gmu), np.zeros_like(glv)
    mp.setattr(dist, "kl_std_normal_forward", kl_forward)
    mp.setattr(dist, "kl_std_normal_backward", kl_backward)


def sample_noise_std_as_var(mp):
    orig = nv.VAE._emit

    def emit(self, z, rng, mean):
        out = orig(self, z, rng, mean)
        if mean or self.likelihood != "gaussian" or self.decoder_logvar == "learned":
            return out
        f = orig(self, z, None, True)
        return f + (out - f) * np.exp(0.5 * self.decoder_logvar)   # noise std σ² instead of σ
    mp.setattr(nv.VAE, "_emit", emit)


def is_without_logsumexp(mp):
    def log_likelihood(model, x, k=5000, rng=None, **_):      # the mean log-weight: an ELBO
        e = rng.standard_normal((min(k, 2000), len(x), model.z_dim)).astype(model.dtype)
        return model.log_weights(x, e).astype(np.float64).mean(axis=0)
    mp.setattr(evaluate, "log_likelihood", log_likelihood)


# ------------------------------------------------------------------------------ the plants

PLANTS = [
    # lesson 01
    Plant("ce-is-squared-error", 1, ("d(cross-entropy)/do: central differences vs sigmoid(o) - x",),
          "the cross-entropy written as ½(x − sigmoid(o))² (the mismatched pair)",
          replace=(("    return float(np.sum(np.logaddexp(0, o_) - xs * o_))",
                    "    return float(0.5 * np.sum((xs - 1 / (1 + np.exp(-o_))) ** 2))"),)),
    Plant("se-without-half", 1, ("d(squared error)/do: central differences vs o - x",),
          "the squared error without its ½",
          replace=(("    return float(0.5 * np.sum((xs - o_) ** 2))",
                    "    return float(np.sum((xs - o_) ** 2))"),)),
    Plant("ce-logit-sign", 1, ("target 0.3: minimum cross-entropy vs H(0.3) = entr(0.3) + entr(0.7)",),
          "softplus(−o) for softplus(o) in the cross-entropy",
          replace=(("ce_grid = np.logaddexp(0, grid) - 0.3 * grid",
                    "ce_grid = np.logaddexp(0, -grid) - 0.3 * grid"),)),
    Plant("pca-not-centred", 1, ("largest principal angle, AE decoder vs top-* PCA subspace (degrees)",
                                 "AE loss vs PCA's optimal error ½ Σ_{i>k} λ_i"),
          "PCA on the raw images, not centred",
          replace=(("xc = (x - x.mean(axis=0)).astype(np.float64)", "xc = x.astype(np.float64)"),)),
    Plant("overcomplete-decayed", 1, ("overcomplete: relative error on random inputs (it copies)",),
          "the comparison's autoencoders trained with weight decay 1.0",
          replace=(('    m = ae.Autoencoder(D_SMALL, H, output="gaussian", activation="identity", '
                    'rng=rng)',
                    '    m = ae.Autoencoder(D_SMALL, H, output="gaussian", activation="identity", '
                    'rng=rng, weight_decay=1.0)'),)),
    Plant("tested-on-the-data", 1, ("undercomplete: random inputs are NOT reproduced (error > 0.5)",),
          "the 'random' inputs taken from the training data",
          replace=(("random_inputs = (3 * r3.standard_normal((500, D_SMALL))).astype(np.float32)",
                    "random_inputs = x_lr[:500]"),)),
    Plant("decay-on-biases", 1, ("gradient with decay − without vs λ·W, λ·V and 0 for the biases",),
          "weight decay applied to the biases too", patch=decay_on_biases),
    Plant("tied-one-use", 1, ("tied dW vs untied dW + dVᵀ (the two uses summed)",),
          "the tied gradient keeps only the encoder's use of W", patch=tied_encoder_term_only),
    Plant("dae-backward-clean", 1,
          ("denoising AE (mask held fixed): worst relative error of the gradient",),
          "the denoising backward pass through the clean x instead of m ⊙ x",
          patch=denoising_backward_on_clean_input),
    Plant("dae-target-corrupted", 1,
          ("the denoising AE restores corrupted test images better than the plain AE",),
          "the denoising loss measured against the corrupted input", patch=denoising_target_corrupted),
    Plant("kl-one-term", 1, ("argmin of KL(0.05 ‖ ρ̂) on a grid of 100001 points vs ρ",
                             "dKL/dρ̂ at ρ̂ = ρ (vs 0)", "KL(ρ ‖ ρ̂) at ρ̂ = 0.2: *"),
          "the sparsity KL without its (1 − ρ) term (value and gradient)", patch=kl_one_term),
    Plant("kl-reversed", 1, ("KL(ρ ‖ ρ̂) at ρ̂ = 0.2: *", "d²KL/dρ̂² at ρ̂ = 0.2: *"),
          "the sparsity penalty reversed to KL(ρ̂ ‖ ρ) (value and gradient)", patch=kl_reversed),
    Plant("contractive-s-not-squared", 1, ("mean ‖J‖²_F: explicit Jacobian vs Σ_j s_j² Σ_i W_ij²",),
          "‖J‖²_F computed with s_j for s_j²", patch=contractive_s_not_squared),
    Plant("contractive-no-direct-dW", 1,
          ("contractive AE: worst relative error of the hand-written gradient",),
          "the direct part 2 W s² of the contractive gradient dropped",
          patch=contractive_no_direct_part),
    # lesson 02
    Plant("argmax-samples", 2, ("argmax decoding gives one identical review in 20 draws",),
          "method='argmax' ignored: every draw sampled", patch=argmax_ignored),
    Plant("bigram-sampler", 2, ("frequency of * among the samples vs its p(s) (±4 s.e.)",
                                 "fraction of samples that copy a training review *"),
          "the sampler conditions on the last word only: p(w | v) for p(w | u, v)",
          patch=bigram_sampler),
    # lesson 03
    Plant("gmm-log-px-max", 3, ("mean log p(x), Cholesky + logsumexp vs scipy.stats",
                                "F(q) ≤ log p(x) for every point"),
          "log p(x) as max_k log p(x, k) instead of logsumexp", patch=gmm_log_px_as_max),
    Plant("gmm-elbo-no-entropy", 3,
          ("mean of log p(x) − F(q) vs mean KL(q ‖ p(z|x)), random q",),
          "the ELBO F(q) without its entropy term", patch=gmm_elbo_without_entropy),
    Plant("gmm-entropy-sign", 3, ("ELBO gap after E-step (max over iterations and runs)",),
          "the entropy subtracted instead of added in EM's ELBO", patch=gmm_entropy_sign),
    Plant("gmm-cov-unweighted", 3, ("ELBO never decreases over the half-steps (all runs)",),
          "the M-step covariance without the responsibilities",
          patch=gmm_covariance_without_responsibilities),
    Plant("kmeans-sign", 3, ("σ = 0.01: fraction of points where EM and k-means agree",
                             "σ = 0.01: max |EM means − k-means centres|"),
          "isotropic responsibilities with +‖x − μ‖² (the farthest mean wins)",
          patch=isotropic_sign),
    # lesson 04
    Plant("jensen-gamma-shape", 4,
          ("Jensen gap log E[X] − E[log X], Monte Carlo vs log a − ψ(a) (±4 s.e.)",),
          "X drawn from Gamma(a + 1) for Gamma(a)",
          replace=(("X = rng.gamma(a, 1.0, size=N_MC)", "X = rng.gamma(a + 1, 1.0, size=N_MC)"),)),
    Plant("jensen-uniform-y", 4, ("Jensen gap for X = exp(sY), s = 0.5: Monte Carlo vs s²/2",),
          "Y drawn uniform on (0, 1) instead of N(0, 1)",
          replace=(("Y = rng.standard_normal(N_MC)", "Y = rng.random(N_MC)"),)),
    Plant("posterior-without-sigma2", 4, ("step 3: ELBO + KL(q‖p(z|x)) vs log p(x)",
                                          "q = exact posterior: ELBO vs log p(x) (the bound is tight)"),
          "the posterior covariance (I + WᵀW)⁻¹ without 1/σ²",
          replace=(("S_post = np.linalg.inv(np.eye(K_LAT) + W.T @ W / SIGMA ** 2)",
                    "S_post = np.linalg.inv(np.eye(K_LAT) + W.T @ W)"),)),
    Plant("expected-loglik-no-trace", 4,
          ("ELBO identity: log p(x) − KL(q‖p(z|x)) vs E_q log p(x|z) − KL(q‖p(z))",),
          "E_q log p(x|z) without the tr(W S' Wᵀ) term",
          replace=(("- (r @ r + np.trace(W @ S_q @ W.T)) / (2 * SIGMA ** 2))",
                    "- (r @ r) / (2 * SIGMA ** 2))"),)),
    Plant("mean-field-forward-kl", 4, ("optimal mean-field variances vs 1 − ρ² = *",),
          "the mean-field fit minimises KL(p ‖ q) instead of KL(q ‖ p)",
          replace=(("            return kl_gauss(mu, S, np.zeros(2), Sigma)",
                    "            return kl_gauss(np.zeros(2), Sigma, mu, S)"),)),
    Plant("kl-gauss-no-target-logdet", 4,
          ("mean-field minimal KL(q‖p), ρ = 0.9: optimiser vs −½ log(1 − ρ²)",),
          "the Gaussian KL without log det of its second argument",
          replace=(("np.linalg.slogdet(S1)[1] - np.linalg.slogdet(S0)[1])",
                    "- np.linalg.slogdet(S0)[1])"),)),
    # lesson 05
    Plant("e-log-q-without-k", 5,
          ("E_q[log q] − E_q[log p] vs ½(tr Σ + μᵀμ − k − log det Σ)",),
          "E_q[log q] without the k from E[(z − μ)ᵀΣ⁻¹(z − μ)]",
          replace=(("e_log_q = -0.5 * (K * LOG_2PI + logdet + K)",
                    "e_log_q = -0.5 * (K * LOG_2PI + logdet)"),)),
    Plant("kl-closed-logdet-without-2", 5,
          ("KL(q ‖ p) = E_q[log q − log p]: Monte Carlo vs closed form (±4 s.e.)",),
          "the closed form with Σ log L_ii for log det Σ (its 2 missing)",
          replace=(("kl_closed = 0.5 * (np.trace(Sigma) + mu @ mu - K - logdet)",
                    "kl_closed = 0.5 * (np.trace(Sigma) + mu @ mu - K - np.log(np.diag(L)).sum())"),)),
    Plant("library-kl-logdet-without-2", 5,
          ("numpyvae.distributions.kl_full_cov_std_normal vs the derivation",),
          "the library's full-covariance KL with its log-determinant missing the 2",
          patch=kl_full_cov_logdet_without_2),
    # lesson 06
    Plant("quadrature-without-sqrt2", 6, ("E[z²] by quadrature vs θ² + σ²",),
          "the quadrature's ε scaled by 1/√2 (the Gauss-Hermite slip)", patch=quadrature_without_sqrt2),
    Plant("central-difference-over-h", 6,
          ("d/dθ E[z²] by central differences of the quadrature vs 2θ",),
          "the central difference divided by h instead of 2h",
          replace=(("(E_f(THETA + h) - E_f(THETA - h)) / (2 * h)",
                    "(E_f(THETA + h) - E_f(THETA - h)) / h"),)),
    Plant("score-uncentred-exact", 6, ("Var ĝ_SF by quadrature (estimators.exact) vs the formula",
                                       "even the best baseline is far noisier than pathwise*"),
          "an uncentred score z/σ² in the exact moments", patch=score_moments_uncentred),
    Plant("pathwise-wrt-sigma", 6, ("Var ĝ_PW by quadrature vs 4σ² = 4",),
          "the pathwise moments with ∂z/∂σ = ε for ∂z/∂θ = 1", patch=pathwise_moments_wrt_sigma),
    Plant("score-uncentred-mc", 6, ("Var ĝ_SF over * samples: Monte Carlo vs exact (±4 s.e.)",
                                    "fraction of score-function terms with the wrong sign vs ½"),
          "an uncentred score z/σ² in the Monte Carlo estimator", patch=score_terms_uncentred),
    Plant("pathwise-times-eps", 6, ("Var ĝ_PW over * samples: Monte Carlo vs exact (±4 s.e.)",),
          "pathwise terms f'(z)·ε", patch=pathwise_terms_times_eps),
    Plant("classroom-sums", 6,
          ("score function: empirical/analytic variance inside the χ² interval for every N",
           "pathwise: empirical/analytic variance inside the χ² interval for every N"),
          "the N-sample estimate summing its terms instead of averaging them", patch=classroom_sums),
    Plant("encoder-score-uncentred", 6,
          ("encoder (* parameters, * single-sample draws): largest |score-function mean − "
           "pathwise mean| in standard errors (Bonferroni 0.001)",),
          "the encoder's score ∂ log q/∂logvar written ½ε² (its −½ dropped: not of mean zero)",
          patch=encoder_score_uncentred),
    # lesson 07
    Plant("reparam-fresh-noise", 7, ("after: gaussian_forward is deterministic*",),
          "the z node draws its own noise (the ε passed in ignored)", patch=reparam_fresh_noise),
    Plant("reparam-dmu-mean", 7, ("diagonal: dμ: relative error",),
          "dμ averaged over the S samples instead of summed", patch=reparam_dmu_averaged),
    Plant("reparam-dlogvar-without-half", 7, ("diagonal: dlogvar: relative error",),
          "dlogvar without the ½ of σ = exp(½ logvar)", patch=reparam_dlogvar_without_half),
    Plant("pathwise-dmu-times-sigma", 7, ("∂/∂μ E[z²]: pathwise Monte Carlo vs exact (±4 s.e.)",),
          "∂z/∂μ taken as σ", replace=(("g_mu = 2 * z1 ", "g_mu = 2 * z1 * s0 "),)),
    Plant("full-cov-transposed", 7,
          ("sample covariance vs L Lᵀ: largest deviation in standard errors",),
          "z = μ + Lᵀε for z = μ + Lε", patch=full_cov_transposed),
    Plant("full-cov-dL-transposed", 7, ("full: dL (lower triangle): relative error",),
          "dL = ε dzᵀ for dz εᵀ", patch=full_cov_dL_transposed),
    # lesson 08
    Plant("loss-summed-over-batch", 8,
          ("loss written out (L = 2, M = 5) vs VAE.loss with the same ε",),
          "the minibatch loss summed over the M examples instead of averaged",
          patch=loss_summed_over_batch),
    Plant("adam-ascends", 8, ("training raised the test ELBO by more than 50 nats",),
          "the optimiser steps up the loss (a sign error)", patch=adam_ascends),
    Plant("gaussian-without-half", 8,
          ("distributions.gaussian_log_likelihood(x, f(z), logvar=0) vs C − ½‖x − f(z)‖²",
           "the model's reconstruction term log p(x|z) vs C − ½‖x − f(z)‖²"),
          "the Gaussian log-likelihood's squared error without its ½",
          patch=gaussian_loglik_without_half),
    Plant("kl-dropped", 8, ("mean of the aggregate posterior vs 0 (each within ±*)",
                            "log variances of the aggregate posterior vs 0 (each within ±log *)",
                            "the mean of 64 generated images correlates with the mean test image "
                            "(r > 0.9)"),
          "the VAE trained without its KL term", patch=kl_dropped),
    Plant("local-kl-grad-sign", 8,
          ("relative error of ∂ELBO/∂μᵢ (hand-written vs central differences)",),
          "the per-point ELBO gradient adds the KL's gradient instead of subtracting it",
          replace=(("return elbo, rec, dmu - kmu, dlogvar - klogvar",
                    "return elbo, rec, dmu + kmu, dlogvar + klogvar"),)),
    Plant("local-descends", 8, ("every per-point ELBO ≥ the encoder's ELBO (within 3 s.e.)",
                                "the mean amortization gap is positive"),
          "the per-point fit minimises the ELBO (a sign error)",
          replace=(("grad = -np.concatenate([gmu, glv], axis=1).ravel()",
                    "grad = np.concatenate([gmu, glv], axis=1).ravel()"),)),
    # lesson 09
    Plant("same-nz-for-all", 9, ("*: N_z = 2 is a bottleneck: its test bound is the lowest",),
          "every run trained with the first N_z (a loop-variable slip)",
          replace=(("        runs[i, nz] = train_run(i, d, nz)\n",
                    "        runs[i, nz] = train_run(i, d, NZ[0])\n"),)),
    Plant("grid-random-z", 9,
          ("*: neighbouring grid images differ less than random pairs (a smooth manifold)",),
          "the manifold's z drawn at random from the prior instead of on the grid",
          replace=(("    z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(m.dtype)\n",
                    "    z = np.random.default_rng(0).standard_normal((n * n, 2)).astype(m.dtype)\n"),)),
    Plant("untrained-decoder", 9,
          ("*: training made the grid vary (random pairs of grid images differ > 5x more than at "
           "initialisation)",),
          "the optimiser never steps (the decoder stays at its initialisation)",
          patch=adam_does_nothing),
    Plant("is-mean-of-logs", 9,
          ("importance sampling (K = *) vs quadrature, every image (±0.05 nats)",),
          "importance sampling averaging the log-weights (an ELBO) instead of log-mean-exp",
          patch=is_without_logsumexp),
    Plant("q-with-sigma-for-var", 9,
          ("log p(x) − KL(q(z|x) ‖ p(z|x)) by quadrature vs E_q log p(x|z) (quadrature) − "
           "closed-form KL(q ‖ N(0, I))",),
          "q on the grid with σ where σ² belongs",
          replace=(("** 2 / np.exp(logvar3)[:, None]", "** 2 / np.exp(0.5 * logvar3)[:, None]"),)),
    Plant("iwae-without-log-k", 9,
          ("IWAE_k, mean of the repetitions: largest excess over log p(x) in standard errors "
           "(every k and image)",),
          "IWAE_k without its − log k",
          replace=(("reps.append(logsumexp(lw_k, axis=0) - np.log(k))",
                    "reps.append(logsumexp(lw_k, axis=0))"),)),
]
# planted errors for the items added after the claim map (lessons/README.md, second table)
PLANTS += [
    Plant("svd-without-sqrt-m", 1,
          ("top * eigenvalues of X_cᵀX_c/m vs squared singular values of X_c/√m",),
          "PCA's SVD of X_c without the 1/√m",
          replace=(("svds(xc / np.sqrt(x.shape[0]), k=K + 3,", "svds(xc, k=K + 3,"),)),
    Plant("pca-encoder-not-centred", 1,
          ("PCA as an autoencoder (h = (x − x̄)V_kᵀ, x̂ = x̄ + h V_k): error vs ½ Σ_{i>k} λ_i",),
          "PCA's encoder part h = x V_kᵀ, without subtracting x̄",
          replace=(("h_pca = xc @ pcs[:K].T", "h_pca = x @ pcs[:K].T"),)),
    Plant("jensen-gap-kl-reversed", 4,
          ("Jensen's gap log p(x) − Σ_z q log(p(x, z)/q) vs KL(q ‖ p(z|x)) (3 states)",),
          "the gap compared with KL(p(z|x) ‖ q)",
          replace=(("np.sum(q3 * np.log(q3 / post3))", "np.sum(post3 * np.log(post3 / q3))"),)),
    Plant("uniform-density-unnormalised", 4, ("KL(U(0, 1) ‖ U(0, 2)) by quadrature vs log 2",),
          "q = U(0, 2) given density 1 instead of ½",
          replace=(("lambda t: 1.0 * np.log(1.0 / 0.5), 0, 1)", "lambda t: 1.0 * np.log(1.0 / 1.0), 0, 1)"),)),
    Plant("minibatch-without-n-over-m", 4,
          ("minibatch (N/M) Σ_B ∇L_i, *: mean vs Σ_i ∇L_i (±4 s.e.)",),
          "the minibatch gradient without K&W's N/M",
          replace=(("est_b = (N_PTS / M_B) * g_all[batches].sum(axis=1)",
                    "est_b = g_all[batches].sum(axis=1)"),)),
    Plant("minibatch-with-replacement", 4, ("its variance vs N²(1 − M/N) s²/M (±10%)",),
          "minibatches drawn with replacement",
          replace=(("batches = np.argsort(rng.random((R_B, N_PTS)), axis=1)[:, :M_B]",
                    "batches = rng.integers(0, N_PTS, (R_B, M_B))"),)),
    Plant("expo-rate-as-scale", 7, ("Expo(λ = *) by the inverse CDF: sample mean vs 1/λ (±4 s.e.)",
                                    "pathwise ∂/∂λ E[z] = mean of −z/λ vs −1/λ² (±4 s.e.)"),
          "the inverse CDF with λ as a scale: z = −λ log(1 − u)",
          replace=(("z_exp = -np.log1p(-u7) / LAM", "z_exp = -np.log1p(-u7) * LAM"),)),
    Plant("uniform-dz-da", 7,
          ("uniform base, z = a + (b − a)u: pathwise ∂/∂b E[z²] vs (a + 2b)/3 (±4 s.e.)",),
          "∂z/∂b taken as 1 − u (that is ∂z/∂a)",
          replace=(("g_u = 2 * z_u * u7", "g_u = 2 * z_u * (1 - u7)"),)),
    Plant("bern-base-not-centred", 7,
          ("Bern(0.5) base, z = θ ± 1: pathwise ∂/∂θ E[z²] vs 2θ (±4 s.e.)",),
          "the Bernoulli base noise drawn as {0, 1} instead of ±1",
          replace=(("s_b = 2.0 * (rng.random(N_B) < 0.5) - 1", "s_b = 1.0 * (rng.random(N_B) < 0.5)"),)),
    Plant("slip-sigma-not-made", 7,
          ("slip 'μ + Σε': its covariance is Σ² (= Σ Σᵀ), not Σ: largest deviation from Σ² in "
           "standard errors",),
          "the slide's Σ replaced by L (the slip not made: the covariance is Σ, not Σ²)",
          replace=(("slip_sigma = mu_f[0] + e7 @ Sigma.T", "slip_sigma = mu_f[0] + e7 @ L[0].T"),)),
    Plant("slip-eps-not-made", 7,
          ("slip 'ε ~ N(μ, Σ)' (here ε ~ N(μ, I)): the mean of z = μ + Lε is μ + Lμ, not μ (±4 s.e.)",),
          "ε drawn from N(0, I) (the slip not made: the mean is μ)",
          replace=(("eps_slip = mu_f[0] + e7", "eps_slip = e7"),)),
    Plant("sample-noise-std-as-var", 8,
          ("σ² = 0.01: x ~ N(f(z), σ² I) minus f(z), variance per pixel vs σ² (±4 s.e.)",),
          "x ~ p(x|z) drawn with noise std σ² instead of σ", patch=sample_noise_std_as_var),
    Plant("inpainting-weights-inverted", 8,
          ("inpainting the lower half of * test images: p(x_h | x_v) by importance sampling (K = *) "
           "predicts the hidden pixels better than the average training image",),
          "the importance weights with − log p(x_v | z) for + log p(x_v | z) (a sign slip)",
          replace=(("log_w = (log_pv + dist.log_std_normal(", "log_w = (-log_pv + dist.log_std_normal("),)),
    Plant("prior-sampling-wide", 9,
          ("prior sampling (K = *): p̂(x)/p(x) vs 1 (±4 relative s.e. from the quadrature "
           "variance, every image)",),
          "the prior samples drawn from N(0, 4I) for N(0, I)",
          replace=(("z_prior = rng_for(5, 6).standard_normal((K_PRIOR, 2))",
                    "z_prior = 2 * rng_for(5, 6).standard_normal((K_PRIOR, 2))"),)),
    Plant("sleep-score-without-half", 9,
          ("wake-sleep's sleep gradient ∂(−mean log q)/∂[μ, log σ²] vs central differences "
           "(relative error)",),
          "the sleep phase's ∂ log q/∂ log σ² without its −½",
          replace=(("-0.5 + 0.5 * (z_s - h_s[:, :2]) ** 2 / var_s",
                    "0.5 * (z_s - h_s[:, :2]) ** 2 / var_s"),)),
    Plant("categorical-score-uncentred", 10,
          ("score function f(z)(e_z − π): Monte Carlo mean vs the exact gradient (±4 s.e.)",),
          "the categorical score e_z (its − π dropped)",
          replace=(("g_c = F_C[z_c][:, None] * (np.eye(4)[z_c] - pi_c)",
                    "g_c = F_C[z_c][:, None] * np.eye(4)[z_c]"),)),
    Plant("gumbel-sign", 10, ("Gumbel-max: frequency of each category over * draws vs π (±4 s.e.)",),
          "Gumbel noise log(−log u) for −log(−log u)",
          replace=(("z_c = np.argmax(PHI_C - np.log(-np.log(u_c)), axis=1)",
                    "z_c = np.argmax(PHI_C + np.log(-np.log(u_c)), axis=1)"),)),
    Plant("mcem-prior-draws", 3,
          ("MCEM M-step means, S = *: |mean − EM's| in s.e. (max over components)",),
          "Monte Carlo EM's z drawn from the prior π instead of the posterior q_i",
          replace=(("gmm.m_step(x, sampled_responsibilities(q0, S)).means",
                    "gmm.m_step(x, sampled_responsibilities("
                    "np.broadcast_to(theta0.weights, q0.shape), S)).means"),)),
    Plant("mcem-one-draw", 3, ("MCEM Monte Carlo error vs S: log-log slope of the s.d. vs −1/2",),
          "the sampled responsibilities from the first of the S draws only",
          replace=(("np.stack([(z == k).mean(axis=1) for k",
                    "np.stack([(z[:, :1] == k).mean(axis=1) for k"),)),
    Plant("mcem-stale-e-step", 3,
          ("MCEM (S = 50 or 200) vs EM after the same iterations from θ₀: mean log p(x)",),
          "MCEM's E-step always at the starting θ₀ (the posterior never refreshed)",
          replace=(("sampled_responsibilities(gmm.e_step(x, theta_mc), S_RUN)",
                    "sampled_responsibilities(gmm.e_step(x, theta0), S_RUN)"),)),
    Plant("categorical-grad-without-mean", 10,
          ("∇φ E[f(z)], z ~ cat(softmax(φ)): central differences vs π ⊙ (f − E[f])",),
          "the exact categorical gradient written π ⊙ f (the − E[f] dropped)",
          replace=(("grad_c = pi_c * (F_C - pi_c @ F_C)", "grad_c = pi_c * F_C"),)),
]
BY_ID = {p.id: p for p in PLANTS}


def test_plant_ids_are_unique():
    assert len(BY_ID) == len(PLANTS)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")      # a planted error may overflow
@pytest.mark.parametrize("plant", PLANTS, ids=[p.id for p in PLANTS])
def test_planted_error_turns_its_checks_red(plant, monkeypatch, tmp_path):
    if plant.patch is not None:
        plant.patch(monkeypatch)
    found = run_until(plant.lesson, plant.targets, monkeypatch, tmp_path, replace=plant.replace)
    still_passing = [name for name, check in found.values() if check.passed]
    assert not still_passing, (f"planted error {plant.id!r} ({plant.what}) left these checks of "
                               f"lesson {plant.lesson:02d} passing: {still_passing}")


def _lessons_and_targets():
    out = {}
    for p in PLANTS:
        out.setdefault(p.lesson, set()).update(p.targets)
    return sorted((n, tuple(sorted(t))) for n, t in out.items())


@pytest.mark.parametrize("lesson,targets", _lessons_and_targets(),
                         ids=[f"lesson{n:02d}" for n, _ in _lessons_and_targets()])
def test_the_same_checks_pass_without_a_planted_error(lesson, targets, monkeypatch, tmp_path):
    found = run_until(lesson, targets, monkeypatch, tmp_path)
    failed = [name for name, check in found.values() if not check.passed]
    assert not failed, f"lesson {lesson:02d} fails these checks with no planted error: {failed}"


def test_claim_map_names_a_planted_error_for_every_check():
    from test_claims import claim_map
    rows = claim_map()
    assert rows
    for letter, lesson, pattern, plant_id in rows:
        assert plant_id in BY_ID, (f"claim ({letter}), lesson {lesson:02d}, check {pattern!r}: "
                                   f"the map names no known planted error ({plant_id!r})")
        plant = BY_ID[plant_id]
        assert plant.lesson == lesson and pattern in plant.targets, (
            f"claim ({letter}): planted error {plant_id!r} does not target lesson {lesson:02d}'s "
            f"check {pattern!r}")


ITEM_ROW = re.compile(r"^\|\s*\+\s*\|")


def item_map():
    """[(lesson, check pattern, planted-error id)] from the README's table of the items added
    after the claim map: | + | item | lesson | `check` | `planted error id`: description |."""
    out = []
    for line in (LESSONS / "README.md").read_text(encoding="utf-8").splitlines():
        if ITEM_ROW.match(line):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            assert len(cells) == 5, line
            out.append((int(cells[2]), cells[3].strip("`").replace("\\|", "|"),
                        cells[4].split(":", 1)[0].strip().strip("`")))
    return out


def test_item_map_names_a_planted_error_for_every_check():
    rows = item_map()
    assert len(rows) >= 10
    for lesson, pattern, plant_id in rows:
        assert plant_id in BY_ID, (lesson, pattern, plant_id)
        plant = BY_ID[plant_id]
        assert plant.lesson == lesson and pattern in plant.targets, (lesson, pattern, plant_id)


def test_patterns_match_whole_names():
    rx = pattern_rx("a * b")
    assert rx.match("a x y b") and not rx.match("a x y b c") and not rx.match("a  b")
