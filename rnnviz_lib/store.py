"""The one place that turns configurations into file paths, and writes files atomically.

Layout under the project root (``$RNNVIZ_HOME`` or the working directory)::

    data/                 raw and prepared corpora (see data.py)
    artifacts/<kind>/<slug>-<hash>/   models, probabilities, analyses, keyed by config
    artifacts/tables/<profile>/       tables (csv, md, html, tex, json)
    figures/<profile>/                figures (png, pdf) with a json caption sidecar
    report/                           executed notebooks and index.html

Shipped runs. Finished runs committed with the code live in ``data/runs/`` of the repository
(``shipped_dir()``; ``Store(shipped=False)`` reads none, ``Store(shipped=folder)`` another folder; the
default can be set with ``$RNNVIZ_SHIPPED_RUNS``: ``off`` or a folder). They are
read like the store's own: ``Store.run_dir`` returns a shipped run of the same name (slug and
config hash) when the store has no finished copy, and nothing ever writes into them. A
store copy that finishes (``rnnviz grid --retrain``) takes precedence; deleting it brings the
shipped run back. Per-symbol arrays are not shipped: ``cached_file`` keeps what is recomputed
from a shipped run (its test probabilities) under ``artifacts/shipped-cache/<run>/``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from rnnviz_lib.config import artifact_name, project_root

log = logging.getLogger(__name__)

SHIPPED_ENV = "RNNVIZ_SHIPPED_RUNS"
REPO = Path(__file__).resolve().parent.parent

# The files of a run directory (written only by ``train.train_group``; read through ``RunFiles``)::
#
#     config.json       the TrainConfig, its identity hash, width H and parameter count
#     checkpoint.pt     last checkpoint: model, optimizer, RNG, carried state, data position, history
#     best.pt           {"hparams", "state_dict", "step", "epoch", "val_loss"}: best validation
#     history.json      one row per evaluation: step, epoch, train_loss, val_loss, lr, time, symbols_per_s
#     snapshots/        step-NNNNNNN.pt weights over the first epochs, listed in snapshots/index.json
#     snapshot_kl.json  Figure 5 (right) computed from those snapshots (analysis.longrange.write_snapshot_kl)
#     test_probs.npy    (B, T) float32 probability of the correct symbol at each test position
#     metrics.json      written last: its presence marks the run (or a baseline) finished
#     diverged.json     left by a run whose loss turned NaN/inf
#     .lock             held (flock) by the process training the run, names its pid (``hold_runs``)
# A baseline folder (baselines.py) holds test_probs.npy, metrics.json, history.json and model.pt.
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
HISTORY_FILE = "history.json"
SNAPSHOTS_DIR = "snapshots"
SNAPSHOT_KL_FILE = "snapshot_kl.json"  # Figure 5 (right)'s table of a run's snapshots, kept so it ships without them
PROBS_FILE = "test_probs.npy"
METRICS_FILE = "metrics.json"
DIVERGED_FILE = "diverged.json"
LOCK_FILE = ".lock"  # a run's trainer holds an exclusive flock on it (hold_runs); the kernel frees it with the process
NNN_MODEL_FILE = "model.pt"  # an n-NN baseline's {"hparams", "state_dict"} of its best-validation weights
SHIPPED_BASELINES = "baselines"  # shipped baselines: data/runs/baselines/<name>/, beside the shipped runs
SHIPPED_SCREENS = "screens"  # shipped screenings (the first epochs of a run, no weights): data/runs/screens/<name>/


def shipped_dir() -> Path | None:
    """The folder of shipped runs (``data/runs`` of this checkout), or None when there is none
    or ``$RNNVIZ_SHIPPED_RUNS`` is ``off`` (``on`` or unset: ``data/runs``; anything else: that folder)."""
    env = os.environ.get(SHIPPED_ENV, "").strip()
    if env.lower() in ("off", "0", "no", "false"):
        return None
    explicit = env and env.lower() not in ("on", "1", "yes", "true")  # on: this checkout's data/runs
    d = Path(env).expanduser() if explicit else REPO / "data" / "runs"
    if explicit and not d.is_dir():
        log.warning("$%s=%s is not a folder: no shipped runs are read (use on, off or a folder)", SHIPPED_ENV, env)
    return d.resolve() if d.is_dir() else None


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:  # keyed by the file's stat: an edit rehashes
    return sha256_file(path)


def weights_digest(run_dir, n: int = 12) -> str:
    """The first ``n`` hex digits of the sha256 of a run's best weights (``best.pt``, or an n-NN's
    ``model.pt``); ``none`` when it has neither. Keys caches by content, not by name."""
    for f in (Path(run_dir) / BEST_FILE, Path(run_dir) / NNN_MODEL_FILE):
        if f.is_file():
            st = f.stat()
            return _digest(str(f), st.st_mtime_ns, st.st_size)[:n]
    return "none"


def _inside(path, folder: Path | None) -> bool:
    return folder is not None and Path(path).resolve().is_relative_to(folder)

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A crash or exception leaves the old file (or nothing) and never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files; give the usual umask-based mode instead
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def hold_runs(folders) -> Iterator[None]:
    """Hold each run folder for this process while the block runs: an exclusive, non-blocking
    ``flock`` on its ``LOCK_FILE``, which names the holder. Two processes training one run would
    overwrite each other's checkpoints; the second one is refused at once, with the holder's pid.
    The kernel drops the lock when the holder exits, however it exits, so no stale lock is left.
    On a system without ``fcntl`` (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    import socket
    import time as _time

    from rnnviz_lib.errors import RnnvizError

    held = []
    try:
        for d in folders:
            d = Path(d)
            d.mkdir(parents=True, exist_ok=True)
            fh = open(d / LOCK_FILE, "a+")  # noqa: SIM115 - held open past this block: the lock lives with it
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                fh.close()
                raise RnnvizError(f"run {d.name} is being trained by {holder}; two trainings of one run would "
                                  f"overwrite each other's checkpoints: wait for it to end, or stop it and run this "
                                  f"again (it resumes from the last checkpoint)") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{_time.strftime('%Y-%m-%dT%H:%M:%SZ', _time.gmtime())}\n")
            fh.flush()
            held.append(fh)
        yield
    finally:
        for fh in held:
            fh.close()  # closing the file drops its flock


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path) -> Any:
    """A JSON file; a damaged one (truncated, not JSON) is a one-line RnnvizError naming it."""
    from rnnviz_lib.errors import RnnvizError

    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RnnvizError(f"{path} is damaged (not valid JSON: {exc}); {damage_fix(path)}") from None


