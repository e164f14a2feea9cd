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
# # Table 2: n-gram and n-NN baselines (§4.2)
#
# The paper compares its RNNs with two baselines that see only the last n symbols: an
# (n+1)-gram language model with interpolated **modified Kneser-Ney** smoothing (Chen & Goodman:
# three discounts D1, D2, D3+ per order from the count-of-counts), unpruned, and the **n-NN**, a
# feed-forward network with one tanh hidden layer over the one-hot vectors of the n previous
# symbols. Both are trained on the train part of the char-rnn split (each of the 100 streams one
# sequence, so no context crosses a stream) and scored on exactly the RNNs' 330,000 (WP) test
# symbols; the first test targets of each stream see only the test symbols before them, as the
# RNN does after its state reset. Per-symbol test probabilities are saved for the figures of §4.3–4.4.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's n-NN recipe (section `baselines:`), tables and figures
datasets: list = ["wp"]  # corpora: wp, lk (left out with a note when not available)
ngram_orders: list = [2, 3, 4, 5, 6, 7, 8, 9, 10, 21]  # full n-gram orders (Table 2's n + 1)
nnn_ns: list = [1, 2]  # n-NN context lengths (the paper reports 1..6)
nnn_reference: str = "paper"  # also show n-NN already trained by this recipe profile (read, never trained here); empty for none
rnn_reference: str = ""  # when `profile` has no RNN scored on the whole test set, the best RNN of this profile (labelled); empty for none

# %%
import pandas as pd
from IPython.display import Markdown, display

from rnnviz_lib import baselines, paper, plotting, report, runs
from rnnviz_lib.data import load_available
from rnnviz_lib.store import Store

store = Store()
corpora, unavailable = load_available(datasets)
display(Markdown("\n".join(f"- **Note:** dataset `{ds}` is not available, so it is left out: {why}"
                           for ds, why in unavailable.items()) or f"Datasets: {', '.join(corpora)}."))

# %% [markdown]
# A dataset listed in a note could not be loaded (the Linux corpus must be built first, see
# `rnnviz data prepare --dataset lk`); every table below covers the others.

# %%
ngram = {ds: baselines.run_ngrams(c, ngram_orders, store) for ds, c in corpora.items()}
rows = []
for ds, r in ngram.items():
    for o, loss in r["orders"].items():
        p = paper.TABLE2.get(ds, {}).get("n-gram", {}).get(int(o) - 1)
        rows.append({"dataset": ds, "order": int(o), "n": int(o) - 1, "ours": loss, "paper": p,
                     "diff": None if p is None else loss - p, "model MB": r["model_bytes"][o] / 1e6})
ngram_table = pd.DataFrame(rows).set_index(["dataset", "order"])
display(Markdown("; ".join(f"`{ds}`: {r['test_symbols']:,} test symbols, counted to order {max(ngram_orders)} in "
                           f"{r['seconds']['fit']:.1f} s and scored in {r['seconds']['score']:.1f} s"
                           + (f" (orders {r['cached']} read from cache)" if r["cached"] else "")
                           for ds, r in ngram.items())))
display(Markdown(report.paper_gap_summary(ngram_table, "n-gram row", 0.01)[1]))
ngram_table.round(4)

# %% [markdown]
# On War and Peace every n-gram cell should lie within ±0.01 nats of the paper (the sentence above
# says how far ours lie): the loss falls steeply up to n ≈ 5, then flattens at the paper's ≈ 1.19 —
# more context does not help an n-gram model that has seen every long context once or never. Our Linux
# corpus is a stand-in built from a current kernel, so its row is compared without a target.

# %%
recipe = baselines.profile_params(profile)
nnn = {ds: baselines.run_nnn(c, nnn_ns, recipe, store) for ds, c in corpora.items()}
rows = []
for ds, r in nnn.items():
    for n, loss in r["losses"].items():
        p = paper.TABLE2.get(ds, {}).get("n-NN", {}).get(n)
        H = r["selected_hidden"][n]
        rows.append({"dataset": ds, "n": n, "hidden": H, "val (per hidden size)": r["val"][n], "ours": loss,
                     "paper": p, "diff": None if p is None else loss - p,
                     "train s": r["train_seconds"][n][H]})
nnn_table = pd.DataFrame(rows).set_index(["dataset", "n"])
display(Markdown(f"n-NN recipe of profile `{profile}`: {baselines.nnn_params(recipe)}. "
                 + report.paper_gap_summary(nnn_table, "n-NN row", 0.02)[1]))
nnn_table.round(4)

# %%
extra, found = {}, {}
if nnn_reference and nnn_reference != profile:
    found = {ds: t for ds, c in corpora.items() if len(t := baselines.trained_nnn(c, nnn_ns, nnn_reference, store))}
    extra = {ds: {f"n-NN ({nnn_reference} recipe, {baselines.origin_label(t['origin'])})": t["ours"].to_dict()}
             for ds, t in found.items()}
