"""Ground truth for the search controls: do candidates differ once trained on their own, beyond seed noise?

Trains uniform genotypes (one candidate at every position: the IMDN-space network of the quickstart's width) with
the quickstart training recipe for ``--iters`` iterations and several seeds, then reports each genotype's Set5 PSNR
(mean and spread over seeds) and, for each pair, the paired difference over seeds with a 95 % t interval. If the
candidates a search should choose between differ by less than their seed noise at this budget, no search at this
budget can be expected to agree across seeds on them (issue 20's seed-agreement control).

    python benchmarks/candidate_oracle.py --ops conv5 conv3 sep3 --seeds 0 1 --iters 1000
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # two-sided 95 % t quantiles by degrees of freedom


def run_name(op: str, seed: int) -> str:
    return f"{op}_s{seed}"


def train_one(args: argparse.Namespace, op: str, seed: int) -> None:
    exp = args.root / run_name(op, seed)
    if (exp / "results.json").exists():
        return
    sets = [f"name={run_name(op, seed)}", f"manual_seed={seed}", f"path.experiments_root={args.root}",
            f"network_g.ops=[{', '.join([op] * 4)}]", f"train.total_iter={args.iters}", "logger.use_tb_logger=false",
            f"datasets.val.every={args.iters}"]
    cmd = [sys.executable, "-m", "srnas.cli", "train", "-opt", str(args.opt), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    if (exp / "checkpoints").is_dir():
        cmd.append("--resume")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    args.root.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(args.root / f"{run_name(op, seed)}.out", "a") as log:
        rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    print(f"{run_name(op, seed)}: exit {rc}, {time.time() - t0:.0f} s", flush=True)


def summarize(args: argparse.Namespace) -> dict:
    runs: dict[str, dict[int, dict]] = {}
    for op in args.ops:
        for seed in args.seeds:
            f = args.root / run_name(op, seed) / "results.json"
            if f.exists():
                runs.setdefault(op, {})[seed] = json.loads(f.read_text())
    rows, pairs = [], []
    for op, by_seed in runs.items():
        ps = [r["final_psnr"] for r in by_seed.values()]
        m = sum(ps) / len(ps)
        sd = math.sqrt(sum((p - m) ** 2 for p in ps) / (len(ps) - 1)) if len(ps) > 1 else float("nan")
        rows.append({"op": op, "seeds": sorted(by_seed), "psnr": ps, "mean": m, "sd": sd,
                     "params": next(iter(by_seed.values())).get("params"),
                     "seconds": [r.get("seconds") for r in by_seed.values()]})
    for a, b in itertools.combinations([r["op"] for r in rows], 2):
        common = sorted(set(runs[a]) & set(runs[b]))
        d = [runs[a][s]["final_psnr"] - runs[b][s]["final_psnr"] for s in common]
        if len(d) < 2:
            continue
        m = sum(d) / len(d)
        se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / len(d))
        h = T975.get(len(d) - 1, 1.96) * se
        pairs.append({"a": a, "b": b, "n": len(d), "diff": m, "lo": m - h, "hi": m + h})
    return {"iters": args.iters, "seeds": args.seeds, "ops": args.ops, "rows": rows, "pairs": pairs,
            "options": str(args.opt.relative_to(REPO)) if args.opt.is_relative_to(REPO) else str(args.opt)}


def _verdict(p: dict) -> str:
    if p["lo"] > 0:
        return f"{p['a']} above {p['b']}"
    if p["hi"] < 0:
        return f"{p['b']} above {p['a']}"
    return "no difference shown"


def markdown(res: dict, command: str, wall: float) -> str:
    lines = ["# Do the candidates differ when trained alone? (uniform genotypes, quickstart recipe)", "",
             f"- command: `{command}`; this invocation's wall time {wall / 60:.1f} min (runs found done are reused)",
             f"- options: `{res['options']}` with one candidate at all 4 positions, {res['iters']} iterations, "
             f"seeds {res['seeds']}; final Set5 x2 PSNR (Y)", "",
             "| genotype (all positions) | params | Set5 PSNR per seed | mean | sd |", "|---|---|---|---|---|"]
    for r in sorted(res["rows"], key=lambda r: -r["mean"]):
        lines.append(f"| {r['op']} | {r['params'] or '-'} | {', '.join(f'{p:.3f}' for p in r['psnr'])} | "
                     f"{r['mean']:.3f} | {r['sd']:.3f} |")
    lines += ["", "Paired differences over seeds (95 % t interval; a difference counts only when the interval "
              "excludes 0):", "", "| pair | n | difference (dB) | 95 % interval | verdict |", "|---|---|---|---|---|"]
    for p in res["pairs"]:
        lines.append(f"| {p['a']} - {p['b']} | {p['n']} | {p['diff']:+.3f} | [{p['lo']:+.3f}, {p['hi']:+.3f}] | "
                     f"{_verdict(p)} |")
    shown = [p for p in res["pairs"] if p["lo"] > 0 or p["hi"] < 0]
    lines += ["", f"{len(shown)} of {len(res['pairs'])} pairs differ beyond seed noise at this budget."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", type=Path, default=REPO / "options/train/quickstart.yml")
    ap.add_argument("--ops", nargs="+", default=["conv5", "conv3", "sep3"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", type=Path, default=REPO / "experiments/candidate_oracle")
    ap.add_argument("--out", type=Path, default=REPO / "experiments/reports/candidate_oracle")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    args.root, args.opt = args.root.resolve(), args.opt.resolve()
    t0 = time.time()
    if not args.report_only:
        jobs = [(op, s) for s in args.seeds for op in args.ops]
        with ThreadPoolExecutor(args.workers) as ex:
            list(ex.map(lambda j: train_one(args, *j), jobs))
    res = summarize(args)
    command = "python benchmarks/candidate_oracle.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(res, indent=2) + "\n")
    md = markdown(res, command.strip(), time.time() - t0)
    Path(f"{args.out}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
