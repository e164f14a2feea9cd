"""The cell explorer page in a real headless browser (Chromium via Playwright): it loads with no
console errors, choosing a cell re-colours the text with the cell's own values, hovering shows
the model's top-5 guesses, and hostile text (``</script>``, ``<script>``, ``<img onerror>``), in
the text itself and in the text's name, shows as text and never runs. A last test checks that
these checks catch a page built without the JSON escaping."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from rnnviz_lib import explorer
from rnnviz_lib.analysis import activations as A
from rnnviz_lib.analysis import cells as C
from rnnviz_lib.models import CharRNN

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (CI: apt-get install chromium)
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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, path, hash_: str = ""):
    """Open a page from disk; return it with the list of console errors and page errors."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.as_uri() + hash_)
    page.wait_for_load_state("load")
    return page, problems


def _hostile_checks(page, problems) -> list[str]:
    """Everything that is wrong with a page that got hostile text (empty: all well)."""
    out = list(problems)
    if page.evaluate("window.rnnvizReady") is not True:
        out.append("the page script did not finish")
    if page.evaluate("typeof window.__pwned") != "undefined":
        out.append("script from the text ran")
    if page.evaluate("document.querySelectorAll('img').length + document.querySelectorAll('script').length") != 2:
        out.append("the text made elements")  # the page itself has two scripts (data, code) and no image
    shown = page.evaluate("document.getElementById('text').textContent")
    if HOSTILE not in shown:
        out.append("the hostile text is not shown verbatim")
    if HOSTILE not in (page.evaluate("document.getElementById('note').textContent") or ""):
        out.append("the hostile source name is not shown verbatim")
    return out


def _bg(page, n: int) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll('#text span.s')).slice(0, {n})"
                         ".map(s => getComputedStyle(s).backgroundColor)")


def _rgb(hexcol: str) -> str:
    r, g, b = (int(hexcol[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_script_json_cannot_close_its_element():
    nasty = {"t": "</script><!-- & \u2028 \u2029 <b>", "n": [1, 2]}
    s = explorer.script_json(nasty)
    assert not re.search("[<>&\u2028\u2029]", s)
    assert json.loads(s) == nasty


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
    assert page.evaluate("document.querySelectorAll('#text span.s').length") == T

    palette = explorer._palette()
    vals = acts.all_cell_values()[0]  # (T, L·H)

    def expected(layer: int, unit: int, n: int) -> list[str]:
        q = np.clip(np.round(vals[:n, layer * acts.H + unit] * 127), -127, 127).astype(int)
        return [_rgb(palette[v + 127]) for v in q]

    # pick layer 2, cell 3 by hand: every span takes that cell's colour
    page.select_option("#layer", "1")
    page.fill("#cell", "3")
    page.dispatch_event("#cell", "change")
    after = _bg(page, T)
    assert after == expected(1, 3, T)
    assert page.text_content("#info").startswith("Cell L2.3")
    page.click("#prev")
    assert page.input_value("#cell") == "2" and _bg(page, T) == expected(1, 2, T) != after

    # pick a feature: its best cells become buttons; a click shows that cell
    feats = list(ranking["feature"].unique())
    k = feats.index("in_quotes")
    page.select_option("#feature", str(k))
    buttons = page.locator("#best button")
    top = C.best_cells(ranking, 8)
    top = top[top.feature == "in_quotes"]
    assert buttons.count() == len(top)
    assert _bg(page, T) == expected(int(top.iloc[0].layer) - 1, int(top.iloc[0].unit), T)  # jumps to the best
    buttons.nth(1).click()
    assert _bg(page, T) == expected(int(top.iloc[1].layer) - 1, int(top.iloc[1].unit), T)

    # hover a symbol: the tooltip lists the model's five best guesses for the next symbol
    t = 7
    page.hover(f"#text span.s >> nth={t}")
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
    assert page.input_value("#layer") == "1" and page.input_value("#cell") == "4"
    assert problems == []


def test_the_checks_catch_a_page_without_escaping(browser, tmp_path, monkeypatch):
    """Build the page with plain json.dumps in place of script_json: the checks above must fail."""
    sample, acts, ranking = _page_inputs()
    monkeypatch.setattr(explorer, "script_json", lambda obj: json.dumps(obj, ensure_ascii=False))
    path = explorer.write_explorer(tmp_path / "unsafe.html", sample, acts, ranking, title="unsafe")
    page, problems = _open(browser, path)
    assert _hostile_checks(page, problems) != []
