"""``srnas search -opt FILE``: the bi-level architecture search."""
from __future__ import annotations

import argparse

from srnas.commands import option_file_args


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("search", help="search a network: srnas search -opt options/search/quickstart.yml")
    option_file_args(sp, "search option file (YAML)", resume=True)
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.config.search import load_search_options
    from srnas.search.loop import run_search

    opt, raw = load_search_options(args.opt, args.set)
    result = run_search(opt, raw, option_file=args.opt, resume=args.resume, progress=not args.no_progress)
    g = result.genotype
    conns = f"  connections {[list(c) for c in g.connections]}" if g.connections else ""
    print(f"genotype: {result.exp_dir / 'genotype.json'}  ops {list(g.ops[0])}{conns}  "
          f"({result.steps} iterations, {result.seconds:.0f} s)")
    return 0
