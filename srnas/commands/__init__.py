"""CLI subcommands: one module each, with ``register(subparsers)`` adding its parser and setting ``func``.

Argument wiring only: each ``func`` calls one library function and prints where the results went.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Optional

from srnas.errors import SrnasError

# modules listed here are imported by srnas.cli; order = order in `srnas --help`
MODULES = ("search", "train", "bench", "profile", "export", "infer", "pipeline", "report", "sample", "study", "data",
           "options")


def hw(text: str) -> tuple[int, int]:
    """``HxW`` argument type (e.g. ``360x640``)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h < 1 or w < 1:
            raise ValueError
        return h, w
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 360x640, got {text!r}") from None


def write_json(path: str | Path, data: object) -> None:
    from srnas.utils.files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def progress_factory(enabled: bool, unit: str = "img") -> Optional[Callable]:
    """A ``tqdm`` factory (or None) for library functions that take ``progress_factory``."""
    if not enabled:
        return None
    from functools import partial

    from tqdm import tqdm

    return partial(tqdm, unit=unit, leave=False, dynamic_ncols=True)


def option_file_args(sp: argparse.ArgumentParser, opt_help: str, resume: bool = False) -> None:
    """``-opt FILE --set KEY=VALUE [--resume] --no-progress``: the BasicSR-style option-file commands."""
    sp.add_argument("-opt", "--opt", required=True, help=opt_help)
    sp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override an option")
    if resume:
        sp.add_argument("--resume", action="store_true", help="continue experiments/<name> from its latest checkpoint")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")


def model_args(sp: argparse.ArgumentParser, weights_required: bool) -> None:
    """``--arch --scale --weights --genotype``: what :func:`model_from_args` needs."""
    sp.add_argument("--arch", help="imdn | dlsr (optional with --genotype)")
    sp.add_argument("--scale", type=int, default=None, choices=[2, 3, 4],
                    help="SR factor (default: the model file's, else 2)")
    sp.add_argument("--weights", required=weights_required,
                    help="weights: an official checkpoint, a state_dict, or an srnas model/training checkpoint")
    sp.add_argument("--genotype", help="genotype JSON (options/genotypes/*.json or a search's genotype.json)")


def model_from_args(args: argparse.Namespace):
    """The model of ``--arch/--genotype/--weights``; ``--weights`` alone may be an srnas model file, training
    checkpoint or experiment folder, which knows its own architecture and scale. Sets ``args.scale``."""
    from srnas.archs import create_model

    if args.arch is None and args.genotype is None:
        if args.weights is None:
            raise SrnasError("--arch or --genotype is required (or --weights with an srnas model file or experiment "
                             "folder)")
        from srnas.train.model_file import load_model_file

        model = load_model_file(args.weights, scale=args.scale)
        args.scale = model.srnas_config["scale"]
        return model
    args.scale = args.scale or 2
    return create_model(args.arch, scale=args.scale, weights=args.weights, genotype=args.genotype)
