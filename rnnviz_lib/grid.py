"""The paper's grid of models (3 cells × 3 depths × 4 sizes per dataset), its runner, and Table 1.

API::

    configs = expand("quick")                      # list[TrainConfig] from notebooks/params/quick.yaml
    results = run(configs, executor="local")       # trains each (finished runs are skipped)
    df = summary(configs)                          # one row per config, read from the run dirs
    ours, paper, compare = table1(df, "wp")        # the paper's layout, "ours (paper, Δ)"
    checks = findings(ours, paper)                 # depth helps? LSTM/GRU beat the RNN? in numbers

Profiles. ``notebooks/params/<profile>.yaml`` has a top-level ``grid:`` section::

    grid:
      datasets: [wp, lk]
      cells: [lstm, rnn, gru]          # default all three
      layers: [1, 2, 3]                # default all three
      sizes: [64, 128, 256, 512]       # grid rows (parameter budgets, PAPER.md §2)
      models: [lstm-1-64, gru-3-64]    # optional: exactly these "cell-layers-size", instead of the product;
                                       # or {lk: [lstm-3-64]}: per dataset (others get the product)
      dropout: [0.0]                   # or {size: [..]}: values cross-validated by validation loss
      train: {epochs: 50, ...}         # TrainConfig overrides for every run
      train_overrides: {rnn: {lr: 0.002}, lstm-3-64: {epochs: 8}}  # per cell or per model, over train:
      snapshots: {models: [lstm-3-512], every: 50, epochs: 3}   # weight snapshots (Figure 5b)

Dropout is cross-validated as in the paper: each value is its own run (its own directory), and
Table 1 takes, per model, the run with the lowest validation loss. The cost is one full training
per value; the paper profile tries 0 only for the small rows and up to three values for the
large ones (see paper.yaml).

Executors. ``run(configs, executor=name)`` looks ``name`` up with ``get_executor``: ``EXECUTORS``, a
dict of ``name -> fn(configs, store, keep_going) -> list[result]``, then ``LAZY_EXECUTORS`` (modules
imported on first use, whatever was imported before); ``register_executor`` adds one
(a Ray or concurrent-GPU executor calls ``run_one`` per config). Built in: ``local`` (one run
after another), ``processes`` (one run per CPU core, ``run_processes``), ``ray`` and ``fast``. A result is a dict with
``config``, ``run_dir``, ``status`` ("done", "skipped" or "failed"), ``error`` and ``seconds``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from rnnviz_lib import data, models, paper, train
from rnnviz_lib.config import load_profile
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import RunFiles, Store

log = logging.getLogger(__name__)

CELLS = paper.CELLS  # lstm, rnn, gru: the paper's column order
DEPTHS = paper.DEPTHS
SIZES = paper.SIZES
GRID_KEYS = ("datasets", "cells", "layers", "sizes", "models", "dropout", "train", "train_overrides", "snapshots",
             "shipped_only", "extra")
MODEL_KEY = ("dataset", "cell", "layers", "size")  # one Table 1 cell; dropout runs share it


# ----------------------------------------------------------------------------------------
# Expanding a profile into configs
# ----------------------------------------------------------------------------------------
def grid_section(profile: str | dict) -> dict:
    """The ``grid:`` section of a profile (name or YAML path), or the dict itself."""
    if isinstance(profile, dict):
        section = profile
    else:
        section = load_profile(profile).get("grid")
        if not section:
            raise RnnvizError(f"profile {profile!r} has no grid: section; add one to notebooks/params/{profile}.yaml")
    unknown = sorted(set(section) - set(GRID_KEYS))
    if unknown:
        raise RnnvizError(f"unknown grid key(s) {', '.join(unknown)}; use {', '.join(GRID_KEYS)}")
    return section


def datasets(profile: str | dict) -> list[str]:
    """The datasets a profile's grid trains on."""
    return list(grid_section(profile).get("datasets", ["wp"]))


