"""01 · Autoencoders

A network that squeezes its input through a code h and rebuilds it.  Which output layer goes with
which loss; why a linear autoencoder with squared error is PCA in disguise; why a code wider than
the input just copies; and several ways to make an autoencoder learn something useful anyway:
weight decay, tied weights, denoising and sparse or contractive penalties, each with its gradient
written by hand and checked.

Run:  python lessons/01_autoencoders.py [--out DIR] [--quick] [--seed S]
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
from scipy.linalg import subspace_angles
from scipy.sparse.linalg import svds
from scipy.special import entr

from numpyvae import autoencoders as ae
from numpyvae import datasets, gradcheck, lessonkit, optim

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
N_TRAIN = 1000 if args.quick else 3000        # shapes images to train on
EPOCHS = 15 if args.quick else 20             # minibatch epochs for the nonlinear autoencoders
PCA_STEPS = 300 if args.quick else 1500       # full-batch Adam steps for the linear autoencoder
COPY_STEPS = 700 if args.quick else 2000      # ... for the under/overcomplete comparison
HIDDEN = 64                                   # code size of the nonlinear autoencoders
BATCH = 100
LR = 2e-2                                     # Adam step for the sigmoid-output autoencoders
LR_LINEAR = 1e-2                              # ... and for those with a linear output

train = datasets.load_dataset("shapes", "train", n=N_TRAIN)
test = datasets.load_dataset("shapes", "test", n=500)
x, x_test = train.x, test.x
D = x.shape[1]


def small_x(n=5, d=6, real=False):
    """A tiny float64 batch for gradient checks: (n, d) in [0, 1], or real-valued."""
    r = np.random.default_rng(args.seed + 101)
    return r.standard_normal((n, d)) if real else r.random((n, d))


def worst_gradcheck(model, xs, eps=None):
    """Worst relative error of the model's hand-written gradient over all parameters."""
    report = gradcheck.check_model(model, xs, eps=eps)
    return report.worst, report


def train_ae(model, lr=LR):
    """Minibatch Adam on the shapes images; returns the loss of every epoch."""
    return ae.fit(model, x, rng, epochs=EPOCHS, batch_size=BATCH, optimizer=optim.Adam(lr))


# %% [markdown]
# ## 1. Two outputs, two losses
# An autoencoder maps x to a code h = f(x W + b) and back to o = h V + c.  What o means depends on
# the data:
#
# * binary (or [0, 1]) pixels: o are *logits*, x^ = sigmoid(o), and the loss is the Bernoulli
#   cross-entropy  l = -Σ_d [x_d log x^_d + (1 - x_d) log(1 - x^_d)] = Σ_d [softplus(o_d) - x_d o_d];
# * real values: o is the reconstruction itself and the loss is the squared error
#   l = ½ Σ_d (x_d - o_d)², which is -log N(x; o, I) up to a constant.
#
# Differentiate each:  d/do [softplus(o) - x o] = sigmoid(o) - x  and  d/do ½(x - o)² = o - x.
# Both are x^ - x: each loss is the one that "matches" its output layer, and the error signal
# that starts backprop is just the reconstruction error.

# %%
lessonkit.section("1. Two outputs, two losses")
xs = small_x()
o = np.random.default_rng(args.seed + 1).standard_normal(xs.shape) * 2


def ce(o_):
    return float(np.sum(np.logaddexp(0, o_) - xs * o_))


def se(o_):
    return float(0.5 * np.sum((xs - o_) ** 2))


sig = 1 / (1 + np.exp(-o))
lessonkit.check("d(cross-entropy)/do: central differences vs sigmoid(o) - x",
                gradcheck.numerical_gradient(ce, o.copy()), sig - xs, rtol=1e-7, atol=1e-9)
lessonkit.check("d(squared error)/do: central differences vs o - x",
                gradcheck.numerical_gradient(se, o.copy()), o - xs, rtol=1e-7, atol=1e-9)

lessonkit.say("""
    Mix them up -- a sigmoid output with squared error -- and the gradient picks up a factor
    sigmoid'(o) = x^(1 - x^):  d/do ½(x - sigmoid(o))² = (x^ - x) x^ (1 - x^).  When a unit is
    confidently wrong (target 1, logit very negative) that factor kills the error signal:
""")
logits = np.array([-8.0, -4.0, -1.0, 0.0, 2.0])
p = 1 / (1 + np.exp(-logits))
lessonkit.table(["logit o", "x^", "target", "cross-entropy grad", "sigmoid + squared-error grad"],
                [(lo, pp, 1, pp - 1, (pp - 1) * pp * (1 - pp)) for lo, pp in zip(logits, p)],
                floatfmt=".3g")
