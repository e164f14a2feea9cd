"""The logic of notebooks 03 (Table 2), 06 (model t-SNE), 07 (Figure 5) and 08 (Figure 4, the
onion) in the library: which runs and baselines each figure uses, with notes for what is missing,
and the tables and sentences built from them. One store, trained here on a real corpus: War and
Peace interleaved with the C and prose of the tiny fixture (braces for Figure 5), a 3-model grid
(the 3-layer LSTM keeps weight snapshots), n-grams of orders 2-4 and the 1-NN and 2-NN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnviz_lib import baselines, data, evaluate, executors, grid, paper, runs
from rnnviz_lib.analysis import error_summary, errors, longrange, onion, table2, tsne
from rnnviz_lib.runs import Run
from rnnviz_lib.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")

NGRAM_ORDERS = [2, 3, 4]  # context lengths n = 1, 2, 3
RECIPE = {"nnn_hidden": 6, "nnn_max_steps": 20, "nnn_eval_every": 10, "nnn_batch_size": 500}


@pytest.fixture(scope="module")
def lab(tmp_path_factory, wp_path, tiny_path):
    """(store, dataset, profile, corpus): finished runs and baselines of one profile."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("nb")
    wp, tiny = wp_path.read_bytes()[300_000:400_000], tiny_path.read_bytes()
    # 152 KB, the fixture every 2027 bytes: the test streams' windows fall on it at varying phases
    text = b"".join(wp[i:i + 1177] + tiny for i in range(0, 75 * 1177, 1177))
    corpus_file = tmp / "braces.txt"
    corpus_file.write_bytes(text)
    ds = str(corpus_file)
    prof = tmp / "lab.yaml"
    prof.write_text(json.dumps({
        "grid": {"datasets": [ds], "models": ["lstm-1-16", "lstm-3-16", "gru-2-16"], "dropout": [0.0],
                 "train": {"epochs": 1, "max_train_batches": 3, "max_eval_batches": 1, "device": "cpu", "lr": 1e-2},
                 "snapshots": {"models": ["lstm-3-16"], "every": 1, "epochs": 1}},
        "baselines": RECIPE}))
    store = Store(tmp / "home")
    assert {r["status"] for r in executors.run(grid.expand(str(prof)), "local", store)} == {"done"}
    baselines.run_ngrams(ds, NGRAM_ORDERS, store)
    baselines.run_nnn(ds, [1, 2], RECIPE, store)
    torch.set_num_threads(threads)
    return store, ds, str(prof), data.load_corpus(ds)


@pytest.fixture(scope="module")
def finished(lab):
    store, ds, prof, _ = lab
    return errors.finished_runs(ds, store, profile=prof)


# ----------------------------------------------------------------------------------------
# 03: Table 2
# ----------------------------------------------------------------------------------------
def test_ngram_and_nnn_rows_put_ours_beside_the_paper(lab):
    store, ds, prof, _ = lab
    res = baselines.run_ngrams(ds, NGRAM_ORDERS, store)  # read back from the cache
    table, sentence = table2.ngram_rows({ds: res, "wp": res})  # the same numbers under a paper dataset's name
    assert list(table.index) == [(d, o) for d in (ds, "wp") for o in NGRAM_ORDERS]
    assert table.loc[(ds, 3), "n"] == 2 and table.loc[(ds, 3), "ours"] == res["orders"]["3"]
    assert pd.isna(table.loc[(ds, 3), "paper"]) and pd.isna(table.loc[(ds, 3), "diff"])  # no paper values for a user file
    assert table.loc[("wp", 3), "paper"] == paper.TABLE2["wp"]["n-gram"][2]
    assert table.loc[("wp", 3), "diff"] == pytest.approx(res["orders"]["3"] - paper.TABLE2["wp"]["n-gram"][2])
    assert table.loc[(ds, 4), "model MB"] == res["model_bytes"]["4"] / 1e6
    test_symbols = data.corpus_splits(data.load_corpus(ds)).test.y.size
    assert f"`{ds}`: {test_symbols:,} test symbols, counted to order 4" in sentence
    assert "(orders [2, 3, 4] read from cache)" in sentence

    nnn = baselines.run_nnn(ds, [1, 2], RECIPE, store)
    table, sentence = table2.nnn_rows({"wp": nnn}, RECIPE, "lab")
    assert list(table.index) == [("wp", 1), ("wp", 2)]
    assert table.loc[("wp", 2), "ours"] == nnn["losses"][2] and table.loc[("wp", 2), "hidden"] == 6
    assert table.loc[("wp", 1), "diff"] == pytest.approx(nnn["losses"][1] - paper.TABLE2["wp"]["n-NN"][1])
    assert table.loc[("wp", 1), "train s"] == nnn["train_seconds"][1][6]
    assert sentence.startswith(f"n-NN recipe of profile `lab`: {baselines.nnn_params(RECIPE)}.")
    assert table2.paper_nnn_steps("wp") in sentence


