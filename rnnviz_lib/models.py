"""CharRNN: the paper's character-level RNN, LSTM and GRU, with a fused and a traced forward path.

API (used by train.py and the analysis modules)::

    model = CharRNN(cell="lstm", K=87, H=64, L=1, dropout=0.0, gru_variant="torch")
    logits, state = model(x, state)                    # x (B, T) long -> logits (B, T, K)
    logits, trace, state = model.forward_traced(x, state)
    state = model.init_state(B)

* Input is the one-hot (1-of-K) vector of each symbol, output a linear classifier on the top
  layer (PAPER.md §2). The recurrent layers are one ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
  (tanh) module, so parameter counts are the modules' own (both biases) plus the classifier.
* ``forward`` runs the fused PyTorch/cuDNN kernels (training); ``forward_traced`` steps through
  time with the *same weights* and returns every gate: ``trace[l]`` (one per layer, bottom
  first) is a dict of (B, T, H) tensors

  - LSTM ``i, f, o, g`` (gates after their sigmoid/tanh), ``c`` (cell state), ``h``;
  - GRU ``r, z`` (after sigmoid), ``n`` (the candidate h~, after tanh), ``h``;
  - RNN ``pre`` (pre-activation), ``h``.

* ``state`` is ``(h, c)`` for the LSTM and ``h`` otherwise, each (L, B, H); ``None`` means zeros.
* Dropout sits between layers and before the classifier, never on recurrent connections.
* GRU form. ``gru_variant="torch"`` (the default) is ``nn.GRU``: the reset gate applies after
  the recurrent matrix, ``n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))``. ``"paper"`` is the
  paper's form, reset before the recurrent matrix, ``n = tanh(W_n x + b_in + U_n (r ⊙ h) + b_hn)``,
  run as a custom time loop in both paths over the same ``nn.GRU`` parameters. Both use
  PyTorch's update convention ``h = (1 - z) ⊙ n + z ⊙ h_prev``: our ``z`` is the paper's
  ``1 - z`` (z near 1 *keeps* the old state), so left/right saturation of ``z`` swap against
  the paper's Figure 3.

Widths are parameter-matched per PAPER.md §2: all nine models of a row share the parameter
budget of a 1-layer LSTM of the row's size (``width_for``).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from rnnviz_lib import paper
from rnnviz_lib.config import GRU_VARIANTS, MATCHINGS
from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)

CELLS = paper.CELLS
GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # weight blocks per cell (rows of W_ih are GATES·H)
TRACE_KEYS = {"lstm": ("i", "f", "o", "g", "c", "h"), "gru": ("r", "z", "n", "h"), "rnn": ("pre", "h")}
_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _check_cell(cell: str) -> str:
    if cell not in CELLS:
        raise RnnvizError(f"unknown cell type {cell!r}: use one of {', '.join(CELLS)}")
    return cell


# ----------------------------------------------------------------------------------------
# Parameter counts and parameter-matched widths
# ----------------------------------------------------------------------------------------
def n_params(cell: str, L: int, H: int, K: int) -> int:
    """Parameters of a CharRNN: the ``nn.LSTM/GRU/RNN`` module (both biases) plus the classifier.

    Layer 1 sees the K-dim one-hot input, layers 2..L the H-dim output of the layer below.
    """
    g = GATES[_check_cell(cell)]
    first = g * H * (K + H) + 2 * g * H
    deeper = (L - 1) * (g * H * (2 * H) + 2 * g * H)
    return first + deeper + H * K + K


def budget(size_row: int, K: int, layers: int = 1, matching: str = "row") -> int:
    """The parameter budget of a row: a 1-layer LSTM of width ``size_row`` (``matching="row"``,
    the default), or an ``layers``-layer LSTM of that width (``matching="depth"``)."""
    if matching not in MATCHINGS:
        raise RnnvizError(f"unknown width matching {matching!r}: use one of {', '.join(MATCHINGS)}")
    return n_params("lstm", 1 if matching == "row" else int(layers), int(size_row), int(K))


def width_for(cell: str, layers: int, size_row: int, K: int, matching: str = "row") -> int:
    """Hidden width H of a ``layers``-deep ``cell`` whose parameter count is nearest the row budget.

    ``matching="row"`` (default, PAPER.md §2): all nine models of a row match a 1-layer LSTM of
    width ``size_row``. ``matching="depth"``: only cell types at equal depth are matched, to an
    ``layers``-layer LSTM of width ``size_row`` (deeper models are then 2-4x larger).
    Ties go to the smaller width.
    """
    _check_cell(cell)
    if int(layers) < 1 or int(size_row) < 1 or int(K) < 1:
        raise RnnvizError(f"layers, size and K must be positive (got {layers}, {size_row}, {K})")
    target = budget(size_row, K, layers, matching)
    # n_params is increasing in H: find the first H with count >= target, compare with H-1.
    lo, hi = 1, 1
    while n_params(cell, layers, hi, K) < target:
        hi *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if n_params(cell, layers, mid, K) < target:
            lo = mid + 1
        else:
            hi = mid
    if lo > 1 and target - n_params(cell, layers, lo - 1, K) <= n_params(cell, layers, lo, K) - target:
        return lo - 1
    return lo


def width_table(K: int, sizes=(64, 128, 256, 512), matching: str = "row"):
    """Widths and parameter counts of the grid as a DataFrame (rows: size; columns: cell × depth)."""
    import pandas as pd

    rows = {}
    for size in sizes:
        row = {("budget", ""): budget(size, K, 1, matching) if matching == "row" else None}
        for cell in CELLS:
            for L in (1, 2, 3):
                H = width_for(cell, L, size, K, matching)
                row[(cell.upper(), f"{L}")] = f"{H} ({n_params(cell, L, H, K):,})"
        rows[size] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "size"
    return df


# ----------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------
class CharRNN(nn.Module):
    """Character-level RNN/LSTM/GRU language model over K symbols.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
    K : int
        Vocabulary size (input one-hot width and number of classes).
    H : int
        Hidden width of every layer.
    L : int
        Number of recurrent layers.
    dropout : float
        Dropout probability between layers and before the classifier (never recurrent).
    gru_variant : {"torch", "paper"}
        Where the GRU's reset gate applies (see the module docstring). Ignored for rnn/lstm.
    init_range : float
        Parameters start uniform in [-init_range, init_range] (the paper: 0.08).
    """

    def __init__(self, cell: str, K: int, H: int, L: int = 1, dropout: float = 0.0,
                 gru_variant: str = "torch", init_range: float = 0.08):
        super().__init__()
        _check_cell(cell)
        if gru_variant not in GRU_VARIANTS:
            raise RnnvizError(f"unknown GRU variant {gru_variant!r}: use one of {', '.join(GRU_VARIANTS)}")
        if min(int(K), int(H), int(L)) < 1:
            raise RnnvizError(f"K, H and L must be positive (got K={K}, H={H}, L={L})")
        if not 0.0 <= float(dropout) < 1.0:
            raise RnnvizError(f"dropout must be in [0, 1) (got {dropout})")
        self.cell, self.K, self.H, self.L = cell, int(K), int(H), int(L)
        self.dropout, self.gru_variant, self.init_range = float(dropout), gru_variant, float(init_range)
        kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = _MODULES[cell](self.K, self.H, self.L, batch_first=True,
                                  dropout=self.dropout if self.L > 1 else 0.0, **kwargs)
        self.drop = nn.Dropout(self.dropout)
        self.decoder = nn.Linear(self.H, self.K)
        self.reset_parameters()

    # -- bookkeeping -------------------------------------------------------------------
    def hparams(self) -> dict:
        """Everything needed to rebuild the model (checkpoints carry it)."""
        return {"cell": self.cell, "K": self.K, "H": self.H, "L": self.L, "dropout": self.dropout,
                "gru_variant": self.gru_variant, "init_range": self.init_range}

    def reset_parameters(self) -> None:
        for p in self.parameters():
            nn.init.uniform_(p, -self.init_range, self.init_range)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def _custom_loop(self) -> bool:
        return self.cell == "gru" and self.gru_variant == "paper"

    def init_state(self, B: int, device=None, dtype=None):
        """Zero state for B streams: ``(h, c)`` for the LSTM, ``h`` otherwise; each (L, B, H)."""
        ref = self.decoder.weight
        z = torch.zeros(self.L, B, self.H, device=device or ref.device, dtype=dtype or ref.dtype)
        return (z, z.clone()) if self.cell == "lstm" else z

    def _onehot(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise RnnvizError(f"input must be (B, T) symbol ids, got shape {tuple(x.shape)}")
        return F.one_hot(x.long(), self.K).to(self.decoder.weight.dtype)  # (B, T, K)

    def _layer_weights(self, l: int):
        m = self.rnn
        return (getattr(m, f"weight_ih_l{l}"), getattr(m, f"weight_hh_l{l}"),
                getattr(m, f"bias_ih_l{l}"), getattr(m, f"bias_hh_l{l}"))

    # -- forward paths ---------------------------------------------------------------
    def forward(self, x: torch.Tensor, state=None):
        """Fused forward.

        Parameters
        ----------
        x : LongTensor (B, T)
        state : see ``init_state``; None means zeros.

        Returns
        -------
        logits : (B, T, K)
        state : the state after the last step, same layout as ``init_state``.
        """
        if self._custom_loop:
            logits, _, state = self._loop(x, state, record=False)
            return logits, state
        inp = self._onehot(x)
        if state is None:
            state = self.init_state(x.shape[0])
        out, state = self.rnn(inp, state)  # (B, T, H)
        return self.decoder(self.drop(out)), state

    def forward_traced(self, x: torch.Tensor, state=None, hook=None, record: bool = True, start: int = 0):
        """Step-by-step forward with the same weights (``cell_step``); returns every gate of every layer.

        Parameters
        ----------
        x, state : as ``forward``
        hook : optional callable ``(layer, memory) -> memory``, called at every step of every
            layer with its memory (c of the LSTM, h otherwise, (B, H)) right after the step
            computes it; the step goes on with what it returns (clamping units, ``cell_step``)
        record : keep the gates (False: ``trace`` is None, less memory; ``"h"``: keep each layer's
            output ``h`` only, the next layer's input)
        start : run layers ``start`` … L−1 only: ``x`` is then the (B, T, H) output of layer
            ``start − 1`` (its ``h`` trace), and the lower layers' state passes through as given.
            An intervention on layer ``start`` or above leaves the layers below as they were, so
            their outputs can be computed once (``analysis.activations.sample_logp_many``).

        Returns
        -------
        logits : (B, T, K)
        trace : list of L dicts of (B, T, H) tensors (keys in ``TRACE_KEYS[cell]``; None for a
            layer below ``start``), or None
        state : as in ``forward``
        """
        return self._loop(x, state, record=record, hook=hook, start=start)

    def _loop(self, x, state, record: bool, hook=None, start: int = 0):
        if not 0 <= start < self.L:
            raise RnnvizError(f"start must be a layer of this model, 0 to {self.L - 1} (got {start})")
        if start == 0:
            inp = self._onehot(x)
        elif x.dim() != 3 or x.shape[-1] != self.H:
            raise RnnvizError(f"from layer {start}, the input must be the (B, T, {self.H}) output of layer "
                              f"{start - 1}, got shape {tuple(x.shape)}")
        else:
            inp = x.to(self.decoder.weight.dtype)
        B, T = inp.shape[:2]
        if state is None:
            state = self.init_state(B)
        h0, c0 = state if self.cell == "lstm" else (state, None)
        trace, hs, cs = [None] * start, [h0[l] for l in range(start)], [None if c0 is None else c0[l] for l in range(start)]
        for l in range(start, self.L):
            if l > 0:
                inp = F.dropout(inp, self.dropout, self.training)  # between layers, as nn.LSTM does
            W_ih, W_hh, b_ih, b_hh = self._layer_weights(l)
            gi = inp @ W_ih.T + b_ih  # (B, T, G·H): the input part of every step at once
            out, rec, h, c = self._layer_steps(gi, W_hh, b_hh, h0[l], None if c0 is None else c0[l], T, record,
                                               hook, l)
            del gi  # before the next layer's projection: one (B, T, G·H) tensor alive at a time
            trace.append(rec)
            hs.append(h)
            cs.append(c)
            inp = out  # (B, T, H)
        logits = self.decoder(self.drop(inp))
        h = torch.stack(hs)
        new_state = (h, torch.stack(cs)) if self.cell == "lstm" else h
        return logits, (trace if record else None), new_state

    def _layer_steps(self, gi, W_hh, b_hh, h, c, T, record, hook=None, layer=0):
        """Run one layer over T steps. gi: (B, T, G·H) input projections; h, c: (B, H)."""
        H = self.H
        blocks = {"all": slice(None), "rz": slice(0, 2 * H), "n": slice(2 * H, None)}

        def recur(v, block):
            sl = blocks[block]
            return v @ W_hh[sl].T + b_hh[sl]

        mem_hook = None if hook is None else (lambda m: hook(layer, m))
        gates = bool(record) and record != "h"  # record every gate ("h": the output only, which `out` is)
        keys = TRACE_KEYS[self.cell]
        rec = {k: [] for k in keys} if gates else None
        outs = []
        for t in range(T):
            h, c, vals = cell_step(self.cell, self.gru_variant, gi[:, t], h, c, recur, mem_hook)
            outs.append(h)
            if gates:
                for k in keys:
                    rec[k].append(vals[k])
        out = torch.stack(outs, dim=1)  # (B, T, H)
        if gates:
            rec = {k: torch.stack(v, dim=1) for k, v in rec.items()}
        elif record == "h":
            rec = {"h": out}
        return out, rec, h, c


def cell_step(cell: str, gru_variant: str, gx, h, c, recur, hook=None):
    """One time step of a cell: the equations, written once (PyTorch's gate order and conventions).

    Every step of every path outside cuDNN runs through here: ``CharRNN.forward_traced`` (and
    the paper GRU's forward), the stacked models of ``fast.Stack`` and the clamped forward of
    ``analysis.activations``. Leading dimensions are free: (B, ·) for one model, (M, B, ·) for
    a stack.

    Parameters
    ----------
    cell, gru_variant : as ``CharRNN``
    gx : (..., G·H) the input's share of every gate at this step, ``W x + b_ih`` (a caller
        may fold ``b_hh`` in for the LSTM and RNN and leave it out of ``recur``)
    h, c : (..., H) the state before the step; ``c`` is None except for the LSTM
    recur : callable ``(v, block) -> (..., n·H)``, the recurrent share ``U v + b_hh`` of the gate
        blocks ``"all"`` (LSTM, RNN), ``"rz"`` or ``"n"`` (GRU: the reset/update gates, the candidate)
    hook : optional callable ``memory -> memory`` applied to the memory (c of the LSTM, h
        otherwise) as soon as it is computed; what it returns is what the rest of the step, the
        layer above and the next step see (``analysis.activations.clamped_forward``)

    Returns
    -------
    h, c : the state after the step (c None except for the LSTM)
    gates : dict of (..., H) tensors, keys ``TRACE_KEYS[cell]``
    """
    H = h.shape[-1]
    if cell == "lstm":
        i, f, gg, o = (gx + recur(h, "all")).split(H, dim=-1)
        i, f, gg, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(gg), torch.sigmoid(o)
        c = f * c + i * gg
        if hook is not None:
            c = hook(c)
        h = o * torch.tanh(c)
        return h, c, {"i": i, "f": f, "o": o, "g": gg, "c": c, "h": h}
    if cell == "gru":
        xr, xz, xn = gx.split(H, dim=-1)
        hr, hz = recur(h, "rz").split(H, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        if gru_variant == "paper":
            n = torch.tanh(xn + recur(r * h, "n"))  # reset before U
        else:
            n = torch.tanh(xn + r * recur(h, "n"))  # reset after U (nn.GRU)
        h = (1 - z) * n + z * h
        if hook is not None:
            h = hook(h)
        return h, None, {"r": r, "z": z, "n": n, "h": h}
    pre = gx + recur(h, "all")
    h = torch.tanh(pre)
    if hook is not None:
        h = hook(h)
    return h, None, {"pre": pre, "h": h}


def model_from_hparams(hp: dict) -> CharRNN:
    """Rebuild a CharRNN from ``CharRNN.hparams()``."""
    return CharRNN(hp["cell"], hp["K"], hp["H"], hp["L"], hp.get("dropout", 0.0),
                   hp.get("gru_variant", "torch"), hp.get("init_range", 0.08))


def detach_state(state):
    """Cut the graph at a batch boundary (truncated BPTT) while keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@torch.no_grad()
def sample(model: CharRNN, prime: list[int], length: int, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> list[int]:
    """Sample ``length`` symbol ids after feeding ``prime`` (char-rnn's ``sample.lua``).

    ``temperature`` divides the logits: below 1 is more conservative, above 1 more diverse;
    0 means argmax. An empty prime starts from symbol 0 with a zero state, which is then dropped.
    """
    if temperature < 0:
        raise RnnvizError(f"temperature must be >= 0 (got {temperature})")
    model.eval()
    dev = model.decoder.weight.device
    state = model.init_state(1)
    prime = list(prime) or [0]
    logits, state = model(torch.tensor([prime], device=dev), state)
    last = logits[0, -1]
    out = []
    for _ in range(int(length)):
        if temperature == 0:
            nxt = int(last.argmax())
        else:
            p = torch.softmax(last.double() / temperature, dim=-1).cpu()
            nxt = int(torch.multinomial(p, 1, generator=generator))
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]], device=dev), state)
        last = logits[0, -1]
    return out
