"""The error-analysis "onion" of paper §4.4: peel a model's test errors off with six oracles.

A test symbol is an *error* of a model when the model gives it probability < 0.5. Each
oracle, in the paper's order, takes the errors that are still left and removes those it
explains; every error ends up in exactly one layer:

1. **n-gram** — some n-gram model with 1..9 symbols of context (orders 2..10) gives the
   correct symbol probability > 0.5.
2. **dynamic n-long memory**, n = 100, 500, 1000, 5000 — the symbol is inside a word, not its
   first symbol, and the same word occurred (as a whole word) starting at most n symbols
   before this word starts. Smaller n peel first.
3. **rare words**, t = 0..5 — the symbol is inside a word that occurs at most t times in
   the training text. Smaller t peel first.
4. **words** — the symbol follows a space, a quote (``"`` or ``'``) or a newline (``\\n``):
   the first symbol of a word.
5. **punctuation** — the symbol is an ASCII punctuation mark.
6. **boost** — everything left, bucketed by how much the correct symbol's probability would
   have to be raised to reach 0.5 (0.5 − p).

A *word* is a maximal run of ASCII letters, digits and non-ASCII bytes (the UTF-8 pieces of
accented letters), compared byte for byte. "The last n symbols" are read in the corpus, not
in the model's input: each test stream is a contiguous run of the corpus, so the symbols
before its first test symbol are the stream's own preceding corpus text (its validation
part), prepended as context. The RNN never saw that context (its state is reset at the start
of the test pass); the oracle is about the text. Training-word counts come from the train
part of every stream, each stream read as one sequence.

API::

    feats = onion_features(corpus, splits, ngram_probs={2: p2, ..., 10: p10})
    layer = assign_layers(model_probs, feats)          # (B, T) int8: layer index, -1 = not an error
    table = onion_table(layer)                         # counts and shares per layer
    summary = oracle_summary({"best LSTM": layer_a, "small LSTM": layer_b})
    summary, comparison, sentence = onion_summary({"best LSTM": layer_a, "small LSTM": layer_b})

    models, notes = onion_models(errors.finished_runs("wp", store, profile=profile), small_size=64)
    layers, tables, sentence = peel_runs(models, corpus, ngram_oracle("wp", range(1, 10), store, profile)[0], store)
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import string

import numpy as np
import pandas as pd

from rnnviz_lib import data
from rnnviz_lib.analysis.errors import ERROR_THRESHOLD, baseline_label, baseline_probs, check_probs, pick_run
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.evaluate import stream_symbols
from rnnviz_lib.runs import Run

log = logging.getLogger(__name__)

MEMORY_WINDOWS = (100, 500, 1000, 5000)
RARE_THRESHOLDS = (0, 1, 2, 3, 4, 5)
BOOST_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
ORACLES = ("n-gram", "dynamic memory", "rare words", "words", "punctuation", "boost")

_WORD = np.zeros(256, dtype=bool)
_WORD[[ord(c) for c in string.ascii_letters + string.digits]] = True
_WORD[0x80:] = True
_AFTER = np.zeros(256, dtype=bool)
_AFTER[[ord(c) for c in " \"'\n"]] = True
_PUNCT = np.zeros(256, dtype=bool)
_PUNCT[[ord(c) for c in string.punctuation]] = True


@dataclasses.dataclass(frozen=True)
class OnionFeatures:
    """What the oracles know about each test target, independent of the model judged.

    Attributes (all (B, T), aligned with ``splits.test.y``)
    ----------
    ngram_ok : bool, some n-gram of the given orders gives the correct symbol > 0.5
    memory_distance : int64, for a target inside a word from its 2nd symbol: symbols from the
        previous occurrence's start to this word's start; -1 if none or not applicable
    train_count : int64, occurrences in the training text of the word the target is in; -1
        when the target is not a word symbol
    after_break : bool, the previous symbol is a space, quote or newline
    is_punct : bool, the target is ASCII punctuation
    ngram_orders : the n-gram orders the n-gram oracle used
    context : symbols of preceding corpus text available before each stream's test part
    """

    ngram_ok: np.ndarray
    memory_distance: np.ndarray
    train_count: np.ndarray
    after_break: np.ndarray
    is_punct: np.ndarray
    ngram_orders: tuple
    context: int

    @property
    def shape(self) -> tuple:
        return self.ngram_ok.shape

    def head(self, T: int) -> OnionFeatures:
        """The features of the first ``T`` targets of each stream (a run scored on fewer batches)."""
        cut = {f.name: getattr(self, f.name)[:, :T] for f in dataclasses.fields(self)
               if isinstance(getattr(self, f.name), np.ndarray)}
        return dataclasses.replace(self, **cut)


def layer_names(memory_windows=MEMORY_WINDOWS, rare_thresholds=RARE_THRESHOLDS, boost_edges=BOOST_EDGES) -> list[tuple[str, str]]:
    """(oracle, detail) of every layer, in peeling order; ``assign_layers`` returns indices into it."""
    layers = [("n-gram", "n-gram p > 0.5")]
    layers += [("dynamic memory", f"n = {n}") for n in memory_windows]
    layers += [("rare words", f"t = {t}") for t in rare_thresholds]
    layers += [("words", "after space/quote/newline"), ("punctuation", "punctuation")]
    e = list(boost_edges)
    layers += [("boost", f"raise by {a:.1f}–{b:.1f}") for a, b in itertools.pairwise(e)]
    return layers


def _runs(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word runs of a byte array: (starts, ends, run id per position, -1 outside words)."""
    w = _WORD[a]
    prev = np.r_[False, w[:-1]]
    nxt = np.r_[w[1:], False]
    starts = np.flatnonzero(w & ~prev)
    ends = np.flatnonzero(w & ~nxt) + 1
    run = np.cumsum(w & ~prev) - 1
    run[~w] = -1
    return starts, ends, run


