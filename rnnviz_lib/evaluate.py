"""Per-symbol probabilities, test cross-entropy and its bootstrap, for a CharRNN over a split.

API::

    probs = stream_probs(model, splits.test)        # (B, T) float32, aligned with splits.test.y
    for i, logits, y in stream_logits(model, part):  # the one loop that reads a split, state carried
        ...
    seqs = stream_symbols(part)                     # (B, T + 1) ids: each stream as one sequence
    loss = cross_entropy(probs)                     # mean -log p in nats
    std = bootstrap_std(probs, unit="stream")       # 100 resamples

The model reads a split the way it was trained (PAPER.md §3): the B streams in parallel,
S symbols per batch, hidden state carried from one batch to the next and reset (zeros) at
the start of the pass. ``probs[b, t]`` is the probability the model gives the correct next
symbol ``part.y[b, t]`` (CONTRIBUTING.md: the contract shared with the n-gram and n-NN).

Bootstrap unit. The default resamples the B = 100 *streams* (each a contiguous test snippet
of 3,300 WP symbols) with replacement: symbols inside a snippet are strongly correlated
(same passage, carried state), so resampling single symbols treats 330K correlated values as
independent and understates the spread. Both are reported; ``unit="symbol"`` gives the
smaller, per-symbol figure, ``unit="chunk"`` resamples fixed ``chunk``-long pieces.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)

BOOTSTRAP_UNITS = ("stream", "symbol", "chunk")
LN2 = float(np.log(2.0))


def stream_symbols(part) -> np.ndarray:
    """(B, T + 1) symbol ids of each stream of ``part``: ``x[:, 0]`` then every target, so
    column t + 1 is ``y[:, t]``. How the n-gram and n-NN read a split, and the text the
    long-range and error analyses look at."""
    return np.concatenate([part.x[:, :1], part.y], axis=1)


def batches_read(part, max_batches: int = 0) -> int:
    """How many S-long batches a pass over ``part`` reads: all, or the first ``max_batches`` (> 0)."""
    return part.n_batches if not max_batches else min(int(max_batches), part.n_batches)


def stream_forward(forward, state, part, device, max_batches: int = 0, show_progress: bool = False):
    """Read ``part`` batch by batch with the state carried: the one loop every evaluation uses.

    Parameters
    ----------
    forward : callable ``(x, state) -> (logits, state)``, x a (B, S) LongTensor on ``device``
    state : the state before the first batch (zeros: a pass starts from a reset state)
    part : data.SplitPart with x, y of shape (B, T)
    max_batches : read only the first ``max_batches`` S-long batches (0: all)

    Yields
    ------
    i : the batch index; its positions are columns ``i·S .. (i+1)·S`` of ``part.y``
    logits : what ``forward`` returns for batch i, e.g. (B, S, K)
    y : (B, S) LongTensor on ``device``, the targets of batch i
    """
    from tqdm.auto import tqdm

    S = part.seq_length
    n = batches_read(part, max_batches)
    x_all = torch.from_numpy(part.x[:, : n * S]).to(device)
    y_all = torch.from_numpy(part.y[:, : n * S]).to(device)
    for i in tqdm(range(n), desc=f"eval {part.name}", disable=not show_progress, leave=False):
        x = x_all[:, i * S : (i + 1) * S].long()
        logits, state = forward(x, state)
        yield i, logits, y_all[:, i * S : (i + 1) * S].long()


def stream_logits(model, part, device=None, max_batches: int = 0, show_progress: bool = False):
    """``stream_forward`` for a CharRNN: eval mode (restored afterwards), no gradients, state
    reset at the start. Yields (i, logits (B, S, K), y (B, S)); ``device`` defaults to the model's."""
    dev = torch.device(device) if device is not None else model.decoder.weight.device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield from stream_forward(model, model.init_state(part.x.shape[0], device=dev), part, dev, max_batches,
                                      show_progress)
    finally:
        model.train(was_training)


