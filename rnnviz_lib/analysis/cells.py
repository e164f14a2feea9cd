"""Interpretable cells, found automatically (Figure 2), and a causal check by clamping them.

API::

    feats = sample_features(sample)                     # name -> Feature with values (B, T)
    ranking = rank_cells(acts, feats)                   # one row per (cell, feature), best first
    best = best_cells(ranking)                          # the top cell of each feature
    summary = interpretable_summary(ranking)            # how many cells track some feature strongly
    effects = causal_effects(model, sample, acts, feats, best)

A cell's value is what the paper colours text by: tanh(c) for the LSTM, h for GRU and RNN
(``Activations.cell_values``). How well it tracks a feature:

* continuous features: |Pearson r| over every analysed symbol;
* binary features: the AUC of the cell's value as a 1-D probe, ``max(AUC, 1 - AUC)`` (a cell that
  is low inside quotes tracks them as well as one that is high).

Values are rounded to 1/127 first (the explorer's colour steps), so differences too small to
see do not count. ``strength`` puts both on [0, 1]: |r|, or ``2·(AUC − 0.5)`` (Somers' D). A cell is called
*interpretable* when its strongest feature passes ``R_MIN`` (|r| ≥ 0.7) or ``AUC_MIN``
(AUC ≥ 0.9); the paper estimated about 5% of cells by eye.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from rnnviz_lib.analysis import features as F
from rnnviz_lib.analysis.activations import Activations, TextSample, sample_logp_many
from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)

R_MIN = 0.7  # |Pearson r| for a continuous feature to count as "tracked strongly"
AUC_MIN = 0.9  # probe AUC for a binary feature
MIN_CLASS = 10  # a binary feature needs this many symbols on each side to be scored
QUANT = 127  # cell values are scored rounded to 1/QUANT, the explorer's colour resolution


# ----------------------------------------------------------------------------------------
# Features over a sample
# ----------------------------------------------------------------------------------------
def sample_features(sample: TextSample) -> dict[str, F.Feature]:
    """Every feature of ``sample.lang`` over the analysed symbols: values of shape (B, T).

    Each stream's features are computed over its preceding context too, then cut to the
    analysed part, so a stream that starts inside a comment knows it.
    """
    per_stream = [F.compute(text, sample.lang) for text in sample.feature_text]
    out = {}
    for name, f0 in per_stream[0].items():
        vals = np.stack([fs[name].values[c : c + sample.T] for fs, c in zip(per_stream, sample.context)])
        out[name] = dataclasses.replace(f0, values=vals.astype(np.float32))
    return out


# ----------------------------------------------------------------------------------------
# Ranking cells against features
# ----------------------------------------------------------------------------------------
def _pearson(V: np.ndarray, f: np.ndarray) -> np.ndarray:
    """(N,) Pearson r of each column of V (M, N) with f (M,); 0 for constant columns."""
    Vc = V - V.mean(0)
    fc = f - f.mean()
    den = np.sqrt((Vc ** 2).sum(0) * (fc ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 1e-12, (fc @ Vc) / den, 0.0)
    return np.nan_to_num(r)


def _auc(R: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """(N,) AUC of each column from its ranks R (M, N) (ties averaged) against a 0/1 mask."""
    n1 = int(pos.sum())
    n0 = pos.size - n1
    return (R[pos].sum(0) - n1 * (n1 + 1) / 2) / (n1 * n0)


def rank_cells(acts: Activations, feats: dict[str, F.Feature]) -> pd.DataFrame:
    """Score every cell against every feature present in the text.

    Returns
    -------
    DataFrame with one row per (cell, feature), sorted by feature then strength (best first):
    ``layer`` (1-based, as the paper counts), ``unit`` (0-based), ``cell`` ("L2.17"),
    ``feature``, ``kind``, ``metric`` ("|r|" or "AUC"), ``score`` (|r| or max(AUC, 1-AUC)),
    ``strength`` (on [0, 1]), ``sign`` (+1: the cell is high where the feature is high/on).
    Features that are constant in the text (or a binary one with fewer than ``MIN_CLASS``
    symbols on a side) are left out.
    """
    # Scored at the colour resolution of the pages (1/127): a saturated cell whose tanh(c) only
    # wiggles between 0.9999 and 1 would otherwise rank perfectly while looking (and acting) constant.
    V = np.round(acts.all_cell_values().reshape(-1, acts.L * acts.H).astype(np.float64) * QUANT) / QUANT  # (B·T, N)
    layer = np.repeat(np.arange(1, acts.L + 1), acts.H)
    unit = np.tile(np.arange(acts.H), acts.L)
    R = None
    frames = []
    for name, feat in feats.items():
        f = feat.values.reshape(-1).astype(np.float64)
        if f.size != V.shape[0]:
            raise ValueError(f"feature {name} has {f.size} values for {V.shape[0]} symbols")
        if feat.kind == F.BINARY:
            pos = f > 0.5
            if min(pos.sum(), (~pos).sum()) < MIN_CLASS:
                log.info("feature %s skipped: too few symbols on one side (%d of %d)", name, pos.sum(), pos.size)
                continue
            if R is None:
                R = rankdata(V, axis=0)
            auc = _auc(R, pos)
            score, strength, sign, metric = np.maximum(auc, 1 - auc), 2 * np.abs(auc - 0.5), np.sign(auc - 0.5), "AUC"
        else:
            if np.ptp(f) == 0:
                log.info("feature %s skipped: constant in this text", name)
                continue
            r = _pearson(V, f)
            score, strength, sign, metric = np.abs(r), np.abs(r), np.sign(r), "|r|"
        frames.append(pd.DataFrame({
            "layer": layer, "unit": unit, "cell": [f"L{a}.{b}" for a, b in zip(layer, unit)],
            "feature": name, "kind": feat.kind, "metric": metric, "score": score, "strength": strength,
            "sign": sign.astype(int),
        }))
    if not frames:
        return pd.DataFrame(columns=["layer", "unit", "cell", "feature", "kind", "metric", "score", "strength", "sign"])
    df = pd.concat(frames, ignore_index=True)
    order = {n: i for i, n in enumerate(feats)}
    df["_o"] = df["feature"].map(order)
    return df.sort_values(["_o", "strength"], ascending=[True, False]).drop(columns="_o").reset_index(drop=True)


def best_cells(ranking: pd.DataFrame, k: int = 1) -> pd.DataFrame:
    """The ``k`` strongest cells of each feature (rows of ``ranking``, in feature order)."""
    return ranking.groupby("feature", sort=False).head(k).reset_index(drop=True)


def is_strong(ranking: pd.DataFrame, r_min: float = R_MIN, auc_min: float = AUC_MIN) -> pd.Series:
    """Boolean per row: the cell tracks this feature strongly."""
    return np.where(ranking["kind"] == F.BINARY, ranking["score"] >= auc_min, ranking["score"] >= r_min)


def cell_table(ranking: pd.DataFrame, r_min: float = R_MIN, auc_min: float = AUC_MIN) -> pd.DataFrame:
    """One row per cell: its strongest feature (by strength), score, and whether it is interpretable."""
    df = ranking.assign(strong=is_strong(ranking, r_min, auc_min))
    df = df.sort_values(["strong", "strength"], ascending=False)
    top = df.groupby(["layer", "unit"], sort=False).head(1)
    top = top.rename(columns={"feature": "best_feature"}).sort_values(["layer", "unit"]).reset_index(drop=True)
    return top[["layer", "unit", "cell", "best_feature", "metric", "score", "strength", "sign", "strong"]]


def interpretable_summary(ranking: pd.DataFrame, r_min: float = R_MIN, auc_min: float = AUC_MIN) -> pd.DataFrame:
    """Per layer and overall: cells, how many track some feature strongly, and which features.

    Columns: ``cells``, ``interpretable``, ``fraction``, ``by_feature`` (feature: count, over
    the interpretable cells' strongest features).
    """
    cells = cell_table(ranking, r_min, auc_min)
    rows = {}
    for key, g in list(cells.groupby("layer")) + [("all", cells)]:
        strong = g[g["strong"]]
        rows[f"layer {key}" if key != "all" else "all"] = {
            "cells": len(g), "interpretable": int(len(strong)),
            "fraction": len(strong) / max(1, len(g)),
            "by_feature": ", ".join(f"{k}: {v}" for k, v in strong["best_feature"].value_counts().items()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def uninterpretable_cell(ranking: pd.DataFrame, seed: int = 0, quantile: float = 0.25,
                         spread: np.ndarray | None = None) -> pd.Series:
    """A seeded random cell among the ``quantile`` whose strongest feature is weakest: the paper's
    "not easily interpretable" contrast. Returns its ``cell_table`` row.

    ``spread`` (L·H,), e.g. each cell's standard deviation over the text, keeps only cells that
    vary at least as much as the median cell, so the contrast is a busy cell that tracks
    nothing listed rather than a dead or saturated one.
    """
    cells = cell_table(ranking)
    if cells.empty:
        raise RnnvizError("no cells to pick an uninterpretable one from: the ranking is empty (no feature "
                          "could be computed on this text); rank the cells on a longer text")
    keep = cells["strength"] <= cells["strength"].quantile(quantile)
    if spread is not None:
        spread = np.asarray(spread)[(cells["layer"].to_numpy() - 1) * (cells["unit"].max() + 1) + cells["unit"].to_numpy()]
        busy = keep & (spread >= np.median(spread))
        keep = busy if busy.any() else keep
    pool = cells[keep]
    return pool.iloc[int(np.random.default_rng(seed).integers(len(pool)))]


# ----------------------------------------------------------------------------------------
# Showing a cell over text
# ----------------------------------------------------------------------------------------
def glyphs(text: bytes) -> list[str]:
    """One display string per byte: printable ASCII as itself, ``\\n`` and ``\\t`` kept, ``\\r``
    and a BOM empty, a UTF-8 sequence's character on its last byte (its other bytes empty),
    other control bytes as Unicode control pictures and stray bytes as U+FFFD."""
    b = bytes(text)
    out = [""] * len(b)
    i = 0
    while i < len(b):
        ch = b[i]
        if ch < 0x80:
            out[i] = chr(ch) if (ch >= 32 or ch in (9, 10)) and ch != 127 else ("" if ch == 13 else chr(0x2400 + min(ch, 0x21)))
            i += 1
            continue
        n = 2 if 0xC0 <= ch < 0xE0 else 3 if 0xE0 <= ch < 0xF0 else 4 if 0xF0 <= ch < 0xF8 else 0
        try:
            s = b[i : i + n].decode("utf-8") if n else None
        except UnicodeDecodeError:
            s = None
        if s is None or len(s) != 1:
            out[i] = "\ufffd"
            i += 1
            continue
        out[i + n - 1] = "" if s == "\ufeff" else s
        i += n
    return out


def pick_window(values: np.ndarray, kind: str, width: int, text: list[bytes] | None = None) -> tuple[int, int]:
    """(stream, start) of the ``width``-symbol window where a feature is most visible: the most
    on/off switches (binary) or the largest variance (continuous). The start is moved back to
    a line start when one is near, so shown text starts at the left margin."""
    B, T = values.shape
    width = min(width, T)
    best, where = -1.0, (0, 0)
    for b in range(B):
        v = values[b].astype(np.float64)
        if kind == F.BINARY:
            ev = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(v)))])  # switches up to t
            score = ev[width - 1 :] - ev[: T - width + 1]
        else:
            c1 = np.concatenate([[0.0], np.cumsum(v)])
            c2 = np.concatenate([[0.0], np.cumsum(v * v)])
            s1, s2 = c1[width:] - c1[:-width], c2[width:] - c2[:-width]
            score = s2 / width - (s1 / width) ** 2
        a = int(np.argmax(score))
        if score[a] > best:
            best, where = float(score[a]), (b, a)
    b, a = where
    if text is not None:
        nl = text[b].rfind(b"\n", max(0, a - 120), a)
        if nl >= 0 and nl + 1 + width <= T:
            a = nl + 1
    return b, a


# ----------------------------------------------------------------------------------------
# Causal check: clamp a cell and see which predictions suffer
# ----------------------------------------------------------------------------------------
GOVERNED = {
    "line_position": ("line ends (next symbol is a newline)", lambda fe, yb: fe["line_end_next"] > 0.5),
    "line_end_next": ("line ends (next symbol is a newline)", lambda fe, yb: fe["line_end_next"] > 0.5),
    "in_quotes": ('next symbol is "', lambda fe, yb: yb == ord('"')),
    "in_comment": ("symbols read inside a comment", lambda fe, yb: fe["in_comment"] > 0.5),
    "bracket_depth": ("next symbol is ) or ]", lambda fe, yb: (yb == ord(")")) | (yb == ord("]"))),
    "brace_depth": ("next symbol is }", lambda fe, yb: yb == ord("}")),
    "in_if_body": ("next symbol is }", lambda fe, yb: yb == ord("}")),
}


def governed_mask(feature: str, feats: dict[str, F.Feature], sample: TextSample) -> np.ndarray:
    """(B, T) the predictions a feature's cell should matter for (``GOVERNED``)."""
    fe = {k: v.values for k, v in feats.items()}
    yb = sample.vocab[sample.y]
    return np.asarray(GOVERNED[feature][1](fe, yb), dtype=bool)


def causal_effects(model, sample: TextSample, acts: Activations, feats: dict[str, F.Feature],
                   best: pd.DataFrame, modes=("zero", "mean"), seed: int = 0) -> pd.DataFrame:
    """Clamp each feature's best cell and compare the loss change on the symbols it governs
    with the change on all symbols, beside a random control cell of the same layer.

    ``zero`` holds the memory unit (c for the LSTM, h otherwise) at 0, i.e. tanh(c) = 0;
    ``mean`` holds it at its mean over the sample (a gentler ablation). Losses in nats.
    """
    rng = np.random.default_rng(seed)
    memory = "c" if acts.cell == "lstm" else "h"
    plan = []  # (feature, row, mask, layer, cell unit, control unit)
    for _, row in best.iterrows():
        name = row["feature"]
        if name not in GOVERNED:
            continue
        mask = governed_mask(name, feats, sample)
        if mask.sum() == 0:
            continue
        l, j = int(row["layer"]) - 1, int(row["unit"])
        ctrl = int(rng.choice([u for u in range(acts.H) if u != j])) if acts.H > 1 else j
        plan.append((name, row, mask, l, j, ctrl))

    def value(mode, l, u):
        return 0.0 if mode == "zero" else float(acts.layers[l][memory][..., u].astype(np.float32).mean())

    clamps = [None] + [{(l, u): value(mode, l, u)} for *_, l, j, ctrl in plan for mode in modes for u in (j, ctrl)]
    losses = iter(-lp for lp in sample_logp_many(model, sample, clamps))  # batched passes; results in this order
    base = next(losses)
    rows = []
    for name, row, mask, l, j, ctrl in plan:
        for mode in modes:
            res = {}
            for who in ("cell", "control"):
                loss = next(losses)
                res[who] = (float((loss - base)[mask].mean()), float((loss - base).mean()))
            rows.append({
                "feature": name, "cell": row["cell"], "score": float(row["score"]), "clamp": mode,
                "governed": GOVERNED[name][0], "n_governed": int(mask.sum()),
                "loss_governed": float(base[mask].mean()), "loss_all": float(base.mean()),
                "d_governed": res["cell"][0], "d_all": res["cell"][1],
                "control_cell": f"L{l + 1}.{ctrl}", "control_d_governed": res["control"][0],
                "control_d_all": res["control"][1],
            })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------
# One model, end to end
# ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class CellStudy:
    """A trained model read over a text: its activations, the text's features and the ranking."""

    name: str
    model: object
    config: object
    sample: TextSample
    acts: Activations
    feats: dict
    ranking: pd.DataFrame
    run_dir: object = None  # where the model came from (names its cached activations)
    corpus: object = None  # the model's corpus and validation part, when the text is the split's
    val: object = None

    @property
    def best(self) -> pd.DataFrame:
        return best_cells(self.ranking)

    def page_view(self, n_symbols: int = 3000, store=None) -> tuple[TextSample, Activations]:
        """A sample and its activations for an explorer page: one long stretch of text.

        For the validation split, stream 0 read for ``n_symbols`` symbols (at most the stream's
        length), after the same burn-in; for a user text, the text itself.
        """
        from rnnviz_lib.analysis import activations as A

        if self.corpus is None or self.val is None:
            return self.sample, self.acts
        n = min(int(n_symbols), self.val.x.shape[1])
        s = A.sample_split(self.corpus, self.val, 1, n, self.sample.burn, lang=self.sample.lang)
        return s, A.activations(self.model, s, store=store, slug=self.name)  # keyed by the weights' hash


def study_run(run_dir, text: bytes | None = None, text_name: str = "text", n_streams: int = 20,
              n_steps: int = 1000, burn: int = 500, max_symbols: int = 20000, lang: str | None = None,
              store=None) -> CellStudy:
    """Load a run's best model and read it over the validation split (``n_streams`` streams of
    ``n_steps`` symbols after a ``burn``-symbol warm-up) or over ``text`` (the first
    ``max_symbols`` symbols, from a zero state); activations are cached per (run, text)."""
    from rnnviz_lib import train
    from rnnviz_lib.analysis import activations as A

    run_dir = Path(run_dir)
    model, cfg = train.load_model(run_dir)
    corpus, splits = train.load_splits(cfg, store)
    if text is None:
        lang = lang or F.lang_for_dataset(cfg.dataset, corpus.data[:200_000])
        sample = A.sample_split(corpus, splits.val, n_streams, n_steps, burn, lang=lang)
    else:
        lang = lang or F.guess_lang(text)
        sample = A.sample_bytes(text, corpus.vocab, max_symbols, lang, source=text_name)
    acts = A.activations(model, sample, store=store, slug=cfg.slug)  # keyed by the weights' hash, not the name
    feats = sample_features(sample)
    return CellStudy(cfg.slug, model, cfg, sample, acts, feats, rank_cells(acts, feats), run_dir,
                     corpus if text is None else None, splits.val if text is None else None)


def figure2_panels(study: CellStudy, width: int = 450, seed: int = 0,
                   features: tuple | None = None) -> list[dict]:
    """What Figure 2 shows for one model: for each feature, its best cell over the window of
    text where the feature is most visible; then one weak cell (seeded) for contrast.

    Returns a list of ``{"glyphs", "values", "title", "cell", "feature"}`` (values (n,) in [-1, 1]).
    """
    s, acts = study.sample, study.acts
    texts = [s.text(b) for b in range(s.B)]
    panels = []
    best = study.best
    if features is not None:
        best = best[best["feature"].isin(features)]
    for r in best.itertuples():
        feat = study.feats[r.feature]
        b, a = pick_window(feat.values, feat.kind, width, texts)
        vals = acts.cell_values(r.layer - 1)[b, a : a + width, r.unit]
        panels.append({
            "glyphs": glyphs(texts[b][a : a + width]), "values": vals, "cell": r.cell, "feature": r.feature,
            "title": f"{r.feature} ({feat.description}): cell {r.cell}, {r.metric} = {r.score:.2f}"
                     f"{'' if r.sign > 0 else ', low when on / rising'}",
        })
    spread = acts.all_cell_values().reshape(-1, acts.L * acts.H).std(0)
    weak = uninterpretable_cell(study.ranking, seed, spread=spread)
    b, a = (0, 0)
    if panels:
        first = study.feats[best.iloc[0]["feature"]]
        b, a = pick_window(first.values, first.kind, width, texts)
    vals = acts.cell_values(int(weak["layer"]) - 1)[b, a : a + width, int(weak["unit"])]
    panels.append({
        "glyphs": glyphs(texts[b][a : a + width]), "values": vals, "cell": weak["cell"], "feature": "",
        "title": f"not easily interpretable: cell {weak['cell']} (strongest: {weak['best_feature']}, "
                 f"{weak['metric']} = {weak['score']:.2f})",
    })
    return panels


def grid_studies(profile: str, datasets, models, store=None, **kwargs) -> tuple[dict, dict]:
    """``study_run`` for each requested grid model ("cell-layers-size") of each dataset that the
    profile's grid trains and ``datasets`` lists; for each model, the run the grid chose (lowest
    validation loss over its dropout values).

    Returns
    -------
    studies : {"<dataset>-<cell>-<layers>-<size>": CellStudy}, in the order asked for (a file
        dataset is named by its slugified stem)
    missing : {same name or dataset: why it is not there (not trained, or its corpus not available)}
    """
    from rnnviz_lib import data, grid, runs, train
    from rnnviz_lib.config import is_named_dataset, slugify
    from rnnviz_lib.store import Store

    studies, missing = {}, {}
    trained = grid.datasets(profile)
    for ds in datasets:
        if ds not in trained:
            missing[ds] = f"the {profile} profile's grid trains no {ds} models (its datasets: {', '.join(trained)})"
            continue
        _, unavailable = data.load_available([ds], store=store)
        if unavailable:  # as every notebook does: a corpus that cannot be had is left out with a note
            missing[ds] = f"dataset {ds} is not available, so it is left out: {unavailable[ds]}"
            continue
        by_name = {}
        for run in runs.finished_runs(ds, profile, store or Store()):
            cfg = train.load_config(run.path)
            by_name.setdefault(grid.model_name(cfg.cell, cfg.layers, cfg.size), run.path)
        label = ds if is_named_dataset(ds) else slugify(Path(ds).stem)
        for m in models:
            key = f"{label}-{m}"
            if m not in by_name:
                missing[key] = grid.why_no_run(profile, ds, m)
                continue
            studies[key] = study_run(by_name[m], store=store, **kwargs)
    return studies, missing


def untrained_ranking(study: CellStudy, seed: int = 0) -> pd.DataFrame:
    """The same ranking for a freshly initialised model of the same shape over the same text: the
    chance level of "tracks a feature" (random cells correlate with frequent features a little)."""
    import torch

    from rnnviz_lib.analysis.activations import compute_activations
    from rnnviz_lib.models import model_from_hparams

    torch.manual_seed(seed)
    fresh = model_from_hparams(study.model.hparams())
    return rank_cells(compute_activations(fresh, study.sample), study.feats)
