"""The error onion (paper §4.4): oracle features on the real War and Peace test split, and the
peeling invariants (each oracle takes a subset of what is left; the layers add up)."""

from __future__ import annotations

import collections
import itertools
import re

import numpy as np
import pytest

from rnnviz_lib import data
from rnnviz_lib.analysis import onion
from rnnviz_lib.errors import RnnvizError

WORD = re.compile(rb"[A-Za-z0-9\x80-\xff]+")


@pytest.fixture(scope="module")
def wp():
    corpus = data.load_corpus("wp")
    splits = data.corpus_splits(corpus)
    B, T = splits.test.y.shape
    rng = np.random.default_rng(0)
    # fake n-gram probabilities of orders 2..4 (the real ones come from ngram.py)
    ngram = {n: (rng.random((B, T)) ** (n / 2)).astype(np.float32) for n in (2, 3, 4)}
    return corpus, splits, ngram, onion.onion_features(corpus, splits, ngram)


def test_word_features_by_hand():
    text = np.frombuffer(b"cat dog cat", dtype=np.uint8)
    counts = collections.Counter({b"cat": 2})
    memory, tcount = onion.word_features(text, 1, counts)  # targets are text[1:]
    #                     a   t   _   d   o   g   _   c   a  t
    assert memory.tolist() == [-1, -1, -1, -1, -1, -1, -1, -1, 8, 8]
    assert tcount.tolist() == [2, 2, -1, 0, 0, 0, -1, 2, 2, 2]
    # the same stream with "cat dog " as context: only the targets after it are returned
    memory, tcount = onion.word_features(text, 8, counts)
    assert memory.tolist() == [-1, 8, 8] and tcount.tolist() == [2, 2, 2]


def test_word_counts_of_training_text():
    streams = np.frombuffer(b"the cat, the hat\r\nThe cat.", dtype=np.uint8)[None, :]
    c = onion.word_counts(streams)
    assert c == collections.Counter({b"the": 2, b"cat": 2, b"hat": 1, b"The": 1})