def test_paper_nnn_steps_are_the_papers_own_row():
    s = table2.paper_nnn_steps("wp")
    row = [paper.TABLE2["wp"]["n-NN"][n] for n in range(1, 7)]
    assert s.startswith(f"The paper's n-NN on `wp`: {', '.join(f'{v:.3f}' for v in row)} for n = 1…6")
    assert f"{row[2] - row[3]:.2f}, {row[3] - row[4]:.2f} and {row[4] - row[5]:.2f}" in s
    assert table2.paper_nnn_steps("file-x") == ""


def test_reference_nnn_reads_another_recipes_models_never_trains(lab, tmp_path):
    store, ds, prof, corpus = lab
    extra, found, sentence = table2.reference_nnn({ds: corpus}, [1, 2, 3], prof, "smoke", store)
    assert list(found.index) == [(ds, 1), (ds, 2)]  # n = 3 was never trained: left out, not trained
    (label,) = extra[ds]
    assert label == f"n-NN ({prof} recipe, trained here)"
    assert extra[ds][label] == found.loc[ds, "ours"].to_dict()
    assert f"n-NN models of the `{prof}` recipe were found" in sentence
    assert table2.reference_nnn({ds: corpus}, [1], prof, prof, store) == ({}, None, "")  # its own recipe: nothing extra
    other = tmp_path / "other.yaml"
    other.write_text("baselines: {nnn_hidden: 9}\n")
    extra, found, sentence = table2.reference_nnn({ds: corpus}, [1], str(other), "smoke", store)
    assert extra == {} and found is None and sentence.startswith(f"No n-NN trained by the `{other}` recipe")


def test_frames_name_the_nnn_row_by_its_recipe(lab):
    store, ds, _, _ = lab
    ngram, nnn = baselines.run_ngrams(ds, NGRAM_ORDERS, store), baselines.run_nnn(ds, [1, 2], RECIPE, store)
    table, ours, theirs = table2.frames(ds, ngram, nnn, "smoke", {"n-NN (paper recipe)": {1: 2.5}})
    assert list(ours.index) == list(table.index) == ["n-gram", "n-NN (smoke recipe)", "n-NN (paper recipe)"]
    assert ours.at["n-gram", 3] == ngram["orders"]["4"] and ours.at["n-NN (smoke recipe)", 2] == nnn["losses"][2]
    assert theirs is None  # a user corpus has no paper row
    # the quick profile trains its n-NN by the paper's recipe: its row is named so, with its origin
    assert table2.same_recipe("quick", "paper") and not table2.same_recipe("smoke", "paper")
    _, ours, _ = table2.frames(ds, ngram, nnn, "quick")
    assert list(ours.index) == ["n-gram", "n-NN (paper recipe, trained here)"]
    table, ours, theirs = table2.frames("wp", ngram, nnn, "paper")
    assert list(ours.index) == ["n-gram", "n-NN"] and theirs.at["n-NN", 2] == paper.TABLE2["wp"]["n-NN"][2]
    assert table.at["n-gram", 1].startswith(f"{ngram['orders']['2']:.3f} (paper {paper.TABLE2['wp']['n-gram'][1]:.3f}")


