"""The training recipe on real War and Peace, tiny: loss falls, seeds reproduce, runs resume exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from rnnviz_lib import evaluate, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

# B, S, batches per epoch, and widths all distinct and small
TINY = {"dataset": "wp", "cell": "lstm", "layers": 2, "size": 16, "batch_size": 12, "seq_length": 20, "epochs": 3,
        "max_train_batches": 5, "max_eval_batches": 3, "max_test_batches": 4, "checkpoint_every": 3, "dropout": 0.2,
        "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(**kw) -> train.TrainConfig:
    return train.TrainConfig(**{**TINY, **kw})


def _summary(run_dir):
    m = train.load_metrics(run_dir)
    h = train.load_history(run_dir)
    return (m["test_loss"], m["best_val_loss"], m["best_step"], [r["val_loss"] for r in h],
            [r["train_loss"] for r in h], train.load_probs(run_dir).tobytes())


def test_run_layout_loss_falls_and_seed_reproduces(tmp_path):
    cfg = _cfg(snapshot_every=2, snapshot_epochs=1)
    a = train.train_run(cfg, Store(tmp_path / "a"))
    for f in ("config.json", "checkpoint.pt", "best.pt", "history.json", "metrics.json", "test_probs.npy"):
        assert (a / f).is_file(), f
    hist = train.load_history(a)
    assert [r["step"] for r in hist] == [5, 10, 15]
    assert hist[-1]["val_loss"] < hist[0]["val_loss"] < np.log(87)  # learning happened
    m = train.load_metrics(a)
    assert m["hidden"] == 13 and m["params"] == sum(p.numel() for p in train.load_model(a)[0].parameters())
    assert abs(m["test_loss_bits"] - m["test_loss"] / np.log(2)) < 1e-12
    # probabilities: the (B, T) contract and consistent with the stored loss and the best weights
    probs = train.load_probs(a)
    assert probs.dtype == np.float32 and probs.shape == (12, 4 * 20)
    assert m["test_loss"] == pytest.approx(evaluate.cross_entropy(probs), abs=1e-12)
    model, cfg2 = train.load_model(a)
    assert cfg2.identity() == cfg.identity()
    _, splits = train.load_splits(cfg)
    again = evaluate.stream_probs(model, splits.test, max_batches=4)
    np.testing.assert_allclose(again, probs, rtol=1e-5)
    # snapshots at steps 0, 2, 4 (first epoch = 5 steps), loadable
    assert [s["step"] for s in train.snapshots(a)] == [0, 2, 4]
    m0, _ = train.load_model(a, which="step-0000000.pt")
    assert not torch.equal(m0.decoder.weight, model.decoder.weight)
    # same seed, another store: identical; another seed: different
    b = train.train_run(cfg, Store(tmp_path / "b"))
    assert _summary(a) == _summary(b)
    c = train.train_run(cfg.replace(seed=7), Store(tmp_path / "c"))
    assert _summary(c)[0] != _summary(a)[0]
    # a finished run is skipped untouched
    stamp = (a / "metrics.json").stat().st_mtime_ns
    assert train.train_run(cfg, Store(tmp_path / "a")) == a
    assert (a / "metrics.json").stat().st_mtime_ns == stamp


def test_lr_schedule_and_carried_state(tmp_path):
    cfg = _cfg(epochs=3, lr_decay_after=1, lr_decay=0.5, dropout=0.0, threads=2)
    assert [train.lr_at(cfg, e) for e in range(3)] == [2e-3, 1e-3, 5e-4]
    seen = {}

    def grab(step, model):
        seen.setdefault("threads", torch.get_num_threads())
        if step == 3:  # the checkpoint of step 3 is written just before this hook
            seen.update(torch.load(train.run_dir(cfg, Store(tmp_path)) / "checkpoint.pt", weights_only=True))

    out = train.train_run(cfg, Store(tmp_path), on_step=grab)
    assert seen["threads"] == 2 and torch.get_num_threads() == 1  # set for the run, then restored
    assert [r["lr"] for r in train.load_history(out)] == [2e-3, 1e-3, 5e-4]
    paper = train.TrainConfig()
    assert train.lr_at(paper, 9) == 2e-3 and train.lr_at(paper, 10) == pytest.approx(2e-3 * 0.95)
    # mid-epoch, the checkpoint holds the position and the non-zero (h, c) carried to the next batch
    assert seen["progress"]["batch"] == 3 and seen["progress"]["epoch"] == 0
    h, c = seen["hidden"]
    assert h.shape == (2, 12, 13) and h.abs().min() > 0 and c.abs().min() > 0


_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    from rnnviz_lib import train
    from rnnviz_lib.store import Store
    cfg = train.TrainConfig(**json.loads(sys.argv[1]))
    kill_at = int(sys.argv[3])
    def hook(step, model):
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)  # a hard kill: no cleanup, no finally blocks
    train.train_run(cfg, Store(sys.argv[2]), on_step=hook)
""")


