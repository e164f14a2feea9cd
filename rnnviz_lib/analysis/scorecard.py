"""The paper's findings as a scorecard: one row per claim (and dataset), computed from the tables
the notebooks saved through the store.

Each claim has one function ``claim_<n>`` whose docstring states its rule and tolerance; the
thresholds are the module constants below and the paper's numbers come from ``paper.py``. A
verdict is one of ``VERDICTS``:

* ``reproduced``: our numbers satisfy the rule;
* ``not reproduced``: they do not;
* ``not measurable in this profile``: the tables the rule needs are missing, or the models this
  profile has cannot show the claim (the reason says which: the paper's own Table 1 does not
  show it on the same models, it needs models of two sizes, or the runs were trained by a
  shorter recipe than the paper's, as the smoke profile's and the quick profile's n-NN are).

API::

    scorecard(profile, store)   # DataFrame, one row per (claim, dataset)
"""

from __future__ import annotations

import logging
import re

import pandas as pd

from rnnviz_lib import paper, table1
from rnnviz_lib.config import load_profile

log = logging.getLogger(__name__)

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_MEASURABLE = "not measurable in this profile"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_MEASURABLE)
COLUMNS = ["claim", "dataset", "statement", "paper", "ours", "models", "verdict", "reason"]

# -- thresholds, held once -----------------------------------------------------------------
LOSS_TIE = table1.LOSS_TIE  # nats: a smaller test-loss difference is a tie (the paper's bootstrap std bound)
MAJORITY = table1.MAJORITY  # a pairwise finding holds when it is true for more than this fraction of the pairs
NNN_SMALL_N = (1, 2)  # "small n" of claim 4
NNN_MATCH = 0.03  # nats: n-NN within this of the n-gram "matches" (the paper: 0.000-0.020 at n = 1, 2)
NNN_LARGE_N = (4, 5, 6)  # "larger n" of claim 4 (the paper stops at 6)
NNN_BEHIND = 0.05  # nats: the n-gram "wins" by more than this (the paper: 0.107-0.182 at n = 4..6)
INTERPRETABLE_FACTOR = 2.0  # "about 5%": within a factor of 2 of the paper's fraction
FORGET_ALMOST_ALWAYS = 0.9  # a forget unit right-saturated on at least this fraction of symbols
OUTPUT_ALWAYS = 0.99  # an output unit saturated on more than this fraction of symbols is "always" open/shut
STRUCTURAL_TOP = 0.25  # claim 10: the structural symbols rank, on average, in this top fraction by LSTM gain
NGRAM_CONTEXT = 20  # the 20-gram sees 20 symbols: braces farther than this are beyond its context
PROB_TIE = 0.01  # a smaller difference in mean probability is a tie
LOW_ORDER_N = 2  # claim 12: an n-NN with at most this context is "low-order"
SHARE_TOLERANCE = 0.05  # claim 13: each onion share within this (absolute) of the paper's
NGRAM_MOSTLY = 0.5  # claim 14: "mostly" = more than this share of the extra errors
RECIPE = "paper"  # claims about trained models are judged only on runs of this profile's recipe (claim 12 excepted)


def _row(claim: int, dataset: str, paper_says: str, ours: str, models: str, verdict: str, reason: str) -> dict:
    assert verdict in VERDICTS, verdict
    return {"claim": claim, "dataset": dataset, "statement": paper.CLAIMS[claim][0] + f" ({paper.CLAIMS[claim][1]})",
            "paper": paper_says, "ours": ours, "models": models, "verdict": verdict, "reason": reason}


def _missing(claim: int, dataset: str, paper_says: str, reason: str) -> dict:
    return _row(claim, dataset or "-", paper_says, "-", "-", NOT_MEASURABLE, reason)


