"""Every cell, hidden unit and gate of a CharRNN over a stretch of text, cached per (run, text).

API::

    sample = sample_split(corpus, splits.val, n_streams=20, n_steps=1000)   # or sample_bytes(...)
    acts = activations(model, sample)                  # cached under artifacts/activations/, keyed by the weights
    acts.cell_values(l)          # (B, T, H) tanh(c) (LSTM) or h (GRU/RNN) of layer l
    acts.layers[l]["f"]          # (B, T, H) float16 forget gate
    logits, state = clamped_forward(model, x, clamp={(l, j): 0.0})          # intervention
    base, off = sample_logp_many(model, sample, [None, {(l, j): 0.0}])     # many, batched in one pass

A ``TextSample`` is B streams that are read in parallel: ``burn`` symbols that only warm up
the hidden state (so the analysed text does not start from a zero state in the middle of a
sentence or comment), then T analysed symbols, then one more symbol as the last target. It
also keeps the bytes *before* each stream (``context``) so that text features such as
"inside a comment" are computed from the true lexical state, not from the stream's start.

Activations are stored as float16 (``.npz``), step ``t`` being the state after reading
``x[:, t]``: LSTM ``i f o c h``, GRU ``r z h``, RNN ``h``, plus the top-5 predictions and
the log-probability of the true next symbol ``y[:, t]`` at each step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import numpy as np
import torch

from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_path, atomic_write_json, read_json

log = logging.getLogger(__name__)

KEEP = {"lstm": ("i", "f", "o", "c", "h"), "gru": ("r", "z", "h"), "rnn": ("h",)}
TOPK = 5
CHUNK = 100  # steps per traced call (the state is carried across chunks)


# ----------------------------------------------------------------------------------------
# Text samples
# ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TextSample:
    """B streams of symbol ids to read, and the bytes their text features come from.

    Attributes
    ----------
    ids : ndarray (B, burn + T + 1) uint8
        Burn-in symbols, the T analysed inputs, and the last target.
    burn : int
        Leading symbols read only to warm up the state.
    vocab : ndarray (K,) uint8
        Symbol id k is byte ``vocab[k]``.
    feature_text : tuple of B bytes
        Each stream's preceding context followed by its T analysed bytes.
    context : tuple of B ints
        Where the analysed bytes start in ``feature_text[b]``.
    lang : {"prose", "c"}
    source : str
        Where the text came from (for captions and the explorer page).
    """

    ids: np.ndarray
    burn: int
    vocab: np.ndarray
    feature_text: tuple
    context: tuple
    lang: str
    source: str

    @property
    def B(self) -> int:
        return int(self.ids.shape[0])

    @property
    def T(self) -> int:
        return int(self.ids.shape[1]) - self.burn - 1

    @property
    def x(self) -> np.ndarray:
        """(B, T) analysed input ids."""
        return self.ids[:, self.burn : self.burn + self.T]

    @property
    def y(self) -> np.ndarray:
        """(B, T) next-symbol targets."""
        return self.ids[:, self.burn + 1 :]

    def text(self, b: int) -> bytes:
        """The T analysed bytes of stream b."""
        return self.vocab[self.x[b]].tobytes()

    def identity(self) -> dict:
        """What the cached activations of this sample depend on (besides the model)."""
        h = hashlib.sha256(self.ids.tobytes())
        h.update(self.vocab.tobytes())
        return {"ids_sha256": h.hexdigest(), "shape": list(self.ids.shape), "burn": self.burn}


def sample_split(corpus, part, n_streams: int = 20, n_steps: int = 1000, burn: int = 500,
                 context: int = 20000, lang: str = "prose") -> TextSample:
    """``n_streams`` evenly spaced streams of a split part (``data.SplitPart``), ``n_steps`` each.

    The burn-in and the feature context are the corpus bytes just before each stream's start
    (the training text of that stream, only read, never analysed).
    """
    B_all, T_all = part.x.shape
    if n_streams < 1 or n_steps < 1:
        raise RnnvizError(f"need at least one stream and one step (got {n_streams} streams of {n_steps})")
    if n_steps > T_all:
        raise RnnvizError(f"the {part.name} part has {T_all} symbols per stream, fewer than the {n_steps} "
                          "asked for; ask for fewer steps and more streams")
    streams = np.unique(np.linspace(0, B_all - 1, min(n_streams, B_all)).round().astype(int))
    starts = part.start[streams]
    burn = int(min(burn, starts.min()))
    ids = corpus.ids
    rows, texts, ctxs = [], [], []
    for s in starts:
        rows.append(ids[s - burn : s + n_steps + 1])
        c = int(min(context, s))
        texts.append(corpus.data[s - c : s + n_steps].tobytes())
        ctxs.append(c)
    return TextSample(np.stack(rows).astype(np.uint8), burn, np.asarray(corpus.vocab, dtype=np.uint8),
                      tuple(texts), tuple(ctxs), lang, f"{corpus.name} {part.name}, {len(starts)} stream{'s' if len(starts) > 1 else ''} x {n_steps}")


def sample_bytes(text: bytes, vocab, max_symbols: int = 0, lang: str = "prose", source: str = "text") -> TextSample:
    """One stream over ``text`` from its first byte (zero initial state, no burn-in).

    Bytes the model has no symbol for are dropped (logged), so any file can be read.
    ``max_symbols`` > 0 keeps only the first ``max_symbols`` analysed symbols.
    """
    vocab = np.asarray(vocab, dtype=np.uint8)
    raw = np.frombuffer(bytes(text), dtype=np.uint8)
    known = np.zeros(256, dtype=bool)
    known[vocab] = True
    if raw.size and not known[raw].all():
        bad = sorted(set(raw[~known[raw]].tolist()))
        log.warning("dropping %d bytes the model has no symbol for (values %s)", int((~known[raw]).sum()), bad[:10])
        raw = raw[known[raw]]
    if max_symbols and raw.size > max_symbols + 1:
        raw = raw[: max_symbols + 1]
    if raw.size < 2:
        raise RnnvizError(f"{source} has fewer than 2 symbols the model knows; pass a longer text")
    lut = np.zeros(256, dtype=np.uint8)
    lut[vocab] = np.arange(vocab.size, dtype=np.uint8)
    return TextSample(lut[raw][None, :], 0, vocab, (raw[:-1].tobytes(),), (0,), lang, source)


# ----------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Activations:
    """What every unit did at every analysed step.

    Attributes
    ----------
    cell : str
    layers : list of L dicts key -> ndarray (B, T, H) float16 (keys in ``KEEP[cell]``)
    top_ids : ndarray (B, T, 5) uint8, the model's 5 most probable next symbols, best first
    top_p : ndarray (B, T, 5) float16, their probabilities
    logp : ndarray (B, T) float32, log-probability of the true next symbol ``y``
    x, y : ndarray (B, T) uint8
    """

    cell: str
    layers: list
    top_ids: np.ndarray
    top_p: np.ndarray
    logp: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def L(self) -> int:
        return len(self.layers)

    @property
    def H(self) -> int:
        return int(self.layers[0]["h"].shape[-1])

    def cell_values(self, l: int) -> np.ndarray:
        """(B, T, H) float32 the paper colours text by: tanh(c) for the LSTM, h for GRU/RNN."""
        if self.cell == "lstm":
            return np.tanh(self.layers[l]["c"].astype(np.float32))
        return self.layers[l]["h"].astype(np.float32)

    def all_cell_values(self) -> np.ndarray:
        """(B, T, L·H) float32, layers side by side (cell ``l·H + j`` is unit j of layer l)."""
        return np.concatenate([self.cell_values(l) for l in range(self.L)], axis=-1)

    def to_arrays(self) -> dict:
        out = {"top_ids": self.top_ids, "top_p": self.top_p, "logp": self.logp, "x": self.x, "y": self.y}
        for l, rec in enumerate(self.layers):
            out.update({f"l{l}_{k}": v for k, v in rec.items()})
        return out

    @classmethod
    def from_arrays(cls, cell: str, arrays) -> "Activations":
        L = 1 + max(int(k[1:].split("_")[0]) for k in arrays if k.startswith("l") and "_" in k)
        layers = [{k: np.asarray(arrays[f"l{l}_{k}"]) for k in KEEP[cell]} for l in range(L)]
        return cls(cell, layers, *(np.asarray(arrays[k]) for k in ("top_ids", "top_p", "logp", "x", "y")))


@torch.no_grad()
def compute_activations(model, sample: TextSample, chunk: int = CHUNK) -> Activations:
    """Run ``model.forward_traced`` over the sample (after the burn-in) and keep every unit."""
    if sample.vocab.size != model.K:
        raise RnnvizError(f"the text's vocabulary has {sample.vocab.size} symbols but the model has {model.K}; "
                          "use text read with the model's own corpus vocabulary")
    was_training = model.training
    model.eval()
    dev = model.decoder.weight.device
    ids = torch.from_numpy(sample.ids.astype(np.int64)).to(dev)
    B, W, T = sample.B, sample.burn, sample.T
    state = model.init_state(B)
    if W:
        _, state = model(ids[:, :W], state)  # warm-up with the fused path
    keep = KEEP[model.cell]
    layers = [{k: np.empty((B, T, model.H), dtype=np.float16) for k in keep} for _ in range(model.L)]
    top_ids = np.empty((B, T, TOPK), dtype=np.uint8)
    top_p = np.empty((B, T, TOPK), dtype=np.float16)
    logp = np.empty((B, T), dtype=np.float32)
    for a in range(0, T, chunk):
        b = min(T, a + chunk)
        x = ids[:, W + a : W + b]
        y = ids[:, W + a + 1 : W + b + 1]
        logits, trace, state = model.forward_traced(x, state)
        lp = torch.log_softmax(logits.float(), dim=-1)  # (B, t, K)
        logp[:, a:b] = lp.gather(-1, y.unsqueeze(-1)).squeeze(-1).cpu().numpy()
        tp, ti = lp.exp().topk(min(TOPK, model.K), dim=-1)
        top_ids[:, a:b, : ti.shape[-1]] = ti.cpu().numpy()
        top_p[:, a:b, : tp.shape[-1]] = tp.cpu().numpy()
        for l, rec in enumerate(trace):
            for k in keep:
                layers[l][k][:, a:b] = rec[k].float().cpu().numpy()
    model.train(was_training)
    return Activations(model.cell, layers, top_ids, top_p, logp, sample.x.copy(), sample.y.copy())


def model_key(model) -> str:
    """A content hash of a model's hyperparameters and weights (for models outside a run dir)."""
    h = hashlib.sha256(repr(sorted(model.hparams().items())).encode())
    for name, p in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def activations_dir(key: str, sample: TextSample, store: Store | None = None, slug: str = "acts") -> Path:
    return (store or Store()).artifact_dir("activations", slug, {"model": key, "sample": sample.identity()})


