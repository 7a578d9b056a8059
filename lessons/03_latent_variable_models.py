"""03 · Latent-variable models and EM

A Gaussian mixture p(x) = Σ_k π_k N(x | μ_k, Σ_k) on 2-D data.  EM is alternating maximisation of
the ELBO: after every E-step the ELBO equals log p(x), and it never decreases.  k-means is the
hard-assignment limit of EM.  Then: why EM breaks down when the posterior p(z | x) of a
continuous latent variable has no closed form, and Monte Carlo EM, which samples the E-step.

Run:  python lessons/03_latent_variable_models.py [--out DIR] [--quick] [--seed S]
"""

# %%
import sys
import time
from pathlib import Path

try:
    import numpyvae  # noqa: F401
except ImportError:  # a source checkout that is not pip-installed: use the repository root
    sys.path.insert(0, str(Path(globals().get("__file__", "x")).resolve().parents[1]))

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from numpyvae import gmm, lessonkit

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
N = 300 if args.quick else 1000
N_RESTARTS = 3 if args.quick else 8

# %% [markdown]
# ## 1. A latent-variable model
# Pick a component z ∈ {0, 1, 2} with probabilities π, then draw x from that component's
# Gaussian.  We see only x.  Summing the latent variable out gives the mixture density
#
#     p(x) = Σ_k p(z=k) p(x | z=k) = Σ_k π_k N(x | μ_k, Σ_k).
#
# In code we add log-probabilities with logsumexp and evaluate every Gaussian through the
# Cholesky factor of its covariance (no matrix inverse, no determinant).

# %%
lessonkit.section("1. A latent-variable model")
true = gmm.GMMParams(
    weights=np.array([0.45, 0.35, 0.20]),
    means=np.array([[-2.0, 0.0], [2.0, 1.0], [0.0, 3.5]]),
    covs=np.array([[[1.0, 0.6], [0.6, 0.8]],
                   [[0.6, -0.3], [-0.3, 1.2]],
                   [[1.5, 0.0], [0.0, 0.3]]]))
z_true = rng.choice(3, size=N, p=true.weights)
chol = np.linalg.cholesky(true.covs)                                  # (3, 2, 2)
x = true.means[z_true] + np.einsum("nij,nj->ni", chol[z_true], rng.standard_normal((N, 2)))
lessonkit.say(f"{N} points from a 3-component mixture in 2-D (the labels z are thrown away).")

ll_true = gmm.log_likelihood(x, true)                                 # (N,)
ll_scipy = np.log(sum(w * multivariate_normal(m, c).pdf(x)
                      for w, m, c in zip(true.weights, true.means, true.covs)))
lessonkit.check("mean log p(x), Cholesky + logsumexp vs scipy.stats", ll_true.mean(),
                ll_scipy.mean(), rtol=1e-12)

# %% [markdown]
# ## 2. The posterior and the ELBO
# The posterior over the latent is Bayes' rule: p(z=k | x) = π_k N(x | μ_k, Σ_k) / p(x), the
# "responsibility" of component k for point x.  For *any* distribution q(z) over components,
#
#     F(q) = Σ_k q_k [log p(x, z=k) − log q_k] = log p(x) − KL(q ‖ p(z | x))
#
# so F is a lower bound on log p(x) (KL ≥ 0), the Evidence Lower BOund, and it is tight exactly
# when q is the posterior.  Check the identity with random q.

# %%
lessonkit.section("2. The posterior and the ELBO")
q_rand = rng.dirichlet(np.ones(3), size=N)                            # (N, 3), rows sum to 1
post = gmm.e_step(x, true)                                            # p(z | x), (N, 3)
kl = np.sum(q_rand * (np.log(q_rand) - np.log(post)), axis=1)
F_rand = gmm.elbo(x, q_rand, true)
lessonkit.check("mean of log p(x) − F(q) vs mean KL(q ‖ p(z|x)), random q",
                np.mean(ll_true - F_rand), np.mean(kl), rtol=1e-10)
lessonkit.check_true("F(q) ≤ log p(x) for every point", np.all(F_rand <= ll_true + 1e-12),
                     f"largest F − log p = {np.max(F_rand - ll_true):.3g}")
lessonkit.check_below("F(posterior) vs log p(x) (max |difference| over points)",
                      np.max(np.abs(gmm.elbo(x, post, true) - ll_true)), 1e-10)

