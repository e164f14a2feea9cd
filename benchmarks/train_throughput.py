"""Training throughput (symbols/s) of every grid model on this device, per training path, and
the projected wall time of the paper's full grid and of the shipped set.

A training step is the paper's: forward over B x S symbols, cross-entropy, backward, element-wise
clip, RMSProp update. ``fused`` is the reference step, ``CharRNN.forward`` + autograd
(nn.LSTM/GRU/RNN, cuDNN on a GPU; a custom loop for the paper's GRU); ``cpu_step`` is
``rnnviz_lib.cpu_step.CpuStep`` (the CPU step with a hand-derived backward that ``train`` uses
on the CPU); ``traced`` is ``forward_traced`` (a Python loop over time recording every gate),
which analysis code uses and training does not; ``bf16`` is the reference step in mixed precision
(``TrainConfig(precision="bf16")``: the forward under ``torch.autocast(bfloat16)``, fp32 weights
and optimizer; its own run identity). The paths are timed interleaved, step by step, so a change
in machine load hits them alike.

GFLOP/s of a step counts 3x the forward's matmul work (forward, and backward's two products):
per symbol and layer 2·G·H·(input + H) for G gate blocks (LSTM 4, GRU 3, RNN 1), plus 2·H·K for
the classifier. ``--peak`` (on by default) times large fp32 and bf16 matrix products in the same
run, so each path's fraction of this machine's peak is a ratio of two numbers measured together.

``--equivalence N`` also trains the row-64 models for N steps of the paper's recipe on War and
Peace (evaluating every 50 steps on 8 validation batches) with the reference and the cpu_step
engine, and prints the largest validation-loss difference (the goal: below 1e-4).

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
    python benchmarks/train_throughput.py --sizes 64 --depths 1 3 --threads 1 --equivalence 300   # the CPU engines

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

from rnnviz_lib import train
from rnnviz_lib.models import CharRNN, n_params, width_for

HERE = Path(__file__).resolve().parent
# Paper recipe (PAPER.md §1, §3): training/validation/test batches of B = S = 100 per dataset.
DATASETS = {"wp": {"K": 87, "train": 260, "val": 32, "test": 33}, "lk": {"K": 101, "train": 558, "val": 31, "test": 31}}
EPOCHS = 50
DROPOUT_RUNS = {64: 1, 128: 1, 256: 2, 512: 3}
CELLS, DEPTHS, SIZES = ("lstm", "rnn", "gru"), (1, 2, 3), (64, 128, 256, 512)


GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def step_flops(cell: str, L: int, H: int, K: int, B: int, S: int) -> float:
    """Matmul FLOPs of one training step (see the module docstring)."""
    per_symbol = sum(2 * GATES[cell] * H * ((K if layer == 0 else H) + H) for layer in range(L)) + 2 * H * K
    return 3.0 * B * S * per_symbol


def gemm_peak(dtype, n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of an n x n x n matrix product in ``dtype`` on the CPU (best of ``reps``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _step_fn(model, path: str, B: int, S: int, K: int, device):
    """One training step of ``path`` as a closure: ``train.ModuleStepper`` (the training loop's
    reference step: RMSProp 2e-3, clip 5) with the fused forward, ``forward_traced`` or ``cpu_step``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, K, (B, S), generator=g).to(device)
    y = torch.randint(0, K, (B, S), generator=g).to(device)
    cfg = train.TrainConfig(engine="cpu_step" if path == "cpu_step" else "reference",
                            precision="bf16" if path == "bf16" else "fp32")
    fwd = (lambda inp, state: model.forward_traced(inp, state)[::2]) if path == "traced" else None
    stepper = train.ModuleStepper(model, cfg, eager_loss=False, forward=fwd)

    def run():
        stepper.reset_state()  # every timed step starts from zeros
        stepper.step(x, y)
    return run


def step_times(models_by_path: dict, B: int, S: int, K: int, steps: int, warmup: int, device) -> dict:
    """Seconds per training step (median of ``steps``) of each path, timed interleaved."""
    fns = {p: _step_fn(m, p, B, S, K, device) for p, m in models_by_path.items()}
    times = {p: [] for p in fns}
    for i in range(warmup + steps):
        for p, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times[p].append(time.perf_counter() - t0)
    return {p: float(np.median(t)) for p, t in times.items()}


