"""11 · Tighter bounds starve the encoder: gradient SNR, STL and DReG

The IWAE bound L_K = E log (1/K) Σ w_k tightens as K grows, which helps the generative model.
Rainforth et al. (2018) showed that it also hurts the inference network: the signal-to-noise
ratio |E g| / std g of the encoder's gradient falls like 1/√K while the decoder's rises like √K.
We reproduce it on their Gaussian toy, where everything is known in closed form, check every
hand-written gradient against finite differences, and try two fixes: STL ("sticking the
landing", Roeder et al. 2017), which drops the score term of log q, and DReG (doubly
reparameterized gradients, Tucker et al. 2018).  Last, STL and DReG on a VAE, checked by hand,
and the same measurement on a small trained VAE through its public API.

Run:  python lessons/11_tighter_bounds.py [--out DIR] [--quick] [--seed S]
"""

# %%
import sys
from pathlib import Path

try:
    import numpyvae  # noqa: F401
except ImportError:  # a source checkout that is not pip-installed: use the repository root
    sys.path.insert(0, str(Path(globals().get("__file__", "x")).resolve().parents[1]))

import numpy as np
from scipy.stats import chi2

import numpyvae as nv
from numpyvae import lessonkit
from numpyvae.estimators import snr as S
from numpyvae.plots.snr import plot_snr

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
KS = (1, 3, 10, 30, 100) if args.quick else (1, 3, 10, 30, 100, 300)
REPS = 400 if args.quick else 1000
POINTS = 2 if args.quick else 4
H = 1e-6

# %% [markdown]
# ## 1. The Gaussian toy
# z ~ N(μ, I), x | z ~ N(z, I), D = 20.  Then p(x) = N(μ, 2I) and p(z | x) = N((x + μ)/2, ½ I).
# The encoder is q(z | x) = N(Ax + b, ⅔ I): its variance is wrong on purpose, so no K makes the
# bound exact.  With q equal to the exact posterior every importance weight equals p(x) and the
# bound is log p(x) for every K and every sample — a check of the log-weights.

# %%
lessonkit.section("1. The Gaussian toy")
toy = S.make_toy(rng=rng)
x0, mu, A, b = toy["x"][0], toy["mu"], toy["A"], toy["b"]
D = mu.size
log_px = -0.25 * np.sum((x0 - mu) ** 2) - 0.5 * D * np.log(4 * np.pi)
eps = rng.standard_normal((50, 5, D))
exact_bound = S.iwae_bound(x0, mu, np.zeros((D, D)), 0.5 * (x0 + mu), eps, s2=0.5)
lessonkit.check("IWAE bound with q = p(z|x), 50 draws of K = 5, vs log N(x; μ, 2I)", exact_bound,
                np.full(50, log_px), rtol=1e-12)
bounds = {k: S.iwae_bound(x0, mu, A, b, rng.standard_normal((2000, k, D))) for k in (1, 10, 100)}
means = {k: v.mean() for k, v in bounds.items()}
ses = {k: v.std() / np.sqrt(v.size) for k, v in bounds.items()}
lessonkit.check_true("with q = N(Ax + b, ⅔ I) the bound rises with K and stays below log p(x) "
                     "(means ± 3 s.e.)",
                     means[1] + 3 * ses[1] < means[10] and means[10] + 3 * ses[10] < means[100]
                     and means[100] < log_px,
                     " < ".join(f"{means[k]:.3f}" for k in means) + f" < {log_px:.3f}")

# %% [markdown]
# ## 2. The gradients by hand
# With z_k = m + σ_q ε_k, m = Ax + b, and w̃_k the normalised weights:
#     ∂L/∂μ = Σ w̃_k (z_k − μ),     ∂L/∂m = Σ w̃_k [(μ − z_k) + (x − z_k)]   (IWAE),
# the total derivative through z_k; the score term ∂_m(−log q)|_z = −(z − m)/σ_q² has already
# cancelled the path term (z − m)/σ_q² of −log q.  STL keeps the path term only; DReG also
# squares the weights:
#     STL:  Σ w̃_k [(μ − z_k) + (x − z_k) + (z_k − m)/σ_q²],     DReG:  Σ w̃_k² [same].
# Check the IWAE gradients against central differences of the bound with the noise held fixed.

