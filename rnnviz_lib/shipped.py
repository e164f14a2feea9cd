"""Shipped runs: finished paper-recipe runs committed with the code, with their provenance.

API::

    ship(configs, store)          # copy finished runs of these configs into data/runs/, update the manifest
    verify()                      # [problems]: hashes, config hashes, missing files ([] = all good)
    manifest()                    # data/runs/MANIFEST.json as a dict

    ship_nnn(dataset, ns, store)  # the same for n-NN baselines (Table 2), into data/runs/baselines/
    ship_screens(configs, store)  # screenings (a run's first epochs, ``until_epoch``) into data/runs/screens/

Layout (``store.shipped_dir()``, ``data/runs/`` of the repository)::

    MANIFEST.json                 {"runs": {<run>: entry}, "baselines": {<name>: entry}, "screens": {<run>: entry}
                                  (only when there are any), "budget_bytes", "total_bytes"}
    <slug>-<config hash>/         the run's config, metrics, history and best weights (``FILES``), and for
                                  a run with weight snapshots their Figure 5 (right) table (``OPTIONAL_FILES``:
                                  the snapshots stay behind, too large to ship)
    baselines/<name>/             an n-NN's metrics, history and best weights (``BASELINE_FILES``);
                                  ``<name>`` is its store folder's (``wp-nnn3-h512-<identity hash>``)
    screens/<name>/               a screening: the config and validation history of the first epochs of
                                  a run of the profile (``SCREEN_FILES``, no weights), the evidence that
                                  dropped a dropout value; ``<name>`` is the full run's. A run that
                                  finished but lost on validation to the shipped run of its model ships
                                  here too, the same two files (its manifest entry: ``complete``, its
                                  test loss and the run that beat it): the evidence that the value was
                                  tried in full, without weights no reader needs

A run is shipped as the training code wrote it: the four files (and the snapshot table that
``rnnviz runs ship`` computed beside them) are copied byte for byte, never edited (no optimizer state, no checkpoint, no per-symbol arrays: test probabilities are
recomputed from the best weights, see ``runs.Run.probs``). Each manifest entry records the config
hash, the git commit(s) and engine(s) that trained the run (``segments``, from the run's
metrics), torch, the machine, the training wall time, when it finished, the command that
retrains it, and the sha256 and size of every file. ``tests/test_shipped.py`` re-evaluates every
shipped run on the real test split and checks the manifest against the files and the profile.
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
import tempfile
from pathlib import Path

from rnnviz_lib import baselines, buildinfo, data, grid, lk_corpus, paper, train
from rnnviz_lib.config import artifact_name, config_hash
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import (BEST_FILE, CHECKPOINT_FILE, CONFIG_FILE, HISTORY_FILE, METRICS_FILE, NNN_MODEL_FILE,
                              REPO, SHIPPED_BASELINES, SHIPPED_SCREENS, SNAPSHOT_KL_FILE, RunFiles, Store,
                              atomic_write_json, load_torch, read_json, sha256_file, shipped_dir, shipped_restore)

log = logging.getLogger(__name__)

FILES = (CONFIG_FILE, METRICS_FILE, HISTORY_FILE, BEST_FILE)  # what a shipped run keeps of its folder
OPTIONAL_FILES = (SNAPSHOT_KL_FILE,)  # kept too where the store run has them (Figure 5 right without the snapshots)
BUDGET_BYTES = 60 * 1024 * 1024  # all shipped runs, baselines and screenings together
BASELINES_DIR = SHIPPED_BASELINES  # data/runs/baselines/: shipped n-NN baselines
BASELINE_FILES = (METRICS_FILE, HISTORY_FILE, NNN_MODEL_FILE)  # test probabilities are recomputed
SCREENS_DIR = SHIPPED_SCREENS  # data/runs/screens/: shipped screenings (no weights)
SCREEN_FILES = (CONFIG_FILE, HISTORY_FILE)


def default_dir() -> Path:
    return shipped_dir() or (REPO / "data" / "runs")


def manifest(root: Path | None = None) -> dict:
    f = (root or default_dir()) / "MANIFEST.json"
    return read_json(f) if f.is_file() else {"runs": {}}


def _added(entries: dict, names: list, name: str, entry: dict) -> None:
    """Record one shipped run or baseline: its manifest entry, its name, a log line."""
    entries[name] = entry
    names.append(name)
    if entry.get("complete"):
        log.info("shipped %s without weights (test %.4f; %s beats it on validation)", name, entry["test_loss"],
                 entry["beaten_by"])
    elif "test_loss" in entry:
        log.info("shipped %s (test %.4f)", name, entry["test_loss"])
    else:
        log.info("shipped the screening %s (%g epochs, best val %.4f)", name, entry["epochs_done"], entry["best_val_loss"])


def model_key(cfg: dict) -> str:
    """``wp-lstm-1-64`` (dataset-cell-layers-size, the summary JSON's key)."""
    return f"{cfg['dataset']}-{grid.model_name(cfg['cell'], int(cfg['layers']), int(cfg['size']))}"


def paper_value(dataset: str, cell: str, layers: int, size: int):
    v = paper.table1(dataset, cell, int(layers), int(size))
    return None if v is None else float(v)


def _entry(run: Path, profile: str, unrecorded: str) -> dict:
    cfg, m = RunFiles(run).config, RunFiles(run).metrics
    segments = list(m.get("segments") or [])
    if not segments:  # trained by code that kept no segment record
        segments = [{"step": 0, "commit": (m.get("code") or {}).get("commit"), "engine": m.get("engine"),
                     "note": "not recorded by the training code; commit and engine are the finishing code's"}]
    for s in segments:
        if s.get("commit") is None and unrecorded:
            s["commit"], s["note"] = unrecorded, "not recorded by the training code; given when the run was shipped"
    ident = cfg["identity_hash"]
    paper_v = paper_value(cfg["dataset"], cfg["cell"], cfg["layers"], cfg["size"])
    files = _file_records(run, run_files(run))
    return {
        "model": model_key(cfg), "slug": m.get("slug"), "profile": profile, "identity_hash": ident,
        "test_loss": m["test_loss"], "test_bootstrap_std": m.get("test_bootstrap_std"), "paper": paper_v,
        "delta": None if paper_v is None else m["test_loss"] - paper_v, "best_val_loss": m.get("best_val_loss"),
        "epochs_done": m.get("epochs_done"), "stopped": m.get("stopped"), "params": m.get("params"),
        "hidden": m.get("hidden"), "commit": segments[-1].get("commit"), "segments": segments,
        "engine": m.get("engine", "reference"), "precision": cfg.get("precision", "fp32"), "torch": m.get("torch"),
        "machine": m.get("machine") or f"{buildinfo.machine()['processor']} (the shipping machine; the run did not record it)",
        "device": m.get("device"), "train_time_s": m.get("train_time_s"), "finished": _finished(run),
        "retrain": (f"rnnviz grid --profile {profile} --dataset {cfg['dataset']} --only "
                    f"{grid.model_name(cfg['cell'], int(cfg['layers']), int(cfg['size']))} --retrain --device cpu"),
        "files": files,
    }


def ship(configs, store: Store | None = None, profile: str = "paper", root: Path | None = None,
         unrecorded: str = "", full_only: bool = True) -> list[str]:
    """Copy the finished store runs of ``configs`` into the shipped folder and rewrite its manifest.

    Returns the names shipped. A run already shipped with the same files is left alone; a store
    run that is not finished, or that trained on a limited schedule (``max_*_batches``), is
    refused (``full_only=False`` allows the latter, for tests). ``unrecorded`` names the commit
    of training stretches the code did not record.
    """
    store = store or Store()
    root = Path(root or default_dir())
    root.mkdir(parents=True, exist_ok=True)
    profile = Path(profile).stem if str(profile).endswith((".yaml", ".yml")) else profile
    man = manifest(root)
    runs = dict(man.get("runs", {}))
    shipped = []
    for cfg in configs:
        own = store.artifact_dir("runs", cfg.slug, cfg.identity(), create=False)
        if not RunFiles(own).finished:
            if RunFiles(root / own.name).finished:
                continue  # shipped already, no store copy
            raise RnnvizError(f"{cfg.slug} has not finished in {store.root} ({own}); train it first")
        if full_only and (cfg.max_train_batches or cfg.max_eval_batches or cfg.max_test_batches):
            raise RnnvizError(f"{cfg.slug} trained on a limited schedule (max_*_batches); only full runs are shipped")
        dest = _copy_in(own, root / own.name, run_files(own))
        _added(runs, shipped, own.name, _entry(dest, profile, unrecorded))
    gone = sorted(set(man.get("screens", {})) & set(runs))  # a finished run replaces its screening
    screens = {k: v for k, v in man.get("screens", {}).items() if k not in gone}
    _write_manifest(root, {**man, "runs": runs, "screens": screens})
    for name in gone:
        shutil.rmtree(root / SCREENS_DIR / name, ignore_errors=True)
    return shipped


def ship_screens(configs, store: Store | None = None, profile: str = "paper", root: Path | None = None,
                 full_only: bool = True) -> list[str]:
    """Ship the screenings of ``configs``: store runs paused unfinished after their first epochs
    (``rnnviz train --until-epoch K``), as their config and validation history only, into
    ``data/runs/screens/`` (the evidence that a dropout value was tried and dropped). Returns the
    names shipped. A finished run ships the same way, without weights, only where a shipped run
    of the same model beats it on validation (the value was tried in full and lost; Table 1 never
    reads its weights); a finished run that wins, or whose model has no shipped run yet, is refused
    (ship it, or the winner, as a run). A run with no history is refused too, and (unless
    ``full_only`` is False, for tests) one on a limited schedule (``max_*_batches``). When the full
    run is shipped as a run later, ``ship`` removes its screening."""
    store = store or Store()
    root = Path(root or default_dir())
    profile = Path(profile).stem if str(profile).endswith((".yaml", ".yml")) else profile
    man = manifest(root)
    screens = dict(man.get("screens", {}))
    todo = []
    for cfg in configs:  # every one checked before anything is copied
        own = RunFiles(store.artifact_dir("runs", cfg.slug, cfg.identity(), create=False), store)
        if own.name in man.get("runs", {}):
            raise RnnvizError(f"{cfg.slug} has finished and is shipped as a run ({root / own.name}); it is no screening")
        beaten_by = _beaten_by(man, own) if own.finished else None
        if own.finished and beaten_by is None:
            raise RnnvizError(f"{cfg.slug} has finished ({own.path}) and no shipped run of its model beats it on "
                              "validation: ship it as a run (rnnviz runs ship without --screens), or ship the model's "
                              "better run first; only a finished run that lost ships without weights")
        if own.diverged:
            raise RnnvizError(f"{cfg.slug} diverged in {store.root} ({own.path}); a diverged run is no screening")
        if not (own.has_checkpoint or own.finished) or not own.history:
            raise RnnvizError(f"{cfg.slug} has no screening in {store.root} ({own.path}); train its first epochs with "
                              "`rnnviz train ... --until-epoch K` first")
        if full_only and (cfg.max_train_batches or cfg.max_eval_batches or cfg.max_test_batches):
            raise RnnvizError(f"{cfg.slug} trained on a limited schedule (max_*_batches); only the paper's schedule "
                              "is shipped")
        todo.append((cfg, own, beaten_by))
    names, fresh = [], []
    try:
        for cfg, own, beaten_by in todo:
            if own.name not in screens:
                fresh.append(root / SCREENS_DIR / own.name)
            dest = _copy_in(own.path, root / SCREENS_DIR / own.name, SCREEN_FILES)
            _added(screens, names, own.name, _screen_entry(dest, own, cfg, profile, beaten_by))
        _write_manifest(root, {**man, "screens": screens})
    except BaseException:  # e.g. over the budget: no screening is left unlisted
        for d in fresh:
            shutil.rmtree(d, ignore_errors=True)
        raise
    return names


def _beaten_by(man: dict, own: RunFiles) -> str | None:
    """The shipped run (of ``man``) of the same model as finished store run ``own`` with the lowest
    validation loss, if it is lower than ``own``'s; else None."""
    key, mine = model_key(own.config), own.metrics.get("best_val_loss")
    rivals = [(e["best_val_loss"], n) for n, e in man.get("runs", {}).items()
              if e.get("model") == key and e.get("best_val_loss") is not None]
    best = min(rivals, default=None)
    return best[1] if best is not None and mine is not None and best[0] < mine else None


def _screen_entry(dest: Path, own: RunFiles, config, profile: str, beaten_by: str | None = None) -> dict:
    cfg, hist = RunFiles(dest).config, RunFiles(dest).history
    best = min(hist, key=lambda r: r["val_loss"])
    if own.finished:  # a full run that lost on validation: its metrics hold what its checkpoint did
        m = own.metrics
        segments = list(m.get("segments") or [])
        done = {"complete": True, "test_loss": m["test_loss"], "test_bootstrap_std": m.get("test_bootstrap_std"),
                "beaten_by": beaten_by, "train_time_s": m.get("train_time_s")}
    else:
        progress = load_torch(own.file(CHECKPOINT_FILE)).get("progress", {})
        segments, done = list(progress.get("segments") or []), {}
    return {
        "model": model_key(cfg), "slug": config.slug, "profile": profile,
        "identity_hash": cfg["identity_hash"], "dropout": cfg["dropout"], "precision": cfg.get("precision", "fp32"),
        "epochs_done": hist[-1]["epoch"], "epochs": cfg["epochs"], "best_val_loss": best["val_loss"],
        "best_epoch": best["epoch"], "last_val_loss": hist[-1]["val_loss"],
        "commit": segments[-1].get("commit") if segments else None, "segments": segments,
        "machine": (segments[-1].get("machine") if segments else None) or "not recorded",
        "extend": config.train_command(),  # the same run: resumes from the store's checkpoint, or retrains it
        **done,
        "files": _file_records(dest, SCREEN_FILES),
    }


def run_files(d: Path) -> tuple:
    """The files of run folder ``d`` that a shipped run keeps: ``FILES``, and those of ``OPTIONAL_FILES`` it has."""
    return FILES + tuple(f for f in OPTIONAL_FILES if (Path(d) / f).is_file())


def _copy_in(src: Path, dest: Path, files) -> Path:
    """Copy ``files`` of ``src`` into ``dest`` beside it, then swap in: never half-written."""
    for f in files:
        if not (src / f).is_file():
            raise RnnvizError(f"{src / f} is missing; the run is incomplete")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".ship-"))
    try:
        for f in files:
            shutil.copy2(src / f, tmp / f)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.chmod(0o755)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _write_manifest(root: Path, man: dict) -> None:
    """Write MANIFEST.json with its totals; refuse (writing nothing) past the budget."""
    runs, base, screens = man.get("runs", {}), man.get("baselines", {}), man.get("screens", {})
    total = sum(f["bytes"] for e in [*runs.values(), *base.values(), *screens.values()] for f in e["files"].values())
    if total > BUDGET_BYTES:
        raise RnnvizError(f"shipped runs would take {total / 2**20:.1f} MiB, over the {BUDGET_BYTES / 2**20:.0f} MiB "
                          "budget; ship fewer runs or raise shipped.BUDGET_BYTES with a reason")
    out = {"runs": dict(sorted(runs.items())), "baselines": dict(sorted(base.items())), "total_bytes": total,
           "budget_bytes": BUDGET_BYTES, "files_per_run": list(FILES), "files_per_baseline": list(BASELINE_FILES)}
    if screens:  # a manifest without screenings reads as before they existed
        out.update(screens=dict(sorted(screens.items())), files_per_screen=list(SCREEN_FILES))
    atomic_write_json(root / "MANIFEST.json", out)


