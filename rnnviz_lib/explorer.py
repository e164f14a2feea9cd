"""Self-contained HTML pages to browse every cell over real text (the paper's demo), one model or
two side by side, and the same states exported for LSTMVis.

API::

    path = write_explorer(path, sample, acts, ranking, title="wp-lstm3-64", meta="...")
    path = write_compare(path, [view_a, view_b], title="LSTM vs GRU")    # views: dicts, see write_compare
    ranked = match(acts, start, stop, threshold=0.3)   # cells on inside [start, stop), off around it
    runs = fires(acts, ranked.head(3), threshold=0.3)  # where that cell set is on again
    ctx = top_contexts(acts, sample, k=10)             # each cell's k highest and lowest windows
    write_lstmvis(out_dir, acts, sample, name)         # lstm.yml, states.hdf5, train.hdf5, train.dict
    write_npz(path, acts, sample)                      # the same arrays as one .npz

A page needs no server and loads nothing from outside (a Content-Security-Policy forbids it):
pick a layer and cell, or a feature and jump to the cells that track it best, and the text is
coloured by the cell's value after each symbol (blue -1 ... red +1, the paper's scale); hovering
a symbol shows the model's top-5 guesses for the next one; the cell's top contexts are listed
under the text. Selecting a span of text ranks every cell by LSTMVis's rule (``match``) and
marks where the best cells fire together elsewhere (``fires``); the page's script computes both
exactly as the functions here do (``tests/test_explorer.py`` compares them).

Search by selection (LSTMVis, Strobelt et al. 2017). A cell is *on* at a step when its value
(rounded to 1/127, as on the page) is at least ``threshold``. LSTMVis selects the cells whose
on/off pattern over the selection plus a margin is exactly "on inside, off in the margin".
``match`` keeps that as the ``exact`` column and ranks every cell by how close it comes:
``score`` = (fraction of the selection where it is on + fraction of the margin where it is off) / 2,
ties broken by ``contrast``, its mean value inside minus its mean value in the margin. With
``signed`` a cell may also match with its sign flipped (low inside, high around), as
``cells.rank_cells`` counts a cell that is low inside quotes as tracking them.

Safety. The text is arbitrary bytes (kernel code is full of ``<``, ``>`` and ``&``). It is
put into the page only as JSON inside ``<script type="application/json">`` with every ``<``,
``>`` and ``&`` written as ``\\u003c`` etc., so no ``</script>`` or ``<!--`` can end the block,
and the page's script inserts each glyph as a text node (``textContent``), never as HTML.
The page's own script carries a per-page nonce; the CSP blocks any other script.

Size. Cell values are quantised to int8 (value·127) and base64-encoded: a 3,000-symbol page of
a 3-layer model with 3 × 40 cells is about 0.5 MB, plus the text the top contexts come from.
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
import pandas as pd

from rnnviz_lib.analysis import cells as C
from rnnviz_lib.analysis.activations import Activations, TextSample
from rnnviz_lib.analysis.features import FEATURES
from rnnviz_lib.data import byte_label
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_path, atomic_write_text

PAGE_SYMBOLS = 3000
TOP_CELLS = 8  # cells listed per feature
QUANT = C.QUANT  # values are compared at the page's colour resolution, 1/127
THRESHOLD = 0.3  # LSTMVis's default activation threshold
MARGIN = (1, 1)  # symbols left and right of a selection that must be off (LSTMVis's default is (1, 0))
CONTEXTS = 10  # top contexts per cell and direction
BEFORE, AFTER = 40, 10  # symbols shown before and after a context's trigger
MIN_RUN = 2  # a cell set "fires" when all its cells are on for at least this many steps (LSTMVis's cut-off)


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


# ----------------------------------------------------------------------------------------
# Questions a researcher asks of the cells
# ----------------------------------------------------------------------------------------
def _quantised(values) -> np.ndarray:
    """Cell values as int32 steps of 1/127, clipped to [-127, 127] (what the page colours by)."""
    return np.clip(np.round(np.asarray(values, dtype=np.float64) * QUANT), -QUANT, QUANT).astype(np.int32)


def _cell_matrix(activations, stream: int = 0, H: int | None = None) -> tuple[np.ndarray, int]:
    """(T, N) quantised values of one stream, and H (cells per layer, to name them).

    ``activations``: an ``Activations`` (its cell values, layers side by side), or an array
    (T, N) or (B, T, N) of cell values in [-1, 1]."""
    if isinstance(activations, Activations):
        v = activations.all_cell_values()
        H = activations.H
    else:
        v = np.asarray(activations)
        if v.ndim not in (2, 3):
            raise RnnvizError(f"cell values must be (T, N) or (B, T, N), not an array of shape {v.shape}")
    if v.ndim == 3:
        if not 0 <= stream < v.shape[0]:
            raise RnnvizError(f"stream {stream} does not exist (there are {v.shape[0]}); pick 0..{v.shape[0] - 1}")
        v = v[stream]
    N = v.shape[1]
    H = int(H or N)
    if N % H:
        raise RnnvizError(f"{N} cells do not split into layers of {H}; pass the layer width H")
    return _quantised(v), H


def _cell_names(index: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    layer, unit = index // H + 1, index % H
    return layer, unit, [f"L{a}.{b}" for a, b in zip(layer, unit)]


def match(activations, start: int, stop: int, threshold: float = THRESHOLD, margin=MARGIN,
          signed: bool = True, stream: int = 0, H: int | None = None) -> pd.DataFrame:
    """Rank every cell by how well it is on inside symbols ``start .. stop - 1`` and off in a
    margin around them (LSTMVis's on-set / off-set rule, see the module docstring).

    Parameters
    ----------
    activations : Activations, or ndarray (T, N) / (B, T, N) of cell values in [-1, 1]
    start, stop : the selection, ``0 <= start < stop <= T``
    threshold : a cell is on at a step when its value >= threshold (after rounding to 1/127)
    margin : int or (left, right), symbols before and after the selection that must be off
        (cut at the text's ends; with no margin left the off-fraction counts as 1)
    signed : also let a cell match with its sign flipped (``sign`` -1: low inside, high around)
    stream : which stream of a (B, T, N) input
    H : cells per layer, to name an array's cells (default: one layer)

    Returns
    -------
    DataFrame, one row per cell, best first: ``index`` (column in the (T, N) matrix, layer·H +
    unit), ``layer`` (from 1), ``unit``, ``cell`` ("L2.17"), ``sign``, ``on`` (fraction of the
    selection on), ``off`` (fraction of the margin off), ``score`` ((on + off) / 2), ``contrast``
    (mean inside − mean in the margin, of sign·value), ``exact`` (LSTMVis would select it).
    Sorted by score, then contrast (both descending), then index.
    """
    q, H = _cell_matrix(activations, stream, H)
    T, N = q.shape
    start, stop = int(start), int(stop)
    if not 0 <= start < stop <= T:
        raise RnnvizError(f"selection {start}..{stop} is not inside the {T} symbols; need 0 <= start < stop <= {T}")
    left, right = (margin, margin) if np.isscalar(margin) else margin
    if min(left, right) < 0:
        raise RnnvizError(f"margin {margin} is negative; pass symbols >= 0")
    thr = int(round(threshold * QUANT))
    inside = q[start:stop]
    outside = np.concatenate([q[max(0, start - int(left)) : start], q[stop : min(T, stop + int(right))]])
    n_in, n_out = len(inside), len(outside)
    best = None
    for s in ((1, -1) if signed else (1,)):
        on = (s * inside >= thr).sum(0) / n_in
        off = (s * outside < thr).sum(0) / n_out if n_out else np.ones(N)
        score = (on + off) / 2
        contrast = ((s * inside).sum(0) / n_in - ((s * outside).sum(0) / n_out if n_out else 0.0)) / QUANT
        cur = {"sign": np.full(N, s), "on": on, "off": off, "score": score, "contrast": contrast}
        if best is None:
            best = cur
        else:  # the flipped sign wins only when strictly better, as on the page
            better = (score > best["score"]) | ((score == best["score"]) & (contrast > best["contrast"]))
            best = {k: np.where(better, cur[k], best[k]) for k in best}
    index = np.arange(N)
    layer, unit, names = _cell_names(index, H)
    df = pd.DataFrame({"index": index, "layer": layer, "unit": unit, "cell": names, **best})
    df["sign"] = df["sign"].astype(int)
    df["exact"] = (df["on"] == 1.0) & (df["off"] == 1.0)
    order = np.lexsort((index, -df["contrast"].to_numpy(), -df["score"].to_numpy()))
    return df.iloc[order].reset_index(drop=True)


def fires(activations, cells, threshold: float = THRESHOLD, min_length: int = MIN_RUN, stream: int = 0,
          signs=None, H: int | None = None) -> list[tuple[int, int]]:
    """Where a set of cells is on together: runs ``(start, stop)`` of at least ``min_length``
    steps at which every cell's sign·value >= ``threshold`` (LSTMVis's matches of a selection).

    ``cells``: rows of ``match`` (a DataFrame with ``index`` and ``sign``) or column indices
    (then ``signs``, default all +1)."""
    q, H = _cell_matrix(activations, stream, H)
    if isinstance(cells, pd.DataFrame):
        idx, sg = cells["index"].to_numpy(int), cells["sign"].to_numpy(int)
    else:
        idx = np.atleast_1d(np.asarray(cells, dtype=int))
        sg = np.ones_like(idx) if signs is None else np.atleast_1d(np.asarray(signs, dtype=int))
    if idx.size == 0:
        return []
    on = (q[:, idx] * sg >= int(round(threshold * QUANT))).all(axis=1)
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= min_length]


def top_contexts(acts: Activations, sample: TextSample, k: int = CONTEXTS, before: int = BEFORE,
                 after: int = AFTER) -> dict:
    """Each cell's ``k`` highest and ``k`` lowest values over the analysed text, at steps whose
    windows (``before`` symbols before, ``after`` after) do not overlap, for the page.

    Values are rounded to 1/127 first; among equal values the earliest step wins.

    Returns
    -------
    dict: ``k``, ``before``, ``after``; ``texts``: per stream, its glyphs (``cells.glyphs``);
    ``hi`` and ``lo``: per cell (layer·H + unit) a list of ``[stream, step, value]``, best first
    (fewer than k when the text is too short for k separate windows).
    """
    if k < 1 or before < 0 or after < 0:
        raise RnnvizError(f"need k >= 1 and a window of >= 0 symbols (got k={k}, before={before}, after={after})")
    V = _quantised(acts.all_cell_values()).astype(np.float64)  # (B, T, N)
    B, T, N = V.shape
    out = {"k": int(k), "before": int(before), "after": int(after),
           "texts": [C.glyphs(sample.text(b)) for b in range(B)]}
    for key, s in (("hi", 1.0), ("lo", -1.0)):
        W = (s * V).reshape(B * T, N)
        picks = [[] for _ in range(N)]
        for _ in range(k):
            best = W.argmax(0)  # (N,) first position of each cell's largest remaining value
            for n, i in enumerate(best):
                if not np.isfinite(W[i, n]):
                    continue  # no room left for another separate window
                b, t = divmod(int(i), T)
                picks[n].append([b, t, round(float(s * W[i, n]) / QUANT, 4)])
                # block every step whose window would overlap this one
                W[b * T + max(0, t - before - after) : b * T + min(T, t + before + after + 1), n] = -np.inf
        out[key] = picks
    return out


# ----------------------------------------------------------------------------------------
# Pages
# ----------------------------------------------------------------------------------------
def _window(acts: Activations, stream: int, start: int, n_symbols: int) -> int:
    B, T = acts.x.shape
    if not 0 <= stream < B:
        raise RnnvizError(f"stream {stream} does not exist (the sample has {B}); pick 0..{B - 1}")
    if not 0 <= start < T:
        raise RnnvizError(f"start {start} is outside the {T} analysed symbols")
    return min(T, start + int(n_symbols))


def _model_view(name: str, acts: Activations, ranking, stream: int, start: int, stop: int,
                top_cells: int, contexts: dict) -> dict:
    """What the page shows of one model: its cells over the page's text, their features, contexts."""
    vals = acts.all_cell_values()[stream, start:stop]  # (n, L·H)
    table = C.cell_table(ranking) if len(ranking) else None
    cells = [None] * (acts.L * acts.H)
    if table is not None:
        for r in table.itertuples():
            cells[(r.layer - 1) * acts.H + r.unit] = [r.best_feature, r.metric, round(float(r.score), 4), bool(r.strong)]
    feats = []
    for fname, g in (ranking.groupby("feature", sort=False) if len(ranking) else []):
        g = g.head(top_cells)
        feats.append({
            "name": fname, "description": FEATURES.get(fname, ("", "", fname))[2], "metric": g["metric"].iloc[0],
            "top": [{"cell": r.cell, "layer": int(r.layer), "unit": int(r.unit), "score": round(float(r.score), 4),
                     "sign": int(r.sign)} for r in g.itertuples()],
        })
    return {
        "name": name, "L": acts.L, "H": acts.H, "cell_kind": "tanh(c)" if acts.cell == "lstm" else "h",
        "values": _b64(_quantised(vals).astype(np.int8)),
        "top_ids": _b64(acts.top_ids[stream, start:stop].astype(np.uint8)),
        "top_p": _b64(np.round(acts.top_p[stream, start:stop].astype(np.float32) * 255).astype(np.uint8)),
        "true_p": _b64(np.round(np.exp(acts.logp[stream, start:stop]) * 255).astype(np.uint8)),
        "cells": cells, "features": feats, "contexts": contexts,
    }


def _note(kinds: list[str], ranked_on: str) -> str:
    kind = " / ".join(dict.fromkeys(kinds))
    return ("Colour: the cell's value after reading each symbol, "
            f"{kind}, from blue (-1) to red (+1), quantised to 1/127. "
            "Hover a symbol for the model's five most probable next symbols (the true one in bold). "
            f"Cells are scored on {ranked_on}: |Pearson r| for continuous features, the AUC of the cell "
            f"as a 1-D probe, max(AUC, 1-AUC), for binary ones; strong means |r| >= {C.R_MIN} or AUC >= {C.AUC_MIN}. "
            "Select a span of the text to rank the cells that are on inside it and off around it (LSTMVis's rule). "
            "Layers count from 1 (bottom), cells from 0.")


def _text_part(sample: TextSample, acts: Activations, stream: int, start: int, stop: int) -> dict:
    text = sample.vocab[acts.x[stream, start:stop]].tobytes()
    return {"glyphs": C.glyphs(text), "labels": [byte_label(int(b)) for b in sample.vocab],
            "x": acts.x[stream, start:stop].astype(int).tolist(), "y": acts.y[stream, start:stop].astype(int).tolist()}


def page_data(sample: TextSample, acts: Activations, ranking, title: str, meta: str = "", stream: int = 0,
              start: int = 0, n_symbols: int = PAGE_SYMBOLS, top_cells: int = TOP_CELLS,
              ranked_on: str | None = None, contexts: dict | None = None) -> dict:
    """Everything the page shows, for symbols ``start .. start + n_symbols`` of one stream.

    ``ranked_on`` names the text the ranking was computed on (default: this sample's);
    ``contexts`` is ``top_contexts``'s output (default: computed over this sample)."""
    stop = _window(acts, stream, start, n_symbols)
    if contexts is None:
        contexts = top_contexts(acts, sample)
    model = _model_view(title, acts, ranking, stream, start, stop, top_cells, contexts)
    return {"title": title, "meta": meta, "note": _note([model["cell_kind"]], ranked_on or sample.source),
            "palette": _palette(), **_text_part(sample, acts, stream, start, stop), "models": [model]}


def compare_data(views: list[dict], title: str, meta: str = "", stream: int = 0, start: int = 0,
                 n_symbols: int = PAGE_SYMBOLS, top_cells: int = TOP_CELLS) -> dict:
    """``page_data`` for several models over the same text (see ``write_compare``)."""
    if len(views) < 2:
        raise RnnvizError(f"a comparison needs two or more models (got {len(views)})")
    first = views[0]
    stop = _window(first["acts"], stream, start, n_symbols)
    models = []
    for v in views:
        acts, sample = v["acts"], v["sample"]
        same = (np.array_equal(sample.vocab, first["sample"].vocab) and acts.x.shape == first["acts"].x.shape
                and np.array_equal(acts.x[stream, start:stop], first["acts"].x[stream, start:stop]))
        if not same:
            raise RnnvizError(f"{v['name']} was read over other text than {first['name']} (or with another "
                              "vocabulary); compare models of the same corpus over the same text")
        ctx = v.get("contexts") or top_contexts(acts, sample)
        models.append(_model_view(v["name"], acts, v["ranking"], stream, start, stop, top_cells, ctx))
    ranked_on = "; ".join(dict.fromkeys(v.get("ranked_on") or v["sample"].source for v in views))
    return {"title": title, "meta": meta, "note": _note([m["cell_kind"] for m in models], ranked_on),
            "palette": _palette(), **_text_part(first["sample"], first["acts"], stream, start, stop), "models": models}


def render(data: dict) -> str:
    """The page's HTML for ``page_data``'s output."""
    template = resources.files("rnnviz_lib").joinpath("templates/explorer.html").read_text(encoding="utf-8")
    subs = {"__TITLE__": html.escape(str(data.get("title", "rnnviz explorer"))), "__DATA__": script_json(data),
            "__NONCE__": secrets.token_urlsafe(16)}
    # one pass, so a placeholder spelled inside the data is never substituted again
    return re.sub("|".join(subs), lambda m: subs[m.group(0)], template)


def write_explorer(path, sample: TextSample, acts: Activations, ranking, title: str, meta: str = "",
                   stream: int = 0, start: int = 0, n_symbols: int = PAGE_SYMBOLS, ranked_on: str | None = None,
                   contexts: dict | None = None) -> Path:
    """Write the explorer page of one model to ``path`` (atomically); return the path."""
    data = page_data(sample, acts, ranking, title, meta, stream, start, n_symbols, ranked_on=ranked_on,
                     contexts=contexts)
    return atomic_write_text(Path(path), render(data))


def write_compare(path, views: list[dict], title: str, meta: str = "", stream: int = 0, start: int = 0,
                  n_symbols: int = PAGE_SYMBOLS) -> Path:
    """Write one page with two (or more) models side by side over the same text.

    ``views``: one dict per model with ``name``, ``sample``, ``acts``, ``ranking`` and optionally
    ``contexts`` (``top_contexts``) and ``ranked_on``. Each model keeps its own chosen cell; a
    selection ranks the cells of every model over the same span."""
    return atomic_write_text(Path(path), render(compare_data(views, title, meta, stream, start, n_symbols)))


def write_study_pages(studies: dict, profile: str, store: Store | None = None,
                      n_symbols: int = PAGE_SYMBOLS) -> dict[str, Path]:
    """One page per model of ``cells.grid_studies`` and, per dataset with two or more models, one
    page with its first two side by side (e.g. LSTM-3 vs GRU-3), all under ``pages_dir(profile)``.

    Returns {page name: path}; a comparison is named ``<first>-vs-<second>``."""
    out, views_by_dataset = {}, {}
    for name, st in studies.items():
        sample, acts = st.page_view(n_symbols, store)  # one long stretch of validation text
        view = {"name": name, "sample": sample, "acts": acts, "ranking": st.ranking, "ranked_on": st.sample.source}
        views_by_dataset.setdefault(st.config.dataset, []).append(view)
        meta = (f"{name} · {acts.cell.upper()}, {acts.L} layers of {acts.H} · profile {profile} · "
                f"page: {sample.source}")
        out[name] = write_explorer(pages_dir(profile, store) / f"cells_{name}.html", sample, acts, st.ranking,
                                   title=f"rnnviz cell explorer: {name}", meta=meta, n_symbols=n_symbols,
                                   ranked_on=st.sample.source)
    for views in views_by_dataset.values():
        if len(views) < 2:
            continue
        pair = views[:2]
        name = f"{pair[0]['name']}-vs-{pair[1]['name']}"
        meta = f"{pair[0]['name']} beside {pair[1]['name']} · profile {profile} · page: {pair[0]['sample'].source}"
        out[name] = write_compare(pages_dir(profile, store) / f"cells_{name}.html", pair,
                                  title=f"rnnviz cell explorer: {name}", meta=meta, n_symbols=n_symbols)
    return out


# ----------------------------------------------------------------------------------------
# Export for LSTMVis
# ----------------------------------------------------------------------------------------
def state_arrays(acts: Activations, sample: TextSample) -> dict[str, np.ndarray]:
    """The arrays LSTMVis reads, the streams one after another (row ``b·T + t`` is step t of stream b).

    Returns ``states<l>`` (B·T, H) float32 for layers l = 1..L (LSTM: the cell state c, which
    LSTMVis shows through tanh; GRU/RNN: h), ``output<l>`` (B·T, H) float32 (LSTM only: h),
    ``word_ids`` (B·T,) int32 symbol ids, ``vocab`` (K,) uint8 (symbol id k is that byte) and
    ``words`` (K,) str, each symbol's label without whitespace (LSTMVis's dictionary format)."""
    B, T = acts.x.shape
    out = {}
    for l, rec in enumerate(acts.layers):
        out[f"states{l + 1}"] = rec["c" if acts.cell == "lstm" else "h"].astype(np.float32).reshape(B * T, -1)
        if acts.cell == "lstm":
            out[f"output{l + 1}"] = rec["h"].astype(np.float32).reshape(B * T, -1)
    out["word_ids"] = acts.x.astype(np.int32).reshape(-1)
    out["vocab"] = np.asarray(sample.vocab, dtype=np.uint8)
    out["words"] = np.array([byte_label(int(b)) for b in sample.vocab])
    return out


def lstmvis_config(acts: Activations, name: str, description: str = "") -> dict:
    """LSTMVis's ``lstm.yml`` for ``write_lstmvis``'s files."""
    types = []
    for l in range(1, acts.L + 1):
        if acts.cell == "lstm":  # c unbounded: LSTMVis's default tanh gives the paper's tanh(c)
            types.append({"type": "state", "layer": l, "path": f"states{l}"})
            types.append({"type": "output", "layer": l, "path": f"output{l}", "transform": "none"})
        else:  # h is in [-1, 1] already
            types.append({"type": "state", "layer": l, "path": f"states{l}", "transform": "none"})
    return {
        "name": name, "description": description or name,
        "files": {"states": "states.hdf5", "train": "train.hdf5", "words": "train.dict"},
        "word_sequence": {"file": "train", "path": "word_ids", "dict_file": "words"},
        "states": {"file": "states", "types": types},
    }


def write_lstmvis(out_dir, acts: Activations, sample: TextSample, name: str, description: str = "") -> Path:
    """Write a LSTMVis project folder: ``lstm.yml``, ``states.hdf5`` (a (T, H) dataset per layer),
    ``train.hdf5`` (dataset ``word_ids`` (T,)) and ``train.dict`` ("label id" per line).
    LSTMVis finds it when started with ``-dir`` on the folder above. Returns ``out_dir``."""
    import h5py
    import yaml

    out_dir = Path(out_dir)
    arrays = state_arrays(acts, sample)
    with atomic_path(out_dir / "states.hdf5") as tmp:
        with h5py.File(tmp, "w") as f:
            for k, v in arrays.items():
                if k.startswith(("states", "output")):
                    f.create_dataset(k, data=v)
    with atomic_path(out_dir / "train.hdf5") as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("word_ids", data=arrays["word_ids"])
    atomic_write_text(out_dir / "train.dict", "".join(f"{w} {i}\n" for i, w in enumerate(arrays["words"])))
    atomic_write_text(out_dir / "lstm.yml", yaml.safe_dump(lstmvis_config(acts, name, description), sort_keys=False))
    return out_dir


def write_npz(path, acts: Activations, sample: TextSample) -> Path:
    """``state_arrays`` as one ``.npz`` (loads with ``allow_pickle=False``). Returns the path."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **state_arrays(acts, sample))  # float states barely compress; compressing them is slow
    return Path(path)
