"""The one place that turns configurations into file paths, and writes files atomically.

Layout under the project root (``$RNNVIZ_HOME`` or the working directory)::

    data/                 raw and prepared corpora (see data.py)
    artifacts/<kind>/<slug>-<hash>/   models, probabilities, analyses, keyed by config
    artifacts/tables/<profile>/       tables (csv, md, html, tex, json)
    figures/<profile>/                figures (png, pdf) with a json caption sidecar
    report/                           executed notebooks and index.html
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
    return json.loads(Path(path).read_text())


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
        }
        atomic_write_json(stem.with_suffix(".json"), meta)
        log.info("table %s written to %s", name, d)
        return {k: str(p) for k, p in paths.items()}

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
