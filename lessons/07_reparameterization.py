"""07 · The reparameterization trick

Backprop needs a deterministic path from the encoder's parameters to the loss, but a VAE samples
z ~ q(z|x) in the middle of it.  Writing the sample as z = g(φ, ε) with noise ε that has no
parents in the graph turns the sampling node into an ordinary function.  We draw the graph
before and after, build the diagonal node z = μ + exp(½ logvar) ε and the full-covariance node
z = μ + L ε, check their moments, check their hand-written gradients, and see what goes wrong
without the trick; last, base noise that is not Gaussian (Expo(λ) by the inverse CDF, U(0, 1),
Bern(0.5)) and three slips in lecture 000's slides.

Run:  python lessons/07_reparameterization.py [--out DIR] [--quick] [--seed S]
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
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from numpyvae import gradcheck, lessonkit
from numpyvae import reparam as R

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
N_SAMPLES = 20_000 if args.quick else 200_000     # samples for the moment checks
K = 3                                             # latent dimension

# %% [markdown]
# ## 1. The graph before and after
# A computation graph is a set of nodes, each computed from its parents.  Backprop walks it
# backwards applying the chain rule, which needs ∂(child)/∂(parent) on every edge.
#
# *Before*: the encoder outputs μ and logvar, and z is *drawn* from N(μ, σ²).  The edge
# (μ, logvar) → z is a sampling step, not a function: there is no ∂z/∂μ to multiply by.
#
# *After*: draw ε ~ N(0, I) first, as an input with no parents, and compute
# z = μ + σ ⊙ ε.  Now z is a deterministic node with ∂z/∂μ = I and ∂z/∂logvar = ½ σ ⊙ ε, and all
# the randomness sits in a leaf that needs no gradient.

# %%
lessonkit.section("1. The graph before and after")
lessonkit.say("Notation (a departure from lectures 000 and 003, which swap the letters): φ are the "
              "encoder's parameters, θ the decoder's, as in Kingma & Welling.")


def probe_node(fn, inputs, repeats=2):
    """What a node's code says about it: whether it is random (the same inputs twice give
    different outputs, or it moves NumPy's global random state) and which inputs it depends on
    (perturbing that input alone changes the output).  A random node's output changes anyway,
    so its parents are taken to be all its array inputs."""
    state = np.random.get_state()[1].copy()
    outs = [np.asarray(fn(**{k: np.copy(v) for k, v in inputs.items()})) for _ in range(repeats)]
    random = (not all(np.array_equal(outs[0], o) for o in outs[1:])
              or not np.array_equal(state, np.random.get_state()[1]))
    parents = []
    for k, v in inputs.items():
        if not isinstance(v, np.ndarray):
            continue
        if random:
            parents.append(k)
            continue
        moved = dict(inputs, **{k: v + 0.1})
        if not np.array_equal(np.asarray(fn(**moved)), outs[0]):
            parents.append(k)
    return parents, random


mu0, logvar0 = np.array([[0.5, -1.0]]), np.array([[0.0, -2.0]])
eps0 = rng.standard_normal(mu0.shape)
sampler = np.random.default_rng(args.seed + 1)


def z_before(mu, logvar):
    """Without the trick: z is drawn from N(μ, σ²) inside the node."""
    return sampler.normal(mu, np.exp(0.5 * logvar))


def z_after(mu, logvar, eps):
    """With the trick: numpyvae.reparam.gaussian_forward, the node the VAE uses."""
    return R.gaussian_forward(mu, logvar, eps)[0]


par_b, random_b = probe_node(z_before, {"mu": mu0, "logvar": logvar0})
par_a, random_a = probe_node(z_after, {"mu": mu0, "logvar": logvar0, "eps": eps0})
lessonkit.say(f"""
    Probing the code of each z node (perturb one input at a time, call twice with the same inputs):
      before, z ~ N(μ, σ²) drawn inside the node: depends on {par_b}, random: {random_b}
      after,  R.gaussian_forward(μ, logvar, ε):   depends on {par_a}, random: {random_a}
