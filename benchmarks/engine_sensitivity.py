"""How sensitive is a short paper-recipe schedule to float summation order alone?

The reference engine (autograd over nn.RNN/LSTM/GRU) trains the same config twice, with 1 and
with 2 torch threads (the same math, other summation orders), and the validation losses of the
two are compared evaluation by evaluation. Set beside ``train_throughput.py --equivalence``
(reference vs cpu_step): where the reference disagrees with itself by as much as with cpu_step,
the difference is the schedule's sensitivity, not the engine's.

Usage::

    python benchmarks/engine_sensitivity.py --models rnn-1-64 rnn-3-64 --steps 300

Prints a line per model and writes benchmarks/results/engine_sensitivity-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from rnnviz_lib import grid, train
from rnnviz_lib.store import Store

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["rnn-1-64", "rnn-3-64"], help="cell-layers-size (default rnn-1-64 rnn-3-64)")
    ap.add_argument("--steps", type=int, default=300, help="training steps (100 per epoch; default 300)")
    ap.add_argument("--out", default=str(HERE / "results" / "engine_sensitivity-cpu.json"))
    args = ap.parse_args(argv)
    out = {"benchmark": "engine_sensitivity", "torch": str(torch.__version__), "platform": platform.platform(),
           "steps": args.steps, "eval_every": 50, "max_eval_batches": 8, "models": {}}
    for spec in args.models:
        cell, L, size = grid.parse_model(spec)
        base = train.TrainConfig(dataset="wp", cell=cell, layers=L, size=size, epochs=max(1, args.steps // 100),
                                 max_train_batches=min(100, args.steps), eval_every=50, max_eval_batches=8,
                                 max_test_batches=1, device="cpu", engine="reference")
        vals = {}
        for threads in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                d = train.train_run(base.replace(threads=threads), Store(Path(tmp)))
                vals[threads] = [r["val_loss"] for r in train.load_history(d)]
        diff = np.abs(np.array(vals[1]) - np.array(vals[2]))
        out["models"][spec] = {"reference_1_thread": vals[1], "reference_2_threads": vals[2], "abs_diff": diff.tolist(),
                               "max_abs_diff": float(diff.max())}
        print(f"{spec}: reference, 1 vs 2 threads, per-evaluation |diff| {np.round(diff, 6).tolist()}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
