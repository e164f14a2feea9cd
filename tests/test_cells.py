"""Text features on hand-made strings, activations and their cache, clamped forward passes, the
cell ranking against references, a tiny trained LSTM that grows a quote cell, and `rnnviz cells`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from helpers import fit_tiny_lstm
from rnnviz_lib import cli, executors, train
from rnnviz_lib.analysis import activations as A
from rnnviz_lib.analysis import cells as C
from rnnviz_lib.analysis import features as F
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.models import CharRNN


def bits(a) -> str:
    return "".join(str(int(v)) for v in a)


# ----------------------------------------------------------------------------------------
# Features: pure functions of the bytes
# ----------------------------------------------------------------------------------------
def test_line_position_lf_and_crlf():
    assert F.line_position(b"ab\ncd\n\ne").tolist() == [0, 1, 2, 0, 1, 2, 0, 0]
    # CR is an ordinary byte at the end of its line; the count restarts after LF
    assert F.line_position(b"ab\r\ncd").tolist() == [0, 1, 2, 3, 0, 1]
    assert F.line_position(b"").size == 0


def test_line_end_next_lf_crlf_and_blank_lines():
    #                      a  b  \n c
    assert bits(F.line_end_next(b"ab\nc")) == "0100"
    #   'b' ends the line; the CR of the CRLF does not count again; LF is followed by CRLF (blank line)
    assert bits(F.line_end_next(b"ab\r\n\r\nc")) == "0101000"
    assert bits(F.line_end_next(b"x\n\n")) == "110"
    assert bits(F.line_end_next(b"x")) == "0"  # nothing follows the last byte


def test_prose_quotes_toggle_and_blank_line_reset():
    f = F.compute(b'a "b c" d', "prose")
    assert bits(f["in_quotes"].values) == "001111000"  # opening quote is inside, closing one outside
    # a paragraph that leaves its quote open (novels do) is closed by the blank line, CRLF or not
    text = b'"open\r\n\r\nx "y'
    #                                                  " o p e n \r\n\r\n x   " y
    assert bits(F.compute(text, "prose")["in_quotes"].values) == "1111111100011"
    assert "in_comment" not in F.compute(text, "prose")  # C-only features are absent in prose


def test_prose_brackets_never_below_zero():
    f = F.compute(b"a) (b [c] d) e", "prose")
    assert f["bracket_depth"].values.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 1, 1, 1, 0, 0, 0]


def test_c_strings_escapes_and_char_literals():
    f = F.compute(b'x = "a\\"(" + \'"\';', "c")
    #                                x _ = _ " a \ " ( " _ + _ ' " ' ;
    assert bits(f["in_quotes"].values) == "00001111100000000"
    assert f["bracket_depth"].values.max() == 0  # the ( inside the string does not count
    # an unterminated string ends at the newline
    assert bits(F.compute(b'"ab\nc"', "c")["in_quotes"].values) == "111001"


def test_c_comments_block_and_line():
    text = b'a /* "q" ( */ b // x "\nc'
    f = F.compute(text, "c")
    # the '*' of '/*' opens the comment, its closing '/' is outside; '//' runs to the newline
    assert bits(f["in_comment"].values) == "000" + "1" * 9 + "0" * 5 + "1" * 5 + "00"
    assert f["in_quotes"].values.max() == 0  # quotes inside comments are not strings
    assert f["bracket_depth"].values.max() == 0  # nor brackets
    # "/*/" does not close the comment it opens; "*/" then "/" is code again, not a new comment
    f2 = F.compute(b"/*/ x */ / y", "c")
    assert bits(f2["in_comment"].values) == "011111100000"
    # a comment opener inside a string is text
    assert F.compute(b'"/*" x', "c")["in_comment"].values.max() == 0


def test_c_if_body_is_brace_matched():
    text = b"if (a(b)) { x { y } z } w"
    f = F.compute(text, "c")
    on = bits(f["in_if_body"].values)
    i_open, i_close = text.index(b"{"), text.rindex(b"}")
    assert on == "0" * i_open + "1" * (i_close - i_open) + "0" * (len(text) - i_close)
    assert f["brace_depth"].values.max() == 2
    # a comment between the condition and its brace still opens the body
    assert F.compute(b"if (a) /* c */ {b}", "c")["in_if_body"].values[-2] == 1
    # no brace: a one-statement body is not marked; a later block is not an if body
    assert F.compute(b"if (a) return; {b}", "c")["in_if_body"].values.max() == 0
    # else bodies, the preprocessor's #if and identifiers that contain "if" are not if bodies
    assert F.compute(b"if (a) {b} else {c}", "c")["in_if_body"].values[-2] == 0
    assert F.compute(b"#if (X)\n{b}", "c")["in_if_body"].values.max() == 0
    assert F.compute(b"elif (a) {b} notif(x) {c}", "c")["in_if_body"].values.max() == 0
    # nested ifs: still inside the outer body after the inner one closes
    nested = b"if (a) { if (b) { c } d } e"
    v = F.compute(nested, "c")["in_if_body"].values
    assert v[nested.index(b"d")] == 1 and v[nested.index(b"e")] == 0


def test_compute_rejects_unknown_language_and_guesses():
    with pytest.raises(RnnvizError, match="unknown text language"):
        F.compute(b"x", "fortran")
    assert F.guess_lang(b"int main(void) { return 0; }\n" * 5) == "c"
    assert F.guess_lang(b"It was a dark and stormy night.\n" * 5) == "prose"
    assert F.lang_for_dataset("lk") == "c" and F.lang_for_dataset("wp") == "prose"


def test_glyphs_utf8_cr_bom_and_controls():
    text = "\ufeffé\r\n\tx\x01".encode()
    g = C.glyphs(text)
    assert len(g) == len(text)
    assert g[:3] == ["", "", ""]  # the BOM is not drawn
    assert g[3:5] == ["", "é"]  # a 2-byte character sits on its last byte
    assert g[5:] == ["", "\n", "\t", "x", "\u2401"]
    assert C.glyphs(b"\xe9")[0] == "\ufffd"  # a stray byte


# ----------------------------------------------------------------------------------------
# A fixture corpus with quotes, comments, brackets and if bodies
# ----------------------------------------------------------------------------------------
def fixture_text(n_lines: int = 1500, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "x", "y", "count", "len", "ptr", "buf"]
    lines = []
    for _ in range(n_lines):
        k, w = rng.integers(4), rng.choice(words)
        if k == 0:
            lines.append(f'{w} = "{" ".join(rng.choice(words, rng.integers(1, 4)))}";')
        elif k == 1:
            lines.append(f"if ({w}) {{ {rng.choice(words)}({w}); }}")
        elif k == 2:
            lines.append(f"/* {' '.join(rng.choice(words, rng.integers(1, 5)))} */")
        else:
            lines.append(f"{w}({rng.choice(words)}, {rng.choice(words)});")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def trained():
    """A 1-layer LSTM (H=24) trained for 300 Adam steps on the fixture: it learns a quote cell."""
    text = fixture_text()
    model, vocab = fit_tiny_lstm(text, hidden=24, steps=300)
    sample = A.sample_bytes(text[:4000], vocab, lang="c", source="fixture")
    acts = A.compute_activations(model, sample)
    feats = C.sample_features(sample)
    return {"model": model, "vocab": vocab, "text": text, "sample": sample, "acts": acts, "feats": feats,
            "ranking": C.rank_cells(acts, feats)}


# ----------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell,variant", [("lstm", "torch"), ("gru", "torch"), ("gru", "paper"), ("rnn", "torch")])
def test_activations_match_traced_path_across_burn_in(cell, variant):
    torch.manual_seed(1)
    K, H, L = 7, 5, 2
    model = CharRNN(cell, K, H, L, gru_variant=variant, init_range=0.5).eval()
    ids = np.random.default_rng(0).integers(0, K, size=(3, 4 + 9 + 1)).astype(np.uint8)
    vocab = np.arange(65, 65 + K, dtype=np.uint8)
    sample = A.TextSample(ids, 4, vocab, tuple(b"" for _ in range(3)), (0, 0, 0), "prose", "random")
    acts = A.compute_activations(model, sample, chunk=4)  # chunks carry the state
    with torch.no_grad():
        logits, trace, _ = model.forward_traced(torch.from_numpy(ids[:, :-1].astype(np.int64)))
    assert acts.x.shape == (3, 9) and acts.layers[1]["h"].shape == (3, 9, H)
    for l in range(L):
        for k in A.KEEP[cell]:
            np.testing.assert_allclose(acts.layers[l][k].astype(np.float32), trace[l][k][:, 4:].numpy(), atol=2e-3)
    lp = torch.log_softmax(logits[:, 4:], -1).gather(-1, torch.from_numpy(ids[:, 5:].astype(np.int64)).unsqueeze(-1))
    np.testing.assert_allclose(acts.logp, lp.squeeze(-1).numpy(), atol=1e-5)
    top = torch.softmax(logits[:, 4:], -1).topk(5, -1)
    np.testing.assert_array_equal(acts.top_ids, top.indices.numpy())
    if cell == "lstm":
        np.testing.assert_allclose(acts.cell_values(0), np.tanh(trace[0]["c"][:, 4:].numpy()), atol=2e-3)
    else:
        np.testing.assert_allclose(acts.cell_values(0), trace[0]["h"][:, 4:].numpy(), atol=2e-3)


def test_activations_cache_roundtrip(home):
    torch.manual_seed(2)
    model = CharRNN("gru", 6, 4, 3).eval()
    vocab = np.frombuffer(b"abc\n\"(", np.uint8)
    sample = A.sample_bytes(b'ab"c(a\nb"' * 20, np.sort(vocab), lang="prose")
    first = A.activations(model, sample)
    d = A.activations_dir(A.model_key(model), sample)
    f = d / "acts.npz"
    assert f.is_file() and (d / "meta.json").is_file()
    stamp = f.stat().st_mtime_ns
    again = A.activations(model, sample)
    assert f.stat().st_mtime_ns == stamp  # read back, not recomputed
    for l in range(3):
        np.testing.assert_array_equal(first.layers[l]["z"], again.layers[l]["z"])
    assert again.layers[0]["z"].dtype == np.float16
    # another text or another model is another artifact
    other = A.sample_bytes(b'ab"c(a\nb"' * 21, np.sort(vocab), lang="prose")
    assert A.activations_dir(A.model_key(model), other) != d
    with torch.no_grad():
        model.decoder.bias.add_(1.0)
    assert A.activations_dir(A.model_key(model), sample) != d


def test_sample_bytes_drops_unknown_bytes_and_rejects_empty():
    vocab = np.frombuffer(b"ab", np.uint8)
    s = A.sample_bytes(b"aXbYab", vocab)
    assert s.text(0) == b"aba" and s.y[0].tolist() == [1, 0, 1]
    with pytest.raises(RnnvizError, match="fewer than 2 symbols"):
        A.sample_bytes(b"XYZ", vocab)


def test_sample_split_reads_validation_streams_with_context(wp_path):
    from rnnviz_lib import data

    corpus = data.load_corpus("wp")
    sp = data.corpus_splits(corpus)
    s = A.sample_split(corpus, sp.val, n_streams=3, n_steps=50, burn=20, context=100)
    assert s.ids.shape == (3, 20 + 50 + 1) and s.burn == 20 and s.B == 3
    np.testing.assert_array_equal(s.x[0], sp.val.x[0, :50])  # stream 0 of the validation split
    np.testing.assert_array_equal(s.y[-1], sp.val.y[-1, :50])  # and the last one
    assert s.feature_text[0][s.context[0]:] == s.text(0)
    with pytest.raises(RnnvizError, match="fewer than"):
        A.sample_split(corpus, sp.val, n_steps=10**6)


# ----------------------------------------------------------------------------------------
# Interventions
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell,variant", [("lstm", "torch"), ("gru", "torch"), ("gru", "paper"), ("rnn", "torch")])
def test_clamped_forward_without_clamp_is_the_model(cell, variant):
    torch.manual_seed(3)
    model = CharRNN(cell, 9, 6, 3, gru_variant=variant, init_range=0.3).eval()
    x = torch.randint(0, 9, (2, 13))
    ref, ref_state = model(x)
    out, state = A.clamped_forward(model, x)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state[0] if cell == "lstm" else state, ref_state[0] if cell == "lstm" else ref_state,
                               atol=1e-5, rtol=1e-5)


def test_clamp_sets_the_unit_one_step_by_hand():
    torch.manual_seed(4)
    K, H, j, v = 5, 4, 2, 0.7
    x = torch.tensor([[3]])
    onehot = torch.nn.functional.one_hot(x[0, 0], K).float()
    # LSTM, one step from zeros: c = i*g, then c[j] = v, h = o * tanh(c)
    m = CharRNN("lstm", K, H, 1, init_range=0.5).eval()
    pre = m.rnn.weight_ih_l0 @ onehot + m.rnn.bias_ih_l0 + m.rnn.bias_hh_l0
    i, f, g, o = pre.split(H)
    c = torch.sigmoid(i) * torch.tanh(g)
    c[j] = v
    h = torch.sigmoid(o) * torch.tanh(c)
    out, (hN, cN) = A.clamped_forward(m, x, clamp={(0, j): v})
    torch.testing.assert_close(out[0, 0], m.decoder(h), atol=1e-6, rtol=1e-6)
    assert cN[0, 0, j].item() == pytest.approx(v)
    # RNN: h[j] = v
    r = CharRNN("rnn", K, H, 1, init_range=0.5).eval()
    h = torch.tanh(r.rnn.weight_ih_l0 @ onehot + r.rnn.bias_ih_l0 + r.rnn.bias_hh_l0)
    h[j] = v
    out, _ = A.clamped_forward(r, x, clamp={(0, j): v})
    torch.testing.assert_close(out[0, 0], r.decoder(h), atol=1e-6, rtol=1e-6)


def test_clamping_a_disconnected_unit_changes_nothing():
    torch.manual_seed(5)
    m = CharRNN("gru", 6, 5, 2, init_range=0.4).eval()
    with torch.no_grad():
        m.rnn.weight_hh_l1[:, 3] = 0  # unit 3 of the top layer feeds nothing but the classifier...
        m.decoder.weight[:, 3] = 0  # ... and not even that
    x = torch.randint(0, 6, (2, 8))
    base, _ = A.clamped_forward(m, x)
    same, _ = A.clamped_forward(m, x, clamp={(1, 3): 0.9})
    torch.testing.assert_close(same, base)
    moved, _ = A.clamped_forward(m, x, clamp={(1, 2): 0.9})  # a connected unit does matter
    assert (moved - base).abs().max() > 1e-3


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forward_from_a_layer_continues_the_full_forward(cell):
    torch.manual_seed(6)
    m = CharRNN(cell, 7, 5, 3, init_range=0.4).eval()
    x = torch.randint(0, 7, (3, 9))
    state = m.init_state(3)
    state = (state[0] + 0.1, state[1] - 0.2) if cell == "lstm" else state + 0.1
    with torch.no_grad():
        full, trace, end = m.forward_traced(x, state)
        for start in (1, 2):
            part, ptrace, pend = m.forward_traced(trace[start - 1]["h"], state, start=start)
            torch.testing.assert_close(part, full, atol=1e-6, rtol=1e-6)
            assert ptrace[:start] == [None] * start
            torch.testing.assert_close(ptrace[2]["h"], trace[2]["h"], atol=1e-6, rtol=1e-6)
            pairs = zip(*(v if cell == "lstm" else (v,) for v in (pend, end, state)))
            for got, want, given in pairs:
                torch.testing.assert_close(got[start:], want[start:], atol=1e-6, rtol=1e-6)
                assert torch.equal(got[:start], given[:start])  # the layers below pass their state through
        _, only_h, _ = m.forward_traced(x, state, record="h")  # each layer's output only, no gates
        assert [set(t) for t in only_h] == [{"h"}] * 3
        for a, b in zip(only_h, trace):
            assert torch.equal(a["h"], b["h"])
        with pytest.raises(RnnvizError, match=r"output of layer 1"):
            m.forward_traced(x, state, start=2)  # ids where layer 1's output is needed
        with pytest.raises(RnnvizError, match="start must be a layer"):
            m.forward_traced(x, state, start=3)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_many_clamps_in_one_pass_give_each_clamps_own_loss(cell):
    """sample_logp_many (clamps batched, lower layers computed once) against one plain clamped
    forward over the whole sample per clamp."""
    torch.manual_seed(7)
    K, B, burn, T = 9, 3, 4, 23
    m = CharRNN(cell, K, 6, 3, init_range=0.5).eval()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, K, (B, burn + T + 1)).astype(np.uint8)
    sample = A.TextSample(ids, burn, np.arange(K, dtype=np.uint8), tuple(b"x" * T for _ in range(B)), (0,) * B,
                          "prose", "test")
    clamps = [{(2, 1): 0.0}, None, {(0, 3): 0.5}, {(1, 2): -0.3, (2, 4): 0.2}, {(2, 5): 0.7}, {(1, 0): 0.0}, None]
    x = torch.from_numpy(ids.astype(np.int64))

    def reference(clamp):
        logits, _ = A.clamped_forward(m, x[:, :-1], clamp=clamp)
        return torch.log_softmax(logits, -1).gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1).detach().numpy()[:, burn:]

    want = [reference(c) for c in clamps]
    assert all(np.abs(w - want[1]).max() > 1e-4 for w, c in zip(want, clamps) if c)  # each clamp moves the loss
    for chunk, rows_per_pass in ((None, 320), (5, 2 * B), (7, B)):  # one pass; groups of two; one clamp per pass
        got = A.sample_logp_many(m, sample, clamps, chunk=chunk, rows_per_pass=rows_per_pass)
        assert len(got) == len(clamps)
        for g, w in zip(got, want):
            assert g.shape == (B, T)
            np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(A.sample_logp(m, sample, clamps[0]), want[0], atol=1e-5, rtol=1e-5)
    assert not m.training
    with pytest.raises(RnnvizError, match="names layer 0, but the pass runs layers 1"):
        A.clamped_forward(m, torch.zeros(B, 2, 6), clamp={(0, 1): 0.0}, start=1)
    with pytest.raises(RnnvizError, match="2 row clamps for a batch of 3"):
        A.clamped_forward(m, x[:, :5], rows=[None, None])
    with pytest.raises(RnnvizError, match="names unit 6 of layer 2, but the model's layers have 6 units"):
        A.sample_logp_many(m, sample, [None, {(2, 6): 0.0}])
    assert A.sample_logp_many(m, sample, []) == []


def test_the_clamping_benchmark_times_both_paths_on_the_same_numbers(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "causal_clamping.py"
    out = tmp_path / "cc.json"
    proc = subprocess.run([sys.executable, str(bench), "--random", "gru", "3", "24", "--streams", "3", "--steps", "40",
                           "--burn", "8", "--clamps", "5", "--layer", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(out.read_text())["rows"]
    assert row["clamps"] == 5 and row["layer"] == 2 and row["symbols"] == 3 * 48
    assert row["per_clamp_s"] > 0 and row["batched_s"] > 0 and row["max_abs_diff"] < 1e-5
    assert "per clamp s" in proc.stdout and row["model"] in proc.stdout


# ----------------------------------------------------------------------------------------
# Ranking
# ----------------------------------------------------------------------------------------
def _acts_from(values: np.ndarray) -> A.Activations:
    """Activations of a 1-layer 'rnn' whose h is ``values`` (B, T, H)."""
    B, T, H = values.shape
    z = np.zeros((B, T), np.uint8)
    return A.Activations("rnn", [{"h": values.astype(np.float16)}], np.zeros((B, T, 5), np.uint8),
                         np.zeros((B, T, 5), np.float16), np.zeros((B, T), np.float32), z, z)


def test_rank_cells_against_sklearn_and_numpy():
    rng = np.random.default_rng(0)
    B, T, H = 2, 300, 6
    pos = rng.integers(0, 2, (B, T)).astype(np.float32)
    cont = rng.normal(size=(B, T)).astype(np.float32)
    vals = np.tanh(rng.normal(size=(B, T, H)))
    vals[..., 4] = np.where(pos > 0, -0.5, 0.5) + 0.01 * rng.normal(size=(B, T))  # tracks pos, inverted
    vals[..., 1] = np.tanh(cont) * 0.9  # tracks the continuous feature
    vals[..., 5] = 0.9901 + 0.001 * pos  # tracks pos perfectly, but too faintly to see: must not count
    acts = _acts_from(vals)
    feats = {"in_quotes": F.Feature("in_quotes", F.BINARY, "q", pos),
             "line_position": F.Feature("line_position", F.CONTINUOUS, "p", cont),
             "brace_depth": F.Feature("brace_depth", F.CONTINUOUS, "const", np.zeros((B, T), np.float32))}
    rk = C.rank_cells(acts, feats)
    assert set(rk["feature"]) == {"in_quotes", "line_position"}  # the constant feature is left out
    best = C.best_cells(rk).set_index("feature")
    assert best.loc["in_quotes", "cell"] == "L1.4" and best.loc["in_quotes", "sign"] == -1
    assert best.loc["line_position", "cell"] == "L1.1" and best.loc["line_position", "sign"] == 1
    V = np.round(acts.cell_values(0).reshape(-1, H) * 127) / 127  # scored at the pages' colour resolution
    q = rk[rk.feature == "in_quotes"].set_index("unit")["score"]
    for u in range(H):
        auc = roc_auc_score(pos.reshape(-1), V[:, u])
        assert q[u] == pytest.approx(max(auc, 1 - auc), abs=1e-9)
    p = rk[rk.feature == "line_position"].set_index("unit")["score"]
    for u in range(H):
        ref = abs(np.corrcoef(cont.reshape(-1), V[:, u])[0, 1]) if np.ptp(V[:, u]) > 0 else 0.0
        assert p[u] == pytest.approx(ref, abs=1e-6)
    assert q[5] == pytest.approx(0.5)
    table = C.cell_table(rk)
    assert table.set_index("cell").loc["L1.4", "strong"] and not table.set_index("cell").loc["L1.0", "strong"]
    summ = C.interpretable_summary(rk)
    assert summ.loc["all", "interpretable"] == 2 and summ.loc["all", "fraction"] == pytest.approx(2 / H)
    weak = C.uninterpretable_cell(rk, seed=0)
    assert weak["cell"] not in ("L1.1", "L1.4")
    assert C.uninterpretable_cell(rk, seed=0)["cell"] == weak["cell"]  # seeded
    # with a spread per cell, only cells at least as busy as the median one are candidates
    picks = {C.uninterpretable_cell(rk, seed=k, quantile=0.75, spread=np.arange(H))["cell"] for k in range(8)}
    assert picks <= {"L1.3", "L1.5"}
    # a text on which no feature could be computed gives an empty ranking: one clear error, no crash
    with pytest.raises(RnnvizError, match="ranking is empty"):
        C.uninterpretable_cell(rk.iloc[0:0], seed=0)


def test_pick_window_finds_the_busy_stretch():
    v = np.zeros((2, 400), np.float32)
    v[1, 250:300:5] = 1  # many switches in stream 1 around 250..300
    b, a = C.pick_window(v, F.BINARY, 60)
    assert b == 1 and a <= 250 and a + 60 >= 295


def test_trained_lstm_grows_a_quote_cell_that_matters(trained):
    """The quote cell of a trained model beats every cell of the same model untrained, and clamping
    it hurts the prediction of '"' far more than the prediction of symbols in general."""
    rk, s = trained["ranking"], trained["sample"]
    best = C.best_cells(rk).set_index("feature")
    untrained = CharRNN("lstm", trained["vocab"].size, 24, 1)
    rk0 = C.rank_cells(A.compute_activations(untrained, s), trained["feats"])
    best0 = C.best_cells(rk0).set_index("feature")
    assert best.loc["in_quotes", "score"] >= 0.85
    assert best.loc["in_quotes", "score"] > best0.loc["in_quotes", "score"] + 0.1
    assert best.loc["line_end_next", "score"] > best0.loc["line_end_next", "score"]
    eff = C.causal_effects(trained["model"], s, trained["acts"], trained["feats"],
                           C.best_cells(rk)[lambda d: d.feature == "in_quotes"], modes=("zero",))
    row = eff.iloc[0]
    assert row["n_governed"] == int((s.vocab[s.y] == ord('"')).sum())
    assert row["d_governed"] > 0.3 and row["d_governed"] > 3 * row["d_all"]


def test_figure2_panels_and_the_uninterpretable_contrast(trained):
    study = C.CellStudy("fixture", trained["model"], None, trained["sample"], trained["acts"], trained["feats"],
                        trained["ranking"])
    panels = C.figure2_panels(study, width=200, seed=1)
    assert [p["feature"] for p in panels[:-1]] == list(C.best_cells(trained["ranking"])["feature"])
    assert panels[-1]["feature"] == "" and "not easily interpretable" in panels[-1]["title"]
    for p in panels:
        assert len(p["glyphs"]) == len(p["values"]) == 200
        assert np.abs(p["values"]).max() <= 1
    # the panel shows the best cell's own values over its window
    q = panels[[p["feature"] for p in panels].index("in_quotes")]
    assert q["cell"] == C.best_cells(trained["ranking"]).set_index("feature").loc["in_quotes", "cell"]


# ----------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------
def test_rnnviz_cells_command(home, tmp_path, capsys):
    corpus = home / "fixture.c"
    corpus.write_bytes(fixture_text(600, seed=1))
    cfg = train.TrainConfig(dataset=str(corpus), cell="lstm", layers=2, size=16, hidden=12, epochs=1, batch_size=8,
                            seq_length=40, max_eval_batches=2, max_test_batches=1, device="cpu")
    run = train.train_run(cfg)
    text = tmp_path / "other.c"
    text.write_bytes(b'if (x) { y = "len"; } /* ptr */\n\xff' * 30)  # \xff is not in the vocabulary
    out = tmp_path / "out"
    rc = cli.main(["cells", "--run", str(run), "--text", str(text), "--out", str(out), "--no-causal", "--symbols", "500"])
    assert rc == 0
    name = cfg.slug
    for suffix in ("-cells.csv", "-cells-summary.csv", "-figure2.png", "-figure3.png", "-saturation.csv",
                   "-explorer.html"):
        assert (out / f"{name}{suffix}").is_file(), suffix
    rows = list(csv.DictReader(open(out / f"{name}-cells.csv")))
    assert len(rows) == 2 * 12 * len({r["feature"] for r in rows})
    assert {"in_comment", "in_if_body", "in_quotes"} <= {r["feature"] for r in rows}  # read as C
    assert "track a feature strongly" in capsys.readouterr().out
    page = (out / f"{name}-explorer.html").read_text()
    assert "rnnviz-data" in page and len(page) < 2_000_000
    # without --text: ranked on validation streams; the page shows one longer stretch of stream 0
    out2 = tmp_path / "out2"
    assert cli.main(["cells", "--run", str(run), "--out", str(out2), "--streams", "3", "--steps", "30", "--burn", "5",
                     "--symbols", "10000", "--no-causal"]) == 0
    page = (out2 / f"{name}-explorer.html").read_text()
    data = json.loads(page.split('id="rnnviz-data">')[1].split("</script>")[0])
    corpus_, splits = train.load_splits(cfg)
    assert len(data["glyphs"]) == splits.val.x.shape[1] > 30  # the whole of stream 0, not the 30 ranked steps
    assert data["x"] == splits.val.x[0].tolist()
    assert "3 streams x 30" in data["note"]
    # bad input: one line, exit code 2
    assert cli.main(["cells", "--run", str(tmp_path), "--out", str(out)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert cli.main(["cells", "--run", str(run), "--text", str(tmp_path / "nope.txt"), "--out", str(out)]) == 2


def test_grid_studies_find_the_grid_runs(home):
    from rnnviz_lib import grid

    corpus = home / "tiny corpus.c"
    corpus.write_bytes(fixture_text(500, seed=2))
    section = {"datasets": [str(corpus)], "models": ["lstm-1-16"], "dropout": [0.0],
               "train": {"epochs": 1, "batch_size": 8, "seq_length": 40, "max_train_batches": 10,
                         "max_eval_batches": 2, "max_test_batches": 1, "device": "cpu"}}
    assert [r["status"] for r in executors.run(grid.expand(section))] == ["done"]
    studies, missing = C.grid_studies(section, [str(corpus), "lk"], ["lstm-1-16", "gru-3-16"],
                                      n_streams=3, n_steps=40, burn=10)
    assert list(studies) == ["tiny-corpus-lstm-1-16"]
    st = studies["tiny-corpus-lstm-1-16"]
    assert st.acts.x.shape == (3, 40) and st.sample.lang == "c"  # the corpus looks like C
    assert set(missing) == {"tiny-corpus-gru-3-16", "lk"}
    assert "grid has no gru-3-16" in missing["tiny-corpus-gru-3-16"] and "trains no lk models" in missing["lk"]
    corpus.rename(home / "elsewhere.c")  # the corpus cannot be had: the dataset is left out with its reason
    studies, missing = C.grid_studies(section, [str(corpus)], ["lstm-1-16"], n_streams=3, n_steps=40, burn=10)
    assert studies == {} and list(missing) == [str(corpus)] and "not available" in missing[str(corpus)]
