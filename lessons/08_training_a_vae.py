"""08 · Training a VAE

The AEVB algorithm of Kingma & Welling: minibatches of M examples, L noise samples each, the
loss written out term by term and checked against the model.  We train a Bernoulli-decoder VAE
on MNIST (or the built-in shapes when MNIST is not on disk) and a Gaussian decoder whose loss is
the lecture's squared error, with draws x ~ N(f(z), σ² I) beside the decoder mean; use the
encoder for abstraction, the decoder for generation, both for inpainting (p(x_h | x_v) by
importance sampling); check that the encoder's posteriors, averaged over the data, come close
to the prior N(0, I); and measure the amortization gap: how much ELBO the shared encoder gives up against
variational parameters fitted to each data point on its own.

Run:  python lessons/08_training_a_vae.py [--out DIR] [--quick] [--seed S]
Data: MNIST from $NUMPYVAE_DATA (or ~/.cache/numpyvae); without it, the shapes dataset.
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

import numpyvae as nv
from numpyvae import datasets, gradcheck, lessonkit
from numpyvae import distributions as dist
from numpyvae import reparam as R
from numpyvae.evaluate import log_likelihood

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
QUICK = args.quick
M, L = 100, 1                                      # minibatch size, noise samples per example
HIDDEN, Z_DIM, LR = [200], 10, 3e-3
STEPS = 400 if QUICK else 2000                     # Bernoulli VAE
STEPS_GAUSS = 150 if QUICK else 600                # each Gaussian-decoder VAE
# aggregate posterior vs N(0, I): |mean| ≤ TOL_MEAN and variances within a factor VAR_FACTOR of 1
TOL_MEAN, VAR_FACTOR = (0.5, 2.0) if QUICK else (0.3, 1.5)
N_TRAIN = 3000 if QUICK else 50_000
N_TEST = 500 if QUICK else 2000
N_LOCAL = 4 if QUICK else 8                        # data points for the amortization gap
LOCAL_STEPS = 150 if QUICK else 400


def load_data():
    """(x_train, x_test, labels_test, label_names, x positions of the test shapes or None,
    image_shape, name); MNIST if it is on disk, else shapes."""
    try:
        x, _ = datasets.load_mnist("train50k", return_labels=False, download=False)
        xt, yt = datasets.load_mnist("test", download=False)
        return x[:N_TRAIN], xt[:N_TEST], yt[:N_TEST], [str(d) for d in range(10)], None, \
            datasets.MNIST_SHAPE, "MNIST"
    except (OSError, ValueError) as err:
        lessonkit.say(f"""
            MNIST is not available ({type(err).__name__}: {str(err)[:120]}...).
            FALLING BACK to the built-in shapes dataset (28x28 squares, ellipses, triangles).
            Point NUMPYVAE_DATA at a folder holding mnist/ to run this lesson on MNIST.
        """)
        train = datasets.load_dataset("shapes", "train", n=min(N_TRAIN, 10_000))
        test = datasets.load_dataset("shapes", "test", n=N_TEST)
        return train.x, test.x, test.labels, list(datasets.SHAPE_NAMES), test.factors["x"], \
            datasets.MNIST_SHAPE, "shapes"


x_train, x_test, y_test, label_names, x_position, IMAGE, DATA = load_data()
D = x_train.shape[1]
lessonkit.say(f"Data: {DATA}, {len(x_train)} training and {len(x_test)} test images of "
              f"{IMAGE[0]}x{IMAGE[1]} pixels.")
# A fixed binarization of some images, to evaluate the Bernoulli model on the same bits each time.
x_test_bin = datasets.binarize_dynamic(x_test, np.random.default_rng([args.seed, 1]))
x_train_bin = datasets.binarize_dynamic(x_train[:N_TEST * 2], np.random.default_rng([args.seed, 2]))

# %% [markdown]
# ## 1. The AEVB algorithm and its loss
#
#     θ, φ ← random initialisation
#     repeat
#         X ← a random minibatch of M data points
#         ε ← L samples from N(0, I) for each of them           (shape L × M × k)
#         g ← ∇θ,φ  L̃(θ, φ; X, ε)                               (one backward pass)
#         θ, φ ← an optimizer step with g                         (Adam here)
#
# The minibatch objective, for q(z|x) = N(μ(x), diag σ²(x)) and p(z) = N(0, I):
#
#     z⁽ⁱˡ⁾ = μ(x⁽ⁱ⁾) + σ(x⁽ⁱ⁾) ⊙ ε⁽ⁱˡ⁾
#     L̃(x⁽ⁱ⁾) = 1/L Σₗ log p(x⁽ⁱ⁾ | z⁽ⁱˡ⁾)  −  ½ Σⱼ (μⱼ² + σⱼ² − 1 − log σⱼ²)
#     loss = −1/M Σᵢ L̃(x⁽ⁱ⁾)                       (nats per example)
#
# and for a Bernoulli decoder with logits l = f(z):  log p(x|z) = Σ_d [x_d l_d − softplus(l_d)].
# K&W found L = 1 enough when M is about 100: the minibatch already averages over many x.
# Write the loss out with numpy and compare it with the model's.

# %%
lessonkit.section("1. The AEVB algorithm and its loss")
lessonkit.say("Departure from lectures 000 and 003: they write φ for the decoder and θ for the "
              "encoder; these lessons follow Kingma & Welling: θ the decoder (p_θ), φ the encoder "
              "(q_φ).")
model = nv.VAE(D, HIDDEN, Z_DIM, likelihood="bernoulli", rng=rng)
model_init = nv.VAE(D, HIDDEN, Z_DIM, likelihood="bernoulli", rng=np.random.default_rng(0))
model_init.params[...] = model.params                              # kept for comparisons
xb = x_train_bin[:5]
eps = rng.standard_normal((2, 5, Z_DIM), dtype=np.float32)       # L = 2 samples, M = 5
mu, logvar = model.encode(xb)
z = mu + np.exp(0.5 * logvar) * eps                                # (L, M, k)
logits = model.decode(z.reshape(-1, Z_DIM)).reshape(2, 5, D)
log_px = np.sum(xb * logits - np.logaddexp(0, logits), axis=-1)     # (L, M)
kl = 0.5 * np.sum(mu ** 2 + np.exp(logvar) - 1 - logvar, axis=1)  # (M,)
loss_by_hand = -np.mean(log_px.mean(axis=0) - kl)
lessonkit.check("loss written out (L = 2, M = 5) vs VAE.loss with the same ε", loss_by_hand,
                model.loss(xb, eps=eps), rtol=1e-5)

# %% [markdown]
# ## 2. Training the Bernoulli VAE
# Pixels are binarized afresh each time a minibatch is drawn (each pixel is 1 with probability
# its intensity), so the model sees binary data and never the same bits twice.

# %%
lessonkit.section("2. Training the Bernoulli VAE")


def mean_elbo(m, x, seed=0):
    """Mean ELBO on x (nats per example), with fixed noise so evaluations are comparable."""
    return float(m.elbo(x, np.random.default_rng([args.seed, seed, 99])).mean(dtype=np.float64))


def train(m, x, steps, binarize, lr=LR, evaluate=None, every=100):
    """The AEVB loop on m, in place.  Returns the minibatch losses (steps,) and the
    evaluations [(step, evaluate(m))] every ``every`` steps."""
    opt = nv.optim.Adam(lr)
    losses, evals = np.empty(steps), []
    for t in range(steps):
        batch = x[rng.integers(0, len(x), M)]                         # X: M random examples
        if binarize:
            batch = datasets.binarize_dynamic(batch, rng)
        eps = rng.standard_normal((L, M, Z_DIM), dtype=np.float32)     # ε: L per example
        losses[t], grad = m.loss_and_grad(batch, eps=eps)             # −L̃ and its gradient
        opt.step(m.params, grad)                                      # θ, φ ← Adam step
        if evaluate is not None and ((t + 1) % every == 0 or t == 0):
            evals.append((t + 1, evaluate(m)))
    return losses, evals


elbo_start = mean_elbo(model, x_test_bin)
elbo_train_start = mean_elbo(model, x_train_bin[:N_TEST])
losses, evals = train(model, x_train, STEPS, binarize=True,
                      evaluate=lambda m: mean_elbo(m, x_test_bin), every=max(STEPS // 10, 1))
elbo_end = mean_elbo(model, x_test_bin)
elbo_train = mean_elbo(model, x_train_bin[:N_TEST])
lessonkit.table(["", "test ELBO", "train ELBO"], [
    ("before training", elbo_start, elbo_train_start), (f"after {STEPS} steps", elbo_end, elbo_train)],
    floatfmt=".2f")
lessonkit.check_true("training raised the test ELBO by more than 50 nats",
                     elbo_end > elbo_start + 50, f"{elbo_start:.1f} → {elbo_end:.1f}")
lessonkit.say(f"""
    (Train minus test ELBO: {elbo_train - elbo_end:.2f} nats.  The model has seen each of the
    {len(x_train)} training images about {STEPS * M / len(x_train):.1f} times; the smaller the
    training set, the sooner this gap opens.)
