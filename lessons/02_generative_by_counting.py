"""02 · Generative models by counting

A trigram model of short reviews, estimated by counting.  Argmax decoding writes the same review
every time; sampling writes many different ones.  Then: why counting the full joint distribution
of an image is hopeless, and how a latent variable makes the joint cheap to describe.

Run:  python lessons/02_generative_by_counting.py [--out DIR] [--quick] [--seed S]
"""

# %%
import math
import sys
from collections import Counter
from pathlib import Path

try:
    import numpyvae  # noqa: F401
except ImportError:  # a source checkout that is not pip-installed: use the repository root
    sys.path.insert(0, str(Path(globals().get("__file__", "x")).resolve().parents[1]))

import matplotlib.pyplot as plt
import numpy as np

from numpyvae import lessonkit
from numpyvae import trigram as tg

args = lessonkit.parse_args(__doc__)
rng = np.random.default_rng(args.seed)
N_SAMPLES = 5000 if args.quick else 20_000    # enough that ±4 s.e. around p = 0.015 excludes 0

# %% [markdown]
# ## 1. The data
# A generative model is a probability distribution we can *sample* from.  Our data are short
# reviews.  A review is a sequence of tokens (words and punctuation) w_1 … w_T.

# %%
lessonkit.section("1. The data")
model = tg.fit_trigram(tg.REVIEWS)
lessonkit.say(f"""
    {len(tg.REVIEWS)} training reviews, {model.n_tokens} predicted tokens (words plus one end
    marker per review), a vocabulary of {len(model.vocab)} tokens.  For example:
""")
for s in tg.REVIEWS[:3]:
    lessonkit.say(f"    {s!r:52} -> {tg.tokenize(s)}")

# %% [markdown]
# ## 2. A model from counts
# The chain rule is exact for any distribution over sequences:
#
#     p(w_1 … w_T) = p(w_1) p(w_2 | w_1) p(w_3 | w_1, w_2) … p(</s> | w_1 … w_T)
#
# A trigram model *assumes* each word depends only on the two before it, and estimates
# each conditional by counting:  p(w | u, v) = c(u, v, w) / c(u, v).
# Two start markers <s> <s> give the first word a context; the end marker </s> lets the
# model decide when a review is finished.

# %%
lessonkit.section("2. A model from counts")
ctx = ("i", "would")
probs = tg.next_token_probs(model, ctx)
lessonkit.say(f"After {' '.join(ctx)!r} ({model.context_total(ctx)} times in the corpus):")
lessonkit.table(["next token", "count", "p(w | u, v)"],
                [(w, model.counts[ctx][w], p) for w, p in sorted(probs.items(), key=lambda t: -t[1])],
                floatfmt=".4f")

sums = np.array([sum(tg.next_token_probs(model, c).values()) for c in model.counts])
lessonkit.check_below(f"max over all {len(model.counts)} contexts of |Σ_w p(w | u, v) − 1|",
                      float(np.max(np.abs(sums - 1.0))), 1e-12)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw=dict(width_ratios=[3, 1]))
for ax, c in zip(axes, [(tg.BOS, "the"), ctx]):
    items = sorted(tg.next_token_probs(model, c).items(), key=lambda t: (-t[1], t[0]))
    ax.bar([w for w, _ in items], [p for _, p in items], color="tab:blue")
    ax.set_ylabel("p(w | u, v)")
    ax.set_title(f"next word after {' '.join(c)!r}")
    ax.tick_params(axis="x", labelrotation=70, labelsize=8)
fig.suptitle("Next-word distributions, from counts", y=1.02)
lessonkit.savefig(fig, args, "next_word")

# %% [markdown]
# ## 3. Decoding by argmax: always the same review
# Picking the most probable next word every time is deterministic.  The random generator is
# passed in, but never used: every draw is identical.

# %%
lessonkit.section("3. Argmax decoding")
argmax_draws = [tg.generate(model, rng, method="argmax") for _ in range(20)]
lessonkit.say(f"argmax review: {argmax_draws[0]!r}")
lessonkit.check_true("argmax decoding gives one identical review in 20 draws",
                     len(set(argmax_draws)) == 1, f"{len(set(argmax_draws))} distinct")

# The greedy review takes the most probable word at each step.  That is not the same as the
# most probable review: compare its probability with the training reviews' probabilities.
p_argmax = math.exp(tg.sentence_log_prob(model, argmax_draws[0]))
p_train = {s: math.exp(tg.sentence_log_prob(model, s)) for s in tg.REVIEWS}
best_train = max(p_train, key=p_train.get)                # the first of any ties
lessonkit.say(f"""
    p(argmax review)            = {p_argmax:.4f}
    p({best_train!r}) = {p_train[best_train]:.4f}
""")
lessonkit.check_true("greedy decoding does not find the most probable review",
                     p_train[best_train] > p_argmax,
                     f"{p_train[best_train]:.4f} > {p_argmax:.4f}")

