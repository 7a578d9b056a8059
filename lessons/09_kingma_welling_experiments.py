"""09 · Kingma & Welling's experiments, small

Experiments from "Auto-Encoding Variational Bayes" (2014), at classroom budgets: the lower
bound against the number of training samples seen, for several latent sizes N_z, on MNIST and
Frey Face (their Fig. 2); the learned 2-D latent manifold, decoded on an inverse-CDF grid (their
Fig. 4); and the marginal likelihood, estimated by importance sampling (and by sampling the
prior, to see why that fails) and checked against exact quadrature over a 2-D latent space;
last, the same 2-D model trained by wake-sleep beside AEVB.

Run:  python lessons/09_kingma_welling_experiments.py [--out DIR] [--quick] [--seed S]
Data: MNIST and Frey Face from $NUMPYVAE_DATA (or ~/.cache/numpyvae); the built-in shapes
dataset stands in for whichever is missing.
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
from scipy.special import logsumexp, ndtri

import numpyvae as nv
from numpyvae import datasets, lessonkit
from numpyvae import distributions as dist
from numpyvae.evaluate import log_likelihood
from numpyvae.functional import softplus

args = lessonkit.parse_args(__doc__)
QUICK = args.quick
M = 100                                            # minibatch size (K&W: 100), L = 1
HIDDEN = 200                                       # hidden units (K&W: 500 MNIST, 200 Frey Face)
NZ = (2, 5) if QUICK else (2, 5, 10, 20)           # latent sizes (K&W: 3 ... 200)
STEPS = 150 if QUICK else 800                      # per run: up to STEPS x M samples seen
N_TRAIN_MNIST = 5000 if QUICK else 50_000
N_EVAL = 200 if QUICK else 500                     # images for each bound evaluation
GRID = 400                                         # quadrature grid per axis (section 3)


def rng_for(*key):
    """An independent generator per purpose, so runs do not depend on each other's order."""
    return np.random.default_rng([args.seed, *key])


def fallback(what, err):
    lessonkit.say(f"""
        {what} is not available ({type(err).__name__}: {str(err)[:100]}...).
        FALLING BACK to the built-in shapes dataset in its place.  Point NUMPYVAE_DATA at a
        folder holding the files to run this part on {what}.
    """)


def load_mnist():
    """-> dict(name, x, x_test, shape, likelihood, binarize, lr)."""
    try:
        x, _ = datasets.load_mnist("train50k", return_labels=False, download=False)
        xt, _ = datasets.load_mnist("test", return_labels=False, download=False)
        name = "MNIST"
    except (OSError, ValueError) as err:
        fallback("MNIST", err)
        x = datasets.load_dataset("shapes", "train", n=min(N_TRAIN_MNIST, 10_000)).x
        xt = datasets.load_dataset("shapes", "test", n=N_EVAL).x
        name = "shapes (for MNIST)"
    return dict(name=name, slug="mnist" if name == "MNIST" else "shapes_for_mnist",
                x=x[:N_TRAIN_MNIST], x_test=xt, shape=datasets.MNIST_SHAPE,
                likelihood="bernoulli", binarize=True, lr=3e-3)


def load_frey():
    try:
        x = datasets.load_frey_face("train", download=False)
        xt = datasets.load_frey_face("test", download=False)
        name, shape, logvar = "Frey Face", datasets.FREY_SHAPE, "learned"
    except (OSError, ValueError) as err:
        fallback("Frey Face", err)
        lessonkit.say("""
            The shapes have a background of exact zeros, where a learned decoder variance would
            shrink to its floor (σ² = Q²/2π, Q = 1/255; without the floor, without limit) and
            every background pixel would add log 255 = 5.5 nats to the bound, whatever the
            model learned about the shapes; the stand-in uses a fixed variance σ² = 0.01 instead.
        """)
        x = datasets.load_dataset("shapes", "valid", n=2000).x
        xt = datasets.load_dataset("shapes", "test", n=N_EVAL).x
        name, shape, logvar = "shapes (for Frey Face)", datasets.MNIST_SHAPE, float(np.log(0.01))
    return dict(name=name, slug="frey" if name == "Frey Face" else "shapes_for_frey",
                x=x, x_test=xt, shape=shape, likelihood="gaussian", binarize=False,
                lr=1e-3 if logvar == "learned" else 3e-3, decoder_logvar=logvar)


DATA = [load_mnist(), load_frey()]
for i, d in enumerate(DATA):
    r = rng_for(i, 0)
    d["eval_train"] = d["x"][r.permutation(len(d["x"]))[:N_EVAL]]
    # a random subset of the test set: MNIST's first 5000 test digits are the cleaner half
    d["eval_test"] = d["x_test"][r.permutation(len(d["x_test"]))[:N_EVAL]]
    if d["binarize"]:                              # evaluate on one fixed binarization
        d["eval_train"] = datasets.binarize_dynamic(d["eval_train"], r)
        d["eval_test"] = datasets.binarize_dynamic(d["eval_test"], r)
    lessonkit.say(f"{d['name']}: {len(d['x'])} training, {len(d['x_test'])} test images of "
                  f"{d['shape'][0]}x{d['shape'][1]}, {d['likelihood']} decoder.")

