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
# # Figure 4 and the error "onion" (§4.3–4.4): LSTM errors against the n-gram models
#
# A test symbol is an **error** of a model when the model gives it probability below 0.5.
# Figure 4 (left) overlaps the errors of the best 3-layer LSTM with those of each n-gram model;
# Figure 4 (middle/right) breaks the mean probability of the correct symbol down by symbol,
# LSTM against the 20-gram, on both datasets. The onion then peels the best LSTM's errors on
# War and Peace off with six oracles, and does the same for the smallest LSTM (1 layer, row 64,
# ~45K parameters) to see where the extra parameters help.
#
# Naming follows Table 2: the "n-gram" with context length n has n symbols of context (it is an
# (n+1)-gram in the usual counting), so the paper's "20-gram" is our order-21 model.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's models, tables and figures
datasets: list = ["wp"]  # datasets for Figure 4 (middle/right): wp, lk
onion_dataset: str = "wp"  # the paper's onion is War and Peace
overlap_ngram_ns: list = [1, 2, 3, 4, 5, 6, 7, 8, 9, 20]  # n-gram context lengths of Figure 4 (left)
compare_ngram_n: int = 20  # the n-gram of Figure 4 (middle/right): the paper's 20-gram
min_count: int = 20  # leave out symbols with fewer test occurrences from Figure 4 (middle/right)
top_symbols: int = 0  # draw only this many symbols at each end of Figure 4 middle/right (0 for all)
onion_ngram_ns: list = [1, 2, 3, 4, 5, 6, 7, 8, 9]  # context lengths of the n-gram oracle (orders 2..10)
small_size: int = 64  # the small LSTM: 1 layer of this grid row (the paper's ~50K-parameter model)

# %%
import pandas as pd
from IPython.display import Markdown, display

from rnnviz_lib import data, plotting, train
from rnnviz_lib.analysis import error_summary, errors, onion
from rnnviz_lib.store import Store

store = Store()
corpora, unavailable = data.load_available(sorted(set(datasets) | {onion_dataset}))
runs = {ds: errors.finished_runs(ds, store, profile=profile) for ds in corpora}
notes = [f"dataset `{ds}` is not available: {why}" for ds, why in unavailable.items()]
notes += [f"no finished RNN runs of `{ds}` in profile `{profile}`" for ds, r in runs.items() if r.empty]
display(Markdown("\n".join(f"- **Note:** {n}" for n in notes) if notes else "All inputs found."))
pd.concat({ds: r.drop(columns="path") for ds, r in runs.items()}, names=["dataset"]) if runs else None

# %% [markdown]
# The finished runs of this profile, best first on each dataset. Figure 4 uses the best 3-layer
# LSTM (the best LSTM of any depth when no 3-layer one has finished, as the note says).

# %%
ref, overlap = {}, {}
for ds, r in runs.items():
    lstm = errors.pick_run(r, "lstm", layers=3)
    if lstm is None and errors.pick_run(r, "lstm") is not None:
        lstm = errors.pick_run(r, "lstm")
        display(Markdown(f"**Note:** no 3-layer LSTM of `{ds}` has finished; Figure 4 uses `{lstm.name}`."))
    if lstm is None:
        display(Markdown(f"**Note:** no LSTM of `{ds}` has finished; Figure 4 is skipped for `{ds}`."))
        continue
    ref[ds] = (lstm.name, train.load_probs(lstm["path"], store))
    grams, why = errors.baseline_probs(ds, "ngram", overlap_ngram_ns, store, profile)
    if why:
        display(Markdown(f"**Note:** {ds}: n-grams not found: {', '.join(why)} (`rnnviz ngram --dataset {ds}`)."))
    if grams:
        name, p_lstm = ref[ds]
        overlap[ds] = error_summary.overlap_summary(p_lstm, errors.align(grams, p_lstm.shape[1]), name, ds)

for ds, (t, verdict) in overlap.items():
    n_sym = ref[ds][1].size
    table = t.round(4)
    store.save_table(table, f"fig4_error_overlap_{ds}", profile,
                     f"Figure 4 (left), {ds}: test errors (p < 0.5) of {ref[ds][0]} and of each n-gram model (by context "
                     f"length n), counted both, only LSTM, only n-gram; the paper gives no numbers. {verdict}")
    ax = plotting.plot_error_overlap(t, n_sym, "LSTM", title=f"{ds}: errors of {ref[ds][0]} vs n-gram models")
    store.save_figure(ax.figure, f"fig4_error_overlap_{ds}", profile,
                      f"Figure 4 (left), {ds}: test errors shared by the LSTM and each n-gram, and each model's own "
                      f"(fractions of test symbols; low is good). {verdict}")
    display(Markdown(verdict))
    display(table)

