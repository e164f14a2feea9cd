"""``rnnviz nnn``: train (or read back) the n-NN baselines of Table 2 under a profile's recipe."""

from __future__ import annotations

import json

from rnnviz_lib import baselines
from rnnviz_lib.commands import add_data_args
from rnnviz_lib.errors import RnnvizError


def _run(args) -> int:
    try:
        ns = sorted({int(v) for v in args.n.split(",") if v.strip()})
    except ValueError:
        raise RnnvizError(f"--n must be comma-separated integers such as 1,2,3 (got {args.n!r})") from None
    if not ns or ns[0] < 1:
        raise RnnvizError(f"--n must list context lengths >= 1 (got {args.n!r})")
    recipe = baselines.profile_params(args.profile)
    if args.hidden:
        recipe["nnn_hidden"] = [int(h) for h in args.hidden.split(",")]
    res = baselines.run_nnn(args.dataset, ns, recipe, data_dir=args.data_dir, force=args.force,
                            threads=args.threads, device=args.device)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['dataset']}: {res['test_symbols']:,} test symbols; recipe of profile {args.profile}")
    for n, loss in res["losses"].items():
        H = res["selected_hidden"][n]
        print(f"  n={n}: {loss:.4f} nats (hidden {H}, val {res['val'][n][H]:.4f}, "
              f"{res['train_seconds'][n][H]:.0f} s)")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "nnn", help="n-NN baselines: one tanh layer over the n previous one-hot symbols (Table 2)",
        description="Train n-NN baselines with the recipe in the profile's `baselines:` section, save per-symbol "
                    "test probabilities under artifacts/baselines/, print test losses. --json prints one object "
                    "{\"dataset\", \"test_symbols\", \"losses\": {n: nats}, \"val\": {n: {hidden: nats}}, "
                    "\"selected_hidden\": {n: hidden}, \"train_seconds\": {n: {hidden: s}}, \"paths\": {n: folder}}.")
    add_data_args(p)
    p.add_argument("--n", default="1,2,3,4,5,6", help="comma-separated context lengths (default 1,...,6)")
    p.add_argument("--profile", default="quick", help="smoke, quick or paper: whose n-NN recipe (default quick)")
    p.add_argument("--hidden", default=None, help="override the hidden size(s), comma-separated; several: "
                                                    "each is trained and the best on validation kept")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--force", action="store_true", help="retrain even where a finished model exists")
    p.add_argument("--json", action="store_true", help="print one JSON object (see the description)")
    p.set_defaults(func=_run)