# %% [markdown]
# ## 3. EM is coordinate ascent on the ELBO
# With q_i the distribution of point i's latent and θ = (π, μ, Σ):
#
# * E-step: maximise F over q with θ fixed → q_i = p(z | x_i, θ). The KL is 0: F = log p(x).
# * M-step: maximise F over θ with q fixed → π_k = N_k/N, μ_k and Σ_k the q-weighted
#   mean and covariance of the data (N_k = Σ_i q_ik).  log p(x) can only go up, because
#   log p(x | θ_new) ≥ F(q, θ_new) ≥ F(q, θ_old) = log p(x | θ_old).
#
# EM's answer depends on where it starts, so we run it from several random starts and keep the
# best.  (The M-step adds a tiny covariance floor, ``reg`` = 1e-6, to each diagonal so a
# component cannot collapse onto one point; it moves F by about reg², far below what we print.)

# %%
lessonkit.section("3. EM is coordinate ascent on the ELBO")
runs = [gmm.fit(x, 3, rng, n_iter=300, tol=1e-10) for _ in range(N_RESTARTS)]
params, hist = max(runs, key=lambda r: r[1].log_lik[-1])
max_gap = max(float(np.max(np.abs(h.e_step_gaps()))) for _, h in runs)
min_step = min(float(np.min(np.diff(h.half_steps()))) for _, h in runs)
lessonkit.say(f"""
    {N_RESTARTS} EM runs; the best took {hist.n_iter} iterations (converged: {hist.converged}).
    Final log p(x) per point: {hist.log_lik[-1]:.6f}; with the true parameters: {ll_true.mean():.6f}.
    The first iterations of the best run (nats per point):
""")
lessonkit.table(["iter", "F after E", "log p(x)", "log p − F", "F after M"],
                [(t, hist.elbo_after_e[t], hist.log_lik[t],
                  f"{hist.log_lik[t] - hist.elbo_after_e[t]:.1e}", hist.elbo_after_m[t])
                 for t in range(min(6, hist.n_iter))], floatfmt=".8f")
lessonkit.check_below("ELBO gap after E-step (max over iterations and runs)",
                      max_gap, 1e-8)
lessonkit.check_true("ELBO never decreases over the half-steps (all runs)", min_step >= -1e-10,
                     f"smallest change {min_step:.2e} (≥ −1e-10 allows for rounding)")
lessonkit.check_true("fitted log p(x) ≥ log p(x) under the true parameters",
                     hist.log_lik[-1] >= ll_true.mean(),
                     f"{hist.log_lik[-1]:.5f} ≥ {ll_true.mean():.5f}: the MLE fits the sample best")

half = hist.half_steps()
n_show = min(len(half), 40)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
ax = axes[0]
steps = np.arange(n_show)
ax.plot(steps, half[:n_show], "-", color="lightgray", zorder=1)
# the E-step markers are large open circles so that the ✕ of log p(x) shows inside them
ax.plot(steps[0::2], half[:n_show:2], "o", ms=10, mfc="none", mew=1.6, color="tab:blue",
        label="ELBO after E-step", zorder=2)
ax.plot(steps[1::2], half[1:n_show:2], "s", ms=4, color="tab:orange", label="ELBO after M-step",
        zorder=2)