def parse_model(spec: str) -> tuple[str, int, int]:
    """``"lstm-3-512"`` -> ("lstm", 3, 512)."""
    try:
        cell, layers, size = str(spec).lower().split("-")
        return models._check_cell(cell), int(layers), int(size)
    except (ValueError, RnnvizError):
        raise RnnvizError(f"bad model {spec!r} in the grid: write cell-layers-size, e.g. lstm-3-512") from None


def model_name(cell: str, layers: int, size: int) -> str:
    return f"{cell}-{int(layers)}-{int(size)}"


def _dropouts(spec, size: int) -> list[float]:
    if spec is None:
        return [0.0]
    if isinstance(spec, dict):
        vals = spec.get(size, spec.get(str(size), spec.get("default", [0.0])))
    else:
        vals = spec
    vals = [vals] if isinstance(vals, (int, float)) else list(vals)
    if not vals:
        raise RnnvizError(f"the grid's dropout list for size {size} is empty; give at least one value, e.g. [0.0]")
    return [float(v) for v in vals]


def expand(profile: str | dict, datasets=None, device: str | None = None, only=None,
           extras: bool = True, store: Store | None = None) -> list[train.TrainConfig]:
    """The TrainConfigs of a profile's grid: datasets × sizes × cells × depths × dropout values.

    Parameters
    ----------
    profile : profile name / YAML path, or a ``grid:`` dict
    datasets : restrict to these datasets (default: the section's ``datasets``)
    device : override every config's device (auto/cpu/cuda)
    only : restrict to these models ("cell-layers-size")
    extras : also the runs of the section's ``extra:`` grids (runs of another recipe that some
        analysis needs, e.g. weight snapshots); they are trained and analysed, never in Table 1

    ``shipped_only: true`` keeps only the models that have a shipped run (``data/runs/``): the
    others are left out with a log line instead of being trained.
    """
    g = grid_section(profile)
    out = _expand_one(g, datasets, device, only)
    if g.get("shipped_only"):
        from rnnviz_lib.config import artifact_name
        ship = store or Store()
        kept = [c for c in out if ship.shipped_run(artifact_name(c.slug, c.identity())) is not None]
        left = [c.slug for c in out if c not in kept]
        if left:
            log.warning("shipped_only: %d model(s) have no shipped run and are left out: %s", len(left), ", ".join(left))
        out = kept
    if extras:
        for i, e in enumerate(g.get("extra") or []):
            if not isinstance(e, dict):
                raise RnnvizError(f"grid extra #{i + 1} must be a grid section (datasets, models, train, ...)")
            own = e.get("datasets", g.get("datasets", ["wp"]))
            ds = [d for d in (datasets or own) if d in own]
            out += [c for c in _expand_one(e, ds, device, only) if c not in out] if ds else []
    return out


