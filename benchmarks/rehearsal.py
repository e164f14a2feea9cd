"""Rehearse a profile at its full shapes on the CPU and record each notebook's time and peak memory.

    python benchmarks/rehearsal.py --profile paper --home /tmp/rehearse   # -> benchmarks/results/rehearsal-cpu.json

Runs ``rnnviz report --profile <profile> --rehearse`` one notebook at a time (the profile
``<profile>-rehearse`` of ``rehearsal.rehearse_profile``: every grid run and n-NN trained a few steps,
then every notebook with the profile's own settings) and, while each runs, samples every process
below this one (the notebook's kernel and anything it starts). A process's peak resident memory is
its ``VmHWM`` (the kernel's own high-water mark, so no spike between two samples is missed); a
notebook's peak is the largest single process and, separately, the largest sum over processes
alive at one sample. Prints a table and writes JSON; stops at the first failing notebook.

``--home`` is the project root to rehearse in (default ``$RNNVIZ_HOME``): a fresh folder gets the
repository's notebooks and the prepared corpora of ``--data-from`` (default ``$RNNVIZ_HOME``'s ``data/``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rnnviz_lib import pipeline  # noqa: E402
from rnnviz_lib.commands.report import rehearsal_name  # noqa: E402
from rnnviz_lib.rehearsal import REHEARSE_TEST_BATCHES_ENV  # noqa: E402
from rnnviz_lib.errors import RnnvizError  # noqa: E402
from rnnviz_lib.store import atomic_path, atomic_write_json  # noqa: E402

GB = 1024**3


def _hwm(proc: psutil.Process) -> int:
    """Peak resident bytes of a process so far (VmHWM), or its current RSS where /proc has none."""
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return proc.memory_info().rss
    except (OSError, psutil.Error):
        return 0


class Sampler(threading.Thread):
    """Polls this process's descendants every ``interval`` seconds."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.stop_ = interval, threading.Event()
        self.peak_proc, self.peak_sum, self.peak_cmd, self.pids = 0, 0, "", set()

    def run(self) -> None:
        me = psutil.Process()
        while not self.stop_.is_set():
            total = 0
            for p in me.children(recursive=True):
                hwm = _hwm(p)
                try:
                    rss = p.memory_info().rss
                    cmd = " ".join(p.cmdline()[:3])
                except psutil.Error:
                    continue
                self.pids.add(p.pid)
                total += rss
                if hwm > self.peak_proc:
                    self.peak_proc, self.peak_cmd = hwm, cmd
            self.peak_sum = max(self.peak_sum, total)
            self.stop_.wait(self.interval)

    def stop(self) -> None:
        self.stop_.set()
        self.join()


