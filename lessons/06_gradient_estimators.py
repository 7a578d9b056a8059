"""06 · Gradient estimators: score function vs pathwise

The classroom example: z ~ N(θ, σ²), f(z) = z², θ = 2, σ = 1, so E[f] = θ² + σ² and the true
gradient is 2θ = 4.  Two unbiased single-sample estimators of it: the score function
(log-derivative, REINFORCE) f(z) ∂θ log p(z) and the pathwise (reparameterization) f'(z) ∂z/∂θ.
We derive their variances by hand -- 87 against 4 -- check every step of the derivation, see why
the score function is so noisy and what a baseline buys, the variance table and the log-log
plot, and finish with both estimators on a real VAE encoder (lecture 001's motivation).

Run:  python lessons/06_gradient_estimators.py [--out DIR] [--quick] [--seed S]
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
from scipy.stats import chi2, norm

from numpyvae import estimators as est
from numpyvae.estimators import exact as ref
from numpyvae import lessonkit
from numpyvae.plots.estimators import plot_classroom

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
THETA, SIGMA = 2.0, 1.0
N_MC = 200_000 if args.quick else 2_000_000        # single-sample terms for the Monte Carlo checks
NS = (10, 100, 1000, 10_000) if args.quick else (10, 100, 1000, 10_000, 100_000)
REPS = 200 if args.quick else 500                  # repetitions of each N-sample estimate
E = ref.expect_std_normal                          # E[h(ε)], ε ~ N(0, 1), by quadrature


def f(z):
    return z * z


def df(z):
    return 2.0 * z


def mc_mean_check(name, samples, exact):
    """A Monte Carlo mean against its exact value, allowing 4 standard errors."""
    se = samples.std() / np.sqrt(samples.size)
    return lessonkit.check(f"{name}: Monte Carlo vs exact (±4 s.e.)", samples.mean(), exact,
                           rtol=0, atol=4 * se)


def mc_var_check(name, samples, exact_var, exact_m4):
    """A Monte Carlo variance against its exact value.  The sample variance of n draws has
    standard error sqrt((m4 − var²)/n), m4 the fourth central moment."""
    se = np.sqrt((exact_m4 - exact_var ** 2) / samples.size)
    return lessonkit.check(f"{name}: Monte Carlo vs exact (±4 s.e.)", samples.var(), exact_var,
                           rtol=0, atol=4 * se)


# %% [markdown]
# ## 1. The problem
# We want  d/dθ E_{z ~ N(θ, σ²)}[z²].  Here the expectation is known, E[z²] = θ² + σ², so the
# answer is 2θ = 4 -- which lets us check every estimator against the truth.  In a VAE the
# expectation is over q(z|x) and has no closed form: we must estimate its gradient from samples.

# %%
lessonkit.section("1. The problem")
h = 1e-4
E_f = lambda theta: E(lambda e: f(theta + SIGMA * e))              # noqa: E731
lessonkit.check("E[z²] by quadrature vs θ² + σ²", E_f(THETA), THETA ** 2 + SIGMA ** 2, rtol=1e-12)
lessonkit.check("d/dθ E[z²] by central differences of the quadrature vs 2θ",
                (E_f(THETA + h) - E_f(THETA - h)) / (2 * h), 2 * THETA, rtol=1e-7)

# %% [markdown]
# ## 2. Two single-sample estimators
# Write every sample as z = θ + σε, ε ~ N(0, 1).
#
# * Score function (log-derivative trick, ∇p = p ∇log p):
#       ∇θ E[f] = E[f(z) ∇θ log p(z)],   ∇θ log N(z; θ, σ²) = (z − θ)/σ² = ε/σ,
#       ĝ_SF = f(z) ε/σ = (θ + σε)² ε/σ.
# * Pathwise (reparameterization): the law of ε does not depend on θ, so
#       ∇θ E[f(θ + σε)] = E[f'(z) ∂z/∂θ],   ĝ_PW = 2z · 1 = 2(θ + σε).
#
# Both are unbiased.  Check the library's estimators against these formulas on the same noise,
# and the means by quadrature.

# %%
lessonkit.section("2. Two single-sample estimators")
eps = rng.standard_normal((1, N_MC))
_, sf_terms = est.score_function(f, THETA, SIGMA, eps, return_terms=True)
_, pw_terms = est.pathwise(df, THETA, SIGMA, eps, return_terms=True)
sf_terms, pw_terms, eps = sf_terms[0], pw_terms[0], eps[0]
lessonkit.check_below("numpyvae score_function terms vs (θ + σε)² ε/σ (max |diff|)",
                      np.max(np.abs(sf_terms - (THETA + SIGMA * eps) ** 2 * eps / SIGMA)), 1e-12)
lessonkit.check_below("numpyvae pathwise terms vs 2(θ + σε) (max |diff|)",
                      np.max(np.abs(pw_terms - 2 * (THETA + SIGMA * eps))), 1e-12)
sf_term = lambda e: f(THETA + SIGMA * e) * e / SIGMA                # noqa: E731
pw_term = lambda e: df(THETA + SIGMA * e)                           # noqa: E731
lessonkit.check("E[ĝ_SF] by quadrature vs 2θ", E(sf_term), 2 * THETA, rtol=1e-10)
lessonkit.check("E[ĝ_PW] by quadrature vs 2θ", E(pw_term), 2 * THETA, rtol=1e-10)
mc_mean_check(f"E[ĝ_SF] over {N_MC:,} samples", sf_terms, 2 * THETA)
mc_mean_check(f"E[ĝ_PW] over {N_MC:,} samples", pw_terms, 2 * THETA)

# %% [markdown]
# ## 3. The variance of the score-function estimator, step by step
#
#     Var ĝ_SF = E[ĝ_SF²] − (E ĝ_SF)² = E[(θ + σε)⁴ ε²]/σ² − (2θ)².
#
# Step 1, the moments of ε: odd moments vanish by symmetry and E ε^(2k) = (2k − 1)!!, so
#     E ε² = 1,   E ε⁴ = 3,   E ε⁶ = 15.
# Step 2, expand and take expectations term by term:
#     (θ + σε)⁴ ε² = θ⁴ε² + 4θ³σε³ + 6θ²σ²ε⁴ + 4θσ³ε⁵ + σ⁴ε⁶
#     E[(θ + σε)⁴ ε²] = θ⁴·1 + 0 + 6θ²σ²·3 + 0 + σ⁴·15 = θ⁴ + 18θ²σ² + 15σ⁴     (= 103)
# Step 3, divide by σ² and subtract the squared mean 4θ²:
#     Var ĝ_SF = θ⁴/σ² + 18θ² + 15σ² − 4θ² = θ⁴/σ² + 14θ² + 15σ²                (= 87)

# %%
lessonkit.section("3. Score-function variance, step by step")
lessonkit.say("Step 1: the even moments of ε (quadrature and Monte Carlo):")
for power, exact in ((2, 1.0), (4, 3.0), (6, 15.0)):
    lessonkit.check(f"E ε^{power} by quadrature vs {exact:g}", E(lambda e: e ** power), exact,
                    rtol=1e-10)
    mc_mean_check(f"E ε^{power}", eps ** power, exact)
lessonkit.check("odd moments E ε³, E ε⁵ by quadrature vs 0",
                np.array([E(lambda e: e ** 3), E(lambda e: e ** 5)]), np.zeros(2), atol=1e-10)

lessonkit.say("Step 2: the second moment of one term, E[(θ + σε)⁴ ε²]:")
second = THETA ** 4 + 18 * THETA ** 2 * SIGMA ** 2 + 15 * SIGMA ** 4
lessonkit.check("E[(θ + σε)⁴ ε²] by quadrature vs θ⁴ + 18θ²σ² + 15σ⁴ = 103",
                E(lambda e: (THETA + SIGMA * e) ** 4 * e ** 2), second, rtol=1e-10)

lessonkit.say("Step 3: the variance:")
var_sf = THETA ** 4 / SIGMA ** 2 + 14 * THETA ** 2 + 15 * SIGMA ** 2
lessonkit.check("E[ĝ²] − (2θ)² vs θ⁴/σ² + 14θ² + 15σ²", second / SIGMA ** 2 - (2 * THETA) ** 2,
                var_sf, rtol=1e-14)
lessonkit.say(f"At θ = 2, σ = 1 the formula gives Var ĝ_SF = {var_sf:g} (the quadrature below "
              "checks it).")
sf_moments = ref.score_function_moments(f, THETA, SIGMA)
lessonkit.check("Var ĝ_SF by quadrature (estimators.exact) vs the formula", sf_moments.var,
                var_sf, rtol=1e-10)
lessonkit.check("Var ĝ_SF from numpyvae.estimators.quadratic_score_variance vs the formula",
                est.quadratic_score_variance(THETA, SIGMA), var_sf, rtol=1e-14)
m4_sf = E(lambda e: (sf_term(e) - 2 * THETA) ** 4)
mc_var_check(f"Var ĝ_SF over {N_MC:,} samples", sf_terms, var_sf, m4_sf)

lessonkit.say("The formula holds for any θ and σ, not only the classroom values:")
pairs = [(0.0, 1.0), (-1.0, 0.5), (0.5, 2.0), (3.0, 1.5)]
lessonkit.check("θ⁴/σ² + 14θ² + 15σ² vs quadrature at (θ, σ) = " + ", ".join(map(str, pairs)),
                np.array([t ** 4 / s ** 2 + 14 * t ** 2 + 15 * s ** 2 for t, s in pairs]),
                np.array([ref.score_function_moments(f, t, s).var for t, s in pairs]), rtol=1e-9)

# %% [markdown]
# ## 4. The variance of the pathwise estimator
#     ĝ_PW = 2θ + 2σε,   so   Var ĝ_PW = 4σ² Var ε = 4σ²                          (= 4)
# It does not depend on θ at all: the pathwise estimator only sees how f changes near each
# sample, and f' = 2z is a straight line.

# %%
lessonkit.section("4. Pathwise variance")
var_pw = 4 * SIGMA ** 2
lessonkit.check("Var ĝ_PW by quadrature vs 4σ² = 4", ref.pathwise_moments(df, THETA, SIGMA).var,
                var_pw, rtol=1e-10)
lessonkit.check("Var ĝ_PW from numpyvae.estimators.quadratic_pathwise_variance vs 4σ²",
                est.quadratic_pathwise_variance(THETA, SIGMA), var_pw, rtol=1e-14)
mc_var_check(f"Var ĝ_PW over {N_MC:,} samples", pw_terms, var_pw, 3 * var_pw ** 2)
lessonkit.say(f"""
    One score-function term has {var_sf / var_pw:.2f} times the variance of one pathwise term:
    to reach the same accuracy it needs {var_sf / var_pw:.2f} times as many samples.
