"""``rnnviz store verify``: check every run and cached artifact of the store, and the shipped runs.

Reads each file the way the code that uses it does (JSON, ``.npy`` headers and sizes, ``.npz``
CRCs, torch weights with ``weights_only=True`` so a pickle that would run code is refused, never
run), checks that a folder's config hashes to its name and that a finished run has the files its
metrics promise, and checks the shipped runs against their manifest. Prints one line per damaged
file with what is wrong and what to do; exit status 1 if anything is damaged, 0 otherwise.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from rnnviz_lib.commands import add_actions
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import (BEST_FILE, CHECKPOINT_FILE, CONFIG_FILE, HISTORY_FILE, METRICS_FILE, PROBS_FILE,
                              SNAPSHOTS_DIR, Store, damage_fix, load_torch, read_json)


def _problem(path, what: str, fix: str | None = None) -> dict:
    return {"path": str(path), "problem": what, "fix": fix if fix is not None else damage_fix(path)}


def _from_error(path, exc: RnnvizError) -> dict:
    """An RnnvizError of store.read_json/load_torch ("<path> is ...; <fix>") as a problem."""
    text = str(exc)
    body = text[len(str(path)):].strip() if text.startswith(str(path)) else text
    what, _, fix = body.partition("; ")
    return _problem(path, what, fix or damage_fix(path))


def _json(path, problems: list) -> object | None:
    try:
        return read_json(path)
    except RnnvizError as exc:
        problems.append(_from_error(path, exc))
    except OSError as exc:
        problems.append(_problem(path, f"unreadable ({exc.strerror})"))
    return None


def _torch(path, problems: list) -> None:
    try:
        load_torch(path)
    except RnnvizError as exc:
        problems.append(_from_error(path, exc))


def _npy(path, problems: list, symbols: int | None = None) -> None:
    """Header and size of a .npy (memory-mapped: nothing is read into memory), and its element
    count against the ``symbols`` the metrics promise."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        problems.append(_problem(path, f"is damaged or truncated ({why})"))
        return
    if symbols is not None and int(a.size) != int(symbols):
        problems.append(_problem(path, f"holds {a.size:,} values but {METRICS_FILE} says {int(symbols):,} test symbols"))


def _npz(path, problems: list) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()  # every member's CRC, one at a time
        if bad is not None:
            problems.append(_problem(path, f"is damaged (member {bad} fails its CRC)"))
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        problems.append(_problem(path, f"is damaged or truncated ({exc})"))


def check_run(d: Path, problems: list) -> None:
    """One training run folder of the store: config hash = folder name, loadable files, and the
    files a finished run must have."""
    from rnnviz_lib import train
    from rnnviz_lib.config import artifact_name

    cfg = _json(d / CONFIG_FILE, problems) if (d / CONFIG_FILE).is_file() else None
    if cfg is None and not (d / CONFIG_FILE).is_file():
        problems.append(_problem(d, f"has no {CONFIG_FILE}, so it is no run", f"delete the folder {d}"))
    if isinstance(cfg, dict):
        try:
            want = artifact_name(train.TrainConfig.from_dict(cfg).slug, train.TrainConfig.from_dict(cfg).identity())
            if want != d.name:
                problems.append(_problem(d / CONFIG_FILE, f"hashes to {want}, not to its folder's name {d.name}",
                                         f"delete the folder {d} (it was renamed or its config edited)"))
        except (RnnvizError, TypeError, ValueError) as exc:
            problems.append(_problem(d / CONFIG_FILE, f"is not a valid run configuration ({exc})",
                                     f"delete the folder {d} and rerun the command that trained it"))
    metrics = _json(d / METRICS_FILE, problems) if (d / METRICS_FILE).is_file() else None
    if (d / HISTORY_FILE).is_file():
        _json(d / HISTORY_FILE, problems)
    for name in (CHECKPOINT_FILE, BEST_FILE):
        if (d / name).is_file():
            _torch(d / name, problems)
    index = d / SNAPSHOTS_DIR / "index.json"
    snaps = _json(index, problems) if index.is_file() else []
    for s in snaps if isinstance(snaps, list) else []:
        f = d / SNAPSHOTS_DIR / str(s.get("file", ""))
        if not f.is_file():
            problems.append(_problem(f, "is listed in snapshots/index.json but missing"))
        else:
            _torch(f, problems)
    if (d / METRICS_FILE).is_file():  # finished: what the metrics promise must be there
        for name in (BEST_FILE, HISTORY_FILE, PROBS_FILE):
            if not (d / name).is_file():
                problems.append(_problem(d / name, "is missing from a finished run",
                                         damage_fix(d / name) if name == PROBS_FILE else
                                         f"delete the folder {d} and rerun the command that trained it"))
        if (d / PROBS_FILE).is_file():
            _npy(d / PROBS_FILE, problems, (metrics or {}).get("test_symbols") if isinstance(metrics, dict) else None)
    elif (d / PROBS_FILE).is_file():
        _npy(d / PROBS_FILE, problems)


def _baseline_identity(kind: str, m: dict, sha: str) -> dict | None:
    from rnnviz_lib import baselines

    split = {"dataset": m.get("dataset"), "sha256": sha, **baselines.SPLIT}
    if kind == "ngram":
        return {**split, "kind": "ngram", "order": int(m["order"]), "smoothing": baselines.NGRAM_SMOOTHING,
                "version": baselines.NGRAM_VERSION}
    if kind == "nnn":
        return {**split, "kind": "nnn", "n": int(m["n"]), **baselines.nnn_params(m.get("params") or {}),
                "version": baselines.NNN_VERSION}
    return None