def nnn_identity_for(dataset: str, n: int, profile: str = "paper") -> dict:
    """The identity an n-NN of ``profile``'s recipe has on the reference corpus of ``dataset``
    (War and Peace, or the pinned LK corpus), computed without reading the corpus."""
    sha = {"wp": data.WP_SHA256, "lk": lk_corpus.LK_REFERENCE_SHA256}.get(dataset)
    if sha is None:
        raise RnnvizError(f"shipped n-NN are for the reference corpora wp and lk, not {dataset!r}")
    return baselines.nnn_identity_of(dataset, sha, n, baselines.profile_params(profile))


def ship_nnn(dataset, ns, store: Store | None = None, profile: str = "paper", root: Path | None = None,
             data_dir=None, full_only: bool = True) -> list[str]:
    """Copy the store's finished n-NN of ``profile``'s recipe (context lengths ``ns``) into
    ``data/runs/baselines/`` and add them to the manifest; returns the names shipped.

    Only models trained on the reference corpus are shipped, and (unless ``full_only`` is False,
    for tests) only a recipe that scores validation in full and trains to its epoch limit or early
    stop (no ``val_max``, no ``max_steps``)."""
    store = store or Store()
    root = Path(root or default_dir())
    profile_name = Path(profile).stem if str(profile).endswith((".yaml", ".yml")) else profile
    corpus = baselines._corpus(dataset, data_dir)
    params = baselines.profile_params(profile)
    hidden = params.get("nnn_hidden", baselines.NNN_DEFAULTS["hidden"])
    if isinstance(hidden, (list, tuple)):
        raise RnnvizError(f"profile {profile_name} lists several n-NN hidden sizes {hidden}; ship from a recipe with one")
    p = baselines.nnn_params(params)
    if full_only and (p["val_max"] or p["max_steps"]):
        raise RnnvizError(f"profile {profile_name}'s n-NN recipe is a short one (val_max={p['val_max']}, "
                          f"max_steps={p['max_steps']}); only full recipes are shipped")
    man = manifest(root)
    base = dict(man.get("baselines", {}))
    names = []
    for n in sorted({int(v) for v in ns}):
        own = baselines.nnn_dir(corpus, n, p, store, create=False)
        if not baselines.is_finished(own):
            raise RnnvizError(f"the {corpus.name} {n}-NN of profile {profile_name} has not finished in {store.root} "
                              f"({own}); train it with `rnnviz nnn --dataset {corpus.name} --n {n} --profile {profile_name}`")
        dest = _copy_in(own, root / BASELINES_DIR / own.name, BASELINE_FILES)
        _added(base, names, own.name, _nnn_entry(dest, corpus, n, p, profile_name))
    _write_manifest(root, {**man, "baselines": base})
    return names


