"""One ``plot_*`` function per figure: takes arrays/DataFrames, draws on ``ax`` (new if None),
returns the axes. Never imports torch. Add new figures as new functions at the end.

One seaborn theme is set here for every figure. No backend is forced: in Jupyter (and in the
notebooks papermill runs for the report) figures are shown inline, in a script or a test
without a display matplotlib draws off screen."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

sns.set_theme(context="notebook", style="ticks", font_scale=0.85, rc={"figure.dpi": 100, "savefig.dpi": 150})

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


# ----------------------------------------------------------------------------------------
# Figures 1 (right), 4, 5 and the error onion (analysis/tsne, errors, longrange, onion)
# ----------------------------------------------------------------------------------------
MODEL_COLORS = {"lstm": "#d62728", "gru": "#2ca02c", "rnn": "#1f77b4", "n-gram": "#7f7f7f", "n-NN": "#000000"}
DEPTH_MARKERS = {1: "o", 2: "s", 3: "^"}
PAIR_COLORS = ("#d62728", "#1f77b4")  # the paper's Figure 4/5: LSTM red, n-gram blue


def plot_model_tsne(Y: np.ndarray, meta, title: str = "", ax=None):
    """Figure 1 (right): one point per model of a 2-D t-SNE ``Y`` (M, 2).

    ``meta`` has M rows with columns ``cell`` (lstm/gru/rnn, or n-gram/n-NN for baselines),
    ``size`` (grid row, NaN for baselines), ``depth`` (NaN for baselines) and ``label``.
    Colour = cell type, marker size = model size, marker = depth; baselines are grey/black
    crosses labelled with their context length.
    """
    ax = _ax(ax, (6.5, 5.5))
    sizes = sorted({int(s) for s in meta["size"].dropna()})
    area = {s: 30 + 50 * i for i, s in enumerate(sizes)}
    for i, row in enumerate(meta.itertuples(index=False)):
        color = MODEL_COLORS.get(row.cell, "#9467bd")
        if row.cell in ("n-gram", "n-NN"):
            ax.scatter(Y[i, 0], Y[i, 1], marker="x" if row.cell == "n-gram" else "+", s=50, color=color)
            ax.annotate(str(row.label), Y[i], fontsize=6, xytext=(3, 3), textcoords="offset points", color=color)
        else:
            ax.scatter(Y[i, 0], Y[i, 1], s=area.get(int(row.size), 60), marker=DEPTH_MARKERS.get(int(row.depth), "D"),
                       color=color, alpha=0.75, edgecolors="k", linewidths=0.4)
    cell_marker = {"n-gram": "x", "n-NN": "+"}
    handles = [plt.Line2D([], [], ls="", marker=cell_marker.get(k, "o"), color=c, label=k)
               for k, c in MODEL_COLORS.items() if k in set(meta["cell"])]
    handles += [plt.Line2D([], [], ls="", marker=m, color="grey", label=f"{d} layer{'s' * (d > 1)}")
                for d, m in DEPTH_MARKERS.items() if d in set(meta["depth"].dropna().astype(int))]
    handles += [plt.scatter([], [], s=area[s], color="lightgrey", edgecolors="k", linewidths=0.4, label=f"size {s}")
                for s in sizes]
    ax.legend(handles=handles, fontsize=7, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return ax


def plot_error_overlap(overlap, n_symbols: int, reference: str = "LSTM", title: str = "", ax=None):
    """Figure 4 (left): errors of the reference model and each other model as fractions of the
    test symbols, stacked: both wrong, only the reference wrong, only the other wrong (low is good).

    ``overlap`` is ``analysis.errors.error_overlap``'s frame (index = other models in x order).
    """
    ax = _ax(ax, (7, 3.5))
    x = np.arange(len(overlap))
    parts = [("both", "both wrong", "#555555"), (f"{reference} only", f"only {reference} wrong", PAIR_COLORS[0]),
             ("other only", "only the other wrong", PAIR_COLORS[1])]
    bottom = np.zeros(len(overlap))
    for col, label, color in parts:
        v = overlap[col].to_numpy() / n_symbols
        ax.bar(x, v, bottom=bottom, color=color, label=label, width=0.7)
        bottom += v
    ax.set_xticks(x)
    ax.set_xticklabels([str(i) for i in overlap.index], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("fraction of test symbols")
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    ax.set_title(title)
    return ax


def plot_symbol_comparison(table, names: tuple[str, str] = ("LSTM", "20-gram"), top: int = 0, title: str = "", ax=None):
    """Figure 4 (middle/right): mean probability of the correct symbol per symbol, two models side
    by side, symbols sorted by the difference (``analysis.errors.per_symbol_comparison``).
    ``top`` > 0 keeps the ``top`` symbols with the largest and smallest differences."""
    t = table
    if top and len(t) > 2 * top:
        t = t.iloc[list(range(top)) + list(range(len(t) - top, len(t)))]
    ax = _ax(ax, (max(6, 0.18 * len(t)), 3.5))
    x = np.arange(len(t))
    w = 0.4
    for j, (name, color) in enumerate(zip(names, PAIR_COLORS)):
        ax.bar(x + (j - 0.5) * w, t[name].to_numpy(), width=w, color=color, label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(list(t.index), fontsize=7)
    ax.set_xlim(-0.6, len(t) - 0.4)
    ax.set_ylim(0, 1)
    ax.set_ylabel("mean p(correct)")
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax.set_title(title)
    return ax


def plot_brace_distance(table, names: tuple[str, str] = ("LSTM", "20-gram"), context: int | None = None,
                        title: str = "", ax=None):
    """Figure 5 (left): mean probability of ``}`` per distance bucket to its ``{``, two models
    (``analysis.longrange.distance_buckets``), with the number of braces per bucket on top and,
    given ``context``, a dashed line where the buckets pass the n-gram's context length."""
    ax = _ax(ax, (7, 3.5))
    t = table[table["count"] > 0]
    if context is not None and (t["lo"] > context).any() and (t["lo"] <= context).any():
        edge = int(np.argmax(t["lo"].to_numpy() > context)) - 0.5
        ax.axvline(edge, color="grey", ls="--", lw=0.8)
        ax.text(edge + 0.05, 0.9, f"beyond {context} symbols", fontsize=7, color="grey")
    x = np.arange(len(t))
    w = 0.4
    for j, (name, color) in enumerate(zip(names, PAIR_COLORS)):
        if name in t:
            ax.bar(x + (j - 0.5) * w, t[name].to_numpy(), width=w, color=color, label=name)
    for i, c in enumerate(t["count"].to_numpy()):
        ax.text(i, 1.01, str(int(c)), ha="center", va="bottom", fontsize=6, color="grey")
    ax.set_xticks(x)
    ax.set_xticklabels(list(t.index), rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("distance from { (symbols); grey: braces per bucket")
    ax.set_ylabel("mean p(})")
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax.set_title(title)
    return ax


def plot_kl_over_training(table, value: str = "sym_kl", title: str = "", ax=None, xlabel: str = "LSTM training epoch"):
    """Figure 5 (right): ``value`` (``sym_kl`` or ``delta_loss``) against the LSTM's training
    epoch, one line per baseline (``analysis.longrange.kl_over_training``)."""
    ax = _ax(ax, (5, 3.5))
    names = list(dict.fromkeys(table["baseline"]))
    cmap = plt.get_cmap("viridis", max(len(names), 2))
    for i, name in enumerate(names):
        t = table[table["baseline"] == name].sort_values("epoch")
        ax.plot(t["epoch"], t[value], marker=".", color=cmap(i), label=name)
    if value == "delta_loss":
        ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel({"sym_kl": "symmetric KL (nats)", "delta_loss": "Δ loss = n-NN − LSTM (nats)"}.get(value, value))
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title)
    return ax


ONION_COLORS = {"n-gram": "#4c72b0", "dynamic memory": "#55a868", "rare words": "#c44e52", "words": "#8172b2",
                "punctuation": "#ccb974", "boost": "#64b5cd"}


def plot_onion(table, title: str = "", ax=None):
    """The error onion of one model as a nested pie: inner ring the six oracles, outer ring their
    sub-layers (memory windows n, rare-word thresholds t, boost amounts), both in peeling order.

    ``table`` is ``analysis.onion.onion_table``'s frame ((oracle, detail) index, ``removed``).
    """
    import matplotlib.colors as mcolors

    ax = _ax(ax, (7, 5))
    t = table.drop(index="total", level=0)
    inner = t["removed"].groupby(level=0, sort=False).sum()
    total = float(inner.sum()) or 1.0
    wedges, _ = ax.pie(inner.to_numpy(), radius=0.7, colors=[ONION_COLORS.get(k, "grey") for k in inner.index],
                       wedgeprops={"width": 0.35, "edgecolor": "w"}, startangle=90, counterclock=False)
    ax.legend(wedges, [f"{k}: {v / total:.0%}" for k, v in inner.items()], fontsize=7, frameon=False,
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    shades = []
    for oracle, group in t.groupby(level=0, sort=False):
        base = np.array(mcolors.to_rgb(ONION_COLORS.get(oracle, "grey")))
        k = len(group)
        shades += [tuple(base + (1 - base) * (0.15 + 0.6 * i / max(k, 1))) for i in range(k)]
    ax.pie(t["removed"].to_numpy(), radius=1.0, colors=shades, wedgeprops={"width": 0.3, "edgecolor": "w"},
           startangle=90, counterclock=False,
           labels=[d if r / total >= 0.02 and o in ("dynamic memory", "rare words", "boost") else ""
                   for (o, d), r in t["removed"].items()],
           labeldistance=1.05, textprops={"fontsize": 6})
    ax.set_title(title)
    ax.set_aspect("equal")
    return ax


def plot_onion_comparison(summary, models: list[str], title: str = "", ax=None):
    """Stacked horizontal bars of errors per oracle for each model and, for two models, their
    difference (``analysis.onion.oracle_summary``; ``models`` are its model names)."""
    ax = _ax(ax, (7, 2.8))
    rows = [f"{m} errors" for m in models] + (["difference"] if "difference" in summary else [])
    labels = models + (["difference"] if "difference" in summary else [])
    oracles = [o for o in summary.index if o != "total"]
    left = np.zeros(len(rows))
    for o in oracles:
        v = np.array([float(summary.at[o, r]) for r in rows])
        ax.barh(np.arange(len(rows)), v, left=left, color=ONION_COLORS.get(o, "grey"), label=o)
        left += v
    ax.set_yticks(np.arange(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("test errors (p(correct) < 0.5)")
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    ax.set_title(title)
    return ax


# ----------------------------------------------------------------------------------------
# Figure 2 (interpretable cells) and Figure 3 (gate saturation)
# ----------------------------------------------------------------------------------------
LAYER_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b")  # layer 1, 2, 3, ...


def _text_grid(glyphs: list[str], width: int) -> list[tuple[int, int, str, int]]:
    """Lay out glyphs on a monospace grid: (row, col, glyph, symbol index) per drawn cell."""
    cells, row, col = [], 0, 0
    for t, g in enumerate(glyphs):
        if g == "":
            continue
        if g == "\n":
            cells.append((row, col, "\u21b5", t))
            row, col = row + 1, 0
            continue
        n = 4 - col % 4 if g == "\t" else 1
        if col + n > width:
            row, col = row + 1, 0
        for _ in range(n):
            cells.append((row, col, " " if g == "\t" else g, t))
            col += 1
    return cells


_MONO = "DejaVu Sans Mono"  # ships with matplotlib; every glyph advances 0.602 em
_MONO_ADVANCE = 0.602
CHAR_W, LINE_H = 0.062, 0.16  # inches per character cell and per line of Figure 2 text


def _mono_chars() -> frozenset:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    global _MONO_CACHE
    try:
        return _MONO_CACHE
    except NameError:
        _MONO_CACHE = frozenset(FT2Font(font_manager.findfont(_MONO)).get_charmap())
        return _MONO_CACHE


def plot_cell_text(glyphs: list[str], values: np.ndarray, title: str = "", width: int = 90,
                   vmin: float = -1.0, vmax: float = 1.0, ax=None):
    """Text coloured by one cell's activation, as in the paper's Figure 2.

    Parameters
    ----------
    glyphs : list of T display strings, one per symbol ("" for symbols not drawn, "\\n" ends a
        line and is drawn as ↵, "\\t" advances to the next multiple of 4 columns)
    values : (T,) the cell's value after reading each symbol (tanh(c) or h), coloured on
        ``PAPER_CMAP`` from ``vmin`` (blue) to ``vmax`` (red)
    width : characters per line before wrapping

    Each line is one monospace text artist whose font size is fitted to the axes width, so
    a figure of thousands of symbols still draws in a second.
    """
    cells = _text_grid(glyphs, width)
    rows = 1 + max((r for r, _, _, _ in cells), default=0)
    if ax is None:
        _, ax = plt.subplots(figsize=(width * CHAR_W + 0.2, rows * LINE_H + 0.4))
    grid = np.full((rows, width), np.nan)
    values = np.asarray(values, dtype=np.float64)
    lines = [[" "] * width for _ in range(rows)]
    loose = []  # glyphs drawn on their own: the newline mark and any the mono font lacks
    mono = _mono_chars()
    for r, c, g, t in cells:
        grid[r, c] = values[t]
        if g == "\u21b5" or ord(g[0]) not in mono:
            loose.append((r, c, g))
        else:
            lines[r][c] = g
    cmap = plt.get_cmap(PAPER_CMAP).with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
              interpolation="nearest", extent=(0, width, rows, 0))
    fig = ax.figure
    box = ax.get_position()
    cell_pt = box.width * fig.get_figwidth() * 72 / width
    line_pt = box.height * fig.get_figheight() * 72 / rows
    fs = min(cell_pt / _MONO_ADVANCE, 0.8 * line_pt)
    for r, line in enumerate(lines):
        text = "".join(line).rstrip()
        if text:
            ax.text(0, r + 0.5, text, ha="left", va="center_baseline", family=_MONO, fontsize=fs)
    for r, c, g in loose:
        ax.text(c + 0.5, r + 0.5, g, ha="center", va="center_baseline", fontsize=fs * 0.9,
                family=_MONO if g == "\u21b5" else None, color="#666666" if g == "\u21b5" else "black")
    ax.set_xlim(0, width)
    ax.set_ylim(rows, 0)
    ax.set_axis_off()
    ax.set_title(title, fontsize=8, loc="left")
    return ax


def plot_gate_saturation(frac_left: np.ndarray, frac_right: np.ndarray, layer: np.ndarray, title: str = "",
                         ax=None):
    """One gate's units as points: x the fraction of steps left-saturated (< 0.1), y right-saturated
    (> 0.9), one colour per layer (Figure 3). The dashed line x + y = 1 is "always saturated"."""
    ax = _ax(ax, (3.2, 3.2))
    layer = np.asarray(layer)
    for i, l in enumerate(sorted(set(layer.tolist()))):
        m = layer == l
        ax.scatter(np.asarray(frac_left)[m], np.asarray(frac_right)[m], s=12, alpha=0.75,
                   color=LAYER_COLORS[i % len(LAYER_COLORS)], label=f"layer {l}", edgecolors="none")
    ax.plot([0, 1], [1, 0], ls="--", lw=0.7, color="grey")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("fraction left-saturated (< 0.1)", fontsize=8)
    ax.set_ylabel("fraction right-saturated (> 0.9)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    ax.set_title(title, fontsize=9)
    return ax


def plot_cell_strength(strength: np.ndarray, layer: np.ndarray, threshold: float | None = None, title: str = "",
                       ax=None):
    """Histogram of each cell's strongest feature strength (0: tracks nothing, 1: exactly), per layer."""
    ax = _ax(ax, (4.5, 3))
    layer = np.asarray(layer)
    bins = np.linspace(0, 1, 21)
    for i, l in enumerate(sorted(set(layer.tolist()))):
        ax.hist(np.asarray(strength)[layer == l], bins=bins, histtype="step", lw=1.3,
                color=LAYER_COLORS[i % len(LAYER_COLORS)], label=f"layer {l}")
    if threshold is not None:
        ax.axvline(threshold, ls="--", color="grey", lw=0.8)
    ax.set_xlabel("strength of the best-tracked feature", fontsize=8)
    ax.set_ylabel("cells", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    return ax


FIG2_LINE = 150  # characters per line of a Figure 2 panel: about 9.5 in, a page's width, as the paper's panels


def plot_cell_panels(panels: list[dict], width: int = FIG2_LINE, suptitle: str = ""):
    """Figure 2 for one model: ``plot_cell_text`` panels stacked (each dict has glyphs, values,
    title), each as tall as its lines and as wide as a page. Returns the axes (one per panel)."""
    rows = [1 + max((r for r, _, _, _ in _text_grid(p["glyphs"], width)), default=0) for p in panels]
    head, gap, margin = (0.35 if suptitle else 0.05), 0.3, 0.1  # inches
    W = width * CHAR_W + 2 * margin
    Htot = head + sum(r * LINE_H + gap for r in rows) + margin
    fig = plt.figure(figsize=(W, Htot))
    axes, y = [], Htot - head
    for p, r in zip(panels, rows):
        y -= gap + r * LINE_H
        ax = fig.add_axes((margin / W, y / Htot, width * CHAR_W / W, r * LINE_H / Htot))
        plot_cell_text(p["glyphs"], p["values"], p["title"], width, ax=ax)
        axes.append(ax)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, x=margin / W, y=1 - 0.08 / Htot, ha="left", va="top")
    return np.array(axes)


def plot_saturation_grid(sats: dict, suptitle: str = ""):
    """Figure 3: one ``plot_gate_saturation`` panel per (model, gate), in one row.

    sats : {model label: DataFrame with columns layer, gate, frac_left, frac_right} (``gates.saturation``)
    """
    panels = [(name, g, df[df["gate"] == g]) for name, df in sats.items() for g in df["gate"].unique()]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(2.9 * max(1, len(panels)), 3.3), squeeze=False)
    for ax, (name, g, d) in zip(axes[0], panels):
        plot_gate_saturation(d["frac_left"].to_numpy(), d["frac_right"].to_numpy(), d["layer"].to_numpy(),
                             f"{name}: gate {g}", ax=ax)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return axes[0]


def plot_loss_vs_context(ours, paper=None, best_rnn: tuple[str, float] | None = None, note: str = "",
                         title: str = "", ax=None):
    """Table 2 as a plot: test loss against context length n, one line per baseline row.

    ours, paper : DataFrames (rows n-gram / n-NN, columns n) of test losses (nats); NaN = blank.
    best_rnn : (label, loss) drawn as a horizontal line; None writes ``note`` instead.
    """
    ax = _ax(ax, (6.4, 4))
    colors = {"n-gram": "#4c72b0", "n-NN": "#dd8452"}
    extra_colors = iter(["#c44e52", "#8172b2", "#937860", "#da8bc3"])
    drawn, coloured = set(), set()  # a row "n-NN (paper recipe)" shares the paper's "n-NN" line, drawn once
    for row in ours.index:
        base = str(row).split(" (")[0]
        c = colors[base] if base in colors and base not in coloured else next(extra_colors, None)
        coloured.add(base)
        s = ours.loc[row].dropna()
        if not s.empty:
            ax.plot(s.index, s.values, "o-", color=c,
                    label=f"{row} (ours)" if row == base else f"{base}, ours {row[len(base) + 1:]}")
        if paper is not None and row in paper.index and base not in drawn and paper.loc[row].notna().any():
            p = paper.loc[row].dropna()
            ax.plot(p.index, p.values, "s--", color=colors.get(base, c), mfc="none", alpha=0.7, label=f"{base} (paper)")
            drawn.add(base)
    if best_rnn is not None:
        ax.axhline(best_rnn[1], color="#55a868", lw=1.5, label=f"best RNN: {best_rnn[0]} ({best_rnn[1]:.3f})")
    elif note:
        ax.text(0.98, 0.95, note, transform=ax.transAxes, ha="right", va="top", fontsize=8, color="#555555")
    ax.set_xticks(list(ours.columns))
    ax.set_xlabel("context length n (the n-gram is an (n+1)-gram)")
    ax.set_ylabel("test cross-entropy (nats per symbol)")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title)
    return ax


def plot_training_curves(hist, value: str = "val_loss", title: str = "", ax=None):
    """Training curves of a grid: ``value`` (val_loss or train_loss, nats) against epoch, one
    line per run. ``hist`` is ``grid.histories(configs)`` (columns slug, epoch, cell, layers, ...).
    Colour is the cell type, line style the depth."""
    ax = _ax(ax, (7, 4.2))
    styles = {1: "-", 2: "--", 3: ":"}
    for slug, t in hist.groupby("slug", sort=False):
        t = t.sort_values("epoch")
        cell, layers = t["cell"].iloc[0], int(t["layers"].iloc[0])
        ax.plot(t["epoch"], t[value], styles.get(layers, "-"), color=MODEL_COLORS.get(cell, "grey"), label=slug,
                lw=1.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel({"val_loss": "validation loss (nats)", "train_loss": "training loss (nats)"}.get(value, value))
    ax.legend(fontsize=6, frameon=False, ncol=2)
    ax.set_title(title)
    return ax


def plot_table1_delta(ours, paper, title: str = "", ax=None):
    """Table 1 as a heatmap of ours − paper (nats) per cell, annotated; rows size, columns
    cell-depth (the frames of ``table1.frames``). Red: our model is worse than the paper's."""
    diff = (ours - paper.reindex(index=ours.index, columns=ours.columns)).astype(float)
    ax = _ax(ax, (8, 1.2 + 0.5 * max(len(diff), 1)))
    finite = diff.to_numpy()[np.isfinite(diff.to_numpy())]
    lim = max(0.05, float(np.abs(finite).max())) if finite.size else 0.05
    sns.heatmap(diff, annot=True, fmt="+.3f", cmap="RdBu_r", center=0.0, vmin=-lim, vmax=lim, linewidths=0.5,
                cbar_kws={"label": "ours − paper (nats)"}, ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel("size")
    ax.set_title(title)
    return ax
