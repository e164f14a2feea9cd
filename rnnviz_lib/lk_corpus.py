"""The Linux-kernel corpus (LK): built from a kernel source tarball or the Debian ``linux-source-6.1``
package by the recipe of PAPER.md §1 (the ``kernel/`` subtree's C files, shuffled with a fixed seed,
concatenated and cut to the paper's size), with a manifest; the pinned reference package is fetched
with ``apt-get download`` and checked by its sha256.
"""

from __future__ import annotations

import io
import logging
import os
import random
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

import numpy as np

from rnnviz_lib import paper
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.sources import data_dirs, download, read_file, sha256_bytes
from rnnviz_lib.store import Store, atomic_write_bytes, atomic_write_json, read_json, sha256_file

log = logging.getLogger(__name__)

LK_BYTES = paper.DATA["lk"]["symbols"]  # the paper's LK size (PAPER.md §1)
LK_SEED = 0
LK_SUBTREE = "kernel/"
LK_DEBIAN_PACKAGE = "linux-source-6.1"
# The reference LK corpus: one kernel source, pinned (README "Data"). Every LK number of the
# project (Table 1, Table 2, the figures, the shipped runs) was computed on this corpus.
LK_REFERENCE_VERSION = "6.1.192-2"
LK_REFERENCE_DEB = f"{LK_DEBIAN_PACKAGE}_{LK_REFERENCE_VERSION}_all.deb"
LK_REFERENCE_DEB_SHA256 = "ae95fe63d4c553f8d0e6c86cb1ab566f3894a43743eb19ab585cd97d82f26514"
LK_REFERENCE_SHA256 = "dfd3f2619810c54743f6a62bf5e10f89e2026fda34daff86c112e18019213315"
LK_REFERENCE_SNAPSHOT = f"https://snapshot.debian.org/package/linux/{LK_REFERENCE_VERSION}/"
LK_SOURCE_GLOBS = ("linux-source-*.tar.xz", "linux-*.tar.xz", "linux-*.tar.gz", "linux-source-*.deb")


def _find_kernel_source(kernel_source, dirs: list[Path], store: Store | None = None, fetch: bool = False) -> str | None:
    """The kernel source to build LK from: the one named (argument, ``$RNNVIZ_KERNEL_SOURCE``),
    else the reference package found in a data directory, else (``fetch``) the reference package
    downloaded with apt-get, else any other kernel source found (its corpus is then flagged)."""
    if kernel_source:
        return str(kernel_source)
    if os.environ.get("RNNVIZ_KERNEL_SOURCE"):
        return os.environ["RNNVIZ_KERNEL_SOURCE"]
    for d in dirs:  # the reference package first, wherever it is
        if (d / LK_REFERENCE_DEB).is_file():
            return str(d / LK_REFERENCE_DEB)
    if fetch and store is not None and shutil.which("apt-get"):
        try:
            return str(fetch_kernel_source(store.data_dir))
        except RnnvizError as exc:
            log.warning("%s", exc)
    for d in dirs:
        for pattern in LK_SOURCE_GLOBS:
            found = sorted(d.glob(pattern))
            if found:
                return str(found[-1])
    return None


def _apt_download(spec: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["apt-get", "download", spec], cwd=cwd, capture_output=True, text=True, timeout=1800)


def fetch_kernel_source(dest_dir: Path) -> Path:
    """Download the reference kernel source (``apt-get download linux-source-6.1=<version>``) into
    ``dest_dir`` and verify its sha256. Runs ``apt-get update`` first when apt does not know
    that version yet. Returns the path of the ``.deb``."""
    dest_dir = Path(dest_dir)
    target = dest_dir / LK_REFERENCE_DEB
    if target.is_file() and sha256_file(target) == LK_REFERENCE_DEB_SHA256:
        return target
    how = (f"download {LK_REFERENCE_DEB} from {LK_REFERENCE_SNAPSHOT} and pass it with --kernel-source PATH "
           "(or put it in the data directory)")
    if not shutil.which("apt-get"):
        raise RnnvizError(f"the LK corpus needs {LK_DEBIAN_PACKAGE} {LK_REFERENCE_VERSION} and apt-get is not "
                          f"available here; {how}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    spec = f"{LK_DEBIAN_PACKAGE}={LK_REFERENCE_VERSION}"
    log.info("fetching %s with apt-get download", spec)
    res = _apt_download(spec, dest_dir)
    if res.returncode != 0:  # apt's package list may predate that version: update it once
        log.info("apt-get download failed (%s); running apt-get update", (res.stderr.strip().splitlines() or ["?"])[-1])
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=1800)
        res = _apt_download(spec, dest_dir)
    if res.returncode != 0 or not target.is_file():
        last = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise RnnvizError(f"apt-get download {spec} failed ({last}); {how}")
    digest = sha256_file(target)
    if digest != LK_REFERENCE_DEB_SHA256:
        target.unlink(missing_ok=True)
        raise RnnvizError(f"{LK_REFERENCE_DEB} from apt has sha256 {digest}, expected {LK_REFERENCE_DEB_SHA256}; "
                          f"nothing was kept. {how[0].upper() + how[1:]}")
    return target