def damage_fix(path) -> str:
    """What to do about a damaged file, by what it is and where it lives (the store knows its names)."""
    path = Path(path)
    name, folder = path.name, path.parent
    if folder.name == "snapshots":
        name, folder = f"snapshots/{name}", folder.parent
    if _inside(path, shipped_dir()):
        return f"a shipped file is never rewritten: {shipped_restore(path)}"
    kind = folder.parent.name
    run = "rerun the command that trained it (rnnviz train/grid with the same options)"
    if kind == "runs" or ((folder / "config.json").is_file() and name != "config.json"):
        if name == "checkpoint.pt":
            return f"delete it and {run}: the run then restarts from step 0 (its best.pt and history are rewritten)"
        if name in ("metrics.json", "history.json"):
            return (f"delete it{' and metrics.json' if name == 'history.json' else ''} and {run}: the run resumes "
                    "from checkpoint.pt, its last good checkpoint, and rewrites it")
        if name == "test_probs.npy":
            return "delete it: the next read recomputes it from the run's best.pt"
        if name == SNAPSHOT_KL_FILE:
            return "delete it: `rnnviz runs ship` recomputes it from the run's weight snapshots"
        return f"delete the run folder {folder} and {run}"
    if kind == "baselines":
        return f"delete the folder {folder} and rerun the command that made it (rnnviz ngram/nnn, or notebook 03)"
    if kind in ("activations", "shipped-cache"):
        return f"delete the folder {folder}: it is a cache, recomputed on the next read"
    return "delete it and rerun the command that wrote it"


def shipped_restore(path) -> str:
    """How to get a damaged shipped file back: from git for this checkout's data/runs."""
    path = Path(path).resolve()
    if path.is_relative_to(REPO / "data" / "runs"):
        return (f"restore it with git checkout -- {path.relative_to(REPO)} (in {REPO}), then check every shipped "
                "file with rnnviz runs verify")
    return f"restore {path.name} from where {path.parent.parent} came from, then check them all with rnnviz runs verify"


def _first_sentence(text: str, n: int = 160) -> str:
    """The first line (and sentence) of an exception's text, at most ``n`` characters."""
    line = (str(text).strip().splitlines() or [""])[0]
    return line.split(". ", 1)[0][:n]


def load_npy(path) -> np.ndarray:
    """``np.load`` without pickles; a truncated or corrupt file is a one-line RnnvizError naming it."""
    from rnnviz_lib.errors import RnnvizError

    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        why = _first_sentence(exc) or type(exc).__name__
        raise RnnvizError(f"{path} is damaged or truncated ({why}); {damage_fix(path)}") from None


