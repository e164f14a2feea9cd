"""The paper's published numbers (PAPER.md §1, §4, §5, §6), in one place, as plain data.

``None`` marks a cell the paper left blank ("-").
"""

from __future__ import annotations

# §1 data
DATA = {
    "wp": {"symbols": 3_258_246, "vocab_size": 87, "split": {"train": 2_600_000, "val": 320_000, "test": 330_000},
           "fractions": (0.8, 0.1, 0.1)},
    "lk": {"symbols": 6_206_996, "vocab_size": 101, "split": {"train": 5_580_000, "val": 310_000, "test": 310_000},
           "fractions": (0.9, 0.05, 0.05)},
}

CELLS = ("lstm", "rnn", "gru")
DEPTHS = (1, 2, 3)
SIZES = (64, 128, 256, 512)

# §4 Table 1: test cross-entropy in nats; rows = size, columns = (cell, depth).
_T1 = {
    "wp": {
        64: (1.449, 1.442, 1.540, 1.446, 1.401, 1.396, 1.398, 1.373, 1.472),
        128: (1.277, 1.227, 1.279, 1.417, 1.286, 1.277, 1.230, 1.226, 1.253),
        256: (1.189, 1.137, 1.141, 1.342, 1.256, 1.239, 1.198, 1.164, 1.138),
        512: (1.161, 1.092, 1.082, None, None, None, 1.170, 1.201, 1.077),
    },
    "lk": {
        64: (1.355, 1.331, 1.366, 1.407, 1.371, 1.383, 1.335, 1.298, 1.357),
        128: (1.149, 1.128, 1.177, 1.241, 1.120, 1.220, 1.154, 1.125, 1.150),
        256: (1.026, 0.972, 0.998, 1.171, 1.116, 1.116, 1.039, 0.991, 1.026),
        512: (0.952, 0.840, 0.846, None, None, None, 0.943, 0.861, 0.829),
    },
}
TABLE1_COLUMNS = tuple((c, d) for c in CELLS for d in DEPTHS)
TABLE1 = {ds: {size: dict(zip(TABLE1_COLUMNS, row)) for size, row in rows.items()} for ds, rows in _T1.items()}


def table1(dataset: str, cell: str, depth: int, size: int) -> float | None:
    """The paper's Table 1 value (nats) or None where it is blank or the dataset is not the paper's."""
    return TABLE1.get(dataset, {}).get(int(size), {}).get((cell, int(depth)))


# §5 Table 2: context length n -> test cross-entropy (nats); the n-gram at n is an (n+1)-gram.
TABLE2_N = (1, 2, 3, 4, 5, 6, 7, 8, 9, 20)
TABLE2 = {
    "wp": {
        "n-gram": dict(zip(TABLE2_N, (2.399, 1.928, 1.521, 1.314, 1.232, 1.203, 1.194, 1.194, 1.194, 1.195))),
        "n-NN": dict(zip(TABLE2_N, (2.399, 1.931, 1.553, 1.451, 1.339, 1.321, None, None, None, None))),
    },
    "lk": {
        "n-gram": dict(zip(TABLE2_N, (2.702, 1.954, 1.440, 1.213, 1.097, 1.027, 0.982, 0.953, 0.933, 0.889))),
        "n-NN": dict(zip(TABLE2_N, (2.707, 1.974, 1.505, 1.395, 1.256, 1.376, None, None, None, None))),
    },
}

BOOTSTRAP_STD_BOUND = 4e-3

# §6 error analysis on WP (best LSTM)
ONION = {
    "test_symbols": 330_000,
    "best_lstm_errors": 140_000,
    "small_lstm_errors": 184_000,
    "difference": 44_000,
    "difference_ngram": 36_000,
    "share": {"n-gram": 0.18, "dynamic memory": 0.06, "rare words": 0.09, "words": 0.37},
}