# %%
lessonkit.section("2. The gradients by hand")
e1 = rng.standard_normal((1, 7, D))
g = S.gradients(x0, mu, A, b, e1)


def bound_at(mu_=mu, A_=A, b_=b):
    return float(S.iwae_bound(x0, mu_, A_, b_, e1)[0])


def fd_vec(f, x):
    """Central differences of f at a copy of x (the package's checker, step H)."""
    return nv.gradcheck.numerical_gradient(f, x.copy(), h=H)


lessonkit.check("∂L/∂μ (decoder) vs finite differences, K = 7", g["mu"][0],
                fd_vec(lambda v: bound_at(mu_=v), mu), rtol=1e-6, atol=1e-8)
lessonkit.check("∂L/∂b (encoder, IWAE) vs finite differences", g["iwae"]["b"][0],
                fd_vec(lambda v: bound_at(b_=v), b), rtol=1e-6, atol=1e-8)
lessonkit.check("∂L/∂A (encoder, IWAE) vs finite differences", g["iwae"]["A"][0],
                fd_vec(lambda v: bound_at(A_=v), A), rtol=1e-6, atol=1e-8)
lessonkit.check_true("STL is not the gradient of the bound at fixed noise (it drops a term)",
                     not np.allclose(g["stl"]["b"][0], g["iwae"]["b"][0], rtol=1e-3))

# %% [markdown]
# ## 3. SNR against K
# Parameters perturbed by N(0, 0.01²) around the optimum.  For each K, R repetitions of the
# K-sample gradient at a data point give the SNR of every parameter; we print the median.
# Why the encoder starves: its expected gradient is a difference of two bounds that approach
# each other, shrinking like 1/K, while its noise shrinks only like 1/√K.  The decoder's
# expected gradient converges to the gradient of log p(x) and its noise shrinks like 1/√K.
# (The standard IWAE encoder's mean is taken from the DReG samples, which have the same
# expectation — section 5 checks it — and far less noise; its own sample mean over R draws
# would sit on a noise floor near 1/√R.)
# There is no closed form for these SNRs, so each comes with a 95% interval: resample the R
# repetitions with replacement, recompute every parameter's SNR and their median, and take the
# spread of log SNR over the resamples as its standard error.  The slope's ± carries those
# errors through the least-squares fit (the K are independent runs); the fit's own residual
# s.e. adds any misfit, e.g. curvature where √K is reached only asymptotically.

# %%
lessonkit.section("3. SNR against K")
rows, samples = S.snr_study(toy, Ks=KS, repetitions=REPS, rng=rng, n_points=POINTS)
toy_slope = {}
for est, part, slope in (("iwae", "encoder", -0.5), ("iwae", "decoder", 0.5)):
    fitted = toy_slope[part] = S.loglog_slope(rows, est, part)
    lessonkit.check(f"log-log slope of the {part}'s SNR (IWAE) against K vs {slope:+g}", fitted,
                    slope, rtol=0, atol=0.15)
for est in ("stl", "dreg"):
    fitted = S.loglog_slope(rows, est, "encoder")
    lessonkit.check_true(f"{est.upper()}: the encoder's SNR rises with K (slope > 0.1)",
                         fitted > 0.1, f"slope {fitted:+.3f}")
lessonkit.say(S.format_snr(rows))

# %% [markdown]
# ## 4. STL at the exact posterior
# If q = p(z|x), log w = log p(x) does not depend on z, so ∂_z log w = 0 for every sample: every
# STL gradient term is exactly zero.  The standard pathwise (K = 1 ELBO) gradient is
# μ + x − 2z, with variance 4σ_q² = 2 per coordinate, although its mean is 0 too: the score
# term it keeps has mean zero and only adds noise.

# %%
lessonkit.section("4. STL at the exact posterior")
ez = rng.standard_normal((REPS, 1, D))
std_g, stl_g = S.stl_at_exact_posterior(x0, mu, ez)
lessonkit.check("STL gradient at q = p(z|x): max |g| over every sample and coordinate vs 0",
                np.max(np.abs(stl_g)), 0.0, atol=1e-12)