ax.plot(steps[0::2], hist.log_lik[:(n_show + 1) // 2], "x", color="k", ms=5, mew=1.2,
        label="log p(x | θ_t) (inside the circles: the bound is tight)", zorder=3)
ax.set_xlabel("half-step (E, M, E, M, …)")
ax.set_ylabel("nats per point")
ax.set_title("EM climbs the ELBO; each E-step touches log p(x)")
ax.legend(fontsize=8)
ax = axes[1]
final = hist.log_lik[-1]
ax.semilogy(np.arange(len(half) - 2), final - half[:-2], ".-")   # the last E-step *is* final
ax.set_xlabel("half-step")
ax.set_ylabel("final log p(x) − ELBO")
ax.set_title("Distance to the converged value")
lessonkit.savefig(fig, args, "em_elbo")


def ellipse(mean, cov, r=2.0, n=100):
    """Points of the ellipse {mean + r·L·u : |u| = 1}, Σ = L Lᵀ (the r-σ contour)."""
    t = np.linspace(0, 2 * np.pi, n)
    return mean + r * (np.linalg.cholesky(cov) @ np.stack([np.cos(t), np.sin(t)])).T


colors = np.array([[0.12, 0.47, 0.71], [1.0, 0.5, 0.05], [0.17, 0.63, 0.17]])
q_fit = gmm.e_step(x, params)
fig, ax = plt.subplots(figsize=(6, 5))
ax.scatter(x[:, 0], x[:, 1], c=np.clip(q_fit @ colors, 0, 1), s=8)        # colour mixes by responsibility
for k in range(3):
    e = ellipse(params.means[k], params.covs[k])
    ax.plot(e[:, 0], e[:, 1], color=colors[k], lw=2)
    e = ellipse(true.means[k], true.covs[k])
    ax.plot(e[:, 0], e[:, 1], "k--", lw=1)
ax.plot([], [], "-", color="gray", lw=2, label="fitted (2σ)")
ax.plot([], [], "k--", lw=1, label="true (2σ)")
ax.set_title("GMM fitted by EM; colour = responsibilities")
ax.set_aspect("equal")
ax.legend(fontsize=8)
lessonkit.savefig(fig, args, "gmm_fit")

# %% [markdown]
# ## 4. k-means is the hard-assignment limit
# Fix every covariance to σ²I and the weights to 1/K.  The E-step becomes
# q_ik ∝ exp(−‖x_i − μ_k‖² / (2σ²)), a softmax whose temperature is σ².  As σ → 0 all of the
# mass goes to the nearest mean (a hard assignment) and the M-step "μ_k = average of its
# points" is exactly k-means.  Start both from the same centres and compare.

# %%
lessonkit.section("4. k-means is the hard-assignment limit")
sigmas = (2.0, 0.5, 0.1, 0.01)
centers, labels, rows = gmm.kmeans_limit(x, 3, rng, sigmas=sigmas)
lessonkit.table(["σ", "max |q − hard|", "same argmax", "max |μ_EM − μ_kmeans|"],
                [(r["sigma"], f"{r['max_soft']:.2e}", f"{100 * r['agreement']:.1f} %",
                  f"{r['max_center_gap']:.2e}") for r in rows])
last = rows[-1]
lessonkit.check("σ = 0.01: fraction of points where EM and k-means agree", last["agreement"], 1.0,
                rtol=0)
lessonkit.check_below("σ = 0.01: max |q − one-hot k-means assignment|",
                      last["max_soft"], 1e-12)
lessonkit.check_below("σ = 0.01: max |EM means − k-means centres|",
                      last["max_center_gap"], 1e-9)

fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True, layout="constrained")
for ax, r in zip(axes, [rows[0], rows[1], rows[-1]]):
    ax.scatter(x[:, 0], x[:, 1], c=np.clip(r["q"] @ colors, 0, 1), s=6)
    ax.plot(r["means"][:, 0], r["means"][:, 1], "k*", ms=12)
    ax.set_title(f"σ = {r['sigma']}: max |q − hard| = {r['max_soft']:.1g}")
    ax.set_aspect("equal")
fig.suptitle("Isotropic EM with shrinking σ: soft colours become k-means' hard clusters")
lessonkit.savefig(fig, args, "kmeans_limit")

# %% [markdown]
# ## 5. Why EM breaks: continuous latents and intractable posteriors
# The E-step needs the exact posterior.  For a mixture it is a sum over K terms.  Now let z be
# continuous, z ~ N(0, I_d), and let a small neural network f decode it:
# x | z ~ N(f(z), σ²I).  The posterior is p(z | x) = p(x | z) p(z) / p(x) with
#
#     p(x) = ∫ p(x | z) p(z) dz,
#
# an integral with no closed form when f is nonlinear.  The brute-force answer is a grid:
# G points per latent dimension, G^d evaluations of the decoder.  First make sure the grid is
# right on a linear decoder, where p(x) = N(x | b, WWᵀ + σ²I) is known exactly.

# %%
lessonkit.section("5. Why EM breaks: intractable posteriors")
X_DIM, SIGMA, HIDDEN, HALF_WIDTH = 5, 0.5, 16, 6.0


