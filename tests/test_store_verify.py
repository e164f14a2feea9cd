"""``rnnviz store verify`` finds each planted damage (one line naming the file, exit 1) and passes
a clean store (exit 0); a checkpoint whose pickle would run code is reported, never run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import Plant
from rnnviz_lib import cli
from rnnviz_lib.store import REPO, load_torch

TINY = ["--dataset", "wp", "--cell", "gru", "--layers", "1", "--size", "8", "--max-train-batches", "2",
        "--max-eval-batches", "1", "--max-test-batches", "1", "--device", "cpu", "--epochs", "1"]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A store with a finished run, a cached 2-gram and an activation cache."""
    root = tmp_path_factory.mktemp("pristine")
    env = {**os.environ, "RNNVIZ_HOME": str(root), "RNNVIZ_SHIPPED_RUNS": "off"}
    for argv in (["train", *TINY], ["ngram", "--dataset", "wp", "--orders", "2"]):
        proc = subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", *argv], cwd=root, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    acts = root / "artifacts" / "activations" / "wp-gru1-8-0123456789"
    acts.mkdir(parents=True)
    np.savez(acts / "acts.npz", c=np.arange(3000, dtype=np.float32).reshape(30, 100))
    (acts / "meta.json").write_text('{"model": "wp-gru1-8"}')
    return root


@pytest.fixture
def home(pristine, tmp_path, monkeypatch):
    root = tmp_path / "home"
    shutil.copytree(pristine, root)
    monkeypatch.setenv("RNNVIZ_HOME", str(root))
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", "off")
    return root


def _verify(capsys, *extra):
    code = cli.main(["store", "verify", *extra])
    return code, capsys.readouterr().out


def _cut(f: Path) -> None:
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _run(home: Path) -> Path:
    (run,) = (home / "artifacts" / "runs").iterdir()
    return run


def test_a_clean_store_passes(home, capsys):
    code, out = _verify(capsys)
    assert code == 0, out
    assert "DAMAGED" not in out and "1 runs, 1 baselines, 1 caches" in out and out.rstrip().endswith("0 damaged")
    code, out = _verify(capsys, "--json")
    rep = json.loads(out)
    assert code == 0 and rep["ok"] and rep["damaged"] == [] and rep["checked"]["runs"] == 1


def _plant_run(name):
    def plant(home):
        f = _run(home) / name
        _cut(f)
        return f
    return plant


def _plant_ngram(name):
    def plant(home):
        (d,) = (home / "artifacts" / "baselines").iterdir()
        _cut(d / name)
        return d / name
    return plant


def _plant_config(home):
    f = _run(home) / "config.json"
    cfg = json.loads(f.read_text())
    cfg["lr"] = 0.5  # another recipe under this run's name
    f.write_text(json.dumps(cfg))
    return f


def _plant_probs_size(home):
    f = _run(home) / "test_probs.npy"
    np.save(f, np.full((100, 50), 0.5, np.float32))  # a valid array of the wrong length
    return f


def _plant_missing(home):
    f = _run(home) / "history.json"
    f.unlink()
    return f


def _plant_npz(home):
    (d,) = (home / "artifacts" / "activations").iterdir()
    _cut(d / "acts.npz")
    return d / "acts.npz"


def _plant_snapshot_index(home):
    run = _run(home)
    (run / "snapshots").mkdir(exist_ok=True)
    (run / "snapshots" / "index.json").write_text('[{"file": "step-0000002.pt", "step": 2}]')
    return run / "snapshots" / "step-0000002.pt"


PLANTS = {
    "checkpoint.pt": (_plant_run("checkpoint.pt"), "damaged or truncated"),
    "best.pt": (_plant_run("best.pt"), "damaged or truncated"),
    "metrics.json": (_plant_run("metrics.json"), "not valid JSON"),
    "history.json": (_plant_run("history.json"), "not valid JSON"),
    "test_probs.npy": (_plant_run("test_probs.npy"), "damaged or truncated"),
    "config edited": (_plant_config, "not to its folder's name"),
    "test_probs wrong size": (_plant_probs_size, "holds 5,000 values but metrics.json says 10,000"),
    "history.json missing": (_plant_missing, "missing from a finished run"),
    "snapshot missing": (_plant_snapshot_index, "listed in snapshots/index.json but missing"),
    "ngram metrics.json": (_plant_ngram("metrics.json"), "not valid JSON"),
    "ngram test_probs.npy": (_plant_ngram("test_probs.npy"), "damaged or truncated"),
    "activations npz": (_plant_npz, "damaged"),
}


@pytest.mark.parametrize("what", list(PLANTS))
def test_verify_finds_each_damage(home, capsys, what):
    plant, needle = PLANTS[what]
    f = plant(home)
    code, out = _verify(capsys)
    lines = [ln for ln in out.splitlines() if ln.startswith("DAMAGED")]
    assert code == 1, out
    assert len(lines) == 1 and str(f) in lines[0] and needle in lines[0], out
    code, out = _verify(capsys, "--json")
    rep = json.loads(out)
    assert code == 1 and not rep["ok"] and [d["path"] for d in rep["damaged"]] == [str(f)]
    assert rep["damaged"][0]["fix"], rep  # every line says what to do


def test_a_checkpoint_whose_pickle_would_run_code_is_reported_not_run(home, capsys):
    f = _run(home) / "checkpoint.pt"
    marker = home / "pwned"
    ck = load_torch(f)
    ck["extra"] = Plant(marker)
    torch.save(ck, f)
    code, out = _verify(capsys)
    assert code == 1 and not marker.exists()
    (line,) = [ln for ln in out.splitlines() if ln.startswith("DAMAGED")]
    assert str(f) in line and "refused" in line and "nothing in it ran" in line


def test_damaged_shipped_files_are_found_by_their_manifest_hash(home, capsys, tmp_path, monkeypatch):
    ship = tmp_path / "runs"
    shutil.copytree(REPO / "data" / "runs", ship)
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(ship))
    code, out = _verify(capsys)
    assert code == 0, out  # the shipped runs as committed pass
    run = sorted(p for p in ship.iterdir() if p.is_dir() and p.name != "baselines")[0]
    _cut(run / "best.pt")
    code, out = _verify(capsys)
    (line,) = [ln for ln in out.splitlines() if ln.startswith("DAMAGED")]
    assert code == 1 and str(run / "best.pt") in line and "MANIFEST.json" in line and "restore" in line
    code, out = _verify(capsys, "--no-shipped")
    assert code == 0, out
