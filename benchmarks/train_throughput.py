"""Training throughput (symbols/s) of every grid model on this device, fused vs traced path,
and the projected wall time of the paper's full grid.

A training step is the paper's: forward over B x S symbols, cross-entropy, backward, element-wise
clip, RMSProp update. ``fused`` is ``CharRNN.forward`` (nn.LSTM/GRU/RNN, cuDNN on a GPU; a custom
loop for the paper's GRU); ``traced`` is ``forward_traced`` (a Python loop over time recording
every gate), which analysis code uses and training does not.

Projection. Every model of a grid row has about the same parameter count, and the work per
symbol grows with it, so a row that was not measured is extrapolated from the largest measured
row of the same (cell, depth) by the ratio of parameter counts (``measured: false`` in the JSON).
Wall time of one run = 50 epochs x training batches x step time, plus validation passes (forward
only, counted as a third of a step per batch) and the test pass. "72 models" takes one run per
model; "paper profile" multiplies by the dropout values of notebooks/params/paper.yaml
(1, 1, 2, 3 per row: 126 runs).

Usage::

    python benchmarks/train_throughput.py                     # short default: rows 64 and 128
    python benchmarks/train_throughput.py --sizes 64 128 256 512 --device cuda

Prints a table and writes benchmarks/results/train_throughput-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rnnviz_lib.models import CharRNN, n_params, width_for

HERE = Path(__file__).resolve().parent
# Paper recipe (PAPER.md §1, §3): training/validation/test batches of B = S = 100 per dataset.
DATASETS = {"wp": {"K": 87, "train": 260, "val": 32, "test": 33}, "lk": {"K": 101, "train": 558, "val": 31, "test": 31}}
EPOCHS = 50
DROPOUT_RUNS = {64: 1, 128: 1, 256: 2, 512: 3}
CELLS, DEPTHS, SIZES = ("lstm", "rnn", "gru"), (1, 2, 3), (64, 128, 256, 512)


def step_time(model, path: str, B: int, S: int, K: int, steps: int, warmup: int, device) -> float:
    """Seconds per training step (median of ``steps``) on random symbols."""
    opt = torch.optim.RMSprop(model.parameters(), lr=2e-3, alpha=0.95)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, K, (B, S), generator=g).to(device)
    y = torch.randint(0, K, (B, S), generator=g).to(device)
    fwd = model if path == "fused" else (lambda inp: model.forward_traced(inp)[::2])
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        logits, _ = fwd(x)
        loss = F.cross_entropy(logits.reshape(-1, K), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 5.0)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def device_name(device) -> str:
    if device.type == "cuda":
        return "cuda-" + re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")
    return "cpu"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", default=list(CELLS), help="cell types (default all)")
    ap.add_argument("--depths", nargs="+", type=int, default=list(DEPTHS), help="depths (default 1 2 3)")
    ap.add_argument("--sizes", nargs="+", type=int, default=None,
                    help="grid rows to measure (default 64 128 on the CPU, all four on a GPU)")
    ap.add_argument("--paths", nargs="+", default=["fused", "traced"], help="fused and/or traced")
    ap.add_argument("--gru-variant", default="torch", choices=("torch", "paper"), help="GRU form (default torch)")
    ap.add_argument("--batch-size", type=int, default=100, help="B (default 100, the paper's)")
    ap.add_argument("--seq-length", type=int, default=100, help="S (default 100, the paper's)")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per model and path (median)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/train_throughput-<device>.json)")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = args.sizes or (list(SIZES) if device.type == "cuda" else [64, 128])
    B, S, K = args.batch_size, args.seq_length, DATASETS["wp"]["K"]
    rows = []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if load > (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} exceeds {os.cpu_count()} cores; CPU rates are unreliable "
              "(use --threads 1 on a shared machine)")
    print(f"device {device_name(device)}, torch {torch.__version__}, threads {torch.get_num_threads()}, B={B}, S={S}")
    print(f"{'model':<14}{'H':>6}{'params':>11}{'path':>8}{'ms/step':>10}{'symbols/s':>12}")
    for size in sizes:
        for cell in args.cells:
            for L in args.depths:
                H = width_for(cell, L, size, K)
                for path in args.paths:
                    torch.manual_seed(0)
                    model = CharRNN(cell, K, H, L, gru_variant=args.gru_variant).to(device)
                    t = step_time(model, path, B, S, K, args.steps, args.warmup, device)
                    r = {"cell": cell, "layers": L, "size": size, "H": H, "params": n_params(cell, L, H, K),
                         "path": path, "step_ms": t * 1e3, "symbols_per_s": B * S / t, "measured": True}
                    rows.append(r)
                    print(f"{cell}-{L}-{size:<8}{H:>6}{r['params']:>11,}{path:>8}{t * 1e3:>10.1f}"
                          f"{r['symbols_per_s']:>12,.0f}", flush=True)

    # projection of the paper grid, extrapolating rows not measured by parameter count
    projected = {}
    proj_72 = {}
    missing = set()
    for path in args.paths:
        total_72 = total_paper = 0.0
        for d in DATASETS.values():
            for size in SIZES:
                for cell in CELLS:
                    for L in DEPTHS:
                        Kd = d["K"]
                        H = width_for(cell, L, size, Kd)
                        same = [r for r in rows if r["path"] == path and r["cell"] == cell and r["layers"] == L]
                        exact = [r for r in same if r["size"] == size]
                        if exact:
                            rate = exact[0]["symbols_per_s"]
                        elif same:
                            ref = max(same, key=lambda r: r["size"])
                            rate = ref["symbols_per_s"] * ref["params"] / n_params(cell, L, H, Kd)
                        else:
                            missing.add(f"{cell}-{L}")
                            continue
                        batches = EPOCHS * (d["train"] + d["val"] / 3) + d["test"] / 3
                        seconds = batches * 100 * 100 / rate
                        total_72 += seconds
                        total_paper += seconds * DROPOUT_RUNS[size]
        proj_72[path] = None if missing else total_72 / 3600
        projected[path] = None if missing else total_paper / 3600
    measured_sizes = sorted({r["size"] for r in rows})
    note = ("rows " + ", ".join(str(s) for s in SIZES if s not in measured_sizes) +
            " extrapolated by parameter count") if set(SIZES) - set(measured_sizes) else "all rows measured"
    if missing:
        note = f"no projection: {', '.join(sorted(missing))} not measured (measure every cell and depth)"
        print(note)
    for path in args.paths if not missing else []:
        print(f"projected paper grid, {path}: 72 models {proj_72[path]:.1f} h; paper profile (126 runs, dropout "
              f"cross-validated) {projected[path]:.1f} h, one model at a time ({note})")
    out = Path(args.out) if args.out else HERE / "results" / f"train_throughput-{device_name(device)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "train_throughput", "device": device_name(device), "torch": torch.__version__,
        "python": sys.version.split()[0], "platform": platform.platform(), "threads": torch.get_num_threads(),
        "batch_size": B, "seq_length": S, "K": K, "gru_variant": args.gru_variant, "steps": args.steps,
        "rows": rows, "projected_72_models_hours": proj_72, "projected_paper_grid_hours": projected,
        "projection_note": note, "load_average_start": load,
        "load_average_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
