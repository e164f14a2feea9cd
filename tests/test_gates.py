"""Gate saturation (Figure 3): exact fractions on made-up gates, the GRU z convention, the
findings, and the figure from small trained 3-layer LSTM and GRU models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz_lib import plotting
from rnnviz_lib.analysis import activations as A
from rnnviz_lib.analysis import gates as G
from rnnviz_lib.models import CharRNN
from rnnviz_lib.store import Store
from helpers import gate_activations, train_steps


_acts = gate_activations


def test_saturation_fractions_by_hand():
    T = 10
    f = np.full((1, T, 3), 0.5)
    f[0, :7, 0] = 0.95  # unit 0: right-saturated 70% of the time
    f[0, :2, 1] = 0.05  # unit 1: left 20%
    f[0, 2:5, 1] = 0.99  # ... and right 30%
    f[0, :, 2] = 0.11  # near the threshold but outside it: neither
    o = np.full((1, T, 3), 0.5)
    i = np.full((1, T, 3), 0.5)
    i[0, :, 1] = 0.02
    sat = G.saturation(_acts("lstm", [{"f": f, "o": o, "i": i}]))
    assert list(sat.columns[:5]) == ["layer", "gate", "unit", "frac_left", "frac_right"]
    fs = sat[sat.gate == "f"].set_index("unit")
    assert fs.loc[0, "frac_right"] == pytest.approx(0.7) and fs.loc[0, "frac_left"] == 0
    assert fs.loc[1, "frac_left"] == pytest.approx(0.2) and fs.loc[1, "frac_right"] == pytest.approx(0.3)
    assert fs.loc[2, "frac_left"] == 0 and fs.loc[2, "frac_right"] == 0
    assert sat[(sat.gate == "i") & (sat.unit == 1)]["frac_left"].item() == 1.0
    assert set(sat["gate"]) == {"i", "f", "o"} and (sat["layer"] == 1).all()
    found = G.findings(sat)
    assert found["forget_right_majority"] == 1 and found["forget_units"] == 3
    assert found["output_always_open"] == 0 and found["output_always_shut"] == 0


def test_gru_z_is_reported_in_the_papers_convention():
    z = np.full((2, 5, 2), 0.97)  # ours: keep the old state almost entirely ...
    r = np.full((2, 5, 2), 0.5)
    acts = _acts("gru", [{"z": z, "r": r}])
    paper = G.saturation(acts).set_index(["gate", "unit"])
    raw = G.saturation(acts, paper_z=False).set_index(["gate", "unit"])
    # ... which is the paper's z = 0.03: left-saturated in Figure 3's terms
    assert paper.loc[("z", 0), "frac_left"] == 1.0 and paper.loc[("z", 0), "frac_right"] == 0.0
    assert raw.loc[("z", 0), "frac_right"] == 1.0 and raw.loc[("z", 0), "frac_left"] == 0.0
    assert paper.loc[("r", 1), "frac_left"] == raw.loc[("r", 1), "frac_left"] == 0.0


def test_rnn_has_no_gates_and_layer_summary():
    acts = _acts("rnn", [{"h": np.zeros((1, 4, 2))}])
    assert G.saturation(acts).empty
    f1 = np.full((1, 10, 4), 0.5)  # layer 1: never saturated
    f2 = np.full((1, 10, 4), 0.99)  # layer 2: always right
    acts = _acts("lstm", [{"f": f1, "i": f1, "o": f1}, {"f": f2, "i": f2, "o": f2}])
    summ = G.layer_summary(G.saturation(acts)).set_index(["gate", "layer"])
    assert summ.loc[("f", 1), "dist"] == 0 and summ.loc[("f", 2), "dist"] == pytest.approx(1.0)
    found = G.findings(G.saturation(acts))
    assert found["dist_by_layer"] == {1: 0.0, 2: pytest.approx(1.0)}
    assert found["output_always_open"] == 4 and found["forget_right_majority_by_layer"] == {2: 4}


@pytest.fixture(scope="module")
def three_layer_models():
    """3-layer LSTM (H=11) and GRU (H=13) trained 60 Adam steps on real War and Peace text."""
    from rnnviz_lib import data

    torch.set_num_threads(1)
    corpus = data.load_corpus("wp")
    ids = torch.from_numpy(corpus.ids[100_000:160_000].astype(np.int64))
    B, S = 12, 50
    n = (ids.numel() - 1) // B
    X, Y = ids[: B * n].view(B, n), ids[1 : B * n + 1].view(B, n)
    out = {}
    for cell, H in (("lstm", 11), ("gru", 13)):
        torch.manual_seed(0)
        out[cell] = train_steps(CharRNN(cell, corpus.K, H, 3), X, Y, 60, S)
    sp = data.corpus_splits(corpus)
    sample = A.sample_split(corpus, sp.val, n_streams=4, n_steps=300, burn=50)
    return out, sample


def test_saturation_of_trained_models_matches_the_traced_gates(three_layer_models):
    models, sample = three_layer_models
    for cell, m in models.items():
        acts = A.compute_activations(m, sample)
        sat = G.saturation(acts)
        assert len(sat) == 3 * m.H * len(G.GATES[cell]) and sorted(sat["layer"].unique()) == [1, 2, 3]
        # reference: the model's own traced gates over the same symbols (state warmed up the same way)
        with torch.no_grad():
            ids = torch.from_numpy(sample.ids.astype(np.int64))
            _, state = m(ids[:, : sample.burn])
            _, trace, _ = m.forward_traced(ids[:, sample.burn : -1], state)
        gate = "f" if cell == "lstm" else "z"
        ref = trace[2][gate].numpy().reshape(-1, m.H)
        if cell == "gru":
            ref = 1 - ref  # the paper's z
        got = sat[(sat.layer == 3) & (sat.gate == gate)].sort_values("unit")
        np.testing.assert_allclose(got["frac_left"], (ref < 0.1).mean(0), atol=0.01)  # float16 storage
        np.testing.assert_allclose(got["frac_right"], (ref > 0.9).mean(0), atol=0.01)
        assert ((got["frac_left"] + got["frac_right"]) <= 1).all()


def test_figure3_is_drawn_and_saved(home, three_layer_models):
    models, sample = three_layer_models
    sats = {cell.upper(): G.saturation(A.compute_activations(m, sample)) for cell, m in models.items()}
    axes = plotting.plot_saturation_grid(sats, suptitle="Figure 3")
    assert len(axes) == 5  # LSTM i f o, GRU r z
    assert [ax.get_title() for ax in axes] == ["LSTM: gate i", "LSTM: gate f", "LSTM: gate o", "GRU: gate r",
                                               "GRU: gate z"]
    # one scatter per layer, each point a unit
    assert [len(c.get_offsets()) for c in axes[1].collections] == [11, 11, 11]
    paths = Store().save_figure(axes[0].figure, "gates_test", "smoke", "test")
    assert all((home / "figures" / "smoke" / f"gates_test.{e}").is_file() for e in ("png", "pdf", "json"))
    assert paths["png"].endswith(".png")
