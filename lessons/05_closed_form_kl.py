"""05 · The closed-form KL term

The VAE's regulariser KL(q(z|x) ‖ p(z)) with q = N(μ, Σ) and p = N(0, I) needs no sampling:
it is ½(tr Σ + μᵀμ − k − log det Σ).  We derive it one expectation at a time, checking every
step against Monte Carlo and scipy, specialise it to the diagonal Σ = diag(exp(logvar)) that
VAEs use, check numpyvae's implementations and their hand-written gradients, and plot it.

Run:  python lessons/05_closed_form_kl.py [--out DIR] [--quick] [--seed S]
"""

# %%
import sys
from pathlib import Path

try:
    import numpyvae  # noqa: F401
except ImportError:  # a source checkout that is not pip-installed: use the repository root
    sys.path.insert(0, str(Path(globals().get("__file__", "x")).resolve().parents[1]))

import matplotlib.pyplot as plt
import numpy as np
from scipy import integrate
from scipy.stats import multivariate_normal, norm

from numpyvae import distributions as dist
from numpyvae import gradcheck, lessonkit

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
N_MC = 40_000 if args.quick else 400_000          # Monte Carlo samples from q
K = 3                                             # latent dimension of the worked example
LOG_2PI = np.log(2 * np.pi)


def mc_check(name, samples, exact):
    """Compare a Monte Carlo mean with its exact value, allowing 4 standard errors."""
    se = samples.std() / np.sqrt(samples.size)
    lessonkit.say(f"  ({name}: standard error of the Monte Carlo mean {se:.2g})")
    return lessonkit.check(f"{name}: Monte Carlo vs closed form (±4 s.e.)",
                           samples.mean(), exact, rtol=0, atol=4 * se)


# %% [markdown]
# ## 1. The set-up
# q(z) = N(μ, Σ) in k dimensions, p(z) = N(0, I).  By definition
#
#     KL(q ‖ p) = E_q[log q(z)] − E_q[log p(z)].
#
# Both log-densities are quadratics in z:
#
#     log q(z) = −½ [k log 2π + log det Σ + (z − μ)ᵀ Σ⁻¹ (z − μ)]
#     log p(z) = −½ [k log 2π + zᵀz]
#
# so we only need the expectations of two quadratic forms.  A worked example with k = 3:

# %%
lessonkit.section("1. The set-up")
mu = np.array([0.8, -0.5, 1.2])
A = rng.standard_normal((K, K))
Sigma = A @ A.T / K + 0.3 * np.eye(K)              # a random symmetric positive-definite covariance
L = np.linalg.cholesky(Sigma)                      # Σ = L Lᵀ, L lower-triangular
lessonkit.say(f"μ = {np.array2string(mu, precision=3)}")
lessonkit.say("Σ =\n" + np.array2string(Sigma, precision=3))
z = mu + rng.standard_normal((N_MC, K)) @ L.T      # z ~ q: the same trick as lesson 07
log_q = multivariate_normal(mu, Sigma).logpdf(z)
log_p = multivariate_normal(np.zeros(K), np.eye(K)).logpdf(z)
lessonkit.say(f"{N_MC:,} samples z ~ q.")

# %% [markdown]
# ## 2. E_q[log q] = −½ (k log 2π + log det Σ + k)
# The quadratic form u = (z − μ)ᵀ Σ⁻¹ (z − μ) is a scalar, so it equals its own trace, and the
# trace is cyclic:
#
#     E[u] = E[tr(Σ⁻¹ (z − μ)(z − μ)ᵀ)] = tr(Σ⁻¹ E[(z − μ)(z − μ)ᵀ]) = tr(Σ⁻¹ Σ) = tr I = k.
#
# Hence E_q[log q] = −½ (k log 2π + log det Σ + k), which is minus the entropy of q.

# %%
lessonkit.section("2. E_q[log q(z)]")
d = z - mu
u = np.einsum("ni,ij,nj->n", d, np.linalg.inv(Sigma), d)
mc_check("E[(z − μ)ᵀ Σ⁻¹ (z − μ)] vs k", u, K)
logdet = np.linalg.slogdet(Sigma)[1]
e_log_q = -0.5 * (K * LOG_2PI + logdet + K)
mc_check("E_q[log q(z)]", log_q, e_log_q)
lessonkit.check("E_q[log q] vs −(entropy of q) from scipy.stats", e_log_q,
                -multivariate_normal(mu, Sigma).entropy(), rtol=1e-12)
