"""Shipped runs (data/runs/): re-evaluated on the real test split, checked against their manifest
and the paper profile, and read by the store like its own runs without ever being written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from rnnviz_lib import cli, data, evaluate, executors, grid, lk_corpus, shipped, table1, train
from rnnviz_lib.config import artifact_name, config_hash
from rnnviz_lib.commands import train as train_cmd
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import REPO, SNAPSHOT_KL_FILE, Store

pytestmark = pytest.mark.usefixtures("one_thread")

SHIPPED = REPO / "data" / "runs"
MANIFEST = shipped.manifest(SHIPPED).get("runs", {})
LK_DIR = REPO / "data" / "lk"  # where `rnnviz data prepare --dataset lk` (make data, .ci/run) builds LK


def test_there_are_shipped_runs_and_they_fit_the_budget():
    assert len(MANIFEST) >= 1
    total = sum(f["bytes"] for e in MANIFEST.values() for f in e["files"].values())
    on_disk = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert on_disk <= shipped.BUDGET_BYTES and total <= on_disk
    for name in MANIFEST:
        assert sorted(p.name for p in (SHIPPED / name).iterdir()) == sorted(shipped.run_files(SHIPPED / name))  # nothing else
        assert sorted(MANIFEST[name]["files"]) == sorted(shipped.run_files(SHIPPED / name))


def test_manifest_matches_files_and_the_paper_profile_today():
    assert shipped.verify(SHIPPED, profile="paper") == []
    paper_names = {artifact_name(c.slug, c.identity()): c for c in grid.expand("paper")}
    for name, e in MANIFEST.items():
        cfg = paper_names[name]  # the paper profile computes this very config hash today
        assert config_hash(cfg.identity()) == e["identity_hash"]
        assert e["commit"] and len(e["commit"]) == 40 and e["torch"] and e["machine"] and e["train_time_s"] > 0
        m = json.loads((SHIPPED / name / "metrics.json").read_text())
        assert m["identity_hash"] == e["identity_hash"] and m["test_loss"] == e["test_loss"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_shipped_weights_give_their_test_loss_on_the_real_test_split(name):
    """Load best.pt, run it over the whole test split of the real corpus, get metrics.json back."""
    run = SHIPPED / name
    cfg = train.load_config(run)
    data_dir = str(LK_DIR) if cfg.dataset == "lk" else None
    if cfg.dataset == "lk":
        assert (LK_DIR / "lk.txt").is_file(), f"LK runs are shipped: build the corpus with `rnnviz data prepare --dataset lk` into {LK_DIR}"
    corpus = data.load_corpus(cfg.dataset, data_dir, download_ok=False)
    if cfg.dataset == "lk":
        assert corpus.sha256 == lk_corpus.LK_REFERENCE_SHA256
    splits = data.corpus_splits(corpus, cfg.batch_size, cfg.seq_length, cfg.split_mode)
    model, _ = train.load_model(run)
    probs = evaluate.stream_probs(model, splits.test, torch.device("cpu"), 0)
    assert probs.shape == (100, splits.test.x.shape[1])
    m = train.load_metrics(run)
    assert abs(evaluate.cross_entropy(probs) - m["test_loss"]) < 1e-4
    assert m["epochs_done"] == cfg.epochs or m["stopped"] == "early"


KL_RUNS = sorted(n for n in MANIFEST if (SHIPPED / n / SNAPSHOT_KL_FILE).is_file())


def test_the_snapshot_tables_ship_with_the_run_that_keeps_snapshots():
    """The paper's snapshot run (WP LSTM-3-512) ships its Figure 5 (right) table in place of its snapshots."""
    snap = {artifact_name(c.slug, c.identity()) for c in grid.expand("paper") if c.snapshot_every} & set(MANIFEST)
    assert snap and set(KL_RUNS) == snap


