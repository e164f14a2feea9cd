"""``rnnviz report``: run a profile's notebooks and write report/index.html."""

from __future__ import annotations

from rnnviz_lib import pipeline
from rnnviz_lib.config import profile_path
from rnnviz_lib.rehearsal import REHEARSE_SUFFIX, rehearsal_base
from rnnviz_lib.errors import RnnvizError


def rehearsal_name(profile: str) -> str:
    """``paper`` -> ``paper-rehearse``: the profile ``--rehearse`` runs (rehearsal.rehearse_profile)."""
    if str(profile).endswith((".yaml", ".yml")) or "/" in str(profile):
        raise RnnvizError(f"--rehearse takes a profile name (smoke, quick, paper), not the file {profile}")
    if rehearsal_base(profile) is not None:
        raise RnnvizError(f"{profile} is already a rehearsal; pass --profile {rehearsal_base(profile)} --rehearse")
    if not profile_path(profile).is_file():
        pipeline.load_profile(profile)  # the usual "unknown profile ... (known profiles: ...)" error
    return f"{profile}{REHEARSE_SUFFIX}"


def _report(args) -> int:
    profile = rehearsal_name(args.profile) if args.rehearse else args.profile
    if args.list:
        for step in pipeline.plan(profile, only=args.only):
            print(f"{step['stem']:<20} {step['title']}\n{'':<20} {step['parameters']}")
        return 0
    index = pipeline.run_report(profile, only=args.only, timeout=args.timeout)
    print(f"report: {index}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="run the notebooks of a profile and build the HTML report")
    p.add_argument("--profile", default="quick",
                   help="smoke (CI, seconds), quick (CPU laptop, default) or paper (GPU); or a YAML path")
    p.add_argument("--rehearse", action="store_true",
                   help="run the profile's shapes for a few steps on the CPU instead (profile <name>-rehearse: every "
                        "grid run and n-NN trained 2 steps, then every notebook with the profile's settings); its "
                        "runs, tables and figures are its own and it reads no shipped runs")
    p.add_argument("--only", type=lambda s: [x for x in s.split(",") if x], default=None,
                   help="comma-separated notebook stems to run (e.g. 00_data,03_baselines)")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default none)")
    p.add_argument("--list", action="store_true", help="show the notebooks and their parameters; run nothing")
    p.set_defaults(func=_report)