# ----------------------------------------------------------------------------------------
# inputs: the notebooks' tables and the runs they rest on
# ----------------------------------------------------------------------------------------
class Inputs:
    """The saved tables of one profile (read through ``Store.load_table``) and its runs
    (``provenance.runs_used``), with the lookups every claim needs."""

    def __init__(self, profile: str, store):
        from rnnviz_lib import provenance

        self.store = store
        self.prof = load_profile(profile, store.root)
        self.profile = self.prof["name"]
        self.runs = provenance.runs_used(self.profile, store)
        self.datasets = list((self.prof.get("grid") or {}).get("datasets") or self.prof["common"].get("datasets") or [])

    def absent(self, dataset: str, what: str) -> str:
        """Why a per-dataset input is missing: the profile has no such dataset, or ``what``."""
        if dataset not in self.datasets:
            return f"this profile has no {dataset} models (its datasets: {', '.join(self.datasets) or 'none'})"
        return what

    def table(self, name: str) -> pd.DataFrame | None:
        t = self.store.load_table(name, self.profile)
        return None if t is None or t.empty else t

    def chosen_runs(self, dataset: str, models) -> dict:
        """``{model: (run name, its row of runs) or None}``: for each model the run Table 1 chose
        for it (``table1_models_<ds>``, its best dropout), else its grid run (before an extra
        grid's); None where the model has no run in this profile's grid."""
        chosen = self.table(f"table1_models_{dataset}")
        chosen = chosen["run"].to_dict() if chosen is not None and "run" in chosen else {}
        r = self.runs
        out = {}
        for m in dict.fromkeys(models):
            sel = r[(r["dataset"] == dataset) & (r["model"] == m)] if len(r) else r
            if m in chosen and chosen[m] in sel.index:
                sel = sel.loc[[chosen[m]]]
            elif len(sel) and (~sel["extra"].astype(bool)).any():
                sel = sel[~sel["extra"].astype(bool)]  # Table 1's run before an extra grid's
            out[m] = (sel.index[0], sel.iloc[0]) if len(sel) else None
        return out

    def describe(self, dataset: str, models) -> str:
        """``"wp lstm-2-64 (shipped, paper recipe, wp-lstm2-64-977851ab29)"``, for each model: its
        run of ``chosen_runs``."""
        out = []
        for m, got in self.chosen_runs(dataset, models).items():
            if got is None:
                out.append(f"{dataset} {m} (run not in this profile's grid)")
            else:
                run, s = got
                out.append(f"{dataset} {m} ({s['origin']}, {s['profile']} recipe, {run})")
        return "; ".join(out) or "-"

    def not_paper_recipe(self, dataset: str, models) -> str | None:
        """Why the runs behind ``models`` cannot judge a claim about the paper's trained models
        (some were trained by another profile's recipe, ``RECIPE``), or None. A model whose run
        is not in this profile's grid is not held against it."""
        other = {m: got[1]["profile"] for m, got in self.chosen_runs(dataset, models).items()
                 if got is not None and got[1]["profile"] != RECIPE}
        if not other:
            return None
        return (f"rests on runs of the {', '.join(sorted(set(other.values())))} recipe ({', '.join(other)}), not the "
                f"paper's: the claim is about fully trained models")

    def table1(self, dataset: str) -> pd.DataFrame | None:
        """Our Table 1 (rows size, columns ``LSTM-1`` … ``GRU-3``), from ``table1_<ds>_ours``."""
        t = self.table(f"table1_{dataset}_ours")
        return None if t is None else t.set_axis(t.index.astype(int), axis=0).dropna(how="all")

    def table2(self, dataset: str) -> pd.DataFrame | None:
        """Our Table 2 (rows ``n-gram``, ``n-NN (<recipe>)``…, columns n as int), from ``table2_<ds>_ours``."""
        t = self.table(f"table2_{dataset}_ours")
        return None if t is None else t.set_axis([int(c) for c in t.columns], axis=1)


def _pair_verdict(hits: int, hits_p: int, n: int, what: str) -> tuple[str, str]:
    if n == 0:
        return NOT_MEASURABLE, f"no pair of models to compare ({what})"
    if not table1.holds(hits_p, n):
        return NOT_MEASURABLE, (f"the paper's own Table 1 does not show it on the same models ({hits_p}/{n} pairs); "
                                "it needs the paper's larger rows")
    return (REPRODUCED if table1.holds(hits, n) else NOT_REPRODUCED), f"{hits}/{n} pairs (more than {MAJORITY:.0%} needed)"


def claim_1(inp: Inputs, dataset: str) -> dict:
    """Depth ≥ 2 helps. Pairs: per grid row and cell, the better of the 2- and 3-layer models
    against the 1-layer one, over the models both our Table 1 and the paper's fill; a deeper model
    wins when its loss is lower by more than ``LOSS_TIE``. Reproduced when it wins in more than
    ``MAJORITY`` of the pairs; not measurable when there is no pair, or when the paper's own
    numbers on the same pairs do not show the claim."""
    ref = table1.paper_frame(dataset)
    allw, _, alln = table1.depth_pairs(ref, ref)
    says = f"deeper beats 1 layer in {allw}/{alln} (row, cell) pairs of Table 1"
    t = inp.table1(dataset)
    if t is None:
        return _missing(1, dataset, says, inp.absent(dataset, f"no Table 1 of {dataset} (notebook 02_table1)"))
    h, hp, n = table1.depth_pairs(t, ref)
    verdict, reason = _pair_verdict(h, hp, n, "a 1-layer and a deeper model of one cell and row")
    if (why := inp.not_paper_recipe(dataset, table1.filled_models(t))) and verdict != NOT_MEASURABLE:
        verdict, reason = NOT_MEASURABLE, why
    return _row(1, dataset, says, f"{h}/{n} pairs (paper on the same models: {hp}/{n})",
                inp.describe(dataset, table1.filled_models(t)), verdict, reason)