def activations(model, sample: TextSample, key: str | None = None, store: Store | None = None,
                slug: str = "acts") -> Activations:
    """Cached ``compute_activations``: ``artifacts/activations/<slug>-<hash(model key, text)>/acts.npz``.

    ``key`` names the model (e.g. the run directory's name, which is already a config hash);
    by default it is a hash of the weights.
    """
    key = key or model_key(model)
    d = activations_dir(key, sample, store, slug)
    f = d / "acts.npz"
    if f.is_file() and (d / "meta.json").is_file():
        meta = read_json(d / "meta.json")
        with np.load(f, allow_pickle=False) as z:
            log.info("activations from cache %s", d)
            return Activations.from_arrays(meta["cell"], {k: z[k] for k in z.files})
    acts = compute_activations(model, sample)
    with atomic_path(f) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **acts.to_arrays())
    atomic_write_json(d / "meta.json", {"cell": model.cell, "hparams": model.hparams(), "model": key,
                                        "source": sample.source, "lang": sample.lang, **sample.identity()})
    log.info("activations of %s over %s written to %s", key, sample.source, d)
    return acts


# ----------------------------------------------------------------------------------------
# Interventions: the model's own step, with units clamped through its hook
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def clamped_forward(model, x: torch.Tensor, state=None, clamp: dict | None = None, rows: list | None = None,
                    start: int = 0):
    """Forward pass with chosen state units held at fixed values at every step.

    The steps are the model's own (``CharRNN.forward_traced``, ``models.cell_step``), in eval
    mode (no dropout). A hook of the step sets unit j of layer l's memory (the cell state c for
    the LSTM, h for GRU/RNN) to ``clamp[(l, j)]`` as soon as the step computes it; for the
    LSTM the step's output is then ``h = o ⊙ tanh(c)`` of the clamped c, so the clamped value
    is what the layer above, the classifier and the next step all see.

    Parameters
    ----------
    x : LongTensor (B, T) of symbol ids; from ``start`` > 0, the float (B, T, H) output of layer
        ``start − 1``
    state : as ``model.init_state``; None means zeros
    clamp : {(layer, unit): value}, applied to every row of the batch
    rows : instead of ``clamp``, one clamp (a dict as above, or None) per row of the batch
        (``len(rows) == B``): many interventions in one pass (``sample_logp_many``)
    start : run layers ``start`` … L−1 only (``CharRNN.forward_traced``); every clamped layer
        must be ``start`` or above

    Returns
    -------
    logits : (B, T, K); state : as ``model.forward`` (below ``start``, the state given, passed
    through: those layers did not run)
    """
    dev, dt = model.decoder.weight.device, model.decoder.weight.dtype
    if rows is not None and clamp is not None:
        raise RnnvizError("clamped_forward takes clamp= (every row) or rows= (one clamp per row), not both")
    if rows is None:
        rows = [clamp] * x.shape[0]
    elif len(rows) != x.shape[0]:
        raise RnnvizError(f"clamped_forward got {len(rows)} row clamps for a batch of {x.shape[0]} rows")
    picks: dict[int, tuple[list, list, list]] = {}  # layer -> (rows, units, values)
    for r, cl in enumerate(rows):
        for (l, j), v in (cl or {}).items():
            _check_unit(model, l, j, start)
            pr, pu, pv = picks.setdefault(int(l), ([], [], []))
            pr.append(r), pu.append(int(j)), pv.append(float(v))
    by_layer = {l: (torch.tensor(pr, dtype=torch.long, device=dev), torch.tensor(pu, dtype=torch.long, device=dev),
                    torch.tensor(pv, dtype=dt, device=dev)) for l, (pr, pu, pv) in picks.items()}

    def hook(l, memory):
        if l not in by_layer:
            return memory
        r, j, vals = by_layer[l]
        memory = memory.clone()
        memory[r, j] = vals
        return memory

    was_training = model.training
    model.eval()
    try:
        logits, _, state = model.forward_traced(x, state, hook=hook if by_layer else None, record=False, start=start)
    finally:
        model.train(was_training)
    return logits, state