def _expand_one(g: dict, datasets, device, only) -> list[train.TrainConfig]:
    dsets = list(datasets) if datasets else list(g.get("datasets", ["wp"]))
    product = [(c, int(l), int(s)) for s in g.get("sizes", SIZES) for c in g.get("cells", CELLS)
               for l in g.get("layers", DEPTHS)]
    spec = g.get("models")

    def triples_for(ds: str) -> list[tuple[str, int, int]]:
        # models: a list for every dataset, or {dataset: list} (a dataset it does not name gets the product)
        chosen = spec.get(ds) if isinstance(spec, dict) else spec
        triples = [parse_model(m) for m in chosen] if chosen else product
        if only:
            want = {parse_model(m) for m in only}
            triples = [t for t in triples if t in want]
        return triples

    base = dict(g.get("train") or {})
    if device:
        base["device"] = device
    fields = {f.name for f in dataclasses.fields(train.TrainConfig)}
    bad = sorted(set(base) - fields)
    if bad:
        raise RnnvizError(f"unknown training option(s) {', '.join(bad)} in the grid's train: section")
    overrides = {}
    in_grid = {t for ds in dsets for t in triples_for(ds)}
    for key, vals in (g.get("train_overrides") or {}).items():
        k = str(key).lower()
        target = models._check_cell(k) if "-" not in k else parse_model(k)
        if isinstance(target, tuple) and target not in in_grid and not only:
            raise RnnvizError(f"train_overrides names {key}, which is not in the grid; check the spelling "
                              "(cell-layers-size, e.g. lstm-3-512)")
        if not isinstance(vals, dict):
            raise RnnvizError(f"train_overrides[{key!r}] must map training options to values, e.g. {{lr: 0.002}}")
        if sorted(set(vals) - fields):
            raise RnnvizError(f"train_overrides[{key!r}] has unknown training option(s): "
                              f"{', '.join(sorted(set(vals) - fields))}")
        fixed = sorted(set(vals) & {"dataset", "cell", "layers", "size", "dropout"})
        if fixed:
            raise RnnvizError(f"train_overrides[{key!r}] cannot change {', '.join(fixed)}: the grid sets it "
                              "(use the models:, sizes: or dropout: keys)")
        overrides[target] = dict(vals)
    snaps = g.get("snapshots") or {}
    snap_models = {parse_model(m) for m in snaps.get("models", [])}
    out = []
    for ds in dsets:
        for cell, layers, size in triples_for(ds):
            extra = {}
            if (cell, layers, size) in snap_models:
                extra = {"snapshot_every": int(snaps.get("every", 50)), "snapshot_epochs": int(snaps.get("epochs", 3))}
            for p in _dropouts(g.get("dropout"), size):
                over = {**overrides.get(cell, {}), **overrides.get((cell, layers, size), {})}  # the model's wins
                kw = {**base, **over, **extra, "dataset": ds, "cell": cell, "layers": layers, "size": size, "dropout": p}
                if device:
                    kw["device"] = device  # the command line's --device beats the profile
                out.append(train.TrainConfig(**kw))
    return out


# ----------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------
def run_one(config: train.TrainConfig, store: Store | None = None) -> dict:
    """Train one config; never raises for a failed run (the result says why)."""
    store = store or Store()
    t0 = time.time()
    d = train.run_dir(config, store)
    if train.is_finished(d):
        why = train.corpus_mismatch(d, config, store)
        return {"config": config, "run_dir": str(d), "status": "failed" if why else "skipped", "error": why or "",
                "seconds": 0.0}
    try:
        d = train.train_run(config, store)
        return {"config": config, "run_dir": str(d), "status": "done", "error": "", "seconds": time.time() - t0}
    except RnnvizError as exc:
        log.error("%s failed: %s", config.slug, exc)
        return {"config": config, "run_dir": str(d), "status": "failed", "error": str(exc),
                "seconds": time.time() - t0}


def run_local(configs, store: Store, keep_going: bool = True) -> list[dict]:
    """One run after another in this process, with an overall progress bar."""
    from tqdm.auto import tqdm

    results = []
    bar = tqdm(configs, desc="grid", unit="run")
    for cfg in bar:
        bar.set_postfix_str(cfg.slug)
        res = run_one(cfg, store)
        results.append(res)
        log.info("grid %d/%d %s: %s (%.0f s)", len(results), len(configs), cfg.slug, res["status"], res["seconds"])
        if res["status"] == "failed" and not keep_going:
            raise RnnvizError(res["error"])
    return results


