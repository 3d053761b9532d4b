"""Shared code of the small-scale CPU reproductions of SA-DARTS claims (``repro_*.py`` beside this file): one scale,
one table of runs, the statistics and the generated verdicts.

Protocol (issue 22): the positive control first (``repro_control.py``: plain DARTS must show, at this scale, the skip
growth and the margin growth of DARTS' own papers), then each claim at the same scale with >= 3 seeds, one
implementation for every run (``network_g.impl: fast``), results as JSON beside each report
(``experiments/reports/repro_<claim>.json``); the Markdown and the plot are drawn from that JSON and the verdict is
generated from its numbers by :func:`verdict`, never written by hand.

Scale (every run): the DLSR space with ``skip_connect`` and ``none`` added to its 9 candidates (11 columns), num_feat
8, 3 cells (one (3, 11) alpha shared by the cells, plus DLSR's path logits), T91 (images 1-72 weight split, 73-91
architecture split), x2, batches of 8 LR patches of 16x16, ``ITERS`` iterations = ``EPOCHS`` epochs of
``EPOCH_LENGTH``, Adam w lr 1e-3 (cosine to 1e-5), Adam alpha lr 3e-3, betas (0.5, 0.999), first order, Algorithm 1
order; alpha weight decay 1e-8 (SA-DARTS' SR baselines), 0 for SA, 1e-3 for the negative-init runs (NB201's); the
dominant Hessian eigenvalue of L_val in alpha every 2 epochs in the runs whose report reads it (a fixed batch of its
own stream, in eval mode: it does not change the trajectory). deviation: the alpha lr is 10x the papers' 3e-4,
whose searches take 50 epochs of hundreds of steps; at 3e-4 Adam moves an alpha by at most ~0.4 in 1,200 steps.

Runs go to ``experiments/reproductions/runs/<run>_s<seed>/`` (options, ``alphas.jsonl`` and ``genotype.json`` are
committed; checkpoints are not). A run is skipped when its ``genotype.json`` exists and resumed from its newest
checkpoint (one per epoch) when its folder exists without it.
"""
from __future__ import annotations

import argparse
import copy
import fcntl
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import yaml

REPO = Path(__file__).resolve().parents[2]
REPORTS = REPO / "experiments" / "reports"
RUNS = REPO / "experiments" / "reproductions" / "runs"

SEEDS = [0, 1, 2]
EPOCH_LENGTH, EPOCHS = 50, 24  # sized from the pilots: ~0.5 s per iteration on one thread (see repro_control)
ITERS = EPOCH_LENGTH * EPOCHS
IMPL = "fast"  # network_g.impl of every run (the fused mixed op; exact to rounding against "naive")
SMOKE = {"iters": 4, "epoch_length": 2, "batch": 2, "seeds": [0]}  # --smoke: seconds, not a result
PRIMITIVES = ["conv_1x1", "conv_3x3", "conv_5x5", "conv_7x7", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
              "dil_conv_3x3", "dil_conv_5x5", "skip_connect", "none"]
SKIP = PRIMITIVES.index("skip_connect")
PARAMETRIC = [i for i, p in enumerate(PRIMITIVES) if p not in ("skip_connect", "none")]
WD_SR = "search.optim_alpha.weight_decay=1e-8"  # alpha weight decay of SA-DARTS' SR baselines (method notes §1.6)
WD_NB201 = "search.optim_alpha.weight_decay=0.001"  # DARTS' own (quark0/darts) and SA-DARTS' NB201 baselines'
HESSIAN = "search.hessian={every_epochs: 2}"  # R-DARTS: every 2 epochs; only where a report reads it (cost)
SKIP_WARMUP = 0.3  # skip-biased init: alpha frozen for the first 30 % of the epochs (SA-DARTS Fig. 4: 15 of 50)

