"""Time the paper grid's training on one device: the plain loop (reference) against the fast executor.

Usage::

    python benchmarks/gpu_grid.py                      # on a CUDA machine: the real measurement (~3-5 min on an H100)
    python benchmarks/gpu_grid.py --tiny               # CPU dry run of every code path (tiny shapes; not GPU numbers)
    python benchmarks/gpu_grid.py --data-dir DIR       # folder with war_and_peace.txt
                                                       # (else $RNNVIZ_DATA_DIR, ./data, ../shared/data)

What it does, in one process, on the paper's recipe (B = S = 100, WP, K = 87):

1. reference: for each measured grid model (cells × sizes × depths, default sizes 64/256/512,
   depths 1/3), the plain training step of ``train.train_run`` (``train.ModuleStepper``: fused
   cuDNN module, fp32, one model at a time, the loss read every step) timed over ``--steps`` steps, plus the
   validation forward per batch;
2. fast: the same models as ``fast.Stepper`` steps (``fast.make_stepper``) (stacked/batched cells, embedding input,
   CUDA-graph step), each alone, then all of them at once with ``--streams`` concurrent CUDA
   streams (one thread each, as ``fast_executor.run_fast`` runs groups), and a stack of 3 same-shape models
   (the grid's dropout variants of one model);
3. projection of the whole paper grid (36 models × WP and LK, 50 epochs; 128-row and 2-layer
   models interpolated from the measured ones) for the sequential reference and the fast path
   under the measured concurrency, with the critical path (the longest single model) as a
   floor; peak device memory of the concurrent run;
4. equivalence: ``train.train_run`` (reference) against ``fast_executor.run_fast`` on a fixed short
   schedule (``--eq-steps`` steps, val over 5 batches) for LSTM/GRU/RNN at two sizes: the best
   validation losses must agree within 0.01 nats.

Writes ``benchmarks/results/gpu_grid-<device-slug>.json`` (``gpu_grid-cpu-dryrun.json`` for
``--tiny``) and prints a table.

On a lent GPU machine (only the checkout travels; ``../shared`` does not, ``data/`` is
git-ignored, so carry the corpus)::

    cp ../shared/data/war_and_peace.txt data/
    run  command: python3 benchmarks/gpu_grid.py --data-dir data --out-dir $OUT 2>&1 | tee $OUT/gpu_grid.log
         carry: ["data/war_and_peace.txt"]   timeout_s: 540
    then copy gpu_grid-<device>.json from the returned files to benchmarks/results/ and commit it.

Then train the grid with the fastest setting it reports, e.g.
``RNNVIZ_FAST=streams=8 rnnviz grid --profile paper --device cuda --executor fast``. Needs torch, numpy and this package only: PyYAML and tqdm are
replaced by stand-ins when absent (the grid's profile files are not read here).
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import math
import os
import platform
import re
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("CUDA_DEVICE_MAX_CONNECTIONS", "32")  # hardware queues for up to 32 concurrent streams


def _standins() -> list[str]:
    """Minimal stand-ins for PyYAML and tqdm where they are not installed (a bare torch machine)."""
    made = []
    try:
        import yaml  # noqa: F401
    except ImportError:
        m = types.ModuleType("yaml")

        class YAMLError(Exception):
            pass

        def safe_load(*a, **k):
            raise RuntimeError("PyYAML is not installed; the benchmark reads no profile files")

        m.YAMLError, m.safe_load = YAMLError, safe_load
        m.__spec__ = importlib.machinery.ModuleSpec("yaml", None)  # torch._dynamo calls find_spec on it
        sys.modules["yaml"] = m
        made.append("yaml")
    try:
        import tqdm.auto  # noqa: F401
    except ImportError:
        class _Bar:
            def __init__(self, iterable=None, *a, **k):
                self.iterable = iterable

            def __iter__(self):
                return iter(self.iterable)

            def update(self, *a, **k):
                pass

            def close(self):
                pass

            def set_postfix_str(self, *a, **k):
                pass

        t, ta = types.ModuleType("tqdm"), types.ModuleType("tqdm.auto")
        t.__spec__ = importlib.machinery.ModuleSpec("tqdm", None, is_package=True)
        ta.__spec__ = importlib.machinery.ModuleSpec("tqdm.auto", None)
        t.tqdm = ta.tqdm = _Bar
        t.auto = ta
        sys.modules["tqdm"], sys.modules["tqdm.auto"] = t, ta
        made.append("tqdm")
    return made


STANDINS = _standins()

import torch

from rnnviz_lib import data, fast, fast_executor, lk_corpus, models, train
from rnnviz_lib.store import Store

EQ_TOL = 0.01  # nats
MEM_LIMIT_GB = 40.0
CELLS = ("lstm", "gru", "rnn")
GRID_SIZES = (64, 128, 256, 512)
GRID_DEPTHS = (1, 2, 3)


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# ----------------------------------------------------------------------------------------
# Reference: the plain loop of train.train_run, one model
# ----------------------------------------------------------------------------------------
def time_reference(cfg, K, x_all, y_all, val, dev, steps, warmup):
    # the reference step of train.train_run (train.ModuleStepper: fused module, loss read every step)
    stepper = train.ModuleStepper(train.build_model(cfg, K).to(dev), cfg.replace(engine="reference"))
    S = cfg.seq_length
    run_steps(stepper, x_all, y_all, S, 0, warmup)
    sync(dev)
    t0 = time.perf_counter()
    run_steps(stepper, x_all, y_all, S, warmup, steps)
    sync(dev)
    t_step = (time.perf_counter() - t0) / steps
    nv = min(3, val.n_batches)
    stepper.val_losses(val, 1)
    sync(dev)
    t0 = time.perf_counter()
    stepper.val_losses(val, nv)
    sync(dev)
    t_eval = (time.perf_counter() - t0) / nv
    return t_step, t_eval


# ----------------------------------------------------------------------------------------
# Fast: stacked steppers
# ----------------------------------------------------------------------------------------
def make_stepper(cfgs, K, dev, graphs, engine="stacked"):
    return fast.make_stepper([train.build_model(c, K) for c in cfgs], cfgs[0].replace(seed=0), dev, engine, graphs)


def run_steps(stepper, x_all, y_all, S, start, n):
    nb = x_all.shape[1] // S
    for i in range(start, start + n):
        j = i % nb
        stepper.step(x_all[:, j * S : (j + 1) * S], y_all[:, j * S : (j + 1) * S])
        if stepper.eager_loss:
            stepper.take_losses()  # the plain loop reads the loss after every step


def time_fast_solo(stepper, x_all, y_all, S, dev, steps, warmup):
    t0 = time.perf_counter()
    run_steps(stepper, x_all, y_all, S, 0, warmup)  # includes the CUDA-graph capture
    sync(dev)
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_steps(stepper, x_all, y_all, S, warmup, steps)
    sync(dev)
    return (time.perf_counter() - t0) / steps, t_setup


def time_concurrent(steppers, x_all, y_all, S, dev, steps, streams):
    """All steppers run ``steps`` steps, ``streams`` at a time (a thread and CUDA stream each)."""
    jobs = list(range(len(steppers)))
    lock = threading.Lock()
    errors = []

    def worker():
        ctx = torch.cuda.stream(torch.cuda.Stream()) if dev.type == "cuda" else None
        if ctx is not None:
            ctx.__enter__()
        try:
            while True:
                with lock:
                    if not jobs:
                        break
                    k = jobs.pop(0)
                run_steps(steppers[k], x_all, y_all, S, 1000, steps)
            if dev.type == "cuda":
                torch.cuda.current_stream().synchronize()
        except Exception as exc:  # noqa: BLE001 -- reported in the results
            errors.append(repr(exc))
        finally:
            if ctx is not None:
                ctx.__exit__(None, None, None)

    sync(dev)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(max(1, streams))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sync(dev)
    if errors:
        raise RuntimeError(errors[0])
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------------------
# Projection of the full grid
# ----------------------------------------------------------------------------------------
def interpolate(measured: dict, cell: str, L: int, size: int) -> float:
    """Per-step time of (cell, L, size) from the measured ones: geometric mean between the
    nearest measured sizes, arithmetic mean between the nearest measured depths."""
    if (cell, L, size) in measured:
        return measured[(cell, L, size)]
    depths = sorted({l for c, l, s in measured if c == cell})
    sizes = sorted({s for c, l, s in measured if c == cell})

    def at_depth(l):
        if (cell, l, size) in measured:
            return measured[(cell, l, size)]
        lo = max([s for s in sizes if s < size], default=None)
        hi = min([s for s in sizes if s > size], default=None)
        if lo is None or hi is None:
            near = lo if hi is None else hi
            return measured[(cell, l, near)] * (size / near) ** 2
        a, b = measured[(cell, l, lo)], measured[(cell, l, hi)]
        w = math.log(size / lo) / math.log(hi / lo)
        return math.exp((1 - w) * math.log(a) + w * math.log(b))

    if L in depths:
        return at_depth(L)
    lo = max([d for d in depths if d < L], default=min(depths))
    hi = min([d for d in depths if d > L], default=max(depths))
    if lo == hi:
        return at_depth(lo) * L / lo
    w = (L - lo) / (hi - lo)
    return (1 - w) * at_depth(lo) + w * at_depth(hi)


def grid_steps(B: int, S: int, epochs: int) -> dict:
    """Training steps and validation batches per model for wp and lk under the recipe."""
    out = {}
    for ds, n in (("wp", 3_258_246), ("lk", lk_corpus.LK_BYTES)):
        tr, va, _ = data.split_counts(n, B, S, data.FRACTIONS[ds])
        out[ds] = {"train_batches": tr, "val_batches": va, "steps": tr * epochs, "evals": epochs * va}
    return out


PAPER_DROPOUT = {64: [0.0], 128: [0.0], 256: [0.0, 0.25], 512: [0.0, 0.25, 0.5]}  # paper.yaml's, as of writing


def paper_variants() -> tuple[dict, str]:
    """Runs per grid model by row: the number of dropout values of the paper profile."""
    try:
        from rnnviz_lib.config import load_profile

        spec = load_profile("paper")["grid"].get("dropout") or {64: [0.0]}
        if not isinstance(spec, dict):
            spec = {size: spec for size in GRID_SIZES}
        out = {size: len(spec.get(size, spec.get(str(size), spec.get("default", [0.0])))) for size in GRID_SIZES}
        return out, "notebooks/params/paper.yaml"
    except Exception:  # noqa: BLE001 -- no PyYAML / profile: the values known when this was written
        return {size: len(v) for size, v in PAPER_DROPOUT.items()}, "built-in copy of paper.yaml's dropout lists"


def project(t_step: dict, t_eval: dict, steps: dict, variants: dict, factor: float = 1.0,
            stack_cost=None) -> dict:
    """Seconds for the paper grid (36 models x wp, lk; ``variants[size]`` runs per model): per run,
    steps x per-step time + evaluations x per-batch eval time, summed and divided by the
    concurrency ``factor``; ``stack_cost(n, size)`` (stacked engine) is the cost of one step of n
    same-shape runs stacked, in units of one run's step. Also the longest single job (a floor)."""
    per_ds, longest, runs = {}, 0.0, 0
    for ds, s in steps.items():
        tot = 0.0
        for cell in CELLS:
            for L in GRID_DEPTHS:
                for size in GRID_SIZES:
                    n = variants.get(size, 1)
                    runs += n
                    step = s["steps"] * interpolate(t_step, cell, L, size)
                    ev = n * s["evals"] * interpolate(t_eval, cell, L, size)
                    job = step * (stack_cost(n, size) if stack_cost else 1.0)
                    jobs = [job + ev] if stack_cost else [step + ev / n] * n
                    tot += sum(jobs)
                    longest = max(longest, *jobs)
        per_ds[ds] = tot / factor
    total = sum(per_ds.values())
    return {"runs": runs, "total_s": total, "wall_s": max(total, longest), "per_dataset_s": per_ds,
            "longest_job_s": longest}


