"""``rnnviz cells``: interpretable cells, gate saturation and the explorer page of one trained model
(or two side by side), and its states exported for LSTMVis."""

from __future__ import annotations

import logging
from pathlib import Path

from rnnviz_lib.errors import RnnvizError

log = logging.getLogger(__name__)


def _run_dir(path) -> Path:
    from rnnviz_lib.runs import Run

    run = Run(path)
    run.config  # a folder that is no run: one line naming it and what to pass instead
    return run.path


def _cells(args) -> int:
    import matplotlib.pyplot as plt

    from rnnviz_lib import explorer, plotting
    from rnnviz_lib.analysis import cells as C
    from rnnviz_lib.analysis import gates as G
    from rnnviz_lib.store import atomic_path, atomic_write_text

    run = _run_dir(args.run)
    other_run = _run_dir(args.compare) if args.compare else None
    text, text_name = None, "text"
    if args.text:
        tp = Path(args.text)
        if not tp.is_file():
            raise RnnvizError(f"text file {tp} does not exist; pass the path of a text file")
        text, text_name = tp.read_bytes(), tp.name
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise RnnvizError(f"--out {out} is a file; pass a folder")
    study = C.study_run(run, text, text_name, n_streams=args.streams, n_steps=args.steps, burn=args.burn,
                        max_symbols=args.max_symbols, lang=None if args.lang == "auto" else args.lang)
    name, acts = study.name, study.acts
    files = {}

    files["ranking"] = atomic_write_text(out / f"{name}-cells.csv", study.ranking.to_csv(index=False))
    summary = C.interpretable_summary(study.ranking)
    files["summary"] = atomic_write_text(out / f"{name}-cells-summary.csv", summary.to_csv())

    def save(fig, stem):
        with atomic_path(out / f"{stem}.png") as tmp:
            fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
        plt.close(fig)
        return out / f"{stem}.png"

    panels = C.figure2_panels(study, width=args.figure_symbols, seed=args.seed)
    axes = plotting.plot_cell_panels(panels, suptitle=f"{name}: best cell per feature ({study.sample.source})")
    files["figure2"] = save(axes[0].figure, f"{name}-figure2")

    sat = G.saturation(acts)
    if len(sat):
        files["saturation"] = atomic_write_text(out / f"{name}-saturation.csv", sat.to_csv(index=False))
        axes = plotting.plot_saturation_grid({name: sat})
        files["figure3"] = save(axes[0].figure, f"{name}-figure3")

    if not args.no_causal:
        eff = C.causal_effects(study.model, study.sample, acts, study.feats, study.best, seed=args.seed)
        files["causal"] = atomic_write_text(out / f"{name}-causal.csv", eff.to_csv(index=False))

    page_sample, page_acts = study.page_view(args.symbols)
    contexts = explorer.top_contexts(acts, study.sample, k=args.contexts)
    meta = (f"{name} · {acts.cell.upper()}, {acts.L} layer(s) of {acts.H} · page: {page_sample.source} "
            f"({page_sample.lang}), first {min(args.symbols, page_acts.x.shape[1])} symbols")
    files["explorer"] = explorer.write_explorer(out / f"{name}-explorer.html", page_sample, page_acts,
                                                study.ranking, title=f"rnnviz cell explorer: {name}", meta=meta,
                                                n_symbols=args.symbols, ranked_on=study.sample.source,
                                                contexts=contexts)
    if args.compare:
        other = C.study_run(other_run, text, text_name, n_streams=args.streams, n_steps=args.steps,
                            burn=args.burn, max_symbols=args.max_symbols, lang=study.sample.lang)
        other_sample, other_acts = other.page_view(args.symbols)
        oname = other.name if other.name != name else f"{other.name} ({Path(args.compare).name})"
        views = [{"name": f"{name}: {acts.cell.upper()}-{acts.L}-{acts.H}", "sample": page_sample, "acts": page_acts,
                  "ranking": study.ranking, "contexts": contexts, "ranked_on": study.sample.source},
                 {"name": f"{oname}: {other.acts.cell.upper()}-{other.acts.L}-{other.acts.H}", "sample": other_sample,
                  "acts": other_acts, "ranking": other.ranking, "ranked_on": other.sample.source,
                  "contexts": explorer.top_contexts(other.acts, other.sample, k=args.contexts)}]
        files["compare"] = explorer.write_compare(
            out / f"{name}-vs-{other.name}-explorer.html", views, title=f"rnnviz cell explorer: {name} vs {oname}",
            meta=f"page: {page_sample.source} ({page_sample.lang}), "
                 f"first {min(args.symbols, page_acts.x.shape[1])} symbols",
            n_symbols=args.symbols)
    for fmt in dict.fromkeys(args.export or []):
        desc = f"rnnviz {name} ({acts.cell.upper()}, {acts.L} layer(s) of {acts.H}) over {study.sample.source}"
        if fmt == "lstmvis":
            files["lstmvis"] = explorer.write_lstmvis(out / f"{name}-lstmvis", acts, study.sample, name, desc)
        else:
            files["npz"] = explorer.write_npz(out / f"{name}-states.npz", acts, study.sample)
    allrow = summary.loc["all"]
    print(f"{name}: {int(allrow['interpretable'])} of {int(allrow['cells'])} cells ({allrow['fraction']:.1%}) track a "
          f"feature strongly (|r| >= {C.R_MIN} or AUC >= {C.AUC_MIN})")
    for k, p in files.items():
        print(f"{k:<11} {p}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("cells", help="interpretable cells (Figure 2), gate saturation (Figure 3) and a cell explorer "
                                     "page for one trained model")
    p.add_argument("--run", required=True, help="run directory of a trained model (artifacts/runs/<slug>-<hash>)")
    p.add_argument("--text", default=None,
                   help="text file to read (bytes the model has no symbol for are dropped); "
                        "default: the validation split of the model's corpus")
    p.add_argument("--out", required=True, help="folder for the page, tables (CSV) and figures (PNG)")
    p.add_argument("--lang", choices=("auto", "prose", "c"), default="auto",
                   help="how to read the text for features: c (comments, if bodies) or prose; auto: lk/C-looking text is c")
    p.add_argument("--symbols", type=int, default=3000, help="symbols shown on the explorer page (default 3000)")
    p.add_argument("--max-symbols", type=int, default=20000, help="symbols of --text analysed (default 20000)")
    p.add_argument("--streams", type=int, default=20, help="validation streams analysed without --text (default 20)")
    p.add_argument("--steps", type=int, default=1000, help="symbols per validation stream (default 1000)")
    p.add_argument("--burn", type=int, default=500, help="warm-up symbols before each validation stream (default 500)")
    p.add_argument("--figure-symbols", type=int, default=450, help="symbols per Figure 2 panel (default 450)")
    p.add_argument("--seed", type=int, default=0, help="seed for the contrast cell and control cells (default 0)")
    p.add_argument("--no-causal", action="store_true", help="skip the clamping experiment")
    p.add_argument("--contexts", type=int, default=10,
                   help="top contexts per cell on the page: the K highest and K lowest windows (default 10)")
    p.add_argument("--compare", default=None, metavar="RUN",
                   help="a second run to show side by side with --run over the same text (same corpus), "
                        "on one more page <name>-vs-<other>-explorer.html")
    p.add_argument("--export", action="append", choices=("lstmvis", "npz"), default=None,
                   help="also write the analysed states: lstmvis, a LSTMVis project folder <name>-lstmvis/ "
                        "(lstm.yml, states.hdf5 with a (T, H) dataset per layer, train.hdf5 word ids, train.dict); "
                        "npz, the same arrays in <name>-states.npz; repeat for both")
    p.set_defaults(func=_cells)
