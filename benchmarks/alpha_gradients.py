"""Per-candidate statistics of the alpha gradient at a fixed supernet, and what each alpha update rule makes of them.

Loads a search checkpoint (by default the one at the end of the warm-up, where alpha is still at its initialisation),
freezes the weights, and computes the alpha gradient of L_val on ``--batches`` fresh architecture-split batches
(the run's own options: teacher targets included). Per position and candidate it prints the mean and standard
deviation of the row-centred gradient (each sample's row sums to 0: softmax's Jacobian) and the first update each rule would make:

* ``sgd``: ``-mean``, printed divided by the row's largest ``|mean|`` (magnitude kept: the candidate whose output helps most rises fastest);
* ``adam``: ``-m / sqrt(v)`` with m, v the batch means of g and g^2 (Adam's steady state): with consistent signs every
  candidate moves by about the learning rate whatever its mean, so the ranking by mean is lost;
* ``adam+penalty``: the same with the run's penalties' alpha gradients added (SA-DARTS Eq. 8 adds the same constant c
  to every alpha, method notes section 1.4): ``-(c + mean) / sqrt((c + mean)^2 + sd^2)``: once c dominates, the
  candidates with the noisiest gradient fall slowest.

For each rule it names the candidate that would rise most at each position. Figures go to stdout and to
``RUN/alpha_gradients.json`` (reused unless ``--recompute``); ``--report`` writes one markdown table over the runs, with
how many positions each pair of seeds of the same setting shares.

    python benchmarks/alpha_gradients.py experiments/controls/agreement_darts_s{0,1,2} --report OUT.md
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
from srnas.losses import sr_loss  # noqa: E402
from srnas.data.stream import batches, make_dataset  # noqa: E402
from srnas.search.bilevel import penalty_specs  # noqa: E402
from srnas.search.records import position_labels  # noqa: E402
from srnas.search.spaces import build_supernet  # noqa: E402
from srnas.search.regularizers import alpha_loss  # noqa: E402
from srnas.search.step import StepContext  # noqa: E402
from srnas.search.teacher import teacher_of, teacher_ops  # noqa: E402

STREAM = 97  # a batch stream no search step draws from


def gradient_samples(run: Path, checkpoint: Path | None, n: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``(G, c, info)``: G = alpha gradients of L_val, (n, rows, candidates); c = the penalties' alpha gradient at the
    checkpoint's step, (rows, candidates)."""
    opt, _ = load_search_options(run / "options.yml")
    s = opt.search
    ck = checkpoint or run / "checkpoints" / f"iter_{s.warmup_steps:08d}.pth"
    state = torch.load(ck, map_location="cpu", weights_only=True)
    net = build_supernet(opt)
    net.load_state_dict(state["model"])
    net.train()
    teacher = teacher_of(opt)
    data = make_dataset(opt.datasets.arch, opt.scale, opt.manual_seed)
    stream = batches(data, opt.datasets.arch, opt.manual_seed, STREAM, 0, n, torch.device("cpu"))
    alphas = net.op_alphas()
    samples = []
    for _ in range(n):
        b = next(stream)
        gt = teacher(b["lq"]) if teacher is not None else b["gt"]
        grads = torch.autograd.grad(sr_loss(net(b["lq"]), gt), alphas)
        samples.append(torch.cat([g.reshape(-1, g.shape[-1]) for g in grads]))
    step = int(state["step"])
    ctx = StepContext(step, step // s.epoch_length + 1, s.num_epochs, s.penalty_epoch(step))
    reg, _ = alpha_loss(alphas, ctx.reg_epoch, ctx.num_epochs, penalty_specs(opt, net), keep_graph=True)
    c = torch.zeros_like(samples[0]) if not reg.requires_grad else \
        torch.cat([g.reshape(-1, g.shape[-1]) for g in torch.autograd.grad(reg, alphas, allow_unused=True)])
    return torch.stack(samples), c, {"checkpoint": str(ck), "step": step, "labels": position_labels(net),
                                     "primitives": list(net.primitives), "teacher_ops": teacher_ops(opt)}


def update_directions(G: torch.Tensor, c: torch.Tensor) -> dict[str, torch.Tensor]:
    """The first step (up to the learning rate) of each rule, row-centred; positive = the candidate rises."""
    mean, var = G.mean(0), G.var(0)  # softmax's Jacobian makes each row of a sample sum to 0 already
    out = {"sgd": -mean / mean.abs().amax(-1, keepdim=True)}  # scaled so the row's largest move is 1
    for name, shift in (("adam", 0.0), ("adam+penalty", c)):
        m = mean + shift
        out[name] = -m / torch.sqrt(m ** 2 + var)  # Adam: m / sqrt(v), v = E[g^2] = mean^2 + var
        out[name] = out[name] - out[name].mean(-1, keepdim=True)
    return out


def measure(run: Path, checkpoint: Path | None, n: int, out: Path) -> dict:
    G, c, info = gradient_samples(run, checkpoint, n)
    mean, sd = G.mean(0), G.std(0)
    dirs = update_directions(G, c)
    prims = info["primitives"]
    rows = []
    print(f"{run} at step {info['step']}, {n} batches; uniform penalty gradient c = {float(c.mean()):.3g}; "
          f"|L_val grad| per row {float(G.norm(dim=-1).mean()):.3g}")
    for r, label in enumerate(info["labels"]):
        top = {k: prims[int(v[r].argmax())] for k, v in dirs.items()}
        rows.append({"position": label, "mean": mean[r].tolist(), "sd": sd[r].tolist(),
                     "snr": (mean[r] / sd[r]).tolist(), **{f"top_{k}": v for k, v in top.items()},
                     **{f"dir_{k}": v[r].tolist() for k, v in dirs.items()}})
        print(f"{label}: rises most under " + ", ".join(f"{k}: {v}" for k, v in top.items()))
        print("   mean/sd: " + " ".join(f"{p} {float(mean[r, i] / sd[r, i]):+.2f}" for i, p in enumerate(prims)))
        for k in dirs:
            print(f"   {k:13s}" + " ".join(f"{p} {float(dirs[k][r, i]):+.3f}" for i, p in enumerate(prims)))
    res = {**info, "run": run.name, "batches": n, "c": float(c.mean()), "val_grad_norm": float(G.norm(dim=-1).mean()),
           "rows": rows}
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out}")
    return res


