"""Time of the causal clamping of notebook 04 (``cells.causal_effects``): one clamped forward per
clamp, as it ran until 2026-12-07, against ``activations.sample_logp_many`` (the clamps of one
start layer batched in one pass that starts at that layer, the layers below run once).

Each model reads the validation split as notebook 04 does (``--streams`` streams of ``--steps``
symbols after ``--burn`` symbols of warm-up) and is clamped like the report clamps it: the model
as it is, then ``--clamps`` clamps of single units of ``--layer`` (default: the top layer, where
every best cell of the report's size-512 models lies), half at 0 and half at 0.1. Both paths
give every clamp's (B, T) log-probabilities; the table gives their seconds, the speed-up and the
largest difference between the two.

Usage::

    python benchmarks/causal_clamping.py                            # the shipped WP LSTM-1-64 and LSTM-3-512
    python benchmarks/causal_clamping.py --runs data/runs/wp-gru3-512-d0.25-bf16-dc845f97c7 --clamps 8
    python benchmarks/causal_clamping.py --random lstm 3 241 --streams 4 --steps 100 --burn 20   # no data needed

Prints a table and writes benchmarks/results/causal_clamping-<device>.json (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnnviz_lib.analysis import activations as A

HERE = Path(__file__).resolve().parent
SHIPPED = HERE.parent / "data" / "runs"
DEFAULT_RUNS = ("wp-lstm1-64-", "wp-lstm3-512-")  # run-name prefixes among the shipped runs


def per_clamp(model, sample, clamps, chunk: int = 500) -> list[np.ndarray]:
    """The path before the batching: every clamp its own pass through every layer."""
    ids = torch.from_numpy(sample.ids.astype(np.int64))
    out = []
    with torch.no_grad():
        for cl in clamps:
            state, lps = None, []
            for a in range(0, ids.shape[1] - 1, chunk):
                b = min(ids.shape[1] - 1, a + chunk)
                logits, state = A.clamped_forward(model, ids[:, a:b], state, cl)
                lps.append(torch.log_softmax(logits.float(), -1).gather(-1, ids[:, a + 1 : b + 1].unsqueeze(-1))
                           .squeeze(-1).numpy())
            out.append(np.concatenate(lps, axis=1)[:, sample.burn :])
    return out


def _shipped(prefix: str) -> Path:
    found = sorted(d for d in SHIPPED.glob(f"{prefix}*") if (d / "best.pt").is_file())
    if not found:
        sys.exit(f"no shipped run named {prefix}* in {SHIPPED}; give one with --runs")
    return found[0]


def _real(run: Path, streams: int, steps: int, burn: int):
    from rnnviz_lib import train

    model, cfg = train.load_model(run)
    corpus, splits = train.load_splits(cfg)
    return run.name, model.float().eval(), A.sample_split(corpus, splits.val, streams, steps, burn)


def _random(cell: str, layers: int, hidden: int, streams: int, steps: int, burn: int):
    from rnnviz_lib.models import CharRNN

    torch.manual_seed(0)
    K = 87
    model = CharRNN(cell, K, hidden, layers, init_range=0.08).eval()
    ids = np.random.default_rng(0).integers(0, K, (streams, burn + steps + 1)).astype(np.uint8)
    text = tuple(b"x" * steps for _ in range(streams))
    sample = A.TextSample(ids, burn, np.arange(K, dtype=np.uint8), text, (0,) * streams, "prose", "random")
    return f"random {cell}-{layers} H={hidden}", model, sample


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="*", type=Path, help="run folders (default: shipped WP LSTM-1-64 and LSTM-3-512)")
    ap.add_argument("--random", nargs=3, metavar=("CELL", "LAYERS", "H"), help="an untrained model instead (no data)")
    ap.add_argument("--streams", type=int, default=20)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--burn", type=int, default=500)
    ap.add_argument("--clamps", type=int, default=12, help="clamped units per model (plus the model as it is)")
    ap.add_argument("--layer", type=int, default=-1, help="layer of the clamped units (default -1: the top one)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.random:
        models = [_random(a.random[0], int(a.random[1]), int(a.random[2]), a.streams, a.steps, a.burn)]
    else:
        runs = a.runs or [_shipped(p) for p in DEFAULT_RUNS]
        models = [_real(Path(r), a.streams, a.steps, a.burn) for r in runs]
    rows = []
    for name, model, sample in models:
        layer = a.layer % model.L
        rng = np.random.default_rng(0)
        units = rng.choice(model.H, size=min(a.clamps, model.H), replace=False)
        clamps = [None] + [{(layer, int(u)): 0.0 if i % 2 == 0 else 0.1} for i, u in enumerate(units)]
        t = time.perf_counter()
        old = per_clamp(model, sample, clamps)
        t_old = time.perf_counter() - t
        t = time.perf_counter()
        new = A.sample_logp_many(model, sample, clamps)
        t_new = time.perf_counter() - t
        diff = max(float(np.abs(x - y).max()) for x, y in zip(old, new))
        rows.append({"model": name, "layers": model.L, "H": model.H, "clamps": len(clamps) - 1, "layer": layer + 1,
                     "symbols": int(sample.ids.shape[0] * (sample.ids.shape[1] - 1)),
                     "per_clamp_s": round(t_old, 3), "batched_s": round(t_new, 3),
                     "speedup": round(t_old / t_new, 2), "max_abs_diff": diff})
    print(f"{'model':<40} {'L':>2} {'H':>4} {'clamps':>6} {'per clamp s':>11} {'batched s':>9} {'speed-up':>8} "
          f"{'max |diff|':>10}")
    for r in rows:
        print(f"{r['model']:<40} {r['layers']:>2} {r['H']:>4} {r['clamps']:>6} {r['per_clamp_s']:>11.2f} "
              f"{r['batched_s']:>9.2f} {r['speedup']:>7.2f}x {r['max_abs_diff']:>10.1e}")
    result = {"benchmark": "causal_clamping", "device": "cpu", "threads": a.threads, "torch": torch.__version__,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "machine": platform.processor() or platform.machine(),
              "streams": a.streams, "steps": a.steps, "burn": a.burn,
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    out = a.out or HERE / "results" / "causal_clamping-cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
