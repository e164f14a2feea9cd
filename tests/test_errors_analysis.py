"""Figure 4 analyses: error overlap between models and mean probability per symbol type."""

from __future__ import annotations

import numpy as np
import pytest

from rnnviz_lib import data
from rnnviz_lib.analysis import errors
from rnnviz_lib.errors import RnnvizError


@pytest.fixture(scope="module")
def wp():
    corpus = data.load_corpus("wp")
    return corpus, data.corpus_splits(corpus)


def test_error_overlap_counts_by_hand():
    ref = np.array([[0.1, 0.6, 0.4], [0.9, 0.2, 0.5]], dtype=np.float32)  # errors at (0,0) (0,2) (1,1)
    oth = np.array([[0.3, 0.1, 0.7], [0.9, 0.45, 0.8]], dtype=np.float32)  # errors at (0,0) (0,1) (1,1)
    t = errors.error_overlap(ref, {"3-gram": oth})
    row = t.loc["3-gram"]
    assert (row["both"], row["LSTM only"], row["other only"], row["neither"]) == (2, 1, 1, 2)
    assert row["both"] + row["LSTM only"] + row["other only"] + row["neither"] == ref.size
    assert row["frac_ref_errors_shared"] == pytest.approx(2 / 3)
    assert row["frac_other_errors_shared"] == pytest.approx(2 / 3)
    assert row["jaccard"] == pytest.approx(2 / 4)
    # p == 0.5 is not an error (errors are p < 0.5)
    assert not errors.error_mask(np.array([0.5]))[0]


def test_error_overlap_rejects_misaligned_or_bad_arrays():
    ref = np.full((3, 4), 0.3, dtype=np.float32)
    with pytest.raises(RnnvizError, match="shape"):
        errors.error_overlap(ref, {"x": np.full((4, 3), 0.3)})
    with pytest.raises(RnnvizError, match="probabilities in"):
        errors.error_overlap(ref, {"x": np.full((3, 4), 1.5)})


def test_per_symbol_mean_matches_a_loop_on_war_and_peace(wp):
    corpus, sp = wp
    y = sp.test.y[:7, :450]  # small, non-square slice
    p = np.random.default_rng(3).random(y.shape).astype(np.float32)
    mean, count = errors.per_symbol_mean(p, y, corpus.K)
    for k in np.unique(y)[:20]:
        assert count[k] == (y == k).sum()
        assert mean[k] == pytest.approx(p[y == k].mean(), rel=1e-6)
    absent = np.setdiff1d(np.arange(corpus.K), np.unique(y))
    assert absent.size and np.isnan(mean[absent]).all() and (count[absent] == 0).all()


def test_per_symbol_comparison_is_sorted_by_difference_with_readable_labels(wp):
    corpus, sp = wp
    y = sp.test.y[:5, :600]
    rng = np.random.default_rng(4)
    pa = rng.random(y.shape).astype(np.float32)
    pb = rng.random(y.shape).astype(np.float32)
    space = int(np.flatnonzero(corpus.vocab == ord(" "))[0])
    pa[y == space], pb[y == space] = 0.9, 0.1  # model a wins clearly on spaces
    labels = [corpus.symbol_label(k) for k in range(corpus.K)]
    t = errors.per_symbol_comparison(pa, pb, y, labels, names=("LSTM", "20-gram"), min_count=3)
    assert list(t.columns) == ["count", "LSTM", "20-gram", "diff"]
    assert (np.diff(t["diff"].to_numpy()) <= 0).all()
    assert t.index[0] == "␣" and t.loc["␣", "diff"] == pytest.approx(0.8, abs=1e-6)
    assert (t["count"] >= 3).all()
    assert "\\n" in labels and "\\r" in labels  # WP has CRLF line ends, spelled out
