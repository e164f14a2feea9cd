"""Per-symbol probabilities, test cross-entropy and its bootstrap, for a CharRNN over a split.

API::

    probs = stream_probs(model, splits.test)        # (B, T) float32, aligned with splits.test.y
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


@torch.no_grad()
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
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    dev = torch.device(device) if device is not None else model.decoder.weight.device
    S = part.seq_length
    n = part.n_batches if not max_batches else min(int(max_batches), part.n_batches)
    B = part.x.shape[0]
    out = np.empty((B, n * S), dtype=np.float32)
    state = model.init_state(B, device=dev)
    x_all = torch.from_numpy(part.x[:, : n * S]).to(dev)
    y_all = torch.from_numpy(part.y[:, : n * S]).to(dev)
    for i in tqdm(range(n), desc=f"eval {part.name}", disable=not show_progress, leave=False):
        x = x_all[:, i * S : (i + 1) * S].long()
        y = y_all[:, i * S : (i + 1) * S].long()
        logits, state = model(x, state)  # (B, S, K)
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
        out[:, i * S : (i + 1) * S] = logp.exp().cpu().numpy()
    model.train(was_training)
    return out


@torch.no_grad()
def stream_loss(model, part, device=None, max_batches: int = 0) -> float:
    """Mean cross-entropy (nats per symbol) over ``part``, state carried, reset at the start."""
    was_training = model.training
    model.eval()
    dev = torch.device(device) if device is not None else model.decoder.weight.device
    S = part.seq_length
    n = part.n_batches if not max_batches else min(int(max_batches), part.n_batches)
    state = model.init_state(part.x.shape[0], device=dev)
    total = torch.zeros((), dtype=torch.float64, device=dev)
    x_all = torch.from_numpy(part.x[:, : n * S]).to(dev)
    y_all = torch.from_numpy(part.y[:, : n * S]).to(dev)
    for i in range(n):
        x = x_all[:, i * S : (i + 1) * S].long()
        y = y_all[:, i * S : (i + 1) * S].long()
        logits, state = model(x, state)
        total += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="sum").double()
    model.train(was_training)
    return float(total) / (part.x.shape[0] * n * S)


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