def test_features_on_war_and_peace(wp):
    corpus, splits, ngram, f = wp
    test = splits.test
    word = np.zeros(256, dtype=bool)
    for m in WORD.finditer(bytes(range(256))):
        word[m.start():m.end()] = True
    y_bytes, x_bytes = corpus.vocab[test.y], corpus.vocab[test.x]
    assert f.shape == test.y.shape
    assert np.array_equal(f.train_count >= 0, word[y_bytes])
    assert not (f.memory_distance > 0)[~(word[y_bytes] & word[x_bytes])].any()  # 2nd symbol on only
    assert np.array_equal(f.is_punct, np.isin(y_bytes, np.frombuffer(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", np.uint8)))
    assert np.array_equal(f.after_break, np.isin(x_bytes, np.frombuffer(b" \"'\n", np.uint8)))
    assert np.array_equal(f.ngram_ok, np.max(np.stack(list(ngram.values())), axis=0) > 0.5)
    assert f.ngram_orders == (2, 3, 4)

    # distances checked against a regex over the raw corpus bytes, for a sample of targets
    raw = corpus.data.tobytes()
    b_idx, t_idx = np.nonzero(f.memory_distance > 0)
    pick = np.random.default_rng(1).choice(b_idx.size, size=40, replace=False)
    for b, t in zip(b_idx[pick], t_idx[pick]):
        pos = int(test.start[b]) + int(t) + 1  # corpus position of the target y[b, t]
        m = next(m for m in WORD.finditer(raw, max(pos - 60, 0)) if m.start() <= pos < m.end())
        d = int(f.memory_distance[b, t])
        prev = WORD.match(raw, m.start() - d)
        assert prev and prev.group() == m.group() and (m.start() - d == 0 or not word[raw[m.start() - d - 1]])
        between = [w.group() for w in WORD.finditer(raw, m.start() - d + 1, m.start()) if w.start() > m.start() - d]
        assert m.group() not in between, "not the most recent occurrence"

    # rare-word counts: a frequent name and a word the training text never has
    b, i = next((b, r.find(b"Pierre")) for b, r in enumerate(map(bytes, y_bytes)) if b"Pierre" in r)
    assert f.train_count[b, i] > 100 and f.train_count[b, i] == f.train_count[b, i + 5]
    assert (f.train_count == 0).any()


def test_preceding_context_feeds_the_memory_oracle(wp):
    corpus, splits, ngram, f = wp
    f0 = onion.onion_features(corpus, splits, ngram, context=0)
    assert ((f0.memory_distance > 0) <= (f.memory_distance > 0)).all()
    assert (f.memory_distance > 0).sum() > (f0.memory_distance > 0).sum()
    t = np.arange(f.shape[1])[None, :]
    assert (f.memory_distance > t + 1).any() and not (f0.memory_distance > t + 1).any()


def _conditions(f: onion.OnionFeatures, p: np.ndarray) -> list[np.ndarray]:
    """Each layer's oracle as a plain mask, independently of assign_layers."""
    m = [f.ngram_ok]
    m += [(f.memory_distance >= 1) & (f.memory_distance <= n) for n in onion.MEMORY_WINDOWS]
    m += [(f.train_count >= 0) & (f.train_count <= t) for t in onion.RARE_THRESHOLDS]
    m += [f.after_break, f.is_punct]
    need = 0.5 - p
    e = onion.BOOST_EDGES
    m += [(need > a if i else need > -1) & (need <= b) for i, (a, b) in enumerate(itertools.pairwise(e))]
    return m


def test_onion_peels_each_error_exactly_once_in_order(wp):
    f = wp[3]
    rng = np.random.default_rng(2)
    p = np.clip(rng.beta(2, 1.2, size=f.shape) - 0.3 * f.after_break, 0, 1).astype(np.float32)
    layer = onion.assign_layers(p, f)
    names = onion.layer_names()
    assert np.array_equal(layer == -1, p >= 0.5)
    conds = _conditions(f, p)
    assert len(conds) == len(names)
    left = p < 0.5
    for k, cond in enumerate(conds):
        taken = layer == k
        assert (taken <= left).all(), f"layer {names[k]} takes a symbol already peeled"
        assert np.array_equal(taken, left & cond), f"layer {names[k]} is not its oracle on what is left"
        left &= ~taken
    assert not left.any()

    table = onion.onion_table(layer)
    errors = int((p < 0.5).sum())
    assert table.loc[("total", "errors"), "removed"] == errors
    body = table.drop(index="total", level=0)
    assert body["removed"].sum() == errors and body["share"].sum() == pytest.approx(1.0)
    assert (np.diff(body["left"].to_numpy()) <= 0).all() and body["left"].iloc[-1] == 0
    assert (body["removed"] > 0).sum() >= 10  # most layers get something on real text
    counts = onion.oracle_counts(layer)
    assert list(counts.index) == list(onion.ORACLES) and counts.sum() == errors


def test_two_model_summary_and_difference(wp):
    f = wp[3]
    rng = np.random.default_rng(5)
    p_best = rng.beta(3, 1.5, size=f.shape).astype(np.float32)
    p_small = (p_best * 0.8).astype(np.float32)  # strictly worse everywhere
    lb, ls = onion.assign_layers(p_best, f), onion.assign_layers(p_small, f)
    s = onion.oracle_summary({"best LSTM": lb, "small LSTM": ls})
    assert s.loc["total", "best LSTM errors"] == (p_best < 0.5).sum()
    assert s.loc["total", "small LSTM errors"] == (p_small < 0.5).sum()
    assert (s["difference"] == s["small LSTM errors"] - s["best LSTM errors"]).all()
    assert s.loc["total", "difference"] == s["difference"].drop("total").sum() > 0
    assert s["best LSTM share"].drop("total").sum() == pytest.approx(1.0)


def test_bad_inputs_are_named(wp):
    f = wp[3]
    with pytest.raises(RnnvizError, match="shape"):
        onion.assign_layers(np.full((3, 3), 0.2), f)
    with pytest.raises(RnnvizError, match="boost edges"):
        onion.assign_layers(np.full(f.shape, 0.2), f, boost_edges=(0.0, 0.3))


def test_head_and_paper_comparison(wp):
    f = wp[3]
    h = f.head(700)
    assert h.shape == (f.shape[0], 700) and np.array_equal(h.memory_distance, f.memory_distance[:, :700])
    assert h.ngram_orders == f.ngram_orders
    rng = np.random.default_rng(6)
    p_best = rng.beta(3, 2, size=h.shape).astype(np.float32)
    p_small = (p_best * 0.7).astype(np.float32)
    s = onion.oracle_summary({"best LSTM": onion.assign_layers(p_best, h), "small LSTM": onion.assign_layers(p_small, h)})
    cmp = onion.paper_comparison(s, "best LSTM", "small LSTM", h.shape[0] * 700)
    assert list(cmp.columns) == ["ours", "paper", "diff"]
    assert cmp.at["best LSTM errors", "ours"] == (p_best < 0.5).sum() and cmp.at["best LSTM errors", "paper"] == 140_000
    assert cmp.at["best LSTM share: n-gram", "paper"] == 0.18 and np.isnan(cmp.at["best LSTM share: boost", "paper"])
    assert cmp.at["difference: n-gram share", "paper"] == pytest.approx(36 / 44)
    assert cmp.at["best LSTM error rate", "diff"] == pytest.approx((p_best < 0.5).mean() - 140 / 330)


def _layers(counts: dict[int, int], n_symbols: int) -> np.ndarray:
    """(2, n_symbols / 2) layer array with ``counts[layer index]`` errors in each layer, the rest right (-1)."""
    flat = np.concatenate([np.full(k, i, dtype=np.int16) for i, k in counts.items()] or [np.zeros(0, np.int16)])
    return np.concatenate([flat, np.full(n_symbols - flat.size, -1, np.int16)]).reshape(2, -1)


def test_onion_summary_sentence_from_hand_made_layers():
    # 20 symbols; layer indices: 0 n-gram, 1 memory n=100, 5 rare t=0, 11 words, 12 punctuation, 13 boost
    best = _layers({0: 2, 1: 1, 5: 1, 11: 4, 12: 1, 13: 1}, 20)  # 10 errors
    small = _layers({0: 7, 1: 1, 5: 1, 11: 5, 12: 1, 13: 1}, 20)  # 16 errors: 6 more, 5 of them n-gram
    summary, comparison, sentence = onion.onion_summary({"best LSTM": best, "small LSTM": small}, 20)
    assert summary.at["total", "difference"] == 6 and summary.at["n-gram", "difference"] == 5
    assert comparison.at["best LSTM error rate", "ours"] == pytest.approx(0.5)
    assert sentence == ("Best LSTM: 10 errors (50% of symbols; paper 140K of 330K, 42%); n-gram 20% (paper 18%), "
                        "dynamic memory 10% (paper 6%), rare words 10% (paper 9%), words 40% (paper 37%). "
                        "The small LSTM makes 6 more errors, 83% of them n-gram errors (paper: 36K of 44K, 82%).")
    # flipped: the "small" model is the better one, so there is no excess of errors to break down
    _, _, flipped = onion.onion_summary({"best LSTM": small, "small LSTM": best}, 20)
    assert flipped.startswith("Best LSTM: 16 errors (80% of symbols;")
    assert "The small LSTM makes 6 fewer errors than the best LSTM, so there are no extra errors" in flipped
    _, _, alone = onion.onion_summary({"best LSTM": best}, 20)
    assert alone.endswith("words 40% (paper 37%).")
    with pytest.raises(RnnvizError, match="best LSTM and optionally"):
        onion.onion_summary({}, 20)
