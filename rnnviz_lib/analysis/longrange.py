"""Figure 5: long-range interactions. Closing braces by distance to their opening brace (left),
and how close an LSTM's predictions are to each n-NN's over its first epochs (right).

API::

    dist = brace_distances(splits.test, open_id, close_id)    # (B, T) int, -1 where y is not a matched "}"
    table = distance_buckets(dist, {"LSTM": p1, "20-gram": p2}, edges=(1, 10, 20, ...))
    P = model_distributions(model, splits.test, max_batches=4)  # (B, T', K) full predictive distributions
    Q = nnn_distributions(nnn_dir / "model.pt", splits.test, T=P.shape[1])
    kl = symmetric_kl(P, Q)                                    # mean over positions, nats
    table = kl_over_training(snapshot_distributions(run_dir, splits.test, 4), {"3-NN": Q}, splits.test.y)

    # the same from the store, with notes on what is missing (notebook 07)
    lstm, grams, notes = brace_models("lk", datasets, corpora, profile, 20, store)
    table, names, sentence, left_out = brace_figure(corpora["lk"], lstm, grams, 20)
    run, files, notes = kl_models("wp", [1, 2, 3], 3, corpora, profile, store)
    table, sentence = kl_comparison(run, files, corpora["wp"], batches=4)

    # a run shipped without its snapshots: the table computed from them before shipping
    write_snapshot_kl(store_run_dir, corpora["wp"], files)      # -> <run>/snapshot_kl.json (rnnviz runs ship does it)
    table, sentence = read_snapshot_kl(shipped_run_dir, files)  # kl_comparison falls back on it by itself

Brace matching runs over each test stream on its own (a stream is a contiguous run of the
corpus, ``SplitPart.start``), with a stack: a ``}`` matches the most recent unmatched ``{``
of the same stream. A ``}`` whose ``{`` lies before the stream's test part is *unmatched*
and left out (the RNN's state is reset at the start of the test pass, so it never saw that
``{`` either); a stray ``}`` with an empty stack is left out the same way. Distances count
symbols: a ``}`` right after its ``{`` is at distance 1.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from rnnviz_lib import data
from rnnviz_lib.analysis import errors
from rnnviz_lib.analysis.errors import check_probs
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.evaluate import batches_read, stream_logits, stream_symbols
from rnnviz_lib.runs import Run
from rnnviz_lib.store import SNAPSHOT_KL_FILE, atomic_write_json, load_torch, read_json, sha256_file

log = logging.getLogger(__name__)

# Lower bucket edges (in symbols) for Figure 5 left: 1-5, 6-10, 11-20, 21-40, ..., 1001+. A 20-gram
# sees a "{" up to 20 symbols back, so the buckets from 21 on are beyond its context.
DISTANCE_EDGES = (1, 6, 11, 21, 41, 61, 81, 101, 201, 501, 1001)


def brace_distances(part, open_id: int, close_id: int) -> np.ndarray:
    """Distance from each closing brace to its matching opening brace, per target position.

    Parameters
    ----------
    part : data.SplitPart (x, y of shape (B, T)), normally ``splits.test``
    open_id, close_id : symbol ids of ``{`` and ``}``

    Returns
    -------
    dist : (B, T) int64; ``dist[b, t] > 0`` where ``y[b, t]`` is a ``}`` matched inside the
        stream (the number of symbols from its ``{``), -1 everywhere else.
    """
    if open_id == close_id:
        raise RnnvizError("opening and closing symbols must differ")
    s = stream_symbols(part)
    B, T1 = s.shape
    dist = np.full((B, T1 - 1), -1, dtype=np.int64)
    unmatched = 0
    for b in range(B):
        row = s[b]
        # only brace positions matter: walk them in order with a stack of open positions
        pos = np.flatnonzero((row == open_id) | (row == close_id))
        stack: list[int] = []
        for i in pos.tolist():
            if row[i] == open_id:
                stack.append(i)
            elif stack:
                j = stack.pop()
                if i >= 1:
                    dist[b, i - 1] = i - j
            elif i >= 1:
                unmatched += 1
    if unmatched:
        log.info("brace matching: %d closing braces have their opening brace before the test stream; left out", unmatched)
    return dist


def unmatched_closing(part, open_id: int, close_id: int, T: int | None = None) -> int:
    """How many ``}`` targets have no ``{`` inside their test stream (left out of Figure 5 left),
    among the first ``T`` targets of each stream (all when None)."""
    dist = brace_distances(part, open_id, close_id)[:, :T]
    return int(((part.y[:, :T] == close_id) & (dist < 0)).sum())


def bucket_labels(edges=DISTANCE_EDGES) -> list[str]:
    e = list(edges)
    return [f"{a}-{b - 1}" for a, b in itertools.pairwise(e)] + [f"{e[-1]}+"]


def distance_buckets(dist: np.ndarray, probs: dict[str, np.ndarray], edges=DISTANCE_EDGES) -> pd.DataFrame:
    """Mean probability of the correct symbol at matched closing braces, bucketed by distance.

    Parameters
    ----------
    dist : (B, T) from ``brace_distances`` (-1 = not a matched closing brace)
    probs : {model name: (B, T) probabilities}
    edges : increasing lower bucket edges; bucket i is [edges[i], edges[i+1]), the last open-ended

    Returns
    -------
    DataFrame indexed by bucket label with ``count``, ``lo``, ``hi``, one mean column per
    model, and ``<first> − <second>`` when there are two models. Empty buckets hold NaN.
    """
    e = np.asarray(edges, dtype=np.int64)
    if e.ndim != 1 or e.size < 1 or np.any(np.diff(e) <= 0) or e[0] < 1:
        raise RnnvizError(f"distance bucket edges must be increasing positive integers, got {list(edges)}")
    dist = np.asarray(dist)
    sel = dist > 0
    d = dist[sel]
    idx = np.searchsorted(e, d, side="right") - 1  # bucket of each matched brace (d >= e[0] >= 1)
    keep = idx >= 0
    idx = idx[keep]
    n_b = e.size
    count = np.bincount(idx, minlength=n_b)
    out = pd.DataFrame({"lo": e, "hi": np.append(e[1:] - 1, -1), "count": count}, index=bucket_labels(e))
    out.index.name = "distance"
    for name, p in probs.items():
        v = check_probs(p, dist.shape, f"probabilities of {name}")[sel][keep].astype(np.float64)
        tot = np.bincount(idx, weights=v, minlength=n_b)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(count > 0, tot / np.maximum(count, 1), np.nan)
    names = list(probs)
    if len(names) == 2:
        out[f"{names[0]} − {names[1]}"] = out[names[0]] - out[names[1]]
    return out


# ----------------------------------------------------------------------------------------
# Figure 5 right: similarity of predictive distributions
# ----------------------------------------------------------------------------------------
def model_distributions(model, part, max_batches: int = 0, device=None):
    """Full predictive distribution of a CharRNN at every position of ``part`` (state carried,
    reset at the start, as ``evaluate.stream_probs`` reads it).

    Returns
    -------
    P : (B, n·S, K) float32, ``P[b, t]`` the distribution over the symbol after ``x[b, t]``;
        n is the number of S-long batches read (``max_batches``, 0 = all).
    """
    import torch

    S = part.seq_length
    out = None
    for i, logits, _ in stream_logits(model, part, device, max_batches):  # logits (B, S, K)
        p = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        if out is None:
            out = np.empty((p.shape[0], batches_read(part, max_batches) * S, p.shape[-1]), dtype=np.float32)
        out[:, i * S:(i + 1) * S] = p
    return out


def nnn_contexts(part, n: int, K: int, T: int | None = None) -> np.ndarray:
    """(B, T, n) n-NN inputs at each target of ``part``: the ``min(t + 1, n)`` stream symbols
    before ``y[b, t]`` (x[b, 0] is the first), K where the history leaves the test stream.
    This is how ``baselines`` scores the n-NN, and how the RNN sees the test pass (state reset)."""
    s = stream_symbols(part).astype(np.int64)  # (B, T + 1)
    T = part.y.shape[1] if T is None else int(T)
    pos = np.arange(T)[:, None] + 1 - np.arange(n, 0, -1)[None, :]  # (T, n): column n-1 is the symbol just before
    ctx = np.where(pos[None] >= 0, s[:, np.maximum(pos, 0)], K)
    return ctx


def nnn_distributions(model_pt, part, T: int | None = None, chunk: int = 65536) -> np.ndarray:
    """Full predictive distributions of a saved n-NN (``baselines`` writes ``model.pt``) at the
    first ``T`` targets of each stream of ``part``. Returns (B, T, K) float32."""
    import torch

    from rnnviz_lib.nnn import NNNModule

    ck = load_torch(model_pt)
    hp = ck["hparams"]
    n, K = int(hp["n"]), int(hp["K"])
    module = NNNModule(n, K, int(hp["hidden"]))
    module.load_state_dict(ck["state_dict"])
    module.eval()
    ctx = nnn_contexts(part, n, K, T)
    B, TT, _ = ctx.shape
    flat = torch.from_numpy(ctx.reshape(-1, n))
    out = np.empty((flat.shape[0], K), dtype=np.float32)
    with torch.no_grad():
        for a in range(0, flat.shape[0], chunk):
            out[a:a + chunk] = torch.softmax(module(flat[a:a + chunk]).double(), dim=-1).numpy()
    return out.reshape(B, TT, K)


def symmetric_kl(P: np.ndarray, Q: np.ndarray, eps: float = 1e-8) -> float:
    """Mean over positions of KL(P‖Q) + KL(Q‖P), in nats.

    Parameters
    ----------
    P, Q : (..., K) predictive distributions over the same positions; each row sums to 1.
        Both are floored at ``eps`` and renormalised so a zero does not give infinity.
    """
    if np.shape(P) != np.shape(Q):
        raise RnnvizError(f"distributions have shapes {np.shape(P)} and {np.shape(Q)}; compute both on the same positions")
    P, logP = _floored(P, eps)
    Q, logQ = _floored(Q, eps)
    return _sym_kl(P, logP, Q, logQ)


def _floored(P, eps: float = 1e-8):
    """P floored at eps and renormalised (float64), and its log."""
    P = np.maximum(np.asarray(P, dtype=np.float64), eps)
    P /= P.sum(-1, keepdims=True)
    return P, np.log(P)


def _sym_kl(P, logP, Q, logQ) -> float:
    return float(((P - Q) * (logP - logQ)).sum(-1).mean())


def correct_probs(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(B, T) probability of the correct symbol from full distributions P (B, T, K) and targets y (B, T)."""
    y = np.asarray(y)[:, : P.shape[1]].astype(np.int64)
    return np.take_along_axis(P, y[..., None], axis=-1)[..., 0]


def snapshot_distributions(run_dir, part, max_batches: int = 0, device="cpu"):
    """Yield ``{"epoch", "step", "P"}`` for each weight snapshot of a training run (in step
    order), ``P`` (B, n·S, K) its distributions over ``part`` (see ``model_distributions``).
    A generator, so only one snapshot's distributions are held at a time."""
    from pathlib import Path

    from rnnviz_lib import train

    for snap in train.snapshots(run_dir):
        model, _ = train.load_model(run_dir, which=snap["file"], device=device)
        meta = load_torch(Path(run_dir) / "snapshots" / snap["file"])
        yield {"epoch": float(meta.get("epoch", np.nan)), "step": int(snap["step"]),
               "P": model_distributions(model, part, max_batches, device)}


def snapshot_count(run_dir) -> int:
    """How many weight snapshots of the run Figure 5 (right) can read: its snapshot files, or where
    fewer than two are there (a shipped run keeps none), those its ``SNAPSHOT_KL_FILE`` was computed from."""
    from rnnviz_lib.train import snapshots

    n = len(snapshots(run_dir))
    f = Path(run_dir) / SNAPSHOT_KL_FILE
    return n if n > 1 or not f.is_file() else int(read_json(f)["snapshots"])  # damaged: a RnnvizError naming the fix


def snapshot_run(runs: pd.DataFrame | None, layers: int = 3):
    """The LSTM whose weight snapshots Figure 5 (right) follows: among ``runs`` (``errors.finished_runs``
    rows, best test loss first, the extra grids' runs included), the first LSTM with more than one
    snapshot (``snapshot_count``: a shipped run's table counts) and ``layers`` layers, else the
    first LSTM with snapshots of any depth; None if none."""
    if runs is None or runs.empty:
        return None
    cand = runs[(runs["cell"] == "lstm") & runs["path"].map(lambda p: snapshot_count(p) > 1)]
    deep = cand[cand["layers"] == layers]
    return (deep if len(deep) else cand).iloc[0] if len(cand) else None


def kl_over_training(snapshots, baselines: dict[str, np.ndarray], y: np.ndarray) -> pd.DataFrame:
    """Symmetric KL and test-loss difference between LSTM snapshots and each baseline.

    Parameters
    ----------
    snapshots : iterable of {"epoch": float, "step": int, "P": (B, T', K)}, the LSTM's
        distributions over training (e.g. ``snapshot_distributions``)
    baselines : {name: (B, T', K)} distributions of the n-NN baselines on the same positions
    y : (B, T) targets (only the first T' columns are used)

    Returns
    -------
    Long DataFrame with ``epoch``, ``step``, ``baseline``, ``sym_kl`` (nats) and
    ``delta_loss`` = loss(baseline) − loss(LSTM): positive when the LSTM is better (paper's sign).
    """
    from rnnviz_lib.evaluate import cross_entropy

    rows = []
    base_loss = {n: cross_entropy(correct_probs(Q, y)) for n, Q in baselines.items()}
    base = {n: _floored(Q) for n, Q in baselines.items()}  # floor and log each baseline once
    for snap in snapshots:
        P = snap["P"]
        lstm_loss = cross_entropy(correct_probs(P, y))
        Pf, logP = _floored(P)
        for name, (Qf, logQ) in base.items():
            if Qf.shape != Pf.shape:
                raise RnnvizError(f"{name} distributions have shape {Qf.shape}, the LSTM's {Pf.shape}; "
                                  "compute both on the same test positions")
            rows.append({"epoch": float(snap["epoch"]), "step": int(snap.get("step", -1)), "baseline": name,
                         "sym_kl": _sym_kl(Pf, logP, Qf, logQ), "lstm_loss": lstm_loss,
                         "baseline_loss": base_loss[name], "delta_loss": base_loss[name] - lstm_loss})
    return pd.DataFrame(rows)


def nnn_model_files(dataset, ns, store=None, profile: str | None = None) -> tuple[dict, dict]:
    """Saved n-NN models (``model.pt``) of each context length in ``ns`` that exists.

    Returns ({"n-NN label": path}, {"n-NN label": why missing}), labels as ``errors.baseline_label``.
    """
    from rnnviz_lib import baselines
    from rnnviz_lib.analysis.errors import baseline_label

    found, missing = {}, {}
    for n in ns:
        label = baseline_label("nnn", n)
        try:
            f = baselines.baseline_dir(dataset, "nnn", int(n), store=store, profile=profile) / "model.pt"
        except RnnvizError as exc:
            missing[label] = str(exc)
            continue
        if f.is_file():
            found[label] = f
        else:
            missing[label] = f"{f} does not exist; rerun the n-NN baseline"
    return found, missing


def closest_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Per snapshot (epoch, step), the baseline with the smallest symmetric KL and that KL."""
    idx = table.groupby(["epoch", "step"])["sym_kl"].idxmin()
    out = table.loc[idx, ["epoch", "step", "baseline", "sym_kl", "lstm_loss"]].rename(columns={"baseline": "closest"})
    return out.sort_values("step").reset_index(drop=True)


def long_range_summary(table: pd.DataFrame, names, beyond: int, upto: int | None = None) -> dict:
    """Pooled mean p(}) of each model over the buckets that start beyond ``beyond`` symbols (and,
    with ``upto``, end by ``upto``), weighted by the braces in each bucket, from
    ``distance_buckets``' table. With two models, ``diff`` is the first minus the second."""
    sel = (table["lo"] > beyond) & (table["count"] > 0)
    if upto is not None:
        sel &= (table["hi"] > 0) & (table["hi"] <= upto)
    t = table[sel]
    n = int(t["count"].sum())
    out = {"braces": n}
    for name in names:
        out[name] = float((t[name] * t["count"]).sum() / n) if n else np.nan
    if len(names) == 2:
        out["diff"] = out[names[0]] - out[names[1]]
    return out


