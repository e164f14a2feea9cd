"""The paper's training recipe for one CharRNN, durable: checkpoint, resume, early stopping.

API::

    cfg = TrainConfig(dataset="wp", cell="lstm", layers=1, size=64)
    run_dir = train_run(cfg)            # trains (or resumes, or skips a finished run)
    model, cfg = load_model(run_dir)    # best-validation weights, eval mode, on the CPU
    probs = load_probs(run_dir)         # (B, T) float32, aligned with splits.test.y

Recipe (PAPER.md §3): RMSProp (lr 2e-3, smoothing 0.95), lr ×0.95 after every epoch from
epoch 10 on, 50 epochs, batch 100 × sequence 100, gradients clipped element-wise to ±5,
parameters uniform in ±0.08. The hidden state is carried from one training batch to the next
(truncated BPTT; reset to zeros at the start of each epoch) and reset at the start of each
evaluation pass. Dropout between layers and before the classifier. The weights with the best
validation loss are kept (early stopping); ``patience`` > 0 also stops training early.

Run directory, ``Store().artifact_dir("runs", slug, cfg.identity())``::

    config.json        the TrainConfig, its identity hash, width H and parameter count
    checkpoint.pt      last checkpoint: model, optimizer, RNG, carried state, data position,
                       history, best-so-far (every ``checkpoint_every`` steps and each epoch end)
    best.pt            {"hparams", "state_dict", "step", "epoch", "val_loss"}: best validation
    history.json       one row per evaluation: step, epoch, train_loss, val_loss, lr, time, symbols_per_s
    snapshots/step-NNNNNNN.pt   weights every ``snapshot_every`` steps over the first
                       ``snapshot_epochs`` epochs (and step 0); listed in snapshots/index.json
    test_probs.npy     (B, T) float32 probability of the correct symbol at each test position
    metrics.json       written last: test loss (nats, bits), bootstrap stds, best val, params,
                       hidden, train time. Its presence marks the run finished.

Every file is written atomically; killing the process at any moment and rerunning the same
call resumes from ``checkpoint.pt``. On the CPU with a fixed seed, a resumed run ends with
exactly the metrics of an uninterrupted one. ``device`` and ``checkpoint_every`` are not part
of the run's identity (a run trained on a GPU is found from a CPU session).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnviz_lib import data, evaluate, models, provenance
from rnnviz_lib.config import config_hash
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, atomic_path, atomic_save_npy, atomic_write_json, load_torch, read_json

log = logging.getLogger(__name__)

# Fields that say where/how a run executes, not what it computes: left out of the identity.
EXECUTION_FIELDS = ("device", "checkpoint_every", "data_dir", "show_progress", "threads", "engine")
DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("auto", "reference", "cpu_step")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One model and its training schedule. Defaults are the paper's recipe (PAPER.md §3)."""

    dataset: str = "wp"  # wp, lk or the path of a text file
    cell: str = "lstm"  # lstm, rnn, gru
    layers: int = 1  # L
    size: int = 64  # the grid row (64/128/256/512): the parameter budget, not the width
    hidden: int = 0  # H; 0 = parameter-matched width for (cell, layers, size), see models.width_for
    matching: str = "row"  # row (PAPER.md §2) or depth (match cell types at equal depth only)
    gru_variant: str = "torch"  # torch (reset after U, nn.GRU) or paper (reset before U)
    dropout: float = 0.0  # between layers and before the classifier
    lr: float = 2e-3
    rmsprop_alpha: float = 0.95  # RMSProp smoothing constant (char-rnn's decay_rate)
    rmsprop_eps: float = 1e-8
    lr_decay: float = 0.95  # multiply lr after each epoch ...
    lr_decay_after: int = 10  # ... from this (1-based) epoch on
    epochs: int = 50
    batch_size: int = 100  # B
    seq_length: int = 100  # S
    grad_clip: float = 5.0  # element-wise clip of every gradient to [-clip, clip]
    init_range: float = 0.08
    seed: int = 123
    split_mode: str = "charrnn"
    max_train_batches: int = 0  # per epoch; 0 = the whole training split
    max_eval_batches: int = 0  # per validation pass; 0 = the whole validation split
    max_test_batches: int = 0  # test pass; 0 = the whole test split (the contract's (B, T))
    eval_every: int = 0  # also evaluate every N steps; 0 = at each epoch end only
    patience: int = 0  # stop after this many evaluations without a better val loss; 0 = never
    snapshot_every: int = 0  # keep weights every N steps ...
    snapshot_epochs: int = 0  # ... during the first N epochs (Figure 5b); 0 = none
    # execution (not part of the identity)
    device: str = "auto"  # auto, cpu, cuda
    checkpoint_every: int = 200  # steps between checkpoints (plus one at each epoch end)
    data_dir: str = ""  # folder with raw corpora; "" = $RNNVIZ_DATA_DIR then ./data
    show_progress: bool = False  # tqdm bar over steps
    threads: int = 0  # torch CPU threads while this run trains; 0 = leave torch's setting
    engine: str = "auto"  # training step: reference (autograd over nn.LSTM/GRU/RNN), cpu_step, auto

    def __post_init__(self):
        models._check_cell(self.cell)
        if self.gru_variant not in models.GRU_VARIANTS:
            raise RnnvizError(f"unknown GRU variant {self.gru_variant!r}: use torch or paper")
        if self.matching not in models.MATCHINGS:
            raise RnnvizError(f"unknown width matching {self.matching!r}: use row or depth")
        if self.device not in DEVICES:
            raise RnnvizError(f"unknown device {self.device!r}: use auto, cpu or cuda")
        if self.engine not in ENGINES:
            raise RnnvizError(f"unknown engine {self.engine!r}: use auto, reference or cpu_step")
        if self.split_mode not in data.SPLIT_MODES:
            raise RnnvizError(f"unknown split mode {self.split_mode!r}: use charrnn or contiguous")
        for name in ("layers", "size", "epochs", "batch_size", "seq_length", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise RnnvizError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if not 0.0 <= self.dropout < 1.0:
            raise RnnvizError(f"dropout must be in [0, 1) (got {self.dropout})")
        if self.lr <= 0:
            raise RnnvizError(f"learning rate must be positive (got {self.lr})")

    def identity(self) -> dict:
        """The fields that determine the result; the run directory is keyed by their hash."""
        d = dataclasses.asdict(self)
        for k in EXECUTION_FIELDS:
            d.pop(k)
        return d

    @property
    def slug(self) -> str:
        drop = f"-d{self.dropout:g}" if self.dropout else ""
        gru = "p" if self.cell == "gru" and self.gru_variant == "paper" else ""
        snap = "-snap" if self.snapshot_every and self.snapshot_epochs else ""  # a run that keeps weight snapshots
        name = Path(self.dataset).stem if not data.is_named_dataset(self.dataset) else self.dataset
        return f"{name}-{self.cell}{gru}{self.layers}-{self.size}{drop}{snap}"

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RnnvizError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(device)


def run_dir(config: TrainConfig, store: Store | None = None, create: bool = False) -> Path:
    """The run directory of a config: the store's, or a shipped run of the same config hash when
    the store has not finished one (``Store.run_dir``); the store's is created if ``create``."""
    return (store or Store()).run_dir(config.slug, config.identity(), create=create)


def is_finished(path: Path) -> bool:
    return (Path(path) / "metrics.json").is_file()


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


def _load(path: Path, map_location="cpu"):
    return load_torch(path, map_location)


def _state_to(state, device):
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return state.to(device)


class _Diverged(Exception):
    pass


def train_run(config: TrainConfig, store: Store | None = None,
              on_step: Callable[[int, models.CharRNN], None] | None = None) -> Path:
    """Train one model by the paper's recipe; return its run directory.

    Idempotent: a finished run (metrics.json present) is returned untouched; an interrupted one
    resumes from its last checkpoint. ``on_step(step, model)`` is called after every optimizer
    step (after any checkpoint at that step): a hook for progress reports and fault injection.
    Divergence (a NaN/inf loss) stops the run with an RnnvizError and keeps the last good checkpoint.
    """
    store = store or Store()
    out = run_dir(config, store, create=True)
    if is_finished(out):
        log.info("run %s is finished; skipping", out.name)
        return out
    if config.threads <= 0:
        return _train(config, store, out, on_step)
    before = torch.get_num_threads()
    torch.set_num_threads(config.threads)  # small models on a shared CPU: fewer threads, no spinning
    try:
        return _train(config, store, out, on_step)
    finally:
        torch.set_num_threads(before)


def _train(config: TrainConfig, store: Store, out: Path, on_step) -> Path:
    for stale in out.glob(".*.tmp"):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)
    device = resolve_device(config.device)
    corpus, splits = load_splits(config, store)
    model = build_model(config, corpus.K).to(device)
    ident = config_hash(config.identity())
    atomic_write_json(out / "config.json", {**dataclasses.asdict(config), "identity_hash": ident,
                                            "K": corpus.K, "hidden_resolved": model.H, "params": model.num_params(),
                                            "hparams": model.hparams()})
    opt = torch.optim.RMSprop(model.parameters(), lr=config.lr, alpha=config.rmsprop_alpha, eps=config.rmsprop_eps)
    fast_step = _fast_step(config, model)

    train = splits.train
    nb = train.n_batches if not config.max_train_batches else min(config.max_train_batches, train.n_batches)
    S, B = config.seq_length, config.batch_size
    x_train = torch.from_numpy(train.x[:, : nb * S]).to(device)
    y_train = torch.from_numpy(train.y[:, : nb * S]).to(device)

    # training position and bookkeeping (all saved in the checkpoint)
    st = {"step": 0, "epoch": 0, "batch": 0, "history": [], "best_val": math.inf, "best_step": -1,
          "best_epoch": -1, "evals_since_best": 0, "train_time": 0.0, "loss_sum": 0.0, "loss_n": 0,
          "symbols_since_eval": 0, "time_since_eval": 0.0, "snapshots": [], "stopped": "", "segments": []}
    state = None
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.is_file():
        ck = _load(ckpt_path)
        if ck.get("identity_hash") != ident:
            raise RnnvizError(f"{ckpt_path} belongs to another configuration; delete {out} to start over")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng_cpu"])
        if device.type == "cuda" and ck.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ck["rng_cuda"], device)
        st.update(ck["progress"])
        if "segments" not in ck["progress"] and st["step"] > 0:  # a checkpoint of code that kept no segments
            st["segments"] = [{"step": 0, "commit": None, "engine": None, "note": "not recorded"}]
        state = _state_to(ck["hidden"], device)
        log.info("resuming %s at step %d (epoch %d, batch %d)", out.name, st["step"], st["epoch"], st["batch"])
    else:
        torch.manual_seed(config.seed)  # dropout masks start from the seed, after init

    # provenance of this stretch of training: where it starts, which code and engine run it
    code = provenance.code_version()
    st["segments"] = [*st["segments"], {"step": st["step"], "commit": code["commit"], "dirty": code["dirty"],
                                        "engine": "cpu_step" if fast_step is not None else "reference",
                                        "device": str(device), "torch": str(torch.__version__),
                                        "machine": provenance.machine()["processor"],
                                        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]

    def checkpoint():
        _save({"identity_hash": ident, "model": model.state_dict(), "optimizer": opt.state_dict(),
               "rng_cpu": torch.get_rng_state(),
               "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
               "hidden": _state_to(state, "cpu"), "progress": dict(st)}, ckpt_path)

    def snapshot():
        name = f"step-{st['step']:07d}.pt"
        _save({"hparams": model.hparams(), "state_dict": model.state_dict(), "step": st["step"],
               "epoch": st["epoch"] + st["batch"] / nb}, out / "snapshots" / name)
        if name not in st["snapshots"]:
            st["snapshots"].append(name)
        atomic_write_json(out / "snapshots" / "index.json",
                          [{"file": n, "step": int(n[5:12])} for n in st["snapshots"]])

    def evaluate_val():
        val = evaluate.stream_loss(model, splits.val, device, config.max_eval_batches)
        row = {"step": st["step"], "epoch": st["epoch"] + st["batch"] / nb,
               "train_loss": st["loss_sum"] / max(st["loss_n"], 1), "val_loss": val,
               "lr": opt.param_groups[0]["lr"], "time": st["train_time"],
               "symbols_per_s": st["symbols_since_eval"] / max(st["time_since_eval"], 1e-9)}
        st["history"].append(row)
        st.update(loss_sum=0.0, loss_n=0, symbols_since_eval=0, time_since_eval=0.0)
        if not math.isfinite(val):
            raise _Diverged(f"validation loss {val}")
        if val < st["best_val"]:
            st.update(best_val=val, best_step=st["step"], best_epoch=row["epoch"], evals_since_best=0)
            _save({"hparams": model.hparams(), "state_dict": model.state_dict(), "step": st["step"],
                   "epoch": row["epoch"], "val_loss": val}, out / "best.pt")
        else:
            st["evals_since_best"] += 1
        atomic_write_json(out / "history.json", st["history"])
        log.info("%s step %d epoch %.2f train %.4f val %.4f lr %.2e %.0f sym/s", config.slug, row["step"],
                 row["epoch"], row["train_loss"], val, row["lr"], row["symbols_per_s"])

    snap_limit = config.snapshot_epochs * nb if config.snapshot_every and config.snapshot_epochs else -1
    if st["step"] == 0 and snap_limit >= 0 and not st["snapshots"]:
        snapshot()
    total_steps = config.epochs * nb
    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, initial=st["step"], desc=config.slug, disable=not config.show_progress,
               leave=False)
    model.train()
    try:
        while st["epoch"] < config.epochs and not st["stopped"]:
            for g in opt.param_groups:
                g["lr"] = lr_at(config, st["epoch"])
            if st["batch"] == 0:
                state = None  # zeros at the start of each epoch
            while st["batch"] < nb:
                t0 = time.perf_counter()
                i = st["batch"]
                x = x_train[:, i * S : (i + 1) * S].long()
                y = y_train[:, i * S : (i + 1) * S].long()
                if fast_step is not None:  # forward and backward in one call (cpu_step): gradients are set
                    loss, state = fast_step(x, y, state)
                else:
                    logits, state = model(x, state)
                    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
                lv = loss.item()
                if not math.isfinite(lv):
                    raise _Diverged(f"training loss {lv}")
                if fast_step is None:
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                torch.nn.utils.clip_grad_value_(model.parameters(), config.grad_clip)
                opt.step()
                state = models.detach_state(state)
                dt = time.perf_counter() - t0
                st["step"] += 1
                st["batch"] += 1
                st["train_time"] += dt
                st["time_since_eval"] += dt
                st["symbols_since_eval"] += B * S
                st["loss_sum"] += lv
                st["loss_n"] += 1
                bar.update(1)
                at_epoch_end = st["batch"] == nb
                if at_epoch_end:
                    st["epoch"] += 1
                    st["batch"] = 0
                if config.eval_every and st["step"] % config.eval_every == 0 and not at_epoch_end:
                    evaluate_val()
                if at_epoch_end:
                    evaluate_val()
                    if config.patience and st["evals_since_best"] >= config.patience:
                        st["stopped"] = "early"
                if 0 <= snap_limit and st["step"] <= snap_limit and st["step"] % config.snapshot_every == 0:
                    snapshot()
                if at_epoch_end or st["step"] % config.checkpoint_every == 0:
                    checkpoint()
                if on_step is not None:
                    on_step(st["step"], model)
                if at_epoch_end:
                    break
    except _Diverged as exc:
        bar.close()
        atomic_write_json(out / "diverged.json", {"step": st["step"], "reason": str(exc)})
        kept = (f"the last good checkpoint is kept in {out}" if ckpt_path.is_file()
                else f"no checkpoint was written yet ({out})")
        raise RnnvizError(
            f"training of {config.slug} diverged after step {st['step']} ({exc}); {kept}. Lower the learning "
            "rate (--lr) or the gradient clip, and delete that folder to start over"
        ) from None
    bar.close()
    if not st["stopped"]:
        st["stopped"] = "completed"
    return _finish(config, out, splits, device, st, "cpu_step" if fast_step is not None else "reference")