@pytest.mark.parametrize("name", KL_RUNS)
def test_a_shipped_snapshot_table_matches_the_shipped_n_nn_and_its_first_row_recomputes(name):
    """The table was computed against the shipped n-NN (same sha256), and its step-0 rows come back
    from the run's own initialisation (its seed rebuilds the step-0 snapshot exactly) and those n-NN."""
    from rnnviz_lib.analysis import longrange

    run = SHIPPED / name
    kept = json.loads((run / SNAPSHOT_KL_FILE).read_text())
    base = shipped.manifest(SHIPPED)["baselines"]
    files = {}
    for label, rec in kept["n_nn"].items():
        assert base[rec["baseline"]]["files"]["model.pt"]["sha256"] == rec["sha256"], label
        files[label] = SHIPPED / "baselines" / rec["baseline"] / "model.pt"
    table = pd.DataFrame(kept["rows"])
    assert table["step"].nunique() == kept["snapshots"] > 1 and len(table) == kept["snapshots"] * len(files)
    cfg = train.load_config(run)
    corpus = data.load_corpus(cfg.dataset, str(LK_DIR) if cfg.dataset == "lk" else None, download_ok=False)
    test = data.corpus_splits(corpus, cfg.batch_size, cfg.seq_length, cfg.split_mode).test
    assert kept["symbols"] == test.y.shape[0] * kept["batches"] * test.seq_length
    model = train.build_model(cfg, corpus.K).eval()
    P = longrange.model_distributions(model, test, kept["batches"])
    Q = {label: longrange.nnn_distributions(f, test, T=P.shape[1]) for label, f in files.items()}
    again = longrange.kl_over_training([{"epoch": 0.0, "step": 0, "P": P}], Q, test.y).set_index("baseline")
    first = table[table["step"] == 0].set_index("baseline").loc[again.index]
    for col in ("sym_kl", "lstm_loss", "baseline_loss", "delta_loss"):
        np.testing.assert_allclose(first[col], again[col], atol=1e-4, err_msg=col)
    last = table[table["step"] == table["step"].max()]
    assert last["lstm_loss"].iloc[0] < first["lstm_loss"].iloc[0] - 1  # trained: nats below its initialisation


# -- the store reads shipped runs like its own ------------------------------------------------
SMOKE_TRAIN = {"epochs": 1, "max_train_batches": 3, "max_eval_batches": 1, "max_test_batches": 2, "device": "cpu"}


def _profile(tmp_path):
    prof = tmp_path / "tiny.yaml"
    prof.write_text(json.dumps({"grid": {"datasets": ["wp"], "models": ["lstm-1-64", "gru-1-64"], "dropout": [0.0],
                                         "train": SMOKE_TRAIN}}))
    return str(prof)


def _tree(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _ship_first(tmp_path, cfgs):
    """Train ``cfgs[0]`` in the store ``tmp_path/a`` and ship it into ``tmp_path/shipped``:
    (that store, the shipped root, the names ``shipped.ship`` returned)."""
    a = Store(tmp_path / "a")
    executors.run(cfgs[:1], store=a)
    root = tmp_path / "shipped"
    root.mkdir()
    return a, root, shipped.ship(cfgs[:1], a, profile="tiny", root=root, full_only=False)


def test_store_reads_a_shipped_run_and_never_writes_it(tmp_path, monkeypatch):
    prof = _profile(tmp_path)
    cfgs = grid.expand(prof)
    a, ship_root, names = _ship_first(tmp_path, cfgs)  # train lstm-1-64 in store a, then ship it
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(ship_root))
    assert names == [train.run_dir(cfgs[0], a).name]
    before = _tree(ship_root)
    b = Store(tmp_path / "b")  # a fresh clone's store: nothing trained
    res = executors.run(cfgs, store=b)
    assert [r["status"] for r in res] == ["skipped", "done"]  # the shipped model is not trained again
    df = grid.summary(cfgs, b)
    assert list(df["origin"]) == ["shipped", "store"] and list(df["status"]) == ["finished", "finished"]
    ours, _, _ = table1.frames(df, "wp")
    assert ours.loc[64, "LSTM-1"] == train.load_metrics(ship_root / res[0]["run_dir"].split("/")[-1])["test_loss"]
    probs = train.load_probs(train.run_dir(cfgs[0], b), b)  # recomputed into b's cache, not into the shipped run
    np.testing.assert_allclose(probs, train.load_probs(train.run_dir(cfgs[0], a), a), atol=1e-6)
    assert b.cached_file(train.run_dir(cfgs[0], b), "test_probs.npy").is_file()
    assert b.cached_file(train.run_dir(cfgs[0], b), "x").parent.parent == b.artifacts_dir / "shipped-cache"
    assert _tree(ship_root) == before and shipped.verify(ship_root, profile=None) == []