def equivalence(cells, depths, steps: int, data_dir: str | None) -> list[dict]:
    """Validation losses of a ``steps``-step paper-recipe schedule, reference vs cpu_step engine."""
    import tempfile

    from rnnviz_lib.store import Store

    rows = []
    nb = 100
    for cell in cells:
        for L in depths:
            base = train.TrainConfig(dataset="wp", cell=cell, layers=L, size=64, epochs=max(1, steps // nb),
                                     max_train_batches=min(nb, steps), eval_every=50, max_eval_batches=8,
                                     max_test_batches=1, device="cpu", data_dir=data_dir or "")
            vals, secs = {}, {}
            with tempfile.TemporaryDirectory() as tmp:
                for eng in ("reference", "cpu_step"):
                    t0 = time.perf_counter()
                    d = train.train_run(base.replace(engine=eng), Store(Path(tmp) / eng))
                    secs[eng] = time.perf_counter() - t0
                    vals[eng] = [r["val_loss"] for r in train.load_history(d)]
            diff = float(np.max(np.abs(np.array(vals["reference"]) - np.array(vals["cpu_step"]))))
            rows.append({"model": f"{cell}-{L}-64", "steps": base.epochs * base.max_train_batches,
                         "evaluations": len(vals["reference"]), "val_final_reference": vals["reference"][-1],
                         "val_final_cpu_step": vals["cpu_step"][-1], "max_abs_val_diff": diff,
                         "seconds_reference": secs["reference"], "seconds_cpu_step": secs["cpu_step"]})
            print(f"{cell}-{L}-64: {rows[-1]['steps']} steps, {rows[-1]['evaluations']} evaluations, final val "
                  f"{vals['reference'][-1]:.5f} / {vals['cpu_step'][-1]:.5f}, max |diff| {diff:.2e}", flush=True)
    return rows


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
    ap.add_argument("--paths", nargs="+", default=None,
                    help="fused (the reference step), cpu_step, bf16 and/or traced (default: fused cpu_step bf16 "
                         "on the CPU, fused traced on a GPU)")
    ap.add_argument("--no-peak", dest="peak", action="store_false",
                    help="skip timing the fp32 and bf16 matrix-product peak of this CPU")
    ap.add_argument("--gru-variant", default="torch", choices=("torch", "paper"), help="GRU form (default torch)")
    ap.add_argument("--batch-size", type=int, default=100, help="B (default 100, the paper's)")
    ap.add_argument("--seq-length", type=int, default=100, help="S (default 100, the paper's)")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per model and path (median)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/train_throughput-<device>.json)")
    ap.add_argument("--equivalence", type=int, default=0, metavar="STEPS",
                    help="also train each measured row-64 model STEPS steps on WP with both CPU engines and compare")
    ap.add_argument("--data-dir", default=None, help="folder with war_and_peace.txt (default $RNNVIZ_DATA_DIR)")
    args = ap.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = args.sizes or (list(SIZES) if device.type == "cuda" else [64, 128])
    no_bf16 = train.bf16_unsupported(device)  # a CPU without native bf16 (AVX2 only): no bf16 path
    if not args.paths:
        args.paths = ["fused", "traced"] if device.type == "cuda" else ["fused", "cpu_step", *([] if no_bf16 else ["bf16"])]
        if no_bf16 and device.type == "cpu":
            print(f"no bf16 path: {no_bf16}")
    elif "bf16" in args.paths and no_bf16:
        print(f"--paths bf16: {no_bf16}; leave bf16 out here", file=sys.stderr)
        return 2
    peak = {}
    if args.peak and device.type == "cpu":
        peak = {"fp32": gemm_peak(torch.float32), "bf16": None if no_bf16 else gemm_peak(torch.bfloat16)}
        bf = "not measured (no native bf16)" if no_bf16 else f"{peak['bf16']:.0f} GFLOP/s"
        print(f"matrix-product peak on {torch.get_num_threads()} threads: fp32 {peak['fp32']:.0f} GFLOP/s, "
              f"bf16 {bf} (2048^3, best of 5)")
    B, S, K = args.batch_size, args.seq_length, DATASETS["wp"]["K"]
    rows = []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if load > (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} exceeds {os.cpu_count()} cores; CPU rates are unreliable "
              "(use --threads 1 on a shared machine)")
    print(f"device {device_name(device)}, torch {torch.__version__}, threads {torch.get_num_threads()}, B={B}, S={S}")
    print(f"{'model':<14}{'H':>6}{'params':>11}{'path':>9}{'ms/step':>10}{'steps/s':>9}{'symbols/s':>12}{'vs fused':>9}"
          f"{'GFLOP/s':>9}{'of peak':>8}")
    for size in sizes:
        for cell in args.cells:
            for L in args.depths:
                H = width_for(cell, L, size, K)
                nets = {}
                for path in args.paths:
                    torch.manual_seed(0)
                    nets[path] = CharRNN(cell, K, H, L, gru_variant=args.gru_variant).to(device)
                times = step_times(nets, B, S, K, args.steps, args.warmup, device)
                for path in args.paths:
                    t = times[path]
                    r = {"cell": cell, "layers": L, "size": size, "H": H, "params": n_params(cell, L, H, K),
                         "path": path, "step_ms": t * 1e3, "symbols_per_s": B * S / t, "steps_per_s": 1 / t,
                         "measured": True}
                    if path != "fused":
                        r["speedup_vs_fused"] = times["fused"] / t if "fused" in times else None
                    r["gflops"] = step_flops(cell, L, H, K, B, S) / t / 1e9
                    ref_peak = peak.get("bf16" if path == "bf16" else "fp32")
                    r["fraction_of_peak"] = r["gflops"] / ref_peak if ref_peak else None
                    rows.append(r)
                    sp = f"{r['speedup_vs_fused']:>8.2f}x" if r.get("speedup_vs_fused") else f"{'':>9}"
                    fr = f"{r['fraction_of_peak']:>8.0%}" if r["fraction_of_peak"] else f"{'':>8}"
                    print(f"{cell}-{L}-{size:<8}{H:>6}{r['params']:>11,}{path:>9}{t * 1e3:>10.1f}{1 / t:>9.2f}"
                          f"{r['symbols_per_s']:>12,.0f}{sp}{r['gflops']:>9.0f}{fr}", flush=True)

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
    # the shipped set: Table 1 row 64 by the paper's recipe (9 WP models, LSTM-1/3 and GRU-3 on LK)
    shipped_set = [("wp", c, L) for c in CELLS for L in DEPTHS] + [("lk", "lstm", 1), ("lk", "lstm", 3), ("lk", "gru", 3)]
    shipped_hours = {}
    for path in args.paths:
        total, ok = 0.0, True
        for ds, cell, L in shipped_set:
            r = [x for x in rows if x["path"] == path and x["cell"] == cell and x["layers"] == L and x["size"] == 64]
            if not r:
                ok = False
                break
            d = DATASETS[ds]
            total += (EPOCHS * (d["train"] + d["val"] / 3) + d["test"] / 3) * r[0]["step_ms"] / 1e3
        shipped_hours[path] = total / 3600 if ok else None
        if ok:
            print(f"projected shipped set (row 64: 9 WP + 3 LK models, 50 epochs), {path}: {total / 3600:.2f} h on one core")
    eq = equivalence(args.cells, args.depths, args.equivalence, args.data_dir) if args.equivalence else []
    out = Path(args.out) if args.out else HERE / "results" / f"train_throughput-{device_name(device)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "train_throughput", "device": device_name(device), "torch": torch.__version__,
        "python": sys.version.split()[0], "platform": platform.platform(), "threads": torch.get_num_threads(),
        "batch_size": B, "seq_length": S, "K": K, "gru_variant": args.gru_variant, "steps": args.steps,
        "gemm_peak_gflops": peak, "bf16_unsupported": no_bf16, "rows": rows, "projected_72_models_hours": proj_72, "projected_paper_grid_hours": projected,
        "projected_shipped_set_hours": shipped_hours, "equivalence": eq,
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
