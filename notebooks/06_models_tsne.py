# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: -all
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Figure 1 (right): a t-SNE map of the models on War and Peace
#
# Each trained model is one point, placed by the vector of probabilities it gives the correct
# test symbols (the per-symbol contract every RNN and baseline shares). As in the paper, colour
# is the cell type, marker size the model size (grid row) and marker shape the depth. Beyond the
# paper, the n-gram and n-NN baselines are added as crosses labelled with their context length.
# The map is scikit-learn's t-SNE with a fixed `random_state` and PCA initialisation, on a
# fixed, seeded subset of test positions; its perplexity is lowered for small sets of points.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's models, tables and figures
dataset: str = "wp"  # the paper's map is War and Peace
max_symbols: int = 50000  # test positions per model vector, a seeded subset (0 for all)
seed: int = 0  # t-SNE random_state and the position subset
include_baselines: bool = True  # add the n-gram and n-NN baselines as extra points (not in the paper)
ngram_ns: list = [1, 2, 3, 4, 5, 6, 7, 8, 9, 20]  # n-gram context lengths to add (the n-gram of n is order n + 1)
nnn_ns: list = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # n-NN context lengths to add

# %%
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from rnnviz_lib import evaluate, plotting, train
from rnnviz_lib.analysis import errors, tsne
from rnnviz_lib.store import Store

store = Store()
runs = errors.finished_runs(dataset, store, profile=profile)
base, missing = {}, {}
if include_baselines:
    for kind, ns in (("ngram", ngram_ns), ("nnn", nnn_ns)):
        found, why = errors.baseline_probs(dataset, kind, ns, store, profile)
        base.update(found)
        missing.update(why)
display(Markdown(f"**{len(runs)} finished RNN runs** of `{dataset}` in profile `{profile}`; "
                 f"**{len(base)} baselines** found" + (f", {len(missing)} not found: {', '.join(missing)}" if missing else "") + "."))
runs.drop(columns="path")

# %% [markdown]
# The models of this profile's grid that have finished, best first. The paper maps all 36 of its
# War and Peace models; smaller profiles have fewer.

# %%
T = int(runs["test_columns"].min()) if len(runs) else 0
probs = {slug: train.load_probs(row["path"], store)[:, :T] for slug, row in runs.iterrows()}
probs.update(errors.align(base, T) if T else {})
meta = pd.DataFrame(
    [{"model": s, "cell": r["cell"], "size": r["size"], "depth": r["layers"], "label": s, "test_loss": r["test_loss"]}
     for s, r in runs.iterrows()]
    + [{"model": s, "cell": "n-gram" if s.endswith("gram") else "n-NN", "size": np.nan, "depth": np.nan,
        "label": s.split("-")[0], "test_loss": evaluate.cross_entropy(p)}
       for s, p in base.items() if T])
enough = len(meta) >= tsne.MIN_POINTS
if not enough:
    display(Markdown(f"**Not enough models for a t-SNE map:** {len(meta)} found, at least {tsne.MIN_POINTS} needed. "
                     f"Train the grid of profile `{profile}` (`rnnviz report --profile {profile}` runs it)."))
else:
    X, names = tsne.probability_matrix(dict(zip(meta["model"], (probs[m] for m in meta["model"]))), max_symbols, seed)
    Y = tsne.embed(X, seed=seed)
    meta["x"], meta["y"] = Y[:, 0], Y[:, 1]
    display(Markdown(f"Embedded {len(meta)} models from {X.shape[1]:,} test positions each "
                     f"(perplexity {tsne.perplexity_for(len(meta)):.1f})."))

# %%
rnn = meta["cell"].isin(["lstm", "gru", "rnn"]).to_numpy() if enough else np.zeros(0, bool)
sep = None
if enough and rnn.sum() >= 3:
    sep = tsne.group_separation(X[rnn], meta[rnn], by=("cell", "size", "depth"))
    sep_2d = tsne.group_separation(Y[rnn], meta[rnn], by=("cell", "size", "depth"))
    sep = sep.join(sep_2d[["ratio", "silhouette"]], rsuffix=" (map)")
    valid = sep["ratio"].dropna()
    strongest = valid.idxmin() if len(valid) else None
    others = ", ".join(f"{a} {r:.2f}×" for a, r in valid.items() if a != strongest)
    verdict = (f"Our {int(rnn.sum())} RNNs cluster most by {strongest} (mean distance within a group is "
               f"{valid[strongest]:.2f}× that between groups" + (f"; {others})." if others else ").")
               if strongest else "Too few models per group to say how they cluster.")
    store.save_table(sep.round(4), "fig1_tsne_grouping", profile,
                     "Figure 1 (right), numbers behind it: how strongly the RNNs cluster by cell type, size and depth, "
                     "in probability space and on the map (ratio = mean within-group / between-group distance; "
                     f"below 1 clusters; the paper states no number). {verdict}")
    display(Markdown(verdict))
    display(sep)
elif enough:
    verdict = "Fewer than three RNNs: no grouping to measure."
    display(Markdown(verdict))

# %% [markdown]
# How models group: for each attribute, the mean distance between models that share it against
# the mean distance between models that differ (a ratio below 1 means they cluster), measured
# both between the probability vectors and on the 2-D map, with scikit-learn's silhouette score.
# The paper draws its map without a number; this table makes the grouping it shows checkable.

# %%
if enough:
    ax = plotting.plot_model_tsne(Y, meta, title=f"{dataset}: t-SNE of models by test-symbol probabilities")
    store.save_figure(ax.figure, "fig1_tsne", profile,
                      f"Figure 1 (right) on {dataset}: one point per model (colour = cell, size = grid row, marker = "
                      f"depth; crosses = n-gram, plus = n-NN baselines, labelled by n). "
                      + (verdict if sep is not None else ""))
    store.save_table(meta.set_index("model").round(4), "fig1_tsne_points", profile,
                     f"Figure 1 (right): coordinates of every model on the t-SNE map of {dataset}, with its test loss.")
    display(meta.set_index("model").round(3))

# %%
if enough and rnn.any() and (~rnn).any():
    near = tsne.nearest(X, names, meta.loc[rnn, "model"], meta.loc[~rnn, "model"])
    loss = meta.set_index("model")["test_loss"]
    near["test_loss"], near["nearest test_loss"] = loss.reindex(near.index).values, loss.reindex(near["nearest"]).values
    counts = near["nearest"].value_counts()
    verdict_near = (f"Nearest baseline of each of the {len(near)} RNNs: "
                    + ", ".join(f"{b} ({k})" for b, k in counts.items()) + ".")
    store.save_table(near.round(4), "fig1_tsne_nearest_baseline", profile,
                     "Figure 1 (right), beyond the paper: the baseline whose test-symbol probabilities are closest to each "
                     f"RNN's (Euclidean distance), with both test losses (nats). {verdict_near}")
    display(Markdown(verdict_near))
    display(near.round(3))

# %% [markdown]
# The paper's map has only the RNNs. With the baselines added, the table above places each RNN
# against the fixed-context models: the baseline whose per-symbol probabilities are closest to
# its own. Closeness here is about *which* symbols a model gets right, not only how many, so the
# nearest baseline need not be the one with the nearest test loss. The briefly trained smoke
# and quick models are far from the paper's (its best War and Peace RNN reaches 1.077 nats,
# below the 20-gram's 1.195), so their place on this map says little about fully trained ones.