def word_counts(streams: np.ndarray) -> collections.Counter:
    """Occurrences of every word (bytes) in a (B, N) uint8 byte array, each row one sequence."""
    c: collections.Counter = collections.Counter()
    for row in np.asarray(streams, dtype=np.uint8):
        starts, ends, _ = _runs(row)
        raw = row.tobytes()
        c.update(raw[s:e] for s, e in zip(starts.tolist(), ends.tolist()))
    return c


def word_features(text: np.ndarray, first_target: int, counts: collections.Counter):
    """Per-target word features of one stream.

    Parameters
    ----------
    text : (C + T + 1,) uint8 bytes: C context symbols, then the stream's x[0] and its T targets
    first_target : index in ``text`` of the first target (C + 1)
    counts : training word counts

    Returns
    -------
    memory_distance, train_count : (T,) int64 (see ``OnionFeatures``)
    """
    starts, ends, run = _runs(text)
    raw = text.tobytes()
    last: dict[bytes, int] = {}
    dist_r = np.full(starts.size, -1, dtype=np.int64)
    count_r = np.zeros(starts.size, dtype=np.int64)
    for r, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
        key = raw[s:e]
        if key in last:
            dist_r[r] = s - last[key]
        last[key] = s
        count_r[r] = counts.get(key, 0)
    pos = np.arange(first_target, text.size)
    rid = run[pos]
    inword = rid >= 0
    memory = np.full(pos.size, -1, dtype=np.int64)
    tcount = np.full(pos.size, -1, dtype=np.int64)
    tcount[inword] = count_r[rid[inword]]
    later = inword.copy()
    later[inword] = pos[inword] > starts[rid[inword]]  # from the word's 2nd symbol on
    memory[later] = dist_r[rid[later]]
    return memory, tcount


def onion_features(corpus, splits, ngram_probs: dict[int, np.ndarray], context: int = max(MEMORY_WINDOWS),
                   counts: collections.Counter | None = None) -> OnionFeatures:
    """Compute every oracle's knowledge of the test split of ``splits`` (model-independent).

    Parameters
    ----------
    corpus : data.Corpus the splits come from (for the bytes of each stream's preceding text)
    splits : data.Splits; the test part is judged, the train part gives word counts
    ngram_probs : {order: (B, T) probabilities}; the paper uses orders 2..10 (1..9 context)
    context : symbols of preceding corpus text to prepend to each test stream (the largest
        memory window); streams with less before them get what there is
    counts : training word counts (default: counted from ``splits.train``)
    """
    test = splits.test
    B, T = test.y.shape
    vocab = corpus.vocab
    if not ngram_probs:
        log.warning("onion: no n-gram probabilities given; the n-gram oracle removes nothing")
    ngram_ok = np.zeros((B, T), dtype=bool)
    for order, p in sorted(ngram_probs.items()):
        ngram_ok |= check_probs(p, (B, T), f"{order}-gram probabilities") > ERROR_THRESHOLD
    if counts is None:
        counts = word_counts(vocab[stream_symbols(splits.train)])
    ids = corpus.ids
    memory = np.empty((B, T), dtype=np.int64)
    tcount = np.empty((B, T), dtype=np.int64)
    stream = vocab[stream_symbols(test)]  # (B, T + 1) bytes
    short = 0
    for b in range(B):
        s0 = int(test.start[b])
        c = min(int(context), s0)
        short += c < context
        pre = vocab[ids[s0 - c:s0]]
        text = np.concatenate([pre, stream[b]])
        memory[b], tcount[b] = word_features(text, c + 1, counts)
    if short:
        log.info("onion: %d streams have fewer than %d symbols of preceding text", short, context)
    prev_sym = vocab[test.x]
    return OnionFeatures(
        ngram_ok=ngram_ok,
        memory_distance=memory,
        train_count=tcount,
        after_break=_AFTER[prev_sym],
        is_punct=_PUNCT[vocab[test.y]],
        ngram_orders=tuple(sorted(int(k) for k in ngram_probs)),
        context=int(context),
    )


