"""``srnas search -opt FILE``: the bi-level architecture search."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("search", help="search a network: srnas search -opt options/search/quickstart.yml")
    sp.add_argument("-opt", "--opt", required=True, help="search option file (YAML)")
    sp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override an option")
    sp.add_argument("--resume", action="store_true", help="continue experiments/<name> from its latest checkpoint")
    sp.add_argument("--no-progress", action="store_true")
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