""")

fig, ax = plt.subplots(figsize=(6.4, 3.6))
window = max(STEPS // 50, 1)
smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
ax.plot(np.arange(window, STEPS + 1), smooth, lw=1.2, label=f"minibatch loss (mean of {window})")
ev_steps, ev_vals = zip(*evals)
ax.plot(ev_steps, -np.array(ev_vals), "o-", label="−ELBO on test images")
ax.set_xscale("log")
ax.set_ylim(min(smooth.min(), -max(ev_vals)) - 5, np.percentile(smooth, 99) + 20)
ax.set_xlabel(f"step (minibatches of M = {M}, L = {L})")
ax.set_ylabel("nats per example")
ax.set_title(f"Bernoulli VAE on {DATA}: {D}-{HIDDEN[0]}-{Z_DIM}")
ax.legend()
ax.grid(alpha=0.3)
lessonkit.savefig(fig, args, "training_curve")

# %% [markdown]
# ## 3. A Gaussian decoder: the lecture's squared error
# For real-valued pixels take p(x|z) = N(x; f(z), σ²I) with a fixed σ².  Then
#
#     log p(x|z) = −D/2 log(2πσ²) − ‖x − f(z)‖² / (2σ²)
#
# and with σ² = 1 this is C − ½‖x − f(z)‖²,  C = −D/2 log 2π: minimising −ELBO is minimising
# the squared reconstruction error plus the KL.  σ² is not a detail: it sets how many nats a
# pixel error costs against the nats of the KL.  With σ² = 1 a pixel error of 0.3 costs only
# 0.3²/2 = 0.045 nats, so the KL wins: q(z|x) stays close to the prior and z carries little
# about x.  σ² = 0.01 makes the same error 100 times as expensive.  Train both on the grey-level
# images (no binarization).

# %%
lessonkit.section("3. A Gaussian decoder: the lecture's squared error")
gauss = {}
for var in (1.0, 0.01):
    gauss[var] = nv.VAE(D, HIDDEN, Z_DIM, likelihood="gaussian", decoder_logvar=float(np.log(var)),
                        rng=rng)
g1 = gauss[1.0]
xs = x_test[:4]
eps1 = rng.standard_normal((1, 4, Z_DIM), dtype=np.float32)
mu1, lv1 = g1.encode(xs)
fz = g1.decode(mu1 + np.exp(0.5 * lv1) * eps1[0])                 # f(z): the decoder's mean
C = -0.5 * D * np.log(2 * np.pi)
lessonkit.check("distributions.gaussian_log_likelihood(x, f(z), logvar=0) vs C − ½‖x − f(z)‖²",
                dist.gaussian_log_likelihood(xs, fz, 0.0),
                C - 0.5 * np.sum((xs - fz) ** 2, axis=1), rtol=1e-6)
parts = g1.forward_backward(xs, eps1, need_grad=False)
recon1, kl1 = parts["recon"], parts["kl"]
lessonkit.check("the model's reconstruction term log p(x|z) vs C − ½‖x − f(z)‖²", recon1,
                C - 0.5 * np.sum((xs - fz) ** 2, axis=1), rtol=1e-6)
lessonkit.check("the model's loss vs mean of ½‖x − f(z)‖² − C + KL", g1.loss(xs, eps=eps1),
                np.mean(0.5 * np.sum((xs - fz) ** 2, axis=1) - C + kl1), rtol=1e-5)

rows = []
for var, m in gauss.items():
    train(m, x_train, STEPS_GAUSS, binarize=False)
    mu_t, lv_t = m.encode(x_test)
    kl_dims = dist.kl_std_normal_per_dim(mu_t, lv_t).mean(axis=0)
    sq = float(np.mean(np.sum((x_test - m.decode(mu_t)) ** 2, axis=1)))
    rows.append((f"σ² = {var:g}", float(kl_dims.sum()), int(np.sum(kl_dims > 0.1)), sq))
lessonkit.table(["decoder", "KL (nats)", "latents in use (KL > 0.1)", "‖x − f(μ)‖² per image"],
                rows, floatfmt=".3g")
lessonkit.check_true("σ² = 0.01 stores more in z (a KL over 3 times larger) and reconstructs "
                     "better than σ² = 1", rows[1][1] > 3 * rows[0][1] and rows[1][3] < rows[0][3],
                     f"KL {rows[1][1]:.1f} vs {rows[0][1]:.1f} nats, error {rows[1][3]:.1f} vs "
                     f"{rows[0][3]:.1f}")

lessonkit.say("""
    A generative model draws x ~ p(x|z) = N(f(z), σ² I), not only the mean f(z).  Draw both
    from the same z (the same seed) and the difference must be noise of variance σ² per pixel.
