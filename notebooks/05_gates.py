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
import pandas as pd
from IPython.display import Markdown, display

from rnnviz_lib import plotting
from rnnviz_lib.analysis import cells, gates
from rnnviz_lib.store import Store

store = Store()
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
for ds in dict.fromkeys(name.rsplit("-", 3)[0] for name in sats):  # names are <dataset>-<cell>-<layers>-<size>
    group = {name[len(ds) + 1:].upper(): s for name, s in sats.items() if name.rsplit("-", 3)[0] == ds}
    axes = plotting.plot_saturation_grid(group, suptitle=f"{ds}: gate saturation per unit (colour: layer)")
    store.save_figure(axes[0].figure, f"fig3_gates_{ds}", profile,
                      f"Figure 3 on {ds}: each point a gate unit; x the fraction of symbols with activation < 0.1, y the "
                      "fraction > 0.9; colour the layer. GRU z in the paper's convention (1 - PyTorch's z).")

# %% [markdown]
# Read each panel like the paper's: points near the top-left corner are gates that are almost
# always open, near the bottom-right almost always shut, near the dashed diagonal always at one
# end or the other (binary), near the origin rarely saturated (diffuse).

# %%
layer_table = pd.concat([gates.layer_summary(s).assign(model=name) for name, s in sats.items()],
                        ignore_index=True) if sats else pd.DataFrame()
if len(layer_table):
    layer_table = layer_table[["model", "gate", "layer", "units", "frac_left", "frac_right", "dist", "saturated"]]
    store.save_table(layer_table.round(3), "fig3_layer_summary", profile,
                     "Per model, gate and layer: mean fraction of symbols left/right-saturated, mean distance of the units "
                     "from the origin of Figure 3 (0 diffuse, ~1 binary), and the mean fraction saturated either way.")
layer_table

# %% [markdown]
# `dist` is the mean distance of a layer's points from the origin of the scatter: the paper's
# "layer 1 is diffuse, layers 2 and 3 nearly binary" reads as `dist` growing with the layer.

# %%
found = {name: gates.findings(s, majority=majority, always=always) for name, s in sats.items()}
rows = []
for name, f in found.items():
    if "forget_right_majority" in f:
        rows.append({"model": name, "finding": f"forget gates right-saturated on > {majority:.0%} of symbols",
                     "paper": "some (long memory)", "ours": f"{f['forget_right_majority']} of {f['forget_units']} "
                     f"(by layer: {f['forget_right_majority_by_layer'] or 'none'}; max fraction {f['forget_max_frac_right']:.2f})"})
    if "output_always_open" in f:
        rows.append({"model": name, "finding": f"output gates open or shut on > {always:.0%} of symbols",
                     "paper": "none", "ours": f"{f['output_always_open']} open, {f['output_always_shut']} shut (max "
                     f"fractions: right {f['output_max_frac_right']:.2f}, left {f['output_max_frac_left']:.2f})"})
    rows.append({"model": name, "finding": "mean distance from the origin, by layer",
                 "paper": "layer 1 smallest (diffuse)",
                 "ours": ", ".join(f"layer {k}: {v:.2f}" for k, v in f["dist_by_layer"].items())})
findings = pd.DataFrame(rows)
if len(findings):
    store.save_table(findings, "fig3_findings", profile, "The paper's three Figure 3 observations, counted on our models.")
    store.save_table(pd.DataFrame({m: {k: v for k, v in f.items() if not isinstance(v, dict)} for m, f in found.items()}).T,
                     "fig3_gate_numbers", profile, "The numbers behind the Figure 3 observations, per model (the scorecard's input).")
findings

# %% [markdown]
# The paper's three observations in numbers. On short schedules (`smoke`, `quick`) the gates
# have had little time to saturate, so expect fewer long-memory forget gates than in a fully
# trained model; the contrast between layer 1 and the deeper layers appears early.
