"""Benchmark a network on the standard SR test sets: PSNR/SSIM on Y, border = scale (one convention, see README).

``evaluate`` runs a model (any callable ``(1, 3, h, w) in [0, 1] -> (1, 3, h*s, w*s)``) over one
:class:`~srnas.data.BenchmarkDataset`; ``bench`` loops over several sets and returns
``{"<set>": {"psnr": float, "ssim": float, "images": int, "seconds": float}}``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from srnas.data import BenchmarkDataset, write_image
from srnas.errors import SrnasError
from srnas.eval.metrics import calculate_psnr_y, calculate_ssim_y

DEFAULT_SETS = ("Set5", "Set14", "B100", "Urban100")
Model = Callable[[torch.Tensor], torch.Tensor]


def default_data_root() -> Path:
    """``datasets/benchmark`` in the repository (the shipped Set5)."""
    return Path(__file__).resolve().parents[2] / "datasets" / "benchmark"


def self_ensemble(model: Model) -> Model:
    """The x8 geometric self-ensemble (EDSR, Lim et al. 2017, Sec. 4.3; BasicSR ``test_selfensemble``): the mean of
    ``T^-1(model(T(x)))`` over the 8 flips/transposes ``T`` of the input, in float before quantization. A test-time
    trick that costs 8 forwards; srnas reports it beside the plain result, never instead of it."""
    def run(x: torch.Tensor) -> torch.Tensor:
        out = None
        for t in range(8):
            y = x.transpose(-2, -1) if t & 4 else x
            y = y.flip(-1) if t & 1 else y
            y = y.flip(-2) if t & 2 else y
            y = model(y.contiguous())
            y = y.flip(-2) if t & 2 else y
            y = y.flip(-1) if t & 1 else y
            y = y.transpose(-2, -1) if t & 4 else y
            out = y.float() if out is None else out + y.float()
        return out / 8

    return run


def evaluate(model: Model, dataset: BenchmarkDataset, scale: int, device: torch.device | str = "cpu",
             ssim: bool = True, save_dir: Optional[Path] = None, progress: Any = None,
             min_side: int = 1) -> dict[str, float]:
    """Mean PSNR (and SSIM) over ``dataset``: Y channel (BT.601, not rounded) of the uint8 SR output, ``scale``
    pixels cropped at every border (basicsr ``calculate_psnr(..., test_y_channel=True)``).

    Args:
        model: ``(1, 3, h, w)`` in [0, 1] -> ``(1, 3, h*s, w*s)``; put it in eval mode first.
        dataset: the benchmark pairs.
        scale: SR factor (also the border crop).
        device: where to run.
        ssim: also compute SSIM (slower on big sets).
        save_dir: write each SR image there as ``<name>.png``.
        progress: an optional ``tqdm`` instance, updated once per image.
        min_side: the network's smallest input side (``srnas.infer.min_input_side``): a smaller LR image is refused
            with its name.
    """
    from srnas.infer import check_input_size, upscale_image

    psnrs, ssims = [], []
    start = time.perf_counter()
    for i in range(len(dataset)):
        item = dataset[i]
        check_input_size(item["lq"], min_side, item.get("lq_path", item["name"]))
        sr = upscale_image(model, item["lq"], device)
        if sr.shape != item["gt"].shape:
            raise SrnasError(f"model output {sr.shape[1]}x{sr.shape[0]} does not match the x{scale} ground truth "
                             f"{item['gt'].shape[1]}x{item['gt'].shape[0]} of {item['name']}: wrong scale?")
        psnrs.append(calculate_psnr_y(sr, item["gt"], scale))
        if ssim:
            ssims.append(calculate_ssim_y(sr, item["gt"], scale))
        if save_dir is not None:
            write_image(Path(save_dir) / f"{item['name']}.png", sr)
        if progress is not None:
            progress.update(1)
    out = {"psnr": float(np.mean(psnrs)), "images": len(psnrs), "seconds": time.perf_counter() - start}
    if ssim:
        out["ssim"] = float(np.mean(ssims))
    return out


def bench(model: Model, scale: int, datasets: Sequence[str] = DEFAULT_SETS, data_root: str | Path | None = None,
          device: torch.device | str = "cpu", ssim: bool = True, save_images: str | Path | None = None,
          progress_factory: Optional[Callable[..., Any]] = None) -> dict[str, dict[str, float]]:
    """Evaluate ``model`` on each named set under ``data_root``; every dataset is checked before any runs."""
    root = Path(data_root) if data_root is not None else default_data_root()
    sets = {name: BenchmarkDataset(root, name, scale) for name in datasets}
    from srnas.infer import min_input_side

    min_side = min_input_side(model, device)
    results = {}
    for name, ds in sets.items():
        bar = progress_factory(total=len(ds), desc=f"{name} x{scale}") if progress_factory else None
        save = Path(save_images) / name / f"X{scale}" if save_images is not None else None
        try:
            results[name] = evaluate(model, ds, scale, device, ssim=ssim, save_dir=save, progress=bar,
                                     min_side=min_side)
        finally:
            if bar is not None:
                bar.close()
    return results


def markdown_table(results: dict[str, dict[str, float]], x8: Optional[dict[str, dict[str, float]]] = None) -> str:
    """``| dataset | images | PSNR | SSIM | seconds |`` rows for :func:`bench` results (and a row per set for its
    self-ensemble results ``x8``)."""
    lines = ["| dataset | images | PSNR (dB) | SSIM | seconds |", "|---|---|---|---|---|"]
    rows = list(results.items()) + [(f"{name} (x8 self-ensemble)", r) for name, r in (x8 or {}).items()]
    for name, r in rows:
        ssim = f"{r['ssim']:.4f}" if "ssim" in r else "-"
        lines.append(f"| {name} | {r['images']} | {r['psnr']:.4f} | {ssim} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def write_report(out: str | Path, model: Optional[torch.nn.Module], scale: int, results: dict[str, dict[str, float]],
                 weights: str | Path, results_x8: Optional[dict[str, dict[str, float]]] = None,
                 runtime: str = "PyTorch") -> dict:
    """Write ``out/report.json`` and ``out/report.md``: the model, its cost (params, Mult-Adds for a 1280x720 output,
    :mod:`srnas.eval.profile` convention) and the bench table (with the self-ensemble rows ``results_x8`` when given,
    stored as ``results_x8``). ``srnas report`` reads these files.

    ``model`` is the PyTorch network (or its untrained architecture, for an exported file); None when it is not known
    (an exported file without srnas metadata): params and MACs are then left out. ``runtime`` says what ran the
    benchmark (PyTorch, TorchScript, ONNX Runtime).
    """
    import json

    from srnas.eval.profile import OUTPUT_HW, profile
    from srnas.utils.files import atomic_write_text

    out = Path(out)
    cost = profile(model, scale) if model is not None else None
    cfg = getattr(model, "srnas_config", None) or {}
    geno = cfg.get("genotype") or {}
    report = {"weights": str(weights), "runtime": runtime, "arch": cfg.get("arch"), "scale": scale,
              "kwargs": cfg.get("kwargs"), "genotype": geno or None}
    if cost is not None:
        report.update(params=cost["params"], macs=cost["macs"], macs_input_hw=list(cost["input_hw"]),
                      macs_output_hw=list(OUTPUT_HW))
    report["results"] = results
    if results_x8:
        report["results_x8"] = results_x8
    kw = cfg.get("kwargs") or {}
    ops = geno.get("ops") or kw.get("ops")
    size = {k: geno.get(k) or kw.get(k) for k in ("num_feat", "num_block") if geno.get(k) or kw.get(k)}
    what = f"{cfg.get('arch')} x{scale}" + "".join(f", {k} {v}" for k, v in size.items()) + \
        (f", ops {ops}" if ops else "")
    lines = [f"# Benchmark: {Path(str(weights)).name}", "", f"- weights: `{weights}`", f"- network: {what}",
             f"- run by: {runtime}"]
    if cost is not None:
        lines += [f"- parameters: {cost['params']:,} ({cost['params'] / 1e3:.2f} K)",
                  f"- Mult-Adds (MACs, convs and matmuls, no bias) for a {OUTPUT_HW[1]}x{OUTPUT_HW[0]} output "
                  f"(LR {cost['input_hw'][1]}x{cost['input_hw'][0]}): {cost['macs'] / 1e9:.2f} G"]
    else:
        lines.append("- parameters, Mult-Adds: not known (an exported file without srnas metadata)")
    lines += ["- PSNR/SSIM on Y (BT.601), border = scale", "", markdown_table(results, results_x8), ""]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    atomic_write_text(out / "report.md", "\n".join(lines))
    return report