""")
lessonkit.check_true("after: gaussian_forward is deterministic (same μ, logvar, ε twice → same z; "
                     "global random state untouched)", not random_a, f"random: {random_a}")
lessonkit.check_true("after: z depends on each of μ, logvar and ε (perturbing one changes z)",
                     par_a == ["mu", "logvar", "eps"], f"parents found: {par_a}")
# the graphs, with the z node's parents and randomness taken from the probes above
name = {"mu": "(μ, logvar)", "logvar": "(μ, logvar)", "eps": "ε"}
common = {"x": [], "φ": [], "θ": [], "(μ, logvar)": ["x", "φ"], "log p(x|z)": ["z", "θ", "x"],
          "KL": ["(μ, logvar)"], "loss": ["log p(x|z)", "KL"]}
BEFORE = dict(common, z=sorted({name[p] for p in par_b}))
AFTER = dict(common, z=sorted({name[p] for p in par_a}), **{"ε": []})
RANDOM_BEFORE = {"z"} if random_b else set()
RANDOM_AFTER = ({"z"} if random_a else set()) | {"ε"}


def on_paths(graph, src, dst):
    """Nodes lying on some path src -> ... -> dst (both ends included)."""
    children = {n: [c for c, ps in graph.items() if n in ps] for n in graph}
    below, stack = {src}, [src]                       # descendants of src
    while stack:
        for c in children[stack.pop()]:
            if c not in below:
                below.add(c)
                stack.append(c)
    above, stack = {dst}, [dst]                       # ancestors of dst
    while stack:
        for p in graph[stack.pop()]:
            if p not in above:
                above.add(p)
                stack.append(p)
    return below & above


lessonkit.say("""
    Before (a random node sits between the encoder and the loss):

        x, φ ──► (μ, logvar) ──► [z ~ N(μ, σ²)] ──► log p(x|z) ──► loss
                      │            ✗ no ∂z/∂μ          ▲ θ, x         ▲
                      └──────────────► KL ────────────────────────────┘

    After (the randomness is a leaf; z is a function):

                               ε ~ N(0, I)   (no parents)
                                    │
        x, φ ──► (μ, logvar) ──► z = μ + σ ⊙ ε ──► log p(x|z) ──► loss
                      │                                 ▲ θ, x      ▲
                      └──────────────► KL ──────────────────────────┘
