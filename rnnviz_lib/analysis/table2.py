"""Table 2 in tables and sentences: the n-gram and n-NN rows beside the paper's, the n-NN of
another recipe read from the store, and the best RNN they are compared with (notebook 03).

API::

    ngram = {"wp": baselines.run_ngrams(corpus, orders, store)}
    nnn = {"wp": baselines.run_nnn(corpus, ns, recipe, store)}
    table, sentence = ngram_rows(ngram)                          # one row per (dataset, order)
    table, sentence = nnn_rows(nnn, recipe, profile)             # one row per (dataset, n)
    extra, found, sentence = reference_nnn(corpora, ns, "paper", profile, store)
    table, ours, theirs = frames("wp", ngram["wp"], nnn["wp"], profile, extra.get("wp"))
    rnn, sentence = best_rnn("wp", profile, "", store, ours)     # rnn["label"], rnn["test_loss"]

``ngram`` and ``nnn`` hold what ``baselines.run_ngrams`` and ``baselines.run_nnn`` return; the
paper's numbers come from ``paper.TABLE1`` and ``paper.TABLE2``.
"""

from __future__ import annotations

import logging

import pandas as pd

from rnnviz_lib import baselines, paper, runs

log = logging.getLogger(__name__)


def ngram_rows(results: dict[str, dict]) -> tuple[pd.DataFrame, str]:
    """Our n-gram losses beside the paper's, and how long the counting and scoring took, from
    ``results`` ({dataset: ``baselines.run_ngrams`` result}).

    Returns (table, sentence). The table is indexed by (dataset, order), with ``n`` (order − 1,
    Table 2's context length), ``ours``, ``paper`` (None where the paper has no value), ``diff``
    and ``model MB``; the sentence gives, per dataset, the test symbols scored, the largest order
    counted, the seconds spent and which orders came from the cache.
    """
    rows = []
    for ds, r in results.items():
        for o, loss in r["orders"].items():
            p = paper.table2(ds, "n-gram", int(o) - 1)
            rows.append({"dataset": ds, "order": int(o), "n": int(o) - 1, "ours": loss, "paper": p,
                         "diff": None if p is None else loss - p, "model MB": r["model_bytes"][o] / 1e6})
    cols = ["dataset", "order", "n", "ours", "paper", "diff", "model MB"]
    sentence = "; ".join(f"`{ds}`: {r['test_symbols']:,} test symbols, counted to order {max(map(int, r['orders']))} "
                         f"in {r['seconds']['fit']:.1f} s and scored in {r['seconds']['score']:.1f} s"
                         + (f" (orders {r['cached']} read from cache)" if r["cached"] else "")
                         for ds, r in results.items())
    return pd.DataFrame(rows, columns=cols).set_index(["dataset", "order"]), sentence


def nnn_rows(results: dict[str, dict], recipe: dict, profile: str) -> tuple[pd.DataFrame, str]:
    """Our n-NN losses beside the paper's, with the hidden size each n kept.

    Parameters
    ----------
    results : {dataset: ``baselines.run_nnn`` result}
    recipe : the profile's ``baselines:`` section (``baselines.profile_params``)

    Returns
    -------
    table : indexed by (dataset, n) with ``hidden`` (the size kept), ``val (per hidden size)``
        ({H: best validation loss}), ``ours``, ``paper``, ``diff`` and ``train s``
    sentence : the full n-NN recipe, and on each paper dataset the steps of the paper's own n-NN
        row from one n to the next (``paper_nnn_steps``)
    """
    rows = []
    for ds, r in results.items():
        for n, loss in r["losses"].items():
            p = paper.table2(ds, "n-NN", n)
            H = r["selected_hidden"][n]
            rows.append({"dataset": ds, "n": n, "hidden": H, "val (per hidden size)": r["val"][n], "ours": loss,
                         "paper": p, "diff": None if p is None else loss - p, "train s": r["train_seconds"][n][H]})
    cols = ["dataset", "n", "hidden", "val (per hidden size)", "ours", "paper", "diff", "train s"]
    steps = [s for s in (paper_nnn_steps(ds) for ds in results) if s]
    sentence = " ".join([f"n-NN recipe of profile `{profile}`: {baselines.nnn_params(recipe)}."] + steps)
    return pd.DataFrame(rows, columns=cols).set_index(["dataset", "n"]), sentence


def paper_nnn_steps(dataset: str) -> str:
    """The paper's n-NN row and how much its loss falls from each n to the next (a bump, a
    smaller fall between two larger ones, hints at an under-trained model); "" for a dataset
    the paper does not have."""
    row = {n: v for n, v in sorted(paper.TABLE2.get(dataset, {}).get("n-NN", {}).items()) if v is not None}
    if len(row) < 2:
        return ""
    ns, vals = list(row), list(row.values())
    falls = [a - b for a, b in zip(vals, vals[1:])]
    return (f"The paper's n-NN on `{dataset}`: {', '.join(f'{v:.3f}' for v in vals)} for n = {ns[0]}…{ns[-1]}, "
            f"falling by {', '.join(f'{f:.2f}' for f in falls[:-1])} and {falls[-1]:.2f} from one n to the next.")


def same_recipe(a: str, b: str) -> bool:
    """Do profiles ``a`` and ``b`` train their n-NN by the same recipe (``baselines.nnn_params``)?"""
    return baselines.nnn_params(baselines.profile_params(a)) == baselines.nnn_params(baselines.profile_params(b))


