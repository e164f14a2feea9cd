"""``rnnviz report``: run a profile's notebooks and write report/index.html."""

from __future__ import annotations

from rnnviz_lib import pipeline


def _report(args) -> int:
    if args.list:
        for step in pipeline.plan(args.profile, only=args.only):
            print(f"{step['stem']:<20} {step['title']}\n{'':<20} {step['parameters']}")
        return 0
    index = pipeline.run_report(args.profile, only=args.only, timeout=args.timeout)
    print(f"report: {index}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="run the notebooks of a profile and build the HTML report")
    p.add_argument("--profile", default="quick",
                   help="smoke (CI, seconds), quick (CPU laptop, default) or paper (GPU); or a YAML path")
    p.add_argument("--only", type=lambda s: [x for x in s.split(",") if x], default=None,
                   help="comma-separated notebook stems to run (e.g. 00_data,03_baselines)")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds (default none)")
    p.add_argument("--list", action="store_true", help="show the notebooks and their parameters; run nothing")
    p.set_defaults(func=_report)