""")
draw_rows = []
for var, g in gauss.items():
    f_z = g.sample(200, np.random.default_rng([args.seed, 11]), mean=True)
    x_draw = g.sample(200, np.random.default_rng([args.seed, 11]), mean=False)
    res = (x_draw - f_z).astype(np.float64)
    lessonkit.check(f"σ² = {var:g}: x ~ N(f(z), σ² I) minus f(z), variance per pixel vs σ² "
                    "(±4 s.e.)", res.var(), var, rtol=0, atol=4 * var * np.sqrt(2 / res.size))
    draw_rows.append((f"σ² = {var:g}", float(f_z.std(axis=0).mean()), float(np.sqrt(var))))
lessonkit.table(["decoder", "pixel std of f(z) across draws", "noise std σ"], draw_rows,
                floatfmt=".3g")
lessonkit.say(f"""
    With σ² = 1 the noise (std 1) is {draw_rows[0][2] / max(draw_rows[0][1], 1e-12):.0f} times
    the spread of the means, on pixels that live in [0, 1]: a draw from p(x|z) is mostly noise,
    which is why figures of generated images show the decoder mean f(z).
""")

# %% [markdown]
# ## 4. Abstraction and generation
# *Abstraction*: the encoder maps an image to μ(x), k = 10 numbers instead of 784.  Nobody told
# it the labels, yet images of the same class should get nearby codes: classify each test image
# by the majority label of its 5 nearest neighbours in code space.
# *Generation*: draw z ~ N(0, I) and decode.  If the model fits the data, the average generated
# image should look like the average data image.

# %%
lessonkit.section("4. Abstraction and generation")
mu_test, logvar_test = model.encode(x_test)


def knn_accuracy(features, labels, k=5):
    """Leave-one-out accuracy of the k-nearest-neighbour majority vote."""
    f = features.astype(np.float64)
    d = np.sum(f ** 2, 1)[:, None] - 2 * f @ f.T + np.sum(f ** 2, 1)[None, :]
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = np.array([np.bincount(labels[row], minlength=labels.max() + 1) for row in nearest])
    return float(np.mean(votes.argmax(axis=1) == labels))


chance = float(np.max(np.bincount(y_test)) / len(y_test))
acc_code, acc_pixels = knn_accuracy(mu_test, y_test), knn_accuracy(x_test, y_test)
lessonkit.table(["features", "size", "5-NN accuracy"], [
    ("μ(x), the code", Z_DIM, acc_code), ("the pixels", D, acc_pixels),
    ("(most frequent class)", "", chance)], floatfmt=".3f")
lessonkit.check_true("the 10-number code keeps the class information: 5-NN accuracy ≥ 0.9 × "
                     "that on the pixels, and above chance + 0.1",
                     acc_code >= 0.9 * acc_pixels and acc_code > chance + 0.1,
                     f"{acc_code:.3f} vs {acc_pixels:.3f} (pixels), chance {chance:.3f}")
samples = model.sample(64, rng)
corr = np.corrcoef(samples.mean(axis=0), x_test.mean(axis=0))[0, 1]
lessonkit.check_true("the mean of 64 generated images correlates with the mean test image "
                     "(r > 0.9)", corr > 0.9, f"r = {corr:.3f}")

lessonkit.say("""
    Marginal inference on x (inpainting): hide the lower half x_h of a test image and predict it
    from the visible half x_v.  The model's answer is
        p(x_h | x_v) = ∫ p(x_h | z) p(z | x_v) dz ≈ Σₖ w̃ₖ p(x_h | zₖ),
        w̃ₖ ∝ p(x_v | zₖ) p(zₖ) / q(zₖ),   zₖ ~ q = the encoder's q(z | x) with x_h set to the
    average training image: importance sampling, where only the visible pixels weigh each z.
    Score it by the log-probability of the true (binarized) hidden pixels, against the average
    training image as the prediction.
