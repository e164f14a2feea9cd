"""Figure 4: overlap of test errors between models, and mean probability per symbol type.

API::

    wrong = error_mask(probs)                                   # (B, T) bool: p(correct) < 0.5
    table = error_overlap(lstm_probs, {"3-gram": p3, ...})      # one row per other model
    table = per_symbol_comparison(p_lstm, p_20gram, y, labels)  # one row per symbol type

All probability arrays follow the per-symbol contract (CONTRIBUTING.md): float32 ``(B, T)``,
``probs[b, t]`` the probability a model gives the correct next symbol ``splits.test.y[b, t]``.
A symbol is an *error* of a model when that probability is below 0.5 (PAPER.md §6.6).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)

ERROR_THRESHOLD = 0.5


def check_probs(probs: np.ndarray, shape: tuple | None = None, name: str = "probabilities") -> np.ndarray:
    """Validate a per-symbol probability array: finite, in [0, 1], and of ``shape`` if given."""
    p = np.asarray(probs)
    if shape is not None and p.shape != tuple(shape):
        raise RnnvizError(f"{name} have shape {p.shape}, expected {tuple(shape)} (the layout of splits.test.y); "
                          "were they computed on the same dataset and split?")
    if p.size and (not np.isfinite(p).all() or p.min() < 0 or p.max() > 1):
        raise RnnvizError(f"{name} must be probabilities in [0, 1]; got values in [{np.nanmin(p)}, {np.nanmax(p)}]")
    return p


def error_mask(probs: np.ndarray, threshold: float = ERROR_THRESHOLD) -> np.ndarray:
    """(B, T) bool: True where the model gives the correct symbol probability < ``threshold``."""
    return check_probs(probs) < threshold


def error_overlap(reference: np.ndarray, others: dict[str, np.ndarray], threshold: float = ERROR_THRESHOLD,
                  reference_name: str = "LSTM") -> pd.DataFrame:
    """Overlap of the errors of ``reference`` (the LSTM) with those of each model in ``others``.

    Parameters
    ----------
    reference : (B, T) probabilities of the reference model
    others : {name: (B, T) probabilities}, e.g. the n-gram models by order

    Returns
    -------
    DataFrame indexed by the other model's name, with counts ``both``, ``<ref> only``,
    ``other only``, ``neither`` (they add up to the number of test symbols) and the shares
    ``frac_ref_errors_shared`` (of the reference's errors, the fraction the other model makes
    too), ``frac_other_errors_shared`` (vice versa) and ``jaccard`` (both / either).
    """
    ref = error_mask(reference, threshold)
    rows = {}
    for name, p in others.items():
        oth = check_probs(p, ref.shape, f"probabilities of {name}") < threshold
        both = int((ref & oth).sum())
        r_only = int((ref & ~oth).sum())
        o_only = int((~ref & oth).sum())
        either = both + r_only + o_only
        rows[name] = {
            "both": both,
            f"{reference_name} only": r_only,
            "other only": o_only,
            "neither": int(ref.size - either),
            f"{reference_name} errors": int(ref.sum()),
            "other errors": int(oth.sum()),
            "frac_ref_errors_shared": both / max(int(ref.sum()), 1),
            "frac_other_errors_shared": both / max(int(oth.sum()), 1),
            "jaccard": both / max(either, 1),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def per_symbol_mean(probs: np.ndarray, y: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean probability of the correct symbol, per target symbol id.

    Returns
    -------
    mean : (K,) float64, NaN for symbols that never occur as a target
    count : (K,) int64 occurrences as a target
    """
    p = check_probs(probs)
    y = np.asarray(y)
    if y.shape != p.shape:
        raise RnnvizError(f"targets have shape {y.shape} but probabilities {p.shape}; pass splits.test.y of the same split")
    if y.size and int(y.max()) >= K:
        raise RnnvizError(f"target id {int(y.max())} is outside a vocabulary of K={K}")
    count = np.bincount(y.ravel().astype(np.int64), minlength=K)
    total = np.bincount(y.ravel().astype(np.int64), weights=p.ravel().astype(np.float64), minlength=K)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return mean, count


def per_symbol_comparison(p_a: np.ndarray, p_b: np.ndarray, y: np.ndarray, labels: list[str],
                          names: tuple[str, str] = ("LSTM", "20-gram"), min_count: int = 1) -> pd.DataFrame:
    """Mean probability of the correct symbol per symbol type for two models, sorted by a − b.

    Parameters
    ----------
    p_a, p_b : (B, T) probabilities of the two models
    y : (B, T) target symbol ids (``splits.test.y``)
    labels : K printable symbol names (``corpus.symbol_label``)
    min_count : leave out symbols seen fewer times as a target in the test split

    Returns
    -------
    DataFrame indexed by symbol label with ``count``, ``<a>``, ``<b>`` and ``diff`` (= a − b),
    sorted by ``diff`` descending (the symbols where model a gains most come first).
    """
    K = len(labels)
    ma, count = per_symbol_mean(p_a, y, K)
    mb, _ = per_symbol_mean(check_probs(p_b, np.shape(p_a), f"probabilities of {names[1]}"), y, K)
    df = pd.DataFrame({"symbol": labels, "count": count, names[0]: ma, names[1]: mb})
    df["diff"] = df[names[0]] - df[names[1]]
    df = df[df["count"] >= max(int(min_count), 1)]
    return df.sort_values("diff", ascending=False, kind="stable").set_index("symbol")