def assign_layers(probs: np.ndarray, feats: OnionFeatures, memory_windows=MEMORY_WINDOWS,
                  rare_thresholds=RARE_THRESHOLDS, boost_edges=BOOST_EDGES,
                  threshold: float = ERROR_THRESHOLD) -> np.ndarray:
    """The onion layer that explains each error of a model.

    Parameters
    ----------
    probs : (B, T) probabilities the model gives the correct symbols
    feats : from ``onion_features`` on the same split

    Returns
    -------
    layer : (B, T) int16, an index into ``layer_names(...)`` for every error, -1 where the
        model is right (p >= 0.5). Layers are taken in order, each from the errors still left.
    """
    p = check_probs(probs, feats.shape, "model probabilities")
    if list(boost_edges) != sorted(boost_edges) or boost_edges[0] > 0 or boost_edges[-1] < threshold:
        raise RnnvizError(f"boost edges must rise from 0 to at least {threshold}, got {list(boost_edges)}")
    left = p < threshold
    layer = np.full(p.shape, -1, dtype=np.int16)
    k = 0

    def peel(mask):
        nonlocal k, left
        take = left & mask
        layer[take] = k
        left = left & ~take
        k += 1

    peel(feats.ngram_ok)
    for n in memory_windows:
        peel((feats.memory_distance > 0) & (feats.memory_distance <= n))
    for t in rare_thresholds:
        peel((feats.train_count >= 0) & (feats.train_count <= t))
    peel(feats.after_break)
    peel(feats.is_punct)
    need = threshold - p
    e = list(boost_edges)
    for i, (a, b) in enumerate(itertools.pairwise(e)):
        peel((need > a) & (need <= b) if i else (need <= b))
    assert not left.any(), "boost edges leave errors unassigned"
    return layer


