"""Configuration identity: stable hashes and readable slugs for configs, and profile files.

Every artifact is named by the configuration that produced it (``slug-hash``), never by its
results, so re-running a pipeline finds and reuses what already exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from rnnviz_lib import paper
from rnnviz_lib.rehearsal import rehearsal_base, rehearse_profile
from rnnviz_lib.errors import RnnvizError

PROFILES = ("smoke", "quick", "paper")


def _plain(obj: Any) -> Any:
    """Turn dataclasses/tuples/paths into JSON-able plain data with sorted keys."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def canonical_json(obj: Any) -> str:
    """The JSON text a config hashes to: sorted keys, no whitespace."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))


def config_hash(obj: Any, n: int = 10) -> str:
    """Short sha256 of a config's canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


def slugify(text: str) -> str:
    """Lower-case filename-safe slug."""
    return re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-") or "x"


def artifact_name(slug: str, obj: Any) -> str:
    """``<readable slug>-<hash>``: the directory or file stem of an artifact."""
    return f"{slugify(slug)}-{config_hash(obj)}"


def project_root() -> Path:
    """Where notebooks/ and the default artifact tree live: $RNNVIZ_HOME or the current directory."""
    return Path(os.environ.get("RNNVIZ_HOME", os.getcwd())).resolve()


def profile_path(profile: str, root: Path | None = None) -> Path:
    """A profile's YAML: a path as given, else ``<root>/notebooks/params/<profile>.yaml``, else (a
    home outside the checkout, e.g. ``RNNVIZ_HOME=/scratch``) this package's own of that name."""
    own = root or project_root()
    p = Path(profile)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    f = own / "notebooks" / "params" / f"{profile}.yaml"
    packaged = Path(__file__).resolve().parent.parent / "notebooks" / "params" / f"{profile}.yaml"
    return packaged if root is None and not f.is_file() and packaged.is_file() else f


def load_profile(profile: str, root: Path | None = None) -> dict:
    """Read ``notebooks/params/<profile>.yaml`` (or a YAML path).

    The file has ``common:`` (values handed to every notebook that declares them) and
    ``notebooks:`` (one mapping per notebook stem; every key must be declared by it).
    ``<base>-rehearse`` (e.g. ``paper-rehearse``) is no file: it is ``rehearse_profile`` of ``<base>``.
    """
    base = rehearsal_base(profile)
    if base is not None and not profile_path(profile, root).is_file():
        return rehearse_profile(load_profile(base, root))
    path = profile_path(profile, root)
    if not path.is_file():
        known = sorted(q.stem for q in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        raise RnnvizError(
            f"unknown profile {profile!r}: {path} does not exist "
            f"(known profiles: {', '.join(known) or 'none'})"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RnnvizError(f"profile file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RnnvizError(f"profile file {path} must hold a mapping with 'common' and 'notebooks'")
    data.setdefault("common", {})
    data.setdefault("notebooks", {})
    data["name"] = path.stem
    return data


# ----------------------------------------------------------------------------------------
# TrainConfig: one model and its training schedule (what a run's identity hashes)
# ----------------------------------------------------------------------------------------
GRU_VARIANTS = ("torch", "paper")  # reset gate after U (nn.GRU) or before it (the paper's equations)
MATCHINGS = ("row", "depth")  # parameter matching: the whole grid row, or cell types at equal depth
SPLIT_MODES = ("charrnn", "contiguous")
# Fields that say where/how a run executes, not what it computes: left out of the identity.
EXECUTION_FIELDS = ("device", "checkpoint_every", "data_dir", "show_progress", "threads", "engine", "until_epoch")
DEVICES = ("auto", "cpu", "cuda")
ENGINES = ("auto", "reference", "cpu_step")
PRECISIONS = ("fp32", "bf16")


# the TrainConfig fields with a closed set of values: field -> (what it is called, the values)
CHOICES = {"cell": ("cell type", paper.CELLS), "gru_variant": ("GRU variant", GRU_VARIANTS),
           "matching": ("width matching", MATCHINGS), "device": ("device", DEVICES), "engine": ("engine", ENGINES),
           "precision": ("precision", PRECISIONS), "split_mode": ("split mode", SPLIT_MODES)}


def is_named_dataset(dataset: str) -> bool:
    """Is ``dataset`` one of the paper's corpora (wp, lk) rather than the path of a text file?"""
    return dataset in paper.DATA


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
    until_epoch: int = 0  # pause (checkpointed, unfinished) after this many epochs: a screening run that the
    #                       same command without it extends to the full run; 0 = train to the end
    # numerics of the training step (part of the identity unless fp32, so fp32 runs keep their names):
    # fp32, or bf16 = mixed precision: the forward under torch.autocast(bfloat16) (bf16 matmul operands,
    # fp32 accumulation), fp32 master weights, gradients, RMSProp state, loss and carried state; every
    # validation and test pass in fp32
    precision: str = "fp32"

    def __post_init__(self):
        for name, (label, allowed) in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise RnnvizError(f"unknown {label} {value!r}: use {', '.join(allowed[:-1])} or {allowed[-1]}")
        if self.precision != "fp32" and self.engine == "cpu_step":
            raise RnnvizError(f"engine cpu_step trains in fp32 only (precision {self.precision}); use engine auto "
                              "or reference")
        if self.until_epoch < 0:
            raise RnnvizError(f"until_epoch must be 0 (train to the end) or a number of epochs (got {self.until_epoch})")
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
        if d["precision"] == "fp32":
            d.pop("precision")  # the identity of every run trained before the field existed
        return d

    @property
    def slug(self) -> str:
        drop = f"-d{self.dropout:g}" if self.dropout else ""
        gru = "p" if self.cell == "gru" and self.gru_variant == "paper" else ""
        snap = "-snap" if self.snapshot_every and self.snapshot_epochs else ""  # a run that keeps weight snapshots
        prec = "" if self.precision == "fp32" else f"-{self.precision}"
        name = Path(self.dataset).stem if not is_named_dataset(self.dataset) else self.dataset
        return f"{name}-{self.cell}{gru}{self.layers}-{self.size}{drop}{prec}{snap}"

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def train_command(self) -> str:
        """The ``rnnviz train`` command line of this run: every identity field that differs from
        the recipe's default, so that it trains (or resumes, or extends) exactly this run."""
        default = dataclasses.asdict(TrainConfig())
        parts = ["rnnviz train", f"--dataset {self.dataset}"]
        for k, v in self.identity().items():
            if k != "dataset" and v != default[k]:
                parts.append(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}")
        return " ".join(parts)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
