"""Positive controls of the search at quickstart scale: does it decide, and does it find a known answer?

Three controls, each for DARTS, SA and SAC (the quickstart's settings, ``options/search/quickstart.yml``; DARTS = no
penalty and full channels, SA = full channels, SAC = the quickstart itself):

* **Seed agreement**: the quickstart search with several seeds (each seed draws its own weight init, batches, alpha
  init and channel samples). Two seeds agree at a position when they derive the same op; by chance that happens with
  probability 1/12. Pass: 3 or more of 4 positions in every pair of seeds.
* **Known answer**: the targets are ``teacher(LR)`` for a fixed teacher network whose op at each position no other
  candidate contains (``srnas.search.teacher``: ``conv5`` is the only dense 5x5, ``dilsep5`` the only 9x9
  footprint); the candidates are the six BN-free IMDN ops plus ``noise``. Pass: the teacher's op at 3 or more of 4
  positions, for every seed (chance: 1/7 per position).
* **Harmful candidate**: ``noise`` (fresh noise independent of the input: it can only hurt) is among the known-answer
  candidates. Pass: it ends with the lowest weight at every position, for every seed.

Every search runs through ``srnas search`` (one thread each, ``--workers`` at once), resumable and skipped when its
``genotype.json`` exists. The report (``--out``.md/.json) gives each run's ops, decision, wall time and the verdicts,
generated from the numbers.

    python benchmarks/search_controls.py                      # the full report (DARTS, SA, SAC x 3 seeds x 2 tasks)
    python benchmarks/search_controls.py --methods sac --seeds 0 1 2 --tasks agreement
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEACHER_OPS = ["dilsep5", "conv5", "dilsep5", "conv5"]  # each contained in no other candidate (module docstring)
TEACHER_PRIMITIVES = ["conv3", "conv5", "sep3", "sep5", "dilsep3", "dilsep5", "noise"]
METHODS = {  # --set overrides on top of the quickstart search
    "darts": ["search.regularizers=[]", "network_g.partial_k=1"],
    "sa": ["network_g.partial_k=1"],
    "sac": [],
}
TASKS = ("agreement", "teacher")
SHARED_WARMUP = {"sa": "darts"}  # same supernet (full channels): SA's warm-up is DARTS' (branch_from_warmup)
PASS_AGREE, PASS_RECOVER = 3, 3  # positions of 4


def run_name(task: str, method: str, seed: int) -> str:
    return f"{task}_{method}_s{seed}"


def teacher_genotype(root: Path, num_feat: int, num_block: int) -> Path:
    path = root / "teacher_genotype.json"
    if not path.exists():
        sys.path.insert(0, str(REPO))
        from srnas.archs.genotype import Genotype

        root.mkdir(parents=True, exist_ok=True)
        Genotype.make("imdn", TEACHER_OPS, num_feat, num_block, scale=2,
                      info={"purpose": "teacher of the known-answer search control"}).save(path)
    return path


def search_sets(args: argparse.Namespace, task: str, method: str, seed: int, teacher: Path) -> list[str]:
    sets = [f"name={run_name(task, method, seed)}", f"manual_seed={seed}", f"path.experiments_root={args.root}",
            "logger.use_tb_logger=false", *METHODS[method], *args.set]
    if task == "teacher":
        sets += [f"datasets.teacher={{genotype: {teacher}}}", "datasets.val=null",
                 f"network_g.primitives=[{', '.join(TEACHER_PRIMITIVES)}]"]
        if not any(s.startswith("search.record_every=") for s in args.set):
            sets.append(f"search.record_every={args.record_every}")
    return sets


def search_args(args: argparse.Namespace, task: str, method: str, seed: int, teacher: Path) -> list[str]:
    sets = search_sets(args, task, method, seed, teacher)
    out = [sys.executable, "-m", "srnas.cli", "search", "-opt", str(args.opt), "--no-progress"]
    for s in sets:
        out += ["--set", s]
    return out


def run_one(args: argparse.Namespace, task: str, method: str, seed: int, teacher: Path) -> None:
    exp = args.root / run_name(task, method, seed)
    if (exp / "genotype.json").exists():
        return
    cmd = search_args(args, task, method, seed, teacher)
    if args.share_warmup and method in SHARED_WARMUP and not (exp / "checkpoints").is_dir():
        src = args.root / run_name(task, SHARED_WARMUP[method], seed)
        branch_from_warmup(src, exp, args.opt, search_sets(args, task, method, seed, teacher))
    if (exp / "checkpoints").is_dir() and any((exp / "checkpoints").iterdir()):
        cmd.append("--resume")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    args.root.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(args.root / f"{run_name(task, method, seed)}.out", "a") as log:
        rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    print(f"{run_name(task, method, seed)}: exit {rc}, {time.time() - t0:.0f} s", flush=True)


def branch_from_warmup(src: Path, exp: Path, opt_file: Path, sets: list[str]) -> bool:
    """Start ``exp`` from ``src``'s checkpoint at the end of its warm-up, with a fresh alpha optimizer and schedule
    built from ``exp``'s own options; returns whether it did. During the warm-up alpha is frozen and no penalty is
    evaluated, so a run whose options differ only in its penalties and alpha optimizer reaches exactly this state
    (same seed, weights, batches, alpha init): the search then resumes from it instead of repeating it."""
    sys.path.insert(0, str(REPO))
    import torch

    from srnas.config.search import load_search_options
    from srnas.train.optim import build_optimizer, build_scheduler
    from srnas.search.spaces import build_supernet

    opt, _ = load_search_options(opt_file, sets)
    s = opt.search
    ckpt = src / "checkpoints" / f"iter_{s.warmup_steps:08d}.pth"
    if s.warmup_steps == 0 or not ckpt.exists():
        return False
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net = build_supernet(opt)
    net.load_state_dict(state["model"])  # fails loudly if the two supernets differ
    opt_a = build_optimizer(net.arch_parameters(), s.optim_alpha, s.alpha_weight_decay)
    state["opt_a"] = opt_a.state_dict()
    state["sched_a"] = build_scheduler(opt_a, s.scheduler_alpha, s.iters - s.warmup_steps).state_dict()
    state["history"] = {**state["history"], "warmup_from": str(src.name)}
    (exp / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save(state, exp / "checkpoints" / ckpt.name)
    lines = (src / "alphas.jsonl").read_text().splitlines()
    (exp / "alphas.jsonl").write_text("".join(ln + "\n" for ln in lines if ln and json.loads(ln)["step"] <= s.warmup_steps))
    return True


def load_run(root: Path, task: str, method: str, seed: int) -> dict | None:
    path = root / run_name(task, method, seed) / "genotype.json"
    if not path.exists():
        return None
    g = json.loads(path.read_text())
    info = g.get("info", {})
    last = info.get("decision") or {}
    ops = g["ops"][0] if isinstance(g["ops"][0], list) else g["ops"]
    out = {"ops": ops, "decided": last.get("decided"), "num_decided": last.get("num_decided"),
           "ratios": [round(p["ratio"], 3) for p in last.get("positions", [])],
           "seconds": info.get("search_seconds"), "method": info.get("method")}
    if task == "teacher":
        probs = _final_softmax(root / run_name(task, method, seed))
        prims = g.get("primitives") or TEACHER_PRIMITIVES
        noise = prims.index("noise")
        out["recovered"] = sum(o == t for o, t in zip(ops, TEACHER_OPS))
        out["noise_lowest"] = [min(range(len(row)), key=row.__getitem__) == noise for row in probs]
        out["noise_weight"] = [round(row[noise], 4) for row in probs]
    return out


def _final_softmax(exp: Path) -> list[list[float]]:
    from srnas.search.decision import record_rows

    recs = [json.loads(ln) for ln in (exp / "alphas.jsonl").read_text().splitlines() if ln]
    return record_rows(recs[-1])


def summarize(args: argparse.Namespace) -> dict:
    opt_path = args.opt.resolve()
    shown = opt_path.relative_to(REPO) if opt_path.is_relative_to(REPO) else opt_path
    res: dict = {"teacher_ops": TEACHER_OPS, "teacher_primitives": TEACHER_PRIMITIVES, "seeds": args.seeds,
                 "options": str(shown), "extra_sets": args.set, "methods": {}}
    for method in args.methods:
        m: dict = {}
        if "agreement" in args.tasks:
            runs = {s: load_run(args.root, "agreement", method, s) for s in args.seeds}
            done = {s: r for s, r in runs.items() if r}
            pairs = {f"{a}-{b}": sum(x == y for x, y in zip(done[a]["ops"], done[b]["ops"]))
                     for a, b in itertools.combinations(sorted(done), 2)}
            complete = len(done) == len(args.seeds)
            failed = any(v < PASS_AGREE for v in pairs.values()) or any(not r["decided"] for r in done.values())
            m["agreement"] = {"runs": runs, "pairs": pairs, "complete": complete, "failed": failed,
                              "pass": complete and bool(pairs) and not failed}
        if "teacher" in args.tasks:
            runs = {s: load_run(args.root, "teacher", method, s) for s in args.seeds}
            done = [r for r in runs.values() if r]
            complete = len(done) == len(args.seeds)
            fail_recover = any(r["recovered"] < PASS_RECOVER for r in done)
            fail_noise = any(not all(r["noise_lowest"]) for r in done)
            m["teacher"] = {"runs": runs, "complete": complete, "failed_recover": fail_recover,
                            "failed_noise": fail_noise, "pass_recover": complete and not fail_recover,
                            "pass_noise": complete and not fail_noise}
        res["methods"][method] = m
    return res


def _verdict(ok: bool, complete: bool, failed: bool, yes: str, no: str) -> str:
    """``yes`` / ``no`` once every run is done; a run already done can settle a failure before that."""
    if complete:
        return yes if ok else no
    return f"{no.rstrip('.;')} (already, from the runs done; others missing)." if failed else \
        "incomplete (runs missing)."


def markdown(res: dict, command: str, wall: float) -> str:
    run_cmd = "python benchmarks/search_controls.py --methods " + " ".join(res["methods"])
    lines = ["# Search positive controls (quickstart scale)", "",
             f"- this report: `{command}`; the runs: `{run_cmd}` (the same command continues the runs still missing)",
             f"- options: `{res['options']}` {' '.join(res['extra_sets'])}".rstrip(),
             f"- seeds: {res['seeds']}; this invocation's wall time: {wall / 60:.1f} min (runs found done are "
             "not re-run; each run's own search time is listed)",
             f"- known-answer teacher: {res['teacher_ops']}; candidates {res['teacher_primitives']}",
             "- chance: two seeds agree at a position with p = 1/12; a position recovers the teacher's op with p = 1/7;"
             " noise is lowest at a position with p = 1/7",
             "- SA (full channels) starts from the DARTS run's checkpoint at the end of the warm-up of the same task and"
             " seed when it exists (the same state by construction; `--no-share-warmup` repeats it): its search time"
             " then counts that warm-up as the DARTS run measured it. Runs shared the 2 cores with other jobs; times"
             " are not comparable across rows", ""]
    for method, m in res["methods"].items():
        lines.append(f"## {method.upper()}")
        if "agreement" in m:
            a = m["agreement"]
            lines += ["", "Seed agreement (the quickstart's own task):", "",
                      "| seed | ops | decided | top-1 weight x uniform | search time |", "|---|---|---|---|---|"]
            for s, r in a["runs"].items():
                lines.append(_row(s, r, ["ops", "decided", "ratios", "seconds"]))
            pairs = ", ".join(f"seeds {k}: {v}/4" for k, v in a["pairs"].items()) or "none"
            lines += ["", f"Agreeing positions per pair: {pairs}. Verdict: " + _verdict(
                a["pass"], a["complete"], a["failed"], f"every pair agrees at >= {PASS_AGREE}/4 positions and every run decided.",
                f"NOT every pair agrees at >= {PASS_AGREE}/4 positions with every run decided."), ""]
        if "teacher" in m:
            t = m["teacher"]
            lines += ["Known answer and harmful candidate:", "",
                      "| seed | ops | recovered | decided | noise lowest | noise weight | search time |",
                      "|---|---|---|---|---|---|---|"]
            for s, r in t["runs"].items():
                lines.append(_row(s, r, ["ops", "recovered", "decided", "noise_lowest", "noise_weight", "seconds"]))
            lines += ["", "Verdict: " + _verdict(
                t["pass_recover"], t["complete"], t["failed_recover"], f"the teacher's op recovered at >= {PASS_RECOVER}/4 positions for "
                f"every seed;", f"the teacher's op NOT recovered at >= {PASS_RECOVER}/4 positions for every seed;")
                + " " + _verdict(t["pass_noise"], t["complete"], t["failed_noise"], "noise ends lowest at every position for every seed.",
                                 "noise does NOT end lowest at every position for every seed."), ""]
    return "\n".join(lines) + "\n"


def _row(seed: int, r: dict | None, keys: list[str]) -> str:
    if r is None:
        return f"| {seed} | (not run yet) |" + " |" * (len(keys) - 1)
    cells = []
    for k in keys:
        v = r.get(k)
        if k == "seconds":
            cells.append("-" if v is None else f"{v / 60:.1f} min")
        elif k == "recovered":
            cells.append(f"{v}/4")
        elif k == "decided":
            cells.append(f"{r['num_decided']}/{len(r['ops'])}" + (" (yes)" if v else " (no)"))
        elif k == "ops":
            cells.append(", ".join(v))
        elif k == "ratios":
            cells.append(" / ".join(f"{x:.2f}" for x in v))
        elif k in ("noise_lowest", "noise_weight"):
            cells.append(" / ".join("yes" if x is True else "no" if x is False else f"{x:.3f}" for x in v))
        else:
            cells.append(str(v))
    return f"| {seed} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--opt", type=Path, default=REPO / "options/search/quickstart.yml")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--set", nargs="*", default=[], help="extra --set overrides for every search")
    p.add_argument("--record-every", type=int, default=100, help="teacher task: record/decision cadence")
    p.add_argument("--workers", type=int, default=2, help="searches at once")
    p.add_argument("--threads", type=int, default=1, help="torch threads per search")
    p.add_argument("--root", type=Path, default=REPO / "experiments/controls")
    p.add_argument("--out", type=Path, default=REPO / "experiments/reports/search_controls")
    p.add_argument("--no-share-warmup", dest="share_warmup", action="store_false",
                   help="run SA's warm-up itself instead of starting from the DARTS run's identical one")
    p.add_argument("--report-only", action="store_true", help="write the report from the runs found, run nothing")
    args = p.parse_args(argv)
    args.root = args.root.resolve()
    sys.path.insert(0, str(REPO))
    from srnas.config.search import load_search_options

    base, _ = load_search_options(args.opt, [s for s in args.set if not s.startswith("datasets.teacher")])
    teacher = teacher_genotype(args.root, base.network_g.num_feat or 64, base.network_g.num_block or 6)
    t0 = time.time()
    if not args.report_only and args.share_warmup:
        import srnas.search.loop  # noqa: F401  (torch imported in the main thread: importing it in a worker hung)
    if not args.report_only:
        jobs = [(t, m, s) for m in args.methods for t in args.tasks for s in args.seeds]  # method by method
        with ThreadPoolExecutor(args.workers) as ex:
            list(ex.map(lambda j: run_one(args, *j, teacher), jobs))
    res = summarize(args)
    command = "python benchmarks/search_controls.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(res, indent=2) + "\n")
    Path(f"{args.out}.md").write_text(markdown(res, command.strip(), time.time() - t0))
    print(Path(f"{args.out}.md").read_text())
    return res


if __name__ == "__main__":
    main()
