"""``srnas export``: a checked ONNX or TorchScript file of a network (BatchNorm folded)."""
from __future__ import annotations

import argparse

from srnas.commands import model_args, model_from_args
from srnas.errors import SrnasError


def register(sub: argparse._SubParsersAction) -> None:
    from srnas.export.onnx import DEFAULT_OPSET

    sp = sub.add_parser("export", help="export a network to ONNX or TorchScript, checked against PyTorch")
    model_args(sp, weights_required=True)
    sp.add_argument("--format", choices=["onnx", "torchscript"],
                    help="output format (default: from the --out extension: .onnx, .pt, .ts)")
    sp.add_argument("--out", required=True, help="output file")
    sp.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                    help=f"ONNX opset (default {DEFAULT_OPSET}; < 18 uses the legacy TorchScript-based exporter)")
    sp.add_argument("--force", action="store_true", help="overwrite an existing output file")
    sp.add_argument("--quantize", choices=["int8"],
                    help="ONNX only: static int8 quantisation (ONNX Runtime, per-channel weights, calibrated on "
                         "--calib); measures Set5 PSNR and CPU latency against fp32 and refuses a file that loses "
                         "more than --max-psnr-drop")
    sp.add_argument("--calib", help="--quantize: folder of training images for calibration (default datasets/T91; "
                                    "benchmark sets are refused)")
    sp.add_argument("--max-psnr-drop", type=float, default=0.1,
                    help="--quantize: largest Set5 PSNR loss in dB written (default 0.1)")
    sp.add_argument("--accept-psnr-drop", action="store_true",
                    help="--quantize: write the int8 file even when it loses more than --max-psnr-drop")
    sp.add_argument("--check-image",
                    help="image for the parity check (default datasets/benchmark/Set5/LR_bicubic/X2/babyx2.png)")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.export import export_model, format_from_suffix

    fmt = args.format or format_from_suffix(args.out)
    if args.quantize and fmt != "onnx":
        raise SrnasError(f"--quantize: int8 is for ONNX files only, not {fmt}")
    model = model_from_args(args, "export")
    if args.quantize:
        return _int8(args, model)
    r = export_model(model, args.out, fmt, opset=args.opset, force=args.force, check_image=args.check_image)
    opset = f"opset {r.opset}, " if r.opset is not None else ""
    sizes = ", ".join(f"{h}x{w}" for h, w in r.check_sizes)
    print(f"wrote {r.path} ({r.format}, {opset}exporter {r.exporter}, x{r.scale}, {r.size_bytes / 1e6:.2f} MB, "
          f"{r.folded_bn} BatchNorm folded)")
    print(f"parity: max abs diff {r.max_abs_diff:.2e} vs PyTorch on {sizes} crops of the check image")
    return 0


def _int8(args: argparse.Namespace, model) -> int:
    from srnas.export import export_int8

    r = export_int8(model, args.out, opset=args.opset, force=args.force, calib=args.calib,
                    max_psnr_drop=args.max_psnr_drop, accept_drop=args.accept_psnr_drop)
    print("\n".join(r.lines()))
    if not r.written:
        raise SrnasError(f"{args.out}: not written: int8 loses {r.psnr_drop:.4f} dB on Set5, more than "
                         f"--max-psnr-drop {args.max_psnr_drop:g}; --accept-psnr-drop writes it anyway")
    print(f"wrote {r.path} (int8 ONNX, x{r.scale})")
    return 0