# %% [markdown]
# ## 1. The lower bound against the number of training samples seen
# K&W's Fig. 2 trains encoder and decoder MLPs with one hidden layer for several latent sizes
# N_z and plots the lower bound, on training and on test data, against the number of training
# samples the optimiser has seen (log scale, up to 10⁸).  Here: N_z ∈ {2, 5, 10, 20} ({2, 5}
# with --quick), 200 hidden tanh units, minibatches of M = 100 with L = 1, Adam, 800 steps (150
# with --quick), so at most 8·10⁴ samples: the left end of their plot.  MNIST pixels are
# binarized afresh for every minibatch (Bernoulli decoder); Frey Face has a Gaussian decoder
# that learns a mean in (0, 1) and a variance per pixel, so its "bound" is a log *density* and
# can be positive.  The log-variance has a floor, log σ² = floor + softplus(raw − floor) with
# floor = log(Q²/2π), Q = 1/255 the grey-level step: a smaller σ² would give one grey level
# probability > 1, so each pixel adds at most log 255 = 5.5 nats (without a floor a pixel that
# never changes sends the bound to +∞).  Each decoder starts out predicting the average
# training image (its output bias is the logit of the mean pixel values), so the first steps are
# not spent learning that.

# %%
lessonkit.section("1. The lower bound against training samples seen")
lessonkit.say(f"N_z ∈ {NZ}, {STEPS} steps of M = {M} per run.")
EVAL_AT = np.unique(np.geomspace(1, STEPS, 10 if QUICK else 14).round().astype(int))


def bound(m, x, key):
    """Mean lower bound over x (nats per image), with the same noise at every evaluation."""
    return float(m.elbo(x, rng_for(*key)).mean(dtype=np.float64))


def train_run(i, d, nz, steps=STEPS):
    """Train one model; -> (model, [(samples seen, train bound, test bound)])."""
    r = rng_for(i, nz, 1)
    m = nv.VAE(d["x"].shape[1], [HIDDEN], nz, likelihood=d["likelihood"], activation="tanh",
               init="xavier", rng=r, decoder_logvar=d.get("decoder_logvar", "learned"))
    # Start the decoder at the average image: output bias = logit of the mean pixel values
    # (Bernoulli logits, or the pre-sigmoid Gaussian mean).  Training then spends no steps on it.
    mean = np.clip(d["x"].mean(axis=0), 1e-3, 1 - 1e-3)
    m.decoder.layers[-1].params["b"][:len(mean)] = np.log(mean / (1 - mean))
    opt = nv.optim.Adam(d["lr"])
    curve = []
    for t in range(1, steps + 1):
        batch = d["x"][r.integers(0, len(d["x"]), M)]
        if d["binarize"]:
            batch = datasets.binarize_dynamic(batch, r)
        _, grad = m.loss_and_grad(batch, r)
        opt.step(m.params, grad)
        if t in EVAL_AT:
            curve.append((t * M, bound(m, d["eval_train"], (i, 2)),
                          bound(m, d["eval_test"], (i, 3))))
    return m, np.array(curve)