""")
hidden = np.arange(D) >= D // 2                        # the lower half of the image
N_INP, K_INP = 200, 100
x_vis = x_test_bin[:N_INP].astype(np.float32)
x_start = x_vis.copy()
x_start[:, hidden] = x_train.mean(axis=0)[hidden]
mu_v, lv_v = model.encode(x_start)
e_inp = np.random.default_rng([args.seed, 12]).standard_normal((K_INP, N_INP, Z_DIM),
                                                              dtype=np.float32)
z_inp = mu_v + np.exp(0.5 * lv_v) * e_inp                              # (K, N, k)
logit_inp = model.decode(z_inp.reshape(-1, Z_DIM)).reshape(K_INP, N_INP, D).astype(np.float64)
log_pv = np.sum((x_vis * logit_inp - np.logaddexp(0, logit_inp))[..., ~hidden], axis=-1)
log_w = (log_pv + dist.log_std_normal(z_inp.astype(np.float64))
         - dist.log_std_normal(e_inp.astype(np.float64)) + 0.5 * lv_v.sum(axis=1))  # (K, N)
w_inp = np.exp(log_w - log_w.max(axis=0))
w_inp /= w_inp.sum(axis=0)
p_hid = np.einsum("kn,knd->nd", w_inp, 1 / (1 + np.exp(-logit_inp[..., hidden])))
x_hid = x_vis[:, hidden].astype(np.float64)


def hidden_loglik(prob):
    """Mean over images of Σ_hidden [x log p + (1 − x) log(1 − p)] for the true hidden pixels."""
    prob = np.clip(prob, 1e-6, 1 - 1e-6)
    return float(np.mean(np.sum(x_hid * np.log(prob) + (1 - x_hid) * np.log1p(-prob), axis=1)))


ll_vae = hidden_loglik(p_hid)
ll_avg = hidden_loglik(np.broadcast_to(x_train.mean(axis=0)[hidden].astype(np.float64),
                                       x_hid.shape))
lessonkit.check_true(f"inpainting the lower half of {N_INP} test images: p(x_h | x_v) by "
                     f"importance sampling (K = {K_INP}) predicts the hidden pixels better than "
                     "the average training image", ll_vae > ll_avg,
                     f"log-probability {ll_vae:.1f} vs {ll_avg:.1f} nats per image")


def grid(images, ncols):
    """(n, h*w) images -> one array, white lines between the images."""
    n = len(images)
    rows_ = -(-n // ncols)
    h, w = IMAGE
    out = np.ones((rows_ * (h + 1) - 1, ncols * (w + 1) - 1))
    for i, im in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = im.reshape(h, w)
    return out


recon = 1 / (1 + np.exp(-model.decode(mu_test[:12])))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.1]})
ax = axes[0]
ax.imshow(grid(np.concatenate([x_test[:6], recon[:6], x_test[6:12], recon[6:]]), 6),
          cmap="gray", vmin=0, vmax=1)
h = IMAGE[0] + 1
ax.set_yticks([h * (i + 0.5) for i in range(4)], ["x", "decode(μ(x))"] * 2)
ax.set_xticks([])
ax.tick_params(length=0)
for spine in ax.spines.values():
    spine.set_visible(False)
ax.set_title("Test images and their reconstructions from the code", fontsize=10)
ax = axes[1]
kl_per_dim = dist.kl_std_normal_per_dim(mu_test, logvar_test).mean(axis=0)
a, b = np.sort(np.argsort(-kl_per_dim)[:2])
if x_position is None:                         # MNIST: colour by digit
    for c in np.unique(y_test):
        sel = y_test == c
        ax.scatter(mu_test[sel, a], mu_test[sel, b], s=5, alpha=0.7, label=label_names[c])
    ax.legend(fontsize=7, markerscale=2.5, ncol=2, loc="best")
else:                                          # shapes: colour by the true horizontal position
    pts = ax.scatter(mu_test[:, a], mu_test[:, b], c=x_position, s=5, alpha=0.8, cmap="viridis")
    fig.colorbar(pts, ax=ax, label="true x position of the shape (pixels)")
ax.set_xlabel(f"μ{a}")
ax.set_ylabel(f"μ{b}")
ax.set_title(f"μ(x) of test images: the 2 of {Z_DIM} latents with the largest KL", fontsize=10)
fig.tight_layout()
lessonkit.savefig(fig, args, "abstraction")

fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
for ax, (title, m) in zip(axes, (("Bernoulli decoder", model),
                                  ("Gaussian, σ² = 1", gauss[1.0]),
                                  ("Gaussian, σ² = 0.01", gauss[0.01]))):
    ax.imshow(grid(m.sample(36, np.random.default_rng([args.seed, 7])), 6), cmap="gray",
              vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
fig.suptitle(f"Generation: decoder means of 36 draws z ~ N(0, I), the same z for each model "
             f"({DATA})", fontsize=11)
fig.tight_layout()
lessonkit.savefig(fig, args, "generation")

# %% [markdown]
# ## 5. The aggregate posterior
# Average the encoder's posteriors over the data:  q(z) = 1/N Σₙ q(z | xₙ), a mixture of N
# Gaussians.  Its mean and covariance (law of total covariance):
#
#     m = E[z]   = 1/N Σₙ μₙ
#     V = Cov[z] = Cov(μ) + 1/N Σₙ diag σₙ²        (spread of the means + average spread within)
#
# The prior asks q(z) to be N(0, I).  Why it gets close: replace z by (z − m)/s coordinate by
# coordinate, s = √diag V.  The encoder's last layer and the decoder's first layer are linear,
# so both can absorb this exactly: the reconstruction term does not change, but the average KL
# drops by
#
#     gain = Σⱼ ½ (mⱼ² + Vⱼⱼ − 1 − log Vⱼⱼ) = Σⱼ KL(N(mⱼ, Vⱼⱼ) ‖ N(0, 1)) ≥ 0.
#
# So training, which maximises the ELBO, keeps pushing m → 0 and diag V → 1: at a stationary
# point the gain is 0.  Correlations between latents are not pinned down this way (a rotation
# would make q(z|x) non-diagonal), so they are only roughly 0.

# %%
lessonkit.section("5. The aggregate posterior")
x_agg = x_train_bin


def aggregate(m):
    """Mean (k,) and covariance (k, k) of q(z) over x_agg, in float64."""
    mu_a, lv_a = (v.astype(np.float64) for v in m.encode(x_agg))
    return mu_a, lv_a, mu_a.mean(axis=0), np.cov(mu_a.T, bias=True) + np.diag(np.exp(lv_a).mean(0))


mu_a, lv_a, agg_mean, agg_cov = aggregate(model)
draws = (mu_a + np.exp(0.5 * lv_a) * rng.standard_normal((20, *mu_a.shape))).reshape(-1, Z_DIM)
lessonkit.check_below("Cov of 20 samples from each q(z|xₙ) vs Cov(μ) + mean diag σ² (max |diff|)",
                      np.max(np.abs(np.cov(draws.T, bias=True) - agg_cov)), 0.05)


def standardized(m, shift, scale):
    """A copy of m with z replaced by (z − shift)/scale; the same function x -> p(x|z) q(z|x)."""
    c = nv.VAE(D, HIDDEN, Z_DIM, likelihood="bernoulli", rng=np.random.default_rng(0))
    c.params[...] = m.params
    enc, dec = c.encoder.layers[-1].params, c.decoder.layers[0].params
    enc["W"][:, :Z_DIM] /= scale                    # μ' = (μ − m)/s
    enc["b"][:Z_DIM] = (enc["b"][:Z_DIM] - shift) / scale
    enc["b"][Z_DIM:] -= 2 * np.log(scale)           # log σ'² = log σ² − 2 log s
    dec["b"] += shift @ dec["W"]                    # z W + b = z' (s W) + (b + m W)
    dec["W"] *= scale[:, None]
    return c


gain = float(np.sum(0.5 * (agg_mean ** 2 + np.diag(agg_cov) - 1 - np.log(np.diag(agg_cov)))))
std_model = standardized(model, agg_mean.astype(np.float32),
                         np.sqrt(np.diag(agg_cov)).astype(np.float32))
e_agg = np.random.default_rng([args.seed, 3]).standard_normal((1, len(x_agg), Z_DIM),
                                                             dtype=np.float32)
before = model.forward_backward(x_agg, e_agg, need_grad=False)
after = std_model.forward_backward(x_agg, e_agg, need_grad=False)
lessonkit.check("re-standardized copy: reconstruction term unchanged (mean over images)",
                float(after["recon"].mean()), float(before["recon"].mean()), rtol=1e-4)
lessonkit.check("re-standardized copy: ELBO gain vs Σⱼ KL(N(mⱼ, Vⱼⱼ) ‖ N(0, 1))",
                float(after["bound"].mean() - before["bound"].mean()), gain, rtol=0.02, atol=2e-3)

mu_i, lv_i, init_mean, init_cov = aggregate(model_init)
gain_init = float(np.sum(0.5 * (init_mean ** 2 + np.diag(init_cov) - 1
                                 - np.log(np.diag(init_cov)))))
avg_kl = float(dist.kl_std_normal(mu_a, lv_a).mean())
off = np.abs(agg_cov - np.diag(np.diag(agg_cov))).max()
lessonkit.say(f"Over {len(x_agg)} training images, q(z) has")
lessonkit.say("  mean m      " + np.array2string(agg_mean, precision=2, suppress_small=True))
lessonkit.say("  diag of V   " + np.array2string(np.diag(agg_cov), precision=2))
lessonkit.table(["", "max |mⱼ|", "min Vⱼⱼ", "max Vⱼⱼ", "max |Vᵢⱼ|, i ≠ j", "gain",
                 "mean KL(q(z|x) ‖ p)"], [
    ("untrained", np.abs(init_mean).max(), np.diag(init_cov).min(), np.diag(init_cov).max(),
     np.abs(init_cov - np.diag(np.diag(init_cov))).max(), gain_init,
     float(dist.kl_std_normal(mu_i, lv_i).mean())),
    (f"after {STEPS} steps", np.abs(agg_mean).max(), np.diag(agg_cov).min(),
     np.diag(agg_cov).max(), off, gain, avg_kl)], floatfmt=".3g")
closer = "closer to" if gain < gain_init else "no closer to"
kl_init = float(dist.kl_std_normal(mu_i, lv_i).mean())
share, share_init = (f"{g / k:.1%}" if k > 0 else "undefined (no KL)"
                     for g, k in ((gain, avg_kl), (gain_init, kl_init)))
lessonkit.say(f"""
    The untrained encoder is near N(0, I) too, but trivially: every q(z|x) is about N(0, I), so
    z says nothing about x (mean KL {kl_init:.2f} nats).
    The trained encoder gives each image a narrow q(z|x) (mean KL {avg_kl:.1f} nats), and
    averaged over the images the posteriors still fill the prior: q(z) is {closer} N(0, I)
    than before training by the gain ({gain_init:.3f} → {gain:.3f} nats), while its largest
    |mⱼ| went {np.abs(init_mean).max():.3f} → {np.abs(agg_mean).max():.3f}.  What training
    buys is the ratio: the gain is {share} of the KL term now, against {share_init} before.