def project_auto(t_cudnn: dict, t_stacked: dict, t_eval: dict, steps: dict, variants: dict, f_cudnn: float,
                 f_stacked: float, stack_cost) -> dict:
    """``run_fast``'s default (engine auto): a model with one run on its fused module, a model with
    several dropout runs as one stack; each part at its measured concurrency."""
    total, longest = 0.0, 0.0
    for s in steps.values():
        for cell in CELLS:
            for L in GRID_DEPTHS:
                for size in GRID_SIZES:
                    n = variants.get(size, 1)
                    ev = s["evals"] * interpolate(t_eval, cell, L, size)
                    if n == 1:
                        job, f = s["steps"] * interpolate(t_cudnn, cell, L, size) + ev, f_cudnn
                    else:
                        job = s["steps"] * interpolate(t_stacked, cell, L, size) * stack_cost(n, size) + n * ev
                        f = f_stacked
                    total += job / f
                    longest = max(longest, job)
    return {"total_s": total, "wall_s": max(total, longest), "longest_job_s": longest}


# ----------------------------------------------------------------------------------------
# Equivalence: the two executors on a fixed short schedule
# ----------------------------------------------------------------------------------------
def equivalence(base: dict, sizes, eq_steps: int, dev, graphs: bool, streams: int, engines=("stacked", "cudnn"),
                tf32: bool = False) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cfgs = [train.TrainConfig(**{**base, "cell": c, "layers": 1, "size": s, "epochs": 1,
                                     "max_train_batches": eq_steps, "max_eval_batches": 5, "max_test_batches": 1,
                                     "checkpoint_every": 10_000})
                for c in CELLS for s in sizes]
        t0 = time.perf_counter()
        ref = [train.train_run(c, Store(Path(tmp) / "ref")) for c in cfgs]
        t_ref = time.perf_counter() - t0
        walls = {"model": "(wall, all)", "ref_s": t_ref}
        for engine in engines:
            t0 = time.perf_counter()
            res = fast_executor.run_fast(cfgs, Store(Path(tmp) / engine), streams=streams, graphs=graphs, engine=engine,
                                tf32=tf32)
            walls[f"{engine}_s"] = time.perf_counter() - t0
            for c, r, f in zip(cfgs, ref, res):
                a = train.load_metrics(r)["best_val_loss"]
                b = train.load_metrics(f["run_dir"])["best_val_loss"] if f["status"] == "done" else float("nan")
                ok = bool(abs(a - b) <= EQ_TOL)  # False for nan
                rows.append({"engine": engine, "model": f"{c.cell}-{c.layers}-{c.size}",
                             "hidden": train.load_metrics(r)["hidden"], "steps": eq_steps, "ref_val": a,
                             "fast_val": b, "abs_diff": abs(a - b), "ok": ok, "fast_status": f["status"],
                             "fast_error": f["error"]})
        rows.append(walls)
    return rows


