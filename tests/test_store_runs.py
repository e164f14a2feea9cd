"""The run reader on the store: runs.Run returns what the run's files hold, and finished runs
are listed per profile, never another profile's unless that profile is asked for by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnviz_lib import baselines, executors, grid, train
from rnnviz_lib.analysis import errors
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.runs import Run, best_rnn, finished_runs
from rnnviz_lib.store import Store

pytestmark = [pytest.mark.fast, pytest.mark.usefixtures("one_thread")]

# two profiles of one model on the fixture: they differ only in how long they train (so in the
# run's identity); max_test_batches 0 scores the whole test split, as best_rnn requires
TRAIN = {"epochs": 1, "batch_size": 3, "seq_length": 11, "max_eval_batches": 2, "device": "cpu", "lr": 1e-2}


def _profile(tmp_path, name: str, ds: str, batches: int) -> str:
    f = tmp_path / f"{name}.yaml"
    f.write_text(json.dumps({"grid": {"datasets": [ds], "models": ["lstm-1-16"], "dropout": [0.0],
                                      "train": {**TRAIN, "max_train_batches": batches}}}))
    return str(f)


@pytest.fixture(scope="module")
def two_profiles(tmp_path_factory, tiny_path):
    """A store holding one finished run of each of two profiles (a and b) on the fixture."""
    tmp = tmp_path_factory.mktemp("two")
    store = Store(tmp / "home")
    ds = str(tiny_path)
    a, b = _profile(tmp, "a", ds, 2), _profile(tmp, "b", ds, 4)
    for prof in (a, b):
        assert [r["status"] for r in executors.run(grid.expand(prof), "local", store)] == ["done"]
    return store, ds, a, b


def test_the_reader_returns_what_the_files_hold(two_profiles):
    store, ds, a, _ = two_profiles
    (d,) = grid.run_dirs(a, ds, store)
    run = Run(d, store)
    assert run.finished and run.started and not run.diverged and run.origin == "store"
    # the same numbers as reading the files directly, and as the train.load_* wrappers
    assert run.metrics == json.loads((d / "metrics.json").read_text()) == train.load_metrics(d)
    assert run.config == json.loads((d / "config.json").read_text())
    assert run.history == json.loads((d / "history.json").read_text()) == train.load_history(d)
    probs = np.load(d / "test_probs.npy")
    assert run.probs().tobytes() == probs.tobytes() == train.load_probs(d, store).tobytes()
    assert run.probs_shape() == probs.shape
    assert run.metrics["test_loss"] == pytest.approx(-np.log(probs.astype(np.float64)).mean(), abs=1e-6)
    # the best weights score the test split to the stored probabilities
    np.testing.assert_allclose(train.score_test(d, store), probs, rtol=1e-5, atol=1e-7)
    model, cfg = run.model()
    assert cfg == train.load_config(d) and model.num_params() == run.metrics["params"]
    assert set(run.weights()["state_dict"]) == set(model.state_dict())
    assert grid.summary(grid.expand(a), store).loc[cfg.slug, "test_loss"] == run.metrics["test_loss"]


def test_unfinished_and_foreign_folders_say_what_is_wrong(tmp_path):
    store = Store(tmp_path)
    empty = tmp_path / "artifacts" / "runs" / "x-0"
    empty.mkdir(parents=True)
    run = Run(empty, store)
    assert not run.finished and run.history == [] and run.snapshots == []
    with pytest.raises(RnnvizError, match="not a run directory"):
        run.config
    with pytest.raises(RnnvizError, match="has not finished"):
        run.metrics
    with pytest.raises(RnnvizError, match="has not finished"):
        run.probs()
    with pytest.raises(RnnvizError, match="does not exist"):
        run.weights()


def test_a_profile_never_reads_another_profiles_runs(two_profiles):
    store, ds, a, b = two_profiles
    (da,), (db,) = grid.run_dirs(a, ds, store), grid.run_dirs(b, ds, store)
    assert da != db and len(store.run_dirs()) == 2  # the store holds both
    for prof, own in ((a, da), (b, db)):
        runs = finished_runs(ds, prof, store=store)
        assert [r.path for r in runs] == [own] and all(r.profile == prof for r in runs)
        table = errors.finished_runs(ds, store, profile=prof)
        assert table["path"].tolist() == [str(own)]
        assert table["profile"].tolist() == [prof]  # the output names whose runs these are
        best = best_rnn(ds, prof, store)
        assert best["path"] == str(own) and best["profile"] == prof
        assert best["test_loss"] == Run(own, store).metrics["test_loss"]
    assert finished_runs("wp", a, store=store) == [] and best_rnn("wp", a, store) is None
    # no silent fallback: without a profile there is no answer, and a profile without a grid is an error
    with pytest.raises(RnnvizError, match="whose runs"):
        errors.finished_runs(ds, store)
    nogrid = Path(a).with_name("nogrid.yaml")
    nogrid.write_text("baselines: {nnn_hidden: 8}\n")
    with pytest.raises(RnnvizError):
        finished_runs(ds, str(nogrid), store=store)


def test_best_rnn_leaves_out_runs_scored_on_part_of_the_test_set(two_profiles, tmp_path):
    _, ds, _, _ = two_profiles
    store = Store(tmp_path / "home")
    part = tmp_path / "part.yaml"
    part.write_text(json.dumps({"grid": {"datasets": [ds], "models": ["lstm-1-16"], "dropout": [0.0],
                                         "train": {**TRAIN, "max_train_batches": 2, "max_test_batches": 1}}}))
    assert [r["status"] for r in executors.run(grid.expand(str(part)), "local", store)] == ["done"]
    assert len(finished_runs(ds, str(part), store=store)) == 1
    assert best_rnn(ds, str(part), store) is None  # not comparable with the baselines' whole test set


def test_an_nnn_is_read_only_for_the_profile_asked(two_profiles):
    store, ds, a, _ = two_profiles
    with pytest.raises(RnnvizError, match="pass profile="):
        baselines.load_test_probs(ds, "nnn", 1, store)
    with pytest.raises(RnnvizError, match=f"under profile {a}"):
        baselines.load_test_probs(ds, "nnn", 1, store, profile=a)


def test_a_run_opened_by_path_has_no_profile(two_profiles):
    store, ds, a, _ = two_profiles
    (d,) = grid.run_dirs(a, ds, store)
    assert Run(d, store).profile is None
    assert errors.finished_runs(ds, store, run_dirs=[d])["profile"].tolist() == [""]


def test_shipped_runs_switch(monkeypatch, tmp_path):
    from rnnviz_lib import store as S

    for on in ("on", "1", "true", ""):
        monkeypatch.setenv(S.SHIPPED_ENV, on)
        assert S.shipped_dir() == (S.REPO / "data" / "runs").resolve()
    monkeypatch.setenv(S.SHIPPED_ENV, "off")
    assert S.shipped_dir() is None
    monkeypatch.setenv(S.SHIPPED_ENV, str(tmp_path))
    assert S.shipped_dir() == tmp_path.resolve()
    monkeypatch.setenv(S.SHIPPED_ENV, str(tmp_path / "nope"))
    assert S.shipped_dir() is None


def test_the_store_takes_its_shipped_runs_as_a_parameter(monkeypatch, tmp_path):
    """Store(shipped=...) decides which shipped runs a store reads, whatever the environment says:
    --retrain and a rehearsal pass shipped=False instead of switching a process-wide variable."""
    from rnnviz_lib import store as S

    ship = tmp_path / "ship"
    run = ship / "wp-lstm1-64-0123456789"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    monkeypatch.setenv(S.SHIPPED_ENV, "off")
    assert Store(tmp_path / "a").shipped_root is None  # the default follows the environment
    given = Store(tmp_path / "a", shipped=ship)
    assert given.shipped_run(run.name) == run.resolve() and given.is_shipped(run / "best.pt")
    assert given.run_dir("wp-lstm1-64", {"x": 1}).parent == tmp_path / "a" / "artifacts" / "runs"  # other name
    monkeypatch.setenv(S.SHIPPED_ENV, str(ship))
    off = Store(tmp_path / "a", shipped=False)
    assert off.shipped_root is None and off.shipped_run(run.name) is None and not off.is_shipped(run)
    assert Store(tmp_path / "a").shipped_run(run.name) == run.resolve()
    with pytest.raises(RnnvizError, match="does not exist"):
        Store(tmp_path / "a", shipped=tmp_path / "nope")
    import pickle  # worker processes get the store itself, shipped folder included

    assert pickle.loads(pickle.dumps(off)) == off and pickle.loads(pickle.dumps(given)).shipped_root == run.parent.resolve()
    monkeypatch.setenv("RNNVIZ_HOME", str(tmp_path / "a"))  # no profiles there: the package's are read
    rehearsal = Store.for_profile("smoke-rehearse")
    assert rehearsal.shipped_root is None and rehearsal.root == (tmp_path / "a").resolve()
    assert Store.for_profile("smoke").shipped_root == ship.resolve()
