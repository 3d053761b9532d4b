"""The ``srnas`` command. Subcommands live in :mod:`srnas.commands` (one module each).

Expected failures (:class:`~srnas.errors.SrnasError`) print one line on stderr and exit with code 2; ``--debug``
shows the traceback instead. SIGINT/SIGTERM during a long run save a checkpoint and exit with code 130.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Optional, Sequence

from srnas.errors import SrnasError


class _Parser(argparse.ArgumentParser):
    """argparse that raises SrnasError (exit 2, one line) instead of printing usage and exiting itself."""

    def error(self, message: str) -> None:  # noqa: D401
        raise SrnasError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    from srnas import __version__
    from srnas.commands import MODULES

    p = _Parser(prog="srnas", description="Differentiable architecture search for lightweight super-resolution.")
    p.add_argument("--version", action="version", version=f"srnas {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of expected errors")
    p.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in MODULES:
        try:
            module = importlib.import_module(f"srnas.commands.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"srnas.commands.{name}":
                raise
            continue  # not built yet
        module.register(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    logging.basicConfig(level=logging.WARNING if "--quiet" in argv else logging.INFO,
                        format="%(asctime)s %(levelname)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except SrnasError as e:
        if debug:
            raise
        from srnas.errors import Interrupted

        if isinstance(e, Interrupted):
            print(f"srnas: {e}", file=sys.stderr)
            return 130
        print(f"srnas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srnas: aborted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