def test_best_rnn_falls_back_to_the_reference_profile_and_is_compared_with_our_longest_ngram(lab, finished, tmp_path):
    store, ds, prof, _ = lab
    ngram, nnn = baselines.run_ngrams(ds, NGRAM_ORDERS, store), baselines.run_nnn(ds, [1, 2], RECIPE, store)
    _, ours, _ = table2.frames(ds, ngram, nnn, prof)
    rnn, sentence = table2.best_rnn(ds, prof, "", store, ours)
    assert rnn["slug"] == finished.index[0] == rnn["label"]  # the whole test set was scored: the best run
    assert rnn["test_loss"] == runs.best_rnn(ds, prof, store)["test_loss"]
    d = ngram["orders"]["4"] - rnn["test_loss"]
    assert f"against {ngram['orders']['4']:.3f} for our 3-gram: the RNN is " in sentence
    assert (f"better by {d:.3f}" in sentence) == (d > 0)
    assert "Paper:" not in sentence  # a user corpus
    empty = tmp_path / "empty.yaml"
    empty.write_text(json.dumps({"grid": {"datasets": [ds], "models": ["rnn-1-16"], "dropout": [0.0]}}))
    rnn, sentence = table2.best_rnn(ds, str(empty), prof, store)
    assert rnn["slug"] == finished.index[0] and rnn["label"] == f"{rnn['slug']}, profile {prof}"
    rnn, sentence = table2.best_rnn("wp", str(empty), "", store)
    assert rnn is None and "best RNN not available" in sentence
    best_paper = min(v for row in paper.TABLE1["wp"].values() for v in row.values() if v is not None)
    assert sentence.endswith(f"Paper: its best RNN {best_paper:.3f} against its 20-gram "
                             f"{paper.TABLE2['wp']['n-gram'][20]:.3f}.")


# ----------------------------------------------------------------------------------------
# 06: the t-SNE map of the models
# ----------------------------------------------------------------------------------------
def test_map_inputs_points_and_nearest_baselines(lab, finished):
    store, ds, prof, _ = lab
    found, base, sentence = tsne.map_inputs(ds, prof, store, ngram_ns=[1, 2, 3, 9], nnn_ns=[1, 2])
    assert list(found.index) == list(finished.index)
    assert list(base) == ["1-gram", "2-gram", "3-gram", "1-NN", "2-NN"]
    assert sentence == (f"**3 finished RNN runs** of `{ds}` in profile `{prof}`; **5 baselines** found, 1 not found: "
                        "9-gram.")
    meta, probs = tsne.model_points(found, base, store)
    assert list(meta["model"]) == list(found.index) + list(base) == list(probs)
    T = int(found["test_columns"].min())
    assert {p.shape[1] for p in probs.values()} == {T}
    np.testing.assert_array_equal(probs[found.index[0]], Run(found.iloc[0]["path"], store).probs()[:, :T])
    two = meta.set_index("model").loc["2-gram"]
    assert (two["cell"], two["label"]) == ("n-gram", "2") and np.isnan(two["size"])
    assert two["test_loss"] == pytest.approx(evaluate.cross_entropy(base["2-gram"]))
    meta, X, Y, sentence = tsne.model_map(meta, probs, max_symbols=500, seed=3)
    assert X.shape == (8, 500) and Y.shape == (8, 2)
    np.testing.assert_array_equal(meta[["x", "y"]].to_numpy(), Y)
    assert sentence == "Embedded 8 models from 500 test positions each (perplexity 2.3)."
    sep, verdict = tsne.grouping(X, Y, meta)  # 2 LSTMs, 1 GRU, all of row 16: no attribute has two groups
    assert list(sep.index) == ["cell", "size", "depth"] and sep["ratio"].isna().all()
    assert verdict == "Too few models per group to say how they cluster."
    near, verdict = tsne.nearest_baselines(X, meta)
    rnn, base_rows = np.arange(3), np.arange(3, 8)
    for i in rnn:  # brute force: the baseline row closest to each RNN row
        j = base_rows[np.argmin(np.linalg.norm(X[base_rows] - X[i], axis=1))]
        assert near.loc[meta["model"][i], "nearest"] == meta["model"][j]
        assert near.loc[meta["model"][i], "nearest test_loss"] == meta["test_loss"][j]
    counts = near["nearest"].value_counts()
    assert verdict == "Nearest baseline of each of the 3 RNNs: " + ", ".join(f"{b} ({k})" for b, k in counts.items()) + "."
    # too few models: no map, and the sentence says how to get one
    small_meta, small_probs = tsne.model_points(found, {}, store)
    meta3, X3, Y3, sentence = tsne.model_map(small_meta, small_probs, profile="lab")
    assert X3 is None and Y3 is None and sentence.startswith("**Not enough models for a t-SNE map:** 3 found, at least 4")
    assert tsne.grouping(X3, Y3, meta3) == (None, "") and tsne.nearest_baselines(X3, meta3) == (None, "")


