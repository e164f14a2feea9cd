"""The baselines runner: streams as sequences, cached per-symbol probabilities keyed by config,
the loader later figures use, hidden-size selection on validation, Table 2 and the best RNN."""

from __future__ import annotations

import json

import numpy as np
import pytest

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnviz_lib import baselines, cli, data, grid, paper, plotting, runs, train  # noqa: E402
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.evaluate import cross_entropy
from rnnviz_lib.ngram import KneserNeyLM
from rnnviz_lib.store import Store


def test_stream_sequences_align_with_the_split(small):
    sp = data.corpus_splits(data.load_corpus(str(small)))
    for part in sp:
        s = baselines.stream_sequences(part)
        assert s.shape == (part.y.shape[0], part.y.shape[1] + 1)
        np.testing.assert_array_equal(s[:, 1:], part.y)
        np.testing.assert_array_equal(s[:, :-1], part.x)


def test_ngram_probs_are_the_models_and_cached(small):
    store = Store()
    corpus = data.load_corpus(str(small))
    sp = data.corpus_splits(corpus)
    first = baselines.run_ngrams(corpus, [3, 2], store)
    assert first["cached"] == [] and list(first["orders"]) == ["2", "3"]
    probs = baselines.load_test_probs(str(small), "ngram", 2, store)  # n = 2: the trigram
    assert probs.dtype == np.float32 and probs.shape == sp.test.y.shape
    # the same numbers as the model scored directly, streams as sequences
    m = KneserNeyLM(order=3, vocab_size=corpus.K).fit(baselines.stream_sequences(sp.train))
    direct = np.exp(m.log_prob(baselines.stream_sequences(sp.test)))[:, 1:]
    np.testing.assert_allclose(probs, direct, rtol=1e-6)
    assert first["orders"]["3"] == pytest.approx(cross_entropy(direct))
    again = baselines.run_ngrams(corpus, [2, 3, 4], store)
    assert again["cached"] == [2, 3] and again["orders"]["3"] == first["orders"]["3"]
    assert baselines.load_metrics(corpus, "ngram", 3, store)["order"] == 4
    with pytest.raises(RnnvizError, match="rnnviz ngram"):
        baselines.load_test_probs(corpus, "ngram", 7, store)
    with pytest.raises(RnnvizError, match="kind"):
        baselines.load_test_probs(corpus, "hmm", 2, store)