def prepare_home(home: Path, data_from: Path | None) -> None:
    """A project root with the repository's notebooks and (copied once) the prepared corpora."""
    home.mkdir(parents=True, exist_ok=True)
    nb = home / "notebooks"
    if nb.resolve() != (REPO / "notebooks").resolve():
        shutil.copytree(REPO / "notebooks", nb, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.ipynb"))
    if data_from is not None:
        for ds in ("wp", "lk"):
            src, dst = data_from / "data" / ds, home / "data" / ds
            if src.is_dir() and not dst.exists():
                shutil.copytree(src, dst)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper", help="the profile to rehearse (default paper)")
    ap.add_argument("--home", default=os.environ.get("RNNVIZ_HOME", ""), help="project root to rehearse in")
    ap.add_argument("--data-from", default=os.environ.get("RNNVIZ_HOME", ""),
                    help="project root whose data/wp and data/lk are copied into a fresh --home")
    ap.add_argument("--only", default="", help="comma-separated notebook stems (default all)")
    ap.add_argument("--test-batches", type=int, default=0,
                    help="cut every grid run's test pass to this many B x S batches (0: the whole test split, "
                         "as the profile; a number makes every analysis of test symbols smaller too)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "rehearsal-cpu.json"))
    ap.add_argument("--table", metavar="JSON", help="only print (and write beside it as .md) the table of a "
                                                    "rehearsal JSON written before")
    ap.add_argument("--keep", action="store_true",
                    help="keep the rows of notebooks not run now from --out (same profile and home): a rehearsal "
                         "run in parts, e.g. the grid first and the analyses after")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    if args.table:
        result = json.loads(Path(args.table).read_text())
        write_table(Path(args.table), result)
        print(table(result))
        return 0
    if not args.home:
        ap.error("give --home (or set RNNVIZ_HOME): the rehearsal writes a whole store there")
    home = Path(args.home).resolve()
    prepare_home(home, Path(args.data_from).resolve() if args.data_from else None)
    os.environ["RNNVIZ_HOME"] = str(home)
    os.environ[REHEARSE_TEST_BATCHES_ENV] = str(int(args.test_batches))  # the kernels derive the same profile
    name = rehearsal_name(args.profile)
    steps = pipeline.plan(name, home, [s for s in args.only.split(",") if s] or None)
    out = Path(args.out)
    result = {
        "profile": name, "rehearses": args.profile, "home": str(home),
        "command": f"python benchmarks/rehearsal.py --profile {args.profile}"
                   + (f" --only {args.only}" if args.only else "")
                   + (f" --test-batches {args.test_batches}" if args.test_batches else "")
                   + (" --keep" if args.keep else ""),
        "test_batches": int(args.test_batches),
        "machine": {"cpus": os.cpu_count(), "cpu_affinity": len(os.sched_getaffinity(0)),
                    "memory_gb": round(psutil.virtual_memory().total / GB, 1), "platform": platform.platform(),
                    "python": platform.python_version(), "load_at_start": os.getloadavg()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "notebooks": [],
    }
    kept = kept_rows(out, result, {s["stem"] for s in steps}) if args.keep else []
    order = [s["stem"] for s in pipeline.plan(name, home)]
    ran = []
    for step in steps:
        sampler = Sampler()
        sampler.start()
        t0, error = time.time(), None
        try:
            pipeline.run_report(name, home, only=[step["stem"]])
        except RnnvizError as exc:
            error = str(exc)
        finally:
            sampler.stop()
        row = {"notebook": step["stem"], "ok": error is None, "error": error, "seconds": round(time.time() - t0, 1),
               "peak_rss_gb": round(sampler.peak_proc / GB, 3), "peak_rss_sum_gb": round(sampler.peak_sum / GB, 3),
               "peak_process": sampler.peak_cmd, "processes": len(sampler.pids), "parameters": step["parameters"],
               "load_at_end": [round(x, 2) for x in os.getloadavg()]}  # other work on the machine shows here
        ran.append(row)
        result["notebooks"] = sorted(kept + ran, key=lambda r: order.index(r["notebook"]))
        result["total_seconds"] = round(sum(r["seconds"] for r in result["notebooks"]), 1)
        result["finished"] = all(r["ok"] for r in result["notebooks"]) and len(result["notebooks"]) == len(order)
        write_results(out, result)  # after every notebook: a stopped rehearsal keeps what it measured
        print(f"{row['notebook']:<18} {'ok' if row['ok'] else 'FAILED':<6} {row['seconds']:>8.0f} s "
              f"{row['peak_rss_gb']:>7.2f} GB", flush=True)
        if error:
            print(f"stopped: {error}", file=sys.stderr)
            break
    print(table(result))
    return 0 if result["finished"] else 1


def kept_rows(out: Path, result: dict, rerun: set) -> list:
    """The rows of an earlier part of the same rehearsal (``--keep``), less the notebooks run again;
    that part's command and machine are kept beside this one's under ``parts``."""
    if not out.is_file():
        return []
    old = json.loads(out.read_text())
    if (old.get("profile"), old.get("home")) != (result["profile"], result["home"]):
        raise SystemExit(f"{out} is the rehearsal of {old.get('profile')} in {old.get('home')}, not of "
                         f"{result['profile']} in {result['home']}; give another --out or drop --keep")
    parts = old.get("parts") or [{k: old.get(k) for k in ("command", "started", "machine")}]
    result["parts"] = parts + [{k: result[k] for k in ("command", "started", "machine")}]
    return [r for r in old.get("notebooks", []) if r["notebook"] not in rerun]


def write_results(out: Path, result: dict) -> None:
    """The JSON and, beside it, its table (``write_table``), both written atomically."""
    atomic_write_json(out, result)
    write_table(out, result)


def write_table(out: Path, result: dict) -> None:
    """The printed table of ``result`` as ``out`` with the suffix ``.md``."""
    with atomic_path(out.with_suffix(".md")) as tmp:
        tmp.write_text(table(result) + "\n")


def table(result: dict) -> str:
    """The rehearsal as a Markdown table (notebook, time, peak RSS of one process, of all at once)."""
    lines = [f"Rehearsal of `{result['rehearses']}` (profile `{result['profile']}`), "
             f"{result['machine']['cpu_affinity']} CPUs, {result['machine']['memory_gb']} GB",
             "", "| notebook | status | time | peak RSS (one process) | peak RSS (all processes) |",
             "|---|---|---:|---:|---:|"]
    for r in result["notebooks"]:
        status = "ok" if r["ok"] else "running" if r["ok"] is None else "failed"
        lines.append(f"| {r['notebook']} | {status} | {r['seconds'] / 60:.1f} min | "
                     f"{r['peak_rss_gb']:.2f} GB | {r['peak_rss_sum_gb']:.2f} GB |")
    lines.append(f"| **total** | {'finished' if result.get('finished') else 'not finished'} | "
                 f"{sum(r['seconds'] for r in result['notebooks']) / 60:.1f} min | "
                 f"{max((r['peak_rss_gb'] for r in result['notebooks']), default=0):.2f} GB | |")
    lines.append("")
    for part in result.get("parts") or [result]:
        load = ", ".join(f"{x:.2f}" for x in part["machine"]["load_at_start"])
        lines.append(f"- `{part['command']}`, started {part['started']} (load average at start {load})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