def claim_2(inp: Inputs, dataset: str) -> dict:
    """LSTM and GRU beat the RNN. Pairs: same row and depth, LSTM against RNN and GRU against
    RNN, over the models both tables fill; a win is a lower loss by more than ``LOSS_TIE``. Each
    part is judged like claim 1 (more than ``MAJORITY`` of its pairs; not measurable without a
    pair or where the paper's own numbers on those pairs do not show it). Not reproduced when a
    measurable part fails; else not measurable when a part is; else reproduced."""
    ref = table1.paper_frame(dataset)
    la, _, ln = table1.beats_pairs(ref, ref, "LSTM", "RNN")
    ga, _, gn = table1.beats_pairs(ref, ref, "GRU", "RNN")
    says = f"LSTM beats RNN in {la}/{ln}, GRU in {ga}/{gn} (row, depth) pairs of Table 1"
    t = inp.table1(dataset)
    if t is None:
        return _missing(2, dataset, says, inp.absent(dataset, f"no Table 1 of {dataset} (notebook 02_table1)"))
    parts = {name: table1.beats_pairs(t, ref, name, "RNN") for name in ("LSTM", "GRU")}
    verdicts = {name: _pair_verdict(*v, f"{name} and RNN of one row and depth") for name, v in parts.items()}
    ours = ", ".join(f"{k} beats RNN {h}/{n} (paper on the same models {hp}/{n})" for k, (h, hp, n) in parts.items())
    vs = [v for v, _ in verdicts.values()]  # a part that fails fails the claim; else a part not measurable leaves it so
    verdict = NOT_REPRODUCED if NOT_REPRODUCED in vs else (NOT_MEASURABLE if NOT_MEASURABLE in vs else REPRODUCED)
    reason = "; ".join(f"{k}: {r}" for k, (_, r) in verdicts.items())
    if (why := inp.not_paper_recipe(dataset, table1.filled_models(t))) and verdict != NOT_MEASURABLE:
        verdict, reason = NOT_MEASURABLE, why
    return _row(2, dataset, says, ours, inp.describe(dataset, table1.filled_models(t)), verdict, reason)


def claim_3(inp: Inputs, dataset: str) -> dict:
    """The best RNN beats the 20-gram. Ours: the lowest test loss of any model in our Table 1
    against our 20-gram (Table 2, n = 20). Reproduced when the RNN is lower by more than
    ``LOSS_TIE``. Not measurable when either is missing, or when the paper's own Table 1 on the
    same models does not beat the paper's 20-gram (the paper's best RNN is in a larger row)."""
    rnn_p, gram_p = paper.BEST_RNN_VS_20GRAM[dataset]
    says = f"best RNN {rnn_p:.3f} vs 20-gram {gram_p:.3f} nats"
    t, t2 = inp.table1(dataset), inp.table2(dataset)
    if t is None or t2 is None or NGRAM_CONTEXT not in t2.columns or "n-gram" not in t2.index \
            or pd.isna(t2.at["n-gram", NGRAM_CONTEXT]):
        return _missing(3, dataset, says, inp.absent(dataset, f"needs Table 1 and the 20-gram of Table 2 on {dataset} (notebooks 02, 03)"))
    stacked = t.stack()
    (size, col), best = stacked.idxmin(), float(stacked.min())
    gram = float(t2.at["n-gram", NGRAM_CONTEXT])
    ours = f"best RNN {table1.model_of_column(col, size)} {best:.3f} vs 20-gram {gram:.3f} nats"
    ref = table1.paper_frame(dataset).reindex(index=t.index, columns=t.columns).where(t.notna())
    models = inp.describe(dataset, [table1.model_of_column(col, size)])
    if ref.stack().empty:
        return _row(3, dataset, says, ours, models, NOT_MEASURABLE, "the paper has none of these models")
    (ps, pc), pbest = ref.stack().idxmin(), float(ref.stack().min())
    if not pbest < gram_p - LOSS_TIE:
        return _row(3, dataset, says, ours, models, NOT_MEASURABLE,
                    f"the paper's own best of these models ({table1.model_of_column(pc, ps)}, {pbest:.3f}) does not beat its 20-gram "
                    f"({gram_p:.3f}) either; needs the larger rows (sizes here: {', '.join(map(str, t.index))})")
    if why := inp.not_paper_recipe(dataset, [table1.model_of_column(col, size)]):
        return _row(3, dataset, says, ours, models, NOT_MEASURABLE, why)
    ok = best < gram - LOSS_TIE
    return _row(3, dataset, says, ours, models, REPRODUCED if ok else NOT_REPRODUCED,
                f"RNN − 20-gram = {best - gram:+.3f} nats (below −{LOSS_TIE} needed)")