""")
rand_b = on_paths(BEFORE, "φ", "loss") & RANDOM_BEFORE
rand_a = on_paths(AFTER, "φ", "loss") & RANDOM_AFTER
lessonkit.check_true("before: a random node lies on the path φ → loss (graph from the probes)",
                     rand_b == {"z"}, f"random nodes on the path: {sorted(rand_b)}")
lessonkit.check_true("after: every node on the paths φ → loss is deterministic "
                     "(graph from the probes)", not rand_a,
                     f"random nodes on the path: {sorted(rand_a) or 'none'}")
lessonkit.say("ε is drawn by the caller, from a generator and a shape alone: a leaf with no "
              "parents, like x.")


def draw_graph(ax, nodes, edges, title, blocked=None):
    """nodes: name -> (x, y, kind); edges: (src, dst) pairs drawn as arrows;
    blocked: an edge along which the backward pass cannot go (marked with a red cross)."""
    style = {"input": ("#e8e8e8", "-"), "det": ("#d6e6f5", "-"), "random": ("#f8d7b0", "--"),
             "loss": ("#d9f0d3", "-")}
    for name, (x, y, kind) in nodes.items():
        face, ls = style[kind]
        ax.add_patch(FancyBboxPatch((x - 0.55, y - 0.22), 1.1, 0.44, boxstyle="round,pad=0.05",
                                    fc=face, ec="k", ls=ls, lw=1.2))
        ax.text(x, y, name, ha="center", va="center", fontsize=10)
    for a, b in edges:
        (xa, ya, _), (xb, yb, _) = nodes[a], nodes[b]
        dx, dy = xb - xa, yb - ya
        sx = 0.62 * np.sign(dx) if abs(dx) > abs(dy) else 0.0
        sy = 0.3 * np.sign(dy) if abs(dy) >= abs(dx) else 0.0
        ax.add_patch(FancyArrowPatch((xa + sx, ya + sy), (xb - sx, yb - sy), arrowstyle="-|>",
                                     mutation_scale=14, color="k", lw=1.1))
    # the backward pass: a red arrow under the chain, from the loss back to the encoder
    xs = [nodes[n][0] for n in ("loss", "(μ, logvar)")]
    y0 = min(y for _, y, _ in nodes.values()) - 0.7
    if blocked is None:
        ax.add_patch(FancyArrowPatch((xs[0], y0), (xs[1], y0), arrowstyle="-|>", mutation_scale=14,
                                     color="tab:red", lw=2))
        ax.text(np.mean(xs), y0 - 0.3, "backprop reaches φ", color="tab:red", ha="center",
                fontsize=9)
    else:
        xz = nodes[blocked][0]
        ax.add_patch(FancyArrowPatch((xs[0], y0), (xz + 0.1, y0), arrowstyle="-|>",
                                     mutation_scale=14, color="tab:red", lw=2))
        ax.text(xz - 0.25, y0, "✗", color="tab:red", fontsize=18, ha="center", va="center")
        ax.text(np.mean(xs), y0 - 0.3, "backprop stops at the sample: no ∂z/∂μ", color="tab:red",
                ha="center", fontsize=9)
    ax.set_title(title, fontsize=11)
    ax.set_xlim(-0.8, 10.8)
    ax.set_ylim(y0 - 0.55, max(y for _, y, _ in nodes.values()) + 0.45)
    ax.set_aspect("equal")
    ax.axis("off")


chain = {"x": (0, 0, "input"), "encoder φ": (2, 0, "det"), "(μ, logvar)": (4, 0, "det"),
         "decoder θ": (8, 0, "det"), "loss": (10, 0, "loss"), "KL": (6, -1.0, "det")}
edges = [("x", "encoder φ"), ("encoder φ", "(μ, logvar)"), ("(μ, logvar)", "KL"),
         ("decoder θ", "loss"), ("KL", "loss")]
fig, axes = plt.subplots(2, 1, figsize=(10, 6.6), layout="constrained",
                         gridspec_kw=dict(height_ratios=[3.0, 4.1]))
draw_graph(axes[0], dict(chain, **{"z ~ N(μ, σ²)": (6, 0, "random")}),
           edges + [("(μ, logvar)", "z ~ N(μ, σ²)"), ("z ~ N(μ, σ²)", "decoder θ")],
           "Before: z is drawn, a random node between φ and the loss", blocked="z ~ N(μ, σ²)")
draw_graph(axes[1],
           dict(chain, **{"z = μ + σ⊙ε": (6, 0, "det"), "ε ~ N(0, I)": (6, 1.1, "random")}),
           edges + [("(μ, logvar)", "z = μ + σ⊙ε"), ("z = μ + σ⊙ε", "decoder θ"),
                    ("ε ~ N(0, I)", "z = μ + σ⊙ε")],
           "After: ε is a leaf input; z is a deterministic function of (μ, logvar, ε)")
fig.text(0.5, -0.01, "grey: data   blue: deterministic   orange, dashed: random   green: loss",
         ha="center", fontsize=9)
lessonkit.savefig(fig, args, "graph_before_after")

# %% [markdown]
# ## 2. The diagonal node: z = μ + exp(½ logvar) ⊙ ε
# logvar is log σ², so the *standard deviation* is exp(½ logvar).  If ε ~ N(0, I) then z is
# Gaussian with mean μ and variance exp(logvar): check both moments on many samples.
# (numpyvae.reparam.gaussian_forward takes ε of shape (S, N, k): S samples for each of N rows.)

# %%
lessonkit.section("2. The diagonal node")
mu = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.7]])
logvar = np.array([[0.0, -2.0, 1.0], [0.7, -0.5, -3.0]])
eps = rng.standard_normal((N_SAMPLES, *mu.shape))
z, cache = R.gaussian_forward(mu, logvar, eps)
var = np.exp(logvar)
mean_se = np.sqrt(var / N_SAMPLES)
var_se = var * np.sqrt(2 / (N_SAMPLES - 1))
lessonkit.check("sample mean of z vs μ (±4 s.e., every entry)", z.mean(axis=0), mu, rtol=0,
                atol=4 * mean_se.max())
dev = np.abs(z.var(axis=0, ddof=1) - var) / var_se
lessonkit.check_below("sample variance of z vs exp(logvar): largest deviation in standard errors",
                      dev.max(), 4.0)
lessonkit.check_true("the sample std matches exp(½ logvar), not exp(logvar)",
                     np.allclose(z.std(axis=0), np.exp(0.5 * logvar), rtol=0.02)
                     and not np.allclose(z.std(axis=0), np.exp(logvar), rtol=0.02))

# %% [markdown]
# ## 3. The full-covariance node: z = μ + L ε
# A diagonal q cannot express correlations between latent dimensions.  With any L such that
# Σ = L Lᵀ, z = μ + L ε has covariance E[L ε εᵀ Lᵀ] = L I Lᵀ = Σ.  The encoder cannot output an
# arbitrary matrix, so it outputs k + k(k−1)/2 raw numbers: k for the diagonal, put through exp
# so that L_ii > 0 (then L is a valid Cholesky factor and log det Σ = 2 Σ log L_ii = 2 Σ raw_i),
# and the rest for the strict lower triangle, used as they are.

# %%
lessonkit.section("3. The full-covariance node")
raw = np.array([[0.1, -0.4, 0.3, 0.8, -0.5, 0.6]])          # what an encoder would output, (1, 6)
L, tcache = R.tril_from_raw(raw, K)
Sigma = L[0] @ L[0].T
lessonkit.say("L from the raw outputs =\n" + np.array2string(L[0], precision=3))
lessonkit.check("diagonal of L vs exp(raw[:k])", np.diag(L[0]), np.exp(raw[0, :K]), rtol=1e-15)
mu_f = np.array([[1.0, -0.5, 0.25]])
eps_f = rng.standard_normal((N_SAMPLES, 1, K))
z_f, fcache = R.full_cov_forward(mu_f, L, eps_f)
zs = z_f[:, 0, :]
cov_hat = np.cov(zs.T)
cov_se = np.sqrt((Sigma ** 2 + np.outer(np.diag(Sigma), np.diag(Sigma))) / N_SAMPLES)
lessonkit.check("sample mean of z vs μ (±4 s.e.)", zs.mean(axis=0), mu_f[0], rtol=0,
                atol=4 * np.sqrt(np.diag(Sigma).max() / N_SAMPLES))
lessonkit.check_below("sample covariance vs L Lᵀ: largest deviation in standard errors",
                      np.max(np.abs(cov_hat - Sigma) / cov_se), 4.0)
lessonkit.say("L Lᵀ =\n" + np.array2string(Sigma, precision=3, suppress_small=True)
              + "\nsample covariance =\n"
              + np.array2string(cov_hat, precision=3, suppress_small=True))

# %% [markdown]
# ## 4. Gradients through the nodes, by hand
# Hold ε fixed.  Then the node is an ordinary function and the chain rule gives, for an
# upstream gradient dz (summed over the S samples when there are several):
#
#     diagonal:   dμ = Σ_s dz,           dlogvar = Σ_s dz ⊙ ε ⊙ ½ exp(½ logvar)
#     full:       dμ = Σ_s dz,           dL = tril(Σ_s dz εᵀ)   (only the lower triangle is free)
#     raw -> L:   draw_i = dL_ii · L_ii  (since L_ii = exp(raw_i)),   off-diagonal: draw = dL
#
# Each is checked against central differences of Σ dz ⊙ z (numpyvae.gradcheck, float64).

# %%
lessonkit.section("4. Gradients through the nodes")
S = 4
eps_g = rng.standard_normal((S, *mu.shape))
dz = rng.standard_normal((S, *mu.shape))
mu_g, lv_g = mu.copy(), logvar.copy()
_, c = R.gaussian_forward(mu_g, lv_g, eps_g)
dmu, dlv = R.gaussian_backward(dz, c)
errors = {}


def z_diag():
    return R.gaussian_forward(mu_g, lv_g, eps_g)[0]


errors["diagonal: dμ"] = gradcheck.rel_error(
    dmu, gradcheck.numerical_gradient(z_diag, mu_g, dout=dz))
errors["diagonal: dlogvar"] = gradcheck.rel_error(
    dlv, gradcheck.numerical_gradient(z_diag, lv_g, dout=dz))
lessonkit.check("dlogvar formula: Σ_s dz ε ½ exp(½ logvar)", dlv,
                (dz * eps_g).sum(axis=0) * 0.5 * np.exp(0.5 * lv_g), rtol=1e-12)

raw_g = rng.standard_normal((2, R.tril_size(K))) * 0.5
mu_h = rng.standard_normal((2, K))
eps_h = rng.standard_normal((S, 2, K))
dz_h = rng.standard_normal((S, 2, K))


def z_of_raw():
    return R.full_cov_forward(mu_h, R.tril_from_raw(raw_g, K)[0], eps_h)[0]


L_g, tc = R.tril_from_raw(raw_g, K)
_, fc = R.full_cov_forward(mu_h, L_g, eps_h)
dmu_h, dL_h = R.full_cov_backward(dz_h, fc)
draw = R.tril_from_raw_backward(dL_h, tc)
L_var = L_g.copy()
errors["full: dμ"] = gradcheck.rel_error(
    dmu_h, gradcheck.numerical_gradient(z_of_raw, mu_h, dout=dz_h))
errors["full: dL (lower triangle)"] = gradcheck.rel_error(
    dL_h, gradcheck.numerical_gradient(lambda: R.full_cov_forward(mu_h, L_var, eps_h)[0], L_var,
                                       dout=dz_h, mask=np.tril(np.ones((K, K), bool))))
errors["full: d raw (through exp and tril)"] = gradcheck.rel_error(
    draw, gradcheck.numerical_gradient(z_of_raw, raw_g, dout=dz_h))
lessonkit.table(["gradient", "relative error vs central differences"],
                [(k, v) for k, v in errors.items()], floatfmt=".2e")
for name, err in errors.items():
    lessonkit.check_below(f"{name}: relative error", err, 1e-6)

# %% [markdown]
# ## 5. What the trick buys: pathwise gradients of an expectation
# The quantity a VAE differentiates is an expectation, E_q[f(z)].  With z = μ + σε the
# expectation is over ε, which does not depend on (μ, logvar), so the gradient moves inside:
#
#     ∂/∂μ E[f(z)] = E[f'(z)],        ∂/∂logvar E[f(z)] = E[f'(z) · ½ σ ε].
#
# For f(z) = z² in one dimension: E[z²] = μ² + σ², so the exact gradients are 2μ and σ².

# %%
lessonkit.section("5. Pathwise gradients of an expectation")
m0, lv0 = 0.8, np.log(0.5)
s0 = np.exp(0.5 * lv0)
e1 = rng.standard_normal(N_SAMPLES)
z1 = m0 + s0 * e1
g_mu = 2 * z1                                        # f'(z) ∂z/∂μ
g_lv = 2 * z1 * 0.5 * s0 * e1                        # f'(z) ∂z/∂logvar
for name, g, exact in [("∂/∂μ E[z²]", g_mu, 2 * m0), ("∂/∂logvar E[z²]", g_lv, s0 ** 2)]:
    se = g.std() / np.sqrt(g.size)
    lessonkit.check(f"{name}: pathwise Monte Carlo vs exact (±4 s.e.)", g.mean(), exact, rtol=0,
                    atol=4 * se)

# %% [markdown]
# ## 6. Without the trick
# Treat the sampler as a black box, z = sample(μ, σ), which draws fresh noise on every call.
# The only way to get ∂z/∂μ is to perturb μ and sample again.  The two samples use *different*
# noise, so the difference quotient (f(z₊) − f(z₋)) / 2h is dominated by noise / h: its
# variance grows like 1/h² and explodes exactly as h → 0, where a derivative should appear.
# With the noise held fixed -- the reparameterization -- the same quotient converges.

# %%
lessonkit.section("6. Without the trick")
hs = np.array([1e-1, 1e-2, 1e-3, 1e-4])
N_FD = 2000 if args.quick else 20000
rows = []
sd_fresh, sd_fixed = [], []
for h in hs:
    ea, eb = rng.standard_normal((2, N_FD))
    fresh = (((m0 + h) + s0 * ea) ** 2 - ((m0 - h) + s0 * eb) ** 2) / (2 * h)   # new noise
    fixed = (((m0 + h) + s0 * ea) ** 2 - ((m0 - h) + s0 * ea) ** 2) / (2 * h)   # same noise
    sd_fresh.append(fresh.std())
    sd_fixed.append(fixed.std())
    rows.append((h, fresh.mean(), fresh.std(), fixed.mean(), fixed.std()))
lessonkit.table(["h", "mean (fresh noise)", "std (fresh noise)", "mean (fixed ε)", "std (fixed ε)"],
                rows, floatfmt=".4g")
sd_fresh, sd_fixed = np.array(sd_fresh), np.array(sd_fixed)
slope = np.polyfit(np.log(hs), np.log(sd_fresh), 1)[0]
lessonkit.check("fresh noise: slope of log std vs log h (std ∝ 1/h)", slope, -1.0, atol=0.05)
lessonkit.check("fixed ε: std of the difference quotient vs the std of f'(z) = 2z, i.e. 2σ",
                sd_fixed[-1], 2 * s0, rtol=0.1)

seed = args.seed + 70
draw_a = np.random.default_rng(seed).normal(m0, s0, size=5)
draw_b = m0 + s0 * np.random.default_rng(seed).standard_normal(5)
lessonkit.check("numpy's normal(μ, σ) vs μ + σ·standard_normal(), both with the same seed",
                draw_a, draw_b, rtol=1e-15)
lessonkit.say("""
    So fixing the seed of numpy's Gaussian sampler would also give a usable derivative, but
    only because it computes μ + σ · (standard normal) inside -- that *is* the
    reparameterization, hidden.  For a discrete sample there is no such smooth g: a
    Bernoulli(p) drawn as z = [u < p] is a step function of p, so its pathwise derivative is 0
    wherever it exists, although d/dp E[z] = d/dp p = 1.  Backprop through the sample gets 0;
    the truth is 1.