def _fast_step(config: TrainConfig, model: models.CharRNN):
    """The training step's engine: ``cpu_step.CpuStep`` or None for the reference step.

    ``auto`` takes the fast step where it applies (CPU, no dropout, not the paper's GRU form, the
    compiled loops available) and the reference step elsewhere; ``cpu_step`` insists on it.
    """
    if config.engine == "reference":
        return None
    from rnnviz_lib import cpu_step

    if cpu_step.CpuStep.supports(model):
        log.info("%s: fast CPU training step (cpu_step)", config.slug)
        return cpu_step.CpuStep(model)
    if config.engine == "cpu_step":
        cpu_step.CpuStep(model)  # raises, saying why
    return None


def _finish(config: TrainConfig, out: Path, splits, device, st: dict, engine: str = "reference") -> Path:
    """Score the best-validation weights on the test split; write probabilities and metrics."""
    if not (out / "best.pt").is_file():
        raise RnnvizError(f"{out} has no best.pt (no evaluation finished); delete the folder and rerun")
    model, _ = load_model(out, device=device)
    probs = evaluate.stream_probs(model, splits.test, device, config.max_test_batches)
    atomic_save_npy(out / "test_probs.npy", probs)
    metrics = {
        **evaluate.summarize(probs, seed=config.seed),
        "best_val_loss": st["best_val"],
        "best_step": st["best_step"],
        "best_epoch": st["best_epoch"],
        "steps": st["step"],
        "epochs_done": st["epoch"],
        "stopped": st["stopped"],
        "params": model.num_params(),
        "hidden": model.H,
        "train_time_s": st["train_time"],
        "device": str(device),
        "engine": engine,
        "torch": torch.__version__,
        "slug": config.slug,
        "identity_hash": config_hash(config.identity()),
        "code": provenance.code_version(),  # as this process first saw it (the last segment's)
        "machine": provenance.machine()["processor"],
        "segments": st.get("segments", []),
    }
    atomic_write_json(out / "metrics.json", metrics)
    log.info("%s finished: test %.4f nats (%.4f bits), best val %.4f at epoch %.2f", config.slug,
             metrics["test_loss"], metrics["test_loss_bits"], st["best_val"], st["best_epoch"])
    return out


