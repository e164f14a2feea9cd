"""Models of one shape trained together as one stacked computation: the model side of the fast
grid executor (``fast_executor``: ``run_fast``, ``train_stack``).

API::

    groups = make_groups(configs, store)           # same-shape configs that stack
    stepper = make_stepper(nets, cfg, device)      # the stacked step, a train.Stepper
    stack = Stack(nets, device)                    # M models' weights as (M, ...) tensors

This module holds the stacked tensors (``Stack``, ``Stepper``) and the grouping; the training
loop, the run files and resuming are ``train.train_group``'s, the same as for one model; the
executor that runs groups (threads, CUDA streams, graphs) is ``fast_executor``.

Why. The plain loop (``executors.run(configs, executor="local")`` -> ``train.train_run``, one model at a
time on fused cuDNN modules, fp32) is the reference. On a GPU it leaves the chip idle: a batch of
100 sequences of a 64-unit RNN keeps a handful of SMs busy. This executor

* groups configs whose models have the same shape and schedule (``group_key``: dataset, cell, L,
  resolved H, gru variant, B, S, lr schedule, clip, limits ...; the seed and the dropout differ,
  so the grid's dropout values of one model stack; with ``pad_ratio`` > 1 different widths
  stack too, zero-padded, exactly) and trains each group as M models at once: every weight is
  a (M, ...) tensor, every matmul a ``bmm`` over the leading model dimension (``engine``
  ``stacked``); a lone model runs on its fused cuDNN module (``engine`` ``cudnn``) by default;
* reads the one-hot input as a lookup of W_ih columns (no (B, T, K) one-hot matmul);
* keeps each model's own RMSProp state, element-wise clip, lr schedule, early stopping,
  best-validation weights, history and checkpoints: model m computes exactly what the
  reference computes for its config (same init, same data order, same state carry) up to float
  summation order, and without dropout agrees with it to float tolerance step by step;
* keeps the whole epoch's data resident on the device, reads the training loss back only at
  evaluations (no per-step ``.item()`` sync; a NaN is caught at the next evaluation), and
  validates on the fused module (``evaluate.stream_loss``, the reference's evaluation);
* on CUDA, optionally captures the training step (forward, backward, clip, RMSProp) as one CUDA
  graph (``graphs=True``), and runs several groups concurrently, one thread and CUDA stream each
  (``streams`` > 1), so small models share the chip.

Dropout. The ``cudnn`` engine draws masks from torch's global stream as the reference does (on
the CPU, bit for bit; on a GPU with several streams the draws interleave). The ``stacked``
engine draws them from a generator per group (the default CUDA generator inside a CUDA graph),
since the reference's cuDNN masks cannot be replayed outside cuDNN: with dropout its runs agree
with the reference in distribution, not bit for bit. Without dropout both agree step by step.

Timing fields (history ``time``, metrics ``train_time_s``) are wall time between the syncs at
evaluations and checkpoints, shared by the members of a stack and by concurrent groups.
On a GPU, more than 8 concurrent streams need ``CUDA_DEVICE_MAX_CONNECTIONS`` raised before
CUDA starts (``run_fast`` sets 32 if CUDA is not initialised yet).

The run directories and files are the reference's, written by ``train.train_group`` (the files
``store.py`` names; the checkpoint holds the optimizer in ``torch.optim.RMSprop`` format, so the
reference can resume it). Table 1 and every analysis read them unchanged. A group whose members stopped at different points resumes them
one by one with the reference.
"""

from __future__ import annotations

import logging
import threading

import torch
import torch.nn.functional as F

from rnnviz_lib import evaluate, models, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

log = logging.getLogger(__name__)

_CAPTURE_LOCK = threading.Lock()  # one CUDA-graph capture at a time

# Config fields that may differ inside one stacked group (everything else must match).
PER_MODEL_FIELDS = ("seed", "dropout", "size", "hidden", "matching", "patience")


# ----------------------------------------------------------------------------------------
# Grouping
# ----------------------------------------------------------------------------------------
def resolved_hidden(config: train.TrainConfig, K: int) -> int:
    return config.hidden or models.width_for(config.cell, config.layers, config.size, K, config.matching)


