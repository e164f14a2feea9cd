"""``rnnviz runs``: ship finished runs with the code, verify the shipped ones, list them."""

from __future__ import annotations

import json

from rnnviz_lib.commands import add_actions


def _configs(args) -> list:
    """The profile's runs asked for: --dataset, --only, --dropout."""
    from rnnviz_lib import grid

    configs = grid.expand(args.profile, [args.dataset] if args.dataset else None, None, args.only)
    if args.dropout is not None:  # one dropout value of the profile's list, e.g. the one finished so far
        configs = [c for c in configs if abs(c.dropout - args.dropout) < 1e-9]
        if not configs:
            from rnnviz_lib.errors import RnnvizError

            raise RnnvizError(f"the {args.profile} profile has no run with dropout {args.dropout:g} among the "
                              "models asked for; see its grid: dropout list")
    return configs


def _snapshot_tables(configs, args) -> None:
    """Before shipping a finished run that kept weight snapshots, compute its Figure 5 (right) table
    beside it (``longrange.write_snapshot_kl`` against the n-NN the profile reads), so that it ships
    without the snapshots; a table already current is kept."""
    from rnnviz_lib import data, grid
    from rnnviz_lib.analysis import longrange
    from rnnviz_lib.store import RunFiles, Store

    store = Store()
    for cfg in configs:
        own = RunFiles(store.artifact_dir("runs", cfg.slug, cfg.identity(), create=False), store)
        if not (cfg.snapshot_every and cfg.snapshot_epochs) or not own.finished or len(own.snapshots) < 2:
            continue
        files, missing = longrange.nnn_model_files(cfg.dataset, longrange.SNAPSHOT_KL_NS, store, args.profile)
        if missing:
            print(f"{cfg.slug}: no {', '.join(missing)} to compare its snapshots with; its table leaves them out")
        if not files or longrange.snapshot_kl_current(own.path, files):
            continue
        corpus = data.load_corpus(cfg.dataset, args.data_dir)
        model = grid.model_name(cfg.cell, int(cfg.layers), int(cfg.size))
        command = f"rnnviz runs ship --profile {args.profile} --dataset {cfg.dataset} --only {model}"
        print(f"{cfg.slug}: Figure 5 (right) of its {len(own.snapshots)} snapshots against {', '.join(files)} ...")
        longrange.write_snapshot_kl(own.path, corpus, files, command=command)


