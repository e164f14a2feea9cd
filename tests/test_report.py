"""report: "ours (paper, Δ)" cells and the sentence on how close a row lies to the paper."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from rnnviz_lib import report
from rnnviz_lib.errors import RnnvizError


def _table(ours: dict[tuple[str, int], float], paper: dict[tuple[str, int], float | None]) -> pd.DataFrame:
    idx = pd.MultiIndex.from_tuples(list(ours), names=["dataset", "n"])
    return pd.DataFrame({"ours": list(ours.values()), "paper": [paper.get(k) for k in ours]}, index=idx)


def test_fmt_cell_keeps_the_papers_blanks():
    assert report.fmt_cell(1.2345, 1.2) == "1.234 (paper 1.200, Δ +0.034)"
    assert report.fmt_cell(None, 1.2) == "- (paper 1.200)" and report.fmt_cell(1.0, None) == "1.000 (paper -)"


def test_paper_gap_summary_names_the_cells_beyond_the_tolerance():
    t = _table({("wp", 1): 2.402, ("wp", 4): 1.386, ("wp", 5): 1.346, ("wp", 7): 1.342, ("lk", 1): 2.0},
               {("wp", 1): 2.399, ("wp", 4): 1.451, ("wp", 5): 1.339})
    gaps, sentence = report.paper_gap_summary(t, "n-NN row", 0.02)
    assert gaps.loc["wp", ["cells", "within", "outside"]].tolist() == [3, 2, "4"]
    assert gaps.loc["wp", "min diff"] == pytest.approx(-0.065) and gaps.loc["lk", "cells"] == 0
    assert sentence == ("`wp` n-NN row: 2 of 3 cells within ±0.02 nats of the paper (ours − paper from -0.065 to "
                        "+0.007, mean -0.018); outside: n = 4 (-0.065); `lk` n-NN row: no paper values to compare "
                        "with.")
    # flipped: with n = 4 close to the paper, every cell matches and none is named outside
    t.loc[("wp", 4), "ours"] = 1.46
    gaps, sentence = report.paper_gap_summary(t, "n-NN row", 0.02)
    assert gaps.loc["wp", "within"] == 3 and "outside" not in sentence
    assert sentence.startswith("`wp` n-NN row: 3 of 3 cells within ±0.02 nats")
    assert math.isnan(gaps.loc["lk", "mean diff"])
    with pytest.raises(RnnvizError, match="indexed by"):
        report.paper_gap_summary(t.droplevel(0), "n-NN row", 0.02)
