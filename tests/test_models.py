"""CharRNN: fused vs traced paths, a hand-written per-gate reference, gradients, widths."""

from __future__ import annotations

import pytest
import torch

from rnnviz_lib import models
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.models import CharRNN

pytestmark = pytest.mark.fast  # the fast tier: no War and Peace, no browser, no Ray

K, H, L, B, T = 7, 5, 3, 2, 4  # small, mutually distinct
VARIANTS = [("lstm", "torch"), ("rnn", "torch"), ("gru", "torch"), ("gru", "paper")]


def _model(cell, variant="torch", seed=0, init_range=0.5, **kw):
    torch.manual_seed(seed)
    # a wider init than the paper's 0.08 so gates are far from 0.5 and errors cannot hide
    return CharRNN(cell, K, H, L, gru_variant=variant, init_range=init_range, **kw).double().eval()


def _inputs(cell, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, K, (B, T), generator=g)
    h0 = torch.randn(L, B, H, generator=g, dtype=torch.float64) * 0.5
    c0 = torch.randn(L, B, H, generator=g, dtype=torch.float64) * 0.5
    return x, ((h0, c0) if cell == "lstm" else h0)


def _model_and_inputs(cell, variant, seed=0):
    """``_model(cell, variant, seed)`` and ``_inputs`` seeded ``seed + 1``: (model, x, state)."""
    return (_model(cell, variant, seed=seed), *_inputs(cell, seed=seed + 1))


def _reference(model: CharRNN, x, state):
    """Naive per-gate, per-step loop written from the equations (PAPER.md §2), not from models.py."""
    sd = {k: v for k, v in model.state_dict().items()}
    cell = model.cell
    h = [s.clone() for s in (state[0] if cell == "lstm" else state)]
    c = [s.clone() for s in state[1]] if cell == "lstm" else None
    sig, tanh = torch.sigmoid, torch.tanh
    names = {"lstm": "ifgo", "gru": "rzn", "rnn": "a"}[cell]
    W = {}
    for l in range(L):
        for j, gname in enumerate(names):
            rows = slice(j * H, (j + 1) * H)
            W[l, gname] = (sd[f"rnn.weight_ih_l{l}"][rows], sd[f"rnn.weight_hh_l{l}"][rows],
                           sd[f"rnn.bias_ih_l{l}"][rows], sd[f"rnn.bias_hh_l{l}"][rows])
    trace = [{k: torch.zeros(B, T, H, dtype=torch.float64) for k in models.TRACE_KEYS[cell]} for _ in range(L)]
    logits = torch.zeros(B, T, K, dtype=torch.float64)
    for b in range(B):
        for t in range(T):
            inp = torch.zeros(K, dtype=torch.float64)
            inp[x[b, t]] = 1.0
            for l in range(L):
                hp = h[l][b]

                def lin(gname, hvec=hp, layer=l, x_in=inp):
                    Wi, Wh, bi, bh = W[layer, gname]
                    return Wi @ x_in + bi + Wh @ hvec + bh

                if cell == "lstm":
                    i, f, g, o = sig(lin("i")), sig(lin("f")), tanh(lin("g")), sig(lin("o"))
                    cn = f * c[l][b] + i * g
                    hn = o * tanh(cn)
                    vals = {"i": i, "f": f, "g": g, "o": o, "c": cn, "h": hn}
                    c[l] = c[l].clone()
                    c[l][b] = cn
                elif cell == "gru":
                    r, z = sig(lin("r")), sig(lin("z"))
                    Wi, Wh, bi, bh = W[l, "n"]
                    if model.gru_variant == "paper":
                        n = tanh(Wi @ inp + bi + Wh @ (r * hp) + bh)
                    else:
                        n = tanh(Wi @ inp + bi + r * (Wh @ hp + bh))
                    hn = (1 - z) * n + z * hp
                    vals = {"r": r, "z": z, "n": n, "h": hn}
                else:
                    pre = lin("a")
                    hn = tanh(pre)
                    vals = {"pre": pre, "h": hn}
                for k, v in vals.items():
                    trace[l][k][b, t] = v
                h[l] = h[l].clone()
                h[l][b] = hn
                inp = hn
            logits[b, t] = sd["decoder.weight"] @ inp + sd["decoder.bias"]
    return logits, trace


