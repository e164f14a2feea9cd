"""Rehearsals: ``<profile>-rehearse`` is a profile's shapes (every grid run, every n-NN, every
notebook with the profile's settings) trained for a few steps each on the CPU, derived by code
from the loaded profile (``config.load_profile`` resolves the name). The only module besides the
readers of each section (grid, baselines, pipeline) that knows a profile's section keys.
"""

from __future__ import annotations

import os

from rnnviz_lib.errors import RnnvizError

REHEARSE_SUFFIX = "-rehearse"
REHEARSE_STEPS = 2  # training steps per run (and per n-NN) in a rehearsal
REHEARSE_EVAL_BATCHES = 2  # validation batches per evaluation: validation only steers training
REHEARSE_NNN_VAL = 2000  # validation positions of an n-NN evaluation, for the same reason
# Test batches per run: 0 (the default) scores the whole test split, as the profile does. A
# number cuts the grid's test passes (the bulk of a rehearsal's time: 126 forward passes over
# 330K/620K symbols) and with them every analysis of test symbols; it is part of the runs' identity.
REHEARSE_TEST_BATCHES_ENV = "RNNVIZ_REHEARSE_TEST_BATCHES"


def rehearsal_base(profile: str) -> str | None:
    """``"paper"`` for ``"paper-rehearse"``; None for a name that is not a rehearsal."""
    name = str(profile)
    if name.endswith(REHEARSE_SUFFIX) and len(name) > len(REHEARSE_SUFFIX) and "/" not in name:
        return name[: -len(REHEARSE_SUFFIX)]
    return None


def rehearse_profile(prof: dict) -> dict:
    """The rehearsal of a loaded profile: every run of its grid (every model, dataset and
    dropout value, at the same widths and depths) and every n-NN of its recipe, each trained for
    ``REHEARSE_STEPS`` steps on the CPU with validation cut to a few batches, then every notebook
    with the profile's own notebook settings. Test passes stay whole, so every analysis sees the
    profile's real array sizes (all 330K WP test symbols for t-SNE, 30 streams for the cells).

    The result is named ``<name>-rehearse``: its tables and figures go under that name, its
    runs differ in identity (steps, snapshots) from the profile's own, and it never reads
    shipped runs (``rehearse: true``; the report runner turns them off), so nothing it makes can
    pass for a run of the real recipe.
    """
    import copy

    out = copy.deepcopy({k: v for k, v in prof.items() if k != "name"})
    out["name"] = f"{prof['name']}{REHEARSE_SUFFIX}"
    out["rehearse"] = True
    out["rehearses"] = prof["name"]
    steps = {"epochs": 1, "max_train_batches": REHEARSE_STEPS, "max_eval_batches": REHEARSE_EVAL_BATCHES,
             "eval_every": 0, "patience": 0, "device": "cpu"}
    env = os.environ.get(REHEARSE_TEST_BATCHES_ENV, "").strip()
    if env:
        if not env.isdigit():
            raise RnnvizError(f"${REHEARSE_TEST_BATCHES_ENV} must be a whole number of test batches (0 = all), "
                              f"got {env!r}")
        if int(env):
            steps["max_test_batches"] = int(env)
    out["rehearse_test_batches"] = int(steps.get("max_test_batches", 0))

    def _grid(g: dict) -> dict:
        g = dict(g)
        g.pop("shipped_only", None)  # the rehearsal trains every model; it never reads shipped runs
        g["train"] = {**(g.get("train") or {}), **steps}
        if g.get("train_overrides"):  # a per-model schedule gives way to the rehearsal's
            g["train_overrides"] = {k: {o: x for o, x in (v or {}).items() if o not in steps}
                                    for k, v in g["train_overrides"].items()}
        if g.get("snapshots"):  # weights after every step: a snapshot series as long as the run
            g["snapshots"] = {**g["snapshots"], "every": 1, "epochs": 1}
        if g.get("extra"):
            g["extra"] = [_grid(e) for e in g["extra"]]
        return g

    if out.get("grid"):
        out["grid"] = _grid(out["grid"])
    b = dict(out.get("baselines") or {})
    for k in ("nnn_max_epochs", "max_epochs", "nnn_shipped_only"):  # a rehearsal trains every n-NN itself
        b.pop(k, None)
    b.update(nnn_max_steps=REHEARSE_STEPS, nnn_eval_every=REHEARSE_STEPS, nnn_val_max=REHEARSE_NNN_VAL)
    out["baselines"] = b
    nbs = {k: dict(v or {}) for k, v in (out.get("notebooks") or {}).items()}
    nbs.setdefault("01_train_grid", {}).update(device="cpu", executor="local")
    out["notebooks"] = nbs
    out.setdefault("common", {})
    return out
