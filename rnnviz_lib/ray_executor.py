"""The grid on a Ray cluster: one Ray task per run, registered as ``grid``'s ``"ray"`` executor.

API::

    results = executors.run(configs, executor="ray")            # local Ray, or $RAY_ADDRESS if set
    results = run_ray(configs, store, address="auto")      # join a running cluster
    refs = submit(configs, store); results = collect(configs, refs)   # the two halves, for control

CLI: ``rnnviz grid --profile P --executor ray [--address ADDR]``.

Ray is an optional extra (``pip install "rnnviz[ray]"``); it is imported only when a Ray run is
asked for, and a missing Ray is an ``RnnvizError`` that says how to install it.

Resources. Each run is a task declaring what it uses: on the CPU, one core (``torch`` gets that
many threads); on CUDA, a fraction of a GPU from the grid row (``gpu_fraction``: size/512, at
least 1/4, so four 64/128-row models share a GPU and a 512-row model has one to itself) and one
core. A config's ``device`` decides: ``cpu`` → CPU task, ``cuda`` → GPU task, ``auto`` → GPU
task when the cluster has GPUs, else CPU. The task's config gets the concrete device (the
device is not part of a run's identity, so the run directory is the same either way).

Store. Tasks write into the driver's artifact store (``Store().root``: ``$RNNVIZ_HOME`` or the
working directory), by absolute path, and read corpora from the driver's ``$RNNVIZ_DATA_DIR``.
On a multi-node cluster both must be one shared filesystem mounted at the same path on every
node; a task on a node that lacks the store root fails with a message saying so (it never
writes a private copy).

Faults. A finished run is skipped, as in local mode: the driver skips it before starting Ray (a
rerun of a finished grid starts no Ray at all), and a task checks again (``executors.run_one``). A
killed worker leaves its run with its last atomic checkpoint: Ray retries the task ``max_retries`` times (default 2)
and the retry resumes from that checkpoint; a run that still ends without a result is reported
``"failed"`` and rerunning the same grid command resumes it, skipping finished runs.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from rnnviz_lib import executors, train
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "rnnviz[ray]" (or pip install "ray[default]>=2.9")'
DEFAULT_MAX_RETRIES = 2
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2  # results are small dicts; keep a local Ray light


def import_ray():
    """``ray``, or an RnnvizError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise RnnvizError(f"the ray executor needs Ray, which is not installed; install it with {INSTALL_HINT}, "
                          "or use --executor local") from None
    return ray


def gpu_fraction(config: train.TrainConfig) -> float:
    """Share of one GPU a run declares: its grid row / 512, at least 1/4 and at most 1.

    The row (``size``) is the model's parameter budget, so this scales with model size:
    64 → 0.25, 128 → 0.25, 256 → 0.5, 512 → 1.0.
    """
    return min(1.0, max(0.25, int(config.size) / 512))


def task_resources(config: train.TrainConfig, cluster_gpus: float) -> tuple[dict, str]:
    """Ray resources of one run and the device its task trains on.

    Returns
    -------
    resources : {"num_cpus": ..., "num_gpus": ...} for ``.options()``
    device : "cuda" or "cpu"
    """
    if config.device == "cuda" and cluster_gpus <= 0:
        raise RnnvizError(f"{config.slug} asks for --device cuda, but the Ray cluster has no GPU; "
                          "use --device cpu or auto, or join a cluster with GPUs (--address)")
    if config.device == "cuda" or (config.device == "auto" and cluster_gpus > 0):
        return {"num_cpus": 1, "num_gpus": gpu_fraction(config)}, "cuda"
    return {"num_cpus": 1, "num_gpus": 0}, "cpu"


def _train_task(config: train.TrainConfig, root: str, env: dict, threads: int, log_level: int,
                shipped: str | bool = False) -> dict:
    """Body of one Ray task: train (or skip, or resume) one run into the shared store; ``shipped``:
    the driver store's shipped-runs folder, or False when it reads none."""
    import socket

    import torch

    # the driver's verbosity; Ray forwards the worker's stderr to the driver, prefixed by worker
    logging.basicConfig(level=log_level, format="%(name)s %(levelname)s: %(message)s")
    logging.getLogger("rnnviz_lib").setLevel(log_level)
    for k, v in env.items():  # the driver's data location; workers are reused, so set each time
        os.environ[k] = v
    torch.set_num_threads(max(1, threads))
    if not Path(root).is_dir():
        d = train.run_dir(config, Store(root), create=False)
        return {"config": config, "run_dir": str(d), "status": "failed", "seconds": 0.0,
                "error": f"the artifact store {root} does not exist on node {socket.gethostname()}; the ray "
                         "executor needs RNNVIZ_HOME on a filesystem shared by every node, at the same path"}
    res = executors.run_one(config, Store(root, shipped=shipped if shipped and Path(shipped).is_dir() else False))
    res["node"] = socket.gethostname()
    return res