@pytest.mark.parametrize("cell,variant", VARIANTS)
def test_fused_and_traced_paths_agree(cell, variant):
    model, x, state = _model_and_inputs(cell, variant)
    with torch.no_grad():
        lf, sf = model(x, state)
        lt, trace, st = model.forward_traced(x, state)
    assert lf.shape == (B, T, K) and len(trace) == L
    torch.testing.assert_close(lt, lf, rtol=1e-6, atol=1e-9)
    for a, b in zip(sf if cell == "lstm" else (sf,), st if cell == "lstm" else (st,)):
        assert a.shape == (L, B, H)
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    for l in range(L):
        assert set(trace[l]) == set(models.TRACE_KEYS[cell])
        for v in trace[l].values():
            assert v.shape == (B, T, H)
    # the final state is the trace's last step
    hT = sf[0] if cell == "lstm" else sf
    torch.testing.assert_close(trace[-1]["h"][:, -1], hT[-1])


@pytest.mark.parametrize("cell,variant", VARIANTS)
def test_traced_path_matches_hand_written_per_gate_loop(cell, variant):
    model, x, state = _model_and_inputs(cell, variant, seed=3)
    with torch.no_grad():
        lt, trace, _ = model.forward_traced(x, state)
    ref_logits, ref_trace = _reference(model, x, state)
    torch.testing.assert_close(lt, ref_logits, rtol=1e-9, atol=1e-12)
    for l in range(L):
        for k in models.TRACE_KEYS[cell]:
            torch.testing.assert_close(trace[l][k], ref_trace[l][k], rtol=1e-9, atol=1e-12, msg=f"{l}{k}")


def test_paper_gru_differs_from_torch_gru_with_the_same_weights():
    torch_gru = _model("gru", "torch", seed=5)
    paper_gru = _model("gru", "paper", seed=5)
    paper_gru.load_state_dict(torch_gru.state_dict())
    x, state = _inputs("gru", seed=6)
    with torch.no_grad():
        a, _ = torch_gru(x, state)
        b, _ = paper_gru(x, state)
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("cell,variant", VARIANTS)
def test_gradients_match_finite_differences(cell, variant):
    model, x, state = _model_and_inputs(cell, variant, seed=7)
    params = dict(model.named_parameters())
    names = ["rnn.weight_hh_l1", "rnn.bias_ih_l0", "decoder.weight"]
    y = torch.randint(0, K, (B, T), generator=torch.Generator().manual_seed(9))

    def loss(*ps):
        p = {**params, **dict(zip(names, ps))}
        logits, _ = torch.func.functional_call(model, p, (x, state))
        return torch.nn.functional.cross_entropy(logits.reshape(-1, K), y.reshape(-1))

    inputs = tuple(params[n].detach().clone().requires_grad_(True) for n in names)
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell,variant", VARIANTS)
def test_state_carries_across_chunks(cell, variant):
    model, x, state = _model_and_inputs(cell, variant, seed=10)
    with torch.no_grad():
        whole, _ = model(x, state)
        first, s1 = model(x[:, :2], state)
        second, _ = model(x[:, 2:], s1)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)


def test_parameter_count_and_init():
    for cell in models.CELLS:
        for variant in ("torch", "paper"):
            m = CharRNN(cell, K, H, L, gru_variant=variant)
            assert m.num_params() == models.n_params(cell, L, H, K)
            assert all(p.abs().max() <= 0.08 for p in m.parameters())
    # the paper's smallest model: 1-layer LSTM-64 on WP (K = 87)
    assert CharRNN("lstm", 87, 64, 1).num_params() == 44_823 == models.budget(64, 87)


def test_dropout_is_identity_in_eval_and_random_in_training():
    torch.manual_seed(0)
    m = CharRNN("lstm", K, H, 2, dropout=0.5).double()
    x, state = _inputs("lstm")
    state = tuple(s[:2] for s in state)
    m.eval()
    with torch.no_grad():
        a, _ = m(x, state)
        b, _, _ = m.forward_traced(x, state)
    torch.testing.assert_close(a, b)
    m.train()
    with torch.no_grad():
        c, _ = m(x, state)
    assert (a - c).abs().max() > 1e-6


