"""The states exported for LSTMVis (``explorer.write_lstmvis``) and as numpy arrays
(``explorer.write_npz``), read back the way LSTMVis reads them (h5py, its ``lstm.yml``, its
"word id" dictionary) and compared with the activations; then ``rnnviz cells --export`` and
``--compare`` for real on two tiny trained runs."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
import yaml

from rnnviz_lib import cli, explorer, train
from rnnviz_lib.analysis import activations as A
from rnnviz_lib.data import byte_label
from rnnviz_lib.models import CharRNN

TEXT = b'He said, "a <b> & c".\n\tShe said "no" -- twice.\n' * 4


def _acts(cell: str, L: int = 2, H: int = 5, seed: int = 0):
    """Two streams of 30 symbols of TEXT read by an untrained model (distinct sizes: B=2, T=30, H=5, L=2)."""
    vocab = np.unique(np.frombuffer(TEXT, np.uint8))
    lut = np.zeros(256, np.uint8)
    lut[vocab] = np.arange(vocab.size)
    ids = lut[np.frombuffer(TEXT, np.uint8)]
    rows = np.stack([ids[:31], ids[40:71]])
    text = (TEXT[:30], TEXT[40:70])
    sample = A.TextSample(rows, 0, vocab, text, (0, 0), "prose", "two streams")
    torch.manual_seed(seed)
    m = CharRNN(cell, vocab.size, H, L, init_range=0.5).eval()
    return sample, A.compute_activations(m, sample)


def _read_like_lstmvis(folder):
    """Open a project folder as LSTMVis's data handler does; return (config, h5 files, id -> word)."""
    config = yaml.safe_load((folder / "lstm.yml").read_text())
    h5 = {k: h5py.File(folder / v, "r") for k, v in config["files"].items() if v.endswith((".h5", ".hdf5"))}
    words = {}
    for k, v in config["files"].items():
        if v.endswith(".dict"):
            words[k] = {}
            for line in (folder / v).read_text(encoding="utf-8").splitlines():
                w, i = line.split()  # LSTMVis: "word id", split on whitespace, exactly two fields
                words[k][int(i)] = w
    return config, h5, words


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_lstmvis_project_reads_back_as_the_activations(tmp_path, cell):
    sample, acts = _acts(cell)
    B, T, H, L = 2, 30, 5, 2
    folder = explorer.write_lstmvis(tmp_path / "proj", acts, sample, "tiny", "a tiny model")
    assert sorted(p.name for p in folder.iterdir()) == ["lstm.yml", "states.hdf5", "train.dict", "train.hdf5"]
    config, h5, words = _read_like_lstmvis(folder)
    assert config["name"] == "tiny" and config["description"] == "a tiny model"
    ws = config["word_sequence"]
    word_ids = h5[ws["file"]][ws["path"]][:]
    assert word_ids.shape == (B * T,) and np.issubdtype(word_ids.dtype, np.integer)
    np.testing.assert_array_equal(word_ids, acts.x.reshape(-1))  # stream 0's 30 steps, then stream 1's
    mapper = words[ws["dict_file"]]
    assert sorted(mapper) == list(range(sample.vocab.size)) and len(set(mapper.values())) == sample.vocab.size
    assert [mapper[i] for i in word_ids[:10]] == [byte_label(b) for b in TEXT[:10]]
    types = config["states"]["types"]
    assert [t["layer"] for t in types if t["type"] == "state"] == [1, 2]
    for t in types:
        data = h5[t.get("file", config["states"]["file"])][t["path"]]
        assert data.shape == (B * T, H) and data.dtype == np.float32  # (T, H) per layer, as LSTMVis reads it
        l = t["layer"] - 1
        if t["type"] == "state":
            shown = data[:] if t.get("transform") == "none" else np.tanh(data[:])  # LSTMVis applies tanh by default
            np.testing.assert_allclose(shown.reshape(B, T, H), acts.cell_values(l), rtol=0, atol=1e-6)
            key = "c" if cell == "lstm" else "h"
            np.testing.assert_array_equal(data[:].reshape(B, T, H), acts.layers[l][key].astype(np.float32))
        else:
            assert cell == "lstm" and t["transform"] == "none"
            np.testing.assert_array_equal(data[:].reshape(B, T, H), acts.layers[l]["h"].astype(np.float32))
    assert len(types) == (2 * L if cell == "lstm" else L)
    for f in h5.values():
        f.close()

    npz = explorer.write_npz(tmp_path / "states.npz", acts, sample)
    with np.load(npz, allow_pickle=False) as z, h5py.File(folder / "states.hdf5", "r") as f:
        assert {k for k in z.files if k.startswith(("states", "output"))} == set(f.keys())
        for k in f.keys():
            np.testing.assert_array_equal(z[k], f[k][:])
        np.testing.assert_array_equal(z["word_ids"], word_ids)
        np.testing.assert_array_equal(z["vocab"], sample.vocab)
        assert z["words"].tolist() == [mapper[i] for i in range(sample.vocab.size)]


