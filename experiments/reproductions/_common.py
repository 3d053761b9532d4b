"""Shared setup of the small-scale CPU reproductions of SA-DARTS claims (``repro_*.py`` beside this file).

Every run is a plain ``srnas.search.loop.run_search`` call on options built with the public option schema
(``srnas.config.schema.apply_overrides`` + ``build(SearchOptions, ...)``, i.e. what ``srnas search -opt ... --set``
does). A run goes to ``<runs>/<group>/<method>_s<seed>/`` and is

* skipped when its ``summary.json`` exists (written once the search and the final Set5 evaluation are done),
* resumed from its newest checkpoint when the folder exists without results (``run_search(resume=True)``; a
  checkpoint every epoch, so an interruption loses less than one epoch).

Scale (all scripts): T91 (images 1-72 weight split, 73-91 architecture split), x2, batches of 8 LR patches of 16x16,
300 iterations = 12 "epochs" of 25 iterations, Adam w lr 1e-3 (cosine to 1e-5), Adam alpha lr 3e-3, betas
(0.5, 0.999). The alpha lr is 10x the paper's 3e-4 (SA-DARTS §5, as DARTS): the paper's searches take 50 epochs of
hundreds of steps, these 300 steps; at 3e-4 Adam could move an alpha by at most ~0.1 in 300 steps, so the alphas would
hardly leave their initialisation (the shipped T91 option files, ``options/search/quickstart.yml``, use 3e-3 too).
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REPORTS = REPO / "experiments" / "reports"
RUNS = REPO / "experiments" / "reproductions_runs"  # git-ignored (/experiments/*)
VERDICTS = HERE / "verdicts"

ITERS, EPOCH_LENGTH = 300, 25
SMOKE = {"iters": 4, "epoch_length": 1, "num_feat": 8, "batch": 2, "seeds": [0]}  # --smoke: seconds, not a result

# the alpha-step methods shared by the scripts (SA-DARTS §6 baselines): --set style overrides of the base options
METHODS: dict[str, list[str]] = {
    "DARTS": [],  # alpha wd: 1e-8 (srnas default without SA)
    "Beta": ["search.regularizers=[{type: beta_decay, lambda_max: 50, schedule: linear}]"],  # lambda = 50 e/E
    "SA": ["search.regularizers=[{type: sa, nu: 1.0, lambda_slope: 0.2}]"],  # Eq. 8, lambda_e = e/5; alpha wd 0
    "SDARTS-RS": ["search.sdarts={mode: rs, eps_min: 0.03, eps_max: 0.3}"],  # eps 0.03 -> 0.3 over the epochs
}
IMPL_NAMES = {"naive": "loop", "fast": "fused"}  # network_g.impl -> the reports' "impl" column

log = logging.getLogger("repro")


# ---- command line ---------------------------------------------------------------------------------------------------
def parse_args(doc: str, argv: Optional[Sequence[str]], seeds: list[int]) -> argparse.Namespace:
    """The common CLI: ``--out``, ``--runs``, ``--seeds``, ``--iters``, ``--smoke``, ``--impl``, ``--report-only``."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="report folder (default experiments/reports; "
                   "--smoke: a new temporary folder)")
    p.add_argument("--runs", type=Path, default=None, help="run folders (default experiments/reproductions_runs; "
                   "--smoke: <out>/runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help=f"default {seeds}")
    p.add_argument("--iters", type=int, default=None, help=f"search iterations per run (default {ITERS})")
    p.add_argument("--smoke", action="store_true", help=f"tiny check of the script: {SMOKE}")
    p.add_argument("--impl", choices=["fast", "naive"], default="fast",
                   help="network_g.impl of new runs (fast: fused mixed op; naive: the candidate loop)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--report-only", action="store_true", help="write the report from the finished runs only")
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.smoke:
        args.out = args.out or Path(tempfile.mkdtemp(prefix="repro_smoke_"))
        args.seeds = args.seeds or SMOKE["seeds"]
        args.iters = args.iters or SMOKE["iters"]
        args.epoch_length, args.num_feat, args.batch = SMOKE["epoch_length"], SMOKE["num_feat"], SMOKE["batch"]
    else:
        args.seeds = args.seeds or seeds
        args.iters = args.iters or ITERS
        args.epoch_length, args.num_feat, args.batch = EPOCH_LENGTH, 16, 8
    args.out = args.out or REPORTS
    args.runs = args.runs or (args.out / "runs" if args.smoke else RUNS)
    args.epochs = math.ceil(args.iters / args.epoch_length)
    args.t0 = time.perf_counter()
    return args


def command_line(script: str, args: argparse.Namespace) -> str:
    return " ".join(["nice -n 5 .venv/bin/python", f"experiments/reproductions/{script}", *args.argv])


# ---- options --------------------------------------------------------------------------------------------------------
def base_options(space: str, args: argparse.Namespace, num_block: int) -> dict[str, Any]:
    """The raw option dict shared by every run (the shape of ``options/search/*.yml``)."""
    # --smoke reads only the few images it uses (preload: false) instead of decoding and downscaling all 91
    ckpt_every = max(args.iters // 2, 1) if args.smoke else args.epoch_length  # every epoch (--smoke: twice)
    split = {"hr_dir": "datasets/T91", "lq_patch": 16, "batch_size": args.batch, "preload": not args.smoke}
    return {
        "name": "run", "scale": 2, "manual_seed": 0, "device": args.device,
        "network_g": {"type": space, "num_feat": args.num_feat, "num_block": num_block, "partial_k": 1,
                      "impl": args.impl},
        "datasets": {"train": {**split, "index_range": [1, 72]}, "arch": {**split, "index_range": [73, 91]},
                     "val": None},  # records every epoch; Set5 once at the end (_write_summary)
        "search": {
            "iters": args.iters, "epoch_length": args.epoch_length, "warmup_epochs": 0, "order": "darts",
            "alpha_init": {"mode": "random", "std": 1e-3},
            "optim_w": {"type": "Adam", "lr": 1e-3, "weight_decay": 1e-8},
            "optim_alpha": {"type": "Adam", "lr": 3e-3, "betas": [0.5, 0.999]},  # weight_decay: the method's
            "scheduler": {"type": "CosineAnnealingLR", "eta_min": 1e-5},
            "regularizers": [],
        },
        "logger": {"print_freq": 25, "save_checkpoint_freq": ckpt_every, "keep_checkpoints": 2, "use_tb_logger": False},
    }


def make_options(base: dict[str, Any], overrides: Sequence[str], root: Path, name: str, seed: int):
    """``base`` + ``overrides`` (``--set`` syntax) -> ``(SearchOptions, raw dict)``, validated by the schema."""
    from srnas.config.schema import apply_overrides, build
    from srnas.config.search import SearchOptions

    raw = apply_overrides(copy.deepcopy(base), [*overrides, f"name={name}", f"manual_seed={seed}",
                                                f"path.experiments_root={root}"])
    return build(SearchOptions, raw, source=f"{root / name}"), raw


def imdn_base(args: argparse.Namespace) -> dict[str, Any]:
    """The IMDN-space runs of repro_top2_margin.py, shared with repro_hessian.py: 2 IMD blocks, 12 candidates, one
    (4, 12) alpha shared by the blocks, no warm-up, the Hessian eigenvalue logged every 2 epochs (R-DARTS)."""
    base = base_options("imdn", args, num_block=2)
    base["search"]["hessian"] = {"every_epochs": 2}
    return base


IMDN_GROUP = "top2_margin"  # run folder of the DARTS / Beta / SA runs of both scripts


def slug(label: str) -> str:
    return label.lower().replace("-", "_")


def imdn_runs(args: argparse.Namespace, labels: Sequence[str]) -> list["Run"]:
    """The IMDN runs of ``labels``: DARTS / Beta / SA in ``<runs>/top2_margin``, SDARTS-RS in ``<runs>/hessian``.
    Seed-major, so an interrupted invocation leaves every method with the same seeds done."""
    base, runs = imdn_base(args), []
    for seed in args.seeds:
        for label in labels:
            group = "hessian" if label == "SDARTS-RS" else IMDN_GROUP
            run = run_once(label, seed, base, METHODS[label], args.runs / group, slug(label), args)
            if run is not None:
                runs.append(run)
    return runs


# ---- runs -----------------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One finished search: its options, per-epoch records (``alphas.jsonl``) and ``summary.json``."""

    label: Any  # method name, or the alpha offset c (repro_negative_init.py)
    seed: int
    dir: Path
    records: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def final(self) -> dict:
        return self.records[-1]

    def epochs(self) -> list[int]:
        return [r["epoch"] for r in self.records]


def _same_setup(run_dir: Path, raw: dict) -> None:
    """Refuse to reuse or resume a folder made with other options (``network_g.impl`` may differ: the reports' impl
    column)."""
    from srnas.errors import SrnasError

    path = run_dir / "options.yml"
    if not path.exists():
        return
    old = yaml.safe_load(path.read_text())
    strip = lambda d: {**d, "network_g": {k: v for k, v in d["network_g"].items() if k != "impl"}}  # noqa: E731
    if strip(old) != strip(raw):
        raise SrnasError(f"{run_dir}: made with other options than this invocation's; delete it or use --runs")


def run_once(label: str, seed: int, base: dict, overrides: Sequence[str], root: Path, slug: str,
             args: argparse.Namespace, psnr: bool = True) -> Optional[Run]:
    """Run (skip if done, resume if interrupted) the search ``<root>/<slug>_s<seed>``; None if its search is
    unfinished and ``--report-only``. ``psnr``: also measure the final supernet on Set5."""
    from srnas.search.loop import run_search

    name = f"{slug}_s{seed}"
    run_dir = root / name
    opt, raw = make_options(base, overrides, root, name, seed)
    _same_setup(run_dir, raw)
    if not (run_dir / "summary.json").exists():
        if not (run_dir / "genotype.json").exists():
            if args.report_only:
                return None
            resume = run_dir.is_dir()
            log.info("%s %s: %s", "resuming" if resume else "running", name, run_dir)
            run_search(opt, raw, option_file=None, resume=resume, progress=sys.stderr.isatty())
        _write_summary(run_dir, opt, psnr)
    return load_run(label, seed, run_dir)


def _write_summary(run_dir: Path, opt, psnr: bool) -> None:
    """After the search: the final supernet's Set5 PSNR, the Hessian eigenvalues, the impl(s), the search time."""
    import torch

    from srnas.archs.genotype import Genotype
    from srnas.data import BenchmarkDataset
    from srnas.eval.bench import evaluate
    from srnas.utils.device import select_device
    from srnas.search.spaces import build_supernet
    from srnas.utils.checkpoint import find_latest
    from srnas.utils.experiment import resolve_path
    from srnas.utils.files import atomic_write_text

    genotype = Genotype.load(run_dir / "genotype.json")
    state = {"history": {}}
    if psnr or opt.search.hessian:  # the final supernet and the eigenvalues are in the last checkpoint
        path, state = find_latest(run_dir / "checkpoints")
        if int(state["step"]) != opt.search.iters:
            raise RuntimeError(f"{path}: the newest checkpoint is not the final one")
    set5 = None
    if psnr:
        device = select_device(opt.device)
        net = build_supernet(opt)
        net.load_state_dict(state["model"])
        net.to(device).eval()  # the supernet with softmax mixing, as srnas validates it during a search
        with torch.no_grad():
            set5 = evaluate(net, BenchmarkDataset(resolve_path("datasets/benchmark"), "Set5", opt.scale), opt.scale,
                            device, ssim=False)["psnr"]
    impls = []
    for f in sorted(run_dir.glob("options*.yml"), key=lambda p: p.stat().st_mtime):  # one per start / resume
        impl = IMPL_NAMES[(yaml.safe_load(f.read_text())["network_g"] or {}).get("impl", "fast")]
        if impl not in impls:
            impls.append(impl)
    summary = {"psnr_set5": set5, "eigenvalues": state["history"].get("eigenvalues", []),
               "impl": "+".join(impls), "search_seconds": genotype.info["search_seconds"],
               "ops": list(genotype.ops[0]), "primitives": list(genotype.primitives or [])}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1) + "\n")