def check_baseline(d: Path, store: Store, problems: list) -> None:
    """One cached n-gram or n-NN folder."""
    from rnnviz_lib.config import config_hash

    m = _json(d / METRICS_FILE, problems) if (d / METRICS_FILE).is_file() else None
    if (d / HISTORY_FILE).is_file():
        _json(d / HISTORY_FILE, problems)
    for name in ("model.pt", CHECKPOINT_FILE):
        if (d / name).is_file():
            _torch(d / name, problems)
    if (d / METRICS_FILE).is_file():
        if not (d / PROBS_FILE).is_file():
            problems.append(_problem(d / PROBS_FILE, "is missing from a finished baseline"))
        else:
            _npy(d / PROBS_FILE, problems, m.get("test_symbols") if isinstance(m, dict) else None)
    if isinstance(m, dict) and m.get("kind") in ("ngram", "nnn"):
        prepared = store.data_dir / str(m.get("dataset")) / "prepared.json"
        info = _json(prepared, problems) if prepared.is_file() else None
        if isinstance(info, dict) and info.get("sha256"):
            try:
                ident = _baseline_identity(m["kind"], m, info["sha256"])
            except (KeyError, TypeError, ValueError):
                ident = None
            if ident is not None and not d.name.endswith("-" + config_hash(ident)):
                problems.append(_problem(d, f"its metrics hash to {config_hash(ident)}, not to the folder's name "
                                            "(renamed, edited, or made from other data or code)",
                                         f"delete the folder {d}; the next rnnviz ngram/nnn (or notebook 03) "
                                         "recomputes it"))


def check_store(store: Store | None = None, shipped: bool = True) -> tuple[list[dict], dict]:
    """Every damaged file of the store (and, with ``shipped``, of the shipped runs).

    Returns
    -------
    problems : [{"path", "problem", "fix"}], one per damaged file, in path order
    checked : {"runs", "baselines", "caches", "shipped runs", "data files"} counts of what was read
    """
    from rnnviz_lib import shipped as shipped_mod

    store = store or Store()
    problems: list[dict] = []
    checked = {"runs": 0, "baselines": 0, "caches": 0, "shipped runs": 0, "data files": 0}
    art = store.artifacts_dir
    for d in store.run_dirs(finished=False, shipped=False):
        check_run(d, problems)
        checked["runs"] += 1
    for d in sorted((art / "baselines").glob("*")) if (art / "baselines").is_dir() else []:
        if d.is_dir() and not d.name.startswith("."):
            check_baseline(d, store, problems)
            checked["baselines"] += 1
    for d in sorted((art / "activations").glob("*")) if (art / "activations").is_dir() else []:
        if d.is_dir() and not d.name.startswith("."):
            for f in sorted(d.glob("*.json")):
                _json(f, problems)
            for f in sorted(d.glob("*.npz")):
                _npz(f, problems)
            for f in sorted(d.glob("*.npy")):
                _npy(f, problems)
            checked["caches"] += 1
    for f in sorted((art / "shipped-cache").glob("*/*.npy")) if (art / "shipped-cache").is_dir() else []:
        _npy(f, problems)
        checked["caches"] += 1
    for f in sorted(store.data_dir.glob("*/*.json")) if store.data_dir.is_dir() else []:
        _json(f, problems)
        checked["data files"] += 1
    if shipped:
        root = shipped_mod.shipped_dir()
        if root is not None:
            man = root / "MANIFEST.json"
            if man.is_file() and _json(man, problems) is not None:
                for line in shipped_mod.verify(root, profile=None):
                    path, _, rest = line.partition(": ")
                    what, _, fix = rest.partition("; ")
                    problems.append(_problem(path, what, fix or f"a shipped file: {damage_fix(path)}"))
                checked["shipped runs"] = len(shipped_mod.manifest(root).get("runs", {}))
    problems.sort(key=lambda p: p["path"])
    return problems, checked


def _verify(args) -> int:
    store = Store()
    problems, checked = check_store(store, shipped=not args.no_shipped)
    if args.json:
        print(json.dumps({"root": str(store.root), "ok": not problems, "checked": checked, "damaged": problems},
                         sort_keys=True))
        return 1 if problems else 0
    for p in problems:
        print(f"DAMAGED {p['path']}: {p['problem']}; {p['fix']}")
    what = ", ".join(f"{n} {k}" for k, n in checked.items())
    print(f"{store.root}: checked {what}; {len(problems)} damaged")
    return 1 if problems else 0


def register(sub) -> None:
    ssub = add_actions(sub, "store", "check the store: every run and cached artifact, and the shipped runs")
    v = ssub.add_parser(
        "verify",
        help="read every run, baseline and cache of the store (and the shipped runs' manifest hashes); list "
             "what is damaged, one line each; exit 1 if anything is",
        description="--json prints one object: {\"root\", \"ok\", \"checked\": {kind: count}, "
                    "\"damaged\": [{\"path\", \"problem\", \"fix\"}]}.")
    v.add_argument("--json", action="store_true", help="print one JSON object (see the description)")
    v.add_argument("--no-shipped", action="store_true", help="leave the shipped runs (data/runs/) out")
    v.set_defaults(func=_verify)
