"""Damaged files get one line that names the file, what is wrong and what to do, through the real
commands; nothing else in the store changes; a checkpoint whose pickle would run code is refused,
and the code does not run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import Plant
from rnnviz_lib import train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import LOCK_FILE, REPO, Store, load_npy, load_torch, read_json

TINY = ["--dataset", "wp", "--cell", "gru", "--layers", "1", "--size", "8", "--max-train-batches", "3",
        "--max-eval-batches", "1", "--max-test-batches", "1", "--device", "cpu"]
TINY_PROFILE = """grid:
  datasets: [wp]
  models: [gru-1-8]
  dropout: [0.0]
  train: {epochs: 2, max_train_batches: 3, max_eval_batches: 1, max_test_batches: 1, device: cpu}
"""


def _cli(home, *argv, shipped="off"):
    env = {**os.environ, "RNNVIZ_HOME": str(home), "RNNVIZ_SHIPPED_RUNS": str(shipped)}
    return subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", *argv], cwd=home, capture_output=True, text=True,
                          timeout=600, env=env)


def _one_line(proc, *needles, code=2):
    assert proc.returncode == code, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("rnnviz: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _files(root: Path) -> dict:
    """Every file under ``root`` with its bytes; a run's lock file (``store.LOCK_FILE``, the pid of
    whoever last trained it) is no result and is left out."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


def _refused(store: Path, argv: tuple, f: Path, *needles) -> str:
    """Run ``rnnviz *argv`` on ``store``: it must fail with one error line naming ``f`` and every
    needle, and leave every file under artifacts/ as it was (nothing else lost or written); the line."""
    before = _files(store / "artifacts")
    line = _one_line(_cli(store, *argv), str(f), *needles)
    assert _files(store / "artifacts") == before  # nothing else lost or written
    return line


def _cut(f: Path) -> None:
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # half the file cut off


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A store with one finished tiny run (via rnnviz train) and a cached 2-gram (via rnnviz ngram)."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("*.ipynb"))
    (root / "tiny.yaml").write_text(TINY_PROFILE)
    for argv in (["train", *TINY, "--epochs", "2"], ["ngram", "--dataset", "wp", "--orders", "2"]):
        proc = _cli(root, *argv)
        assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def store(pristine, tmp_path):
    root = tmp_path / "home"
    shutil.copytree(pristine, root)
    return root


def _run(root: Path) -> Path:
    (run,) = (root / "artifacts" / "runs").iterdir()
    return run


@pytest.mark.parametrize("name", ["checkpoint.pt", "best.pt"])
def test_a_truncated_checkpoint_gets_one_line_and_nothing_else_changes(store, name):
    run = _run(store)
    (run / "metrics.json").unlink()  # an interrupted run: rnnviz train resumes it
    f = run / name
    _cut(f)
    line = _refused(store, ("train", *TINY, "--epochs", "2"), f, "damaged or truncated",
                    "not a complete torch zip archive", "rerun the command that trained it")
    assert ("restarts from step 0" in line) if name == "checkpoint.pt" else (f"delete the run folder {run}" in line)


def test_a_truncated_best_pt_of_a_finished_run_says_retrain(store):
    run = _run(store)
    _cut(run / "best.pt")
    _refused(store, ("sample", "--run", str(run), "--length", "5"), run / "best.pt",
             "damaged or truncated", f"delete the run folder {run}")


def test_a_truncated_metrics_json_says_the_run_resumes_from_its_checkpoint(store):
    run = _run(store)
    _cut(run / "metrics.json")
    _refused(store, ("grid", "--profile", "tiny.yaml", "--summary"), run / "metrics.json",
             "is damaged (not valid JSON", "delete it", "resumes from checkpoint.pt")
    (run / "metrics.json").unlink()  # the fix it names: the run resumes at its end and rewrites the file
    assert _cli(store, "train", *TINY, "--epochs", "2").returncode == 0
    assert read_json(run / "metrics.json")["steps"] == 6


def test_a_truncated_history_json_of_an_interrupted_run(store):
    run = _run(store)
    (run / "metrics.json").unlink()
    _cut(run / "history.json")
    _refused(store, ("grid", "--profile", "tiny.yaml", "--summary"), run / "history.json",
             "is damaged (not valid JSON", "resumes from checkpoint.pt")
    proc = _cli(store, "train", *TINY, "--epochs", "2")  # the fix: the checkpoint holds the history
    assert proc.returncode == 0 and "resuming" in proc.stderr, proc.stderr
    assert len(read_json(run / "history.json")) >= 2


