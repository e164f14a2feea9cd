"""The fast (stacked) executor against the reference loop on real War and Peace, tiny schedules:
same histories and test losses to float tolerance, the same run files, resume both ways."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rnnviz_lib import evaluate, executors, fast, fast_executor, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

# B, S, batches per epoch and widths all distinct and small
TINY = {"dataset": "wp", "batch_size": 11, "seq_length": 13, "epochs": 2, "max_train_batches": 5,
        "max_eval_batches": 3, "max_test_batches": 2, "checkpoint_every": 3, "device": "cpu"}
TOL = 1e-5  # nats; the stacked path differs from cuDNN/ATen only in float summation order


pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(**kw) -> train.TrainConfig:
    return train.TrainConfig(**{**TINY, **kw})


def _vals(run_dir) -> list[float]:
    return [r["val_loss"] for r in train.load_history(run_dir)]


def _same_run(a, b, tol=TOL):
    ha, hb = train.load_history(a), train.load_history(b)
    assert [r["step"] for r in ha] == [r["step"] for r in hb]
    np.testing.assert_allclose([r["val_loss"] for r in hb], [r["val_loss"] for r in ha], atol=tol, rtol=0)
    np.testing.assert_allclose([r["train_loss"] for r in hb], [r["train_loss"] for r in ha], atol=tol, rtol=0)
    np.testing.assert_allclose([r["lr"] for r in hb], [r["lr"] for r in ha], rtol=1e-12)
    ma, mb = train.load_metrics(a), train.load_metrics(b)
    assert abs(ma["test_loss"] - mb["test_loss"]) < tol
    keys = ("best_step", "steps", "params", "hidden")
    assert [ma[k] for k in keys] == [mb[k] for k in keys]
    np.testing.assert_allclose(train.load_probs(b), train.load_probs(a), atol=1e-4, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_stack_matches_reference_for_each_cell_at_two_sizes(tmp_path, cell):
    # two sizes (two widths) x two seeds: each size is one stack of two models
    for size in (9, 17):
        cfgs = [_cfg(cell=cell, layers=1, size=size, seed=s) for s in (5, 6)]
        ref = [train.train_run(c, Store(tmp_path / "ref")) for c in cfgs]
        res = fast_executor.train_stack(cfgs, Store(tmp_path / "fast"))
        assert [r["status"] for r in res] == ["done", "done"]
        for c, a, r in zip(cfgs, ref, res):
            assert r["run_dir"] == str(train.run_dir(c, Store(tmp_path / "fast")))
            _same_run(a, r["run_dir"])
        # the two seeds really are different models
        assert _vals(res[0]["run_dir"]) != _vals(res[1]["run_dir"])


def test_deep_and_paper_gru_match_reference_and_files_are_the_references(tmp_path):
    cfgs = [_cfg(cell="gru", gru_variant="paper", layers=2, size=12, seed=3),
            _cfg(cell="lstm", layers=3, size=10, seed=4, snapshot_every=2, snapshot_epochs=1)]
    for c in cfgs:
        a = train.train_run(c, Store(tmp_path / "ref"))
        (r,) = fast_executor.train_stack([c], Store(tmp_path / "fast"))
        b = Path(r["run_dir"])
        _same_run(a, b)
        names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
        assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
        # best checkpoint loads with the reference loader and reproduces the stored val loss
        model, cfg = train.load_model(b)
        assert cfg == c
        _, splits = train.load_splits(c)
        v = evaluate.stream_loss(model, splits.val, "cpu", c.max_eval_batches)
        assert v == pytest.approx(train.load_metrics(b)["best_val_loss"], abs=1e-6)
        # the one training loop records the stacked engine like any other
        assert train.load_metrics(b)["engine"] == train.load_metrics(b)["segments"][-1]["engine"] == "fast-stacked"
    assert [s["step"] for s in train.snapshots(b)] == [0, 2, 4]


def test_dropout_variants_stack_and_differ(tmp_path):
    cfgs = [_cfg(cell="lstm", layers=2, size=14, dropout=p, epochs=3) for p in (0.0, 0.3)]
    assert len(fast.make_groups(cfgs, Store(tmp_path))) == 1  # same shape: one stack
    res = fast_executor.train_stack(cfgs, Store(tmp_path))
    # the dropout-free member is the reference run exactly; the other one learns, differently
    _same_run(train.train_run(cfgs[0], Store(tmp_path / "ref")), res[0]["run_dir"])
    v0, v1 = _vals(res[0]["run_dir"]), _vals(res[1]["run_dir"])
    assert v1[-1] < v1[0] < np.log(87) and abs(v1[-1] - v0[-1]) > 1e-4


def test_executor_groups_skips_finished_and_keeps_order(tmp_path):
    store = Store(tmp_path)
    cfgs = [_cfg(cell="rnn", size=8, seed=1), _cfg(cell="gru", size=8), _cfg(cell="rnn", size=8, seed=2),
            _cfg(cell="rnn", size=15)]
    groups = fast.make_groups(cfgs, store)
    assert sorted(len(g) for g in groups) == [1, 1, 2]
    train.train_run(cfgs[1], store)
    res = fast_executor.run_fast(cfgs, store)
    assert [r["config"] for r in res] == cfgs
    assert [r["status"] for r in res] == ["done", "skipped", "done", "done"]
    assert all(train.is_finished(train.run_dir(c, store)) for c in cfgs)
    assert fast_executor.run_fast(cfgs, store)[0]["status"] == "skipped"


class _Kill(Exception):
    pass


def _killer(at):
    def hook(step, *_):
        if step == at:
            raise _Kill
    return hook


def test_resume_across_executors(tmp_path):
    c = _cfg(cell="lstm", layers=2, size=11, seed=9)
    full = train.train_run(c, Store(tmp_path / "full"))
    # fast killed after step 4 (checkpoint at 3), the reference resumes it
    with pytest.raises(_Kill):
        fast_executor.train_stack([c], Store(tmp_path / "a"), on_step=_killer(4))
    _same_run(full, train.train_run(c, Store(tmp_path / "a")))
    # reference killed after step 7 (checkpoint at 6, mid-epoch 2: carried state), fast resumes it
    with pytest.raises(_Kill):
        train.train_run(c, Store(tmp_path / "b"), on_step=_killer(7))
    (r,) = fast_executor.train_stack([c], Store(tmp_path / "b"))
    _same_run(full, r["run_dir"])


def test_stack_rejects_mixed_cells():
    a = train.build_model(_cfg(cell="lstm", size=8), 87)
    b = train.build_model(_cfg(cell="gru", size=8), 87)
    with pytest.raises(RnnvizError, match="share cell"):
        fast.Stack([a, b], "cpu")


@pytest.mark.parametrize("cell,variant", [("lstm", "torch"), ("gru", "paper"), ("rnn", "torch")])
def test_padded_stack_of_different_widths_matches_reference_and_resumes(tmp_path, cell, variant):
    cfgs = [_cfg(cell=cell, gru_variant=variant, layers=2, size=s, dropout=0.0) for s in (17, 8, 12)]
    groups = fast.make_groups(cfgs, Store(tmp_path), pad_ratio=3.0)
    assert [len(g) for g in groups] == [3] and len(fast.make_groups(cfgs, Store(tmp_path))) == 3
    ref = [train.train_run(c, Store(tmp_path / "ref")) for c in cfgs]
    # killed after step 4 (checkpoint at 3): each model resumes alone in the reference loop
    with pytest.raises(_Kill):
        fast_executor.train_stack(cfgs, Store(tmp_path / "fast"), on_step=_killer(4))
    for c in cfgs[1:]:
        train.train_run(c, Store(tmp_path / "fast"))
    # ... or stacked again (the rest: every member at the same step)
    res = fast_executor.run_fast(cfgs, Store(tmp_path / "fast"), pad_ratio=3.0)
    assert [r["status"] for r in res] == ["done", "skipped", "skipped"]
    for a, r in zip(ref, res):
        _same_run(a, r["run_dir"])
    # the padding really stays zero and the models' own weights come back out
    nets = [train.build_model(c, 87) for c in cfgs]
    stack = fast.Stack(nets, "cpu")
    assert stack.H == max(n.H for n in nets) > min(n.H for n in nets)
    st = fast.Stepper(stack, cfgs[0], 11, 13, graphs=False)
    _, splits = train.load_splits(cfgs[0])
    x = torch.from_numpy(splits.train.x[:, :13]).long()
    y = torch.from_numpy(splits.train.y[:, :13]).long()
    for _ in range(3):
        st.step(x, y)
    for m, n in enumerate(nets):
        sd = stack.state_dict(m)
        assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in n.state_dict().items()}
        total = sum(float(p[m].detach().abs().sum()) for p in stack.params)
        assert total == pytest.approx(sum(float(v.abs().sum()) for v in sd.values()), rel=1e-6)  # padding is 0
        h = stack.state_of(st.state, m)
        assert (h[0] if cell == "lstm" else h).shape == (2, 11, n.H)


def test_cudnn_engine_is_the_reference_with_dropout_and_resumes(tmp_path):
    c = _cfg(cell="lstm", layers=2, size=13, dropout=0.25, seed=21)
    full = train.train_run(c, Store(tmp_path / "ref"))
    (r,) = fast_executor.train_stack([c], Store(tmp_path / "a"), engine="cudnn")
    _same_run(full, r["run_dir"], tol=1e-6)  # same module, same RNG stream: dropout masks agree too
    with pytest.raises(_Kill):
        fast_executor.train_stack([c], Store(tmp_path / "b"), engine="cudnn", on_step=_killer(4))
    (r,) = fast_executor.train_stack([c], Store(tmp_path / "b"), engine="cudnn")
    _same_run(full, r["run_dir"], tol=1e-6)
    with pytest.raises(RnnvizError, match="one model per group"):
        fast_executor.train_stack([c, c.replace(seed=22)], Store(tmp_path / "c"), engine="cudnn")


def test_grid_runs_the_fast_executor(tmp_path):
    from rnnviz_lib import grid

    cfgs = [_cfg(cell="gru", size=7, seed=s, epochs=1) for s in (1, 2)]
    res = executors.run(cfgs, executor="fast", store=Store(tmp_path))
    assert [r["status"] for r in res] == ["done", "done"]
    df = grid.summary(cfgs, Store(tmp_path))
    assert list(df["status"]) == ["finished", "finished"] and df["test_loss"].notna().all()


def test_stacked_forward_is_the_fused_forward():
    # the stacked cells (bmm over models, W_ih lookup) against nn.LSTM/GRU/RNN, state carried
    c = _cfg()
    _, splits = train.load_splits(c)
    for cell, variant in (("lstm", "torch"), ("gru", "torch"), ("gru", "paper"), ("rnn", "torch")):
        nets = [train.build_model(_cfg(cell=cell, gru_variant=variant, layers=2, size=12, seed=s), 87) for s in (1, 2)]
        stack = fast.Stack(nets, "cpu")
        a = fast.stream_losses(stack, splits.val, 3)
        b = fast.eval_losses(stack, splits.val, 3)
        assert a[0] != a[1] and np.allclose(a, b, atol=1e-6, rtol=0), (cell, variant, a, b)
        assert b == [evaluate.stream_loss(n, splits.val, "cpu", 3) for n in nets]


def test_env_options_parse_and_reject(monkeypatch):
    assert fast_executor.env_options("streams=8, engine=stacked,pad_ratio=2,graphs=off") == {
        "streams": 8, "engine": "stacked", "pad_ratio": 2.0, "graphs": False}
    for bad in ("speed=3", "streams=", "streams=many"):
        with pytest.raises(RnnvizError, match="RNNVIZ_FAST"):
            fast_executor.env_options(bad)
    monkeypatch.setenv("RNNVIZ_FAST", "engine=warp")
    with pytest.raises(RnnvizError, match="unknown engine"):
        fast_executor.run_fast([])


def test_one_loop_refuses_a_group_whose_runs_stopped_at_different_steps(tmp_path):
    store = Store(tmp_path)
    a, b = _cfg(cell="rnn", size=8, seed=1), _cfg(cell="rnn", size=8, seed=2)
    with pytest.raises(_Kill):
        train.train_run(a, store, on_step=_killer(4))  # checkpoint at step 3; b has none
    with pytest.raises(RnnvizError, match="different steps"):
        train.train_group([a, b], lambda nets, device: fast.make_stepper(nets, a, device), store)
    # the executor sees it first and resumes each run on its own
    assert [r["status"] for r in fast_executor.train_stack([a, b], store)] == ["done", "done"]
    _same_run(train.train_run(a, Store(tmp_path / "ref")), train.run_dir(a, store))
