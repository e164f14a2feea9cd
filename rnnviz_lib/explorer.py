"""A self-contained HTML page per model to browse every cell over real text (the paper's demo).

API::

    path = write_explorer(path, sample, acts, ranking, title="wp-lstm3-64", meta="...")

The page needs no server and loads nothing from outside (a Content-Security-Policy forbids
it): pick a layer and cell, or a feature and jump to the cells that track it best, and the
text is coloured by the cell's value after each symbol (blue -1 ... red +1, the paper's
scale); hovering a symbol shows the model's top-5 guesses for the next one.

Safety. The text is arbitrary bytes (kernel code is full of ``<``, ``>`` and ``&``). It is
put into the page only as JSON inside ``<script type="application/json">`` with every ``<``,
``>`` and ``&`` written as ``\\u003c`` etc., so no ``</script>`` or ``<!--`` can end the block,
and the page's script inserts each glyph as a text node (``textContent``), never as HTML.
The page's own script carries a per-page nonce; the CSP blocks any other script.

Size. Cell values are quantised to int8 (value·127) and base64-encoded: a 3,000-symbol page of
a 3-layer model with 3 × 40 cells is about 0.5 MB.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
from importlib import resources
from pathlib import Path

import numpy as np

from rnnviz_lib.analysis import cells as C
from rnnviz_lib.analysis.activations import Activations, TextSample
from rnnviz_lib.analysis.features import FEATURES
from rnnviz_lib.data import byte_label
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_write_text

PAGE_SYMBOLS = 3000
TOP_CELLS = 8  # cells listed per feature


def pages_dir(profile: str, store: Store | None = None) -> Path:
    """``report/pages/<profile>/``: the report index links every page found here."""
    return (store or Store()).report_dir / "pages" / profile


def _palette(n: int = 255) -> list[str]:
    """``n`` hex colours of the paper's colour map, from -1 (index 0) to +1 (index n-1)."""
    import matplotlib

    cmap = matplotlib.colormaps["coolwarm"]
    return [matplotlib.colors.to_hex(cmap(i / (n - 1))) for i in range(n)]


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def script_json(obj) -> str:
    """JSON that is safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and the JavaScript
    line separators are escaped, so the text can never close the element or open a comment."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(ch, esc)
    return s


def page_data(sample: TextSample, acts: Activations, ranking, title: str, meta: str = "", stream: int = 0,
              start: int = 0, n_symbols: int = PAGE_SYMBOLS, top_cells: int = TOP_CELLS,
              ranked_on: str | None = None) -> dict:
    """Everything the page shows, for symbols ``start .. start + n_symbols`` of one stream.

    ``ranked_on`` names the text the ranking was computed on (default: this sample's)."""
    B, T = acts.x.shape
    if not 0 <= stream < B:
        raise RnnvizError(f"stream {stream} does not exist (the sample has {B}); pick 0..{B - 1}")
    if not 0 <= start < T:
        raise RnnvizError(f"start {start} is outside the {T} analysed symbols")
    stop = min(T, start + int(n_symbols))
    vals = acts.all_cell_values()[stream, start:stop]  # (n, L·H)
    q = np.clip(np.round(vals * 127), -127, 127).astype(np.int8)
    text = sample.vocab[acts.x[stream, start:stop]].tobytes()
    table = C.cell_table(ranking) if len(ranking) else None
    cells = [None] * (acts.L * acts.H)
    if table is not None:
        for r in table.itertuples():
            cells[(r.layer - 1) * acts.H + r.unit] = [r.best_feature, r.metric, round(float(r.score), 4), bool(r.strong)]
    feats = []
    for name, g in (ranking.groupby("feature", sort=False) if len(ranking) else []):
        g = g.head(top_cells)
        feats.append({
            "name": name, "description": FEATURES.get(name, ("", "", name))[2], "metric": g["metric"].iloc[0],
            "top": [{"cell": r.cell, "layer": int(r.layer), "unit": int(r.unit), "score": round(float(r.score), 4),
                     "sign": int(r.sign)} for r in g.itertuples()],
        })
    return {
        "title": title,
        "meta": meta,
        "note": ("Colour: the cell's value after reading each symbol, "
                 f"{'tanh(c)' if acts.cell == 'lstm' else 'h'}, from blue (-1) to red (+1), quantised to 1/127. "
                 "Hover a symbol for the model's five most probable next symbols (the true one in bold). "
                 f"Cells are scored on {ranked_on or sample.source}: |Pearson r| for continuous features, the AUC of the cell "
                 f"as a 1-D probe, max(AUC, 1-AUC), for binary ones; strong means |r| >= {C.R_MIN} or AUC >= {C.AUC_MIN}. "
                 "Layers count from 1 (bottom), cells from 0."),
        "L": acts.L, "H": acts.H, "cell_kind": "tanh(c)" if acts.cell == "lstm" else "h",
        "glyphs": C.glyphs(text),
        "labels": [byte_label(int(b)) for b in sample.vocab],
        "x": acts.x[stream, start:stop].astype(int).tolist(),
        "y": acts.y[stream, start:stop].astype(int).tolist(),
        "values": _b64(q),
        "top_ids": _b64(acts.top_ids[stream, start:stop].astype(np.uint8)),
        "top_p": _b64(np.round(acts.top_p[stream, start:stop].astype(np.float32) * 255).astype(np.uint8)),
        "true_p": _b64(np.round(np.exp(acts.logp[stream, start:stop]) * 255).astype(np.uint8)),
        "palette": _palette(),
        "cells": cells,
        "features": feats,
    }


def render(data: dict) -> str:
    """The page's HTML for ``page_data``'s output."""
    template = resources.files("rnnviz_lib").joinpath("templates/explorer.html").read_text(encoding="utf-8")
    subs = {"__TITLE__": html.escape(str(data.get("title", "rnnviz explorer"))), "__DATA__": script_json(data),
            "__NONCE__": secrets.token_urlsafe(16)}
    # one pass, so a placeholder spelled inside the data is never substituted again
    return re.sub("|".join(subs), lambda m: subs[m.group(0)], template)


def write_explorer(path, sample: TextSample, acts: Activations, ranking, title: str, meta: str = "",
                   stream: int = 0, start: int = 0, n_symbols: int = PAGE_SYMBOLS, ranked_on: str | None = None) -> Path:
    """Write the explorer page of one model to ``path`` (atomically); return the path."""
    data = page_data(sample, acts, ranking, title, meta, stream, start, n_symbols, ranked_on=ranked_on)
    return atomic_write_text(Path(path), render(data))
