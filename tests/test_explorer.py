"""The cell explorer page in a real headless browser (Chromium via Playwright): it loads with no
console errors, choosing a cell re-colours the text with the cell's own values, hovering shows
the model's top-5 guesses, and hostile text (``</script>``, ``<script>``, ``<img onerror>``), in
the text itself and in the text's name, shows as text and never runs; a check that these checks
catch a page built without the JSON escaping. Then the questions a researcher asks: ``match``
(LSTMVis's on-set / off-set ranking), ``fires`` and ``top_contexts`` on hand-made arrays whose
answers are known, and in the browser, on a small LSTM trained to track quotes, selecting a
quoted span ranks the quote cell first, exactly as the library does; the top-contexts lists
show k windows; a page of two models side by side renders and searches both."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from helpers import fit_tiny_lstm, open_page
from rnnviz_lib import explorer
from rnnviz_lib.analysis import activations as A
from rnnviz_lib.analysis import cells as C
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.models import CharRNN

HOSTILE = ('</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           "<!-- a & b -->")
TEXT = (
    b"/* compare */\nif (a < b && c > d) {\n\tx = \"q&amp;\";\n}\n"
    + HOSTILE.encode() + b"\n"
    + b"int f(int n) { return n >> 1; } // shift\n" * 6
    + "caf\u00e9 \"quoted\" text\r\n".encode() * 4
)


def _page_inputs(seed: int = 0):
    vocab = np.unique(np.frombuffer(TEXT, np.uint8))
    torch.manual_seed(seed)
    model = CharRNN("lstm", vocab.size, 6, 2, init_range=0.6).eval()  # wide init: cells differ visibly
    sample = A.sample_bytes(TEXT, vocab, lang="c", source=f"text named {HOSTILE}")  # a file name can be hostile too
    acts = A.compute_activations(model, sample)
    ranking = C.rank_cells(acts, C.sample_features(sample))
    return sample, acts, ranking


def _open(browser, path, hash_: str = ""):
    return open_page(browser, path, hash_, width=1200)


def _hostile_checks(page, problems) -> list[str]:
    """Everything that is wrong with a page that got hostile text (empty: all well)."""
    out = list(problems)
    if page.evaluate("window.rnnvizReady") is not True:
        out.append("the page script did not finish")
    if page.evaluate("typeof window.__pwned") != "undefined":
        out.append("script from the text ran")
    if page.evaluate("document.querySelectorAll('img').length + document.querySelectorAll('script').length") != 2:
        out.append("the text made elements")  # the page itself has two scripts (data, code) and no image
    shown = page.evaluate("Array.from(document.querySelectorAll('.text')).map(e => e.textContent).join('|')")
    if HOSTILE not in shown:
        out.append("the hostile text is not shown verbatim")
    if HOSTILE not in (page.evaluate("document.getElementById('note').textContent") or ""):
        out.append("the hostile source name is not shown verbatim")
    return out


def _bg(page, n: int, pane: int = 0) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll('#m{pane} .text span.s')).slice(0, {n})"
                         ".map(s => getComputedStyle(s).backgroundColor)")


def _rgb(hexcol: str) -> str:
    r, g, b = (int(hexcol[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.mark.fast
def test_script_json_cannot_close_its_element():
    nasty = {"t": "</script><!-- & \u2028 \u2029 <b>", "n": [1, 2]}
    s = explorer.script_json(nasty)
    assert not re.search("[<>&\u2028\u2029]", s)
    assert json.loads(s) == nasty


@pytest.mark.fast
def test_render_substitutes_once_and_escapes_the_title():
    html = explorer.render({"title": "a <b> __DATA__ __NONCE__", "x": "__TITLE__"})
    assert "<title>a &lt;b&gt; __DATA__ __NONCE__</title>" in html
    assert '"x":"__TITLE__"' in html  # placeholders spelled in the data are left alone
    nonces = set(re.findall(r"nonce-([\w-]+)'", html)) | set(re.findall(r'nonce="([\w-]+)"', html))
    assert len(nonces) == 1 and "__NONCE__" not in html.split("<title>")[0]
    assert "http" not in html.replace("http-equiv", "")  # nothing to fetch


def test_page_loads_recolours_and_shows_predictions(browser, tmp_path):
    sample, acts, ranking = _page_inputs()
    path = explorer.write_explorer(tmp_path / "page.html", sample, acts, ranking,
                                   title="explorer <b>test</b>", meta="meta & more")
    page, problems = _open(browser, path)
    assert _hostile_checks(page, problems) == []
    assert page.title() == "explorer <b>test</b>"
    assert page.text_content("#title") == "explorer <b>test</b>" and page.text_content("#meta") == "meta & more"
    T = acts.x.shape[1]
    assert page.evaluate("document.querySelectorAll('#m0 .text span.s').length") == T

    palette = explorer._palette()
    vals = acts.all_cell_values()[0]  # (T, L·H)

    def expected(layer: int, unit: int, n: int) -> list[str]:
        q = np.clip(np.round(vals[:n, layer * acts.H + unit] * 127), -127, 127).astype(int)
        return [_rgb(palette[v + 127]) for v in q]

    # pick layer 2, cell 3 by hand: every span takes that cell's colour
    page.select_option("#m0 .layer", "1")
    page.fill("#m0 .cell", "3")
    page.dispatch_event("#m0 .cell", "change")
    after = _bg(page, T)
    assert after == expected(1, 3, T)
    assert page.text_content("#m0 .info").startswith("Cell L2.3")
    page.click("#m0 .prev")
    assert page.input_value("#m0 .cell") == "2" and _bg(page, T) == expected(1, 2, T) != after

    # pick a feature: its best cells become buttons; a click shows that cell
    feats = list(ranking["feature"].unique())
    k = feats.index("in_quotes")
    page.select_option("#m0 .feature", str(k))
    buttons = page.locator("#m0 .best button")
    top = C.best_cells(ranking, 8)
    top = top[top.feature == "in_quotes"]
    assert buttons.count() == len(top)
    assert _bg(page, T) == expected(int(top.iloc[0].layer) - 1, int(top.iloc[0].unit), T)  # jumps to the best
    buttons.nth(1).click()
    assert _bg(page, T) == expected(int(top.iloc[1].layer) - 1, int(top.iloc[1].unit), T)

    # hover a symbol: the tooltip lists the model's five best guesses for the next symbol
    t = 7
    page.hover(f"#m0 .text span.s >> nth={t}")
    tip = page.locator("#tip")
    assert tip.is_visible()
    rows = tip.locator("tr")
    assert rows.count() == 5
    labels = [explorer.byte_label(int(sample.vocab[i])) for i in acts.top_ids[0, t]]
    assert [rows.nth(i).locator("td").first.text_content() for i in range(5)] == [f"\u2039{x}\u203a" for x in labels]
    probs = [float(rows.nth(i).locator("td").nth(1).text_content()) for i in range(5)]
    np.testing.assert_allclose(probs, acts.top_p[0, t].astype(float), atol=0.005)
    assert problems == []


def test_deep_link_opens_a_cell(browser, tmp_path):
    sample, acts, ranking = _page_inputs(seed=1)
    path = explorer.write_explorer(tmp_path / "p.html", sample, acts, ranking, title="t")
    page, problems = _open(browser, path, "#L2.4")
    assert page.input_value("#m0 .layer") == "1" and page.input_value("#m0 .cell") == "4"
    assert problems == []


def test_the_checks_catch_a_page_without_escaping(browser, tmp_path, monkeypatch):
    """Build the page with plain json.dumps in place of script_json: the checks above must fail."""
    sample, acts, ranking = _page_inputs()
    monkeypatch.setattr(explorer, "script_json", lambda obj: json.dumps(obj, ensure_ascii=False))
    path = explorer.write_explorer(tmp_path / "unsafe.html", sample, acts, ranking, title="unsafe")
    page, problems = _open(browser, path)
    assert _hostile_checks(page, problems) != []


# ----------------------------------------------------------------------------------------
# Search by selection, firing runs and top contexts on hand-made arrays
# ----------------------------------------------------------------------------------------
def _hand_made() -> np.ndarray:
    """(T=12, N=4) cell values, 2 layers of 2 cells, for the selection 4..7 with a margin of 1.

    cell 2 (L2.0): on inside, off everywhere else -> the exact match;
    cell 3 (L2.1): low inside, high around -> exact only with its sign flipped;
    cell 1 (L1.1): on for half the selection -> in between;
    cell 0 (L1.0): off inside, on around -> first if on and off were swapped."""
    v = np.zeros((12, 4))
    v[:, 2], v[4:8, 2] = -0.5, 1.0
    v[:, 3], v[4:8, 3] = 0.6, -0.8
    v[:, 1], v[4:6, 1] = -0.9, 0.9
    v[:, 0], v[4:8, 0] = 0.9, 0.0
    return v


def _gru_acts(values: np.ndarray) -> A.Activations:
    """Activations of a GRU whose h is ``values`` (B, T, L·H) with H=2, for the library's Activations input."""
    B, T, N = values.shape
    layers = [{k: (values[..., l * 2 : (l + 1) * 2] if k == "h" else np.zeros((B, T, 2))).astype(np.float16)
               for k in A.KEEP["gru"]} for l in range(N // 2)]
    x = np.arange(B * T, dtype=np.uint8).reshape(B, T) % 5
    return A.Activations("gru", layers, np.zeros((B, T, 5), np.uint8), np.zeros((B, T, 5), np.float16),
                         np.zeros((B, T), np.float32), x, x)


@pytest.mark.fast
def test_match_ranks_on_inside_off_around_first():
    v = _hand_made()
    m = explorer.match(v, 4, 8, threshold=0.3, margin=1, H=2)
    assert m["cell"].tolist() == ["L2.0", "L2.1", "L1.1", "L1.0"]
    assert m["index"].tolist() == [2, 3, 1, 0] and m["sign"].tolist() == [1, -1, 1, -1]
    assert m["exact"].tolist() == [True, True, False, False]
    np.testing.assert_allclose(m["on"], [1, 1, 0.5, 0])
    np.testing.assert_allclose(m["off"], [1, 1, 1, 1])
    np.testing.assert_allclose(m["score"], [1, 1, 0.75, 0.5])
    # contrast: mean inside minus mean in the margin, at 1/127 steps: cell 2 (127 + 64) / 127
    assert m["contrast"][0] == pytest.approx((127 + 64) / 127) and m["contrast"][1] == pytest.approx((102 + 76) / 127)
    # the swapped cell (on around, off inside) is last, whatever the sign
    unsigned = explorer.match(v, 4, 8, threshold=0.3, margin=1, signed=False, H=2)
    assert unsigned["cell"].tolist()[0] == "L2.0" and unsigned.set_index("cell").loc["L1.0", "score"] == 0
    assert unsigned.set_index("cell").loc["L2.1", "score"] == 0  # low inside only counts when signed


@pytest.mark.fast
def test_match_threshold_margin_and_edges():
    v = _hand_made()
    # cell 1 is at 0.9 for two steps: above 0.95 it is never on
    assert explorer.match(v, 4, 6, threshold=0.95, H=2).set_index("cell").loc["L1.1", "on"] == 0
    assert explorer.match(v, 4, 6, threshold=0.3, H=2)["cell"][0] == "L1.1"  # on exactly there
    # a wider margin: cell 0 is on in all of 0..3 and 8..11, so it stays off-score 0 as +1
    wide = explorer.match(v, 4, 8, margin=(4, 4), H=2).set_index("cell")
    assert wide.loc["L2.0", "exact"] and wide.loc["L1.0", "off"] == 1.0 and wide.loc["L1.0", "sign"] == -1
    # at the text's start the left margin is empty: only the right one (step 4) counts
    edge = explorer.match(v, 0, 4, margin=(3, 1), H=2).set_index("cell")
    assert edge.loc["L1.0", "exact"] and edge.loc["L1.0", "sign"] == 1  # 0.9 at 0..3, 0.0 (off) at 4
    assert edge.loc["L2.1", "exact"] and edge.loc["L2.1", "sign"] == 1  # 0.6 at 0..3, -0.8 at 4
    assert edge.loc["L2.0", "exact"] and edge.loc["L2.0", "sign"] == -1  # -0.5 at 0..3 then 1.0: low inside
    # no margin at all (the whole text): off counts as 1, on decides
    whole = explorer.match(v, 0, 12, H=2)
    assert (whole["off"] == 1).all() and (whole["cell"][0], whole["sign"][0]) == ("L1.1", -1)  # -0.9 on 10 of 12 steps
    assert whole["on"][0] == pytest.approx(10 / 12) and whole["on"][1] == pytest.approx(8 / 12)
    # an Activations gives the same ranking as its array of cell values
    acts = _gru_acts(v[None])
    pd_a = explorer.match(acts, 4, 8)
    pd_b = explorer.match(acts.all_cell_values()[0], 4, 8, H=2)
    assert pd_a.equals(pd_b)
    for bad in ((5, 5), (-1, 3), (3, 13)):
        with pytest.raises(RnnvizError, match="selection"):
            explorer.match(v, *bad)
    with pytest.raises(RnnvizError, match="shape"):
        explorer.match(v[:, 0], 0, 2)


@pytest.mark.fast
def test_fires_finds_the_runs_where_the_set_is_on():
    v = _hand_made()
    v[10, 2] = 0.8  # one step on elsewhere: shorter than the minimum run
    m = explorer.match(v, 4, 8, margin=1, H=2)
    assert explorer.fires(v, m.head(1), H=2) == [(4, 8)]
    assert explorer.fires(v, m.head(1), min_length=1, H=2) == [(4, 8), (10, 11)]
    assert explorer.fires(v, m.head(2), H=2) == [(4, 8)]  # with cell 3 flipped, on only inside
    assert explorer.fires(v, [3], H=2) == [(0, 4), (8, 12)]  # unflipped, cell 3 is on around
    assert explorer.fires(v, [0, 3], H=2) == [(0, 4), (8, 12)]


@pytest.mark.fast
def test_top_contexts_are_the_extremes_in_separate_windows():
    v = np.zeros((2, 40, 2))
    v[0, 5, 0], v[0, 7, 0], v[1, 30, 0], v[1, 10, 0] = 0.9, 0.8, 0.7, -0.6
    acts = _gru_acts(v)
    text = bytes(range(97, 97 + 5)) * 20
    sample = A.sample_bytes(text, np.arange(97, 102, dtype=np.uint8))
    sample = A.TextSample(np.zeros((2, 41), np.uint8), 0, sample.vocab, ("",) * 2, (0, 0), "prose", "t")
    ctx = explorer.top_contexts(acts, sample, k=3, before=3, after=1)
    q = lambda x: round(float(np.round(x * 127) / 127), 4)  # noqa: E731
    # 0.8 at step 7 is inside the window of step 5 (radius before + after = 4): skipped
    assert ctx["hi"][0] == [[0, 5, q(0.9)], [1, 30, q(0.7)], [0, 0, 0.0]]
    assert ctx["lo"][0] == [[1, 10, q(-0.6)], [0, 0, 0.0], [0, 6, 0.0]]
    assert len(ctx["texts"]) == 2 and len(ctx["texts"][0]) == 40
    # random values: windows never overlap, values best first, the first is the extreme
    rng = np.random.default_rng(0)
    v = rng.uniform(-1, 1, (2, 50, 4))
    acts = _gru_acts(v)
    ctx = explorer.top_contexts(acts, sample, k=10, before=4, after=2)
    qv = np.round(acts.all_cell_values() * 127) / 127  # the float16 values, at 1/127
    for n in range(4):
        for key, s in (("hi", 1), ("lo", -1)):
            picks = ctx[key][n]
            assert 0 < len(picks) <= 10
            assert picks[0][2] == pytest.approx(s * (s * qv[..., n]).max(), abs=1e-4)
            assert all(s * a[2] >= s * b[2] for a, b in zip(picks, picks[1:]))
            for i, a in enumerate(picks):
                assert a[2] == pytest.approx(qv[a[0], a[1], n], abs=1e-4)
                assert all(a[0] != b[0] or abs(a[1] - b[1]) > 6 for b in picks[i + 1 :])


# ----------------------------------------------------------------------------------------
# A model that tracks quotes, in the browser
# ----------------------------------------------------------------------------------------
def quote_text(n_words: int = 2000, seed: int = 0) -> bytes:
    """Words of a, b, c outside double quotes and of x, y, z inside: the next letter needs the quote state."""
    rng = np.random.default_rng(seed)

    def word(letters):
        return "".join(rng.choice(list(letters), rng.integers(1, 4)))

    out = []
    while len(out) < n_words:
        out += [word("abc") for _ in range(rng.integers(1, 6))]
        out.append('"' + " ".join(word("xyz") for _ in range(rng.integers(2, 8))) + '"')
    return " ".join(out).encode()


@pytest.fixture(scope="module")
def quotes():
    """A 1-layer LSTM (H=8) trained for 200 Adam steps (seed 0, one thread, ~10 s) on ``quote_text``."""
    text = quote_text()
    model, vocab = fit_tiny_lstm(text, hidden=8, steps=200)
    sample = A.sample_bytes(text[:3000], vocab, lang="prose", source="quotes")
    acts = A.compute_activations(model, sample)
    ranking = C.rank_cells(acts, C.sample_features(sample))
    return {"model": model, "vocab": vocab, "text": text[:3000], "sample": sample, "acts": acts, "ranking": ranking}


def _quote_cell(quotes):
    best = C.best_cells(quotes["ranking"]).set_index("feature").loc["in_quotes"]
    return best


def _quoted_span(text: bytes, lo: int = 0, hi: int = 1500) -> tuple[int, int]:
    """The longest double-quoted stretch (both quotes included) that starts in ``lo .. hi``."""
    q = np.flatnonzero(np.frombuffer(text, np.uint8) == ord('"'))
    spans = [(int(a), int(b) + 1) for a, b in zip(q[0::2], q[1::2]) if lo <= a < hi]
    return max(spans, key=lambda s: s[1] - s[0])


def _drag_select(page, pane: int, a: int, z: int):
    """Select symbols a .. z-1 of a pane's text with the mouse, as a user does."""
    first = page.locator(f"#m{pane} .text span.s >> nth={a}")
    last = page.locator(f"#m{pane} .text span.s >> nth={z - 1}")
    first.scroll_into_view_if_needed()
    b0, b1 = first.bounding_box(), last.bounding_box()
    page.mouse.move(b0["x"] + 1, b0["y"] + b0["height"] / 2)
    page.mouse.down()
    page.mouse.move(b1["x"] + b1["width"] / 2, b1["y"] + b1["height"] / 2, steps=5)
    page.mouse.move(b1["x"] + b1["width"] - 1, b1["y"] + b1["height"] / 2)
    page.mouse.up()


def _page_rows(page, pane: int = 0) -> list[dict]:
    return page.evaluate(f"window.rnnvizMatches[{pane}].rows")


def _same_ranking(rows: list[dict], lib) -> None:
    assert [r["index"] for r in rows] == lib["index"].tolist()
    assert [r["sign"] for r in rows] == lib["sign"].tolist()
    assert [r["exact"] for r in rows] == lib["exact"].tolist()
    np.testing.assert_array_equal([r["score"] for r in rows], lib["score"].to_numpy())
    np.testing.assert_allclose([r["contrast"] for r in rows], lib["contrast"].to_numpy(), rtol=0, atol=1e-12)


def test_a_quote_cell_exists_and_the_library_finds_it(quotes):
    best = _quote_cell(quotes)
    assert best["score"] >= 0.95  # the AUC of the best in_quotes cell as a probe
    a, z = _quoted_span(quotes["text"])
    m = explorer.match(quotes["acts"], a, z)
    assert m["cell"][0] == best["cell"] and m["sign"][0] == best["sign"] and m["exact"][0]
    # the unquoted words before it do not pick the quote cell with its own sign
    u = explorer.match(quotes["acts"], a - 6, a - 1)
    assert not ((u["cell"][0] == best["cell"]) and (u["sign"][0] == best["sign"]))


def test_selecting_a_quote_ranks_the_quote_cell_first(browser, tmp_path, quotes):
    sample, acts, ranking = quotes["sample"], quotes["acts"], quotes["ranking"]
    path = explorer.write_explorer(tmp_path / "quotes.html", sample, acts, ranking, title="quotes")
    page, problems = _open(browser, path)
    best = _quote_cell(quotes)
    a, z = _quoted_span(quotes["text"])
    _drag_select(page, 0, a, z)
    got = page.evaluate("window.rnnvizMatches[0]")
    assert (got["start"], got["stop"]) == (a, z)
    rows = got["rows"]
    assert rows[0]["cell"] == best["cell"] and rows[0]["sign"] == best["sign"]
    _same_ranking(rows, explorer.match(acts, a, z))  # the page's ranking is the library's, row for row
    lib_set = explorer.match(acts, a, z)
    lib_set = lib_set[lib_set["exact"]].head(3)
    assert got["set"] == lib_set["index"].tolist()
    assert [list(r) for r in got["runs"]] == [list(r) for r in explorer.fires(acts, lib_set)]
    # the table lists the best cells; the text shows the top one, and its other quotes are marked
    assert page.locator("#m0 .matches tr[data-cell]").first.get_attribute("data-cell") == best["cell"]
    assert page.input_value("#m0 .layer") == str(best["layer"] - 1)
    assert page.input_value("#m0 .cell") == str(best["unit"])
    assert page.locator("#m0 .text span.fire").count() > 0
    assert page.locator("#m0 .text span.sel").count() == z - a
    # top contexts of the shown cell: k = 10 windows each way, the trigger symbol highlighted
    ctx = explorer.top_contexts(acts, sample)
    col = (best["layer"] - 1) * acts.H + best["unit"]
    for key in ("hi", "lo"):
        items = page.locator(f"#m0 .ctx-{key} li")
        assert items.count() == 10 == len(ctx[key][col])
        for i in (0, 9):
            b, t, v = ctx[key][col][i]
            assert items.nth(i).locator(".trig").text_content() == ctx["texts"][b][t].replace("\n", "\u21b5")
            assert float(items.nth(i).locator(".v").text_content()) == pytest.approx(v, abs=0.005)
    # changing the threshold re-ranks the same selection
    page.fill("#threshold", "0.9")
    page.dispatch_event("#threshold", "change")
    _same_ranking(_page_rows(page), explorer.match(acts, a, z, threshold=0.9))
    assert problems == []


def test_two_models_side_by_side(browser, tmp_path, quotes):
    sample, acts = quotes["sample"], quotes["acts"]
    torch.manual_seed(3)
    gru = CharRNN("gru", quotes["vocab"].size, 6, 2, init_range=0.6).eval()  # another model, other widths
    acts2 = A.compute_activations(gru, sample)
    rank2 = C.rank_cells(acts2, C.sample_features(sample))
    views = [{"name": "LSTM-1-8", "sample": sample, "acts": acts, "ranking": quotes["ranking"]},
             {"name": "GRU-2-6", "sample": sample, "acts": acts2, "ranking": rank2}]
    path = explorer.write_compare(tmp_path / "two.html", views, title="LSTM vs GRU", n_symbols=1200)
    page, problems = _open(browser, path, "#L1.2,L2.5")
    assert page.locator(".pane").count() == 2
    assert page.text_content("#m0 h2") == "LSTM-1-8" and page.text_content("#m1 h2") == "GRU-2-6"
    assert page.locator("#m0 .layer option").count() == 1 and page.locator("#m1 .layer option").count() == 2
    for p, (ac, l, j) in enumerate(((acts, 0, 2), (acts2, 1, 5))):
        assert page.evaluate(f"document.querySelectorAll('#m{p} .text span.s').length") == 1200
        q = np.clip(np.round(ac.all_cell_values()[0, :50, l * ac.H + j] * 127), -127, 127).astype(int)
        assert _bg(page, 50, p) == [_rgb(explorer._palette()[v + 127]) for v in q]  # each with its own cell
    assert page.locator("#m0 table.rank tbody tr").count() > 0 and page.locator("#m1 table.rank tbody tr").count() > 0
    # the two panes sit side by side
    b0, b1 = page.locator("#m0").bounding_box(), page.locator("#m1").bounding_box()
    assert b1["x"] >= b0["x"] + b0["width"] and abs(b0["y"] - b1["y"]) < 1
    # one selection ranks the cells of both models over the same span
    a, z = _quoted_span(quotes["text"], 0, 1000)
    _drag_select(page, 1, a, z)
    _same_ranking(_page_rows(page, 0), explorer.match(acts, a, z))
    _same_ranking(_page_rows(page, 1), explorer.match(acts2, a, z))
    assert page.locator("#m0 .matches tr[data-cell]").count() == 8
    assert problems == []
    with pytest.raises(RnnvizError, match="other text"):
        other = A.sample_bytes(quotes["text"][5:], quotes["vocab"], source="shifted")
        explorer.compare_data([views[0], {**views[1], "sample": other, "acts": A.compute_activations(gru, other)}], "x")


def test_a_compare_page_of_hostile_text_runs_no_script(browser, tmp_path):
    sample, acts, ranking = _page_inputs(0)
    _, acts2, ranking2 = _page_inputs(1)
    path = explorer.write_compare(tmp_path / "hostile.html", [
        {"name": f"a {HOSTILE}", "sample": sample, "acts": acts, "ranking": ranking},
        {"name": "b", "sample": sample, "acts": acts2, "ranking": ranking2}], title=HOSTILE)
    page, problems = _open(browser, path)
    assert _hostile_checks(page, problems) == []
    assert page.text_content("#m0 h2") == f"a {HOSTILE}" and page.title() == HOSTILE
