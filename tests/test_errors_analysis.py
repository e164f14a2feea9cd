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


def test_finished_runs_and_pick_run(tmp_path):
    from rnnviz_lib.store import Store, atomic_save_npy, atomic_write_json

    store = Store(tmp_path)
    specs = [("lstm", 3, 64, 1.5, True), ("lstm", 1, 64, 1.7, True), ("gru", 2, 128, 1.4, True),
             ("lstm", 2, 128, 1.2, False), ("rnn", 1, 64, 1.3, True)]
    for i, (cell, L, size, loss, done) in enumerate(specs):
        d = store.artifact_dir("runs", f"wp-{cell}{L}-{size}", {"i": i})
        atomic_write_json(d / "config.json", {"dataset": "wp" if i < 4 else "lk", "cell": cell, "layers": L, "size": size})
        atomic_save_npy(d / "test_probs.npy", np.full((2, 3 + i), 0.5, np.float32))
        if done:  # metrics.json marks a finished run
            atomic_write_json(d / "metrics.json", {"test_loss": loss, "slug": f"wp-{cell}{L}-{size}", "params": 100 + i,
                                                   "hidden": 7})
    with pytest.raises(RnnvizError, match="whose runs"):  # no silent "every run in the store"
        errors.finished_runs("wp", store)
    runs = errors.finished_runs("wp", store, run_dirs=store.run_dirs())
    assert list(runs.index) == ["wp-gru2-128", "wp-lstm3-64", "wp-lstm1-64"]  # finished wp runs, best first
    assert runs.loc["wp-lstm1-64", "test_columns"] == 4 and runs.loc["wp-gru2-128", "size"] == 128
    assert errors.pick_run(runs, "lstm").name == "wp-lstm3-64"
    assert errors.pick_run(runs, "lstm", layers=1, size=64).name == "wp-lstm1-64"
    assert errors.pick_run(runs, "lstm", layers=2) is None
    only = errors.finished_runs("wp", store, run_dirs=[runs.loc["wp-lstm1-64", "path"]])
    assert list(only.index) == ["wp-lstm1-64"]
    assert errors.finished_runs("lk", store, run_dirs=store.run_dirs()).index.tolist() == ["wp-rnn1-64"]
    assert errors.finished_runs("wp", Store(tmp_path / "empty"), run_dirs=Store(tmp_path / "empty").run_dirs()).empty
    cut = errors.align({"a": np.zeros((2, 9))}, 4)
    assert cut["a"].shape == (2, 4)
    with pytest.raises(RnnvizError, match="fewer"):
        errors.align({"a": np.zeros((2, 3))}, 4)


def test_baseline_probs_report_what_is_missing(tmp_path):
    from rnnviz_lib.store import Store

    found, missing = errors.baseline_probs("wp", "ngram", [1, 20], Store(tmp_path))
    assert found == {} and set(missing) == {"1-gram", "20-gram"}
    assert "rnnviz ngram" in missing["20-gram"] and "--orders 21" in missing["20-gram"]