def test_grouping_names_the_attribute_models_cluster_by():
    rng = np.random.default_rng(0)
    centre = {"lstm": rng.random(60), "gru": rng.random(60)}
    rows, X = [], []
    for cell in ("lstm", "gru"):
        for size in (64, 128):
            for depth in (1, 2):
                rows.append({"model": f"{cell}{depth}-{size}", "cell": cell, "size": size, "depth": depth})
                X.append(centre[cell] + 0.02 * rng.standard_normal(60))
    meta = pd.DataFrame(rows)
    X = np.array(X)
    sep, verdict = tsne.grouping(X, X[:, :2], meta)
    assert sep["ratio"].idxmin() == "cell" and sep.loc["cell", "ratio"] < 0.2
    assert verdict.startswith(f"Our 8 RNNs cluster most by cell (mean distance within a group is "
                              f"{sep.loc['cell', 'ratio']:.2f}× that between groups; size ")
    assert tsne.grouping(X[:2], X[:2, :2], meta[:2]) == (None, "Fewer than three RNNs: no grouping to measure.")
    assert tsne.nearest_baselines(X, meta) == (None, "")  # no baseline among them


# ----------------------------------------------------------------------------------------
# 07: Figure 5
# ----------------------------------------------------------------------------------------
def test_unmatched_closing_braces_counted_in_the_first_T_columns():
    from rnnviz_lib.data import SplitPart

    text = "}a{b}}c{{d}"  # one stream: x = text[:-1], y = text[1:]
    ids = np.frombuffer(text.encode(), np.uint8)[None]
    part = SplitPart("test", ids[:, :-1], ids[:, 1:], np.zeros(1, np.int64), ids.shape[1] - 1)
    o, c = ord("{"), ord("}")
    # targets a { b } } c { { d }: the "}" at target 3 matches, the one at target 4 has no "{", the last matches
    assert longrange.unmatched_closing(part, o, c) == 1
    assert longrange.unmatched_closing(part, o, c, T=4) == 0 and longrange.unmatched_closing(part, o, c, T=5) == 1


def test_brace_models_and_figure(lab, finished):
    store, ds, prof, corpus = lab
    lstm, grams, notes = longrange.brace_models(ds, [ds], {ds: corpus}, prof, 3, store)
    assert lstm.name == errors.pick_run(finished, "lstm").name and list(grams) == ["3-gram"]
    assert notes == [f"Figure 5 (left) uses `{lstm.name}` (test loss {lstm['test_loss']:.3f}), the best LSTM of `{ds}` "
                     "in this profile."]
    assert longrange.brace_models(ds, ["wp"], {ds: corpus}, prof, 3, store)[2][0].startswith(
        f"**Note:** `{ds}` is not among this profile's datasets (wp)")
    assert "build it with `rnnviz data prepare" in longrange.brace_models(ds, [ds], {}, prof, 3, store)[2][0]
    _, missing, notes = longrange.brace_models(ds, [ds], {ds: corpus}, prof, 9, store)
    assert missing == {} and notes[0].startswith("**Note:** the 9-gram of") and "rnnviz ngram" in notes[0]

    edges = (1, 11, 51, 101)  # the fixture's braces lie 12 to 195 symbols from their "{"
    table, names, sentence, left_out = longrange.brace_figure(corpus, lstm, grams, 3, edges, store)
    assert names == ("LSTM", "3-gram")
    test = data.corpus_splits(corpus).test
    T = int(lstm["test_columns"])
    o, c = corpus.encode("{}").tolist()
    dist = longrange.brace_distances(test, o, c)[:, :T]
    p = Run(lstm["path"], store).probs()[:, :T]
    near = (dist >= 11) & (dist < 51)
    assert table.loc["11-50", "count"] == near.sum() > 0 and table.loc["1-10", "count"] == 0
    assert table.loc["11-50", "LSTM"] == pytest.approx(p[near].mean())
    closing = int((test.y[:, :T] == c).sum())
    left = closing - int(table["count"].sum())
    assert left > 0 and left_out == (f"{left:,} of {closing:,} closing braces have their `{{` before the stream's "
                                     "test part and are left out.")
    assert sentence == longrange.brace_summary(dist, {"LSTM": p, "3-gram": grams["3-gram"][:, :T]}, 3, corpus.name,
                                               edges)[1]
    table, names, sentence, _ = longrange.brace_figure(corpus, None, grams, 3, edges, store)
    assert names == ("3-gram",) and "3-gram only (no LSTM in this profile)" in sentence
    assert list(table.columns) == ["lo", "hi", "count", "3-gram"]
    table, names, sentence, _ = longrange.brace_figure(corpus, lstm, {}, 3, edges, store)  # the n-gram is missing
    assert names == ("LSTM",) and "LSTM only (no 3-gram)" in sentence and "needs the 3-gram of" in sentence


