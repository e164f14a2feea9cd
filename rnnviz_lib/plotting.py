"""One ``plot_*`` function per figure: takes arrays/DataFrames, draws on ``ax`` (new if None),
returns the axes. Never imports torch. Add new figures as new functions at the end."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PAPER_CMAP = "coolwarm"  # cell activations: -1 blue ... +1 red, as in the paper's Figure 2


def _ax(ax, figsize=(6, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_symbol_frequencies(counts: np.ndarray, labels: list[str], title: str = "", top: int = 40, ax=None):
    """Bar chart of the ``top`` most frequent symbols (counts shape (K,), labels K strings)."""
    ax = _ax(ax, (10, 3.2))
    order = np.argsort(counts)[::-1][:top]
    freq = counts[order] / counts.sum()
    ax.bar(np.arange(order.size), freq, color="#4c72b0")
    ax.set_xticks(np.arange(order.size))
    ax.set_xticklabels([labels[i] for i in order], fontsize=7, rotation=90)
    ax.set_ylabel("frequency")
    ax.set_yscale("log")
    ax.set_title(title)
    return ax


def plot_split_layout(stream_len: int, parts: dict[str, tuple[int, int]], n_streams: int, title: str = "", ax=None):
    """How a char-rnn split cuts each of B streams: ``parts`` maps name -> (start, stop) in a stream."""
    ax = _ax(ax, (8, 1.6))
    colors = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
    for name, (a, b) in parts.items():
        ax.barh(0, b - a, left=a, color=colors.get(name, "grey"), label=f"{name} ({b - a:,} per stream)")
    ax.set_xlim(0, stream_len)
    ax.set_yticks([])
    ax.set_xlabel(f"position in each of the {n_streams} streams")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.6), ncol=3, frameon=False, fontsize=8)
    ax.set_title(title)
    return ax
