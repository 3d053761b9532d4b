"""``srnas data prepare``: LR images (and sub-images) from a user's DIV2K/DF2K."""
from __future__ import annotations

import argparse

from srnas.commands import progress_factory


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("data", help="data preparation")
    dsub = sp.add_subparsers(dest="data_command", required=True, parser_class=type(sp))
    dp = dsub.add_parser("prepare", help="MATLAB-bicubic LR (and optional sub-images) from a folder of HR images")
    dp.add_argument("--hr", required=True, help="HR folder (e.g. DIV2K_train_HR)")
    dp.add_argument("--out", required=True, help="output folder (HR/, LR_bicubic/X<s>/)")
    dp.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    dp.add_argument("--crop", type=int, help="sub-image HR size (BasicSR extract_subimages: 480)")
    dp.add_argument("--step", type=int, help="sub-image stride (BasicSR: 240)")
    dp.add_argument("--force", action="store_true", help="overwrite existing files")
    dp.add_argument("--no-progress", action="store_true")
    dp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.data import prepare

    written = prepare(args.hr, args.out, args.scales, crop=args.crop, step=args.step, force=args.force,
                      progress=progress_factory(not args.no_progress, "file"))
    print(f"{len(written) if hasattr(written, '__len__') else written} files written under {args.out}")
    return 0
