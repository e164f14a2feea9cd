"""Table 2 baselines per dataset: fit, score and cache the n-gram and n-NN models; build Table 2.

Every baseline is trained on the train part of the paper's char-rnn split
(``data.corpus_splits(corpus)``, B = S = 100) and scored on exactly the RNNs' test symbols,
``splits.test.y``. Each of the B streams is one sequence: its train part (``x[:, 0]`` followed by
``y``) is one training sequence, so no n-gram or n-NN history crosses from one stream into
another, and its test part is scored as a sequence of its own: the first test target of a
stream, ``y[b, 0]``, has only ``x[b, 0]`` as history, ``y[b, t]`` has ``min(t + 1, n)`` symbols
(the RNN's state is likewise reset at the start of the test pass).

Artifacts, one folder per model, ``Store().artifact_dir("baselines", slug, identity)``::

    PROBS_FILE       (B, T) float32 probability of the correct symbol, aligned with splits.test.y
    METRICS_FILE     written last (marks the model finished): test loss, bootstrap stds, timing, size
    HISTORY_FILE     n-NN only: step, epoch, train_loss, val_loss at each evaluation
    model.pt         n-NN only: hparams and state_dict of the best-validation weights

(the file names are the store's, ``store.*_FILE``).

``load_test_probs(dataset, kind, n)`` reads them back; ``n`` is Table 2's context length for both
kinds (the n-gram column n is the (n+1)-gram).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rnnviz_lib import buildinfo, data, evaluate, paper, report
from rnnviz_lib.config import load_profile
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.ngram import KneserNeyLM
from rnnviz_lib.store import (CHECKPOINT_FILE, HISTORY_FILE, METRICS_FILE, NNN_MODEL_FILE, PROBS_FILE, Store,
                              atomic_path, atomic_save_npy, atomic_write_json, load_npy, load_torch, read_json)

log = logging.getLogger(__name__)

KINDS = ("ngram", "nnn")
NGRAM_SMOOTHING = "interpolated-modified-kneser-ney"
NGRAM_VERSION = 1
NNN_VERSION = 3  # 2: epochs of full batches only; 3: PyTorch's default init
SEGMENTS_FILE = "segments.json"  # n-NN: who trained it, one entry per stretch of training (resumes)
SPLIT = {"batch_size": 100, "seq_length": 100, "split_mode": "charrnn"}
# n-NN training recipe; a profile's `baselines:` section overrides these (keys nnn_<name>).
NNN_DEFAULTS = {
    "hidden": 512, "lr": 2e-3, "alpha": 0.95, "batch_size": 1000, "max_epochs": 20.0, "max_steps": None,
    "eval_every": 2000, "patience": 3, "decay_after": 10, "lr_decay": 0.95, "val_max": None, "seed": 0,
}


def stream_sequences(part: data.SplitPart) -> np.ndarray:
    """(B, T+1) ids: ``x[:, 0]`` then ``y``, each row one stream's part as one sequence
    (``evaluate.stream_symbols``, how every model reads a split)."""
    return evaluate.stream_symbols(part)


def _corpus(dataset, data_dir=None, download_ok: bool = False) -> data.Corpus:
    if isinstance(dataset, data.Corpus):
        return dataset
    return data.load_corpus(str(dataset), data_dir, download_ok=download_ok)


def _split_identity(corpus: data.Corpus) -> dict:
    return {"dataset": corpus.name, "sha256": corpus.sha256, **SPLIT}


def nnn_identity_of(dataset: str, sha256: str, n: int, params: dict) -> dict:
    """``nnn_identity`` from a corpus's name and sha256 alone (no corpus read)."""
    return {"dataset": dataset, "sha256": sha256, **SPLIT, "kind": "nnn", "n": int(n), **nnn_params(params),
            "version": NNN_VERSION}


def ngram_identity(corpus: data.Corpus, order: int) -> dict:
    return {**_split_identity(corpus), "kind": "ngram", "order": int(order), "smoothing": NGRAM_SMOOTHING,
            "version": NGRAM_VERSION}


def nnn_identity(corpus: data.Corpus, n: int, params: dict) -> dict:
    return nnn_identity_of(corpus.name, corpus.sha256, n, params)


