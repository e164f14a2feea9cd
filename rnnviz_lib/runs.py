"""Trained runs, read as models and results: ``Run`` (a run folder's files, its model and its test
probabilities) and ``finished_runs`` (the finished runs of a profile's grid).

The store (``store.RunFiles``) reads a run's files and knows nothing above it; this module adds
what needs the training code (building the model from its weights, scoring the test split) and
the grid (which runs a profile chose).
"""

from __future__ import annotations

import logging

import numpy as np

from rnnviz_lib import grid, train
from rnnviz_lib.store import RunFiles, Store

log = logging.getLogger(__name__)


class Run(RunFiles):
    """One training run folder: ``RunFiles`` (config, metrics, history, snapshots, weights) plus
    its model and its test probabilities.

    Attributes
    ----------
    path : Path of the folder;  store : the Store it was read through
    profile : the profile whose runs it was listed as (``finished_runs``), or None when opened by path
    """

    def model(self, which: str = "best", device="cpu"):
        """(CharRNN in eval mode, TrainConfig): ``train.load_model`` of this run."""
        return train.load_model(self.path, which, device)

    def probs(self) -> np.ndarray:
        """(B, T) float32 probabilities of the correct test symbols of a finished run. A shipped
        run's are recomputed once from its best weights and cached (``train.load_probs``)."""
        return train.load_probs(self.path, self.store)

    def probs_shape(self) -> tuple:
        """(B, T) of the test probabilities, from the .npy header when the file exists (listing a
        paper-scale grid reads none of them), else of ``probs()``."""
        f = self.probs_file
        if f.is_file():
            try:
                return tuple(np.load(f, mmap_mode="r", allow_pickle=False).shape)
            except (ValueError, OSError, EOFError):
                pass  # damaged: probs() names the file and the fix
        return tuple(self.probs().shape)


def finished_runs(dataset: str, profile, store: Store | None = None, extras: bool = False) -> list[Run]:
    """The finished runs of ``profile``'s grid on ``dataset`` (``grid.run_dirs``: each model's
    chosen run; with ``extras`` also those of the profile's ``extra:`` grids), never another
    profile's. Each ``Run.profile`` names the profile. A profile with no ``grid:`` section is an
    RnnvizError: to read another profile's runs, ask for that profile by name.

    Parameters
    ----------
    dataset : "wp", "lk" or a corpus path, as in the run's config
    profile : profile name / YAML path, or a ``grid:`` dict (required: whose runs)
    store : where the runs are (default ``Store()``)
    """
    store = store or Store()
    label = profile if isinstance(profile, str) else str((profile or {}).get("name", "a grid section"))
    found = [Run(d, store, label) for d in grid.run_dirs(profile, dataset, store=store, extras=extras)]
    return [r for r in found if r.finished and r.config.get("dataset") == dataset and "test_loss" in r.metrics]


def best_rnn(dataset: str, profile, store: Store | None = None) -> dict | None:
    """The finished RNN of ``profile``'s grid (``finished_runs``: the store's and the shipped
    ones, never another profile's) scored on the whole test set with the lowest test loss on
    ``dataset``, as ``{"slug", "test_loss", "path", "profile"}``; None when there is none."""
    store = store or Store()
    best = None
    for run in finished_runs(dataset, profile, store):
        m = run.metrics
        if run.config.get("max_test_batches", 0):
            continue  # scored on part of the test set: not comparable with the baselines
        if best is None or m["test_loss"] < best["test_loss"]:
            best = {"slug": m.get("slug", run.name), "test_loss": float(m["test_loss"]), "path": str(run.path),
                    "profile": run.profile}
    return best