def test_kl_models_comparison_and_epochs(lab):
    store, ds, prof, corpus = lab
    run, files, notes = longrange.kl_models(ds, [1, 2], 3, {ds: corpus}, prof, store)
    assert run["cell"] == "lstm" and run["layers"] == 3 and notes == [] and list(files) == ["1-NN", "2-NN"]
    run2, files2, notes = longrange.kl_models(ds, [1, 7], 2, {ds: corpus}, prof, store)
    assert run2.name == run.name and list(files2) == ["1-NN"]
    assert notes == ["**Note:** n-NN not found: 7-NN; comparing with 1-NN.",
                     f"**Note:** no 2-layer LSTM has snapshots; using `{run.name}`."]
    assert longrange.kl_models(ds, [7], 3, {ds: corpus}, prof, store)[1:] == (
        {}, [f"**Note:** no n-NN baselines of `{ds}` found ({longrange.nnn_model_files(ds, [7], store, prof)[1]['7-NN']}): "
             "Figure 5 (right) is skipped."])
    assert longrange.kl_models(ds, [1], 3, {}, prof, store)[0] is None  # the dataset could not be loaded

    table, sentence = longrange.kl_comparison(run, files, corpus, 1)
    snaps = Run(run["path"], store).snapshots
    assert len(table) == 2 * len(snaps) > 2 and set(table["baseline"]) == {"1-NN", "2-NN"}
    assert sentence == f"`{run.name}`: {len(snaps)} snapshots, compared on {100 * 100:,} test symbols."
    per_epoch, full = longrange.epoch_batches(run["path"], corpus, store)
    assert per_epoch == 3 and full == data.corpus_splits(corpus).train.n_batches > 3


