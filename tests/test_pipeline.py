"""The notebook pipeline, run for real: papermill executes, nbconvert renders, index links all."""

from __future__ import annotations

import html.parser
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from rnnviz_lib import pipeline
from rnnviz_lib.errors import RnnvizError

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
    prof["notebooks"]["00_data"]["learning_rate"] = 0.1
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


@pytest.mark.slow
def test_smoke_report_end_to_end(home):
    """`rnnviz report --profile smoke` as a user runs it: every notebook executes; the index
    links every notebook, table and figure, and every link resolves to a file."""
    proc = subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", "report", "--profile", "smoke"],
                          cwd=home, capture_output=True, text=True, timeout=1500)
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