def test_retrain_trains_into_the_store_and_its_copy_wins_until_deleted(tmp_path, monkeypatch):
    import shutil

    prof = _profile(tmp_path)
    cfgs = grid.expand(prof)[:1]
    _, ship_root, _ = _ship_first(tmp_path, cfgs)
    env = {"RNNVIZ_SHIPPED_RUNS": str(ship_root), "RNNVIZ_HOME": str(tmp_path / "b")}
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(ship_root))

    def summary_json(*extra):
        out = subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", "grid", "--profile", prof, *extra],
                             capture_output=True, text=True, env={**__import__("os").environ, **env}, timeout=600)
        assert out.returncode == 0, out.stderr
        return out

    got = json.loads(summary_json("--summary", "--json").stdout)
    assert got["wp-lstm-1-64"]["origin"] == "shipped" and got["wp-lstm-1-64"]["paper"] == 1.449
    assert got["wp-lstm-1-64"]["dropout"] == 0.0 and got["wp-lstm-1-64"]["dropout_tried"] == "0 (the only value)"
    assert abs(got["wp-lstm-1-64"]["delta"] - (got["wp-lstm-1-64"]["test_loss"] - 1.449)) < 1e-12
    summary_json("--retrain")
    own = Store(tmp_path / "b").artifact_dir("runs", cfgs[0].slug, cfgs[0].identity(), create=False)
    assert (own / "metrics.json").is_file()  # trained afresh in the store
    assert json.loads(summary_json("--summary", "--json").stdout)["wp-lstm-1-64"]["origin"] == "store"
    shutil.rmtree(own)
    assert json.loads(summary_json("--summary", "--json").stdout)["wp-lstm-1-64"]["origin"] == "shipped"


def test_verify_finds_an_edited_shipped_file(tmp_path, monkeypatch):
    cfgs = grid.expand(_profile(tmp_path))[:1]
    _, root, (name,) = _ship_first(tmp_path, cfgs)
    assert shipped.verify(root, profile=None) == []
    m = root / name / "metrics.json"
    m.write_text(m.read_text().replace('"test_loss": ', '"test_loss": 0.0'))  # a hand edit
    (problem,) = shipped.verify(root, profile=None)
    assert "metrics.json" in problem and "sha256 differs" in problem


def test_ship_takes_one_dropout_value_of_the_profile(tmp_path, monkeypatch, capsys):
    """`rnnviz runs ship --dropout 0.25` ships that value's run of a model whose other dropout runs
    (the paper profile cross-validates three) have not finished; without it the unfinished ones
    are refused, and a value the profile does not list is an error naming the list."""
    import shutil

    from rnnviz_lib import cli

    copy = tmp_path / "runs"
    shutil.copytree(SHIPPED, copy)
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(copy))
    monkeypatch.setenv("RNNVIZ_HOME", str(tmp_path / "home"))  # a store where nothing is trained
    flagship = [n for n in MANIFEST if n.startswith("wp-lstm3-512-d0.25-")]
    assert flagship, "the shipped WP LSTM-3-512 (dropout 0.25)"
    argv = ["runs", "ship", "--profile", "paper", "--dataset", "wp", "--only", "lstm-3-512"]
    assert cli.main(argv) == 2 and "wp-lstm3-512-bf16-snap has not finished" in capsys.readouterr().err
    assert cli.main(argv + ["--dropout", "0.25"]) == 0  # shipped already: nothing to copy, nothing refused
    assert "0 run(s) shipped" in capsys.readouterr().out and _tree(copy) == _tree(SHIPPED)
    assert cli.main(argv + ["--dropout", "0.1"]) == 2 and "no run with dropout 0.1" in capsys.readouterr().err


