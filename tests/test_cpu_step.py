"""The fast CPU training step (cpu_step) computes the reference step's gradients and losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnviz_lib import cpu_step, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.models import CharRNN
from rnnviz_lib.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")


def _random_state(model, B, gen):
    st = model.init_state(B)
    if isinstance(st, tuple):
        return tuple(torch.randn(s.shape, generator=gen, dtype=s.dtype) for s in st)
    return torch.randn(st.shape, generator=gen, dtype=st.dtype)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_gradients_equal_autograd_in_float64(cell, layers):
    gen = torch.Generator().manual_seed(layers)
    torch.manual_seed(layers)
    model = CharRNN(cell, 11, 7, layers).double()
    x = torch.randint(0, 11, (5, 9), generator=gen)
    y = torch.randint(0, 11, (5, 9), generator=gen)
    state = _random_state(model, 5, gen)  # a carried state, as in truncated BPTT
    logits, ref_state = model(x, state)
    ref_loss = F.cross_entropy(logits.reshape(-1, 11), y.reshape(-1))
    model.zero_grad()
    ref_loss.backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters()}
    loss, new_state = cpu_step.CpuStep(model)(x, y, state)
    assert abs(loss.item() - ref_loss.item()) < 1e-12
    for n, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, n
        np.testing.assert_allclose(p.grad.numpy(), ref[n].numpy(), atol=1e-12, rtol=0, err_msg=n)
    pairs = zip(new_state, ref_state) if cell == "lstm" else [(new_state, ref_state)]
    for a, b in pairs:
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-12, rtol=0)


def test_second_call_reuses_buffers_and_stays_correct():
    """Work buffers are reused from step to step: a second batch must not see the first's values."""
    torch.manual_seed(0)
    model = CharRNN("lstm", 13, 6, 2).double()
    step = cpu_step.CpuStep(model)
    gen = torch.Generator().manual_seed(1)
    for _ in range(2):
        x, y = torch.randint(0, 13, (4, 7), generator=gen), torch.randint(0, 13, (4, 7), generator=gen)
        loss, _ = step(x, y, None)
        got = {n: p.grad.clone() for n, p in model.named_parameters()}
        logits, _ = model(x)
        ref = F.cross_entropy(logits.reshape(-1, 13), y.reshape(-1))
        model.zero_grad()
        ref.backward()
        assert abs(loss.item() - ref.item()) < 1e-12
        for n, p in model.named_parameters():
            np.testing.assert_allclose(got[n].numpy(), p.grad.numpy(), atol=1e-12, rtol=0, err_msg=n)


def test_unsupported_models_fall_back_or_refuse():
    with_dropout = CharRNN("lstm", 10, 8, 2, dropout=0.25)
    paper_gru = CharRNN("gru", 10, 8, 1, gru_variant="paper")
    for m in (with_dropout, paper_gru):
        assert not cpu_step.CpuStep.supports(m)
        with pytest.raises(RnnvizError, match="reference step"):
            cpu_step.CpuStep(m)
    cfg = train.TrainConfig(cell="lstm", layers=2, size=8, dropout=0.25)
    assert train.cpu_step_for(cfg, with_dropout) is None  # auto: the reference step
    with pytest.raises(RnnvizError, match="CpuStep cannot train"):
        train.cpu_step_for(cfg.replace(engine="cpu_step"), with_dropout)


@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("gru", 1), ("rnn", 3)])
def test_schedule_matches_the_reference_engine(tmp_path, cell, layers):
    """A paper-recipe schedule (RMSProp, clip, lr decay, carried state) on real War and Peace
    trains to the same validation losses with either engine."""
    base = train.TrainConfig(dataset="wp", cell=cell, layers=layers, size=16, batch_size=20, seq_length=50,
                             epochs=3, lr_decay_after=2, max_train_batches=40, eval_every=20, max_eval_batches=4,
                             max_test_batches=2, device="cpu")
    runs = {e: train.train_run(base.replace(engine=e), Store(tmp_path / e)) for e in ("reference", "cpu_step")}
    h = {e: [r["val_loss"] for r in train.load_history(d)] for e, d in runs.items()}
    assert len(h["reference"]) == 6 and h["reference"][-1] < h["reference"][0] - 0.05  # it learns
    np.testing.assert_allclose(h["cpu_step"], h["reference"], atol=1e-4, rtol=0)
    m = {e: train.load_metrics(d) for e, d in runs.items()}
    assert m["reference"]["engine"] == "reference" and m["cpu_step"]["engine"] == "cpu_step"
    assert abs(m["reference"]["test_loss"] - m["cpu_step"]["test_loss"]) < 1e-4
    assert runs["reference"].name == runs["cpu_step"].name  # the engine is not part of the run's identity


@pytest.mark.parametrize("capability", ["AVX512", "AVX2"])
def test_auto_picks_the_faster_engine_by_shape(capability, monkeypatch):
    """engine auto: cpu_step for GRU/RNN of every row and LSTMs of rows 64-128; on a CPU with AVX-512
    the fused step for LSTMs of rows 256 and 512, where it is faster there
    (benchmarks/results/train_throughput-cpu-rows128-512.json), on an AVX2-only CPU cpu_step for them
    too (train_throughput-cpu-avx2-rows128-512.json); the engine an explicit cpu_step asks for is
    kept, and bf16 never takes the fp32 cpu_step."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    wide = capability != "AVX512"
    for cell, size, fast in [("lstm", 128, True), ("lstm", 256, wide), ("lstm", 512, wide), ("gru", 512, True),
                             ("rnn", 256, True)]:
        cfg = train.TrainConfig(cell=cell, layers=1, size=size)
        model = CharRNN(cell, 10, 8, 1)
        assert (train.cpu_step_for(cfg, model) is not None) == fast, (cell, size)
        assert train.cpu_step_for(cfg.replace(engine="cpu_step"), model) is not None
        assert train.cpu_step_for(cfg.replace(precision="bf16"), model) is None