def group_key(config: train.TrainConfig, K: int, width: bool = True) -> tuple:
    """Configs with equal keys stack: same shape (cell, L, H, K) and the same schedule
    (``width=False``: any H, for stacks padded to the widest member)."""
    d = config.identity()
    for f in PER_MODEL_FIELDS:
        d.pop(f, None)
    if width:
        d["H"] = resolved_hidden(config, K)
    d["K"] = int(K)
    d["device"] = config.device
    d["until_epoch"] = config.until_epoch  # runs of a stack pause together
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


def make_groups(configs, store: Store | None = None, max_stack: int = 0,
                pad_ratio: float = 1.0) -> list[list[train.TrainConfig]]:
    """Partition configs into stackable groups; groups larger than ``max_stack`` (> 0) are cut.

    ``pad_ratio`` = 1 (default): only equal widths stack. > 1: models that differ only in width
    stack too, zero-padded to the widest (``Stack``), when the widest H is at most ``pad_ratio``
    times the narrowest (buckets filled greedily from the widest down). Padding trades arithmetic
    for fewer, larger launches: worth it where steps are launch-bound (small models on a GPU).
    """
    store = store or Store()
    K_of: dict = {}
    groups: dict = {}
    for cfg in configs:
        kk = (cfg.dataset, cfg.data_dir)
        if kk not in K_of:
            K_of[kk] = train.load_splits(cfg, store)[0].K
        K = K_of[kk]
        groups.setdefault(group_key(cfg, K, width=pad_ratio <= 1.0), []).append((resolved_hidden(cfg, K), cfg))
    out = []
    for g in groups.values():
        buckets: list[list] = []
        for H, cfg in sorted(g, key=lambda t: -t[0]) if pad_ratio > 1.0 else g:
            if buckets and buckets[-1][0][0] <= pad_ratio * H:
                buckets[-1].append((H, cfg))
            else:
                buckets.append([(H, cfg)])
        for b in buckets:
            n = max_stack if max_stack > 0 else len(b)
            out.extend([c for _, c in b[i : i + n]] for i in range(0, len(b), n))
    return out


# ----------------------------------------------------------------------------------------
# The stacked model: M CharRNNs of one shape as (M, ...) tensors
# ----------------------------------------------------------------------------------------
def _param_names(L: int) -> list[str]:
    names = []
    for l in range(L):
        names += [f"rnn.weight_ih_l{l}", f"rnn.weight_hh_l{l}", f"rnn.bias_ih_l{l}", f"rnn.bias_hh_l{l}"]
    return names + ["decoder.weight", "decoder.bias"]