# ----------------------------------------------------------------------------------------
# Reading runs
# ----------------------------------------------------------------------------------------
def load_config(path) -> TrainConfig:
    p = Path(path)
    if not (p / "config.json").is_file():
        raise RnnvizError(f"{p} is not a run directory (no config.json); pass a folder under artifacts/runs/")
    return TrainConfig.from_dict(read_json(p / "config.json"))


def load_model(path, which: str = "best", device="cpu") -> tuple[models.CharRNN, TrainConfig]:
    """The model of a run directory, in eval mode, and its config.

    which : "best" (best validation, default), "last" (the latest checkpoint), or the file name
        of a snapshot (e.g. "step-0000100.pt", see ``snapshots/index.json``).
    """
    p = Path(path)
    config = load_config(p)
    hp = read_json(p / "config.json")["hparams"]
    if which == "best":
        f = p / "best.pt"
    elif which == "last":
        f = p / "checkpoint.pt"
    else:
        f = p / "snapshots" / which
    if not f.is_file():
        raise RnnvizError(f"{f} does not exist; train the run first (rnnviz train ...) or pick another checkpoint")
    ck = _load(f)
    model = models.model_from_hparams(ck.get("hparams", hp))
    model.load_state_dict(ck["state_dict"] if "state_dict" in ck else ck["model"])
    return model.to(device).eval(), config


