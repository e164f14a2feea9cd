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


FIXTURES = REPO / "tests" / "fixtures"
# The fast tier (`make test-fast`, RNNVIZ_TEST_TIER=fast): only tests marked `fast`, and the data
# folder points at the fixtures, which hold no War and Peace, so a fast test that reached for it fails.
FAST_TIER = os.environ.get("RNNVIZ_TEST_TIER", "") == "fast"
SHARED_DATA = FIXTURES if FAST_TIER else _shared_data()
if FAST_TIER:
    os.environ["RNNVIZ_DATA_DIR"] = str(FIXTURES)
os.environ.setdefault("RNNVIZ_DATA_DIR", str(SHARED_DATA))
# Tests see no shipped runs (data/runs/) unless they ask for them: a test's store is its own.
os.environ["RNNVIZ_SHIPPED_RUNS"] = "off"


def pytest_configure(config):
    config.addinivalue_line("markers", "fast: in the fast tier (make test-fast): the tiny fixture only, no War and "
                            "Peace, no browser, no Ray, seconds per test")


def pytest_ignore_collect(collection_path, config):
    """The fast tier does not even import a test module that marks nothing fast (browser, Ray, ...)."""
    if FAST_TIER and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return "pytest.mark.fast" not in collection_path.read_text(encoding="utf-8")
    return None


def pytest_collection_modifyitems(config, items):
    if not FAST_TIER:
        return
    keep = [item for item in items if item.get_closest_marker("fast")]
    config.hook.pytest_deselected(items=[item for item in items if not item.get_closest_marker("fast")])
    items[:] = keep


@pytest.fixture(scope="session")
def tiny_path() -> Path:
    """850 bytes of prose and C: quotes, parentheses, braces, comments, strings and newlines."""
    return FIXTURES / "tiny.txt"


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


CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (CI: apt-get install chromium)


@pytest.fixture(scope="module")
def browser():
    """A real headless Chromium (Playwright driving Debian's chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def small(home, wp_path):
    """A 150 KB slice of War and Peace as a user corpus: 15 batches of 100x100 -> 12/1/2."""
    p = home / "small.txt"
    p.write_bytes(wp_path.read_bytes()[200_000:350_000])
    return p


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and the CI machine has two shared cores; Ray tasks
    also train on one thread, so the local baseline does the same floating-point work."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def throughput_benchmark():
    """``main`` of benchmarks/train_throughput.py, loaded from its file (benchmarks/ is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_throughput", REPO / "benchmarks" / "train_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main
