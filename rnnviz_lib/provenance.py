"""Where a result came from: the code's git commit, the machine, the library versions, the data,
the profile and the runs a report rests on.

API::

    code_version(), machine(), versions(), device()   # from buildinfo (the leaf facts every run records)
    data_hashes(store)              # {dataset: {"sha256", "checksum_ok", "symbols", ...}} from the data manifests
    profile_hash(profile, root)     # sha256 prefix of the loaded profile's contents
    runs_used(profile, store)       # DataFrame: one row per run of the profile's grid, with its origin
    rebuild_command(profile)        # the one command that rebuilds the report
    report_provenance(profile, root)  # all of the above as one dict (the report's provenance section)
"""

from __future__ import annotations

from pathlib import Path

from rnnviz_lib.buildinfo import code_version, device, machine, versions

# what a run's origin is called in the report: a shipped run, or one this store trained
ORIGIN_LABEL = {"shipped": "shipped", "store": "trained here"}


def data_hashes(store, datasets=()) -> dict:
    """``{dataset: {"sha256", "checksum_ok", "reference_sha256", "symbols", ...}}`` of every
    prepared corpus of the store, read from its data manifest (``data/<dataset>/prepared.json``),
    and of each of ``datasets`` that has none there (loaded, which hashes it; ``{"sha256": None,
    "error": why}`` when it cannot be loaded)."""
    from rnnviz_lib import data
    from rnnviz_lib.store import read_json

    keep = ("sha256", "checksum_ok", "reference_sha256", "symbols", "vocab_size", "kernel_version", "reference")
    out = {}
    for man in sorted(store.data_dir.glob("*/prepared.json")) if store.data_dir.is_dir() else []:
        try:
            m = read_json(man)
        except Exception:  # noqa: BLE001 - a damaged manifest is reported, not fatal to the report
            out[man.parent.name] = {"sha256": None, "error": f"{man} cannot be read"}
            continue
        out[m.get("dataset", man.parent.name)] = {k: m[k] for k in keep if k in m}
    todo = [d for d in datasets if d not in out]
    loaded, missing = data.load_available(todo) if todo else ({}, {})
    for name, corpus in loaded.items():
        out[name] = {k: corpus.manifest[k] for k in keep if k in corpus.manifest}
    out.update({name: {"sha256": None, "error": why} for name, why in missing.items()})
    return out


def profile_hash(profile: str, root: Path | None = None) -> str:
    """A short sha256 of the loaded profile (every section, as ``config.canonical_json`` writes it):
    two reports with the same hash ran the same settings."""
    from rnnviz_lib.config import config_hash, load_profile

    return config_hash(load_profile(profile, root), n=16)


def runs_used(profile: str, store) -> "pd.DataFrame":  # noqa: F821
    """One row per run of the profile's grid (Table 1's runs and its ``extra:`` runs), indexed by
    run id (the run directory's name), with ``dataset``, ``model`` (cell-layers-size), ``origin``
    (``shipped`` or ``trained here``), ``profile`` (the profile whose recipe trained it: a shipped
    run's manifest says; a run of this store was trained by this profile's grid), ``finished``,
    ``extra`` (True for a run of an ``extra:`` grid, outside Table 1) and ``snapshots`` (it keeps
    weight snapshots, for Figure 5 right).
    """
    import pandas as pd

    from rnnviz_lib import grid, train
    from rnnviz_lib.config import load_profile
    from rnnviz_lib.store import read_json

    prof = load_profile(profile, store.root)
    name, section = prof["name"], prof.get("grid")
    cols = ["dataset", "model", "origin", "profile", "finished", "extra", "snapshots"]
    if not section:
        return pd.DataFrame(columns=cols).rename_axis("run")
    table1 = set(grid.expand(section, extras=False))
    ship = store.shipped_root
    manifest = {}
    if ship is not None and (ship / "MANIFEST.json").is_file():
        try:
            manifest = read_json(ship / "MANIFEST.json").get("runs", {})
        except Exception:  # noqa: BLE001 - runs verify reports a damaged manifest; here the profile is unknown
            manifest = {}
    rows = {}
    for cfg in grid.expand(section):
        d = train.run_dir(cfg, store)
        origin = store.origin(d)
        made_by = manifest.get(d.name, {}).get("profile", "?") if origin == "shipped" else name
        rows.setdefault(d.name, {"dataset": cfg.dataset, "model": grid.model_name(cfg.cell, cfg.layers, cfg.size),
                                 "origin": ORIGIN_LABEL.get(origin, origin)
                                 + ("" if cfg.precision == "fp32" else f", {cfg.precision}"), "profile": made_by,
                                 "finished": train.is_finished(d), "extra": cfg not in table1,
                                 "snapshots": bool(cfg.snapshot_every and cfg.snapshot_epochs)})
    return pd.DataFrame.from_dict(rows, orient="index", columns=cols).rename_axis("run")


def rebuild_command(profile: str) -> str:
    """The one command that rebuilds the report of ``profile`` from this checkout (with shipped
    runs turned off when they were off for this one)."""
    from rnnviz_lib.store import SHIPPED_ENV, shipped_dir

    env = f"{SHIPPED_ENV}=off " if shipped_dir() is None else ""
    return f"{env}rnnviz report --profile {profile}"


def report_provenance(profile: str, root: Path | None = None) -> dict:
    """Everything the report's provenance section shows, as one dict: ``code`` (commit, dirty),
    ``versions``, ``machine``, ``device``, ``data`` (sha256 per dataset), ``profile`` and
    ``profile_hash``, ``runs`` (``runs_used`` as records) and ``rebuild``."""
    from rnnviz_lib.config import load_profile
    from rnnviz_lib.store import Store

    store = Store(root)
    prof = load_profile(profile, store.root)
    name = prof["name"]
    datasets = (prof.get("grid") or {}).get("datasets") or prof["common"].get("datasets") or []
    runs = runs_used(name, store)
    return {
        "code": code_version(), "versions": versions(), "machine": machine(), "device": device(),
        "data": data_hashes(store, datasets), "profile": name, "profile_hash": profile_hash(name, store.root),
        "runs": [{"run": k, **v} for k, v in runs.to_dict(orient="index").items()],
        "rebuild": rebuild_command(name),
    }
