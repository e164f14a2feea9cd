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


# ----------------------------------------------------------------------------------------
# Inputs: finished RNN runs and baselines of a dataset, with what is missing and why
# ----------------------------------------------------------------------------------------
def finished_runs(dataset: str, store=None, run_dirs=None, profile=None, extras: bool = False) -> pd.DataFrame:
    """One row per finished RNN run of ``dataset`` in ``profile``'s grid (``runs.finished_runs``).

    Parameters
    ----------
    profile : whose runs (name, YAML path or grid dict); required unless ``run_dirs`` is given.
        Never falls back to another profile's runs: to read those, ask for that profile
    run_dirs : instead, exactly these run directories
    extras : also the runs of the profile's ``extra:`` grids (other recipes, e.g. weight snapshots)

    Returns
    -------
    DataFrame indexed by slug with ``cell``, ``layers``, ``size``, ``hidden``, ``params``,
    ``test_loss``, ``test_columns`` (T, the test columns scored), ``path`` and ``profile`` (the
    profile the runs were read for, "" for ``run_dirs``), sorted by test loss.
    """
    from rnnviz_lib.runs import Run, finished_runs as finished_runs_of
    from rnnviz_lib.store import Store

    store = store or Store()
    if run_dirs is not None:
        runs = [r for r in (Run(d, store, profile) for d in run_dirs)
                if r.finished and r.started and r.config.get("dataset") == dataset and "test_loss" in r.metrics]
    elif profile is not None:
        runs = finished_runs_of(dataset, profile, store, extras=extras)
    else:
        raise RnnvizError(f"whose runs of {dataset}? pass profile= (the report's profile; another profile's runs "
                          "only when you mean to read them) or run_dirs=")
    rows = []
    for run in runs:
        cfg, m = run.config, run.metrics
        rows.append({"slug": m.get("slug", run.name), "cell": cfg["cell"], "layers": int(cfg["layers"]),
                     "size": int(cfg["size"]), "hidden": int(m.get("hidden", cfg.get("hidden", 0))),
                     "params": int(m.get("params", 0)), "test_loss": float(m["test_loss"]),
                     "test_columns": int(run.probs_shape()[1]), "path": str(run.path),
                     "profile": "" if run.profile is None else str(run.profile)})
    cols = ["cell", "layers", "size", "hidden", "params", "test_loss", "test_columns", "path", "profile"]
    if not rows:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="slug"))
    df = pd.DataFrame(rows).drop_duplicates("slug").set_index("slug")
    return df[cols].sort_values("test_loss", kind="stable")


def pick_run(runs: pd.DataFrame, cell: str = "lstm", layers: int | None = None, size: int | None = None,
             best: bool = True):
    """The run of ``runs`` (from ``finished_runs``) with the lowest test loss among those of
    ``cell`` (and ``layers``/``size`` when given); None when there is none."""
    sel = runs[runs["cell"] == cell]
    if layers is not None:
        sel = sel[sel["layers"] == int(layers)]
    if size is not None:
        sel = sel[sel["size"] == int(size)]
    if sel.empty:
        return None
    return sel.sort_values("test_loss", kind="stable").iloc[0 if best else -1]


def baseline_label(kind: str, n: int) -> str:
    """Figure label of a baseline with context length n (the paper's naming: "20-gram" has 20
    symbols of context, an order-21 model; "3-NN" reads 3 symbols)."""
    return f"{int(n)}-gram" if kind == "ngram" else f"{int(n)}-NN"


def baseline_probs(dataset, kind: str, ns, store=None, profile: str | None = None) -> tuple[dict, dict]:
    """Load the test probabilities of each baseline that exists.

    Returns
    -------
    probs : {label: (B, T) float32} for the baselines found, in ``ns`` order
    missing : {label: why} for the others (the message says how to make them)
    """
    from rnnviz_lib import baselines

    probs, missing = {}, {}
    for n in ns:
        label = baseline_label(kind, n)
        try:
            probs[label] = baselines.load_test_probs(dataset, kind, int(n), store=store, profile=profile)
        except RnnvizError as exc:
            missing[label] = str(exc)
    return probs, missing


def align(probs: dict, T: int) -> dict:
    """Cut every (B, T') array to its first ``T`` columns (a run scored on fewer test batches
    than the baselines); the columns are the same test positions from each stream's start."""
    out = {}
    for name, p in probs.items():
        if p.shape[1] < T:
            raise RnnvizError(f"{name} has only {p.shape[1]} test columns, fewer than the {T} needed")
        out[name] = p[:, :T]
    return out