def stream_probs(model, part, device=None, max_batches: int = 0, show_progress: bool = False) -> np.ndarray:
    """Probability of the correct next symbol at every position of ``part`` (state carried).

    Parameters
    ----------
    model : CharRNN
    part : data.SplitPart with x, y of shape (B, T)
    device : torch device; default the model's
    max_batches : int
        Read only the first ``max_batches`` S-long batches (0: all), for short schedules.

    Returns
    -------
    probs : ndarray (B, n·S) float32, n the number of batches read.
    """
    S = part.seq_length
    out = np.empty((part.x.shape[0], batches_read(part, max_batches) * S), dtype=np.float32)
    for i, logits, y in stream_logits(model, part, device, max_batches, show_progress):
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
        out[:, i * S : (i + 1) * S] = logp.exp().cpu().numpy()
    return out


def stream_loss(model, part, device=None, max_batches: int = 0) -> float:
    """Mean cross-entropy (nats per symbol) over ``part``, state carried, reset at the start."""
    total = 0.0
    for _, logits, y in stream_logits(model, part, device, max_batches):
        total = total + torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="sum").double()
    return float(total) / (part.x.shape[0] * batches_read(part, max_batches) * part.seq_length)


def nll(probs: np.ndarray) -> np.ndarray:
    """-log p (nats) in float64; a probability of 0 (float32 underflow) counts as the smallest float32."""
    p = np.asarray(probs, dtype=np.float64)
    return -np.log(np.maximum(p, np.finfo(np.float32).tiny))


def cross_entropy(probs: np.ndarray) -> float:
    """Mean cross-entropy in nats per symbol of per-symbol probabilities (any shape)."""
    return float(nll(probs).mean())


def bootstrap_std(probs: np.ndarray, n_resamples: int = 100, unit: str = "stream", chunk: int = 100,
                  seed: int = 0) -> float:
    """Std of the mean cross-entropy over bootstrap resamples of ``probs`` (B, T).

    unit : "stream" resamples the B rows; "symbol" single positions; "chunk" fixed
    ``chunk``-long pieces of every stream (T is cut to a multiple of ``chunk``).
    """
    if unit not in BOOTSTRAP_UNITS:
        raise RnnvizError(f"unknown bootstrap unit {unit!r}: use one of {', '.join(BOOTSTRAP_UNITS)}")
    v = nll(probs)
    if v.ndim != 2:
        raise RnnvizError(f"bootstrap needs (B, T) probabilities, got shape {v.shape}")
    rng = np.random.default_rng(seed)
    if unit == "stream":
        units = v.mean(axis=1)  # equal-length streams: the mean of means is the mean
    elif unit == "chunk":
        T = (v.shape[1] // chunk) * chunk
        if T == 0:
            raise RnnvizError(f"streams of {v.shape[1]} symbols are shorter than one chunk of {chunk}")
        units = v[:, :T].reshape(v.shape[0], -1, chunk).mean(axis=2).ravel()
    else:
        units = v.ravel()
    n = units.size
    means = np.array([units[rng.integers(0, n, n)].mean() for _ in range(int(n_resamples))])
    return float(means.std(ddof=1))


def summarize(probs: np.ndarray, n_resamples: int = 100, seed: int = 0) -> dict:
    """Test metrics of a (B, T) probability array: loss in nats and bits, bootstrap stds."""
    loss = cross_entropy(probs)
    return {
        "test_loss": loss,
        "test_loss_bits": loss / LN2,
        "test_bootstrap_std": bootstrap_std(probs, n_resamples, "stream", seed=seed),
        "test_bootstrap_std_symbol": bootstrap_std(probs, n_resamples, "symbol", seed=seed),
        "bootstrap_unit": "stream",
        "bootstrap_resamples": int(n_resamples),
        "test_symbols": int(np.asarray(probs).size),
    }