def onion_table(layer: np.ndarray, names: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Counts per layer of one model: ``removed``, ``share`` (of its errors), ``left`` after it.

    Index (oracle, detail) in peeling order; a final ("total", "errors") row holds the error count.
    """
    names = names or layer_names()
    layer = np.asarray(layer)
    errors = int((layer >= 0).sum())
    counts = np.bincount(layer[layer >= 0].astype(np.int64), minlength=len(names))
    if counts.size != len(names):
        raise RnnvizError(f"layer indices go up to {counts.size - 1} but only {len(names)} layers are named")
    df = pd.DataFrame(names, columns=["oracle", "detail"])
    df["removed"] = counts
    df["share"] = counts / max(errors, 1)
    df["left"] = errors - np.cumsum(counts)
    df = pd.concat([df, pd.DataFrame([{"oracle": "total", "detail": "errors", "removed": errors,
                                       "share": 1.0, "left": 0}])], ignore_index=True)
    return df.set_index(["oracle", "detail"])


def oracle_counts(layer: np.ndarray, names: list[tuple[str, str]] | None = None) -> pd.Series:
    """Errors removed by each of the six oracles (sub-layers summed), in the paper's order."""
    t = onion_table(layer, names).drop(index="total", level=0)
    return t["removed"].groupby(level=0, sort=False).sum().reindex(list(ORACLES), fill_value=0)


def oracle_summary(layers: dict[str, np.ndarray], names: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Errors per oracle for several models: counts and shares, plus each model's error total.

    Returns a DataFrame indexed by oracle (and "total") with columns ``<model> errors`` and
    ``<model> share`` for each model. With two models (pass the better one first) it adds
    ``difference`` = second − first per oracle (the paper's 44K errors that the small LSTM makes
    on top of the best one, 36K of them n-gram errors) and ``difference share`` of the total.
    """
    cols = {}
    counts = {}
    for model, lay in layers.items():
        c = oracle_counts(lay, names)
        total = int((np.asarray(lay) >= 0).sum())
        counts[model] = pd.concat([c, pd.Series({"total": total})])
        cols[f"{model} errors"] = counts[model]
        cols[f"{model} share"] = counts[model] / max(total, 1)
    df = pd.DataFrame(cols)
    models = list(layers)
    if len(models) == 2:
        diff = counts[models[1]] - counts[models[0]]
        df["difference"] = diff
        df["difference share"] = diff / max(int(diff["total"]), 1) if diff["total"] else np.nan
    df.index.name = "oracle"
    return df


def paper_comparison(summary: pd.DataFrame, best: str, small: str | None, n_symbols: int) -> pd.DataFrame:
    """Our onion beside the paper's numbers (PAPER.md §6.6, ``paper.ONION``).

    Parameters
    ----------
    summary : ``oracle_summary({best: ..., small: ...})`` (``small`` may be None)
    n_symbols : test symbols judged (the paper's 330K); counts are also given per 1000 symbols
        so that a profile scored on fewer symbols compares with the paper

    Returns
    -------
    DataFrame indexed by quantity with ``ours``, ``paper`` and ``diff`` (NaN where the paper
    gives no number). Shares are fractions of the model's errors; rates fractions of symbols.
    """
    from rnnviz_lib.paper import ONION

    rows = []
    tot_b = float(summary.at["total", f"{best} errors"])
    rows.append(("best LSTM errors", tot_b, ONION["best_lstm_errors"]))
    rows.append(("best LSTM error rate", tot_b / n_symbols, ONION["best_lstm_errors"] / ONION["test_symbols"]))
    for oracle in ORACLES:
        rows.append((f"best LSTM share: {oracle}", float(summary.at[oracle, f"{best} share"]),
                     ONION["share"].get(oracle)))
    if small is not None:
        tot_s = float(summary.at["total", f"{small} errors"])
        rows.append(("small LSTM errors", tot_s, ONION["small_lstm_errors"]))
        rows.append(("small LSTM error rate", tot_s / n_symbols, ONION["small_lstm_errors"] / ONION["test_symbols"]))
        diff = float(summary.at["total", "difference"])
        rows.append(("difference (small − best) errors", diff, ONION["difference"]))
        rows.append(("difference per symbol", diff / n_symbols, ONION["difference"] / ONION["test_symbols"]))
        ng = float(summary.at["n-gram", "difference"])
        rows.append(("difference: n-gram errors", ng, ONION["difference_ngram"]))
        rows.append(("difference: n-gram share", ng / diff if diff else np.nan,
                     ONION["difference_ngram"] / ONION["difference"]))
    rows.append(("test symbols", float(n_symbols), ONION["test_symbols"]))
    df = pd.DataFrame(rows, columns=["quantity", "ours", "paper"]).set_index("quantity")
    df["paper"] = df["paper"].astype(float)
    df["diff"] = df["ours"] - df["paper"]
    return df


def _thousands(x: float) -> str:
    return f"{x / 1000:.0f}K"


def onion_summary(layers: dict[str, np.ndarray], n_symbols: int | None = None,
                  names: list[tuple[str, str]] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The onion of one or two LSTMs in tables and a sentence, beside the paper's numbers.

    Parameters
    ----------
    layers : {model: (B, T) ``assign_layers`` output}, the best LSTM first and optionally a
        smaller one second (the paper's LSTM-3-512 and LSTM-1-64), e.g. ``{"best LSTM": ...,
        "small LSTM": ...}``
    n_symbols : test symbols judged, the denominator of the error rates (default B·T of the layers)

    Returns
    -------
    summary : ``oracle_summary(layers)``: errors per oracle for each model (and their difference)
    comparison : ``paper_comparison(summary, ...)``: ours beside the paper's numbers
    sentence : the best model's error count and rate, each oracle's share beside the paper's,
        and with two models how many more errors the second makes and which share of them are
        n-gram errors (the paper: 36K of its 44K extra errors) -- or that it makes fewer
    """
    from rnnviz_lib.paper import ONION

    if not 1 <= len(layers) <= 2:
        raise RnnvizError(f"onion_summary takes the best LSTM and optionally a smaller one, got {len(layers)} models")
    best, small = (list(layers) + [None])[:2]
    n_symbols = int(np.asarray(layers[best]).size) if n_symbols is None else n_symbols
    summary = oracle_summary(layers, names)
    comparison = paper_comparison(summary, best, small, n_symbols)
    sh = summary[f"{best} share"]
    sentence = (f"{best[:1].upper()}{best[1:]}: {int(summary.at['total', f'{best} errors']):,} errors "
                f"({comparison.at['best LSTM error rate', 'ours']:.0%} of symbols; paper "
                f"{_thousands(ONION['best_lstm_errors'])} of {_thousands(ONION['test_symbols'])}, "
                f"{ONION['best_lstm_errors'] / ONION['test_symbols']:.0%}); "
                + ", ".join(f"{o} {sh[o]:.0%} (paper {ONION['share'][o]:.0%})" for o in ONION["share"]) + ".")
    if small is not None:
        d = summary["difference"]
        extra = int(d["total"])
        paper = (f"{_thousands(ONION['difference_ngram'])} of {_thousands(ONION['difference'])}, "
                 f"{ONION['difference_ngram'] / ONION['difference']:.0%}")
        if extra > 0:
            sentence += (f" The {small} makes {extra:,} more errors, {d['n-gram'] / extra:.0%} of them n-gram errors "
                         f"(paper: {paper}).")
        else:
            sentence += (f" The {small} makes {'no more' if extra == 0 else f'{-extra:,} fewer'} errors than the "
                         f"{best}, so there are no extra errors to break down (paper: {paper} of the small LSTM's "
                         "extra errors are n-gram errors).")
    return summary, comparison, sentence


# ----------------------------------------------------------------------------------------
# The onion of a profile's runs: which LSTMs, the n-gram oracle's models, the peeling
# ----------------------------------------------------------------------------------------
def onion_models(runs: pd.DataFrame | None, small_size: int = 64, dataset: str = "",
                 profile: str = "") -> tuple[dict, list[str]]:
    """The LSTMs to peel: the best finished LSTM and the 1-layer LSTM of grid row ``small_size``
    (the paper's LSTM-3-512 and LSTM-1-64), from ``errors.finished_runs`` rows.

    Returns
    -------
    models : {"best LSTM": row, "small LSTM": row}; the small one only when it exists and is not
        the best one too; empty when no LSTM has finished
    notes : Markdown lines saying which model is missing and what is skipped
    """
    has = runs is not None and not runs.empty
    best = pick_run(runs, "lstm") if has else None
    if best is None:
        return {}, [f"**Note:** no finished LSTM of `{dataset}` in profile `{profile}`: the onion is skipped."]
    small = pick_run(runs, "lstm", layers=1, size=small_size)
    notes = []
    if small is None:
        notes.append(f"**Note:** no 1-layer LSTM of row {small_size} has finished: only the best LSTM is peeled.")
    elif small.name == best.name:
        notes.append(f"**Note:** the small LSTM `{small.name}` is also the best LSTM of this profile: there is no "
                     "difference between two models to break down.")
    return {"best LSTM": best} | ({"small LSTM": small} if small is not None and small.name != best.name else {}), notes


def ngram_oracle(dataset, ns, store=None, profile: str | None = None) -> tuple[dict[int, np.ndarray], list[str]]:
    """The n-gram oracle's models: test probabilities of the n-gram of each context length n in
    ``ns`` that exists, keyed by its order n + 1 (``onion_features``' ``ngram_probs``).

    Returns ({order: (B, T) probabilities}, notes naming the missing n-grams)."""
    found, missing = baseline_probs(dataset, "ngram", ns, store, profile)
    by_order = {int(n) + 1: found[baseline_label("ngram", n)] for n in ns if baseline_label("ngram", n) in found}
    notes = [f"**Note:** the n-gram oracle uses only the n-grams found ({', '.join(found) or 'none'}); missing: "
             f"{', '.join(missing)}."] if missing else []
    return by_order, notes


def peel_runs(models: dict, corpus, ngram_probs: dict[int, np.ndarray], store=None) -> tuple[dict, dict, str]:
    """Peel the test errors of each run in ``models`` (``onion_models``) on ``corpus``.

    Every run is judged on the first T test columns of each stream, T the fewest any of them
    scored.

    Returns
    -------
    layers : {label: (B, T) ``assign_layers``}, the input of ``onion_summary``
    tables : {label: ``onion_table``}
    sentence : each model's run, test loss and parameters, and the test symbols judged
    """
    T = min(int(m["test_columns"]) for m in models.values())
    feats = onion_features(corpus, data.corpus_splits(corpus), ngram_probs).head(T)
    layers = {label: assign_layers(Run(m["path"], store).probs()[:, :T], feats) for label, m in models.items()}
    n = feats.shape[0] * T
    sentence = (", ".join(f"{k} = `{m.name}` (test loss {m['test_loss']:.3f}, {m['params']:,} parameters)"
                          for k, m in models.items()) + f"; {n:,} test symbols judged.")
    return layers, {label: onion_table(lay) for label, lay in layers.items()}, sentence
