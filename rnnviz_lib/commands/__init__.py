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


def add_actions(sub, name: str, help: str):
    """Add the command group ``name`` whose ACTION (a sub-command of its own) is required.

    Returns the group's sub-parsers, to which each action is added; the chosen action is
    ``args.<name>_command``.
    """
    p = sub.add_parser(name, help=help)
    actions = p.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    actions.required = True
    return actions
