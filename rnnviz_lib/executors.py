"""Executors: how a list of TrainConfigs is trained (finished runs are skipped).

API::

    results = run(configs, executor="local")       # or "processes", "fast", "ray", or a registered one
    run_one(config, store)                         # one config; never raises for a failed run

``run(configs, executor=name)`` looks ``name`` up with ``get_executor``: ``EXECUTORS``, a dict of
``name -> fn(configs, store, keep_going) -> list[result]``, then ``LAZY_EXECUTORS`` (modules
imported on first use, whatever was imported before); ``register_executor`` adds one (a Ray or
concurrent-GPU executor calls ``run_one`` per config). Built in: ``local`` (one run after
another), ``processes`` (one run per CPU core, ``run_processes``), ``ray`` (``ray_executor``) and
``fast`` (``fast_executor``). A result is a dict with ``config``, ``run_dir``, ``status`` ("done",
"skipped" or "failed"), ``error`` and ``seconds``.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable

from rnnviz_lib import data, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

log = logging.getLogger(__name__)


def run_one(config: train.TrainConfig, store: Store | None = None) -> dict:
    """Train one config; never raises for a failed run (the result says why)."""
    store = store or Store()
    t0 = time.time()
    d = train.run_dir(config, store)
    if train.is_finished(d):
        why = train.corpus_mismatch(d, config, store)
        return {"config": config, "run_dir": str(d), "status": "failed" if why else "skipped", "error": why or "",
                "seconds": 0.0}
    try:
        d = train.train_run(config, store)
        status = "done" if train.is_finished(d) else "paused"  # until_epoch: a screening, unfinished
        return {"config": config, "run_dir": str(d), "status": status, "error": "", "seconds": time.time() - t0}
    except RnnvizError as exc:
        log.error("%s failed: %s", config.slug, exc)
        return {"config": config, "run_dir": str(d), "status": "failed", "error": str(exc),
                "seconds": time.time() - t0}


def run_local(configs, store: Store, keep_going: bool = True) -> list[dict]:
    """One run after another in this process, with an overall progress bar."""
    from tqdm.auto import tqdm

    results = []
    bar = tqdm(configs, desc="grid", unit="run")
    for cfg in bar:
        bar.set_postfix_str(cfg.slug)
        res = run_one(cfg, store)
        results.append(res)
        log.info("grid %d/%d %s: %s (%.0f s)", len(results), len(configs), cfg.slug, res["status"], res["seconds"])
        if res["status"] == "failed" and not keep_going:
            raise RnnvizError(res["error"])
    return results


def _process_task(config: train.TrainConfig, store: Store, log_level: int) -> dict:
    """One run in a worker process of ``run_processes`` (module level, so it can be pickled)."""
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    res = run_one(config, store)
    return {**res, "config": None}  # the parent keeps its own config object


def _process_entry(task: Callable, config, store: Store, log_level: int, conn) -> None:
    """Worker process body: run ``task`` and send its result (or the exception's text) back."""
    try:
        conn.send(("ok", task(config, store, log_level)))
    except BaseException as exc:  # noqa: BLE001  reported by the parent as a failed run
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (taskset, cgroups)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def skip_finished(configs, store: Store) -> tuple[list[dict | None], list[int]]:
    """An executor's first step: a "skipped" result for each finished run, and the indices of the
    runs left to train."""
    results: list[dict | None] = [None] * len(configs)
    todo = []
    corpora = {}  # each dataset's corpus read once, for the corpus check of its finished runs

    def corpus_of(c):
        key = (c.dataset, c.data_dir)
        if key not in corpora:
            corpora[key] = data.load_corpus(c.dataset, c.data_dir or None, store=store, download_ok=False)
        return corpora[key]

    for i, cfg in enumerate(configs):
        d = train.run_dir(cfg, store, create=False)
        if train.is_finished(d):
            why = train.corpus_mismatch(d, cfg, store, lambda c=cfg: corpus_of(c))  # a run of other text is refused
            results[i] = {"config": cfg, "run_dir": str(d), "status": "failed" if why else "skipped",
                          "error": why or "", "seconds": 0.0}
        else:
            todo.append(i)
    return results, todo


def run_processes(configs, store: Store, keep_going: bool = True, workers: int | None = None,
                  task: Callable | None = None) -> list[dict]:
    """Several runs at once on one machine's CPU cores, each run in its own worker process.

    ``workers`` defaults to ``$RNNVIZ_WORKERS``, else the number of usable cores; each run that
    does not set ``threads`` gets ``cores // workers`` torch threads (small models scale poorly
    across threads, so a core per run is the faster use of a CPU). Results are bit-identical to
    ``local`` with the same thread count. Finished runs are skipped without starting a process.
    A worker that dies (killed, out of memory) fails only its own run, which resumes from its
    checkpoint next time; with ``keep_going=False`` the first failure stops the other workers
    at once (their runs resume too). ``task`` replaces the per-run function (tests).
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    from tqdm.auto import tqdm

    configs = list(configs)
    task = task or _process_task
    cores = _cpu_count()
    workers = int(workers or os.environ.get("RNNVIZ_WORKERS") or cores)
    if workers < 1:
        raise RnnvizError(f"the process executor needs at least one worker (got {workers}); set RNNVIZ_WORKERS >= 1")
    results, todo = skip_finished(configs, store)
    if not todo:
        return results
    workers = min(workers, len(todo))
    threads = max(1, cores // workers)
    log.info("%d runs on %d worker processes, %d torch thread(s) each", len(todo), workers, threads)
    ctx = mp.get_context("spawn")  # not fork: a forked copy of a process running torch threads can deadlock
    level = logging.getLogger().level
    running: dict = {}  # process sentinel -> (index, process, receiving end, start time)
    bar = tqdm(total=len(todo), desc="grid", unit="run")

    def failed(i: int, why: str, t0: float) -> dict:
        return {"config": configs[i], "run_dir": str(train.run_dir(configs[i], store, create=False)),
                "status": "failed", "error": why, "seconds": time.time() - t0}

    try:
        queue = list(todo)
        while queue or running:
            while queue and len(running) < workers:
                i = queue.pop(0)
                cfg = configs[i] if configs[i].threads > 0 else configs[i].replace(threads=threads)
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_process_entry, args=(task, cfg, store, level, send), daemon=True)
                proc.start()
                send.close()
                running[proc.sentinel] = (i, proc, recv, time.time())
            for sentinel in wait(list(running)):
                i, proc, recv, t0 = running.pop(sentinel)
                try:
                    msg = recv.recv() if recv.poll() else None
                except EOFError:  # the worker died before sending: its end of the pipe is closed, nothing in it
                    msg = None
                proc.join()
                recv.close()
                if msg is None:
                    res = failed(i, f"worker process died (exit code {proc.exitcode}); rerun to resume the run "
                                    "from its last checkpoint", t0)
                elif msg[0] == "error":
                    res = failed(i, f"worker process failed: {msg[1]}", t0)
                else:
                    res = {**msg[1], "config": configs[i]}
                results[i] = res
                bar.update(1)
                log.info("grid %s: %s (%.0f s)", configs[i].slug, res["status"], res["seconds"])
                if res["status"] == "failed" and not keep_going:
                    raise RnnvizError(f"{configs[i].slug}: {res['error']}")
    finally:
        bar.close()
        for _, proc, recv, _ in running.values():  # only after an error: stop the others, they resume later
            proc.terminate()
            proc.join()
            recv.close()
    return results


EXECUTORS: dict[str, Callable] = {"local": run_local, "processes": run_processes}
# Executors in modules of their own, imported when first asked for (Ray and the GPU stack stay
# unimported otherwise): name -> (module, function). No module registers itself on import.
LAZY_EXECUTORS: dict[str, tuple[str, str]] = {"fast": ("rnnviz_lib.fast_executor", "run_fast"),
                                              "ray": ("rnnviz_lib.ray_executor", "run_ray")}


def register_executor(name: str, fn: Callable) -> None:
    """Add an executor ``fn(configs, store, keep_going) -> list[result]`` under ``name``."""
    EXECUTORS[name] = fn


def executor_names() -> list[str]:
    return sorted(set(EXECUTORS) | set(LAZY_EXECUTORS))


def get_executor(name: str) -> Callable:
    """The executor called ``name`` (built in, registered, or loaded from its module now)."""
    if name in EXECUTORS:
        return EXECUTORS[name]
    if name in LAZY_EXECUTORS:
        import importlib

        module, attr = LAZY_EXECUTORS[name]
        return getattr(importlib.import_module(module), attr)
    raise RnnvizError(f"unknown executor {name!r}: use one of {', '.join(executor_names())}")


def run(configs, executor: str = "local", store: Store | None = None, keep_going: bool = True) -> list[dict]:
    """Train every config with the named executor; finished runs are skipped."""
    fn = get_executor(executor)
    store = store or Store()
    t0 = time.time()
    results = fn(list(configs), store, keep_going)
    counts = dict(collections.Counter(r["status"] for r in results))
    log.info("grid finished in %.0f s: %s", time.time() - t0, counts)
    return results