if found:
    display(Markdown(f"n-NN models of the `{nnn_reference}` recipe were found, shipped with the code "
                     f"(`data/runs/baselines/`) or trained earlier in this store (column `origin`; recipe "
                     f"{baselines.nnn_params(baselines.profile_params(nnn_reference))}); they are read, not trained, "
                     "and shown as an extra row of Table 2:"))
    found_table = pd.concat(found, names=["dataset"])
    display(found_table.round(4))
    display(Markdown(report.paper_gap_summary(found_table, f"n-NN ({nnn_reference} recipe)", 0.02)[1]))
elif nnn_reference and nnn_reference != profile:
    display(Markdown(f"No n-NN trained by the `{nnn_reference}` recipe is in this store (train them with "
                     f"`rnnviz nnn --dataset DS --n 1,2,3,4,5,6,7,8,9 --profile {nnn_reference}`)."))

# %% [markdown]
# The n-NN follows the paper's optimiser (RMSProp, lr 2e-3, smoothing 0.95) with early stopping
# on the validation loss. Where the profile lists several hidden sizes, each is trained and the
# one with the best validation loss is kept ("hidden"; "val (per hidden size)" shows each size's
# validation loss); otherwise the size is the profile's choice (512 by default: in such a
# comparison at n = 4 with the paper recipe, 1024 was barely better than 512 at twice the time,
# and 256 clearly worse). The paper does not state the n-NN's initialisation; PyTorch's defaults
# are used (the RNNs' ±0.08 leaves this shallow net on a long plateau). Short profiles stop long
# before convergence, so their n-NN row sits well above the paper's; the paper profile trains to
# early stopping (30 epochs at most; `train s` gives each model's training time).
#
# The paper recipe's n-NN (`rnnviz nnn --dataset wp --n 1,2,3,4,5,6,7,8,9 --profile paper`) are
# read from the store when they are there (`nnn_reference`) and shown above with a sentence
# saying which n lie within 0.02 nats of the paper. Read a gap at n = 4 against the paper's own
# curve: its n-NN losses (2.399, 1.931, 1.553, 1.451, 1.339, 1.321 for n = 1…6) fall 0.47, 0.38,
# 0.10, 0.11 and 0.02, a bump at n = 4 that a curve flattening like the n-gram row's does not
# have, which points to an under-trained model in the paper rather than a difference in the model.

# %%
own_row = {} if profile == "paper" else {"n-NN": f"n-NN ({profile} recipe)"}  # say which recipe each n-NN row used
tables = {}
for ds in corpora:
    tables[ds] = baselines.table2(ds, ngram[ds]["orders"], nnn[ds]["losses"], extra=extra.get(ds)).rename(index=own_row)
    store.save_table(tables[ds], f"table2_{ds}", profile,
                     f"Table 2 ({ds}): test cross-entropy (nats) of the (n+1)-gram and n-NN baselines, "
                     "ours (paper, difference).")
pd.concat(tables, names=["dataset"]) if tables else None

# %% [markdown]
# Table 2, each cell "ours (paper, Δ)". The paper stopped the n-NN at n = 6; our n = 7…9 cells
# have no paper value. The n-NN falls behind the n-gram from n ≈ 3 on in the paper: one hidden
# layer over n one-hot vectors has to learn what the n-gram simply counts.

# %%
for ds in corpora:
    ours, theirs = (f.rename(index=own_row) for f in
                    baselines.table2_frames(ds, ngram[ds]["orders"], nnn[ds]["losses"], extra=extra.get(ds)))
    store.save_table(ours.round(4), f"table2_{ds}_ours", profile, f"Table 2 ({ds}): our test cross-entropy (nats).")
    rnn = runs.best_rnn(ds, profile, store)
    if rnn is None and rnn_reference and rnn_reference != profile:  # asked for: another profile's runs, named
        rnn = runs.best_rnn(ds, rnn_reference, store)
    rnn_label = rnn and (rnn["slug"] if rnn["profile"] == profile else f"{rnn['slug']}, profile {rnn['profile']}")
    ax = plotting.plot_loss_vs_context(
        ours, theirs if ds in paper.TABLE2 else None,
        best_rnn=None if rnn is None else (rnn_label, rnn["test_loss"]),
        note=f"no RNN of {ds} scored on the whole test set in profile {profile} (best RNN not shown)",
        title=f"{ds}: test loss against context length")
    store.save_figure(ax.figure, f"table2_{ds}", profile,
                      f"Table 2 ({ds}) as a plot: test loss of the n-gram and n-NN against n, ours (solid) and the "
                      "paper's (dashed), with the best finished RNN when there is one.")
    display(Markdown(f"`{ds}`: best RNN " + (f"**{rnn_label}**, {rnn['test_loss']:.3f} nats" if rnn else
                                             f"not available: no finished RNN of profile `{profile}` was scored on the "
                                             "whole test set")))

# %% [markdown]
# The paper's point: the best RNN (WP 1.077, LK 0.84) beats even the 20-gram (1.195, 0.889),
# although the 20-gram's file is about 3 GB and the RNN's about 11 MB; the n-gram stops improving
# after n ≈ 7 while the RNN keeps using longer context.
