"""The machine's fp32 GEMM peak in MACs/s (one multiply-accumulate = one MAC, fvcore's unit), the yardstick of the
search-step and inference benchmarks.

    .venv/bin/python benchmarks/gemm_peak.py [--threads 2] [--n 2048] [--reps 5]

Times ``n x n @ n x n`` fp32 matmuls (``n^3`` MACs each) on the given device with the given thread count and reports
the best rate, by wall clock and by process CPU time (CPU time / threads is what the GEMM would take on an otherwise
idle machine: on a shared machine the wall clock also counts time the process waited for a core).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clock import load_note, timed  # noqa: E402


def gemm_peak(threads: int = 0, n: int = 2048, reps: int = 5, device: str = "cpu",
              dtype: torch.dtype = torch.float32) -> dict:
    """Best-of-``reps`` MACs/s of an ``n^3`` matmul.

    Returns:
        ``{"n", "threads", "device", "dtype", "macs_per_s_wall", "macs_per_s_cpu"}``: ``_cpu`` divides by process CPU
        time over the thread count (CPU only; equal to the wall figure on CUDA).
    """
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=dev, dtype=dtype, generator=g)
    for _ in range(2):
        a @ b
    best_wall = best_cpu = float("inf")
    for _ in range(reps):
        wall, cpu = timed(lambda: a @ b, dev)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    macs = float(n) ** 3
    return {"n": n, "threads": torch.get_num_threads(), "device": str(dev), "dtype": str(dtype).replace("torch.", ""),
            "macs_per_s_wall": macs / best_wall, "macs_per_s_cpu": macs / best_cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()
    r = gemm_peak(args.threads, args.n, args.reps, args.device)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"fp32 GEMM {args.n}^3 on {r['device']} ({r['threads']} threads, {load_note()}): "
              f"{r['macs_per_s_wall'] / 1e9:.1f} GMAC/s wall, {r['macs_per_s_cpu'] / 1e9:.1f} GMAC/s per CPU-second")


if __name__ == "__main__":
    main()
