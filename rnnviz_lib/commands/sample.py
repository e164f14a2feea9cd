"""``rnnviz sample``: generate text from a trained model, as char-rnn's sample.lua does."""

from __future__ import annotations

import sys


def _sample(args) -> int:
    import torch

    from rnnviz_lib import models, train
    from rnnviz_lib.errors import RnnvizError

    model, cfg = train.load_model(args.run, which=args.checkpoint)
    corpus, _ = train.load_splits(cfg)
    if args.length < 0:
        raise RnnvizError(f"--length must be >= 0 (got {args.length})")
    text = args.prime
    if args.escapes:
        text = text.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t")
    prime = corpus.encode(text)
    gen = torch.Generator().manual_seed(args.seed)
    ids = models.sample(model, prime.tolist(), args.length, args.temperature, gen)
    text = (corpus.decode(prime) if not args.no_prime else b"") + corpus.decode(ids)
    sys.stdout.write(text.decode("utf-8", errors="replace"))
    sys.stdout.write("\n")
    return 0


def register(sub) -> None:
    p = sub.add_parser("sample", help="generate text from a trained model (char-rnn's sample.lua)")
    p.add_argument("--run", required=True, help="run directory (artifacts/runs/<slug>-<hash>)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="divide the logits by T: lower is more conservative, 0 = always the likeliest (default 1)")
    p.add_argument("--prime", default="", help="text fed to the model before sampling (default: none)")
    p.add_argument("--escapes", action="store_true", help="read \\n, \\r and \\t in --prime as control characters")
    p.add_argument("--length", type=int, default=2000, help="symbols to generate (default 2000)")
    p.add_argument("--seed", type=int, default=123, help="random seed (default 123)")
    p.add_argument("--checkpoint", default="best", help="best (default), last, or a snapshot file name")
    p.add_argument("--no-prime", action="store_true", help="print only the generated text, not the prime")
    p.set_defaults(func=_sample)