# ----------------------------------------------------------------------------------------
# Figure 5 in a table and a sentence (what the notebook shows and files with the figure)
# ----------------------------------------------------------------------------------------
def brace_summary(dist: np.ndarray, probs: dict[str, np.ndarray], n: int, dataset: str,
                  edges=DISTANCE_EDGES) -> tuple[pd.DataFrame, str]:
    """Figure 5 (left): p(}) by brace distance, and a sentence comparing the models within and
    beyond an ``n``-symbol context.

    Parameters
    ----------
    dist : (B, T) from ``brace_distances``
    probs : {model: (B, T) probabilities}: the LSTM first, then the n-gram (``{"LSTM": p,
        "20-gram": q}``), or either alone (the n-gram when there is no LSTM, the LSTM when the
        n-gram is missing)
    n : the n-gram's context length; braces farther apart than this are beyond its reach
    dataset : named in the sentence

    Returns
    -------
    table : ``distance_buckets(dist, probs, edges)``
    sentence : the pooled p(}) of each model within ``n`` symbols of the ``{`` and beyond, and
        whether the first model is better beyond (the paper's claim: the LSTM's advantage on
        ``}`` comes from such long-range pairs)
    """
    table = distance_buckets(dist, probs, edges)
    names = tuple(probs)
    near = long_range_summary(table, names, 0, upto=n)
    far = long_range_summary(table, names, n)
    if len(names) == 1:
        m = names[0]
        gram = m.endswith("-gram")  # the n-gram alone (no LSTM), else the LSTM alone (no n-gram)
        return table, (f"{dataset}, {m} only ({'no LSTM in this profile' if gram else f'no {n}-gram'}): p(`}}`) "
                       f"{near[m]:.3f} within {n} symbols of the `{{` ({near['braces']:,} braces), {far[m]:.3f} beyond "
                       f"({far['braces']:,}). "
                       + (f"The LSTM comparison needs an LSTM trained on {dataset}." if gram
                          else f"The comparison needs the {n}-gram of {dataset} (`rnnviz ngram`)."))
    if len(names) != 2:
        raise RnnvizError(f"brace_summary compares one or two models, got {len(names)}: {', '.join(names)}")
    a, g = names
    within = (f"{dataset}: within {n} symbols of the `{{` ({near['braces']:,} braces) the {a} gives `}}` "
              f"{near[a]:.3f} against {near[g]:.3f} for the {g}; ")
    if not far["braces"]:
        return table, (within + f"no matched `}}` in this test split is farther than {n} symbols from its `{{`, so "
                       f"where the {g} cannot see the `{{` there is nothing to compare. Paper: the LSTM's advantage "
                       "on `}` comes from such long-range brace pairs.")
    return table, (within + f"beyond ({far['braces']:,} braces) {far[a]:.3f} against {far[g]:.3f}: the {a} is "
                   f"{'better' if far['diff'] > 0 else 'not better'} ({far['diff']:+.3f}) where the {g} cannot see "
                   "the `{`. Paper: the LSTM's advantage on `}` comes from such long-range brace pairs.")