lessonkit.check("log det Σ vs 2 Σ_i log L_ii (from the Cholesky factor)", logdet,
                2 * np.log(np.diag(L)).sum(), rtol=1e-12)

# %% [markdown]
# ## 3. E_q[log p] = −½ (k log 2π + tr Σ + μᵀμ)
# Write z = μ + (z − μ).  The cross term has mean zero, so
#
#     E[zᵀz] = μᵀμ + E[(z − μ)ᵀ(z − μ)] = μᵀμ + tr Σ.

# %%
lessonkit.section("3. E_q[log p(z)]")
zz = np.einsum("ni,ni->n", z, z)
mc_check("E[zᵀz] vs tr Σ + μᵀμ", zz, np.trace(Sigma) + mu @ mu)
e_log_p = -0.5 * (K * LOG_2PI + np.trace(Sigma) + mu @ mu)
mc_check("E_q[log p(z)]", log_p, e_log_p)

# %% [markdown]
# ## 4. Subtract
#
#     KL(q ‖ p) = −½ (k log 2π + log det Σ + k) + ½ (k log 2π + tr Σ + μᵀμ)
#               = ½ (tr Σ + μᵀμ − k − log det Σ).
#
# The k log 2π terms cancel.  With Σ = L Lᵀ and L lower-triangular: tr Σ = ‖L‖²_F and
# log det Σ = 2 Σ_i log L_ii, which is how numpyvae computes it (no inverse, no determinant).

# %%
lessonkit.section("4. The closed form")
kl_closed = 0.5 * (np.trace(Sigma) + mu @ mu - K - logdet)
lessonkit.check("E_q[log q] − E_q[log p] vs ½(tr Σ + μᵀμ − k − log det Σ)", e_log_q - e_log_p,
                kl_closed, rtol=1e-12)
mc_check("KL(q ‖ p) = E_q[log q − log p]", log_q - log_p, kl_closed)
lessonkit.check("KL via scipy: −entropy(q) − E_q[log p]",
                -multivariate_normal(mu, Sigma).entropy() - e_log_p, kl_closed, rtol=1e-12)
kl_lib = dist.kl_full_cov_std_normal(mu[None], L[None])[0]
lessonkit.check("numpyvae.distributions.kl_full_cov_std_normal vs the derivation", kl_lib,
                kl_closed, rtol=1e-12)
lessonkit.check("tr Σ vs ‖L‖²_F", np.trace(Sigma), np.sum(L * L), rtol=1e-12)

# %% [markdown]
# ## 5. The diagonal case used in VAEs
# A VAE encoder outputs μ and logvar = log σ² (the log of the *variance*).  With
# Σ = diag(σ²):  tr Σ = Σ_j exp(logvar_j) and log det Σ = Σ_j logvar_j, so the KL splits into
# a sum of one-dimensional KLs:
#
#     KL = ½ Σ_j [exp(logvar_j) + μ_j² − 1 − logvar_j].
#
# Two common slips: reading exp(logvar) as the standard deviation (it is the variance), and
# forgetting that σ = exp(½ logvar).

# %%
lessonkit.section("5. The diagonal case")
N_ROWS = 6
mu_b = rng.standard_normal((N_ROWS, K))
logvar_b = rng.uniform(-3, 1.5, (N_ROWS, K))
kl_diag_lib = dist.kl_std_normal(mu_b, logvar_b)
kl_diag_formula = 0.5 * np.sum(np.exp(logvar_b) + mu_b ** 2 - 1 - logvar_b, axis=1)
lessonkit.check("kl_std_normal vs ½ Σ_j (exp(logvar) + μ² − 1 − logvar)", kl_diag_lib,
                kl_diag_formula, rtol=1e-12)
L_diag = np.stack([np.diag(np.exp(0.5 * lv)) for lv in logvar_b])   # L = diag(σ)
lessonkit.check("kl_std_normal vs kl_full_cov_std_normal with L = diag(exp(½ logvar))",
                kl_diag_lib, dist.kl_full_cov_std_normal(mu_b, L_diag), rtol=1e-12)
