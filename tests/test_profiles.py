"""Profiles list only what differs from a notebook's defaults; settings notebooks share sit in `common`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rnnviz_lib import pipeline
from rnnviz_lib.errors import RnnvizError

pytestmark = pytest.mark.fast


def _write(home, name, data) -> None:
    (home / "notebooks" / "params" / f"{name}.yaml").write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper", "paper-rehearse"])
def test_every_profile_plans_and_restates_no_default(home, profile):
    steps = {s["stem"]: s["parameters"] for s in pipeline.plan(profile, home)}
    assert steps["04_cells"]["profile"] == profile
    # 04 and 05 read the same text (05 reuses 04's cached activations): one setting feeds both
    for name in ("n_streams", "n_steps", "burn"):
        assert steps["04_cells"].get(name) == steps["05_gates"].get(name)


def test_an_override_equal_to_the_default_is_rejected(home):
    _write(home, "mine", {"notebooks": {"00_data": {"batch_size": 100}, "02_table1": {"digits": 4}}})
    with pytest.raises(RnnvizError, match=r"00_data its default for batch_size.*mine\.yaml"):
        pipeline.plan("mine", home)
    _write(home, "mine", {"notebooks": {"00_data": {"batch_size": 50}, "02_table1": {"digits": 4}}})
    steps = {s["stem"]: s["parameters"] for s in pipeline.plan("mine", home)}
    assert steps["00_data"]["batch_size"] == 50 and steps["02_table1"]["digits"] == 4


def test_a_common_value_equal_to_every_default_is_rejected(home):
    _write(home, "mine", {"common": {"n_streams": 20}})  # 04's and 05's default
    with pytest.raises(RnnvizError, match="common section gives n_streams"):
        pipeline.plan("mine", home)
    _write(home, "mine", {"common": {"n_streams": 7}})
    steps = {s["stem"]: s["parameters"] for s in pipeline.plan("mine", home)}
    assert steps["04_cells"]["n_streams"] == steps["05_gates"]["n_streams"] == 7


def test_every_parameter_line_of_every_notebook_is_read_by_papermill():
    """papermill skips a line it cannot parse (e.g. quotes in the comment); a profile could then
    never set that parameter, and the runner would reject it as undeclared."""
    import re

    for py in pipeline.discover(Path(__file__).resolve().parents[1]):
        nb = pipeline.to_notebook(py)
        (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assigned = {m.group(1) for m in re.finditer(r"^(\w+)\s*:.*=", cell.source, flags=re.M)}
        assert assigned == set(pipeline.declared_parameters(nb)), py.name