""")
lessonkit.check(f"mean of the aggregate posterior vs 0 (each within ±{TOL_MEAN})", agg_mean,
                np.zeros(Z_DIM), atol=TOL_MEAN)
lessonkit.check(f"log variances of the aggregate posterior vs 0 (each within ±log {VAR_FACTOR:g}"
                f" = ±{np.log(VAR_FACTOR):.2f})", np.log(np.diag(agg_cov)), np.zeros(Z_DIM),
                atol=np.log(VAR_FACTOR))
lessonkit.check_true("what re-standardizing could still gain is < 5% of the KL term",
                     gain < 0.05 * avg_kl, f"{gain:.3f} < {0.05 * avg_kl:.3f} nats")

# %% [markdown]
# ## 6. Amortized inference and the amortization gap
# The encoder is *amortized*: one network gives φ(x) = (μ(x), log σ²(x)) for every x.  The
# alternative is to fit separate variational parameters φᵢ = (μᵢ, log σᵢ²) to each data point
# by gradient ascent on that point's ELBO, with the decoder fixed -- what variational inference
# did before VAEs.  That is slower (an optimisation per point) but can only do better, so
#
#     log p(x) ≥ ELBO(φᵢ*) ≥ ELBO(φ(x)),     amortization gap = ELBO(φᵢ*) − ELBO(φ(x)) ≥ 0.
#
# The gradient wrt φᵢ goes back through the same nodes as in training, stopping before the
# encoder:  ∂ log p/∂ logits → decoder backward → ∂/∂z → reparameterization node →
# (∂/∂μ, ∂/∂log σ²), minus the KL's gradient (μ, ½(σ² − 1)).

# %%
lessonkit.section("6. Amortized inference and the amortization gap")


def local_elbo(m, x, mu, logvar, eps, need_grad=True):
    """Per-point ELBO with the decoder of m fixed: x (n, D), mu/logvar (n, k), eps (S, n, k).
    -> elbo (n,), the per-sample reconstruction terms (S, n), and d elbo/d mu, d elbo/d logvar."""
    s, n, k = eps.shape
    z, rcache = R.gaussian_forward(mu, logvar, eps)                   # z = μ + σ ε
    out, dcache = m.decoder.forward(z.reshape(s * n, k))
    out = out.reshape(s, n, -1)
    rec = dist.bernoulli_log_likelihood(x, out)                        # (S, n)
    elbo = rec.mean(axis=0) - dist.kl_std_normal(mu, logvar)
    if not need_grad:
        return elbo, rec, None, None
    dout = dist.bernoulli_log_likelihood_grad(x, out, np.full((s, n), 1.0 / s, out.dtype))
    dz = m.decoder.backward(dout.reshape(s * n, -1), dcache).reshape(s, n, k)
    dmu, dlogvar = R.gaussian_backward(dz, rcache)
    kmu, klogvar = dist.kl_std_normal_grad(mu, logvar)
    return elbo, rec, dmu - kmu, dlogvar - klogvar


lessonkit.say("First check this hand-written gradient against central differences (float64 "
              "copy of the trained model, 2 points, noise held fixed):")
model64 = nv.VAE(D, HIDDEN, Z_DIM, likelihood="bernoulli", rng=np.random.default_rng(0),
                 dtype=np.float64)
model64.params[...] = model.params
x64 = x_test_bin[:2].astype(np.float64)
m64, lv64 = (v.astype(np.float64) for v in model.encode(x_test_bin[:2]))
eps64 = rng.standard_normal((3, 2, Z_DIM))
_, _, gmu, glv = local_elbo(model64, x64, m64, lv64, eps64)
num_mu = gradcheck.numerical_gradient(lambda: local_elbo(model64, x64, m64, lv64, eps64,
                                                         False)[0].sum(), m64)
num_lv = gradcheck.numerical_gradient(lambda: local_elbo(model64, x64, m64, lv64, eps64,
                                                         False)[0].sum(), lv64)
lessonkit.check_below("relative error of ∂ELBO/∂μᵢ (hand-written vs central differences)",
                      gradcheck.rel_error(gmu, num_mu), 1e-6)
lessonkit.check_below("relative error of ∂ELBO/∂log σᵢ² (hand-written vs central differences)",
                      gradcheck.rel_error(glv, num_lv), 1e-6)

x_loc = x_test_bin[:N_LOCAL]
mu_enc, lv_enc = model.encode(x_loc)
phi = np.concatenate([mu_enc, lv_enc], axis=1).ravel()     # start at the encoder's answer
opt = nv.optim.Adam(0.02)
S_FIT = 16
trace = []
phi_mu = phi.reshape(N_LOCAL, 2 * Z_DIM)[:, :Z_DIM]              # views into phi
phi_logvar = phi.reshape(N_LOCAL, 2 * Z_DIM)[:, Z_DIM:]
for t in range(LOCAL_STEPS):
    mu_i, lv_i = phi_mu, phi_logvar
    e = rng.standard_normal((S_FIT, N_LOCAL, Z_DIM), dtype=np.float32)
    elbo_i, _, gmu, glv = local_elbo(model, x_loc, mu_i, lv_i, e)
    grad = -np.concatenate([gmu, glv], axis=1).ravel()        # minimise −ELBO
    opt.step(phi, grad.astype(np.float32))
    trace.append(elbo_i)
mu_opt, lv_opt = phi_mu.copy(), phi_logvar.copy()

S_EVAL = 2000                                                  # the same noise for both
e_eval = np.random.default_rng([args.seed, 5]).standard_normal((S_EVAL, N_LOCAL, Z_DIM),
                                                              dtype=np.float32)
elbo_enc, rec_enc, _, _ = local_elbo(model, x_loc, mu_enc, lv_enc, e_eval, need_grad=False)
elbo_opt, rec_opt, _, _ = local_elbo(model, x_loc, mu_opt, lv_opt, e_eval, need_grad=False)
gap = elbo_opt.astype(np.float64) - elbo_enc
gap_se = (rec_opt - rec_enc).astype(np.float64).std(axis=0) / np.sqrt(S_EVAL)
e_again = np.random.default_rng([args.seed, 9]).standard_normal(e_eval.shape, dtype=np.float32)
gap_again = (local_elbo(model, x_loc, mu_opt, lv_opt, e_again, need_grad=False)[0]
             - local_elbo(model, x_loc, mu_enc, lv_enc, e_again, need_grad=False)[0])


def log_p_importance(m, x, mu, logvar, k, seed):
    """log p(x) ≈ log 1/k Σₛ p(x, zₛ)/q(zₛ), zₛ ~ q = N(mu, diag exp(logvar)), per point: (n,)."""
    e = np.random.default_rng([args.seed, seed]).standard_normal((k, len(x), Z_DIM))
    e = e.astype(np.float32)
    _, rec, _, _ = local_elbo(m, x, mu, logvar, e, need_grad=False)
    z = mu + np.exp(0.5 * logvar) * e
    log_w = (rec + dist.log_std_normal(z) - dist.log_std_normal(e)
             + 0.5 * logvar.sum(axis=1)).astype(np.float64)      # log p(x|z) + log p(z) − log q(z)
    top = log_w.max(axis=0)
    return top + np.log(np.mean(np.exp(log_w - top), axis=0))


K_IS = 2000 if QUICK else 5000
log_px_enc = log_likelihood(model, x_loc, k=K_IS, rng=np.random.default_rng([args.seed, 6]))
log_px_opt = log_p_importance(model, x_loc, mu_opt, lv_opt, K_IS, seed=8)
log_px = np.maximum(log_px_enc, log_px_opt)        # both are lower bounds in expectation
lessonkit.table(["point", "ELBO encoder", "ELBO per-point", "amortization gap", "± s.e.",
                 "log p(x), IS from q(z|x)", "log p(x), IS from qᵢ*"],
                [(i, float(elbo_enc[i]), float(elbo_opt[i]), float(gap[i]), float(gap_se[i]),
                  float(log_px_enc[i]), float(log_px_opt[i])) for i in range(N_LOCAL)],
                floatfmt=".2f")
lessonkit.check("amortization gap, re-estimated with fresh noise vs the first estimate (±4 s.e.)",
                gap_again, gap, rtol=0, atol=4 * np.sqrt(2) * gap_se.max())
lessonkit.check_true("every per-point ELBO ≥ the encoder's ELBO (within 3 s.e.)",
                     np.all(gap > -3 * gap_se), f"smallest gap {gap.min():.3f} nats")
lessonkit.check_true("the mean amortization gap is positive", gap.mean() > 0,
                     f"{gap.mean():.3f} nats per point")
lessonkit.check_true("log p(x) (the larger importance-sampled estimate) ≥ the per-point ELBO",
                     np.all(log_px >= elbo_opt),
                     f"smallest log p − ELBO = {np.min(log_px - elbo_opt):.3f} nats")
below_elbo = [i for i in range(N_LOCAL) if log_px_enc[i] < elbo_opt[i]]
if below_elbo:
    lessonkit.say(f"""
        For point{'s' if len(below_elbo) > 1 else ''} {', '.join(map(str, below_elbo))} the
        estimate from q(z|x) lies below the per-point ELBO, which no log p(x) can: the estimate
        is a lower bound only in expectation, and the encoder's q(z|x), the worse proposal
        there (its ELBO is lower by the amortization gap), puts few of its {K_IS} samples where
        the posterior's mass is, so the average weight comes out low.  The larger of the two
        estimates is taken as log p(x), and the check below asks it to lie above the ELBO.
    """)
lessonkit.say(f"""
    Importance sampling needs a good proposal: with {K_IS} samples the two estimates differ by
    up to {np.max(np.abs(log_px_opt - log_px_enc)):.2f} nats, and not always in favour of qᵢ*.
    Maximising the ELBO makes qᵢ* narrow (KL(q ‖ p(z|x)) punishes mass where the posterior has
    little), and a narrow proposal misses some of the posterior.  Both estimates are lower
    bounds in expectation, so we take the larger one as log p(x).
