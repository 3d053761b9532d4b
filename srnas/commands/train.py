"""``srnas train -opt FILE``: retrain a searched or named network (BasicSR-style option file)."""
from __future__ import annotations

import argparse

from srnas.commands import option_file_args


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("train", help="retrain a network: srnas train -opt options/train/quickstart.yml")
    option_file_args(sp, "training option file (YAML)", resume=True)
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.config.train import load_train_options
    from srnas.train.loop import run_train

    opt, raw = load_train_options(args.opt, args.set)
    result = run_train(opt, raw, option_file=args.opt, resume=args.resume, progress=not args.no_progress)
    models = result.exp_dir / "models"
    if result.best_step is not None:
        print(f"best model: {models / 'net_best.pth'}  ({opt.datasets.val.name} {result.best_psnr:.3f} dB at "
              f"iteration {result.best_step}; {result.params} parameters, {result.seconds:.0f} s)")
    else:
        print(f"model: {models / 'net_latest.pth'}  ({result.steps} iterations, {result.params} parameters, "
              f"{result.seconds:.0f} s)")
    print(f"results: {result.exp_dir / 'results.json'}")
    return 0
