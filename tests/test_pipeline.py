"""The notebook pipeline, run for real: papermill executes, nbconvert renders, index links all."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from rnnviz_lib import data, paper, pipeline, provenance
from rnnviz_lib.analysis import scorecard
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

REPO = Path(__file__).resolve().parents[1]


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v and not v.startswith(("http", "#", "mailto")):
                self.links.append(unquote(v))


def _links(index: Path) -> list[str]:
    p = _Links()
    p.feed(index.read_text())
    return p.links


def test_every_notebook_is_thin_and_declares_parameters():
    """House style: one parameters cell declaring profile, a title, no def/class in notebooks."""
    for py in pipeline.discover(REPO):
        nb = pipeline.to_notebook(py)
        params = pipeline.declared_parameters(nb)
        assert "profile" in params, py.name
        assert pipeline.title_of(nb), f"{py.name} needs a markdown title"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "\ndef " not in "\n" + code and "\nclass " not in "\n" + code, f"{py.name} defines functions"


def test_profiles_only_give_declared_parameters():
    for profile in ("smoke", "quick", "paper"):
        steps = pipeline.plan(profile, REPO)
        assert [s["stem"] for s in steps] == [p.stem for p in pipeline.discover(REPO)]
        assert all(s["parameters"]["profile"] == profile for s in steps)


def test_undeclared_parameter_is_rejected_before_running(home):
    prof = yaml.safe_load((home / "notebooks" / "params" / "smoke.yaml").read_text())
    prof["notebooks"].setdefault("00_data", {})["learning_rate"] = 0.1
    (home / "notebooks" / "params" / "bad.yaml").write_text(yaml.safe_dump(prof))
    with pytest.raises(RnnvizError, match=r"00_data does not declare parameter\(s\) learning_rate"):
        pipeline.run_report("bad", home)
    assert not (home / "report").exists()


def test_unknown_profile_and_notebook(home):
    with pytest.raises(RnnvizError, match="unknown profile 'nope'.*smoke"):
        pipeline.plan("nope", home)
    with pytest.raises(RnnvizError, match="no such notebook: 42_x"):
        pipeline.plan("smoke", home, only=["42_x"])


def test_failing_notebook_is_rendered_and_reported(home):
    (home / "notebooks" / "01_boom.py").write_text(
        '# %% [markdown]\n# # Boom\n\n# %% tags=["parameters"]\nprofile: str = "smoke"  # p\n\n'
        '# %%\nraise ValueError("deliberate failure")\n'
    )
    with pytest.raises(RnnvizError, match="notebook 01_boom failed.*deliberate failure"):
        pipeline.run_report("smoke", home, only=["00_data", "01_boom"])
    status = json.loads((home / "report" / "status-smoke.json").read_text())
    assert status["00_data"]["ok"] and not status["01_boom"]["ok"]
    assert "deliberate failure" in (home / "report" / "notebooks" / "01_boom.html").read_text()
    assert "failed" in (home / "report" / "index.html").read_text()


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """`rnnviz report --profile smoke` run once, as a user runs it, in a fresh project root with
    the repo's notebooks; every test below reads what it wrote. Returns (root, completed process)."""
    home = tmp_path_factory.mktemp("smoke") / "home"
    home.mkdir()
    shutil.copytree(REPO / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns("*.ipynb"))
    proc = subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", "report", "--profile", "smoke"],
                          cwd=home, env={**os.environ, "RNNVIZ_HOME": str(home)}, capture_output=True, text=True,
                          timeout=1500)
    return home, proc


@pytest.mark.slow
def test_smoke_report_end_to_end(smoke_report):
    """`rnnviz report --profile smoke` as a user runs it: every notebook executes; the index
    links every notebook, table and figure, and every link resolves to a file."""
    home, proc = smoke_report
    assert proc.returncode == 0, proc.stderr[-4000:]
    index = home / "report" / "index.html"
    links = _links(index)
    for py in pipeline.discover(home):
        assert f"notebooks/{py.stem}.html" in links, py.stem
        page = home / "report" / "notebooks" / f"{py.stem}.html"
        assert page.stat().st_size > 10_000
        if "save_figure(" in py.read_text():  # a figure notebook shows its figures in its HTML, inline
            assert "data:image/png;base64," in page.read_text(), py.stem
    for link in links:
        assert (index.parent / link).resolve().exists(), link
    tables = sorted((home / "artifacts" / "tables" / "smoke").glob("*.json"))
    figures = sorted((home / "figures" / "smoke").glob("*.json"))
    assert tables and figures
    for side in tables + figures:
        meta = json.loads(side.read_text())
        for f in meta["files"].values():
            assert any(link.endswith(f) for link in links), f
    for fig in figures:
        assert fig.with_suffix(".png").stat().st_size > 1000 and fig.with_suffix(".pdf").is_file()
    status = json.loads((home / "report" / "status-smoke.json").read_text())
    assert all(s["ok"] for s in status.values())


