"""A faster training step for the CPU: the paper's step with a hand-derived backward pass.

API::

    step = CpuStep(model)                   # a CharRNN: lstm, rnn, or gru (torch form), no dropout
    loss, state = step(x, y, state)         # forward + backward; gradients land in p.grad
    CpuStep.supports(model)                 # False: use the reference step (autograd over nn.LSTM)

Why. On the CPU, one training step of a row-64 model (B = S = 100, H = 37..141) spends most of
its time in per-time-step overhead of ``nn.LSTM``'s autograd backward, and in a (B·S, K) one-hot
matmul for the input. This step computes exactly the reference's quantities with fewer,
larger operations:

* the one-hot input projection is a row lookup of W_ihᵀ (``F.embedding``), and its weight
  gradient an ``index_add`` of the gate gradients into the rows of the symbols seen;
* the forward stores every gate once; everything that does not depend on the recurrence
  (sigmoid/tanh derivatives, o·(1 - tanh²c)) is computed for all T steps in one operation;
* the backward through time is ~9 small in-place operations per step, and the recurrent
  and input weight gradients are one (T·B, G·H)ᵀ (T·B, H) matmul per layer after the loop;
* the classifier and the cross-entropy run through autograd, as in the reference.

The numbers are the reference's up to float summation order: ``tests/test_cpu_step.py``
checks the gradients against autograd in float64 (1e-10) and a 300-step paper-recipe schedule
against the reference (validation loss within 1e-4). Dropout and the paper's GRU form are not
covered; ``train`` then uses the reference step (``supports``).

Cell equations (PyTorch's gate order and conventions, as ``models.CharRNN``)::

    LSTM  a = W x + b_ih + U h + b_hh = [a_i, a_f, a_g, a_o];  i, f, o = σ(.), g = tanh(a_g)
          c' = f c + i g;  h' = o tanh(c')
    GRU   r = σ(W_r x + b_ir + U_r h + b_hr), z = σ(W_z x + b_iz + U_z h + b_hz)
          n = tanh(W_n x + b_in + r (U_n h + b_hn));  h' = (1 - z) n + z h
    RNN   h' = tanh(W x + b_ih + U h + b_hh)
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnviz_lib import models
from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)


class CpuStep:
    """Forward and backward of one training batch of ``model`` (a ``models.CharRNN``)."""

    def __init__(self, model: models.CharRNN):
        if not self.supports(model):
            why = f"the compiled loops are not available ({_EXT_ERROR})" if _EXT_ERROR else \
                "it covers lstm/rnn/gru (torch form) without dropout on the CPU"
            raise RnnvizError(f"CpuStep cannot train this model: {why}; use the reference step (engine reference)")
        self.model = model
        self.cell, self.H, self.L, self.K = model.cell, model.H, model.L, model.K
        self._bufs: dict = {}

    @staticmethod
    def supports(model: models.CharRNN) -> bool:
        return (model.dropout == 0.0 and not model._custom_loop
                and model.decoder.weight.device.type == "cpu" and available())

    def _buf(self, name: str, l: int, shape, dtype) -> torch.Tensor:
        """A work buffer, allocated once and reused by every later step of the same shape."""
        key = (name, l)
        t = self._bufs.get(key)
        if t is None or t.shape != torch.Size(shape) or t.dtype != dtype:
            t = self._bufs[key] = torch.empty(shape, dtype=dtype)
        return t

    def __call__(self, x: torch.Tensor, y: torch.Tensor, state=None):
        """One batch. x, y: (B, T) symbol ids; state as ``CharRNN.init_state`` (None = zeros).

        Sets ``p.grad`` of every parameter (replacing what was there) and returns the mean
        cross-entropy (a 0-dim tensor) and the state after the last step (detached).
        """
        m, ext, H, cell = self.model, _ext(), self.H, self.cell
        B, T = x.shape
        TB = T * B
        dt = m.decoder.weight.dtype
        if state is None:
            state = m.init_state(B)
        h0, c0 = state if cell == "lstm" else (state, None)
        xt = x.t().reshape(-1)  # time-major positions: t * B + b
        saved, hs, cs = [], [], []
        inp = None
        with torch.no_grad():
            for l in range(self.L):
                W_ih, W_hh, b_ih, b_hh = m._layer_weights(l)
                G = W_ih.shape[0]
                Hs = self._buf("Hs", l, (T + 1, B, H), dt)
                # the input side W x + b of every step at once, written where the time loop reads it
                gx = {"lstm": lambda: self._buf("act", l, (T, B, G), dt), "rnn": lambda: Hs[1:],
                      "gru": lambda: self._buf("gx", l, (T, B, G), dt)}[cell]()
                bias = b_ih if cell == "gru" else b_ih + b_hh  # the GRU's b_hn sits inside r (U_n h + b_hn)
                if l == 0:  # one-hot @ W_ihᵀ is a row lookup of W_ihᵀ
                    torch.index_select(W_ih.t().contiguous(), 0, xt, out=gx.view(TB, G)).add_(bias)
                else:
                    torch.addmm(bias, inp.reshape(TB, H), W_ih.t(), out=gx.view(TB, G))
                WhhT = W_hh.t().contiguous()
                if cell == "lstm":
                    sv = (gx, self._buf("C", l, (T + 1, B, H), dt), self._buf("TC", l, (T, B, H), dt), Hs)
                    ext.lstm_forward(WhhT, h0[l].contiguous(), c0[l].contiguous(), *sv)
                    cs.append(sv[1][T].clone())
                elif cell == "gru":
                    sv = (self._buf("RZ", l, (T, B, 2 * H), dt), self._buf("N", l, (T, B, H), dt),
                          self._buf("HN", l, (T, B, H), dt), Hs)
                    ext.gru_forward(gx, WhhT, b_hh.contiguous(), h0[l].contiguous(), *sv)
                else:
                    sv = (Hs,)
                    ext.rnn_forward(WhhT, h0[l].contiguous(), Hs)
                saved.append((inp, sv))
                hs.append(Hs[T].clone())
                inp = Hs[1:]  # (T, B, H) outputs, input of the next layer
        top = inp.detach().requires_grad_(True)
        loss = F.cross_entropy(m.decoder(top).view(TB, self.K), y.t().reshape(-1))
        for p in m.parameters():
            p.grad = None
        loss.backward()  # the classifier's gradients, and d loss / d top
        with torch.no_grad():
            d_out = top.grad
            for l in reversed(range(self.L)):
                W_ih, W_hh, b_ih, b_hh = m._layer_weights(l)
                inp_l, sv = saved[l]
                G = W_ih.shape[0]
                dgx = self._buf("dgx", l, (T, B, G), dt)
                if cell == "lstm":
                    ext.lstm_backward(d_out, W_hh.contiguous(), *sv[:3], dgx)
                    dgh = dgx  # both biases and both matrices see the same pre-activation
                elif cell == "gru":
                    dgh = self._buf("dgh", l, (T, B, G), dt)
                    ext.gru_backward(d_out, W_hh.contiguous(), *sv, dgx, dgh)
                else:
                    ext.rnn_backward(d_out, W_hh.contiguous(), sv[0], dgx)
                    dgh = dgx
                Hs = sv[-1]
                dgx2, dgh2 = dgx.view(TB, G), dgh.view(TB, G)
                W_hh.grad = dgh2.t() @ Hs[:T].reshape(TB, H)
                b_hh.grad = dgh2.sum(0)
                b_ih.grad = b_hh.grad.clone() if dgh is dgx else dgx2.sum(0)
                if l == 0:
                    W_ih.grad = torch.zeros(self.K, G, dtype=dt).index_add_(0, xt, dgx2).t().contiguous()
                else:
                    W_ih.grad = dgx2.t() @ inp_l.reshape(TB, H)
                    d_out = torch.mm(dgx2, W_ih, out=self._buf("dinp", l, (TB, H), dt)).view(T, B, H)
        h = torch.stack(hs)
        return loss.detach(), ((h, torch.stack(cs)) if cell == "lstm" else h)


_EXT = None
_EXT_ERROR = ""
_FUNCTIONS = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "rnn_forward", "rnn_backward"]


def _ext():
    """The compiled time loops (built once per machine with torch's C++ extension loader)."""
    global _EXT, _EXT_ERROR
    if _EXT is None and not _EXT_ERROR:
        try:
            import os
            import shutil
            import sys

            from torch.utils import cpp_extension

            if shutil.which("ninja") is None:  # the pip package's ninja sits beside this interpreter
                os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
            source = (Path(__file__).with_name("cpu_step.cpp")).read_text()
            log.info("loading the CPU training step (a torch C++ extension, built once per machine in about a minute)")
            _EXT = cpp_extension.load_inline("rnnviz_cpu_step", cpp_sources=[source], functions=_FUNCTIONS,
                                             extra_cflags=["-O3"], verbose=False)
        except Exception as exc:  # no compiler, no ninja, read-only cache ...
            _EXT_ERROR = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
            log.warning("the fast CPU training step is not available (%s); training uses the reference step",
                        _EXT_ERROR)
    return _EXT


def available() -> bool:
    """True when the compiled time loops can be used (built on first call)."""
    return _ext() is not None
