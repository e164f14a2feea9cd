"""Figure 1 (right): the model t-SNE is reproducible, and group separation measures clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnviz_lib.analysis import tsne
from rnnviz_lib.errors import RnnvizError


def _models(seed: int = 0):
    """Eight fake models of shape (B, T) = (3, 40): two cell types whose probabilities differ
    systematically, two sizes that do not matter."""
    rng = np.random.default_rng(seed)
    base = {"lstm": rng.random((3, 40)), "rnn": rng.random((3, 40))}
    probs, rows = {}, []
    for cell in ("lstm", "rnn"):
        for size in (64, 128):
            for depth in (1, 2):
                name = f"{cell}{depth}-{size}"
                probs[name] = np.clip(base[cell] + 0.05 * rng.standard_normal((3, 40)), 0, 1).astype(np.float32)
                rows.append({"cell": cell, "size": size, "depth": depth, "label": name})
    return probs, pd.DataFrame(rows)


def test_probability_matrix_subsamples_the_same_positions_for_every_model():
    probs, _ = _models()
    X, names = tsne.probability_matrix(probs, max_symbols=50, seed=1)
    assert X.shape == (8, 50) and names == list(probs)
    X2, _ = tsne.probability_matrix(probs, max_symbols=50, seed=1)
    assert np.array_equal(X, X2)
    full, _ = tsne.probability_matrix(probs)
    assert full.shape == (8, 120)
    # every kept column is one original position, the same for all models
    cols = [int(np.flatnonzero((full == X[:, [j]]).all(axis=0))[0]) for j in range(5)]
    assert cols == sorted(cols)
    with pytest.raises(RnnvizError, match="no models"):
        tsne.probability_matrix({})


def test_embedding_is_seeded_and_reproducible():
    probs, _ = _models()
    X, _ = tsne.probability_matrix(probs)
    Y1, Y2 = tsne.embed(X, seed=7), tsne.embed(X, seed=7)
    assert Y1.shape == (8, 2) and np.array_equal(Y1, Y2)
    assert tsne.perplexity_for(8) == pytest.approx(7 / 3)
    assert tsne.perplexity_for(200) == 30.0
    with pytest.raises(RnnvizError, match="at least 4 models"):
        tsne.embed(X[:3])


def test_group_separation_finds_the_attribute_models_cluster_by():
    probs, meta = _models()
    X, _ = tsne.probability_matrix(probs)
    sep = tsne.group_separation(X, meta, by=("cell", "size", "depth"))
    assert sep.loc["cell", "ratio"] < 0.5 < sep.loc["size", "ratio"]
    assert sep.loc["cell", "silhouette"] > 0.5 > sep.loc["size", "silhouette"]
    assert sep["ratio"].idxmin() == "cell"
    assert sep.loc["cell", "groups"] == 2
    # an attribute whose only other group is a single model says nothing about grouping
    lone = meta.assign(size=[128] + [64] * (len(meta) - 1))
    assert np.isnan(tsne.group_separation(X, lone, by=("size", "cell")).loc["size", "ratio"])
    # the embedding keeps the grouping
    Y = tsne.embed(X, seed=0)
    assert tsne.group_separation(Y, meta, by=("cell",)).loc["cell", "ratio"] < 0.5


def test_nearest_model():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [0.9, 0.2]])
    names = ["lstm", "gru", "2-gram", "3-gram"]
    t = tsne.nearest(X, names, ["lstm", "gru"], ["2-gram", "3-gram"])
    assert t["nearest"].tolist() == ["3-gram", "3-gram"]
    assert t.loc["gru", "distance"] == pytest.approx(np.hypot(0.1, 0.2))
    with pytest.raises(RnnvizError, match="unknown"):
        tsne.nearest(X, names, ["nope"], ["2-gram"])
