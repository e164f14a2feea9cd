# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: -all
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Data: the corpora and splits of §1 (War and Peace, Linux Kernel)
#
# Symbols are **bytes**, as in the paper's char-rnn code: War and Peace read in binary mode is
# exactly the paper's 3,258,246 symbols with an 87-symbol vocabulary. Splits are char-rnn's:
# the corpus is cut to a multiple of B·S, viewed as B streams, and whole batch indices go to
# train / val / test, so the test set is the last stretch of every stream.

# %% tags=["parameters"]
profile: str = "smoke"  # which profile's tables and figures to write
datasets: list = ["wp"]  # corpora to describe: wp, lk, or paths of text files
batch_size: int = 100  # B, parallel streams (the paper's 100)
seq_length: int = 100  # S, steps per batch (the paper's 100)

# %%
import pandas as pd

from rnnviz_lib import data, plotting, report
from rnnviz_lib.store import Store

store = Store.for_profile(profile)  # a rehearsal reads no shipped run
corpora, missing = data.load_available(datasets)
infos = {name: data.info(c, batch_size, seq_length) for name, c in corpora.items()}
pd.DataFrame(missing.items(), columns=["dataset", "not available because"])

# %% [markdown]
# Any dataset listed above could not be loaded and is left out of every notebook of this run;
# the message says how to get it (the Linux corpus is built from `linux-source-6.1`).

# %%
stats = report.dataset_comparison(infos)
store.save_table(stats, "data_stats", profile, "Corpus size, vocabulary and split sizes: ours beside the paper's (§1).")
stats

# %% [markdown]
# War and Peace must match the paper exactly (difference 0 everywhere). Our Linux corpus is a
# stand-in built from the pinned Linux 6.1 kernel source (PAPER.md §1; the README's Data section),
# so its size matches by construction
# while its vocabulary differs slightly from the paper's 101.

# %%
pd.DataFrame({n: {k: c.manifest.get(k) for k in ("source", "kernel_version", "files_used", "sha256", "reference_sha256",
                                                 "checksum_ok", "reference", "warning", "seed", "kernel_tarball")}
              for n, c in corpora.items()})

# %% [markdown]
# Provenance of each corpus: where it came from and its checksum. For War and Peace
# `checksum_ok` is `False` only when a file with another checksum was allowed explicitly. For
# the Linux corpus `reference` says whether it is the project's reference corpus (built from
# `linux-source-6.1` 6.1.192-2, `rnnviz_lib.lk_corpus.LK_REFERENCE_*`): `kernel_version` and
# `files_used` name the source, and `warning` says why numbers of any other corpus are not
# comparable with the shipped runs and the notes.

# %%
for name, c in corpora.items():
    ax = plotting.plot_symbol_frequencies(data.symbol_counts(c), [c.symbol_label(k) for k in range(c.K)],
                                          title=f"{name}: symbol frequencies (top 40 of {c.K})")
    store.save_figure(ax.figure, f"data_frequencies_{name}", profile, f"Symbol frequencies of {name}, most frequent first.")

# %% [markdown]
# Space and `e` lead in War and Peace; in the kernel code space, tab-free indentation, `e`,
# `t` and newline lead. CR (`\r`) is as frequent as LF in War and Peace: the file has CRLF line ends.

# %%
for name, inf in infos.items():
    L = inf["symbols"] // (batch_size * seq_length) * seq_length
    b = inf["batches"]
    bounds = {"train": (0, b["train"] * seq_length), "val": (b["train"] * seq_length, (b["train"] + b["val"]) * seq_length),
              "test": ((b["train"] + b["val"]) * seq_length, L)}
    ax = plotting.plot_split_layout(L, bounds, batch_size, title=f"{name}: char-rnn split of each stream")
    store.save_figure(ax.figure, f"data_split_{name}", profile, f"How the char-rnn split cuts each of the {batch_size} streams of {name}.")

# %% [markdown]
# Every stream contributes its first part to training and its last two to validation and test:
# the test set is 100 contiguous snippets (3,300 symbols each on War and Peace), not a
# contiguous tail of the book.