# ----------------------------------------------------------------------------------------
# Table 2
# ----------------------------------------------------------------------------------------
def _nnn_row(t2: pd.DataFrame) -> str | None:
    """The n-NN row to judge: the paper recipe's when the store has it, else the profile's own."""
    rows = [r for r in t2.index if str(r).startswith("n-NN")]
    paper_rows = [r for r in rows if str(r).startswith(f"n-NN ({RECIPE} recipe") or r == "n-NN"]
    return (paper_rows or rows or [None])[0]


def claim_4(inp: Inputs, dataset: str) -> dict:
    """n-NN ≈ n-gram for small n, the n-gram wins for larger n. Reproduced when |n-NN − n-gram| ≤
    ``NNN_MATCH`` at every measured n in ``NNN_SMALL_N`` and n-NN − n-gram > ``NNN_BEHIND`` at every
    measured n in ``NNN_LARGE_N``. The n-NN row is the paper recipe's when the store has it,
    else the profile's own. Not measurable without an n of each group."""
    ref = paper.TABLE2[dataset]
    small = ", ".join(f"n={n}: {ref['n-NN'][n] - ref['n-gram'][n]:+.3f}" for n in NNN_SMALL_N)
    large = ", ".join(f"n={n}: {ref['n-NN'][n] - ref['n-gram'][n]:+.3f}" for n in NNN_LARGE_N)
    says = f"n-NN − n-gram {small}; {large} nats"
    t2 = inp.table2(dataset)
    row = _nnn_row(t2) if t2 is not None else None
    if row is None or "n-gram" not in t2.index:
        return _missing(4, dataset, says, inp.absent(dataset, f"no n-gram and n-NN rows of Table 2 on {dataset} (notebook 03_baselines)"))
    d = (t2.loc[row] - t2.loc["n-gram"]).dropna()
    have_s, have_l = [n for n in NNN_SMALL_N if n in d.index], [n for n in NNN_LARGE_N if n in d.index]
    ours = f"{row} − n-gram " + (", ".join(f"n={n}: {d[n]:+.3f}" for n in d.index if n <= max(NNN_LARGE_N)) or "-") + " nats"
    models = f"{dataset} n-gram (Kneser-Ney, counted here); {row}" + ("" if "shipped" in str(row) or "trained here" in str(row) else " (trained here)")
    if not have_s or not have_l:
        return _row(4, dataset, says, ours, models, NOT_MEASURABLE,
                    f"needs the n-NN at n in {NNN_SMALL_N} and in {NNN_LARGE_N}; this profile has n = "
                    f"{', '.join(map(str, d.index)) or 'none'}")
    if not (f"{RECIPE} recipe" in str(row) or (row == "n-NN" and inp.profile == RECIPE)):
        return _row(4, dataset, says, ours, models, NOT_MEASURABLE,
                    f"the n-NN row is {row}, not the paper's recipe (trained to early stopping); train it with `rnnviz nnn "
                    f"--dataset {dataset} --n 1,2,3,4,5,6 --profile {RECIPE}` and notebook 03 reads it")
    match = all(abs(d[n]) <= NNN_MATCH for n in have_s)
    behind = all(d[n] > NNN_BEHIND for n in have_l)
    ok = match and behind
    reason = (f"small n {'match' if match else 'do not match'} (|Δ| ≤ {NNN_MATCH} needed); larger n: the n-gram "
              f"{'wins' if behind else 'does not win'} (Δ > {NNN_BEHIND} needed)")
    return _row(4, dataset, says, ours, models, REPRODUCED if ok else NOT_REPRODUCED, reason)


# ----------------------------------------------------------------------------------------
# Figures 2 and 3
# ----------------------------------------------------------------------------------------
def _split_model(name: str) -> tuple[str, str]:
    """``"wp-lstm-3-64"`` -> ("wp", "lstm-3-64")."""
    ds, model = str(name).split("-", 1)
    return ds, model


def _datasets_of(names) -> str:
    """``"lk, wp"``: the datasets of analysis model names such as ``wp-lstm-3-64``."""
    return ", ".join(sorted({_split_model(n)[0] for n in names}))


def _recipe_of_many(inp: Inputs, names) -> str | None:
    """``Inputs.not_paper_recipe`` for analysis model names such as ``wp-lstm-3-64``."""
    whys = [w for ds, model in map(_split_model, dict.fromkeys(names)) if (w := inp.not_paper_recipe(ds, [model]))]
    return "; ".join(dict.fromkeys(whys)) or None


def _describe_many(inp: Inputs, names) -> str:
    return "; ".join(inp.describe(ds, [model]) for ds, model in map(_split_model, dict.fromkeys(names)))


