"""Corpora as bytes: fetch or build, verify, vocabulary, and the paper's char-rnn splits.

Symbols are bytes (PAPER.md §1): War and Peace is read in binary mode, which gives the
paper's 3,258,246 symbols and 87-symbol vocabulary. A corpus is one of

* ``wp``  War and Peace, downloaded from the char-rnn data page (checksum-verified) or found
  in a data directory (``--data-dir`` / ``$RNNVIZ_DATA_DIR``);
* ``lk``  a Linux-kernel corpus built from a kernel source tarball (or the Debian
  ``linux-source-6.1`` package) by the recipe in PAPER.md §1, with a manifest;
* any path to a file, taken byte for byte.

Splits follow char-rnn's ``CharSplitLMMinibatchLoader``: cut to a multiple of B·S, view as B
streams, cut each stream into S-long chunks and give whole batch indices to train/val/test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import math
import os
import random
import re
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import numpy as np

from rnnviz_lib import paper
from rnnviz_lib.config import SPLIT_MODES, is_named_dataset  # noqa: F401 (data's API)
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_path, atomic_write_bytes, atomic_write_json, read_json, sha256_file

log = logging.getLogger(__name__)

WP_SHA256 = "fb66ba999dafe24017cdd59e04c56d385a9c8466993d374fd4c6f08b2142985e"
WP_URL = "https://cs.stanford.edu/people/karpathy/char-rnn/warpeace_input.txt"
WP_FILENAMES = ("war_and_peace.txt", "warpeace_input.txt")
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

# Split fractions of the paper (PAPER.md §1); user files get WP's.
FRACTIONS = {name: facts["fractions"] for name, facts in paper.DATA.items()}
DEFAULT_FRACTIONS = FRACTIONS["wp"]


# ----------------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Corpus:
    """A byte corpus and its vocabulary.

    Attributes
    ----------
    name : str
        ``wp``, ``lk`` or ``file-<stem>-<sha8>`` for a user file.
    data : ndarray, shape (N,), uint8
        The raw bytes.
    vocab : ndarray, shape (K,), uint8
        The distinct byte values of the whole corpus, sorted; symbol id k is byte ``vocab[k]``.
    """

    name: str
    data: np.ndarray
    vocab: np.ndarray
    sha256: str
    source: str
    checksum_ok: bool | None = None  # None: no reference checksum exists
    fractions: tuple = DEFAULT_FRACTIONS
    manifest: dict = dataclasses.field(default_factory=dict)

    @property
    def K(self) -> int:
        return int(self.vocab.size)

    def __len__(self) -> int:
        return int(self.data.size)

    @property
    def ids(self) -> np.ndarray:
        """(N,) uint8 symbol ids."""
        return self._lut()[self.data]

    def _lut(self) -> np.ndarray:
        lut = np.zeros(256, dtype=np.uint8)
        lut[self.vocab] = np.arange(self.K, dtype=np.uint8)
        return lut

    def encode(self, text: bytes | str) -> np.ndarray:
        """Bytes (or str, UTF-8 encoded) to symbol ids; bytes outside the vocabulary are an error."""
        raw = np.frombuffer(text.encode("utf-8") if isinstance(text, str) else bytes(text), dtype=np.uint8)
        known = np.zeros(256, dtype=bool)
        known[self.vocab] = True
        if raw.size and not known[raw].all():
            bad = sorted(set(raw[~known[raw]].tolist()))
            raise RnnvizError(
                f"text holds bytes {bad} that are not in the {self.name} vocabulary; "
                "remove them or use a model trained on a corpus that has them"
            )
        return self._lut()[raw]

    def decode(self, ids) -> bytes:
        return self.vocab[np.asarray(ids, dtype=np.int64)].tobytes()

    def symbol_label(self, k: int) -> str:
        """A printable name for symbol id k (space, newline and CR spelled out)."""
        return byte_label(int(self.vocab[k]))


def byte_label(b: int) -> str:
    names = {32: "␣", 10: "\\n", 13: "\\r", 9: "\\t"}
    if b in names:
        return names[b]
    if 33 <= b < 127:
        return chr(b)
    return f"0x{b:02x}"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------
# Locating, fetching and building corpora
# ----------------------------------------------------------------------------------------
def _data_dirs(data_dir: str | os.PathLike | None, store: Store) -> list[Path]:
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


def _read_file(path: Path) -> bytes:
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


def _find_wp(dirs: list[Path]) -> Path | None:
    for d in dirs:
        for name in WP_FILENAMES:
            if (d / name).is_file():
                return d / name
    return None


def _load_wp(data_dir, store: Store, allow_checksum_mismatch: bool, download_ok: bool) -> tuple[bytes, str, bool]:
    dirs = _data_dirs(data_dir, store)
    path = _find_wp(dirs)
    if path is None:
        if not download_ok:
            raise RnnvizError(
                "War and Peace not found: put war_and_peace.txt in a folder and pass --data-dir (or set "
                f"RNNVIZ_DATA_DIR), or run `rnnviz data prepare --dataset wp` to download it from {WP_URL}"
            )
        url = os.environ.get("RNNVIZ_WP_URL", WP_URL)
        dest = store.data_dir / "raw" / WP_FILENAMES[1]
        try:
            download(url, dest)
        except RnnvizError as exc:
            raise RnnvizError(
                f"War and Peace not found in {', '.join(map(str, dirs))} and {exc}. Put war_and_peace.txt "
                "(sha256 fb66ba99…2985e) in a folder and pass --data-dir or set RNNVIZ_DATA_DIR"
            ) from None
        path = dest
        data = _read_file(path)
        if sha256_bytes(data) != WP_SHA256 and not allow_checksum_mismatch:
            path.unlink()
            raise RnnvizError(
                f"downloaded War and Peace has sha256 {sha256_bytes(data)}, expected {WP_SHA256}; the file was "
                "removed. Pass --allow-checksum-mismatch to use it anyway"
            )
    data = _read_file(path)
    digest = sha256_bytes(data)
    ok = digest == WP_SHA256
    if not ok and not allow_checksum_mismatch:
        raise RnnvizError(
            f"{path} has sha256 {digest}, not War and Peace's {WP_SHA256}; the paper's numbers need the exact "
            "file. Use the right file, or pass --allow-checksum-mismatch to go on (the report will say so)"
        )
    if not ok:
        log.warning("War and Peace checksum mismatch (%s); going on as asked", digest)
    return data, str(path), ok


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


def _load_lk(data_dir, store: Store, kernel_source, rebuild: bool = False, fetch: bool = False) -> tuple[bytes, str, dict]:
    dirs = _data_dirs(data_dir, store)
    out_dir = store.data_dir / "lk"
    for d in dirs[:-1]:
        if (d / "lk.txt").is_file() and not kernel_source and not rebuild:
            man = d / "manifest.json"
            return _read_file(d / "lk.txt"), str(d / "lk.txt"), read_json(man) if man.is_file() else {}
    if (out_dir / "lk.txt").is_file() and (out_dir / "manifest.json").is_file() and not kernel_source and not rebuild:
        return _read_file(out_dir / "lk.txt"), str(out_dir / "lk.txt"), read_json(out_dir / "manifest.json")
    src = _find_kernel_source(kernel_source, dirs, store, fetch)
    if src is None:
        raise RnnvizError(
            "LK corpus not built and no kernel source found: run `apt-get download "
            f"{LK_DEBIAN_PACKAGE}={LK_REFERENCE_VERSION}` (or `rnnviz data prepare --dataset lk`, which fetches it) "
            "and pass it with --kernel-source PATH (or put it in the data directory)"
        )
    manifest = build_lk(src, out_dir)
    return _read_file(out_dir / "lk.txt"), str(out_dir / "lk.txt"), manifest


def load_corpus(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    allow_checksum_mismatch: bool = False,
    kernel_source: str | None = None,
    store: Store | None = None,
    download_ok: bool = True,
) -> Corpus:
    """Load (fetching or building if needed) ``wp``, ``lk`` or a user file, verified."""
    store = store or Store()
    dataset = str(dataset)
    if dataset == "wp":
        data, source, ok = _load_wp(data_dir, store, allow_checksum_mismatch, download_ok)
        name, manifest = "wp", {"dataset": "wp", "source": source, "reference_sha256": WP_SHA256}
    elif dataset == "lk":
        data, source, manifest = _load_lk(data_dir, store, kernel_source)
        name, digest = "lk", sha256_bytes(data)
        ok = digest == LK_REFERENCE_SHA256  # False: a corpus of another kernel source (warned)
        if manifest.get("sha256") and manifest["sha256"] != digest:
            ok = False
            if not allow_checksum_mismatch:
                raise RnnvizError(
                    f"{source} does not match the sha256 in its manifest; rebuild it with "
                    "`rnnviz data prepare --dataset lk --kernel-source PATH` or pass --allow-checksum-mismatch"
                )
        manifest = {**manifest, "reference": digest == LK_REFERENCE_SHA256,
                    "warning": lk_reference_warning({**manifest, "sha256": digest})}
    elif os.sep in dataset or "." in dataset or Path(dataset).exists():
        path = Path(dataset).expanduser()
        if not path.exists():
            raise RnnvizError(f"dataset file {path} does not exist; pass wp, lk or the path of a text file")
        data = _read_file(path)
        source, ok = str(path.resolve()), None
        name = f"file-{re.sub(r'[^a-z0-9]+', '-', path.stem.lower()).strip('-') or 'x'}-{sha256_bytes(data)[:8]}"
        manifest = {"dataset": "file", "source": source}
    else:
        raise RnnvizError(f"unknown dataset {dataset!r}: use wp, lk, or the path of a text file")
    if not data:
        raise RnnvizError(f"corpus {source} is empty; pass a file with text in it")
    arr = np.frombuffer(data, dtype=np.uint8)
    vocab = np.unique(arr)
    digest = digest if dataset == "lk" else sha256_bytes(data)
    manifest = {**manifest, "symbols": int(arr.size), "vocab_size": int(vocab.size), "sha256": digest, "checksum_ok": ok}
    return Corpus(
        name=name,
        data=arr,
        vocab=vocab,
        sha256=digest,
        source=source,
        checksum_ok=ok,
        fractions=FRACTIONS.get(dataset, DEFAULT_FRACTIONS),
        manifest=manifest,
    )


def load_available(datasets, data_dir=None, **kwargs) -> tuple[dict, dict]:
    """Load each dataset that can be had; return ({name: Corpus}, {name: why it could not})."""
    loaded, missing = {}, {}
    for name in datasets:
        try:
            loaded[name] = load_corpus(name, data_dir, **kwargs)
        except RnnvizError as exc:
            log.warning("dataset %s not available: %s", name, exc)
            missing[name] = str(exc)
    return loaded, missing


def symbol_counts(corpus: Corpus) -> np.ndarray:
    """(K,) occurrences of each symbol in the whole corpus."""
    return np.bincount(corpus.ids, minlength=corpus.K)


def prepare(dataset: str, data_dir=None, allow_checksum_mismatch=False, kernel_source=None, store=None) -> Path:
    """Fetch/build and verify a corpus; save its vocabulary and manifest under ``data/<name>/``."""
    store = store or Store()
    if dataset == "lk":  # an explicit source rebuilds; otherwise find, or fetch the reference, and build once
        _load_lk(data_dir, store, kernel_source, rebuild=bool(kernel_source), fetch=True)
    corpus = load_corpus(dataset, data_dir, allow_checksum_mismatch, None, store)
    out = store.data_dir / corpus.name
    atomic_write_json(out / "vocab.json", {"bytes": corpus.vocab.tolist(), "labels": [byte_label(int(b)) for b in corpus.vocab]})
    atomic_write_json(out / "prepared.json", corpus.manifest)
    return out


# ----------------------------------------------------------------------------------------
# Splits and batches
# ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SplitPart:
    """One of train/val/test: B parallel streams, each a contiguous run of the corpus.

    Attributes
    ----------
    x, y : ndarray, shape (B, T), uint8
        Inputs and next-symbol targets; ``T`` is a multiple of ``seq_length``.
    start : ndarray, shape (B,), int64
        Corpus position of ``x[b, 0]``; ``x[b, t]`` is corpus symbol ``start[b] + t``.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    start: np.ndarray
    seq_length: int

    @property
    def symbols(self) -> int:
        return int(self.y.size)

    @property
    def n_batches(self) -> int:
        return self.x.shape[1] // self.seq_length

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (x, y), each (B, S), in stream order: batch i+1 continues batch i row by row,
        so a model may carry its hidden state from one batch to the next."""
        S = self.seq_length
        for i in range(self.n_batches):
            yield self.x[:, i * S : (i + 1) * S], self.y[:, i * S : (i + 1) * S]


@dataclasses.dataclass(frozen=True)
class Splits:
    train: SplitPart
    val: SplitPart
    test: SplitPart
    batch_size: int
    seq_length: int
    mode: str
    fractions: tuple

    def sizes(self) -> dict:
        return {"train": self.train.symbols, "val": self.val.symbols, "test": self.test.symbols}

    def __iter__(self):
        return iter((self.train, self.val, self.test))


def split_counts(n_symbols: int, batch_size: int, seq_length: int, fractions) -> tuple[int, int, int]:
    """Number of batches for train/val/test, as char-rnn computes them."""
    nbatches = n_symbols // (batch_size * seq_length)
    ntrain = math.floor(nbatches * fractions[0])
    nval = math.floor(nbatches * fractions[1])
    return ntrain, nval, nbatches - ntrain - nval


def make_splits(
    ids: np.ndarray,
    batch_size: int = 100,
    seq_length: int = 100,
    fractions=DEFAULT_FRACTIONS,
    mode: str = "charrnn",
) -> Splits:
    """Split symbol ids into train/val/test exactly as char-rnn did (``mode='charrnn'``).

    ``charrnn``: cut to a multiple of B·S, ``view(B, -1)``, and give whole S-long batch
    indices to each part, so val and test are the last stretch of each of the B streams.
    ``contiguous``: the same batch counts, but each part is one contiguous stretch of the
    corpus (train first), then viewed as B streams.
    """
    if mode not in SPLIT_MODES:
        raise RnnvizError(f"unknown split mode {mode!r}: use one of {', '.join(SPLIT_MODES)}")
    B, S = int(batch_size), int(seq_length)
    if B < 1 or S < 1:
        raise RnnvizError(f"batch size and sequence length must be positive (got {B}, {S})")
    n = int(ids.size)
    if n < B * S * 3:
        raise RnnvizError(
            f"corpus has {n:,} symbols, fewer than batch·seq·3 = {B * S * 3:,} needed for train/val/test; "
            "use a larger corpus or a smaller batch size / sequence length"
        )
    ntrain, nval, ntest = split_counts(n, B, S, fractions)
    if min(ntrain, nval, ntest) < 1:
        raise RnnvizError(
            f"split fractions {tuple(fractions)} leave a part with no batch ({ntrain}/{nval}/{ntest} of "
            f"{B}x{S}); use a larger corpus or a smaller batch size / sequence length"
        )
    nb = ntrain + nval + ntest
    data = np.ascontiguousarray(ids[: nb * B * S])
    ydata = np.empty_like(data)  # next symbol; the last wraps to the first, as in char-rnn
    ydata[:-1], ydata[-1] = data[1:], data[0]
    bounds = np.cumsum([0, ntrain, nval, ntest])
    parts = []
    for i, name in enumerate(("train", "val", "test")):
        a, b = bounds[i], bounds[i + 1]
        if mode == "charrnn":
            L = nb * S  # stream length
            X, Y = data.reshape(B, L), ydata.reshape(B, L)
            x, y = X[:, a * S : b * S], Y[:, a * S : b * S]
            start = np.arange(B, dtype=np.int64) * L + a * S
        else:
            lo, hi = a * B * S, b * B * S
            x, y = data[lo:hi].reshape(B, -1), ydata[lo:hi].reshape(B, -1)
            start = lo + np.arange(B, dtype=np.int64) * x.shape[1]
        parts.append(SplitPart(name, np.ascontiguousarray(x), np.ascontiguousarray(y), start, S))
    return Splits(*parts, batch_size=B, seq_length=S, mode=mode, fractions=tuple(fractions))


def corpus_splits(corpus: Corpus, batch_size: int = 100, seq_length: int = 100, mode: str = "charrnn") -> Splits:
    return make_splits(corpus.ids, batch_size, seq_length, corpus.fractions, mode)


def info(corpus: Corpus, batch_size: int = 100, seq_length: int = 100, mode: str = "charrnn") -> dict:
    """What ``rnnviz data info --json`` prints."""
    sp = corpus_splits(corpus, batch_size, seq_length, mode)
    return {
        "dataset": corpus.name,
        "source": corpus.source,
        "symbols": len(corpus),
        "vocab_size": corpus.K,
        "sha256": corpus.sha256,
        "checksum_ok": corpus.checksum_ok,
        "split": sp.sizes(),
        "split_mode": mode,
        "batches": {p.name: p.n_batches for p in sp},
        "batch_size": batch_size,
        "seq_length": seq_length,
        "fractions": list(corpus.fractions),
        "manifest": corpus.manifest,
    }
