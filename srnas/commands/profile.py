"""``srnas profile``: params and Mult-Adds."""
from __future__ import annotations

import argparse

from srnas.commands import hw, load_from_args, model_args, write_json
from srnas.errors import SrnasError


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("profile", help="params and MACs (fvcore) for a 1280x720 output or a given input")
    model_args(sp, weights_required=False)
    sp.add_argument("--input", type=hw, help="LR input HxW instead of a 1280x720 output (e.g. 720x1280)")
    sp.add_argument("--latency", metavar="TABLE", help="also the latency a table (`srnas latency build`) predicts on "
                                                       "its machine, at its input size")
    sp.add_argument("--json", help="write {params, macs, input_hw} here (and predicted_latency with --latency)")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.eval.profile import profile

    table = None
    if args.latency:
        from srnas.latency.table import LatencyTable

        table = LatencyTable.load(args.latency)
        if args.input and list(args.input) != list(table.fingerprint["input_hw"]):
            raise SrnasError(f"{args.latency}: measured at a {table.fingerprint['input_hw'][0]}x"
                             f"{table.fingerprint['input_hw'][1]} input, not {args.input[0]}x{args.input[1]} "
                             "(--input); build a table at that input")
    loaded = load_from_args(args)
    model = loaded.architecture()
    if model is None:
        raise SrnasError(f"{args.weights}: an exported file without srnas metadata: its architecture is unknown, so "
                         "params and MACs cannot be counted; profile the checkpoint (--arch/--genotype) instead")
    r = profile(model, args.scale, input_hw=args.input)
    h, w = r["input_hw"]
    where = f"a {h}x{w} input" if args.input else f"a {h}x{w} input (a 1280x720 output at x{args.scale})"
    print(f"params: {r['params']:,}\nMACs (Mult-Adds) at {where}: {r['macs'] / 1e9:.2f} G")
    if table is not None:
        if not hasattr(model, "genotype"):
            raise SrnasError("--latency: this network is not of a search space (no genotype), so no table predicts it")
        pred = table.predict(model.genotype(), args.genotype or args.arch or str(args.weights))
        fp = table.fingerprint
        print(f"predicted latency: {pred['total_ms']:.1f} ms ({fp.get('runtime')} {fp.get('provider')}, "
              f"{fp.get('threads')} thread(s), {fp['input_hw'][0]}x{fp['input_hw'][1]} input, {fp.get('cpu')}; "
              f"table {args.latency})")
        r["predicted_latency"] = pred
    if args.json:
        write_json(args.json, r)
    return 0