runs = {}
for i, d in enumerate(DATA):
    for nz in NZ:
        runs[i, nz] = train_run(i, d, nz)
    lessonkit.table(["N_z", "train bound (first)", "train bound (last)", "test bound (last)",
                     "latents in use"],
                    [(nz, runs[i, nz][1][0, 1], runs[i, nz][1][-1, 1], runs[i, nz][1][-1, 2],
                      int(np.sum(dist.kl_std_normal_per_dim(*runs[i, nz][0].encode(
                          d["eval_test"])).mean(axis=0) > 0.1))) for nz in NZ],
                    floatfmt=".1f")
    lessonkit.say(f"({d['name']}; 'latents in use': mean KL(q(z_j|x) ‖ N(0, 1)) > 0.1 nats.)")
    diffs, above, below = [], [], []
    for nz in NZ:
        m_ = runs[i, nz][0]
        b_tr = m_.elbo(d["eval_train"], rng_for(i, 2)).astype(np.float64)
        b_te = m_.elbo(d["eval_test"], rng_for(i, 3)).astype(np.float64)
        se_ = np.sqrt(b_tr.var(ddof=1) / len(b_tr) + b_te.var(ddof=1) / len(b_te))
        diff_ = b_te.mean() - b_tr.mean()
        diffs.append(f"N_z = {nz}: {diff_:+.1f} ± {2 * se_:.1f}")
        if diff_ > 2 * se_:
            above.append(nz)
        elif diff_ < -2 * se_:
            below.append(nz)
    lessonkit.say(f"Test minus training bound at the end (±2 s.e.; {len(b_te)} test and "
                  f"{len(b_tr)} training images):\n  " + ";  ".join(diffs))
    inside = [nz for nz in NZ if nz not in above and nz not in below]
    if inside:
        lessonkit.say(f"""
            N_z = {', '.join(map(str, inside))}: the difference lies within ±2 s.e.  After
            {STEPS * M:,} samples seen ({STEPS * M / len(d['x']):.1f} passes over the
            {len(d['x'])} training images) the two bounds cannot be told apart on this many
            images, whichever of them is higher.
        """)
    if below:
        lessonkit.say(f"""
            N_z = {', '.join(map(str, below))}: the training bound lies above the test bound
            by more than 2 s.e.: the start of overfitting (K&W's Fig. 2 shows it for large
            N_z on Frey Face after many more samples).
        """)
    if above:
        lessonkit.say(f"""
            N_z = {', '.join(map(str, above))}: the test bound lies above the training bound
            by more than 2 s.e.  A model does not fit unseen images better than the ones it
            was trained on; the {N_EVAL} test images drawn here are easier on average than the
            {N_EVAL} training images (on MNIST the test set is not exchangeable with the
            training set: its first 5000 digits come from NIST's cleaner SD-3 writers, which
            is why this lesson draws its test images at random from all of them).
        """)
    for nz in NZ:
        c = runs[i, nz][1]
        lessonkit.check_true(f"{d['name']}, N_z = {nz}: the training bound rose by > 10% of its "
                             "first value", c[-1, 1] - c[0, 1] > 0.1 * abs(c[0, 1]),
                             f"{c[0, 1]:.1f} → {c[-1, 1]:.1f}")
    last = {nz: runs[i, nz][1][-1, 2] for nz in NZ}
    lessonkit.check_true(f"{d['name']}: N_z = 2 is a bottleneck: its test bound is the lowest",
                         last[2] < max(v for nz, v in last.items() if nz > 2),
                         f"{last[2]:.1f} vs best {max(last.values()):.1f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
colours = dict(zip(NZ, plt.cm.viridis(np.linspace(0.0, 0.85, len(NZ)))))
for ax, (i, d) in zip(axes, enumerate(DATA)):
    for nz in NZ:
        c = runs[i, nz][1]
        ax.plot(c[:, 0], c[:, 1], "-", color=colours[nz], label=f"N_z = {nz}, train")
        ax.plot(c[:, 0], c[:, 2], "--", color=colours[nz], label=f"N_z = {nz}, test")
    ax.set_xscale("log")
    lo = min(runs[i, nz][1][:, 1:].min() for nz in NZ)          # every curve from its start
    hi = max(runs[i, nz][1][:, 1:].max() for nz in NZ)
    ax.set_ylim(lo, hi + 0.05 * (hi - lo))
    ax.set_xlabel("training samples seen")
    ax.set_ylabel("lower bound (nats per image)")
    ax.set_title(f"{d['name']}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
fig.suptitle(f"AEVB lower bound vs samples seen (K&W Fig. 2, small): {HIDDEN} tanh units, "
             f"M = {M}, L = 1", fontsize=11)
fig.tight_layout()
lessonkit.savefig(fig, args, "bound_vs_samples")

# %% [markdown]
# ## 2. The learned 2-D manifold
# With N_z = 2 the whole latent space fits on a page.  K&W's Fig. 4 decodes a grid of z, but
# not a linear one: z = Φ⁻¹(u) for u on an even grid in the unit square, Φ the standard normal
# CDF.  Each grid cell then holds the same prior probability, so the figure spends its space
# where the prior puts its mass, not on the improbable tails.

# %%
lessonkit.section("2. The learned 2-D manifold")
n_grid = {0: 15 if QUICK else 20, 1: 10 if QUICK else 14}
lessonkit.say("""
    The grid: u_i = (i + ½)/n and z_i = Φ⁻¹(u_i) (scipy.special.ndtri), so the cell edges
    Φ⁻¹(i/n) cut the prior N(0, I) into n² cells of mass 1/n² each, and each grid point is the
    median of its cell.  (A statement about the construction, not a check: scipy's Φ⁻¹ is
    trusted here.)
""")


def manifold(m, n, shape):
    """Decoder means on the n x n inverse-CDF grid: (n, n, h, w); z₁ to the right, z₂ up."""
    uu = (np.arange(n) + 0.5) / n
    z1, z2 = np.meshgrid(ndtri(uu), ndtri(uu[::-1]))
    z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(m.dtype)
    out = m.decode(z)
    mean = 1 / (1 + np.exp(-out)) if m.likelihood == "bernoulli" else out
    return mean.reshape(n, n, *shape)


FIXED_VAR = 0.01                                   # the decoder variance of the Frey manifold
for i, d in enumerate(DATA):
    n = n_grid[i]
    model_2d, note, cfg = runs[i, 2][0], "", d
    if d.get("decoder_logvar") == "learned":
        spread_learned = float(manifold(model_2d, n, d["shape"]).reshape(n * n, -1)
                               .std(axis=0).mean())
        # the same N_z = 2 model and budget, with the decoder variance fixed at σ² = 0.01
        cfg = dict(d, decoder_logvar=float(np.log(FIXED_VAR)), lr=3e-3)
        model_2d = train_run(i, cfg, 2)[0]
        note = f"; decoder variance fixed at σ² = {FIXED_VAR}"
    imgs = manifold(model_2d, n, d["shape"])
    spread = float(imgs.reshape(n * n, -1).std(axis=0).mean())      # how much the means move
    data_spread = float(d["x"].std(axis=0).mean())
    big = imgs.transpose(0, 2, 1, 3).reshape(n * d["shape"][0], n * d["shape"][1])
    scale = 2.0 if i == 0 else 3.0                   # screen pixels per image pixel
    fig = plt.figure(figsize=(big.shape[1] * scale / 110, big.shape[0] * scale / 110 + 0.5))
    ax = fig.add_axes([0, 0, 1, big.shape[0] * scale / 110 / fig.get_figheight()])
    ax.imshow(big, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(f"{d['name']}, N_z = 2{note}: decoder means at z = Φ⁻¹(u) on a {n}x{n} grid\n"
                 "(z₁ grows to the right, z₂ upwards; after K&W Fig. 4)", fontsize=9, y=0.995)
    lessonkit.say(f"{d['name']}: the decoder mean's pixel std across the grid is {spread:.3f}, "
                  f"the data's pixel std {data_spread:.3f}.")
    if d.get("decoder_logvar") == "learned":
        lessonkit.say(f"""
            With the variance learned per pixel (the model of section 1), the {d['name']}
            grid shows almost the same face everywhere: pixel std across the grid
            {spread_learned:.3f}.  After only {STEPS * M:,} samples seen (K&W trained for
            ~10⁷) that decoder has learned the average face and a variance that absorbs most
            of the variation between faces; its mean has barely begun to move with z.  The
            figure is therefore drawn from the same N_z = 2 model trained with the decoder
            variance fixed at σ² = {FIXED_VAR}: a mistake in the mean now costs 1/(2σ²) = 50
            nats per unit squared error, so z has to carry pose and expression.  The grid
            varies more ({spread:.3f}), yet still less than the data ({data_spread:.3f}):
            the changes of pose across and of expression down the grid are visible but small
            at this budget.
        """)
    lessonkit.savefig(fig, args, "manifold_2d_" + d["slug"])
    flat = imgs.reshape(n * n, -1)
    neighbour = np.mean(np.sum(np.diff(imgs, axis=1).reshape(-1, flat.shape[1]) ** 2, 1))
    pairs = rng_for(i, 4).integers(0, n * n, (2, 500))
    random_pair = np.mean(np.sum((flat[pairs[0]] - flat[pairs[1]]) ** 2, 1))
    init_flat = manifold(train_run(i, cfg, 2, steps=0)[0], n, d["shape"]).reshape(n * n, -1)
    init_pair = np.mean(np.sum((init_flat[pairs[0]] - init_flat[pairs[1]]) ** 2, 1))
    # A decoder that ignores z (untrained, or collapsed to the average image) draws nearly the
    # same image everywhere, and its neighbours differ less than random pairs too, trivially.
    # So first: the trained grid must vary far more than the same model's grid at initialisation.
    lessonkit.check_true(f"{d['name']}: training made the grid vary (random pairs of grid "
                         "images differ > 5x more than at initialisation)",
                         random_pair > 5 * init_pair,
                         f"mean squared difference {random_pair:.2f} vs {init_pair:.3f} "
                         "before training")
    lessonkit.check_true(f"{d['name']}: neighbouring grid images differ less than random pairs "
                         "(a smooth manifold)", neighbour < 0.5 * random_pair,
                         f"mean squared difference {neighbour:.2f} vs {random_pair:.2f}")

# %% [markdown]
# ## 3. The marginal likelihood: importance sampling against exact quadrature
# K&W (§5, appendix D) estimated log p(x) = log ∫ p(x|z) p(z) dz of their low-dimensional models
# with an MCMC-based estimator.  The usual estimator today is importance sampling with the
# encoder's q(z|x) as the proposal (Burda et al. 2016), which numpyvae.evaluate.log_likelihood
# computes:
#
#     log p(x) ≈ log 1/K Σₖ p(x|zₖ) p(z_k)/q(zₖ|x),   zₖ ~ q(z|x).
#
# With a 2-D latent space we can check it: integrate on a fine grid.  With spacing h,
#     p(x) ≈ h² Σᵢⱼ p(x | zᵢⱼ) p(zᵢⱼ)    over [−6, 6]², 400 x 400 midpoints, in float64
# (log-sum-exp, so nothing underflows).  The integrand is smooth and vanishes at the border of
# the box, which makes this rule accurate to far more digits than we need.  The model: a VAE
# with z_dim = 2 on 14x14 images (the 28x28 images averaged over 2x2 blocks), binarized, in
# float64.  The same grid gives the exact ELBO and KL(q ‖ p(z|x)), so we can also check
#     log p(x) − ELBO = KL(q(z|x) ‖ p(z|x)) ≥ 0.

# %%
lessonkit.section("3. Marginal likelihood: importance sampling vs quadrature")


POOL = 2
SMALL = (DATA[0]["shape"][0] // POOL, DATA[0]["shape"][1] // POOL)


def pool(x, shape):
    """Average POOL x POOL blocks of (N, h*w) images -> (N, (h/POOL)*(w/POOL)), float64."""
    h, w = shape
    return x.reshape(-1, h // POOL, POOL, w // POOL, POOL).mean(axis=(2, 4)).reshape(
        len(x), -1).astype(np.float64)


small = pool(DATA[0]["x"][:10_000], DATA[0]["shape"])
small_test = datasets.binarize_dynamic(pool(DATA[0]["x_test"][:50], DATA[0]["shape"]),
                                       rng_for(5, 0))
r3 = rng_for(5, 1)
tiny = nv.VAE(small.shape[1], [64], 2, likelihood="bernoulli", activation="tanh",
              init="xavier", rng=r3, dtype=np.float64)
opt = nv.optim.Adam(3e-3)
for t in range(1000 if QUICK else 3000):
    _, grad = tiny.loss_and_grad(datasets.binarize_dynamic(small[r3.integers(0, len(small), M)],
                                                           r3), r3)
    opt.step(tiny.params, grad)
N_PTS = 3 if QUICK else 6
x3 = small_test[:N_PTS]
lessonkit.say(f"A {tiny.x_dim}-64-2 VAE trained on {SMALL[0]}x{SMALL[1]} {DATA[0]['name']} "
              f"images; {N_PTS} test images.")


def quadrature(m, x, n, half_width=6.0):
    """Grid midpoints z (n², 2), h, and log p(x|z) + log p(z) on them (N, n²).

    log p(x|z) = Σ_d [x_d l_d − softplus(l_d)]: the softplus sum does not depend on x, so it is
    computed once per grid point, and the x·l part for all images is one matrix product."""
    h = 2 * half_width / n
    g = -half_width + (np.arange(n) + 0.5) * h
    z = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    log_lik = np.empty((len(x), len(z)))
    for i in range(0, len(z), 20_000):                               # 20000 points at a time
        logits = m.decode(z[i:i + 20_000])
        log_lik[:, i:i + 20_000] = x @ logits.T - softplus(logits).sum(axis=1)[None, :]
    return z, h, log_lik + dist.log_std_normal(z)[None, :]


z_grid, h, log_joint = quadrature(tiny, x3, GRID)
some = np.arange(0, GRID * GRID, 997)
lessonkit.check("log p(x|z) on the grid (every 997th point) vs "
                "distributions.bernoulli_log_likelihood",
                log_joint[0, some] - dist.log_std_normal(z_grid[some]),
                dist.bernoulli_log_likelihood(np.broadcast_to(x3[0], (len(some), tiny.x_dim)),
                                              tiny.decode(z_grid[some])), rtol=1e-12)
log_px_quad = logsumexp(log_joint, axis=1) + 2 * np.log(h)
_, h2, log_joint_half = quadrature(tiny, x3, GRID // 2)
log_px_half = logsumexp(log_joint_half, axis=1) + 2 * np.log(h2)
lessonkit.check(f"quadrature {GRID // 2}² vs {GRID}² grid (converged)", log_px_half, log_px_quad,
                rtol=0, atol=1e-6)
_, h3, log_joint_wide = quadrature(tiny, x3, GRID * 5 // 8, half_width=7.5)
log_px_wide = logsumexp(log_joint_wide, axis=1) + 2 * np.log(h3)
lessonkit.check(f"quadrature over [−7.5, 7.5]² ({GRID * 5 // 8}²) vs [−6, 6]² (the box holds all "
                "the mass: ±1e-4 nats)", log_px_wide, log_px_quad, rtol=0, atol=1e-4)

K_IS = 50_000 if QUICK else 100_000
log_px_is = log_likelihood(tiny, x3, k=K_IS, rng=rng_for(5, 2))
lessonkit.check(f"importance sampling (K = {K_IS}) vs quadrature, every image (±0.05 nats)",
                log_px_is, log_px_quad, rtol=0, atol=0.05)
lw_ess = tiny.log_weights(x3, rng_for(5, 4).standard_normal((20_000, N_PTS, 2)))
w_ess = np.exp(lw_ess - lw_ess.max(axis=0))
ess = w_ess.sum(axis=0) ** 2 / (w_ess ** 2).sum(axis=0) / len(w_ess)
lessonkit.say(f"""
    How many samples are enough depends on how well q(z|x) covers the posterior: the effective
    sample size (Σw)²/Σw² is {np.array2string(ess, precision=2)} of K for these images.  Where q
    is narrower than p(z|x) in some direction the weights have a heavy tail, and the estimate
    is usually a little low, now and then high.
""")

# The simplest estimator, p(x) = E_p(z)[p(x|z)]: average the likelihood over samples from the
# prior.  It is unbiased, but almost every z from the prior explains x badly: the relative
# variance of one term, E_p[p(x|z)²]/p(x)² − 1, is known here by quadrature, and so is that of
# the importance weight p(x, z)/q(z|x) under q.
K_PRIOR = 20_000
z_prior = rng_for(5, 6).standard_normal((K_PRIOR, 2))
logits_prior = tiny.decode(z_prior)
ll_prior = x3 @ logits_prior.T - softplus(logits_prior).sum(axis=1)[None, :]     # (N, K)
log_px_prior = logsumexp(ll_prior, axis=1) - np.log(K_PRIOR)
log_lik_grid = log_joint - dist.log_std_normal(z_grid)[None, :]
rel_var_prior = np.exp(logsumexp(2 * log_lik_grid + dist.log_std_normal(z_grid)[None, :], axis=1)
                       + 2 * np.log(h) - 2 * log_px_quad) - 1
lessonkit.check(f"prior sampling (K = {K_PRIOR}): p̂(x)/p(x) vs 1 (±4 relative s.e. from the "
                "quadrature variance, every image)", np.exp(log_px_prior - log_px_quad),
                np.ones(N_PTS), rtol=0, atol=4 * np.sqrt(rel_var_prior / K_PRIOR))

# The exact ELBO and KL(q ‖ posterior) on the same grid.
mu3, logvar3 = tiny.encode(x3)
log_q = -0.5 * np.sum((z_grid[None] - mu3[:, None]) ** 2 / np.exp(logvar3)[:, None]
                      + logvar3[:, None] + np.log(2 * np.pi), axis=-1)        # (N, n²)
q_w = np.exp(log_q) * h * h                                    # q's mass in each grid cell
log_post = log_joint - log_px_quad[:, None]                    # log p(z|x)
lessonkit.check("q's mass on the grid vs 1 (±1e-4)", q_w.sum(axis=1), np.ones(N_PTS), rtol=0,
                atol=1e-4)
q_w /= q_w.sum(axis=1, keepdims=True)              # q restricted to the grid, renormalised
elbo_quad = np.sum(q_w * (log_joint - log_q), axis=1)
kl_quad = np.sum(q_w * (log_q - log_post), axis=1)
# The identity log p(x) − KL(q ‖ p(z|x)) = ELBO holds for any q on the grid, by algebra; what
# can fail is that the q on the grid is the encoder's q.  So compare with the ELBO's other form,
# whose KL to the prior is the library's closed form of the encoder's (μ, log σ²).
e_loglik_quad = np.sum(q_w * (log_joint - dist.log_std_normal(z_grid)[None, :]), axis=1)
kl_prior3 = dist.kl_std_normal(mu3, logvar3)
lessonkit.check("log p(x) − KL(q(z|x) ‖ p(z|x)) by quadrature vs E_q log p(x|z) (quadrature) − "
                "closed-form KL(q ‖ N(0, I))", log_px_quad - kl_quad, e_loglik_quad - kl_prior3,
                rtol=0, atol=1e-3)
lw = tiny.log_weights(x3, rng_for(5, 3).standard_normal((20_000, N_PTS, 2)))
elbo_mc, elbo_se = lw.mean(axis=0), lw.std(axis=0) / np.sqrt(len(lw))
lessonkit.say(f"""
    Prior sampling: the relative variance of one term, E_p[p(x|z)²]/p(x)² − 1, is
    {np.array2string(rel_var_prior, precision=3)} (quadrature), so about
    {np.array2string(rel_var_prior / 0.01, precision=0)} prior samples give 10% accuracy on
    p(x) for these images.
""")
lessonkit.say("""
    Why prior sampling fails: p(x|z) is large only where the posterior is, a region the prior
    rarely visits, so a few rare z carry the whole average.  Here, with 2 latent dimensions,
    the prior still hits that region now and then; its share of the prior's mass shrinks
    exponentially with the latent dimension, and so the K needed grows exponentially.  q(z|x)
    samples where the posterior is, which is why every estimator above uses it.
""")
lessonkit.check("ELBO by Monte Carlo (20000 samples) vs quadrature (±4 s.e.)", elbo_mc,
                elbo_quad, rtol=0, atol=4 * elbo_se.max())
lessonkit.check_true("ELBO < log p(x) for every image (the gap is the KL above)",
                     np.all(elbo_quad < log_px_quad) and np.all(elbo_quad < log_px_is),
                     f"gaps {np.array2string(log_px_quad - elbo_quad, precision=3)} nats")

# IWAE_k, R independent times for each k: fresh noise for every repetition, so the mean over
# the repetitions and its standard error say what the bound is in expectation.
ks = [1, 10, 100, 1000, 10_000]
R_REP = 10 if QUICK else 20
iwae_reps = {}
r_iw = rng_for(5, 5)
for k in ks:
    reps = []
    for _ in range(R_REP):
        lw_k = tiny.log_weights(x3, r_iw.standard_normal((k, N_PTS, 2)))      # (k, N)
        reps.append(logsumexp(lw_k, axis=0) - np.log(k))
    iwae_reps[k] = np.array(reps)                                          # (R, N)
iwae = np.array([iwae_reps[k].mean(axis=0) for k in ks])                 # (len(ks), N)
iwae_se = np.array([iwae_reps[k].std(axis=0, ddof=1) / np.sqrt(R_REP) for k in ks])
lessonkit.table(["image", "ELBO (quad.)", *[f"IWAE k={k}" for k in ks], f"IS (K={K_IS})",
                 "quadrature"],
                [(j, f"{elbo_quad[j]:.3f}",
                  *[f"{iwae[a, j]:.3f}±{iwae_se[a, j]:.3f}" for a in range(len(ks))],
                  f"{log_px_is[j]:.3f}", f"{log_px_quad[j]:.3f}") for j in range(N_PTS)])
above = iwae_reps[ks[-1]] > log_px_quad[None, :]
lessonkit.say(f"""
    Each IWAE entry is the mean of {R_REP} independent realisations ± its standard error.
    IWAE_k = log (1/k Σ wᵢ) with wᵢ = p(x, zᵢ)/q(zᵢ|x): the average of the weights is an
    unbiased estimate of p(x), and the log of an unbiased estimate is low *on average*
    (Jensen: E log Ŵ ≤ log E Ŵ = log p(x)).  One realisation is a random number around that
    expectation: whenever the weights happen to average above p(x) it lies above log p(x).
    At k = {ks[-1]:,} the bias is tiny (about Var(w)/(2k p(x)²)) and comparable with the
    spread, so single realisations land on both sides: here {int(above.sum())} of
    {above.size} were above the quadrature value.  Only the mean over repetitions is bounded.
""")
dev_iw = (iwae - log_px_quad[None, :]) / np.maximum(iwae_se, 1e-12)
lessonkit.check_below("IWAE_k, mean of the repetitions: largest excess over log p(x) in standard "
                      "errors (every k and image)", max(float(dev_iw.max()), 0.0), 3.0)
lessonkit.check_true(f"IWAE_k at k = {ks[-1]:,} lies above the ELBO (by quadrature), beyond 3 s.e.",
                     np.all(iwae[-1] - elbo_quad > 3 * iwae_se[-1]),
                     f"gain {np.array2string(iwae[-1] - elbo_quad, precision=3)} nats")
lessonkit.check("IWAE_1 (mean of repetitions) vs the ELBO by quadrature (±4 s.e.)", iwae[0],
                elbo_quad, rtol=0, atol=4 * iwae_se[0].max())
lessonkit.say("""
    The importance-weighted bound with k samples climbs from the ELBO (k = 1, in expectation) to
    log p(x) as k grows; the importance-sampling estimate is the same average with a large K.
""")

fig, axes = plt.subplots(1, 3, figsize=(14, 4.3))
for ax, j in zip(axes[:2], range(2)):
    n = GRID
    post = np.exp(log_post[j]).reshape(n, n)
    qd = np.exp(log_q[j]).reshape(n, n)
    g = z_grid[:n, 1]
    centre = z_grid[np.argmax(log_post[j])]
    span = max(4 * np.sqrt(np.exp(logvar3[j]).max()), 0.6)
    ax.contour(g, g, post.T, levels=post.max() * np.array([0.05, 0.3, 0.7]), colors="k",
               linewidths=1.2)
    ax.contour(g, g, qd.T, levels=qd.max() * np.array([0.05, 0.3, 0.7]), colors="tab:red",
               linewidths=1.0, linestyles="--")
    ax.set_xlim(centre[0] - span, centre[0] + span)
    ax.set_ylim(centre[1] - span, centre[1] + span)
    ax.set_aspect("equal")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title(f"image {j}: p(z|x) (black, exact) and q(z|x) (red)\n"
                 f"log p(x) = {log_px_quad[j]:.2f}, ELBO = {elbo_quad[j]:.2f}", fontsize=9)
    inset = ax.inset_axes([0.02, 0.72, 0.25, 0.25])
    inset.imshow(x3[j].reshape(SMALL), cmap="gray", vmin=0, vmax=1)
    inset.set_xticks([])
    inset.set_yticks([])
ax = axes[2]
gap_iwae = (iwae - log_px_quad[None, :]).mean(axis=1)
se_iwae = np.sqrt(np.sum(iwae_se ** 2, axis=1)) / N_PTS        # s.e. of the mean over images
ax.errorbar(ks, gap_iwae, yerr=2 * se_iwae, fmt="o-", capsize=3,
            label=f"IWAE bound, mean of {R_REP} repetitions (±2 s.e.)")
ax.set_xscale("log")
ax.axhline(np.mean(elbo_quad - log_px_quad), color="tab:red", ls="--", label="ELBO")
ax.axhline(0, color="k", lw=1, label="log p(x) by quadrature")
ax.plot([K_IS], [np.mean(log_px_is - log_px_quad)], "s", color="tab:green",
        label=f"importance sampling, K = {K_IS}")
ax.set_xlabel("k (samples)")
ax.set_ylabel("estimate − log p(x), nats (mean over images)")
ax.set_title("Importance sampling closes the gap", fontsize=10)
ax.legend(fontsize=8, loc="lower right")
ax.grid(alpha=0.3)
fig.tight_layout()
lessonkit.savefig(fig, args, "marginal_likelihood")

# %% [markdown]
# ## 4. AEVB against wake-sleep
# K&W compare AEVB with the wake-sleep algorithm (Hinton et al. 1995) on the marginal likelihood.
# Wake-sleep trains the same encoder and decoder with two separate objectives:
#   wake:  z ~ q(z|x) for a data x, then a decoder step up ∇θ log p(x|z)  (z held fixed);
#   sleep: z ~ p(z), x ~ p(x|z) (a "dream"), then an encoder step up ∇φ log q(z|x),
#          ∂ log q/∂μ = (z − μ)/σ²,  ∂ log q/∂ log σ² = −½ + ½ (z − μ)²/σ².
# The sleep phase fits q to the model's own posterior on dreams, not on the data, and no single
# bound is maximised.  Train the 2-D model of section 3 both ways from the same initial weights,
# the same number of steps and step size, and compare log p(x) on test images by quadrature.
# (The encoder and decoder gradients here are the library's backward passes; only the two
# objectives' gradients with respect to the network outputs are written by hand, and the
# sleep one is checked against central differences.)

# %%
lessonkit.section("4. AEVB against wake-sleep")
WS_STEPS = 1000 if QUICK else 3000
ws = nv.VAE(small.shape[1], [64], 2, likelihood="bernoulli", activation="tanh", init="xavier",
            rng=rng_for(5, 1), dtype=np.float64)                   # tiny's initial weights
opt_wake, opt_sleep = nv.optim.Adam(3e-3), nv.optim.Adam(3e-3)
r_ws = rng_for(5, 7)
for t in range(WS_STEPS):
    xb = datasets.binarize_dynamic(small[r_ws.integers(0, len(small), M)], r_ws)
    h_w, _ = ws.encoder.forward(xb)                                # wake
    z_w = h_w[:, :2] + np.exp(0.5 * h_w[:, 2:]) * r_ws.standard_normal((M, 2))
    out_w, dcache = ws.decoder.forward(z_w)
    ws.decoder.backward(dist.bernoulli_log_likelihood_grad(xb, out_w, np.full(M, -1.0 / M)),
                        dcache, need_dx=False)                     # gradient of −mean log p(x|z)
    opt_wake.step(ws.decoder.flat_params, ws.decoder.flat_grads)
    z_s = r_ws.standard_normal((M, 2))                             # sleep
    x_s = (r_ws.random((M, ws.x_dim)) < 1 / (1 + np.exp(-ws.decode(z_s)))).astype(np.float64)
    h_s, ecache = ws.encoder.forward(x_s)
    var_s = np.exp(h_s[:, 2:])
    dh_s = -np.concatenate([(z_s - h_s[:, :2]) / var_s,
                            -0.5 + 0.5 * (z_s - h_s[:, :2]) ** 2 / var_s], axis=1) / M
    ws.encoder.backward(dh_s, ecache, need_dx=False)               # gradient of −mean log q(z|x)
    opt_sleep.step(ws.encoder.flat_params, ws.encoder.flat_grads)
x_cmp = small_test[:40]
lp = {}
for name, m_ in (("AEVB", tiny), ("wake-sleep", ws)):
    _, h_c, lj_c = quadrature(m_, x_cmp, GRID // 2)
    lp[name] = logsumexp(lj_c, axis=1) + 2 * np.log(h_c)
diff_ws = lp["AEVB"] - lp["wake-sleep"]
lessonkit.table(["", "mean log p(x), 40 test images (quadrature)", "ELBO (Monte Carlo)"],
                [(name, float(lp[name].mean()),
                  float(m_.elbo(x_cmp, rng_for(5, 8)).mean()))
                 for name, m_ in (("AEVB", tiny), ("wake-sleep", ws))], floatfmt=".2f")
se_ws = diff_ws.std(ddof=1) / np.sqrt(len(diff_ws))
verdict = ("AEVB ahead" if diff_ws.mean() > 2 * se_ws else
           "wake-sleep ahead" if diff_ws.mean() < -2 * se_ws else "no difference beyond 2 s.e.")
lessonkit.say(f"""
    AEVB minus wake-sleep, paired over the 40 images: {diff_ws.mean():+.2f} ± {se_ws:.2f} nats
    ({verdict}).  K&W's Fig. 3 found AEVB ahead on MNIST, over up to 10⁸ training samples
    seen; this small 2-D model after {WS_STEPS:,} steps of {M} is far from that budget, so read
    it as a side-by-side of the two algorithms, not as a reproduction of their result.  (Their other
    competitor, Monte Carlo EM, needs an MCMC run per data point: not done here.)
""")
# The sleep phase's hand-written gradient, at the last dream batch: central differences of
# −mean log q(z|x) with respect to the encoder outputs h = [μ, log σ²].


def neg_mean_log_q(h_):
    v_ = np.exp(h_[:, 2:])
    return float(np.mean(0.5 * np.sum(np.log(2 * np.pi) + h_[:, 2:]
                                      + (z_s - h_[:, :2]) ** 2 / v_, axis=1)))


num_dh = nv.gradcheck.numerical_gradient(neg_mean_log_q, h_s.copy())
lessonkit.check_below("wake-sleep's sleep gradient ∂(−mean log q)/∂[μ, log σ²] vs central "
                      "differences (relative error)", nv.gradcheck.rel_error(dh_s, num_dh), 1e-6)

# %%
lessonkit.check_yourself([
    "Why plot the bound against training samples seen rather than against epochs, when the "
    "datasets differ in size by a factor of 25?",
    "Why can the Frey Face bound be positive while the MNIST bound cannot?",
    "Why does N_z = 2 give a lower bound than N_z = 10? K&W found that extra latent variables "
    "did not cause more overfitting: which term of the objective keeps unneeded latents at the "
    "prior, and what is the KL of such a latent?",
    "What would the manifold figure look like with a linear grid over [−3, 3]² instead of "
    "z = Φ⁻¹(u)?",
    "The importance-sampling estimate is a lower bound in expectation. Which quantity decides "
    "how many samples it needs, and why does a 2-D latent space make it easy?",
])
lessonkit.finish()
