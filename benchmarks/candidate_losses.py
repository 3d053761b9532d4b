"""Can the data tell the candidates apart? Standalone loss of every candidate at every position of a single-path
supernet, its noise, and whether seeds rank the candidates alike.

For a search run with ``search.weight_paths: single`` (each candidate trained to stand in for its position,
``srnas.search.single_path``), loads a checkpoint (default: the last one of the warm-up), freezes it and measures on
``--batches`` architecture-split batches (the run's task: teacher targets included) the loss of the network with
candidate ``o`` at position ``p`` and uniformly drawn candidates elsewhere; the same draws and batches for every
``(p, o)`` (common random numbers), so differences between candidates of a position are paired. Per position: the
standalone-best candidate, its gap to the second best (in % of the loss) and that gap over its standard error across
batches (``gap/SE``; below 2 the data of this run cannot order the two). This is what the alpha step of such a
supernet estimates (to first order, module docstring of ``srnas.search.single_path``), without the alpha optimizer.

Figures go to stdout and ``RUN/candidate_losses.json`` (reused unless ``--recompute``); ``--report`` writes one
markdown table (and the figures as JSON beside it) over the runs with, per group of seeds, the positions where each
pair's standalone-best candidates agree and the rank correlation of their per-position losses.

    python benchmarks/candidate_losses.py experiments/controls_single/agreement_darts_s{0,1} --report OUT.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from srnas.config.search import load_search_options  # noqa: E402
from srnas.errors import SrnasError  # noqa: E402
from srnas.losses import sr_loss  # noqa: E402
from srnas.data.stream import batches, make_dataset  # noqa: E402
from srnas.search.spaces import build_supernet  # noqa: E402
from srnas.search.records import position_labels  # noqa: E402
from srnas.search.single_path import skip_zero_weights, uniform_paths  # noqa: E402
from srnas.search.teacher import teacher_of, teacher_ops  # noqa: E402
from srnas.utils.checkpoint import list_checkpoints  # noqa: E402

STREAM = 98  # a batch stream no search step draws from


def warmup_checkpoint(run: Path, warmup: int) -> Path:
    """The run's last checkpoint at or before the end of the warm-up."""
    found = [p for p in list_checkpoints(run / "checkpoints") if int(p.stem.split("_")[-1]) <= warmup]
    if not found:
        raise SrnasError(f"{run}/checkpoints: no checkpoint at or before the end of the warm-up (iteration {warmup})")
    return found[0]  # newest first


@torch.no_grad()
def standalone_losses(run: Path, checkpoint: Path | None, n: int) -> tuple[torch.Tensor, dict]:
    """``(L, info)``: L = per-batch loss with candidate o at position p, shape (n, positions, candidates)."""
    opt, _ = load_search_options(run / "options.yml")
    if opt.search.weight_paths == "mixture":
        raise SrnasError(f"{run}: search.weight_paths is 'mixture': its candidates were trained as a mixture, so the "
                         f"loss of one candidate alone says nothing about it; run with weight_paths: single")
    ck = checkpoint or warmup_checkpoint(run, opt.search.warmup_steps)
    state = torch.load(ck, map_location="cpu", weights_only=True)
    net = build_supernet(opt)
    net.load_state_dict(state["model"])
    net.train()  # BatchNorm candidates on batch statistics, as in the search
    teacher = teacher_of(opt)
    data = make_dataset(opt.datasets.arch, opt.scale, opt.manual_seed)
    stream = batches(data, opt.datasets.arch, opt.manual_seed, STREAM, 0, n, torch.device("cpu"))
    P, K = len(net.slot_shapes()), len(net.primitives)
    gen = torch.Generator().manual_seed(opt.manual_seed)
    L = torch.zeros(n, P, K)
    with skip_zero_weights(net):
        for i in range(n):
            b = next(stream)
            gt = teacher(b["lq"]) if teacher is not None else b["gt"]
            base = [w.argmax(-1) for w in uniform_paths([(P, K)] * net.num_block, gen, torch.device("cpu"))]
            for p in range(P):
                for o in range(K):
                    rows = [r.clone() for r in base]
                    for r in rows:
                        r[p] = o
                    w = [torch.nn.functional.one_hot(r, K).float() for r in rows]
                    L[i, p, o] = sr_loss(net(b["lq"], w), gt)
    return L, {"checkpoint": str(ck), "step": int(state["step"]), "labels": position_labels(net),
               "primitives": list(net.primitives), "teacher_ops": teacher_ops(opt)}