# one dimension at a time: KL = −H(q_j) − E[log p(z_j)], with scipy's entropy of N(μ_j, σ_j²)
sd_b = np.exp(0.5 * logvar_b)
per_dim = -norm(mu_b, sd_b).entropy() + 0.5 * (LOG_2PI + sd_b ** 2 + mu_b ** 2)
lessonkit.check("sum of 1-D KLs from scipy.stats.norm entropies", per_dim.sum(axis=1),
                kl_diag_lib, rtol=1e-12)
lessonkit.check("kl_std_normal_per_dim vs the same 1-D KLs",
                dist.kl_std_normal_per_dim(mu_b, logvar_b), per_dim, rtol=1e-10, atol=1e-14)
m1, lv1 = 0.7, -1.3
s1 = np.exp(0.5 * lv1)
kl_quad, _ = integrate.quad(
    lambda t: norm.pdf(t, m1, s1) * (norm.logpdf(t, m1, s1) - norm.logpdf(t)),
    m1 - 12 * s1, m1 + 12 * s1, epsabs=1e-13)
lessonkit.check(f"1-D, μ = {m1}, logvar = {lv1}: numerical integration vs the formula", kl_quad,
                0.5 * (np.exp(lv1) + m1 ** 2 - 1 - lv1), rtol=1e-9)
wrong = 0.5 * np.sum(np.exp(logvar_b) ** 2 + mu_b ** 2 - 1 - logvar_b, axis=1)   # σ := exp(logvar)
lessonkit.check_true("treating exp(logvar) as σ gives a different (wrong) number",
                     np.max(np.abs(wrong - kl_diag_lib)) > 0.1,
                     f"max difference {np.max(np.abs(wrong - kl_diag_lib)):.3f} nats")
mu32, lv32 = mu_b.astype(np.float32), logvar_b.astype(np.float32)
k32 = dist.kl_std_normal(mu32, lv32)
lessonkit.check_true("float32 in, float32 out (no silent upcast)", k32.dtype == np.float32,
                     str(k32.dtype))
lessonkit.check("float32 KL vs float64 KL", k32, kl_diag_lib, rtol=1e-5, atol=1e-6)

# %% [markdown]
# ## 6. Gradients
# Per latent dimension, f(μ, v) = ½ (e^v + μ² − 1 − v) with v = logvar:
#
#     ∂f/∂μ = μ,      ∂f/∂v = ½ (e^v − 1).
#
# Both vanish only at μ = 0, v = 0 (q = p), and ∂²f/∂v² = ½ e^v > 0: the KL is convex in
# (μ, logvar) and has a single minimum, 0, at the prior.  For the full covariance,
# ∂KL/∂L = L − diag(1/L_ii) (lower triangle only).  Check both by central differences.

# %%
lessonkit.section("6. Gradients")
dout = rng.standard_normal(N_ROWS)                 # an upstream gradient, one number per row
dmu, dlv = dist.kl_std_normal_grad(mu_b, logvar_b, dout)
lessonkit.check("dmu formula: μ · dout", dmu, mu_b * dout[:, None], rtol=1e-12)
lessonkit.check("dlogvar formula: ½(exp(logvar) − 1) · dout", dlv,
                0.5 * (np.exp(logvar_b) - 1) * dout[:, None], rtol=1e-12)
mu_c, lv_c = mu_b.copy(), logvar_b.copy()
num_mu = gradcheck.numerical_gradient(lambda: dist.kl_std_normal(mu_c, lv_c), mu_c, dout=dout)
num_lv = gradcheck.numerical_gradient(lambda: dist.kl_std_normal(mu_c, lv_c), lv_c, dout=dout)
err_mu, err_lv = gradcheck.rel_error(dmu, num_mu), gradcheck.rel_error(dlv, num_lv)
lessonkit.check_below("diagonal KL, dmu: relative error vs central differences",
                      err_mu, 1e-8)
lessonkit.check_below("diagonal KL, dlogvar: relative error vs central differences",
                      err_lv, 1e-8)

mu_f = rng.standard_normal((2, K))
L_f = np.tril(rng.standard_normal((2, K, K)) * 0.4)
L_f[:, np.arange(K), np.arange(K)] = np.exp(rng.uniform(-0.5, 0.5, (2, K)))
dout_f = rng.standard_normal(2)
gmu, gL = dist.kl_full_cov_std_normal_grad(mu_f, L_f, dout_f)
num_L = gradcheck.numerical_gradient(lambda: dist.kl_full_cov_std_normal(mu_f, L_f), L_f,
                                     dout=dout_f, mask=np.tril(np.ones((K, K), bool)))
