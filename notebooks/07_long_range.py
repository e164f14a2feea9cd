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
# # Figure 5: long-range interactions, closing braces and the LSTM's first epochs
#
# Left: on the Linux kernel code, the mean probability that the best LSTM and the 20-gram give a
# closing brace `}`, bucketed by how far back its matching `{` is. A 20-gram sees 20 symbols,
# so beyond that distance only a model with memory can know a brace is due.
# Right: over the first epochs of training a 3-layer LSTM, how close its predictions are to
# each n-NN's (symmetric KL divergence of the predictive distributions on test symbols), and
# the test-loss difference (n-NN − LSTM, positive when the LSTM is better). The paper reads
# this as the LSTM learning short-range structure first.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's models, tables and figures
datasets: list = ["wp"]  # the profile's datasets: Figure 5 left runs only if brace_dataset is among them
brace_dataset: str = "lk"  # Figure 5 left needs braces: the Linux kernel code
compare_ngram_n: int = 20  # the n-gram compared with the LSTM, the paper's 20-gram (order 21)
distance_edges: list = [1, 6, 11, 21, 41, 61, 81, 101, 201, 501, 1001]  # lower edges of the distance buckets
kl_dataset: str = "wp"  # dataset of the LSTM snapshots for Figure 5 right
kl_layers: int = 3  # depth of the LSTM whose snapshots are compared (the paper's 3-layer LSTM)
kl_nnn_ns: list = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # n-NN context lengths compared
kl_batches: int = 4  # test batches of B x S symbols on which distributions are compared

# %%
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from rnnviz_lib import data, plotting
from rnnviz_lib.analysis import longrange
from rnnviz_lib.store import Store

store = Store.for_profile(profile)  # a rehearsal reads no shipped run
corpora, unavailable = data.load_available(sorted({kl_dataset} | ({brace_dataset} & set(datasets))))
lstm, grams, notes = longrange.brace_models(brace_dataset, datasets, corpora, profile, compare_ngram_n, store)
display(Markdown("\n\n".join([f"**Note:** dataset `{ds}` is not available: {why}" for ds, why in unavailable.items()]
                              + notes)))

# %%
if lstm is not None or grams:
    buckets, names, verdict_5a, left_out = longrange.brace_figure(corpora[brace_dataset], lstm, grams, compare_ngram_n,
                                                                  distance_edges, store)
    store.save_table(buckets.round(4), f"fig5_brace_distance_{brace_dataset}", profile,
                     f"Figure 5 (left): mean probability of `}}` by distance to its matching `{{` (symbols), "
                     f"{' vs '.join(names)}, on the {brace_dataset} test split. {left_out} " + verdict_5a)
    ax = plotting.plot_brace_distance(buckets, ("LSTM", f"{compare_ngram_n}-gram"), compare_ngram_n,
                                      title=f"{brace_dataset}: p(}}) by distance to its {{")
    store.save_figure(ax.figure, f"fig5_brace_distance_{brace_dataset}", profile,
                      f"Figure 5 (left): mean p(}}) per distance bucket, {' (red) vs '.join(names)} (blue). {verdict_5a}")
    display(Markdown(verdict_5a))
    display(buckets.round(3))

# %% [markdown]
# Braces are matched with a stack inside each test stream (each is a contiguous stretch of the
# corpus); a `}` whose `{` lies before the stream's test part is left out, since the LSTM starts
# the test pass with a fresh state and never saw it either. The count above each bucket says how
# many braces it averages: read a bucket's mean with its count, a thin bucket says little.

# %%
snap_run, files, notes = longrange.kl_models(kl_dataset, kl_nnn_ns, kl_layers, corpora, profile, store)
kl_table = None
if files:
    kl_table, sentence = longrange.kl_comparison(snap_run, files, corpora[kl_dataset], kl_batches)
    notes.append(sentence)
display(Markdown("\n\n".join(notes)))

# %%
if kl_table is not None:
    per_epoch, full = longrange.epoch_batches(snap_run["path"], corpora[kl_dataset], store)
    closest, verdict_5b = longrange.kl_summary(kl_table, per_epoch, full)
    store.save_table(kl_table.round(4), f"fig5_kl_training_{kl_dataset}", profile,
                     f"Figure 5 (right), numbers behind it: per snapshot and n-NN, symmetric KL (nats), the two test "
                     f"losses on the compared symbols and Δ = n-NN − LSTM. {verdict_5b}")
    closest["run"] = Path(snap_run["path"]).name  # the run id, for the scorecard's models column
    store.save_table(closest.round(4), f"fig5_closest_nnn_{kl_dataset}", profile,
                     f"Figure 5 (right): the n-NN closest to the LSTM at each snapshot. {verdict_5b}")
    display(Markdown(verdict_5b))
    display(closest.round(3))

# %%
if kl_table is not None:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    xlabel = f"LSTM training epoch{longrange.epoch_note(per_epoch, full)}"
    plotting.plot_kl_over_training(kl_table, "sym_kl", title=f"{snap_run.name}: KL to each n-NN", ax=ax1, xlabel=xlabel)
    plotting.plot_kl_over_training(kl_table, "delta_loss", title="test loss: n-NN − LSTM", ax=ax2, xlabel=xlabel)
    store.save_figure(fig, f"fig5_kl_training_{kl_dataset}", profile,
                      f"Figure 5 (right), {kl_dataset}: symmetric KL between the LSTM's and each n-NN's predictions, and "
                      f"the test-loss difference, over the LSTM's first epochs. {verdict_5b}")

# %% [markdown]
# Figure 5 (right): low KL means similar predictions; a positive Δ loss means the LSTM already
# beats that n-NN. In the paper the LSTM is at first closest to the 1-NN and 2-NN and drifts
# towards the longer-context n-NN as training proceeds, overtaking them one after another.