v = std_g.var(axis=0, ddof=1)
lo, hi = (chi2.ppf(q, REPS - 1) / (REPS - 1) * 2.0 for q in (0.0005 / D, 1 - 0.0005 / D))
lessonkit.check_true(f"standard pathwise gradient variance vs 4σ_q² = 2: every coordinate in "
                     f"the χ² interval [{lo:.2f}, {hi:.2f}] (99.9%, Bonferroni over {D})",
                     np.all((v > lo) & (v < hi)), f"range {v.min():.3f} to {v.max():.3f}")

# %% [markdown]
# ## 5. DReG is unbiased; STL is not, for K > 1
# DReG and the standard IWAE gradient are computed on the same noise, so the paired differences
# are independent across repetitions: a paired t-test per coordinate of b (Bonferroni over 20)
# should find nothing for DReG.  The same test finds STL's bias at K > 1 (it drops a term whose
# expectation is zero only for K = 1), which shows the test has power.

# %%
lessonkit.section("5. DReG is unbiased; STL is not, for K > 1")
for k in KS:
    d = {e: np.concatenate(v) for e, v in samples[k].items()}
    _, p_d = S.paired_t(d["dreg"], d["iwae"])
    _, p_s = S.paired_t(d["stl"], d["iwae"])
    p_d, p_s = min(1.0, p_d.min() * D), min(1.0, p_s.min() * D)
    lessonkit.check_true(f"K = {k}: DReG vs IWAE, paired t-test, no bias (Bonferroni p > 0.001)",
                         p_d > 1e-3, f"p = {p_d:.3g}; STL vs IWAE p = {p_s:.3g}")
big = max(KS)
d = {e: np.concatenate(v) for e, v in samples[big].items()}
_, p_s = S.paired_t(d["stl"], d["iwae"])
lessonkit.check_true(f"K = {big}: the same test rejects STL (Bonferroni p < 1e-6)",
                     p_s.min() * D < 1e-6, f"p = {p_s.min() * D:.3g}")

# %% [markdown]
# ## 6. STL and DReG on a VAE, by hand
# On the toy we wrote the three gradients out; on a VAE they come from the same backward pass
# with two changes.  (a) STL: log q(z; φ) is differentiated through z only, its parameters held
# fixed (a stop-gradient), so the gradient of log q enters as dz += dlog_q · ∂log q/∂z, with
# ∂log q/∂z = −(z − μ)/σ² = −ε/σ for a diagonal q (``posterior.backward(..., score=False)``).
# (b) DReG: the encoder's weights are w̃_k², the decoder's stay w̃_k.  Every path from log w_k
# to the encoder passes through z_k, so one factor w̃_k on the gradient reaching z_k, after the
# decoder's backward, turns w̃_k into w̃_k² (``objective="iwae_dreg"``).  Each is the gradient of
# a surrogate loss, which we check by central differences in float64:
#     STL:   −mean_n log (1/K) Σ_k exp(log p(x, z_k(φ)) − log q(z_k(φ); φ_stop)),
#     DReG:  −mean_n Σ_k stop(w̃_k²) [log p(x, z_k(φ)) − log q(z_k(φ); φ_stop)]   (encoder).

# %%
lessonkit.section("6. STL and DReG on a VAE, by hand")
small = nv.VAE(6, [5], 3, activation="tanh", rng=np.random.default_rng(args.seed),
               dtype=np.float64)
small.params[...] += 0.3 * rng.standard_normal(small.params.size)
xs = (rng.random((4, 6)) > 0.5).astype(np.float64)
es = rng.standard_normal((5, 4, 3))
h_stop = small.encoder.forward(xs)[0].copy()            # φ_stop: q's parameters, frozen
n_enc = sum(v.size for n, v in small.named_params().items() if n.startswith("encoder"))


