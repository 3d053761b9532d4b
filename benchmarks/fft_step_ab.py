"""One-process A/B of the supernet search step with the folded conv through the FFT and computed directly.

    .venv/bin/python benchmarks/fft_step_ab.py [--space dlsr] [--blocks 6] [--rounds 5] [--json FILE]

``benchmarks/search_step.py`` runs every variant in its own process; on a shared machine two processes of the same code
can differ by 10-35 %, more than the effect measured here. This script alternates the two settings step by step in one
process (same heap, same neighbours), so each pair of steps sees the same conditions, and prints the per-step CPU times
and the ratio of medians (direct / FFT). Same supernet and step as ``search_step.py`` (batch 16, 32x32 LR, x2,
alpha step + weight step, Adam).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from clock import timed  # noqa: E402
from search_step import supernet_step  # noqa: E402


def main() -> None:
    from srnas.search.mixed_op import MixedOp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", choices=("dlsr", "imdn"), default="dlsr")
    ap.add_argument("--feat", type=int, help="channels (default: DLSR 48, IMDN 64)")
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--k", type=int, default=1, help="partial-channel K")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lq", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5, help="timed (FFT, direct) step pairs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    feat = args.feat or (48 if args.space == "dlsr" else 64)
    net, _, run = supernet_step(args.space, feat, args.blocks, args.k, args.batch, args.lq, torch.device("cpu"))
    mixed = [m for m in net.modules() if isinstance(m, MixedOp)]

    def step(fft: bool) -> float:
        for m in mixed:
            m.fft = fft
        return timed(run)[1]

    step(True), step(False)  # warm-up: Adam state, kernels' first calls
    times: dict[str, list[float]] = {"fft": [], "direct": []}
    for r in range(args.rounds):
        times["fft"].append(step(True))
        times["direct"].append(step(False))
        print(f"round {r + 1}/{args.rounds}: FFT {times['fft'][-1]:.2f} s, direct {times['direct'][-1]:.2f} s CPU",
              flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["direct"] / med["fft"]
    print(f"{args.space} {args.blocks} blocks, K={args.k}: median step CPU FFT {med['fft']:.2f} s, direct "
          f"{med['direct']:.2f} s: direct / FFT = {ratio:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "cpu_s": times, "median_cpu_s": med,
                                               "direct_over_fft": ratio}, indent=1))


if __name__ == "__main__":
    main()