def submit(configs, store: Store, max_retries: int = DEFAULT_MAX_RETRIES) -> list:
    """Start one Ray task per config (Ray must be initialised); returns their ObjectRefs in order."""
    ray = import_ray()
    if not ray.is_initialized():
        raise RnnvizError("Ray is not initialised; call ray_executor.run_ray (or ray.init) first")
    gpus = float(ray.cluster_resources().get("GPU", 0))
    store.root.mkdir(parents=True, exist_ok=True)  # tasks check that they see it (a shared filesystem)
    env = {k: os.environ[k] for k in ("RNNVIZ_DATA_DIR",) if os.environ.get(k)}
    env["RNNVIZ_HOME"] = str(store.root)
    remote = ray.remote(_train_task)
    plan = [(cfg, *task_resources(cfg, gpus)) for cfg in configs]  # every config checked before any starts
    refs = []
    for cfg, res, device in plan:
        task = remote.options(name=f"rnnviz:{cfg.slug}", max_retries=max_retries, **res)
        refs.append(task.remote(cfg.replace(device=device), str(store.root), env, int(res["num_cpus"]),
                                logging.getLogger("rnnviz_lib").getEffectiveLevel(),
                                str(store.shipped_root) if store.shipped_root is not None else False))
    log.info("submitted %d runs to Ray (%s GPU(s) in the cluster)", len(refs), gpus)
    return refs


def _lost(config, store: Store, exc: Exception) -> dict:
    d = train.run_dir(config, store, create=False)
    kind = type(exc).__name__
    return {"config": config, "run_dir": str(d), "status": "failed", "seconds": 0.0,
            "error": f"the Ray task of {config.slug} ended without a result ({kind}); its last checkpoint is "
                     f"kept in {d}: rerun the grid command to resume it"}


def collect(configs, refs, store: Store, keep_going: bool = True) -> list[dict]:
    """Wait for the tasks of ``submit``; results in the order of ``configs``.

    A task whose worker died (killed, cancelled, node lost) gives a ``"failed"`` result. With
    ``keep_going=False`` the first failure cancels the other tasks and raises RnnvizError.
    """
    ray = import_ray()
    from tqdm.auto import tqdm

    configs = list(configs)
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[dict | None] = [None] * len(refs)
    pending = list(refs)
    bar = tqdm(total=len(refs), desc="grid (ray)", unit="run")
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            i = index[done[0]]
            try:
                res = ray.get(done[0])
            except ray.exceptions.RayTaskError as exc:  # the run raised something other than RnnvizError
                d = train.run_dir(configs[i], store, create=False)
                cause = getattr(exc, "cause", None) or exc
                res = {"config": configs[i], "run_dir": str(d), "status": "failed", "seconds": 0.0,
                       "error": f"{configs[i].slug} raised {type(cause).__name__}: {(str(cause).splitlines() or [''])[0]}"}
            except ray.exceptions.RayError as exc:  # worker died, task cancelled, node lost
                res = _lost(configs[i], store, exc)
            res["config"] = configs[i]  # the caller's config (its device as asked)
            results[i] = res
            bar.update(1)
            log.info("grid (ray) %d/%d %s: %s (%.0f s)", bar.n, len(refs), configs[i].slug, res["status"],
                     res["seconds"])
            if res["status"] == "failed":
                log.error("%s failed: %s", configs[i].slug, res["error"])
                if not keep_going:
                    for ref in pending:
                        ray.cancel(ref)
                    raise RnnvizError(res["error"])
    finally:
        bar.close()
    return results


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (RnnvizError) when ``HOST:PORT`` or ``ray://HOST:PORT`` takes no TCP connection;
    Ray itself retries an unreachable head for minutes. Other forms (``auto``) are left to Ray."""
    import socket

    hostport = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RnnvizError(f"no Ray head answers at {address} ({exc.strerror or type(exc).__name__}); check --address "
                          "(HOST:6379 for the head's GCS port, ray://HOST:10001 for Ray Client, or auto on a node)") from None


def run_ray(configs, store: Store | None = None, keep_going: bool = True, address: str | None = None,
            num_cpus: int | None = None, max_retries: int = DEFAULT_MAX_RETRIES) -> list[dict]:
    """Train every config as a Ray task; finished runs are skipped.

    Parameters
    ----------
    address : a running cluster ("auto", "ray://host:10001", "host:6379"); default
        ``$RNNVIZ_RAY_ADDRESS``, then ``$RAY_ADDRESS``, else a local Ray started for this call
        (``num_cpus`` cores, default all of this machine's; no dashboard) and shut down after it.
        If Ray is already initialised in this process, it is used as is.
    max_retries : times Ray reruns a task whose worker died; each retry resumes from the checkpoint.
    """
    ray = import_ray()
    store = store or Store()
    configs = list(configs)
    results, todo = executors.skip_finished(configs, store)  # finished runs are skipped here, without starting Ray
    log.info("%d of %d runs are finished; %d to train", len(configs) - len(todo), len(configs), len(todo))
    if not todo:
        return results
    address = address or os.environ.get("RNNVIZ_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS") or None
    started = False
    if not ray.is_initialized():
        t0 = time.time()
        try:
            if address:
                check_reachable(address)
                ray.init(address=address, log_to_driver=True)
            else:
                ncpu = int(num_cpus or os.cpu_count() or 1)
                ray.init(num_cpus=ncpu, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise RnnvizError(f"could not start or join {where} ({(str(exc).splitlines() or [type(exc).__name__])[0]}); "
                              "check --address (e.g. auto on a cluster node, or ray://HEAD:10001)") from None
        started = True
        log.info("Ray %s in %.0f s: %s", "joined" if address else "started", time.time() - t0,
                 ray.cluster_resources())
    try:
        pending = [configs[i] for i in todo]
        for i, res in zip(todo, collect(pending, submit(pending, store, max_retries), store, keep_going)):
            results[i] = res
        return results
    finally:
        if started:
            ray.shutdown()

