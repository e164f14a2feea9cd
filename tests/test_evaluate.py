"""Per-symbol probabilities over a split (state carried), test loss and the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz_lib import data, evaluate
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.models import CharRNN

pytestmark = pytest.mark.fast  # the fast tier: no War and Peace, no browser, no Ray


def _splits():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 11, 3 * 6 * 9 * 10).astype(np.uint8)  # K=11, B=6, S=9, 30 batches
    return data.make_splits(ids, batch_size=6, seq_length=9, fractions=(0.6, 0.2, 0.2))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_stream_probs_carry_state_like_one_long_forward(cell):
    sp = _splits()
    torch.manual_seed(0)
    model = CharRNN(cell, 11, 5, 2, init_range=0.4).double()
    probs = evaluate.stream_probs(model, sp.test)
    assert probs.shape == sp.test.y.shape == (6, 6 * 9) and probs.dtype == np.float32
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(sp.test.x).long())  # the whole stream at once, from zeros
    ref = torch.softmax(logits, -1).gather(-1, torch.from_numpy(sp.test.y).long()[..., None])[..., 0]
    np.testing.assert_allclose(probs, ref.numpy(), rtol=1e-6)
    # the loss function agrees with the probabilities, and a partial pass reads only its batches
    assert evaluate.stream_loss(model, sp.test) == pytest.approx(evaluate.cross_entropy(probs), rel=1e-6)
    part = evaluate.stream_probs(model, sp.test, max_batches=2)
    np.testing.assert_array_equal(part, probs[:, :18])


def test_bootstrap_units():
    rng = np.random.default_rng(1)
    same_rows = np.tile(rng.uniform(0.05, 0.95, 200), (7, 1)).astype(np.float32)
    assert evaluate.bootstrap_std(same_rows, unit="stream") < 1e-12  # identical streams: no spread
    assert evaluate.bootstrap_std(same_rows, unit="symbol") > 0.0
    iid = rng.uniform(0.05, 0.95, (50, 400)).astype(np.float32)
    v = evaluate.nll(iid)
    expected = v.std() / np.sqrt(v.size)
    got = evaluate.bootstrap_std(iid, n_resamples=400, unit="symbol")
    assert 0.8 * expected < got < 1.2 * expected
    assert evaluate.bootstrap_std(iid, unit="chunk", chunk=40) > 0
    with pytest.raises(RnnvizError, match="unit"):
        evaluate.bootstrap_std(iid, unit="word")
    s = evaluate.summarize(iid)
    assert s["test_loss"] == pytest.approx(v.mean()) and s["test_loss_bits"] == pytest.approx(v.mean() / np.log(2))
    assert s["test_symbols"] == 20_000 and s["bootstrap_unit"] == "stream"


def test_one_stream_reader_for_every_model():
    sp = _splits()
    s = evaluate.stream_symbols(sp.test)  # the n-gram's and the analyses' view of a split
    assert s.shape == (6, 6 * 9 + 1)
    np.testing.assert_array_equal(s[:, 1:], sp.test.y)
    np.testing.assert_array_equal(s[:, :-1], sp.test.x)
    # the batches come in stream order with the state carried: the state handed to batch i is
    # the one batch i - 1 returned, and max_batches cuts the pass
    seen = []

    def forward(x, state):
        seen.append((x.shape, state))
        return x.float(), state + 1

    out = list(evaluate.stream_forward(forward, 0, sp.test, "cpu", max_batches=4))
    assert [i for i, _, _ in out] == [0, 1, 2, 3] and [st for _, st in seen] == [0, 1, 2, 3]
    for i, logits, y in out:
        np.testing.assert_array_equal(logits.long().numpy(), sp.test.x[:, i * 9 : (i + 1) * 9])
        np.testing.assert_array_equal(y.numpy(), sp.test.y[:, i * 9 : (i + 1) * 9])
    assert evaluate.batches_read(sp.test, 0) == 6 and evaluate.batches_read(sp.test, 99) == 6
