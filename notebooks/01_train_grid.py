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
# # Training the grid of §3: the models behind Table 1 and every later figure
#
# The paper trains 36 models per dataset: LSTM, RNN and GRU with 1, 2 or 3 layers, in four rows
# of equal parameter budget (64, 128, 256, 512: the size of a 1-layer LSTM with that many units).
# This notebook trains the grid of the chosen profile with the paper's recipe (RMSProp 2e-3,
# decay ×0.95 per epoch after 10, batch 100 × 100 steps, clip 5, uniform ±0.08 init, best
# validation weights kept), skipping runs that already finished and resuming interrupted ones.
# The `smoke` profile uses a short schedule on the CPU; the `quick` profile reads the paper-recipe
# runs that ship with the code and trains nothing while WP LSTM-3-512 (whose snapshots Figure 5
# follows) is shipped; without shipped runs it trains one short run with weight snapshots in its
# place; `paper` trains its whole grid by the full recipe.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's grid: section of notebooks/params/<profile>.yaml to train
device: str = ""  # auto, cpu or cuda; empty: the profile setting (auto uses cuda when available)
executor: str = "local"  # local (one run after another) or a registered executor (e.g. ray)
train_models: bool = True  # False: only summarise the runs that already exist

# %%
from IPython.display import Markdown, display

from rnnviz_lib import data, executors, grid, plotting
from rnnviz_lib.store import Store

store = Store.for_profile(profile)  # a rehearsal reads no shipped run
corpora, missing = data.load_available(grid.datasets(profile))  # a corpus that can't be had is skipped, with the fix
configs = grid.expand(profile, datasets=list(corpora), device=device or None)
display(Markdown("".join(f"**Note:** no `{ds}` models in this run: {why}\n\n" for ds, why in missing.items())
                 + f"Profile `{profile}`: **{len(configs)} runs** on {', '.join(corpora)}."))

# %%
widths = {ds: grid.widths_frame(c.K) for ds, c in corpora.items()}
for ds, w in widths.items():
    store.save_table(w, f"grid_widths_{ds}", profile,
                     f"Hidden width H (parameter count) of every grid model on {ds}: each row shares the budget "
                     "of a 1-layer LSTM of the row's size.")
widths[next(iter(corpora))]

# %% [markdown]
# The parameter-matched widths (PAPER.md §2): all nine models of a row have about the parameter
# count of a 1-layer LSTM of the row's size (the table above gives each width and count: row 64
# is the paper's "50K" smallest model, row 512 its "about 11 MB" largest one). Deeper models are
# narrower, so the 3-layer models of row 64 are the narrowest of the grid.

# %%
results = executors.run(configs, executor, store) if train_models else []
summary = grid.summary(configs, store)
store.save_table(summary.drop(columns="run_dir"), "grid_summary", profile,
                 "Every run of the grid: width, parameters, status, best validation and test loss (nats).")
summary.drop(columns="run_dir")

# %% [markdown]
# One row per run (one per model and dropout value). `status` is `finished` for runs that have
# test probabilities and metrics; a `diverged` run stopped on a NaN loss and keeps its last good
# checkpoint. Test losses here are for the weights with the best validation loss.

# %%
chosen = grid.select_best(summary)
chosen[["dataset", "cell", "layers", "size", "dropout", "best_val_loss", "test_loss"]]

# %% [markdown]
# Dropout is cross-validated as in the paper: each model keeps the dropout value whose run has
# the lowest validation loss. These are the runs Table 1 and the later figures use.

# %%
hist = grid.histories(configs, store)
for ds in corpora:
    h = hist[hist["dataset"] == ds] if len(hist) else hist
    if len(h):
        ax = plotting.plot_training_curves(h, "val_loss", title=f"{ds}: validation loss during training")
        store.save_figure(ax.figure, f"training_curves_{ds}", profile,
                          f"Validation cross-entropy (nats) against epoch for every run on {ds}.")

# %% [markdown]
# The curves above are this profile's runs, each labelled in the table with its origin: a shipped
# run was trained by the paper's recipe (50 epochs, best validation weights kept) and is comparable
# with Table 1; a run trained here on a short schedule (the `smoke` profile, or the snapshot run
# that the `quick` profile trains when shipped runs are off) is still falling and is not.
