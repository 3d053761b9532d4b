"""Run a study: every search, run and benchmark not done yet (skip-if-done, resume from checkpoints, timed in
``stages.json`` by :func:`srnas.utils.stages.run_stage`), then the report."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import torch
import yaml

from srnas.archs.genotype import Genotype
from srnas.config.study import StudyOptions
from srnas.errors import SrnasError
from srnas.study.plan import Arch, baseline_genotypes, fitted, plan, resolve_sets, search_options, train_options
from srnas.study.report import machine, write_study_report
from srnas.utils.files import atomic_write_text
from srnas.utils.stages import CallRecord, run_stage

log = logging.getLogger("srnas")


def _write_genotype(path: Path, g: Genotype) -> None:
    """Write ``g`` once; an existing file must describe the same network (else the options changed under it)."""
    if path.exists():
        old = Genotype.load(path)
        if old != g:
            raise SrnasError(f"{path}: exists and describes another network than the options give now "
                             f"(num_feat {old.num_feat} vs {g.num_feat}, ops {old.ops[0]} vs {g.ops[0]}); "
                             "use a new study name or delete the study folder")
        return
    g.save(path)


def _images(opt: StudyOptions, sets: dict[str, Path]) -> dict[str, int]:
    """How many images of each set a run is benchmarked on (``bench.max_images`` caps a set)."""
    from srnas.data import list_images

    out = {}
    for name, root in sets.items():
        n = len(list_images(root / name / "HR"))
        out[name] = min(n, opt.bench.max_images.get(name, n))
    return out


def _bench_run(opt: StudyOptions, exp: Path, sets: dict[str, Path], images: dict[str, int],
               device: torch.device) -> dict:
    """Benchmark a finished run on the sets its report.json lacks (or has on another image count); returns the
    report."""
    from torch.utils.data import Subset

    from srnas.data import BenchmarkDataset
    from srnas.eval.bench import evaluate, write_report
    from srnas.train.model_file import load_model_file

    old = json.loads((exp / "report.json").read_text()) if (exp / "report.json").exists() else None
    todo = [n for n in sets if old is None or old["results"].get(n, {}).get("images") != images[n]]
    if not todo:
        return old
    model_file = exp / "models" / ("net_best.pth" if opt.bench.weights == "best" else "net_latest.pth")
    if not model_file.exists():
        model_file = exp / "models" / "net_latest.pth"
    model = load_model_file(model_file, scale=opt.scale).eval().to(device)
    results = dict(old["results"]) if old else {}
    with torch.inference_mode():
        for name in todo:
            ds = BenchmarkDataset(sets[name], name, opt.scale)
            results[name] = evaluate(model, Subset(ds, range(images[name])), opt.scale, device, ssim=opt.bench.ssim)
    results = {n: results[n] for n in [*opt.bench.datasets, *results] if n in results}  # option order
    return write_report(exp, model, opt.scale, results, model_file)


def _search(opt: StudyOptions, a: Arch, root: Path, record: CallRecord, progress: bool) -> None:
    """Run (or resume, or skip) the search of ``a``; write its width-fitted genotype."""
    exp = root / "searches" / a.id

    def search(resume: bool) -> dict:
        from srnas.search.loop import run_search

        s_opt, s_raw = search_options(opt, a, root)
        log.info("study: search %s (%d iterations)", a.id, s_opt.search.iters)
        r = run_search(s_opt, s_raw, f"{a.space.search.opt} + {list(a.method.set)}", resume=resume, progress=progress)
        return dict(search_seconds=round(r.seconds, 1), iterations=r.steps)

    run_stage(record, f"search/{a.id}", exp / "genotype.json", search, exp=exp)
    g = Genotype.load(exp / "genotype.json")
    _write_genotype(root / "genotypes" / f"{a.id}.json",
                    fitted(g, a, opt, search_seconds=g.info.get("search_seconds"),
                           search_iterations=g.info.get("iterations")))


def _run(opt: StudyOptions, a: Arch, seed: int, root: Path, record: CallRecord, progress: bool,
         sets: dict[str, Path], images: dict[str, int], device: torch.device) -> None:
    """Train (or resume, or skip) ``a`` with ``seed``, then benchmark it on the sets its report lacks."""
    run = f"{a.id}_seed{seed}"
    exp = root / "runs" / run

    def train(resume: bool) -> dict:
        from srnas.train.loop import run_train

        t_opt, t_raw = train_options(opt, a.space, run, seed, root / "genotypes" / f"{a.id}.json", root)
        log.info("study: train %s (%d iterations)", run, t_opt.train.total_iter)
        r = run_train(t_opt, t_raw, opt.train.opt, resume=resume, progress=progress)
        return dict(train_seconds=round(r.seconds, 1), iterations=r.steps)

    def bench(resume: bool) -> None:
        log.info("study: bench %s on %s", run, ", ".join(sets))
        _bench_run(opt, exp, sets, images, device)

    run_stage(record, f"train/{run}", exp / "results.json", train, exp=exp)
    report = json.loads((exp / "report.json").read_text()) if (exp / "report.json").exists() else None
    benched = report is not None and all(report["results"].get(n, {}).get("images") == k for n, k in images.items())
    run_stage(record, f"bench/{run}", benched, bench)


def run_study(opt: StudyOptions, raw: dict, option_file: Optional[str] = None, command: Optional[str] = None,
              progress: bool = True, report_only: bool = False, publish: Optional[str | Path] = None
              ) -> dict[str, Any]:
    """Run every search, run and benchmark not done yet, then write the report; returns ``study.json``'s content.

    Args:
        opt: typed options (:func:`srnas.config.study.load_study_options`).
        raw: the merged option dict (copied to ``options.yml``).
        option_file: its path; command: the command line (both noted in the report).
        progress: tqdm bars for searches and runs.
        report_only: run nothing; write the report of what is done (and list what is left).
        publish: also write the report as ``<publish>/study_<name>.{md,json,png}`` (e.g. experiments/reports).

    Raises:
        SrnasError: bad options or data; Interrupted: SIGINT/SIGTERM (the running stage checkpointed first).
    """
    from srnas.archs.factory import build_network
    from srnas.search.spaces import check_search
    from srnas.utils.device import select_device

    root = Path(opt.experiments_root) / opt.name
    archs = plan(opt)
    sets, missing = resolve_sets(opt)
    if not sets:
        raise SrnasError(f"bench.datasets: none of {list(opt.bench.datasets)} found under "
                         f"{[opt.bench.data_root, *opt.bench.fallback_roots]}")
    for name in missing:
        log.warning("benchmark set %s not found under %s: skipped", name, [opt.bench.data_root,
                                                                          *opt.bench.fallback_roots])
    if report_only:
        return write_study_report(opt, root, archs, missing, option_file, command, publish)

    # validate every search and the train recipe before running anything
    for a in archs:
        if a.family == "searched":
            check_search(search_options(opt, a, root)[0], f"{a.space.search.opt} ({a.id})")
    for s in opt.spaces:
        t_opt, _ = train_options(opt, s, "validate", opt.seeds[0], None, root)
        build_network(t_opt.network_g, t_opt.scale, lq_patch=t_opt.datasets.train.lq_patch, source=str(opt.train.opt))
    baselines = baseline_genotypes(opt, archs, root)
    (root / "genotypes").mkdir(parents=True, exist_ok=True)
    header = f"# {command}\n" if command else ""
    atomic_write_text(root / "options.yml", header + yaml.safe_dump(raw, sort_keys=False))
    record = CallRecord(root / "stages.json", machine(opt))
    finished = False
    try:
        for path, g in baselines:
            _write_genotype(path, g)
        device = select_device(opt.device or "auto")
        images = _images(opt, sets)
        for space in opt.spaces:  # space by space, so a stopped study has finished its first spaces
            mine = [a for a in archs if a.space is space]
            for a in mine:
                if a.family == "searched":
                    _search(opt, a, root, record, progress)
            for seed in opt.seeds:  # seed-major: a stopped space has compared every architecture on the first seeds
                for a in mine:
                    _run(opt, a, seed, root, record, progress, sets, images, device)
        finished = True
    finally:
        record.save(finished=finished, ended=True)
    return write_study_report(opt, root, archs, missing, option_file, command, publish)