def _train_in_subprocess(cfg, root, kill_at=-1):
    # every phase in a fresh process with the same thread count, so float results can match bit for bit
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(cfg.__dict__), str(root), str(kill_at)],
                          check=False, env=env, capture_output=True, text=True, timeout=300)


def test_killed_run_resumes_to_identical_metrics(tmp_path):
    cfg = _cfg(snapshot_every=4, snapshot_epochs=2)
    assert _train_in_subprocess(cfg, tmp_path / "ref").returncode == 0
    ref = train.run_dir(cfg, Store(tmp_path / "ref"))
    cut = train.run_dir(cfg, Store(tmp_path / "cut"))
    # killed mid-epoch (resumes from the step-6 checkpoint), then again just after an epoch end (from 10)
    for kill_at, resume_from in ((8, 6), (11, 10)):
        proc = _train_in_subprocess(cfg, tmp_path / "cut", kill_at)
        assert proc.returncode == -9, proc.stderr[-2000:]
        assert not train.is_finished(cut)
        assert torch.load(cut / "checkpoint.pt", weights_only=True)["progress"]["step"] == resume_from
    proc = _train_in_subprocess(cfg, tmp_path / "cut")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _summary(cut) == _summary(ref)
    assert [s["step"] for s in train.snapshots(cut)] == [s["step"] for s in train.snapshots(ref)] == [0, 4, 8]
    for a, b in zip(train.load_model(cut)[0].parameters(), train.load_model(ref)[0].parameters()):
        assert torch.equal(a, b)


_HOLD = textwrap.dedent("""
    import sys
    from rnnviz_lib.store import hold_runs
    with hold_runs([sys.argv[1]]):
        print("held", flush=True)
        sys.stdin.read()
""")


def test_a_run_that_another_process_trains_is_refused_and_left_as_it_is(tmp_path):
    """Two processes training one run would overwrite each other's checkpoints: the second is
    refused before it writes anything, naming the holder; a killed holder leaves no stale lock."""
    import signal

    from rnnviz_lib.store import hold_runs

    cfg = _cfg(epochs=2)
    store = Store(tmp_path)
    d = train.train_run(cfg.replace(until_epoch=1), store)  # paused after epoch 1, checkpointed

    def files():
        return {f.name: f.read_bytes() for f in d.rglob("*") if f.is_file() and f.name != ".lock"}

    before = files()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(d)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RnnvizError, match=rf"run {d.name} is being trained by pid {holder.pid} on .* since .*"
                                              r"wait for it to end, or stop it"):
            train.train_run(cfg, store)
        assert files() == before  # nothing written
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup at all: the kernel drops the lock with the process
        holder.wait(timeout=30)
    # the same process holding it is refused too (another open file, another lock)
    with hold_runs([d]), pytest.raises(RnnvizError, match=f"run {d.name} is being trained by pid {os.getpid()}"):
        train.train_run(cfg, store)
    assert files() == before
    assert train.train_run(cfg, store) == d and train.is_finished(d)  # the holder gone, it trains on


