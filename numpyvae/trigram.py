"""Generative models by counting: a word-trigram model of short reviews.

The chain rule writes any distribution over a token sequence w_1 … w_T exactly as
p(w_1 … w_T) = Π_t p(w_t | w_1 … w_{t-1}).  A trigram model keeps only the last two words::

    p(w_t | w_{t-2}, w_{t-1}) = c(w_{t-2}, w_{t-1}, w_t) / c(w_{t-2}, w_{t-1})

where c(·) counts occurrences in the training text (the maximum-likelihood estimate).  Every
sentence is padded as ``<s> <s> w_1 … w_T </s>`` so that the first word has a context and the
model also learns when to stop.

Held-out text usually contains trigrams never seen in training; their MLE probability is 0 and
the perplexity is infinite.  *Add-k smoothing* pretends every word of the vocabulary V followed
every context k extra times::

    p_k(w | u, v) = (c(u, v, w) + k) / (c(u, v) + k |V|)

V is every training word plus ``</s>`` and ``<unk>`` (held-out words not seen in training map to
``<unk>``); ``<s>`` is never predicted.  k = 0 is the plain MLE.  Generation always uses the MLE
(k = 0), so it only ever follows trigrams that occurred in the corpus.

Everything is plain Python over dicts: the corpus is tiny and clarity matters more than speed.
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from numpyvae._validate import check_positive_float, check_positive_int, check_rng

__all__ = [
    "REVIEWS", "HELD_OUT", "BOS", "EOS", "UNK", "tokenize", "detokenize", "TrigramModel",
    "fit_trigram", "next_token_probs", "sentence_log_prob", "perplexity", "generate",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"

#: The training corpus: short product and movie reviews, one per string.
REVIEWS = (
    "the movie was great and the acting was superb.",
    "the movie was boring and far too long.",
    "the movie was fine but the ending was weak.",
    "i loved the movie and i would watch it again.",
    "i loved the soundtrack but the plot was thin.",
    "i hated the ending.",
    "the acting was wooden and the plot made no sense.",
    "the plot was clever and the dialogue was sharp.",
    "a beautiful film with a silly plot.",
    "a great film for a rainy sunday.",
    "a boring film with great music.",
    "the film was too long but the cast was great.",
    "the cast was great and the jokes were funny.",
    "the jokes were old and the pacing was slow.",
    "the pacing was perfect.",
    "worst movie i have seen this year.",
    "best movie i have seen in years.",
    "i have seen it twice and i would watch it again.",
    "i would not watch it again.",
    "i would not recommend this movie.",
    "i would recommend this movie to anyone.",
    "i would recommend this film to my friends.",
    "not worth the ticket price.",
    "worth every penny.",
    "the kids loved it and so did i.",
    "my kids loved it.",
    "my husband fell asleep halfway through.",
    "my wife loved the music.",
    "the music was beautiful and the story was sad.",
    "the story was predictable but fun.",
    "fun for the whole family.",
    "this phone is great.",
    "this phone is too slow.",
    "this phone broke after a week.",
    "the battery lasts all day and the screen is bright.",
    "the battery died after a month.",
    "the battery life is great but the camera is bad.",
    "the camera is great in daylight but bad at night.",
    "the screen is bright and sharp.",
    "the screen cracked after a week.",
    "great value for the price.",
    "great phone for the price.",
    "too expensive for what it does.",
    "it does what it says.",
    "it works as described and arrived on time.",
    "it arrived late and the box was damaged.",
    "the box was damaged but the phone works.",
    "the headphones sound great and fit well.",
    "the headphones broke after a month.",
    "the sound is clear but the bass is weak.",
    "the bass is deep and the sound is clear.",
    "these shoes fit well and look great.",
    "these shoes fell apart after a week.",
    "comfortable shoes for the price.",
    "i would buy it again.",
    "i would not buy it again.",
    "i returned it after a week.",
    "five stars, would buy again.",
    "one star, it broke on the first day.",
    "the first day it worked, then it stopped.",
    "customer service was friendly and fast.",
    "customer service was slow and rude.",
    "the coffee maker is quiet and fast.",
    "the coffee tastes great.",
    "the coffee maker leaks and the coffee tastes bad.",
    "easy to use and easy to clean.",
    "hard to clean but easy to use.",
    "the blender is loud but it works.",
)

#: Held-out reviews for perplexity, written in the same style but not used for counting.
HELD_OUT = (
    "the movie was great and the music was beautiful.",
    "i would recommend this phone to my friends.",
    "the battery died after a week.",
    "the plot was predictable and the acting was wooden.",
    "these headphones are too expensive.",
    "the kids loved the soundtrack.",
    "the blender broke after a month.",
    "easy to use and the coffee tastes great.",
)

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,!?;:]")


def tokenize(text):
    """Lower-case ``text`` and split it into words and punctuation marks: a list of str.

    >>> tokenize("Great phone, five stars!")
    ['great', 'phone', ',', 'five', 'stars', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def detokenize(tokens):
    """Join tokens back into text, attaching punctuation to the previous word."""
    out = ""
    for t in tokens:
        if t in (BOS, EOS):
            continue
        out += t if (not out or t in ".,!?;:") else " " + t
    return out


@dataclass(frozen=True)
class TrigramModel:
    """Trigram counts.

    counts  : {(u, v): Counter({w: c(u, v, w)})}   one entry per context seen in training
    vocab   : tuple of predictable tokens V (training words, ``</s>``, ``<unk>``), sorted
    n_sentences, n_tokens : size of the training data (tokens include ``</s>``)
    """
    counts: dict
    vocab: tuple
    n_sentences: int
    n_tokens: int

    def context_total(self, context):
        """c(u, v): how often the context was followed by anything (0 if never seen)."""
        c = self.counts.get(tuple(context))
        return 0 if c is None else sum(c.values())


def _check_sentences(sentences, name="sentences"):
    if isinstance(sentences, str):
        raise TypeError(f"{name} must be a sequence of str (one sentence each), not a single str")
    sentences = list(sentences)
    if not sentences:
        raise ValueError(f"{name} must contain at least one sentence")
    for s in sentences:
        if not isinstance(s, str):
            raise TypeError(f"{name} must contain str, got {type(s).__name__}")
    return sentences


def _padded(tokens):
    return [BOS, BOS] + list(tokens) + [EOS]


def fit_trigram(sentences=REVIEWS):
    """Count every trigram of the padded, tokenized ``sentences``.  Returns a TrigramModel."""
    sentences = _check_sentences(sentences)
    counts = defaultdict(Counter)
    words = set()
    n_tokens = 0
    for s in sentences:
        toks = tokenize(s)
        words.update(toks)
        seq = _padded(toks)
        n_tokens += len(seq) - 2
        for u, v, w in zip(seq, seq[1:], seq[2:]):
            counts[(u, v)][w] += 1
    vocab = tuple(sorted(words | {EOS, UNK}))
    return TrigramModel(dict(counts), vocab, len(sentences), n_tokens)


def next_token_probs(model, context, k=0.0):
    """p(w | u, v) for the context (u, v): a dict {w: probability} that sums to 1.

    k = 0: the MLE, listing only the words seen after this context (an unseen context has no
    MLE and raises KeyError).  k > 0: add-k smoothing over the whole vocabulary.
    """
    k = check_positive_float(k, "k", allow_zero=True)
    context = tuple(context)
    if len(context) != 2:
        raise ValueError(f"context must be two tokens (u, v), got {context!r}")
    c = model.counts.get(context, Counter())
    total = sum(c.values())
    if k == 0.0:
        if total == 0:
            raise KeyError(f"context {context!r} never occurs in training; use k > 0")
        return {w: n / total for w, n in c.items()}
    denom = total + k * len(model.vocab)
    return {w: (c.get(w, 0) + k) / denom for w in model.vocab}


def _map_unknown(model, tokens):
    known = set(model.vocab)
    return [t if t in known else UNK for t in tokens]


def sentence_log_prob(model, sentence, k=0.0):
    """log p(sentence) = Σ_t log p(w_t | w_{t-2}, w_{t-1}) including the final ``</s>``, in nats.

    Returns -inf when k = 0 and some trigram was never seen.  Words outside the vocabulary are
    replaced by ``<unk>`` first.
    """
    k = check_positive_float(k, "k", allow_zero=True)
    seq = _padded(_map_unknown(model, tokenize(sentence)))
    V = len(model.vocab)
    total = 0.0
    for u, v, w in zip(seq, seq[1:], seq[2:]):
        c = model.counts.get((u, v), Counter())
        num, den = c.get(w, 0) + k, sum(c.values()) + k * V
        if num == 0:
            return -math.inf
        total += math.log(num / den)
    return total


def perplexity(model, sentences, k=0.0):
    """exp(−(1/T) Σ log p), T = number of predicted tokens (words and one ``</s>`` per sentence).

    The model is "as uncertain as a fair die with this many faces" on average.  Infinite if any
    trigram has probability zero (k = 0 on unseen text).
    """
    sentences = _check_sentences(sentences)
    log_p, n = 0.0, 0
    for s in sentences:
        log_p += sentence_log_prob(model, s, k=k)
        n += len(tokenize(s)) + 1
    return math.exp(-log_p / n) if log_p > -math.inf else math.inf


def generate(model, rng, method="sample", max_len=30):
    """Generate one review, as a str.

    method="argmax" picks the most frequent next word every time (ties broken alphabetically),
    so it is deterministic: every call returns the same review.  method="sample" draws the next
    word from p(w | u, v) with ``rng``.  Stops at ``</s>`` or after ``max_len`` words.
    ``rng`` is required for both methods, so that calls look the same; argmax never uses it.
    """
    rng = check_rng(rng)
    if method not in ("argmax", "sample"):
        raise ValueError(f"method must be 'argmax' or 'sample', got {method!r}")
    max_len = check_positive_int(max_len, "max_len")
    u, v = BOS, BOS
    out = []
    for _ in range(max_len):
        c = model.counts[(u, v)]          # generation only reaches contexts seen in training
        words = sorted(c)
        freq = np.array([c[w] for w in words], dtype=np.float64)
        if method == "argmax":
            w = words[int(np.argmax(freq))]   # argmax returns the first maximum: alphabetical
        else:
            w = words[int(rng.choice(len(words), p=freq / freq.sum()))]
        if w == EOS:
            break
        out.append(w)
        u, v = v, w
    return detokenize(out)
