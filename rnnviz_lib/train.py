"""The paper's training recipe for one CharRNN, durable: checkpoint, resume, early stopping.

API::

    cfg = TrainConfig(dataset="wp", cell="lstm", layers=1, size=64)
    run_dir = train_run(cfg)            # trains (or resumes, or skips a finished run)
    model, cfg = load_model(run_dir)    # best-validation weights, eval mode, on the CPU
    probs = load_probs(run_dir)         # (B, T) float32, aligned with splits.test.y
    progress = train_group(configs, make_stepper, store)   # the one loop, for any Stepper

One training loop (``train_group``) drives a ``Stepper``: ``ModuleStepper`` (the reference step,
fused module, autograd or ``cpu_step``'s backward) for ``train_run``, or ``fast.Stepper`` (many
same-shape models as stacked tensors). Where a run stands is a ``Progress``; the run files
below are written there and nowhere else.

Recipe (PAPER.md §3): RMSProp (lr 2e-3, smoothing 0.95), lr ×0.95 after every epoch from
epoch 10 on, 50 epochs, batch 100 × sequence 100, gradients clipped element-wise to ±5,
parameters uniform in ±0.08. The hidden state is carried from one training batch to the next
(truncated BPTT; reset to zeros at the start of each epoch) and reset at the start of each
evaluation pass. Dropout between layers and before the classifier. The weights with the best
validation loss are kept (early stopping); ``patience`` > 0 also stops training early.

Run directory, ``Store().artifact_dir("runs", slug, cfg.identity())``: its files are named and
described in ``store.py`` (the ``*_FILE`` constants), read back through ``store.RunFiles``. The last
one written (the metrics) marks the run finished.

Every file is written atomically; killing the process at any moment and rerunning the same
call resumes from ``checkpoint.pt``. On the CPU with a fixed seed, a resumed run ends with
exactly the metrics of an uninterrupted one. ``device`` and ``checkpoint_every`` are not part
of the run's identity (a run trained on a GPU is found from a CPU session).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from rnnviz_lib import buildinfo, data, evaluate, models
from rnnviz_lib.config import TrainConfig, config_hash  # TrainConfig is read as train.TrainConfig too
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import (BEST_FILE, CHECKPOINT_FILE, CONFIG_FILE, DIVERGED_FILE, HISTORY_FILE, METRICS_FILE,
                              PROBS_FILE, SNAPSHOTS_DIR, RunFiles, Store, atomic_path, atomic_save_npy, atomic_write_json,
                              hold_runs, load_npy, load_torch, read_json)

log = logging.getLogger(__name__)

# engine auto: on a CPU with AVX-512, cpu_step for LSTMs of rows below this only. On 2 cores of an
# AMD EPYC with AVX-512 (benchmarks/results/train_throughput-cpu-rows128-512.json) cpu_step against
# the fused step is 1.06-1.15x at row 128, 0.78-0.96x at 256 and 0.71-0.76x at 512 for the LSTM, and
# 1.15-1.67x for every GRU and RNN of rows 128-512. On an AVX2-only AMD EPYC (Zen 3;
# benchmarks/results/train_throughput-cpu-avx2-rows128-512.json) cpu_step is the faster LSTM step at
# every row too: 1.58-1.98x at 128, 1.14-1.61x at 256, 1.09-1.23x at 512.
CPU_STEP_LSTM_BELOW = 256


def fused_lstm_is_faster() -> bool:
    """Does the fused nn.LSTM (oneDNN/MKL) beat cpu_step from row ``CPU_STEP_LSTM_BELOW`` on here?
    Measured: yes with AVX-512, no on an AVX2-only CPU (see above)."""
    return "AVX512" in torch.backends.cpu.get_cpu_capability()


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RnnvizError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(device)


def bf16_unsupported(device: torch.device) -> str | None:
    """Why ``device`` cannot train in bf16 at speed, or None where it can.

    A CUDA GPU needs native bf16 (compute capability 8 on: Ampere); a CPU needs oneDNN's native bf16 (AVX-512 or AMX:
    ``torch.ops.mkldnn._is_mkldnn_bf16_supported``). Without it, the fused LSTM has no bf16 kernel
    (oneDNN: "could not create a primitive descriptor") and bf16 matrix products fall back to a
    slow generic loop: on an AVX2-only AMD EPYC (Zen 3), 1.9 GFLOP/s against fp32's 85 on one thread
    (1000^3 products, 2026-12-07), 45 times slower.
    """
    if device.type == "cuda":
        major = torch.cuda.get_device_properties(device).major  # bf16 tensor cores from Ampere (8.x) on; older GPUs emulate
        return None if major >= 8 else f"the GPU {torch.cuda.get_device_name(device)} has no native bf16 (before Ampere)"
    try:
        if torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return None
    except (AttributeError, RuntimeError):  # a torch without the probe: let its kernels decide
        return None
    return (f"this CPU has no native bf16 (torch's CPU capability: {torch.backends.cpu.get_cpu_capability()}; "
            "oneDNN needs AVX-512 or AMX): the fused LSTM has no bf16 kernel here and bf16 matrix products "
            "run dozens of times slower than fp32")


def refuse_unsupported_precision(config: TrainConfig, device: torch.device) -> None:
    """A bf16 run on a device without bf16: an RnnvizError naming the fix, before anything is written."""
    if config.precision == "bf16" and (why := bf16_unsupported(device)):
        raise RnnvizError(
            f"{config.slug}: --precision bf16 cannot train here: {why}. Train it in fp32 instead "
            "(--precision fp32, the default; a run of its own name), or train this run on a machine whose "
            "CPU has AVX-512 or AMX, or on a CUDA GPU with bf16 (--device cuda)")


def run_dir(config: TrainConfig, store: Store | None = None, create: bool = False) -> Path:
    """The run directory of a config: the store's, or a shipped run of the same config hash when
    the store has not finished one (``Store.run_dir``); the store's is created if ``create``."""
    return (store or Store()).run_dir(config.slug, config.identity(), create=create)


