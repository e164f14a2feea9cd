"""The notebooks as a user runs them in Jupyter: each percent script, opened fresh and run top to
bottom with the defaults of its parameters cell, after the ones before it; no papermill, no
`rnnviz report`. Every notebook that saves a figure also shows it inline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_notebook_runs_top_to_bottom_with_its_defaults_and_shows_its_figures(home):
    import jupytext
    import nbclient

    notebooks = sorted((home / "notebooks").glob("[0-9][0-9]_*.py"))
    assert len(notebooks) == 10  # 00_data … 09_scorecard
    for path in notebooks:
        nb = jupytext.read(path)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                                resources={"metadata": {"path": str(home)}}).execute()
        images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if "image/png" in o.get("data", {})]
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (path.name, errors)
        if re.search(r"save_figure\(", path.read_text()):
            assert images, f"{path.name} saves figures but shows none inline"
    assert not list((home / "notebooks").glob("*.ipynb"))  # the scripts are the notebooks: nothing written beside them
