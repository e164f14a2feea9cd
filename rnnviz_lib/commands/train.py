"""``rnnviz train``: train one model by the paper's recipe (resumes if interrupted)."""

from __future__ import annotations

import dataclasses
import json

from rnnviz_lib.commands import add_data_args

HELP = {
    "cell": "lstm, rnn or gru",
    "layers": "number of recurrent layers L",
    "size": "grid row 64/128/256/512: the parameter budget of a 1-layer LSTM of that width",
    "hidden": "hidden width H; 0 = parameter-matched to the row (PAPER.md §2)",
    "matching": "row: all nine models of a row match a 1-layer LSTM (paper); depth: match cell types at equal depth",
    "gru_variant": "torch: nn.GRU (reset after U, fused); paper: reset before U (custom time loop)",
    "dropout": "dropout between layers and before the classifier",
    "lr": "RMSProp learning rate",
    "rmsprop_alpha": "RMSProp smoothing constant",
    "rmsprop_eps": "RMSProp epsilon",
    "lr_decay": "learning-rate factor after each epoch from --lr-decay-after on",
    "lr_decay_after": "first (1-based) epoch after which the learning rate decays",
    "epochs": "training epochs",
    "batch_size": "B: parallel streams per batch",
    "seq_length": "S: steps per batch (truncated BPTT length)",
    "grad_clip": "clip every gradient element to [-c, c]",
    "init_range": "parameters start uniform in [-r, r]",
    "seed": "random seed (initialisation and dropout)",
    "split_mode": "charrnn (the paper's) or contiguous",
    "max_train_batches": "training batches per epoch; 0 = all",
    "max_eval_batches": "validation batches per evaluation; 0 = all",
    "max_test_batches": "test batches scored; 0 = all (needed for the shared probability contract)",
    "eval_every": "also evaluate every N steps; 0 = at epoch ends only",
    "patience": "stop after N evaluations without a better validation loss; 0 = never",
    "snapshot_every": "keep weights every N steps during the first --snapshot-epochs epochs",
    "snapshot_epochs": "epochs over which snapshots are kept; 0 = none",
    "device": "auto (cuda if available), cpu or cuda",
    "checkpoint_every": "steps between checkpoints (plus one at each epoch end)",
    "threads": "torch CPU threads while training; 0 = torch's default",
    "until_epoch": "pause after this many epochs, checkpointed and unfinished (a screening run, e.g. of a dropout "
                   "value); the same command without it trains on to the end; 0 = train to the end",
    "engine": "training step: cpu_step (the fast CPU step), reference (autograd over nn.LSTM/GRU/RNN) or auto",
    "precision": "fp32, or bf16 (mixed precision: bf16 matmuls under autocast, fp32 weights, optimizer and "
                 "evaluation; part of the run's name)",
}
SKIP = {"dataset", "data_dir", "show_progress"}


def add_config_args(p, skip=()) -> None:
    """One option per TrainConfig field (defaults: the paper's recipe)."""
    from rnnviz_lib.config import CHOICES, TrainConfig

    for f in dataclasses.fields(TrainConfig):
        if f.name in SKIP or f.name in skip:
            continue
        opt = "--" + f.name.replace("_", "-")
        kwargs = {"default": f.default, "help": f"{HELP.get(f.name, f.name)} (default {f.default})"}
        if f.name in CHOICES:
            kwargs["choices"] = CHOICES[f.name][1]
        else:
            kwargs["type"] = type(f.default)
        p.add_argument(opt, **kwargs)


def config_from_args(args, **over):
    from rnnviz_lib.train import TrainConfig

    vals = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
            if hasattr(args, f.name) and f.name not in ("dataset", "data_dir")}
    vals["dataset"] = args.dataset
    vals["data_dir"] = args.data_dir or ""
    vals.update(over)
    return TrainConfig(**vals)


def _train(args) -> int:
    from rnnviz_lib import train

    cfg = config_from_args(args, show_progress=not args.no_progress)
    out = train.train_run(cfg)
    if not train.is_finished(out):  # paused by --until-epoch: a screening, resumable
        h = train.load_history(out)
        best = min(h, key=lambda r: r["val_loss"]) if h else None
        paused = {"run_dir": str(out), "status": "paused", "epochs_done": h[-1]["epoch"] if h else 0,
                  "best_val_loss": best["val_loss"] if best else None, "best_epoch": best["epoch"] if best else None}
        if args.json:
            print(json.dumps(paused, sort_keys=True))
        else:
            print(f"{cfg.slug}: paused after epoch {paused['epochs_done']:g} of {cfg.epochs}"
                  + (f", best val {best['val_loss']:.4f} at epoch {best['epoch']:.2f}" if best else "")
                  + "; rerun without --until-epoch to train it to the end")
            print(f"run directory: {out}")
        return 0
    m = train.load_metrics(out)
    if args.json:
        print(json.dumps({"run_dir": str(out), **m}, sort_keys=True))
    else:
        print(f"{cfg.slug}: test {m['test_loss']:.4f} nats ({m['test_loss_bits']:.4f} bits) "
              f"± {m['test_bootstrap_std']:.4f}, best val {m['best_val_loss']:.4f}, "
              f"H={m['hidden']}, {m['params']:,} params, {m['train_time_s']:.0f} s")
        print(f"run directory: {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train one model by the paper's recipe (resumes if interrupted)")
    add_data_args(p, required=False)
    add_config_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=_train)
