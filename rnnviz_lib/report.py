"""Tables with the paper's value beside ours, and the HTML report index."""

from __future__ import annotations

import math

import pandas as pd

from rnnviz_lib.errors import RnnvizError


def fmt_cell(ours: float | None, paper: float | None, digits: int = 3) -> str:
    """``"ours (paper, Δ)"``; a blank side shows as "-" (the paper's blanks stay visible)."""
    o = "-" if ours is None or (isinstance(ours, float) and math.isnan(ours)) else f"{ours:.{digits}f}"
    if paper is None:
        return f"{o} (paper -)"
    if o == "-":
        return f"- (paper {paper:.{digits}f})"
    return f"{o} (paper {paper:.{digits}f}, Δ {ours - paper:+.{digits}f})"


def compare_frame(ours: pd.DataFrame, paper: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Cell-wise "ours (paper, Δ)" of two frames with the same index and columns."""
    paper = paper.reindex(index=ours.index, columns=ours.columns)
    out = ours.copy().astype(object)
    for r in ours.index:
        for c in ours.columns:
            o, p = ours.at[r, c], paper.at[r, c]
            out.at[r, c] = fmt_cell(None if pd.isna(o) else float(o), None if pd.isna(p) else float(p), digits)
    return out


def dataset_comparison(infos: dict[str, dict]) -> pd.DataFrame:
    """Rows (dataset, quantity) with columns ours / paper / diff, from ``data.info`` dicts."""
    from rnnviz_lib.paper import DATA

    rows = []
    for name, inf in infos.items():
        ref = DATA.get(name, {})
        quantities = {
            "symbols": (inf["symbols"], ref.get("symbols")),
            "vocabulary K": (inf["vocab_size"], ref.get("vocab_size")),
            **{f"{k} symbols": (v, ref.get("split", {}).get(k)) for k, v in inf["split"].items()},
        }
        for q, (ours, paper) in quantities.items():
            rows.append({"dataset": name, "quantity": q, "ours": ours, "paper": paper,
                         "diff": None if paper is None else ours - paper})
    return pd.DataFrame(rows).set_index(["dataset", "quantity"])


def paper_gap_summary(table: pd.DataFrame, what: str, tol: float) -> tuple[pd.DataFrame, str]:
    """How close our numbers lie to the paper's, per dataset, in a table and a sentence.

    Parameters
    ----------
    table : indexed by (dataset, key) (e.g. ``order`` or ``n``), with ``ours`` and ``paper``
        columns; cells where the paper has no value (NaN or None) are left out
    what : names the rows in the sentence, e.g. "n-gram row"
    tol : nats; a cell "matches" when ``|ours − paper| <= tol``

    Returns
    -------
    gaps : one row per dataset with ``cells`` (with a paper value), ``within`` (of them, within
        ``tol``), ``mean diff``, ``min diff``, ``max diff`` (ours − paper) and ``outside``
        (the keys of the cells beyond ``tol``)
    sentence : per dataset, how many cells lie within ``tol`` of the paper, the range and
        mean of ours − paper, and the cells outside with their difference
    """
    if table.index.nlevels != 2 or not {"ours", "paper"} <= set(table.columns):
        raise RnnvizError("paper_gap_summary needs a table indexed by (dataset, key) with 'ours' and 'paper' columns")
    key = table.index.names[1] or "key"
    diff = (pd.to_numeric(table["ours"], errors="coerce") - pd.to_numeric(table["paper"], errors="coerce")).dropna()
    rows, parts = {}, []
    for ds in dict.fromkeys(table.index.get_level_values(0)):
        d = diff[diff.index.get_level_values(0) == ds].droplevel(0) if len(diff) else diff
        if d.empty:
            rows[ds] = {"cells": 0, "within": 0, "mean diff": math.nan, "min diff": math.nan, "max diff": math.nan,
                        "outside": ""}
            parts.append(f"`{ds}` {what}: no paper values to compare with")
            continue
        out = d[d.abs() > tol]
        rows[ds] = {"cells": len(d), "within": len(d) - len(out), "mean diff": float(d.mean()),
                    "min diff": float(d.min()), "max diff": float(d.max()), "outside": ", ".join(map(str, out.index))}
        s = (f"`{ds}` {what}: {len(d) - len(out)} of {len(d)} cells within ±{tol:g} nats of the paper (ours − paper "
             f"from {d.min():+.3f} to {d.max():+.3f}, mean {d.mean():+.3f})")
        if len(out):
            s += "; outside: " + ", ".join(f"{key} = {k} ({v:+.3f})" for k, v in out.items())
        parts.append(s)
    gaps = pd.DataFrame.from_dict(rows, orient="index")
    gaps.index.name = "dataset"
    return gaps, ("; ".join(parts) + ".") if parts else "No rows to compare with the paper."
