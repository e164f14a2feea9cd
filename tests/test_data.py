"""Corpora, splits and the data CLI, on the real War and Peace file and on built kernel tarballs."""

from __future__ import annotations

import http.server
import io
import json
import random
import subprocess
import sys
import tarfile
import threading

import numpy as np
import pytest

from rnnviz_lib import cli, data, lk_corpus
from rnnviz_lib.errors import RnnvizError
from rnnviz_lib.store import Store, sha256_file

WP_SHA = "fb66ba999dafe24017cdd59e04c56d385a9c8466993d374fd4c6f08b2142985e"


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("rnnviz: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


# -- War and Peace ------------------------------------------------------------------------
def test_wp_info_json_exact_numbers_end_to_end(wp_path, tmp_path):
    """The CLI contract, as a user runs it: one JSON object with the paper's numbers."""
    proc = subprocess.run(
        [sys.executable, "-m", "rnnviz_lib.cli", "data", "info", "--dataset", "wp", "--data-dir", str(wp_path.parent), "--json"],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    )
    info = json.loads(proc.stdout)
    assert info["symbols"] == 3_258_246
    assert info["vocab_size"] == 87
    assert info["sha256"] == WP_SHA
    assert info["split"] == {"train": 2_600_000, "val": 320_000, "test": 330_000}
    assert info["split_mode"] == "charrnn"
    assert info["batches"] == {"train": 260, "val": 32, "test": 33}


def test_wp_is_read_as_bytes_not_text(wp_path):
    c = data.load_corpus("wp", wp_path.parent, store=Store(wp_path.parent))
    assert len(c) == wp_path.stat().st_size
    assert c.decode(c.ids[:3]) == b"\xef\xbb\xbf"  # the BOM is three symbols
    assert 13 in c.vocab.tolist()  # CR kept: CRLF line ends
    text = "Well, Prince"
    assert c.decode(c.encode(text)) == text.encode()


def test_prepare_saves_vocabulary_and_manifest(wp_path, home, capsys):
    code, out, _ = run_cli(capsys, "data", "prepare", "--dataset", "wp", "--data-dir", str(wp_path.parent))
    assert code == 0
    vocab = json.loads((home / "data" / "wp" / "vocab.json").read_text())
    assert len(vocab["bytes"]) == 87 and vocab["bytes"] == sorted(vocab["bytes"])
    prepared = json.loads((home / "data" / "wp" / "prepared.json").read_text())
    assert prepared["checksum_ok"] is True and prepared["sha256"] == WP_SHA


# -- splits -------------------------------------------------------------------------------
def test_charrnn_split_layout_and_alignment():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 11, size=7 * 5 * 23 + 17).astype(np.uint8)  # B=7, S=5, 23 batches + a remainder
    sp = data.make_splits(ids, batch_size=7, seq_length=5, fractions=(0.8, 0.1, 0.1))
    assert [p.n_batches for p in sp] == [18, 2, 3]  # floor(18.4), floor(2.3), rest
    L = 23 * 5
    for part in sp:
        B, T = part.x.shape
        assert B == 7 and T == part.n_batches * 5
        for b in range(B):
            np.testing.assert_array_equal(part.x[b], ids[part.start[b] : part.start[b] + T])
            # y is the next symbol of the cut corpus (the very last wraps to the first, as in char-rnn)
            nxt = np.append(ids[: 23 * 35], ids[0])[part.start[b] + 1 : part.start[b] + T + 1]
            np.testing.assert_array_equal(part.y[b], nxt)
    # test = last 3 chunks of each stream
    assert sp.test.start.tolist() == [b * L + 20 * 5 for b in range(7)]
    # consecutive batches continue each row: the hidden state can be carried
    batches = list(sp.train.batches())
    assert len(batches) == 18 and batches[0][0].shape == (7, 5)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches], axis=1), sp.train.x)


