"""Figure 4 in a table and a sentence: the error overlap and the per-symbol comparison of
``analysis.errors``, each with the sentence notebook 08 shows and files with the figure.

API::

    table, sentence = overlap_summary(p_lstm, {"1-gram": p1, ..., "20-gram": p20}, "lstm-3-512", "wp")
    table, sentence = per_symbol_summary(p_lstm, p_20gram, y, labels, ("LSTM", "20-gram"), "lstm-3-512", "wp")

Probabilities follow the per-symbol contract of ``analysis.errors``: (B, T), the probability
each model gives the correct next symbol ``splits.test.y[b, t]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnviz_lib.analysis.errors import error_overlap, per_symbol_comparison
from rnnviz_lib.errors import RnnvizError

# Symbols the paper names as needing long-range context, in the order the sentence lists them
LONG_RANGE_SYMBOLS = ("}", '"', "\\n", "␣", ")", ";")


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