def claim_6(inp: Inputs) -> dict:
    """About 5% of cells are interpretable. Ours: interpretable cells (notebook 04's rule) over
    all cells of every LSTM studied. Reproduced when the fraction lies within a factor
    ``INTERPRETABLE_FACTOR`` of the paper's 5% and above the same models' untrained fraction."""
    frac = paper.INTERPRETABLE_FRACTION
    says = f"about {frac:.0%} of cells (by eye)"
    t = inp.table("fig2_interpretable_fraction")
    if t is not None:
        t = t[(t["layer"] == "all") & t["model"].astype(str).str.contains("-lstm-")]
    if t is None or t.empty or t["cells"].sum() == 0:
        return _missing(6, "", says, "no LSTM studied by notebook 04_cells")
    ours_f = float(t["interpretable"].sum() / t["cells"].sum())
    chance = float((t["untrained fraction"] * t["cells"]).sum() / t["cells"].sum())
    lo, hi = frac / INTERPRETABLE_FACTOR, frac * INTERPRETABLE_FACTOR
    ok = lo <= ours_f <= hi and ours_f > chance
    ours = f"{int(t['interpretable'].sum())} of {int(t['cells'].sum())} cells ({ours_f:.1%}; untrained {chance:.1%})"
    if why := _recipe_of_many(inp, t["model"]):
        return _row(6, _datasets_of(t["model"]), says, ours, _describe_many(inp, t["model"]), NOT_MEASURABLE, why)
    return _row(6, _datasets_of(t["model"]), says, ours, _describe_many(inp, t["model"]), REPRODUCED if ok else NOT_REPRODUCED,
                f"{lo:.1%}–{hi:.1%} and above the untrained fraction needed")


def _lstm_gates(inp: Inputs) -> pd.DataFrame | None:
    t = inp.table("fig3_gate_numbers")
    if t is None:
        return None
    t = t[t.index.astype(str).str.contains("-lstm-")]
    return None if t.empty else t


def claim_7(inp: Inputs) -> dict:
    """Some forget gates are right-saturated almost always. Reproduced when at least one forget
    unit of the LSTMs studied is right-saturated (> 0.9) on at least ``FORGET_ALMOST_ALWAYS`` of
    the symbols."""
    says = "some forget units right-saturated (> 0.9) almost all the time"
    t = _lstm_gates(inp)
    if t is None or "forget_max_frac_right" not in t:
        return _missing(7, "", says, "no LSTM studied by notebook 05_gates")
    best = float(t["forget_max_frac_right"].max())
    ours = (f"most right-saturated forget unit: {best:.1%} of symbols; units right-saturated on more than half: "
            f"{int(t['forget_right_majority'].sum())} of {int(t['forget_units'].sum())}")
    if why := _recipe_of_many(inp, t.index):
        return _row(7, _datasets_of(t.index), says, ours, _describe_many(inp, t.index), NOT_MEASURABLE, why)
    return _row(7, _datasets_of(t.index), says, ours, _describe_many(inp, t.index), REPRODUCED if best >= FORGET_ALMOST_ALWAYS else NOT_REPRODUCED,
                f"a unit at ≥ {FORGET_ALMOST_ALWAYS:.0%} needed")


def claim_8(inp: Inputs) -> dict:
    """No output gate is consistently open or shut. Reproduced when no output unit of the LSTMs
    studied is right- or left-saturated on more than ``OUTPUT_ALWAYS`` of the symbols."""
    says = "no output unit always open or always shut"
    t = _lstm_gates(inp)
    if t is None or "output_max_frac_right" not in t:
        return _missing(8, "", says, "no LSTM studied by notebook 05_gates")
    r, l_ = float(t["output_max_frac_right"].max()), float(t["output_max_frac_left"].max())
    ok = r <= OUTPUT_ALWAYS and l_ <= OUTPUT_ALWAYS
    ours = f"most saturated output unit: open {r:.1%}, shut {l_:.1%} of symbols"
    if why := _recipe_of_many(inp, t.index):
        return _row(8, _datasets_of(t.index), says, ours, _describe_many(inp, t.index), NOT_MEASURABLE, why)
    return _row(8, _datasets_of(t.index), says, ours,
                _describe_many(inp, t.index), REPRODUCED if ok else NOT_REPRODUCED,
                f"no unit above {OUTPUT_ALWAYS:.0%} needed")


def claim_9(inp: Inputs) -> dict:
    """First-layer gates are diffuse, deeper ones nearly binary. Per model, each layer's mean
    distance of its gate units from the origin of Figure 3 (``fig3_layer_summary``, averaged over
    the gates). Reproduced when in every model studied layer 1 has a smaller distance than every
    deeper layer. Not measurable without a model of at least two layers."""
    says = "layer 1 gates diffuse (near the origin), layers 2–3 nearly binary"
    t = inp.table("fig3_layer_summary")
    if t is None:
        return _missing(9, "", says, "no gates studied by notebook 05_gates")
    dist = t.groupby(["model", "layer"])["dist"].mean()
    per = {m: dist.loc[m] for m in dict.fromkeys(t["model"]) if len(dist.loc[m]) >= 2}
    if not per:
        return _missing(9, "", says, "needs a model of at least two layers")
    holds = {m: bool((d.loc[d.index != d.index.min()] > d.loc[d.index.min()]).all()) for m, d in per.items()}
    ours = "; ".join(f"{m}: " + ", ".join(f"layer {k} {v:.2f}" for k, v in d.items()) for m, d in per.items())
    if why := _recipe_of_many(inp, list(per)):
        return _row(9, _datasets_of(list(per)), says, ours, _describe_many(inp, list(per)), NOT_MEASURABLE, why)
    return _row(9, _datasets_of(per), says, ours + " (mean distance from the origin)", _describe_many(inp, per),
                REPRODUCED if all(holds.values()) else NOT_REPRODUCED,
                f"layer 1 lowest in {sum(holds.values())} of {len(holds)} models (all needed)")


