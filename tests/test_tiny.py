"""The core of the library on the in-repo tiny fixture (tests/fixtures/tiny.txt): the fast tier.

The fixture is 850 bytes of prose with quotes and parentheses and C with comments, braces and
strings, so every feature of the cell analysis has both values in it. Nothing here reads War and
Peace, starts a browser or Ray: `make test-fast` runs these with the data folder pointed away from
War and Peace, so a test that reached for it would fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz_lib import data, evaluate, ngram, train
from rnnviz_lib.analysis import features
from rnnviz_lib.store import Store

pytestmark = [pytest.mark.fast, pytest.mark.usefixtures("one_thread")]


def test_tiny_corpus_splits_are_charrnns(tiny_path, tmp_path):
    corpus = data.load_corpus(str(tiny_path), store=Store(tmp_path))
    raw = tiny_path.read_bytes()
    assert len(corpus) == len(raw) and corpus.decode(corpus.ids) == raw
    assert corpus.K == len(set(raw))
    B, S = 3, 7  # distinct and small: a swapped axis shows
    splits = data.corpus_splits(corpus, batch_size=B, seq_length=S)
    n = len(raw) // (B * S) * (B * S)
    assert sum(p.symbols for p in splits) == n
    for part in splits:
        assert part.symbols % (B * S) == 0
        for x, y in part.batches():
            assert x.shape == y.shape == (B, S)
    # the target is the input shifted by one symbol, in every stream
    x, y = next(splits.train.batches())
    assert (x[:, 1:] == y[:, :-1]).all()


def test_features_on_the_fixture(tiny_path):
    text = tiny_path.read_bytes()
    assert features.guess_lang(text) == "c"
    f = features.compute(text, lang="c")
    at = {name: feat.values for name, feat in f.items()}
    i = text.index(b"the road is long")
    assert at["in_quotes"][i] == 1 and at["in_quotes"][text.index(b"said the old")] == 0
    j = text.index(b"current depth")
    assert at["in_comment"][j] == 1 and at["in_comment"][text.index(b"int d = 0")] == 0
    # the quotes inside a comment are part of the comment, not a string
    k = text.index(b"not a string")
    assert at["in_comment"][k] == 1
    assert at["brace_depth"][text.index(b"d++")] == 3  # function, for, if
    assert at["in_if_body"][text.index(b"d++")] == 1 and at["in_if_body"][text.index(b"return d;")] == 0
    nl = text.index(b"\n")
    assert at["line_position"][nl - 1] == nl - 1 and at["line_end_next"][nl - 1] == 1


def test_ngram_distributions_sum_to_one_on_the_fixture(tiny_path):
    ids = np.frombuffer(tiny_path.read_bytes(), dtype=np.uint8).astype(np.int64)
    K = 256
    lm = ngram.KneserNeyLM(order=4, vocab_size=K).fit([ids[:600]])
    contexts = np.stack([ids[i:i + 3] for i in range(600, 840, 7)])
    for order in (1, 2, 4):
        p = lm.predict_proba(contexts, order=order)
        assert p.shape == (len(contexts), K)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
        assert (p > 0).all()
    # a higher order fits the training text better than a unigram
    lp1, lp4 = lm.log_prob([ids[:600]], order=1), lm.log_prob([ids[:600]], order=4)
    assert np.mean(lp4) > np.mean(lp1)


def _tiny_config(tiny_path, **kw) -> train.TrainConfig:
    base = {"dataset": str(tiny_path), "cell": "lstm", "layers": 2, "size": 16, "batch_size": 3,
            "seq_length": 11, "epochs": 4, "checkpoint_every": 5, "device": "cpu", "lr": 1e-2, "engine": "reference"}
    return train.TrainConfig(**{**base, **kw})


def test_training_on_the_fixture_learns_reproduces_and_resumes(tiny_path, tmp_path):
    cfg = _tiny_config(tiny_path)
    a = train.train_run(cfg, Store(tmp_path / "a"))
    hist = train.load_history(a)
    assert len(hist) == 4
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    m = train.load_metrics(a)
    probs = train.load_probs(a)
    assert m["test_loss"] == pytest.approx(evaluate.cross_entropy(probs), abs=1e-12)
    # same seed, same numbers; another seed, other numbers
    b = train.train_run(cfg, Store(tmp_path / "b"))
    assert train.load_probs(b).tobytes() == probs.tobytes()
    c = train.train_run(_tiny_config(tiny_path, seed=7), Store(tmp_path / "c"))
    assert train.load_probs(c).tobytes() != probs.tobytes()
    # the best weights reproduce the stored probabilities
    model, _ = train.load_model(a)
    _, splits = train.load_splits(cfg)
    with torch.no_grad():
        again = evaluate.stream_probs(model, splits.test)
    np.testing.assert_allclose(again, probs, rtol=1e-5)
