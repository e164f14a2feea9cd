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


def test_a_bf16_run_records_its_precision(tmp_path):
    b = train.train_run(train.TrainConfig(**{**SHORT, "precision": "bf16", "epochs": 1, "max_train_batches": 3,
                                            "max_eval_batches": 2, "max_test_batches": 2}), Store(tmp_path))
    assert b.name.startswith("wp-lstm2-128-bf16-")
    assert train.load_metrics(b)["engine"] == "reference-bf16" and train.load_config(b).precision == "bf16"
    assert train.load_metrics(b)["segments"][-1]["engine"] == "reference-bf16"