def test_lk_sized_split_gives_papers_counts():
    ids = np.zeros(6_206_996, dtype=np.uint8)
    sp = data.make_splits(ids, 100, 100, data.FRACTIONS["lk"])
    assert sp.sizes() == {"train": 5_580_000, "val": 310_000, "test": 310_000}


def test_contiguous_mode_same_sizes_contiguous_parts():
    ids = (np.arange(3 * 4 * 30) % 251).astype(np.uint8)
    cr = data.make_splits(ids, 3, 4, (0.8, 0.1, 0.1), "charrnn")
    co = data.make_splits(ids, 3, 4, (0.8, 0.1, 0.1), "contiguous")
    assert cr.sizes() == co.sizes()
    n_train = co.train.symbols
    np.testing.assert_array_equal(co.train.x.ravel(), ids[:n_train])
    np.testing.assert_array_equal(co.test.x.ravel(), ids[n_train + co.val.symbols :])


# -- LK from a kernel tarball ---------------------------------------------------------------
def _kernel_tarball(path, top="linux-9.9"):
    files = {f"{top}/kernel/sched/core.c": b"int core(void) { return 0; }\n" * 40,
             f"{top}/kernel/fork.c": b"/* fork */\nlong fork(void);\n" * 50,
             f"{top}/kernel/time/tick.h": b"#define TICK 1\n" * 60,
             f"{top}/kernel/Makefile": b"obj-y += fork.o\n",  # not .c/.h
             f"{top}/drivers/net/x.c": b"int drv;\n" * 100}  # not under kernel/
    with tarfile.open(path, "w:xz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return {k: v for k, v in files.items() if "/kernel/" in k and k.endswith((".c", ".h"))}


def _expected_lk(files, seed, n):
    names = sorted(files)
    random.Random(seed).shuffle(names)
    return b"".join(files[k] for k in names)[:n]


def test_build_lk_follows_recipe_and_writes_manifest(tmp_path):
    files = _kernel_tarball(tmp_path / "linux-9.9.tar.xz")
    n = 2000
    man = lk_corpus.build_lk(tmp_path / "linux-9.9.tar.xz", tmp_path / "out", seed=3, n_bytes=n)
    body = (tmp_path / "out" / "lk.txt").read_bytes()
    assert body == _expected_lk(files, 3, n)
    assert man["files_available"] == 3 and man["symbols"] == n
    assert man["sha256"] == data.sha256_bytes(body)
    assert man["source_sha256"] == sha256_file(tmp_path / "linux-9.9.tar.xz")
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == man
    other = lk_corpus.build_lk(tmp_path / "linux-9.9.tar.xz", tmp_path / "out2", seed=4, n_bytes=n)
    assert other["sha256"] != man["sha256"]  # the seed matters


def test_build_lk_from_debian_package(tmp_path):
    """The linux-source .deb: an ar archive whose data.tar.xz holds usr/src/linux-source-X.tar.xz."""
    files = _kernel_tarball(tmp_path / "linux-source-9.9.tar.xz", top="linux-source-9.9")
    data_tar = io.BytesIO()
    with tarfile.open(fileobj=data_tar, mode="w:xz") as tar:
        tar.add(tmp_path / "linux-source-9.9.tar.xz", arcname="./usr/src/linux-source-9.9.tar.xz")
    members = [(b"debian-binary", b"2.0\n"), (b"control.tar.xz", b"x" * 11), (b"data.tar.xz", data_tar.getvalue())]
    deb = io.BytesIO()
    deb.write(b"!<arch>\n")
    for name, body in members:
        deb.write(name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
                  + str(len(body)).encode().ljust(10) + b"`\n" + body + (b"\n" if len(body) % 2 else b""))
    (tmp_path / "linux-source-9.9_all.deb").write_bytes(deb.getvalue())
    man = lk_corpus.build_lk(tmp_path / "linux-source-9.9_all.deb", tmp_path / "out", seed=0, n_bytes=1500)
    assert (tmp_path / "out" / "lk.txt").read_bytes() == _expected_lk(files, 0, 1500)
    assert man["kernel_tarball"] == "linux-source-9.9.tar.xz"


def test_lk_cli_prepare_and_info(tmp_path, home, capsys, monkeypatch):
    _kernel_tarball(tmp_path / "linux-9.9.tar.xz")
    monkeypatch.setattr(lk_corpus, "LK_BYTES", 3000)
    monkeypatch.setattr(lk_corpus.build_lk, "__defaults__", (0, 3000, "kernel/"))
    code, _, err = run_cli(capsys, "data", "prepare", "--dataset", "lk", "--kernel-source", str(tmp_path / "linux-9.9.tar.xz"))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "data", "info", "--dataset", "lk", "--batch-size", "5", "--seq-length", "10", "--json")
    info = json.loads(out)
    assert info["symbols"] == 3000 and info["manifest"]["files_used"] >= 1
    assert info["split"] == {"train": 2700, "val": 150, "test": 150}  # 60 batches -> 54/3/3