# %% [markdown]
# ## 4. Sampling: variety
# Drawing each next word from p(w | u, v) gives a different review almost every time.
# Each sampled review s has probability p(s) = Π_t p(w_t | w_{t-2}, w_{t-1}), so the
# fraction of draws that equal a given review must approach p(s): a check that our sampler
# really samples from the model.

# %%
lessonkit.section("4. Sampling")
samples = [tg.generate(model, rng, method="sample") for _ in range(N_SAMPLES)]
distinct = Counter(samples)
train_set = set(tg.REVIEWS)
n_copied = sum(1 for s in distinct if s in train_set)
lessonkit.say(f"""
    {N_SAMPLES} samples, {len(distinct)} distinct reviews; {n_copied} of them are copies of a
    training review and {len(distinct) - n_copied} are new combinations.  A few:
""")
for s in list(distinct)[:8]:
    lessonkit.say(f"    [{'copy' if s in train_set else 'new '}] {s}")
min_distinct = 30 if args.quick else 100
lessonkit.check_true(f"sampling gives at least {min_distinct} distinct reviews",
                     len(distinct) >= min_distinct, f"{len(distinct)} distinct")

# Fix the review *before* looking at the samples (choosing the most frequent sample instead
# would bias its frequency upwards): the most probable training review from section 3.
p_best = p_train[best_train]
se = math.sqrt(p_best * (1 - p_best) / N_SAMPLES)
lessonkit.check(f"frequency of {best_train!r} among the samples vs its p(s) (±4 s.e.)",
                distinct[best_train] / N_SAMPLES, p_best, rtol=0, atol=4 * se)
# All training reviews together: the fraction of samples that copy one of them must approach
# the sum of their probabilities (each distinct review counted once).
p_copy = sum(p_train[s_] for s_ in train_set)
se_copy = math.sqrt(p_copy * (1 - p_copy) / N_SAMPLES)
lessonkit.check("fraction of samples that copy a training review vs Σ p(s) over the training "
                "reviews (±4 s.e.)", sum(distinct[s_] for s_ in train_set) / N_SAMPLES, p_copy,
                rtol=0, atol=4 * se_copy)

fig, ax = plt.subplots(figsize=(5, 3.2))
n_draws = np.arange(1, N_SAMPLES + 1)
seen, curve = set(), []
for s in samples:
    seen.add(s)
    curve.append(len(seen))
ax.plot(n_draws, curve, label="sampling")
ax.plot(n_draws, np.ones_like(n_draws), label="argmax", lw=2)
ax.set_xlabel("number of draws")
ax.set_ylabel("distinct reviews so far")
ax.set_title("Argmax repeats itself; sampling does not")
ax.legend()
lessonkit.savefig(fig, args, "distinct_reviews")

# %% [markdown]
# ## 5. Held-out text and smoothing
# Perplexity = exp(−average log-probability per token): the number of equally likely choices
# the model is "torn between" on average.  On new reviews some trigrams were never counted,
# so the maximum-likelihood model gives them probability 0 and the perplexity is infinite.
# Add-k smoothing, p_k(w | u, v) = (c(u, v, w) + k) / (c(u, v) + k|V|), fixes this.

# %%
lessonkit.section("5. Held-out text and smoothing")
lessonkit.check_true("held-out perplexity of the unsmoothed (k = 0) model is infinite",
                     math.isinf(tg.perplexity(model, tg.HELD_OUT, k=0.0)),
                     "an unseen trigram has probability 0")
for c in [("the", "movie"), ("purple", "giraffe")]:
    total = sum(tg.next_token_probs(model, c, k=0.1).values())
    lessonkit.check(f"Σ_w p_k(w | {' '.join(c)!r}) with k = 0.1 "
                    f"({'seen' if c in model.counts else 'unseen'} context)", total, 1.0, rtol=1e-12)

ks = np.logspace(-5, 0, 11 if args.quick else 26)
ppl_held = np.array([tg.perplexity(model, tg.HELD_OUT, k=k) for k in ks])
ppl_train = np.array([tg.perplexity(model, tg.REVIEWS, k=k) for k in ks])
best = int(np.argmin(ppl_held))
lessonkit.say(f"""
    Best k on the held-out reviews: {ks[best]:.2g}, perplexity {ppl_held[best]:.1f}.
    Training perplexity at that k: {ppl_train[best]:.2f}.  A uniform guess over the
    vocabulary would have perplexity |V| = {len(model.vocab)}.
""")
lessonkit.check_true("best smoothed held-out perplexity beats the uniform model",
                     ppl_held[best] < len(model.vocab),
                     f"{ppl_held[best]:.1f} < {len(model.vocab)}")

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.loglog(ks, ppl_train, "o-", label="training reviews")
ax.loglog(ks, ppl_held, "s-", label="held-out reviews")
ax.axhline(len(model.vocab), color="gray", ls=":", label="uniform over V")
ax.set_xlabel("add-k smoothing constant k")
ax.set_ylabel("perplexity")
ax.set_title("Too little smoothing overfits, too much underfits")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
lessonkit.savefig(fig, args, "perplexity_vs_k")