def measure(run: Path, checkpoint: Path | None, n: int, out: Path) -> dict:
    L, info = standalone_losses(run, checkpoint, n)
    mean = L.mean(0)
    prims = info["primitives"]
    rows = []
    print(f"{run} at step {info['step']}, {n} batches")
    for p, label in enumerate(info["labels"]):
        order = mean[p].argsort().tolist()
        best, second = order[0], order[1]
        diff = L[:, p, second] - L[:, p, best]  # paired over batches and draws
        se = float(diff.std() / n ** 0.5)
        gap = float(diff.mean())
        row = {"position": label, "loss": mean[p].tolist(), "best": prims[best], "second": prims[second],
               "gap_pct": 100 * gap / float(mean[p, best]), "gap_se": gap / se if se > 0 else float("inf"),
               "spread_pct": 100 * float(mean[p].max() - mean[p].min()) / float(mean[p, best])}
        if info["teacher_ops"]:
            row["teacher_rank"] = order.index(prims.index(info["teacher_ops"][p])) + 1
        rows.append(row)
        print(f"{label}: best {row['best']}, then {row['second']}: gap {row['gap_pct']:.3f} % "
              f"({row['gap_se']:.1f} SE); all candidates within {row['spread_pct']:.2f} %"
              + (f"; teacher's op ranks {row['teacher_rank']}" if "teacher_rank" in row else ""))
    res = {**info, "run": f"{run.parent.name}/{run.name}", "batches": n, "rows": rows}
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out}")
    return res


def _spearman(a: list[float], b: list[float]) -> float:
    ra = torch.tensor(a).argsort().argsort().float()
    rb = torch.tensor(b).argsort().argsort().float()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def report(results: list[dict], command: str) -> str:
    lines = ["# Can the data tell the candidates apart? (standalone losses of a single-path supernet)", "",
             f"Command: `{command}`", "",
             "Per run and position: the candidate whose standalone loss (that candidate at the position, uniformly "
             "drawn candidates elsewhere, the same draws and batches for all) is lowest, its gap to the second best "
             "in % of the loss and in standard errors of the paired difference over batches (`gap/SE` < 2: this run's "
             "data does not order the two), and the spread of all candidates' losses.", "",
             "| run | step | batches | standalone-best | gap to 2nd (% / SE) | all within (%) | teacher's op rank |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        gaps = " / ".join(f"{row['gap_pct']:.3f} % ({row['gap_se']:.1f})" for row in r["rows"])
        spread = " / ".join(f"{row['spread_pct']:.2f}" for row in r["rows"])
        ranks = " / ".join(str(row["teacher_rank"]) for row in r["rows"]) if r.get("teacher_ops") else "-"
        lines.append(f"| {r['run']} | {r['step']} | {r['batches']} | {', '.join(row['best'] for row in r['rows'])} | "
                     f"{gaps} | {spread} | {ranks} |")
    from srnas.search.decision import seed_pairs

    by_run = {r["run"]: r for r in results}
    lines += ["", "Seeds compared: positions where the standalone-best candidates agree; mean Spearman correlation of "
              "the per-position candidate losses (1: the seeds rank all candidates alike; 0: unrelated):", ""]
    for setting, pairs in seed_pairs({r["run"]: [row["best"] for row in r["rows"]] for r in results}).items():
        parts = []
        for key, agree in pairs.items():
            a, b = (by_run[f"{setting}_{s}"] for s in key.split("-"))
            rho = sum(_spearman(x["loss"], y["loss"]) for x, y in zip(a["rows"], b["rows"])) / len(a["rows"])
            parts.append(f"{key}: {agree}/{len(a['rows'])} agree, rank correlation {rho:+.2f}")
        lines.append(f"- {setting}: " + ("; ".join(parts) or "one seed only"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", help="search run folders (options.yml, checkpoints/)")
    ap.add_argument("--checkpoint", type=Path, help="default: each run's last checkpoint of the warm-up")
    ap.add_argument("--batches", type=int, default=16)
    ap.add_argument("--recompute", action="store_true", help="measure again although RUN/candidate_losses.json exists")
    ap.add_argument("--report", type=Path, help="also write this markdown report over all the runs")
    args = ap.parse_args(argv)
    results = []
    try:
        for run in args.runs:
            out = run / "candidate_losses.json"
            if out.exists() and not args.recompute:
                results.append(json.loads(out.read_text()))
                continue
            results.append(measure(run, args.checkpoint, args.batches, out))
    except SrnasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.report:
        command = "python benchmarks/candidate_losses.py " + " ".join(argv if argv is not None else sys.argv[1:])
        md = report(results, command)
        args.report.write_text(md)
        args.report.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
        print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
