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
from srnas.study.stats import attempts, failure, primary_sets, report_psnr, unit_success
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


def bench_images(opt: StudyOptions, sets: dict[str, Path]) -> dict[str, int]:
    """How many images of each set a run is benchmarked on (``bench.max_images`` caps a set)."""
    from srnas.data import list_images

    out = {}
    for name, root in sets.items():
        n = len(list_images(root / name / "HR"))
        out[name] = min(n, opt.bench.max_images.get(name, n))
    return out


def bench_run(opt: StudyOptions, exp: Path, sets: dict[str, Path], images: dict[str, int],
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


def bicubic_psnr(opt: StudyOptions, root: Path, sets: dict[str, Path], images: dict[str, int]) -> dict[str, float]:
    """Y PSNR of MATLAB bicubic upscaling on the benchmarked images of each set (cached in ``bicubic.json``): a
    training that ends below it on a primary set failed."""
    from srnas.data import BenchmarkDataset
    from srnas.data.resize import bicubic_upscale
    from srnas.eval.metrics import calculate_psnr_y

    path = root / "bicubic.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    for name, n in images.items():
        if cache.get(name, {}).get("images") != n:
            ds = BenchmarkDataset(sets[name], name, opt.scale)
            vals = [calculate_psnr_y(bicubic_upscale(ds[i]["lq"], opt.scale), ds[i]["gt"], opt.scale)
                    for i in range(n)]
            cache[name] = {"psnr": float(sum(vals) / len(vals)), "images": n}
            atomic_write_text(path, json.dumps(cache, indent=2) + "\n")
    return {k: v["psnr"] for k, v in cache.items() if k in images}


_IGNORED = ("name", "path", "logger", "device")  # a reused search may differ only in these (and datasets.val)


def _comparable(raw: dict) -> dict:
    out = {k: v for k, v in raw.items() if k not in _IGNORED}
    out["datasets"] = {k: v for k, v in (out.get("datasets") or {}).items() if k != "val"}
    return out


def _reuse(opt: StudyOptions, a: Arch, root: Path, exp: Path) -> dict:
    """Copy a finished search of the same options (``method.reuse``) into ``exp``; SrnasError when it differs."""
    import shutil

    from srnas.config.schema import read_yaml
    from srnas.utils.experiment import resolve_path

    src = resolve_path(a.method.reuse.format(seed=a.search_seed))
    if not (src / "genotype.json").exists():
        raise SrnasError(f"spaces[{opt.spaces.index(a.space)}].search.methods ({a.method.name}).reuse: {src} holds no "
                         "finished search (genotype.json)")
    mine, theirs = _comparable(search_options(opt, a, root)[1]), _comparable(read_yaml(src / "options.yml"))
    if mine != theirs:
        keys = sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
        raise SrnasError(f"{a.method.name}.reuse: {src}/options.yml differs from this study's search {a.id} in "
                         f"{keys}; fix the study's search options or drop reuse")
    exp.mkdir(parents=True, exist_ok=True)
    for f in ("options.yml", "alphas.jsonl", "genotype.json"):  # genotype last: it marks the stage done
        if (src / f).exists():
            shutil.copyfile(src / f, exp / f)
    g = Genotype.load(exp / "genotype.json")
    return dict(search_seconds=g.info.get("search_seconds"), iterations=g.info.get("iterations"), reused_from=str(src))


def _search(opt: StudyOptions, a: Arch, root: Path, record: CallRecord, progress: bool) -> None:
    """Run (or resume, or skip, or reuse) the search of ``a``; write its width-fitted genotype."""
    exp = root / "searches" / a.id

    def search(resume: bool) -> dict:
        from srnas.search.loop import run_search

        if a.method.reuse:
            return _reuse(opt, a, root, exp)
        s_opt, s_raw = search_options(opt, a, root)
        log.info("study: search %s (%d iterations)", a.id, s_opt.search.iters)
        r = run_search(s_opt, s_raw, f"{a.space.search.opt} + {list(a.method.set)}", resume=resume, progress=progress)
        return dict(search_seconds=round(r.seconds, 1), iterations=r.steps)

    run_stage(record, f"search/{a.id}", exp / "genotype.json", search, exp=exp)
    g = Genotype.load(exp / "genotype.json")
    _write_genotype(root / "genotypes" / f"{a.id}.json",
                    fitted(g, a, opt, search_seconds=g.info.get("search_seconds"),
                           search_iterations=g.info.get("iterations"), search_seed=a.search_seed))


def search_seconds(record: CallRecord, archs: list[Arch]) -> float:
    """The mean wall time of the searches of ``archs`` (a reused search: its own recorded time)."""
    secs = [record.stages[f"search/{a.id}"].get("search_seconds") or record.stages[f"search/{a.id}"]["seconds"]
            for a in archs if f"search/{a.id}" in record.stages]
    if not secs:
        raise SrnasError("random_search.seconds: null needs the space's searches first (none recorded)")
    return sum(secs) / len(secs)


def _random_search(opt: StudyOptions, a: Arch, root: Path, record: CallRecord, progress: bool,
                   device: torch.device) -> None:
    """Run (or continue, or skip) the random search of ``a``; write its winner's genotype."""
    from srnas.study.random_search import run_random_search

    folder = root / "random_search" / a.id
    budget = a.space.random_search.seconds or search_seconds(
        record, [b for b in plan(opt) if b.space.space == a.space.space and b.family == "searched"])

    def search(resume: bool) -> dict:
        log.info("study: random search %s (%.0f s budget)", a.id, budget)
        w = run_random_search(opt, a, root, budget, device, progress, log=log.info)
        return {k: w[k] for k in ("budget_seconds", "spent_seconds", "candidates", "winner", "val_psnr")}

    run_stage(record, f"random_search/{a.id}", folder / "winner.json", search)
    g = Genotype.from_json(json.dumps(json.loads((folder / "winner.json").read_text())["genotype"]))
    study = {**g.info["study"], "arch": a.id, "family": a.family, "label": a.label}
    _write_genotype(root / "genotypes" / f"{a.id}.json", Genotype.make(
        g.space, g.ops, g.num_feat, g.num_block, g.connections, scale=g.scale, primitives=g.primitives,
        info={**g.info, "study": study}))


def _train_bench(opt: StudyOptions, a: Arch, run: str, seed: int, folder: str, extra: list[str], root: Path,
                 record: CallRecord, progress: bool, sets: dict[str, Path], images: dict[str, int],
                 device: torch.device) -> dict:
    """Train (or resume, or skip) ``a`` as ``folder/run`` with ``seed``, benchmark it; returns its report."""
    exp = root / folder / run

    def train(resume: bool) -> dict:
        from srnas.train.loop import run_train

        t_opt, t_raw = train_options(opt, a.space, run, seed, root / "genotypes" / f"{a.id}.json", root,
                                     extra=extra, folder=folder)
        log.info("study: train %s/%s (%d iterations)", folder, run, t_opt.train.total_iter)
        r = run_train(t_opt, t_raw, opt.train.opt, resume=resume, progress=progress)
        return dict(train_seconds=round(r.seconds, 1), iterations=r.steps)

    def bench(resume: bool) -> None:
        log.info("study: bench %s/%s on %s", folder, run, ", ".join(sets))
        bench_run(opt, exp, sets, images, device)

    tag = "" if folder == "runs" else f"{folder}/"
    run_stage(record, f"train/{tag}{run}", exp / "results.json", train, exp=exp)
    report = json.loads((exp / "report.json").read_text()) if (exp / "report.json").exists() else None
    benched = report is not None and all(report["results"].get(n, {}).get("images") == k for n, k in images.items())
    run_stage(record, f"bench/{tag}{run}", benched, bench)
    return json.loads((exp / "report.json").read_text())


def _run(opt: StudyOptions, a: Arch, seed: int, root: Path, record: CallRecord, progress: bool,
         sets: dict[str, Path], images: dict[str, int], device: torch.device, bicubic: dict[str, float]) -> None:
    """Train and benchmark ``a`` with ``seed``; a failed training is retried with another seed (never ranked)."""
    primary = primary_sets(opt, list(sets))
    for attempt, (run, s) in enumerate(attempts(a, seed, opt.stats.retries)):
        report = _train_bench(opt, a, run, s, "runs", [], root, record, progress, sets, images, device)
        why = failure(report_psnr(report), bicubic, primary, opt.stats.fail_margin)
        if why is None:
            return
        log.warning("study: %s failed (%s)%s", run, why, "; retrying with another seed"
                    if attempt < opt.stats.retries else "; no retry left: this unit is dropped")


def _long_run(opt: StudyOptions, a: Arch, seed: int, root: Path, record: CallRecord, progress: bool,
              sets: dict[str, Path], images: dict[str, int], device: torch.device, bicubic: dict[str, float]) -> None:
    """The rank-stability run: the seed's successful attempt again, ``stability.factor`` times longer."""
    from srnas.config.train import TrainOptions

    ok = unit_success(opt, root / "runs", a, seed, bicubic, primary_sets(opt, list(sets)))
    if ok is not None:
        base = train_options(opt, a.space, ok["run"], ok["seed"], None, root)[0]
        assert isinstance(base, TrainOptions)
        iters = base.train.total_iter * opt.stability.factor
        _train_bench(opt, a, ok["run"], ok["seed"], "runs_long", [f"train.total_iter={iters}"], root, record,
                     progress, sets, images, device)


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
        images = bench_images(opt, sets)
        bicubic = bicubic_psnr(opt, root, sets, images)
        for space in opt.spaces:  # space by space, so a stopped study has finished its first spaces
            mine = [a for a in archs if a.space is space]
            for a in mine:
                if a.family == "searched":
                    _search(opt, a, root, record, progress)
            for seed in opt.seeds:  # unit by unit: a stopped space has compared every architecture on the first units
                for a in mine:
                    if a.family == "random search" and seed in a.seeds:
                        _random_search(opt, a, root, record, progress, device)
                for a in mine:
                    if seed in a.seeds:
                        _run(opt, a, seed, root, record, progress, sets, images, device, bicubic)
            if opt.stability is not None:
                for seed in opt.stability.seeds:
                    for a in mine:
                        if seed in a.seeds:
                            _long_run(opt, a, seed, root, record, progress, sets, images, device, bicubic)
        finished = True
    finally:
        record.save(finished=finished, ended=True)
    return write_study_report(opt, root, archs, missing, option_file, command, publish)
