"""Shipped n-NN baselines (data/runs/baselines/): re-evaluated on the real test split, checked
against the manifest and the paper profile's recipe, and read by the store like its own models
(never trained again, never written to)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnviz_lib import baselines, cli, data, shipped
from rnnviz_lib.config import artifact_name, config_hash
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.evaluate import cross_entropy
from rnnviz_lib.store import REPO, Store

pytestmark = pytest.mark.usefixtures("one_thread")

SHIPPED = REPO / "data" / "runs"
BASELINES = shipped.manifest(SHIPPED).get("baselines", {})
LK_DIR = REPO / "data" / "lk"  # where `rnnviz data prepare --dataset lk` (make data, .ci/run) builds LK
RECIPE = "baselines:\n  nnn_hidden: 8\n  nnn_max_steps: 30\n  nnn_eval_every: 15\n  nnn_batch_size: 500\n"


def test_manifest_lists_each_shipped_baseline_with_its_provenance_and_the_paper_recipe():
    assert shipped.verify(SHIPPED, profile="paper") == []
    for name, e in BASELINES.items():
        assert e["kind"] == "nnn" and e["identity"] == shipped.nnn_identity_for(e["dataset"], e["n"], "paper")
        assert name == artifact_name(f"{e['dataset']}-nnn{e['n']}-h{e['hidden']}", e["identity"])
        assert config_hash(e["identity"]) == e["identity_hash"]
        assert e["commit"] and len(e["commit"]) == 40 and e["torch"] and e["machine"] and e["train_time_s"] > 0
        assert sorted(p.name for p in (SHIPPED / "baselines" / name).iterdir()) == sorted(shipped.BASELINE_FILES)
        m = json.loads((SHIPPED / "baselines" / name / "metrics.json").read_text())
        assert m["test_loss"] == e["test_loss"] and m["n"] == e["n"]


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_shipped_nnn_gives_its_test_loss_on_the_real_test_split(name):
    """Load model.pt, score the whole test split of the real corpus, get metrics.json's loss back."""
    e = BASELINES[name]
    if e["dataset"] == "lk":
        assert (LK_DIR / "lk.txt").is_file(), f"LK baselines are shipped: build the corpus with `rnnviz data prepare --dataset lk` into {LK_DIR}"
    corpus = data.load_corpus(e["dataset"], str(LK_DIR) if e["dataset"] == "lk" else None, download_ok=False)
    assert corpus.sha256 == e["identity"]["sha256"]
    test = data.corpus_splits(corpus).test
    probs = baselines.nnn_test_probs(SHIPPED / "baselines" / name / "model.pt", test)
    assert probs.shape == test.y.shape
    assert abs(cross_entropy(probs) - e["test_loss"]) < 1e-4


def _ship_one(small, tmp_path, monkeypatch):
    """Train a tiny 2-NN in store ``a``, ship it into ``tmp_path/shipped``; returns (a, root, name, profile)."""
    prof = tmp_path / "recipe.yaml"
    prof.write_text(RECIPE)
    a = Store(tmp_path / "a")
    corpus = data.load_corpus(str(small))
    res = baselines.run_nnn(corpus, [2], baselines.profile_params(str(prof)), a)
    assert res["origin"] == {2: "store"}
    root = tmp_path / "shipped"
    names = shipped.ship_nnn(str(small), [2], a, profile=str(prof), root=root, full_only=False)
    monkeypatch.setenv("RNNVIZ_SHIPPED_RUNS", str(root))
    return a, root, names, str(prof)


