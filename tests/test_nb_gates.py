"""Notebook 05's logic in the library: Figure 3 grouped by dataset, the per-layer table and the
numbers the scorecard reads (``fig3_gate_numbers``), on gates made by hand with known fractions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnviz_lib.analysis import gates as G
from rnnviz_lib.store import Store
from helpers import gate_activations


_acts = gate_activations


@pytest.fixture(scope="module")
def sats():
    """A 2-layer LSTM (H = 3) whose layer 1 is diffuse and layer 2 saturated, and a 2-layer GRU
    (H = 2) whose layer 1 is the more saturated one, named as the notebook names studies."""
    T = 20
    mid = np.full((1, T, 3), 0.5)
    f2 = np.full((1, T, 3), 0.5)
    f2[0, :, 0] = 0.95  # forget unit 0 of layer 2: right-saturated at every step (long memory)
    f2[0, :15, 1] = 0.97  # unit 1: 75% of the steps
    o2 = np.full((1, T, 3), 0.5)
    o2[0, :, 2] = 0.02  # output unit 2 of layer 2: shut at every step
    lstm = _acts("lstm", [{"i": mid, "f": mid, "o": mid}, {"i": mid, "f": f2, "o": o2}])
    r1 = np.full((1, T, 2), 0.99)  # layer 1 of the GRU saturated ...
    r2 = np.full((1, T, 2), 0.5)  # ... layer 2 not
    gru = _acts("gru", [{"r": r1, "z": r1}, {"r": r2, "z": r2}])
    return {"wp-lstm-2-3": G.saturation(lstm), "file-my-corpus-1a2b-gru-2-2": G.saturation(gru)}


def test_studies_are_grouped_by_dataset_even_when_its_name_has_dashes(sats):
    assert G.split_dataset("file-my-corpus-1a2b-gru-2-2") == ("file-my-corpus-1a2b", "GRU-2-2")
    groups = G.by_dataset(sats)
    assert list(groups) == ["wp", "file-my-corpus-1a2b"]
    assert list(groups["wp"]) == ["LSTM-2-3"] and groups["wp"]["LSTM-2-3"] is sats["wp-lstm-2-3"]
    assert G.by_dataset({}) == {}


def test_layer_table_is_every_models_layer_summary(sats):
    t = G.layer_table(sats)
    assert list(t.columns) == G.LAYER_COLUMNS
    assert len(t) == 3 * 2 + 2 * 2  # (gate, layer) pairs: LSTM i f o, GRU r z, two layers each
    for name, sat in sats.items():
        mine = t[t["model"] == name].drop(columns="model").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, G.layer_summary(sat)[G.LAYER_COLUMNS[1:]])
    f2 = t[(t["model"] == "wp-lstm-2-3") & (t["gate"] == "f") & (t["layer"] == 2)].iloc[0]
    assert f2["frac_right"] == pytest.approx((1 + 0.75 + 0) / 3)
    assert G.layer_table({}).empty


def test_observations_count_what_the_paper_says_and_feed_the_scorecard(sats, tmp_path):
    table, numbers, sentence = G.observations(sats, majority=0.5, always=0.99)
    lstm = G.findings(sats["wp-lstm-2-3"], majority=0.5, always=0.99)
    assert lstm["forget_right_majority"] == 2 and lstm["output_always_shut"] == 1
    # the findings table: three rows for the LSTM, only the layer contrast for the GRU
    assert table["model"].tolist() == ["wp-lstm-2-3"] * 3 + ["file-my-corpus-1a2b-gru-2-2"]
    assert table.iloc[0]["ours"].startswith("2 of 6 (by layer: {2: 2}; max fraction 1.00)")
    assert table.iloc[1]["ours"] == "0 open, 1 shut (max fractions: right 0.00, left 1.00)"
    # the scorecard's table: one row per model, the scalar findings; the GRU has no LSTM gate numbers
    assert list(numbers.index) == list(sats)
    assert numbers.loc["wp-lstm-2-3", "forget_right_majority"] == 2
    assert numbers.loc["wp-lstm-2-3", "forget_max_frac_right"] == pytest.approx(1.0)
    assert numbers.loc["wp-lstm-2-3", "output_max_frac_left"] == pytest.approx(1.0)
    assert np.isnan(numbers.loc["file-my-corpus-1a2b-gru-2-2", "forget_units"])
    assert "dist_by_layer" not in numbers.columns  # dicts stay in the findings table
    # it round-trips through the store as the scorecard reads it
    store = Store(tmp_path)
    store.save_table(numbers, "fig3_gate_numbers", "smoke", "test")
    back = store.load_table("fig3_gate_numbers", "smoke")
    assert list(back.index) == list(numbers.index)
    assert back.loc["wp-lstm-2-3", "forget_units"] == 6 and back.loc["wp-lstm-2-3", "output_always_shut"] == 1
    # the sentence: the LSTM's layer 1 is the diffuse one, the GRU's is not
    assert "`wp-lstm-2-3`: layer 1 is the most diffuse" in sentence
    assert "2 of 6 forget gates right-saturated on more than 50%" in sentence
    assert "1 output gates open or shut on more than 99%" in sentence
    assert "`file-my-corpus-1a2b-gru-2-2`: layer 1 is not the most diffuse" in sentence
    assert G.observations({})[2] == ""
