"""Speed and memory of the modified Kneser-Ney n-gram baselines (Table 2) on a real corpus.

Two measurements, each on the paper's char-rnn split (train streams as sequences, test streams
scored alone):

* **shared** (what ``rnnviz ngram`` does): count every level once up to the largest order, then
  score the test split for all orders in one walk over the levels. Per order: the time to count
  its level, the cumulative counting time, the model size of that order, and the test loss.
* **separate** (``--separate``): each order fitted and scored on its own, with its own time and
  peak traced numpy memory (tracemalloc), for comparison.

Target (issue 4): all ten WP orders (2..10 and 21) trained and scored in <= 120 s on 2 cores,
peak RSS <= 4 GB. Prints a table and writes ``benchmarks/results/ngram_<dataset>.json``.

    python benchmarks/ngram.py [--dataset wp] [--orders 2,...,10,21] [--separate]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from rnnviz_lib import baselines, data, paper
from rnnviz_lib.evaluate import cross_entropy
from rnnviz_lib.ngram import KneserNeyLM

RESULTS = Path(__file__).resolve().parent / "results"


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="wp")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--orders", default="2,3,4,5,6,7,8,9,10,21")
    ap.add_argument("--separate", action="store_true", help="also fit and score each order on its own")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/ngram_<dataset>.json)")
    args = ap.parse_args(argv)
    orders = baselines._parse_orders(args.orders)

    corpus = data.load_corpus(args.dataset, args.data_dir)
    sp = data.corpus_splits(corpus)
    train, test = baselines.stream_sequences(sp.train), baselines.stream_sequences(sp.test)
    ref = paper.TABLE2.get(corpus.name, {}).get("n-gram", {})

    t0 = time.perf_counter()
    model = KneserNeyLM(order=max(orders), vocab_size=corpus.K).fit(train)
    fit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    probs = model.prob_orders(test, orders)
    score_s = time.perf_counter() - t1
    total_s = time.perf_counter() - t0
    peak_shared = rss_gb()
    cum = np.cumsum(model.fit_seconds_)
    rows = []
    for o in orders:
        loss = cross_entropy(probs[o][:, 1:])
        p = ref.get(o - 1)
        rows.append({
            "order": o, "n": o - 1, "distinct_ngrams": model.n_ngrams(o)[-1], "level_fit_s": model.fit_seconds_[o - 1],
            "cum_fit_s": float(cum[o - 1]), "model_mb": model.nbytes(o) / 1e6, "test_loss": loss,
            "paper": p, "diff": None if p is None else loss - p,
        })
    del model, probs

    if args.separate:
        for r in rows:
            tracemalloc.start()
            t = time.perf_counter()
            m = KneserNeyLM(order=r["order"], vocab_size=corpus.K).fit(train)
            r["sep_fit_s"] = time.perf_counter() - t
            t = time.perf_counter()
            m.prob_orders(test, [r["order"]])
            r["sep_score_s"] = time.perf_counter() - t
            r["sep_peak_traced_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            del m

    print(f"{corpus.name}: {train[:, 1:].size + train.shape[0]:,} train symbols in {train.shape[0]} streams, "
          f"{sp.test.y.size:,} test symbols, K = {corpus.K}; {os.cpu_count()} CPUs")
    head = f"{'order':>5} {'n':>3} {'n-grams':>10} {'level s':>8} {'cum s':>7} {'model MB':>9} {'loss':>7} {'paper':>6} {'diff':>7}"
    if args.separate:
        head += f" {'sep fit':>8} {'sep score':>9} {'sep MB':>7}"
    print(head)
    for r in rows:
        line = (f"{r['order']:>5} {r['n']:>3} {r['distinct_ngrams']:>10,} {r['level_fit_s']:>8.2f} {r['cum_fit_s']:>7.2f} "
                f"{r['model_mb']:>9.1f} {r['test_loss']:>7.4f} "
                f"{'-' if r['paper'] is None else format(r['paper'], '.3f'):>6} "
                f"{'-' if r['diff'] is None else format(r['diff'], '+.4f'):>7}")
        if args.separate:
            line += f" {r['sep_fit_s']:>8.2f} {r['sep_score_s']:>9.2f} {r['sep_peak_traced_mb']:>7.0f}"
        print(line)
    print(f"shared: fit to order {max(orders)} {fit_s:.1f} s + score all {len(orders)} orders {score_s:.1f} s "
          f"= {total_s:.1f} s; peak RSS {peak_shared:.2f} GB (target <= 120 s, <= 4 GB)")

    result = {
        "dataset": corpus.name, "orders": orders, "test_symbols": int(sp.test.y.size), "K": corpus.K,
        "fit_s": fit_s, "score_s": score_s, "total_s": total_s, "peak_rss_gb": peak_shared,
        "target": {"total_s": 120, "peak_rss_gb": 4}, "meets_target": bool(total_s <= 120 and peak_shared <= 4),
        "rows": rows, "cpus": os.cpu_count(), "python": sys.version.split()[0], "numpy": np.__version__,
        "machine": platform.machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_average": os.getloadavg(),
    }
    out = Path(args.out) if args.out else RESULTS / f"ngram_{corpus.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