# %% [markdown]
# ## 6. From counting the joint to latent variables
# Counting works because a trigram table is small.  Even here most possible trigrams never
# occur.  Now count images: a 28×28 binary image has D = 784 pixels, so the full joint table
# p(x_1, …, x_784) has 2^784 cells, and 2^784 − 1 free parameters (they must sum to 1).
# MNIST has 60 000 training images: essentially every cell would have count 0.

# %%
lessonkit.section("6. Counting the joint vs latent variables")
V = len(model.vocab)
n_seen = sum(len(c) for c in model.counts.values())
lessonkit.say(f"""
    Trigram table: about |V|^3 = {V ** 3:,} cells; the corpus has {n_seen:,} distinct
    trigrams, so {100 * n_seen / V ** 3:.3f} % of the cells are not zero.
""")
n_params = 2 ** 784 - 1                                 # Python ints are exact
digits = str(n_params)
lessonkit.say("Free parameters of a full joint table over 784 binary pixels, 2^784 − 1 =")
for i in range(0, len(digits), 80):
    lessonkit.say("    " + digits[i:i + 80])
lessonkit.check("number of decimal digits of 2^784 − 1", len(str(n_params)),
                math.floor(784 * math.log10(2)) + 1, rtol=0)

lessonkit.say("""
    A latent variable explains the joint instead of listing it.  Say each image comes from one
    of K "types" z, and given the type the pixels are independent coins:

        p(x) = Σ_z p(z) Π_d p(x_d | z),     p(x_d = 1 | z) = θ_zd.

    That is K·D + K − 1 parameters, yet the pixels are *dependent* once z is summed out.
    Smallest example: two pixels, two equally likely types with θ = (0.9, 0.9) and (0.1, 0.1).
""")
theta = np.array([[0.9, 0.9], [0.1, 0.1]])
prior = np.array([0.5, 0.5])
grid = np.array([[a, b] for a in (0, 1) for b in (0, 1)])          # the 4 possible images
# p(x | z) = Π_d θ^x (1 − θ)^(1 − x), for every image (rows) and type (columns)
lik = np.prod(np.where(grid[:, None, :] == 1, theta[None], 1 - theta[None]), axis=2)
joint = lik @ prior
lessonkit.table(["x1", "x2", "p(x1, x2)"], [(a, b, p) for (a, b), p in zip(grid, joint)],
                floatfmt=".3f")
lessonkit.check("Σ_x p(x) over the 4 images", joint.sum(), 1.0, rtol=1e-12)
lessonkit.check("p(x1=1, x2=1) = ½(0.9² + 0.1²)", joint[3], 0.5 * (0.81 + 0.01), rtol=1e-12)
p1 = joint[2] + joint[3]
lessonkit.check_true("pixels are dependent: p(1, 1) ≠ p(x1=1) p(x2=1)",
                     abs(joint[3] - p1 * p1) > 0.1, f"{joint[3]:.2f} vs {p1 * p1:.2f}")

D = np.arange(1, 785)
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(D, D * np.log10(2), label="full joint table: 2^D − 1")
ax.plot(D, np.log10(10 * D + 9), label="mixture of 10 types: 10·D + 9")
ax.plot(D, np.log10(D), label="independent pixels: D")
ax.axvline(784, color="gray", ls=":")
ax.text(770, 236, "2^784 ≈ 10^236 ", ha="right", va="center", fontsize=8)
ax.text(770, 18, "10·784 + 9 = 7,849", ha="right", va="bottom", fontsize=8)
ax.set_xlabel("number of binary pixels D")
ax.set_ylabel("log10(number of parameters)")
ax.set_title("Counting the joint explodes; latent variables do not")
ax.legend(fontsize=8)
lessonkit.savefig(fig, args, "parameter_counts")

lessonkit.say("""
    Next lesson: continuous data, a Gaussian mixture, and the EM algorithm, which fits such a
    latent-variable model by maximising a lower bound on log p(x): the ELBO.
""")

# %%
lessonkit.check_yourself([
    "Why does argmax decoding return the same review every time, and why is that review not "
    "necessarily the most probable review under the model?",
    "A trigram model assigns probability 0 to a held-out review. Name the exact cause and two "
    "ways to fix it.",
    "Why does training perplexity keep rising with k while held-out perplexity first falls?",
    "How many free parameters does a full joint table over 10 binary pixels have? Over 10 pixels "
    "with 256 grey levels?",
    "In the two-pixel mixture, the pixels are independent given z. Why are they dependent when z "
    "is not observed?",
])
lessonkit.finish()
