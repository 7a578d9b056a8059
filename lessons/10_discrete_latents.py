"""10 · Discrete latents: the score function, relaxations and REBAR

Lecture 002 opens with a categorical z ("z ~ cat(π)").  For a discrete z the reparameterization
trick has nothing to differentiate: a hard sample is a step function of its parameters.  We show
that, derive the score-function estimator for b ~ Bernoulli(σ(φ)) with its baselines (and, last,
for a categorical z, sampled by the Gumbel-max trick), relax the
sample (Gumbel-softmax / concrete, Jang et al. / Maddison et al. 2017) and measure the bias it
buys, use the relaxation as a control variate (REBAR, Tucker et al. 2017) and check its own
gradient, and run every estimator on the toy of the REBAR and RELAX papers: minimise
E[(b − t)²] with t = 0.499, exact gradient σ'(φ)(1 − 2t).  Every mean and variance is checked
against its exact value by enumeration or quadrature.

Run:  python lessons/10_discrete_latents.py [--out DIR] [--quick] [--seed S]
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

from numpyvae import lessonkit
from numpyvae.estimators import discrete as D
from numpyvae.plots import discrete as PD

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
T = D.T_TOY
N_MC = 100_000 if args.quick else 1_000_000
STEPS = 5000
H = 1e-6


def fd(f, x):
    """Central finite difference in float64."""
    return (f(x + H) - f(x - H)) / (2 * H)


def mc_check(name, x, mean, var):
    """A Monte Carlo mean and variance against exact values (±4 standard errors; the variance's
    standard error from the sample fourth moment)."""
    c = x - x.mean()
    se_v = np.sqrt(max(np.mean(c ** 4) - x.var() ** 2, 0.0) / x.size)
    lessonkit.check(f"{name}: Monte Carlo mean vs exact (±4 s.e.)", x.mean(), mean, rtol=0,
                    atol=4 * np.sqrt(var / x.size) + 1e-15)
    lessonkit.check(f"{name}: Monte Carlo variance vs exact (±4 s.e.)", x.var(), var, rtol=0,
                    atol=4 * se_v + 1e-15)


# %% [markdown]
# ## 1. The problem, and why the pathwise trick fails
# b ~ Bernoulli(θ), θ = σ(φ), f(b) = (b − t)².  E[f] = θ(1 − t)² + (1 − θ)t², so
#     d/dφ E[f] = σ'(φ) · ((1 − t)² − t²) = σ'(φ)(1 − 2t),
# tiny at t = 0.499 (0.0005 at φ = 0): the two outcomes cost almost the same.
# A sample can be written b = H(φ + L), L = logit(u) logistic noise, H the step function.  At
# fixed u, b is piecewise constant in φ: ∂b/∂φ = 0 wherever it exists, so the "pathwise"
# estimator f'(b)·∂b/∂φ is 0 for every sample and its mean is 0, not the gradient.

# %%
lessonkit.section("1. The problem, and why the pathwise trick fails")
PHI = 1.0
g_exact = D.toy_exact_gradient(PHI)
lessonkit.check("d/dφ E[(b − t)²] by finite differences of the enumeration vs σ'(φ)(1 − 2t)",
                fd(D.toy_expectation, PHI), g_exact, rtol=1e-6)
u = rng.random(N_MC)
hard_fd = D.hard_sample_derivative(PHI, u)
lessonkit.check_true(f"∂b/∂φ by finite differences at fixed noise, {N_MC:,} samples: every one "
                     "is 0, so the pathwise estimate is 0", np.all(hard_fd == 0.0),
                     f"max |∂b/∂φ| = {np.max(np.abs(hard_fd)):g}, exact gradient {g_exact:.3g}")
b = (PHI + D.logit(u) > 0).astype(float)
lessonkit.check(f"b = H(φ + logit u) is a Bernoulli(σ(φ)) sample: mean over {N_MC:,}", b.mean(),
                D.sigmoid(PHI), rtol=0, atol=4 * np.sqrt(0.25 / N_MC))

# %% [markdown]
# ## 2. The score function and its baselines
# ∇φ E[f] = E[f(b) ∇φ log p(b)], and log p(b) = b log θ + (1 − b) log(1 − θ) gives
#     ∇φ log p(b) = b − θ.
# Exact moments by enumeration (two outcomes).  Baselines: a constant c (here E[f]); the other
# sample's f in a pair (leave-one-out, unbiased because it is independent of the sample it
# multiplies); the optimal constant b* = E[f s²]/E[s²].  With only two outcomes b* makes every
# term the same number: its variance is exactly 0.

# %%
lessonkit.section("2. The score function and its baselines")
for bb in (0.0, 1.0):
    logp = lambda p, bb=bb: bb * np.log(D.sigmoid(p)) + (1 - bb) * np.log(1 - D.sigmoid(p))
    lessonkit.check(f"∇φ log p(b = {bb:g}) by finite differences vs b − θ", fd(logp, PHI),
                    bb - D.sigmoid(PHI), rtol=1e-7)
exact = D.toy_moments(PHI, tau=0.5)
mc = D.toy_monte_carlo(PHI, N_MC, rng=rng, tau=0.5)
for est in ("score", "score_const", "score_loo", "score_optimal"):
    lessonkit.check(f"E[{est}] by enumeration vs the exact gradient (unbiased)", exact[est][0],
                    g_exact, rtol=1e-9)
    if est != "score_optimal":
        mc_check(est, mc[est], *exact[est])
lessonkit.check("Var of the score function with b* (enumeration) vs 0", exact["score_optimal"][1],
                0.0, atol=1e-20)
lessonkit.check(f"with b*, all {N_MC:,} Monte Carlo terms equal the exact gradient (max |diff|)",
                np.max(np.abs(mc["score_optimal"] - g_exact)), 0.0, atol=1e-15)
th = D.sigmoid(PHI)
lessonkit.check("Var of the plain score function (enumeration) vs θ(1−θ)²(1−t)⁴ + (1−θ)θ²t⁴ − ∇²",
                exact["score"][1],
                th * (1 - th) ** 2 * (1 - T) ** 4 + (1 - th) * th ** 2 * T ** 4 - g_exact ** 2,
                rtol=1e-10)
lessonkit.say(f"""
    SNR of one plain score-function term: {g_exact / np.sqrt(exact['score'][1]):.4f}.  An N-sample
    average has √N times that: it takes N ≈ {exact['score'][1] / g_exact ** 2:,.0f} samples to reach SNR 1.