def load_probs(path, store: Store | None = None) -> np.ndarray:
    """(B, T) float32 probabilities of the correct test symbols of a finished run.

    A shipped run carries no per-symbol arrays: its probabilities are recomputed once from its
    best weights on the test split and kept in the store (``Store.cached_file``)."""
    p = Path(path)
    f = p / "test_probs.npy"
    if not f.is_file():
        store = store or Store()
        f = store.cached_file(p, "test_probs.npy")
        if not f.is_file():
            if not (p / "metrics.json").is_file() or not (p / "best.pt").is_file():
                raise RnnvizError(f"{p / 'test_probs.npy'} does not exist; the run has not finished (rerun its train command)")
            config = load_config(p)
            _, splits = load_splits(config, store)
            model, _ = load_model(p)
            log.info("computing the test probabilities of %s (once; cached in %s)", p.name, f.parent)
            atomic_save_npy(f, evaluate.stream_probs(model, splits.test, torch.device("cpu"), config.max_test_batches))
    try:
        return np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise RnnvizError(f"{f} is damaged ({str(exc).splitlines()[0][:120]}); delete it and rerun (it is recomputed "
                          "from the run's best weights for a shipped run, else rerun the run's train command)") from None


def load_metrics(path) -> dict:
    f = Path(path) / "metrics.json"
    if not f.is_file():
        raise RnnvizError(f"{f} does not exist; the run has not finished (rerun its train command)")
    return read_json(f)


def load_history(path) -> list[dict]:
    f = Path(path) / "history.json"
    return read_json(f) if f.is_file() else []


def snapshots(path) -> list[dict]:
    """[{"file", "step"}] of a run's weight snapshots, in step order."""
    f = Path(path) / "snapshots" / "index.json"
    return read_json(f) if f.is_file() else []
