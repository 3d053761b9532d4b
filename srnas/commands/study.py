"""``srnas study -opt FILE``: searched vs random vs hand-designed networks, one recipe, several seeds, one report."""
from __future__ import annotations

import argparse
import shlex

from srnas.commands import option_file_args


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("study", help="search, random and hand-designed baselines retrained alike; report (resumable)")
    option_file_args(sp, "study option file (options/study/*.yml)")
    sp.add_argument("--report-only", action="store_true", help="run nothing; report what is done and what is left")
    sp.add_argument("--publish", metavar="DIR", help="also write DIR/study_<name>.{md,json,png} (experiments/reports)")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.config.study import load_study_options
    from srnas.study import run_study

    opt, raw = load_study_options(args.opt, args.set)
    command = shlex.join(["srnas", "study", "-opt", args.opt, *[f"--set={s}" for s in args.set],
                          *(["--publish", args.publish] if args.publish else [])])
    data = run_study(opt, raw, args.opt, command, progress=not args.no_progress, report_only=args.report_only,
                     publish=args.publish)
    root = f"{opt.experiments_root}/{opt.name}"
    for c in data["comparisons"]:
        print(c["sentence"])
    print(f"{data['status']}; {data['wall_seconds'] / 60:.1f} min so far; report: {root}/study.md, study.json, "
          "study.png" + (f" (and {args.publish}/study_{opt.name}.*)" if args.publish else ""))
    return 0
