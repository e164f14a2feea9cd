"""Figure 4 in a table and a sentence: the error overlap and the per-symbol comparison of
``analysis.errors``, each with the sentence notebook 08 shows and files with the figure.

API::

    table, sentence = overlap_summary(p_lstm, {"1-gram": p1, ..., "20-gram": p20}, "lstm-3-512", "wp")
    table, sentence = per_symbol_summary(p_lstm, p_20gram, y, labels, ("LSTM", "20-gram"), "lstm-3-512", "wp")

    # the same from the store; each returns {dataset: (table, sentence)} and notes on what is missing
    ref, notes = reference_lstms({"wp": errors.finished_runs("wp", store, profile=profile)}, store)
    out, notes = overlaps(ref, [1, 2, 20], store, profile)
    out, notes = per_symbol(ref, corpora, 20, min_count, store, profile)

Probabilities follow the per-symbol contract of ``analysis.errors``: (B, T), the probability
each model gives the correct next symbol ``splits.test.y[b, t]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnviz_lib import data
from rnnviz_lib.analysis import errors
from rnnviz_lib.analysis.errors import error_overlap, per_symbol_comparison
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.runs import Run

# Symbols the paper names as needing long-range context, in the order the sentence lists them
# (`\r`: a `\r\n` text such as War and Peace breaks its lines there; the `\n` after it is certain)
LONG_RANGE_SYMBOLS = ("}", '"', "\\r", "\\n", "␣", ")", ";")


def overlap_summary(reference: np.ndarray, others: dict[str, np.ndarray], model: str, dataset: str,
                    reference_name: str = "LSTM") -> tuple[pd.DataFrame, str]:
    """Figure 4 (left): errors shared by the reference model and each other model, and a
    sentence about the last (longest-context) one.

    Parameters
    ----------
    reference : (B, T) probabilities of the reference model (the LSTM)
    others : {name: (B, T) probabilities}, shortest context first (the n-grams by n)
    model : the reference's run name, for the sentence
    dataset : named in the sentence

    Returns
    -------
    table : ``errors.error_overlap(reference, others, reference_name=reference_name)``
    sentence : the reference's error count and rate, the share of them the last model also
        makes, and the fractions of symbols each of the two gets wrong alone
    """
    if not others:
        raise RnnvizError("overlap_summary needs at least one model to compare the reference with")
    t = error_overlap(reference, others, reference_name=reference_name)
    n = int(np.size(reference))
    last = t.index[-1]
    ref_errors = int(t[f"{reference_name} errors"].iloc[0])
    sentence = (f"{dataset}: of the {ref_errors:,} errors of {model} ({ref_errors / n:.1%} of symbols), the {last} "
                f"model also makes {t['frac_ref_errors_shared'].iloc[-1]:.0%}; the {last} makes "
                f"{int(t.loc[last, 'other errors']):,} errors, {t.loc[last, 'other only'] / n:.1%} of symbols that the "
                f"{reference_name} gets right against {t.loc[last, f'{reference_name} only'] / n:.1%} the other way "
                "round.")
    return t, sentence


def per_symbol_summary(p_a: np.ndarray, p_b: np.ndarray, y: np.ndarray, labels: list[str], names: tuple[str, str],
                       model: str, dataset: str, min_count: int = 1) -> tuple[pd.DataFrame, str]:
    """Figure 4 (middle/right): mean p(correct) per symbol for two models, and a sentence
    counting the symbols where the first wins.

    Parameters
    ----------
    p_a, p_b : (B, T) probabilities of the two models (the LSTM, then the 20-gram)
    y : (B, T) target symbol ids
    labels : K printable symbol names (``corpus.symbol_label``)
    names : the two models' column names, e.g. ("LSTM", "20-gram")
    model : the first model's run name, for the sentence
    min_count : leave out symbols seen fewer times as a target

    Returns
    -------
    table : ``errors.per_symbol_comparison``, sorted by ``diff`` = a − b, largest first
    sentence : on how many of the symbols the first model's mean is higher, and the difference
        at the symbols the paper names (``LONG_RANGE_SYMBOLS`` that occur)
    """
    t = per_symbol_comparison(p_a, p_b, y, labels, names, min_count)
    a, b = names
    named = [s for s in LONG_RANGE_SYMBOLS if s in t.index]
    sentence = (f"{dataset}: the {a} ({model}) beats the {b} on {int((t['diff'] > 0).sum())} of {len(t)} symbols"
                + ("; " + ", ".join(f"`{s}` {t.at[s, 'diff']:+.3f}" for s in named) if named else "")
                + ". Paper: the LSTM wins on symbols that need long-range reasoning (`}`, `\"`, newline).")
    return t, sentence


# ----------------------------------------------------------------------------------------
# Figure 4 from the store: the LSTM of each dataset and the n-grams it is compared with
# ----------------------------------------------------------------------------------------
def reference_lstms(runs: dict[str, pd.DataFrame], store=None, layers: int = 3) -> tuple[dict, list[str]]:
    """The LSTM Figure 4 uses on each dataset: the best ``layers``-layer LSTM, else the best LSTM
    of any depth (said in a note), else none (said too).

    Parameters
    ----------
    runs : {dataset: ``errors.finished_runs`` table}

    Returns
    -------
    ref : {dataset: (run slug, (B, T) test probabilities)} for the datasets with an LSTM
    notes : Markdown lines naming the stand-in or the missing LSTM
    """
    ref, notes = {}, []
    for ds, r in runs.items():
        lstm = errors.pick_run(r, "lstm", layers=layers)
        if lstm is None and (lstm := errors.pick_run(r, "lstm")) is not None:
            notes.append(f"**Note:** no {layers}-layer LSTM of `{ds}` has finished; Figure 4 uses `{lstm.name}`.")
        if lstm is None:
            notes.append(f"**Note:** no LSTM of `{ds}` has finished; Figure 4 is skipped for `{ds}`.")
            continue
        ref[ds] = (lstm.name, Run(lstm["path"], store).probs())
    return ref, notes


def overlaps(ref: dict, ns, store=None, profile: str | None = None) -> tuple[dict, list[str]]:
    """Figure 4 (left) for each dataset of ``ref``: ``overlap_summary`` of its LSTM against the
    n-gram of each context length in ``ns`` that exists.

    Returns
    -------
    out : {dataset: (table, sentence)} for the datasets with at least one n-gram
    notes : Markdown lines naming the n-grams not found and how to make them
    """
    out, notes = {}, []
    for ds, (name, p) in ref.items():
        grams, why = errors.baseline_probs(ds, "ngram", ns, store, profile)
        if why:
            notes.append(f"**Note:** {ds}: n-grams not found: {', '.join(why)} (`rnnviz ngram --dataset {ds}`).")
        if grams:
            out[ds] = overlap_summary(p, errors.align(grams, p.shape[1]), name, ds)
    return out, notes


def per_symbol(ref: dict, corpora: dict, n: int = 20, min_count: int = 1, store=None, profile: str | None = None,
               datasets=None) -> tuple[dict, list[str]]:
    """Figure 4 (middle/right) for each dataset with an LSTM in ``ref``: ``per_symbol_summary``
    of the LSTM against the n-gram with ``n`` symbols of context.

    Parameters
    ----------
    ref : from ``reference_lstms``
    corpora : {dataset: Corpus}
    datasets : only these, in this order (default: every dataset of ``corpora``)

    Returns
    -------
    out : {dataset: (table, sentence)}, the table's model columns "LSTM" and "<n>-gram"
    notes : Markdown lines naming the datasets skipped for a missing n-gram
    """
    g = errors.baseline_label("ngram", n)
    out, notes = {}, []
    for ds in datasets if datasets is not None else corpora:
        if ds not in ref:
            continue
        c = corpora[ds]
        grams, why = errors.baseline_probs(ds, "ngram", [n], store, profile)
        if not grams:
            notes.append(f"**Note:** {ds}: the {g} is missing ({'; '.join(why.values())}); Figure 4 (middle/right) "
                         "is skipped for it.")
            continue
        name, p = ref[ds]
        T = p.shape[1]
        y = data.corpus_splits(c).test.y[:, :T]
        labels = [c.symbol_label(k) for k in range(c.K)]
        out[ds] = per_symbol_summary(p, errors.align(grams, T)[g], y, labels, ("LSTM", g), name, ds, min_count)
    return out, notes