# -- screenings: a dropout value's first epochs, shipped without weights ---------------------------
def test_a_screening_ships_without_weights_reads_as_screened_and_the_full_run_replaces_it(tmp_path, monkeypatch):
    """`rnnviz train --until-epoch 1` pauses a run; `runs ship --screens` ships its config and
    history (no weights) into data/runs/screens/; a fresh store reads it as ``screened`` beside
    the chosen value's shipped run, with the gap at the same epoch; shipping the finished run
    later drops the screening."""
    prof = tmp_path / "two.yaml"
    prof.write_text(json.dumps({"grid": {"datasets": ["wp"], "models": ["lstm-1-64"], "dropout": [0.0, 0.3],
                                         "train": {**SMOKE_TRAIN, "epochs": 3}}}))
    d0, d3 = grid.expand(str(prof))
    a, root = Store(tmp_path / "a"), tmp_path / "shipped"
    train.train_run(d0, a)
    train.train_run(d3.replace(until_epoch=1), a)
    shipped.ship([d0], a, profile="two", root=root, full_only=False)
    with pytest.raises(RnnvizError, match="until-epoch"):
        shipped.ship_screens([d0.replace(dropout=0.1)], a, profile="two", root=root, full_only=False)
    with pytest.raises(RnnvizError, match="has finished"):  # checked before anything is copied
        shipped.ship_screens([d3, d0], a, profile="two", root=root, full_only=False)
    assert not (root / "screens").exists()
    (name,) = shipped.ship_screens([d3], a, profile="two", root=root, full_only=False)
    assert sorted(p.name for p in (root / "screens" / name).iterdir()) == ["config.json", "history.json"]
    entry = shipped.manifest(root)["screens"][name]
    assert entry["epochs_done"] == 1 and entry["dropout"] == 0.3 and entry["machine"] != "not recorded"
    args = cli.build_parser().parse_args(entry["extend"].split()[1:])  # the command extends this very run
    assert train_cmd.config_from_args(args).identity() == d3.identity()
    assert shipped.verify(root, profile=None) == []

    b = Store(tmp_path / "b", shipped=root)  # a fresh clone: the run and the screening are shipped
    df = grid.summary([d0, d3], b)
    assert list(df["status"]) == ["finished", "screened"] and list(df["origin"]) == ["shipped", "shipped"]
    assert table1.dropout_table(df, "wp")["dropout"].tolist() == [0.0, 0.3]  # a choice with runs: shown
    trials = table1.dropout_trials(df, "wp").set_index("dropout")
    assert trials.at[0.0, "verdict"] == "chosen" and trials.at[0.3, "epochs"] == "1 of 3"
    chosen_h = train.load_history(train.run_dir(d0, b))
    gap = train.load_history(b.shipped_screen(name))[0]["val_loss"] - chosen_h[0]["val_loss"]
    assert trials.at[0.3, "Δ val, same epoch"] == pytest.approx(gap)
    assert trials.at[0.3, "verdict"].startswith("undecided (screening:") and "still improving" in trials.at[0.3, "verdict"]
    assert table1.per_model(df, "wp").at["lstm-1-64", "dropout tried"] == "0 chosen; 0.3 undecided (screened 1 of 3 epochs)"
    assert executors.run([d3.replace(until_epoch=2)], store=b)[0]["status"] == "paused"  # trained into b, not root
    assert not (root / "screens" / name / "metrics.json").exists()
    part = table1.dropout_trials(grid.summary([d0, d3], b), "wp").set_index("dropout")
    assert part.at[0.3, "status"] == "partial" and part.at[0.3, "verdict"].startswith("undecided (partial run:")
    assert executors.run([d3], store=b)[0]["status"] == "done"
    full = grid.summary([d0, d3], b)  # b's d3 finished: Table 1 of b chooses by validation; a Table 1 without it does not
    lower = full.loc[full["dropout"] == 0.3, "best_val_loss"].iloc[0] < full.loc[full["dropout"] == 0.0, "best_val_loss"].iloc[0]
    only_d0 = full[full["dropout"] == 0.0]
    v = table1.dropout_trials(full, "wp", only_d0).set_index("dropout").at[0.3, "verdict"]
    assert v.startswith("better, not read here") if lower else v == "worse (full run)"

    (root / "screens" / name / "history.json").write_text("[]")  # a hand edit is found
    assert any("history.json" in p and "sha256 differs" in p for p in shipped.verify(root, profile=None))
    train.train_run(d3, a)  # the screening extended to the full run, shipped: the screening goes
    shipped.ship([d3], a, profile="two", root=root, full_only=False)
    assert name not in shipped.manifest(root).get("screens", {}) and not (root / "screens" / name).exists()
    assert shipped.verify(root, profile=None) == []