def load_torch(path, map_location="cpu") -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain data only. A file that would
    unpickle anything else is refused, never executed; a truncated or corrupt file is a one-line
    RnnvizError naming it. Both say what to do."""
    import pickle

    import torch

    from rnnviz_lib.errors import RnnvizError

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise RnnvizError(f"{path} holds pickled objects other than tensors and plain data, so it was refused (not "
                          "loaded, nothing in it ran); delete it unless you trust where it came from") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as exc:
        import zipfile

        why = _first_sentence(exc) or type(exc).__name__
        if path.is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip; a cut one has no end record
            why = f"not a complete torch zip archive, {path.stat().st_size:,} bytes: {why}"
        raise RnnvizError(f"{path} is damaged or truncated ({why}); {damage_fix(path)}") from None


def atomic_save_npy(path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def _sidecar(name: str, caption: str, notebook: str | None, paths: dict, **extra) -> dict:
    """The JSON sidecar of a saved table or figure: its name, caption, notebook (default
    ``$RNNVIZ_NOTEBOOK``), the names of its files by format, and ``extra``."""
    return {"name": name, "caption": caption, "notebook": notebook or os.environ.get("RNNVIZ_NOTEBOOK", ""),
            "files": {k: p.name for k, p in paths.items()}, **extra}


def _folder(name: str, doc: str) -> property:
    """A read-only ``Store`` property: the folder ``name`` under the store's root."""
    return property(lambda store: store.root / name, doc=doc)


