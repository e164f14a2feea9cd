"""Raw files a corpus is made from: where they are looked for, how they are read and downloaded."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_path

log = logging.getLogger(__name__)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------
# Locating, reading and downloading
# ----------------------------------------------------------------------------------------
def data_dirs(data_dir: str | os.PathLike | None, store: Store) -> list[Path]:
    """Directories searched for raw corpora, most specific first."""
    dirs = []
    for d in (data_dir, os.environ.get("RNNVIZ_DATA_DIR")):
        if d:
            p = Path(d).expanduser()
            if p.exists() and not p.is_dir():
                raise RnnvizError(f"data directory {p} is a file, not a directory; pass the folder that holds it")
            dirs.append(p)
    dirs.append(store.data_dir)
    return dirs


def read_file(path: Path) -> bytes:
    if path.is_dir():
        raise RnnvizError(f"{path} is a directory, not a text file; pass the path of a file")
    try:
        return path.read_bytes()
    except PermissionError:
        raise RnnvizError(f"cannot read {path}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise RnnvizError(f"cannot read {path}: {exc.strerror}") from None


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically: an interrupted transfer leaves no file behind."""
    log.info("downloading %s to %s", url, dest)
    try:
        with atomic_path(dest) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                expected = resp.headers.get("Content-Length")
                n = 0
                for chunk in iter(lambda: resp.read(1 << 16), b""):
                    out.write(chunk)
                    n += len(chunk)
                if expected is not None and n != int(expected):
                    raise RnnvizError(
                        f"download of {url} was interrupted after {n} of {expected} bytes; nothing was saved. "
                        "Run the command again"
                    )
    except RnnvizError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RnnvizError(f"could not download {url}: {reason}; nothing was saved") from None
    return dest