def epoch_note(epoch_batches: int, full_batches: int) -> str:
    """``" of N batches"`` when a run's epoch was cut to ``epoch_batches`` of the ``full_batches``
    of a whole pass (a short profile's ``max_train_batches``), else ``""``."""
    return f" of {int(epoch_batches)} batches" if 0 < int(epoch_batches) < int(full_batches) else ""


def kl_summary(table: pd.DataFrame, epoch_batches: int = 0, full_batches: int = 0) -> tuple[pd.DataFrame, str]:
    """Figure 5 (right): the n-NN closest to the LSTM at each snapshot, and a sentence saying
    whether that nearest n-NN changes over training.

    Parameters
    ----------
    table : ``kl_over_training``'s long table (one row per snapshot and n-NN)
    epoch_batches, full_batches : the run's batches per epoch and those of a whole pass over the
        training data (``epoch_note``: a short profile's epoch is a slice of the data)

    Returns
    -------
    closest : ``closest_baseline(table)``, one row per snapshot in step order
    sentence : the sequence of nearest n-NNs ("moves 1-NN → 2-NN" or "stays the 1-NN") and the
        symmetric KL to it at the first and the last snapshot, beside the paper's reading
    """
    if table.empty:
        raise RnnvizError("the KL table is empty: no snapshot was compared with an n-NN (kl_over_training needs "
                          "at least one snapshot and one baseline)")
    closest = closest_baseline(table)
    path = list(dict.fromkeys(closest["closest"]))
    moves = f"moves {' → '.join(path)}" if len(path) > 1 else f"stays the {path[0]}"
    return closest, (f"The LSTM's nearest n-NN {moves} over its first {closest['epoch'].max():.2f} epochs"
                     f"{epoch_note(epoch_batches, full_batches)} (symmetric KL {closest['sym_kl'].iloc[0]:.3f} at the "
                     f"start, {closest['sym_kl'].iloc[-1]:.3f} at the end); paper: the LSTM first behaves like the "
                     "short-context n-NN and moves to longer contexts as it trains.")


