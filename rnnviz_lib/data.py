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
import logging
import math
import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from rnnviz_lib import lk_corpus, paper
from rnnviz_lib.config import SPLIT_MODES
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.sources import data_dirs, download, read_file, sha256_bytes
from rnnviz_lib.store import Store, atomic_write_json

log = logging.getLogger(__name__)

WP_SHA256 = "fb66ba999dafe24017cdd59e04c56d385a9c8466993d374fd4c6f08b2142985e"
WP_URL = "https://cs.stanford.edu/people/karpathy/char-rnn/warpeace_input.txt"
WP_FILENAMES = ("war_and_peace.txt", "warpeace_input.txt")
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


def _find_wp(dirs: list[Path]) -> Path | None:
    for d in dirs:
        for name in WP_FILENAMES:
            if (d / name).is_file():
                return d / name
    return None


def _load_wp(data_dir, store: Store, allow_checksum_mismatch: bool, download_ok: bool) -> tuple[bytes, str, bool]:
    dirs = data_dirs(data_dir, store)
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
        data = read_file(path)
        if sha256_bytes(data) != WP_SHA256 and not allow_checksum_mismatch:
            path.unlink()
            raise RnnvizError(
                f"downloaded War and Peace has sha256 {sha256_bytes(data)}, expected {WP_SHA256}; the file was "
                "removed. Pass --allow-checksum-mismatch to use it anyway"
            )
    data = read_file(path)
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
        data, source, manifest = lk_corpus.load_lk(data_dir, store, kernel_source)
        name, digest = "lk", sha256_bytes(data)
        ok = digest == lk_corpus.LK_REFERENCE_SHA256  # False: a corpus of another kernel source (warned)
        if manifest.get("sha256") and manifest["sha256"] != digest:
            ok = False
            if not allow_checksum_mismatch:
                raise RnnvizError(
                    f"{source} does not match the sha256 in its manifest; rebuild it with "
                    "`rnnviz data prepare --dataset lk --kernel-source PATH` or pass --allow-checksum-mismatch"
                )
        manifest = {**manifest, "reference": digest == lk_corpus.LK_REFERENCE_SHA256,
                    "warning": lk_corpus.lk_reference_warning({**manifest, "sha256": digest})}
    elif os.sep in dataset or "." in dataset or Path(dataset).exists():
        path = Path(dataset).expanduser()
        if not path.exists():
            raise RnnvizError(f"dataset file {path} does not exist; pass wp, lk or the path of a text file")
        data = read_file(path)
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
        lk_corpus.load_lk(data_dir, store, kernel_source, rebuild=bool(kernel_source), fetch=True)
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
