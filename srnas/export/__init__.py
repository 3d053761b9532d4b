"""Deployment: a compact network (BatchNorm folded) exported to ONNX or TorchScript, checked against PyTorch.

:func:`export_model` folds BN (``fold.py``), exports to a temporary file beside the output, loads that file back
(ONNX Runtime CPU / ``torch.jit.load``), runs it and the PyTorch model on crops of a real image at two sizes
(``parity.py``), and only then renames it to the output path. A failed parity check (max abs difference above 1e-4)
leaves no file behind.
"""
from __future__ import annotations

import shutil
import tempfile
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

__all__ = ["DEFAULT_OPSET", "FORMATS", "ExportResult", "Int8Result", "OnnxModel", "check_parity", "compact",
           "export_int8", "export_model", "fold_batchnorm", "fold_conv_bn", "format_from_suffix", "is_torchscript_file", "load_onnx",
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


MAX_PSNR_DROP = 0.1  # dB on Set5: the default limit of export_int8
LATENCY_HW = (256, 256)  # LR input of the latency measurement (Set5 babyx2, the check image)


@dataclass(frozen=True)
class Int8Result:
    """What :func:`export_int8` measured, and whether it wrote ``path``."""

    path: Path
    written: bool
    psnr_fp32: float  # Set5, Y, border = scale (the bench convention)
    psnr_int8: float
    max_psnr_drop: float  # the limit
    latency_fp32: float  # seconds, median, ONNX Runtime CPU, LATENCY_HW input, `threads` threads
    latency_int8: float
    threads: int
    size_fp32: int  # bytes
    size_int8: int
    calib: Path
    calib_images: int
    scale: int

    @property
    def psnr_drop(self) -> float:
        return self.psnr_fp32 - self.psnr_int8

    def lines(self) -> list[str]:
        """The measurement, as printed by ``srnas export --quantize int8``."""
        return [f"int8 vs fp32 on Set5 x{self.scale}: PSNR {self.psnr_fp32:.4f} -> {self.psnr_int8:.4f} dB "
                f"({-self.psnr_drop:+.4f}; limit -{self.max_psnr_drop:g})",
                f"CPU latency ({LATENCY_HW[0]}x{LATENCY_HW[1]} input, {self.threads} thread(s), ONNX Runtime): "
                f"{self.latency_fp32 * 1e3:.1f} -> {self.latency_int8 * 1e3:.1f} ms "
                f"({self.latency_int8 / self.latency_fp32:.2f}x)",
                f"size: {self.size_fp32 / 1e6:.2f} -> {self.size_int8 / 1e6:.2f} MB; calibration: "
                f"{self.calib_images} images of {self.calib}"]


def export_int8(model: nn.Module, out: str | Path, opset: int = DEFAULT_OPSET, force: bool = False,
                calib: str | Path | None = None, max_psnr_drop: float = MAX_PSNR_DROP, accept_drop: bool = False,
                threads: int = 1, data_root: str | Path | None = None) -> Int8Result:
    """An int8 ONNX file of ``model`` (static quantisation, ``export/quantize.py``), measured against its fp32 export.

    The fp32 file is exported and parity-checked as by :func:`export_model` (in a temporary folder), quantised with
    calibration on ``calib``, then both run Set5 (PSNR) and a CPU latency test in the same process. ``out`` is written
    (atomically) only if the PSNR drop is at most ``max_psnr_drop`` dB or ``accept_drop``.

    Args:
        model: an srnas network (CPU, eval mode).
        out: the int8 ``.onnx`` file.
        opset: ONNX opset of the fp32 export.
        force: overwrite an existing ``out``.
        calib: folder of training images (default ``datasets/T91``); benchmark sets are refused.
        max_psnr_drop: largest Set5 PSNR loss (dB) written without ``accept_drop``.
        accept_drop: write even when the drop exceeds the limit.
        threads: ONNX Runtime threads for the latency test.
        data_root: where Set5 is (default ``datasets/benchmark``).

    Returns:
        The measurement; ``written`` says whether ``out`` was written.
    """
    from srnas.eval.bench import bench
    from srnas.export.quantize import DEFAULT_CALIB, calibration_inputs, check_calibration_dir, cpu_latency, \
        quantize_onnx

    out = Path(out)
    if out.is_dir():
        raise SrnasError(f"{out}: is a folder; give an output file name")
    if out.exists() and not force:
        raise SrnasError(f"{out}: exists; use --force to overwrite it")
    from srnas.infer import probe_scale

    calib = check_calibration_dir(calib if calib is not None else DEFAULT_CALIB)
    inputs = calibration_inputs(calib, probe_scale(model.cpu().eval()))  # every image read before any work
    with tempfile.TemporaryDirectory(prefix="srnas-int8-") as tmp:
        fp32 = export_model(model, Path(tmp) / "fp32.onnx", "onnx", opset=opset)
        int8 = Path(tmp) / "int8.onnx"
        quantize_onnx(fp32.path, int8, inputs)
        psnr = [bench(load_onnx(p), fp32.scale, ["Set5"], data_root, ssim=False)["Set5"]["psnr"]
                for p in (fp32.path, int8)]
        x = image_crops(read_image(default_check_image()), [LATENCY_HW])[0].numpy()
        lat = cpu_latency([fp32.path, int8], x, threads)
        written = psnr[0] - psnr[1] <= max_psnr_drop or accept_drop
        if written:
            with atomic_path(out) as dst:
                shutil.copyfile(int8, dst)
        return Int8Result(out, written, psnr[0], psnr[1], max_psnr_drop, lat[0], lat[1], threads,
                          fp32.size_bytes, int8.stat().st_size, calib, len(inputs), fp32.scale)
