"""The grid through Ray on the CPU: same Table 1 as the local executor, a killed worker's run resumes.

A local Ray instance (2 CPUs, no dashboard) is started inside the tests and shut down after; the
README's command (``rnnviz grid --profile smoke --executor ray``) is run as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from rnnviz_lib import executors, grid, ray_executor, table1, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

README_COMMAND = ["grid", "--profile", "smoke", "--executor", "ray"]  # README: rnnviz grid --profile smoke --executor ray
DEADLINE_S = 240  # any one wait below; the whole file takes well under this on 2 cores


def _rnnviz() -> list[str]:
    exe = Path(sys.executable).with_name("rnnviz")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "rnnviz_lib.cli"]


def _env(home: Path) -> dict:
    env = {**os.environ, "RNNVIZ_HOME": str(home), "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)  # a local Ray, whatever the caller's shell says
    return env


@pytest.fixture
def local_ray(monkeypatch):
    import ray

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=ray_executor.LOCAL_OBJECT_STORE_BYTES,
             log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
    assert not ray.is_initialized()


def _worker_of(slug: str) -> psutil.Process | None:
    """The Ray worker process running ``slug``'s task: a descendant of this test process whose
    title Ray set to ``ray::rnnviz:<slug>``."""
    for p in psutil.Process().children(recursive=True):
        try:
            if f"rnnviz:{slug}" in " ".join(p.cmdline()):
                return p
        except psutil.Error:
            continue
    return None


def _kill_at_first_checkpoint(ray, ref, slug: str, run_dir: Path) -> None:
    """SIGKILL the worker running task ``ref`` (training ``slug``) once ``run_dir/checkpoint.pt`` exists."""
    t0 = time.time()
    worker = None
    while worker is None:
        assert time.time() - t0 < DEADLINE_S, f"no Ray worker started {slug}"
        assert not ray.wait([ref], timeout=0)[0], f"{slug} ended before it could be killed: {ray.get(ref)}"
        worker = _worker_of(slug)
        time.sleep(0.01)
    while not (run_dir / "checkpoint.pt").is_file():
        assert time.time() - t0 < DEADLINE_S, f"{slug} wrote no checkpoint"
        assert not ray.wait([ref], timeout=0)[0], f"{slug} ended before it could be killed: {ray.get(ref)}"
        time.sleep(0.002)
    worker.send_signal(signal.SIGKILL)
    assert not (run_dir / "metrics.json").exists(), f"{slug} finished before it could be killed"


def _table1(configs, store: Store) -> pd.DataFrame:
    ours, _, _ = table1.frames(grid.summary(configs, store), "wp")
    return ours


def test_readme_section_runs_the_tested_command():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Running the grid on several GPUs or a Ray cluster", 1)[1]
    assert "rnnviz " + " ".join(README_COMMAND) in section
    assert 'pip install "rnnviz[ray]"' in section  # the install hint of the missing-Ray error


def test_resources_follow_device_and_model_size():
    cfg = train.TrainConfig(size=64, device="auto")
    assert ray_executor.task_resources(cfg, cluster_gpus=0) == ({"num_cpus": 1, "num_gpus": 0}, "cpu")
    assert ray_executor.task_resources(cfg, cluster_gpus=8) == ({"num_cpus": 1, "num_gpus": 0.25}, "cuda")
    assert ray_executor.task_resources(cfg.replace(device="cpu"), cluster_gpus=8)[1] == "cpu"
    fractions = [ray_executor.task_resources(cfg.replace(size=s, device="cuda"), 1)[0]["num_gpus"]
                 for s in (64, 128, 256, 512)]
    assert fractions == [0.25, 0.25, 0.5, 1.0]
    with pytest.raises(RnnvizError, match="has no GPU"):
        ray_executor.task_resources(cfg.replace(device="cuda"), cluster_gpus=0)


def test_missing_ray_says_how_to_install(home):
    # Ray hidden from the import system: the base package works, --executor ray explains itself
    code = ("import sys; sys.modules['ray'] = None\n"
            "from rnnviz_lib import cli, ray_executor\n"
            "cli.build_parser()\n"
            "assert not [m for m, v in sys.modules.items() if v is not None and m.split('.')[0] == 'ray'], 'ray imported'\n"
            f"sys.exit(cli.main({README_COMMAND!r}))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=home, env=_env(home), capture_output=True, text=True,
                          timeout=DEADLINE_S, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnviz: error: the ray executor needs Ray"), proc.stderr[-2000:]
    assert 'pip install "rnnviz[ray]"' in last
    assert "Traceback" not in proc.stderr
    assert not (home / "artifacts" / "runs").exists()  # nothing was started


def test_bad_address_fails_fast_with_one_line(home, capsys):
    from rnnviz_lib import cli

    assert cli.main(README_COMMAND + ["--address", "127.0.0.1:1"]) == 2  # nothing listens on port 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("rnnviz: error: no Ray head answers at 127.0.0.1:1") and "--address" in err
    assert cli.main(["grid", "--profile", "smoke", "--address", "auto"]) == 2  # local executor
    assert "add --executor ray" in capsys.readouterr().err
    assert not (home / "artifacts" / "runs").exists()


def test_smoke_grid_through_ray_matches_local_and_resumes_a_killed_run(home, tmp_path, one_thread, local_ray):
    configs = grid.expand("smoke")
    assert len(configs) >= 2
    # the reference: the local executor in another store
    ref_store = Store(tmp_path / "local")
    assert {r["status"] for r in executors.run(configs, "local", ref_store)} == {"done"}
    reference = _table1(configs, ref_store)
    assert reference.notna().sum().sum() == len({(c.cell, c.layers, c.size) for c in configs})

    # Ray, killed: the run with the most work checkpoints every step (an execution setting, the same
    # run directory) and its worker is SIGKILLed at its first checkpoint; no retry, so the grid
    # reports it failed and its run directory stays partial
    store = Store(home)
    target = max(configs, key=lambda c: (c.layers * c.size, c.snapshot_every, c.slug))
    tdir = train.run_dir(target, store, create=False)
    submitted = [c.replace(checkpoint_every=1) if c == target else c for c in configs]
    refs = ray_executor.submit(submitted, store, max_retries=0)
    _kill_at_first_checkpoint(local_ray, refs[configs.index(target)], target.slug, tdir)
    results = ray_executor.collect(configs, refs, store)
    by_slug = {r["config"].slug: r for r in results}
    assert by_slug[target.slug]["status"] == "failed"
    assert "rerun the grid command to resume it" in by_slug[target.slug]["error"]
    assert grid.status_of(tdir) == "partial"
    assert all(r["status"] == "done" for s, r in by_slug.items() if s != target.slug)
    first_files = {f.name: f.stat().st_mtime_ns for f in (tdir / "snapshots").glob("*.pt")}
    assert "step-0000000.pt" in first_files  # written before the first step
    finished = {c.slug: train.run_dir(c, store, create=False) / "metrics.json" for c in configs if c != target}
    mtimes = {s: f.stat().st_mtime_ns for s, f in finished.items()}

    # with retries (the executor's default is 2), Ray reruns the killed task at once and the retry
    # resumes from the checkpoint: the same call completes the run, with the same result
    rdir = train.run_dir(target, Store(tmp_path / "retry"), create=False)
    refs = ray_executor.submit([target.replace(checkpoint_every=1)], Store(tmp_path / "retry"), max_retries=1)
    _kill_at_first_checkpoint(local_ray, refs[0], target.slug, rdir)
    step0 = (rdir / "snapshots" / "step-0000000.pt").stat().st_mtime_ns
    [res] = ray_executor.collect([target], refs, Store(tmp_path / "retry"))
    assert res["status"] == "done" and grid.status_of(rdir) == "finished"
    assert (rdir / "snapshots" / "step-0000000.pt").stat().st_mtime_ns == step0  # resumed, not restarted
    ref_metrics = json.loads((train.run_dir(target, ref_store, create=False) / "metrics.json").read_text())
    assert json.loads((rdir / "metrics.json").read_text())["test_loss"] == pytest.approx(ref_metrics["test_loss"],
                                                                                          rel=1e-6)
    local_ray.shutdown()

    # the README's command resumes the killed run and skips the finished ones
    proc = subprocess.run(_rnnviz() + README_COMMAND, cwd=home, env=_env(home), capture_output=True, text=True,
                          timeout=DEADLINE_S, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Table 1, wp" in proc.stdout
    assert grid.status_of(tdir) == "finished"
    assert {s: f.stat().st_mtime_ns for s, f in finished.items()} == mtimes  # not retrained
    # resumed, not restarted: what the killed run wrote before its checkpoint is left as it was
    # (a restart rewrites the step-0 snapshot), and the run went on to the end of its snapshots
    for name, mtime in first_files.items():
        assert (tdir / "snapshots" / name).stat().st_mtime_ns == mtime, f"{name} was rewritten: the run restarted"
    steps = [s["step"] for s in json.loads((tdir / "snapshots" / "index.json").read_text())]
    assert steps == list(range(0, steps[-1] + 1, target.snapshot_every)) and steps[-1] >= 2

    # the same Table 1 as the local executor
    ours = _table1(configs, store)
    pd.testing.assert_index_equal(ours.index, reference.index)
    np.testing.assert_allclose(ours.to_numpy(float), reference.to_numpy(float), rtol=1e-6, equal_nan=True)
