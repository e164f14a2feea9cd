"""The JupyterLab path: `make lab`'s server opens the percent scripts as notebooks (jupytext)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_jupyterlab_lists_and_opens_the_notebooks_through_jupytext(tmp_path):
    port, token = _free_port(), secrets.token_hex(8)
    env = {**os.environ, "RNNVIZ_HOME": str(REPO), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(REPO / ".jupyter" / "lab" / "user-settings")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--notebook-dir={REPO / 'notebooks'}", "--ServerApp.open_browser=False",
           *(["--allow-root"] if os.geteuid() == 0 else [])]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"

    def get(path):
        with urllib.request.urlopen(f"{base}{path}{'&' if '?' in path else '?'}token={token}", timeout=10) as r:
            return json.loads(r.read())

    try:
        for _ in range(120):  # the server starts in a few seconds
            try:
                listing = get("/api/contents/")
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"jupyter lab exited: {proc.stdout.read()}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        kinds = {item["name"]: item["type"] for item in listing["content"]}
        stems = sorted(p.name for p in (REPO / "notebooks").glob("0*.py"))
        assert len(stems) == 10 and all(kinds.get(n) == "notebook" for n in stems), kinds  # jupytext's contents manager
        nb = get("/api/contents/04_cells.py?content=1")
        assert nb["type"] == "notebook" and nb["format"] == "json"
        cells = nb["content"]["cells"]
        assert cells[0]["cell_type"] == "markdown" and any("parameters" in c["metadata"].get("tags", []) for c in cells)
        assert not list((REPO / "notebooks").glob("*.ipynb"))  # reading wrote nothing beside the scripts
        settings = get("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
        assert settings["settings"]["defaultViewers"]["python"] == "Jupytext Notebook"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
