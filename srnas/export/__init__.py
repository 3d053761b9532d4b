"""Deployment: a compact network (BatchNorm folded) exported to ONNX or TorchScript, checked against PyTorch.

:func:`export_model` folds BN (``fold.py``), exports to a temporary file beside the output, loads that file back
(ONNX Runtime CPU / ``torch.jit.load``), runs it and the PyTorch model on crops of a real image at two sizes
(``parity.py``), and only then renames it to the output path. A failed parity check (max abs difference above 1e-4)
leaves no file behind.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from srnas.data import read_image
from srnas.errors import SrnasError
from srnas.export.fold import compact, fold_batchnorm, fold_conv_bn
from srnas.export.onnx import DEFAULT_OPSET, OnnxModel, export_onnx, load_onnx
from srnas.export.parity import (CHECK_SIZES, PARITY_TOL, TRACE_SIZE, check_parity, default_check_image, image_crops,
                                 max_abs_diff)
from srnas.export.torchscript import export_torchscript, is_torchscript_file, load_torchscript
from srnas.utils.files import atomic_path

FORMATS = {"onnx": (".onnx",), "torchscript": (".pt", ".ts")}

__all__ = ["DEFAULT_OPSET", "FORMATS", "ExportResult", "OnnxModel", "check_parity", "compact", "export_model",
           "fold_batchnorm", "fold_conv_bn", "format_from_suffix", "is_torchscript_file", "load_onnx",
           "load_torchscript", "max_abs_diff"]


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote and measured."""

    path: Path
    format: str  # onnx | torchscript
    exporter: str  # ONNX: dynamo | legacy (TorchScript-based); TorchScript: trace
    opset: Optional[int]  # ONNX only
    size_bytes: int
    max_abs_diff: float  # exported vs PyTorch, over the check crops
    check_sizes: tuple[tuple[int, int], ...]  # (h, w) of the check crops
    folded_bn: int  # BatchNorm layers folded into convs
    scale: int


def format_from_suffix(path: str | Path) -> str:
    """``onnx`` for ``.onnx``, ``torchscript`` for ``.pt``/``.ts`` (SrnasError otherwise)."""
    suffix = Path(path).suffix.lower()
    for fmt, suffixes in FORMATS.items():
        if suffix in suffixes:
            return fmt
    raise SrnasError(f"{path}: cannot tell the format from the extension (.onnx, .pt, .ts); pass --format")


def export_model(model: nn.Module, out: str | Path, fmt: str, opset: int = DEFAULT_OPSET, force: bool = False,
                 check_image: str | Path | None = None, tol: float = PARITY_TOL) -> ExportResult:
    """Export ``model`` (BN folded, eval mode, CPU) to ``out`` and check the written file against ``model``.

    Args:
        model: an srnas network, ``(N, 3, H, W)`` RGB in [0, 1] -> ``(N, 3, H*s, W*s)``; put on CPU, eval mode.
        out: output file; written atomically (temporary file + rename), only after the parity check passed.
        fmt: ``onnx`` or ``torchscript``.
        opset: ONNX opset (ignored for TorchScript).
        force: overwrite an existing ``out``.
        check_image: image for the parity check (default Set5 ``babyx2.png``); centre crops of
            ``parity.CHECK_SIZES`` are used, and a ``parity.TRACE_SIZE`` crop to record the graph.
        tol: largest max abs difference accepted.

    Raises:
        SrnasError: ``out`` exists without ``force``, unknown format, unreadable check image, unwritable folder, or
            the exported model differs from PyTorch by more than ``tol`` (no file is left then).
    """
    out = Path(out)
    if fmt not in FORMATS:
        raise SrnasError(f"--format: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if out.is_dir():
        raise SrnasError(f"{out}: is a folder; give an output file name")
    if out.exists() and not force:
        raise SrnasError(f"{out}: exists; use --force to overwrite it")
    image = read_image(check_image if check_image is not None else default_check_image())
    inputs = image_crops(image, CHECK_SIZES)
    example = image_crops(image, [TRACE_SIZE])[0]
    reference = model.cpu().eval()
    net, folded = compact(reference)
    with torch.no_grad():
        scale = reference(example).shape[-1] // example.shape[-1]
    meta = {"scale": int(scale), "srnas_config": getattr(model, "srnas_config", None)}
    with atomic_path(out) as tmp:  # the file appears only after the parity check passed
        if fmt == "onnx":
            exporter = export_onnx(net, tmp, example, opset, meta)
            loaded = load_onnx(tmp)
        else:
            exporter, opset = "trace", None
            export_torchscript(net, tmp, example, meta)
            loaded = load_torchscript(tmp)
        diff = check_parity(reference, loaded, inputs, tol, what=str(out))
    sizes = tuple((int(x.shape[-2]), int(x.shape[-1])) for x in inputs)
    return ExportResult(out, fmt, exporter, opset, out.stat().st_size, diff, sizes, folded, int(scale))