def _tiny_run(corpus, cell: str, size: int):
    cfg = train.TrainConfig(dataset=str(corpus), cell=cell, layers=2, size=size, hidden=size - 4, epochs=1,
                            batch_size=8, seq_length=40, max_eval_batches=2, max_test_batches=1, device="cpu")
    return cfg, train.train_run(cfg)


def test_rnnviz_cells_exports_and_compares(home, tmp_path, capsys, one_thread):
    rng = np.random.default_rng(0)
    words = ["he", "said", "the", "old", "man", "yes", "no", "<script>", "</script>", "alert(1)", "&amp;"]
    corpus = home / "quotes.txt"
    corpus.write_bytes(" ".join(f'{rng.choice(words)} "{rng.choice(words)} {rng.choice(words)}".'
                                for _ in range(400)).encode())
    cfg1, run1 = _tiny_run(corpus, "lstm", 16)
    cfg2, run2 = _tiny_run(corpus, "gru", 14)
    text = tmp_path / "page.txt"
    text.write_bytes(b'the man said "yes <script>alert(1)</script> no". ' * 20)  # only bytes the models know
    out = tmp_path / "out"
    rc = cli.main(["cells", "--run", str(run1), "--text", str(text), "--out", str(out), "--no-causal",
                   "--symbols", "400", "--contexts", "4", "--export", "lstmvis", "--export", "npz",
                   "--compare", str(run2)])
    assert rc == 0
    printed = capsys.readouterr().out
    name1, name2 = cfg1.slug, cfg2.slug
    folder = out / f"{name1}-lstmvis"
    for p in (folder, out / f"{name1}-states.npz", out / f"{name1}-vs-{name2}-explorer.html"):
        assert p.exists() and str(p) in printed
    assert (folder / "lstm.yml").is_file()
    T = len(text.read_bytes()) - 1  # every analysed symbol of the text (the last is only a target)
    config, h5, _ = _read_like_lstmvis(folder)
    assert h5["train"]["word_ids"].shape == (T,)
    assert h5["states"]["states1"].shape == h5["states"]["states2"].shape == (T, 12)
    for f in h5.values():
        f.close()
    page = (out / f"{name1}-vs-{name2}-explorer.html").read_text()
    data = json.loads(page.split('id="rnnviz-data">')[1].split("</script>")[0])
    assert [m["H"] for m in data["models"]] == [12, 10] and [m["L"] for m in data["models"]] == [2, 2]
    assert len(data["glyphs"]) == 400 and data["models"][0]["contexts"]["k"] == 4
    assert "<script>alert(1)</script>" in "".join(data["glyphs"]) and "<script>alert" not in page  # escaped
    single = (out / f"{name1}-explorer.html").read_text()
    single = json.loads(single.split('id="rnnviz-data">')[1].split("</script>")[0])
    assert len(single["models"]) == 1 and len(single["models"][0]["contexts"]["hi"][0]) == 4
    # a run that is not one: one line, exit code 2, before any work
    assert cli.main(["cells", "--run", str(run1), "--compare", str(tmp_path), "--out", str(out)]) == 2
    assert "not a run directory" in capsys.readouterr().err
