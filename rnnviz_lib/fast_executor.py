"""The fast grid executor: groups of same-shape models (``fast.make_groups``) trained as one stacked
computation each (``fast.Stack``), several groups at once on a GPU.

API::

    results = run_fast(configs, store)            # executor contract of executors.run (executors.LAZY_EXECUTORS)
    results = run_fast(configs, store, streams=8, graphs=True, pad_ratio=2.0)   # on a GPU
    results = train_stack(configs, store)          # one group (make_groups) trained as one stack
    executors.run(configs, executor="fast")        # the same through the executors

Why and how the stacked computation agrees with the reference: ``fast``'s docstring.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import threading
import time

import torch

from rnnviz_lib import executors, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.fast import make_groups, make_stepper, pick_engine
from rnnviz_lib.store import Store

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------
# Training a group
# ----------------------------------------------------------------------------------------
def train_stack(configs, store: Store | None = None, graphs: bool = False, tf32: bool = False,
                on_step=None, engine: str = "stacked") -> list[dict]:
    """Train a group of same-shape configs (``make_groups``) together; one result per config.

    ``engine``: ``stacked`` (the batched cells, ``Stack``), ``cudnn`` (the fused module, one
    model only) or ``auto`` (``pick_engine``). The loop, the run files and resuming are
    ``train.train_group``'s; ``on_step(step, model)`` is its hook (``model`` None for a stack).

    Finished runs are skipped. A run with a checkpoint resumes stacked when every unfinished
    member stopped at the same step; otherwise each is handed to ``executors.run_one`` (reference).
    """
    store = store or Store()
    configs = list(configs)
    results: dict[int, dict] = {}
    t_start = time.time()

    def result(i, status, error=""):
        results[i] = {"config": configs[i], "run_dir": str(train.run_dir(configs[i], store)), "status": status,
                      "error": error, "seconds": time.time() - t_start}

    todo = []
    for i, cfg in enumerate(configs):
        if train.is_finished(train.run_dir(cfg, store)):
            result(i, "skipped")
        else:
            todo.append(i)
    if len({train.checkpoint_step(configs[i], store) for i in todo}) > 1:  # members at different points
        for i in todo:
            results[i] = executors.run_one(configs[i], store)
        todo = []
    if not todo:
        return [results[i] for i in range(len(configs))]
    cfgs = [configs[i] for i in todo]
    engine = pick_engine(engine, len(cfgs))
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
    try:
        progress = train.train_group(cfgs, lambda nets, device: make_stepper(nets, cfgs[0], device, engine, graphs),
                                     store, on_step)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    for i, p in zip(todo, progress):
        result(i, "failed" if p.error else ("paused" if p.stopped == "paused" else "done"), p.error)
    return [results[i] for i in range(len(configs))]


# ----------------------------------------------------------------------------------------
# The executor
# ----------------------------------------------------------------------------------------
ENV_OPTIONS = {"streams": int, "graphs": lambda v: v.lower() in ("1", "true", "yes", "on"),
               "tf32": lambda v: v.lower() in ("1", "true", "yes", "on"), "max_stack": int, "engine": str,
               "pad_ratio": float}


def env_options(text: str | None = None) -> dict:
    """``run_fast`` options from ``$RNNVIZ_FAST`` (e.g. ``streams=8,engine=stacked,pad_ratio=2``),
    so ``rnnviz grid --executor fast`` can be tuned without code."""
    text = os.environ.get("RNNVIZ_FAST", "") if text is None else text
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, val = item.partition("=")
        if key not in ENV_OPTIONS or not val:
            raise RnnvizError(f"bad RNNVIZ_FAST item {item!r}: write key=value with key in {', '.join(ENV_OPTIONS)}")
        try:
            out[key] = ENV_OPTIONS[key](val)
        except ValueError:
            raise RnnvizError(f"bad value in RNNVIZ_FAST item {item!r}") from None
    return out


def run_fast(configs, store: Store | None = None, keep_going: bool = True, streams: int | None = None,
             graphs: bool | None = None, tf32: bool | None = None, max_stack: int | None = None,
             engine: str | None = None, pad_ratio: float | None = None) -> list[dict]:
    """Executor ``fn(configs, store, keep_going) -> list[result]`` (see ``grid``): same-shape
    configs are stacked (``make_groups``); on CUDA, ``streams`` groups run at once (default 4),
    each in its own thread and CUDA stream, with CUDA-graph steps (``graphs``, default on CUDA).
    ``engine`` picks how a group trains (``pick_engine``: by default the fused cuDNN module for
    a lone model, the stacked cells for several); ``pad_ratio`` > 1 also stacks models of
    different widths (``make_groups``). Options left None come from ``$RNNVIZ_FAST``
    (``env_options``), else the defaults. Results come back in the order of ``configs``."""
    env = env_options()
    streams = env.get("streams", 0) if streams is None else streams
    tf32 = env.get("tf32", False) if tf32 is None else tf32
    max_stack = env.get("max_stack", 0) if max_stack is None else max_stack
    engine = env.get("engine", "auto") if engine is None else engine
    pad_ratio = env.get("pad_ratio", 1.0) if pad_ratio is None else pad_ratio
    graphs = env.get("graphs") if graphs is None else graphs
    pick_engine(engine, 1)  # a bad name fails before any work
    if not torch.cuda.is_initialized():  # hardware queues for the concurrent streams
        os.environ.setdefault("CUDA_DEVICE_MAX_CONNECTIONS", "32")
    store = store or Store()
    configs = list(configs)
    groups = make_groups(configs, store, max_stack, pad_ratio)
    cuda = any(train.resolve_device(g[0].device).type == "cuda" for g in groups)
    graphs = cuda if graphs is None else bool(graphs)
    n_par = (streams or 4) if cuda else 1
    log.info("fast executor: %d configs in %d stacked groups, %d at once%s", len(configs), len(groups), n_par,
             ", CUDA graphs" if graphs and cuda else "")
    by_id: dict[int, dict] = {}
    stop = threading.Event()

    def failed(group, error):
        return [{"config": c, "run_dir": str(train.run_dir(c, store)), "status": "failed", "error": error,
                 "seconds": 0.0} for c in group]

    def work(group):
        if stop.is_set():
            return failed(group, "not run: an earlier run failed (--stop-on-error)")
        try:
            if cuda and n_par > 1:
                with torch.cuda.stream(torch.cuda.Stream()):
                    res = train_stack(group, store, graphs, tf32, engine=engine)
                    torch.cuda.current_stream().synchronize()
            else:
                res = train_stack(group, store, graphs, tf32, engine=engine)
        except RnnvizError as exc:
            res = failed(group, str(exc))
        except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:  # one group's crash must not stop the others
            log.exception("stack %s failed", ", ".join(c.slug for c in group))
            res = failed(group, f"{type(exc).__name__}: {str(exc)[:300]}; rerun the grid to resume it "
                                "(lower RNNVIZ_FAST streams= if the GPU ran out of memory)")
        if not keep_going and any(r["status"] == "failed" for r in res):
            stop.set()
        return res

    if n_par > 1:
        with cf.ThreadPoolExecutor(n_par) as pool:
            # biggest groups first so the long ones start early
            order = sorted(groups, key=lambda g: -_cost(g))
            for res in pool.map(work, order):
                for r in res:
                    by_id[id(r["config"])] = r
    else:
        for g in groups:
            for r in work(g):
                by_id[id(r["config"])] = r
    results = [by_id[id(c)] for c in configs]
    bad = [r for r in results if r["status"] == "failed"]
    if bad and not keep_going:
        raise RnnvizError(bad[0]["error"])
    return results


def _cost(group) -> float:
    c = group[0]
    return len(group) * c.layers * c.size ** 2 * c.epochs
