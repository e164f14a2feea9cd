"""Gate saturation (Figure 3): how often each gate unit is nearly shut or nearly open.

API::

    sat = saturation(acts)            # one row per (layer, gate, unit): frac_left, frac_right
    findings(sat)                     # the numbers behind the paper's three observations
    by_dataset({"wp-lstm-3-64": sat, ...})                  # {"wp": {"LSTM-3-64": sat, ...}}: one figure each
    layer_table(sats)                                       # per (model, gate, layer): fig3_layer_summary
    table, numbers, sentence = observations(sats)           # numbers: fig3_gate_numbers (the scorecard's)

A gate unit is *left-saturated* at a step when its activation is below ``LOW`` = 0.1 and
*right-saturated* above ``HIGH`` = 0.9 (the paper's thresholds); each fraction is over every
analysed symbol. LSTM gates i, f, o; GRU gates r, z.

GRU z convention. ``models.py`` follows PyTorch, ``h = (1 - z) ⊙ n + z ⊙ h_prev``, so our z
near 1 *keeps* the old state; the paper's GRU is ``h = (1 - z) ⊙ h_prev + z ⊙ h~``, its z is
our ``1 - z``. ``saturation(..., paper_z=True)`` (the default) reports ``1 - z`` under the
name ``z``, so left and right mean what they mean in the paper's Figure 3; with
``paper_z=False`` the raw PyTorch z is used and left/right swap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnviz_lib.analysis.activations import Activations

LOW, HIGH = 0.1, 0.9
GATES = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}


def saturation(acts: Activations, low: float = LOW, high: float = HIGH, paper_z: bool = True) -> pd.DataFrame:
    """Fraction of steps each gate unit spends below ``low`` and above ``high``.

    Returns
    -------
    DataFrame, one row per (layer, gate, unit): ``layer`` (1-based), ``gate``, ``unit``,
    ``frac_left``, ``frac_right``, ``mean`` (mean activation). Empty for the vanilla RNN.
    """
    rows = []
    for l, rec in enumerate(acts.layers):
        for g in GATES.get(acts.cell, ()):
            a = rec[g].astype(np.float32).reshape(-1, rec[g].shape[-1])  # (B·T, H)
            if g == "z" and paper_z:
                a = 1.0 - a
            rows.append(pd.DataFrame({
                "layer": l + 1, "gate": g, "unit": np.arange(a.shape[1]),
                "frac_left": (a < low).mean(0), "frac_right": (a > high).mean(0), "mean": a.mean(0),
            }))
    if not rows:
        return pd.DataFrame(columns=["layer", "gate", "unit", "frac_left", "frac_right", "mean"])
    return pd.concat(rows, ignore_index=True)


def layer_summary(sat: pd.DataFrame) -> pd.DataFrame:
    """Per (gate, layer): units, mean fraction left/right, mean distance from the origin of the
    scatter (0: never saturated, diffuse; near 1: always at one end, binary), and the fraction
    of steps a unit spends saturated either way."""
    sat = sat.assign(dist=np.hypot(sat["frac_left"], sat["frac_right"]),
                     saturated=sat["frac_left"] + sat["frac_right"])
    return (sat.groupby(["gate", "layer"], sort=False)
            .agg(units=("unit", "size"), frac_left=("frac_left", "mean"), frac_right=("frac_right", "mean"),
                 dist=("dist", "mean"), saturated=("saturated", "mean"))
            .reset_index())


def findings(sat: pd.DataFrame, majority: float = 0.5, always: float = 0.99) -> dict:
    """The numbers behind the paper's Figure 3 observations (LSTM gates; empty otherwise).

    * ``forget_right_majority``: forget gates right-saturated (> 0.9) for more than ``majority``
      of the steps ("some forget gates are almost always open": long memory), per layer and in all;
    * ``output_always_open`` / ``output_always_shut``: output gates right/left-saturated for more
      than ``always`` of the steps (the paper: none);
    * ``dist_by_layer``: mean distance from the origin per layer over all gates (the paper:
      layer 1 diffuse, deeper layers nearer the edges).
    """
    out: dict = {}
    f = sat[sat["gate"] == "f"]
    if len(f):
        maj = f[f["frac_right"] > majority]
        out["forget_right_majority"] = int(len(maj))
        out["forget_units"] = int(len(f))
        out["forget_right_majority_by_layer"] = {int(k): int(v) for k, v in maj.groupby("layer").size().items()}
        out["forget_max_frac_right"] = float(f["frac_right"].max())
    o = sat[sat["gate"] == "o"]
    if len(o):
        out["output_always_open"] = int((o["frac_right"] > always).sum())
        out["output_always_shut"] = int((o["frac_left"] > always).sum())
        out["output_max_frac_right"] = float(o["frac_right"].max())
        out["output_max_frac_left"] = float(o["frac_left"].max())
    if len(sat):
        d = np.hypot(sat["frac_left"], sat["frac_right"])
        out["dist_by_layer"] = {int(k): float(v) for k, v in d.groupby(sat["layer"]).mean().items()}
    return out


# ----------------------------------------------------------------------------------------
# Figure 3 in tables and a sentence (what notebook 05 shows and saves)
# ----------------------------------------------------------------------------------------
def split_dataset(name: str) -> tuple[str, str]:
    """``"<dataset>-<cell>-<layers>-<size>"`` -> (dataset, ``"<CELL>-<layers>-<size>"``); the
    dataset may itself hold dashes (a corpus path), the model never does."""
    ds, cell, layers, size = name.rsplit("-", 3)
    return ds, f"{cell}-{layers}-{size}".upper()


def by_dataset(sats: dict[str, pd.DataFrame]) -> dict[str, dict[str, pd.DataFrame]]:
    """``{"wp-lstm-3-64": sat, ...}`` -> ``{"wp": {"LSTM-3-64": sat, ...}, ...}``: one Figure 3 per
    dataset, panels named by model, datasets in first-seen order."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    for name, sat in sats.items():
        ds, model = split_dataset(name)
        out.setdefault(ds, {})[model] = sat
    return out


