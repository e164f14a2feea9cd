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
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from rnnviz_lib import data, plotting, train
from rnnviz_lib.runs import Run
from rnnviz_lib.analysis import errors, longrange
from rnnviz_lib.store import Store

store = Store()
corpora, unavailable = data.load_available(sorted({kl_dataset} | ({brace_dataset} & set(datasets))))
for ds, why in unavailable.items():
    display(Markdown(f"**Note:** dataset `{ds}` is not available: {why}"))
runs = {ds: errors.finished_runs(ds, store, profile=profile) for ds in corpora}
snapshot_runs = errors.finished_runs(kl_dataset, store, profile=profile, extras=True) if kl_dataset in corpora else None
g = f"{compare_ngram_n}-gram"
lstm = errors.pick_run(runs[brace_dataset], "lstm") if brace_dataset in runs else None
grams, why = errors.baseline_probs(brace_dataset, "ngram", [compare_ngram_n], store, profile) if brace_dataset in corpora else ({}, {})
if brace_dataset not in datasets:
    display(Markdown(f"**Note:** `{brace_dataset}` is not among this profile's datasets ({', '.join(datasets)}): "
                     "Figure 5 (left) is skipped."))
elif brace_dataset in unavailable:
    display(Markdown(f"**Note:** Figure 5 (left) needs `{brace_dataset}`; build it with `rnnviz data prepare --dataset lk`."))
else:
    if lstm is None:
        display(Markdown(f"**Note:** no finished LSTM of `{brace_dataset}` in profile `{profile}` (its grid trains none): "
                         + (f"Figure 5 (left) shows the {g} alone." if grams else "Figure 5 (left) is skipped.")))
    if not grams:
        display(Markdown(f"**Note:** the {g} of `{brace_dataset}` is missing ({'; '.join(why.values())})."))
    if lstm is not None:
        display(Markdown(f"Figure 5 (left) uses `{lstm.name}` (test loss {lstm['test_loss']:.3f}), the best LSTM of "
                         f"`{brace_dataset}` in this profile."))

# %%
buckets, verdict_5a = None, ""
if brace_dataset in corpora and (lstm is not None or grams):
    c = corpora[brace_dataset]
    test = data.corpus_splits(c).test
    T = int(lstm["test_columns"]) if lstm is not None else test.y.shape[1]
    dist = longrange.brace_distances(test, *c.encode("{}").tolist())[:, :T]
    closing = int((test.y[:, :T] == c.encode("}")[0]).sum())
    curves = ({"LSTM": train.load_probs(lstm["path"], store)[:, :T]} if lstm is not None else {}) | errors.align(grams, T)
    names = tuple(curves)
    buckets, verdict_5a = longrange.brace_summary(dist, curves, compare_ngram_n, brace_dataset, distance_edges)
    store.save_table(buckets.round(4), f"fig5_brace_distance_{brace_dataset}", profile,
                     f"Figure 5 (left): mean probability of `}}` by distance to its matching `{{` (symbols), "
                     f"{' vs '.join(names)}, on the {brace_dataset} test split. {closing - int(buckets['count'].sum()):,} "
                     f"of {closing:,} closing braces have their `{{` before the stream's test part and are left out. "
                     + verdict_5a)
    ax = plotting.plot_brace_distance(buckets, ("LSTM", g), compare_ngram_n, title=f"{brace_dataset}: p(}}) by distance to its {{")
    store.save_figure(ax.figure, f"fig5_brace_distance_{brace_dataset}", profile,
                      f"Figure 5 (left): mean p(}}) per distance bucket, {' (red) vs '.join(names)} (blue). {verdict_5a}")
    display(Markdown(verdict_5a))
    display(buckets.round(3))

# %% [markdown]
# Braces are matched with a stack inside each test stream (each is a contiguous stretch of the
# corpus); a `}` whose `{` lies before the stream's test part is left out, since the LSTM starts
# the test pass with a fresh state and never saw it either. The count above each bucket says how
# many braces it averages: the far buckets are thin, so read them with their counts.

# %%
kl_table = None
snap_run = longrange.snapshot_run(snapshot_runs, kl_layers)
files, why = longrange.nnn_model_files(kl_dataset, kl_nnn_ns, store, profile) if snap_run is not None else ({}, {})
if snap_run is None:
    display(Markdown(f"**Note:** no LSTM of `{kl_dataset}` with weight snapshots in profile `{profile}` (the grid's "
                     "`snapshots:` option keeps them): Figure 5 (right) is skipped."))
elif not files:
    display(Markdown(f"**Note:** no n-NN baselines of `{kl_dataset}` found ({'; '.join(why.values())}): Figure 5 (right) is skipped."))
else:
    if why:
        display(Markdown(f"**Note:** n-NN not found: {', '.join(why)}; comparing with {', '.join(files)}."))
    if snap_run["layers"] != kl_layers:
        display(Markdown(f"**Note:** no {kl_layers}-layer LSTM has snapshots; using `{snap_run.name}`."))
    test = data.corpus_splits(corpora[kl_dataset]).test
    Q = {label: longrange.nnn_distributions(f, test, T=kl_batches * test.seq_length) for label, f in files.items()}
    kl_table = longrange.kl_over_training(longrange.snapshot_distributions(snap_run["path"], test, kl_batches), Q, test.y)
    display(Markdown(f"`{snap_run.name}`: {kl_table['step'].nunique()} snapshots, compared on "
                     f"{test.y.shape[0] * kl_batches * test.seq_length:,} test symbols."))

# %%
if kl_table is not None:
    per_epoch = int(Run(snap_run["path"], store).config.get("max_train_batches") or 0)
    full = data.corpus_splits(corpora[kl_dataset]).train.n_batches  # batches in a whole epoch
    closest, verdict_5b = longrange.kl_summary(kl_table, per_epoch, full)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    xlabel = f"LSTM training epoch{longrange.epoch_note(per_epoch, full)}"
    plotting.plot_kl_over_training(kl_table, "sym_kl", title=f"{snap_run.name}: KL to each n-NN", ax=ax1, xlabel=xlabel)
    plotting.plot_kl_over_training(kl_table, "delta_loss", title="test loss: n-NN − LSTM", ax=ax2, xlabel=xlabel)
    store.save_figure(fig, f"fig5_kl_training_{kl_dataset}", profile,
                      f"Figure 5 (right), {kl_dataset}: symmetric KL between the LSTM's and each n-NN's predictions, and "
                      f"the test-loss difference, over the LSTM's first epochs. {verdict_5b}")
    store.save_table(kl_table.round(4), f"fig5_kl_training_{kl_dataset}", profile,
                     f"Figure 5 (right), numbers behind it: per snapshot and n-NN, symmetric KL (nats), the two test "
                     f"losses on the compared symbols and Δ = n-NN − LSTM. {verdict_5b}")
    store.save_table(closest.round(4), f"fig5_closest_nnn_{kl_dataset}", profile,
                     f"Figure 5 (right): the n-NN closest to the LSTM at each snapshot. {verdict_5b}")
    display(Markdown(verdict_5b))
    display(closest.round(3))

# %% [markdown]
# Figure 5 (right): low KL means similar predictions; a positive Δ loss means the LSTM already
# beats that n-NN. In the paper the LSTM is at first closest to the 1-NN and 2-NN and drifts
# towards the longer-context n-NN as training proceeds, overtaking them one after another.
