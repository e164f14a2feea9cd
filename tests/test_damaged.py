"""Damaged files get one line that names the file, what is wrong and what to do; a checkpoint
whose pickle would run code is refused, and the code does not run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from rnnviz_lib import train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, load_torch, read_json

TINY = ["--dataset", "wp", "--cell", "gru", "--layers", "1", "--size", "8", "--max-train-batches", "3",
        "--max-eval-batches", "1", "--max-test-batches", "1", "--device", "cpu"]


def _cli(home, *argv):
    return subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", *argv], cwd=home, capture_output=True, text=True,
                          timeout=600, env={**__import__("os").environ, "RNNVIZ_HOME": str(home)})


def _one_line(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("rnnviz: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_a_truncated_checkpoint_gets_one_line_and_nothing_else_changes(home, name):
    first = _cli(home, "train", *TINY, "--epochs", "2")  # finishes; then make it look interrupted
    assert first.returncode == 0, first.stderr
    (run,) = (home / "artifacts" / "runs").iterdir()
    (run / "metrics.json").unlink()
    f = run / name
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # half the file cut off
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    line = _one_line(_cli(home, "train", *TINY, "--epochs", "2"), str(f), "damaged or truncated", "delete it")
    assert "PytorchStreamReader" in line or "zip" in line.lower() or "truncated" in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # nothing else lost or written


def test_damaged_json_and_probabilities_name_the_file(tmp_path):
    bad = tmp_path / "metrics.json"
    bad.write_text('{"test_loss": 1.4')
    with pytest.raises(RnnvizError, match=r"metrics.json is damaged \(not valid JSON"):
        read_json(bad)
    run = tmp_path / "run"
    run.mkdir()
    (run / "test_probs.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(RnnvizError, match="test_probs.npy is damaged"):
        train.load_probs(run, Store(tmp_path))


class _Plant:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_whose_pickle_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "payload": _Plant(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(RnnvizError, match="refused .*nothing in it ran"):
        load_torch(evil)
    assert not marker.exists()
    json.dumps({"ok": True})  # (a plain checkpoint still loads)
    torch.save({"w": torch.ones(2)}, tmp_path / "fine.pt")
    assert load_torch(tmp_path / "fine.pt")["w"].sum().item() == 2