""")

# %% [markdown]
# ## 3. The concrete relaxation and straight-through
# Replace H by a sigmoid at temperature τ: b̃ = σ((φ + L)/τ) ∈ (0, 1), and differentiate
# f(b̃): ĝ = f'(b̃) ∂b̃/∂φ = 2(b̃ − t) b̃(1 − b̃)/τ.  Low variance, but it is the gradient of
# E[f(b̃)], not of E[f(b)]: biased, the bias shrinking as τ → 0 while the variance grows like 1/τ.
# Straight-through uses the hard b in f' and the relaxed ∂b̃/∂φ.  Their exact moments come from
# quadrature over the logistic noise.

# %%
lessonkit.section("3. The concrete relaxation and straight-through")
u, v = rng.random(50), rng.random(50)
for tau in (0.1, 1.0):
    terms = D.toy_terms(PHI, u, v, tau=tau)
    relaxed = lambda p, tau=tau: D.toy_cost(D.sigmoid((p + D.logit(u)) / tau))
    lessonkit.check(f"concrete ĝ at τ = {tau:g} vs finite differences of f(b̃(φ)) at fixed u",
                    terms["gumbel"], fd(relaxed, PHI), rtol=1e-6, atol=1e-8)
taus = np.geomspace(0.05, 3.0, 6 if args.quick else 11)
sweep = {"tau": taus, "exact_grad": g_exact, "exact": {}, "mc": {}, "score": {}}
moments = [D.toy_moments(PHI, tau=t) for t in taus]
mcs = [D.toy_monte_carlo(PHI, N_MC // 4, rng=rng, tau=t) for t in taus]
for est in D.RELAXED:
    sweep["exact"][est] = {"mean": [m[est][0] for m in moments], "var": [m[est][1] for m in moments]}
    sweep["mc"][est] = {"mean": [x[est].mean() for x in mcs], "var": [x[est].var() for x in mcs],
                        "se": [x[est].std() / np.sqrt(x[est].size) for x in mcs]}
for est in ("score", "score_const", "score_loo"):
    sweep["score"][est] = moments[0][est][1]
mc_check("concrete at τ = 0.5", mc["gumbel"], *exact["gumbel"])
mc_check("straight-through at τ = 0.5", mc["straight_through"], *exact["straight_through"])
bias = np.array([m["gumbel"][0] - g_exact for m in moments])
lessonkit.check_true("the concrete estimator is biased: |bias| > 10 × the gradient at τ ≥ 0.5",
                     np.all(np.abs(bias[taus >= 0.5]) > 10 * abs(g_exact)),
                     f"bias at τ = {taus[-1]:.2g}: {bias[-1]:.3g}")
var_g = np.array([m["gumbel"][1] for m in moments])
lessonkit.check_true("its variance grows as τ shrinks", np.all(np.diff(var_g) < 0),
                     f"{var_g[0]:.3g} at τ = {taus[0]:.2g} down to {var_g[-1]:.3g}")
png = PD.plot_temperature(sweep, Path(args.out) / "discrete_tau.png",
                          title=f"E[(b − 0.499)²], φ = {PHI:g}: bias and variance against τ")
lessonkit.show_figure(png)

# %% [markdown]
# ## 4. REBAR: the relaxation as a control variate
# With z = φ + L, b = H(z), and z̃ a second sample of z *given b* (reparameterized by
# v ~ U(0, 1): u | b is uniform on [0, 1 − θ) or [1 − θ, 1)),
#     ĝ = [f(b) − η f(σ_λ(z̃))] (b − θ) + η ∂φ f(σ_λ(z)) − η ∂φ f(σ_λ(z̃)).
# E[f(σ_λ(z̃)) (b − θ)] + E[∂φ f(σ_λ(z̃))] = ∂φ E[f(σ_λ(z))]: the last two terms cancel in
# expectation, so REBAR is unbiased for every η and λ.  Its own gradient — the derivative of
# f(σ_λ(z̃)) through z̃(φ, v, b) with v and b held — is the delicate part; check it.

# %%
lessonkit.section("4. REBAR")
u, v = rng.random(200), rng.random(200)
lam = 0.5
bb = (PHI + D.logit(u) > 0).astype(float)
zt, dzt = D.conditional_z(PHI, bb, v)
lessonkit.check("dz̃/dφ at fixed (v, b) vs finite differences", dzt,
                fd(lambda p: D.conditional_z(p, bb, v)[0], PHI), rtol=1e-6, atol=1e-7)
lessonkit.check_true("z̃ lies on b's side of 0 for every sample", np.all((zt > 0) == (bb > 0)))
relax_z, relax_zt = (lambda p, i=i: D.rebar_control_terms(p, u, v, lam=lam)[i] for i in (0, 1))
by_fd = ((D.toy_cost(bb) - D.toy_cost(D.sigmoid(zt / lam))) * (bb - th) + fd(relax_z, PHI)
         - fd(relax_zt, PHI))
lessonkit.check("REBAR ĝ (η = 1) vs the formula with both derivatives by finite differences",
                D.toy_terms(PHI, u, v, tau=lam)["rebar"], by_fd, rtol=1e-5, atol=1e-8)
lessonkit.check("E[REBAR] by 2-D quadrature vs the exact gradient (unbiased)",
                exact["rebar"][0], g_exact, rtol=1e-7)
mc_check("REBAR at λ = 0.5", mc["rebar"], *exact["rebar"])
eta = D.rebar_optimal_eta(PHI, tau=lam)
var_eta = D.toy_moments(PHI, tau=lam, eta=eta)["rebar"][1]
lessonkit.check_true("η* from the parabola has the lowest exact variance of η*, η* ± 0.5",
                     var_eta <= min(D.toy_moments(PHI, tau=lam, eta=e)["rebar"][1]
                                    for e in (eta - 0.5, eta + 0.5)))
lessonkit.say(f"""
    REBAR's variance is a parabola in η; its exact minimiser here is η* = {eta:.3g}, variance
    {var_eta:.4g}, against {exact['score'][1]:.4g} for the plain score function and
    {exact['rebar'][1]:.4g} at η = 1.  On this toy the relaxation hardly correlates with the
    score-function term, so the best control variate is almost none.  That is the failure RELAX
    (Grathwohl et al. 2018) was built to fix, with a learned control variate.
