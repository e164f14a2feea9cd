"""Figure 5: long-range interactions. Closing braces by distance to their opening brace (left),
and how close an LSTM's predictions are to each n-NN's over its first epochs (right).

API::

    dist = brace_distances(splits.test, open_id, close_id)    # (B, T) int, -1 where y is not a matched "}"
    table = distance_buckets(dist, {"LSTM": p1, "20-gram": p2}, edges=(1, 10, 20, ...))
    P = model_distributions(model, splits.test, max_batches=4)  # (B, T', K) full predictive distributions
    kl = symmetric_kl(P, Q)                                    # mean over positions, nats

Brace matching runs over each test stream on its own (a stream is a contiguous run of the
corpus, ``SplitPart.start``), with a stack: a ``}`` matches the most recent unmatched ``{``
of the same stream. A ``}`` whose ``{`` lies before the stream's test part is *unmatched*
and left out (the RNN's state is reset at the start of the test pass, so it never saw that
``{`` either); a stray ``}`` with an empty stack is left out the same way. Distances count
symbols: a ``}`` right after its ``{`` is at distance 1.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from rnnviz_lib.analysis.errors import check_probs
from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)

# Bucket edges (in symbols) for Figure 5 left: [1, 10), [10, 20), ... ; the last is open-ended.
DISTANCE_EDGES = (1, 10, 20, 40, 60, 80, 100, 150, 200, 300, 500, 1000)


def stream_text(part) -> np.ndarray:
    """(B, T + 1) symbol ids of each stream: ``x[:, 0]`` then every target, so column t + 1 is ``y[:, t]``."""
    return np.concatenate([part.x[:, :1], part.y], axis=1)


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
    s = stream_text(part)
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


def unmatched_closing(part, open_id: int, close_id: int) -> int:
    """How many ``}`` targets have no ``{`` inside their test stream (left out of Figure 5 left)."""
    dist = brace_distances(part, open_id, close_id)
    return int(((part.y == close_id) & (dist < 0)).sum())


def bucket_labels(edges=DISTANCE_EDGES) -> list[str]:
    e = list(edges)
    return [f"{a}-{b - 1}" for a, b in zip(e[:-1], e[1:])] + [f"{e[-1]}+"]


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

    was_training = model.training
    model.eval()
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    S = part.seq_length
    n = part.n_batches if not max_batches else min(int(max_batches), part.n_batches)
    B = part.x.shape[0]
    out = None
    with torch.no_grad():
        state = model.init_state(B, device=dev)
        for i in range(n):
            x = torch.from_numpy(part.x[:, i * S:(i + 1) * S]).to(dev).long()
            logits, state = model(x, state)  # (B, S, K)
            p = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            if out is None:
                out = np.empty((B, n * S, p.shape[-1]), dtype=np.float32)
            out[:, i * S:(i + 1) * S] = p
    model.train(was_training)
    return out


def symmetric_kl(P: np.ndarray, Q: np.ndarray, eps: float = 1e-8) -> float:
    """Mean over positions of KL(P‖Q) + KL(Q‖P), in nats.

    Parameters
    ----------
    P, Q : (..., K) predictive distributions over the same positions; each row sums to 1.
        Both are floored at ``eps`` and renormalised so a zero does not give infinity.
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if P.shape != Q.shape:
        raise RnnvizError(f"distributions have shapes {P.shape} and {Q.shape}; compute both on the same positions")
    P = np.maximum(P, eps)
    Q = np.maximum(Q, eps)
    P /= P.sum(-1, keepdims=True)
    Q /= Q.sum(-1, keepdims=True)
    return float(((P - Q) * (np.log(P) - np.log(Q))).sum(-1).mean())


def correct_probs(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(B, T) probability of the correct symbol from full distributions P (B, T, K) and targets y (B, T)."""
    y = np.asarray(y)[:, : P.shape[1]].astype(np.int64)
    return np.take_along_axis(P, y[..., None], axis=-1)[..., 0]


def kl_over_training(snapshots: list[dict], baselines: dict[str, np.ndarray], y: np.ndarray) -> pd.DataFrame:
    """Symmetric KL and test-loss difference between LSTM snapshots and each baseline.

    Parameters
    ----------
    snapshots : [{"epoch": float, "step": int, "P": (B, T', K)}] LSTM distributions over training
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
    for snap in snapshots:
        P = snap["P"]
        lstm_loss = cross_entropy(correct_probs(P, y))
        for name, Q in baselines.items():
            rows.append({"epoch": float(snap["epoch"]), "step": int(snap.get("step", -1)), "baseline": name,
                         "sym_kl": symmetric_kl(P, Q), "lstm_loss": lstm_loss, "baseline_loss": base_loss[name],
                         "delta_loss": base_loss[name] - lstm_loss})
    return pd.DataFrame(rows)
