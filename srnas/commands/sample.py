"""``srnas sample``: random genotypes from a search space (random-search baseline)."""
from __future__ import annotations

import argparse
from pathlib import Path

from srnas.errors import SrnasError


def register(sub: argparse._SubParsersAction) -> None:
    import srnas.archs  # noqa: F401  (registers the spaces: the --space choices)
    from srnas.registry import SPACE_SPECS

    sp = sub.add_parser("sample", help="draw N random genotypes uniformly from a search space")
    sp.add_argument("--space", required=True, choices=SPACE_SPECS.keys())
    sp.add_argument("--n", type=int, required=True, help="how many genotypes")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--params-max", type=int, help="reject genotypes with more parameters (at --scale)")
    sp.add_argument("--scale", type=int, default=2)
    sp.add_argument("--num-feat", type=int, help="channel width (default: the space's, "
                    + ", ".join(f"{n} {SPACE_SPECS.get(n).num_feat}" for n in SPACE_SPECS) + ")")
    sp.add_argument("--num-block", type=int, help="blocks / cells (default: the space's, "
                    + ", ".join(f"{n} {SPACE_SPECS.get(n).num_block}" for n in SPACE_SPECS) + ")")
    sp.add_argument("--out", default="experiments/random_genotypes", help="folder for random_<space>_<i>.json")
    sp.add_argument("--force", action="store_true", help="overwrite existing files")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.study.sample import sample_genotypes

    if args.n < 1:
        raise SrnasError("--n must be >= 1")
    out = Path(args.out)
    paths = [out / f"random_{args.space}_s{args.seed}_{i:03d}.json" for i in range(args.n)]
    existing = [p for p in paths if p.exists()]
    if existing and not args.force:
        raise SrnasError(f"{existing[0]}: exists (use --force to overwrite)")
    genotypes = sample_genotypes(args.space, args.n, args.seed, args.params_max, args.scale, args.num_feat,
                                 args.num_block)
    for g, p in zip(genotypes, paths):
        g.save(p)
        print(f"{p}  {list(g.ops[0])}{'  ' + str([list(c) for c in g.connections]) if g.connections else ''}  "
              f"{g.info['params']:,} params")
    return 0
