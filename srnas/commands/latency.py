"""``srnas latency build|measure|predict``: latency tables of a search space on this machine's runtime, end-to-end
measurement of a derived network, and the table's prediction for a genotype."""
from __future__ import annotations

import argparse
from pathlib import Path

from srnas.commands import add_report_latency, hw, progress_factory, write_json
from srnas.errors import SrnasError


def _runtime_args(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--provider", default="cpu", choices=["cpu", "cuda", "tensorrt"],
                    help="ONNX Runtime execution provider (default cpu)")
    sp.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1; recorded in the table)")
    sp.add_argument("--no-pin", action="store_true", help="do not pin the process to --threads cores while timing")


def _net_args(sp: argparse.ArgumentParser) -> None:
    from srnas.registry import ARCHS

    sp.add_argument("--genotype", help="genotype JSON of the network")
    sp.add_argument("--arch", choices=ARCHS.keys(), help="the hand-designed network (instead of --genotype)")


def register(sub: argparse._SubParsersAction) -> None:
    import srnas.archs  # noqa: F401  (registers the spaces: the --space and --arch choices)
    from srnas.registry import SPACE_SPECS

    sp = sub.add_parser("latency", help="latency tables (build), end-to-end latency (measure), prediction (predict)")
    lsub = sp.add_subparsers(dest="latency_command", required=True, parser_class=type(sp))

    b = lsub.add_parser("build", help="measure every candidate op and fixed part of a space on this machine")
    b.add_argument("--space", required=True, choices=SPACE_SPECS.keys())
    b.add_argument("--scale", type=int, default=2)
    b.add_argument("--num-feat", type=int, help="width (default: the space's, "
                   + ", ".join(f"{n} {SPACE_SPECS.get(n).num_feat}" for n in SPACE_SPECS) + ")")
    b.add_argument("--num-block", type=int, help="blocks / cells (default: the space's, "
                   + ", ".join(f"{n} {SPACE_SPECS.get(n).num_block}" for n in SPACE_SPECS) + ")")
    b.add_argument("--input", type=hw, help="LR input HxW (default: the LR of a 1280x720 output)")
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--repeats", type=int, default=10)
    b.add_argument("--out", required=True, help="table JSON file")
    b.add_argument("--force", action="store_true", help="re-measure even when --out is this machine's table")
    b.add_argument("--no-progress", action="store_true")
    _runtime_args(b)
    b.set_defaults(func=run_build)

    m = lsub.add_parser("measure", help="end-to-end latency of a derived network (ONNX, BN folded), on this machine")
    _net_args(m)
    m.add_argument("--scale", type=int, default=2)
    m.add_argument("--table", help="also print this table's prediction (the table must be this machine's)")
    m.add_argument("--input", type=hw, help="LR input HxW (default: the table's, else the LR of a 1280x720 output)")
    m.add_argument("--warmup", type=int, default=1)
    m.add_argument("--repeats", type=int, default=5)
    m.add_argument("--json", help="write the measurement here")
    m.add_argument("--report", metavar="DIR", help="add the measurement to DIR/report.json (`srnas bench --report`), "
                                                   "so `srnas report` plots PSNR against measured latency")
    _runtime_args(m)
    m.set_defaults(func=run_measure)

    d = lsub.add_parser("derive", help="the most probable network of a search within a latency band (predicted, "
                        "or --measure: timed here)")
    d.add_argument("--genotype", required=True, help="the genotype.json a search wrote (it holds the final alphas)")
    d.add_argument("--table", required=True, help="the latency table of the deployment machine")
    d.add_argument("--target", type=float, required=True, help="target latency in ms (the table's machine and input)")
    d.add_argument("--tolerance", type=float, default=0.1, help="band around the target (default 0.1: +-10 %%)")
    d.add_argument("--measure", action="store_true", help="time the candidates end to end on this machine (the table "
                   "must be this machine's), each beside the table's reference network and calibrated by it, and "
                   "keep the first whose calibrated latency is in the band")
    d.add_argument("--max-measure", type=int, default=12, help="candidates timed at most (default 12)")
    d.add_argument("--repeats", type=int, default=5)
    d.add_argument("--warmup", type=int, default=1)
    d.add_argument("--out", required=True, help="genotype JSON to write (refused if it exists)")
    _runtime_args(d)
    d.set_defaults(func=run_derive)

    p = lsub.add_parser("predict", help="a table's predicted latency of a network (the table's machine)")
    _net_args(p)
    p.add_argument("--table", required=True)
    p.set_defaults(func=run_predict)


def _genotype(args: argparse.Namespace, num_feat=None, num_block=None):
    from srnas.archs import create_model
    from srnas.archs.genotype import Genotype

    if bool(args.genotype) == bool(args.arch):
        raise SrnasError("give one of --genotype or --arch")
    if args.genotype:
        return Genotype.load(args.genotype)
    import torch

    with torch.device("meta"):
        return create_model(args.arch, scale=2, num_feat=num_feat, num_block=num_block).genotype()


def _check_threads(args: argparse.Namespace) -> None:
    if args.threads < 1:
        raise SrnasError(f"--threads must be >= 1, got {args.threads}")
    if getattr(args, "repeats", 1) < 1 or getattr(args, "warmup", 0) < 0:
        raise SrnasError("--repeats must be >= 1 and --warmup >= 0")


