"""The paper's grid of models (3 cells × 3 depths × 4 sizes per dataset): a profile's grid expanded
to TrainConfigs, and what its run folders hold. Training them is ``executors``'; Table 1 is
``table1``'s.

API::

    configs = expand("quick")                      # list[TrainConfig] from notebooks/params/quick.yaml
    df = summary(configs)                          # one row per config, read from the run dirs
    select_best(df), summary_json(df)              # each model's chosen dropout run; the CLI's JSON

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
      extra: [{models: [lstm-3-64], train: {...}, stands_in_for: [lstm-3-512]}]  # runs of other recipes

Dropout is cross-validated as in the paper: each value is its own run (its own directory), and
Table 1 takes, per model, the run with the lowest validation loss. The cost is one full training
per value; the paper profile tries 0 only for the small rows and up to three values for the
large ones (see paper.yaml).

"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pandas as pd

from rnnviz_lib import models, paper, train
from rnnviz_lib.config import load_profile
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import RunFiles, Store

log = logging.getLogger(__name__)

CELLS = paper.CELLS  # lstm, rnn, gru: the paper's column order
DEPTHS = paper.DEPTHS
SIZES = paper.SIZES
GRID_KEYS = ("datasets", "cells", "layers", "sizes", "models", "dropout", "train", "train_overrides", "snapshots",
             "shipped_only", "extra")
EXTRA_KEYS = (*(k for k in GRID_KEYS if k not in ("shipped_only", "extra")), "stands_in_for")  # the keys of an extra: grid
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
           extras: bool = True, store: Store | None = None, shipped_only: bool | None = None) -> list[train.TrainConfig]:
    """The TrainConfigs of a profile's grid: datasets × sizes × cells × depths × dropout values.

    Parameters
    ----------
    profile : profile name / YAML path, or a ``grid:`` dict
    datasets : restrict to these datasets (default: the section's ``datasets``)
    device : override every config's device (auto/cpu/cuda)
    only : restrict to these models ("cell-layers-size")
    extras : also the runs of the section's ``extra:`` grids (runs of another recipe that some
        analysis needs, e.g. weight snapshots); they are trained and analysed, never in Table 1.
        An extra grid with ``stands_in_for: [lstm-3-512]`` is left out on each dataset where the
        grid itself has all those models (after ``shipped_only``): a short run that only stands
        in for a shipped one is not trained beside it

    ``shipped_only: true`` keeps only the models that have a shipped run (``data/runs/``): the
    others are left out with a log line instead of being trained. The ``shipped_only`` argument
    overrides the section's (False: every run of the grid, e.g. to list the dropout values tried).
    """
    g = grid_section(profile)
    full = _expand_one(g, datasets, device, None)  # the whole grid: the extras' stands_in_for reads it
    use_shipped = g.get("shipped_only") if shipped_only is None else shipped_only
    want = {parse_model(m) for m in only} if only else None

    def asked(c) -> bool:
        return want is None or (c.cell, c.layers, c.size) in want

    if use_shipped:
        from rnnviz_lib.config import artifact_name
        ship = store or Store()
        kept = [c for c in full if ship.shipped_run(artifact_name(c.slug, c.identity())) is not None]
        left = [c.slug for c in full if c not in kept and asked(c)]
        if left:
            log.info("shipped_only: %d run(s) of the grid have no shipped run and are left out: %s%s", len(left),
                     ", ".join(left[:6]), ", ..." if len(left) > 6 else "")
        full = kept
    out = [c for c in full if asked(c)]
    if extras:
        have = {(c.dataset, c.cell, c.layers, c.size) for c in full}
        for i, e in enumerate(g.get("extra") or []):
            if not isinstance(e, dict):
                raise RnnvizError(f"grid extra #{i + 1} must be a grid section (datasets, models, train, ...)")
            unknown = sorted(set(e) - set(EXTRA_KEYS))
            if unknown:
                raise RnnvizError(f"unknown key(s) {', '.join(unknown)} in grid extra #{i + 1}; use "
                                  f"{', '.join(EXTRA_KEYS)}")
            stand = e.get("stands_in_for") or []
            if not isinstance(stand, list):
                raise RnnvizError(f"grid extra #{i + 1}: stands_in_for must be a list of models, e.g. [lstm-3-512] "
                                  f"(got {stand!r})")
            stand = [parse_model(m) for m in stand]
            own = e.get("datasets", g.get("datasets", ["wp"]))
            ds = [d for d in (datasets or own) if d in own]
            covered = [d for d in ds if stand and all((d, *m) in have for m in stand)]
            if covered:
                log.info("grid extra #%d left out on %s: it stands in for %s, which the grid has%s", i + 1,
                         ", ".join(covered), ", ".join(model_name(*m) for m in stand),
                         " (shipped)" if use_shipped else "")
                ds = [d for d in ds if d not in covered]
            sub = {k: v for k, v in e.items() if k != "stands_in_for"}
            out += [c for c in _expand_one(sub, ds, device, only) if c not in out] if ds else []
    return out


def why_no_run(profile: str | dict, dataset: str, model: str) -> str:
    """Why ``model`` ("cell-layers-size") has no finished run of ``profile`` on ``dataset``, and what
    to do about it: not in the grid at all, not shipped (a ``shipped_only`` grid trains nothing),
    or not trained yet."""
    g = grid_section(profile)
    name = f"{profile} grid" if isinstance(profile, str) else "grid"
    if dataset not in datasets(g) or not _expand_one(g, [dataset], None, [model]):
        return f"the {name} has no {model} on {dataset} (add it to the grid's sizes and models)"
    if g.get("shipped_only"):
        return (f"{model} on {dataset} is not shipped yet: the {name} reads the shipped runs of data/runs/ "
                "only (shipped_only: true) and trains nothing; `rnnviz runs list` shows what is shipped")
    how = f"`rnnviz grid --profile {profile} --dataset {dataset} --only {model}`" if isinstance(profile, str) else "notebook 01"
    return f"no finished {model} run on {dataset} in the {name} (train it with {how})"


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
# Reading results
# ----------------------------------------------------------------------------------------
SUMMARY_COLUMNS = ["dataset", "cell", "layers", "size", "dropout", "hidden", "params", "status", "best_val_loss",
                   "test_loss", "test_bootstrap_std", "best_epoch", "epochs_done", "train_time_s", "origin", "precision",
                   "run_dir"]


def status_of(d) -> str:
    """``finished``, ``diverged``, ``partial`` (a checkpoint), ``screened`` (a shipped screening:
    the first epochs' validation history, ``data/runs/screens/``) or ``missing``: of a run folder or
    ``RunFiles``."""
    run = d if isinstance(d, RunFiles) else RunFiles(d)
    if run.finished:
        return "finished"
    if run.diverged:
        return "diverged"
    if run.has_checkpoint:
        return "partial"
    if run.started and run.history and run.store.is_shipped(run.path):
        return "screened"
    return "missing"


def summary(configs, store: Store | None = None) -> pd.DataFrame:
    """One row per config (indexed by slug) from whatever its run directory holds."""
    store = store or Store()
    rows = []
    for cfg in configs:
        run = RunFiles(train.run_dir(cfg, store), store)
        if not run.started and (screen := store.shipped_screen(run.name)) is not None:
            run = RunFiles(screen, store)  # only a shipped screening of this run: its first epochs
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
    cfgs = expand(profile, [dataset], extras=False, store=store)
    df = summary(cfgs, store)
    best = select_best(df)
    chosen = {tuple(r[k] for k in MODEL_KEY): Path(r["run_dir"]) for _, r in best.iterrows()}
    out = []
    for cfg in cfgs:
        key = (cfg.dataset, cfg.cell, cfg.layers, cfg.size)
        d = chosen.get(key, train.run_dir(cfg, store))
        if d not in out:
            out.append(d)
    for cfg in [c for c in expand(profile, [dataset], store=store) if c not in cfgs] if extras else []:  # the extras' runs
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
