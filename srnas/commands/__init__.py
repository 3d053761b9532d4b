"""CLI subcommands: one module each, with ``register(subparsers)`` adding its parser and setting ``func``.

Argument wiring only: each ``func`` calls one library function and prints where the results went.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Optional


# modules listed here are imported by srnas.cli; order = order in `srnas --help`
MODULES = ("search", "train", "bench", "profile", "latency", "export", "infer", "pipeline", "report", "sample", "study",
           "data", "options")


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


def add_report_latency(report_dir: str | Path, measured: dict, provider: str, threads: int,
                       input_hw: tuple[int, int]) -> Path:
    """Add a measured latency (and the machine's fingerprint) to ``report_dir/report.json`` (`srnas bench --report`),
    so that `srnas report` plots PSNR against it; returns the file."""
    from srnas.errors import SrnasError
    from srnas.latency.fingerprint import fingerprint
    from srnas.latency.runtime import OPSET

    path = Path(report_dir) / "report.json"
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SrnasError(f"{path}: cannot read a report.json ({e.__class__.__name__}); run `srnas bench --report` "
                         "first") from None
    if not isinstance(d, dict):
        raise SrnasError(f"{path}: not a report.json (a JSON object)")
    fp = fingerprint(provider, threads, tuple(input_hw), OPSET)
    write_json(path, {**d, "latency": {"median_ms": measured["median"], "p90_ms": measured["p90"],
                                       "fingerprint": fp}})
    return path


def progress_factory(enabled: bool, unit: str = "img") -> Optional[Callable]:
    """A progress-bar factory (or None) for library functions that take ``progress_factory``: tqdm on a terminal,
    log lines otherwise (:func:`srnas.utils.progress.progress_bar`)."""
    if not enabled:
        return None
    from functools import partial

    from srnas.utils.progress import progress_bar

    return partial(progress_bar, unit=unit, leave=False, dynamic_ncols=True)


def option_file_args(sp: argparse.ArgumentParser, opt_help: str, resume: bool = False) -> None:
    """``-opt FILE --set KEY=VALUE [--resume] --no-progress``: the BasicSR-style option-file commands."""
    sp.add_argument("-opt", "--opt", required=True, help=opt_help)
    sp.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override an option")
    if resume:
        sp.add_argument("--resume", action="store_true", help="continue experiments/<name> from its latest checkpoint")
    sp.add_argument("--no-progress", action="store_true", help="no progress bars")


def model_args(sp: argparse.ArgumentParser, weights_required: bool) -> None:
    """``--arch --scale --weights --genotype``: what :func:`load_from_args` needs."""
    sp.add_argument("--arch", help="imdn | dlsr (foreign checkpoints; optional with --genotype)")
    sp.add_argument("--scale", type=int, default=None, choices=[2, 3, 4],
                    help="SR factor (default: the model file's, else 2)")
    sp.add_argument("--weights", required=weights_required,
                    help="an srnas model file or experiment folder, an official checkpoint (with --arch/--genotype), "
                         "a TorchScript file or an ONNX model: told apart by content")
    sp.add_argument("--genotype", help="genotype JSON (options/genotypes/*.json or a search's genotype.json)")


def load_from_args(args: argparse.Namespace, device="cpu"):
    """:func:`srnas.loader.load_model` of ``--weights/--arch/--genotype/--scale``; sets ``args.scale``."""
    from srnas.loader import load_model

    loaded = load_model(args.weights, args.arch, args.genotype, args.scale, device)
    args.scale = loaded.scale
    return loaded


def model_from_args(args: argparse.Namespace, what: str = "this command"):
    """The PyTorch network of ``--arch/--genotype/--weights`` (an exported file is refused: ``what`` needs the
    network). Sets ``args.scale``."""
    from srnas.loader import require_network

    return require_network(load_from_args(args), what)