# ----------------------------------------------------------------------------------------
# Figure 5 from the store: which models, with what is missing said in notes
# ----------------------------------------------------------------------------------------
def brace_models(dataset: str, datasets, corpora: dict, profile, n: int = 20, store=None) -> tuple:
    """The models of Figure 5 (left): the best finished LSTM of ``profile`` on ``dataset`` and the
    n-gram with ``n`` symbols of context.

    Parameters
    ----------
    dataset : the corpus with braces (the paper's Linux kernel, "lk")
    datasets : the profile's datasets; Figure 5 (left) runs only when ``dataset`` is among them
    corpora : {name: Corpus} of the datasets that could be loaded

    Returns
    -------
    lstm : the LSTM's row of ``errors.finished_runs`` (named by its slug), or None
    grams : {"<n>-gram": (B, T) probabilities}, empty when it is missing
    notes : Markdown lines saying what is missing and how to make it, and which LSTM is used
    """
    g = errors.baseline_label("ngram", n)
    if dataset not in datasets:
        return None, {}, [f"**Note:** `{dataset}` is not among this profile's datasets ({', '.join(datasets)}): "
                          "Figure 5 (left) is skipped."]
    if dataset not in corpora:
        return None, {}, [f"**Note:** Figure 5 (left) needs `{dataset}`; build it with "
                          "`rnnviz data prepare --dataset lk`."]
    lstm = errors.pick_run(errors.finished_runs(dataset, store, profile=profile), "lstm")
    grams, why = errors.baseline_probs(dataset, "ngram", [n], store, profile)
    notes = []
    if lstm is None:
        notes.append(f"**Note:** no finished LSTM of `{dataset}` in profile `{profile}` (its grid trains none): "
                     + (f"Figure 5 (left) shows the {g} alone." if grams else "Figure 5 (left) is skipped."))
    if not grams:
        notes.append(f"**Note:** the {g} of `{dataset}` is missing ({'; '.join(why.values())}).")
    if lstm is not None:
        notes.append(f"Figure 5 (left) uses `{lstm.name}` (test loss {lstm['test_loss']:.3f}), the best LSTM of "
                     f"`{dataset}` in this profile.")
    return lstm, grams, notes