def load_run(label: str, seed: int, run_dir: Path) -> Run:
    records = [json.loads(ln) for ln in (run_dir / "alphas.jsonl").read_text().splitlines() if ln]
    return Run(label, seed, run_dir, records, json.loads((run_dir / "summary.json").read_text()))


# ---- numbers --------------------------------------------------------------------------------------------------------
def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1; 0 for one value)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    return m, (math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)


def pm(values: Sequence[float], fmt: str) -> str:
    if not values:
        return "-"
    m, s = mean_std(values)
    return f"{m:{fmt}} ± {s:{fmt}}"


def genotype_changes(run: Run) -> int:
    """Epochs at which the derived ops differ from the previous epoch's (the first record starts the count)."""
    ops = [r["genotype"]["ops"] for r in run.records]
    return sum(a != b for a, b in zip(ops, ops[1:]))


# ---- report ---------------------------------------------------------------------------------------------------------
def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def wall_line(runs: Sequence[Run], args: argparse.Namespace, per_run_note: str = "") -> str:
    total = sum(r.summary["search_seconds"] for r in runs)
    per = total / len(runs) if runs else 0.0
    now = (time.perf_counter() - args.t0) / 60
    return (f"Wall time: {len(runs)} runs, {total / 60:.1f} min of search in total ({per:.0f} s per run"
            f"{per_run_note}; this invocation {now:.1f} min).")


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_head(title: str, claim: str, setup_md: str, report: str, args: argparse.Namespace, runs: Sequence[Run],
                command_note: str = "", wall_note: str = "") -> str:
    """The common top of a report: title, claim, setup, the command that reproduces it and the wall time."""
    return f"""# Reproduction: {title}

{claim}

{setup_md}

Command (resumable; reruns skip finished runs{command_note}):

```
{command_line(report + ".py", args)}
```

{wall_line(runs, args, wall_note)}"""


def verdict(report: str, summary: str) -> str:
    """The Verdict section: the hand-written verdict of ``verdicts/<report>.md`` (if any), then the line generated
    from the numbers of this invocation."""
    path = VERDICTS / f"{report}.md"
    if path.exists() and path.read_text().strip():
        return f"{path.read_text().strip()}\n\nGenerated from the tables above: {summary}"
    return summary


def write_report(args: argparse.Namespace, report: str, markdown: str, figure: Callable[[Path], None]) -> Path:
    args.out.mkdir(parents=True, exist_ok=True)
    figure(args.out / f"{report}.png")
    md = args.out / f"{report}.md"
    md.write_text(markdown.rstrip("\n") + "\n")
    print(f"wrote {md} and {report}.png")
    return md


def cli(main: Callable[[], Any]) -> None:
    """Run a script's ``main`` from the command line: INFO logging, one-line errors (exit 2)."""
    from srnas.errors import SrnasError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        main()
    except SrnasError as e:  # includes srnas.errors.Interrupted (Ctrl-C: checkpoint saved, rerun to resume)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(130 if e.__class__.__name__ == "Interrupted" else 2)
