"""Depthwise convs: ATen's CPU backward vs ``srnas.archs.depthwise`` (the same sums in another order), in one run.

    .venv/bin/python benchmarks/depthwise.py [--threads 1] [--reps 7] [--json FILE] [--md FILE]

Two tables, each ratio measured within this run with the two paths interleaved rep by rep (medians of CPU time /
threads, so a shared machine's load cancels as far as it can):
* one conv, forward + backward (input, weight and bias gradients), batch 16, 32 channels, 32x32, channels-last, for
  3x3 / 5x5 / 7x7 kernels at dilation 1 and 3x3 / 5x5 at dilation 2;
* one training step (forward, L1 backward, Adam) of derived networks with depthwise convs at batch 16, 32x32 LR,
  channels-last: the quickstart's searched genotype (IMDN space, 32 channels, 4 blocks), SAC-IMDN x2 and the released
  DLSR x2 genotype. "aten" turns every ``DepthwiseConv2d`` back into ``nn.Conv2d`` (``plain_depthwise``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from clock import load_note, timed  # noqa: E402
from srnas.archs import create_model  # noqa: E402
from srnas.archs.depthwise import depthwise_same, plain_depthwise  # noqa: E402
from srnas.archs.genotype import Genotype  # noqa: E402

QUICKSTART = Genotype.make("imdn", ["dilsep5_bn", "conv5_bn", "dilsep5_bn", "sep5_bn"], num_feat=32, num_block=4)
NETS = {"quickstart_imdn": QUICKSTART, "sac_imdn_x2": "options/genotypes/sac_imdn_x2.json",
        "dlsr_x2": "options/genotypes/dlsr_x2_released.json"}


def paired(fns: dict, reps: int, warmup: int = 2) -> dict[str, float]:
    """Median CPU seconds of each function, run interleaved."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            times[k].append(timed(fn)[1])
    return {k: statistics.median(v) for k, v in times.items()}


def conv_rows(reps: int) -> list[dict]:
    rows = []
    for k, d in ((3, 1), (5, 1), (7, 1), (3, 2), (5, 2)):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(16, 32, 32, 32, generator=g).contiguous(memory_format=torch.channels_last).requires_grad_()
        w = torch.randn(32, 1, k, k, generator=g, requires_grad=True)
        b = torch.randn(32, generator=g, requires_grad=True)
        go = torch.randn(16, 32, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
        p = d * (k // 2)
        fns = {"aten": lambda: torch.autograd.grad(F.conv2d(x, w, b, padding=p, dilation=d, groups=32), (x, w, b), go),
               "fast": lambda: torch.autograd.grad(depthwise_same(x, w, b, d, p), (x, w, b), go)}
        t = paired(fns, reps)
        rows.append({"kernel": k, "dilation": d, "aten_ms": 1e3 * t["aten"], "fast_ms": 1e3 * t["fast"],
                     "speedup": t["aten"] / t["fast"]})
        print(f"conv {k}x{k} dilation {d}: aten {rows[-1]['aten_ms']:.2f} ms, fast {rows[-1]['fast_ms']:.2f} ms, "
              f"{rows[-1]['speedup']:.2f}x", flush=True)
    return rows


def net_rows(reps: int) -> list[dict]:
    rows = []
    for name, geno in NETS.items():
        geno = geno if isinstance(geno, Genotype) else Genotype.load(REPO / geno)
        steps = {}
        for path in ("aten", "fast"):
            torch.manual_seed(0)
            net = create_model(genotype=geno, scale=2).train().to(memory_format=torch.channels_last)
            if path == "aten":
                plain_depthwise(net)
            g = torch.Generator().manual_seed(1)
            lq = torch.rand(16, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
            gt = torch.rand(16, 3, 64, 64, generator=g)
            opt = torch.optim.Adam(net.parameters(), lr=1e-4)

            def step(net=net, lq=lq, gt=gt, opt=opt) -> None:
                opt.zero_grad(set_to_none=True)
                F.l1_loss(net(lq), gt).backward()
                opt.step()

            steps[path] = step
        t = paired(steps, reps)
        rows.append({"net": name, "ops": [list(r) for r in geno.ops], "aten_ms": 1e3 * t["aten"],
                     "fast_ms": 1e3 * t["fast"], "speedup": t["aten"] / t["fast"]})
        print(f"train step {name}: aten {rows[-1]['aten_ms']:.1f} ms, fast {rows[-1]['fast_ms']:.1f} ms, "
              f"{rows[-1]['speedup']:.2f}x", flush=True)
    return rows


def markdown(res: dict) -> str:
    lines = ["# Depthwise conv backward: ATen vs srnas.archs.depthwise", "",
             f"`benchmarks/depthwise.py --threads {res['threads']} --reps {res['reps']}`; {res['load']}. "
             "Median CPU time per call, both paths interleaved in one run.", "",
             "| conv (batch 16, 32 ch, 32x32, channels-last) | ATen fwd+bwd (ms) | fast (ms) | speedup |",
             "|---|---|---|---|"]
    for r in res["convs"]:
        lines.append(f"| {r['kernel']}x{r['kernel']}, dilation {r['dilation']} | {r['aten_ms']:.2f} | "
                     f"{r['fast_ms']:.2f} | {r['speedup']:.2f}x |")
    lines += ["", "| training step (batch 16, 32x32 LR) | ops | ATen (ms) | fast (ms) | speedup |",
              "|---|---|---|---|---|"]
    for r in res["nets"]:
        ops = "; ".join(",".join(o) for o in dict.fromkeys(tuple(o) for o in r["ops"]))
        lines.append(f"| {r['net']} | {ops} | {r['aten_ms']:.1f} | {r['fast_ms']:.1f} | {r['speedup']:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--md", type=Path, help="write the tables as markdown")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res = {"threads": args.threads, "reps": args.reps, "convs": conv_rows(args.reps), "nets": net_rows(args.reps),
           "load": load_note()}
    print(markdown(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    if args.md:
        args.md.write_text(markdown(res))


if __name__ == "__main__":
    main()