# ----------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", "--dry-run", dest="tiny", action="store_true",
                    help="CPU dry run: tiny shapes and schedule, every code path, not GPU numbers")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--data-dir", default="", help="folder with war_and_peace.txt")
    ap.add_argument("--sizes", default="", help="grid rows to measure (default 64,256,512)")
    ap.add_argument("--layers", default="", help="depths to measure (default 1,3)")
    ap.add_argument("--steps", type=int, default=0, help="timed steps per model (default 20; tiny 3)")
    ap.add_argument("--streams", default="", help="concurrent stream counts to try, e.g. 4,8,16 (default; tiny 2)")
    ap.add_argument("--no-graphs", action="store_true", help="fast path without CUDA graphs")
    ap.add_argument("--tf32", action="store_true",
                    help="allow TF32 matmuls in the fast paths (the reference stays fp32)")
    ap.add_argument("--eq-steps", type=int, default=0, help="steps of the equivalence schedule (default 40; tiny 6)")
    ap.add_argument("--skip-equivalence", action="store_true")
    ap.add_argument("--out", default="", help="JSON path (default <out-dir>/gpu_grid-<device>.json)")
    ap.add_argument("--out-dir", default="", help="folder for the JSON (default benchmarks/results)")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="skip the optional parts (more stream counts, stacking) once this many seconds have passed")
    args = ap.parse_args(argv)

    dev = train.resolve_device(args.device if not args.tiny else "cpu")
    tiny = args.tiny
    if dev.type == "cpu":
        torch.set_num_threads(1)
    if args.data_dir:
        os.environ["RNNVIZ_DATA_DIR"] = args.data_dir
    elif not os.environ.get("RNNVIZ_DATA_DIR"):
        for d in (REPO / "data", REPO / "shared" / "data", REPO.parent / "shared" / "data"):
            if (d / "war_and_peace.txt").is_file():
                os.environ["RNNVIZ_DATA_DIR"] = str(d)
                break
    torch.backends.cuda.matmul.allow_tf32 = False  # the reference is fp32
    sizes = [int(v) for v in args.sizes.split(",")] if args.sizes else ([16, 32] if tiny else [64, 256, 512])
    depths = [int(v) for v in args.layers.split(",")] if args.layers else [1, 3]
    steps = args.steps or (3 if tiny else 20)
    warmup = 1 if tiny else 3
    stream_counts = [int(v) for v in args.streams.split(",")] if args.streams else ([2] if tiny else [4, 8, 16])
    graphs = (not args.no_graphs) and dev.type == "cuda"
    B, S = (10, 12) if tiny else (100, 100)
    eq_steps = args.eq_steps or (6 if tiny else 40)
    base = {"dataset": "wp", "batch_size": B, "seq_length": S, "device": dev.type}

    cpu_name = f"cpu ({platform.processor() or platform.machine()})"
    dev_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name
    label = "cpu-dryrun" if tiny else slug(dev_name)
    out_dir = Path(args.out_dir) if args.out_dir else REPO / "benchmarks" / "results"
    out_path = Path(args.out) if args.out else out_dir / f"gpu_grid-{label}.json"
    print(f"device: {dev_name}; torch {torch.__version__}; stand-ins: {STANDINS or 'none'}", flush=True)
    t_all = time.perf_counter()

    cfg0 = train.TrainConfig(**base)
    corpus, splits = train.load_splits(cfg0)
    K = corpus.K
    nb = min(splits.train.n_batches, 40 if not tiny else 4)
    x_all = torch.from_numpy(splits.train.x[:, : nb * S]).to(dev).long()
    y_all = torch.from_numpy(splits.train.y[:, : nb * S]).to(dev).long()

    # 1-2. per-model timings: reference, and each fast engine alone
    engines = ("cudnn", "stacked")
    rows, t_ref, t_ref_eval = [], {}, {}
    t_fast = {e: {} for e in engines}
    steppers = {e: [] for e in engines}
    for size in sizes:
        for L in depths:
            for cell in CELLS:
                cfg = train.TrainConfig(**base, cell=cell, layers=L, size=size)
                H = fast.resolved_hidden(cfg, K)
                tr, te = time_reference(cfg, K, x_all, y_all, splits.val, dev, steps, warmup)
                t_ref[(cell, L, size)], t_ref_eval[(cell, L, size)] = tr, te
                row = {"model": f"{cell}-{L}-{size}", "hidden": H, "params": models.n_params(cell, L, H, K),
                       "ref_ms": 1e3 * tr, "ref_eval_ms": 1e3 * te}
                for e in engines:
                    if time.perf_counter() - t_all > args.budget_s:
                        row[f"{e}_error"] = "skipped: time budget"
                        continue
                    try:
                        torch.backends.cuda.matmul.allow_tf32 = args.tf32  # fast paths only
                        st = make_stepper([cfg], K, dev, graphs, e)
                        tf, setup = time_fast_solo(st, x_all, y_all, S, dev, steps, warmup)
                        row.update({f"{e}_ms": 1e3 * tf, f"{e}_setup_s": setup})
                        steppers[e].append(st)
                        t_fast[e][(cell, L, size)] = tf
                    except Exception as exc:  # noqa: BLE001 -- reported, the benchmark goes on
                        row[f"{e}_error"] = repr(exc)[:300]
                    finally:
                        torch.backends.cuda.matmul.allow_tf32 = False
                rows.append(row)
                print(f"  {row['model']:<12} H={H:<4} ms/step: reference {row['ref_ms']:8.2f}   cudnn alone "
                      f"{row.get('cudnn_ms', float('nan')):8.2f}   stacked alone "
                      f"{row.get('stacked_ms', float('nan')):8.2f}",
                      flush=True)

    # 2b. concurrency: every measured model at once, n streams at a time (as run_fast runs groups)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    conc = []
    for e in engines:
        if len(steppers[e]) != len(t_ref):
            conc.append({"engine": e, "error": "some models failed alone; not run concurrently"})
            continue
        for n in stream_counts:
            if time.perf_counter() - t_all > args.budget_s and any(c["engine"] == e for c in conc):
                conc.append({"engine": e, "streams": n, "error": "skipped: time budget"})
                continue
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            try:
                wall = time_concurrent(steppers[e], x_all, y_all, S, dev, steps, n)
                solo_sum = sum(t_fast[e].values()) * steps
                ref_sum = sum(t_ref.values()) * steps
                c = {"engine": e, "streams": n, "models": len(steppers[e]), "steps_each": steps, "wall_s": wall,
                     "solo_sum_s": solo_sum, "speedup_vs_alone": solo_sum / wall, "ref_sum_s": ref_sum,
                     "speedup_vs_reference": ref_sum / wall}
            except Exception as exc:  # noqa: BLE001
                c = {"engine": e, "streams": n, "error": repr(exc)[:300]}
            c["peak_mem_gb"] = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else None
            conc.append(c)
            print(f"  concurrent {e:<8} {n:>2} streams: "
                  + (f"{c['wall_s']:.2f} s, {c['speedup_vs_alone']:.2f}x vs alone, "
                  f"{c['speedup_vs_reference']:.2f}x vs reference" if "error" not in c else c["error"]), flush=True)
    del steppers
    torch.backends.cuda.matmul.allow_tf32 = False

    best_streams = {}
    for e in engines:
        ok = [c for c in conc if c["engine"] == e and "error" not in c]
        if ok:
            best_streams[e] = max(ok, key=lambda c: c["speedup_vs_alone"])

    # 4. equivalence
    eq = []
    if not args.skip_equivalence:
        eq_sizes = (sizes[0], sizes[-1]) if len(sizes) > 1 else (sizes[0],)
        n_eq = max((c["streams"] for c in best_streams.values()), default=stream_counts[0])
        try:
            eq = equivalence(base, eq_sizes, eq_steps, dev, graphs, n_eq, tf32=args.tf32)
        except Exception as exc:  # noqa: BLE001
            eq = [{"error": repr(exc)[:500]}]

    # 2c. stacking: 3 same-shape models (the dropout variants of one grid model) in one stack, and
    # models of different widths zero-padded into one stack (fast.make_groups(pad_ratio=...))
    stack_rows = []
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    cell0, L0 = "lstm", depths[0]
    stack_sets = [(f"{cell0}-{L0}-{size} x3 (dropout 0/.25/.5)",
                   [train.TrainConfig(**base, cell=cell0, layers=L0, size=size, dropout=p) for p in (0.0, 0.25, 0.5)],
                   3 * t_fast["stacked"].get((cell0, L0, size), float("nan")))
                  for size in sorted({sizes[0], sizes[-1]})]
    for group in ([sizes[0], sizes[1]], sizes if len(sizes) > 2 else []):
        if len(group) > 1:
            stack_sets.append((f"{cell0}-{L0}-{{{','.join(map(str, group))}}} padded",
                               [train.TrainConfig(**base, cell=cell0, layers=L0, size=sz) for sz in group],
                               sum(t_fast["stacked"].get((cell0, L0, sz), float("nan")) for sz in group)))
    for name, cfgs, alone in stack_sets:
        if time.perf_counter() - t_all > args.budget_s:
            stack_rows.append({"model": name, "error": "skipped: time budget"})
            continue
        try:
            st = make_stepper(cfgs, K, dev, graphs)
            t, _ = time_fast_solo(st, x_all, y_all, S, dev, steps, warmup)
            stack_rows.append({"model": name, "H": st.stack.H, "stack_ms": 1e3 * t,
                               "members_alone_sum_ms": 1e3 * alone, "speedup": alone / t})
            del st
        except Exception as exc:  # noqa: BLE001
            stack_rows.append({"model": name, "error": repr(exc)[:300]})
    torch.backends.cuda.matmul.allow_tf32 = False

    # 3. projection of the full paper grid; each engine at its best measured stream count
    gs = grid_steps(100, 100, 50)
    variants, variants_from = paper_variants()
    ratios = {}  # measured cost of a step of 3 stacked same-shape runs / one run alone, by size
    for r in stack_rows:
        if "x3" in r["model"] and "error" not in r and math.isfinite(r["speedup"]):
            ratios[int(r["model"].split(" ")[0].split("-")[-1])] = 3.0 / r["speedup"]

    def stack_cost(n, size):
        if n == 1:
            return 1.0
        if not ratios:
            return float(n)  # unmeasured: no gain assumed
        near = min(ratios, key=lambda s0: abs(math.log(s0 / size)))
        return 1.0 + (n - 1) * (ratios[near] - 1.0) / 2.0  # linear between 1 run (1.0) and 3 runs (ratio)

    proj = {"reference": {**project(t_ref, t_ref_eval, gs, variants), "streams": 1}}
    for e in engines:
        best = best_streams.get(e)
        if best is None or len(t_fast[e]) != len(t_ref):
            proj[e] = {"error": "not measured"}
            continue
        proj[e] = {**project(t_fast[e], t_ref_eval, gs, variants, best["speedup_vs_alone"],
                             stack_cost if e == "stacked" else None),
                   "streams": best["streams"], "peak_mem_gb": best["peak_mem_gb"]}
    if all("error" not in proj[e] for e in engines):
        proj["auto"] = {**project_auto(t_fast["cudnn"], t_fast["stacked"], t_ref_eval, gs, variants,
                                       best_streams["cudnn"]["speedup_vs_alone"],
                                       best_streams["stacked"]["speedup_vs_alone"], stack_cost),
                        "streams": max(proj["cudnn"]["streams"], proj["stacked"]["streams"])}
    fastest = min((k for k in proj if k != "reference" and "error" not in proj[k]), key=lambda k: proj[k]["wall_s"],
                  default=None)

    # table
    print()
    print(f"{'model':<12} {'H':>4} {'params':>9} {'ref ms/step':>12} {'cudnn alone':>12} {'stacked alone':>14} "
          f"{'ref eval ms':>12}")
    for r in rows:
        print(f"{r['model']:<12} {r['hidden']:>4} {r['params']:>9,} {r['ref_ms']:>12.2f} "
              f"{r.get('cudnn_ms', float('nan')):>12.2f} {r.get('stacked_ms', float('nan')):>14.2f} "
              f"{r['ref_eval_ms']:>12.2f}")
    print()
    for c in conc:
        if "error" in c:
            print(f"concurrent {c['engine']} {c.get('streams', '')}: {c['error']}")
        else:
            mem = f"{c['peak_mem_gb']:.2f} GB" if c["peak_mem_gb"] is not None else "n/a"
            print(f"concurrent {c['engine']:<8} {c['streams']:>2} streams ({c['models']} models x {steps} steps): "
                  f"{c['wall_s']:.2f} s wall, {c['speedup_vs_alone']:.2f}x vs alone, "
                  f"{c['speedup_vs_reference']:.2f}x vs reference, peak {mem}")
    for r in stack_rows:
        if "error" in r:
            print(f"stack {r['model']}: {r['error']}")
        else:
            print(f"stack {r['model']:<34} H={r['H']:<4} {r['stack_ms']:8.2f} ms/step vs "
                  f"{r['members_alone_sum_ms']:8.2f} ms for its members alone, one after another ({r['speedup']:.2f}x)")
    print(f"\nprojected paper grid ({proj['reference']['runs']} runs: 36 models x wp, lk x dropout values "
          f"{variants} from {variants_from}; 50 epochs, wp {gs['wp']['steps']} + lk {gs['lk']['steps']} steps per run):")
    for k, p in proj.items():
        if "error" in p:
            print(f"  {k:<10} {p['error']}")
        else:
            print(f"  {k:<10} {p['streams']:>2} streams: {p['wall_s'] / 60:9.1f} min  (longest single job "
                  f"{p['longest_job_s'] / 60:.1f} min)")
    if eq:
        print("\nequivalence (best val loss after a fixed short schedule, |diff| <= 0.01):")
        for r in eq:
            if "ref_val" in r:
                print(f"  {r['engine']:<8} {r['model']:<12} ref {r['ref_val']:.5f} fast {r['fast_val']:.5f} "
                      f"diff {r['abs_diff']:.2e} {'ok' if r['ok'] else 'FAIL ' + r['fast_error'][:200]}")
            else:
                print("  ", r)
    eq_ok = bool(eq) and all(r.get("ok", True) for r in eq) and not any("error" in r for r in eq)
    peaks = [c["peak_mem_gb"] for c in conc if c.get("peak_mem_gb") is not None]
    result = {
        "label": label, "dry_run": tiny,
        "note": ("CPU dry run with tiny shapes: exercises every code path; NOT GPU numbers" if tiny
                 else "measured on the device named here"),
        "device": dev_name, "torch": torch.__version__, "python": platform.python_version(), "standins": STANDINS,
        "shapes": {"B": B, "S": S, "K": K, "sizes": sizes, "depths": depths, "steps": steps, "warmup": warmup},
        "graphs": graphs, "tf32_fast_paths": args.tf32,
        "flags": {"cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                  "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32},
        "rows": rows, "concurrent": conc, "stacking": stack_rows,
        "grid_steps": gs, "grid_variants": variants, "grid_variants_from": variants_from,
        "stack3_cost_ratio": ratios, "projection": proj, "fastest": fastest,
        "targets_min": {"goal": 30, "stretch": 10}, "memory_limit_gb": MEM_LIMIT_GB,
        "peak_mem_gb": max(peaks) if peaks else None,
        "memory_ok": (max(peaks) <= MEM_LIMIT_GB) if peaks else None,
        "equivalence": eq, "equivalence_ok": eq_ok, "wall_s": time.perf_counter() - t_all,
    }
    if fastest:
        w = proj[fastest]["wall_s"] / 60
        result["verdict"] = {"fastest": fastest, "projected_min": w, "meets_30_min": w <= 30, "meets_10_min": w <= 10,
                             "speedup_vs_reference": proj["reference"]["wall_s"] / proj[fastest]["wall_s"],
                             "memory_ok": result["memory_ok"], "equivalence_ok": eq_ok}
        print(f"\nverdict: fastest = {fastest} at {w:.1f} min projected "
              f"({result['verdict']['speedup_vs_reference']:.1f}x the sequential reference); goal 30 min "
              f"{'met' if w <= 30 else 'NOT met'}, stretch 10 min {'met' if w <= 10 else 'not met'}; "
              f"peak memory {result['peak_mem_gb']} GB; equivalence {'ok' if eq_ok else 'FAILED'}"
              + ("  [CPU dry run: not GPU numbers]" if tiny else ""))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"\nwrote {out_path} ({result['wall_s']:.0f} s)")
    return 0 if eq_ok or args.skip_equivalence else 1


if __name__ == "__main__":
    sys.exit(main())
