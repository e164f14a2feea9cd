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
# sequence, so no context crosses a stream) and scored on exactly the RNNs' test symbols (the
# sentence under the n-gram table counts them); the first test targets of each stream see only
# the test symbols before them, as the RNN does after its state reset. Per-symbol test
# probabilities are saved for the figures of §4.3–4.4.

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

from rnnviz_lib import baselines, plotting, report
from rnnviz_lib.analysis import table2
from rnnviz_lib.data import load_available
from rnnviz_lib.store import Store

store = Store.for_profile(profile)  # a rehearsal reads no shipped run
corpora, unavailable = load_available(datasets)
display(Markdown("\n".join(f"- **Note:** dataset `{ds}` is not available, so it is left out: {why}"
                           for ds, why in unavailable.items()) or f"Datasets: {', '.join(corpora)}."))

# %% [markdown]
# A dataset listed in a note could not be loaded (the Linux corpus must be built first, see
# `rnnviz data prepare --dataset lk`); every table below covers the others.

# %%
ngram = {ds: baselines.run_ngrams(c, ngram_orders, store) for ds, c in corpora.items()}
ngram_table, sentence = table2.ngram_rows(ngram)
display(Markdown(sentence + "\n\n" + report.paper_gap_summary(ngram_table, "n-gram row", 0.01)[1]))
ngram_table.round(4)

# %% [markdown]
# The same smoothing on the same split should land each War and Peace n-gram cell within ±0.01
# nats of the paper's; the sentence above says how many do and how far the others lie. In the
# paper the loss falls steeply at small n, then flattens: more context does not help an n-gram
# model that has seen every long context once or never. Our Linux corpus is a stand-in built from
# a current kernel, so its row is compared without a target.

# %%
recipe = baselines.profile_params(profile)
nnn = {ds: baselines.run_nnn(c, nnn_ns, recipe, store) for ds, c in corpora.items()}
nnn_table, sentence = table2.nnn_rows(nnn, recipe, profile)
display(Markdown(sentence + " " + report.paper_gap_summary(nnn_table, "n-NN row", 0.02)[1]))
nnn_table.round(4)

# %%
extra, found, sentence = table2.reference_nnn(corpora, nnn_ns, nnn_reference, profile, store)
display(Markdown(sentence))
if found is not None:
    display(found.round(4), Markdown(report.paper_gap_summary(found, f"n-NN ({nnn_reference} recipe)", 0.02)[1]))

# %% [markdown]
# The n-NN follows the paper's optimiser (RMSProp, lr 2e-3, smoothing 0.95) with early stopping
# on the validation loss. Where the profile lists several hidden sizes, each is trained and the
# one with the best validation loss is kept ("hidden"; "val (per hidden size)" shows each size's
# validation loss); otherwise the size is the profile's choice (its `baselines:` section says
# why). The paper does not state the n-NN's initialisation; PyTorch's defaults are used (the
# RNNs' ±0.08 leaves this shallow net on a long plateau). Short profiles stop long before
# convergence, so read their n-NN row's distance from the paper's (the sentence above) with that
# in mind; the paper profile trains to early stopping (`train s` gives each model's training time).
#
# The paper recipe's n-NN (`rnnviz nnn --dataset wp --n 1,2,3,4,5,6,7,8,9 --profile paper`) are
# read from the store when they are there (`nnn_reference`) and shown above with a sentence
# saying which n lie within 0.02 nats of the paper. Read a gap at n = 4 against the paper's own
# curve, whose steps the sentence above the n-NN table gives: on War and Peace its fall from n = 3
# to 4 is smaller than the next one, a bump that a curve flattening like the n-gram row's does not
# have, which points to an under-trained model in the paper rather than a difference in the model.

# %%
frames = {ds: table2.frames(ds, ngram[ds], nnn[ds], profile, extra.get(ds)) for ds in corpora}
for ds, (table, _, _) in frames.items():
    store.save_table(table, f"table2_{ds}", profile,
                     f"Table 2 ({ds}): test cross-entropy (nats) of the (n+1)-gram and n-NN baselines, "
                     "ours (paper, difference).")
pd.concat({ds: f[0] for ds, f in frames.items()}, names=["dataset"]) if frames else None

# %% [markdown]
# Table 2, each cell "ours (paper, Δ)". The paper stopped the n-NN at n = 6; our n = 7…9 cells
# have no paper value. The n-NN falls behind the n-gram from n ≈ 3 on in the paper: one hidden
# layer over n one-hot vectors has to learn what the n-gram simply counts.

# %%
for ds, (_, ours, theirs) in frames.items():
    store.save_table(ours.round(4), f"table2_{ds}_ours", profile, f"Table 2 ({ds}): our test cross-entropy (nats).")
    rnn, sentence = table2.best_rnn(ds, profile, rnn_reference, store, ours)
    ax = plotting.plot_loss_vs_context(
        ours, theirs, best_rnn=rnn and (rnn["label"], rnn["test_loss"]), title=f"{ds}: test loss against context length",
        note=f"no RNN of {ds} scored on the whole test set in profile {profile} (best RNN not shown)")
    store.save_figure(ax.figure, f"table2_{ds}", profile,
                      f"Table 2 ({ds}) as a plot: test loss of the n-gram and n-NN against n, ours (solid) and the "
                      "paper's (dashed), with the best finished RNN when there is one.")
    display(Markdown(sentence))

# %% [markdown]
# The paper's point: its best RNN beats even its 20-gram, although the 20-gram's file is about
# 3 GB and the RNN's about 11 MB; the n-gram stops improving after n ≈ 7 while the RNN keeps
# using longer context. The sentence under each figure sets our best RNN against our longest
# n-gram, beside the paper's two numbers.