def test_nnn_selects_hidden_size_on_validation_and_is_found_by_profile(small, capsys):
    store = Store()
    corpus = data.load_corpus(str(small))
    recipe = {"nnn_hidden": [6, 20], "nnn_max_steps": 40, "nnn_eval_every": 20, "nnn_batch_size": 500}
    res = baselines.run_nnn(corpus, [2], recipe, store)
    vals = res["val"][2]
    assert set(vals) == {6, 20}
    assert res["selected_hidden"][2] == min(vals, key=vals.get)
    probs = np.load(f"{res['paths'][2]}/test_probs.npy")
    assert probs.shape == data.corpus_splits(corpus).test.y.shape and probs.dtype == np.float32
    assert res["losses"][2] == pytest.approx(cross_entropy(probs), abs=1e-5)
    # the loader finds the selected model under a profile whose baselines: section is this recipe
    prof = store.root / "recipe.yaml"
    prof.write_text("baselines:\n  nnn_hidden: [6, 20]\n  nnn_max_steps: 40\n  nnn_eval_every: 20\n  nnn_batch_size: 500\n")
    np.testing.assert_array_equal(baselines.load_test_probs(corpus, "nnn", 2, store, profile=str(prof)), probs)
    with pytest.raises(RnnvizError, match="n-NN with n=3"):
        baselines.load_test_probs(corpus, "nnn", 3, store, profile=str(prof))
    # the models already trained under that recipe are listed, read not trained; missing n are left out
    found = baselines.trained_nnn(corpus, [1, 2, 3], str(prof), store)
    assert list(found.index) == [2] and found.at[2, "ours"] == res["losses"][2]
    assert found.at[2, "hidden"] == res["selected_hidden"][2] and np.isnan(found.at[2, "paper"])
    assert baselines.trained_nnn(corpus, [3], str(prof), store).empty
    # a second call trains nothing: same folders, same numbers; the CLI reads the same model back
    assert baselines.run_nnn(corpus, [2], recipe, store) == res
    assert cli.main(["nnn", "--dataset", str(small), "--n", "2", "--profile", str(prof), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["losses"]["2"] == res["losses"][2] and out["selected_hidden"]["2"] == res["selected_hidden"][2]


def test_nnn_shipped_only_reads_what_exists_and_trains_nothing(small, caplog):
    """``nnn_shipped_only`` (the quick profile's n-NN): an n with a finished model of the recipe is
    read, the others are left out with a log line, and no folder is created for them."""
    store = Store()
    corpus = data.load_corpus(str(small))
    recipe = {"nnn_hidden": 12, "nnn_max_steps": 30, "nnn_eval_every": 15, "nnn_batch_size": 500}
    only = {**recipe, "nnn_shipped_only": True}
    before = sorted(store.artifacts_dir.rglob("*")) if store.artifacts_dir.is_dir() else []
    res = baselines.run_nnn(corpus, [1, 2], only, store)
    assert res["losses"] == {} and res["left_out"] == [1, 2]
    assert (sorted(store.artifacts_dir.rglob("*")) if store.artifacts_dir.is_dir() else []) == before
    assert "left out" in caplog.text and "n = 1, 2" in caplog.text
    trained = baselines.run_nnn(corpus, [1], recipe, store)  # the flag is not part of the recipe's identity
    res = baselines.run_nnn(corpus, [1, 2], only, store)
    assert res["losses"] == trained["losses"] and res["paths"] == trained["paths"] and res["left_out"] == [2]
    assert not baselines.nnn_dir(corpus, 2, recipe, store, create=False).exists()
    assert baselines.run_nnn(corpus, [2], only, store, force=True)["left_out"] == []  # --force trains


def test_table2_puts_ours_beside_the_paper():
    ours, theirs = baselines.table2_frames("wp", {"2": 2.41, "21": 1.2}, {1: 2.5, 7: 1.4})
    assert list(ours.index) == ["n-gram", "n-NN"]
    assert list(ours.columns) == list(paper.TABLE2_N)
    assert ours.at["n-gram", 1] == 2.41 and ours.at["n-gram", 20] == 1.2 and np.isnan(ours.at["n-gram", 2])
    assert theirs.at["n-NN", 6] == paper.TABLE2["wp"]["n-NN"][6] and np.isnan(theirs.at["n-NN", 7])
    t = baselines.table2("wp", {"2": 2.41}, {1: 2.5})
    assert t.at["n-gram", 1] == "2.410 (paper 2.399, Δ +0.011)"
    assert t.at["n-NN", 7] == "- (paper -)"
    user = baselines.table2_frames("file-x", {"3": 1.9}, {})[1]
    assert user.isna().all().all()  # no paper values for a user corpus
    # an extra row (another recipe's n-NN) is compared with the paper's row of the same name
    ours, theirs = baselines.table2_frames("wp", {"2": 2.41}, {1: 2.5}, extra={"n-NN (paper recipe)": {4: 1.386}})
    assert list(ours.index) == ["n-gram", "n-NN", "n-NN (paper recipe)"]
    assert ours.at["n-NN (paper recipe)", 4] == 1.386 and np.isnan(ours.at["n-NN (paper recipe)", 1])
    assert theirs.at["n-NN (paper recipe)", 4] == paper.TABLE2["wp"]["n-NN"][4]
    t = baselines.table2("wp", {"2": 2.41}, {1: 2.5}, extra={"n-NN (paper recipe)": {4: 1.386}})
    assert t.at["n-NN (paper recipe)", 4] == "1.386 (paper 1.451, Δ -0.065)"
    ax = plotting.plot_loss_vs_context(ours, theirs)
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count("n-NN (paper)") == 1 and "n-NN, ours (paper recipe)" in labels
    plt.close(ax.figure)
    with pytest.raises(RnnvizError, match="would replace our own"):
        baselines.table2_frames("wp", {"2": 2.41}, {1: 2.5}, extra={"n-NN": {4: 1.386}})


def test_best_rnn_reads_finished_runs(small):
    store = Store()
    prof = {"datasets": [str(small)], "models": ["lstm-1-64"], "dropout": [0.0],
            "train": {"hidden": 12, "epochs": 1, "max_train_batches": 2, "device": "cpu"}}
    assert runs.best_rnn(str(small), prof, store) is None
    (cfg,) = grid.expand(prof)
    run = train.train_run(cfg, store)
    best = runs.best_rnn(str(small), prof, store)
    assert best["path"] == str(run)
    assert best["test_loss"] == pytest.approx(train.load_metrics(run)["test_loss"])
    assert runs.best_rnn("wp", prof, store) is None