def brace_figure(corpus, lstm, grams: dict, n: int = 20, edges=DISTANCE_EDGES, store=None) -> tuple:
    """Figure 5 (left) on the test split of ``corpus``: p(}) by distance to its ``{``.

    Parameters
    ----------
    lstm : a row of ``errors.finished_runs`` (or None); its test probabilities are read and every
        model is cut to its T test columns
    grams : {"<n>-gram": (B, T') probabilities} (``brace_models``)

    Returns
    -------
    table : ``brace_summary``'s table (one row per distance bucket)
    names : the models compared, ("LSTM", "<n>-gram") or either alone
    sentence : ``brace_summary``'s sentence
    left_out : how many closing braces have their ``{`` before the stream's test part (left out)
    """
    test = data.corpus_splits(corpus).test
    T = int(lstm["test_columns"]) if lstm is not None else test.y.shape[1]
    open_id, close_id = corpus.encode("{}").tolist()
    dist = brace_distances(test, open_id, close_id)[:, :T]
    curves = ({"LSTM": Run(lstm["path"], store).probs()[:, :T]} if lstm is not None else {}) | errors.align(grams, T)
    table, sentence = brace_summary(dist, curves, n, corpus.name, edges)
    closing = int((test.y[:, :T] == close_id).sum())
    left = unmatched_closing(test, open_id, close_id, T)
    return table, tuple(curves), sentence, (f"{left:,} of {closing:,} closing braces have their `{{` before the "
                                            "stream's test part and are left out.")


