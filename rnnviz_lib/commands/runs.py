"""``rnnviz runs``: ship finished runs with the code, verify the shipped ones, list them."""

from __future__ import annotations

import json

from rnnviz_lib.commands import add_actions


def _ship(args) -> int:
    from rnnviz_lib import grid, shipped

    configs = grid.expand(args.profile, [args.dataset] if args.dataset else None, None, args.only)
    names = shipped.ship(configs, profile=args.profile, unrecorded=args.unrecorded)
    for n in names:
        print(f"shipped {n}")
    print(f"{len(names)} run(s) shipped to {shipped.default_dir()}")
    return 0


def _verify(args) -> int:
    from rnnviz_lib import shipped

    problems = shipped.verify(profile=args.profile)
    for p in problems:
        print(f"DAMAGED {p}")
    n = len(shipped.manifest().get("runs", {}))
    print(f"{n} shipped run(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def _list(args) -> int:
    from rnnviz_lib import shipped

    runs = shipped.manifest().get("runs", {})
    if args.json:
        print(json.dumps(runs, sort_keys=True))
        return 0
    for name, e in runs.items():
        paper = "" if e.get("paper") is None else f" (paper {e['paper']:.3f}, Δ {e['delta']:+.3f})"
        print(f"{e['model']:<16} {e['test_loss']:.4f}{paper}  {name}  {e.get('engine')} @ {str(e.get('commit'))[:10]}")
    return 0


def register(sub) -> None:
    rsub = add_actions(sub, "runs", "shipped runs: ship finished runs with the code, verify or list them")
    s = rsub.add_parser("ship", help="copy finished store runs of a profile into data/runs/ and update MANIFEST.json")
    s.add_argument("--profile", default="paper", help="the profile whose runs to ship (default paper)")
    s.add_argument("--dataset", default=None, help="only this dataset's runs")
    s.add_argument("--only", nargs="+", default=None, metavar="MODEL", help="only these models (e.g. lstm-1-64)")
    s.add_argument("--unrecorded", default="",
                   help="commit of stretches of training that the training code did not record (older runs)")
    s.set_defaults(func=_ship)
    v = rsub.add_parser("verify", help="check every shipped file against MANIFEST.json and the profile")
    v.add_argument("--profile", default="paper", help="the profile the runs must belong to (default paper)")
    v.set_defaults(func=_verify)
    ls = rsub.add_parser("list", help="the shipped runs with their test loss beside the paper's")
    ls.add_argument("--json", action="store_true", help="print the manifest's runs as one JSON object")
    ls.set_defaults(func=_list)
