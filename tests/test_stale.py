"""Caches and reused runs follow content, not names: a retrained copy of a run (same name, other
weights) shows its own activations and test probabilities, and a run trained on a text that has
changed since is refused, never silently reused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnviz_lib import executors, train
from rnnviz_lib.analysis import cells
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.runs import Run
from rnnviz_lib.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"cell": "lstm", "layers": 1, "size": 16, "batch_size": 10, "seq_length": 20, "epochs": 1,
        "max_train_batches": 3, "max_eval_batches": 2, "max_test_batches": 2, "device": "cpu"}


def _retrained_copy(run_dir) -> None:
    """What `--retrain` or a re-ship leaves: the same folder name, other best weights."""
    f = run_dir / "best.pt"
    ck = torch.load(f, weights_only=False)
    ck["state_dict"] = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
                        for k, v in ck["state_dict"].items()}
    torch.save(ck, f)


def test_a_retrained_copy_shows_its_own_activations(small, home):
    store = Store(home)
    d = train.train_run(train.TrainConfig(dataset=str(small), **TINY), store)
    first = cells.study_run(d, n_streams=2, n_steps=50, burn=10, store=store).acts.cell_values(0)
    _retrained_copy(d)
    second = cells.study_run(d, n_streams=2, n_steps=50, burn=10, store=store).acts.cell_values(0)
    model, _ = train.load_model(d)
    assert not np.allclose(first, second)
    from rnnviz_lib.analysis import activations as A

    study = cells.study_run(d, n_streams=2, n_steps=50, burn=10, store=store)
    np.testing.assert_allclose(second, A.compute_activations(model, study.sample).cell_values(0), atol=1e-3)


def test_a_shipped_run_replaced_under_its_name_is_not_read_through_the_old_cache(tmp_path, monkeypatch, small):
    from rnnviz_lib import shipped

    cfg = train.TrainConfig(dataset=str(small), **TINY)
    a = Store(tmp_path / "a")
    train.train_run(cfg, a)
    root = tmp_path / "shipped"
    names = shipped.ship([cfg], a, profile="tiny", root=root, full_only=False)
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(root))
    b = Store(tmp_path / "b")
    run = Run(root / names[0], b)
    first = run.probs().copy()
    _retrained_copy(root / names[0])
    second = Run(root / names[0], b).probs()
    assert not np.allclose(first, second)


def test_a_run_of_an_edited_corpus_is_refused_not_reused(small, home):
    store = Store(home)
    cfg = train.TrainConfig(dataset=str(small), **TINY)
    d = train.train_run(cfg, store)
    assert train.train_run(cfg, store) == d  # same text: the finished run is reused
    small.write_bytes(small.read_bytes().replace(b"the", b"teh"))  # the user edits their text
    assert train.run_dir(cfg, store) == d  # the name does not change ...
    with pytest.raises(RnnvizError, match="trained on another text.*delete that run folder"):
        train.train_run(cfg, store)  # ... but the run is not taken for the new text
    (res,) = executors.run([cfg], store=store)
    assert res["status"] == "failed" and "trained on another text" in res["error"]
    assert Run(d).finished  # nothing deleted
