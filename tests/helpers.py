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
    n = (ids.numel() - 1) // B
    X, Y = ids[: B * n].view(B, n), ids[1 : B * n + 1].view(B, n)  # (B, n): next-symbol targets
    return train_steps(model, X, Y, steps, S), vocab


def train_steps(model, X, Y, steps: int, S: int, lr: float = 1e-2):
    """``steps`` Adam steps of ``model`` on S-long windows of the (B, n) ids ``X`` and next-symbol
    targets ``Y``, windows taken in order and wrapping; returns the model in eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr)
    n, K = X.shape[1], model.K
    for step in range(steps):
        a = (step * S) % (n - S)
        logits, _ = model(X[:, a : a + S])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, K), Y[:, a : a + S].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def gate_activations(cell: str, layers: list[dict]):
    """``analysis.activations.Activations`` holding the given gates (one {name: (B, T, H)} per
    layer); every other recorded value zero."""
    from rnnviz_lib.analysis import activations as A

    B, T, _ = next(iter(layers[0].values())).shape
    z = np.zeros((B, T), np.uint8)
    full = [{k: rec.get(k, np.zeros_like(next(iter(rec.values())))).astype(np.float16) for k in A.KEEP[cell]}
            for rec in layers]
    return A.Activations(cell, full, np.zeros((B, T, 5), np.uint8), np.zeros((B, T, 5), np.float16),
                         np.zeros((B, T), np.float32), z, z)


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