# every run of every report: name -> --set style overrides of the base options (one search per seed)
RUN_TABLE: dict[str, list[str]] = {
    "darts": [WD_SR, HESSIAN],  # the positive control; also DARTS in the top-2 and Hessian reports
    "beta": [WD_SR, "search.regularizers=[{type: beta_decay, lambda_max: 50, schedule: linear}]"],  # 50 e/E
    "sa": ["search.optim_alpha.weight_decay=0.0", "search.regularizers=[{type: sa, nu: 1.0, lambda_slope: 0.2}]",
           HESSIAN],  # Eq. 8, lambda_e = e/5, no alpha weight decay (SA-DARTS §1.6)
    "sdarts_rs": [WD_SR, "search.sdarts={mode: rs, eps_min: 0.03, eps_max: 0.3}", HESSIAN],
    # SA-DARTS Table 8 is NB201 with DARTS' alpha weight decay 1e-3, the only way a constant offset can act
    "neg_c-1": [WD_NB201, "search.alpha_init={mode: negative, std: 0.001, offset: -1.0}"],
    "neg_c-5": [WD_NB201, "search.alpha_init={mode: negative, std: 0.001, offset: -5.0}"],
}
for _m in ("darts", "beta", "sa"):  # SA-DARTS Fig. 4: +0.1 on skip in every row, alpha frozen during a warm-up
    RUN_TABLE[f"skip_{_m}"] = [o for o in RUN_TABLE[_m] if o != HESSIAN] + [
        "search.alpha_init={mode: biased, std: 0.001, bias_op: skip_connect, bias: 0.1}", "search.warmup_epochs=WARMUP"]
LABELS = {"darts": "DARTS", "beta": "Beta", "sa": "SA", "sdarts_rs": "SDARTS-RS", "neg_c-1": "c = -1",
          "neg_c-5": "c = -5", "skip_darts": "DARTS", "skip_beta": "Beta", "skip_sa": "SA"}