def test_damaged_test_probs_name_the_file_and_the_fix(store):
    run = _run(store)
    _cut(run / "test_probs.npy")
    with pytest.raises(RnnvizError, match="test_probs.npy is damaged"):
        train.load_probs(run, Store(store))
    with pytest.raises(RnnvizError, match="recomputes it from the run's best.pt"):
        load_npy(run / "test_probs.npy")
    (run / "test_probs.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(RnnvizError, match="test_probs.npy is damaged"):
        train.load_probs(run, Store(store))


def test_a_damaged_snapshot_table_names_the_file_and_the_fix(store):
    from rnnviz_lib.analysis import longrange

    run = _run(store)
    (run / "snapshot_kl.json").write_text('{"snapshots": 3, "ro')  # cut mid-write
    with pytest.raises(RnnvizError, match="snapshot_kl.json is damaged.*`rnnviz runs ship` recomputes it"):
        longrange.snapshot_count(run)


@pytest.mark.parametrize("name", ["metrics.json", "test_probs.npy"])
def test_a_damaged_ngram_cache_is_recomputed_and_says_so(store, name):
    (d,) = (store / "artifacts" / "baselines").iterdir()
    original = (d / name).read_bytes()
    _cut(d / name)
    before = {k: v for k, v in _files(store / "artifacts").items() if d.name not in str(k)}  # all but the cache entry
    proc = _cli(store, "ngram", "--dataset", "wp", "--orders", "2")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    warned = [ln for ln in proc.stderr.splitlines() if "is damaged" in ln]
    assert len(warned) == 1 and str(d / name) in warned[0] and "recomputes it" in warned[0], proc.stderr
    after = _files(store / "artifacts")
    if name == "test_probs.npy":
        assert (d / name).read_bytes() == original  # the same probabilities again
    else:
        assert read_json(d / name)["test_loss"] == pytest.approx(2.398, abs=1e-3)
    assert {k: v for k, v in after.items() if k in before} == before  # the run is untouched
    assert set(after) == set(before) | {k for k in after if d.name in str(k)}


def test_a_damaged_shipped_file_names_its_restore(tmp_path, store):
    ship = tmp_path / "runs"
    shutil.copytree(REPO / "data" / "runs", ship)
    run = sorted(p for p in ship.iterdir() if p.is_dir() and p.name != "baselines")[0]
    _cut(run / "best.pt")
    before = _files(ship)
    proc = _cli(store, "runs", "verify", shipped=ship)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    damaged = [ln for ln in proc.stdout.splitlines() if ln.startswith("DAMAGED")]
    assert len(damaged) == 1 and str(run / "best.pt") in damaged[0] and "restore" in damaged[0], proc.stdout
    _one_line(_cli(store, "sample", "--run", str(run), "--length", "5", shipped=ship), str(run / "best.pt"),
              "damaged or truncated", "a shipped file is never rewritten", "rnnviz runs verify")
    assert _files(ship) == before


def test_a_checkpoint_whose_pickle_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "checkpoint.pt"
    torch.save({"model": {}, "payload": Plant(marker)}, evil)
    assert not marker.exists()
    with pytest.raises(RnnvizError, match="refused .*nothing in it ran"):
        load_torch(evil)
    assert not marker.exists()
    torch.save({"w": torch.ones(2)}, tmp_path / "fine.pt")  # a plain checkpoint still loads
    assert load_torch(tmp_path / "fine.pt")["w"].sum().item() == 2


def test_a_run_checkpoint_whose_pickle_would_run_code_is_refused_by_rnnviz_train(store):
    run = _run(store)
    (run / "metrics.json").unlink()
    marker = store / "pwned"
    ck = load_torch(run / "checkpoint.pt")
    ck["payload"] = Plant(marker)
    torch.save(ck, run / "checkpoint.pt")
    _refused(store, ("train", *TINY, "--epochs", "2"), run / "checkpoint.pt", "refused", "nothing in it ran")
    assert not marker.exists()


def test_json_damage_outside_a_run(tmp_path):
    bad = tmp_path / "metrics.json"
    bad.write_text('{"test_loss": 1.4')
    with pytest.raises(RnnvizError, match=r"metrics.json is damaged \(not valid JSON"):
        read_json(bad)
    np.save(tmp_path / "a.npy", np.ones(3, np.float32))
    assert load_npy(tmp_path / "a.npy").sum() == 3