class Store:
    """Paths of every artifact, derived from configs, and the shipped runs read beside them.

    Parameters
    ----------
    root : the store's folder (default: the project root, ``$RNNVIZ_HOME`` or the working directory)
    shipped : where shipped runs are read from: None (default) this checkout's ``data/runs``
        (``shipped_dir()``); False none, so everything is trained into this store (``rnnviz grid
        --retrain``, a rehearsal); or a folder
    """

    def __init__(self, root: str | os.PathLike | None = None, shipped: bool | str | os.PathLike | None = None):
        self.root = Path(root).resolve() if root is not None else project_root()
        if shipped is None or shipped is True:
            self.shipped_root = shipped_dir()
        elif shipped is False:
            self.shipped_root = None
        else:
            from rnnviz_lib.errors import RnnvizError

            if not Path(shipped).expanduser().is_dir():
                raise RnnvizError(f"shipped runs folder {shipped} does not exist; pass a folder of shipped runs, "
                                  "or shipped=False to read none")
            self.shipped_root = Path(shipped).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}, shipped={None if self.shipped_root is None else str(self.shipped_root)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Store) and (self.root, self.shipped_root) == (other.root, other.shipped_root)

    def __hash__(self) -> int:
        return hash((self.root, self.shipped_root))

    @classmethod
    def for_profile(cls, profile, root: str | os.PathLike | None = None) -> "Store":
        """The store a profile's notebooks read: shipped runs off for a rehearsal (``rehearse: true``,
        whose every run is trained here), else the default."""
        from rnnviz_lib.config import load_profile

        prof = profile if isinstance(profile, dict) else load_profile(profile, Path(root) if root is not None else None)
        return cls(root, shipped=False) if prof.get("rehearse") else cls(root)

    # -- shipped runs --------------------------------------------------------------------
    def shipped_run(self, name: str) -> Path | None:
        """The finished shipped run called ``name`` (``<slug>-<config hash>``), or None."""
        d = self.shipped_root
        return d / name if d is not None and (d / name / METRICS_FILE).is_file() else None

    def shipped_baseline(self, name: str) -> Path | None:
        """The finished shipped baseline called ``name`` (``data/runs/baselines/<name>``), or None."""
        return self.shipped_run(f"{SHIPPED_BASELINES}/{name}")

    def shipped_screen(self, name: str) -> Path | None:
        """The shipped screening called ``name`` (``data/runs/screens/<name>``: the config and the
        validation history of a run's first epochs, no weights), or None."""
        d = self.shipped_root
        f = None if d is None else d / SHIPPED_SCREENS / name
        return f if f is not None and (f / HISTORY_FILE).is_file() else None

    def is_shipped(self, path) -> bool:
        """Is ``path`` one of this store's shipped runs, baselines or screenings (or inside one)?"""
        return _inside(path, self.shipped_root)

    # -- directories -------------------------------------------------------------------
    data_dir = _folder("data", "Corpora: downloads (raw/) and one folder per prepared corpus.")
    artifacts_dir = _folder("artifacts", "Runs, baselines and cached analysis results.")
    figures_dir = _folder("figures", "Figures, one folder per profile.")
    report_dir = _folder("report", "The HTML report: executed notebooks, their status and the pages.")

    def artifact_dir(self, kind: str, slug: str, config: Any, create: bool = True) -> Path:
        """``artifacts/<kind>/<slug>-<hash(config)>``."""
        d = self.artifacts_dir / kind / artifact_name(slug, config)
        if create:
            d.mkdir(parents=True, exist_ok=True)
        return d

    def run_dir(self, slug: str, identity: Any, create: bool = False) -> Path:
        """The directory of a training run: the store's own when it has finished there, else a
        shipped run of the same name, else the store's own (created if ``create``)."""
        own = self.artifact_dir("runs", slug, identity, create=False)
        if not (own / METRICS_FILE).is_file() and (ship := self.shipped_run(own.name)) is not None:
            return ship
        if create:
            own.mkdir(parents=True, exist_ok=True)
        return own

    def run_dirs(self, finished: bool = True, shipped: bool = True) -> list[Path]:
        """Every run directory of the store and (unless ``shipped`` is False) the shipped runs (a
        store copy hides a shipped run of the same name); only finished ones unless ``finished``
        is False. Hidden folders (a copy in progress) are none."""
        seen = {}
        ship = self.shipped_root if shipped else None
        for base in [self.artifacts_dir / "runs", *([ship] if ship is not None else [])]:
            for d in sorted(base.glob("*")) if base.is_dir() else []:
                if base == ship and d.name in (SHIPPED_BASELINES, SHIPPED_SCREENS):
                    continue  # shipped baselines and screenings (data/runs/baselines/, screens/) are not runs
                if d.is_dir() and not d.name.startswith(".") and d.name not in seen and (not finished or (d / METRICS_FILE).is_file()):
                    seen[d.name] = d
        return [seen[k] for k in sorted(seen)]

    def origin(self, run_dir) -> str:
        """``shipped`` for a shipped run, ``store`` for one trained into this store."""
        return "shipped" if self.is_shipped(run_dir) else "store"

    def cached_file(self, run_dir, name: str) -> Path:
        """Where a file recomputed for a run lives: in the run itself, or for a shipped run
        (never written to) under ``artifacts/shipped-cache/<run>-<sha256 of its weights>/``, so
        that a run shipped again under the same name with other weights is never read through
        the cache of the old ones."""
        run_dir = Path(run_dir)
        if self.is_shipped(run_dir):
            return self.artifacts_dir / "shipped-cache" / f"{run_dir.name}-{weights_digest(run_dir)}" / name
        return run_dir / name

    def tables_dir(self, profile: str) -> Path:
        return self.artifacts_dir / "tables" / profile

    # -- tables and figures ------------------------------------------------------------
    def save_table(self, df, name: str, profile: str, caption: str = "", notebook: str | None = None) -> dict:
        """Write a DataFrame as CSV, Markdown, HTML, LaTeX and a JSON sidecar; return the paths."""
        d = self.tables_dir(profile)
        stem = d / name
        paths = {
            "csv": atomic_write_text(stem.with_suffix(".csv"), df.to_csv()),
            "md": atomic_write_text(stem.with_suffix(".md"), df.to_markdown() + "\n"),
            "html": atomic_write_text(stem.with_suffix(".html"), df.to_html(border=0, classes="table", escape=True)),
            "tex": atomic_write_text(stem.with_suffix(".tex"), df.to_latex(escape=True)),
        }
        # index_levels: how many leading CSV columns load_table reads as the index
        meta = _sidecar(name, caption, notebook, paths, index_levels=df.index.nlevels)
        atomic_write_json(stem.with_suffix(".json"), meta)
        log.info("table %s written to %s", name, d)
        return {k: str(p) for k, p in paths.items()}

    def load_table(self, name: str, profile: str):
        """A table written by ``save_table`` (its CSV, index restored), or None when the profile
        has no table of that name. Column labels come back as strings."""
        import pandas as pd

        stem = self.tables_dir(profile) / name
        if not stem.with_suffix(".json").is_file() or not stem.with_suffix(".csv").is_file():
            return None
        meta = read_json(stem.with_suffix(".json"))
        levels = int(meta.get("index_levels", 1)) if isinstance(meta, dict) else 1
        return pd.read_csv(stem.with_suffix(".csv"), index_col=list(range(levels)))

    def save_figure(self, fig, name: str, profile: str, caption: str = "", notebook: str | None = None) -> dict:
        """Save a matplotlib figure as PNG and PDF (atomically) with a JSON caption sidecar."""
        d = self.figures_dir / profile
        paths = {}
        for ext in ("png", "pdf"):
            target = d / f"{name}.{ext}"
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
            paths[ext] = target
        atomic_write_json(d / f"{name}.json", _sidecar(name, caption, notebook, paths))
        log.info("figure %s written to %s", name, d)
        return {k: str(p) for k, p in paths.items()}