lessonkit.check_true("at o = -8, target 1: the mismatched gradient is 1000x smaller",
                     abs(p[0] - 1) > 1000 * abs((p[0] - 1) * p[0] * (1 - p[0])),
                     f"{p[0] - 1:.3f} vs {(p[0] - 1) * p[0] * (1 - p[0]):.2e}")

lessonkit.say("""
    The shapes images are anti-aliased, so edge pixels are grey.  For a grey target x the
    cross-entropy is still smallest at x^ = x, but its minimum is the binary entropy H(x) > 0,
    not 0.  A cross-entropy that does not reach 0 is not a bug.
""")
grid = np.linspace(-6, 6, 120001)
ce_grid = np.logaddexp(0, grid) - 0.3 * grid
best = grid[np.argmin(ce_grid)]
lessonkit.check("target 0.3: argmin over a grid of sigmoid(o) vs 0.3", 1 / (1 + np.exp(-best)),
                0.3, rtol=1e-3)
lessonkit.check("target 0.3: minimum cross-entropy vs H(0.3) = entr(0.3) + entr(0.7)",
                ce_grid.min(), entr(0.3) + entr(0.7), rtol=1e-8)

lessonkit.say(f"""
    Train both kinds on {N_TRAIN} shapes images (D = {D}, code size H = {HIDDEN}, sigmoid code,
    Adam, {EPOCHS} epochs of minibatches of {BATCH}).
    Departures from the lecture: it trains with Adagrad, these lessons with Adam; and it averages
    the squared error as (1/m) Σ_n Σ_d, here ½ Σ_d per image averaged over the batch (the ½ makes
    the gradient o − x; neither factor moves the minimiser).
""")
bern = ae.Autoencoder(D, HIDDEN, output="bernoulli", rng=rng)
gauss = ae.Autoencoder(D, HIDDEN, output="gaussian", rng=rng)
bern_hist, gauss_hist = train_ae(bern), train_ae(gauss, lr=LR_LINEAR)
mse_b = float(np.mean(np.sum((bern.reconstruct(x_test) - x_test) ** 2, axis=1)))
mse_g = float(np.mean(np.sum((gauss.reconstruct(x_test) - x_test) ** 2, axis=1)))
lessonkit.table(["model", "first epoch loss", "last epoch loss", "test ||x - x^||² per image"], [
    ("sigmoid + cross-entropy", bern_hist[0], bern_hist[-1], mse_b),
    ("linear + squared error", gauss_hist[0], gauss_hist[-1], mse_g)], floatfmt=".4g")
lessonkit.check_true("training lowers both losses (last epoch < half the first)",
                     bern_hist[-1] < 0.5 * bern_hist[0] and gauss_hist[-1] < 0.5 * gauss_hist[0])
try:
    bern.loss(np.full((2, D), 1.5, np.float32))
    raised = ""
except ValueError as e:
    raised = str(e)
lessonkit.check_true("a Bernoulli output refuses targets outside [0, 1], naming the argument",
                     raised.startswith("x "), repr(raised))

n_show = 8
fig, axes = plt.subplots(3, n_show, figsize=(1.2 * n_show, 4.0))
rows = [("input", x_test[:n_show]), ("sigmoid + CE", bern.reconstruct(x_test[:n_show])),
        ("linear + SE", gauss.reconstruct(x_test[:n_show]))]