def test_a_full_run_that_lost_on_validation_ships_without_weights_and_reads_as_worse(tmp_path, monkeypatch, capsys):
    """A dropout value trained in full that lost to the shipped run of its model ships as config
    and history only (`runs ship --screens` on a finished run); one that would win, or whose model
    has no shipped run to lose to, is refused with nothing copied."""
    prof = tmp_path / "two.yaml"
    prof.write_text(json.dumps({"grid": {"datasets": ["wp"], "models": ["lstm-1-64"], "dropout": [0.0, 0.3],
                                         "train": {**SMOKE_TRAIN, "epochs": 2}}}))
    a, root = Store(tmp_path / "a"), tmp_path / "shipped"
    cfgs = grid.expand(str(prof))
    for c in cfgs:
        train.train_run(c, a)
    vals = [train.load_metrics(train.run_dir(c, a))["best_val_loss"] for c in cfgs]
    win, lose = (cfgs[0], cfgs[1]) if vals[0] <= vals[1] else (cfgs[1], cfgs[0])
    with pytest.raises(RnnvizError, match="no shipped run of its model beats it"):
        shipped.ship_screens([lose], a, profile="two", root=root, full_only=False)
    assert not (root / "screens").exists()
    shipped.ship([win], a, profile="two", root=root, full_only=False)
    with pytest.raises(RnnvizError, match="shipped as a run"):
        shipped.ship_screens([win], a, profile="two", root=root, full_only=False)
    (name,) = shipped.ship_screens([lose], a, profile="two", root=root, full_only=False)
    assert sorted(p.name for p in (root / "screens" / name).iterdir()) == ["config.json", "history.json"]
    entry = shipped.manifest(root)["screens"][name]
    lost = train.load_metrics(train.run_dir(lose, a))
    assert entry["complete"] and entry["test_loss"] == lost["test_loss"] and entry["epochs_done"] == 2
    assert entry["beaten_by"] == artifact_name(win.slug, win.identity()) and entry["segments"]
    assert shipped.verify(root, profile=None) == []

    b = Store(tmp_path / "b", shipped=root)  # a fresh clone: the winner with weights, the loser without
    df = grid.summary(cfgs, b).set_index("dropout")
    assert df.at[lose.dropout, "status"] == "screened" and df.at[win.dropout, "status"] == "finished"
    trials = table1.dropout_trials(df.reset_index(), "wp").set_index("dropout")
    assert trials.at[lose.dropout, "verdict"] == "worse (full run)"
    assert trials.at[lose.dropout, "status"] == "finished (weights not shipped)"
    assert trials.at[lose.dropout, "epochs"] == "2 of 2" and trials.at[win.dropout, "verdict"] == "chosen"
    tried = table1.per_model(df.reset_index(), "wp").at["lstm-1-64", "dropout tried"]
    assert f"{lose.dropout:g} worse (full run)" in tried and f"{win.dropout:g} chosen" in tried
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(root))
    assert cli.main(["runs", "list"]) == 0
    assert f"trained in full, weights not shipped: best val {lost['best_val_loss']:.4f}" in capsys.readouterr().out


