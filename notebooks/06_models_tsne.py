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
from IPython.display import Markdown, display

from rnnviz_lib import plotting
from rnnviz_lib.analysis import tsne
from rnnviz_lib.store import Store

store = Store.for_profile(profile)  # a rehearsal reads no shipped run
runs, base, sentence = tsne.map_inputs(dataset, profile, store, ngram_ns if include_baselines else [],
                                       nnn_ns if include_baselines else [])
display(Markdown(sentence))
runs.drop(columns="path")

# %% [markdown]
# The models of this profile's grid that have finished, best first. The paper maps all 36 of its
# War and Peace models; smaller profiles have fewer.

# %%
meta, probs = tsne.model_points(runs, base, store)
meta, X, Y, sentence = tsne.model_map(meta, probs, max_symbols, seed, profile)
display(Markdown(sentence))

# %%
sep, verdict = tsne.grouping(X, Y, meta)
if sep is not None:
    store.save_table(sep.round(4), "fig1_tsne_grouping", profile,
                     "Figure 1 (right), numbers behind it: how strongly the RNNs cluster by cell type, size and depth, "
                     "in probability space and on the map (ratio = mean within-group / between-group distance; "
                     f"below 1 clusters; the paper states no number). {verdict}")
if verdict:
    display(Markdown(verdict))
sep

# %% [markdown]
# How models group: for each attribute, the mean distance between models that share it against
# the mean distance between models that differ (a ratio below 1 means they cluster), measured
# both between the probability vectors and on the 2-D map, with scikit-learn's silhouette score.
# The paper draws its map without a number; this table makes the grouping it shows checkable.

# %%
if Y is not None:
    ax = plotting.plot_model_tsne(Y, meta, title=f"{dataset}: t-SNE of models by test-symbol probabilities")
    store.save_figure(ax.figure, "fig1_tsne", profile,
                      f"Figure 1 (right) on {dataset}: one point per model (colour = cell, size = grid row, marker = "
                      f"depth; crosses = n-gram, plus = n-NN baselines, labelled by n). "
                      + (verdict if sep is not None else ""))
    store.save_table(meta.set_index("model").round(4), "fig1_tsne_points", profile,
                     f"Figure 1 (right): coordinates of every model on the t-SNE map of {dataset}, with its test loss.")
    display(meta.set_index("model").round(3))

# %%
near, verdict_near = tsne.nearest_baselines(X, meta)
if near is not None:
    store.save_table(near.round(4), "fig1_tsne_nearest_baseline", profile,
                     "Figure 1 (right), beyond the paper: the baseline whose test-symbol probabilities are closest to each "
                     f"RNN's (Euclidean distance), with both test losses (nats). {verdict_near}")
    display(Markdown(verdict_near))
    display(near.round(3))

# %% [markdown]
# The paper's map has only the RNNs. With the baselines added, the table above places each RNN
# against the fixed-context models: the baseline whose per-symbol probabilities are closest to
# its own. Closeness here is about *which* symbols a model gets right, not only how many, so the
# nearest baseline need not be the one with the nearest test loss. A briefly trained RNN is far
# from the paper's fully trained ones: read its place on the map with its test loss (the tables
# above), beside Table 1's and Table 2's.