""")

# %% [markdown]
# ## 5. Why the log-derivative estimator is so noisy
# Each term is f(z) times the score ε/σ.  The score has mean zero; the gradient is only the
# small *correlation* between f and the score.  Two consequences:
#
# * The sign.  f = z² ≥ 0 everywhere, so the sign of every term is the sign of ε: whatever θ
#   is, half of the terms point the wrong way.  A pathwise term 2z points the wrong way only
#   when z < 0, with probability Φ(−θ/σ).
# * The size.  Every term carries the whole value of f, not the change of f.  Add a constant
#   c to f: the gradient does not change, but each term gains c·ε/σ.  The variance depends on
#   where f's zero happens to be.
#
# A baseline b uses this the other way: (f − b)·ε/σ is still unbiased (E[b ε/σ] = 0) and
# subtracting about the mean of f removes most of the offset.  With c = θ² − b,
#     Var((f − b) ε/σ) = c²/σ² + 6c + 8θ² + 15σ² = 87 − 14b + b²   (θ = 2, σ = 1),
# a parabola in b: b = E[f] = θ² + σ² = 5 gives 42, and its minimum
#     b* = E[f s²]/E[s²] = θ² + 3σ² = 7 gives 38 -- still ten times the pathwise 4.
# The score function never looks at f', so no baseline makes it as good here.

# %%
lessonkit.section("5. Why the score function is noisy")
wrong_sf = np.mean(sf_terms < 0)
wrong_pw = np.mean(pw_terms < 0)
se_half = np.sqrt(0.25 / N_MC)
lessonkit.check("fraction of score-function terms with the wrong sign vs ½", wrong_sf, 0.5,
                rtol=0, atol=4 * se_half)
p_pw = norm.cdf(-THETA / SIGMA)
lessonkit.check("fraction of pathwise terms with the wrong sign vs Φ(−θ/σ)", wrong_pw, p_pw,
                rtol=0, atol=4 * np.sqrt(p_pw * (1 - p_pw) / N_MC))
lessonkit.say(f"""
    The terms carry the size of f:  E[f] = {THETA ** 2 + SIGMA ** 2:g}, but the gradient is
    {2 * THETA:g} and E[ĝ_SF²] = {second:g} against (2θ)² = {4 * THETA ** 2:g}.