""")
u = rng.random(N_FD)
h = 1e-6
p0 = 0.3
step_deriv = ((u < p0 + h).astype(float) - (u < p0 - h)) / (2 * h)
lessonkit.check_true("Bernoulli(p) via u < p: the pathwise derivative is 0 for almost every u",
                     np.mean(step_deriv == 0) > 0.99, f"{np.mean(step_deriv == 0):.4f} of draws")
lessonkit.check_true("so the pathwise estimate of d/dp E[z] is wrong: the truth is 1",
                     abs(step_deriv.mean() - 1.0) > 0.5,
                     f"average pathwise derivative {step_deriv.mean():.3g}")
lessonkit.say("""
    For such samples use the score-function (REINFORCE) estimator,
    ∇ E_q[f(z)] = E_q[f(z) ∇ log q(z)], which needs no derivative of the sample: lesson 06.
""")

# %% [markdown]
# ## 7. Other base noise, and three slips in lecture 000's slides
# Nothing requires Gaussian noise: z = g(φ, ε) with any ε whose law does not depend on φ.
#
# * Exponential by the inverse CDF: u ~ U(0, 1), z = −log(1 − u)/λ ~ Expo(λ), so
#   ∂z/∂λ = log(1 − u)/λ² = −z/λ and ∂/∂λ E[z] = ∂/∂λ (1/λ) = −1/λ².
# * Uniform base: z = a + (b − a)u ~ U(a, b); E[z²] = (a² + ab + b²)/3, ∂/∂b E[z²] = (a + 2b)/3.
# * Bern(0.5) base: z = θ + s, s = ±1 with probability ½ each; E[z²] = θ² + 1, ∂/∂θ = 2θ.
#   The noise is discrete, but θ only shifts it, so the pathwise derivative still exists.
#
# Lecture 000's slides (read against these lessons) write three things that must be read
# differently: the objective ‖x − x̂‖² without the ½ (it is −log N(x; x̂, ½ I) up to a constant,
# not −log N(x; x̂, I)); X̂ = f(μ + Σ*ε), where the noise must be scaled by a square root of Σ
# (σ, or L with L Lᵀ = Σ), not by Σ; and ε ~ N(μ, Σ), where ε must be standard, ε ~ N(0, I).
# The last two are checked below: each gives a z with the wrong moments.

# %%
lessonkit.section("7. Other base noise, and lecture 000's slips")
N_B = 200_000 if args.quick else 2_000_000
LAM = 2.0
u7 = rng.random(N_B)
z_exp = -np.log1p(-u7) / LAM                          # inverse CDF of Expo(λ)
lessonkit.check(f"Expo(λ = {LAM:g}) by the inverse CDF: sample mean vs 1/λ (±4 s.e.)", z_exp.mean(),
                1 / LAM, rtol=0, atol=4 * z_exp.std() / np.sqrt(N_B))
g_exp = -z_exp / LAM                                   # ∂z/∂λ at fixed u
lessonkit.check("pathwise ∂/∂λ E[z] = mean of −z/λ vs −1/λ² (±4 s.e.)", g_exp.mean(), -1 / LAM ** 2,
                rtol=0, atol=4 * g_exp.std() / np.sqrt(N_B))
A_U, B_U = -0.5, 1.5
z_u = A_U + (B_U - A_U) * u7
g_u = 2 * z_u * u7                                     # f'(z) ∂z/∂b,  ∂z/∂b = u
lessonkit.check("uniform base, z = a + (b − a)u: pathwise ∂/∂b E[z²] vs (a + 2b)/3 (±4 s.e.)",
                g_u.mean(), (A_U + 2 * B_U) / 3, rtol=0, atol=4 * g_u.std() / np.sqrt(N_B))
TH_B = 0.7
s_b = 2.0 * (rng.random(N_B) < 0.5) - 1                # ±1 with probability ½ each
g_b = 2 * (TH_B + s_b)                                 # f'(z) ∂z/∂θ
lessonkit.check("Bern(0.5) base, z = θ ± 1: pathwise ∂/∂θ E[z²] vs 2θ (±4 s.e.)", g_b.mean(),
                2 * TH_B, rtol=0, atol=4 * g_b.std() / np.sqrt(N_B))

e7 = rng.standard_normal((N_B // 10, K))
slip_sigma = mu_f[0] + e7 @ Sigma.T                    # X̂ = f(μ + Σ ε): Σ for L
cov_slip = np.cov(slip_sigma.T)
se_slip = np.sqrt(((Sigma @ Sigma) ** 2 + np.outer(np.diag(Sigma @ Sigma),
                                                   np.diag(Sigma @ Sigma))) / len(e7))
lessonkit.check_below("slip 'μ + Σε': its covariance is Σ² (= Σ Σᵀ), not Σ: largest deviation "
                      "from Σ² in standard errors", np.max(np.abs(cov_slip - Sigma @ Sigma) / se_slip),
                      4.0)
lessonkit.say(f"""
    ... and far from Σ: largest |Cov − Σ| = {np.max(np.abs(cov_slip - Sigma)):.3f}
    (entries of Σ up to {np.max(np.abs(Sigma)):.3f}).
