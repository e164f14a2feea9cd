"""Figure 5 analyses: brace matching and distance buckets, full distributions and symmetric KL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnviz_lib import evaluate, models
from rnnviz_lib.analysis import longrange
from rnnviz_lib.data import SplitPart
from rnnviz_lib.errors import RnnvizError

OPEN, CLOSE, A = 0, 1, 2  # symbol ids of "{", "}" and a filler


def _part(streams: list[str], S: int) -> SplitPart:
    """A SplitPart whose stream b reads ``streams[b]`` ('{', '}', anything else = filler):
    x = text[:-1], y = text[1:], cut to a multiple of S."""
    ids = [np.array([{"{": OPEN, "}": CLOSE}.get(c, A) for c in s], dtype=np.uint8) for s in streams]
    T = (min(len(s) for s in ids) - 1) // S * S
    x = np.stack([s[:T] for s in ids])
    y = np.stack([s[1:T + 1] for s in ids])
    return SplitPart("test", x, y, np.arange(len(streams), dtype=np.int64) * 1000, S)


def test_brace_distances_by_hand():
    #            0123456789012345
    s0 = "{a{aa}a}a}aaaaaa"   # "}" at 5 -> "{" at 2 (3); at 7 -> 0 (7); at 9 unmatched
    s1 = "}aa{a}aaaaaaaaaa"   # "}" at 0 is x[0] (not a target); at 5 -> 3 (2)
    part = _part([s0, s1], S=5)
    d = longrange.brace_distances(part, OPEN, CLOSE)
    assert d.shape == part.y.shape == (2, 15)
    expect0 = {4: 3, 6: 7}  # target t is text position t + 1
    expect1 = {4: 2}
    for b, exp in ((0, expect0), (1, expect1)):
        got = {int(t): int(d[b, t]) for t in np.flatnonzero(d[b] > 0)}
        assert got == exp
    assert (d[(part.y != CLOSE)] == -1).all()
    assert longrange.unmatched_closing(part, OPEN, CLOSE) == 1  # the "}" at s0[9]


def test_brace_matching_never_crosses_streams():
    part = _part(["aaa{aaaaaa", "aa}aaaaaaa"], S=3)
    d = longrange.brace_distances(part, OPEN, CLOSE)
    assert (d < 0).all()
    with pytest.raises(RnnvizError, match="differ"):
        longrange.brace_distances(part, OPEN, OPEN)


def test_distance_buckets_count_and_average():
    dist = np.array([[-1, 3, 12, -1], [25, 9, -1, 400]])
    pa = np.array([[0.0, 0.2, 0.4, 0.0], [0.6, 0.8, 0.0, 1.0]], dtype=np.float32)
    pb = np.full_like(pa, 0.5)
    t = longrange.distance_buckets(dist, {"LSTM": pa, "20-gram": pb}, edges=(1, 10, 20, 100))
    assert list(t.index) == ["1-9", "10-19", "20-99", "100+"]
    assert t["count"].tolist() == [2, 1, 1, 1]
    assert t["LSTM"].tolist() == pytest.approx([0.5, 0.4, 0.6, 1.0])
    assert t["LSTM − 20-gram"].tolist() == pytest.approx([0.0, -0.1, 0.1, 0.5], abs=1e-6)
    empty = longrange.distance_buckets(dist, {"LSTM": pa}, edges=(1, 500, 1000))
    assert empty["count"].tolist() == [5, 0, 0] and np.isnan(empty.loc["1000+", "LSTM"])
    with pytest.raises(RnnvizError, match="increasing"):
        longrange.distance_buckets(dist, {"LSTM": pa}, edges=(10, 5))


def test_symmetric_kl_by_hand():
    P = np.array([[0.5, 0.5], [0.9, 0.1]])
    Q = np.array([[0.5, 0.5], [0.6, 0.4]])
    hand = ((0.9 - 0.6) * np.log(0.9 / 0.6) + (0.1 - 0.4) * np.log(0.1 / 0.4)) / 2
    assert longrange.symmetric_kl(P, Q) == pytest.approx(hand, rel=1e-6)
    assert longrange.symmetric_kl(Q, P) == pytest.approx(hand, rel=1e-6)
    assert longrange.symmetric_kl(P, P) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(RnnvizError, match="shapes"):
        longrange.symmetric_kl(P, Q[:1])


def test_model_distributions_agree_with_evaluate_stream_probs():
    """Full distributions of a real CharRNN, state carried over batches, give exactly the
    per-symbol probabilities evaluate.stream_probs computes."""
    torch.manual_seed(0)
    K, B, S = 7, 3, 5
    model = models.CharRNN("lstm", K, 6, 2)
    rng = np.random.default_rng(0)
    text = rng.integers(0, K, size=(B, 4 * S + 1)).astype(np.uint8)
    part = SplitPart("test", text[:, :-1].copy(), text[:, 1:].copy(), np.zeros(B, np.int64), S)
    P = longrange.model_distributions(model, part, max_batches=3)
    assert P.shape == (B, 3 * S, K)
    assert np.allclose(P.sum(-1), 1.0, atol=1e-5)
    ref = evaluate.stream_probs(model, part, max_batches=3)
    assert np.allclose(longrange.correct_probs(P, part.y), ref, atol=1e-6)


def test_kl_over_training_signs():
    rng = np.random.default_rng(1)
    B, T, K = 2, 6, 4
    y = rng.integers(0, K, size=(B, T))
    onehot = np.eye(K)[y] * 0.9 + 0.1 / K  # a good model: most mass on the correct symbol
    uniform = np.full((B, T, K), 1 / K)
    table = longrange.kl_over_training([{"epoch": 0.0, "step": 0, "P": uniform}, {"epoch": 1.0, "step": 10, "P": onehot}],
                                       {"1-NN": uniform}, y)
    assert table["sym_kl"].tolist()[0] == pytest.approx(0.0, abs=1e-9) and table["sym_kl"].tolist()[1] > 0
    assert table["delta_loss"].tolist()[0] == pytest.approx(0.0, abs=1e-9)
    assert table["delta_loss"].tolist()[1] > 0  # the LSTM is better: positive, the paper's sign


def test_nnn_distributions_match_the_baseline_scoring(tmp_path):
    """The n-NN's full distributions at each test target, rebuilt from its saved model.pt, give
    exactly the probabilities baselines.py scores (histories restart at each stream's test part)."""
    from rnnviz_lib.baselines import stream_sequences
    from rnnviz_lib.nnn import NNNLM

    rng = np.random.default_rng(2)
    K, B, S, n = 6, 3, 4, 3
    text = rng.integers(0, K, size=(B, 5 * S + 1)).astype(np.uint8)
    part = SplitPart("test", text[:, :-1].copy(), text[:, 1:].copy(), np.zeros(B, np.int64), S)
    m = NNNLM(n=n, hidden=5, max_steps=3, batch_size=16, eval_every=3, seed=0).fit(stream_sequences(part), vocab_size=K)
    torch.save({"hparams": {"n": n, "K": K, "hidden": 5}, "state_dict": m.module_.state_dict()}, tmp_path / "model.pt")
    Q = longrange.nnn_distributions(tmp_path / "model.pt", part, T=2 * S)
    assert Q.shape == (B, 2 * S, K) and np.allclose(Q.sum(-1), 1.0, atol=1e-6)
    ref = np.exp(m.log_prob(stream_sequences(part))[:, 1:])[:, : 2 * S]
    assert np.allclose(longrange.correct_probs(Q, part.y), ref, atol=1e-6)
    ctx = longrange.nnn_contexts(part, n, K, T=3)
    assert ctx[1, 0].tolist() == [K, K, part.x[1, 0]]  # the first target sees x[b, 0] only
    assert ctx[1, 2].tolist() == [part.x[1, 0], part.y[1, 0], part.y[1, 1]]


def test_summaries_of_buckets_and_snapshots():
    t = longrange.distance_buckets(np.array([[5, 30, 50, -1]]), {"LSTM": np.array([[0.9, 0.8, 0.4, 0.0]]),
                                                               "20-gram": np.array([[0.9, 0.2, 0.2, 0.0]])})
    far = longrange.long_range_summary(t, ("LSTM", "20-gram"), 20)
    assert far["braces"] == 2 and far["LSTM"] == pytest.approx(0.6) and far["diff"] == pytest.approx(0.4)
    assert longrange.long_range_summary(t, ("LSTM", "20-gram"), 5000)["braces"] == 0
    kl = pd.DataFrame({"epoch": [0.0, 0.0, 1.0, 1.0], "step": [0, 0, 9, 9], "baseline": ["1-NN", "2-NN"] * 2,
                       "sym_kl": [0.5, 0.7, 0.9, 0.3], "lstm_loss": [3.0, 3.0, 2.0, 2.0]})
    assert longrange.closest_baseline(kl)["closest"].tolist() == ["1-NN", "2-NN"]


def test_brace_summary_says_whether_the_lstm_is_better_beyond_the_ngram_context():
    dist = np.array([[5, 30, 50, -1]])  # one brace within 20 symbols of its "{", two beyond
    gram = np.array([[0.9, 0.2, 0.2, 0.0]])
    lstm = np.array([[0.9, 0.8, 0.4, 0.0]])
    table, sentence = longrange.brace_summary(dist, {"LSTM": lstm, "20-gram": gram}, 20, "lk")
    assert table["count"].sum() == 3 and table.loc["21-40", "LSTM − 20-gram"] == pytest.approx(0.6)
    assert sentence.startswith("lk: within 20 symbols of the `{` (1 braces) the LSTM gives `}` 0.900 against 0.900")
    assert "beyond (2 braces) 0.600 against 0.200: the LSTM is better (+0.400)" in sentence
    # flipped: the n-gram is the better one beyond its own context
    _, flipped = longrange.brace_summary(dist, {"LSTM": gram, "20-gram": lstm}, 20, "lk")
    assert "0.200 against 0.600: the LSTM is not better (-0.400)" in flipped
    # nothing beyond the n-gram's reach: said, not a NaN verdict
    _, none_far = longrange.brace_summary(dist, {"LSTM": lstm, "20-gram": gram}, 5000, "lk")
    assert "farther than 5000 symbols" in none_far and "nan" not in none_far
    _, alone = longrange.brace_summary(dist, {"20-gram": gram}, 20, "lk")
    assert alone.startswith("lk, 20-gram only (no LSTM in this profile): p(`}`) 0.900 within 20 symbols")
    assert "0.200 beyond (2)" in alone
    with pytest.raises(RnnvizError, match="one or two models"):
        longrange.brace_summary(dist, {"a": gram, "b": gram, "c": gram}, 20, "lk")


def test_kl_summary_follows_the_nearest_nnn():
    kl = pd.DataFrame({"epoch": [0.0, 0.0, 0.5, 0.5], "step": [0, 0, 9, 9], "baseline": ["1-NN", "2-NN"] * 2,
                       "sym_kl": [0.5, 0.7, 0.9, 0.3], "lstm_loss": [3.0, 3.0, 2.0, 2.0]})
    closest, sentence = longrange.kl_summary(kl, epoch_batches=4, full_batches=300)
    assert closest["closest"].tolist() == ["1-NN", "2-NN"]
    assert sentence.startswith("The LSTM's nearest n-NN moves 1-NN → 2-NN over its first 0.50 epochs of 4 batches "
                               "(symmetric KL 0.500 at the start, 0.300 at the end)")
    # flipped: the 1-NN stays nearest; a whole epoch needs no "of N batches"
    kl.loc[3, "sym_kl"] = 1.2
    _, stays = longrange.kl_summary(kl, epoch_batches=300, full_batches=300)
    assert stays.startswith("The LSTM's nearest n-NN stays the 1-NN over its first 0.50 epochs (symmetric KL 0.500 "
                            "at the start, 0.900 at the end)")
    assert longrange.epoch_note(0, 300) == "" and longrange.epoch_note(4, 300) == " of 4 batches"
    with pytest.raises(RnnvizError, match="empty"):
        longrange.kl_summary(kl.iloc[:0])


def test_snapshot_run_prefers_the_asked_depth_and_needs_two_snapshots(tmp_path):
    import json

    def run(name, cell, layers, n_snap):
        p = tmp_path / name
        (p / "snapshots").mkdir(parents=True)
        (p / "snapshots" / "index.json").write_text(json.dumps([{"file": f"s{i}.pt", "step": i} for i in range(n_snap)]))
        return {"cell": cell, "layers": layers, "path": p}

    runs = pd.DataFrame([run("a", "gru", 3, 5), run("b", "lstm", 2, 4), run("c", "lstm", 3, 1), run("d", "lstm", 3, 3)],
                        index=["a", "b", "c", "d"])
    assert longrange.snapshot_run(runs, 3).name == "d"  # the GRU and the one-snapshot LSTM do not count
    assert longrange.snapshot_run(runs, 1).name == "b"  # no 1-layer LSTM: the first LSTM with snapshots
    assert longrange.snapshot_run(runs[runs.index != "d"].drop(index="b"), 3) is None
    assert longrange.snapshot_run(None) is None and longrange.snapshot_run(pd.DataFrame()) is None