def _ship(args) -> int:
    from rnnviz_lib import shipped

    if args.screens:
        if args.nnn:
            from rnnviz_lib.errors import RnnvizError

            raise RnnvizError("--screens ships screenings of RNN runs; n-NN baselines (--nnn) have none: drop one of them")
        configs = _configs(args)
        names = shipped.ship_screens(configs, profile=args.profile)
    elif args.nnn:
        from rnnviz_lib.errors import RnnvizError

        if not args.dataset:
            raise RnnvizError("--nnn ships n-NN baselines of one dataset: add --dataset wp or --dataset lk")
        try:
            ns = [int(v) for v in args.nnn.split(",") if v.strip()]
        except ValueError:
            raise RnnvizError(f"--nnn must be comma-separated context lengths such as 1,2,3 (got {args.nnn!r})") from None
        names = shipped.ship_nnn(args.dataset, ns, profile=args.profile, data_dir=args.data_dir)
    else:
        configs = _configs(args)
        _snapshot_tables(configs, args)
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
    man = shipped.manifest()
    n, b, sc = len(man.get("runs", {})), len(man.get("baselines", {})), len(man.get("screens", {}))
    print(f"{n} shipped run(s), {b} shipped baseline(s) and {sc} screening(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


def _list(args) -> int:
    from rnnviz_lib import shipped

    man = shipped.manifest()
    runs = man.get("runs", {})
    if args.json:
        print(json.dumps(runs if not args.baselines else man.get("baselines", {}), sort_keys=True))
        return 0
    for name, e in [*runs.items(), *man.get("baselines", {}).items()]:
        paper = "" if e.get("paper") is None else f" (paper {e['paper']:.3f}, Δ {e['delta']:+.3f})"
        print(f"{e['model']:<16} {e['test_loss']:.4f}{paper}  {name}  {e.get('engine') or e.get('kind')} @ {str(e.get('commit'))[:10]}")
    for name, e in man.get("screens", {}).items():
        if e.get("complete"):
            print(f"{e['model']:<16} trained in full, weights not shipped: best val {e['best_val_loss']:.4f}, test "
                  f"{e['test_loss']:.4f}; {e['beaten_by']} wins on validation  {name}")
            continue
        print(f"{e['model']:<16} screened: {e['epochs_done']:g} of {e['epochs']} epochs, best val {e['best_val_loss']:.4f} "
              f"at epoch {e['best_epoch']:g}  {name}")
    return 0


def _screen(args) -> int:
    from rnnviz_lib import table1
    from rnnviz_lib.errors import RnnvizError

    configs = _configs(args)
    if len(configs) != 1:
        raise RnnvizError(f"rnnviz runs screen judges one dropout value of one model; --dataset, --only and --dropout "
                          f"select {len(configs)} runs of the {args.profile} profile: name one model and one value")
    over = {k: v for k, v in (("device", args.device), ("threads", args.threads)) if v is not None}
    cfg = configs[0].replace(show_progress=not args.no_progress, **over)

    def judged(epoch, worse, why):
        label = "clearly worse" if worse else ("full run" if epoch >= cfg.epochs else "undecided")
        print(f"{cfg.slug} after epoch {epoch:g}: {label}: {why}", flush=True)

    res = table1.screen(cfg, args.profile, first=args.first, step=args.step, on_judged=None if args.json else judged)
    base = f"rnnviz runs ship --profile {args.profile} --dataset {cfg.dataset} --only {args.only[0]} --dropout"
    ship = []
    if res["verdict"] == "loses" and res["against_origin"] != "shipped":  # a lost full run ships beside a shipped winner
        ship.append(f"{base} {res['against_dropout']:g}")
    if res["origin"] == "store":
        ship.append(f"{base} {cfg.dropout:g}" + ("" if res["verdict"] == "wins" else " --screens"))
    if args.json:
        print(json.dumps({**res, "ship": ship}, sort_keys=True))
        return 0
    print(f"{cfg.slug}: {res['verdict']} after {res['epochs']:g} of {cfg.epochs} epochs, against {res['against']}")
    print("ship it with: " + " && ".join(ship) if ship else "already shipped: nothing to ship")
    return 0


def register(sub) -> None:
    rsub = add_actions(sub, "runs", "shipped runs: ship finished runs with the code, verify or list them")
    s = rsub.add_parser("ship", help="copy finished store runs of a profile into data/runs/ and update MANIFEST.json")
    s.add_argument("--profile", default="paper", help="the profile whose runs to ship (default paper)")
    s.add_argument("--dataset", default=None, help="only this dataset's runs")
    s.add_argument("--only", nargs="+", default=None, metavar="MODEL", help="only these models (e.g. lstm-1-64)")
    s.add_argument("--dropout", type=float, default=None,
                   help="only the runs of this dropout value (the profile's others need not have finished)")
    s.add_argument("--nnn", default=None, metavar="N,N,...",
                   help="ship the n-NN baselines of these context lengths (with --dataset) instead of RNN runs")
    s.add_argument("--screens", action="store_true",
                   help="ship the screenings (runs paused by rnnviz train --until-epoch: config and validation history, "
                        "no weights) of the models asked for, into data/runs/screens/; a finished run ships the same way "
                        "where a shipped run of its model beats it on validation (a dropout value that lost in full)")
    s.add_argument("--data-dir", default=None, help="folder holding the corpus files (as for rnnviz data)")
    s.add_argument("--unrecorded", default="",
                   help="commit of stretches of training that the training code did not record (older runs)")
    s.set_defaults(func=_ship)
    v = rsub.add_parser("verify", help="check every shipped file against MANIFEST.json and the profile")
    v.add_argument("--profile", default="paper", help="the profile the runs must belong to (default paper)")
    v.set_defaults(func=_verify)
    sc = rsub.add_parser("screen", help="screen one dropout value of a model by the tested rule: train its first epochs, "
                         "judge them against the model's best finished run, extend until clearly worse or trained in full")
    sc.add_argument("--profile", default="paper", help="the profile the run belongs to (default paper)")
    sc.add_argument("--dataset", required=True, help="wp or lk")
    sc.add_argument("--only", nargs=1, required=True, metavar="MODEL", help="the model, e.g. lstm-3-512")
    sc.add_argument("--dropout", type=float, required=True, help="the dropout value of the profile's list to screen")
    sc.add_argument("--first", type=int, default=15, help="epochs trained before the first judgement (default 15)")
    sc.add_argument("--step", type=int, default=2, help="epochs trained between judgements after that (default 2)")
    sc.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"], help="override the profile's device")
    sc.add_argument("--threads", type=int, default=None, help="torch CPU threads while training (default: the profile's)")
    sc.add_argument("--no-progress", action="store_true", help="no progress bar")
    sc.add_argument("--json", action="store_true", help="print only the result, as one JSON object")
    sc.set_defaults(func=_screen)
    ls = rsub.add_parser("list", help="the shipped runs with their test loss beside the paper's")
    ls.add_argument("--json", action="store_true", help="print the manifest's runs as one JSON object")
    ls.add_argument("--baselines", action="store_true", help="with --json: the shipped baselines instead of the runs")
    ls.set_defaults(func=_list)