class Stack:
    """M CharRNNs with one (cell, K, L, gru_variant): parameters stacked on a leading dim.

    ``params[i]`` is the (M, ...) stack of the i-th parameter of ``CharRNN.parameters()``
    (names in ``names``); ``dropout`` is a (M,) tensor of per-model probabilities.

    Widths may differ: every model is zero-padded to the widest one's H (each gate block of
    W_ih, W_hh and the biases gets H - H_m zero rows, W_hh, deeper W_ih and the classifier
    H - H_m zero columns). Padded units then stay exactly zero, their gradients are exactly
    zero and RMSProp leaves them at zero, so model m computes what it computes alone; it only
    costs the padded arithmetic. ``state_dict(m)`` and friends cut the padding off again.
    """

    def __init__(self, nets: list[models.CharRNN], device):
        ref = nets[0]
        for n in nets:
            if (n.cell, n.K, n.L, n.gru_variant) != (ref.cell, ref.K, ref.L, ref.gru_variant):
                raise RnnvizError("models of one stack must share cell, K, L and GRU variant; "
                                  "group them by fast.group_key")
        self.cell, self.K, self.L, self.gru_variant = ref.cell, ref.K, ref.L, ref.gru_variant
        self.Hs = [n.H for n in nets]
        self.H = max(self.Hs)
        self.M = len(nets)
        self.device = torch.device(device)
        self.names = _param_names(self.L)
        G = models.GATES[self.cell]
        self._rows = [(torch.arange(G)[:, None] * self.H + torch.arange(h)[None, :]).reshape(-1) for h in self.Hs]
        sds = [n.state_dict() for n in nets]
        self.params = [torch.stack([self._embed(sd[k], k, m) for m, sd in enumerate(sds)]).to(self.device)
                       .requires_grad_(True) for k in self.names]
        self.p_drop = [float(n.dropout) for n in nets]
        self.dropout = torch.tensor(self.p_drop, device=self.device, dtype=torch.float32)
        self.hparams = [n.hparams() for n in nets]

    # -- padding -----------------------------------------------------------------------
    @staticmethod
    def _has_cols(name: str) -> bool:  # is the second axis H wide?
        return "weight_hh" in name or name == "decoder.weight" or ("weight_ih" in name and not name.endswith("_l0"))

    def _embed(self, t: torch.Tensor, name: str, m: int) -> torch.Tensor:
        """Model m's own tensor -> its zero-padded (H-wide) slot."""
        if self.Hs[m] == self.H:
            return t
        G, h = models.GATES[self.cell], self.Hs[m]
        shape = list(t.shape)
        if name.startswith("rnn."):
            shape[0] = G * self.H
        if self._has_cols(name):
            shape[1] = self.H
        out = t.new_zeros(shape)
        rows = self._rows[m].to(t.device) if name.startswith("rnn.") else torch.arange(t.shape[0], device=t.device)
        if t.dim() == 1:
            out[rows] = t
        elif self._has_cols(name):
            out[rows, :h] = t
        else:
            out[rows] = t
        return out

    def _extract(self, t: torch.Tensor, name: str, m: int) -> torch.Tensor:
        """Model m's slot (one (M, ...) slice) -> its own tensor."""
        if self.Hs[m] == self.H:
            return t
        if name.startswith("rnn."):
            t = t[self._rows[m].to(t.device)]
        if self._has_cols(name):
            t = t[:, : self.Hs[m]]
        return t

    # -- conversions ---------------------------------------------------------------------
    def state_dict(self, m: int) -> dict:
        """Model m's weights in ``CharRNN.state_dict()`` layout, on the CPU."""
        return {k: self._extract(p[m].detach(), k, m).to("cpu", copy=True) for k, p in zip(self.names, self.params)}

    def slot_of(self, i: int, t: torch.Tensor, m: int) -> torch.Tensor:
        """Model m's part of a (M, ...) tensor shaped like ``params[i]`` (e.g. RMSProp state)."""
        return self._extract(t[m].detach(), self.names[i], m)

    def embed_into(self, i: int, t: torch.Tensor, m: int, value: torch.Tensor) -> None:
        with torch.no_grad():
            t[m].copy_(self._embed(value.to(t.device), self.names[i], m))

    @torch.no_grad()
    def copy_into(self, m: int, net: models.CharRNN) -> models.CharRNN:
        """Copy model m's weights into ``net`` (a CharRNN of its shape, on this device)."""
        own = dict(net.named_parameters())
        for k, p in zip(self.names, self.params):
            own[k].copy_(self._extract(p[m], k, m))
        return net

    def load_model_state(self, m: int, sd: dict) -> None:
        for i, k in enumerate(self.names):
            self.embed_into(i, self.params[i], m, sd[k])

    def init_state(self, B: int):
        z = torch.zeros(self.L, self.M, B, self.H, device=self.device)
        return (z, z.clone()) if self.cell == "lstm" else z

    def state_of(self, state, m: int):
        """Model m's carried state in the reference layout ((L, B, H), or (h, c))."""
        if state is None:
            return None
        h = self.Hs[m]
        if isinstance(state, tuple):
            return tuple(s[:, m, :, :h].detach().to("cpu", copy=True) for s in state)
        return state[:, m, :, :h].detach().to("cpu", copy=True)

    def set_state_of(self, state, m: int, value) -> None:
        if value is None:
            return
        h = self.Hs[m]
        with torch.no_grad():
            pairs = zip(state, value) if isinstance(state, tuple) else ((state, value),)
            for s, v in pairs:
                s[:, m].zero_()
                s[:, m, :, :h].copy_(v.to(self.device))

    # -- forward -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, state, training: bool = False, generator=None):
        """Logits of every model for a shared batch.

        Parameters
        ----------
        x : LongTensor (B, T), the same symbols for every model
        state : (L, M, B, H) tensor, or a pair of them for the LSTM
        training : apply dropout (between layers, before the classifier)

        Returns
        -------
        logits : (M, B, T, K)
        state : like ``state``
        """
        B, T = x.shape
        M, H = self.M, self.H
        drop = training and any(p > 0 for p in self.p_drop)
        keep = (1.0 - self.dropout).view(M, 1, 1, 1)
        h0, c0 = state if self.cell == "lstm" else (state, None)
        hs, cs = [], []
        inp = None
        for l in range(self.L):
            W_ih, W_hh, b_ih, b_hh = self.params[4 * l : 4 * l + 4]
            if l == 0:
                # one-hot input @ W_ih^T = the columns of W_ih picked by x
                gi = W_ih.transpose(1, 2).index_select(1, x.reshape(-1)).view(M, B, T, -1)
            else:
                if drop:
                    inp = self._dropout(inp, keep, generator)
                gi = torch.bmm(inp.reshape(M, B * T, H), W_ih.transpose(1, 2)).view(M, B, T, -1)
            out, h, c = self._layer(gi, W_hh, b_ih, b_hh, h0[l], None if c0 is None else c0[l])
            hs.append(h)
            cs.append(c)
            inp = out
        if drop:
            inp = self._dropout(inp, keep, generator)
        W, b = self.params[-2], self.params[-1]
        logits = torch.baddbmm(b.unsqueeze(1), inp.reshape(M, B * T, H), W.transpose(1, 2)).view(M, B, T, -1)
        h = torch.stack(hs)
        return logits, ((h, torch.stack(cs)) if self.cell == "lstm" else h)

    def _dropout(self, a, keep, generator):
        mask = torch.rand(a.shape, device=a.device, dtype=a.dtype, generator=generator) < keep
        return a * mask / keep

    def _layer(self, gi, W_hh, b_ih, b_hh, h, c):
        """One layer over T steps (``models.cell_step``). gi: (M, B, T, G·H) input projections
        (no bias); h, c: (M, B, H)."""
        H, T = self.H, gi.shape[2]
        W_hhT = W_hh.transpose(1, 2)  # (M, H, G·H)
        bh = b_hh.unsqueeze(1)  # (M, 1, G·H)
        blocks = {"all": slice(None), "rz": slice(0, 2 * H), "n": slice(2 * H, None)}

        def recur(v, block):  # U v + b_hh of every model at once: (M, B, H) -> (M, B, n·H)
            sl = blocks[block]
            return torch.baddbmm(bh[..., sl], v, W_hhT[..., sl])

        gi = (gi + b_ih.unsqueeze(1).unsqueeze(1)).permute(2, 0, 1, 3).contiguous()  # (T, M, B, G·H)
        outs = []
        for t in range(T):
            h, c, _ = models.cell_step(self.cell, self.gru_variant, gi[t], h, c, recur)
            outs.append(h)
        return torch.stack(outs, dim=2), h, c


