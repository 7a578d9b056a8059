"""Tests for numpyvae.trigram: a generative model by counting."""
import math
from collections import Counter

import numpy as np
import pytest

from numpyvae import trigram as tg


@pytest.fixture(scope="module")
def model():
    return tg.fit_trigram(tg.REVIEWS)


def test_corpus_size_and_held_out_is_separate():
    assert 40 <= len(tg.REVIEWS) <= 80
    assert len(set(tg.REVIEWS)) == len(tg.REVIEWS)
    assert not set(tg.HELD_OUT) & set(tg.REVIEWS)


def test_tokenize_and_detokenize_round_trip():
    assert tg.tokenize("Great phone, five stars!") == ["great", "phone", ",", "five", "stars", "!"]
    for s in tg.REVIEWS:
        assert tg.detokenize(tg.tokenize(s)) == s


def test_counts_match_a_brute_force_count(model):
    windows = Counter()
    for s in tg.REVIEWS:
        seq = [tg.BOS, tg.BOS] + tg.tokenize(s) + [tg.EOS]
        for i in range(len(seq) - 2):
            windows[tuple(seq[i:i + 3])] += 1
    flat = {(u, v, w): n for (u, v), c in model.counts.items() for w, n in c.items()}
    assert flat == dict(windows)
    assert model.n_tokens == sum(windows.values())


def test_mle_probabilities_normalised(model):
    for ctx in model.counts:
        p = tg.next_token_probs(model, ctx)
        assert math.isclose(sum(p.values()), 1.0, rel_tol=0, abs_tol=1e-12)
        assert all(v > 0 for v in p.values())


@pytest.mark.parametrize("k", [1e-3, 0.1, 1.0])
def test_smoothed_probabilities_normalised_over_vocab(model, k):
    for ctx in [(tg.BOS, tg.BOS), ("the", "movie"), ("purple", "giraffe")]:
        p = tg.next_token_probs(model, ctx, k=k)
        assert set(p) == set(model.vocab)
        assert math.isclose(sum(p.values()), 1.0, rel_tol=1e-12)
    assert tg.BOS not in model.vocab and tg.EOS in model.vocab and tg.UNK in model.vocab


def test_sentence_log_prob_is_the_sum_of_conditionals(model):
    s = tg.REVIEWS[0]
    seq = [tg.BOS, tg.BOS] + tg.tokenize(s) + [tg.EOS]
    expected = sum(math.log(tg.next_token_probs(model, (u, v))[w])
                   for u, v, w in zip(seq, seq[1:], seq[2:]))
    assert math.isclose(tg.sentence_log_prob(model, s), expected, rel_tol=1e-12)


def test_argmax_is_deterministic(model):
    outs = {tg.generate(model, np.random.default_rng(seed), method="argmax") for seed in range(20)}
    assert len(outs) == 1
    (review,) = outs
    assert review and tg.sentence_log_prob(model, review) > -math.inf


def test_sampling_is_varied_and_in_support(model):
    rng = np.random.default_rng(0)
    samples = [tg.generate(model, rng, method="sample") for _ in range(300)]
    assert len(set(samples)) >= 50
    assert all(tg.sentence_log_prob(model, s) > -math.inf for s in samples)   # MLE support


def test_sampling_frequency_matches_probability(model):
    rng = np.random.default_rng(1)
    n = 4000
    counts = Counter(tg.generate(model, rng) for _ in range(n))
    s = "i would not buy it again."
    p = math.exp(tg.sentence_log_prob(model, s))
    assert abs(counts[s] / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_seeded_determinism(model):
    r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
    assert [tg.generate(model, r1) for _ in range(30)] == [tg.generate(model, r2) for _ in range(30)]
    other = [tg.generate(model, np.random.default_rng(8)) for _ in range(30)]
    assert other != [tg.generate(model, np.random.default_rng(7)) for _ in range(30)]


def test_max_len_truncates(model):
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert len(tg.tokenize(tg.generate(model, rng, max_len=3))) <= 3


def test_perplexity(model):
    assert math.isinf(tg.perplexity(model, tg.HELD_OUT, k=0.0))
    train = tg.perplexity(model, tg.REVIEWS, k=0.0)
    assert 1.0 < train < 5.0
    held = [tg.perplexity(model, tg.HELD_OUT, k=k) for k in (1e-5, 3e-3, 1.0)]
    assert all(math.isfinite(h) for h in held)
    assert held[1] < held[0] and held[1] < held[2]          # smoothing has a sweet spot
    assert held[1] < len(model.vocab)                        # better than uniform
    # one unknown word: p(<unk> | <s> <s>) = k / (c(<s> <s>) + k|V|), then an unseen context
    # (<s>, <unk>) gives p(</s> | <s> <unk>) = k / (k|V|) = 1/|V|
    V, k = len(model.vocab), 0.5
    p1 = k / (len(tg.REVIEWS) + k * V)
    assert math.isclose(tg.perplexity(model, ["zzz"], k=k),
                        math.exp(-(math.log(p1) + math.log(1 / V)) / 2), rel_tol=1e-12)


def test_unknown_word_maps_to_unk(model):
    lp_unk = tg.sentence_log_prob(model, "zzzz", k=0.5)
    lp_unk2 = tg.sentence_log_prob(model, "qqqq", k=0.5)
    assert lp_unk == lp_unk2 and math.isfinite(lp_unk)


@pytest.mark.parametrize("call, exc, word", [
    (lambda m: tg.generate(m, np.random.default_rng(0), method="beam"), ValueError, "method"),
    (lambda m: tg.generate(m, None), TypeError, "rng"),
    (lambda m: tg.generate(m, np.random.default_rng(0), max_len=0), ValueError, "max_len"),
    (lambda m: tg.fit_trigram("just one string"), TypeError, "sentences"),
    (lambda m: tg.fit_trigram([]), ValueError, "sentences"),
    (lambda m: tg.fit_trigram([1, 2]), TypeError, "sentences"),
    (lambda m: tg.next_token_probs(m, ("the", "movie"), k=-1.0), ValueError, "k"),
    (lambda m: tg.next_token_probs(m, ("the",)), ValueError, "context"),
    (lambda m: tg.next_token_probs(m, ("purple", "giraffe")), KeyError, "k > 0"),
    (lambda m: tg.tokenize(3), TypeError, "text"),
])
def test_bad_input_names_the_argument(model, call, exc, word):
    with pytest.raises(exc, match=word):
        call(model)
