"""Figure 1 (right): a t-SNE map of models, each a point given by the probabilities it assigns
to the correct test symbols.

API::

    X = probability_matrix({"lstm-2-128": p1, ...}, max_symbols=20000, seed=0)   # (M, N)
    Y = embed(X, seed=0)                                                           # (M, 2)
    sep = group_separation(X, meta, by=("cell", "size", "depth"))                  # one row per grouping

Each model is the vector of its per-symbol probabilities (CONTRIBUTING.md contract) over the
same test positions; ``max_symbols`` draws a fixed, seeded subset of positions so the map is
cheap yet reproducible. The t-SNE is scikit-learn's with ``random_state=seed`` and PCA
initialisation, its perplexity adapted to the number of points (``perplexity_for``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rnnviz_lib.analysis.errors import check_probs
from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)

MIN_POINTS = 4  # fewer points make no map worth drawing (and t-SNE needs perplexity < points)


def probability_matrix(probs: dict[str, np.ndarray], max_symbols: int = 0, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Stack per-symbol probabilities into one row per model.

    Parameters
    ----------
    probs : {name: (B, T) probabilities}, all of the same shape
    max_symbols : keep this many positions drawn at random (seeded), 0 = all B·T

    Returns
    -------
    X : (M, N) float32, one row per model in ``probs`` order
    names : the M model names
    """
    if not probs:
        raise RnnvizError("no models to embed; train some models first (rnnviz grid run)")
    names = list(probs)
    shape = np.shape(probs[names[0]])
    n = int(np.prod(shape))
    idx = None
    if max_symbols and max_symbols < n:
        idx = np.sort(np.random.default_rng(seed).choice(n, size=int(max_symbols), replace=False))
    rows = []
    for name in names:
        v = check_probs(probs[name], shape, f"probabilities of {name}").astype(np.float32).ravel()
        rows.append(v if idx is None else v[idx])
    return np.stack(rows), names


def perplexity_for(n_points: int, target: float = 30.0) -> float:
    """t-SNE perplexity for ``n_points``: the usual 30, lowered to (M − 1) / 3 for small M
    (each point's neighbourhood must fit among the others; scikit-learn needs perplexity < M)."""
    if n_points < MIN_POINTS:
        raise RnnvizError(f"t-SNE needs at least {MIN_POINTS} models, got {n_points}; train more models")
    return float(max(1.0, min(target, (n_points - 1) / 3.0)))


def embed(X: np.ndarray, seed: int = 0, perplexity: float | None = None) -> np.ndarray:
    """2-D t-SNE of the rows of X (M, N); reproducible for a given ``seed``. Returns (M, 2)."""
    from sklearn.manifold import TSNE

    X = np.asarray(X, dtype=np.float64)
    M = X.shape[0]
    perp = perplexity_for(M) if perplexity is None else float(perplexity)
    if not 0 < perp < M:
        raise RnnvizError(f"t-SNE perplexity must be between 0 and the number of points ({M}), got {perp}")
    tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=int(seed), learning_rate="auto",
                max_iter=1000, method="exact")
    return tsne.fit_transform(X).astype(np.float64)


def _pairwise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    sq = (X * X).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def group_separation(X: np.ndarray, meta: pd.DataFrame, by=("cell", "size", "depth")) -> pd.DataFrame:
    """How strongly models cluster by each attribute: within- vs between-group distances.

    Parameters
    ----------
    X : (M, N) rows from ``probability_matrix`` (or an (M, 2) embedding)
    meta : M rows (same order) with a column per attribute in ``by``

    Returns
    -------
    DataFrame indexed by attribute with ``groups``, ``within`` (mean distance between models
    of the same group), ``between`` (of different groups), ``ratio`` = within / between
    (below 1: the attribute clusters; the smallest ratio is the strongest grouping) and
    scikit-learn's ``silhouette`` (higher clusters better). An attribute with fewer than two
    groups of at least two models gets NaN: one model alone in its group (say the only
    128-unit model among 64-unit ones) would measure that model's distance, not a grouping.
    """
    from sklearn.metrics import silhouette_score

    D = _pairwise(X)
    M = D.shape[0]
    if len(meta) != M:
        raise RnnvizError(f"meta has {len(meta)} rows for {M} models")
    off = ~np.eye(M, dtype=bool)
    rows = {}
    for attr in by:
        lab = meta[attr].astype(str).to_numpy()
        same = (lab[:, None] == lab[None, :]) & off
        diff = lab[:, None] != lab[None, :]
        k = len(set(lab))
        if (pd.Series(lab).value_counts() >= 2).sum() < 2:
            rows[attr] = {"groups": k, "within": np.nan, "between": np.nan, "ratio": np.nan, "silhouette": np.nan}
            continue
        within = D[same].mean() if same.any() else np.nan
        between = D[diff].mean() if diff.any() else np.nan
        sil = silhouette_score(D, lab, metric="precomputed") if 2 <= k <= M - 1 else np.nan
        rows[attr] = {"groups": k, "within": within, "between": between,
                      "ratio": within / between if between and not np.isnan(between) else np.nan, "silhouette": sil}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "grouped by"
    return out


def nearest(X: np.ndarray, names: list[str], queries, candidates) -> pd.DataFrame:
    """For each model in ``queries``, the nearest model among ``candidates`` (Euclidean distance
    between probability vectors, rows of X (M, N) named by ``names``).

    Returns a DataFrame indexed by query with ``nearest`` and ``distance``.
    """
    pos = {n: i for i, n in enumerate(names)}
    missing = [n for n in list(queries) + list(candidates) if n not in pos]
    if missing:
        raise RnnvizError(f"unknown model(s) {', '.join(missing)}; pass names of rows of X")
    D = _pairwise(X)
    cand = [c for c in candidates]
    rows = {}
    for q in queries:
        others = [c for c in cand if c != q]
        if not others:
            continue
        d = D[pos[q], [pos[c] for c in others]]
        j = int(np.argmin(d))
        rows[q] = {"nearest": others[j], "distance": float(d[j])}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["nearest", "distance"])
    out.index.name = "model"
    return out