def _losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(M,) mean cross-entropy of each model; logits (M, B, T, K), y (B, T) shared."""
    M, K = logits.shape[0], logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, K), y.reshape(1, -1).expand(M, -1).reshape(-1), reduction="none")
    return ce.view(M, -1).mean(dim=1)


@torch.no_grad()
def stream_losses(stack: Stack, part, max_batches: int = 0) -> list[float]:
    """Every model's mean cross-entropy over ``part`` on the stacked cells (as ``evaluate.stream_loss``:
    ``evaluate.stream_forward``, state carried, zeros at the start, no dropout)."""
    B = part.x.shape[0]
    total = torch.zeros(stack.M, dtype=torch.float64, device=stack.device)
    batches = evaluate.stream_forward(lambda x, s: stack.forward(x, s, training=False), stack.init_state(B), part,
                                      stack.device, max_batches)
    for _, logits, y in batches:
        total += _losses(logits.float(), y).double() * (B * part.seq_length)
    n = evaluate.batches_read(part, max_batches)
    return [float(v) / (B * n * part.seq_length) for v in total.cpu()]


def eval_losses(stack: Stack, part, max_batches: int = 0, nets=None) -> list[float]:
    """Every model's validation loss with ``evaluate.stream_loss`` on the fused module (the
    reference's evaluation, at cuDNN speed): ``nets`` are CharRNNs of the stack's shape on its
    device, reused between calls (the stack's weights are copied into them)."""
    nets = nets or [models.model_from_hparams(hp).to(stack.device) for hp in stack.hparams]
    return [evaluate.stream_loss(stack.copy_into(m, net), part, stack.device, max_batches)
            for m, net in enumerate(nets)]


# ----------------------------------------------------------------------------------------
# The training step: forward, backward, clip, RMSProp (torch.optim.RMSprop's formula)
# ----------------------------------------------------------------------------------------
class Stepper(train.LossSum):
    """One optimizer step of every model in a stack; eager, or replayed from a CUDA graph.

    A ``train.Stepper`` (engine ``fast-stacked``): ``train.train_group`` drives it. The training
    losses are summed on the device and read only at evaluations and checkpoints.
    """

    engine = "fast-stacked"
    eager_loss = False
    model = None

    def __init__(self, stack: Stack, cfg: train.TrainConfig, B: int, S: int, graphs: bool, generator=None):
        if cfg.precision != "fp32":
            raise RnnvizError(f"stacked training is fp32 only ({cfg.slug} asks for {cfg.precision}); train it with "
                              "the reference executor (rnnviz grid --executor serial)")
        self.stack, self.cfg = stack, cfg
        self.M = stack.M
        dev = stack.device
        self.square = [torch.zeros_like(p, requires_grad=False) for p in stack.params]
        self.lr = torch.full((stack.M,), cfg.lr, device=dev)  # per model; 0 freezes a stopped model
        self.lr_host = [float(cfg.lr)] * stack.M
        super().__init__(stack.M, dev)
        self.x = torch.zeros(B, S, dtype=torch.long, device=dev)
        self.y = torch.zeros(B, S, dtype=torch.long, device=dev)
        self.state = stack.init_state(B)
        self.generator = generator
        self.graph = None
        self.use_graph = bool(graphs) and dev.type == "cuda"
        # torch.optim.RMSprop's param_groups for checkpoints the reference step can resume
        self._groups = torch.optim.RMSprop([torch.zeros(1) for _ in stack.params], lr=cfg.lr,
                                           alpha=cfg.rmsprop_alpha, eps=cfg.rmsprop_eps).state_dict()["param_groups"]
        self._eval_nets = None

    def _body(self):
        st = self.stack
        gen = None if self.use_graph else self.generator
        logits, new_state = st.forward(self.x, self.state, training=True, generator=gen)
        losses = _losses(logits, self.y)
        grads = torch.autograd.grad(losses.sum(), st.params)
        clip, a, eps = self.cfg.grad_clip, self.cfg.rmsprop_alpha, self.cfg.rmsprop_eps
        with torch.no_grad():
            for p, g, v in zip(st.params, grads, self.square):
                g = g.clamp(-clip, clip)
                v.mul_(a).addcmul_(g, g, value=1 - a)
                lr = self.lr.view(-1, *([1] * (p.dim() - 1)))
                p.sub_(lr * g / v.sqrt().add_(eps))
            self.loss_sum += losses.detach().double()
            if isinstance(self.state, tuple):
                for s, n in zip(self.state, new_state):
                    s.copy_(n)
            else:
                self.state.copy_(new_state)

    def _capture(self):
        st = self.stack
        tensors = st.params + self.square + [self.loss_sum] + list(
            self.state if isinstance(self.state, tuple) else (self.state,))
        keep = [t.detach().clone() for t in tensors]
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):  # warm up allocator and autograd on a side stream (then undone)
                    self._body()
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with _CAPTURE_LOCK, torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
                self._body()
        except RuntimeError as exc:  # e.g. an op that cannot be captured: train eagerly instead
            log.warning("CUDA graph capture failed (%s); this stack trains without a graph", str(exc)[:200])
            self.graph, self.use_graph = None, False
        finally:
            torch.cuda.current_stream().synchronize()
            with torch.no_grad():  # capture does not run; the warm-up did: restore what it changed
                for t, k in zip(tensors, keep):
                    t.copy_(k)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x.copy_(x)
        self.y.copy_(y)
        if self.use_graph and self.graph is None:
            self._capture()
        if not self.use_graph:
            self._body()
            return
        self.graph.replay()

    def set_lr(self, m: int, value: float) -> None:
        self.lr_host[m] = float(value)
        self.lr[m] = float(value)

    def reset_state(self) -> None:
        if isinstance(self.state, tuple):
            for s in self.state:
                s.zero_()
        else:
            self.state.zero_()

    def val_losses(self, part, max_batches: int) -> list[float]:
        if self._eval_nets is None:
            self._eval_nets = [models.model_from_hparams(hp).to(self.stack.device) for hp in self.stack.hparams]
        return eval_losses(self.stack, part, max_batches, self._eval_nets)

    def weights(self, m: int) -> dict:
        return self.stack.state_dict(m)

    def hparams(self, m: int) -> dict:
        return self.stack.hparams[m]

    def optimizer_state(self, m: int, step: int) -> dict:
        """Model m's RMSProp state in ``torch.optim.RMSprop.state_dict()`` format."""
        groups = [dict(g, lr=self.lr_host[m]) for g in self._groups]
        state = {} if step == 0 else {
            i: {"step": torch.tensor(float(step)), "square_avg": self.stack.slot_of(i, v, m).to("cpu", copy=True)}
            for i, v in enumerate(self.square)}
        return {"state": state, "param_groups": groups}

    def hidden(self, m: int):
        return self.stack.state_of(self.state, m)


    def load(self, m: int, ck: dict) -> None:
        """Model, optimizer state and carried state of model m from a run's checkpoint.pt."""
        self.stack.load_model_state(m, ck["model"])
        for i, (v, (_, s)) in enumerate(zip(self.square, sorted(ck["optimizer"]["state"].items()))):
            self.stack.embed_into(i, v, m, s["square_avg"])
        self.stack.set_state_of(self.state, m, ck["hidden"])

    def rng_state(self):
        return None if self.generator is None else self.generator.get_state()

    def set_rng_state(self, state) -> None:
        if self.generator is not None:
            self.generator.set_state(state)