""")
shift = 10.0
lessonkit.check(f"f + {shift:g}: the gradient is unchanged (quadrature)",
                E(lambda e: (f(THETA + SIGMA * e) + shift) * e / SIGMA), 2 * THETA, rtol=1e-10)
lessonkit.check(f"f + {shift:g}: the variance becomes 87 + 14·{shift:g} + {shift:g}² (quadrature)",
                ref.score_function_moments(lambda z: f(z) + shift, THETA, SIGMA).var,
                87 + 14 * shift + shift ** 2, rtol=1e-10)

b_mean, b_star = THETA ** 2 + SIGMA ** 2, THETA ** 2 + 3 * SIGMA ** 2


def var_of_b(b):
    """Variance of one term (f − b) s:  Var(f s) − 2b E[f s²] + b² E[s²]  (= 87 − 14b + b²)."""
    return var_sf - 2 * b * (THETA ** 2 + 3 * SIGMA ** 2) / SIGMA ** 2 + b * b / SIGMA ** 2


lessonkit.check("optimal baseline b* = E[f s²]/E[s²] by quadrature vs θ² + 3σ² = 7",
                ref.optimal_baseline(f, THETA, SIGMA), b_star, rtol=1e-10)
rows = []
for label, b in (("none", 0.0), ("E[f]", b_mean), ("b*", b_star)):
    quad = ref.score_function_moments(f, THETA, SIGMA, baseline=b).var
    rows.append((label, b, var_of_b(b), quad))
    lessonkit.check(f"Var with baseline {label} (b = {b:g}): quadrature vs 87 − 14b + b²", quad,
                    var_of_b(b), rtol=1e-10)
lessonkit.table(["baseline", "b", "87 − 14b + b²", "quadrature"], rows, floatfmt=".10g")
ratio_best = (ref.score_function_moments(f, THETA, SIGMA, baseline=b_star).var
              / ref.pathwise_moments(df, THETA, SIGMA).var)
lessonkit.check(f"even the best baseline is far noisier than pathwise: Var ratio by quadrature "
                f"vs {var_of_b(b_star):g}/{var_pw:g}", ratio_best, var_of_b(b_star) / var_pw,
                rtol=1e-9)

fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.0))
ax = axes[0]
show = slice(0, 200_000)
bins = np.linspace(-15, 35, 126)
sf_b_terms = (f(THETA + SIGMA * eps[show]) - b_star) * eps[show] / SIGMA
for terms, colour, label in ((sf_terms[show], "tab:red", f"score function (var {var_sf:g})"),
                             (sf_b_terms, "tab:blue", f"score, baseline b* = {b_star:g} "
                                                      f"(var {var_of_b(b_star):g})"),
                             (pw_terms[show], "tab:green", f"pathwise (var {var_pw:g})")):
    ax.hist(terms, bins=bins, density=True, histtype="step", lw=1.6, color=colour, label=label)
ax.axvline(2 * THETA, color="k", ls=":", lw=1.2, label=f"true gradient {2 * THETA:g}")
ax.set_yscale("log")
ax.set_xlim(bins[0], bins[-1])
ax.set_xlabel("value of one single-sample estimate (tails beyond the axis not shown)")
ax.set_ylabel("density")
ax.set_title("Single-sample estimates of d/dθ E[z²], θ = 2, σ = 1")
ax.legend(fontsize=8, loc="upper right")
ax = axes[1]
bb = np.linspace(-4, 16, 200)
ax.plot(bb, var_of_b(bb), color="tab:red", label="score function: 87 − 14b + b²")
ax.axhline(var_pw, color="tab:green", label=f"pathwise: {var_pw:g}")
for (label, b, v, _), (dx, dy) in zip(rows, ((8, 8), (-6, -14), (8, -14))):
    ax.plot(b, v, "o", color="tab:red")
    text = {"none": "no baseline", "b*": f"b* = {b:g}"}.get(label, f"b = {label} = {b:g}")
    ax.annotate(f"{text}: {v:g}", (b, v), textcoords="offset points", xytext=(dx, dy),
                fontsize=8.5, ha="left" if dx > 0 else "right")
ax.set_xlim(bb[0], bb[-1])
ax.set_ylim(0, 130)
ax.set_xlabel("baseline b")
ax.set_ylabel("variance of one term")
ax.set_title("A baseline helps, but not enough")
ax.legend(fontsize=8.5, loc="upper center")
ax.grid(alpha=0.3)
fig.tight_layout()
lessonkit.savefig(fig, args, "single_sample_terms")

# %% [markdown]
# ## 6. The variance table and the log-log plot
# Average N independent terms and the variance falls as 1/N, a line of slope −1 on log-log axes;
# the estimators differ by a constant factor (the single-term variance).  The experiment below
# repeats each N-sample estimate R times on the same noise for every estimator.
#
# Checks.  If the R estimates were Gaussian, (R − 1)·s²/Var would be χ² with R − 1 degrees of
# freedom.  The score-function terms are heavy-tailed (ε⁵ appears in ĝ²), which widens the
# spread of s²: Var(s²)/Var² = 2/(R − 1) + κ/R, κ the excess kurtosis of the N-sample mean
# (κ₁/N for one term's κ₁, computed by quadrature).  We use a χ² with the matching effective
# degrees of freedom ν = 2/(2/(R − 1) + κ/R) and accept the middle 99.99%.  The means must lie
# within 4 standard errors of 4.

# %%
lessonkit.section("6. The variance table and the log-log plot")
table = est.classroom_experiment(THETA, SIGMA, Ns=NS, repetitions=REPS, rng=rng)
lessonkit.say(est.format_table(table))
png = plot_classroom(table, Path(args.out) / "classroom.png")
lessonkit.show_figure(png)


def excess_kurtosis(term):
    """κ₁ = E[(g − Eg)⁴]/Var(g)² − 3 of one term g(ε), by quadrature."""
    mean = E(term)
    var = E(lambda e: (term(e) - mean) ** 2)
    return E(lambda e: (term(e) - mean) ** 4) / var ** 2 - 3


score_with = lambda b: (lambda e: (f(THETA + SIGMA * e) - b) * e / SIGMA)  # noqa: E731
kappa1 = {"score": excess_kurtosis(score_with(0.0)),
          "score_const": excess_kurtosis(score_with(b_mean)),
          "score_loo": excess_kurtosis(score_with(b_mean)),     # ≈ the constant baseline E[f]
          "score_optimal": excess_kurtosis(score_with(b_star)),
          "pathwise": 0.0}
lessonkit.say("Excess kurtosis κ₁ of one term: " + ", ".join(
    f"{est.ESTIMATOR_LABELS[k]} {v:.1f}" for k, v in kappa1.items()))
ALPHA = 1e-4
for name in ("score", "score_const", "score_loo", "score_optimal", "pathwise"):
    rows_n = [r for r in table if r["estimator"] == name]
    ratios, lows, highs = [], [], []
    for r in rows_n:
        R = r["repetitions"]
        nu = 2.0 / (2.0 / (R - 1) + kappa1[name] / r["N"] / R)
        ratios.append(r["var"] / r["analytic_var"])
        lows.append(chi2.ppf(ALPHA / 2, nu) / nu)
        highs.append(chi2.ppf(1 - ALPHA / 2, nu) / nu)
    inside = all(lo <= q <= hi for q, lo, hi in zip(ratios, lows, highs))
    lessonkit.check_true(
        f"{est.ESTIMATOR_LABELS[name]}: empirical/analytic variance inside the χ² interval "
        f"for every N", inside,
        "ratios " + ", ".join(f"{q:.2f} ∈ [{lo:.2f}, {hi:.2f}]"
                              for q, lo, hi in zip(ratios, lows, highs)))
lessonkit.say("""
    (The estimated optimal baseline has only a large-N analytic variance -- estimating b* adds a
    relative O(1/N) -- so its variance is not checked; its mean is.)