def test_until_epoch_pauses_a_screening_that_the_full_command_extends_exactly(tmp_path):
    """A screening (``until_epoch``) stops checkpointed and unfinished after its epochs, under the
    full run's name; the same config without it trains on to the uninterrupted run's results."""
    cfg = _cfg()
    ref = train.train_run(cfg, Store(tmp_path / "ref"))
    screen = train.train_run(cfg.replace(until_epoch=1), Store(tmp_path / "cut"))
    assert screen.name == ref.name and not train.is_finished(screen)
    assert [r["epoch"] for r in train.load_history(screen)] == [1.0]
    assert torch.load(screen / "checkpoint.pt", weights_only=True)["progress"]["epoch"] == 1
    assert train.train_run(cfg.replace(until_epoch=1), Store(tmp_path / "cut")) == screen  # already there: no step
    assert len(train.load_history(screen)) == 1
    assert train.train_run(cfg, Store(tmp_path / "cut")) == screen and train.is_finished(screen)
    assert _summary(screen) == _summary(ref)
    with pytest.raises(RnnvizError, match="until_epoch must be 0"):
        _cfg(until_epoch=-1)


def test_divergence_stops_with_clear_error_and_keeps_last_checkpoint(tmp_path):
    cfg = _cfg(dropout=0.0, cell="gru", layers=1, epochs=2)

    def poison(step, model):
        if step == 4:  # after the checkpoint at step 3
            with torch.no_grad():
                model.decoder.weight[0, 0] = float("nan")

    with pytest.raises(RnnvizError, match="diverged after step 4.*last good checkpoint"):
        train.train_run(cfg, Store(tmp_path), on_step=poison)
    out = train.run_dir(cfg, Store(tmp_path))
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ck["progress"]["step"] == 3
    assert all(torch.isfinite(v).all() for v in ck["model"].values())
    assert not train.is_finished(out) and (out / "diverged.json").is_file()


def test_config_identity_and_validation(tmp_path):
    a, b = _cfg(), _cfg(device="auto", checkpoint_every=50, threads=1)
    assert a.identity() == b.identity() and train.run_dir(a, Store(tmp_path)) == train.run_dir(b, Store(tmp_path))
    assert train.run_dir(a.replace(dropout=0.3), Store(tmp_path)) != train.run_dir(a, Store(tmp_path))
    assert train.TrainConfig(cell="gru", gru_variant="paper", layers=3, size=128, dropout=0.25).slug == "wp-grup3-128-d0.25"
    with pytest.raises(RnnvizError, match="cell type"):
        train.TrainConfig(cell="cnn")
    with pytest.raises(RnnvizError, match="device"):
        train.TrainConfig(device="tpu")
    with pytest.raises(RnnvizError, match="not a run directory"):
        train.load_model(tmp_path)


def test_progress_round_trips_and_reads_checkpoints_of_older_code():
    p = train.Progress(step=7, epoch=1, batch=2, history=[{"step": 5, "val_loss": 3.1}], best_val=3.1,
                       segments=[{"step": 0, "engine": "reference"}])
    assert train.Progress.from_dict(p.to_dict()) == p
    # a checkpoint written before segments (and errors) were kept, with a key this code does not know
    old = {k: v for k, v in p.to_dict().items() if k not in ("segments", "error")}
    q = train.Progress.from_dict({**old, "retired_key": 1})
    assert q.step == 7 and q.history == p.history and q.segments[0]["note"] == "not recorded"
    assert train.Progress.from_dict({"step": 0}).segments == []


def test_patience_counts_every_evaluation_not_only_epoch_ends(tmp_path):
    """With eval_every, a run stops as soon as `patience` evaluations in a row did not improve,
    also in the middle of an epoch (it used to run on to the epoch's end)."""
    cfg = _cfg(epochs=3, max_train_batches=10, eval_every=2, patience=2, dropout=0.0)
    worse = iter(1.0 + 0.1 * k for k in range(100))  # every evaluation after the first is worse

    class Worsening(train.ModuleStepper):
        def val_losses(self, part, max_batches):
            return [next(worse)]

    (p,) = train.train_group([cfg], lambda nets, device: Worsening(nets[0].to(device), cfg), Store(tmp_path))
    d = train.run_dir(cfg, Store(tmp_path))
    hist = train.load_history(d)
    assert [r["step"] for r in hist] == [2, 4, 6]  # best, worse, worse: stop at step 6, mid-epoch 1
    m = train.load_metrics(d)
    assert m["stopped"] == "early" and m["best_step"] == 2
