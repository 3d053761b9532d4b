"""``srnas report EXPERIMENTS...``: PSNR vs Mult-Adds across experiments (table + PNG)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("report", help="compare experiments: table, PSNR-vs-Mult-Adds plot (Pareto front), PSNR vs "
                                         "measured latency")
    sp.add_argument("experiments", nargs="+", help="experiment folders (or report.json files)")
    sp.add_argument("--out", default="experiments/comparison", help="folder for comparison.{md,json,png}")
    sp.add_argument("--force", action="store_true", help="overwrite an existing comparison")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.eval.report import collect, markdown, write_report

    files = write_report(args.experiments, args.out, args.force)
    print(markdown(collect(args.experiments)))
    print(f"written {files['md']}, {files['png']}" + (f", {files['png_latency']}" if "png_latency" in files else ""))
    return 0