# -- bad input: one clear line, nothing partial ---------------------------------------------
def _no_partial_files(root):
    return [p for p in root.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or p.name.startswith("."))]


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""
    declared = 0

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(self.declared))
        self.end_headers()
        self.wfile.write(self.body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *a):
        pass


@pytest.fixture
def http_server():
    servers = []

    def start(body: bytes, declared: int):
        handler = type("H", (_Handler,), {"body": body, "declared": declared})
        srv = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_port}/warpeace_input.txt"

    yield start
    for s in servers:
        s.shutdown()


def test_interrupted_download_leaves_nothing(home, capsys, monkeypatch, http_server, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("RNNVIZ_DATA_DIR", str(empty))
    monkeypatch.setenv("RNNVIZ_WP_URL", http_server(b"Well, Prince" * 100, 3_258_246))
    code, _, err = run_cli(capsys, "data", "prepare", "--dataset", "wp")
    assert_one_line_error(code, err, "interrupted", "nothing was saved")
    assert not (home / "data" / "raw" / "warpeace_input.txt").exists()
    assert _no_partial_files(home) == []


def test_missing_corpus_says_how_to_get_it(home, capsys, monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("RNNVIZ_DATA_DIR", str(empty))
    monkeypatch.setenv("RNNVIZ_WP_URL", "http://127.0.0.1:9/nothing-listens-here")
    code, _, err = run_cli(capsys, "data", "info", "--dataset", "wp")
    assert_one_line_error(code, err, "War and Peace not found", "--data-dir", "RNNVIZ_DATA_DIR")
    assert _no_partial_files(home) == []
    code, _, err = run_cli(capsys, "data", "info", "--dataset", "lk")
    assert_one_line_error(code, err, "apt-get download linux-source-6.1", "--kernel-source")


def test_checksum_mismatch_refused_then_allowed_and_reported(home, capsys, tmp_path, wp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "war_and_peace.txt").write_bytes(wp_path.read_bytes()[:-1] + b"!")
    code, _, err = run_cli(capsys, "data", "prepare", "--dataset", "wp", "--data-dir", str(bad))
    assert_one_line_error(code, err, "sha256", "--allow-checksum-mismatch")
    assert not (home / "data" / "wp").exists()
    code, _, _ = run_cli(capsys, "data", "prepare", "--dataset", "wp", "--data-dir", str(bad), "--allow-checksum-mismatch")
    assert code == 0
    assert json.loads((home / "data" / "wp" / "prepared.json").read_text())["checksum_ok"] is False
    from rnnviz_lib import pipeline

    index = pipeline.write_index("smoke", home, {})
    assert "checksum mismatch" in index.read_text()


@pytest.mark.parametrize(
    "make, needles",
    [
        (lambda d: d / "sub", ["is a directory"]),
        (lambda d: (d / "empty.txt").write_bytes(b"") and d / "empty.txt" or d / "empty.txt", ["is empty"]),
        (lambda d: (d / "small.txt").write_bytes(b"abc" * 9999) and d / "small.txt" or d / "small.txt",
         ["29,997 symbols", "30,000"]),
        (lambda d: d / "nope.txt", ["does not exist"]),
        (lambda d: __import__("pathlib").Path("/proc/self/mem"), ["cannot read"]),
    ],
    ids=["directory", "empty", "too-small", "missing-file", "unreadable"],
)
def test_bad_files(home, capsys, tmp_path, make, needles):
    (tmp_path / "sub").mkdir()
    path = make(tmp_path)
    code, _, err = run_cli(capsys, "data", "info", "--dataset", str(path))
    assert_one_line_error(code, err, *needles)
    assert _no_partial_files(home) == []
    assert not (home / "data").exists()


def test_unknown_dataset_name(home, capsys):
    code, _, err = run_cli(capsys, "data", "info", "--dataset", "shakespeare")
    assert_one_line_error(code, err, "unknown dataset 'shakespeare'", "wp, lk")


def test_user_file_works_like_a_dataset_name(home, capsys, tmp_path):
    text = ("if (x) { y = \"a <b> & c\"; } /* comment */\n" * 2400).encode()
    (tmp_path / "code.c").write_bytes(text)
    code, out, _ = run_cli(capsys, "data", "info", "--dataset", str(tmp_path / "code.c"), "--json")
    info = json.loads(out)
    assert info["symbols"] == len(text) and info["vocab_size"] == len(set(text))
    assert info["dataset"].startswith("file-code-")


def test_encode_rejects_unknown_bytes(wp_path):
    c = data.load_corpus("wp", wp_path.parent, store=Store(wp_path.parent))
    with pytest.raises(RnnvizError, match="not in the wp vocabulary"):
        c.encode(b"\x00")


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os
    import stat

    from rnnviz_lib.store import atomic_write_text

    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "page.html", "<p>x</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) & 0o044 == 0o044  # readable by group and others, e.g. a web server


# -- the pinned reference LK corpus ---------------------------------------------------------
def test_lk_from_another_kernel_version_is_flagged_everywhere(tmp_path, home):
    """A corpus built from another kernel than the pinned 6.1.192-2 builds, with one warning line
    naming the version and sha256; the manifest records it and the report flags every LK table
    and figure (but no WP one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from rnnviz_lib import pipeline

    # a full-size kernel tree of another version (synthetic C, 7.2 MB under kernel/), built by the CLI
    rng = random.Random(7)
    words = [b"int", b"return", b"static", b"struct", b"if (x)", b"{", b"}", b";", b"/* lock */", b"\n", b"\t"]
    with tarfile.open(tmp_path / "linux-7.7.tar.gz", "w:gz", compresslevel=1) as tar:
        for i in range(5):
            body = b" ".join(rng.choice(words) for _ in range(300_000))
            info = tarfile.TarInfo(f"linux-7.7/kernel/part{i}.c")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    res = subprocess.run([sys.executable, "-m", "rnnviz_lib.cli", "data", "prepare", "--dataset", "lk", "--kernel-source",
                          str(tmp_path / "linux-7.7.tar.gz")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    err = res.stderr
    warnings = [ln for ln in err.splitlines() if "WARNING" in ln]
    assert len(warnings) == 1, err
    man = json.loads((home / "data" / "lk" / "manifest.json").read_text())
    assert man["kernel_version"] == "7.7" and man["reference"] is False
    assert man["reference_version"] == lk_corpus.LK_REFERENCE_VERSION == "6.1.192-2"
    assert man["reference_sha256"] == lk_corpus.LK_REFERENCE_SHA256
    for needle in ("linux-7.7.tar.gz", "version 7.7", man["sha256"], "not comparable"):
        assert needle in warnings[0] and needle in man["warning"], needle
    corpus = data.load_corpus("lk")
    assert corpus.checksum_ok is False and corpus.manifest["reference"] is False

    store = Store(home)
    store.save_table(pd.DataFrame({"x": [1.0]}), "table1_lk", "smoke", "LK table")
    store.save_table(pd.DataFrame({"x": [1.0]}), "table1_wp", "smoke", "WP table")
    for name in ("cells_lk", "cells_wp"):
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        store.save_figure(fig, name, "smoke", name)
    index = pipeline.write_index("smoke", home, {}).read_text()
    assert index.count("class='warn lk-flag'") == 2  # the LK table and the LK figure
    assert "id='lk-warning'" in index and man["sha256"] in index
    lk_table = index[index.index("id='table-table1_lk'"):index.index("id='table-table1_wp'")]
    assert "lk-flag" in lk_table
    wp_part = index[index.index("id='table-table1_wp'"):index.index("id='figures'")]
    assert "lk-flag" not in wp_part


def test_reference_lk_corpus_gets_no_warning(tmp_path, monkeypatch):
    """The reference corpus is recognised by its sha256 alone."""
    monkeypatch.setattr(lk_corpus, "LK_REFERENCE_SHA256", data.sha256_bytes(b"x"))
    assert lk_corpus.lk_reference_warning({"sha256": data.sha256_bytes(b"x"), "source": "a.deb"}) == ""
    assert "not the reference" in lk_corpus.lk_reference_warning({"sha256": data.sha256_bytes(b"y"), "source": "a.deb"})


def _fake_apt(tmp_path, monkeypatch, payload: bytes, known_after_update: bool):
    """An ``apt-get`` on PATH that knows the pinned version only after ``apt-get update``
    (as on a machine whose package list is old) and logs every call."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    state = tmp_path / "apt-updated"
    (tmp_path / "payload").write_bytes(payload)
    script = f"""#!/bin/sh
echo "$@" >> {tmp_path}/apt.log
if [ "$1" = update ]; then touch {state}; exit 0; fi
if [ "$1" = download ]; then
  if [ {'-f ' + str(state) if known_after_update else '-z ""'} ]; then cp {tmp_path}/payload "{lk_corpus.LK_REFERENCE_DEB}"; exit 0; fi
  echo "E: Version '{lk_corpus.LK_REFERENCE_VERSION}' for 'linux-source-6.1' was not found" >&2; exit 100
fi
exit 1
"""
    (bindir / "apt-get").write_text(script)
    (bindir / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{__import__('os').environ['PATH']}")


def test_fetch_updates_apt_when_the_version_is_unknown_and_verifies_the_package(tmp_path, monkeypatch):
    payload = b"not the kernel package"
    monkeypatch.setattr(lk_corpus, "LK_REFERENCE_DEB_SHA256", data.sha256_bytes(payload))
    _fake_apt(tmp_path, monkeypatch, payload, known_after_update=True)
    got = lk_corpus.fetch_kernel_source(tmp_path / "dl")
    assert got == tmp_path / "dl" / lk_corpus.LK_REFERENCE_DEB and got.read_bytes() == payload
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls == [f"download linux-source-6.1={lk_corpus.LK_REFERENCE_VERSION}", "update -q",
                     f"download linux-source-6.1={lk_corpus.LK_REFERENCE_VERSION}"]
    lk_corpus.fetch_kernel_source(tmp_path / "dl")  # present and verified: apt is not asked again
    assert len((tmp_path / "apt.log").read_text().splitlines()) == 3


def test_fetch_refuses_a_package_with_the_wrong_checksum(tmp_path, monkeypatch):
    _fake_apt(tmp_path, monkeypatch, b"tampered", known_after_update=False)
    monkeypatch.setattr(lk_corpus, "LK_REFERENCE_DEB_SHA256", "0" * 64)
    (tmp_path / "dl").mkdir()
    with pytest.raises(RnnvizError, match="expected 0000"):
        lk_corpus.fetch_kernel_source(tmp_path / "dl")
    assert not (tmp_path / "dl" / lk_corpus.LK_REFERENCE_DEB).exists()  # nothing half-trusted is kept