ENGINES = ("auto", "stacked", "cudnn")


def pick_engine(engine: str, n_models: int) -> str:
    """``auto``: the fused module (cudnn) for a lone model, the stacked cells for two or more."""
    if engine not in ENGINES:
        raise RnnvizError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "cudnn" if n_models == 1 else "stacked"
    return engine


def make_stepper(nets: list[models.CharRNN], cfg: train.TrainConfig, device, engine: str = "stacked",
                 graphs: bool = False):
    """The step of a group: ``engine`` ``stacked`` (``Stepper`` over a ``Stack``) or ``cudnn`` (the
    reference step on the fused module, ``train.ModuleStepper``, its loss read at evaluations only)."""
    device = torch.device(device)
    if engine == "cudnn":
        if len(nets) != 1:
            raise RnnvizError(f"the cudnn engine trains one model per group, got {len(nets)}; use engine='stacked'")
        return train.ModuleStepper(nets[0].to(device), cfg.replace(engine="reference"), eager_loss=False,
                                   engine="fast-cudnn")
    stack = Stack(nets, device)
    gen = torch.Generator(device=device)
    gen.manual_seed(cfg.seed)
    if device.type == "cuda" and graphs and any(p > 0 for p in stack.p_drop):
        torch.cuda.manual_seed(cfg.seed)  # inside a CUDA graph the masks come from the default CUDA generator
    return Stepper(stack, cfg, cfg.batch_size, cfg.seq_length, graphs, gen)