def kl_models(dataset: str, ns, layers: int, corpora: dict, profile, store=None) -> tuple:
    """The models of Figure 5 (right): the LSTM with weight snapshots (``snapshot_run`` over the
    profile's runs, its ``extra:`` grids included) and the saved n-NN of each n in ``ns``.

    Returns
    -------
    run : the LSTM's row of ``errors.finished_runs``, or None (then the figure is skipped)
    files : {"n-NN" label: model.pt path} of the n-NN found; empty when the figure is skipped
    notes : Markdown lines saying what is missing, and which LSTM stands in for a missing depth
    """
    runs = errors.finished_runs(dataset, store, profile=profile, extras=True) if dataset in corpora else None
    run = snapshot_run(runs, layers)
    if run is None:
        return None, {}, [f"**Note:** no LSTM of `{dataset}` with weight snapshots in profile `{profile}` (the grid's "
                          "`snapshots:` option keeps them): Figure 5 (right) is skipped."]
    files, why = nnn_model_files(dataset, ns, store, profile)
    if not files:
        return run, {}, [f"**Note:** no n-NN baselines of `{dataset}` found ({'; '.join(why.values())}): "
                         "Figure 5 (right) is skipped."]
    notes = [f"**Note:** n-NN not found: {', '.join(why)}; comparing with {', '.join(files)}."] if why else []
    if run["layers"] != layers:
        notes.append(f"**Note:** no {layers}-layer LSTM has snapshots; using `{run.name}`.")
    return run, files, notes