def test_a_run_shipped_without_its_snapshots_keeps_figure_5_right(lab, tmp_path):
    """``rnnviz runs ship`` keeps the snapshots' KL table beside the run (the snapshots are too large to
    ship); a copy of the run without them gives the same Figure 5 (right), only against the very n-NN
    it was computed with."""
    import shutil

    from rnnviz_lib import shipped
    from rnnviz_lib.errors import RnnvizError
    from rnnviz_lib.store import SNAPSHOT_KL_FILE

    store, ds, prof, corpus = lab
    run, files, _ = longrange.kl_models(ds, [1, 2], 3, {ds: corpus}, prof, store)
    own = tmp_path / "own" / Path(run["path"]).name
    shutil.copytree(run["path"], own)  # the store's run, snapshots and all (the lab's stays untouched)
    assert not longrange.snapshot_kl_current(own, files)
    f = longrange.write_snapshot_kl(own, corpus, files, batches=1, command="rnnviz runs ship ...")
    assert f == own / SNAPSHOT_KL_FILE and longrange.snapshot_kl_current(own, files, batches=1)
    assert not longrange.snapshot_kl_current(own, files, batches=2)  # another comparison: recomputed
    assert not longrange.snapshot_kl_current(own, {"1-NN": files["1-NN"]}, batches=1)
    fresh, _ = longrange.kl_comparison(run, files, corpus, 1)

    bare = tmp_path / "shipped" / own.name  # as shipped: FILES and the table, no snapshots
    bare.mkdir(parents=True)
    for name in shipped.run_files(own):
        shutil.copy2(own / name, bare / name)
    assert shipped.run_files(own) == (*shipped.FILES, SNAPSHOT_KL_FILE) and not (bare / "snapshots").exists()
    n = len(Run(own, store).snapshots)
    assert longrange.snapshot_count(bare) == n > 1 and longrange.snapshot_count(tmp_path) == 0
    row = pd.Series({"cell": "lstm", "layers": 3, "path": str(bare)}, name="shipped-run")
    assert longrange.snapshot_run(pd.DataFrame([row]), 3).name == "shipped-run"
    table, sentence = longrange.kl_comparison(row, files, corpus, 1)
    pd.testing.assert_frame_equal(table, fresh[table.columns.tolist()])
    assert sentence.startswith(f"`shipped-run`: {n} snapshots, compared on {100 * 100:,} test symbols when the run "
                               "was shipped")

    # an n-NN retrained since: its rows are left out, and with none left the figure is skipped
    other = {"1-NN": files["1-NN"], "2-NN": files["1-NN"]}
    table, sentence = longrange.kl_comparison(row, other, corpus, 1)
    assert set(table["baseline"]) == {"1-NN"} and "2-NN differ from the n-NN the table was computed against" in sentence
    table, sentence = longrange.read_snapshot_kl(bare, {"2-NN": files["1-NN"], "7-NN": files["1-NN"]})
    assert table is None and "The table has no 7-NN." in sentence and sentence.endswith("Figure 5 (right) is skipped.")
    (bare / SNAPSHOT_KL_FILE).unlink()
    assert longrange.snapshot_count(bare) == 0 and longrange.kl_comparison(row, files, corpus, 1)[0] is None
    with pytest.raises(RnnvizError, match="needs at least two"):
        longrange.write_snapshot_kl(bare, corpus, files)
    with pytest.raises(RnnvizError, match="no n-NN to compare"):
        longrange.write_snapshot_kl(own, corpus, {})


# ----------------------------------------------------------------------------------------
# 08: Figure 4 and the onion
# ----------------------------------------------------------------------------------------
def test_reference_lstms_prefer_three_layers_and_say_what_stands_in(lab, finished):
    store, ds, _, _ = lab
    ref, notes = error_summary.reference_lstms({ds: finished}, store)
    three = finished[(finished["cell"] == "lstm") & (finished["layers"] == 3)]
    assert notes == [] and ref[ds][0] == three.index[0]
    np.testing.assert_array_equal(ref[ds][1], Run(three.iloc[0]["path"], store).probs())
    ref, notes = error_summary.reference_lstms({ds: finished.drop(index=three.index)}, store)
    one = finished[(finished["cell"] == "lstm") & (finished["layers"] == 1)].index[0]
    assert ref[ds][0] == one and notes == [f"**Note:** no 3-layer LSTM of `{ds}` has finished; Figure 4 uses `{one}`."]
    ref, notes = error_summary.reference_lstms({ds: finished[finished["cell"] == "gru"]}, store)
    assert ref == {} and notes == [f"**Note:** no LSTM of `{ds}` has finished; Figure 4 is skipped for `{ds}`."]