def grid_log_px(x_obs, decoder, d, G, chunk=1 << 16):
    """log ∫ N(x | f(z), σ²I) N(z | 0, I) dz by the rectangle rule on G^d points in
    [−6, 6]^d.  Returns (estimate, number of decoder evaluations)."""
    t = np.linspace(-HALF_WIDTH, HALF_WIDTH, G)
    h = t[1] - t[0]
    zs = np.stack(np.meshgrid(*([t] * d), indexing="ij"), axis=-1).reshape(-1, d)
    parts = []
    for s in range(0, len(zs), chunk):                                # chunks bound the memory
        z = zs[s:s + chunk]
        log_lik = (-0.5 * np.sum((x_obs - decoder(z)) ** 2, axis=1) / SIGMA ** 2
                   - 0.5 * X_DIM * np.log(2 * np.pi * SIGMA ** 2))
        log_prior = -0.5 * np.sum(z ** 2, axis=1) - 0.5 * d * np.log(2 * np.pi)
        parts.append(logsumexp(log_lik + log_prior))
    return logsumexp(parts) + d * np.log(h), len(zs)


def random_decoder(d):
    """f(z) = W2 tanh(W1 z + b1) + b2, one hidden layer of 16 tanh units (rows are examples)."""
    W1, b1 = 1.5 * rng.standard_normal((d, HIDDEN)), 0.5 * rng.standard_normal(HIDDEN)
    W2, b2 = rng.standard_normal((HIDDEN, X_DIM)) / 4, 0.3 * rng.standard_normal(X_DIM)
    return lambda z: np.tanh(z @ W1 + b1) @ W2 + b2


def observe(decoder, d):
    return decoder(rng.standard_normal((1, d)))[0] + SIGMA * rng.standard_normal(X_DIM)


for d in (1, 2):
    W, b = rng.standard_normal((d, X_DIM)), rng.standard_normal(X_DIM)
    linear = lambda z, W=W, b=b: z @ W + b                           # noqa: E731
    x_obs = observe(linear, d)
    exact = multivariate_normal(b, W.T @ W + SIGMA ** 2 * np.eye(X_DIM)).logpdf(x_obs)
    G = 256 if d == 1 else 128
    est, _ = grid_log_px(x_obs, linear, d, G)
    lessonkit.check(f"linear decoder, d = {d}: grid (G = {G}) vs exact log p(x)", est, exact,
                    rtol=1e-6)

lessonkit.say("Nonlinear decoder: the grid estimate of log p(x) as G grows (d = 1 and d = 2):")
dec1, dec2 = random_decoder(1), random_decoder(2)
x1, x2 = observe(dec1, 1), observe(dec2, 2)
Gs = (8, 16, 32, 64, 128, 256)
conv = {d: [grid_log_px(xo, f, d, G)[0] for G in Gs] for d, f, xo in ((1, dec1, x1), (2, dec2, x2))}
lessonkit.table(["G", "log p(x), d = 1", "log p(x), d = 2"],
                [(G, conv[1][i], conv[2][i]) for i, G in enumerate(Gs)], floatfmt=".8f")
lessonkit.check("d = 1: grid converged (G = 256 vs G = 512)", conv[1][-1],
                grid_log_px(x1, dec1, 1, 512)[0], rtol=0, atol=1e-6)
lessonkit.say("""
    Somewhere between 32 and 256 points per dimension are needed for a few correct digits,
    depending on how narrow the posterior is.  Even with a modest G = 64 the cost is G^d:
""")
timings = {}
for d in ((1, 2) if args.quick else (1, 2, 3)):
    dec = random_decoder(d)
    x_obs = observe(dec, d)
    t0 = time.perf_counter()
    _, n_eval = grid_log_px(x_obs, dec, d, 64)
    timings[d] = time.perf_counter() - t0
    lessonkit.say(f"d = {d}: {n_eval:,} decoder evaluations in {timings[d]:.3g} s")
d_max = max(timings)
per_eval = timings[d_max] / 64 ** d_max
lessonkit.say(f"Measured: {per_eval * 1e9:.0f} ns per decoder evaluation at d = {d_max}.  "
              "Extrapolated cost of one p(x) for ONE data point with G = 64:")


