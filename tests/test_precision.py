"""Mixed-precision training (``TrainConfig.precision = "bf16"``): a run of its own name, fp32 master
weights, optimizer state and carried state, fp32 evaluation, and a validation curve that stays
within 0.01 nats of the fp32 run's from the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz_lib import grid, models, train
from rnnviz_lib.config import config_hash
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import REPO, Store

pytestmark = pytest.mark.usefixtures("one_thread")

# bf16 numerics need a CPU that has them (AVX-512 or AMX, through oneDNN): on an AVX2-only CPU the
# fused LSTM has no bf16 kernel and training refuses bf16 (tested below on every machine)
NO_BF16 = train.bf16_unsupported(torch.device("cpu"))
needs_bf16 = pytest.mark.skipif(bool(NO_BF16), reason=f"bf16 training is refused on this machine: {NO_BF16}")

# a model wide enough that bf16's 8-bit mantissa matters, trained long enough to learn something
SHORT = {"dataset": "wp", "cell": "lstm", "layers": 2, "size": 128, "epochs": 2, "batch_size": 32,
         "seq_length": 50, "max_train_batches": 40, "max_eval_batches": 20, "max_test_batches": 10, "lr": 0.01,
         "device": "cpu", "engine": "reference"}


def test_fp32_runs_keep_their_names_and_bf16_is_a_run_of_its_own():
    fp32 = train.TrainConfig(**SHORT)
    bf16 = fp32.replace(precision="bf16")
    assert "precision" not in fp32.identity()  # the identity of every run trained before the field
    assert bf16.identity()["precision"] == "bf16" and config_hash(bf16.identity()) != config_hash(fp32.identity())
    assert bf16.slug == fp32.slug.replace("-128", "-128-bf16")
    # the shipped runs' names are computed by today's code from their configs, unchanged: only the
    # paper profile's flagship models, trained in bf16 (its train_overrides), carry a precision
    flagship = {("lstm", 3, 512), ("gru", 3, 512), ("lstm", 2, 512)}
    for cfg in grid.expand("paper"):
        assert ("precision" in cfg.identity()) == ((cfg.cell, cfg.layers, cfg.size) in flagship), cfg.slug
    assert (REPO / "data" / "runs" / "wp-lstm1-64-faf80ccd2e").is_dir()
    with pytest.raises(RnnvizError, match="cpu_step trains in fp32 only"):
        fp32.replace(engine="cpu_step", precision="bf16")
    with pytest.raises(RnnvizError, match="unknown precision"):
        fp32.replace(precision="fp16")


@needs_bf16
def test_bf16_step_keeps_fp32_state_and_its_first_loss_is_fp32s():
    torch.manual_seed(0)
    cfg = train.TrainConfig(**{**SHORT, "precision": "bf16"})
    model = models.CharRNN("lstm", 87, 96, 2)
    ref = models.CharRNN("lstm", 87, 96, 2)
    ref.load_state_dict(model.state_dict())
    x, y = torch.randint(0, 87, (32, 50)), torch.randint(0, 87, (32, 50))
    a, b = train.ModuleStepper(model, cfg), train.ModuleStepper(ref, cfg.replace(precision="fp32"))
    a.step(x, y)
    b.step(x, y)
    assert a.engine == "reference-bf16" and b.engine == "reference"
    la, lb = float(a.take_losses()[0]), float(b.take_losses()[0])
    assert abs(la - lb) < 0.01 and la != lb  # the same loss to bf16's precision, and not the fp32 path
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(s.dtype == torch.float32 for s in a.state)
    for st in a.opt.state.values():
        assert st["square_avg"].dtype == torch.float32


@needs_bf16
def test_bf16_losses_stay_within_001_nats_of_fp32_on_war_and_peace(tmp_path):
    """60 paper-recipe steps side by side on the same War and Peace batches from the same weights:
    every step's training loss, and the validation loss after them, within 0.01 nats of fp32's.
    (The shipped-run check at full scale, row 64 retrained in bf16, is in the README.)"""
    cfg = train.TrainConfig(**{**SHORT, "lr": 2e-3})
    _, splits = train.load_splits(cfg)
    torch.manual_seed(0)
    m32, m16 = models.CharRNN("lstm", 87, 96, 2), models.CharRNN("lstm", 87, 96, 2)
    m16.load_state_dict(m32.state_dict())
    a, b = train.ModuleStepper(m32, cfg), train.ModuleStepper(m16, cfg.replace(precision="bf16"))
    X, Y = (torch.from_numpy(v[:32].astype(np.int64)) for v in (splits.train.x, splits.train.y))
    gaps = []
    for t in range(60):
        x, y = X[:, 50 * t: 50 * (t + 1)], Y[:, 50 * t: 50 * (t + 1)]
        a.step(x, y)
        b.step(x, y)
        gaps.append(float(a.take_losses()[0] - b.take_losses()[0]))
    assert max(map(abs, gaps)) < 0.01 and any(gaps), gaps
    from rnnviz_lib import evaluate

    va, vb = (evaluate.stream_loss(m, splits.val, None, 10) for m in (m32, m16))
    assert abs(va - vb) < 0.01


@needs_bf16
def test_a_bf16_run_records_its_precision(tmp_path):
    b = train.train_run(train.TrainConfig(**{**SHORT, "precision": "bf16", "epochs": 1, "max_train_batches": 3,
                                            "max_eval_batches": 2, "max_test_batches": 2}), Store(tmp_path))
    assert b.name.startswith("wp-lstm2-128-bf16-")
    assert train.load_metrics(b)["engine"] == "reference-bf16" and train.load_config(b).precision == "bf16"
    assert train.load_metrics(b)["segments"][-1]["engine"] == "reference-bf16"


def test_a_cpu_without_bf16_refuses_a_bf16_run_before_writing_anything(tmp_path, monkeypatch, capsys,
                                                                       throughput_benchmark):
    """Where ``bf16_unsupported`` gives a reason (an AVX2-only CPU; simulated here so that every
    machine runs this), a bf16 run stops with that reason and the fix before any run file is
    written, from the library, the stepper, the CLI and the benchmark alike; fp32 trains, and a
    finished bf16 run (a shipped flagship) is still read."""
    why = "this CPU has no native bf16 (simulated)"
    monkeypatch.setattr(train, "bf16_unsupported", lambda device: why)
    store = Store(tmp_path)
    cfg = train.TrainConfig(**{**SHORT, "precision": "bf16", "epochs": 1, "max_train_batches": 2,
                               "max_eval_batches": 2, "max_test_batches": 2})
    fix = r"--precision bf16 cannot train here: this CPU has no native bf16 \(simulated\)\. Train it in fp32"
    with pytest.raises(RnnvizError, match=fix):
        train.train_run(cfg, store)
    assert not train.run_dir(cfg, store).exists()  # no half-made run folder to trip the next try
    with pytest.raises(RnnvizError, match=fix):
        train.ModuleStepper(models.CharRNN("lstm", 87, 16, 1), cfg)
    from rnnviz_lib import cli

    monkeypatch.setenv("RNNVIZ_HOME", str(tmp_path))
    argv = ["train", "--dataset", "wp", "--size", "64", "--epochs", "1", "--max-train-batches", "2",
            "--device", "cpu", "--precision", "bf16", "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "wp-lstm1-64-bf16: --precision bf16 cannot train here" in err and "--precision fp32" in err
    assert train.is_finished(train.train_run(cfg.replace(precision="fp32"), store))  # fp32 is untouched
    flagship = next(c for c in grid.expand("paper") if c.slug.startswith("wp-gru3-512-d0.25-bf16"))
    shipped = train.train_run(flagship, Store(tmp_path, shipped=REPO / "data" / "runs"))  # read, not trained
    assert shipped.parent == REPO / "data" / "runs" and train.is_finished(shipped)

    assert throughput_benchmark(["--sizes", "64", "--paths", "bf16", "--steps", "1", "--out", str(tmp_path / "b.json")]) == 2
    assert "leave bf16 out here" in capsys.readouterr().err and not (tmp_path / "b.json").exists()