class _Refs(html.parser.HTMLParser):
    """Every href/src of a page, and the verdict cells of its scorecard."""

    def __init__(self):
        super().__init__()
        self.refs, self.verdicts, self._verdict = [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.refs += [v for k, v in attrs if k in ("href", "src")]
        self._verdict = tag == "td" and a.get("class") == "verdict"

    def handle_data(self, text):
        if self._verdict:
            self.verdicts.append(text)
            self._verdict = False


def _refs(page: Path) -> _Refs:
    p = _Refs()
    p.feed(page.read_text())
    return p


def _assert_self_contained(page: Path) -> _Refs:
    p = _refs(page)
    outside = [r for r in p.refs if not r.startswith(("data:", "#"))]
    assert not outside, outside[:5]
    assert not re.search(r"<script\b[^>]*\ssrc\s*=", page.read_text(), re.I)  # no script fetched from elsewhere
    return p


def _assert_provenance(report: Path, profile: str) -> dict:
    """The provenance section names the commit, the versions, the data sha256s, the profile hash,
    every run with its origin, and the rebuild command; its JSON says the same."""
    text = report.read_text()
    prov = json.loads((report.parent / f"provenance-{profile}.json").read_text())
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert prov["code"]["commit"] == head and head in text and "tree dirty" in text
    import numpy
    import torch

    assert prov["versions"]["torch"] == torch.__version__ and prov["versions"]["numpy"] == numpy.__version__
    for v in (torch.__version__, numpy.__version__, sys.version.split()[0]):
        assert v in text
    assert prov["data"]["wp"]["sha256"] == data.WP_SHA256 and data.WP_SHA256 in text
    assert prov["profile_hash"] == provenance.profile_hash(profile, report.parent.parent) and prov["profile_hash"] in text
    assert prov["runs"], "no runs listed"
    for r in prov["runs"]:
        assert r["run"] in text and r["origin"] in ("shipped", "trained here")
    assert f"rnnviz report --profile {profile}" in prov["rebuild"] and prov["rebuild"] in text
    return prov


@pytest.mark.slow
def test_smoke_report_scores_every_claim_with_provenance_and_one_self_contained_file(smoke_report):
    home, proc = smoke_report
    assert proc.returncode == 0, proc.stderr[-4000:]
    index = home / "report" / "index.html"
    text = index.read_text()
    assert text.index("id='scorecard'") < text.index("id='notebooks'")  # the scorecard comes first
    card = Store(home).load_table("scorecard", "smoke").reset_index()
    assert set(card["claim"]) == set(paper.CLAIMS)
    verdicts = _refs(index).verdicts
    assert len(verdicts) == len(card) and set(verdicts) <= set(scorecard.VERDICTS)
    assert all(f"verdict-{'-'.join(v.split()[:2])}" in text for v in set(verdicts))  # coloured by verdict
    prov = _assert_provenance(index, "smoke")
    assert {r["origin"] for r in prov["runs"]} == {"trained here"}  # the tests see no shipped runs
    bundle = home / "report" / "report-smoke.html"
    _assert_self_contained(bundle)
    btext = bundle.read_text()
    for py in pipeline.discover(home):
        assert f"id='nb-{py.stem}'" in btext, py.stem
    assert btext.count("data:image/png;base64,") >= 2 * len(list((home / "figures" / "smoke").glob("*.png")))
    _assert_provenance(bundle, "smoke")


def test_index_and_self_contained_file_from_saved_pieces(home):
    """Without running notebooks: a status, a notebook page that loads scripts from a CDN and links
    a file, a table, a figure and a scorecard give an index with relative links and a single file
    with nothing outside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    store = Store(home)
    store.save_table(pd.DataFrame({"x": [1.0, 2.0]}), "table1_wp", "smoke", "a table")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    store.save_figure(fig, "fig_x", "smoke", "a figure")
    plt.close(fig)
    card = scorecard.scorecard("smoke", store)
    card.loc[0, "verdict"], card.loc[1, "verdict"] = scorecard.REPRODUCED, scorecard.NOT_REPRODUCED
    store.save_table(card.set_index(["claim", "dataset"]), "scorecard", "smoke")
    nb = home / "report" / "notebooks"
    nb.mkdir(parents=True)
    (nb / "02_table1.html").write_text(
        "<html><head><style>.jp-Cell{color:red}</style>"
        "<script src='https://cdnjs.cloudflare.com/require.min.js'></script></head><body>"
        "<p><a href='#here'>anchor</a> <a href=\"../pages/cells.html\">a page</a> "
        "<img src='data:image/png;base64,AAAA'> <link rel='stylesheet' href='http://x/y.css'></p>"
        "<p>notebook body</p></body></html>")
    status = {"02_table1": {"title": "Table 1", "ok": True, "error": None, "seconds": 1.0, "finished": "now"}}
    index = pipeline.write_index("smoke", home, status)
    text = index.read_text()
    assert text.index("id='scorecard'") < text.index("id='tables'") < text.index("id='provenance'")
    assert "class='verdict-reproduced'" in text and "class='verdict-not-reproduced'" in text
    assert "class='verdict-not-measurable'" in text
    assert "href='notebooks/02_table1.html'" in text and "src='../figures/smoke/fig_x.png'" in text
    _assert_provenance(index, "smoke")
    bundle = home / "report" / "report-smoke.html"
    refs = _assert_self_contained(bundle)
    btext = bundle.read_text()
    assert "notebook body" in btext and ".jp-Cell{color:red}" in btext and "a page" in btext
    assert "#nb-02_table1" in refs.refs and "#here" in refs.refs
    assert any(r.startswith("data:image/png;base64,") and len(r) > 1000 for r in refs.refs)  # the figure, inlined
    assert any(r.startswith("data:text/csv;base64,") for r in refs.refs)  # the table's CSV, inlined


def test_a_damaged_data_record_is_named_on_the_index_not_a_crash(home):
    (home / "data" / "wp").mkdir(parents=True)
    (home / "data" / "wp" / "prepared.json").write_text('{"dataset": "wp", "sha2')  # cut mid-write
    index = pipeline.write_index("smoke", home, {})
    text = index.read_text()
    assert "Data warning:" in text and "prepared.json" in text


def test_runs_used_names_each_run_with_its_origin_and_recipe(home, monkeypatch):
    """The quick profile: its Table 1 runs are the shipped paper-recipe runs; without them, its
    snapshot run is its own (an extra grid), trained here."""
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(REPO / "data" / "runs"))
    runs = provenance.runs_used("quick", Store(home))
    manifest = json.loads((REPO / "data" / "runs" / "MANIFEST.json").read_text())["runs"]
    shipped = runs[runs["origin"].str.startswith("shipped")]  # "shipped" or "shipped, bf16"
    assert set(shipped.index) == set(manifest) and (shipped["profile"] == "paper").all()
    assert "wp-lstm1-64-faf80ccd2e" in shipped.index and not shipped["extra"].any()
    assert len(runs) == len(shipped)  # the snapshot run stands in for the shipped WP LSTM-3-512: not trained
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", "off")
    own = provenance.runs_used("quick", Store(home))
    assert (own["origin"] == "trained here").all() and len(own) == 1
    assert own["extra"].all() and own["snapshots"].all() and (own["profile"] == "quick").all()
    assert own.iloc[0]["model"] == "lstm-3-64" and own.iloc[0]["dataset"] == "wp"
    assert provenance.rebuild_command("quick") == "RNNVIZ_SHIPPED_RUNS=off rnnviz report --profile quick"


# -- how the report reads: code folded, a compact scorecard, one PDF ---------------------------
def _code_visible(page) -> list[bool]:
    """For each code cell's input of the page: is it rendered (the browser's own visibility check,
    which knows that a closed <details> hides its content)?"""
    return page.evaluate("""Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea')).map(e =>
        e.checkVisibility({contentVisibilityAuto: true, opacityProperty: true, visibilityProperty: true}))""")


@pytest.mark.slow
def test_rendered_notebooks_fold_their_code_until_asked(smoke_report, browser):
    """Every notebook page shows prose, figures and tables with no code on screen; its "code"
    toggle opens one cell, its "show all code" switch opens (and closes) every cell; nothing is
    fetched from the network and nothing logs an error."""
    from helpers import open_page

    home, proc = smoke_report
    assert proc.returncode == 0, proc.stderr[-4000:]
    for py in pipeline.discover(home):
        page, problems = open_page(browser, home / "report" / "notebooks" / f"{py.stem}.html", width=1400)
        shown = _code_visible(page)
        assert shown and not any(shown), (py.stem, shown)  # code cells exist, none visible
        assert page.locator("img").count() >= ("save_figure(" in py.read_text())  # figures stay visible
        if py.stem == "08_error_analysis":
            page.locator("details.rnnviz-code > summary").first.click()
            assert _code_visible(page).count(True) == 1
            page.locator("button.rnnviz-showall").click()
            assert all(_code_visible(page))
            page.locator("button.rnnviz-showall").click()
            assert not any(_code_visible(page))
        assert problems == [], (py.stem, problems)
        page.close()
    nb = (home / "report" / "notebooks" / "08_error_analysis.ipynb").read_text()
    assert "rnnviz-code" not in nb and "import " in nb  # the .ipynb keeps its code, unfolded


def _scorecard_geometry(page) -> dict:
    return page.evaluate("""(() => {
        const t = document.querySelector('table.scorecard');
        const heads = Array.from(t.querySelectorAll('tr:first-child th')).map(e => e.textContent.trim());
        const rows = Array.from(t.querySelectorAll('tr')).slice(1).map(r => r.getBoundingClientRect().height);
        return {heads: heads, rows: rows, width: t.getBoundingClientRect().width};
    })()""")


@pytest.mark.slow
def test_index_scorecard_fits_at_a_glance_and_the_pdf_holds_every_notebook(smoke_report, browser):
    from helpers import open_page

    home, proc = smoke_report
    assert proc.returncode == 0, proc.stderr[-4000:]
    page, problems = open_page(browser, home / "report" / "index.html", width=1400)
    g = _scorecard_geometry(page)
    assert g["heads"][:6] == ["claim", "dataset", "paper", "ours", "verdict", "reason"]
    assert g["rows"] and max(g["rows"]) < 160, g["rows"]
    assert page.locator("#glance figure img").count() >= 2  # Table 1's heatmap and Table 2's plot
    assert page.locator("#glance .counts span").count() == 3
    assert problems == []
    page.close()
    pdf = home / "report" / "report-smoke.pdf"
    from pypdf import PdfReader

    import unicodedata

    pages = [unicodedata.normalize("NFKC", p.extract_text()) for p in PdfReader(pdf).pages]  # ligatures: ﬁ -> fi
    text = "\n".join(pages)
    stems = [py.stem for py in pipeline.discover(home)]
    first = {s: next(i for i, t in enumerate(pages) if f"Notebook {s}" in t) for s in stems}
    assert sorted(first.values()) == list(first.values()) and len(set(first.values())) == len(stems)  # a page each
    card = Store(home).load_table("scorecard", "smoke").reset_index()
    for v in set(card["verdict"]):
        assert " ".join(v.split()) in " ".join(text.split()), v
    assert "from rnnviz_lib" not in text  # code is folded in print too (every notebook imports the library)


def test_scorecard_rows_stay_short_with_many_runs(home, browser):
    """A scorecard whose rows rest on nine runs each (the default report's) still fits every row
    in a few lines at 1400 px: the runs are summarised, the full list one click away."""
    from helpers import open_page

    store = Store(home)
    card = scorecard.scorecard("smoke", store)
    runs = "; ".join(f"lk {c}-{d}-64 (shipped, paper recipe, lk-{c}{d}-64-3c7ea762ad)"
                     for c in ("lstm", "gru", "rnn") for d in (1, 2, 3))
    card["models"] = runs
    store.save_table(card.set_index(["claim", "dataset"]), "scorecard", "smoke")
    pipeline.write_index("smoke", home, {})
    page, problems = open_page(browser, home / "report" / "index.html", width=1400)
    g = _scorecard_geometry(page)
    assert max(g["rows"]) < 160, g["rows"]
    summary = page.locator("table.scorecard details.models summary").first
    assert summary.inner_text() == "9 models: 9 shipped, paper recipe; row 64"
    assert not page.locator("table.scorecard details.models li").first.is_visible()
    summary.click()
    assert page.locator("table.scorecard details.models").first.locator("li").count() == 9
    assert "lk-lstm1-64-3c7ea762ad" in page.locator("table.scorecard details.models").first.inner_text()
    assert problems == []
