"""``srnas infer``: upscale images with a checkpoint, a TorchScript file or an ONNX file (optionally in tiles)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from srnas.commands import model_from_args, progress_factory
from srnas.errors import SrnasError

log = logging.getLogger("srnas")


def register(sub: argparse._SubParsersAction) -> None:
    sp = sub.add_parser("infer", help="upscale images (checkpoint, TorchScript or ONNX model; optional tiling)")
    sp.add_argument("--model", required=True,
                    help="an srnas model file (net_best.pth), another checkpoint (with --arch/--genotype), a "
                         "TorchScript file (.pt/.ts) or an ONNX file (.onnx)")
    sp.add_argument("--input", required=True, help="an image, or a folder of images")
    sp.add_argument("--output", required=True, help="output folder; files are named <stem>_x<scale>.png")
    sp.add_argument("--arch", help="checkpoints only: imdn | dlsr (optional with --genotype)")
    sp.add_argument("--genotype", help="checkpoints only: genotype JSON")
    sp.add_argument("--scale", type=int, choices=[2, 3, 4],
                    help="SR factor (foreign checkpoints: default 2; other files: checked against the file)")
    sp.add_argument("--tile", type=int, help="tile side in LR pixels (default: whole image at once); exact for conv-only networks, "
                         "close for IMDN/DLSR (global attention): use the largest tile that fits")
    sp.add_argument("--tile-overlap", type=int, default=16, help="context pixels around each tile (default 16)")
    sp.add_argument("--force", action="store_true", help="overwrite existing output files")
    sp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    sp.add_argument("--no-progress", action="store_true")
    sp.set_defaults(func=run)


def load_model(args: argparse.Namespace, device):
    """The model named by ``--model``: ONNX by extension, TorchScript by content, otherwise a checkpoint (an srnas
    model file without ``--arch``/``--genotype``, any other checkpoint with them)."""
    from srnas.export import is_torchscript_file, load_onnx, load_torchscript

    path = Path(args.model)
    if not path.is_file():
        raise SrnasError(f"{path}: no such model file")
    if path.suffix.lower() == ".onnx":
        return load_onnx(path, device)
    if is_torchscript_file(path):
        return load_torchscript(path, device)
    ns = argparse.Namespace(arch=args.arch, genotype=args.genotype, weights=str(path), scale=args.scale)
    return model_from_args(ns).to(device).eval()  # without --arch/--genotype: an srnas model file


def run(args: argparse.Namespace) -> int:
    from srnas.infer import plan_outputs, probe_scale, upscale_files
    from srnas.runtime import select_device

    if (args.tile is not None and args.tile < 1) or args.tile_overlap < 0:
        raise SrnasError(f"--tile/--tile-overlap: need tile >= 1 and overlap >= 0, got {args.tile} and "
                         f"{args.tile_overlap}")
    device = select_device(args.device)
    model = load_model(args, device)
    scale = probe_scale(model, device)
    if args.scale is not None and args.scale != scale:
        raise SrnasError(f"--scale: {args.model} upscales x{scale}, not x{args.scale}")
    pairs = plan_outputs(args.input, args.output, scale, force=args.force)
    written = upscale_files(model, pairs, scale, args.tile, args.tile_overlap, device,
                            progress_factory(not args.no_progress))
    tiling = f"tiles {args.tile} + {args.tile_overlap} overlap" if args.tile else "whole images"
    print(f"{len(written)} image(s) upscaled x{scale} ({tiling}) into {args.output}")
    return 0
