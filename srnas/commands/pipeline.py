"""``srnas pipeline -opt FILE``: search -> derive -> retrain -> bench -> export, each stage skipped when done."""
from __future__ import annotations

import argparse

from srnas.commands import option_file_args


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("pipeline", help="search, retrain, bench and export in one command (resumable)")
    option_file_args(sp, "pipeline option file (options/pipeline/*.yml)")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.config.pipeline import load_pipeline_options
    from srnas.pipeline import run_pipeline

    opt, raw = load_pipeline_options(args.opt, args.set)
    summary = run_pipeline(opt, raw, progress=not args.no_progress)
    for stage, info in summary["stages"].items():
        extra = ""
        if "results" in info:
            extra = "  " + ", ".join(f"{k} {v['psnr']:.3f} dB" for k, v in info["results"].items())
        print(f"{stage:18s} {info['seconds']:8.1f} s{extra}")
    print(summary["search_decision"])
    print(f"total {summary['total_seconds']:.0f} s; outputs in {opt.experiments_root}/{opt.name}/")
    return 0