def human(seconds):
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("hours", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


lessonkit.table(["d", "evaluations 64^d", "time"],
                [(d, f"{64.0 ** d:.3g}", human(per_eval * 64.0 ** d)) for d in (1, 2, 3, 5, 10, 20)])
lessonkit.say("""
    A VAE for MNIST uses d = 20 or more.  EM would need this integral for every data point at
    every iteration.  Instead we will *choose* a simple q(z | x) (a Gaussian from an encoder)
    and maximise the ELBO over it, never computing p(x) or p(z | x) exactly.
""")

t = np.linspace(-3.5, 3.5, 200)
Z1, Z2 = np.meshgrid(t, t, indexing="ij")
zz = np.stack([Z1.ravel(), Z2.ravel()], axis=1)
log_post = (-0.5 * np.sum((x2 - dec2(zz)) ** 2, axis=1) / SIGMA ** 2
            - 0.5 * np.sum(zz ** 2, axis=1))
post2 = np.exp(log_post - log_post.max()).reshape(Z1.shape)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
ax = axes[0]
ax.contourf(Z1, Z2, post2, levels=20, cmap="viridis")
for r in (1, 2, 3):                                                   # prior N(0, I) contours
    ax.add_patch(plt.Circle((0, 0), r, fill=False, color="w", ls=":", lw=0.8))
ax.set_xlabel("z1")
ax.set_ylabel("z2")
ax.set_title("p(z | x) ∝ p(x | z) p(z), tanh decoder, d = 2\n(dotted: prior at 1, 2, 3 σ)",
             fontsize=10)
ax.set_aspect("equal")
ax = axes[1]
ds = np.arange(1, 21)
ax.semilogy(ds, 64.0 ** ds, "-", label="grid points 64^d")
ax.semilogy(ds, 64.0 ** ds * per_eval, "--", label="seconds (extrapolated)")
ax.semilogy(list(timings), list(timings.values()), "ko", label="seconds (measured)")
ax.axhline(3.15e7 * 1.38e10, color="gray", ls=":", label="age of the universe (s)")
ax.set_xlabel("latent dimension d")
ax.set_ylabel("grid points, or seconds")
ax.set_xticks([1, 5, 10, 15, 20])
ax.set_title("Cost of the exact E-step by quadrature")
ax.legend(fontsize=8)
lessonkit.savefig(fig, args, "intractable_posterior")

# %% [markdown]
# ## 6. Monte Carlo EM: a sampled E-step
# EM needs E_{p(z|x)}[log p(x, z | θ)].  Where p(z | x) can be *sampled* but not summed, Monte
# Carlo EM (Wei & Tanner 1990) replaces that expectation by an average over S draws
# z_i^(s) ~ p(z | x_i, θ_old) and fits the sampled complete data in the M-step.  For the mixture
# the posterior is a categorical we can sample exactly, so the sampled M-step can be put beside
# EM's own: the frequencies q̂_ik = #{s : z_i^(s) = k} / S are unbiased for the
# responsibilities q_ik, the M-step's means μ_k = Σ_i q̂_ik x_i / Σ_i q̂_ik approach EM's as S
# grows, and their Monte Carlo error shrinks like 1/√S.  (For a VAE's continuous z, even the
# samples need MCMC: a chain per data point at every iteration.  Hence a q we can fit.)

# %%
lessonkit.section("6. Monte Carlo EM: a sampled E-step")
theta0 = gmm.init_params(x, 3, rng)                                  # one common starting point
q0 = gmm.e_step(x, theta0)                                            # the exact E-step
em_means = gmm.m_step(x, q0).means                                    # EM's next means, (3, 2)


def sampled_responsibilities(q, S):
    """q̂ (N, K): how often each component comes up among S draws z ~ Cat(q_i) per point (the
    inverse-CDF draw: the first k with u < q_i1 + … + q_ik)."""
    u = rng.random((len(q), S, 1))
    z = np.minimum((u >= np.cumsum(q, axis=1)[:, None, :]).sum(axis=2), q.shape[1] - 1)
    return np.stack([(z == k).mean(axis=1) for k in range(q.shape[1])], axis=1)


R_MC = 20 if args.quick else 50                                       # repetitions per S
S_GRID = (10, 100, 1000)
mc_rows, mc_sd, mc_z = [], [], None
for S in S_GRID:
    mus = np.stack([gmm.m_step(x, sampled_responsibilities(q0, S)).means for _ in range(R_MC)])
    sd = mus.std(axis=0, ddof=1)                                      # (3, 2), one S-draw M-step
    z_score = np.abs(mus.mean(axis=0) - em_means) / (sd / np.sqrt(R_MC))
    mc_rows.append((S, np.max(np.abs(mus.mean(axis=0) - em_means)), sd.mean(), z_score.max()))
    mc_sd.append(sd.mean())
    mc_z = z_score                                                    # the largest S's
lessonkit.say(f"MCEM's M-step from the same θ₀, {R_MC} repetitions per S (means μ_k, 2-D):")
lessonkit.table(["S draws per point", "max |mean μ_MC − μ_EM|", "mean s.d. of μ_MC",
                 "max |error| / s.e."], mc_rows, floatfmt=".4g")
lessonkit.check_below(f"MCEM M-step means, S = {S_GRID[-1]}: |mean − EM's| in s.e. (max over "
                      "components)", float(mc_z.max()), 4.0)
slope = np.polyfit(np.log(S_GRID), np.log(mc_sd), 1)[0]
lessonkit.check("MCEM Monte Carlo error vs S: log-log slope of the s.d. vs −1/2", slope, -0.5,
                rtol=0, atol=0.1)

T_MC, S_RUN = (25, 50) if args.quick else (40, 200)
theta_em = theta_mc = theta0
ll_em, ll_mc = [], []
for _ in range(T_MC):
    theta_em = gmm.m_step(x, gmm.e_step(x, theta_em))
    theta_mc = gmm.m_step(x, sampled_responsibilities(gmm.e_step(x, theta_mc), S_RUN))
    ll_em.append(gmm.log_likelihood(x, theta_em).mean())
    ll_mc.append(gmm.log_likelihood(x, theta_mc).mean())
downs_em = int(np.sum(np.diff(ll_em) < -1e-12))
downs_mc = int(np.sum(np.diff(ll_mc) < -1e-12))
lessonkit.say(f"""
    {T_MC} iterations from θ₀: EM ends at log p(x) = {ll_em[-1]:.6f} per point, MCEM with S = {S_RUN}
    at {ll_mc[-1]:.6f}.  log p(x) went down in {downs_em} of EM's {T_MC - 1} steps and in
    {downs_mc} of MCEM's: the sampling noise moves θ a little at every iteration, so MCEM loses
    EM's guarantee and wanders around EM's fixed point instead of settling on it (the usual
    remedy: let S grow over the iterations).
""")
lessonkit.check_true("EM's log p(x) never decreased over the iterations from θ₀", downs_em == 0,
                     f"{downs_em} decreases")
lessonkit.check("MCEM (S = 50 or 200) vs EM after the same iterations from θ₀: mean log p(x)",
                ll_mc[-1], ll_em[-1], rtol=0, atol=0.01)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
ax = axes[0]
ax.loglog(S_GRID, mc_sd, "o-", label="s.d. of the M-step means")
ax.loglog(S_GRID, mc_sd[0] * np.sqrt(S_GRID[0] / np.asarray(S_GRID)), "k:", label="∝ 1/√S")
ax.set_xlabel("S posterior draws per point")
ax.set_ylabel("Monte Carlo s.d. of μ")
ax.set_title("MCEM's M-step: the error shrinks like 1/√S")
ax.legend(fontsize=8)
ax = axes[1]
ax.plot(np.arange(1, T_MC + 1), ll_em, "-", label="EM")
ax.plot(np.arange(1, T_MC + 1), ll_mc, ".-", label=f"MCEM, S = {S_RUN}")
ax.set_xlabel("iteration")
ax.set_ylabel("mean log p(x) (nats)")
ax.set_title("From the same start: MCEM follows EM, with noise")
ax.legend(fontsize=8)
lessonkit.savefig(fig, args, "monte_carlo_em")

# %%
lessonkit.check_yourself([
    "Show that F(q, θ) = log p(x | θ) − KL(q ‖ p(z | x, θ)). Why does this make the E-step tight?",
    "Why can the M-step never decrease log p(x), even though it only maximises a lower bound?",
    "EM increased log p(x) on every iteration, yet different starts end at different values. "
    "Why is that not a contradiction?",
    "What happens to the responsibilities as σ → 0 in isotropic EM, and why does that give "
    "k-means?",
    "With G = 64 points per dimension, how many decoder evaluations does the exact E-step need "
    "for d = 20, per data point? What does a VAE do instead?",
    "Monte Carlo EM's q̂ is unbiased for q, and the M-step's means are ratios of sums over q̂. "
    "Are they unbiased too? What does the table in section 6 say at S = 10?",
])
lessonkit.finish()