def report(results: list[dict], command: str) -> str:
    """Markdown: per run the candidate each rule favours at each position; per group of seeds (same run name up to
    ``_s<seed>``) how many positions each pair of seeds shares under the SGD rule."""
    lines = ["# Which candidate does the alpha gradient favour? (end of the warm-up)", "", f"Command: `{command}`", "",
             "Per run: the candidate that would rise most at each position under SGD (the mean gradient), Adam "
             "(Adam's steady-state step, per-coordinate normalised) and Adam with the run's penalties (Eq. 8's "
             "constant added), from the alpha gradients of L_val on fresh architecture-split batches at the "
             "checkpoint where alpha is still at its initialisation. `max mean/sd` = the largest per-batch "
             "signal-to-noise of a favoured candidate (how consistent the gradient is from batch to batch).", "",
             "| run | step | batches | SGD favours | Adam favours | Adam + penalty favours | max mean/sd | "
             "teacher's op favoured (SGD / Adam / Adam + penalty) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        tops = {k: [row[f"top_{k}"] for row in r["rows"]] for k in ("sgd", "adam", "adam+penalty")}
        snr = max(max(-x for x in row["snr"]) for row in r["rows"])
        t = r.get("teacher_ops")
        hits = " / ".join(f"{sum(a == b for a, b in zip(v, t))}/{len(t)}" for v in tops.values()) if t else "-"
        lines.append(f"| {r['run']} | {r['step']} | {r['batches']} | {', '.join(tops['sgd'])} | "
                     f"{', '.join(tops['adam'])} | {', '.join(tops['adam+penalty'])} | {snr:.1f} | {hits} |")
    from srnas.search.decision import seed_pairs

    lines += ["", "Seeds compared (positions where the SGD rule favours the same candidate):", ""]
    for setting, pairs in seed_pairs({r["run"]: [row["top_sgd"] for row in r["rows"]] for r in results}).items():
        n = len(results[0]["rows"])
        lines.append(f"- {setting}: " + ("; ".join(f"{k}: {v}/{n}" for k, v in pairs.items()) or "one seed only"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", help="search run folders (options.yml, checkpoints/)")
    ap.add_argument("--checkpoint", type=Path, help="default: each run's post-warm-up checkpoint")
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--recompute", action="store_true", help="measure again although RUN/alpha_gradients.json exists")
    ap.add_argument("--report", type=Path, help="also write this markdown report over all the runs")
    args = ap.parse_args(argv)
    results = []
    for run in args.runs:
        out = run / "alpha_gradients.json"
        if out.exists() and not args.recompute:
            results.append(json.loads(out.read_text()))
            continue
        results.append(measure(run, args.checkpoint, args.batches, out))
    if args.report:
        command = "python benchmarks/alpha_gradients.py " + " ".join(argv if argv is not None else sys.argv[1:])
        md = report(results, command)
        args.report.write_text(md)
        print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