for r, (label, imgs) in enumerate(rows):
    for c in range(n_show):
        ax = axes[r, c]
        ax.imshow(imgs[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=9)
fig.suptitle(f"Test images and their reconstructions (code size {HIDDEN})")
lessonkit.savefig(fig, args, "reconstructions")

# %% [markdown]
# ## 2. A linear autoencoder finds the PCA subspace
# Take f = identity and the squared error.  Then x^ = x W V + (b V + c): the reconstruction is
# x projected onto the k-dimensional row space of V (the column space of the decoder in the
# lecture's notation), plus an offset.  The best rank-k reconstruction of centred data in squared
# error is the projection onto the top-k principal components (Eckart-Young), with error
#
#     min ½ E||x - x^||² = ½ Σ_{i>k} λ_i        (λ_i the eigenvalues of the data covariance).
#
# So training must find the PCA *subspace*.  It need not find the principal components
# themselves: W V is unchanged by W -> W A, V -> A⁻¹ V for any invertible k x k matrix A.
# Measure the subspace with principal angles: all zero when the subspaces coincide.

# %%
lessonkit.section("2. A linear autoencoder finds the PCA subspace")
K = 4
xc = (x - x.mean(axis=0)).astype(np.float64)
# Only the top few principal components are needed: svds (Lanczos) finds them without a full SVD.
_, svals, pcs = svds(xc, k=K + 3, v0=np.random.default_rng(args.seed).standard_normal(D))
order = np.argsort(svals)[::-1]
svals, pcs = svals[order], pcs[order]                 # rows of pcs: principal directions
lam = svals ** 2 / x.shape[0]                         # the top K + 3 eigenvalues of the covariance
residual = 0.5 * (np.sum(xc * xc) / x.shape[0] - lam[:K].sum())   # ½ Σ_{i>k} λ_i = ½(total − top k)
lessonkit.say(f"""
    Top eigenvalues of the covariance: {np.array2string(lam[:6], precision=3)} ...
    k = {K}; the gap between λ_{K} = {lam[K - 1]:.3f} and λ_{K + 1} = {lam[K]:.3f} makes the subspace
    well defined.  Full-batch Adam, {PCA_STEPS} steps (the last third with a 10x smaller step).
""")
# The lecture's normalisation: PCA from the SVD of X_c/√m (m examples), whose squared singular
# values are the eigenvalues of the covariance X_cᵀX_c/m; the encoder part of PCA is
# h = (x − x̄) V_kᵀ, the decoder x̂ = x̄ + h V_k, and its error is the optimum ½ Σ_{i>k} λ_i.
cov_eigs = np.linalg.eigvalsh(xc.T @ xc / x.shape[0])[::-1]
lessonkit.check(f"top {K + 3} eigenvalues of X_cᵀX_c/m vs squared singular values of X_c/√m",
                cov_eigs[:K + 3],
                np.sort(svds(xc / np.sqrt(x.shape[0]), k=K + 3,
                             v0=np.random.default_rng(args.seed).standard_normal(D))[1])[::-1] ** 2,
                rtol=1e-8)
h_pca = xc @ pcs[:K].T                                 # the encoder part: (m, k) codes
err_pca = 0.5 * np.sum((xc - h_pca @ pcs[:K]) ** 2) / x.shape[0]
lessonkit.check("PCA as an autoencoder (h = (x − x̄)V_kᵀ, x̂ = x̄ + h V_k): error vs ½ Σ_{i>k} λ_i",
                err_pca, residual, rtol=1e-8)
lin = ae.Autoencoder(D, K, output="gaussian", activation="identity", rng=rng)
opt = optim.Adam(LR_LINEAR)
angle_trace = []
for step in range(PCA_STEPS):
    if step == 2 * PCA_STEPS // 3:                     # smaller steps at the end to settle
        opt.lr = LR_LINEAR / 10
    loss_lin, g = lin.loss_and_grad(x)
    opt.step(lin.params, g)
    if step % 10 == 0 or step == PCA_STEPS - 1:
        worst = np.degrees(subspace_angles(lin.V.T.astype(np.float64), pcs[:K].T)).max()
        angle_trace.append((step, worst))
loss_lin = lin.loss(x)
angles = np.degrees(subspace_angles(lin.V.T.astype(np.float64), pcs[:K].T))
lessonkit.say(f"principal angles between the decoder's subspace and the top-{K} PCs (degrees): "
              f"{np.array2string(np.sort(angles), precision=4)}")
lessonkit.check_below(f"largest principal angle, AE decoder vs top-{K} PCA subspace (degrees)",
                      angles.max(), 2.0)
lessonkit.check("AE loss vs PCA's optimal error ½ Σ_{i>k} λ_i", loss_lin, residual, rtol=2e-3)
cosines = np.abs((lin.V / np.linalg.norm(lin.V, axis=1, keepdims=True)) @ pcs[:K].T)
lessonkit.say("|cosine| between each decoder row (rows) and each principal component (columns):")
lessonkit.say(np.array2string(cosines, precision=2, suppress_small=True))
lessonkit.say("In general not a permutation matrix: the AE's basis is a mixture of the PCs.")

fig = plt.figure(figsize=(10, 4.6), layout="constrained")
gs = fig.add_gridspec(2, K + 2)
for j in range(K):
    for r, (vec, label) in enumerate([(pcs[j], "PCA"), (lin.V[j], "AE decoder")]):
        ax = fig.add_subplot(gs[r, j])
        lim = np.abs(vec).max()
        ax.imshow(vec.reshape(28, 28), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{label} {j + 1}", fontsize=9)
ax = fig.add_subplot(gs[:, K:])
steps, trace = zip(*angle_trace)
ax.semilogy(steps, trace)
ax.axhline(2.0, color="gray", ls=":", label="2° (the check)")
ax.axvline(2 * PCA_STEPS // 3, color="gray", ls="--", lw=0.8, label="step size ÷ 10")
ax.set_xlabel("Adam step (full batch)")
ax.set_ylabel("largest principal angle (degrees)")
ax.set_title("Decoder subspace → PCA subspace")
ax.legend()
fig.suptitle("Different bases, same subspace: PCs (top) and the linear AE's decoder rows (bottom)")
lessonkit.savefig(fig, args, "pca_vs_ae")

# %% [markdown]
# ## 3. Undercomplete vs overcomplete
# A code narrower than the input (H < D) forces the network to keep only what matters most.
# A code at least as wide (H ≥ D) lets it learn the identity: zero error on the training data and
# on *anything else*, so it has learned nothing about the data.  To see it, use real-valued data
# that fill all D = 16 directions (3 strong directions plus noise in all 16), and test both
# linear autoencoders on random inputs that look nothing like the data.

# %%
lessonkit.section("3. Undercomplete vs overcomplete")
D_SMALL = 16
r3 = np.random.default_rng(args.seed + 3)
x_lr = (r3.standard_normal((1000, 3)) @ r3.standard_normal((3, D_SMALL))
        + 0.3 * r3.standard_normal((1000, D_SMALL))).astype(np.float32)
random_inputs = (3 * r3.standard_normal((500, D_SMALL))).astype(np.float32)


def relative_error(model, v):
    """||x^ - x|| / ||x|| over a whole batch."""
    return float(np.linalg.norm(model.reconstruct(v) - v) / np.linalg.norm(v))


rows = []
rel = {}
for H in (3, 32):
    m = ae.Autoencoder(D_SMALL, H, output="gaussian", activation="identity", rng=rng)
    opt = optim.Adam(LR_LINEAR)
    for _ in range(COPY_STEPS):
        opt.step(m.params, m.loss_and_grad(x_lr)[1])
    rel[H] = (relative_error(m, x_lr), relative_error(m, random_inputs),
              float(np.linalg.norm(m.W @ m.V - np.eye(D_SMALL))))
    rows.append((f"H = {H} ({'under' if H < D_SMALL else 'over'}complete)", *rel[H]))
lessonkit.table(["linear AE", "rel. error on data", "rel. error on random inputs",
                 "||W V - I||_F"], rows, floatfmt=".3g")
lessonkit.check_below("overcomplete: relative error on random inputs (it copies)",
                      rel[32][1], 0.05)
lessonkit.check_true("undercomplete: random inputs are NOT reproduced (error > 0.5)",
                     rel[3][1] > 0.5, f"{rel[3][1]:.3f}")

# %% [markdown]
# ## 4. Weight decay
# Add (λ/2)(||W||² + ||V||²) to the loss.  Its gradient is λW: with plain SGD every step
# multiplies the weights by (1 - lr λ) before the data gradient acts -- the weights "decay".
# Biases are left alone: they do not make the map any more complicated.

# %%
lessonkit.section("4. Weight decay")
lessonkit.say("Departure from the lecture: the decay (λ/2)‖·‖² is on the weights W and V only, "
              "never on the biases.")
WD = 1e-2
r4 = np.random.default_rng(args.seed + 4)
m64 = ae.Autoencoder(6, 4, weight_decay=WD, rng=r4, dtype=np.float64)
m64.encoder.params["b"][...] = r4.standard_normal(4)     # non-zero biases, so that a decay on
m64.decoder.params["b"][...] = r4.standard_normal(6)     # them would show in the check below
m64.loss_and_grad(small_x())
g_with = {k: v.copy() for k, v in m64.named_grads().items()}
m64.weight_decay = 0.0
m64.loss_and_grad(small_x())
g_without = {k: v.copy() for k, v in m64.named_grads().items()}
m64.weight_decay = WD
names = ["encoder.W", "encoder.b", "decoder.W", "decoder.b"]
expected = {"encoder.W": WD * m64.W, "decoder.W": WD * m64.V,
            "encoder.b": np.zeros(4), "decoder.b": np.zeros(6)}
lessonkit.check("gradient with decay − without vs λ·W, λ·V and 0 for the biases",
                np.concatenate([(g_with[k] - g_without[k]).ravel() for k in names]),
                np.concatenate([expected[k].ravel() for k in names]), rtol=1e-9, atol=1e-15)
err_wd, _ = worst_gradcheck(m64, small_x())
lessonkit.check_below("weight decay AE: worst relative error of the hand-written gradient",
                      err_wd, 1e-6)
decayed = ae.Autoencoder(D, HIDDEN, weight_decay=WD, rng=rng)
train_ae(decayed)
norms = [(name, float(np.linalg.norm(m.W)), float(np.linalg.norm(m.V)), m.loss(x_test) -
          0.5 * m.weight_decay * (np.vdot(m.W, m.W) + np.vdot(m.V, m.V)))
         for name, m in [("λ = 0", bern), (f"λ = {WD}", decayed)]]
lessonkit.table(["weight decay", "||W||_F", "||V||_F", "test cross-entropy"], norms, floatfmt=".4g")
lessonkit.check_true("weight decay shrinks the encoder weights", norms[1][1] < norms[0][1],
                     f"{norms[1][1]:.2f} < {norms[0][1]:.2f}")

# %% [markdown]
# ## 5. Tied weights
# Use the encoder's weights, transposed, in the decoder: V = Wᵀ.  Half the weights, and a
# classic link to PCA (whose encoder and decoder are transposes).  W is now used twice, so its
# gradient is the *sum* of the two uses:  dW = x̃ᵀ da  +  (hᵀ do)ᵀ.
# Check this against an untied copy whose V is set to Wᵀ: the tied gradient must equal
# dW_untied + dV_untiedᵀ.

# %%
lessonkit.section("5. Tied weights")
r5 = np.random.default_rng(args.seed + 5)
tied64 = ae.Autoencoder(6, 4, tied=True, rng=r5, dtype=np.float64)
untied64 = ae.Autoencoder(6, 4, rng=r5, dtype=np.float64)
untied64.encoder.params["W"][...] = tied64.W
untied64.decoder.params["W"][...] = tied64.W.T
untied64.encoder.params["b"][...] = r5.standard_normal(4)
tied64.encoder.params["b"][...] = untied64.encoder.params["b"]
xs = small_x()
l_t, g_t = tied64.loss_and_grad(xs)
l_u, g_u = untied64.loss_and_grad(xs)
lessonkit.check("same loss: tied model vs untied copy with V = Wᵀ", l_t, l_u, rtol=1e-12)
lessonkit.check("tied dW vs untied dW + dVᵀ (the two uses summed)",
                tied64.named_grads()["encoder.W"],
                untied64.encoder.grads["W"] + untied64.decoder.grads["W"].T, rtol=1e-10, atol=1e-14)
err_tied, report = worst_gradcheck(tied64, xs)
lessonkit.say(str(report))
lessonkit.check_below("tied AE: worst relative error of the hand-written gradient",
                      err_tied, 1e-6)
tied = ae.Autoencoder(D, HIDDEN, tied=True, rng=rng)
train_ae(tied)
lessonkit.table(["model", "parameters", "test cross-entropy"], [
    ("untied", bern.num_params(), bern.loss(x_test)),
    ("tied", tied.num_params(), tied.loss(x_test))],
    floatfmt=".4g")
lessonkit.check("tied parameter count vs D·H + H + D", tied.num_params(), D * HIDDEN + HIDDEN + D,
                rtol=0)

# %% [markdown]
# ## 6. Denoising
# Corrupt the input, keep the clean target: the encoder sees x̃ = m ⊙ x where each m_d is 0
# with probability q ("masking noise"), and the loss is l(x, decode(encode(x̃))).  Copying is
# no longer a solution: the network must fill in the missing pixels from the others, so it
# has to learn how pixels depend on each other.  The mask is an *input* to the loss, like the
# noise ε of a VAE: hold it fixed and the loss is a deterministic function we can gradient-check.

# %%
lessonkit.section("6. Denoising")
Q = 0.5
mask = ae.masking_noise((200_000,), Q, np.random.default_rng(args.seed + 6))
se_q = np.sqrt(Q * (1 - Q) / mask.size)
lessonkit.check("fraction of masked entries vs q (±4 s.e.)", 1 - mask.mean(), Q, rtol=0,
                atol=4 * se_q)
dae64 = ae.DenoisingAutoencoder(6, 4, noise_rate=Q, rng=rng, dtype=np.float64)
fixed_mask = ae.masking_noise(small_x().shape, Q, np.random.default_rng(args.seed + 7), np.float64)
err_dae, _ = worst_gradcheck(dae64, small_x(), eps=fixed_mask)
lessonkit.check_below("denoising AE (mask held fixed): worst relative error of the gradient",
                      err_dae, 1e-6)
dae = ae.DenoisingAutoencoder(D, HIDDEN, noise_rate=Q, rng=rng)
train_ae(dae)
m_test = ae.masking_noise(x_test.shape, Q, np.random.default_rng(args.seed + 8))
corrupted = x_test * m_test
den_err = {name: float(np.mean(np.sum((m.reconstruct(corrupted) - x_test) ** 2, axis=1)))
           for name, m in [("plain", bern), ("denoising", dae)]}
lessonkit.table(["model", f"||x - x^(x̃)||² on test images, q = {Q}"], list(den_err.items()),
                floatfmt=".4g")
lessonkit.check_true("the denoising AE restores corrupted test images better than the plain AE",
                     den_err["denoising"] < den_err["plain"],
                     f"{den_err['denoising']:.2f} < {den_err['plain']:.2f}")

fig, axes = plt.subplots(4, n_show, figsize=(1.2 * n_show, 5.2))
rows = [("clean", x_test[:n_show]), (f"masked, q={Q}", corrupted[:n_show]),
        ("plain AE", bern.reconstruct(corrupted[:n_show])),
        ("denoising AE", dae.reconstruct(corrupted[:n_show]))]
for r, (label, imgs) in enumerate(rows):
    for c in range(n_show):
        axes[r, c].imshow(imgs[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=9)
fig.suptitle("Masking noise: reconstructions of corrupted test images")
lessonkit.savefig(fig, args, "denoising")

# %% [markdown]
# ## 7. Sparse codes: a KL penalty on the mean activation
# Let ρ̂_j = (1/N) Σ_n h_nj be the mean activation of sigmoid unit j over the batch, and pick a
# small target ρ.  The penalty  β Σ_j KL(ρ ‖ ρ̂_j)  with the Bernoulli KL
#
#     KL(ρ ‖ ρ̂) = ρ log(ρ/ρ̂) + (1 - ρ) log((1 - ρ)/(1 - ρ̂))
#     dKL/dρ̂    = -ρ/ρ̂ + (1 - ρ)/(1 - ρ̂)        zero exactly at ρ̂ = ρ
#     d²KL/dρ̂²  = ρ/ρ̂² + (1 - ρ)/(1 - ρ̂)²  > 0   so that zero is the minimum, and KL(ρ ‖ ρ) = 0.
#
# Backprop: dρ̂_j/dh_nj = 1/N, so every example gets the same push β KL'(ρ̂_j)/N on unit j.

# %%
lessonkit.section("7. Sparse codes")
RHO, BETA = 0.05, 10.0
lessonkit.say(f"Departure from the lecture: its example target is ρ = 0.005; with {HIDDEN} units "
              f"and {EPOCHS} short epochs this lesson uses ρ = {RHO} and β = {BETA:g}.")
info = ae.sparsity_penalty_minimum(RHO)
lessonkit.check(f"argmin of KL({RHO} ‖ ρ̂) on a grid of 100001 points vs ρ", info["grid_argmin"],
                RHO, rtol=0, atol=1e-5)
lessonkit.check_below("KL at the grid minimum (vs 0)",
                      info["min_value"], 1e-9)
lessonkit.check_below("dKL/dρ̂ at ρ̂ = ρ (vs 0)",
                      abs(info["grad_at_rho"]), 1e-12)
num_d = gradcheck.numerical_gradient(lambda r: ae.kl_bernoulli(RHO, r), np.array([0.2]))[0]
lessonkit.check("dKL/dρ̂ at ρ̂ = 0.2: central differences vs the formula", num_d,
                ae.kl_bernoulli_grad(RHO, 0.2), rtol=1e-8)
# The value and both derivatives at a point away from ρ: the argmin and the zero slope at ρ hold
# for the reversed KL(ρ̂ ‖ ρ) too, and so does the curvature 1/ρ + 1/(1 − ρ) at ρ̂ = ρ (the Fisher
# information), so only values away from ρ tell the two directions apart.
RH = 0.2
lessonkit.check(f"KL(ρ ‖ ρ̂) at ρ̂ = {RH}: ae.kl_bernoulli vs ρ log(ρ/ρ̂) + (1-ρ) log((1-ρ)/(1-ρ̂))",
                ae.kl_bernoulli(RHO, np.float64(RH)),
                RHO * np.log(RHO / RH) + (1 - RHO) * np.log((1 - RHO) / (1 - RH)), rtol=1e-12)


def second_difference(r, h=1e-4):
    """d²KL(ρ ‖ ρ̂)/dρ̂² at ρ̂ = r by central second differences of the library's KL."""
    return float((ae.kl_bernoulli(RHO, np.float64(r + h)) - 2 * ae.kl_bernoulli(RHO, np.float64(r))
                  + ae.kl_bernoulli(RHO, np.float64(r - h))) / h ** 2)


for r_, label in ((RHO, "ρ"), (RH, str(RH))):
    lessonkit.check(f"d²KL/dρ̂² at ρ̂ = {label}: second differences vs ρ/ρ̂² + (1-ρ)/(1-ρ̂)²",
                    second_difference(r_), RHO / r_ ** 2 + (1 - RHO) / (1 - r_) ** 2, rtol=1e-5)
lessonkit.say(f"""
    The second derivative is positive at ρ̂ = ρ ({1 / RHO + 1 / (1 - RHO):.2f}), so the zero of
    the slope is a minimum.
""")
sae64 = ae.SparseAutoencoder(6, 4, rho=0.2, beta=3.0, rng=rng, dtype=np.float64)
err_sae, _ = worst_gradcheck(sae64, small_x())
lessonkit.check_below("sparse AE: worst relative error of the hand-written gradient",
                      err_sae, 1e-6)
sparse = ae.SparseAutoencoder(D, HIDDEN, rho=RHO, beta=BETA, rng=rng)
train_ae(sparse)
h_plain, h_sparse = bern.encode(x_test), sparse.encode(x_test)
rho_plain, rho_sparse = h_plain.mean(axis=0), h_sparse.mean(axis=0)
dist = {"plain": float(np.mean(np.abs(rho_plain - RHO))),
        "sparse": float(np.mean(np.abs(rho_sparse - RHO)))}
lessonkit.table(["model", "mean ρ̂_j", "median ρ̂_j", "mean |ρ̂_j - ρ|", "fraction of h < 0.1"], [
    ("plain", rho_plain.mean(), np.median(rho_plain), dist["plain"], np.mean(h_plain < 0.1)),
    (f"sparse (ρ={RHO}, β={BETA:g})", rho_sparse.mean(), np.median(rho_sparse), dist["sparse"],
     np.mean(h_sparse < 0.1))], floatfmt=".3g")
n_stuck = int(np.sum(rho_plain > 0.97))
low_plain, low_sparse = float(np.mean(h_plain < 0.1)), float(np.mean(h_sparse < 0.1))
lessonkit.say(f"""
    Nothing asks the plain AE for sparsity, and {n_stuck} of its {HIDDEN} units are on
    (ρ̂ > 0.97) for almost every image: a constant that the decoder bias could have supplied.
    The sparse AE's units have mean activation {rho_sparse.mean():.3f} (median
    {np.median(rho_sparse):.3f}) against the target ρ = {RHO}, and {low_sparse:.0%} of its
    activations are below 0.1, against {low_plain:.0%} for the plain AE.
""")
lessonkit.check_true("training drives the mean activations toward ρ (5x closer than the plain AE)",
                     dist["sparse"] < 0.2 * dist["plain"],
                     f"{dist['sparse']:.3f} vs {dist['plain']:.3f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
ax = axes[0]
bins = np.linspace(0, 1, 41)
ax.hist(h_plain.ravel(), bins=bins, alpha=0.6, label="plain AE")
ax.hist(h_sparse.ravel(), bins=bins, alpha=0.6, label="sparse AE")
ax.set_yscale("log")
ax.set_xlabel("activation h_nj (test images)")
ax.set_ylabel("count")
ax.set_title("Activations")
ax.legend()
ax = axes[1]
ax.plot(np.sort(rho_plain), "o", ms=3, label="plain AE")
ax.plot(np.sort(rho_sparse), "o", ms=3, label="sparse AE")
ax.axhline(RHO, color="k", ls=":", label=f"target ρ = {RHO}")
ax.set_xlabel("hidden unit (sorted)")
ax.set_ylabel("mean activation ρ̂_j")
ax.set_ylim(0, 1.02)
ax.set_title("Mean activation per unit")
ax.legend()
ax = axes[2]
rr = np.linspace(0.002, 0.4, 400)
ax.plot(rr, ae.kl_bernoulli(RHO, rr))
ax.axvline(RHO, color="k", ls=":")
ax.set_ylim(0, 0.6)
ax.set_xlabel("ρ̂")
ax.set_ylabel(f"KL({RHO} ‖ ρ̂)")
ax.set_title("The penalty is smallest at ρ̂ = ρ")
lessonkit.savefig(fig, args, "sparse_activations")

# %% [markdown]
# ## 8. Contractive: penalise the encoder's Jacobian
# Ask the code to change little when the input changes: add λ‖J_f(x)‖²_F with J = ∂h/∂x.  For
# h = sigmoid(x W + b),  J_ji = s_j W_ij  with s = h(1 - h), so
#
#     ‖J‖²_F = Σ_j s_j² Σ_i W_ij²          (no D x H Jacobian needs to be formed).
#
# Its gradient (averaged over the batch) has two parts, because W appears twice:
#   through s:   ∂/∂a_j = 2 s_j² (1 - 2h_j) Σ_i W_ij²   (ds/da = s(1 - 2h)),
#                then dW = xᵀ da and db = Σ_n da;
#   directly:    ∂/∂W_ij = 2 W_ij s_j².

# %%
lessonkit.section("8. Contractive")
cae64 = ae.ContractiveAutoencoder(6, 4, lam=0.5, init=1.0, rng=rng, dtype=np.float64)
xs = small_x()
J = cae64.jacobian(xs)                                  # (N, H, D), formed explicitly
closed = ae.contractive_penalty(cae64.encode(xs), cae64.W, 1.0)[0]
lessonkit.check("mean ‖J‖²_F: explicit Jacobian vs Σ_j s_j² Σ_i W_ij²",
                np.mean(np.sum(J ** 2, axis=(1, 2))), closed, rtol=1e-12)
h_ = 1e-6
num_J = np.stack([(cae64.encode(xs + h_ * e) - cae64.encode(xs - h_ * e)) / (2 * h_)
                  for e in np.eye(6)], axis=-1)
lessonkit.check("Jacobian dh/dx: central differences vs s_j W_ij", num_J, J, rtol=1e-6, atol=1e-10)
err_cae, report = worst_gradcheck(cae64, xs)
lessonkit.say(str(report))
lessonkit.check_below("contractive AE: worst relative error of the hand-written gradient",
                      err_cae, 1e-6)
cae = ae.ContractiveAutoencoder(D, HIDDEN, lam=0.3, rng=rng)
train_ae(cae)
jac = {name: float(np.mean(np.sum(m.jacobian(x_test[:200]) ** 2, axis=(1, 2))))
       for name, m in [("plain", bern), ("contractive", cae)]}
lessonkit.table(["model", "mean ‖J‖²_F on test images", "test cross-entropy"],
                [("plain", jac["plain"], bern.loss(x_test)),
                 ("contractive (λ = 0.3)", jac["contractive"],
                  cae.forward_backward(x_test, x_test, need_grad=False)["recon"].mean())],
                floatfmt=".4g")
lessonkit.check_true("the contractive AE's code is less sensitive to its input",
                     jac["contractive"] < jac["plain"],
                     f"{jac['contractive']:.3f} < {jac['plain']:.3f}")

lessonkit.say("""
    Next: none of these autoencoders is a generative model -- there is no distribution over the
    codes to sample from.  The variational autoencoder adds one.
""")

# %%
lessonkit.check_yourself([
    "Show that for a sigmoid output with cross-entropy, and for a linear output with squared "
    "error, the gradient of the loss with respect to the output pre-activation is x^ - x.",
    "Why does a linear autoencoder recover the PCA subspace but generally not the principal "
    "components themselves? What extra constraint would pin down the components?",
    "An overcomplete linear autoencoder reconstructs random noise perfectly. Why is that bad "
    "news, and which of the regularisers above prevent it?",
    "In a tied autoencoder, why is the gradient for W a sum of two terms? What goes wrong if "
    "you keep only the encoder's term?",
    "Where is KL(ρ ‖ ρ̂) minimised, and what is its value there? Why does every example in a "
    "batch receive the same sparsity gradient for unit j?",
    "W appears twice in λ‖J‖²_F. Write both parts of dλ‖J‖²_F/dW for one example.",
])
lessonkit.finish()