def _check_unit(model, layer, unit, start: int = 0) -> None:
    if not start <= int(layer) < model.L:
        raise RnnvizError(f"a clamp names layer {layer}, but the pass runs layers {start} to {model.L - 1}")
    if not 0 <= int(unit) < model.H:
        raise RnnvizError(f"a clamp names unit {unit} of layer {layer}, but the model's layers have {model.H} units "
                          f"(0 to {model.H - 1})")


@torch.no_grad()
def sample_logp(model, sample: TextSample, clamp: dict | None = None, chunk: int = 500) -> np.ndarray:
    """(B, T) log-probability of each true next symbol with ``clamp`` applied throughout
    (burn-in included, so the clamped unit never holds its natural value)."""
    return sample_logp_many(model, sample, [clamp], chunk=chunk)[0]


ROWS_PER_PASS = 320  # batch rows of one sample_logp_many pass (copies of the sample × its B streams)
ROW_STEPS = 64_000  # rows × steps per traced call (at most): its (rows, steps, G·H) input projection, its logits
# and its layer outputs are the memory of a pass; LSTM-3-512 (H 241): about 0.5 GB per projection


@torch.no_grad()
def sample_logp_many(model, sample: TextSample, clamps: list, chunk: int | None = None,
                     rows_per_pass: int = ROWS_PER_PASS) -> list[np.ndarray]:
    """``sample_logp`` for many clamps at once: one (B, T) array per entry of ``clamps`` (a
    clamp dict, or None for the model as it is).

    Two savings, the numbers being those of one ``sample_logp`` call per clamp (up to float
    rounding of the larger matmuls):

    * a clamp whose lowest layer is l leaves layers 0 … l−1 as they are, so those run once, in
      the unclamped pass (which keeps their outputs, (B, T, H) each), and the clamped passes
      start from layer l's input (``CharRNN.forward_traced(start=l)``);
    * the sample is copied once per clamp along the batch, so one step-by-step pass carries the
      clamps of one start layer, ``rows_per_pass // B`` of them (at least one) at a time: a step
      of B = 20 rows is mostly per-step overhead.

    Each traced call covers at most ``ROW_STEPS`` rows × steps (``chunk``, if given, caps the
    steps further). The returned arrays are read-only views: entries of one pass share memory.
    """
    was_training = model.training
    model.eval()
    try:
        ids = torch.from_numpy(sample.ids.astype(np.int64)).to(model.decoder.weight.device)
        B, W, n = ids.shape[0], sample.burn, ids.shape[1] - 1
        for cl in clamps:
            for l, j in cl or {}:
                _check_unit(model, l, j)  # before any pass runs
        starts = [min(int(l) for l, _ in cl) if cl else None for cl in clamps]

        def steps(rows):
            return max(1, min(chunk or 500, ROW_STEPS // rows))

        # the model as it is, keeping the inputs of the layers that clamped passes start from
        state, lps, kept = None, [], {l: [] for l in sorted(set(starts) - {None, 0})}
        out: dict[int, np.ndarray] = {}
        if None in starts or kept:
            for a in range(0, n, steps(B)):
                b = min(n, a + steps(B))
                logits, trace, state = model.forward_traced(ids[:, a:b], state, record="h" if kept else False)
                lps.append(_true_logp(logits, ids[:, a + 1 : b + 1]))
                for l, outs in kept.items():
                    outs.append(trace[l - 1]["h"])
            base = np.concatenate(lps, axis=1)[:, W:]
            base.flags.writeable = False
            kept = {l: torch.cat(v, dim=1) for l, v in kept.items()}  # (B, n, H): layer l's input
            out.update({i: base for i, s in enumerate(starts) if s is None})
        per = max(1, rows_per_pass // B)  # clamps per pass
        for start in sorted({s for s in starts if s is not None}):
            todo = [i for i, s in enumerate(starts) if s == start]
            for g in range(0, len(todo), per):
                group = todo[g : g + per]
                rows = [clamps[i] for i in group for _ in range(B)]  # copy k holds rows k·B … k·B + B − 1
                y = ids.repeat(len(group), 1)
                state, lps = None, []
                for a in range(0, n, steps(len(rows))):
                    b = min(n, a + steps(len(rows)))
                    x = y[:, a:b] if start == 0 else kept[start][:, a:b].repeat(len(group), 1, 1)
                    logits, state = clamped_forward(model, x, state, rows=rows, start=start)
                    lps.append(_true_logp(logits, y[:, a + 1 : b + 1]))
                lp = np.concatenate(lps, axis=1)[:, W:]
                lp.flags.writeable = False
                out.update({i: lp[k * B : (k + 1) * B] for k, i in enumerate(group)})
        return [out[i] for i in range(len(clamps))]
    finally:
        model.train(was_training)


def _true_logp(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(B, T) log-probability of the symbols ``y`` under ``logits`` (B, T, K)."""
    return torch.log_softmax(logits.float(), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1).cpu().numpy()
