"""Shared fixtures: real data from ../shared/data, and an isolated project root per test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    env = os.environ.get("RNNVIZ_DATA_DIR")
    if env:
        return Path(env).resolve()
    return (REPO.parent / "shared" / "data").resolve()


SHARED_DATA = _shared_data()
os.environ.setdefault("RNNVIZ_DATA_DIR", str(SHARED_DATA))
# Tests see no shipped runs (data/runs/) unless they ask for them: a test's store is its own.
os.environ["RNNVIZ_SHIPPED_RUNS"] = "off"


@pytest.fixture(scope="session")
def wp_path() -> Path:
    p = SHARED_DATA / "war_and_peace.txt"
    assert p.is_file(), f"tests need War and Peace at {p} (set RNNVIZ_DATA_DIR)"
    return p


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty project root (RNNVIZ_HOME) with the repo's notebooks/ linked in."""
    root = tmp_path / "home"
    root.mkdir()
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("*.ipynb"))
    monkeypatch.setenv("RNNVIZ_HOME", str(root))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and the CI machine has two shared cores; Ray tasks
    also train on one thread, so the local baseline does the same floating-point work."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
