"""``srnas export``: a checked ONNX or TorchScript file of a network (BatchNorm folded)."""
from __future__ import annotations

import argparse

from srnas.commands import model_args, model_from_args


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
    sp.add_argument("--check-image",
                    help="image for the parity check (default datasets/benchmark/Set5/LR_bicubic/X2/babyx2.png)")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srnas.export import export_model, format_from_suffix

    fmt = args.format or format_from_suffix(args.out)
    model = model_from_args(args)
    r = export_model(model, args.out, fmt, opset=args.opset, force=args.force, check_image=args.check_image)
    opset = f"opset {r.opset}, " if r.opset is not None else ""
    sizes = ", ".join(f"{h}x{w}" for h, w in r.check_sizes)
    print(f"wrote {r.path} ({r.format}, {opset}exporter {r.exporter}, x{r.scale}, {r.size_bytes / 1e6:.2f} MB, "
          f"{r.folded_bn} BatchNorm folded)")
    print(f"parity: max abs diff {r.max_abs_diff:.2e} vs PyTorch on {sizes} crops of the check image")
    return 0