""")
se_all = np.array([np.sqrt(r["var"] / r["repetitions"]) for r in table])
means = np.array([r["mean"] for r in table])
z_scores = (means - 2 * THETA) / se_all
lessonkit.check_true(f"all {len(table)} estimators and N: the mean of the estimates is within "
                     "4 standard errors of 4", np.all(np.abs(z_scores) < 4),
                     f"largest |mean − 4|/s.e. = {np.max(np.abs(z_scores)):.2f}")
pw_means = np.array([r["mean"] for r in table if r["estimator"] == "pathwise"])
sf_means = np.array([r["mean"] for r in table if r["estimator"] == "score"])
lessonkit.check("score-function mean over all repetitions at the largest N vs 4", sf_means[-1],
                2 * THETA, rtol=0, atol=4 * np.sqrt(var_sf / NS[-1] / REPS))
lessonkit.check("pathwise mean over all repetitions at the largest N vs 4", pw_means[-1],
                2 * THETA, rtol=0, atol=4 * np.sqrt(var_pw / NS[-1] / REPS))
slope = np.polyfit(np.log(NS), np.log([r["var"] for r in table if r["estimator"] == "score"]), 1)[0]
lessonkit.check("slope of log variance against log N (score function) vs −1", slope, -1.0,
                rtol=0, atol=0.1)

# %% [markdown]
# ## 7. The same estimators on a VAE encoder
# Lecture 001's motivation is the VAE itself: the gradient of the ELBO with respect to the
# encoder's parameters φ.  The cost is f(z) = log p(x|z) + log p(z) − log q_φ(z|x), the Gaussian is
# q_φ(z|x) = N(μ_φ(x), diag σ_φ(x)²), and the score of the encoder's outputs h = [μ, logvar] is
#
#     ∂ log q/∂μ = ε/σ,    ∂ log q/∂logvar = ½(ε² − 1)      (z = μ + σε, both of mean zero),
#
# pushed through the encoder's backward pass to every parameter.  numpyvae.estimators.encoder
# computes it beside the pathwise gradient of the VAE (with the closed-form KL), on the same
# noise.  Both are unbiased for the same ∇φ ELBO; the score function pays in variance.

# %%
lessonkit.section("7. The score function on a VAE encoder")
from numpyvae import VAE  # noqa: E402
from numpyvae.datasets import load_dataset  # noqa: E402
from numpyvae.estimators import encoder as enc  # noqa: E402

x_enc = load_dataset("shapes", "train", n=20).x.astype(np.float64)
vae_enc = VAE(x_enc.shape[1], [32], 4, rng=np.random.default_rng(args.seed), dtype=np.float64)
R_ENC = 1000 if args.quick else 5000
mom = enc.estimator_moments(vae_enc, x_enc, n_samples=1, repetitions=R_ENC, rng=rng,
                            estimators=("score", "pathwise_kl"))
sf_m, pk_m = mom["score"], mom["pathwise_kl"]
live = (sf_m.var > 0) & (pk_m.var > 0)             # weights of always-zero pixels get no gradient
z_enc = (sf_m.mean - pk_m.mean)[live] / np.sqrt((sf_m.var + pk_m.var)[live] / R_ENC)
bound = float(norm.isf(0.0005 / live.sum()))      # two-sided 0.001, Bonferroni over parameters
lessonkit.check_below(f"encoder ({live.sum()} parameters, {R_ENC} single-sample draws): largest "
                      "|score-function mean − pathwise mean| in standard errors "
                      "(Bonferroni 0.001)", np.max(np.abs(z_enc)), bound)
ratio_enc = float(sf_m.var[live].sum() / pk_m.var[live].sum())
lessonkit.say(f"""
    Total variance over the encoder's parameters, one sample per image: the score function's is
    {ratio_enc:.3g} times the pathwise gradient's.  Same expectation, far more noise: the reason
    VAEs are trained with the reparameterization (numpyvae variance runs the full study).
""")

# %%
lessonkit.check_yourself([
    "Derive Var ĝ_SF for f(z) = z² wrt θ from scratch. Which moments of ε do you need, and why "
    "do the odd ones drop out?",
    "Why does the pathwise variance 4σ² not depend on θ, while the score-function variance grows "
    "like θ⁴?",
    "Replace f by f + 100. What happens to the gradient, to Var ĝ_SF and to Var ĝ_PW?",
    "Show that a constant baseline leaves the score-function estimator unbiased. Why must a "
    "baseline computed from the samples leave out the sample it multiplies?",
    "How many samples does the score function need to match the accuracy of 10 pathwise "
    "samples here? And with the optimal baseline?",
    "Name a cost f for which only the score function works at all.",
])
lessonkit.finish()
