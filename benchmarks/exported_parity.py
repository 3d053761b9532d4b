"""PSNR of the exported files themselves (ONNX, TorchScript) against the PyTorch model, as `srnas bench --weights
FILE` measures them: official IMDN x2 and DLSR x2. Writes ``experiments/reports/exported_parity.{md,json}``.

    .venv/bin/python benchmarks/exported_parity.py [--sets Set5 Set14] [--threads 1]

Each network is exported with ``srnas.export.export_model`` (ONNX opset 18 with the dynamo exporter, the default of
``srnas export``; TorchScript by tracing), then every file is loaded through ``srnas.loader.load_model`` (by content)
and benchmarked with ``srnas.eval.bench`` (Y, border = scale, no SSIM) on ``../shared/data/benchmark``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from srnas.eval.bench import bench  # noqa: E402
from srnas.export import export_model  # noqa: E402
from srnas.loader import load_model  # noqa: E402
from srnas.utils.files import atomic_write_text  # noqa: E402

SHARED = REPO.parent / "shared"
NETS = {"imdn_x2": dict(arch="imdn", weights=SHARED / "weights" / "imdn" / "IMDN_x2.pth"),
        "dlsr_x2": dict(genotype=REPO / "options" / "genotypes" / "dlsr_x2_released.json",
                        weights=SHARED / "weights" / "dlsr" / "DLSR_x2.pt")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "experiments" / "reports"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = SHARED / "data" / "benchmark"
    r: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, kw in NETS.items():
            ref = load_model(kw["weights"], kw.get("arch"), kw.get("genotype"), 2)
            files = {"onnx": export_model(ref.network, Path(tmp) / f"{name}.onnx", "onnx").path,
                     "torchscript": export_model(ref.network, Path(tmp) / f"{name}.pt", "torchscript").path}
            rows = {"PyTorch": bench(ref.model, 2, args.sets, data, ssim=False)}
            for fmt, path in files.items():
                loaded = load_model(path)
                rows[loaded.runtime] = bench(loaded.model, 2, args.sets, data, ssim=False)
            r[name] = {k: {s: v[s]["psnr"] for s in args.sets} for k, v in rows.items()}
            print(name, json.dumps(r[name], indent=1), flush=True)
    lines = ["# Exported files vs PyTorch: PSNR", "", "Made by `benchmarks/exported_parity.py`: each file benchmarked "
             "as `srnas bench --weights FILE` does (loaded by content, run by the runtime named). Y, border = scale.",
             "", "| network | runtime | " + " | ".join(args.sets) + " | largest abs diff to PyTorch (dB) |",
             "|---|---|" + "---|" * len(args.sets) + "---|"]
    for name, rows in r.items():
        for runtime, psnr in rows.items():
            diff = max(abs(psnr[s] - rows["PyTorch"][s]) for s in args.sets)
            lines.append(f"| {name} | {runtime} | " + " | ".join(f"{psnr[s]:.4f}" for s in args.sets) +
                         f" | {diff:.1e} |")
    out = Path(args.out)
    atomic_write_text(out / "exported_parity.json", json.dumps(r, indent=2) + "\n")
    atomic_write_text(out / "exported_parity.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