def test_the_screening_rule_agrees_with_the_full_run_that_tested_it():
    """LK LSTM-3-512 at dropout 0.5 was trained in full after its 15-epoch screening (shipped without
    weights, having lost): the rule reads those 15 epochs as clearly worse, not catching up, and the
    full run ended worse on validation than the shipped dropout-0.25 run."""
    screens = shipped.manifest(SHIPPED).get("screens", {})
    (full,) = [n for n, e in screens.items() if e.get("complete") and n.startswith("lk-lstm3-512-d0.5-")]
    (chosen,) = [n for n in MANIFEST if n.startswith("lk-lstm3-512-d0.25-")]
    assert screens[full]["beaten_by"] == chosen
    h, c = train.load_history(SHIPPED / "screens" / full), train.load_history(SHIPPED / chosen)
    assert h[-1]["epoch"] == 50
    ok, gap, why = table1.screen_verdict([r for r in h if r["epoch"] <= 15], c)
    assert ok and gap > table1.SCREEN_TREND_MARGIN and "still improving" in why and "not closing" in why
    assert min(r["val_loss"] for r in h) > min(r["val_loss"] for r in c) + gap / 2  # the gap held to the end


def test_screen_verdict_needs_a_clear_gap_and_a_stall_or_a_gap_that_does_not_close():
    chosen = [{"epoch": e, "val_loss": 2.0 - 0.05 * e} for e in range(1, 11)]  # 1.75 at epoch 5, ends at 1.5

    def verdict(vals):
        return table1.screen_verdict([{"epoch": e, "val_loss": v} for e, v in enumerate(vals, 1)], chosen)

    ok, gap, why = verdict([1.9, 1.85, 1.84, 1.86, 1.9])  # overfitting: best at epoch 3, 0.15 behind at 5
    assert ok and gap == pytest.approx(0.15) and "no longer improving" in why
    ok, _, why = verdict([2.06, 2.02, 1.98, 1.94, 1.9])  # still improving, falling further behind: 0.12 at 2, 0.15 at 5
    assert ok and "still improving (best at epoch 5), the gap not closing (+0.120 at epoch 2)" in why
    ok, _, why = verdict([2.3, 2.15, 2.0, 1.9, 1.82])  # 0.07 behind at 5 but catching up (0.25 at 2): a full run decides
    assert not ok and "the gap closing (+0.250 at epoch 2)" in why
    assert not verdict([1.99, 1.94, 1.89, 1.84, 1.79])[0]  # not closing, but only 0.04 behind: a full run decides
    assert not verdict([2.06, 2.02, 1.98])[0]  # too few evaluations to see a trend
    assert not verdict([1.9, 1.515, 1.6, 1.7, 1.8])[0]  # stalled, far behind at 5, but its best is 0.015 from 1.5
    assert not verdict([1.95, 1.9, 1.76, 1.77, 1.76])[0]  # stalled, but only 0.01 behind at epoch 5
    assert not verdict([1.9, 1.8, 1.7, 1.71, 1.72])[0]  # stalled, ahead of the chosen run at epoch 5
    ok, _, why = verdict([1.9, 1.8, 1.75, 1.7, 1.65])  # ahead and pulling away: no "gap closing"
    assert not ok and why.endswith("still improving (best at epoch 5), ahead of the chosen run at the same epoch "
                                   "(-0.100 at epoch 2)") and "closing" not in why


