"""Subcommands of the ``rnnviz`` CLI, one module per command group (see cli.py)."""

from __future__ import annotations

import argparse


def add_data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    """The dataset options every command that reads a corpus shares."""
    p.add_argument("--dataset", required=required, default=None if required else "wp",
                   help="wp, lk, or the path of a text file (read as bytes)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding raw corpora (war_and_peace.txt, lk.txt, kernel tarballs); "
                        "default $RNNVIZ_DATA_DIR, then ./data")
    p.add_argument("--allow-checksum-mismatch", action="store_true",
                   help="use a War and Peace file whose sha256 differs from the paper's (the report says so)")
    p.add_argument("--kernel-source", default=None,
                   help="kernel source tarball (path or URL) or the linux-source-6.1 .deb, to build lk")