def reference_nnn(corpora: dict, ns, reference: str, profile: str, store=None) -> tuple[dict, pd.DataFrame | None, str]:
    """The n-NN already trained under another profile's recipe, read from the store (or the
    shipped ones), never trained, to show as an extra row of Table 2.

    Parameters
    ----------
    corpora : {dataset: Corpus}
    reference : the recipe's profile; "" or ``profile`` itself: none asked for

    Returns
    -------
    extra : {dataset: {row label: {n: test loss}}}, ``frames``' ``extra``
    found : ``baselines.trained_nnn`` of every dataset with one, indexed by (dataset, n); None
        when none was found or asked for
    sentence : where they come from, or how to train them; "" when none was asked for
    """
    if not reference or reference == profile or same_recipe(reference, profile):
        return {}, None, ""  # none asked for, or the profile's own row is already this recipe's
    found = {ds: t for ds, c in corpora.items() if len(t := baselines.trained_nnn(c, ns, reference, store))}
    if not found:
        return {}, None, (f"No n-NN trained by the `{reference}` recipe is in this store (train them with "
                          f"`rnnviz nnn --dataset DS --n 1,2,3,4,5,6,7,8,9 --profile {reference}`).")
    extra = {ds: {f"n-NN ({reference} recipe, {baselines.origin_label(t['origin'])})": t["ours"].to_dict()}
             for ds, t in found.items()}
    return extra, pd.concat(found, names=["dataset"]), (
        f"n-NN models of the `{reference}` recipe were found, shipped with the code (`data/runs/baselines/`) or "
        f"trained earlier in this store (column `origin`; recipe {baselines.nnn_params(baselines.profile_params(reference))}); "
        "they are read, not trained, and shown as an extra row of Table 2:")


def frames(dataset: str, ngram: dict, nnn: dict, profile: str,
           extra: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Table 2 of one dataset, its n-NN row named by its recipe ("n-NN" for the paper profile; "n-NN
    (paper recipe, shipped)" for another profile with the paper's recipe).

    Parameters
    ----------
    ngram, nnn : the dataset's ``baselines.run_ngrams`` and ``baselines.run_nnn`` results
    extra : rows of another recipe (``reference_nnn``)

    Returns
    -------
    table : ``baselines.table2``, each cell "ours (paper, Δ)"
    ours, theirs : ``baselines.table2_frames`` (index: rows, columns: n); ``theirs`` is None
        for a dataset the paper does not have
    """
    if profile == "paper":
        own = {}
    elif same_recipe(profile, "paper"):  # e.g. the quick profile, which reads the shipped paper-recipe n-NN
        own = {"n-NN": f"n-NN (paper recipe, {baselines.origin_label(nnn.get('origin', {}).values())})"}
    else:
        own = {"n-NN": f"n-NN ({profile} recipe)"}
    ours, theirs = (f.rename(index=own) for f in baselines.table2_frames(dataset, ngram["orders"], nnn["losses"],
                                                                          extra=extra))
    return baselines.table2_compare(ours, theirs), ours, theirs if dataset in paper.TABLE2 else None


def best_rnn(dataset: str, profile: str, reference: str = "", store=None,
             ours: pd.DataFrame | None = None) -> tuple[dict | None, str]:
    """The best RNN of ``profile`` scored on the whole test set (``runs.best_rnn``), else of the
    ``reference`` profile (named in its label), and a sentence setting it against our longest
    n-gram and the paper's best RNN against the paper's 20-gram.

    Parameters
    ----------
    ours : ``frames``' ``ours`` (its "n-gram" row gives our longest n-gram); None leaves it out

    Returns
    -------
    rnn : ``runs.best_rnn``'s dict with ``label`` added (the slug, and the profile when it is
        another's), or None
    sentence : Markdown
    """
    rnn = runs.best_rnn(dataset, profile, store)
    if rnn is None and reference and reference != profile:  # asked for: another profile's runs, named
        rnn = runs.best_rnn(dataset, reference, store)
    best_paper = min((v for row in paper.TABLE1.get(dataset, {}).values() for v in row.values() if v is not None),
                     default=None)
    n_top = max(paper.TABLE2_N)
    theirs = (f" Paper: its best RNN {best_paper:.3f} against its {n_top}-gram "
              f"{paper.table2(dataset, 'n-gram', n_top):.3f}." if best_paper is not None else "")
    if rnn is None:
        return None, (f"`{dataset}`: best RNN not available: no finished RNN of profile `{profile}` was scored on the "
                      "whole test set." + theirs)
    rnn = {**rnn, "label": rnn["slug"] if rnn["profile"] == profile else f"{rnn['slug']}, profile {rnn['profile']}"}
    s = f"`{dataset}`: best RNN **{rnn['label']}**, {rnn['test_loss']:.3f} nats"
    grams = ours.loc["n-gram"].dropna() if ours is not None and "n-gram" in ours.index else pd.Series(dtype=float)
    if len(grams):
        n, loss = int(grams.index[-1]), float(grams.iloc[-1])
        d = loss - rnn["test_loss"]
        s += (f", against {loss:.3f} for our {n}-gram: the RNN is "
              + (f"better by {d:.3f}" if d > 0 else f"not better ({-d:.3f} worse)" if d < 0 else "level with it"))
    return rnn, s + "." + theirs
