"""Figure 1 (right): a t-SNE map of models, each a point given by the probabilities it assigns
to the correct test symbols.

API::

    X = probability_matrix({"lstm-2-128": p1, ...}, max_symbols=20000, seed=0)   # (M, N)
    Y = embed(X, seed=0)                                                           # (M, 2)
    sep = group_separation(X, meta, by=("cell", "size", "depth"))                  # one row per grouping

    # the same from the store, with the sentences notebook 06 shows
    runs, base, sentence = map_inputs("wp", profile, store, ngram_ns=[1, 2], nnn_ns=[1])
    meta, X, Y, sentence = model_map(*model_points(runs, base, store), max_symbols=5000, seed=0)
    sep, sentence = grouping(X, Y, meta)
    near, sentence = nearest_baselines(X, meta)

Each model is the vector of its per-symbol probabilities (CONTRIBUTING.md contract) over the
same test positions; ``max_symbols`` draws a fixed, seeded subset of positions so the map is
cheap yet reproducible. The t-SNE is scikit-learn's with ``random_state=seed`` and PCA
initialisation, its perplexity adapted to the number of points (``perplexity_for``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rnnviz_lib import paper
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


# ----------------------------------------------------------------------------------------
# Figure 1 (right) from the store: the models of a profile, their map, and sentences
# ----------------------------------------------------------------------------------------
RNN_CELLS = paper.CELLS  # the rows of the map that are RNNs (the rest are baselines)


def map_inputs(dataset: str, profile, store=None, ngram_ns=(), nnn_ns=()) -> tuple[pd.DataFrame, dict, str]:
    """The finished RNN runs of ``profile`` on ``dataset`` and the baselines found.

    Parameters
    ----------
    ngram_ns, nnn_ns : context lengths of the n-gram and n-NN baselines to add (empty: none)

    Returns
    -------
    runs : ``errors.finished_runs`` (one row per run, best first)
    baselines : {label: (B, T) probabilities} of the baselines found ("3-gram", "2-NN", ...)
    sentence : how many runs and baselines were found, and which baselines were not
    """
    from rnnviz_lib.analysis import errors

    runs = errors.finished_runs(dataset, store, profile=profile)
    base, missing = {}, {}
    for kind, ns in (("ngram", ngram_ns), ("nnn", nnn_ns)):
        found, why = errors.baseline_probs(dataset, kind, list(ns), store, profile)
        base.update(found)
        missing.update(why)
    sentence = (f"**{len(runs)} finished RNN runs** of `{dataset}` in profile `{profile}`; **{len(base)} baselines** "
                f"found" + (f", {len(missing)} not found: {', '.join(missing)}" if missing else "") + ".")
    return runs, base, sentence


def model_points(runs: pd.DataFrame, baselines: dict[str, np.ndarray], store=None) -> tuple[pd.DataFrame, dict]:
    """One row per model to place on the map, and its probabilities over the same test positions.

    Every model is cut to the fewest test columns T any run scored (``errors.align``); the
    baselines are added only when there is a run to align them with.

    Returns
    -------
    meta : ``model``, ``cell`` (lstm/gru/rnn, n-gram or n-NN), ``size``, ``depth`` (NaN for a
        baseline), ``label`` (a baseline's context length) and ``test_loss`` (nats: a run's from
        its metrics, a baseline's over the whole test split, its Table 2 number), runs first,
        best first
    probs : {model: (B, T) probabilities}, in ``meta`` order
    """
    from rnnviz_lib.analysis.errors import align
    from rnnviz_lib.evaluate import cross_entropy
    from rnnviz_lib.runs import Run

    cols = ["model", "cell", "size", "depth", "label", "test_loss"]
    if runs.empty:
        return pd.DataFrame(columns=cols), {}
    T = int(runs["test_columns"].min())
    probs = {slug: Run(row["path"], store).probs()[:, :T] for slug, row in runs.iterrows()}
    probs.update(align(baselines, T))
    rows = [{"model": s, "cell": r["cell"], "size": r["size"], "depth": r["layers"], "label": s,
             "test_loss": r["test_loss"]} for s, r in runs.iterrows()]
    rows += [{"model": s, "cell": "n-gram" if s.endswith("gram") else "n-NN", "size": np.nan, "depth": np.nan,
              "label": s.split("-")[0], "test_loss": cross_entropy(p)} for s, p in baselines.items()]
    return pd.DataFrame(rows, columns=cols), probs


def model_map(meta: pd.DataFrame, probs: dict, max_symbols: int = 0, seed: int = 0,
              profile: str = "") -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None, str]:
    """Place the models of ``model_points`` on a t-SNE map.

    Returns
    -------
    meta : the input with the map coordinates ``x``, ``y`` added (unchanged when too few models)
    X : (M, N) probability vectors (``probability_matrix``, rows in ``meta`` order), or None
        when there are fewer than ``MIN_POINTS`` models
    Y : (M, 2) map coordinates, or None
    sentence : how many models were embedded from how many positions, or why there is no map
    """
    if len(meta) < MIN_POINTS:
        return meta, None, None, (f"**Not enough models for a t-SNE map:** {len(meta)} found, at least {MIN_POINTS} "
                                  f"needed. Train the grid of profile `{profile}` (`rnnviz report --profile {profile}` "
                                  "runs it).")
    X, _ = probability_matrix({m: probs[m] for m in meta["model"]}, max_symbols, seed)
    Y = embed(X, seed=seed)
    meta = meta.assign(x=Y[:, 0], y=Y[:, 1])
    return meta, X, Y, (f"Embedded {len(meta)} models from {X.shape[1]:,} test positions each "
                        f"(perplexity {perplexity_for(len(meta)):.1f}).")


def grouping(X: np.ndarray | None, Y: np.ndarray | None, meta: pd.DataFrame,
             by=("cell", "size", "depth")) -> tuple[pd.DataFrame | None, str]:
    """How strongly the RNNs of the map cluster by each attribute, in probability space and on
    the map, and a sentence naming the strongest grouping.

    Returns
    -------
    sep : ``group_separation`` of the RNN rows of X, joined with the map's ``ratio`` and
        ``silhouette`` (suffix " (map)"); None with fewer than three RNNs or no map
    sentence : the attribute with the smallest ratio and every ratio; why there is none; ""
        when there is no map
    """
    if X is None:
        return None, ""
    rnn = meta["cell"].isin(RNN_CELLS).to_numpy()
    if rnn.sum() < 3:
        return None, "Fewer than three RNNs: no grouping to measure."
    sep = group_separation(X[rnn], meta[rnn], by=by)
    sep = sep.join(group_separation(Y[rnn], meta[rnn], by=by)[["ratio", "silhouette"]].add_suffix(" (map)"))
    valid = sep["ratio"].dropna()
    if not len(valid):
        return sep, "Too few models per group to say how they cluster."
    strongest = valid.idxmin()
    others = ", ".join(f"{a} {r:.2f}×" for a, r in valid.items() if a != strongest)
    return sep, (f"Our {int(rnn.sum())} RNNs cluster most by {strongest} (mean distance within a group is "
                 f"{valid[strongest]:.2f}× that between groups" + (f"; {others})." if others else ")."))


def nearest_baselines(X: np.ndarray | None, meta: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    """For each RNN of the map, the baseline with the closest probability vector.

    Returns
    -------
    near : indexed by RNN with ``nearest``, ``distance``, ``test_loss`` and ``nearest test_loss``
        (nats); None when the map has no RNN or no baseline
    sentence : how many RNNs each baseline is nearest to, most first
    """
    if X is None:
        return None, ""
    rnn = meta["cell"].isin(RNN_CELLS).to_numpy()
    if not rnn.any() or rnn.all():
        return None, ""
    near = nearest(X, list(meta["model"]), meta.loc[rnn, "model"], meta.loc[~rnn, "model"])
    loss = meta.set_index("model")["test_loss"]
    near["test_loss"], near["nearest test_loss"] = loss.reindex(near.index).values, loss.reindex(near["nearest"]).values
    counts = near["nearest"].value_counts()
    return near, (f"Nearest baseline of each of the {len(near)} RNNs: "
                  + ", ".join(f"{b} ({k})" for b, k in counts.items()) + ".")