def _process_task(config: train.TrainConfig, store: Store, log_level: int) -> dict:
    """One run in a worker process of ``run_processes`` (module level, so it can be pickled)."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    res = run_one(config, store)
    return {**res, "config": None}  # the parent keeps its own config object


def _process_entry(task: Callable, config, store: Store, log_level: int, conn) -> None:
    """Worker process body: run ``task`` and send its result (or the exception's text) back."""
    try:
        conn.send(("ok", task(config, store, log_level)))
    except BaseException as exc:  # noqa: BLE001  reported by the parent as a failed run
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cgroups)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def skip_finished(configs, store: Store) -> tuple[list[dict | None], list[int]]:
    """An executor's first step: a "skipped" result for each finished run, and the indices of the
    runs left to train."""
    results: list[dict | None] = [None] * len(configs)
    todo = []
    corpora = {}  # each dataset's corpus read once, for the corpus check of its finished runs

    def corpus_of(c):
        key = (c.dataset, c.data_dir)
        if key not in corpora:
            corpora[key] = data.load_corpus(c.dataset, c.data_dir or None, store=store, download_ok=False)
        return corpora[key]

    for i, cfg in enumerate(configs):
        d = train.run_dir(cfg, store, create=False)
        if train.is_finished(d):
            why = train.corpus_mismatch(d, cfg, store, lambda c=cfg: corpus_of(c))  # a run of other text is refused
            results[i] = {"config": cfg, "run_dir": str(d), "status": "failed" if why else "skipped",
                          "error": why or "", "seconds": 0.0}
        else:
            todo.append(i)
    return results, todo