def _source_version(path: Path, tarball: str) -> str:
    """The kernel source's version as its file names say (``6.1.192-2`` for the Debian package)."""
    m = re.match(rf"{re.escape(LK_DEBIAN_PACKAGE)}_([^_]+)_all\.deb$", path.name)
    if m:
        return m.group(1)
    for name in (path.name, tarball):
        m = re.match(r"linux-(?:source-)?([0-9][^/]*?)\.tar\.(?:xz|gz|bz2)$", name)
        if m:
            return m.group(1)
    return path.name


def lk_reference_warning(manifest: dict) -> str:
    """One line saying that an LK corpus is not the reference one ("" when it is)."""
    if not manifest or manifest.get("sha256") in (None, LK_REFERENCE_SHA256):
        return ""
    return (f"LK corpus is not the reference: built from {manifest.get('source', '?')} (version "
            f"{manifest.get('kernel_version', '?')}), sha256 {manifest.get('sha256')}, not {LK_REFERENCE_SHA256[:16]}… "
            f"of {LK_DEBIAN_PACKAGE} {LK_REFERENCE_VERSION}; LK numbers are not comparable with the reference's")


def _iter_deb_data(fh) -> Iterator[tuple[str, io.BufferedIOBase]]:
    """Yield (name, stream) of a Debian package's ``data.tar.*`` member (ar archive format)."""
    if fh.read(8) != b"!<arch>\n":
        raise RnnvizError("not a Debian package (bad ar header); pass a kernel .tar.xz or the linux-source .deb")
    while True:
        header = fh.read(60)
        if len(header) < 60:
            return
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        if name.startswith("data.tar"):
            yield name, fh
            return
        fh.seek(size + (size & 1), os.SEEK_CUR)


def _kernel_members(tar: tarfile.TarFile, subtree: str) -> dict[str, bytes]:
    """{member path: bytes} of every regular .c/.h file under ``<top>/<subtree>`` of a kernel tree."""
    files = {}
    for m in tar:
        if not m.isfile():
            continue
        parts = m.name.split("/", 1)
        rel = parts[1] if len(parts) == 2 else parts[0]
        if rel.startswith(subtree) and rel.endswith((".c", ".h")):
            files[m.name] = tar.extractfile(m).read()
    return files


def _read_kernel_tree(path: Path, subtree: str) -> tuple[dict[str, bytes], str]:
    """Read the kernel .c/.h files from a tarball or the linux-source .deb; return them and the version."""
    if path.suffix == ".deb":
        with open(path, "rb") as fh:
            for _, stream in _iter_deb_data(fh):
                with tarfile.open(fileobj=stream, mode="r|*") as outer:
                    for m in outer:
                        if m.isfile() and re.search(r"linux-source-[^/]*\.tar\.(xz|gz|bz2)$", m.name):
                            with tarfile.open(fileobj=outer.extractfile(m), mode="r|*") as inner:
                                return _kernel_members(inner, subtree), Path(m.name).name
        raise RnnvizError(f"{path} holds no linux-source tarball; pass the {LK_DEBIAN_PACKAGE} package or a kernel tarball")
    try:
        with tarfile.open(path, mode="r|*") as tar:
            return _kernel_members(tar, subtree), path.name
    except tarfile.TarError as exc:
        raise RnnvizError(f"{path} is not a readable kernel source tarball: {exc}") from None