def kl_comparison(run, files: dict, corpus, batches: int) -> tuple[pd.DataFrame | None, str]:
    """Figure 5 (right): ``kl_over_training`` of the run's snapshots against each n-NN in ``files``
    on the first ``batches`` test batches of ``corpus``, and a sentence saying what was compared.
    A run without its snapshots (a shipped one) gives the table it shipped with instead
    (``read_snapshot_kl``: only the n-NN it was computed against; None when none of them is left)."""
    from rnnviz_lib.train import snapshots

    if len(snapshots(run["path"])) < 2:
        return read_snapshot_kl(run["path"], files, run.name)
    test = data.corpus_splits(corpus).test
    Q = {label: nnn_distributions(f, test, T=batches * test.seq_length) for label, f in files.items()}
    table = kl_over_training(snapshot_distributions(run["path"], test, batches), Q, test.y)
    return table, (f"`{run.name}`: {table['step'].nunique()} snapshots, compared on "
                   f"{test.y.shape[0] * batches * test.seq_length:,} test symbols.")


# Figure 5 (right) of a run whose snapshots are not shipped: WP LSTM-3-512's 16 snapshots are 80 MB,
# more than the shipped-run budget, while their table against the n-NN is a few kB.
SNAPSHOT_KL_NS = tuple(range(1, 10))  # the n-NN compared with (notebook 07's kl_nnn_ns)
SNAPSHOT_KL_BATCHES = 4  # test batches compared on (notebook 07's kl_batches)
_KL_COLUMNS = ["epoch", "step", "baseline", "sym_kl", "lstm_loss", "baseline_loss", "delta_loss"]


def _nnn_record(f: Path) -> dict:
    return {"baseline": Path(f).parent.name, "sha256": sha256_file(f)}


def snapshot_kl_current(run_dir, files: dict, batches: int = SNAPSHOT_KL_BATCHES) -> bool:
    """Whether the run's ``SNAPSHOT_KL_FILE`` was computed from its present snapshots, on ``batches``
    test batches, against exactly the n-NN ``files`` (by sha256): then ``write_snapshot_kl`` has
    nothing to do."""
    from rnnviz_lib.train import snapshots

    f = Path(run_dir) / SNAPSHOT_KL_FILE
    if not f.is_file():
        return False
    try:
        kept = read_json(f)
        return (kept["snapshots"] == len(snapshots(run_dir)) and kept["batches"] == batches
                and kept["n_nn"] == {label: _nnn_record(p) for label, p in files.items()})
    except (OSError, ValueError, TypeError, KeyError):
        return False