# ----------------------------------------------------------------------------------------
# Figures 4 and 5
# ----------------------------------------------------------------------------------------
def _best_lstm(inp: Inputs, dataset: str, layers: int | None = None) -> str | None:
    t = inp.table(f"table1_models_{dataset}")
    if t is None:
        return None
    sel = t[t.index.astype(str).str.startswith("lstm-")]
    if layers is not None and len(sel[sel.index.str.startswith(f"lstm-{layers}-")]):
        sel = sel[sel.index.str.startswith(f"lstm-{layers}-")]
    return None if sel.empty else str(sel["ours"].idxmin())


CRLF_SHARE = 0.9  # a text whose `\r` are at least this many of its `\n` breaks its lines with `\r\n`


def line_break_symbol(t: pd.DataFrame) -> str:
    """The symbol that carries the decision to break a line in a per-symbol table (``fig4_per_symbol``:
    escaped symbols as index, a ``count`` column): ``\\n``, or ``\\r`` for a text whose lines end in
    ``\r\n`` (War and Peace does). There the line ends at ``\r`` and the ``\n`` after it is certain
    to every model, so its Δp says nothing about remembering where a line is."""
    if {"\\r", "\\n"} <= set(t.index) and "count" in t:
        if t.at["\\r", "count"] >= CRLF_SHARE * t.at["\\n", "count"]:
            return "\\r"
    return "\\n"


def claim_10(inp: Inputs, dataset: str) -> dict:
    """The LSTM beats the 20-gram most on structural symbols. Symbols are ranked by the LSTM's
    gain in mean p(correct) over the 20-gram (Figure 4 middle/right); the dataset's structural
    symbols (``paper.STRUCTURAL_SYMBOLS``) present must rank on average within the top
    ``STRUCTURAL_TOP`` of all symbols, and the LSTM must be ahead of the 20-gram (Δp > 0) on
    each of them: a claim that the LSTM *beats* the 20-gram there is not shown by a high rank
    among symbols where it is behind. The paper's newline is the line break: in a ``\r\n`` text,
    its ``\r`` (``line_break_symbol``)."""
    syms = paper.STRUCTURAL_SYMBOLS[dataset]
    says = f"largest LSTM gains on {', '.join(f'`{s}`' for s in syms)}"
    t = inp.table(f"fig4_per_symbol_{dataset}")
    if t is None or "diff" not in t:
        return _missing(10, dataset, says, inp.absent(dataset, f"no per-symbol comparison of {dataset} (notebook 08)"))
    t = t.sort_values("diff", ascending=False)
    t.index = t.index.astype(str)
    syms = tuple(line_break_symbol(t) if s == "\\n" else s for s in syms)
    present = [s for s in syms if s in t.index]
    if not present:
        return _missing(10, dataset, says, "none of the structural symbols has enough test occurrences")
    rank = {s: (list(t.index).index(s) + 1) for s in present}
    mean_frac = sum(rank.values()) / len(rank) / len(t)
    said = {s: f"{s}`" for s in present} | {"\\r": "\\r` (the line break: the text's lines end in `\\r\\n`)"}
    ours = ", ".join(f"`{said[s]} rank {r} of {len(t)} (Δp {t.at[s, 'diff']:+.3f})" for s, r in rank.items())
    lstm = _best_lstm(inp, dataset, layers=3)
    if lstm and (why := inp.not_paper_recipe(dataset, [lstm])):
        return _row(10, dataset, says, ours, inp.describe(dataset, [lstm]) + "; 20-gram", NOT_MEASURABLE, why)
    behind = [s for s in present if not t.at[s, "diff"] > 0]
    ok = mean_frac <= STRUCTURAL_TOP and not behind
    reason = f"mean rank in the top {mean_frac:.0%} (top {STRUCTURAL_TOP:.0%} needed)"
    reason += (f"; the LSTM is behind the 20-gram on {', '.join(f'`{s}`' for s in behind)} (Δp > 0 needed on each)"
               if behind else "; the LSTM ahead on each")
    return _row(10, dataset, says, ours, inp.describe(dataset, [lstm] if lstm else []) + "; 20-gram",
                REPRODUCED if ok else NOT_REPRODUCED, reason)


