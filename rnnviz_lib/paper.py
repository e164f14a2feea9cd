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



def table2(dataset: str, row: str, n: int) -> float | None:
    """The paper's Table 2 value (nats) of ``row`` ("n-gram" or "n-NN") at context length ``n``, or
    None where it is blank or the dataset is not the paper's."""
    return TABLE2.get(dataset, {}).get(row, {}).get(int(n))


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

# §4.3: "the best RNN beats the 20-gram" as the paper quotes it (LK quotes LSTM-2-512's 0.840,
# though its GRU-3-512 reaches 0.829)
BEST_RNN_VS_20GRAM = {"wp": (1.077, 1.195), "lk": (0.84, 0.889)}

# §4.3 Figure 2: "about 5%" of cells interpretable, estimated by eye
INTERPRETABLE_FRACTION = 0.05

# §4.3 Figure 4: the symbols on which the LSTM gains most over the 20-gram, per dataset
STRUCTURAL_SYMBOLS = {"wp": ('"', "\\n"), "lk": ("}", ")", "\\n")}

# §4.3 Figure 5 (left): the LSTM's advantage on `}` holds up to about this distance (symbols)
BRACE_DISTANCE = 60

# the model the paper's onion peels (§4.4): its best LSTM, and the ~50K-parameter one
ONION_MODELS = {"best LSTM": "lstm-3-512", "small LSTM": "lstm-1-64"}

# §7 of PAPER.md: the paper's claims, one line each, by the number the scorecard uses
CLAIMS = {
    1: ("Depth of at least two helps", "Table 1"),
    2: ("LSTM and GRU clearly beat the vanilla RNN", "Table 1"),
    3: ("The best RNN beats the 20-gram", "Tables 1, 2"),
    4: ("n-NN matches the n-gram for small n; for larger n the n-gram wins", "Table 2"),
    6: ("About 5% of cells are interpretable", "Fig. 2"),
    7: ("Some forget gates are right-saturated almost always", "Fig. 3"),
    8: ("No output gate is consistently open or shut", "Fig. 3"),
    9: ("First-layer gates are diffuse; deeper layers nearly binary", "Fig. 3"),
    10: ("The LSTM beats the 20-gram most on structural symbols", "Fig. 4"),
    11: ("The LSTM beats the 20-gram on `}` beyond the n-gram's context", "Fig. 5 (left)"),
    12: ("The LSTM first tracks low-order n-NNs, then moves away", "Fig. 5 (right)"),
    13: ("Onion of the best LSTM: n-gram 18%, memory 6%, rare 9%, words 37% of its errors", "§4.4"),
    14: ("Scaling the LSTM up removes mostly n-gram errors (36K of 44K)", "§4.4"),
}