def log_w_stop(eps_):
    """log p(x, z_k) − log q(z_k; φ_stop) with z_k = μ(φ) + σ(φ) ε_k: (K, N)."""
    h, _ = small.encoder.forward(xs)
    z = small.posterior.forward(h, eps_, kl=False)[0].z
    mu0, logvar0 = small.posterior.params(h_stop)
    log_q = np.sum(-0.5 * (z - mu0) ** 2 / np.exp(logvar0) - 0.5 * logvar0
                   - 0.5 * np.log(2 * np.pi), axis=-1)
    out, _ = small.decoder.forward(z.reshape(-1, 3))
    log_px, _ = small.likelihood_forward(xs, out.reshape(z.shape[0], 4, -1))
    return log_px + nv.distributions.log_std_normal(z) - log_q


lw0 = log_w_stop(es)
w2 = (np.exp(lw0 - lw0.max(0)) / np.exp(lw0 - lw0.max(0)).sum(0)) ** 2    # stop(w̃²)
surrogates = {"iwae_stl": lambda: -np.mean(np.log(np.mean(np.exp(log_w_stop(es)), axis=0))),
              "iwae_dreg": lambda: -np.mean(np.sum(w2 * log_w_stop(es), axis=0))}
grads = {}
for obj in ("iwae", "iwae_stl", "iwae_dreg"):
    small.loss_and_grad(xs, eps=es, objective=obj)
    grads[obj] = small.grads.copy()
for obj, f in surrogates.items():
    fd = np.array([nv.gradcheck.numerical_gradient(f, small.params[i:i + 1], h=1e-6)[0]
                   for i in range(n_enc)])
    lessonkit.check(f"{obj}: encoder gradient vs central differences of its surrogate "
                    "(relative error)", nv.gradcheck.rel_error(grads[obj][:n_enc], fd), 0.0,
                    atol=1e-7)
lessonkit.check("STL and DReG decoder gradients vs IWAE's: max |difference| (bit for bit)",
                max(np.max(np.abs(grads[o][n_enc:] - grads["iwae"][n_enc:]))
                    for o in ("iwae_stl", "iwae_dreg")), 0.0, atol=0.0)
lessonkit.check_true("STL's encoder gradient is not IWAE's at fixed noise (the score term)",
                     nv.gradcheck.rel_error(grads["iwae_stl"][:n_enc], grads["iwae"][:n_enc])
                     > 1e-3)
g1 = {}
for obj in ("iwae_stl", "iwae_dreg"):
    small.loss_and_grad(xs, eps=es[:1], objective=obj)
    g1[obj] = small.grads.copy()
lessonkit.check("K = 1: every w̃ is 1, so DReG = STL: max |difference|",
                np.max(np.abs(g1["iwae_dreg"] - g1["iwae_stl"])), 0.0, atol=0.0)

# %% [markdown]
# DReG has the expectation of the IWAE gradient; STL does not for K > 1.  The same paired
# t-test as in section 5, per encoder parameter of the small VAE at K = 8 (Bonferroni).

# %%
reps_t = 600 if args.quick else 2000
pairs = {o: [] for o in ("iwae", "iwae_stl", "iwae_dreg")}
for _ in range(reps_t):
    e8 = rng.standard_normal((8, 4, 3))
    for o, samples_o in pairs.items():
        small.loss_and_grad(xs, eps=e8, objective=o)
        samples_o.append(small.grads[:n_enc].copy())
pairs = {o: np.array(v) for o, v in pairs.items()}
live = pairs["iwae"].std(axis=0) > 0            # weights of inputs that are 0 in x: no gradient
_, p_d = S.paired_t(pairs["iwae_dreg"][:, live], pairs["iwae"][:, live])
_, p_s = S.paired_t(pairs["iwae_stl"][:, live], pairs["iwae"][:, live])
m = int(live.sum())
lessonkit.check_true(f"K = 8, {reps_t} draws: DReG vs IWAE, no bias (Bonferroni over {m}, "
                     "p > 0.001)", min(1.0, m * p_d.min()) > 1e-3,
                     f"p = {min(1.0, m * p_d.min()):.3g}")
lessonkit.check_true("the same test rejects STL (Bonferroni p < 1e-6)", m * p_s.min() < 1e-6,
                     f"p = {m * p_s.min():.3g}")

