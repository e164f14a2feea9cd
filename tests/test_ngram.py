"""The modified Kneser-Ney n-gram model against hand-worked numbers, Chen & Goodman's discount
formulas, normalisation, and a naive dict-based reference implementation."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from rnnviz_lib import baselines, cli, data, ngram, paper
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.evaluate import cross_entropy
from rnnviz_lib.ngram import KneserNeyLM

FALLBACK = (0.5, 1.0, 1.5)


@pytest.fixture(scope="module")
def wp_ids(wp_path) -> np.ndarray:
    return data.load_corpus(str(wp_path)).ids


# ------------------------------------------------------------------------------------------
# A naive reference: dicts of tuples, one probability at a time
# ------------------------------------------------------------------------------------------
def _cg(coc):
    n1, n2, n3, n4 = coc
    if min(n1, n2, n3) == 0:
        return FALLBACK
    Y = n1 / (n1 + 2 * n2)
    D = (1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3)
    return D if all(0 < d <= r for r, d in zip((1, 2, 3), D)) else FALLBACK


class NaiveKN:
    def __init__(self, seqs, order, K):
        self.order, self.K = order, K
        self.raw = defaultdict(Counter)  # level -> {gram: count}
        for seq in seqs:
            seq = [int(v) for v in seq]
            for k in range(1, order + 1):
                for i in range(len(seq) - k + 1):
                    self.raw[k][tuple(seq[i : i + k])] += 1
        self.cont = defaultdict(Counter)
        for k in range(2, order + 1):
            for g in self.raw[k]:
                self.cont[k - 1][g[1:]] += 1  # one distinct left extension
        self.D = {}
        for kind, table in (("raw", self.raw), ("cont", self.cont)):
            for k, counts in table.items():
                coc = Counter(c for c in counts.values() if c > 0)
                self.D[kind, k] = _cg([coc[1], coc[2], coc[3], coc[4]])

    def coc(self, kind, k):
        table = self.raw if kind == "raw" else self.cont
        c = Counter(v for v in table[k].values() if v > 0)
        return [c[1], c[2], c[3], c[4]]

    def prob(self, hist, w):
        hist = tuple(hist[max(0, len(hist) - self.order + 1) :])
        top = len(hist) + 1
        p = 1.0 / self.K
        for k in range(1, top + 1):
            ctx = hist[len(hist) - (k - 1) :] if k > 1 else ()
            kind = "raw" if k == top else "cont"
            table = (self.raw if kind == "raw" else self.cont)[k]
            D = self.D[kind, k]
            cs = [table.get(ctx + (v,), 0) for v in range(self.K)]
            tot = sum(cs)
            if tot == 0:
                continue
            disc = lambda c: 0.0 if c == 0 else D[min(c, 3) - 1]  # noqa: E731
            gamma = sum(disc(c) for c in cs)
            c = cs[w]
            p = (c - disc(c) + gamma * p) / tot
        return p


# ------------------------------------------------------------------------------------------
def test_hand_worked_bigram():
    # corpus "abacab" over K=4 (d never occurs), fixed discounts D1=.5, D2=1, D3+=1.5
    a, b, c, d = range(4)
    m = KneserNeyLM(order=2, vocab_size=4, discounts=(0.5, 1.0, 1.5)).fit(np.array([a, b, a, c, a, b]))
    # continuation unigrams: a <- {b, c} = 2, b <- {a} = 1, c <- {a} = 1; total 4, gamma 1.0 + 2*0.5
    p1 = {a: (2 - 1.0 + 2.0 / 4) / 4, b: (1 - 0.5 + 0.5) / 4, c: (1 - 0.5 + 0.5) / 4, d: 0.5 / 4}
    assert p1 == {a: 0.375, b: 0.25, c: 0.25, d: 0.125}
    proba = m.predict_proba([[a], [b], [d], []])
    # after a: ab 2, ac 1 -> total 3, gamma = D2 + D1 = 1.5
    np.testing.assert_allclose(proba[0], [1.5 * 0.375 / 3, (2 - 1 + 1.5 * 0.25) / 3, (1 - 0.5 + 1.5 * 0.25) / 3, 1.5 * 0.125 / 3])
    np.testing.assert_allclose(proba[0], [0.1875, 0.458333333333, 0.291666666667, 0.0625])
    # after b: ba 1 -> total 1, gamma 0.5
    np.testing.assert_allclose(proba[1], [0.5 + 0.5 * 0.375, 0.5 * 0.25, 0.5 * 0.25, 0.5 * 0.125])
    # unseen context d: the continuation unigram distribution
    np.testing.assert_allclose(proba[2], [0.375, 0.25, 0.25, 0.125])
    # empty context: the raw unigram a3 b2 c1, total 6, gamma 1.5 + 1 + .5 = 3
    np.testing.assert_allclose(proba[3], [(3 - 1.5 + 0.75) / 6, (2 - 1 + 0.75) / 6, (1 - 0.5 + 0.75) / 6, 0.75 / 6])
    # a scored sequence: first symbol gets the raw unigram, then bigrams
    np.testing.assert_allclose(np.exp(m.log_prob(np.array([a, b, d]))), [0.375, 0.458333333333, 0.0625])


def test_discounts_follow_chen_goodman(wp_ids):
    seqs = [wp_ids[:4000], wp_ids[10_000:13_000]]
    m = KneserNeyLM(order=4, vocab_size=int(wp_ids.max()) + 1).fit(seqs)
    ref = NaiveKN(seqs, 4, m.K_)
    for k in range(1, 5):
        coc = ref.coc("raw", k)
        assert m.count_of_counts_raw_[k - 1].tolist() == coc
        n1, n2, n3, n4 = coc
        Y = n1 / (n1 + 2 * n2)
        want = [1 - 2 * Y * n2 / n1, 2 - 3 * Y * n3 / n2, 3 - 4 * Y * n4 / n3]
        if k >= 2:  # unigram level of so small a text may fall back; orders 2..4 are regular
            assert m.discounts_raw_[k - 1] == pytest.approx(want, rel=1e-12)
        if k < 4:
            assert m.count_of_counts_cont_[k - 1].tolist() == ref.coc("cont", k)
            assert m.discounts_cont_[k - 1] == pytest.approx(ref.D["cont", k], rel=1e-12)
    assert 0 < m.discounts_raw_[1, 0] < 1 < m.discounts_raw_[1, 2] < 3


def test_fallback_discounts_when_counts_degenerate():
    m = KneserNeyLM(order=2, vocab_size=3).fit(np.array([0, 1, 0, 1, 0, 1]))  # every count >= 2
    np.testing.assert_array_equal(m.discounts_raw_[1], ngram.FALLBACK_DISCOUNTS)
    assert ngram.chen_goodman_discounts((10, 4, 2, 1)) == pytest.approx(
        (1 - 2 * (10 / 18) * 4 / 10, 2 - 3 * (10 / 18) * 2 / 4, 3 - 4 * (10 / 18) * 1 / 2)
    )


def test_agrees_with_naive_reference(wp_ids):
    train = [wp_ids[:2500], wp_ids[50_000:52_000], wp_ids[90_000:91_500]]
    test = [wp_ids[200_000:200_300], np.array([5, 5, 5, 5, 5, 5, 5]), wp_ids[300_000:300_002]]
    K = int(wp_ids.max()) + 1
    m = KneserNeyLM(order=5, vocab_size=K).fit(train)
    ref = NaiveKN(train, 5, K)
    got = m.prob_orders(test, [1, 3, 5])
    for o in (1, 3, 5):
        ref.order = o
        want = [np.array([ref.prob(list(q[:t]), int(q[t])) for t in range(q.size)]) for q in test]
        for g, w in zip(got[o], want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=0)


def test_rows_sum_to_one_for_random_and_unseen_contexts(wp_ids):
    K = int(wp_ids.max()) + 3  # two symbols the text never uses
    m = KneserNeyLM(order=6, vocab_size=K).fit(wp_ids[:20_000].reshape(4, 5000))
    rng = np.random.default_rng(0)
    seen = [wp_ids[i - L : i] for i, L in zip(rng.integers(10, 20_000, 60), rng.integers(0, 9, 60))]
    unseen = [rng.integers(0, K, L) for L in rng.integers(0, 9, 60)]
    for order in (1, 2, 4, 6):
        P = m.predict_proba(seen + unseen, order=order)
        assert P.shape == (120, K)
        np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-9, rtol=0)
        assert (P > 0).all()
    P2 = m.predict_proba(np.stack([wp_ids[100:105], wp_ids[7000:7005]]))
    np.testing.assert_allclose(P2.sum(axis=1), 1.0, atol=1e-9, rtol=0)


def test_lower_orders_of_a_model_equal_models_fitted_to_them(wp_ids):
    train = wp_ids[:30_000].reshape(3, 10_000)
    test = wp_ids[40_000:43_000].reshape(2, 1500)
    big = KneserNeyLM(order=7, vocab_size=90).fit(train)
    small = KneserNeyLM(order=4, vocab_size=90).fit(train)
    np.testing.assert_array_equal(big.log_prob(test, order=4), small.log_prob(test))
    assert big.log_prob(test).shape == (2, 1500)
    assert big.nbytes(4) < big.nbytes() and big.n_ngrams(4) == small.n_ngrams()


def test_sequences_are_independent(wp_ids):
    # scoring two sequences together equals scoring each alone: no context crosses a boundary
    m = KneserNeyLM(order=4, vocab_size=90).fit(wp_ids[:20_000])
    a, b = wp_ids[30_000:30_050], wp_ids[31_000:31_080]
    both = m.log_prob([a, b])
    np.testing.assert_array_equal(both[0], m.log_prob(a))
    np.testing.assert_array_equal(both[1], m.log_prob(b))


def test_bad_input_raises():
    m = KneserNeyLM(order=3, vocab_size=5)
    with pytest.raises(RnnvizError, match="not fitted"):
        m.log_prob(np.array([1, 2]))
    m.fit(np.array([0, 1, 2, 3, 4, 0, 1]))
    with pytest.raises(RnnvizError, match="outside 1..3"):
        m.log_prob(np.array([1, 2]), order=4)
    with pytest.raises(RnnvizError, match="0..4"):
        m.log_prob(np.array([1, 7]))
    with pytest.raises(RnnvizError, match="vocab_size"):
        KneserNeyLM(order=2, vocab_size=3).fit(np.array([0, 5]))
    with pytest.raises(RnnvizError, match="at least 1"):
        KneserNeyLM(order=0).fit(np.array([0, 1]))


def test_wp_low_orders_match_the_paper(wp_path):
    # the real split: each stream's train part is one sequence; test streams scored alone
    corpus = data.load_corpus(str(wp_path))
    sp = data.corpus_splits(corpus)
    seq = lambda part: np.concatenate([part.x[:, :1], part.y], axis=1)  # noqa: E731
    m = KneserNeyLM(order=3, vocab_size=corpus.K).fit(seq(sp.train))
    P = m.prob_orders(seq(sp.test), [2, 3])
    for order in (2, 3):
        assert P[order][:, 1:].shape == sp.test.y.shape == (100, 3300)
        assert cross_entropy(P[order][:, 1:]) == pytest.approx(paper.TABLE2["wp"]["n-gram"][order - 1], abs=0.01)


def test_cli_prints_one_json_object(home, capsys, wp_path):
    small = home / "small.txt"
    small.write_bytes(wp_path.read_bytes()[:120_000])
    assert cli.main(["ngram", "--dataset", str(small), "--orders", "2,4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["orders"]) == {"2", "4"}
    assert out["orders"]["4"] < out["orders"]["2"] < 4.5
    test_y = data.corpus_splits(data.load_corpus(str(small))).test.y
    assert out["test_symbols"] == test_y.size and out["cached"] == []
    assert set(out["seconds"]) >= {"fit", "score", "total"}
    # saved per-symbol probabilities: float32, aligned with splits.test.y, and reread on a second call
    probs = baselines.load_test_probs(str(small), "ngram", 3)
    assert probs.dtype == np.float32 and probs.shape == test_y.shape
    assert cross_entropy(probs) == pytest.approx(out["orders"]["4"], abs=1e-5)
    assert cli.main(["ngram", "--dataset", str(small), "--orders", "4,2", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["cached"] == [2, 4] and again["orders"] == out["orders"]
    assert cli.main(["ngram", "--dataset", str(small), "--orders", "1,x"]) == 2
    assert "comma-separated" in capsys.readouterr().err


def test_plain_kneser_ney_agrees_with_nltk(wp_path):
    """An independent implementation: nltk.lm's interpolated Kneser-Ney (one absolute discount,
    continuation counts below the top order, an unsmoothed continuation unigram) on a slice of
    War and Peace. Our model in that form (``discounts=(d, d, d)``, ``unigram_discount=0``) gives
    the same next-symbol probabilities for every symbol after every context, to 1e-9."""
    from nltk.lm import KneserNeyInterpolated
    from nltk.util import everygrams

    raw = wp_path.read_bytes()[20_000:21_500].decode("utf-8", errors="ignore")
    text = list(raw + raw)  # doubled: every n-gram also occurs after some symbol, as nltk's counting assumes
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    rng = np.random.default_rng(0)
    d = 0.75
    for order in (3, 4):
        nl = KneserNeyInterpolated(order, discount=d)
        nl.fit([list(everygrams(text, max_len=order))], vocabulary_text=text)
        assert len(nl.vocab) == len(chars) + 1  # nltk adds <UNK>
        ours = KneserNeyLM(order, vocab_size=len(chars) + 1, discounts=(d, d, d), unigram_discount=0.0).fit(ids)
        starts = rng.choice(len(text) - order, 12, replace=False)
        ctx = np.stack([ids[s:s + order - 1] for s in starts])
        ctx = np.concatenate([ctx, rng.integers(0, len(chars), (3, order - 1))])  # unseen contexts back off
        p = ours.predict_proba(ctx, order)
        theirs = np.array([[nl.score(w, [chars[i] for i in c]) for w in chars] for c in ctx])
        np.testing.assert_allclose(p[:, : len(chars)], theirs, atol=1e-9, rtol=0)
        # the comparison has teeth: another discount, or our default modified KN, disagrees
        other = KneserNeyLM(order, vocab_size=len(chars) + 1, discounts=(0.7, 0.7, 0.7), unigram_discount=0.0).fit(ids)
        assert np.abs(other.predict_proba(ctx, order)[:, : len(chars)] - theirs).max() > 1e-3
        modified = KneserNeyLM(order, vocab_size=len(chars) + 1).fit(ids)
        assert np.abs(modified.predict_proba(ctx, order)[:, : len(chars)] - theirs).max() > 1e-3
        smoothed_unigram = KneserNeyLM(order, vocab_size=len(chars) + 1, discounts=(d, d, d)).fit(ids)
        assert np.abs(smoothed_unigram.predict_proba(ctx, order)[:, : len(chars)] - theirs).max() > 1e-6