num_muf = gradcheck.numerical_gradient(lambda: dist.kl_full_cov_std_normal(mu_f, L_f), mu_f,
                                       dout=dout_f)
err_L, err_muf = gradcheck.rel_error(gL, num_L), gradcheck.rel_error(gmu, num_muf)
lessonkit.check_below("full-covariance KL, dL: relative error vs central differences",
                      err_L, 1e-8)
lessonkit.check_below("full-covariance KL, dmu: relative error vs central differences",
                      err_muf, 1e-8)
lessonkit.check_below("KL at μ = 0, logvar = 0 (q = p)",
                      abs(dist.kl_std_normal(np.zeros((1, K)), np.zeros((1, K)))[0]), 1e-15)

# %% [markdown]
# ## 7. The KL in one dimension
# f(μ, v) = ½ (e^v + μ² − 1 − v).  In μ it is a parabola; in v = log σ² it grows like e^v/2 for
# large variances and like −v/2 (linearly) for small ones, so the prior punishes a too-confident
# q only gently and a too-vague q steeply -- in log-variance units.

# %%
lessonkit.section("7. The KL in one dimension")
mus = np.linspace(-3, 3, 201)
lvs = np.linspace(-5, 3, 201)
MU, LV = np.meshgrid(mus, lvs)
F = 0.5 * (np.exp(LV) + MU ** 2 - 1 - LV)
i_min = np.unravel_index(np.argmin(F), F.shape)
lessonkit.check("grid argmin of the 1-D KL: (μ, logvar) vs (0, 0)",
                np.array([MU[i_min], LV[i_min]]), np.zeros(2), atol=0.03)
lessonkit.check_true("the 1-D KL is ≥ 0 on the whole grid", F.min() >= 0, f"min {F.min():.2e}")

fig, axes = plt.subplots(1, 3, figsize=(14, 3.9), layout="constrained")
ax = axes[0]
cs = ax.contourf(MU, LV, F, levels=np.linspace(0, 6, 25), cmap="viridis", extend="max")
ax.contour(MU, LV, F, levels=[0.1, 0.5, 1, 2, 4], colors="w", linewidths=0.6)
ax.plot(0, 0, "r*", ms=10, label="minimum (0, 0): q = p")
ax.set_xlabel("μ")
ax.set_ylabel("logvar = log σ²")
ax.set_title("KL(N(μ, σ²) ‖ N(0, 1))")
ax.legend(loc="lower left", fontsize=8)
fig.colorbar(cs, ax=ax, label="nats")
ax = axes[1]
for lv in (-2.0, 0.0, 1.0):
    ax.plot(mus, 0.5 * (np.exp(lv) + mus ** 2 - 1 - lv), label=f"logvar = {lv:g}")
ax.set_xlabel("μ")
ax.set_ylabel("KL (nats)")
ax.set_title("Slices at fixed logvar: parabolas in μ")
ax.legend(fontsize=8)
ax = axes[2]
for m in (0.0, 1.0, 2.0):
    ax.plot(lvs, 0.5 * (np.exp(lvs) + m ** 2 - 1 - lvs), label=f"μ = {m:g}")
ax.axhline(0, color="k", lw=0.5)
ax.set_xlabel("logvar = log σ²")
ax.set_ylabel("KL (nats)")
ax.set_ylim(-0.2, 6)
ax.set_title("Slices at fixed μ: convex in logvar")
ax.legend(fontsize=8)
lessonkit.savefig(fig, args, "kl_1d")

# %%
lessonkit.check_yourself([
    "Why is E[(z − μ)ᵀ Σ⁻¹ (z − μ)] = k for any μ and Σ? Which property of the trace does the "
    "argument use?",
    "Derive KL(N(μ, Σ) ‖ N(0, I)) from E_q[log q] and E_q[log p]. Where do the k log 2π terms go?",
    "Write the KL for a diagonal Σ in terms of μ and logvar. What number do you get if you "
    "mistake exp(logvar) for σ, for μ = 0 and logvar = 1?",
    "Compute ∂KL/∂μ and ∂KL/∂logvar. Where are both zero, and why is that point a minimum?",
    "Why does numpyvae compute log det Σ as 2 Σ_i log L_ii instead of calling a determinant "
    "routine?",
])
lessonkit.finish()