def test_runs_screen_trains_a_dropout_value_until_the_rule_decides(tmp_path, monkeypatch, capsys):
    """`rnnviz runs screen` (``table1.screen``): the first epochs, a judgement against the model's best
    finished run, then ``step`` epochs more at a time, stopping where ``screen_verdict`` first calls the
    value clearly worse (the run left paused and resumable) or where the run has trained in full (then
    it wins or loses on best validation). Judgements read epoch-end evaluations (``eval_every`` adds
    others). A shipped screening is judged before anything trains."""
    prof = tmp_path / "screen.yaml"
    train_set = {"epochs": 8, "max_train_batches": 6, "max_eval_batches": 2, "max_test_batches": 2, "device": "cpu",
                 "batch_size": 20, "seq_length": 50, "lr": 0.01, "lr_decay_after": 3, "eval_every": 4}
    prof.write_text(json.dumps({"grid": {"datasets": ["wp"], "models": ["lstm-1-64"], "dropout": [0.0, 0.1, 0.9],
                                         "train": train_set}}))
    monkeypatch.setenv("RNNVIZ_HOME", str(tmp_path / "a"))
    store = Store(tmp_path / "a")
    c0, c1, c9 = grid.expand(str(prof))
    with pytest.raises(RnnvizError, match="nothing to judge a screening against"):
        table1.screen(c9, str(prof), store)
    assert not train.run_dir(c9, store).exists()
    train.train_run(c0, store)
    with pytest.raises(RnnvizError, match="it is the chosen run, with nothing to judge it against"):
        table1.screen(c0, str(prof), store)
    chosen = [r for r in train.load_history(train.run_dir(c0, store)) if r["epoch"] == int(r["epoch"])]

    def consistent(res):
        h = train.load_history(res["run_dir"])
        ends = [r for r in h if r["epoch"] == int(r["epoch"])]
        assert len(ends) < len(h)  # eval_every evaluated between epoch ends too
        assert ends[-1]["epoch"] == res["epochs"] and res["against"] == train.run_dir(c0, store).name
        return [table1.screen_verdict([r for r in ends if r["epoch"] <= e], chosen)[0] for e in res["judged"]]

    res = table1.screen(c9, str(prof), store, first=3, step=2)  # strong dropout on a small model
    assert res["judged"] == [3, 5, 7, 8][: len(res["judged"])] and res["epochs"] == res["judged"][-1]
    verdicts = consistent(res)
    assert res["verdict"] == "clearly worse" and verdicts == [False] * (len(verdicts) - 1) + [True]
    assert res["epochs"] < 8 and not train.is_finished(res["run_dir"])  # paused, resumable by its train command
    again = table1.screen(c9, str(prof), store, first=3, step=2)  # judged again without training more
    assert again["epochs"] == res["epochs"] and again["verdict"] == "clearly worse" and again["judged"] == [res["epochs"]]

    # trained in full at once (--first 8): it wins or loses on validation, and the ship commands say how
    assert cli.main(["runs", "screen", "--profile", str(prof), "--dataset", "wp", "--only", "lstm-1-64", "--dropout",
                     "0.1", "--first", "8", "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["judged"] == [8] and train.is_finished(out["run_dir"]) and out["against_origin"] == "store"
    mine, theirs = (train.load_metrics(d)["best_val_loss"] for d in (out["run_dir"], train.run_dir(c0, store)))
    assert out["verdict"] == ("wins" if mine < theirs else "loses") and out["why"].startswith("trained in full")
    base = f"rnnviz runs ship --profile {prof} --dataset wp --only lstm-1-64 --dropout"
    assert out["ship"] == ([f"{base} 0.1"] if mine < theirs else [f"{base} 0", f"{base} 0.1 --screens"])
    assert cli.main(["runs", "screen", "--profile", str(prof), "--dataset", "wp", "--only", "lstm-1-64", "--dropout",
                     "0.9", "--first", "3"]) == 0
    text = capsys.readouterr().out
    judged_against = "wp-lstm1-64-d0.1-" if mine < theirs else "wp-lstm1-64-"  # the best finished run now
    assert f"against {judged_against}" in text and "ship it with: " + base + " 0.9 --screens" in text

    # a fresh clone: the chosen run and the screening shipped; the screening is judged, nothing trains
    root = tmp_path / "shipped"
    shipped.ship([c0], store, profile="screen", root=root, full_only=False)  # judged against c0 as above
    shipped.ship_screens([c9], store, profile="screen", root=root, full_only=False)
    fresh = Store(tmp_path / "b", shipped=root)
    seen = []
    res2 = table1.screen(c9, str(prof), fresh, first=3, on_judged=lambda e, ok, why: seen.append((e, ok, why)))
    assert res2["verdict"] == "clearly worse" and res2["origin"] == "shipped" and res2["against_origin"] == "shipped"
    assert seen == [(res["epochs"], True, res2["why"])] and res2["why"] == res["why"] + " (the shipped screening)"
    assert not (tmp_path / "b" / "artifacts").exists()
    assert cli.main(["runs", "screen", "--profile", str(prof), "--dataset", "wp", "--only", "lstm-1-64",
                     "--dropout", "0.5"]) == 2
    assert "has no run with dropout 0.5" in capsys.readouterr().err
