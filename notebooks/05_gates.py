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
# # Figure 3: gate saturation in the 3-layer LSTM and GRU
#
# For every gate unit of every layer, the fraction of symbols at which it is *left-saturated*
# (activation < 0.1, nearly shut) and *right-saturated* (> 0.9, nearly open): LSTM input,
# forget and output gates i, f, o; GRU reset and update gates r, z. The paper's findings: some
# forget gates are right-saturated almost all the time (cells that remember for long), no output
# gate is always open or always shut, and the first layer's gates are diffuse (rarely saturated)
# while deeper layers' gates are nearly binary.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's models, tables and figures
datasets: list = ["wp"]  # the profile's datasets
models: list = ["lstm-3-64", "gru-3-64"]  # 3-layer grid models, "cell-layers-size"
n_streams: int = 20  # validation streams read per model (the same text as notebook 04: shared cache)
n_steps: int = 1000  # analysed symbols per stream
burn: int = 500  # symbols read before each stream to warm up the state
majority: float = 0.5  # "most of the time": a forget gate right-saturated on more than this fraction of steps
always: float = 0.99  # "always": an output gate saturated on more than this fraction of steps

# %%
from IPython.display import Markdown, display

from rnnviz_lib import plotting
from rnnviz_lib.analysis import cells, gates
from rnnviz_lib.store import Store

store = Store.for_profile(profile)  # a rehearsal reads no shipped run
studies, missing = cells.grid_studies(profile, datasets, models, store, n_streams=n_streams, n_steps=n_steps, burn=burn)
for what, why in missing.items():
    display(Markdown(f"**Note:** `{what}`: {why}."))
sats = {name: gates.saturation(st.acts) for name, st in studies.items() if st.acts.cell in gates.GATES}
display(Markdown("Models: " + (", ".join(f"`{k}` ({studies[k].acts.L} layers of {studies[k].acts.H})" for k in sats) or "none")))

# %% [markdown]
# GRU update gate: our models use PyTorch's GRU, `h = (1 − z) ⊙ h~ + z ⊙ h_prev`, where z near 1
# *keeps* the old state; the paper's GRU writes `h = (1 − z) ⊙ h_prev + z ⊙ h~`. The two z are
# complements, so everything below reports **1 − z (ours) as the paper's z**: left- and
# right-saturation mean what they mean in the paper's Figure 3 (z right-saturated: the state is
# overwritten by the candidate; left-saturated: it is kept).

# %%
for ds, group in gates.by_dataset(sats).items():
    axes = plotting.plot_saturation_grid(group, suptitle=f"{ds}: gate saturation per unit (colour: layer)")
    store.save_figure(axes[0].figure, f"fig3_gates_{ds}", profile,
                      f"Figure 3 on {ds}: each point a gate unit; x the fraction of symbols with activation < 0.1, y the "
                      "fraction > 0.9; colour the layer. GRU z in the paper's convention (1 - PyTorch's z).")

# %% [markdown]
# Read each panel like the paper's: points near the top-left corner are gates that are almost
# always open, near the bottom-right almost always shut, near the dashed diagonal always at one
# end or the other (binary), near the origin rarely saturated (diffuse).

# %%
layer_table = gates.layer_table(sats)
if len(layer_table):
    store.save_table(layer_table.round(3), "fig3_layer_summary", profile,
                     "Per model, gate and layer: mean fraction of symbols left/right-saturated, mean distance of the units "
                     "from the origin of Figure 3 (0 diffuse, ~1 binary), and the mean fraction saturated either way.")
layer_table

# %% [markdown]
# `dist` is the mean distance of a layer's points from the origin of the scatter: the paper's
# "layer 1 is diffuse, layers 2 and 3 nearly binary" reads as `dist` growing with the layer.

# %%
findings, numbers, sentence = gates.observations(sats, majority=majority, always=always)
if len(findings):
    store.save_table(findings, "fig3_findings", profile, "The paper's three Figure 3 observations, counted on our models.")
    store.save_table(numbers, "fig3_gate_numbers", profile,
                     "The numbers behind the Figure 3 observations, per model (the scorecard's input).")
display(Markdown(sentence or "No gated model to count."))
findings

# %% [markdown]
# The paper's three observations in numbers, each model's against the paper's in the sentence
# above. Gates saturate as a model trains: a briefly trained model (see the recipe of each run in
# the report's provenance) is read against the paper with that in mind.
