"""``rnnviz`` command line: discovers subcommands in ``rnnviz_lib.commands``.

Each module there defines ``register(subparsers)`` that adds its parser(s) and sets
``func`` (called with the parsed args; returns an exit code). A ``RnnvizError`` becomes one
line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from rnnviz_lib import __version__, commands
from rnnviz_lib.errors import RnnvizError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnviz", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"rnnviz {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging: -v for debug (the default logs info)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)  # default INFO, -v DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except RnnvizError as exc:
        print(f"rnnviz: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnviz: interrupted; finished artifacts are kept and a rerun resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