def write_snapshot_kl(run_dir, corpus, files: dict, batches: int = SNAPSHOT_KL_BATCHES, command: str = "") -> Path:
    """Compute Figure 5 (right) for the run's weight snapshots against the n-NN ``files``
    (``kl_comparison``) and keep it beside the run as ``SNAPSHOT_KL_FILE``, written atomically, so
    that the run can be shipped without its snapshots (``rnnviz runs ship`` calls this). The file
    records each n-NN's folder and sha256 (``read_snapshot_kl`` leaves out an n-NN that changed),
    the batches and symbols compared, the code and when. Returns the file."""
    from rnnviz_lib import buildinfo
    from rnnviz_lib.train import snapshots

    run_dir = Path(run_dir)
    n = len(snapshots(run_dir))
    if n < 2:
        raise RnnvizError(f"{run_dir} has {n} weight snapshot(s); Figure 5 (right) needs at least two (the "
                          "profile's `snapshots:` option keeps them while the run trains)")
    if not files:
        raise RnnvizError(f"no n-NN to compare {run_dir.name}'s snapshots with; train or ship the n-NN of "
                          f"{corpus.name} first (rnnviz nnn --dataset {corpus.name} --n N)")
    table, sentence = kl_comparison(pd.Series({"path": str(run_dir)}, name=run_dir.name), files, corpus, batches)
    test = data.corpus_splits(corpus).test
    out = {"run": run_dir.name, "dataset": corpus.name, "snapshots": n, "batches": int(batches),
           "symbols": int(test.y.shape[0] * batches * test.seq_length), "sentence": sentence,
           "n_nn": {label: _nnn_record(p) for label, p in files.items()},
           "code": buildinfo.code_version(), "versions": buildinfo.versions(), "command": command,
           "written": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
           "rows": table[_KL_COLUMNS].to_dict(orient="records")}
    f = atomic_write_json(run_dir / SNAPSHOT_KL_FILE, out)
    log.info("%s: Figure 5 (right) of %d snapshots against %s written to %s", run_dir.name, n, ", ".join(files), f)
    return f


def read_snapshot_kl(run_dir, files: dict, name: str | None = None) -> tuple[pd.DataFrame | None, str]:
    """The ``SNAPSHOT_KL_FILE`` kept with a run (``write_snapshot_kl``) as ``kl_comparison``'s table,
    restricted to the n-NN of ``files`` that are the very models it was computed against (same
    sha256), with a sentence saying where the numbers come from and what was left out. The table is
    None when the file is missing or no n-NN of ``files`` matches."""
    run_dir = Path(run_dir)
    name = name or run_dir.name
    f = run_dir / SNAPSHOT_KL_FILE
    if not f.is_file():
        return None, (f"`{name}` has neither weight snapshots nor {SNAPSHOT_KL_FILE}: Figure 5 (right) is skipped.")
    kept = read_json(f)
    same = [label for label, p in files.items() if kept["n_nn"].get(label) == _nnn_record(p)]
    changed = [label for label in files if label in kept["n_nn"] and label not in same]
    absent = [label for label in files if label not in kept["n_nn"]]
    where = (f"`{name}`: {kept['snapshots']} snapshots, compared on {kept['symbols']:,} test symbols when the run was "
             f"shipped ({f.name}, commit {str((kept.get('code') or {}).get('commit'))[:10]}; the snapshots themselves "
             "are not shipped).")
    gone = []
    if changed:
        gone.append(f"{', '.join(changed)} differ from the n-NN the table was computed against and are left out "
                    "(recompute it where the run's snapshots are: `rnnviz runs ship` with RNNVIZ_HOME holding the run)")
    if absent:
        gone.append(f"the table has no {', '.join(absent)}")
    sentence = " ".join([where, *(g[0].upper() + g[1:] + "." for g in gone)])
    if not same:
        return None, sentence + " Figure 5 (right) is skipped."
    table = pd.DataFrame(kept["rows"], columns=_KL_COLUMNS)
    return table[table["baseline"].isin(same)].reset_index(drop=True), sentence


def epoch_batches(run_path, corpus, store=None) -> tuple[int, int]:
    """(batches per epoch of the run: its ``max_train_batches``, 0 for whole epochs; batches in a
    whole pass over ``corpus``'s training split), the arguments of ``kl_summary``/``epoch_note``."""
    per_epoch = int(Run(run_path, store).config.get("max_train_batches") or 0)
    return per_epoch, data.corpus_splits(corpus).train.n_batches