""")

# %% [markdown]
# ## 5. Optimisation traces
# Adam, lr 0.01, 5,000 steps, one sample per step, from θ = 0.5.  The optimum is θ = 0.

# %%
lessonkit.section("5. Optimisation traces")
traces = D.toy_traces(rng=rng, steps=STEPS)
fig_path = PD.plot_traces(traces, Path(args.out) / "discrete_traces.png")
lessonkit.show_figure(fig_path)
final = {e: th_[-1] for e, th_ in traces["theta"].items()}
lessonkit.say("θ after 5,000 steps: " + ", ".join(f"{e} {t:.3f}" for e, t in final.items()))
lessonkit.check_true("the score function with the optimal baseline reaches θ < 0.05",
                     final["score_optimal"] < 0.05, f"θ = {final['score_optimal']:.3f}")
at_start = D.toy_moments(0.0, tau=0.5)                  # θ = 0.5, where the traces start
g_start = D.toy_exact_gradient(0.0)
lessonkit.say(f"At θ = 0.5 (φ = 0) the exact gradient is {g_start:.3g}; each estimator there "
              "(τ = 0.5, η = 1), exactly:")
lessonkit.table(["estimator", "bias", "std", "std / |gradient|", "θ after 5,000 steps"],
                [(e, at_start[e][0] - g_start, np.sqrt(at_start[e][1]),
                  np.sqrt(at_start[e][1]) / abs(g_start), final[e]) for e in final if e in at_start],
                floatfmt=".3g")
reached = [e for e, t_ in final.items() if t_ < 0.05]
moved = [e for e, t_ in final.items() if t_ >= 0.05]
lessonkit.say(f"Reached θ < 0.05: {', '.join(reached) or 'none'}.")
lessonkit.say(f"Still at θ ≥ 0.05: {', '.join(moved) or 'none'}.")
lessonkit.say("""
    Read the std column: where the noise is hundreds of times the gradient, 5,000
    single-sample steps move θ by a random walk rather than towards 0; a baseline that cuts
    the noise lets the tiny gradient show.  (The relaxations' bias grows with φ: see section 3.)
""")
plt.close("all")

# %% [markdown]
# ## 6. A categorical z ~ cat(π)
# The lecture's latent is categorical: z ∈ {0, …, K − 1} with π = softmax(φ).  Everything above
# carries over.  Sampling by the Gumbel-max trick, z = argmax_k (φ_k + g_k) with
# g_k = −log(−log u_k), u_k ~ U(0, 1), gives P(z = k) = π_k; the argmax is piecewise constant
# in φ, so again there is no path.  The score is ∇φ log π_z = e_z − π (one-hot minus π), so
#
#     ∇φ E[f(z)] = Σ_k f(k) π_k (e_k − π) = π ⊙ (f − E[f])        (exact, by enumeration)
#     ĝ_SF = f(z)(e_z − π),  z ~ cat(π)                            (unbiased, one sample).

# %%
lessonkit.section("6. A categorical z")
PHI_C = np.array([0.5, -0.3, 1.0, 0.0])
F_C = (np.arange(4) - 1.3) ** 2                     # f(k) = (k − 1.3)²


def softmax(a):
    e = np.exp(a - a.max())
    return e / e.sum()


pi_c = softmax(PHI_C)
grad_c = pi_c * (F_C - pi_c @ F_C)
fd_c = np.array([(softmax(PHI_C + H * e) @ F_C - softmax(PHI_C - H * e) @ F_C) / (2 * H)
                 for e in np.eye(4)])
lessonkit.check("∇φ E[f(z)], z ~ cat(softmax(φ)): central differences vs π ⊙ (f − E[f])", fd_c,
                grad_c, rtol=1e-7, atol=1e-10)
u_c = rng.random((N_MC, 4))
z_c = np.argmax(PHI_C - np.log(-np.log(u_c)), axis=1)                  # Gumbel-max
freq = np.bincount(z_c, minlength=4) / N_MC
lessonkit.check(f"Gumbel-max: frequency of each category over {N_MC:,} draws vs π (±4 s.e.)",
                freq, pi_c, rtol=0, atol=4 * np.sqrt(pi_c * (1 - pi_c) / N_MC))
g_c = F_C[z_c][:, None] * (np.eye(4)[z_c] - pi_c)                     # f(z)(e_z − π), (N, K)
lessonkit.check("score function f(z)(e_z − π): Monte Carlo mean vs the exact gradient (±4 s.e.)",
                g_c.mean(axis=0), grad_c, rtol=0, atol=4 * g_c.std(axis=0) / np.sqrt(N_MC))
var_c = np.sum(pi_c[:, None] * (F_C[:, None] * (np.eye(4) - pi_c)) ** 2, axis=0) - grad_c ** 2
g_b = (F_C[z_c] - pi_c @ F_C)[:, None] * (np.eye(4)[z_c] - pi_c)      # baseline b = E[f]
lessonkit.say(f"""
    Exact variance of each coordinate of ĝ_SF (enumeration): {np.array2string(var_c, precision=3)};
    Monte Carlo {np.array2string(g_c.var(axis=0), precision=3)}.  With the baseline b = E[f] the
    Monte Carlo variances are {np.array2string(g_b.var(axis=0), precision=3)}: the baselines of
    section 2 work for K > 2 too, but no constant makes the variance 0 here (with two outcomes
    it could).
""")

# %%
lessonkit.check_yourself([
    "Why is ∂b/∂φ = 0 for a hard Bernoulli sample, and why does that make the pathwise "
    "estimator biased rather than merely noisy?",
    "Derive ∇φ log p(b) for b ~ Bernoulli(σ(φ)). Why is the leave-one-out baseline unbiased?",
    "With only two outcomes the optimal constant baseline has zero variance. Why? Does that "
    "survive a categorical with K = 4?",
    "What does the temperature τ trade off in the concrete relaxation? What happens as τ → 0?",
    "Show that the two relaxed terms of REBAR cancel in expectation. What does z̃ ~ p(z | b) "
    "have to do with it?",
    "On the t = 0.499 toy, why do most estimators fail to move θ in 5,000 steps?",
])
lessonkit.finish()