def _nnn_entry(d: Path, corpus, n: int, params: dict, profile: str) -> dict:
    m = read_json(d / METRICS_FILE)
    ident = baselines.nnn_identity(corpus, n, params)
    paper_v = paper.table2(corpus.name, "n-NN", n)
    segments = list(m.get("segments") or [])
    return {
        "model": f"{corpus.name}-nnn-{n}", "kind": "nnn", "dataset": corpus.name, "n": int(n),
        "hidden": m["hidden"], "profile": profile, "identity": ident, "identity_hash": config_hash(ident),
        "test_loss": m["test_loss"], "test_bootstrap_std": m.get("test_bootstrap_std"),
        "paper": None if paper_v is None else float(paper_v),
        "delta": None if paper_v is None else m["test_loss"] - float(paper_v),
        "best_val_loss": m["best_val_loss"], "best_step": m["best_step"], "steps": m["steps"],
        "commit": (m.get("code") or {}).get("commit"), "segments": segments, "torch": m.get("torch"),
        "machine": m.get("machine"), "device": m.get("device"), "threads": m.get("threads"),
        "train_time_s": m.get("train_seconds"), "finished": _finished(d),
        "retrain": f"rnnviz nnn --profile {profile} --dataset {corpus.name} --n {n} --force",
        "files": _file_records(d, BASELINE_FILES),
    }