def claim_11(inp: Inputs) -> dict:
    """The LSTM beats the 20-gram on `}` beyond the n-gram's context. Mean p(`}`) pooled over the
    distance buckets from ``NGRAM_CONTEXT`` + 1 to ``paper.BRACE_DISTANCE`` symbols (Figure 5
    left, Linux). Reproduced when the LSTM's is higher by more than ``PROB_TIE``."""
    from rnnviz_lib.analysis import longrange

    dataset = "lk"
    says = f"LSTM above the 20-gram for braces {NGRAM_CONTEXT}–{paper.BRACE_DISTANCE} symbols from their `{{`"
    t = inp.table(f"fig5_brace_distance_{dataset}")
    gram = f"{NGRAM_CONTEXT}-gram"
    if t is None or "LSTM" not in t or gram not in t:
        return _missing(11, dataset, says, inp.absent(dataset, "no Figure 5 (left) with an LSTM and the 20-gram (notebook 07)"))
    s = longrange.long_range_summary(t, ("LSTM", gram), NGRAM_CONTEXT, upto=paper.BRACE_DISTANCE)
    if not s["braces"]:
        return _missing(11, dataset, says, f"no brace {NGRAM_CONTEXT}–{paper.BRACE_DISTANCE} symbols from its `{{`")
    ours = f"p(`}}`) LSTM {s['LSTM']:.3f} vs 20-gram {s[gram]:.3f} over {s['braces']:,} braces"
    lstm = _best_lstm(inp, dataset)
    if lstm and (why := inp.not_paper_recipe(dataset, [lstm])):
        return _row(11, dataset, says, ours, inp.describe(dataset, [lstm]) + "; 20-gram", NOT_MEASURABLE, why)
    return _row(11, dataset, says, ours, inp.describe(dataset, [lstm] if lstm else []) + "; 20-gram",
                REPRODUCED if s["diff"] > PROB_TIE else NOT_REPRODUCED,
                f"LSTM − 20-gram = {s['diff']:+.3f} (above {PROB_TIE} needed)")


def _n_of(label) -> int | None:
    m = re.match(r"\s*(\d+)", str(label))
    return int(m.group(1)) if m else None


def claim_12(inp: Inputs) -> dict:
    """The LSTM first tracks low-order n-NNs, then moves away. From the n-NN nearest (symmetric
    KL) to each weight snapshot (Figure 5 right): reproduced when the first snapshot's nearest
    n-NN has n ≤ ``LOW_ORDER_N`` and the last snapshot's has a larger n. Not measurable without
    snapshots compared with at least two n-NNs."""
    says = f"nearest n-NN has n ≤ {LOW_ORDER_N} early, longer context later"
    for dataset in ("wp", "lk"):
        t = inp.table(f"fig5_closest_nnn_{dataset}")
        if t is not None:
            break
    if t is None or len(t) < 2:
        return _missing(12, "", says, "no LSTM weight snapshots compared with n-NNs (notebook 07)")
    kl = inp.table(f"fig5_kl_training_{dataset}")
    compared = sorted({_n_of(b) for b in kl["baseline"]}) if kl is not None and "baseline" in kl else []
    t = t.sort_values("step")
    first, last = _n_of(t["closest"].iloc[0]), _n_of(t["closest"].iloc[-1])
    path = " → ".join(dict.fromkeys(str(c) for c in t["closest"]))
    ours = f"nearest n-NN {path} over {len(t)} snapshots (n-NN compared: n = {', '.join(map(str, compared)) or '?'})"
    runs = inp.runs
    snap = runs[(runs["dataset"] == dataset) & runs["snapshots"].astype(bool)] if len(runs) else runs
    if "run" in t and t["run"].iloc[0] in snap.index:  # the run notebook 07 followed (its table names it)
        snap = snap.loc[[t["run"].iloc[0]]]
    models = "; ".join(f"{dataset} {r['model']} with snapshots ({r['origin']}, {r['profile']} recipe, {k})"
                       for k, r in snap.iterrows()) or f"{dataset} LSTM with snapshots"
    if len(compared) < 2:
        return _row(12, dataset, says, ours, models, NOT_MEASURABLE, "needs at least two n-NNs to compare with")
    ok = first is not None and last is not None and first <= LOW_ORDER_N and last > first
    return _row(12, dataset, says, ours, models, REPRODUCED if ok else NOT_REPRODUCED,
                f"first nearest n = {first} (≤ {LOW_ORDER_N} needed), last n = {last} (larger needed)")


# ----------------------------------------------------------------------------------------
# the onion (§4.4)
# ----------------------------------------------------------------------------------------
def _size(model: str) -> int:
    return int(model.rsplit("-", 1)[1])


