"""The n-NN baseline: its first layer is a one-hot matrix product, histories stop at sequence
starts, training lowers the loss, is reproducible, and keeps the best-validation weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz_lib import data
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.nnn import NNNLM, NNNModule, _histories
from rnnviz_lib.ngram import _concat


@pytest.fixture(scope="module")
def wp_ids(wp_path) -> np.ndarray:
    return data.load_corpus(str(wp_path)).ids


def test_module_is_a_one_hot_layer():
    n, K, H, M = 3, 7, 5, 11  # mutually distinct
    torch.manual_seed(0)
    mod = NNNModule(n, K, H)
    x = torch.randint(0, K + 1, (M, n))  # K = no symbol
    x[0] = K
    onehot = torch.zeros(M, n * K)
    for i in range(M):
        for j in range(n):
            if x[i, j] < K:
                onehot[i, j * K + x[i, j]] = 1.0
    W1 = mod.embed.weight[: n * K]  # (n·K, H)
    want = torch.tanh(onehot @ W1 + mod.b1) @ mod.out.weight.T + mod.out.bias
    torch.testing.assert_close(mod(x), want)
    # a missing symbol contributes nothing, and its row never trains
    assert torch.count_nonzero(mod.embed.weight[n * K]) == 0
    mod(x).sum().backward()
    assert torch.count_nonzero(mod.embed.weight.grad[n * K]) == 0


def test_histories_stop_at_sequence_starts():
    K = 9
    s, offs, _, _ = _concat([np.array([1, 2, 3, 4]), np.array([5, 6])])
    X = _histories(s, offs, 3, K)
    np.testing.assert_array_equal(
        X, [[K, K, K], [K, K, 1], [K, 1, 2], [1, 2, 3], [K, K, K], [K, K, 5]]
    )


def test_training_lowers_loss_is_reproducible_and_keeps_best(wp_ids):
    train = wp_ids[:40_000].reshape(4, 10_000)
    val = wp_ids[50_000:56_000].reshape(2, 3000)
    kw = dict(n=3, hidden=24, batch_size=256, max_steps=240, eval_every=40, patience=100, threads=1, seed=3)
    a = NNNLM(**kw).fit(train, val, vocab_size=90)
    vals = [h["val_loss"] for h in a.history_]
    assert len(vals) == 6 and vals[-1] < vals[0] < np.log(90)
    assert a.best_val_loss_ == pytest.approx(min(vals))
    # the kept weights are the best ones: their val loss is the best recorded
    assert -a.log_prob(val).mean() == pytest.approx(a.best_val_loss_, rel=1e-5)
    b = NNNLM(**kw).fit(train, val, vocab_size=90)
    np.testing.assert_array_equal(a.log_prob(val), b.log_prob(val))
    c = NNNLM(**{**kw, "seed": 4}).fit(train, val, vocab_size=90)
    assert not np.array_equal(a.log_prob(val), c.log_prob(val))


def test_early_stopping_stops(wp_ids):
    train, val = wp_ids[:20_000], wp_ids[30_000:32_000]
    m = NNNLM(n=2, hidden=8, batch_size=64, lr=0.5, max_steps=2000, eval_every=10, patience=2, threads=1)
    m.fit(train, val, vocab_size=90)  # a huge learning rate: val stops improving at once
    assert m.n_steps_ < 2000
    assert m.best_step_ <= m.n_steps_ - 20


def test_log_prob_matches_predict_proba(wp_ids):
    m = NNNLM(n=4, hidden=16, max_steps=30, eval_every=30, threads=1).fit(wp_ids[:8000], vocab_size=90)
    seq = wp_ids[9000:9012]
    lp = m.log_prob(seq)
    P = m.predict_proba([seq[:t] for t in range(seq.size)])
    assert P.shape == (12, 90)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(lp, np.log(P[np.arange(12), seq]), rtol=1e-6)
    two = m.log_prob(np.stack([seq, seq]))
    assert two.shape == (2, 12)
    np.testing.assert_allclose(two[1], lp, rtol=1e-6)


def test_bad_input_raises(wp_ids):
    with pytest.raises(RnnvizError, match="not fitted"):
        NNNLM().log_prob(wp_ids[:10])
    with pytest.raises(RnnvizError, match="vocab_size"):
        NNNLM(max_steps=1).fit(np.array([0, 1, 50]), vocab_size=10)
    with pytest.raises(RnnvizError, match="n >= 1"):
        NNNLM(n=0).fit(wp_ids[:100])


def _crash_on(monkeypatch, k: int) -> dict:
    """Make the k-th validation pass raise (a kill during training); returns the call counter."""
    calls = {"n": 0, "real": NNNLM._loss}

    def loss(self, X, y, chunk=65536):
        calls["n"] += 1
        if calls["n"] == k:
            raise KeyboardInterrupt("simulated kill")
        return calls["real"](self, X, y, chunk)

    monkeypatch.setattr(NNNLM, "_loss", loss)
    return calls


def _same_fit(a: NNNLM, b: NNNLM) -> None:
    assert [h["step"] for h in b.history_] == [h["step"] for h in a.history_]
    assert [h["val_loss"] for h in b.history_] == [h["val_loss"] for h in a.history_]
    assert (b.n_steps_, b.best_step_, b.best_val_loss_) == (a.n_steps_, a.best_step_, a.best_val_loss_)
    for k, v in a.module_.state_dict().items():
        torch.testing.assert_close(b.module_.state_dict()[k], v, rtol=0, atol=0)


def test_interrupted_fit_resumes_to_the_same_weights(wp_ids, tmp_path, monkeypatch):
    train = wp_ids[:30_000].reshape(3, 10_000)
    val = wp_ids[40_000:44_000].reshape(2, 2000)
    # 3 epochs of 117 steps; the lr halves from epoch 2 (step 234) and each epoch draws a new order
    kw = dict(n=3, hidden=16, batch_size=256, max_epochs=3, eval_every=50, decay_after=2, lr_decay=0.5,
              patience=100, threads=1, seed=5)
    ref = NNNLM(**kw).fit(train, val, vocab_size=90)
    assert len(ref.history_) == 8  # steps 50, 100, ..., 350 and the last, 351

    ckpt = tmp_path / "run" / "checkpoint.pt"
    calls = _crash_on(monkeypatch, 6)
    with pytest.raises(KeyboardInterrupt):
        NNNLM(checkpoint=ckpt, **kw).fit(train, val, vocab_size=90)
    assert ckpt.is_file()  # written at the 5th evaluation, step 250, after the lr decay
    monkeypatch.setattr(NNNLM, "_loss", calls["real"])
    calls = _crash_on(monkeypatch, 10**9)  # count the validation passes of the resumed fit
    resumed = NNNLM(checkpoint=ckpt, **kw).fit(train, val, vocab_size=90)
    assert calls["n"] == 3  # steps 300, 350, 351: it went on from step 250, not from the start
    assert not ckpt.exists()  # removed once training ends
    _same_fit(ref, resumed)

    # a checkpoint of other settings or other data is refused with a message naming the fix
    _crash_on(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        NNNLM(checkpoint=ckpt, **kw).fit(train, val, vocab_size=90)
    monkeypatch.setattr(NNNLM, "_loss", calls["real"])
    with pytest.raises(RnnvizError, match="delete it to start afresh"):
        NNNLM(checkpoint=ckpt, **{**kw, "hidden": 17}).fit(train, val, vocab_size=90)
    with pytest.raises(RnnvizError, match="delete it to start afresh"):
        NNNLM(checkpoint=ckpt, **kw).fit(train[:, ::-1].copy(), val, vocab_size=90)


def test_resumed_fit_stops_early_where_an_uninterrupted_one_does(wp_ids, tmp_path, monkeypatch):
    train, val = wp_ids[:20_000], wp_ids[30_000:32_000]
    kw = dict(n=2, hidden=8, batch_size=64, lr=0.5, max_steps=2000, eval_every=10, patience=3, threads=1, seed=1)
    ref = NNNLM(**kw).fit(train, val, vocab_size=90)  # a huge learning rate: validation stalls early
    assert ref.n_steps_ < 2000
    ckpt = tmp_path / "checkpoint.pt"
    k = len(ref.history_)  # crash at the last validation pass, with the patience counter part used
    calls = _crash_on(monkeypatch, k)
    with pytest.raises(KeyboardInterrupt):
        NNNLM(checkpoint=ckpt, **kw).fit(train, val, vocab_size=90)
    monkeypatch.setattr(NNNLM, "_loss", calls["real"])
    _same_fit(ref, NNNLM(checkpoint=ckpt, **kw).fit(train, val, vocab_size=90))