def _file_records(d: Path, files) -> dict:
    """{file: {"sha256", "bytes"}} of a shipped folder's files, as the manifest keeps them."""
    return {f: {"sha256": sha256_file(d / f), "bytes": (d / f).stat().st_size} for f in files}


def _finished(d: Path) -> str:
    """When the folder's run finished: its metrics file's time, UTC."""
    return _dt.datetime.fromtimestamp((d / METRICS_FILE).stat().st_mtime, _dt.timezone.utc).isoformat(timespec="seconds")


def verify(root: Path | None = None, profile: str | None = "paper") -> list[str]:
    """Problems of the shipped folder: a file whose sha256 or size differs from the manifest, a
    run folder the manifest does not list (or the reverse), a config hash that differs from the
    one its config computes, and (with ``profile``) a run whose config is not that profile's."""
    root = Path(root or default_dir())
    if not root.is_dir():
        return []
    man = manifest(root)
    problems = []
    listed = man.get("runs", {})
    problems.extend(_verify_baselines(root, man.get("baselines", {}), profile))
    wanted = {}
    if profile:
        for cfg in grid.expand(profile):
            wanted[artifact_name(cfg.slug, cfg.identity())] = cfg
    screens = man.get("screens", {})
    for name in sorted(set(screens) & set(listed)):
        problems.append(f"{root / SCREENS_DIR / name}: screened and shipped as a finished run; any `rnnviz runs "
                        "ship` drops the screening")
    for name, e, d in [*_listed(root, listed, problems, skip=(BASELINES_DIR, SCREENS_DIR)),
                       *_listed(root / SCREENS_DIR, screens, problems)]:
        try:
            cfg = train.load_config(d)
        except (RnnvizError, OSError, ValueError, TypeError) as exc:
            problems.append(f"{d / CONFIG_FILE}: unreadable ({exc})")
            continue
        ident = config_hash(cfg.identity())
        if ident != e["identity_hash"] or not name.endswith(ident):
            problems.append(f"{d}: config hash {ident} differs from the manifest's {e['identity_hash']}")
        if profile and name not in wanted:
            problems.append(f"{d}: not a run of the {profile} profile as it is configured today")
    return problems