# %% [markdown]
# Figure 4 (left). Each bar is one n-gram model: grey the symbols both models get wrong, red
# those only the LSTM gets wrong, blue those only the n-gram gets wrong ("low area is good", as
# the paper's caption says). The paper's reading: the errors the LSTM and the n-grams share
# are the bulk, and the LSTM avoids a block of errors that even long-context n-grams make,
# where its memory pays. The sentence above says how large each block is for our LSTM; a
# briefly trained LSTM (smoke, quick) is still worse than the long n-grams, so red dominates.

# %%
per_symbol = {}
for ds in datasets:
    if ds not in ref:
        continue
    grams, why = errors.baseline_probs(ds, "ngram", [compare_ngram_n], store, profile)
    if not grams:
        display(Markdown(f"**Note:** {ds}: the {compare_ngram_n}-gram is missing ({'; '.join(why.values())}); "
                         "Figure 4 (middle/right) is skipped for it."))
        continue
    name, p_lstm = ref[ds]
    c, T = corpora[ds], p_lstm.shape[1]
    y = data.corpus_splits(c).test.y[:, :T]
    labels = [c.symbol_label(k) for k in range(c.K)]
    g = f"{compare_ngram_n}-gram"
    t, verdict = error_summary.per_symbol_summary(p_lstm, errors.align(grams, T)[g], y, labels, ("LSTM", g), name, ds,
                                                  min_count)
    per_symbol[ds] = t
    store.save_table(t.round(4), f"fig4_per_symbol_{ds}", profile,
                     f"Figure 4 (middle/right), {ds}: mean probability of the correct symbol per symbol, LSTM vs "
                     f"{g}, sorted by the difference (symbols with at least {min_count} test occurrences). {verdict}")
    ax = plotting.plot_symbol_comparison(t, ("LSTM", g), top=top_symbols, title=f"{ds}: LSTM vs {g} per symbol")
    store.save_figure(ax.figure, f"fig4_per_symbol_{ds}", profile,
                      f"Figure 4 (middle/right), {ds}: mean p(correct) per symbol, LSTM (red) vs {g} (blue), sorted by "
                      f"the difference. {verdict}")
    display(Markdown(verdict))
    display(pd.concat([t.head(8), t.tail(5)]).round(3))

# %% [markdown]
# Figure 4 (middle/right). Symbols on the left are where the LSTM gains most over the 20-gram.
# The paper finds them to be the special characters whose prediction needs context beyond 20
# symbols: closing braces and brackets in the kernel code, quotes and newlines in War and
# Peace (`␣` is the space, `\n` and `\r` the two bytes of War and Peace's CRLF line ends).

# %% [markdown]
# ## The error onion (§4.4)
#
# Every error of a model is given to the first of these oracles that explains it; each oracle
# only sees the errors the previous ones left:
#
# 1. **n-gram**: some n-gram model with 1 to 9 symbols of context gives the correct symbol a
#    probability above 0.5: a short-context model would have got it right.
# 2. **dynamic n-long memory** (n = 100, 500, 1000, 5000, smaller first): the symbol is inside a
#    word, not its first letter, and that same word appeared in the last n symbols, so copying
#    it from recent text would have worked. "The last n symbols" are read in the book, not in the
#    model's input: each test stream is a contiguous stretch of the book, and the 5000 symbols
#    before it (its validation part) are the context, though the model itself starts the test
#    pass with a fresh state.
# 3. **rare words** (t = 0 … 5, smaller first): the symbol is in a word seen at most t times in
#    the training text, so no model could have learnt it well.
# 4. **words**: the symbol follows a space, a quote or a newline: it is the first letter of a
#    word, where the choice of word is open.
# 5. **punctuation**: the symbol is a punctuation mark.
# 6. **boost**: the rest, grouped by how much the correct symbol's probability would have to be
#    raised to reach 0.5.
#
# A word is a run of letters, digits or non-ASCII bytes (the accented letters), compared byte
# for byte.

