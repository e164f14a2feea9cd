"""``rnnviz data prepare|info``: fetch/build, verify and describe a corpus."""

from __future__ import annotations

import json

from rnnviz_lib import data
from rnnviz_lib.commands import add_actions, add_data_args


def _prepare(args) -> int:
    out = data.prepare(args.dataset, args.data_dir, args.allow_checksum_mismatch, args.kernel_source)
    print(f"prepared {args.dataset} in {out}")
    return 0


def _info(args) -> int:
    corpus = data.load_corpus(args.dataset, args.data_dir, args.allow_checksum_mismatch, args.kernel_source)
    result = data.info(corpus, args.batch_size, args.seq_length, args.split_mode)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key in ("dataset", "source", "symbols", "vocab_size", "sha256", "checksum_ok", "split_mode", "split", "batches"):
            print(f"{key:>12}: {result[key]}")
    return 0


def register(sub) -> None:
    dsub = add_actions(sub, "data", "prepare or describe a corpus")
    prep = dsub.add_parser("prepare", help="download/build and verify a corpus, save its vocabulary")
    add_data_args(prep)
    prep.set_defaults(func=_prepare)
    inf = dsub.add_parser("info", help="sizes, vocabulary, checksum and split of a corpus")
    add_data_args(inf)
    inf.add_argument("--batch-size", type=int, default=100, help="B: parallel streams (default 100)")
    inf.add_argument("--seq-length", type=int, default=100, help="S: steps per batch (default 100)")
    inf.add_argument("--split-mode", choices=data.SPLIT_MODES, default="charrnn",
                     help="charrnn (the paper's, default) or contiguous")
    inf.add_argument("--json", action="store_true", help="print one JSON object")
    inf.set_defaults(func=_info)