def test_overlaps_and_per_symbol_from_the_store(lab, finished):
    store, ds, prof, corpus = lab
    ref, _ = error_summary.reference_lstms({ds: finished}, store)
    out, notes = error_summary.overlaps(ref, [1, 2, 9], store, prof)
    table, sentence = out[ds]
    name, p = ref[ds]
    grams, _ = errors.baseline_probs(ds, "ngram", [1, 2], store, prof)
    pd.testing.assert_frame_equal(table, errors.error_overlap(p, errors.align(grams, p.shape[1])))
    assert sentence.startswith(f"{ds}: of the {int((p < 0.5).sum()):,} errors of {name}")
    assert notes == [f"**Note:** {ds}: n-grams not found: 9-gram (`rnnviz ngram --dataset {ds}`)."]

    out, notes = error_summary.per_symbol(ref, {ds: corpus}, 3, 5, store, prof)
    table, sentence = out[ds]
    y = data.corpus_splits(corpus).test.y[:, :p.shape[1]]
    labels = [corpus.symbol_label(k) for k in range(corpus.K)]
    g3 = errors.baseline_probs(ds, "ngram", [3], store, prof)[0]["3-gram"][:, :p.shape[1]]
    pd.testing.assert_frame_equal(table, errors.per_symbol_comparison(p, g3, y, labels, ("LSTM", "3-gram"), 5))
    assert notes == [] and sentence.startswith(f"{ds}: the LSTM ({name}) beats the 3-gram on ")
    out, notes = error_summary.per_symbol(ref, {ds: corpus}, 9, 5, store, prof)
    assert out == {} and notes[0].startswith(f"**Note:** {ds}: the 9-gram is missing")
    assert error_summary.per_symbol(ref, {ds: corpus}, 3, 5, store, prof, datasets=[]) == ({}, [])


def test_onion_models_pick_the_best_and_the_small_lstm(finished):
    lstms = finished[finished["cell"] == "lstm"]
    models, notes = onion.onion_models(finished, 16, "x", "lab")
    best = lstms["test_loss"].idxmin()
    assert models["best LSTM"].name == best
    one = lstms[lstms["layers"] == 1].index[0]
    if best == one:  # the 1-layer LSTM is also the best: nothing to compare
        assert list(models) == ["best LSTM"] and "is also the best LSTM" in notes[0]
    else:
        assert models["small LSTM"].name == one and notes == []
    # the same rows with the 1-layer LSTM made the better one, then the worse one
    flip = finished.copy()
    flip.loc[one, "test_loss"] = lstms["test_loss"].min() - 1
    assert list(onion.onion_models(flip, 16)[0]) == ["best LSTM"]
    flip.loc[one, "test_loss"] = lstms["test_loss"].max() + 1
    models, notes = onion.onion_models(flip, 16)
    assert [m.name for m in models.values()] == [lstms.index[lstms.index != one][0], one] and notes == []
    models, notes = onion.onion_models(finished, 128)
    assert list(models) == ["best LSTM"] and notes == ["**Note:** no 1-layer LSTM of row 128 has finished: only the "
                                                       "best LSTM is peeled."]
    assert onion.onion_models(None, 16, "wp", "quick") == ({}, ["**Note:** no finished LSTM of `wp` in profile "
                                                                "`quick`: the onion is skipped."])


def test_ngram_oracle_keys_by_order_and_peel_runs(lab, finished):
    store, ds, prof, corpus = lab
    grams, notes = onion.ngram_oracle(ds, [1, 2, 3, 8], store, prof)
    assert list(grams) == [2, 3, 4]
    np.testing.assert_array_equal(grams[3], baselines.load_test_probs(ds, "ngram", 2, store, profile=prof))
    assert notes == ["**Note:** the n-gram oracle uses only the n-grams found (1-gram, 2-gram, 3-gram); missing: 8-gram."]
    lstms = finished[finished["cell"] == "lstm"]
    models = {"best LSTM": lstms.iloc[0], "small LSTM": lstms.iloc[1]}
    layers, tables, sentence = onion.peel_runs(models, corpus, grams, store)
    T = int(lstms["test_columns"].min())
    feats = onion.onion_features(corpus, data.corpus_splits(corpus), grams).head(T)
    for label, m in models.items():
        ref = onion.assign_layers(Run(m["path"], store).probs()[:, :T], feats)
        np.testing.assert_array_equal(layers[label], ref)
        pd.testing.assert_frame_equal(tables[label], onion.onion_table(ref))
    n = feats.shape[0] * T
    assert sentence.endswith(f"; {n:,} test symbols judged.")
    assert f"best LSTM = `{lstms.index[0]}` (test loss {lstms.iloc[0]['test_loss']:.3f}, " in sentence
    summary, comparison, verdict = onion.onion_summary(layers)  # B·T by default
    assert comparison.at["test symbols", "ours"] == n
    again, _, verdict_n = onion.onion_summary(layers, n)
    pd.testing.assert_frame_equal(summary, again)
    assert verdict == verdict_n