def is_finished(path: Path) -> bool:
    return RunFiles(path).finished


def corpus_mismatch(run: Path, config: TrainConfig, store: Store | None = None, corpus=None) -> str | None:
    """Why the run in ``run`` cannot stand for ``config`` on today's corpus (None: it can).

    A run's identity names its dataset (``wp``, ``lk`` or a file's path), not the text: a file
    edited since, or an LK corpus rebuilt from another kernel, keeps the name. The run's
    ``config.json`` records the sha256 of the corpus it trained on (runs written before that
    record cannot be checked and are taken as they are). ``corpus``: the corpus, or a callable
    that returns it (read only when the run has a record to compare)."""
    f = Path(run) / CONFIG_FILE
    if not f.is_file():
        return None
    trained = read_json(f).get("corpus_sha256")
    if not trained:
        return None
    corpus = corpus() if callable(corpus) else corpus
    corpus = corpus or data.load_corpus(config.dataset, config.data_dir or None, store=store, download_ok=False)
    if corpus.sha256 == trained:
        return None
    return (f"{run} was trained on another text: {config.dataset} had sha256 {trained[:12]}… and now has "
            f"{corpus.sha256[:12]}… ({corpus.source}); delete that run folder to train on today's text, or restore "
            "the text it was trained on")


def refuse_other_corpus(run: Path, config: TrainConfig, store: Store | None = None, corpus=None) -> None:
    """``corpus_mismatch`` as an RnnvizError (one line), or nothing."""
    if why := corpus_mismatch(run, config, store, corpus):
        raise RnnvizError(why)


def lr_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate during 0-based ``epoch``: decayed once after each epoch ≥ ``lr_decay_after``."""
    return config.lr * config.lr_decay ** max(0, epoch + 1 - config.lr_decay_after)


def load_splits(config: TrainConfig, store: Store | None = None):
    corpus = data.load_corpus(config.dataset, config.data_dir or None, store=store, download_ok=True)
    return corpus, data.corpus_splits(corpus, config.batch_size, config.seq_length, config.split_mode)


def build_model(config: TrainConfig, K: int) -> models.CharRNN:
    H = config.hidden or models.width_for(config.cell, config.layers, config.size, K, config.matching)
    torch.manual_seed(config.seed)
    return models.CharRNN(config.cell, K, H, config.layers, config.dropout, config.gru_variant, config.init_range)


def _save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _state_to(state, device):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)


def checkpoint_step(config: TrainConfig, store: Store | None = None) -> int:
    """The step a run's ``checkpoint.pt`` resumes from (0: none yet)."""
    p = run_dir(config, store) / CHECKPOINT_FILE
    return int(load_torch(p)["progress"]["step"]) if p.is_file() else 0