LAYER_COLUMNS = ["model", "gate", "layer", "units", "frac_left", "frac_right", "dist", "saturated"]


def layer_table(sats: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """``layer_summary`` of every model, one row per (model, gate, layer), columns ``LAYER_COLUMNS``
    (the scorecard reads it as ``fig3_layer_summary``). Empty (no columns) without models."""
    if not sats:
        return pd.DataFrame()
    t = pd.concat([layer_summary(s).assign(model=name) for name, s in sats.items()], ignore_index=True)
    return t[LAYER_COLUMNS]


def observations(sats: dict[str, pd.DataFrame], majority: float = 0.5,
                 always: float = 0.99) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The paper's three Figure 3 observations counted on each model.

    Parameters
    ----------
    sats : {model name: ``saturation`` table}
    majority, always : as in ``findings``

    Returns
    -------
    table : one row per model and observation: ``model``, ``finding``, ``paper``, ``ours`` (text)
    numbers : one row per model, the scalar ``findings`` (the scorecard reads it as
        ``fig3_gate_numbers``); a GRU has NaN in the LSTM-only columns
    sentence : per model, whether layer 1 has the smallest mean distance from the origin (the
        paper: diffuse first layer) and, for an LSTM, how many forget gates keep long memory
        and how many output gates are always open or shut (the paper: some, and none)
    """
    found = {name: findings(s, majority=majority, always=always) for name, s in sats.items()}
    rows, parts = [], []
    for name, f in found.items():
        if "forget_right_majority" in f:
            rows.append({"model": name, "finding": f"forget gates right-saturated on > {majority:.0%} of symbols",
                         "paper": "some (long memory)", "ours": f"{f['forget_right_majority']} of {f['forget_units']} "
                         f"(by layer: {f['forget_right_majority_by_layer'] or 'none'}; max fraction "
                         f"{f['forget_max_frac_right']:.2f})"})
        if "output_always_open" in f:
            rows.append({"model": name, "finding": f"output gates open or shut on > {always:.0%} of symbols",
                         "paper": "none", "ours": f"{f['output_always_open']} open, {f['output_always_shut']} shut "
                         f"(max fractions: right {f['output_max_frac_right']:.2f}, left {f['output_max_frac_left']:.2f})"})
        rows.append({"model": name, "finding": "mean distance from the origin, by layer",
                     "paper": "layer 1 smallest (diffuse)",
                     "ours": ", ".join(f"layer {k}: {v:.2f}" for k, v in f["dist_by_layer"].items())})
        parts.append(_sentence(name, f, majority, always))
    numbers = pd.DataFrame({m: {k: v for k, v in f.items() if not isinstance(v, dict)} for m, f in found.items()}).T
    return pd.DataFrame(rows), numbers, " ".join(parts)


def _sentence(name: str, f: dict, majority: float, always: float) -> str:
    d = f.get("dist_by_layer", {})
    if len(d) >= 2:
        first, deeper = d[min(d)], [v for k, v in d.items() if k != min(d)]
        layers = (f"layer 1 {'is' if first < min(deeper) else 'is not'} the most diffuse (mean distance from the "
                  f"origin {first:.3f} against {', '.join(f'{v:.3f}' for v in deeper)} deeper; paper: it is)")
    else:
        layers = "one layer only, so no contrast between layers"
    s = f"`{name}`: {layers}"
    if "forget_right_majority" in f:
        s += (f"; {f['forget_right_majority']} of {f['forget_units']} forget gates right-saturated on more than "
              f"{majority:.0%} of symbols (paper: some)")
    if "output_always_open" in f:
        s += (f"; {f['output_always_open'] + f['output_always_shut']} output gates open or shut on more than "
              f"{always:.0%} of symbols (paper: none)")
    return s + "."
