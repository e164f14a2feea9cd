"""n-NN baseline: one tanh hidden layer over the one-hot vectors of the n previous symbols.

The paper's n-NN (Table 2) is a feed-forward network whose input is the concatenation of the
1-of-K vectors of the n previous symbols (n·K inputs), with one hidden layer of tanh units and a
softmax output. The first layer is implemented as a sum of embedding lookups (row ``i*K + s`` for
symbol ``s`` at context slot ``i``), which is exactly that matrix product with one-hot inputs.

**Histories.** Sequences are treated as by the n-gram model (``ngram.py``): the symbol at offset
``t`` of a sequence sees the ``min(t, n)`` symbols before it in the same sequence; a missing
symbol is an all-zero one-hot vector (a padding row that stays zero and is never trained).

**Initialisation** is PyTorch's default (the paper does not state it for the n-NN; see NNNModule).

**Training** follows the paper's optimiser: RMSProp (lr 2e-3, smoothing 0.95), gradients clipped
element-wise to [-5, 5], learning rate ×0.95 per epoch from epoch ``decay_after`` on, minibatches
of ``batch_size`` random (history, symbol) pairs (a fresh permutation each epoch; the remainder
that does not fill a batch is left out of that epoch), and early stopping on the validation loss
(evaluated every ``eval_every`` steps; the best weights are kept).

**Resuming.** With ``checkpoint`` set, the whole training state (weights, optimiser, data order,
random generator, best weights so far, history) is written atomically at every evaluation; a
later ``fit`` with the same settings and data continues from there and ends with the same
weights as an uninterrupted run. The file is removed when training ends.
"""

from __future__ import annotations

import copy
import logging
import math
import time
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.ngram import _as_sequences, _concat
from rnnviz_lib.store import atomic_path, load_torch

log = logging.getLogger(__name__)


class NNNModule(nn.Module):
    """x (M, n) ids in 0..K, K = no symbol -> logits (M, K)."""

    def __init__(self, n: int, K: int, H: int):
        super().__init__()
        self.n, self.K, self.H = n, K, H
        self.embed = nn.EmbeddingBag(n * K + 1, H, mode="sum", padding_idx=n * K)  # (n·K one-hot) @ W1
        self.b1 = nn.Parameter(torch.zeros(H))
        self.out = nn.Linear(H, K)
        self.register_buffer("slot", torch.arange(n) * K)
        # PyTorch's default init (embedding rows N(0, 1), linear layer U(±1/sqrt(H))); the padding row is zero.
        # The paper does not state the n-NN's init; the RNNs' U(±0.08) leaves this shallow net on a long
        # plateau (n = 4: validation 2.01 after 1,500 steps against 1.65 with these defaults).

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = torch.where(x < self.K, x + self.slot, torch.full_like(x, self.n * self.K))  # (M, n)
        return self.out(torch.tanh(self.embed(idx) + self.b1))  # (M, K)


def _histories(s: np.ndarray, offs: np.ndarray, n: int, K: int) -> np.ndarray:
    """(N, n) histories of each position of the flat array ``s``: column n-1 is the symbol just
    before, column 0 the one n back; K where the history leaves the sequence."""
    lag = np.arange(n, 0, -1)  # column i holds the symbol lag[i] positions back
    idx = np.arange(s.size)[:, None] - lag[None, :]
    ok = offs[:, None] >= lag[None, :]
    return np.where(ok, s[np.maximum(idx, 0)], K).astype(np.int64)


