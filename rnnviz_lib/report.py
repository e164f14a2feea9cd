"""Tables with the paper's value beside ours, and the HTML report index."""

from __future__ import annotations

import math

import pandas as pd


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


def long_compare(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Long form (one row per cell) with columns ours, paper, diff."""
    o = ours.stack(future_stack=True).rename("ours")
    p = paper.reindex(index=ours.index, columns=ours.columns).stack(future_stack=True).rename("paper")
    df = pd.concat([o, p], axis=1)
    df["diff"] = df["ours"] - df["paper"]
    return df


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