def ngram_dir(corpus: data.Corpus, order: int, store: Store | None = None, create: bool = True) -> Path:
    return (store or Store()).artifact_dir("baselines", f"{corpus.name}-ngram{order}", ngram_identity(corpus, order),
                                           create=create)


def nnn_dir(corpus: data.Corpus, n: int, params: dict, store: Store | None = None, create: bool = True) -> Path:
    h = nnn_params(params)["hidden"]
    return (store or Store()).artifact_dir("baselines", f"{corpus.name}-nnn{n}-h{h}", nnn_identity(corpus, n, params),
                                           create=create)


def nnn_found(corpus: data.Corpus, n: int, params: dict, store: Store | None = None) -> Path | None:
    """The finished n-NN of this identity: the store's own, else a shipped one of the same name
    (``data/runs/baselines/<name>``, never written to), else None."""
    own = nnn_dir(corpus, n, params, store, create=False)
    if is_finished(own):
        return own
    ship = store.shipped_baseline(own.name)
    return ship if ship is not None and is_finished(ship) else None


def is_finished(path: Path) -> bool:
    return (Path(path) / METRICS_FILE).is_file()


def _cached_ok(path: Path) -> bool:
    """Is this cached n-gram folder finished and readable? A damaged one (metrics that are not
    JSON, truncated test probabilities) is a cache miss, said in one log line, and is recomputed."""
    path = Path(path)
    if not is_finished(path):
        return False
    f = path / METRICS_FILE
    try:
        read_json(f)
        f = path / PROBS_FILE
        np.load(f, mmap_mode="r", allow_pickle=False)  # header and size, not the data
        return True
    except (RnnvizError, ValueError, OSError, EOFError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        why = why.split(" is damaged (", 1)[-1].split("); ", 1)[0][:160]  # read_json's own line names the file already
        log.warning("%s is damaged (%s); the n-gram cache recomputes it", f, why)
        return False


def _metrics(probs: np.ndarray, **extra) -> dict:
    return {**evaluate.summarize(probs), **extra}


# ----------------------------------------------------------------------------------------
# n-grams
# ----------------------------------------------------------------------------------------
def _parse_orders(orders) -> list[int]:
    if isinstance(orders, str):
        try:
            orders = [int(o) for o in orders.replace(" ", "").split(",") if o]
        except ValueError:
            raise RnnvizError(f"--orders must be comma-separated integers such as 2,3,21 (got {orders!r})") from None
    out = sorted(set(int(o) for o in orders))
    if not out or out[0] < 1:
        raise RnnvizError(f"n-gram orders must be integers >= 1 (got {orders}); e.g. 2,3,4,21")
    return out


def run_ngrams(dataset, orders, store: Store | None = None, data_dir=None, force: bool = False) -> dict:
    """Fit (once, to the largest missing order), score and save the n-gram baselines.

    Returns the object ``rnnviz ngram --json`` prints::

        {"dataset": "wp", "test_symbols": 330000, "orders": {"2": 2.398, ...},   # nats per symbol
         "seconds": {"fit": .., "score": .., "load": .., "total": ..},           # this call
         "cached": [orders read from earlier runs], "model_bytes": {"21": ..}, "paths": {"2": ..}}
    """
    t0 = time.perf_counter()
    store = store or Store()
    orders = _parse_orders(orders)
    corpus = _corpus(dataset, data_dir, download_ok=True)
    dirs = {o: ngram_dir(corpus, o, store) for o in orders}
    todo = [o for o in orders if force or not _cached_ok(dirs[o])]
    splits = data.corpus_splits(corpus, SPLIT["batch_size"], SPLIT["seq_length"], SPLIT["split_mode"])
    seconds = {"fit": 0.0, "score": 0.0}
    if todo:
        t = time.perf_counter()
        model = KneserNeyLM(order=max(todo), vocab_size=corpus.K).fit(stream_sequences(splits.train))
        seconds["fit"] = time.perf_counter() - t
        log.info("%s: fitted n-gram counts to order %d in %.1f s", corpus.name, max(todo), seconds["fit"])
        t = time.perf_counter()
        probs = model.prob_orders(stream_sequences(splits.test), todo)
        seconds["score"] = time.perf_counter() - t
        for o in todo:
            p = probs[o][:, 1:]  # (B, T): position t+1 of a test sequence is target y[:, t]
            atomic_save_npy(dirs[o] / PROBS_FILE, p.astype(np.float32))
            m = _metrics(p, kind="ngram", dataset=corpus.name, order=o, n=o - 1, smoothing=NGRAM_SMOOTHING,
                         n_ngrams=model.n_ngrams(o), model_bytes=model.nbytes(o),
                         discounts_top=model.discounts_raw_[o - 1].tolist(),
                         discounts_lower=model.discounts_cont_[: o - 1].tolist(),
                         fit_seconds_to_order=seconds["fit"], fitted_order=model.order,
                         score_seconds_all_orders=seconds["score"], train_symbols=model.n_train_)
            atomic_write_json(dirs[o] / METRICS_FILE, m)
    t = time.perf_counter()
    ms = {o: read_json(dirs[o] / METRICS_FILE) for o in orders}
    seconds["load"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    return {
        "dataset": corpus.name,
        "test_symbols": int(splits.test.y.size),
        "orders": {str(o): ms[o]["test_loss"] for o in orders},
        "seconds": seconds,
        "cached": [o for o in orders if o not in todo],
        "model_bytes": {str(o): ms[o]["model_bytes"] for o in orders},
        "paths": {str(o): str(dirs[o]) for o in orders},
    }


# ----------------------------------------------------------------------------------------
# n-NN
# ----------------------------------------------------------------------------------------
def nnn_params(params: dict | None = None) -> dict:
    """The full n-NN recipe: NNN_DEFAULTS updated by ``params`` (keys with or without ``nnn_``)."""
    out = dict(NNN_DEFAULTS)
    for k, v in (params or {}).items():
        key = k[4:] if k.startswith("nnn_") else k
        if key in out:
            out[key] = v
    out["hidden"] = int(out["hidden"])
    return out


def profile_params(profile: str) -> dict:
    """The ``baselines:`` section of a profile (ngram_orders, nnn_ns, nnn_* recipe keys)."""
    return dict(load_profile(profile).get("baselines") or {})


def run_nnn(dataset, ns, params: dict | None = None, store: Store | None = None, data_dir=None,
            force: bool = False, threads: int | None = 1, device: str = "cpu") -> dict:
    """Train (or read back) the n-NN baselines for each context length in ``ns``.

    ``params["hidden"]`` may be a list: then every size is trained and the one with the best
    validation loss is kept for each n (``selected_hidden``). Returns
    ``{"dataset", "test_symbols", "losses": {n: test loss}, "val": {n: {H: best val}},
    "selected_hidden": {n: H}, "train_seconds": {n: {H: s}}, "paths": {n: dir},
    "origin": {n: "store" or "shipped"}, "left_out": [n, ...]}``.
    A model the store has finished is read back; else a shipped one of the same identity
    (``data/runs/baselines/``, see ``shipped.py``) is read; else it is trained (``force``: always
    trained, into the store). An interrupted training resumes from the ``checkpoint.pt`` it left.
    With ``nnn_shipped_only: true`` in ``params`` (a profile's ``baselines:`` section) nothing is
    trained: an n with no finished model is left out (``left_out``, one log line), as the grid's
    ``shipped_only`` leaves out models.
    """
    from rnnviz_lib.nnn import NNNLM  # torch is imported only when an n-NN is needed
    import torch

    store = store or Store()
    corpus = _corpus(dataset, data_dir, download_ok=True)
    params = dict(params or {})
    shipped_only = bool(params.pop("nnn_shipped_only", False)) and not force
    hidden = params.get("nnn_hidden", params.get("hidden", NNN_DEFAULTS["hidden"]))
    sizes = [int(h) for h in (hidden if isinstance(hidden, (list, tuple)) else [hidden])]
    splits = data.corpus_splits(corpus, SPLIT["batch_size"], SPLIT["seq_length"], SPLIT["split_mode"])
    res = {"dataset": corpus.name, "test_symbols": int(splits.test.y.size), "losses": {}, "val": {},
           "selected_hidden": {}, "train_seconds": {}, "paths": {}, "origin": {}, "left_out": []}
    for n in sorted(set(int(v) for v in ns)):
        for H in sizes:
            p = nnn_params({**params, "hidden": H})
            own = nnn_dir(corpus, n, p, store, create=False)
            d = own if force else (nnn_found(corpus, n, p, store) or own)  # finished in the store, else shipped
            if shipped_only and not is_finished(d):
                continue  # never trained here: left out below unless another size of this n is found
            if force or not is_finished(d):
                d.mkdir(parents=True, exist_ok=True)
                log.info("%s: training n-NN n=%d H=%d", corpus.name, n, H)
                segments = _start_segment(d, device, threads)
                m = NNNLM(n=n, device=device, threads=threads, checkpoint=d / CHECKPOINT_FILE, **p).fit(
                    stream_sequences(splits.train), stream_sequences(splits.val), vocab_size=corpus.K)
                probs = np.exp(m.log_prob(stream_sequences(splits.test))[:, 1:])  # as nnn_test_probs
                atomic_save_npy(d / PROBS_FILE, probs.astype(np.float32))
                atomic_write_json(d / HISTORY_FILE, m.history_)
                with atomic_path(d / NNN_MODEL_FILE) as tmp:
                    torch.save({"hparams": {"n": n, "K": corpus.K, **p},
                                "state_dict": {k: v.cpu() for k, v in m.module_.state_dict().items()}}, tmp)
                atomic_write_json(d / METRICS_FILE, _metrics(
                    probs, kind="nnn", dataset=corpus.name, n=n, hidden=H, params=p,
                    best_val_loss=m.best_val_loss_, best_step=m.best_step_, steps=m.n_steps_,
                    train_seconds=m.train_seconds_, device=device, threads=threads,
                    n_params=sum(t.numel() for t in m.module_.parameters()),
                    code=buildinfo.code_version(), torch=str(torch.__version__),
                    machine=buildinfo.machine()["processor"], segments=segments))
            mt = read_json(d / METRICS_FILE)
            res["val"].setdefault(n, {})[H] = mt["best_val_loss"]
            res["train_seconds"].setdefault(n, {})[H] = mt["train_seconds"]
            if n not in res["selected_hidden"] or mt["best_val_loss"] < res["val"][n][res["selected_hidden"][n]]:
                res["selected_hidden"][n], res["losses"][n], res["paths"][n] = H, mt["test_loss"], str(d)
                res["origin"][n] = store.origin(d)
        if n not in res["losses"]:
            res["left_out"].append(n)
    if res["left_out"]:
        log.warning("%s: nnn_shipped_only: no finished n-NN of this recipe for n = %s, left out (train them with "
                    "rnnviz nnn --profile paper, or ship them)", corpus.name, ", ".join(map(str, res["left_out"])))
    return res


def _start_segment(d: Path, device: str, threads) -> list[dict]:
    """Record who trains this n-NN from here (commit, torch, machine, when), beside the earlier
    stretches of an interrupted training, in ``segments.json``; return the list."""
    import torch

    f = d / SEGMENTS_FILE
    earlier = read_json(f) if f.is_file() and (d / CHECKPOINT_FILE).is_file() else []
    code = buildinfo.code_version()
    seg = {"commit": code["commit"], "dirty": code["dirty"], "torch": str(torch.__version__),
           "machine": buildinfo.machine()["processor"], "device": device, "threads": threads,
           "resumed": (d / CHECKPOINT_FILE).is_file(),
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    segments = [*earlier, seg]
    atomic_write_json(f, segments)
    return segments


# ----------------------------------------------------------------------------------------
# Reading back
# ----------------------------------------------------------------------------------------
def _find_nnn(corpus: data.Corpus, n: int, store: Store, profile: str | None) -> Path:
    """The finished n-NN folder for ``n`` under ``profile``'s recipe (its best-validation hidden
    size). Only that profile's: another profile's n-NN is read by asking for that profile."""
    if not profile:
        raise RnnvizError(f"which profile's n-NN (n={n}, {corpus.name})? n-NN models are trained by a profile's "
                          "recipe: pass profile= (e.g. the report's profile, or 'paper' to read the paper recipe's)")
    tried = [profile]
    for prof in tried:
        params = profile_params(prof)
        hidden = params.get("nnn_hidden", NNN_DEFAULTS["hidden"])
        best = None
        for H in (hidden if isinstance(hidden, (list, tuple)) else [hidden]):
            d = nnn_found(corpus, n, {**params, "hidden": H}, store)
            if d is not None:
                v = read_json(d / METRICS_FILE)["best_val_loss"]
                if best is None or v < best[0]:
                    best = (v, d)
        if best:
            return best[1]
    raise RnnvizError(
        f"no finished n-NN with n={n} for {corpus.name} under profile {profile}; run the "
        "03_baselines notebook (rnnviz report --profile ...) or baselines.run_nnn first"
    )


def baseline_dir(dataset, kind: str, n: int, store: Store | None = None, profile: str | None = None,
                 data_dir=None) -> Path:
    """The finished artifact folder of a baseline; ``n`` is the context length (n-gram order n+1)."""
    if kind not in KINDS:
        raise RnnvizError(f"unknown baseline kind {kind!r}: use one of {', '.join(KINDS)}")
    store = store or Store()
    corpus = _corpus(dataset, data_dir)
    if kind == "ngram":
        d = ngram_dir(corpus, int(n) + 1, store, create=False)
        if not is_finished(d):
            raise RnnvizError(f"the {int(n) + 1}-gram of {corpus.name} has not been scored yet; run "
                              f"`rnnviz ngram --dataset {corpus.name} --orders {int(n) + 1}` first")
        return d
    return _find_nnn(corpus, int(n), store, profile)


def load_test_probs(dataset, kind: str, n: int, store: Store | None = None, profile: str | None = None,
                    data_dir=None) -> np.ndarray:
    """(B, T) float32 probabilities a baseline gives the correct test symbols (aligned with splits.test.y).

    Parameters
    ----------
    dataset : "wp", "lk", a file path, or a data.Corpus
    kind : "ngram" or "nnn"
    n : int
        Context length, Table 2's n: ``kind="ngram", n=20`` is the 21-gram.
    profile : str or None
        n-NN only, and required there: whose ``baselines:`` recipe to read (never another's).
    """
    store = store or Store()
    d = baseline_dir(dataset, kind, n, store, profile, data_dir)
    return load_npy(d / PROBS_FILE) if not store.is_shipped(d) else _shipped_nnn_probs(d, store, dataset, data_dir)


def _shipped_nnn_probs(d: Path, store: Store, dataset, data_dir=None) -> np.ndarray:
    """A shipped n-NN's test probabilities: recomputed once from its ``model.pt`` and cached in the
    store (``Store.cached_file``, keyed by the weights' sha256: a re-shipped model of the same name
    is never read through an old cache)."""
    f = store.cached_file(d, PROBS_FILE)  # keyed by the weights' sha256
    if f.is_file():
        return load_npy(f)
    corpus = _corpus(dataset, data_dir)  # read only on a cache miss
    splits = data.corpus_splits(corpus, SPLIT["batch_size"], SPLIT["seq_length"], SPLIT["split_mode"])
    log.info("computing the test probabilities of the shipped %s (once; cached in %s)", d.name, f.parent)
    probs = nnn_test_probs(d / NNN_MODEL_FILE, splits.test)
    atomic_save_npy(f, probs)
    return probs


def load_nnn(model_pt):
    """The fitted ``nnn.NNNLM`` saved in ``model_pt`` (best-validation weights, eval mode)."""
    from rnnviz_lib.nnn import NNNLM, NNNModule

    ck = load_torch(model_pt)
    hp = ck["hparams"]
    m = NNNLM(n=int(hp["n"]), hidden=int(hp["hidden"]))
    m.K_ = int(hp["K"])
    m.module_ = NNNModule(m.n, m.K_, m.hidden)
    m.module_.load_state_dict(ck["state_dict"])
    m.module_.eval()
    return m


def nnn_test_probs(model_pt, test: data.SplitPart) -> np.ndarray:
    """(B, T) float32 probabilities a saved n-NN gives the correct symbols of ``test``, exactly as
    ``run_nnn`` scores a model it has just trained."""
    return np.exp(load_nnn(model_pt).log_prob(stream_sequences(test))[:, 1:]).astype(np.float32)


def load_metrics(dataset, kind: str, n: int, store: Store | None = None, profile: str | None = None,
                 data_dir=None) -> dict:
    return read_json(baseline_dir(dataset, kind, n, store, profile, data_dir) / METRICS_FILE)


def trained_nnn(dataset, ns, profile: str, store: Store | None = None) -> pd.DataFrame:
    """The n-NN already in the store under ``profile``'s recipe, read and never trained.

    One row per n in ``ns`` that has a finished model (the others are left out), indexed by n,
    with ``hidden, steps, best val, ours`` (test loss), ``paper`` (Table 2, NaN where it has
    none), ``diff``, ``train s`` and ``origin`` (``shipped`` or ``store``). Empty when none is found.
    """
    store = store or Store()
    name = dataset.name if isinstance(dataset, data.Corpus) else str(dataset)
    ref = paper.TABLE2.get(name, {}).get("n-NN", {})
    rows = []
    for n in ns:
        try:
            d = baseline_dir(dataset, "nnn", int(n), store, profile=profile)
        except RnnvizError:
            continue  # not trained under that recipe in this store, nor shipped
        m = read_json(d / METRICS_FILE)
        p = ref.get(int(n))
        p = math.nan if p is None else p  # the paper reports n = 1..6
        rows.append({"n": int(n), "hidden": m["hidden"], "steps": m["steps"], "best val": m["best_val_loss"],
                     "ours": m["test_loss"], "paper": p, "diff": m["test_loss"] - p,
                     "train s": m["train_seconds"], "origin": store.origin(d)})
    cols = ["n", "hidden", "steps", "best val", "ours", "paper", "diff", "train s", "origin"]
    return pd.DataFrame(rows, columns=cols).set_index("n")


def origin_label(origins) -> str:
    """``shipped``, ``trained here`` or ``shipped and trained here`` for a set of n-NN origins."""
    kinds = {"shipped" if o == "shipped" else "trained here" for o in origins}
    return " and ".join(sorted(kinds)) or "trained here"


# ----------------------------------------------------------------------------------------
# Table 2
# ----------------------------------------------------------------------------------------
def table2_frames(dataset: str, ngram_losses: dict, nnn_losses: dict, columns=None,
                  extra: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ours and the paper's Table 2 rows for one dataset (index n-gram, n-NN; columns n).

    ``ngram_losses`` maps the n-gram *order* (int or str) to its test loss, ``nnn_losses`` the
    n-NN's n. ``extra`` adds rows ``{label: {n: loss}}`` (e.g. ``"n-NN (paper recipe)"``); a
    label is compared with the paper's row named by its part before " (". Columns default to
    the paper's n (1..9, 20) plus any other n measured.
    """
    rows = {"n-gram": {int(o) - 1: float(v) for o, v in ngram_losses.items()},
            "n-NN": {int(k): float(v) for k, v in nnn_losses.items()}}
    clash = sorted(set(map(str, extra or {})) & set(rows))
    if clash:
        raise RnnvizError(f"extra Table 2 row(s) {', '.join(clash)} would replace our own; name them e.g. "
                          "'n-NN (paper recipe)'")
    rows.update({str(label): {int(k): float(v) for k, v in vals.items()} for label, vals in (extra or {}).items()})
    measured = set().union(*(set(r) for r in rows.values()))
    cols = list(columns) if columns is not None else sorted(set(paper.TABLE2_N) | measured)
    cols = [c for c in cols if c >= 1]
    ours = pd.DataFrame([[r.get(c, math.nan) for c in cols] for r in rows.values()], index=list(rows),
                        columns=cols, dtype=float)
    ref = paper.TABLE2.get(dataset, {})
    theirs = pd.DataFrame([[ref.get(r.split(" (")[0], {}).get(c) for c in cols] for r in ours.index], index=ours.index,
                          columns=cols, dtype=float)
    ours.columns.name = theirs.columns.name = "n"
    return ours, theirs


def table2(dataset: str, ngram_losses: dict, nnn_losses: dict, columns=None, extra: dict | None = None) -> pd.DataFrame:
    """Table 2 for one dataset, each cell "ours (paper, Δ)"; ``extra`` as in ``table2_frames``."""
    return table2_compare(*table2_frames(dataset, ngram_losses, nnn_losses, columns, extra))


def table2_compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
    """The "ours (paper, Δ)" cells of ``table2_frames``' two frames, columns named n."""
    out = report.compare_frame(ours, theirs)
    out.columns.name = "n"
    return out
