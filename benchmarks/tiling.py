"""Exact vs approximate tiled inference of the official IMDN x2 and DLSR x2: difference to the untiled output, extra
compute, peak memory. Writes ``experiments/reports/tiling.{md,json}``; finished entries are kept (skip-if-done).

    .venv/bin/python benchmarks/tiling.py [--threads 1] [--tiles 64 256] [--sizes 2000 1000] [--out DIR]
        [--report-only]

* Photo: a 400x600 crop of Urban100 ``img_050`` (HR, used here as the LR input; no test uses it), untiled, then
  tiled exactly (``srnas.exact_tiling``) and approximately (``--tile-mode approx``, overlap 16) at each tile size:
  uint8 max abs difference to the untiled output, pixels off by more than 1 level, PSNR of tiled vs untiled, CPU
  time of the process (extra compute = exact time / untiled time, same process, one thread).
* Memory: peak RSS (``VmHWM``) of a fresh process upscaling a ``size x size`` input (Set5 baby repeated) with
  IMDN x2 in exact tiles of 256, against the same process's RSS before the run (torch + the model).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from srnas.archs import create_model  # noqa: E402
from srnas.data import read_image  # noqa: E402
from srnas.utils.files import atomic_write_text  # noqa: E402

SHARED = REPO.parent / "shared"
PHOTO = SHARED / "data" / "benchmark" / "Urban100" / "HR" / "img_050.png"
CROP = (400, 600)
NETS = {"imdn_x2": ("imdn", None, "imdn/IMDN_x2.pth"),
        "dlsr_x2": (None, "options/genotypes/dlsr_x2_released.json", "dlsr/DLSR_x2.pt")}


def load(name: str) -> torch.nn.Module:
    arch, geno, weights = NETS[name]
    return create_model(arch, scale=2, genotype=REPO / geno if geno else None,
                        weights=SHARED / "weights" / weights).eval()


def run(model, lq: np.ndarray, tile, mode: str) -> tuple[np.ndarray, float]:
    from srnas.infer import upscale_array

    t0 = time.process_time()  # CPU time of this (one-thread) process: less disturbed by other jobs than wall time
    out = upscale_array(model, lq, 2, tile=tile, overlap=16, mode=mode)
    return out, time.process_time() - t0


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    mse = float((d.astype(np.float64) ** 2).mean())
    return {"max_abs_diff": int(d.max()), "pixels_off_by_more_than_1": int((d.max(axis=2) > 1).sum()),
            "psnr_vs_untiled": None if mse == 0 else 10 * np.log10(255 ** 2 / mse)}


def photo(name: str, tiles: list[int]) -> dict:
    model = load(name)
    lq = np.ascontiguousarray(read_image(PHOTO)[:CROP[0], :CROP[1]])
    whole, t_whole = run(model, lq, None, "auto")
    res = {"input": f"{PHOTO.name} crop {CROP[0]}x{CROP[1]}", "untiled_seconds": t_whole}
    for tile in tiles:
        for mode in ("exact", "approx"):
            out, t = run(model, lq, tile, mode)
            res[f"{mode}_{tile}"] = {**compare(out, whole), "seconds": t, "time_ratio": t / t_whole}
            print(name, mode, tile, res[f"{mode}_{tile}"], flush=True)
    return res


def peak_rss_gib() -> float:
    """This process's peak RSS (``VmHWM``; ``ru_maxrss`` would carry the parent's peak over ``execve``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2 ** 20
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(name: str, size: int, tile: int, mode: str) -> None:
    """In a fresh process: peak RSS before and after upscaling a size x size input."""
    model = load(name)
    hr = read_image(REPO / "datasets" / "benchmark" / "Set5" / "HR" / "baby.png")
    reps = -(-size // hr.shape[0])
    lq = np.ascontiguousarray(np.tile(hr, (reps, reps, 1))[:size, :size])
    before = peak_rss_gib()
    _, t = run(model, lq, tile, mode)
    print(json.dumps({"rss_before_gib": before, "peak_rss_gib": peak_rss_gib(), "seconds": t}))


def memory(name: str, size: int, tile: int, mode: str, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", name, str(size), str(tile), mode, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def markdown(r: dict) -> str:
    lines = ["# Tiled inference: exact vs approximate", "",
             "Made by `benchmarks/tiling.py` (one thread, this machine; seconds are CPU time of the process, other "
             "jobs shared the 2 cores). Untiled = the whole image at once; exact = `srnas infer --tile N` (default "
             "mode for PyTorch networks); approx = `--tile-mode approx --tile-overlap 16`. Differences on the uint8 "
             "output.",
             "", f"## Photo: {r.get('photo_input', '')}", "",
             "| network | mode | tile | max abs diff | pixels off by > 1 | PSNR vs untiled (dB) | seconds "
             "| time / untiled |",
             "|---|---|---|---|---|---|---|---|"]
    for name in NETS:
        p = r.get("photo", {}).get(name)
        if not p:
            continue
        lines.append(f"| {name} | untiled | - | 0 | 0 | - | {p['untiled_seconds']:.1f} | 1.00 |")
        for key, v in p.items():
            if not isinstance(v, dict):
                continue
            mode, tile = key.split("_")
            psnr = "identical" if v["psnr_vs_untiled"] is None else f"{v['psnr_vs_untiled']:.1f}"
            lines.append(f"| {name} | {mode} | {tile} | {v['max_abs_diff']} | {v['pixels_off_by_more_than_1']:,} | "
                         f"{psnr} | {v['seconds']:.1f} | {v['time_ratio']:.2f} |")
    lines += ["", "## Peak memory (fresh process, peak RSS `VmHWM`)", "",
              "| network | input (LR) | mode | tile | peak RSS before the run (GiB) | peak RSS (GiB) |",
              "|---|---|---|---|---|---|"]
    for key, v in sorted(r.get("memory", {}).items()):
        name, size, mode, tile = key.split(":")
        lines.append(f"| {name} | {size}x{size} | {mode} | {tile} | {v['rss_before_gib']:.2f} | "
                     f"{v['peak_rss_gib']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tiles", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--sizes", type=int, nargs="*", default=[2000, 1000], help="memory runs (none: skip them)")
    ap.add_argument("--memory-tile", type=int, default=256)
    ap.add_argument("--out", default=str(REPO / "experiments" / "reports"))
    ap.add_argument("--report-only", action="store_true", help="rewrite tiling.md from tiling.json, run nothing")
    ap.add_argument("--child", nargs=4, metavar=("NET", "SIZE", "TILE", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), args.child[3])
        return
    out = Path(args.out)
    path = out / "tiling.json"
    r = json.loads(path.read_text()) if path.exists() else {}
    if args.report_only:
        atomic_write_text(out / "tiling.md", markdown(r))
        return
    r["photo_input"] = f"Urban100 HR {PHOTO.name}, top-left {CROP[0]}x{CROP[1]} crop used as LR input (x2)"

    def save() -> None:
        atomic_write_text(path, json.dumps(r, indent=2) + "\n")
        atomic_write_text(out / "tiling.md", markdown(r))

    for name in NETS:
        if name not in r.setdefault("photo", {}):
            r["photo"][name] = photo(name, args.tiles)
            save()
    for size in args.sizes:
        key = f"imdn_x2:{size}:exact:{args.memory_tile}"
        if key not in r.setdefault("memory", {}):
            r["memory"][key] = memory("imdn_x2", size, args.memory_tile, "exact", args.threads)
            print(key, r["memory"][key], flush=True)
            save()
    save()
    print(markdown(r))


if __name__ == "__main__":
    main()
