"""Shipped runs: finished paper-recipe runs committed with the code, with their provenance.

API::

    ship(configs, store)          # copy finished runs of these configs into data/runs/, update the manifest
    verify()                      # [problems]: hashes, config hashes, missing files ([] = all good)
    manifest()                    # data/runs/MANIFEST.json as a dict

Layout (``store.shipped_dir()``, ``data/runs/`` of the repository)::

    MANIFEST.json                 {"runs": {<run>: entry}, "budget_bytes", "total_bytes"}
    <slug>-<config hash>/         the run's config, metrics, history and best weights (``FILES``)

A run is shipped as the training code wrote it: the four files are copied byte for byte, never
edited (no optimizer state, no checkpoint, no per-symbol arrays: test probabilities are
recomputed from the best weights, see ``store.Run.probs``). Each manifest entry records the config
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

from rnnviz_lib import grid, paper, provenance, train
from rnnviz_lib.config import artifact_name, config_hash
from rnnviz_lib.data import sha256_file
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import (BEST_FILE, CONFIG_FILE, HISTORY_FILE, METRICS_FILE, REPO, Run, Store, atomic_write_json,
                              read_json, shipped_dir, shipped_restore)

log = logging.getLogger(__name__)

FILES = (CONFIG_FILE, METRICS_FILE, HISTORY_FILE, BEST_FILE)  # what a shipped run keeps of its folder
BUDGET_BYTES = 25 * 1024 * 1024  # all shipped runs together


def default_dir() -> Path:
    return shipped_dir() or (REPO / "data" / "runs")


def manifest(root: Path | None = None) -> dict:
    f = (root or default_dir()) / "MANIFEST.json"
    return read_json(f) if f.is_file() else {"runs": {}}


def model_key(cfg: dict) -> str:
    """``wp-lstm-1-64`` (dataset-cell-layers-size, the summary JSON's key)."""
    return f"{cfg['dataset']}-{grid.model_name(cfg['cell'], int(cfg['layers']), int(cfg['size']))}"


def paper_value(dataset: str, cell: str, layers: int, size: int):
    v = paper.TABLE1.get(dataset, {}).get(int(size), {}).get((cell, int(layers)))
    return None if v is None else float(v)


def _entry(run: Path, profile: str, unrecorded: str) -> dict:
    cfg, m = Run(run).config, Run(run).metrics
    segments = list(m.get("segments") or [])
    if not segments:  # trained by code that kept no segment record
        segments = [{"step": 0, "commit": (m.get("code") or {}).get("commit"), "engine": m.get("engine"),
                     "note": "not recorded by the training code; commit and engine are the finishing code's"}]
    for s in segments:
        if s.get("commit") is None and unrecorded:
            s["commit"], s["note"] = unrecorded, "not recorded by the training code; given when the run was shipped"
    ident = cfg["identity_hash"]
    paper_v = paper_value(cfg["dataset"], cfg["cell"], cfg["layers"], cfg["size"])
    files = {f: {"sha256": sha256_file(run / f), "bytes": (run / f).stat().st_size} for f in FILES}
    finished = _dt.datetime.fromtimestamp((run / METRICS_FILE).stat().st_mtime, _dt.timezone.utc)
    return {
        "model": model_key(cfg), "slug": m.get("slug"), "profile": profile, "identity_hash": ident,
        "test_loss": m["test_loss"], "test_bootstrap_std": m.get("test_bootstrap_std"), "paper": paper_v,
        "delta": None if paper_v is None else m["test_loss"] - paper_v, "best_val_loss": m.get("best_val_loss"),
        "epochs_done": m.get("epochs_done"), "stopped": m.get("stopped"), "params": m.get("params"),
        "hidden": m.get("hidden"), "commit": segments[-1].get("commit"), "segments": segments,
        "engine": m.get("engine", "reference"), "torch": m.get("torch"),
        "machine": m.get("machine") or f"{provenance.machine()['processor']} (the shipping machine; the run did not record it)",
        "device": m.get("device"), "train_time_s": m.get("train_time_s"), "finished": finished.isoformat(timespec="seconds"),
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
        if not Run(own).finished:
            if Run(root / own.name).finished:
                continue  # shipped already, no store copy
            raise RnnvizError(f"{cfg.slug} has not finished in {store.root} ({own}); train it first")
        if full_only and (cfg.max_train_batches or cfg.max_eval_batches or cfg.max_test_batches):
            raise RnnvizError(f"{cfg.slug} trained on a limited schedule (max_*_batches); only full runs are shipped")
        dest = root / own.name
        for f in FILES:
            if not (own / f).is_file():
                raise RnnvizError(f"{own / f} is missing; the run is incomplete")
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=".ship-"))
        try:  # copy beside, then swap in: a shipped run is never half-written
            for f in FILES:
                shutil.copy2(own / f, tmp / f)
            if dest.exists():
                shutil.rmtree(dest)
            tmp.chmod(0o755)
            tmp.rename(dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        runs[own.name] = _entry(dest, profile, unrecorded)
        shipped.append(own.name)
        log.info("shipped %s (test %.4f)", own.name, runs[own.name]["test_loss"])
    total = sum(f["bytes"] for e in runs.values() for f in e["files"].values())
    if total > BUDGET_BYTES:
        raise RnnvizError(f"shipped runs would take {total / 2**20:.1f} MiB, over the {BUDGET_BYTES / 2**20:.0f} MiB budget")
    atomic_write_json(root / "MANIFEST.json", {"runs": dict(sorted(runs.items())), "total_bytes": total,
                                               "budget_bytes": BUDGET_BYTES,
                                               "files_per_run": list(FILES)})
    return shipped


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
    on_disk = {d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    for name in sorted(on_disk - set(listed)):
        problems.append(f"{root / name}: not in MANIFEST.json")
    wanted = {}
    if profile:
        for cfg in grid.expand(profile):
            wanted[artifact_name(cfg.slug, cfg.identity())] = cfg
    for name, e in sorted(listed.items()):
        d = root / name
        if not d.is_dir():
            problems.append(f"{d}: listed in MANIFEST.json but missing")
            continue
        for f, want in e["files"].items():
            p = d / f
            if not p.is_file():
                problems.append(f"{p}: missing")
            elif p.stat().st_size != want["bytes"] or sha256_file(p) != want["sha256"]:
                problems.append(f"{p}: sha256 differs from MANIFEST.json (damaged or edited); {shipped_restore(p)}")
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