# WP widths from PAPER.md §2 (the rows are the paper's reading, derived independently there)
WP_WIDTHS = {
    64: (44_823, (64, 45, 37), (141, 96, 78), (77, 53, 44)),
    128: (122_327, (128, 84, 68), (273, 174, 139), (151, 98, 79)),
    256: (375_639, (256, 159, 126), (531, 325, 257), (300, 185, 146)),
    512: (1_275_479, (512, 308, 241), (1045, 623, 487), (596, 357, 280)),
}


@pytest.mark.parametrize("size", sorted(WP_WIDTHS))
def test_wp_widths_equal_the_papers_table(size):
    budget, lstm, rnn, gru = WP_WIDTHS[size]
    assert models.budget(size, 87) == budget
    for cell, widths in (("lstm", lstm), ("rnn", rnn), ("gru", gru)):
        got = tuple(models.width_for(cell, d, size, 87) for d in (1, 2, 3))
        assert got == widths, (cell, size, got)


def test_depth_matching_option_is_larger_for_deep_models():
    assert models.width_for("lstm", 3, 64, 87, matching="depth") == 64
    rnn3 = models.width_for("rnn", 3, 64, 87, matching="depth")
    assert rnn3 > models.width_for("rnn", 3, 64, 87)
    # its count is near the 3-layer LSTM-64's, not the 1-layer one's
    assert abs(models.n_params("rnn", 3, rnn3, 87) - models.n_params("lstm", 3, 64, 87)) < 3 * 2 * rnn3 * 3
    table = models.width_table(87)
    assert table.loc[64, ("GRU", "1")].startswith("77 ")


def test_bad_arguments_raise_rnnviz_error():
    with pytest.raises(RnnvizError, match="cell"):
        CharRNN("transformer", K, H, L)
    with pytest.raises(RnnvizError, match="GRU variant"):
        CharRNN("gru", K, H, L, gru_variant="keras")
    with pytest.raises(RnnvizError, match="matching"):
        models.width_for("gru", 2, 64, 87, matching="layer")


def test_sample_is_reproducible_and_greedy_at_zero_temperature():
    m = CharRNN("gru", K, H, 2)
    a = models.sample(m, [1, 2, 3], 20, 1.0, torch.Generator().manual_seed(0))
    b = models.sample(m, [1, 2, 3], 20, 1.0, torch.Generator().manual_seed(0))
    assert a == b and len(a) == 20 and all(0 <= s < K for s in a)
    g = models.sample(m, [1, 2, 3], 5, 0.0)
    with torch.no_grad():
        logits, _ = m(torch.tensor([[1, 2, 3]]))
    assert g[0] == int(logits[0, -1].argmax())


@pytest.mark.parametrize("cell,variant", VARIANTS)
def test_step_hook_sees_every_memory_and_what_it_returns_is_used(cell, variant):
    # the hook analysis clamps units through (models.cell_step): identity changes nothing ...
    model, x, state = _model_and_inputs(cell, variant, seed=5)
    seen = []

    def identity(l, memory):
        seen.append((l, tuple(memory.shape)))
        return memory

    with torch.no_grad():
        ref, trace, ref_state = model.forward_traced(x, state)
        same, none, same_state = model.forward_traced(x, state, hook=identity, record=False)
    assert torch.equal(same, ref) and none is None
    assert sorted(seen) == sorted((l, (B, H)) for l in range(L) for _ in range(T))
    # ... and a unit held at 0 in the top layer is 0 in its output at every step (h = o·tanh(0) for the LSTM)
    def hold(l, memory):
        if l == L - 1:
            memory = memory.clone()
            memory[:, 2] = 0.0
        return memory

    with torch.no_grad():
        held, trace, held_state = model.forward_traced(x, state, hook=hold)
    assert torch.all(trace[-1]["h"][:, :, 2] == 0) and not torch.equal(held, ref)
    assert torch.all(trace[-1]["h"][:, :, 3] != 0)
