"""The grid: expanding profiles, running with swappable executors, Table 1 and its findings, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnviz_lib import executors, grid, paper, table1, train
from rnnviz_lib.cli import main
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

TINY_TRAIN = {"epochs": 1, "batch_size": 11, "seq_length": 13, "max_train_batches": 3, "max_eval_batches": 2,
              "max_test_batches": 2, "device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_thread")


def test_paper_profile_is_the_72_model_grid_with_cross_validated_dropout():
    cfgs = grid.expand("paper")
    models = {(c.dataset, c.cell, c.layers, c.size) for c in cfgs}
    assert len(models) == 72  # 2 datasets × 3 cells × 3 depths × 4 sizes, RNN-512 included
    assert ("lk", "rnn", 3, 512) in models
    by_size = pd.Series([c.size for c in cfgs]).value_counts().to_dict()
    assert by_size == {64: 18, 128: 18, 256: 36, 512: 54}  # 1, 1, 2, 3 dropout values
    assert all(c.epochs == 50 and c.lr == 2e-3 and c.batch_size == 100 for c in cfgs)
    snap = [c for c in cfgs if c.snapshot_every]
    assert {(c.cell, c.layers, c.size) for c in snap} == {("lstm", 3, 512)}
    assert len({train.run_dir(c, Store("/nonexistent"), create=False) for c in cfgs}) == len(cfgs)


def test_quick_profile_reads_the_shipped_paper_runs_and_trains_only_its_extra(monkeypatch):
    from rnnviz_lib import shipped
    from rnnviz_lib.config import artifact_name

    ship = Path(grid.__file__).resolve().parents[1] / "data" / "runs"
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(ship))
    names = set(shipped.manifest(ship)["runs"])
    paper = {artifact_name(c.slug, c.identity()) for c in grid.expand("paper")}
    main = grid.expand("quick", extras=False)
    # every shipped run, and only those: the paper grid's models shipped so far (shipped_only)
    assert {artifact_name(c.slug, c.identity()) for c in main} == names != set()
    assert len({n for n in names if "-64-" in n}) == 18
    assert {artifact_name(c.slug, c.identity()) for c in main} <= paper  # the paper recipe itself, same hashes
    # WP LSTM-3-512 ships with its snapshot table: the short snapshot run that stands in for it is not trained
    assert any(c.slug.startswith("wp-lstm3-512") for c in main)
    assert grid.expand("quick") == main and grid.expand("quick", only=["lstm-3-64"]) == [
        c for c in main if c.slug.startswith(("wp-lstm3-64", "lk-lstm3-64"))]
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", "off")  # without shipped runs nothing of Table 1 is trained here...
    assert grid.expand("quick", extras=False) == []
    (extra,) = grid.expand("quick")  # ... and one short run with weight snapshots stands in
    assert extra.slug == "wp-lstm3-64-snap" and extra.snapshot_every == 25 and extra.lr == 0.01 and extra.device == "cpu"


def test_an_extra_grid_that_stands_in_for_a_model_is_left_out_where_the_grid_has_it():
    extra = {"models": ["lstm-1-16"], "train": {"epochs": 1}, "stands_in_for": ["gru-2-16"]}
    section = {"datasets": ["wp", "lk"], "models": ["gru-2-16"], "dropout": [0.0], "extra": [extra]}
    assert [c.slug for c in grid.expand(section)] == ["wp-gru2-16", "lk-gru2-16"]
    assert grid.expand(section, only=["lstm-1-16"]) == []  # judged on the whole grid, not the --only part
    section["models"] = {"lk": ["gru-2-16"], "wp": ["gru-1-16"]}  # WP lacks it: the stand-in is trained there only
    assert [c.slug for c in grid.expand(section)] == ["wp-gru1-16", "lk-gru2-16", "wp-lstm1-16"]
    assert [c.slug for c in grid.expand(section, datasets=["lk"])] == ["lk-gru2-16"]
    extra["stands_in_for"] = ["gru-two-16"]
    with pytest.raises(RnnvizError, match="bad model 'gru-two-16'"):
        grid.expand(section)
    extra["stands_in_for"] = "gru-2-16"
    with pytest.raises(RnnvizError, match=r"stands_in_for must be a list of models, e\.g\. \[lstm-3-512\]"):
        grid.expand(section)
    del extra["stands_in_for"]
    extra["stand_in_for"] = ["gru-2-16"]  # misspelt: refused, not silently trained
    with pytest.raises(RnnvizError, match="unknown key.* stand_in_for in grid extra #1; use .*stands_in_for"):
        grid.expand(section)


def test_why_a_model_has_no_run_names_the_reason_and_the_fix():
    section = {"datasets": ["wp"], "models": ["lstm-1-16"], "dropout": [0.0]}
    assert "grid has no gru-3-16 on wp" in grid.why_no_run(section, "wp", "gru-3-16")
    assert "train it with notebook 01" in grid.why_no_run(section, "wp", "lstm-1-16")
    assert "grid has no lstm-1-16 on lk" in grid.why_no_run(section, "lk", "lstm-1-16")  # the dataset counts
    shipped_only = grid.why_no_run({**section, "shipped_only": True}, "wp", "lstm-1-16")
    assert "not shipped yet" in shipped_only and "trains nothing" in shipped_only and "train it" not in shipped_only
    # a named profile: the command that trains it, with that profile's name
    assert "`rnnviz grid --profile paper --dataset lk --only lstm-3-512`" in grid.why_no_run("paper", "lk", "lstm-3-512")
    assert "quick grid reads the shipped runs" in grid.why_no_run("quick", "lk", "lstm-3-512")


def test_expand_options_and_errors():
    g = {"datasets": ["wp"], "models": ["gru-2-128", "rnn-1-64"], "dropout": {"64": [0.0, 0.5], "default": [0.1]},
         "train": {"epochs": 3}}
    cfgs = grid.expand(g, device="cpu")
    assert [(c.cell, c.layers, c.size, c.dropout) for c in cfgs] == [("gru", 2, 128, 0.1), ("rnn", 1, 64, 0.0),
                                                                      ("rnn", 1, 64, 0.5)]
    assert all(c.device == "cpu" and c.epochs == 3 for c in cfgs)
    assert [c.cell for c in grid.expand(g, only=["rnn-1-64"])] == ["rnn", "rnn"]
    per_ds = grid.expand({"datasets": ["wp", "lk"], "sizes": [64], "models": {"lk": ["lstm-3-64"]}})
    assert [(c.dataset, c.cell, c.layers) for c in per_ds if c.dataset == "lk"] == [("lk", "lstm", 3)]
    assert len([c for c in per_ds if c.dataset == "wp"]) == 9  # a dataset not named gets the whole product
    over = grid.expand({"models": ["rnn-1-64", "rnn-3-64", "lstm-1-64"], "train": {"lr": 0.01, "epochs": 2},
                        "train_overrides": {"rnn": {"lr": 0.002, "epochs": 4}, "rnn-3-64": {"epochs": 5}}},
                       device="cpu")
    assert [(c.cell, c.layers, c.lr, c.epochs) for c in over] == [("rnn", 1, 0.002, 4), ("rnn", 3, 0.002, 5),
                                                                  ("lstm", 1, 0.01, 2)]  # the model's override wins
    assert grid.expand({"models": ["rnn-1-64"], "train_overrides": {"rnn": {"device": "cuda"}}},
                       device="cpu")[0].device == "cpu"  # --device beats the profile
    with pytest.raises(RnnvizError, match="not in the grid"):
        grid.expand({"models": ["rnn-1-64"], "train_overrides": {"rnn-3-46": {"lr": 1}}})
    with pytest.raises(RnnvizError, match="cannot change dropout"):
        grid.expand({"models": ["rnn-1-64"], "train_overrides": {"rnn": {"dropout": 0.5}}})
    with pytest.raises(RnnvizError, match="unknown training option.*learning_rate"):
        grid.expand({"sizes": [64], "train_overrides": {"rnn": {"learning_rate": 1}}})
    with pytest.raises(RnnvizError, match="unknown cell type"):
        grid.expand({"sizes": [64], "train_overrides": {"lstmm": {"lr": 1}}})
    with pytest.raises(RnnvizError, match="unknown grid key"):
        grid.expand({"sizez": [64]})
    with pytest.raises(RnnvizError, match="cell-layers-size"):
        grid.expand({"models": ["lstm-64"]})
    with pytest.raises(RnnvizError, match="unknown training option"):
        grid.expand({"sizes": [64], "train": {"learning_rate": 1}})
    with pytest.raises(RnnvizError, match="dropout list"):
        grid.expand({"sizes": [64], "dropout": []})


def test_run_skips_finished_runs_and_executors_are_swappable(tmp_path):
    store = Store(tmp_path)
    g = {"datasets": ["wp"], "models": ["lstm-1-16", "gru-2-16"], "dropout": {"16": [0.0, 0.3]}, "train": TINY_TRAIN}
    cfgs = grid.expand(g)
    assert len(cfgs) == 4
    res = executors.run(cfgs, "local", store)
    assert [r["status"] for r in res] == ["done"] * 4
    assert [r["status"] for r in executors.run(cfgs, "local", store)] == ["skipped"] * 4
    df = grid.summary(cfgs, store)
    assert list(df["status"]) == ["finished"] * 4 and df["test_loss"].notna().all()
    # dropout is chosen by validation loss, one run per model
    best = grid.select_best(df)
    assert len(best) == 2
    for (cell, layers), rows in df.groupby(["cell", "layers"]):
        assert best[best["cell"] == cell]["best_val_loss"].iloc[0] == rows["best_val_loss"].min()
    dirs = grid.run_dirs(g, "wp", store)
    assert [str(d) for d in dirs] == list(best.sort_values("cell", key=lambda s: s.map({"lstm": 0, "gru": 1}))["run_dir"])
    hist = grid.histories(cfgs, store)
    assert len(hist) == 4 and set(hist["slug"]) == set(df.index)
    # another executor receives the configs and the store
    seen = []
    executors.register_executor("record", lambda cs, st, keep_going: seen.extend(cs) or [executors.run_one(c, st) for c in cs])
    try:
        assert [r["status"] for r in executors.run(cfgs[:1], "record", store)] == ["skipped"]
        assert seen == cfgs[:1]
    finally:
        executors.EXECUTORS.pop("record")
    with pytest.raises(RnnvizError, match="unknown executor"):
        executors.run(cfgs, "slurm", store)


def test_a_failed_run_is_reported_and_the_grid_goes_on(tmp_path):
    store = Store(tmp_path)
    cfgs = grid.expand({"models": ["rnn-1-16", "lstm-1-16"], "train": TINY_TRAIN})
    bad = cfgs[0].replace(lr=1e38, grad_clip=1e38)  # diverges at the first step
    res = executors.run([bad, cfgs[1]], "local", store)
    assert [r["status"] for r in res] == ["failed", "done"]
    assert "diverged" in res[0]["error"]
    assert list(grid.summary([bad, cfgs[1]], store)["status"]) == ["diverged", "finished"]
    with pytest.raises(RnnvizError, match="diverged"):
        executors.run([bad], "local", store, keep_going=False)


def test_process_executor_trains_in_parallel_with_the_same_results_as_local(tmp_path, monkeypatch):
    g = {"datasets": ["wp"], "models": ["lstm-1-16", "gru-2-16", "rnn-1-16"], "train": TINY_TRAIN}
    cfgs = grid.expand(g)  # threads unset: each worker gets cores // workers
    per_worker = max(1, executors._cpu_count() // 2)
    ref = executors.run([c.replace(threads=per_worker) for c in cfgs], "local", Store(tmp_path / "a"))
    store = Store(tmp_path / "b")
    monkeypatch.setenv("RNNVIZ_WORKERS", "2")
    res = executors.run(cfgs, "processes", store)
    assert [r["status"] for r in res] == ["done"] * 3
    assert [r["config"] for r in res] == cfgs  # results in the configs' order
    for a, b in zip(ref, res):
        ma, mb = (json.loads((Path(r["run_dir"]) / "metrics.json").read_text()) for r in (a, b))
        assert Path(b["run_dir"]).parent.parent.parent == tmp_path / "b"
        assert mb["test_loss"] == ma["test_loss"] and mb["best_val_loss"] == ma["best_val_loss"]
    assert [r["status"] for r in executors.run(cfgs, "processes", store)] == ["skipped"] * 3
    bad = cfgs[0].replace(lr=1e38, grad_clip=1e38, seed=9)
    out = executors.run([bad], "processes", store)
    assert out[0]["status"] == "failed" and "diverged" in out[0]["error"]
    monkeypatch.setenv("RNNVIZ_WORKERS", "0")
    with pytest.raises(RnnvizError, match="RNNVIZ_WORKERS"):
        executors.run(cfgs[:1], "processes", Store(tmp_path / "c"))


def _die_on_gru(config, root, log_level):
    """A worker that is killed while training the GRU (as by the OOM killer); the others train."""
    import os
    if config.cell == "gru":
        os._exit(9)
    return executors._process_task(config, root, log_level)


def _die_on_gru_others_hang(config, root, log_level):
    import os
    import time
    if config.cell == "gru":
        time.sleep(2)  # let the other worker start
        os._exit(9)
    time.sleep(300)
    return {}


def test_a_dead_worker_fails_only_its_run_and_stop_on_error_stops_the_others(tmp_path):
    import psutil

    g = {"datasets": ["wp"], "models": ["lstm-1-16", "gru-1-16", "rnn-1-16"], "train": TINY_TRAIN}
    cfgs = grid.expand(g)
    store = Store(tmp_path)
    res = executors.run_processes(cfgs, store, workers=2, task=_die_on_gru)
    assert [r["status"] for r in res] == ["done", "failed", "done"]
    assert "died (exit code 9)" in res[1]["error"] and "resume" in res[1]["error"]
    # keep_going=False: the first failure stops the run still in progress at once
    store2 = Store(tmp_path / "stop")
    with pytest.raises(RnnvizError, match="gru1-16: worker process died"):
        executors.run_processes([cfgs[1], cfgs[0]], store2, keep_going=False, workers=2, task=_die_on_gru_others_hang)
    alive = [c for c in psutil.Process().children(recursive=True) if c.is_running() and c.status() != "zombie"
             and "spawn" in " ".join(c.cmdline())]
    assert alive == []  # the hanging worker (300 s) was terminated, not waited for


def _summary_from(values: dict, dataset="wp") -> pd.DataFrame:
    rows = [{"dataset": dataset, "cell": c, "layers": d, "size": s, "dropout": 0.0, "status": "finished",
             "best_val_loss": v, "test_loss": v, "run_dir": f"{c}{d}{s}"} for (s, c, d), v in values.items()]
    return pd.DataFrame(rows)


def test_table1_layout_and_findings_computed_from_the_numbers():
    # feed the paper's own WP numbers (plus an RNN-512 the paper lacks): ours == paper, Δ 0
    vals = {(s, c, d): v for s, row in paper.TABLE1["wp"].items() for (c, d), v in row.items() if v is not None}
    vals[(512, "rnn", 1)] = 1.300
    ours, pap, cmp = table1.frames(_summary_from(vals), "wp")
    assert list(ours.columns) == ["LSTM-1", "LSTM-2", "LSTM-3", "RNN-1", "RNN-2", "RNN-3", "GRU-1", "GRU-2", "GRU-3"]
    assert list(ours.index) == [64, 128, 256, 512]
    assert cmp.at[64, "LSTM-1"] == "1.449 (paper 1.449, Δ +0.000)"
    assert cmp.at[512, "RNN-1"] == "1.300 (paper -)" and cmp.at[512, "RNN-2"] == "- (paper -)"
    checks = table1.findings(ours, pap)
    assert (checks["ours"] == checks["paper"]).all()
    # depth helps in 10 of the 11 (cell, row) pairs the paper fills (no RNN-512): GRU-2-128 (1.226)
    # against GRU-1-128 (1.230) is within table1.LOSS_TIE, a tie, as the scorecard judges it
    assert checks.iloc[0]["ours"] == "10/11" and table1.LOSS_TIE == paper.BOOTSTRAP_STD_BOUND
    # by hand from PAPER.md: the RNN beats the LSTM at all of row 64 and at depth 3 of row 128; the GRU
    # loses only at depth 3 of row 64
    assert checks.iloc[1]["ours"] == "5/9" and checks.iloc[2]["ours"] == "8/9"
    # an RNN that wins everywhere flips the verdict, and the sentence says so
    flipped = {k: (v - 1.0 if k[1] == "rnn" else v) for k, v in vals.items()}
    ours2, pap2, _ = table1.frames(_summary_from(flipped), "wp")
    text = table1.findings_text(table1.findings(ours2, pap2))
    assert "LSTM beats the RNN" in text[1] and "does not hold" in text[1] and "unlike the paper" in text[1]
    # a dataset with no runs gives an empty table and no verdicts
    ours3, _, _ = table1.frames(_summary_from(vals), "lk")
    assert ours3.empty


def test_agreement_counts_the_offset_and_the_close_models_over_the_paper_s_cells():
    models = pd.DataFrame({"model": ["a", "b", "c", "d", "rnn-1-512"],
                           "ours": [1.10, 1.20, 1.35, 1.28, 1.40],
                           "bootstrap std": [0.02, 0.01, 0.02, 0.005, 0.01],
                           "paper": [1.08, 1.21, 1.29, 1.30, float("nan")]}).set_index("model")
    models["diff"] = models["ours"] - models["paper"]
    a = table1.agreement(models)
    # the paper leaves RNN-1-512 blank: 4 models, diffs +0.02, -0.01, +0.06, -0.02
    assert a["models"] == 4 and a["above the paper"] == 2
    assert a["mean diff"] == pytest.approx(0.0125) and a["median diff"] == pytest.approx(0.005)
    assert a["within 0.03"] == 3  # +0.06 is not
    assert a["within 2 std"] == 2  # +0.02 <= 0.04 and -0.01 <= 0.02; +0.06 > 0.04 and -0.02 > 0.01
    assert a["median bootstrap std"] == pytest.approx(0.015)
    text = table1.agreement_text("lk", a)
    assert text.startswith("lk: 4 models") and "+0.013 nats" in text and "2 of 4 above" in text
    assert "no model" in table1.agreement_text("lk", table1.agreement(models.iloc[4:]))


def test_cli_widths_train_sample_and_grid(home, capsys):
    assert main(["grid", "--widths", "--dataset", "wp"]) == 0
    out = capsys.readouterr().out
    assert "K = 87" in out and "141 (44," in out and "1045 (1,27" in out
    args = ["--dataset", "wp", "--cell", "gru", "--layers", "2", "--size", "16", "--epochs", "1", "--batch-size", "11",
            "--seq-length", "13", "--max-train-batches", "3", "--max-eval-batches", "2", "--max-test-batches", "2",
            "--device", "cpu", "--no-progress"]
    assert main(["train", *args]) == 0
    out = capsys.readouterr().out
    assert "wp-gru2-16: test" in out
    run = out.strip().splitlines()[-1].split(": ", 1)[1]
    assert main(["sample", "--run", run, "--prime", "The ", "--length", "40", "--temperature", "0"]) == 0
    greedy = capsys.readouterr().out
    assert greedy.startswith("The ") and len(greedy) > 10
    assert main(["sample", "--run", run, "--prime", "The ", "--length", "40", "--temperature", "0"]) == 0
    assert capsys.readouterr().out == greedy
    assert main(["sample", "--run", run, "--prime", "{x}", "--length", "3"]) == 2  # braces are not in WP's bytes
    assert "vocabulary" in capsys.readouterr().err
    prof = home / "tiny.yaml"
    prof.write_text("grid:\n  models: [rnn-1-16]\n  train: {epochs: 1, batch_size: 11, seq_length: 13, "
                    "max_train_batches: 2, max_eval_batches: 1, max_test_batches: 1}\n")
    assert main(["grid", "--profile", str(prof), "--dry-run"]) == 0
    assert capsys.readouterr().out.split() == ["wp-rnn1-16", "1", "runs"]
    assert main(["grid", "--profile", str(prof), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "finished" in out and "Table 1, wp" in out and "RNN-1" in out


def test_train_throughput_benchmark_runs_and_writes_json(tmp_path, capsys, throughput_benchmark):
    bench = throughput_benchmark
    tiny = ["--sizes", "64", "--steps", "1", "--warmup", "0", "--batch-size", "7", "--seq-length", "9", "--threads", "1"]
    assert bench([*tiny, "--out", str(tmp_path / "tp.json")]) == 0
    res = json.loads((tmp_path / "tp.json").read_text())
    # CPU default: bf16 only where this CPU has it natively (AVX-512 or AMX), and the JSON says why not
    no_bf16 = train.bf16_unsupported(torch.device("cpu"))
    paths = {"fused", "cpu_step"} | (set() if no_bf16 else {"bf16"})
    assert len(res["rows"]) == 9 * len(paths) and {r["path"] for r in res["rows"]} == paths
    assert res["bf16_unsupported"] == no_bf16
    peak = res["gemm_peak_gflops"]
    assert peak["fp32"] > 0 and (peak["bf16"] is None if no_bf16 else peak["bf16"] > 0)  # measured in the same run
    for r in res["rows"]:
        assert r["gflops"] > 0 and r["fraction_of_peak"] == pytest.approx(
            r["gflops"] / peak["bf16" if r["path"] == "bf16" else "fp32"])
    assert all(r["symbols_per_s"] > 0 for r in res["rows"])
    assert all(r["speedup_vs_fused"] > 0 for r in res["rows"] if r["path"] == "cpu_step")
    assert all(v > 0 for v in res["projected_shipped_set_hours"].values())
    assert {r["H"] for r in res["rows"] if r["cell"] == "gru"} == {77, 53, 44}
    assert all(np.isfinite(v) and v > 0 for v in res["projected_paper_grid_hours"].values())
    assert "extrapolated" in res["projection_note"] and "projected paper grid" in capsys.readouterr().out
    # with a cell type left out there is nothing to project from
    assert bench([*tiny, "--cells", "rnn", "--paths", "fused", "--out", str(tmp_path / "tp2.json")]) == 0
    # the traced path, and the equivalence of the two CPU engines on a short real schedule
    assert bench([*tiny, "--cells", "rnn", "--depths", "1", "--paths", "fused", "traced", "--out",
                  str(tmp_path / "tp3.json"), "--equivalence", "20"]) == 0
    eq = json.loads((tmp_path / "tp3.json").read_text())["equivalence"]
    assert [e["model"] for e in eq] == ["rnn-1-64"] and eq[0]["max_abs_val_diff"] < 1e-4
    assert "no projection" in capsys.readouterr().out
    assert json.loads((tmp_path / "tp2.json").read_text())["projected_paper_grid_hours"] == {"fused": None}


@pytest.mark.parametrize("first", ["fast", "fast_executor", "ray_executor", "grid"])
def test_executors_are_found_whatever_was_imported_first(first):
    """`from rnnviz_lib import fast` before the executors used to leave "fast" unregistered ("unknown
    executor"); executors are now looked up by name and imported on first use."""
    import subprocess
    import sys

    code = (f"from rnnviz_lib import {first}\nfrom rnnviz_lib import executors\n"
            "assert executors.run([], executor='fast') == [] and executors.run([], executor='ray') == []\n"
            "print(executors.executor_names())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "['fast', 'local', 'processes', 'ray']"


def test_an_unknown_executor_lists_every_one(capsys):
    assert main(["grid", "--profile", "smoke", "--executor", "bogus", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "unknown executor 'bogus': use one of fast, local, processes, ray" in err