# ---- command line and options ---------------------------------------------------------------------------------------
def parse_args(doc: str, argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="report folder (default experiments/reports; --smoke: a "
                   "new temporary folder)")
    p.add_argument("--runs", type=Path, default=None, help="run folders (default experiments/reproductions/runs; "
                   "--smoke: <out>/runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help=f"default {SEEDS}")
    p.add_argument("--smoke", action="store_true", help=f"tiny check of the scripts: {SMOKE}")
    p.add_argument("--report-only", action="store_true", help="no new searches: the report from the finished runs")
    p.add_argument("--from-json", action="store_true", help="redraw the report and plot from its JSON only")
    p.add_argument("--epochs", type=int, default=EPOCHS, help=f"search length in epochs of {EPOCH_LENGTH} (default "
                   f"{EPOCHS}, the scale of every report); another length runs in runs_e<N>/ and writes "
                   "<report>_e<N>.*: a check of what a longer scale does, beside the reports")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.smoke:
        args.out = args.out or Path(tempfile.mkdtemp(prefix="repro_smoke_"))
    args.out = args.out or REPORTS
    args.suffix = "" if args.epochs == EPOCHS or args.smoke else f"_e{args.epochs}"
    args.runs = args.runs or (args.out / "runs" if args.smoke else RUNS.with_name(RUNS.name + args.suffix))
    args.seeds = args.seeds or (SMOKE["seeds"] if args.smoke else SEEDS)
    args.iters, args.epoch_length = ((SMOKE["iters"], SMOKE["epoch_length"]) if args.smoke else
                                     (EPOCH_LENGTH * args.epochs, EPOCH_LENGTH))
    args.epochs = args.iters // args.epoch_length
    args.t0 = time.perf_counter()
    return args


def base_options(args: argparse.Namespace) -> dict[str, Any]:
    """The raw option dict shared by every run (the shape of ``options/search/*.yml``)."""
    batch = SMOKE["batch"] if args.smoke else 8
    split = {"hr_dir": "datasets/T91", "lq_patch": 16, "batch_size": batch, "preload": not args.smoke}
    return {
        "name": "run", "scale": 2, "manual_seed": 0, "device": "cpu",
        "network_g": {"type": "dlsr", "num_feat": 8, "num_block": 3, "partial_k": 1, "impl": IMPL,
                      "primitives": list(PRIMITIVES)},
        "datasets": {"train": {**split, "index_range": [1, 72]}, "arch": {**split, "index_range": [73, 91]},
                     "val": None},
        "search": {
            "iters": args.iters, "epoch_length": args.epoch_length, "warmup_epochs": 0, "order": "darts",
            "alpha_init": {"mode": "random", "std": 1e-3},
            "optim_w": {"type": "Adam", "lr": 1e-3, "weight_decay": 1e-8},
            "optim_alpha": {"type": "Adam", "lr": 3e-3, "betas": [0.5, 0.999]},  # weight_decay: the run's
            "scheduler": {"type": "CosineAnnealingLR", "eta_min": 1e-5},
            "regularizers": [],
        },
        "logger": {"print_freq": 50, "save_checkpoint_freq": args.epoch_length, "keep_checkpoints": 2,
                   "use_tb_logger": False},
    }


def make_options(args: argparse.Namespace, run: str, seed: int):
    """The typed options and raw dict of run ``run`` with ``seed`` (``srnas search --set`` semantics)."""
    from srnas.config.schema import apply_overrides, build
    from srnas.config.search import SearchOptions

    warmup = str(max(1, round(SKIP_WARMUP * args.epochs)))
    sets = [s.replace("=WARMUP", f"={warmup}") for s in RUN_TABLE[run]]
    raw = apply_overrides(copy.deepcopy(base_options(args)), [*sets, f"name={run}_s{seed}", f"manual_seed={seed}",
                                                              f"path.experiments_root={args.runs}"])
    return build(SearchOptions, raw, source=str(args.runs / f"{run}_s{seed}")), raw


# ---- runs -----------------------------------------------------------------------------------------------------------
def run_dir(args: argparse.Namespace, run: str, seed: int) -> Path:
    return args.runs / f"{run}_s{seed}"


def ensure_run(args: argparse.Namespace, run: str, seed: int) -> bool:
    """Search ``run`` with ``seed`` unless done (resume if started); True once it is finished."""
    from srnas.errors import SrnasError
    from srnas.search.loop import run_search

    d = run_dir(args, run, seed)
    opt, raw = make_options(args, run, seed)
    if (d / "options.yml").exists() and yaml.safe_load((d / "options.yml").read_text()) != raw:
        raise SrnasError(f"{d}: made with other options than this script's; delete it or use --runs")
    if not (d / "genotype.json").exists() and not args.report_only:
        with lock(args.runs, d.name) as mine:
            if not mine:
                print(f"skipped {d}: another process is searching it", flush=True)
            elif not (d / "genotype.json").exists():  # finished by another process meanwhile
                print(f"{'resuming' if d.is_dir() else 'running'} {d}", flush=True)
                run_search(opt, raw, option_file=None, resume=d.is_dir(), progress=sys.stderr.isatty())
    return (d / "genotype.json").exists()


def summarize(d: Path) -> dict[str, Any]:
    """A finished run's numbers: per-epoch softmax weights of skip and of the best parametric op (per row), the top-2
    margin, the Hessian eigenvalues, the final ops, the impl and the search time."""
    records = [json.loads(ln) for ln in (d / "alphas.jsonl").read_text().splitlines() if ln]
    info = json.loads((d / "genotype.json").read_text())["info"]
    rows = [rec["alphas"][0] for rec in records]
    return {
        "epochs": [rec["epoch"] for rec in records],
        "skip": [[r[SKIP] for r in rs] for rs in rows],
        "param": [[max(r[i] for i in PARAMETRIC) for r in rs] for rs in rows],
        "margin": [rec["top2_margin"] for rec in records],
        "eigenvalues": info.get("hessian_eigenvalues", []),
        "ops": records[-1]["genotype"]["ops"],  # one op per row (the alpha is shared by the cells)
        "last_change_epoch": records[-1]["last_change_epoch"],
        "impl": (yaml.safe_load((d / "options.yml").read_text())["network_g"] or {}).get("impl"),
        "search_seconds": info["search_seconds"],
    }


def collect(args: argparse.Namespace, runs: Sequence[str]) -> dict[str, dict[int, dict]]:
    """Run (unless ``--report-only``) and summarise ``runs`` x seeds, seed-major (an interrupted invocation leaves
    every run with the same seeds done): ``{run: {seed: summary}}`` of the finished ones."""
    out: dict[str, dict[int, dict]] = {r: {} for r in runs}
    for seed in args.seeds:
        for run in runs:
            if ensure_run(args, run, seed):
                out[run][seed] = summarize(run_dir(args, run, seed))
    return out


@contextmanager
def lock(runs: Path, name: str):
    """One process per run (``<runs>/.<name>.lock``): yields False, without waiting, when another process holds it,
    so that processes with other ``--seeds`` can share a run folder."""
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / f".{name}.lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


# ---- statistics: srnas.study.stats' interval, paired differences and units-needed; the claim test here ----------
def interval(values: Sequence[float]) -> dict[str, Any]:
    """Mean and 95 % percentile-bootstrap interval over seeds (``srnas.study.stats.mean_interval``, the study's)."""
    from srnas.study.stats import mean_interval

    return mean_interval(values)


def compare(name: str, diffs: dict[int, float], direction: int, unit: str = "") -> dict[str, Any]:
    """One claimed inequality ``diff * direction > 0`` checked over seeds. ``diffs``: per seed, a paired difference
    (same seed = same data order and weight init) or a value minus a threshold."""
    from srnas.study.stats import units_needed

    iv = interval(list(diffs.values()))
    if iv["n"] < 3:
        decision = "too few seeds"
    elif iv["lo"] > 0 or iv["hi"] < 0:
        decision = "supports" if (iv["lo"] > 0) == (direction > 0) else "contradicts"
    else:
        decision = "undecided"
    return {"name": name, "direction": direction, "unit": unit, "per_seed": {str(k): v for k, v in diffs.items()},
            **iv, "decision": decision, "seeds_needed": units_needed(iv) if decision == "undecided" else None}


def paired(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    from srnas.study.stats import differences

    return differences(a, b)


def fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:+.3g}"


def comparison_text(c: dict[str, Any]) -> str:
    if c["n"] == 0:
        return f"{c['name']}: no finished seeds"
    need = f"; about {c['seeds_needed']} seeds would decide at this effect" if c["seeds_needed"] else ""
    return (f"{c['name']}: {fmt(c['mean'])}{c['unit']} [{fmt(c['lo'])}, {fmt(c['hi'])}] over {c['n']} seeds "
            f"({c['decision']}{need})")


def verdict(control: dict[str, Any], comparisons: Sequence[dict[str, Any]], control_report: str = "repro_control"
            ) -> dict[str, str]:
    """The generated verdict: "reproduced" only if the control passed and every comparison's interval supports the
    claim; "not reproduced" only if the control passed and some interval contradicts it; otherwise "inconclusive at
    this scale", with what it would need."""
    decisions = [c["decision"] for c in comparisons]
    if control["status"] != "pass":
        word = "inconclusive at this scale"
        why = f"the positive control {'is not finished' if control['status'] == 'in progress' else 'failed'}" \
              f" (`{control_report}.md`). Needed: {control['needs']}"
    elif "contradicts" in decisions:
        word, why = "not reproduced", "an interval over seeds excludes the claimed direction"
    elif decisions and all(d == "supports" for d in decisions):
        word, why = "reproduced", "the positive control passed and every interval excludes 0 in the claimed direction"
    else:
        word = "inconclusive at this scale"
        seeds = [c["seeds_needed"] for c in comparisons if c["seeds_needed"]]
        why = "the positive control passed but no interval decides" + (
            f"; about {max(seeds)} seeds would at the observed effects" if seeds else "")
    body = "; ".join(comparison_text(c) for c in comparisons)
    return {"verdict": word, "text": f"**{word[0].upper() + word[1:]}**: {why}.\n\nThe claim's checks: {body}."}


# ---- reports --------------------------------------------------------------------------------------------------------
def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def command_line(script: str, args: argparse.Namespace) -> str:
    """The command that runs (or resumes) this report's searches: this invocation's, without the redraw flags."""
    argv = [a for a in args.argv if a not in ("--report-only", "--from-json")]
    script = script.removesuffix(args.suffix) if args.suffix else script
    return " ".join(["OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python", f"experiments/reproductions/{script}.py", *argv])


def setup_lines(args: argparse.Namespace) -> list[str]:
    return [f"DLSR space with `skip_connect` and `none` added (11 candidates), num_feat 8, 3 cells (one (3, 11) alpha "
            f"shared by the cells), T91 split 1-72 / 73-91, x2, batch {SMOKE['batch'] if args.smoke else 8} of 16x16 "
            f"LR patches, {args.iters} iterations = {args.epochs} epochs of {args.epoch_length}; Adam w lr 1e-3 "
            "(cosine), Adam alpha lr 3e-3 (10x the papers', see `_common.py`), first order, Algorithm 1 order; "
            "alpha weight decay 1e-8 (SA-DARTS' SR baselines), 0 for SA, 1e-3 for the negative-init runs; "
            f"`network_g.impl: {IMPL}` for every run.",
            f"Seeds {args.seeds}; intervals are 95 % percentile bootstraps over seeds of per-seed (paired) values."]


def build_report(script: str, doc_fn: Callable, runs: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    """Run / collect ``runs`` (and the control's DARTS runs) and build the report's JSON document."""
    from repro_control import control_result  # the control's definition lives in its own script

    data = collect(args, list(dict.fromkeys(["darts", *runs])))
    control = control_result(data["darts"], args.seeds, args.epochs)
    doc = {"report": script, "control_report": "repro_control" + args.suffix, "command": command_line(script, args),
           "setup": setup_lines(args),
           "control": control, "progress": {"done": sum(len(data[r]) for r in runs),
                                            "total": len(runs) * len(args.seeds)},
           "runs": {r: {str(s): v for s, v in data[r].items()} for r in runs},
           "stages": [{"stage": f"{r} searches", "runs": len(data[r]),
                       "seconds": round(sum(v["search_seconds"] for v in data[r].values()), 1)} for r in runs]}
    doc.update(doc_fn(data, control, args))
    if "comparisons" in doc:
        doc["verdict"] = verdict(control, doc["comparisons"], doc["control_report"])
    doc["stages"].append({"stage": "this invocation (incl. report)", "seconds": round(time.perf_counter() - args.t0,
                                                                                        1)})
    return doc


def render(doc: dict[str, Any]) -> str:
    """The Markdown report: a pure function of the JSON document."""
    p, c = doc["progress"], doc["control"]
    prog = "" if p["done"] == p["total"] else f"**In progress: {p['done']} of {p['total']} runs finished**; the " \
                                              "numbers and the verdict below use only those.\n\n"
    stages = "; ".join(f"{s['stage']}: {s['seconds'] / 60:.1f} min" + (f" (n = {s['runs']})" if "runs" in s else "")
                       for s in doc["stages"])
    parts = [f"# Reproduction: {doc['title']}", prog + doc["claim"], "## Setup (scaled to 2 CPU cores)",
             "\n".join(f"- {x}" for x in doc["setup"] + doc.get("extra_setup", [])),
             f"Command (resumable, skip-if-done; `--report-only` redraws from the finished runs, `--from-json` from "
             f"`{doc['report']}.json`):\n\n```\n{doc['command']}\n```", f"Wall time per stage: {stages}.",
             f"Positive control (`{doc.get('control_report', 'repro_control')}.md`): **{c['status']}** "
             f"({c['runs_done']} of {c['runs_total']} DARTS runs). {c['summary']}.", "## Results",
             f"![plot]({doc['report']}.png)"]
    for t in doc["tables"]:
        parts += [t["caption"], table(t["header"], t["rows"])]
    if "verdict" in doc:
        parts += ["## Verdict (generated from the JSON)", doc["verdict"]["text"]]
    return "\n\n".join(parts) + "\n"


def subplots(*a, **k):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*a, **k)


def draw_lines(path: Path, panels: Sequence[dict]) -> None:
    """One panel per dict ``{title, ylabel, log, series: [(label, color, xs, ys), ...]}`` side by side."""
    import matplotlib.pyplot as plt

    fig, axes = subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        seen = set()
        for label, color, xs, ys in panel["series"]:
            ax.plot(xs, ys, color=f"C{color}", label=None if label in seen else label, marker=".")
            seen.add(label)
        if panel.get("log"):
            ax.set_yscale("log")
        ax.set(title=panel["title"], xlabel="epoch", ylabel=panel["ylabel"])
        ax.title.set_fontsize(10)
        if seen:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Optional[Sequence[str]], script: str, doc_fn: Callable, runs: Sequence[str],
         draw: Callable[[dict, Path], None]) -> Path:
    """A report script: run what is missing, write ``<out>/<script>.json`` and draw ``.md`` and ``.png`` from it."""
    args = parse_args(doc_fn.__globals__["__doc__"], argv)
    script += args.suffix
    path = args.out / f"{script}.json"
    if args.from_json:
        doc = json.loads(path.read_text())
    else:
        doc = build_report(script, doc_fn, runs, args)
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
    draw(doc, args.out / f"{script}.png")
    md = args.out / f"{script}.md"
    md.write_text(render(doc))
    print(f"wrote {md}, {script}.json and {script}.png", flush=True)
    return md


def cli(fn: Callable[[], Any]) -> None:
    import logging

    from srnas.errors import SrnasError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        fn()
    except SrnasError as e:  # includes srnas.errors.Interrupted (checkpoint saved: rerun to resume)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(130 if e.__class__.__name__ == "Interrupted" else 2)