def _holds(name: str, doc: str) -> property:
    """A read-only ``RunFiles`` property (bool): does the run's folder hold the file ``name``?"""
    return property(lambda run: (run.path / name).is_file(), doc=doc)


def _read_list(f: Path) -> list:
    """The JSON list in ``f``, or [] when the file does not exist."""
    return read_json(f) if f.is_file() else []


class RunFiles:
    """One training run folder, read: the only code outside the writer (``train.train_group``)
    that knows a run's file names. A shipped run reads the same; what is recomputed for it (its
    test probabilities) lives under ``Store.cached_file``. This class reads files only;
    ``runs.Run`` adds what needs the models (``model()``, ``probs()``).

    Attributes
    ----------
    path : Path of the folder;  store : the Store it was read through
    profile : the profile whose runs it was listed as, or None when opened by path
    """

    def __init__(self, path, store: Store | None = None, profile: str | None = None):
        self.path = Path(path)
        self.store = store or Store()
        self.profile = profile

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, profile={self.profile!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def origin(self) -> str:
        """``shipped`` or ``store``."""
        return self.store.origin(self.path)

    started = _holds(CONFIG_FILE, "Has training written its config (the folder is a run)?")
    finished = _holds(METRICS_FILE, "Has training written the test metrics (the run is done)?")
    diverged = _holds(DIVERGED_FILE, "Did training stop on a loss that was not finite?")
    has_checkpoint = _holds(CHECKPOINT_FILE, "Is there a latest checkpoint to resume from?")

    def file(self, name: str) -> Path:
        """The path of one of the run's files (a ``*_FILE`` name of this module)."""
        return self.path / name

    @property
    def config(self) -> dict:
        """The run's config as written (TrainConfig fields, identity_hash, K, hidden_resolved,
        params, hparams)."""
        return self._required_json(CONFIG_FILE, self.started, f"{self.path} is not a run directory (no "
                                   f"{CONFIG_FILE}); pass a folder under artifacts/runs/")

    @property
    def metrics(self) -> dict:
        """Test loss (nats, bits), bootstrap stds, best val, params, hidden, timing of a finished run."""
        return self._required_json(METRICS_FILE, self.finished, f"{self.path / METRICS_FILE} does not exist; the "
                                   "run has not finished (rerun its train command)")

    def _required_json(self, name: str, present: bool, missing: str) -> dict:
        """The run's JSON file ``name``; a RnnvizError saying ``missing`` unless ``present``."""
        from rnnviz_lib.errors import RnnvizError

        if not present:
            raise RnnvizError(missing)
        return read_json(self.path / name)

    @property
    def history(self) -> list[dict]:
        """One row per evaluation (step, epoch, train_loss, val_loss, lr, time, symbols_per_s); [] if none."""
        return _read_list(self.path / HISTORY_FILE)

    @property
    def snapshots(self) -> list[dict]:
        """[{"file", "step"}] of the run's weight snapshots, in step order."""
        return _read_list(self.path / SNAPSHOTS_DIR / "index.json")

    def weights_file(self, which: str = "best") -> Path:
        """``best`` (best validation), ``last`` (the latest checkpoint) or a snapshot's file name."""
        if which == "best":
            return self.path / BEST_FILE
        if which == "last":
            return self.path / CHECKPOINT_FILE
        return self.path / SNAPSHOTS_DIR / which

    def weights(self, which: str = "best") -> dict:
        """The saved dict of ``weights_file(which)`` (tensors and plain data only)."""
        from rnnviz_lib.errors import RnnvizError

        f = self.weights_file(which)
        if not f.is_file():
            raise RnnvizError(f"{f} does not exist; train the run first (rnnviz train ...) or pick another checkpoint")
        return load_torch(f)

    @property
    def probs_file(self) -> Path:
        """Where the test probabilities are: in the run, or the store's cache for a shipped run."""
        own = self.path / PROBS_FILE
        return own if own.is_file() else self.store.cached_file(self.path, PROBS_FILE)
