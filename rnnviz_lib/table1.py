"""Table 1 (test cross-entropy by grid row and cell-depth) and its findings, in one place: the grid
summaries, notebook 02 and the scorecard all read Table 1 and judge its findings here.

API::

    ours, pap, compare = frames(summary_df, "wp")   # ours, the paper's and "ours (paper, Δ)" frames
    per_model(summary_df, "wp")                      # one row per model: ours ± std, paper, diff, dropout, origin, run
    agreement(per_model(summary_df, "wp"))           # how close the models are to the paper, in one row
    dropout_trials(summary_df, "wp")                 # every dropout value of every model: run, screened, or not run
    screen(config, "paper")                          # screen one dropout value: train, judge, extend until decided
    paper_frame("wp")                                # the paper's Table 1 in our layout
    depth_pairs(ours, pap), beats_pairs(ours, pap, "LSTM", "RNN")   # (ours wins, paper wins, pairs)
    findings(ours, pap), findings_text(checks)       # the paper's four findings, judged once

A model wins a pair when its loss is lower by more than ``LOSS_TIE`` (the paper's bootstrap std
bound); a finding holds when it wins more than ``MAJORITY`` of the pairs. Pairs are counted over
the models both tables fill, so ours and the paper's count the same pairs.

Dropout is chosen per model by validation loss over the values of the profile's list that ran in
full (``grid.select_best``). A value may instead be dropped on a screening, the first epochs of
its run (``rnnviz train --until-epoch K``, shipped under ``data/runs/screens/``), when the screening
is clearly worse (``screen_verdict``): behind the chosen run at the same epoch by more than
``SCREEN_MARGIN``, its best above the chosen run's final best by more than that, and either no
longer improving (no new best in its last ``SCREEN_STALL`` evaluations) or not catching up: behind
by more than ``SCREEN_TREND_MARGIN`` at its last epoch and by no less than at the midpoint of its
evaluations. Anything else is left to a full run.

The second way was added after a full run tested it: LK LSTM-3-512 at dropout 0.5 trailed the
chosen dropout 0.25 by 0.115 nats of validation loss at epoch 2, 0.122 at epoch 15 and 0.129 at
epoch 40; its 15-epoch screening, still improving, is clearly worse by this rule, and its full run
ended worse.
"""

from __future__ import annotations

import pandas as pd

from rnnviz_lib import grid, paper, report
from rnnviz_lib.store import RunFiles

LOSS_TIE = paper.BOOTSTRAP_STD_BOUND  # nats: a smaller test-loss difference is a tie
MAJORITY = 0.5  # a pairwise finding holds when it is true for more than this fraction of the pairs
SCREEN_MARGIN = 0.02  # nats of validation loss: five times the paper's bootstrap std bound
SCREEN_STALL = 2  # evaluations without a new best before a screening counts as no longer improving
SCREEN_TREND_MARGIN = 0.05  # nats: a screening still improving is clearly worse only this far behind, and not closing
AGREEMENT_CLOSE = 0.03  # nats: "close to the paper" in the agreement summary


def column_name(cell: str, depth: int) -> str:
    """``LSTM-1`` … ``GRU-3``: a Table 1 column."""
    return f"{cell.upper()}-{int(depth)}"


COLUMNS = [column_name(c, d) for c, d in paper.TABLE1_COLUMNS]


def model_of_column(col: str, size: int) -> str:
    """``lstm-2-512`` for column ``LSTM-2`` of row 512 (``grid.model_name``)."""
    cell, depth = col.split("-")
    return grid.model_name(cell.lower(), int(depth), int(size))


def filled_models(t: pd.DataFrame) -> list[str]:
    """The models (``lstm-2-512`` …) a Table 1 frame has a value for."""
    return [model_of_column(c, s) for s in t.index for c in t.columns if pd.notna(t.at[s, c])]


def paper_frame(dataset: str) -> pd.DataFrame:
    """The paper's Table 1 for ``dataset`` (nats; NaN where it is blank): rows = the paper's
    sizes, columns = ``COLUMNS``. Empty rows for a dataset that is not the paper's."""
    df = pd.DataFrame(index=pd.Index(list(paper.SIZES), name="size"), columns=COLUMNS, dtype=float)
    for size in paper.SIZES:
        for cell, depth in paper.TABLE1_COLUMNS:
            v = paper.table1(dataset, cell, depth, size)
            df.at[size, column_name(cell, depth)] = float("nan") if v is None else float(v)
    return df