# %% [markdown]
# ## 7. A trained VAE
# The SNR of the three gradients for a small trained VAE's encoder and decoder, on the same
# noise, through the public API (``loss_and_grad(x, eps=..., objective=...)`` with "iwae",
# "iwae_stl", "iwae_dreg", and ``named_grads()``).  Each mean is estimated from the same R
# draws, so SNRs near 1/√R are at the noise floor, and a trained VAE is not near-optimal in the
# toy's sense: read the slopes, don't expect ±½.  The STL and DReG decoder rows repeat IWAE's.
# The intervals come from a bootstrap over 10 groups of repetitions: the study keeps only the
# sums Σ g and Σ g² of each group, so its memory does not grow with R.

# %%
lessonkit.section("7. A trained VAE")
x_train = nv.datasets.load_dataset("shapes", "train", n=2000).x
vae = nv.VAE(784, [64], 4, rng=np.random.default_rng(args.seed))
opt = nv.optim.Adam(lr=1e-3)
steps = 200 if args.quick else 1000
for step in range(steps):
    batch = x_train[rng.integers(0, x_train.shape[0], 64)]
    loss, grad = vae.loss_and_grad(batch, rng)
    opt.step(vae.params, grad)
lessonkit.say(f"trained 784-64-4 for {steps} steps: final loss {loss:.1f} nats")
vae_ks = (1, 8, 64)
vae_reps = 20 if args.quick else 100
vae_rows = S.vae_snr(vae, x_train[:4], Ks=vae_ks, repetitions=vae_reps, rng=rng)
lessonkit.say(S.format_snr(vae_rows))
lessonkit.say(f"(noise floor about 1/√R = {1 / np.sqrt(vae_reps):.2f}; intervals: a bootstrap over "
              f"{min(10, vae_reps)} groups of repetitions, as vae_snr keeps sums, not draws.  It "
              "checks on every draw that the STL and DReG decoder gradients are IWAE's, bit for "
              "bit, so their decoder rows are the IWAE row.)")
vae_fit = S.loglog_fit(vae_rows, "iwae", "encoder")
lessonkit.say(f"""
    The trained VAE's IWAE encoder slope is {vae_fit['slope']:+.3f} ± {vae_fit['se']:.3f}, beside
    section 3's {toy_slope['encoder']:+.3f} on the toy.  The two do not contradict each other:
    the −½ law needs the encoder's expected gradient to be the difference of two bounds that
    approach each other, which holds near an optimum where q is close to p(z|x) (the toy,
    started 0.01 from its optimum).  After {steps} steps this VAE's q is far from its
    posterior, the encoder's expected gradient is not such a vanishing difference, and over
    K = {vae_ks[0]}…{vae_ks[-1]} its SNR {'does not fall' if vae_fit['slope'] > -0.25 else 'falls, but for other reasons'}.  The −½ is a law about encoders near
    their optimum, where the IWAE bound is tight, not about every encoder.
""")
png = plot_snr(rows + vae_rows, Path(args.out) / "snr.png", floors={"vae": 1 / np.sqrt(vae_reps)})
lessonkit.show_figure(png)

# %%
lessonkit.check_yourself([
    ("Why does the expected encoder gradient of the IWAE bound shrink like 1/K while its standard "
     "deviation shrinks like 1/√K? What does that do to the SNR?"),
    ("Why is every STL gradient sample zero when q is the exact posterior? Is the standard "
     "gradient's mean zero there too?"),
    ("STL is unbiased for the ELBO (K = 1) but biased for the IWAE bound. Which term does it drop, "
     "and why does that term's expectation vanish only for K = 1?"),
    "Where does the square on the weights in DReG come from?",
    "The decoder's SNR rises with K. Why does that not help if the encoder cannot learn?",
    ("Why do we estimate the IWAE encoder's mean from the DReG samples, and what would go wrong "
     "with its own sample mean at large K?"),
    ("On the VAE, DReG multiplies the gradient reaching z_k by w̃_k after the decoder's backward. "
     "Why does that square the encoder's weights but leave the decoder's alone?"),
])
lessonkit.finish()
