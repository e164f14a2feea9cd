"""The one place that turns configurations into file paths, and writes files atomically.

Layout under the project root (``$RNNVIZ_HOME`` or the working directory)::

    data/                 raw and prepared corpora (see data.py)
    artifacts/<kind>/<slug>-<hash>/   models, probabilities, analyses, keyed by config
    artifacts/tables/<profile>/       tables (csv, md, html, tex, json)
    figures/<profile>/                figures (png, pdf) with a json caption sidecar
    report/                           executed notebooks and index.html

Shipped runs. Finished runs committed with the code live in ``data/runs/`` of the repository
(``shipped_dir()``; ``$RNNVIZ_SHIPPED_RUNS`` names another folder, ``off`` ignores them). They are
read like the store's own: ``Store.run_dir`` returns a shipped run of the same name (slug and
config hash) when the store has no finished copy, and nothing ever writes into them. A
store copy that finishes (``rnnviz grid --retrain``) takes precedence; deleting it brings the
shipped run back. Per-symbol arrays are not shipped: ``cached_file`` keeps what is recomputed
from a shipped run (its test probabilities) under ``artifacts/shipped-cache/<run>/``.
"""

from __future__ import annotations

import contextlib
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


def shipped_dir() -> Path | None:
    """The folder of shipped runs (``data/runs`` of this checkout), or None when there is none
    or ``$RNNVIZ_SHIPPED_RUNS`` is ``off``."""
    env = os.environ.get(SHIPPED_ENV, "")
    if env.lower() in ("off", "0", "no", "false"):
        return None
    d = Path(env).expanduser() if env else REPO / "data" / "runs"
    return d.resolve() if d.is_dir() else None


def shipped_run(name: str) -> Path | None:
    """The finished shipped run called ``name`` (``<slug>-<config hash>``), or None."""
    d = shipped_dir()
    return d / name if d is not None and (d / name / "metrics.json").is_file() else None


def is_shipped(path) -> bool:
    """Is ``path`` a shipped run (or inside one)?"""
    d = shipped_dir()
    return d is not None and Path(path).resolve().is_relative_to(d)

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
    if is_shipped(path):
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


class Store:
    """Paths of every artifact, derived from configs. ``root`` defaults to the project root."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root).resolve() if root is not None else project_root()

    # -- directories -------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

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
        if not (own / "metrics.json").is_file() and (ship := shipped_run(own.name)) is not None:
            return ship
        if create:
            own.mkdir(parents=True, exist_ok=True)
        return own

    def run_dirs(self, finished: bool = True) -> list[Path]:
        """Every run directory of the store and the shipped runs (a store copy hides a shipped
        run of the same name); only finished ones unless ``finished`` is False."""
        seen = {}
        ship = shipped_dir()
        for base in [self.artifacts_dir / "runs", *([ship] if ship is not None else [])]:
            for d in sorted(base.glob("*")) if base.is_dir() else []:
                if d.is_dir() and d.name not in seen and (not finished or (d / "metrics.json").is_file()):
                    seen[d.name] = d
        return [seen[k] for k in sorted(seen)]

    def origin(self, run_dir) -> str:
        """``shipped`` for a shipped run, ``store`` for one trained into this store."""
        return "shipped" if is_shipped(run_dir) else "store"

    def cached_file(self, run_dir, name: str) -> Path:
        """Where a file recomputed for a run lives: in the run itself, or for a shipped run
        (never written to) under ``artifacts/shipped-cache/<run>/``."""
        run_dir = Path(run_dir)
        if is_shipped(run_dir):
            return self.artifacts_dir / "shipped-cache" / run_dir.name / name
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
        meta = {
            "name": name,
            "caption": caption,
            "notebook": notebook or os.environ.get("RNNVIZ_NOTEBOOK", ""),
            "files": {k: p.name for k, p in paths.items()},
            "index_levels": df.index.nlevels,  # how many leading CSV columns load_table reads as the index
        }
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
        meta = {
            "name": name,
            "caption": caption,
            "notebook": notebook or os.environ.get("RNNVIZ_NOTEBOOK", ""),
            "files": {k: p.name for k, p in paths.items()},
        }
        atomic_write_json(d / f"{name}.json", meta)
        log.info("figure %s written to %s", name, d)
        return {k: str(p) for k, p in paths.items()}