def build_lk(
    source: str | os.PathLike,
    out_dir: Path,
    seed: int = LK_SEED,
    n_bytes: int = LK_BYTES,
    subtree: str = LK_SUBTREE,
) -> dict:
    """Build the LK corpus from a kernel source tarball (path or URL) or the linux-source .deb.

    Recipe (PAPER.md §1): every regular ``.c``/``.h`` member under the top-level ``kernel/``,
    member paths sorted, shuffled with ``random.Random(seed)``, bytes concatenated with no
    separator, cut at ``n_bytes``. Writes ``lk.txt`` and ``manifest.json`` into ``out_dir``
    atomically and returns the manifest.
    """
    source = str(source)
    if re.match(r"^https?://", source):
        dest = out_dir / "source" / Path(source).name
        if not dest.exists():
            download(source, dest, timeout=300)
        path = dest
    else:
        path = Path(source).expanduser()
    if not path.exists():
        raise RnnvizError(f"kernel source {path} does not exist; pass a kernel .tar.xz or the {LK_DEBIAN_PACKAGE} .deb")
    if path.is_dir():
        raise RnnvizError(f"kernel source {path} is a directory; pass the tarball (.tar.xz) or the .deb itself")
    log.info("building LK corpus from %s", path)
    files, version = _read_kernel_tree(path, subtree)
    if not files:
        raise RnnvizError(f"{path} has no .c/.h files under {subtree}; is it a Linux kernel source tarball?")
    names = sorted(files)
    random.Random(seed).shuffle(names)
    chunks, total, used = [], 0, 0
    for name in names:
        chunks.append(files[name])
        total += len(files[name])
        used += 1
        if total >= n_bytes:
            break
    if total < n_bytes:
        raise RnnvizError(
            f"{path} holds only {total:,} bytes of .c/.h under {subtree}, fewer than the {n_bytes:,} the corpus needs"
        )
    corpus = b"".join(chunks)[:n_bytes]
    manifest = {
        "dataset": "lk",
        "source": path.name,
        "source_sha256": sha256_file(path),
        "kernel_tarball": version,
        "subtree": subtree,
        "seed": seed,
        "files_available": len(names),
        "files_used": used,
        "symbols": len(corpus),
        "sha256": sha256_bytes(corpus),
        "vocab_size": int(np.unique(np.frombuffer(corpus, dtype=np.uint8)).size),
        "recipe": "sorted member paths, random.Random(seed).shuffle, bytes concatenated, cut at n_bytes",
        "kernel_version": _source_version(path, version),
        "reference_version": LK_REFERENCE_VERSION,
        "reference_sha256": LK_REFERENCE_SHA256,
    }
    manifest["reference"] = manifest["sha256"] == LK_REFERENCE_SHA256
    manifest["warning"] = lk_reference_warning(manifest)
    atomic_write_bytes(out_dir / "lk.txt", corpus)
    atomic_write_json(out_dir / "manifest.json", manifest)
    log.info("LK corpus: %d files, %d bytes, sha256 %s", used, len(corpus), manifest["sha256"])
    if manifest["warning"]:
        log.warning("%s", manifest["warning"])
    return manifest


def load_lk(data_dir, store: Store, kernel_source, rebuild: bool = False, fetch: bool = False) -> tuple[bytes, str, dict]:
    dirs = data_dirs(data_dir, store)
    out_dir = store.data_dir / "lk"
    for d in dirs[:-1]:
        if (d / "lk.txt").is_file() and not kernel_source and not rebuild:
            man = d / "manifest.json"
            return read_file(d / "lk.txt"), str(d / "lk.txt"), read_json(man) if man.is_file() else {}
    if (out_dir / "lk.txt").is_file() and (out_dir / "manifest.json").is_file() and not kernel_source and not rebuild:
        return read_file(out_dir / "lk.txt"), str(out_dir / "lk.txt"), read_json(out_dir / "manifest.json")
    src = _find_kernel_source(kernel_source, dirs, store, fetch)
    if src is None:
        raise RnnvizError(
            "LK corpus not built and no kernel source found: run `apt-get download "
            f"{LK_DEBIAN_PACKAGE}={LK_REFERENCE_VERSION}` (or `rnnviz data prepare --dataset lk`, which fetches it) "
            "and pass it with --kernel-source PATH (or put it in the data directory)"
        )
    manifest = build_lk(src, out_dir)
    return read_file(out_dir / "lk.txt"), str(out_dir / "lk.txt"), manifest
