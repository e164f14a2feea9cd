"""The rehearsal profile (``rnnviz report --profile paper --rehearse``) is derived from ``paper`` by
code: the same grid shapes and run count under its own name, a few steps per run, the paper's
notebook settings, no shipped runs. Cheap checks only: the whole rehearsal is a benchmark
(benchmarks/rehearsal.py), not a test."""

from __future__ import annotations

import dataclasses

import pytest

from rnnviz_lib import baselines, cli, grid, pipeline
from rnnviz_lib.config import artifact_name, load_profile
from rnnviz_lib.rehearsal import REHEARSE_STEPS, REHEARSE_TEST_BATCHES_ENV, rehearsal_base
from rnnviz_lib.errors import RnnvizError

SHAPE = ("dataset", "cell", "layers", "size", "hidden", "matching", "gru_variant", "dropout", "batch_size",
         "seq_length", "split_mode")


@pytest.fixture(autouse=True)
def _whole_test(monkeypatch):
    monkeypatch.delenv(REHEARSE_TEST_BATCHES_ENV, raising=False)


def test_the_rehearsal_has_the_papers_shapes_and_runs_under_its_own_name(home):
    paper, rehearse = grid.expand("paper"), grid.expand("paper-rehearse")
    assert len(paper) == 126 and len(rehearse) == len(paper)
    shape = lambda c: tuple(getattr(c, f) for f in SHAPE)  # noqa: E731
    assert [shape(c) for c in rehearse] == [shape(c) for c in paper]  # every model, dataset and dropout value
    assert {c.max_train_batches for c in rehearse} == {REHEARSE_STEPS} and {c.epochs for c in rehearse} == {1}
    assert {c.max_test_batches for c in rehearse} == {0} and {c.device for c in rehearse} == {"cpu"}
    snaps = [c for c in rehearse if c.snapshot_every]
    assert len(snaps) == len([c for c in paper if c.snapshot_every]) == 6 and {c.snapshot_every for c in snaps} == {1}
    names = lambda cs: {artifact_name(c.slug, c.identity()) for c in cs}  # noqa: E731
    assert not names(paper) & names(rehearse)  # a rehearsal run can never be read as a paper-recipe run
    prof = load_profile("paper-rehearse")
    assert prof["name"] == "paper-rehearse" and prof["rehearse"] and prof["rehearses"] == "paper"
    assert "shipped_only" not in prof["grid"] and rehearsal_base("paper-rehearse") == "paper"
    nnn = baselines.nnn_params(prof["baselines"])
    assert nnn["max_steps"] == REHEARSE_STEPS and nnn["hidden"] == 512  # the n-NN at the paper's width


def test_the_rehearsal_keeps_the_papers_notebook_settings(home):
    paper = {s["stem"]: s["parameters"] for s in pipeline.plan("paper")}
    rehearse = {s["stem"]: s["parameters"] for s in pipeline.plan("paper-rehearse")}
    assert set(rehearse) == set(paper)
    for stem, params in paper.items():
        own = {k: v for k, v in rehearse[stem].items() if k != "profile"}
        want = {k: v for k, v in params.items() if k != "profile"}
        if stem == "01_train_grid":
            assert own == {**want, "device": "cpu", "executor": "local"}
        else:
            assert own == want, stem
        assert rehearse[stem].get("profile", "paper-rehearse") == "paper-rehearse"
    assert rehearse["06_models_tsne"]["max_symbols"] == 0 and rehearse["04_cells"]["n_streams"] == 30


def test_test_batches_cut_is_explicit_and_checked(home, monkeypatch):
    monkeypatch.setenv(REHEARSE_TEST_BATCHES_ENV, "3")
    cut = grid.expand("paper-rehearse")
    assert {c.max_test_batches for c in cut} == {3}
    whole = [dataclasses.replace(c, max_test_batches=0) for c in cut]
    assert not {artifact_name(c.slug, c.identity()) for c in cut} & {artifact_name(c.slug, c.identity()) for c in whole}
    monkeypatch.setenv(REHEARSE_TEST_BATCHES_ENV, "three")
    with pytest.raises(RnnvizError, match="whole number of test batches"):
        load_profile("paper-rehearse")


def test_report_rehearse_lists_the_derived_profile_and_rejects_misuse(home, capsys):
    assert cli.main(["report", "--profile", "paper", "--rehearse", "--list"]) == 0
    out = capsys.readouterr().out
    assert "01_train_grid" in out and "'profile': 'paper-rehearse'" in out and "'executor': 'local'" in out
    assert cli.main(["report", "--profile", "paper-rehearse", "--rehearse", "--list"]) == 2
    assert "already a rehearsal" in capsys.readouterr().err
    assert cli.main(["report", "--profile", "notebooks/params/paper.yaml", "--rehearse", "--list"]) == 2
    assert "takes a profile name" in capsys.readouterr().err
    assert cli.main(["report", "--profile", "nope", "--rehearse", "--list"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err


def test_a_rehearsal_in_parts_keeps_the_earlier_rows(tmp_path):
    """benchmarks/rehearsal.py --keep: the rows of notebooks not run again stay, the rerun ones are replaced,
    and a file of another rehearsal is refused rather than mixed in."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("rehearsal", Path(__file__).parents[1] / "benchmarks" / "rehearsal.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "r.json"
    row = lambda nb, s: {"notebook": nb, "ok": True, "seconds": s}  # noqa: E731
    out.write_text(json.dumps({"profile": "paper-rehearse", "home": "/h", "command": "part 1", "started": "t1",
                               "machine": {"cpus": 2}, "notebooks": [row("00_data", 1.0), row("04_cells", 9.0)]}))
    now = {"profile": "paper-rehearse", "home": "/h", "command": "part 2", "started": "t2", "machine": {"cpus": 2}}
    kept = mod.kept_rows(out, now, {"04_cells", "05_gates"})
    assert kept == [row("00_data", 1.0)]
    assert [p["command"] for p in now["parts"]] == ["part 1", "part 2"]
    with pytest.raises(SystemExit, match="another --out"):
        mod.kept_rows(out, dict(now, home="/elsewhere"), set())
    assert mod.kept_rows(tmp_path / "none.json", dict(now), set()) == []
