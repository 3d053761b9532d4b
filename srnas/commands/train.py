"""``srnas train -opt FILE``: retrain a searched or named network (BasicSR-style option file)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("train", help="retrain a network: srnas train -opt options/train/quickstart.yml")
    sp.add_argument("-opt", "--opt", required=True, help="training option file (YAML)")
    sp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override an option")
    sp.add_argument("--resume", action="store_true", help="continue experiments/<name> from its latest checkpoint")
    sp.add_argument("--no-progress", action="store_true")
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