""")
eps_slip = mu_f[0] + e7                                # ε ~ N(μ, I) instead of N(0, I)
z_slip = mu_f[0] + eps_slip @ L[0].T
lessonkit.check("slip 'ε ~ N(μ, Σ)' (here ε ~ N(μ, I)): the mean of z = μ + Lε is μ + Lμ, not μ "
                "(±4 s.e.)", z_slip.mean(axis=0), mu_f[0] + L[0] @ mu_f[0], rtol=0,
                atol=4 * np.sqrt(np.diag(Sigma) / len(e7)))

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax = axes[0]
show = zs[:3000]
ax.scatter(show[:, 0], show[:, 1], s=2, alpha=0.3, label="z = μ + Lε (3000 samples)")
t = np.linspace(0, 2 * np.pi, 200)
C2 = np.linalg.cholesky(Sigma[:2, :2])
for r_ in (1, 2):
    ell = mu_f[0, :2, None] + r_ * C2 @ np.stack([np.cos(t), np.sin(t)])
    ax.plot(*ell, color="k", lw=1, label="1σ and 2σ of N(μ, L Lᵀ)" if r_ == 1 else None)
ax.plot(*mu_f[0, :2], "r+", ms=12, mew=2, label="μ")
ax.set_xlabel("z₁")
ax.set_ylabel("z₂")
ax.set_aspect("equal")
ax.set_title("Full-covariance samples match L Lᵀ (first two dims)")
ax.legend(fontsize=8, loc="upper left")
ax = axes[1]
ax.loglog(hs, sd_fresh, "o-", label="fresh noise per evaluation")
ax.loglog(hs, sd_fixed, "s-", label="fixed ε (reparameterized)")
ax.loglog(hs, 3 * sd_fresh[0] * hs[0] / hs, ":", color="gray", label="∝ 1/h (shifted up)")
ax.set_xlabel("finite-difference step h")
ax.set_ylabel("std of (f(z₊) − f(z₋)) / 2h")
ax.set_title("Differentiating through a sampler needs fixed noise")
ax.legend(fontsize=8)
lessonkit.savefig(fig, args, "moments_and_noise")

# %%
lessonkit.check_yourself([
    "In the graph before the trick, which edge has no derivative, and why does backprop stop "
    "there? Which node has no parents after the trick?",
    "Write z for a diagonal Gaussian with logvar = log σ². What goes wrong in the moment check "
    "if you use exp(logvar) as the standard deviation?",
    "Why is Cov(μ + Lε) = L Lᵀ? Why does the encoder output log L_ii rather than L_ii?",
    "Derive dlogvar for z = μ + exp(½ logvar) ε given an upstream gradient dz.",
    "Why does a finite difference with fresh noise have a standard deviation that grows like "
    "1/h? What changes when the noise is held fixed?",
    "Why can you not reparameterize a Bernoulli sample z = [u < p] usefully, and which estimator "
    "does lesson 06 use instead?",
])
lessonkit.finish()