def _listed(base: Path, listed: dict, problems: list, skip=()):
    """(name, manifest entry, folder) of each listed folder of ``base`` that exists with the files
    the manifest records; what is unlisted, missing or damaged goes to ``problems``."""
    on_disk = {d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")} if base.is_dir() else set()
    for name in sorted(on_disk - set(listed) - set(skip)):
        problems.append(f"{base / name}: not in MANIFEST.json")
    for name, e in sorted(listed.items()):
        d = base / name
        if not d.is_dir():
            problems.append(f"{d}: listed in MANIFEST.json but missing")
            continue
        _verify_files(d, e["files"], problems)
        yield name, e, d


def _verify_files(d: Path, files: dict, problems: list) -> None:
    for f, want in files.items():
        p = d / f
        if not p.is_file():
            problems.append(f"{p}: missing")
        elif p.stat().st_size != want["bytes"] or sha256_file(p) != want["sha256"]:
            problems.append(f"{p}: sha256 differs from MANIFEST.json (damaged or edited); {shipped_restore(p)}")


def _verify_baselines(root: Path, listed: dict, profile: str | None) -> list[str]:
    """verify() for data/runs/baselines/: files, identity hashes, and (with ``profile``) the recipe."""
    problems = []
    for name, e, d in _listed(root / BASELINES_DIR, listed, problems):
        ident = config_hash(e["identity"])
        if ident != e["identity_hash"] or not name.endswith(ident):
            problems.append(f"{d}: identity hash {ident} differs from the manifest's {e['identity_hash']}")
        if not profile:
            continue
        try:
            want = nnn_identity_for(e["dataset"], e["n"], profile)
        except RnnvizError as exc:
            problems.append(f"{d}: {exc}")
            continue
        if e["identity"] != want:
            problems.append(f"{d}: not an n-NN of the {profile} profile's recipe as it is configured today")
    return problems
