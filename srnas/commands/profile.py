"""``srnas profile``: params and Mult-Adds."""
from __future__ import annotations

import argparse

from srnas.commands import hw, load_from_args, model_args, write_json
from srnas.errors import SrnasError


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("profile", help="params and MACs (fvcore) for a 1280x720 output or a given input")
    model_args(sp, weights_required=False)
    sp.add_argument("--input", type=hw, help="LR input HxW instead of a 1280x720 output (e.g. 720x1280)")
    sp.add_argument("--json", help="write {params, macs, input_hw} here")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.eval.profile import profile

    loaded = load_from_args(args)
    model = loaded.architecture()
    if model is None:
        raise SrnasError(f"{args.weights}: an exported file without srnas metadata: its architecture is unknown, so "
                         "params and MACs cannot be counted; profile the checkpoint (--arch/--genotype) instead")
    r = profile(model, args.scale, input_hw=args.input)
    h, w = r["input_hw"]
    where = f"a {h}x{w} input" if args.input else f"a {h}x{w} input (a 1280x720 output at x{args.scale})"
    print(f"params: {r['params']:,}\nMACs (Mult-Adds) at {where}: {r['macs'] / 1e9:.2f} G")
    if args.json:
        write_json(args.json, r)
    return 0