def run_processes(configs, store: Store, keep_going: bool = True, workers: int | None = None,
                  task: Callable | None = None) -> list[dict]:
    """Several runs at once on one machine's CPU cores, each run in its own worker process.

    ``workers`` defaults to ``$RNNVIZ_WORKERS``, else the number of usable cores; each run that
    does not set ``threads`` gets ``cores // workers`` torch threads (small models scale poorly
    across threads, so a core per run is the faster use of a CPU). Results are bit-identical to
    ``local`` with the same thread count. Finished runs are skipped without starting a process.
    A worker that dies (killed, out of memory) fails only its own run, which resumes from its
    checkpoint next time; with ``keep_going=False`` the first failure stops the other workers
    at once (their runs resume too). ``task`` replaces the per-run function (tests).
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    from tqdm.auto import tqdm

    configs = list(configs)
    task = task or _process_task
    cores = _cpu_count()
    workers = int(workers or os.environ.get("RNNVIZ_WORKERS") or cores)
    if workers < 1:
        raise RnnvizError(f"the process executor needs at least one worker (got {workers}); set RNNVIZ_WORKERS >= 1")
    results, todo = skip_finished(configs, store)
    if not todo:
        return results
    workers = min(workers, len(todo))
    threads = max(1, cores // workers)
    log.info("%d runs on %d worker processes, %d torch thread(s) each", len(todo), workers, threads)
    ctx = mp.get_context("spawn")  # not fork: a forked copy of a process running torch threads can deadlock
    level = logging.getLogger().level
    running: dict = {}  # process sentinel -> (index, process, receiving end, start time)
    bar = tqdm(total=len(todo), desc="grid", unit="run")

    def failed(i: int, why: str, t0: float) -> dict:
        return {"config": configs[i], "run_dir": str(train.run_dir(configs[i], store, create=False)),
                "status": "failed", "error": why, "seconds": time.time() - t0}

    try:
        queue = list(todo)
        while queue or running:
            while queue and len(running) < workers:
                i = queue.pop(0)
                cfg = configs[i] if configs[i].threads > 0 else dataclasses.replace(configs[i], threads=threads)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_process_entry, args=(task, cfg, store, level, send), daemon=True)
                proc.start()
                send.close()
                running[proc.sentinel] = (i, proc, recv, time.time())
            for sentinel in wait(list(running)):
                i, proc, recv, t0 = running.pop(sentinel)
                try:
                    msg = recv.recv() if recv.poll() else None
                except EOFError:  # the worker died before sending: its end of the pipe is closed, nothing in it
                    msg = None
                proc.join()
                recv.close()
                if msg is None:
                    res = failed(i, f"worker process died (exit code {proc.exitcode}); rerun to resume the run "
                                    "from its last checkpoint", t0)
                elif msg[0] == "error":
                    res = failed(i, f"worker process failed: {msg[1]}", t0)
                else:
                    res = {**msg[1], "config": configs[i]}
                results[i] = res
                bar.update(1)
                log.info("grid %s: %s (%.0f s)", configs[i].slug, res["status"], res["seconds"])
                if res["status"] == "failed" and not keep_going:
                    raise RnnvizError(f"{configs[i].slug}: {res['error']}")
    finally:
        bar.close()
        for _, proc, recv, _ in running.values():  # only after an error: stop the others, they resume later
            proc.terminate()
            proc.join()
            recv.close()
    return results


EXECUTORS: dict[str, Callable] = {"local": run_local, "processes": run_processes}
# Executors in modules of their own, imported when first asked for (Ray and the GPU stack stay
# unimported otherwise): name -> (module, function). No module registers itself on import.
LAZY_EXECUTORS: dict[str, tuple[str, str]] = {"fast": ("rnnviz_lib.fast_executor", "run_fast"),
                                              "ray": ("rnnviz_lib.ray_executor", "run_ray")}


def register_executor(name: str, fn: Callable) -> None:
    """Add an executor ``fn(configs, store, keep_going) -> list[result]`` under ``name``."""
    EXECUTORS[name] = fn


def executor_names() -> list[str]:
    return sorted(set(EXECUTORS) | set(LAZY_EXECUTORS))


def get_executor(name: str) -> Callable:
    """The executor called ``name`` (built in, registered, or loaded from its module now)."""
    if name in EXECUTORS:
        return EXECUTORS[name]
    if name in LAZY_EXECUTORS:
        import importlib

        module, attr = LAZY_EXECUTORS[name]
        return getattr(importlib.import_module(module), attr)
    raise RnnvizError(f"unknown executor {name!r}: use one of {', '.join(executor_names())}")


def run(configs, executor: str = "local", store: Store | None = None, keep_going: bool = True) -> list[dict]:
    """Train every config with the named executor; finished runs are skipped."""
    fn = get_executor(executor)
    store = store or Store()
    t0 = time.time()
    results = fn(list(configs), store, keep_going)
    counts = pd.Series([r["status"] for r in results]).value_counts().to_dict() if results else {}
    log.info("grid finished in %.0f s: %s", time.time() - t0, counts)
    return results


# ----------------------------------------------------------------------------------------
# Reading results
# ----------------------------------------------------------------------------------------
SUMMARY_COLUMNS = ["dataset", "cell", "layers", "size", "dropout", "hidden", "params", "status", "best_val_loss",
                   "test_loss", "test_bootstrap_std", "best_epoch", "epochs_done", "train_time_s", "origin", "precision",
                   "run_dir"]


def status_of(d) -> str:
    """``finished``, ``diverged``, ``partial`` (a checkpoint) or ``missing``: of a run folder or ``RunFiles``."""
    run = d if isinstance(d, RunFiles) else RunFiles(d)
    if run.finished:
        return "finished"
    if run.diverged:
        return "diverged"
    if run.has_checkpoint:
        return "partial"
    return "missing"


def summary(configs, store: Store | None = None) -> pd.DataFrame:
    """One row per config (indexed by slug) from whatever its run directory holds."""
    store = store or Store()
    rows = []
    for cfg in configs:
        run = RunFiles(train.run_dir(cfg, store), store)
        row = {"slug": cfg.slug, "dataset": cfg.dataset, "cell": cfg.cell, "layers": cfg.layers, "size": cfg.size,
               "dropout": cfg.dropout, "status": status_of(run), "run_dir": str(run.path), "precision": cfg.precision}
        if run.started:
            c = run.config
            row.update(hidden=c.get("hidden_resolved"), params=c.get("params"))
        row["origin"] = run.origin
        if row["status"] == "finished":
            m = run.metrics
            row.update({k: m.get(k) for k in SUMMARY_COLUMNS if k in m})
        else:
            h = run.history
            if h:
                row.update(best_val_loss=min(r["val_loss"] for r in h), epochs_done=h[-1]["epoch"],
                           train_time_s=h[-1]["time"])
        rows.append(row)
    df = pd.DataFrame(rows, columns=["slug", *SUMMARY_COLUMNS])
    for col in ("hidden", "params"):  # integers, blank for runs not started
        df[col] = pd.to_numeric(df[col]).round().astype("Int64")
    return df.set_index("slug")


def summary_json(df: pd.DataFrame) -> dict:
    """``{"<dataset>-<model>": {test_loss, paper, delta, bootstrap_std, origin, run}}`` of every
    model of a ``summary`` frame with a finished run (its chosen dropout, ``select_best``)."""
    out = {}
    for _, r in select_best(df).iterrows():
        cell, layers, size = r["cell"], int(r["layers"]), int(r["size"])
        p = paper.table1(r["dataset"], cell, layers, size)
        loss = float(r["test_loss"])
        std = r.get("test_bootstrap_std")
        out[f"{r['dataset']}-{model_name(cell, layers, size)}"] = {
            "test_loss": loss, "paper": None if p is None else float(p), "delta": None if p is None else loss - float(p),
            "bootstrap_std": None if std is None or pd.isna(std) else float(std), "origin": r["origin"],
            "run": Path(r["run_dir"]).name, "dropout": float(r["dropout"]), "precision": r.get("precision") or "fp32"}
    return out


def select_best(df: pd.DataFrame) -> pd.DataFrame:
    """Per model (dataset, cell, layers, size), the finished run with the lowest validation loss
    (the paper's cross-validation of dropout). Models with no finished run are left out."""
    fin = df[df["status"] == "finished"]
    if fin.empty:
        return fin
    idx = fin.groupby(list(MODEL_KEY))["best_val_loss"].idxmin()
    return fin.loc[idx.values]


def run_dirs(profile: str | dict, dataset: str, store: Store | None = None, extras: bool = True) -> list[Path]:
    """Run directories of a profile's grid for ``dataset``: for each model, its chosen
    (best-validation) finished run, or all its configured runs when none has finished; then
    the runs of the profile's ``extra:`` grids."""
    store = store or Store()
    cfgs = expand(profile, [dataset], extras=False)
    df = summary(cfgs, store)
    best = select_best(df)
    chosen = {tuple(r[k] for k in MODEL_KEY): Path(r["run_dir"]) for _, r in best.iterrows()}
    out = []
    for cfg in cfgs:
        key = (cfg.dataset, cfg.cell, cfg.layers, cfg.size)
        d = chosen.get(key, train.run_dir(cfg, store))
        if d not in out:
            out.append(d)
    for cfg in [c for c in expand(profile, [dataset]) if c not in cfgs] if extras else []:  # then the extra grids' runs
        d = train.run_dir(cfg, store)
        if d not in out:
            out.append(d)
    return out


def histories(configs, store: Store | None = None) -> pd.DataFrame:
    """Long table of every run's evaluations: slug, cell, layers, size, dropout + history columns."""
    store = store or Store()
    frames = []
    for cfg in configs:
        h = train.load_history(train.run_dir(cfg, store))
        if h:
            f = pd.DataFrame(h)
            f.insert(0, "slug", cfg.slug)
            for k in ("dataset", "cell", "layers", "size", "dropout"):
                f[k] = getattr(cfg, k)
            frames.append(f)
    cols = ["slug", "step", "epoch", "train_loss", "val_loss", "lr", "time", "symbols_per_s"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def widths_frame(dataset_K: int, matching: str = "row") -> pd.DataFrame:
    """Hidden widths (and parameter counts) of the grid for a vocabulary of ``dataset_K``."""
    return models.width_table(dataset_K, SIZES, matching)