def run_build(args: argparse.Namespace) -> int:
    from srnas.archs.space import space_spec
    from srnas.latency.build import build_table, deployment_input, load_checked

    _check_threads(args)
    out = Path(args.out)
    if out.is_dir():
        raise SrnasError(f"{out}: is a folder; give a table file name")
    if out.exists() and not args.force:
        # an existing table is reused only if it is this machine's, at these settings and this shape
        t = load_checked(out, args.provider, args.threads, deployment_input(args.scale, args.input))
        old = (t.space, t.scale, t.num_feat, t.num_block)
        spec = space_spec(args.space)
        want = (args.space, args.scale, args.num_feat or spec.num_feat, args.num_block or spec.num_block)
        if old != want:
            raise SrnasError(f"{out}: a table of {old}, not {want} (space, scale, num_feat, num_block); "
                             "use another --out or --force")
        print(f"{out}: this machine's table at these settings, reused (--force re-measures)")
        return 0
    table = build_table(args.space, args.scale, args.num_feat, args.num_block, input_hw=args.input,
                        provider=args.provider, threads=args.threads, warmup=args.warmup, repeats=args.repeats,
                        pin=not args.no_pin, progress_factory=progress_factory(not args.no_progress, unit="part"))
    table.save(out)
    ref = table.extra["reference"]
    print(f"latency table written to {out} ({table.extra['build_seconds']:.0f} s): reference network measured "
          f"{ref['measured']['median']:.1f} ms, additive sum {ref['additive_ms']:.1f} ms, overhead "
          f"{table.overhead_ms:+.1f} ms")
    return 0


def run_measure(args: argparse.Namespace) -> int:
    from srnas.latency.build import deployment_input, load_checked, measure_genotype

    _check_threads(args)
    table = load_checked(args.table, args.provider, args.threads, args.input) if args.table else None
    g = _genotype(args, *((table.num_feat, table.num_block) if table and args.arch else (None, None)))
    hw_ = tuple(table.fingerprint["input_hw"]) if table and args.input is None else deployment_input(args.scale,
                                                                                                      args.input)
    r = measure_genotype(g, args.scale, hw_, args.provider, args.threads, args.warmup, args.repeats, not args.no_pin)
    print(f"measured: {r['median']:.1f} ms median, {r['p90']:.1f} ms p90 ({r['runs']} runs, {args.threads} thread(s), "
          f"{hw_[0]}x{hw_[1]} input, ONNX Runtime {args.provider})")
    out = {"measured": r, "input_hw": list(hw_), "threads": args.threads, "provider": args.provider}
    if table is not None:
        pred = table.predict(g, args.genotype or args.arch)
        err = pred["total_ms"] / r["median"] - 1
        print(f"predicted by {args.table}: {pred['total_ms']:.1f} ms ({err:+.1%})")
        out["predicted"] = pred
    if args.json:
        write_json(args.json, out)
    if args.report:
        print(f"latency added to {add_report_latency(args.report, r, args.provider, args.threads, hw_)}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from srnas.latency.table import LatencyTable

    table = LatencyTable.load(args.table)
    g = _genotype(args, table.num_feat, table.num_block)
    pred = table.predict(g, args.genotype or args.arch)
    fp = table.fingerprint
    print(f"predicted latency: {pred['total_ms']:.1f} ms (ops {pred['ops_ms']:.1f} + fixed {pred['fixed_ms']:.1f} + "
          f"overhead {pred['overhead_ms']:+.1f}) on {fp.get('cpu')}, {fp.get('runtime')}, {fp.get('threads')} "
          f"thread(s), {fp['input_hw'][0]}x{fp['input_hw'][1]} input")
    return 0


def run_derive(args: argparse.Namespace) -> int:
    from srnas.archs.genotype import Genotype, decision_flag
    from srnas.latency.build import load_checked
    from srnas.latency.derive import calibrated_timer, constrained_derive, summary_line
    from srnas.latency.table import LatencyTable

    _check_threads(args)
    out = Path(args.out)
    if out.exists():
        raise SrnasError(f"{out}: exists; give another --out (nothing is overwritten)")
    if args.max_measure < 1:
        raise SrnasError(f"--max-measure must be >= 1, got {args.max_measure}")
    if not args.target > 0 or not 0 < args.tolerance < 1:
        raise SrnasError(f"--target must be > 0 ms and --tolerance in (0, 1), got {args.target} and {args.tolerance}")
    g = Genotype.load(args.genotype)
    measure = None
    if args.measure:
        table = load_checked(args.table, args.provider, args.threads)
        timer = calibrated_timer(table, args.provider, args.threads, args.warmup, args.repeats, not args.no_pin)

        def measure(cand):
            r = timer(cand)
            print(f"  {cand.ops[0] if cand.shared else [list(x) for x in cand.ops]}: {r['median']:.1f} ms calibrated "
                  f"({r['raw_ms']:.1f} ms timed, reference {r['reference_ms']:.1f} ms)", flush=True)
            return r
    else:
        table = LatencyTable.load(args.table)
    table.check_genotype(g, args.genotype)
    derived, record = constrained_derive(g, lambda c: table.predict(c)["total_ms"], args.target, args.tolerance,
                                         measure, max_measure=args.max_measure)
    derived.save(out)
    print(f"{out}: {list(derived.ops[0]) if derived.shared else [list(r) for r in derived.ops]}; "
          + summary_line(record, decision_flag(g.info)))
    return 0 if record["hit"] else 1
