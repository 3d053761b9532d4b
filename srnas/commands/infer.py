"""``srnas infer``: upscale images with a checkpoint, a TorchScript file or an ONNX file (optionally in tiles)."""
from __future__ import annotations

import argparse
import logging

from srnas.commands import progress_factory
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
    sp.add_argument("--tile", type=int, help="tile side in LR pixels (default: whole image at once); memory is "
                                             "bounded by the tile")
    sp.add_argument("--tile-mode", default="auto", choices=["auto", "exact", "approx"],
                    help="exact: output equal to the whole-image run also for IMDN/DLSR (whole-image attention "
                         "statistics gathered in extra passes; PyTorch networks only); approx: each tile on its own, "
                         "faster, differs for IMDN/DLSR (up to ~25 grey levels at tile 64); auto (default): exact "
                         "for checkpoints and model files, approx for TorchScript/ONNX files")
    sp.add_argument("--tile-overlap", type=int, default=16,
                    help="approx mode: context pixels around each tile (default 16); exact mode uses the network's "
                         "receptive radius")
    sp.add_argument("--force", action="store_true", help="overwrite existing output files")
    sp.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    sp.add_argument("--no-progress", action="store_true")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.infer import min_input_side, plan_outputs, tile_mode, upscale_files
    from srnas.loader import load_model
    from srnas.utils.device import select_device

    if (args.tile is not None and args.tile < 1) or args.tile_overlap < 0:
        raise SrnasError(f"--tile/--tile-overlap: need tile >= 1 and overlap >= 0, got {args.tile} and "
                         f"{args.tile_overlap}")
    device = select_device(args.device)
    loaded = load_model(args.model, args.arch, args.genotype, args.scale, device)
    model, scale = loaded.model, loaded.scale
    log.info("model: %s", loaded.describe())
    mode = tile_mode(model, args.tile_mode) if args.tile else None
    pairs = plan_outputs(args.input, args.output, scale, force=args.force, min_side=min_input_side(model, device))
    if mode == "approx":
        log.warning("approximate tiling: networks with whole-image attention (IMDN's CCA, DLSR's ESA) give another "
                    "output than untiled (see README, Deploy)")
    written = upscale_files(model, pairs, scale, args.tile, args.tile_overlap, device,
                            progress_factory(not args.no_progress), mode or "auto")
    tiling = {None: "whole images", "exact": f"exact tiles of {args.tile}",
              "approx": f"approximate tiles of {args.tile} + {args.tile_overlap} overlap"}[mode]
    print(f"{len(written)} image(s) upscaled x{scale} ({tiling}) into {args.output}")
    return 0