# %%
lay, onion_tables, summary, comparison, oc = {}, {}, None, None, onion_dataset
r = runs.get(oc, pd.DataFrame())
best = errors.pick_run(r, "lstm") if not r.empty else None
small = errors.pick_run(r, "lstm", layers=1, size=small_size) if not r.empty else None
grams, why = errors.baseline_probs(oc, "ngram", onion_ngram_ns, store, profile) if oc in corpora else ({}, {})
if best is None:
    display(Markdown(f"**Note:** no finished LSTM of `{oc}` in profile `{profile}`: the onion is skipped."))
else:
    if why:
        display(Markdown(f"**Note:** the n-gram oracle uses only the n-grams found ({', '.join(grams) or 'none'}); "
                         f"missing: {', '.join(why)}."))
    if small is None:
        display(Markdown(f"**Note:** no 1-layer LSTM of row {small_size} has finished: only the best LSTM is peeled."))
    elif small.name == best.name:
        display(Markdown(f"**Note:** the small LSTM `{small.name}` is also the best LSTM of this profile: there is no "
                         "difference between two models to break down."))
    c = corpora[oc]
    splits = data.corpus_splits(c)
    feats = onion.onion_features(c, splits, {int(k.split("-")[0]) + 1: v for k, v in grams.items()})
    models = {"best LSTM": best} | ({"small LSTM": small} if small is not None and small.name != best.name else {})
    T = min(int(m["test_columns"]) for m in models.values())
    feats = feats.head(T)
    for label, m in models.items():
        lay[label] = onion.assign_layers(train.load_probs(m["path"], store)[:, :T], feats)
        onion_tables[label] = onion.onion_table(lay[label])
    summary, comparison, verdict = onion.onion_summary(lay, feats.shape[0] * T)
    display(Markdown(", ".join(f"{k} = `{m.name}` (test loss {m['test_loss']:.3f}, {m['params']:,} parameters)"
                               for k, m in models.items()) + f"; {feats.shape[0] * T:,} test symbols judged."))

# %%
if summary is not None:
    for label, t in onion_tables.items():
        store.save_table(t.assign(share=t["share"].round(4)), f"onion_layers_{label.split()[0]}", profile,
                         f"Error onion of the {label} ({models[label].name}) on {oc}: errors removed by each oracle "
                         "and sub-layer, in peeling order, and what is left after each.")
        ax = plotting.plot_onion(t, title=f"{label}: {models[label].name}")
        store.save_figure(ax.figure, f"onion_{label.split()[0]}", profile,
                          f"Error onion of the {label} on {oc}: inner ring the six oracles, outer ring their sub-layers. "
                          + verdict)
    store.save_table(summary.round(4), "onion_summary", profile,
                     f"Errors per oracle for each LSTM and their difference (small − best), {oc}. {verdict}")
    store.save_table(comparison.round(4), "onion_vs_paper", profile,
                     "The error onion beside the paper's numbers (§4.4): error counts and rates, each oracle's share "
                     "of the best LSTM's errors, and the difference between the small and the best LSTM.")
    ax = plotting.plot_onion_comparison(summary, list(lay), title=f"{oc}: errors per oracle")
    store.save_figure(ax.figure, "onion_comparison", profile,
                      "Errors per oracle of the best and the small LSTM and of their difference. " + verdict)
    display(Markdown(verdict))
    display(comparison.round(3))

# %% [markdown]
# The onion, beside the paper's (best LSTM: 42% of test symbols are errors, of which n-gram 18%,
# dynamic memory 6%, rare words 9%, words 37%; the remaining punctuation and boost layers have
# no published shares). The paper's conclusion from the two models' difference is that growing
# the LSTM mostly fixes errors a short-context n-gram would not make (36K of the 44K extra errors
# of the small LSTM are n-gram errors): scaling up buys local, n-gram-like structure first.
# The sentence and the table above say how much of that holds for this profile's models, each
# number computed from this run. A briefly trained profile (smoke) has error rates far above the
# paper's; the row-64 LSTMs shipped with the code (`data/runs/`, read by the default report) are
# the paper recipe's. Expect a row-64 LSTM (about 45K parameters) to leave a larger share of n-gram
# errors than the paper's 1.28M-parameter LSTM, which has learnt more of the local structure; when the small LSTM's
# extra errors are mostly n-gram errors, that is the paper's finding: a larger LSTM first gains the
# short-context cases.