def _tree(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_a_shipped_nnn_is_read_never_trained_and_never_written(small, tmp_path, monkeypatch):
    a, root, names, prof = _ship_one(small, tmp_path, monkeypatch)
    corpus = data.load_corpus(str(small))
    own = baselines.nnn_dir(corpus, 2, baselines.profile_params(prof), a, create=False)
    assert names == [own.name] and shipped.verify(root, profile=None) == []
    entry = shipped.manifest(root)["baselines"][own.name]
    assert entry["test_loss"] == json.loads((own / "metrics.json").read_text())["test_loss"]
    assert entry["segments"][0]["commit"] == entry["commit"] and entry["files"]["model.pt"]["bytes"] > 0
    before = _tree(root)
    b = Store(tmp_path / "b")  # a fresh clone's store: nothing trained
    res = baselines.run_nnn(corpus, [2], baselines.profile_params(prof), b)
    assert res["origin"] == {2: "shipped"} and res["losses"][2] == entry["test_loss"]
    assert not (b.artifacts_dir / "baselines").exists()  # nothing trained, no folder made
    probs = baselines.load_test_probs(corpus, "nnn", 2, b, profile=prof)  # recomputed into b's cache
    np.testing.assert_allclose(probs, np.load(own / "test_probs.npy"), rtol=1e-6)
    assert b.cached_file(root / "baselines" / own.name, "test_probs.npy").is_file()  # in b's shipped-cache
    found = baselines.trained_nnn(corpus, [1, 2], prof, b)
    assert list(found.index) == [2] and found.at[2, "ours"] == entry["test_loss"]
    assert _tree(root) == before
    # force trains a copy into the store, which is then read instead of the shipped one
    forced = baselines.run_nnn(corpus, [2], baselines.profile_params(prof), b, force=True)
    assert forced["origin"] == {2: "store"} and (b.artifacts_dir / "baselines" / own.name / "metrics.json").is_file()
    assert _tree(root) == before


def test_the_probability_cache_follows_the_weights_not_the_name(small, tmp_path, monkeypatch):
    """Re-shipping a model of the same name with other weights must not be read through the old cache."""
    a, root, names, prof = _ship_one(small, tmp_path, monkeypatch)
    corpus = data.load_corpus(str(small))
    b = Store(tmp_path / "b")
    first = baselines.load_test_probs(corpus, "nnn", 2, b, profile=prof)
    import torch

    f = root / "baselines" / names[0] / "model.pt"
    ck = torch.load(f, weights_only=True)
    ck["state_dict"]["b1"] = ck["state_dict"]["b1"] + 1.0
    torch.save(ck, f)
    second = baselines.load_test_probs(corpus, "nnn", 2, b, profile=prof)
    assert not np.allclose(first, second)
    np.testing.assert_allclose(second, baselines.nnn_test_probs(f, data.corpus_splits(corpus).test))


def test_verify_names_a_damaged_or_unlisted_baseline(small, tmp_path, monkeypatch):
    _, root, names, _ = _ship_one(small, tmp_path, monkeypatch)
    d = root / "baselines" / names[0]
    (d / "history.json").write_text("[]")
    (root / "baselines" / "wp-nnn9-h8-0000000000").mkdir()
    problems = shipped.verify(root, profile=None)
    assert any("history.json: sha256 differs" in p for p in problems)
    assert any("wp-nnn9-h8-0000000000: not in MANIFEST.json" in p for p in problems)
    # against the paper profile, a model of another corpus and recipe is named
    assert any(f"{d}: shipped n-NN are for the reference corpora" in p for p in shipped.verify(root, profile="paper"))


def test_ship_refuses_what_has_not_finished_and_short_recipes(small, tmp_path):
    prof = tmp_path / "recipe.yaml"
    prof.write_text(RECIPE)
    with pytest.raises(RnnvizError, match="has not finished.*rnnviz nnn"):
        shipped.ship_nnn(str(small), [3], Store(tmp_path / "a"), profile=str(prof), root=tmp_path / "s",
                         full_only=False)
    with pytest.raises(RnnvizError, match="short one"):
        shipped.ship_nnn(str(small), [3], Store(tmp_path / "a"), profile="smoke", root=tmp_path / "s")
    assert cli.main(["runs", "ship", "--nnn", "1", "--profile", str(prof)]) == 2  # --dataset is required
