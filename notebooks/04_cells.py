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
# # Figure 2: interpretable cells, found automatically
#
# The paper shows text coloured by single LSTM cells (tanh(c), blue −1 … red +1) that track
# the position in a line, the inside of quotes, if bodies, comments and the depth of bracket
# nesting, and estimates by eye that about 5% of cells are interpretable like this. Here every
# cell of each model is scored against per-symbol features computed from the bytes:
# |Pearson r| for the continuous ones (line position, bracket depth), the AUC of the cell as a
# one-dimensional probe, max(AUC, 1 − AUC), for the binary ones (inside quotes, inside a comment,
# inside an if body, "the line ends next"). The best cell per feature is drawn the paper's
# way, with one weak cell as the paper's "not easily interpretable" contrast. Beyond the paper,
# each top cell is clamped during a forward pass to see whether the model *uses* it.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's models, tables and figures
datasets: list = ["wp"]  # the profile's datasets; C features (comments, if bodies) need lk
models: list = ["lstm-3-64", "gru-3-64"]  # grid models to study, "cell-layers-size"
n_streams: int = 20  # validation streams read per model
n_steps: int = 1000  # analysed symbols per stream
burn: int = 500  # symbols read before each stream to warm up the state
figure_symbols: int = 450  # symbols per Figure 2 panel
page_symbols: int = 3000  # symbols on each explorer page
causal_features: list = ["line_position", "in_quotes", "in_comment", "bracket_depth"]  # best cells clamped
seed: int = 0  # picks the contrast cell and the control cells

# %%
import pandas as pd
from IPython.display import Markdown, display

from rnnviz_lib import explorer, plotting
from rnnviz_lib.analysis import cells
from rnnviz_lib.store import Store

store = Store.for_profile(profile)  # a rehearsal reads no shipped run
studies, missing = cells.grid_studies(profile, datasets, models, store, n_streams=n_streams, n_steps=n_steps, burn=burn)
for what, why in missing.items():
    display(Markdown(f"**Note:** `{what}`: {why}."))
display(Markdown("Models studied: " + (", ".join(f"`{k}` ({s.acts.L} layers of {s.acts.H}, text: {s.sample.source}, "
                                                 f"features read as {s.sample.lang})" for k, s in studies.items()) or "none")))

# %% [markdown]
# Each model reads the validation split (the symbols it never trained on), `n_streams`
# stretches of `n_steps` symbols, after `burn` symbols that only warm up its state. War and Peace
# is prose, so only the line, quote and bracket features exist there; comments and if bodies
# need the Linux kernel models (`lk`), which this profile trains only if its grid lists `lk`.

# %%
for name, st in studies.items():
    panels = cells.figure2_panels(st, width=figure_symbols, seed=seed)
    axes = plotting.plot_cell_panels(panels, suptitle=f"{name}: the best cell of each feature ({st.sample.source})")
    store.save_figure(axes[0].figure, f"fig2_cells_{name}", profile,
                      f"Figure 2 for {name}: text coloured by the best cell of each feature (tanh(c) for the LSTM, h for "
                      "the GRU; blue -1, red +1), and one weak cell for contrast.")

# %% [markdown]
# Compare with the paper's Figure 2: a line-position cell fades (or grows) along each line and
# resets at the newline; a quote cell switches at the opening and the closing `"`; a bracket cell
# steps with each `(`. The title of each panel gives the score. The paper draws its figure from
# its largest models; a model of fewer parameters, or one trained for a few steps only (the
# `smoke` profile), has weaker cells: compare the scores of the models above.

# %%
best = pd.concat([st.best.assign(model=name) for name, st in studies.items()], ignore_index=True) if studies else pd.DataFrame()
untrained = {name: cells.untrained_ranking(st, seed) for name, st in studies.items()}  # same shape, initial weights
chance = {name: cells.best_cells(rk).set_index("feature")["score"] for name, rk in untrained.items()}
if len(best):
    best["untrained"] = [chance[m].get(f) for m, f in zip(best["model"], best["feature"])]
    best = best[["model", "feature", "cell", "metric", "score", "untrained", "sign"]]
    store.save_table(best.round(3), "fig2_best_cells", profile,
                     "The best cell per feature and model: |r| (continuous) or max(AUC, 1-AUC) (binary), beside the best "
                     "score of the same model untrained (chance level).")
best

# %% [markdown]
# The `untrained` column is the best score any cell of the same architecture reaches with its
# initial random weights over the same text: random cells already correlate a little with
# frequent features, so only a clear gap above it means the trained model learned the feature.

# %%
rows = []
for name, st in studies.items():
    s = cells.interpretable_summary(st.ranking).assign(model=name)
    s["untrained fraction"] = cells.interpretable_summary(untrained[name])["fraction"]
    rows.append(s.reset_index(names="layer"))
summary = pd.concat(rows, ignore_index=True)[["model", "layer", "cells", "interpretable", "fraction",
                                               "untrained fraction", "by_feature"]] if rows else pd.DataFrame()
if len(summary):
    store.save_table(summary.round(3), "fig2_interpretable_fraction", profile,
                     f"Cells that track some feature strongly (|r| >= {cells.R_MIN} or AUC >= {cells.AUC_MIN}), per model "
                     "and layer, beside an untrained model of the same shape. The paper estimated about 5% by eye.")
summary

# %% [markdown]
# "Interpretable" here is a fixed rule (|r| ≥ 0.7 or AUC ≥ 0.9 for one of the features above),
# which is stricter than the paper's eye in one way (a cell must track a *listed* feature) and
# looser in another (a cell that tracks "the line ends next" counts). The paper's estimate was
# about 5%.

# %%
effects = pd.concat([cells.causal_effects(st.model, st.sample, st.acts, st.feats,
                                          st.best[st.best["feature"].isin(causal_features)], seed=seed).assign(model=name)
                     for name, st in studies.items()], ignore_index=True) if studies else pd.DataFrame()
if len(effects):
    effects = effects[["model", "feature", "cell", "clamp", "governed", "n_governed", "loss_governed", "d_governed",
                       "d_all", "control_cell", "control_d_governed", "control_d_all"]]
    store.save_table(effects.round(4), "fig2_causal", profile,
                     "Clamping each feature's best cell (zero: c = 0 i.e. tanh(c) = 0, or mean: its mean value) at every "
                     "step: change in loss (nats) on the symbols the feature governs and on all symbols, beside a random "
                     "control cell of the same layer.")
effects

# %% [markdown]
# Beyond the paper: a cell that the model *uses* for a feature should, when held fixed, hurt
# the predictions that need the feature (`d_governed`, e.g. the closing `"` for the quote cell,
# the newline for the line-position cell) much more than predictions in general (`d_all`) and
# more than a random control cell does. A high score with no such effect means the cell only
# mirrors the feature.

# %%
pages = explorer.write_study_pages(studies, profile, store, n_symbols=page_symbols)
display(Markdown("\n".join(f"- [{n}]({p})" for n, p in pages.items()) or "No pages."))

# %% [markdown]
# One explorer page per model, and one with two models of a dataset side by side (linked from the
# report index under "Interactive pages"): pick a layer and cell, or a feature to jump to its best
# cells; hover a symbol for the model's top-5 guesses for the next one; each cell lists its ten
# highest and lowest contexts; select a span of text to rank the cells that are on inside it and off
# around it (LSTMVis's rule) and see where they fire elsewhere. The pages are single files that
# open from disk.
