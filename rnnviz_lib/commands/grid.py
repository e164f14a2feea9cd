"""``rnnviz grid``: train a profile's grid of models, print its summary and Table 1, or its widths."""

from __future__ import annotations

from rnnviz_lib.commands import add_data_args


def _widths(args) -> int:
    from rnnviz_lib import data, grid

    corpus = data.load_corpus(args.dataset or "wp", args.data_dir, args.allow_checksum_mismatch, args.kernel_source)
    print(f"hidden widths (parameter count) for {corpus.name}, K = {corpus.K}, matching = {args.matching}")
    print(grid.widths_frame(corpus.K, args.matching).to_string())
    return 0


def _grid(args) -> int:
    import pandas as pd

    from rnnviz_lib import executors, grid, table1

    if args.widths:
        return _widths(args)
    from rnnviz_lib.store import Store

    store = Store(shipped=False if args.retrain else None)  # --retrain: train even where a shipped run exists
    configs = grid.expand(args.profile, [args.dataset] if args.dataset else None, args.device, args.only,
                          store=store)
    if args.data_dir:
        configs = [c.replace(data_dir=args.data_dir) for c in configs]
    if args.progress:
        configs = [c.replace(show_progress=True) for c in configs]
    if not args.summary:
        if args.dry_run:
            for c in configs:
                print(c.slug)
            print(f"{len(configs)} runs")
            return 0
        if args.address and args.executor != "ray":
            from rnnviz_lib.errors import RnnvizError

            raise RnnvizError("--address names a Ray cluster; add --executor ray")
        if args.executor == "ray" and args.address:
            from rnnviz_lib import ray_executor

            results = ray_executor.run_ray(configs, store, keep_going=not args.stop_on_error, address=args.address)
        else:
            results = executors.run(configs, args.executor, store=store, keep_going=not args.stop_on_error)
        failed = [r for r in results if r["status"] == "failed"]
    else:
        failed = []
    df = grid.summary(configs, store)
    main = grid.summary(grid.expand(args.profile, [args.dataset] if args.dataset else None, args.device, args.only,
                                    extras=False, store=store), store)  # Table 1's runs: not the extra grids'
    if args.json:
        import json

        out = grid.summary_json(main)
        every = grid.summary(grid.expand(args.profile, [args.dataset] if args.dataset else None, args.device, args.only,
                                         extras=False, store=store, shipped_only=False), store)  # values not shipped too
        tried = {f"{ds}-{m}": t for ds in dict.fromkeys(every["dataset"]) for m, t in table1.dropout_tried(every, ds, main).items()}
        for key, v in out.items():
            v["dropout_tried"] = tried.get(key, "")
        print(json.dumps(out, sort_keys=True))
        return 1 if failed else 0
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(df.drop(columns="run_dir").to_string(float_format=lambda v: f"{v:.4f}"))
        for ds in dict.fromkeys(c.dataset for c in configs):
            ours, _, compare = table1.frames(main, ds)
            if not ours.empty:
                print(f"\nTable 1, {ds}: test cross-entropy in nats, ours (paper, Δ)")
                print(compare.to_string())
    for r in failed:
        print(f"FAILED {r['config'].slug}: {r['error']}")
    return 1 if failed else 0


def register(sub) -> None:
    p = sub.add_parser("grid", help="train a profile's grid of models (resumes; finished runs are skipped)")
    add_data_args(p, required=False)
    p.set_defaults(dataset=None)
    p.add_argument("--profile", default="quick", help="smoke, quick, paper or a YAML path (its grid: section)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="override the profile's device (default: the profile's, else auto)")
    p.add_argument("--executor", default="local",
                   help="local (one run after another; default), processes (one run per CPU core), "
                        "fast (models of one shape stacked, for GPUs), ray (one Ray task per run)")
    p.add_argument("--address", default=None,
                   help="with --executor ray: the Ray cluster to join (auto, HOST:6379, ray://HOST:10001); "
                        "default $RAY_ADDRESS, else a local Ray on this machine")
    p.add_argument("--only", nargs="+", default=None, metavar="MODEL",
                   help="only these models, written cell-layers-size (e.g. lstm-1-64 gru-3-64)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    p.add_argument("--summary", action="store_true", help="train nothing; print the summary and Table 1")
    p.add_argument("--stop-on-error", action="store_true", help="stop at the first failed run")
    p.add_argument("--retrain", action="store_true",
                   help="train into the store even models that have a shipped run (data/runs/); a finished "
                        "store copy is then read instead of the shipped one")
    p.add_argument("--json", action="store_true",
                   help="with --summary: one JSON object {<dataset>-<model>: {test_loss, paper, delta, "
                        "bootstrap_std, origin, run, dropout, dropout_tried}} of every finished model")
    p.add_argument("--progress", action="store_true", help="a progress bar per run, too")
    p.add_argument("--widths", action="store_true",
                   help="print the parameter-matched hidden widths of the grid for --dataset (default wp)")
    p.add_argument("--matching", choices=("row", "depth"), default="row",
                   help="with --widths: row (the paper's: a row shares one budget) or depth")
    p.set_defaults(func=_grid)