# ----------------------------------------------------------------------------------------
# Progress and the stepper protocol
# ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Progress:
    """Where one run's training stands; ``checkpoint.pt`` keeps it (as a dict) to resume from."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epochs done
    batch: int = 0  # batches done in the current epoch
    history: list = dataclasses.field(default_factory=list)  # one row per evaluation (history.json)
    best_val: float = math.inf
    best_step: int = -1
    best_epoch: float = -1
    evals_since_best: int = 0  # for early stopping (``patience``)
    train_time: float = 0.0  # seconds of training steps, evaluations and checkpoints left out
    loss_sum: float = 0.0  # training losses since the last evaluation ...
    loss_n: int = 0  # ... and how many
    symbols_since_eval: int = 0
    time_since_eval: float = 0.0
    snapshots: list = dataclasses.field(default_factory=list)  # file names under snapshots/
    stopped: str = ""  # "", completed, early, diverged or paused (``until_epoch``: never checkpointed)
    segments: list = dataclasses.field(default_factory=list)  # stretches of training: commit, engine, machine
    error: str = ""  # why the run failed (diverged, or could not finish)

    @classmethod
    def from_dict(cls, d: dict) -> Progress:
        known = {f.name for f in dataclasses.fields(cls)}
        p = cls(**{k: v for k, v in d.items() if k in known})
        if "segments" not in d and p.step > 0:  # a checkpoint of code that kept no segments
            p.segments = [{"step": 0, "commit": None, "engine": None, "note": "not recorded"}]
        return p

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Stepper(Protocol):
    """What the training loop (``train_group``) drives: one optimizer step of M models at once.

    Implementations: ``ModuleStepper`` (the reference: one CharRNN on its fused module, with
    autograd or ``cpu_step``'s backward) and ``fast.Stepper`` (M same-shape models as stacked
    tensors). Model m of a stepper is ``configs[m]`` of ``train_group``.
    """

    M: int  # models trained together
    engine: str  # recorded in the run's metrics and in the provenance segments
    eager_loss: bool  # the loss is read after every step (a divergence stops the run at once)
    model: models.CharRNN | None  # the one model being trained, handed to ``on_step``; None for a stack
    lr_host: list[float]  # each model's learning rate now (history.json)

    def set_lr(self, m: int, lr: float) -> None: ...  # 0 freezes model m
    def reset_state(self) -> None: ...  # zeros at the start of an epoch
    def step(self, x: torch.Tensor, y: torch.Tensor) -> None: ...  # forward, backward, clip, RMSProp
    def take_losses(self) -> np.ndarray: ...  # (M,) sums of the training losses since the last call
    def val_losses(self, part, max_batches: int) -> list[float]: ...  # evaluate.stream_loss of each model
    def weights(self, m: int) -> dict: ...  # model m's CharRNN.state_dict()
    def hparams(self, m: int) -> dict: ...
    def optimizer_state(self, m: int, step: int) -> dict: ...  # torch.optim.RMSprop.state_dict() format
    def hidden(self, m: int): ...  # model m's carried state, (L, B, H) (or (h, c)), on the CPU
    def load(self, m: int, ck: dict) -> None: ...  # weights, optimizer and carried state from checkpoint.pt
    def rng_state(self): ...  # the stepper's own random stream (None: torch's global one)
    def set_rng_state(self, state) -> None: ...


class LossSum:
    """The training losses of M models summed on their device, read (and reset) by ``take_losses``;
    a part of both steppers."""

    def __init__(self, M: int, device):
        self.loss_sum = torch.zeros(M, dtype=torch.float64, device=device)

    def take_losses(self) -> np.ndarray:
        out = self.loss_sum.cpu().numpy().copy()
        self.loss_sum.zero_()
        return out


class ModuleStepper(LossSum):
    """The reference step: one CharRNN on its fused module (``nn.LSTM``/``GRU``/``RNN``, cuDNN on a
    GPU), cross-entropy, backward (autograd, or ``cpu_step``'s where the config's engine picks it,
    ``cpu_step_for``), element-wise clip, ``torch.optim.RMSprop``.

    ``eager_loss`` reads the loss after every step (the plain loop); False sums it on the device
    and reads it at evaluations only (``fast``'s ``cudnn`` engine: no per-step host sync).
    ``forward`` replaces the model's forward (e.g. ``forward_traced``, for a benchmark).
    """

    M = 1

    def __init__(self, model: models.CharRNN, config: TrainConfig, eager_loss: bool = True, engine: str = "",
                 forward=None):
        self.model, self.cfg = model, config
        self.opt = torch.optim.RMSprop(model.parameters(), lr=config.lr, alpha=config.rmsprop_alpha,
                                       eps=config.rmsprop_eps)
        self.cpu_step = cpu_step_for(config, model) if forward is None else None
        self.engine = engine or ("cpu_step" if self.cpu_step is not None else "reference")
        self.bf16 = config.precision == "bf16"
        if self.bf16:
            refuse_unsupported_precision(config, model.decoder.weight.device)
            self.engine += "-bf16"
        self.eager_loss = eager_loss
        self.forward = forward or model
        self.state = None
        self.lr_host = [float(config.lr)]
        super().__init__(1, model.decoder.weight.device)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model.train()
        if self.cpu_step is not None:  # forward and backward in one call: gradients are set
            loss, state = self.cpu_step(x, y, self.state)
        else:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits, state = self.forward(x, self.state)
            logits = logits.float()  # the loss (log-softmax) in fp32 under either precision
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_value_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.state = models.detach_state(_fp32_state(state) if self.bf16 else state)
        self.loss_sum += loss.detach().double()

    def set_lr(self, m: int, lr: float) -> None:
        self.lr_host[0] = float(lr)
        for g in self.opt.param_groups:
            g["lr"] = float(lr)

    def reset_state(self) -> None:
        self.state = None

    def val_losses(self, part, max_batches: int) -> list[float]:
        return [evaluate.stream_loss(self.model, part, None, max_batches)]

    def weights(self, m: int) -> dict:
        return self.model.state_dict()

    def hparams(self, m: int) -> dict:
        return self.model.hparams()

    def optimizer_state(self, m: int, step: int) -> dict:
        return self.opt.state_dict()

    def hidden(self, m: int):
        return _state_to(self.state, "cpu")

    def load(self, m: int, ck: dict) -> None:
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.state = _state_to(ck["hidden"], self.model.decoder.weight.device)

    def rng_state(self):
        return None

    def set_rng_state(self, state) -> None:
        pass


def _fp32_state(state):
    """The carried state kept in fp32 between batches (autocast hands it to the next step's op)."""
    return tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()


def cpu_step_for(config: TrainConfig, model: models.CharRNN):
    """The training step's engine: ``cpu_step.CpuStep`` or None for the reference step.

    ``auto`` takes the fast step where it applies (CPU, no dropout, not the paper's GRU form, the
    compiled loops available) and is faster (every GRU and RNN; LSTMs of rows 64 and 128, see
    ``CPU_STEP_LSTM_BELOW`` on a CPU with AVX-512; every row on an AVX2-only CPU,
    ``fused_lstm_is_faster``), and the reference step elsewhere; ``cpu_step`` insists on it.
    """
    if config.engine == "reference" or config.precision != "fp32":
        return None  # cpu_step is an fp32 engine; mixed precision runs the reference step under autocast
    if (config.engine == "auto" and model.cell == "lstm" and config.size >= CPU_STEP_LSTM_BELOW
            and fused_lstm_is_faster()):
        return None  # the fused nn.LSTM (oneDNN) is faster from row 256 on, on an AVX-512 CPU
    from rnnviz_lib import cpu_step

    if cpu_step.CpuStep.supports(model):
        log.info("%s: fast CPU training step (cpu_step)", config.slug)
        return cpu_step.CpuStep(model)
    if config.engine == "cpu_step":
        cpu_step.CpuStep(model)  # raises, saying why
    return None



# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------
def train_run(config: TrainConfig, store: Store | None = None,
              on_step: Callable[[int, models.CharRNN], None] | None = None) -> Path:
    """Train one model by the paper's recipe; return its run directory.

    Idempotent: a finished run (its metrics written) is returned untouched; an interrupted one
    resumes from its last checkpoint. ``on_step(step, model)`` is called after every optimizer
    step (after any checkpoint at that step): a hook for progress reports and fault injection.
    Divergence (a NaN/inf loss) stops the run with an RnnvizError and keeps the last good checkpoint.
    """
    store = store or Store()
    out = run_dir(config, store)  # created by train_group, after its checks (e.g. the precision's)
    if is_finished(out):
        refuse_other_corpus(out, config, store)
        log.info("run %s is finished; skipping", out.name)
        return out
    before = torch.get_num_threads()
    if config.threads > 0:
        torch.set_num_threads(config.threads)  # small models on a shared CPU: fewer threads, no spinning
    try:
        (p,) = train_group([config], lambda nets, device: ModuleStepper(nets[0].to(device), config), store, on_step)
    finally:
        torch.set_num_threads(before)
    if p.error:
        raise RnnvizError(p.error)
    return out


_BUILD_LOCK = threading.Lock()  # build_model seeds torch's global RNG: one thread at a time


def train_group(configs, make_stepper: Callable[[list, torch.device], Stepper], store: Store | None = None,
                on_step: Callable | None = None) -> list[Progress]:
    """Train runs of one shape and schedule together, in the one training loop; one Progress each.

    ``configs`` share everything but what a stepper allows to differ (seed, dropout, width
    ...; ``fast.group_key``) and are all unfinished, with checkpoints (if any) at one step.
    ``make_stepper(nets, device)`` builds the step from their freshly initialised CharRNNs
    (``build_model``, on the CPU). Here, and only here, the run files (``store.*_FILE``) are
    written: the config, the checkpoint (every ``checkpoint_every`` steps and each epoch end), the
    best weights, the history, snapshots, and at the end the test probabilities and the metrics.

    A run whose loss turns NaN/inf stops with ``Progress.error`` set (``diverged.json``, last good
    checkpoint kept) while the others go on; so does one that cannot be finished.
    ``on_step(step, model)`` is called after every step (``Stepper.model``). The run folders are
    held for the whole training (``store.hold_runs``): a second process that would train one of
    them is refused before it writes anything, with the holder's pid.
    """
    store = store or Store()
    cfgs = list(configs)
    cfg0 = cfgs[0]
    device = resolve_device(cfg0.device)
    for c in cfgs:
        refuse_unsupported_precision(c, device)
    outs = [run_dir(c, store, create=True) for c in cfgs]
    with hold_runs(outs):  # one process trains a run at a time; a second one is refused here
        return _train_held(cfgs, outs, device, make_stepper, store, on_step)


def _train_held(cfgs, outs, device, make_stepper, store, on_step) -> list[Progress]:
    """``train_group`` once its run folders are held (``store.hold_runs``)."""
    cfg0 = cfgs[0]
    for o in outs:
        for stale in o.glob(".*.tmp"):  # left by a process killed mid-write
            stale.unlink(missing_ok=True)
    corpus, splits = load_splits(cfg0, store)
    with _BUILD_LOCK:
        nets = [build_model(c, corpus.K) for c in cfgs]
    idents = [config_hash(c.identity()) for c in cfgs]
    for c, o in zip(cfgs, outs):
        refuse_other_corpus(o, c, store, corpus)  # a checkpoint of other text is never resumed on this one
    for c, o, n, ident in zip(cfgs, outs, nets, idents):
        atomic_write_json(o / CONFIG_FILE, {**dataclasses.asdict(c), "identity_hash": ident, "K": corpus.K,
                                              "hidden_resolved": n.H, "params": n.num_params(),
                                              "hparams": n.hparams(), "corpus_sha256": corpus.sha256})
    stepper = make_stepper(nets, device)
    progress = [Progress() for _ in cfgs]
    cks = [load_torch(o / CHECKPOINT_FILE) if (o / CHECKPOINT_FILE).is_file() else None for o in outs]
    if not any(ck is not None for ck in cks):
        torch.manual_seed(cfg0.seed)  # dropout masks start from the seed, after init
    for m, ck in enumerate(cks):
        if ck is None:
            continue
        if ck.get("identity_hash") != idents[m]:
            raise RnnvizError(f"{outs[m] / 'checkpoint.pt'} belongs to another configuration; "
                              f"delete {outs[m]} to start over")
        stepper.load(m, ck)
        progress[m] = Progress.from_dict(ck["progress"])
        torch.set_rng_state(ck["rng_cpu"])
        if device.type == "cuda" and ck.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ck["rng_cuda"], device)
        if ck.get("fast_rng") is not None:
            stepper.set_rng_state(ck["fast_rng"])
        log.info("resuming %s at step %d (epoch %d, batch %d)", outs[m].name, progress[m].step, progress[m].epoch,
                 progress[m].batch)
    if len({p.step for p in progress}) > 1:
        raise RnnvizError(f"runs {', '.join(o.name for o in outs)} stopped at different steps "
                          f"({', '.join(str(p.step) for p in progress)}); train them one by one (train_run)")
    # provenance of this stretch of training: where it starts, which code and engine run it
    code = buildinfo.code_version()
    for p in progress:
        p.segments = [*p.segments, {"step": p.step, "commit": code["commit"], "dirty": code["dirty"],
                                    "engine": stepper.engine, "device": str(device),
                                    "torch": str(torch.__version__), "machine": buildinfo.machine()["processor"],
                                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]
    _loop(cfgs, outs, idents, progress, stepper, splits, device, on_step)
    for c, o, p in zip(cfgs, outs, progress):
        if p.error:
            continue
        if p.stopped == "paused":
            log.info("%s paused after epoch %d of %d (until_epoch): best val %.4f at epoch %.2f; the same command "
                     "without until_epoch trains it on from its checkpoint", o.name, p.epoch, c.epochs, p.best_val,
                     p.best_epoch)
            continue
        try:
            _finish(c, o, splits, device, p, stepper.engine)
        except RnnvizError as exc:
            p.error = str(exc)
    return progress


def _loop(cfgs, outs, idents, progress: list[Progress], stepper: Stepper, splits, device, on_step) -> None:
    """The paper's training loop over M runs at one position (one stepper); writes the run files."""
    cfg0 = cfgs[0]
    S, B, M = cfg0.seq_length, cfg0.batch_size, stepper.M
    train = splits.train
    nb = train.n_batches if not cfg0.max_train_batches else min(cfg0.max_train_batches, train.n_batches)
    x_all = torch.from_numpy(train.x[:, : nb * S]).to(device)
    y_all = torch.from_numpy(train.y[:, : nb * S]).to(device)
    active = [not p.stopped and not p.error for p in progress]
    pos = Progress(step=progress[0].step, epoch=progress[0].epoch, batch=progress[0].batch)  # every run is here
    snap_limit = cfg0.snapshot_epochs * nb if cfg0.snapshot_every and cfg0.snapshot_epochs else -1
    clock = {"mark": time.perf_counter(), "io": False}

    def save_weights(m, path, **extra):
        _save({"hparams": stepper.hparams(m), "state_dict": stepper.weights(m), **extra}, path)

    def diverge(m, reason, when):
        p = progress[m]
        atomic_write_json(outs[m] / DIVERGED_FILE, {"step": p.step, "reason": reason})
        kept = (f"the last good checkpoint is kept in {outs[m]}" if (outs[m] / CHECKPOINT_FILE).is_file()
                else f"no checkpoint was written yet ({outs[m]})")
        p.stopped = "diverged"
        p.error = (f"training of {cfgs[m].slug} diverged {when} step {p.step} ({reason}); {kept}. Lower the learning "
                   "rate (--lr) or the gradient clip, and delete that folder to start over")
        active[m] = False
        stepper.set_lr(m, 0.0)
        log.error("%s", p.error)

    def live():  # (m, progress) of every run still training
        return [(m, progress[m]) for m in range(M) if active[m]]

    def fold_losses():  # the training losses since the last read into each run's progress (one sync)
        losses = stepper.take_losses()
        dt = time.perf_counter() - clock["mark"]  # the steps since the last read, device time included
        clock["io"] = True
        for m, p in live():
            if stepper.eager_loss and not math.isfinite(float(losses[m])):
                diverge(m, f"training loss {float(losses[m])}", "after")
                continue
            p.loss_sum += float(losses[m])
            p.train_time += dt
            p.time_since_eval += dt

    def snapshot():
        for m, p in live():
            name = f"step-{p.step:07d}.pt"
            save_weights(m, outs[m] / SNAPSHOTS_DIR / name, step=p.step, epoch=p.epoch + p.batch / nb)
            if name not in p.snapshots:
                p.snapshots.append(name)
            atomic_write_json(outs[m] / SNAPSHOTS_DIR / "index.json",
                              [{"file": n, "step": int(n[5:12])} for n in p.snapshots])

    def checkpoint():
        if not stepper.eager_loss:
            fold_losses()
        for m, p in live():
            _save({"identity_hash": idents[m], "model": stepper.weights(m),
                   "optimizer": stepper.optimizer_state(m, p.step), "rng_cpu": torch.get_rng_state(),
                   "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                   "hidden": stepper.hidden(m) if p.batch else None, "progress": p.to_dict(),
                   "fast_rng": stepper.rng_state()}, outs[m] / CHECKPOINT_FILE)

    def evaluate_val():
        if not stepper.eager_loss:
            fold_losses()
        vals = stepper.val_losses(splits.val, cfg0.max_eval_batches)
        for m, p in live():
            row = {"step": p.step, "epoch": p.epoch + p.batch / nb, "train_loss": p.loss_sum / max(p.loss_n, 1),
                   "val_loss": vals[m], "lr": stepper.lr_host[m], "time": p.train_time,
                   "symbols_per_s": p.symbols_since_eval / max(p.time_since_eval, 1e-9)}
            p.loss_sum, p.loss_n, p.symbols_since_eval, p.time_since_eval = 0.0, 0, 0, 0.0
            if not math.isfinite(row["train_loss"]):
                diverge(m, f"training loss {row['train_loss']}", "by")
                continue
            if not math.isfinite(vals[m]):
                diverge(m, f"validation loss {vals[m]}", "by")
                continue
            p.history.append(row)
            if vals[m] < p.best_val:
                p.best_val, p.best_step, p.best_epoch, p.evals_since_best = vals[m], p.step, row["epoch"], 0
                save_weights(m, outs[m] / BEST_FILE, step=p.step, epoch=row["epoch"], val_loss=vals[m])
            else:
                p.evals_since_best += 1
            atomic_write_json(outs[m] / HISTORY_FILE, p.history)
            log.info("%s step %d epoch %.2f train %.4f val %.4f lr %.2e %.0f sym/s%s", cfgs[m].slug, p.step,
                     row["epoch"], row["train_loss"], vals[m], row["lr"], row["symbols_per_s"],
                     f" (stack of {M})" if M > 1 else "")

    if pos.step == 0 and snap_limit >= 0 and not progress[0].snapshots:
        snapshot()
    from tqdm.auto import tqdm

    last = min(cfg0.epochs, cfg0.until_epoch or cfg0.epochs)  # a screening pauses after its until_epoch
    bar = tqdm(total=last * nb, initial=min(pos.step, last * nb), desc=cfg0.slug, disable=not cfg0.show_progress,
               leave=False)
    while pos.epoch < last and any(active):
        for m in range(M):
            stepper.set_lr(m, lr_at(cfg0, pos.epoch) if active[m] else 0.0)
        if pos.batch == 0:
            stepper.reset_state()  # zeros at the start of each epoch
        while pos.batch < nb:
            i = pos.batch
            stepper.step(x_all[:, i * S : (i + 1) * S].long(), y_all[:, i * S : (i + 1) * S].long())
            if stepper.eager_loss:
                fold_losses()  # a NaN stops the run before this step counts
                if not any(active):
                    break
            pos.step += 1
            pos.batch += 1
            bar.update(1)
            at_epoch_end = pos.batch == nb
            if at_epoch_end:
                pos.epoch += 1
                pos.batch = 0
            for m, p in live():
                p.step, p.epoch, p.batch = pos.step, pos.epoch, pos.batch
                p.symbols_since_eval += B * S
                p.loss_n += 1
            evaluated = at_epoch_end or bool(cfg0.eval_every and pos.step % cfg0.eval_every == 0)
            if evaluated:
                evaluate_val()
            stopping = False
            for m, p in live() if evaluated else ():  # patience counts evaluations, wherever they fall
                if cfgs[m].patience and p.evals_since_best >= cfgs[m].patience:
                    p.stopped, stopping = "early", True
            if 0 <= snap_limit and pos.step <= snap_limit and pos.step % cfg0.snapshot_every == 0:
                snapshot()
            if at_epoch_end or stopping or pos.step % cfg0.checkpoint_every == 0:
                checkpoint()
            for m, p in live():  # early-stopped runs freeze after their checkpoint
                if p.stopped:
                    active[m] = False
                    stepper.set_lr(m, 0.0)
            if on_step is not None:
                on_step(pos.step, stepper.model)
            if clock["io"]:  # evaluations, checkpoints and hooks are not training time
                clock.update(mark=time.perf_counter(), io=False)
            if at_epoch_end or not any(active):
                break
    bar.close()
    for p in progress:
        if not p.stopped:
            p.stopped = "completed" if pos.epoch >= cfg0.epochs else "paused"


def _finish(config: TrainConfig, out: Path, splits, device, st: Progress, engine: str = "reference") -> Path:
    """Score the best-validation weights on the test split; write probabilities and metrics."""
    if not (out / BEST_FILE).is_file():
        raise RnnvizError(f"{out} has no {BEST_FILE} (no evaluation finished); delete the folder and rerun")
    model, _ = load_model(out, device=device)
    probs = evaluate.stream_probs(model, splits.test, device, config.max_test_batches)
    atomic_save_npy(out / PROBS_FILE, probs)
    atomic_write_json(out / HISTORY_FILE, st.history)  # from the checkpoint: a damaged copy is rewritten
    metrics = {
        **evaluate.summarize(probs, seed=config.seed),
        "best_val_loss": st.best_val,
        "best_step": st.best_step,
        "best_epoch": st.best_epoch,
        "steps": st.step,
        "epochs_done": st.epoch,
        "stopped": st.stopped,
        "params": model.num_params(),
        "hidden": model.H,
        "train_time_s": st.train_time,
        "device": str(device),
        "engine": engine,
        "torch": torch.__version__,
        "slug": config.slug,
        "identity_hash": config_hash(config.identity()),
        "code": buildinfo.code_version(),  # as this process first saw it (the last segment's)
        "machine": buildinfo.machine()["processor"],
        "segments": st.segments,
    }
    atomic_write_json(out / METRICS_FILE, metrics)
    log.info("%s finished: test %.4f nats (%.4f bits), best val %.4f at epoch %.2f", config.slug,
             metrics["test_loss"], metrics["test_loss_bits"], st.best_val, st.best_epoch)
    return out


# ----------------------------------------------------------------------------------------
# Reading runs
# ----------------------------------------------------------------------------------------
def load_config(path) -> TrainConfig:
    """The TrainConfig of a run directory (``store.RunFiles.config``)."""
    return TrainConfig.from_dict(RunFiles(path).config)


def load_model(path, which: str = "best", device="cpu") -> tuple[models.CharRNN, TrainConfig]:
    """The model of a run directory, in eval mode, and its config.

    which : "best" (best validation, default), "last" (the latest checkpoint), or the file name
        of a snapshot (e.g. "step-0000100.pt", see ``snapshots``).
    """
    run = RunFiles(path)
    cfg = run.config
    config = TrainConfig.from_dict(cfg)
    ck = run.weights(which)
    model = models.model_from_hparams(ck.get("hparams", cfg["hparams"]))
    model.load_state_dict(ck["state_dict"] if "state_dict" in ck else ck["model"])
    return model.to(device).eval(), config


def score_test(path, store: Store | None = None) -> np.ndarray:
    """(B, T) float32 probabilities the run's best weights give the correct test symbols, computed
    on the CPU (``store.RunFiles.probs`` calls this once for a shipped run and caches the result)."""
    config = load_config(path)
    _, splits = load_splits(config, store)
    model, _ = load_model(path)
    return evaluate.stream_probs(model, splits.test, torch.device("cpu"), config.max_test_batches)


def load_probs(path, store: Store | None = None) -> np.ndarray:
    """(B, T) float32 probabilities of the correct test symbols of a finished run. A shipped run's
    are recomputed once from its best weights (``score_test``) and cached under the store
    (``RunFiles.probs_file``)."""
    run = RunFiles(path, store)
    f = run.probs_file
    if not f.is_file():
        if not run.finished or not run.weights_file("best").is_file():
            raise RnnvizError(f"{run.path / PROBS_FILE} does not exist; the run has not finished (rerun its "
                              "train command)")
        log.info("computing the test probabilities of %s (once; cached in %s)", run.name, f.parent)
        atomic_save_npy(f, score_test(run.path, run.store))
    return load_npy(f)


def load_metrics(path) -> dict:
    """The metrics of a finished run (``store.RunFiles.metrics``)."""
    return RunFiles(path).metrics


def load_history(path) -> list[dict]:
    return RunFiles(path).history


def snapshots(path) -> list[dict]:
    """[{"file", "step"}] of a run's weight snapshots, in step order."""
    return RunFiles(path).snapshots