""")
lessonkit.say(f"""
    For these {N_LOCAL} points, log p(x) − ELBO(encoder) = {np.mean(log_px - elbo_enc):.2f} nats
    on average.  Of that, {gap.mean():.2f} is the amortization gap, which a better encoder could
    close, and {np.mean(log_px - elbo_opt):.2f} the approximation gap, which only a richer family
    than diagonal Gaussians could close.
""")

fig, ax = plt.subplots(figsize=(6.4, 3.6))
tr = np.array(trace) - elbo_enc[None, :]
window = max(LOCAL_STEPS // 20, 1)
for i in range(N_LOCAL):
    ax.plot(np.convolve(tr[:, i], np.ones(window) / window, mode="valid"), lw=1)
ax.axhline(0, color="k", lw=1, ls=":")
ax.set_xlabel(f"gradient step on φᵢ (S = {S_FIT} samples, running mean of {window})")
ax.set_ylabel("ELBO(φᵢ) − ELBO(encoder), nats")
ax.set_title("Per-point variational parameters, started at the encoder's output", fontsize=10)
ax.grid(alpha=0.3)
lessonkit.savefig(fig, args, "amortization_gap")

# %%
lessonkit.check_yourself([
    "Write the minibatch loss for M = 2, L = 3 with every sum and mean in place. Which of them "
    "is over data, which over noise, which over pixels?",
    "Why is L = 1 usually enough when M = 100?",
    "With a Gaussian decoder of fixed variance σ², what is −log p(x|z) up to a constant? What "
    "happens to the KL term, and to the reconstructions, as σ² grows, and why?",
    "Why must the aggregate posterior have mean 0 and unit variances at a stationary point, but "
    "not zero correlations?",
    "The amortization gap: why is it ≥ 0, and what would shrink it? What shrinks the other gap, "
    "log p(x) − ELBO(φᵢ*)?",
])
lessonkit.finish()