def frames(df: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Table 1 (test cross-entropy, nats) from a ``grid.summary`` frame, for one dataset.

    Returns
    -------
    ours : rows = size, columns = LSTM-1 … GRU-3, the test loss of each model's chosen dropout
        (``grid.select_best``)
    paper : the paper's values, same layout
    compare : "ours (paper, Δ)" strings (``report.compare_frame``)
    """
    best = grid.select_best(df[df["dataset"] == dataset])
    sizes = sorted(set(paper.SIZES) | {int(s) for s in best["size"]})  # rows beyond the paper's stay visible
    ours = pd.DataFrame(index=pd.Index(sizes, name="size"), columns=COLUMNS, dtype=float)
    for _, r in best.iterrows():
        ours.loc[int(r["size"]), column_name(r["cell"], r["layers"])] = float(r["test_loss"])
    ours = ours.dropna(how="all")
    if ours.empty:
        ours = pd.DataFrame(index=pd.Index([], name="size"), columns=COLUMNS, dtype=float)
    pap = paper_frame(dataset).reindex(ours.index)
    return ours, pap, report.compare_frame(ours, pap)


def per_model(df: pd.DataFrame, dataset: str, every: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 1 one model per row for ``dataset``: ours ± bootstrap std, the paper's, Δ, the chosen
    dropout and the values tried (``dropout_tried`` of ``every``, a summary of all the grid's runs,
    default ``df``), where the run comes from (shipped / store, and its precision when not fp32)
    and its run id."""
    rows = []
    tried = dropout_tried(df if every is None else every, dataset, df)
    for key, v in grid.summary_json(df[df["dataset"] == dataset]).items():
        model = key.split("-", 1)[1]
        rows.append({"model": model, "ours": v["test_loss"], "bootstrap std": v["bootstrap_std"],
                     "paper": v["paper"], "diff": v["delta"], "dropout": v["dropout"], "dropout tried": tried.get(model, ""),
                     "run": v["run"], "origin": v["origin"] + ("" if v["precision"] == "fp32" else f", {v['precision']}")})
    cols = ["model", "ours", "bootstrap std", "paper", "diff", "dropout", "dropout tried", "origin", "run"]
    return pd.DataFrame(rows, columns=cols).set_index("model")


def agreement(models: pd.DataFrame) -> dict:
    """How close the models of one ``per_model`` table are to the paper, over those the paper fills:
    how many, the mean and median difference (a systematic offset shows as a mean far from 0 with
    differences of one sign), how many are within ``AGREEMENT_CLOSE`` nats and within two of our own
    bootstrap stds, and the median bootstrap std (the test text's own sampling noise: where the test
    text is not the paper's, as on the Linux kernel stand-in, this is the scale of a difference that
    says nothing about the model)."""
    m = models[models["paper"].notna() & models["ours"].notna()]
    diff = m["diff"].astype(float)
    std = m["bootstrap std"].astype(float)
    n = len(m)
    return {"models": n,
            "mean diff": float(diff.mean()),  # NaN when no model is compared
            "median diff": float(diff.median()),
            "above the paper": int((diff > 0).sum()),
            f"within {AGREEMENT_CLOSE}": int((diff.abs() <= AGREEMENT_CLOSE).sum()),
            "within 2 std": int((diff.abs() <= 2 * std).sum()),
            "median bootstrap std": float(std.median())}


def agreement_text(dataset: str, a: dict) -> str:
    """One sentence for the ``agreement`` of ``dataset``."""
    if not a["models"]:
        return f"{dataset}: no model both here and in the paper's Table 1 yet."
    return (f"{dataset}: {a['models']} models beside the paper's; mean difference {a['mean diff']:+.3f} nats "
            f"(median {a['median diff']:+.3f}; {a['above the paper']} of {a['models']} above the paper), "
            f"{a[f'within {AGREEMENT_CLOSE}']} within {AGREEMENT_CLOSE} nats, {a['within 2 std']} within two of our "
            f"bootstrap stds (median std {a['median bootstrap std']:.3f}).")


# ----------------------------------------------------------------------------------------
# Dropout: the values tried per model
# ----------------------------------------------------------------------------------------
TRIAL_COLUMNS = ["model", "dropout", "status", "epochs", "best val", "Δ best val", "Δ val, same epoch", "verdict"]


def _val_at(history: list[dict], epoch: float) -> float:
    """The validation loss of the last evaluation at or before ``epoch`` (nan if none)."""
    rows = [r for r in history if r["epoch"] <= epoch + 1e-9]
    return float(rows[-1]["val_loss"]) if rows else float("nan")


def screen_verdict(screen: list[dict], chosen: list[dict]) -> tuple[bool, float, str]:
    """Is a screening (the validation history of a run's first epochs) clearly worse than the
    chosen run (its full history)? Returns (clearly worse, its gap at its last epoch, why)."""
    last = screen[-1]
    mid = ([r for r in screen if r["epoch"] <= last["epoch"] / 2] or screen[:1])[-1]  # halfway, in epochs
    gap = float(last["val_loss"]) - _val_at(chosen, last["epoch"])
    gap_mid = float(mid["val_loss"]) - _val_at(chosen, mid["epoch"])
    best = min(range(len(screen)), key=lambda i: screen[i]["val_loss"])
    over = float(screen[best]["val_loss"]) - min(float(r["val_loss"]) for r in chosen)
    stalled = len(screen) - 1 - best >= SCREEN_STALL
    apart = len(screen) >= 2 * SCREEN_STALL and gap > SCREEN_TREND_MARGIN and gap >= gap_mid  # not catching up
    ok = gap > SCREEN_MARGIN and over > SCREEN_MARGIN and (stalled or apart)
    why = f"{gap:+.3f} at epoch {last['epoch']:g}, best {over:+.3f} over the chosen run's, "
    if stalled:
        why += "no longer improving"
    else:
        why += f"still improving (best at epoch {screen[best]['epoch']:g}), "
        if gap < 0:  # ahead of the chosen run at the same epoch: there is no gap to close
            why += f"ahead of the chosen run at the same epoch ({gap_mid:+.3f} at epoch {mid['epoch']:g})"
        else:
            why += "the gap " + ("not closing" if gap >= gap_mid else "closing") + f" ({gap_mid:+.3f} at epoch {mid['epoch']:g})"
    return ok, gap, why


def chosen_run(config, profile, store=None) -> RunFiles | None:
    """The run a screening of ``config`` is judged against: among the finished runs (the store's or
    shipped) of the other dropout values of its model in ``profile``, the lowest best validation
    loss; None when none has finished."""
    from rnnviz_lib import train

    model = grid.model_name(config.cell, int(config.layers), int(config.size))
    ident = config.identity()
    rivals = [RunFiles(train.run_dir(c, store), store) for c in grid.expand(profile, [config.dataset], only=[model])
              if c.identity() != ident]
    done = [r for r in rivals if r.finished and r.metrics.get("best_val_loss") is not None]
    return min(done, key=lambda r: r.metrics["best_val_loss"], default=None)


def screen(config, profile, store=None, first: int = 15, step: int = 2, on_judged=None) -> dict:
    """Screen one dropout value by the rule of ``screen_verdict``: train ``config``'s first
    ``first`` epochs (``until_epoch``; what its run has already trained is kept), judge them
    against ``chosen_run``, and train ``step`` epochs more at a time until the rule calls the value
    clearly worse or the run has trained in full. Judgements read epoch-end evaluations only.
    Where the store has no run of ``config`` but a screening of it is shipped, that history is
    judged first; extending it retrains from scratch (a shipped screening has no checkpoint).
    ``on_judged(epoch, clearly_worse, why)`` is called after each judgement.

    Returns ``{"verdict": "clearly worse" | "wins" | "loses", "epochs", "why", "run_dir", "origin":
    store or shipped, "judged": [epochs], "against": the chosen run's name, "against_origin": store or shipped,
    "against_dropout"}``: a run trained in full wins or loses by best validation loss."""
    from rnnviz_lib import train
    from rnnviz_lib.errors import RnnvizError
    from rnnviz_lib.store import Store

    if first < 1 or step < 1:
        raise RnnvizError(f"--first and --step must be at least 1 epoch (got {first} and {step})")
    store = store or Store()
    model = grid.model_name(config.cell, int(config.layers), int(config.size))
    own = RunFiles(train.run_dir(config, store), store)
    if own.diverged:
        raise RnnvizError(f"{config.slug} diverged ({own.path}): a diverged run is no screening; remove that folder to "
                          "train the value again from scratch, or leave the value out")
    best = chosen_run(config, profile, store)
    if best is None:
        if own.finished:
            raise RnnvizError(f"{config.slug} has finished and no other dropout value of {model} has: it is the chosen "
                              "run, with nothing to judge it against; screen one of the other values")
        raise RnnvizError(f"{config.slug}: no other dropout value of {model} has finished, so there is nothing to judge "
                          f"a screening against; train the profile's chosen value in full first (rnnviz grid --profile "
                          f"{profile} --only {model}, or rnnviz train)")
    chosen = _epoch_ends(best.history)
    judged = []

    def result(verdict, epochs, why, where):
        return {"verdict": verdict, "epochs": epochs, "why": why, "run_dir": str(where), "judged": judged,
                "origin": "shipped" if store.is_shipped(where) else "store",
                "against": best.name, "against_origin": best.origin, "against_dropout": float(best.config["dropout"])}

    def judge(history, suffix=""):
        h = _epoch_ends(history)
        ok, _, why = screen_verdict(h, chosen)
        judged.append(int(round(h[-1]["epoch"])))
        if on_judged:
            on_judged(judged[-1], ok, why + suffix)
        return ok, why + suffix

    def full(mine, where, how):
        theirs = float(best.metrics["best_val_loss"])
        why = f"{how}: best validation {mine:.4f} against {theirs:.4f} ({mine - theirs:+.4f})"
        judged.append(config.epochs)
        if on_judged:
            on_judged(config.epochs, False, why)
        return result("wins" if mine < theirs else "loses", config.epochs, why, where)

    target = first
    shipped = store.shipped_screen(own.name) if not own.history else None
    if shipped is not None and (sh := _epoch_ends(RunFiles(shipped, store).history)):
        if sh[-1]["epoch"] >= config.epochs:  # trained in full and shipped without weights: it lost
            return full(min(float(r["val_loss"]) for r in sh), shipped, "trained in full, shipped without weights")
        ok, why = judge(sh, " (the shipped screening)")
        if ok:
            return result("clearly worse", judged[-1], why, shipped)
        target = judged[-1] + step  # retrained from scratch up to there: no checkpoint ships
    done = _epochs_done(own)
    target = min(max(target, done), config.epochs)
    while True:
        if target > done or not own.finished and target >= config.epochs:
            if config.precision == "bf16" and (why := train.bf16_unsupported(train.resolve_device(config.device))):
                raise RnnvizError(f"{config.slug}: the {profile} profile trains this run in bf16, and this machine cannot: "
                                  f"{why}. Screen it on a machine whose CPU has AVX-512 or AMX, or on a CUDA GPU with "
                                  "bf16 (--device cuda)")
            own = RunFiles(train.train_run(config.replace(until_epoch=target if target < config.epochs else 0), store),
                           store)
        done = _epochs_done(own)
        if own.finished:
            return full(float(own.metrics["best_val_loss"]), own.path, "trained in full")
        ok, why = judge([r for r in own.history if r["epoch"] <= done + 1e-9])
        if ok:
            return result("clearly worse", done, why, own.path)
        target = min(done + step, config.epochs)


def _epoch_ends(history: list[dict]) -> list[dict]:
    """The evaluations of a history taken at epoch ends (``eval_every`` adds others between)."""
    return [r for r in history if abs(r["epoch"] - round(r["epoch"])) < 1e-6]


def _epochs_done(run: RunFiles) -> int:
    """Whole epochs a run's history has reached (0 for none)."""
    h = _epoch_ends(run.history)
    return int(round(h[-1]["epoch"])) if h else 0


def dropout_trials(df: pd.DataFrame, dataset: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every dropout value of every model of ``dataset`` in a ``grid.summary`` frame: its status
    (finished, screened, partial, missing), epochs, best validation loss, the gap to the chosen
    value's run (overall, and at the same epoch for a screening or a partial run) and the verdict:
    ``chosen``, ``worse (full run)`` (also for a full run shipped without weights, under
    ``data/runs/screens/``: its status reads ``finished (weights not shipped)``), ``better, not read
    here (...)``, ``clearly worse (...)``,
    ``undecided (...)``, ``no evaluation yet`` or ``not run``. The chosen run is Table 1's: the best
    validation of ``table`` (the summary Table 1 is built from, e.g. a ``shipped_only`` one; default
    ``df``), so a finished run that Table 1 does not read is judged against it, not chosen."""
    d = df[df["dataset"] == dataset]
    t = d if table is None else table[table["dataset"] == dataset]
    chosen = {tuple(r[k] for k in grid.MODEL_KEY): r for _, r in grid.select_best(t).iterrows()}
    rows = []
    for _, r in d.sort_values(["size", "cell", "layers", "dropout"]).iterrows():
        key = tuple(r[k] for k in grid.MODEL_KEY)
        model = grid.model_name(r["cell"], int(r["layers"]), int(r["size"]))
        best = chosen.get(key)
        status, h = r["status"], []
        row = {"model": model, "dropout": float(r["dropout"]), "status": status, "epochs": "", "best val": r.get("best_val_loss"),
               "Δ best val": float("nan"), "Δ val, same epoch": float("nan"), "verdict": "not run"}
        if status in ("finished", "screened", "partial"):
            run = RunFiles(r["run_dir"])
            h = run.history
            total = run.config.get("epochs") if run.started else None
            row["epochs"] = f"{h[-1]['epoch']:g} of {total}" if h and total else ""
            if best is not None:
                row["Δ best val"] = float(r["best_val_loss"]) - float(best["best_val_loss"])
        kind = "screening" if status == "screened" else "partial run"
        complete = bool(status == "screened" and h and total and h[-1]["epoch"] >= total)  # in full, shipped without weights
        if complete:
            row["status"] = "finished (weights not shipped)"
        if best is not None and r["run_dir"] == best["run_dir"]:
            row["verdict"] = "chosen"
        elif status == "finished" or complete:
            if best is None:
                row["verdict"] = "finished, not read here"
            elif row["Δ best val"] < 0:
                row["verdict"] = "better, not read here (finished but not in this profile's Table 1, e.g. not shipped)"
            else:
                row["verdict"] = "worse (full run)"
        elif status in ("screened", "partial") and h:
            if best is None:
                row["verdict"] = f"undecided ({kind}; no finished run to compare)"
            else:
                ok, gap, why = screen_verdict(h, RunFiles(best["run_dir"]).history)
                row["Δ val, same epoch"] = gap
                row["verdict"] = f"{'clearly worse' if ok else 'undecided'} ({kind}: {why})"
        elif status == "partial":
            row["verdict"] = "no evaluation yet"
        elif status == "diverged":
            row["verdict"] = "diverged"
        rows.append(row)
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def dropout_table(df: pd.DataFrame, dataset: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """``dropout_trials`` of the models with a choice to show: more than one value, and a run of at
    least one (indexed by model)."""
    t = dropout_trials(df, dataset, table)
    g = t.groupby("model")
    return t[(g["dropout"].transform("size") > 1) & g["status"].transform(lambda v: (v != "missing").any())].set_index("model")


def dropout_tried(df: pd.DataFrame, dataset: str, table: pd.DataFrame | None = None) -> dict:
    """``{model: "0.25 chosen; 0 clearly worse (screened 15 of 50 epochs); 0.5 not run"}`` (``dropout_trials``)."""
    t = dropout_trials(df, dataset, table)
    out = {}
    for model, g in t.groupby("model", sort=False):
        if len(g) == 1:
            out[model] = f"{g['dropout'].iloc[0]:g} (the only value)"
            continue
        parts = []
        for _, r in g.iterrows():
            v = r["verdict"].split(" (")[0]
            if r["verdict"] == "worse (full run)":
                v = r["verdict"]  # with or without its weights shipped
            elif r["status"] in ("screened", "partial") and r["epochs"]:
                v += f" ({'screened' if r['status'] == 'screened' else 'partial'} {r['epochs']} epochs)"
            parts.append(f"{r['dropout']:g} {v}")
        out[model] = "; ".join(parts)
    return out


# ----------------------------------------------------------------------------------------
# Findings: pairs of models, judged once
# ----------------------------------------------------------------------------------------
def _value(t: pd.DataFrame, size, col):
    return t.at[size, col] if size in t.index and col in t.columns else float("nan")


def depth_pairs(t: pd.DataFrame, ref: pd.DataFrame) -> tuple[int, int, int]:
    """(ours wins, paper wins, pairs): per row and cell, the better of the 2- and 3-layer models
    against the 1-layer one, over the models both ``t`` (ours) and ``ref`` (the paper's) fill."""
    hits = hits_p = n = 0
    for size in t.index:
        for cell in paper.CELLS:
            one = column_name(cell, 1)
            deep = [column_name(cell, d) for d in paper.DEPTHS if d > 1]
            deep = [c for c in deep if pd.notna(_value(t, size, c)) and pd.notna(_value(ref, size, c))]
            if not deep or pd.isna(_value(t, size, one)) or pd.isna(_value(ref, size, one)):
                continue
            n += 1
            hits += int(min(t.at[size, c] for c in deep) < t.at[size, one] - LOSS_TIE)
            hits_p += int(min(ref.at[size, c] for c in deep) < ref.at[size, one] - LOSS_TIE)
    return hits, hits_p, n


def beats_pairs(t: pd.DataFrame, ref: pd.DataFrame, a: str, b: str) -> tuple[int, int, int]:
    """(ours wins, paper wins, pairs): cell ``a`` against cell ``b`` (``LSTM``, ``rnn`` …) at the
    same row and depth, over the models both tables fill."""
    hits = hits_p = n = 0
    for size in t.index:
        for d in paper.DEPTHS:
            ca, cb = column_name(a, d), column_name(b, d)
            vals = [_value(t, size, ca), _value(t, size, cb), _value(ref, size, ca), _value(ref, size, cb)]
            if any(pd.isna(v) for v in vals):
                continue
            n += 1
            hits += int(vals[0] < vals[1] - LOSS_TIE)
            hits_p += int(vals[2] < vals[3] - LOSS_TIE)
    return hits, hits_p, n


def holds(wins: int, n: int) -> bool | None:
    """Does a finding hold with ``wins`` of ``n`` pairs (more than ``MAJORITY``)? None without pairs."""
    return wins > MAJORITY * n if n else None


FINDINGS = [
    ("depth ≥ 2 helps: a 2- or 3-layer model beats the 1-layer one (same cell, same row)", depth_pairs),
    ("LSTM beats the RNN (same depth, same row)", lambda t, r: beats_pairs(t, r, "lstm", "rnn")),
    ("GRU beats the RNN (same depth, same row)", lambda t, r: beats_pairs(t, r, "gru", "rnn")),
    ("LSTM beats the GRU (same depth, same row; the paper: mixed)", lambda t, r: beats_pairs(t, r, "lstm", "gru")),
]


def findings(ours: pd.DataFrame, pap: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 1 findings as counts over the pairs both tables fill: ``ours`` and
    ``paper`` ("wins/pairs"), ``holds (ours)`` and ``holds (paper)`` (``holds``)."""
    rows = []
    for text, fn in FINDINGS:
        h, hp, n = fn(ours, pap)
        rows.append({"finding": text, "ours": f"{h}/{n}", "paper": f"{hp}/{n}",
                     "holds (ours)": holds(h, n), "holds (paper)": holds(hp, n)})
    return pd.DataFrame(rows).set_index("finding")


def findings_text(checks: pd.DataFrame) -> list[str]:
    """One sentence per finding, from ``findings``."""
    out = []
    for text, r in checks.iterrows():
        if r["holds (ours)"] is None:
            out.append(f"{text}: no pair of models to compare yet.")
            continue
        verdict = "holds" if r["holds (ours)"] else "does not hold"
        agree = "as in the paper" if r["holds (ours)"] == r["holds (paper)"] else "unlike the paper"
        out.append(f"{text}: {verdict} in our runs ({r['ours']} pairs; paper {r['paper']}), {agree}.")
    return out