def claim_13(inp: Inputs) -> dict:
    """The onion's shares of the best LSTM's errors (WP). Measurable only when our best LSTM is of
    the paper's row (size of ``paper.ONION_MODELS['best LSTM']``): the shares are a property of
    the model. Reproduced when every share the paper gives lies within ``SHARE_TOLERANCE`` of ours."""
    shares = paper.ONION["share"]
    says = ", ".join(f"{k} {v:.0%}" for k, v in shares.items()) + f" of the errors of LSTM-3-512"
    t = inp.table("onion_vs_paper")
    best = _best_lstm(inp, "wp")
    if t is None or best is None:
        return _missing(13, "wp", says, "no error onion (notebook 08)")
    ours_s = {k: float(t.at[f"best LSTM share: {k}", "ours"]) for k in shares if f"best LSTM share: {k}" in t.index}
    ours = f"{best}: " + ", ".join(f"{k} {v:.0%}" for k, v in ours_s.items())
    models = inp.describe("wp", [best])
    want = _size(paper.ONION_MODELS["best LSTM"])
    if _size(best) != want:
        return _row(13, "wp", says, ours, models, NOT_MEASURABLE,
                    f"the paper's shares are of a size-{want} LSTM; this profile's best LSTM is {best}")
    off = {k: ours_s[k] - shares[k] for k in ours_s}
    ok = len(off) == len(shares) and all(abs(v) <= SHARE_TOLERANCE for v in off.values())
    return _row(13, "wp", says, ours, models, REPRODUCED if ok else NOT_REPRODUCED,
                "largest gap " + f"{max(map(abs, off.values())):.0%} (≤ {SHARE_TOLERANCE:.0%} needed)" if off else "no shares")


def claim_14(inp: Inputs) -> dict:
    """Scaling the LSTM up removes mostly n-gram errors. Of the errors the small LSTM makes beyond
    the best one, the n-gram share (``onion_vs_paper``). Measurable only when the two LSTMs differ
    in size; reproduced when the share exceeds ``NGRAM_MOSTLY``."""
    o = paper.ONION
    says = f"{o['difference_ngram'] / 1000:.0f}K of {o['difference'] / 1000:.0f}K extra errors of LSTM-1-64 are n-gram errors"
    t = inp.table("onion_vs_paper")
    best, small = _best_lstm(inp, "wp"), paper.ONION_MODELS["small LSTM"]
    if t is None or best is None:
        return _missing(14, "wp", says, "no error onion (notebook 08)")
    models = inp.describe("wp", [best, small])
    sizes = sorted({_size(m) for m in inp.runs["model"][inp.runs["dataset"] == "wp"]}) if len(inp.runs) else []
    if "difference: n-gram share" not in t.index or _size(best) == _size(small):
        return _row(14, "wp", says, "-", models, NOT_MEASURABLE,
                    f"needs LSTMs of two sizes; this profile has only size {', '.join(map(str, sizes)) or '?'} "
                    f"(best LSTM {best}, small {small})")
    share = float(t.at["difference: n-gram share", "ours"])
    diff = float(t.at["difference (small − best) errors", "ours"])
    ours = f"{share:.0%} of {diff:,.0f} extra errors"
    return _row(14, "wp", says, ours, models, REPRODUCED if share > NGRAM_MOSTLY else NOT_REPRODUCED,
                f"above {NGRAM_MOSTLY:.0%} needed")


# ----------------------------------------------------------------------------------------
def scorecard(profile: str, store=None) -> pd.DataFrame:
    """One row per claim of the paper (and dataset, where the claim is per dataset), computed
    from the profile's saved tables: ``claim``, ``dataset``, ``statement``, ``paper`` (the paper's
    statement and number), ``ours``, ``models`` (each with its origin, recipe profile and run id),
    ``verdict`` (one of ``VERDICTS``) and ``reason``."""
    from rnnviz_lib.store import Store

    inp = Inputs(profile, store or Store())
    rows = []
    for ds in paper.TABLE1:  # wp, lk
        rows += [claim_1(inp, ds), claim_2(inp, ds), claim_3(inp, ds), claim_4(inp, ds)]
    rows += [claim_6(inp), claim_7(inp), claim_8(inp), claim_9(inp)]
    rows += [claim_10(inp, ds) for ds in paper.TABLE1]
    rows += [claim_11(inp), claim_12(inp), claim_13(inp), claim_14(inp)]
    df = pd.DataFrame(rows, columns=COLUMNS).sort_values(["claim", "dataset"], kind="stable").reset_index(drop=True)
    log.info("scorecard of %s: %s", inp.profile, df["verdict"].value_counts().to_dict())
    return df


def summary_text(card: pd.DataFrame) -> str:
    """One sentence: how many rows have each verdict."""
    counts = card["verdict"].value_counts()
    return f"{len(card)} rows: " + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS) + "."