class NNNLM:
    """n-NN language model with the scikit-learn shape.

    Parameters
    ----------
    n : int
        Context length (symbols before the predicted one).
    hidden : int
        H, tanh units of the hidden layer.
    lr, alpha : float
        RMSProp learning rate and smoothing constant (the paper's 2e-3 and 0.95).
    batch_size : int
        (history, symbol) pairs per step.
    max_epochs : float
        Upper bound on passes over the training pairs (fractions allowed).
    max_steps : int or None
        Upper bound on optimiser steps (None: from ``max_epochs``).
    eval_every : int
        Steps between validation evaluations (early stopping checkpoints).
    patience : int
        Evaluations without a better validation loss before stopping.
    decay_after, lr_decay : int, float
        Learning rate × ``lr_decay`` after each epoch from epoch ``decay_after`` on.
    val_max : int or None
        Evaluate on at most this many validation positions (an evenly spaced subset); None: all.
    seed : int
    device : str
    threads : int or None
        torch CPU threads during fit (None: leave torch's setting).
    checkpoint : str or Path or None
        File for the resumable training state (see "Resuming" above); None: no checkpoints.

    Attributes
    ----------
    module_ : NNNModule
    K_ : int
    history_ : list of dict
        ``step, epoch, train_loss, val_loss, seconds`` at each evaluation.
    best_val_loss_ : float
    best_step_ : int
    n_steps_ : int
    train_seconds_ : float
    """

    def __init__(self, n: int = 3, hidden: int = 512, lr: float = 2e-3, alpha: float = 0.95,
                 batch_size: int = 1000, max_epochs: float = 10, max_steps: int | None = None,
                 eval_every: int = 1000, patience: int = 3, decay_after: int = 10, lr_decay: float = 0.95,
                 val_max: int | None = None, seed: int = 0, device: str = "cpu", threads: int | None = None,
                 checkpoint=None):
        self.n = n
        self.hidden = hidden
        self.lr = lr
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.eval_every = eval_every
        self.patience = patience
        self.decay_after = decay_after
        self.lr_decay = lr_decay
        self.val_max = val_max
        self.seed = seed
        self.device = device
        self.threads = threads
        self.checkpoint = checkpoint

    # ------------------------------------------------------------------------------------
    def _pairs(self, sequences) -> tuple[torch.Tensor, torch.Tensor]:
        seqs, _, _ = _as_sequences(sequences)
        s, offs, _, _ = _concat(seqs)
        if s.size and (s.min() < 0 or s.max() >= self.K_):
            raise RnnvizError(f"symbol ids must lie in 0..{self.K_ - 1}; encode the text with the model's corpus")
        X = _histories(s, offs, int(self.n), self.K_)
        return torch.from_numpy(X), torch.from_numpy(s.astype(np.int64))

    @torch.no_grad()
    def _loss(self, X: torch.Tensor, y: torch.Tensor, chunk: int = 65536) -> float:
        self.module_.eval()
        tot = 0.0
        for a in range(0, y.numel(), chunk):
            logits = self.module_(X[a : a + chunk].to(self.device))
            tot += float(nn.functional.cross_entropy(logits, y[a : a + chunk].to(self.device), reduction="sum"))
        self.module_.train()
        return tot / max(y.numel(), 1)

    def fit(self, train, val=None, vocab_size: int | None = None) -> "NNNLM":
        """Train on ``train`` sequences ((T,), (B, T) or list), early-stopping on ``val``; returns self."""
        if int(self.n) < 1 or int(self.hidden) < 1:
            raise RnnvizError(f"n-NN needs n >= 1 and hidden >= 1 (got n={self.n}, hidden={self.hidden})")
        seqs, _, _ = _as_sequences(train)
        top = max(int(q.max()) for q in seqs if q.size) + 1
        self.K_ = int(vocab_size) if vocab_size is not None else top
        if top > self.K_:
            raise RnnvizError(f"symbol id {top - 1} is outside vocab_size {self.K_}; pass a larger vocab_size")
        old_threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            self._fit(train, val)
        finally:
            torch.set_num_threads(old_threads)
        return self

    def _fit(self, train, val) -> None:
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        Xtr, ytr = self._pairs(train)
        Xva, yva = self._pairs(val) if val is not None else (None, None)
        if Xva is not None and self.val_max and yva.numel() > self.val_max:
            keep = torch.linspace(0, yva.numel() - 1, int(self.val_max)).long()
            Xva, yva = Xva[keep], yva[keep]
        self.module_ = NNNModule(int(self.n), self.K_, int(self.hidden)).to(self.device)
        opt = torch.optim.RMSprop(self.module_.parameters(), lr=self.lr, alpha=self.alpha, eps=1e-8)
        N, Bsz = ytr.numel(), int(self.batch_size)
        steps_per_epoch = max(1, N // Bsz)  # full batches only: a short last batch makes RMSProp jump
        total = int(math.ceil(self.max_epochs * steps_per_epoch))
        if self.max_steps is not None:
            total = min(total, int(self.max_steps))
        self.history_, best_state = [], None
        self.best_val_loss_, self.best_step_, bad = math.inf, 0, 0
        run_loss, run_n, elapsed = 0.0, 0, 0.0
        perm, step = torch.randperm(N, generator=gen), 0
        identity = {"n": int(self.n), "K": self.K_, "hidden": int(self.hidden), "N": N, "batch_size": Bsz,
                    "total": total, "seed": self.seed, "lr": self.lr, "alpha": self.alpha,
                    "eval_every": int(self.eval_every), "patience": int(self.patience),
                    "decay_after": self.decay_after, "lr_decay": self.lr_decay, "val_max": self.val_max,
                    "data_crc32": zlib.crc32(ytr.numpy().tobytes()),
                    "val_crc32": None if yva is None else zlib.crc32(yva.numpy().tobytes())}
        ckpt = Path(self.checkpoint) if self.checkpoint else None
        if ckpt is not None and ckpt.is_file():
            st = load_torch(ckpt)
            if st["identity"] != identity:
                raise RnnvizError(f"n-NN checkpoint {ckpt} was written for other settings or data "
                                  f"({st['identity']} != {identity}); delete it to start afresh")
            self.module_.load_state_dict(st["module"])
            opt.load_state_dict(st["optimizer"])
            gen.set_state(st["generator"])
            torch.set_rng_state(st["torch_rng"])
            perm, step, bad, elapsed = st["perm"], st["step"], st["bad"], st["seconds"]
            self.history_, best_state = st["history"], st["best_state"]
            self.best_val_loss_, self.best_step_ = st["best_val_loss"], st["best_step"]
            log.info("n-NN n=%d H=%d resumes at step %d/%d from %s", self.n, self.hidden, step, total, ckpt)
        t0 = time.perf_counter() - elapsed
        stopped = False
        while step < total:
            epoch = step // steps_per_epoch
            a = (step % steps_per_epoch) * Bsz
            if a == 0 and step > 0:
                perm = torch.randperm(N, generator=gen)
                if epoch >= self.decay_after:
                    for g in opt.param_groups:
                        g["lr"] *= self.lr_decay
            idx = perm[a : a + Bsz]
            xb, yb = Xtr[idx].to(self.device), ytr[idx].to(self.device)
            loss = nn.functional.cross_entropy(self.module_(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for p in self.module_.parameters():
                p.grad.clamp_(-5.0, 5.0)
            opt.step()
            step += 1
            run_loss, run_n = run_loss + loss.item(), run_n + 1
            if step % int(self.eval_every) == 0 or step == total:
                rec = {"step": step, "epoch": step / steps_per_epoch, "train_loss": run_loss / run_n,
                       "seconds": time.perf_counter() - t0}
                run_loss, run_n = 0.0, 0
                if Xva is not None:
                    rec["val_loss"] = self._loss(Xva, yva)
                    if rec["val_loss"] < self.best_val_loss_ - 1e-5:
                        self.best_val_loss_, self.best_step_, bad = rec["val_loss"], step, 0
                        best_state = copy.deepcopy(self.module_.state_dict())
                    else:
                        bad += 1
                self.history_.append(rec)
                log.info("n-NN n=%d H=%d step %d/%d epoch %.2f train %.4f val %s", self.n, self.hidden, step, total,
                         rec["epoch"], rec["train_loss"], f"{rec.get('val_loss', float('nan')):.4f}")
                stopped = Xva is not None and bad >= int(self.patience)
                if ckpt is not None and step < total and not stopped:
                    self._save_checkpoint(ckpt, identity, opt, gen, perm, step, bad, best_state, t0)
                if stopped:
                    break
        if best_state is not None:
            self.module_.load_state_dict(best_state)
        self.n_steps_ = step
        self.train_seconds_ = time.perf_counter() - t0
        self.module_.eval()
        if ckpt is not None:
            ckpt.unlink(missing_ok=True)

    def _save_checkpoint(self, path: Path, identity, opt, gen, perm, step, bad, best_state, t0) -> None:
        """Atomically write the resumable training state (see the module docstring)."""
        state = {"identity": identity, "module": self.module_.state_dict(), "optimizer": opt.state_dict(),
                 "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "perm": perm, "step": step,
                 "bad": bad, "seconds": time.perf_counter() - t0, "history": self.history_, "best_state": best_state,
                 "best_val_loss": self.best_val_loss_, "best_step": self.best_step_}
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    # ------------------------------------------------------------------------------------
    def _check(self) -> None:
        if not hasattr(self, "module_"):
            raise RnnvizError("this n-NN model is not fitted yet; call fit(train, val) first")

    @torch.no_grad()
    def log_prob(self, sequences, chunk: int = 65536):
        """Natural log-probability of every symbol given its (up to n) previous in-sequence symbols.

        Returns the input's form ((T,), (B, T) or list of 1-D), float64.
        """
        self._check()
        seqs, form, shape = _as_sequences(sequences)
        s, offs, _, lengths = _concat(seqs)
        X = torch.from_numpy(_histories(s, offs, int(self.n), self.K_))
        y = torch.from_numpy(s)
        out = np.empty(s.size, dtype=np.float64)
        for a in range(0, s.size, chunk):
            lp = torch.log_softmax(self.module_(X[a : a + chunk].to(self.device)).double(), dim=-1)
            out[a : a + chunk] = lp.gather(1, y[a : a + chunk, None].to(self.device))[:, 0].cpu().numpy()
        if form == "2d":
            return out.reshape(shape)
        if form == "list":
            return np.split(out, np.cumsum(lengths)[:-1])
        return out

    @torch.no_grad()
    def predict_proba(self, contexts) -> np.ndarray:
        """(M, K) next-symbol distributions after each context (a (M, c) array or list of 1-D)."""
        self._check()
        n, K = int(self.n), self.K_
        rows = []
        for c in (list(contexts) if not isinstance(contexts, np.ndarray) else list(contexts.astype(np.int64))):
            c = np.asarray(c, dtype=np.int64).ravel()[-n:] if n else np.zeros(0, np.int64)
            rows.append(np.concatenate([np.full(n - c.size, K), c]))
        X = torch.from_numpy(np.stack(rows)) if rows else torch.zeros((0, n), dtype=torch.long)
        return torch.softmax(self.module_(X.to(self.device)).double(), dim=-1).cpu().numpy()
