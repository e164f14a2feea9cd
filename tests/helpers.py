"""Shared test code that is not a fixture."""

from __future__ import annotations

import numpy as np
import torch

from rnnviz_lib.models import CharRNN


def fit_tiny_lstm(text: bytes, hidden: int, steps: int, B: int = 16, S: int = 64, seed: int = 0):
    """A 1-layer LSTM trained with Adam (lr 1e-2, one thread, seeded) on ``text``, B streams of
    S-long windows; returns (model in eval mode, vocab (K,) uint8)."""
    torch.set_num_threads(1)
    vocab = np.unique(np.frombuffer(text, np.uint8))
    lut = np.zeros(256, np.int64)
    lut[vocab] = np.arange(vocab.size)
    ids = torch.from_numpy(lut[np.frombuffer(text, np.uint8)])
    torch.manual_seed(seed)
    model = CharRNN("lstm", vocab.size, hidden, 1)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    n = (ids.numel() - 1) // B
    X, Y = ids[: B * n].view(B, n), ids[1 : B * n + 1].view(B, n)  # (B, n): next-symbol targets
    for step in range(steps):
        a = (step * S) % (n - S)
        logits, _ = model(X[:, a : a + S])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab.size), Y[:, a : a + S].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), vocab


class Plant:
    """Pickled (e.g. inside a checkpoint), it would create the file ``marker`` when unpickled:
    whatever loads it must refuse it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def open_page(browser, path, hash_: str = "", width: int = 1200, height: int = 900):
    """Open a page from disk in a Playwright browser; return it with the list of its console
    errors, page errors and requests that left the disk."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.as_uri() + hash_)
    page.wait_for_load_state("load")
    return page, problems
