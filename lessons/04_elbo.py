"""04 · The ELBO

Jensen's inequality; the two ways of writing the ELBO, verified on a linear-Gaussian model where
log p(x) is exact; the KL divergence and its properties; and what a mean-field (factorised)
q cannot capture about a correlated posterior; last, the ELBO by Jensen in its discrete form
(lecture 002's route), mean field over data points and the minibatch estimate with K&W's N/M.

Run:  python lessons/04_elbo.py [--out DIR] [--quick] [--seed S]
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
from scipy import integrate, optimize
from scipy.special import digamma
from scipy.stats import multivariate_normal, norm

from numpyvae import lessonkit

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
N_MC = 20_000 if args.quick else 200_000          # Monte Carlo samples
N_PAIRS = 500 if args.quick else 5000             # random Gaussian pairs for KL ≥ 0

# %% [markdown]
# ## 0. Two Gaussian formulas we use throughout
# For k-dimensional Gaussians q = N(m₀, S₀) and p = N(m₁, S₁):
#
#     KL(q ‖ p) = ½ [ tr(S₁⁻¹ S₀) + (m₁ − m₀)ᵀ S₁⁻¹ (m₁ − m₀) − k + log det S₁ − log det S₀ ]
#     E_q[log q] = −½ log det(2πe S₀)            (minus the entropy of q)


# %%
def kl_gauss(m0, S0, m1, S1):
    """KL(N(m0, S0) ‖ N(m1, S1)).  Works on stacks: m (..., k), S (..., k, k) -> (...)."""
    k = m0.shape[-1]
    diff = (m1 - m0)[..., None]
    trace = np.trace(np.linalg.solve(S1, S0), axis1=-2, axis2=-1)
    maha = (np.swapaxes(diff, -1, -2) @ np.linalg.solve(S1, diff))[..., 0, 0]
    return 0.5 * (trace + maha - k + np.linalg.slogdet(S1)[1] - np.linalg.slogdet(S0)[1])


def neg_entropy(S):
    """E_q[log q(z)] for q = N(m, S)."""
    k = S.shape[-1]
    return -0.5 * (k * np.log(2 * np.pi * np.e) + np.linalg.slogdet(S)[1])


def random_spd(k, scale=1.0):
    """A random symmetric positive-definite k×k matrix."""
    A = rng.standard_normal((k, k)) * scale
    return A @ A.T / k + 0.1 * np.eye(k)


# %% [markdown]
# ## 1. Jensen's inequality
# log is concave, so for any positive random variable X:  log E[X] ≥ E[log X].
# Check it on X ~ Gamma(a, 1), where both sides are known exactly:
# log E[X] = log a and E[log X] = ψ(a) (the digamma function).

# %%
lessonkit.section("1. Jensen's inequality")
a = 2.0
X = rng.gamma(a, 1.0, size=N_MC)
se_log = np.std(np.log(X)) / np.sqrt(N_MC)
se_mean = np.std(X) / np.mean(X) / np.sqrt(N_MC)                 # delta method for log(mean)
lessonkit.check("log E[X], Monte Carlo vs log a  (±4 s.e.)", np.log(np.mean(X)), np.log(a),
                rtol=0, atol=4 * se_mean)
lessonkit.check("E[log X], Monte Carlo vs ψ(a)  (±4 s.e.)", np.mean(np.log(X)), digamma(a),
                rtol=0, atol=4 * se_log)
gap_mc = np.log(np.mean(X)) - np.mean(np.log(X))
se_gap = np.std(X / np.mean(X) - np.log(X)) / np.sqrt(N_MC)       # delta method for the gap
lessonkit.check("Jensen gap log E[X] − E[log X], Monte Carlo vs log a − ψ(a) (±4 s.e.)", gap_mc,
                np.log(a) - digamma(a), rtol=0, atol=4 * se_gap)
lessonkit.say(f"""
    log E[X] = {np.log(a):.4f} ≥ E[log X] = {digamma(a):.4f}.  (On the sample itself,
    log(mean X) ≥ mean(log X) holds for *any* numbers -- it is Jensen for the sample's own
    distribution -- so that comparison is a statement, not a check; the gap's size is checked.)
""")
lessonkit.say("""
    The gap grows with the spread of X.  For X = exp(sY), Y ~ N(0, 1): log E[X] = s²/2 and
    E[log X] = 0, so the gap is exactly s²/2.  (The ELBO's gap, below, is a KL divergence: it
    shrinks as q concentrates where the posterior is.)
""")
spreads = np.array([0.25, 0.5, 0.75, 1.0, 1.25, 1.5])
Y = rng.standard_normal(N_MC)
gaps = np.array([np.log(np.mean(np.exp(s * Y))) - np.mean(s * Y) for s in spreads])
lessonkit.check("Jensen gap for X = exp(sY), s = 0.5: Monte Carlo vs s²/2", gaps[1], 0.125,
                rtol=0.05)

fig, ax = plt.subplots(figsize=(5, 3.2))
ss = np.linspace(0, 1.6, 100)
ax.plot(ss, ss ** 2 / 2, label="exact s²/2")
ax.plot(spreads, gaps, "o", label=f"Monte Carlo ({N_MC:,} samples)")
ax.set_xlabel("spread s of log X")
ax.set_ylabel("log E[X] − E[log X]")
ax.set_title("Jensen's gap grows with the spread")
ax.legend()
lessonkit.savefig(fig, args, "jensen_gap")

# %% [markdown]
# ## 2. A model where log p(x) is exact
# Linear-Gaussian model (probabilistic PCA):
#
#     z ~ N(0, I_k),    x | z ~ N(W z + b, σ² I_D)
#     p(x) = N(x | b, W Wᵀ + σ² I)
#     p(z | x) = N(m, S),   S = (I + WᵀW / σ²)⁻¹,   m = S Wᵀ (x − b) / σ².
#
# Bayes' rule says log p(x | z) + log p(z) − log p(z | x) = log p(x) for *every* z.

# %%
lessonkit.section("2. A model where log p(x) is exact")
K_LAT, D_OBS, SIGMA = 2, 5, 0.7
W = rng.standard_normal((D_OBS, K_LAT))
b = rng.standard_normal(D_OBS)
x = W @ rng.standard_normal(K_LAT) + b + SIGMA * rng.standard_normal(D_OBS)

log_px = multivariate_normal(b, W @ W.T + SIGMA ** 2 * np.eye(D_OBS)).logpdf(x)
S_post = np.linalg.inv(np.eye(K_LAT) + W.T @ W / SIGMA ** 2)
m_post = S_post @ W.T @ (x - b) / SIGMA ** 2


def log_lik(z):
    """log p(x | z) for z of shape (n, k) -> (n,)."""
    r = x - z @ W.T - b
    return -0.5 * np.sum(r * r, axis=1) / SIGMA ** 2 - 0.5 * D_OBS * np.log(2 * np.pi * SIGMA ** 2)


def log_prior(z):
    return -0.5 * np.sum(z * z, axis=1) - 0.5 * K_LAT * np.log(2 * np.pi)


z_any = 2 * rng.standard_normal((5, K_LAT))
bayes = log_lik(z_any) + log_prior(z_any) - multivariate_normal(m_post, S_post).logpdf(z_any)
lessonkit.check("log p(x|z) + log p(z) − log p(z|x) at 5 random z vs log p(x)", bayes,
                np.full(5, log_px), rtol=1e-12)

# %% [markdown]
# ## 3. The ELBO two ways, for an arbitrary q(z) = N(m', S')
#
#     ELBO(q) = E_q[log p(x, z) − log q(z)]
#             = log p(x) − KL(q ‖ p(z | x))            (needs the posterior: for theory)
#             = E_q[log p(x | z)] − KL(q ‖ p(z))       (needs only the model: what a VAE optimises)
#
# For this model E_q[log p(x | z)] has a closed form:
# −(D/2) log(2πσ²) − [‖x − b − W m'‖² + tr(W S' Wᵀ)] / (2σ²).

# %%
lessonkit.section("3. The ELBO two ways")
m_q = m_post + 0.5 * rng.standard_normal(K_LAT)        # some q near, but not at, the posterior
S_q = random_spd(K_LAT, scale=0.5)
kl_post = kl_gauss(m_q, S_q, m_post, S_post)
kl_prior = kl_gauss(m_q, S_q, np.zeros(K_LAT), np.eye(K_LAT))
r = x - b - W @ m_q
exp_loglik = (-0.5 * D_OBS * np.log(2 * np.pi * SIGMA ** 2)
              - (r @ r + np.trace(W @ S_q @ W.T)) / (2 * SIGMA ** 2))
elbo_a = log_px - kl_post
elbo_b = exp_loglik - kl_prior
lessonkit.say(f"""
    log p(x) = {log_px:.6f}
    KL(q ‖ p(z|x)) = {kl_post:.6f}    → log p(x) − KL = {elbo_a:.10f}
    E_q log p(x|z) = {exp_loglik:.6f},  KL(q ‖ p(z)) = {kl_prior:.6f}
                                       → E log p(x|z) − KL = {elbo_b:.10f}
""")
lessonkit.check("ELBO identity: log p(x) − KL(q‖p(z|x)) vs E_q log p(x|z) − KL(q‖p(z))",
                elbo_a, elbo_b, rtol=0, atol=1e-10)

L_q = np.linalg.cholesky(S_q)
z = m_q + rng.standard_normal((N_MC, K_LAT)) @ L_q.T                  # z ~ q
ll_s = log_lik(z)
log_q = multivariate_normal(m_q, S_q).logpdf(z)
elbo_s = ll_s + log_prior(z) - log_q
kl_s = log_q - log_prior(z)
sem = lambda v: np.std(v) / np.sqrt(len(v))                          # noqa: E731
lessonkit.check("E_q log p(x|z): Monte Carlo vs closed form (±4 s.e.)", ll_s.mean(), exp_loglik,
                rtol=0, atol=4 * sem(ll_s))
lessonkit.check("KL(q‖p(z)): Monte Carlo vs closed form (±4 s.e.)", kl_s.mean(), kl_prior,
                rtol=0, atol=4 * sem(kl_s))
lessonkit.check("ELBO: Monte Carlo E_q[log p(x,z) − log q] vs closed form (±4 s.e.)",
                elbo_s.mean(), elbo_b, rtol=0, atol=4 * sem(elbo_s))

try:                                               # cross-check with the library, if present
    from numpyvae.distributions import kl_full_cov_std_normal
except ImportError:
    kl_full_cov_std_normal = None
if kl_full_cov_std_normal is not None:
    lib = kl_full_cov_std_normal(m_q[None], L_q[None])[0]
    lessonkit.check("KL(q‖p(z)): this lesson vs numpyvae.distributions.kl_full_cov_std_normal",
                    kl_prior, lib, rtol=1e-12)

kl_self = kl_gauss(m_post, S_post, m_post, S_post)
elbo_at_post = (-0.5 * D_OBS * np.log(2 * np.pi * SIGMA ** 2)
                - (np.sum((x - b - W @ m_post) ** 2) + np.trace(W @ S_post @ W.T)) / (2 * SIGMA ** 2)
                - kl_gauss(m_post, S_post, np.zeros(K_LAT), np.eye(K_LAT)))
lessonkit.check("q = exact posterior: ELBO vs log p(x) (the bound is tight)", elbo_at_post,
                log_px, rtol=0, atol=1e-10)

# %% [markdown]
# ## 4. Where the identity comes from, step by step
#
#     KL(q ‖ p(z|x)) = E_q[log q(z)] − E_q[log p(z|x)]                      definition
#                    = E_q[log q(z)] − E_q[log p(x, z)] + log p(x)           p(z|x) = p(x,z)/p(x)
#     ⇒ log p(x)     = E_q[log p(x, z) − log q(z)] + KL(q ‖ p(z|x))
#                    = ELBO + KL ≥ ELBO                                       KL ≥ 0
#     and E_q[log p(x, z)] = E_q[log p(x|z)] + E_q[log p(z)], which gives the second form.
#
# Every expectation here is available in closed form for Gaussians; print each one.

# %%
lessonkit.section("4. The identity, step by step")
Sinv_post = np.linalg.inv(S_post)
d = m_q - m_post
e_log_q = neg_entropy(S_q)
e_log_post = -0.5 * (K_LAT * np.log(2 * np.pi) + np.linalg.slogdet(S_post)[1]
                     + np.trace(Sinv_post @ S_q) + d @ Sinv_post @ d)
e_log_prior = -0.5 * (K_LAT * np.log(2 * np.pi) + np.trace(S_q) + m_q @ m_q)
e_log_joint = exp_loglik + e_log_prior
step1 = e_log_q - e_log_post
step2 = e_log_q - e_log_joint + log_px
lessonkit.table(["term", "value"], [
    ("E_q[log q(z)]", e_log_q), ("E_q[log p(z|x)]", e_log_post),
    ("E_q[log p(x|z)]", exp_loglik), ("E_q[log p(z)]", e_log_prior),
    ("E_q[log p(x,z)]", e_log_joint), ("log p(x)", log_px)], floatfmt=".10f")
lessonkit.check("step 1: E_q log q − E_q log p(z|x) vs KL(q‖p(z|x))", step1, kl_post, rtol=1e-10)
lessonkit.check("step 2: E_q log q − E_q log p(x,z) + log p(x) vs step 1", step2, step1,
                rtol=1e-10)
lessonkit.check("step 3: ELBO + KL(q‖p(z|x)) vs log p(x)", (e_log_joint - e_log_q) + kl_post,
                log_px, rtol=1e-12)

# %% [markdown]
# ## 5. Properties of the KL divergence
# * KL(q ‖ p) ≥ 0 (Gibbs' inequality; it is Jensen again: −KL = E_q log(p/q) ≤ log E_q(p/q) = 0),
# * KL(q ‖ p) = 0 only when q = p,
# * it is *not* symmetric: KL(q ‖ p) ≠ KL(p ‖ q) in general, so it is not a distance.

# %%
lessonkit.section("5. Properties of the KL divergence")
ms = rng.standard_normal((2, N_PAIRS, 3))
Ss = np.stack([[random_spd(3, scale=1.5) for _ in range(N_PAIRS)] for _ in range(2)])
kls = kl_gauss(ms[0], Ss[0], ms[1], Ss[1])
lessonkit.check_true(f"KL ≥ 0 on {N_PAIRS} random pairs of 3-D Gaussians", np.min(kls) >= 0,
                     f"smallest {np.min(kls):.4g}")
lessonkit.check_below("KL(p ‖ p) on the same pairs (max)",
                      np.max(np.abs(kl_gauss(ms[0], Ss[0], ms[0], Ss[0]))), 1e-12)

p_mean, p_sd, q_mean, q_sd = 0.0, 1.0, 1.0, 2.0
kl_pq = kl_gauss(np.array([p_mean]), np.array([[p_sd ** 2]]), np.array([q_mean]), np.array([[q_sd ** 2]]))
kl_qp = kl_gauss(np.array([q_mean]), np.array([[q_sd ** 2]]), np.array([p_mean]), np.array([[p_sd ** 2]]))
num_pq, _ = integrate.quad(lambda t: norm.pdf(t, p_mean, p_sd)
                           * (norm.logpdf(t, p_mean, p_sd) - norm.logpdf(t, q_mean, q_sd)), -30, 30)
lessonkit.say(f"p = N({p_mean}, {p_sd}²), q = N({q_mean}, {q_sd}²):")
lessonkit.check("KL(p ‖ q), closed form vs numerical integration", kl_pq, num_pq, rtol=1e-8)
lessonkit.check("KL(p ‖ q) = log 2 + 2/8 − ½", kl_pq, np.log(2) + 0.25 - 0.5, rtol=1e-12)
lessonkit.check("KL(q ‖ p) = −log 2 + 5/2 − ½", kl_qp, -np.log(2) + 2.5 - 0.5, rtol=1e-12)

# Lecture 004's questions on q: its support must lie inside the posterior's.  With
# p = U(0, 1) and q = U(0, 2), KL(p ‖ q) = ∫₀¹ log(1/(1/2)) = log 2, but KL(q ‖ p) = +∞: q puts
# mass on (1, 2], where log p = −∞.  Minimising KL(q ‖ p) therefore forces q to vanish wherever
# p(z|x) does (zero-forcing); a Gaussian q against a posterior with bounded support can only
# come close.  And a factorising q(z₁) q(z₂) cannot represent a posterior whose coordinates
# depend on each other: section 6.
kl_unif, _ = integrate.quad(lambda t: 1.0 * np.log(1.0 / 0.5), 0, 1)   # p = 1 on (0, 1), q = ½
lessonkit.check("KL(U(0, 1) ‖ U(0, 2)) by quadrature vs log 2", kl_unif, np.log(2), rtol=1e-12)
with np.errstate(divide="ignore"):
    kl_q_unif = 0.5 * np.log(0.5 / 1.0) + 0.5 * (np.log(0.5) - np.log(0.0))  # (0,1] + (1,2]
lessonkit.say(f"KL(U(0, 2) ‖ U(0, 1)) = {kl_q_unif} (q's mass on (1, 2] meets log p = −∞).")
lessonkit.check_true("asymmetry: KL(p ‖ q) ≠ KL(q ‖ p)", abs(kl_pq - kl_qp) > 0.5,
                     f"{kl_pq:.4f} vs {kl_qp:.4f}")

shifts = np.linspace(-2, 2, 81)
kl_path = np.array([kl_gauss(np.array([s]), np.array([[np.exp(s) ** 2]]),
                             np.zeros(1), np.eye(1)) for s in shifts])
off = np.abs(shifts) > 1e-12
lessonkit.check_true("along q_t = N(t, e^{2t}) the KL to N(0, 1) is zero only at t = 0",
                     np.all(kl_path[off] > 0) and abs(kl_path[~off][0]) < 1e-14,
                     f"min over t ≠ 0: {np.min(kl_path[off]):.2e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
ax = axes[0]
ax.plot(shifts, kl_path)
ax.set_xlabel("t")
ax.set_ylabel(r"KL(N(t, $e^{2t}$) ‖ N(0, 1))")
ax.set_title("KL = 0 only when q = p")
ax = axes[1]
ratios = np.logspace(-1, 1, 101)                        # variance of q / variance of p
fwd = 0.5 * (ratios - 1 - np.log(ratios))               # KL(q ‖ p), equal means
rev = 0.5 * (1 / ratios - 1 + np.log(ratios))           # KL(p ‖ q)
ax.semilogx(ratios, fwd, label="KL(q ‖ p)")
ax.semilogx(ratios, rev, label="KL(p ‖ q)")
ax.set_xlabel("var(q) / var(p), equal means")
ax.set_title("KL is not symmetric")
ax.set_ylim(0, 3)
ax.legend()
lessonkit.savefig(fig, args, "kl_properties")

# %% [markdown]
# ## 6. Mean field and a correlated posterior
# A mean-field q factorises: q(z) = q₁(z₁) q₂(z₂).  Take a correlated Gaussian posterior
# p = N(0, Σ), Σ = [[1, ρ], [ρ, 1]], precision Λ = Σ⁻¹ with Λ_ii = 1/(1 − ρ²).
# Minimising KL(q ‖ p) over Gaussian q = N(μ, diag(s₁², s₂²)):
#
#     KL = ½ [ Σ_i Λ_ii s_i² + μᵀΛμ − 2 − Σ_i log s_i² − log det Λ ]
#     ∂/∂s_i² = 0  ⇒  s_i² = 1/Λ_ii = 1 − ρ²,   μ = 0,
#     minimal KL = ½ [ Σ_i log Λ_ii − log det Λ ] = −½ log(1 − ρ²).
#
# So the optimal q has variance 1 − ρ², *smaller* than the true marginal variance 1: mean-field
# under-estimates uncertainty.  (Minimising the other direction, KL(p ‖ q), matches the
# marginals instead: variance 1.)  Check both by numerical optimisation.

# %%
lessonkit.section("6. Mean field and a correlated posterior")


def fit_mean_field(rho, direction="reverse"):
    """Optimise q = N(μ, diag(exp(2·log_s))) against p = N(0, [[1, ρ], [ρ, 1]]) numerically.
    direction="reverse" minimises KL(q ‖ p); "forward" minimises KL(p ‖ q)."""
    Sigma = np.array([[1.0, rho], [rho, 1.0]])

    def objective(theta):
        mu, S = theta[:2], np.diag(np.exp(2 * theta[2:]))
        if direction == "reverse":
            return kl_gauss(mu, S, np.zeros(2), Sigma)
        return kl_gauss(np.zeros(2), Sigma, mu, S)

    start = np.concatenate([rng.standard_normal(2), rng.uniform(-1, 1, 2)])
    res = optimize.minimize(objective, start, method="BFGS", options=dict(gtol=1e-10))
    return res.fun, np.exp(2 * res.x[2:]), res.x[:2]


RHO = 0.9
kl_min, var_q, mu_q = fit_mean_field(RHO)
lessonkit.check(f"mean-field minimal KL(q‖p), ρ = {RHO}: optimiser vs −½ log(1 − ρ²)", kl_min,
                -0.5 * np.log(1 - RHO ** 2), rtol=1e-7)
lessonkit.check(f"optimal mean-field variances vs 1 − ρ² = {1 - RHO ** 2:.2f}", var_q,
                np.full(2, 1 - RHO ** 2), rtol=1e-5)
lessonkit.check_true("mean-field variances are smaller than the true marginal variance 1",
                     np.all(var_q < 1.0), f"{var_q.round(4)} < 1")
kl_fwd, var_fwd, _ = fit_mean_field(RHO, direction="forward")
lessonkit.check("minimising KL(p‖q) instead matches the marginal variances", var_fwd,
                np.ones(2), rtol=1e-5)

rhos = np.array([0.0, 0.5, 0.9, 0.99] if args.quick else [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99])
kl_rhos = np.array([fit_mean_field(r)[0] for r in rhos])
lessonkit.check("minimal KL over a range of ρ: optimiser vs −½ log(1 − ρ²)", kl_rhos,
                -0.5 * np.log(1 - rhos ** 2) + 0.0, rtol=1e-6, atol=1e-9)   # + 0.0: no "-0."

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
ax = axes[0]
t = np.linspace(0, 2 * np.pi, 200)
circle = np.stack([np.cos(t), np.sin(t)])
L_p = np.linalg.cholesky(np.array([[1.0, RHO], [RHO, 1.0]]))
for r_ in (1, 2):       # the posterior's 1σ and 2σ ellipses
    ax.plot(*(r_ * L_p @ circle), color="k", label="posterior p" if r_ == 1 else None)
for var, style, lab in ((var_q, "tab:red", "argmin KL(q‖p)"), (var_fwd, "tab:blue", "argmin KL(p‖q)")):
    for r_ in (1, 2):   # the 1σ and 2σ ellipses of q
        ax.plot(r_ * np.sqrt(var[0]) * np.cos(t), r_ * np.sqrt(var[1]) * np.sin(t), color=style,
                label=lab if r_ == 1 else None)
ax.set_aspect("equal")
ax.set_title(f"1σ and 2σ contours, ρ = {RHO}")
ax.legend(fontsize=8, loc="upper left")
ax = axes[1]
rr = np.linspace(0, 0.995, 200)
ax.plot(rr, -0.5 * np.log(1 - rr ** 2), label="−½ log(1 − ρ²)")
ax.plot(rhos, kl_rhos, "o", label="numerical optimum")
ax.set_xlabel("posterior correlation ρ")
ax.set_ylabel("minimal KL(q ‖ p)")
ax.set_title("The gap mean field cannot close")
ax.legend()
lessonkit.savefig(fig, args, "mean_field")

# %% [markdown]
# ## 7. The ELBO by Jensen (lecture 002's route), and the minibatch gradient
# For a discrete z, with q(z) > 0 wherever p(x, z) > 0:
#
#     log p(x) = log Σ_z p(x, z) = log Σ_z q(z) p(x, z)/q(z) = log E_q[p(x, z)/q(z)]
#              ≥ E_q[log p(x, z)/q(z)] = Σ_z q(z) log(p(x, z)/q(z)) = ELBO,
#
# and the gap is KL(q ‖ p(z|x)).  Mean field over the data points, q(z_1 … z_N) = Π_i q_i(z_i),
# makes the ELBO of the whole data set a sum over points, L = Σ_i L_i, so its gradient is
# Σ_i ∇L_i.  A minibatch B of M points estimates it as (N/M) Σ_{i∈B} ∇L_i, unbiased (Kingma &
# Welling's N/M); the average (1/|B|) Σ_{i∈B} ∇L_i is the same direction at 1/N the size, the
# per-point mean that numpyvae's loss uses.  Sampling B without replacement, its variance is
# N² (1 − M/N) s²/M, s² the variance of the ∇L_i over the N points (finite population).

# %%
lessonkit.section("7. Jensen's route to the ELBO; the minibatch gradient")
joint3 = np.array([0.02, 0.05, 0.01])               # p(x, z) for z = 0, 1, 2 at one x
q3 = np.array([0.5, 0.3, 0.2])
px3 = joint3.sum()
post3 = joint3 / px3
elbo3 = np.sum(q3 * np.log(joint3 / q3))
lessonkit.say(f"p(x, z) = {joint3}, q = {q3}: log p(x) = {np.log(px3):.6f} ≥ ELBO = {elbo3:.6f}.")
lessonkit.check("Jensen's gap log p(x) − Σ_z q log(p(x, z)/q) vs KL(q ‖ p(z|x)) (3 states)",
                np.log(px3) - elbo3, np.sum(q3 * np.log(q3 / post3)), rtol=1e-12)

N_PTS, M_B = 60, 10
xs_all = W @ rng.standard_normal((K_LAT, N_PTS)) + b[:, None] + SIGMA * rng.standard_normal(
    (D_OBS, N_PTS))                                 # N points of the linear-Gaussian model
m_all = S_post @ W.T @ (xs_all - b[:, None]) / SIGMA ** 2          # their posterior means
g_all = ((xs_all - b[:, None] - W @ m_all) / SIGMA ** 2).T         # ∂L_i/∂b at q_i = p(z|x_i)
full = g_all.sum(axis=0)
R_B = 20_000
batches = np.argsort(rng.random((R_B, N_PTS)), axis=1)[:, :M_B]    # without replacement
est_b = (N_PTS / M_B) * g_all[batches].sum(axis=1)                 # (R, D)
lessonkit.check(f"minibatch (N/M) Σ_B ∇L_i, N = {N_PTS}, M = {M_B}, {R_B} batches: mean vs "
                "Σ_i ∇L_i (±4 s.e.)", est_b.mean(axis=0), full, rtol=0,
                atol=4 * est_b.std(axis=0) / np.sqrt(R_B))
var_fp = N_PTS ** 2 * (1 - M_B / N_PTS) * g_all.var(axis=0, ddof=1) / M_B
lessonkit.check("its variance vs N²(1 − M/N) s²/M (±10%)", est_b.var(axis=0), var_fp, rtol=0.1)

# %%
lessonkit.check_yourself([
    "Use Jensen's inequality to show log p(x) ≥ E_q[log p(x, z) − log q(z)] for any q.",
    "Which form of the ELBO can you compute without knowing p(x) or p(z|x)? Which terms does "
    "a VAE's encoder and decoder provide?",
    "The gap log p(x) − ELBO equals which KL divergence, and when is it zero?",
    "Give two Gaussians p, q with KL(p‖q) ≠ KL(q‖p). Which direction does a VAE minimise?",
    "For ρ = 0.99, what variance does the optimal mean-field q give each coordinate, and what is "
    "the smallest possible KL? Why does mean field under-estimate the posterior variance?",
])
lessonkit.finish()
