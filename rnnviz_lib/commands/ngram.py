"""``rnnviz ngram``: fit, score and cache modified Kneser-Ney n-gram baselines (Table 2)."""

from __future__ import annotations

import json

from rnnviz_lib import baselines
from rnnviz_lib.commands import add_data_args


def _run(args) -> int:
    orders = baselines._parse_orders(args.orders)
    res = baselines.run_ngrams(args.dataset, orders, data_dir=args.data_dir, force=args.force)
    if args.json:
        print(json.dumps(res))  # orders in numeric order
        return 0
    print(f"{res['dataset']}: {res['test_symbols']:,} test symbols; fit {res['seconds']['fit']:.1f} s, "
          f"score {res['seconds']['score']:.1f} s")
    for o, loss in res["orders"].items():
        cached = " (cached)" if int(o) in res["cached"] else ""
        print(f"  {o:>3}-gram  {loss:.4f} nats  {res['model_bytes'][o] / 1e6:8.1f} MB{cached}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "ngram",
        help="interpolated modified Kneser-Ney n-gram test losses (Table 2)",
        description="Fit n-gram models on the char-rnn train split (each stream one sequence), score the test "
                    "split, save per-symbol test probabilities under artifacts/baselines/ and print the losses. "
                    "--json prints one object: {\"dataset\", \"test_symbols\", \"orders\": {\"<order>\": nats}, "
                    "\"seconds\": {\"fit\", \"score\", \"load\", \"total\"}, \"cached\": [orders], "
                    "\"model_bytes\": {\"<order>\": bytes}, \"paths\": {\"<order>\": folder}}.",
    )
    add_data_args(p)
    p.add_argument("--orders", default="2,3,4,5,6,7,8,9,10,21",
                   help="comma-separated full n-gram orders (n+1 for Table 2's n), default 2,...,10,21")
    p.add_argument("--force", action="store_true", help="refit and rescore even where results are cached")
    p.add_argument("--json", action="store_true", help="print one JSON object (see the description)")
    p.set_defaults(func=_run)
